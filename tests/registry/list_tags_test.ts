// listTags: every tag, across pages, against the real registry.

import { assertEquals, assertRejects } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { listTags } from "../../lib/registry/list_tags.ts";
import { RegistryError } from "../../lib/transport/registry_error.ts";

Deno.test("listTags: every tag of a repository on the real registry", async () => {
  const fx = await startFixture();
  try {
    // more tags for test/single: the same manifest put under new names
    const accept = "application/vnd.oci.image.manifest.v1+json";
    const manifest = await (await fetch(`${fx.registry.url}/v2/test/single/manifests/1`, {
      headers: { accept },
    })).arrayBuffer();
    for (const tag of ["2", "latest", "v1.0"]) {
      const res = await fetch(`${fx.registry.url}/v2/test/single/manifests/${tag}`, {
        method: "PUT",
        headers: { "content-type": accept },
        body: manifest,
      });
      await res.body?.cancel();
      assertEquals(res.status, 201);
    }
    assertEquals((await listTags(`${fx.host}/test/single`)).sort(), ["1", "2", "latest", "v1.0"]);
    await assertRejects(() => listTags(`${fx.host}/test/single:1`), SyntaxError, "names a tag");
    const e = await assertRejects(
      () => listTags(`${fx.host}/test/nope`),
      RegistryError,
    ) as RegistryError;
    assertEquals(e.status, 404);
  } finally {
    await fx.stop();
  }
});

Deno.test("listTags: follows Link pages on the registry's origin, stops at a loop", async () => {
  // Distribution 2.8 (Debian's) sends the tag list in one page; this registry pages by two
  const all = ["a", "b", "c", "d", "e"];
  const seen: string[] = [];
  const pages = (loop: boolean) => (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    seen.push(url.pathname + url.search);
    const last = url.searchParams.get("last");
    const from = last === null ? 0 : all.indexOf(last) + 1;
    const tags = all.slice(from, from + 2);
    const headers = new Headers({ "content-type": "application/json" });
    const next = loop ? "/v2/app/tags/list?n=2" : `/v2/app/tags/list?n=2&last=${tags.at(-1)}`;
    if (from + 2 < all.length || loop) headers.set("link", `<${next}>; rel="next"`);
    return Promise.resolve(new Response(JSON.stringify({ name: "app", tags }), { headers }));
  };
  assertEquals(await listTags("registry.test/app", { fetch: pages(false), pageSize: 2 }), all);
  assertEquals(seen, [
    "/v2/app/tags/list?n=2",
    "/v2/app/tags/list?n=2&last=b",
    "/v2/app/tags/list?n=2&last=d",
  ]);
  await assertRejects(
    () => listTags("registry.test/app", { fetch: pages(true), pageSize: 2 }),
    Error,
    "pagination loops",
  );
});

// Nothing a server sends grows without bound: tag lists (pages, tags in all, page bodies), token
// bodies, error bodies, and descriptor sizes, against hostile servers of the tests' own on
// 127.0.0.1. `skiff tags` streams a long list page by page.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { skiff, spawnSkiff } from "../_cli.ts";
import { listTags } from "../../lib/registry/list_tags.ts";
import { RegistryClient } from "../../lib/registry/registry_client.ts";
import { RegistryError } from "../../lib/transport/registry_error.ts";
import { tempDir } from "../_temp.ts";

const MiB = 1024 * 1024;

function serve(handler: (req: Request, url: URL) => Response | Promise<Response>) {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    seen.push(`${req.method} ${url.pathname}${url.search}`);
    return handler(req, url);
  });
  return {
    host: `127.0.0.1:${server.addr.port}`,
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A body of `chunk`-sized pieces that never ends (until the reader cancels). */
function endless(chunk = 64 * 1024): ReadableStream<Uint8Array> {
  const bytes = new Uint8Array(chunk).fill(0x61);
  return new ReadableStream({ pull: (c) => c.enqueue(bytes) });
}

const tagsOf = (page: number, n: number) => Array.from({ length: n }, (_, i) => `t${page}-${i}`);

/** Tag pages of `size` tags; page k links to k+1 until `last` (forever when absent). */
function tagServer(size: number, last?: number, gate?: (page: number) => Promise<void>) {
  return serve(async (_req, url) => {
    const page = Number(url.searchParams.get("page") ?? 1);
    await gate?.(page);
    const headers = new Headers({ "content-type": "application/json" });
    if (last === undefined || page < last) {
      headers.set("link", `</v2/team/app/tags/list?page=${page + 1}>; rel="next"`);
    }
    return Response.json({ name: "team/app", tags: tagsOf(page, size) }, { headers });
  });
}

Deno.test("caps: skiff tags prints each page before asking for the next", async () => {
  const firstPrinted = Promise.withResolvers<void>();
  await using server = tagServer(1000, 3, async (page) => {
    // page 2 is answered only once page 1 reached the terminal: a tags that collected the whole
    // list first would wait here until its --timeout, and fail
    if (page === 2) await firstPrinted.promise;
  });
  const child = spawnSkiff(["tags", "--timeout", "20s", `${server.host}/team/app`]);
  let out = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stdout) {
      out += decoder.decode(chunk, { stream: true });
      if (out.includes("t1-999\n")) firstPrinted.resolve();
    }
  })();
  const stderr = new Response(child.stderr).text();
  const status = await child.status;
  await reading;
  assertEquals(status.code, 0, await stderr);
  assertEquals(out, [...tagsOf(1, 1000), ...tagsOf(2, 1000), ...tagsOf(3, 1000)].join("\n") + "\n");

  // --json writes the same document JSON.stringify would, as it comes
  const json = await skiff(["tags", "--json", `${server.host}/team/app`]);
  assertEquals(json.code, 0, json.stderr);
  const all = [...tagsOf(1, 1000), ...tagsOf(2, 1000), ...tagsOf(3, 1000)];
  assertEquals(
    json.stdout,
    JSON.stringify({ repository: `${server.host}/team/app`, tags: all }, null, 2) + "\n",
  );
});

Deno.test("caps: an empty tag list, in --json too", async () => {
  await using server = tagServer(0, 1);
  const json = await skiff(["tags", "--json", `${server.host}/team/app`]);
  assertEquals(json.code, 0, json.stderr);
  assertEquals(
    json.stdout,
    JSON.stringify({ repository: `${server.host}/team/app`, tags: [] }, null, 2) + "\n",
  );
});

Deno.test("caps: a tag list whose Link always points to a new page", async (t) => {
  await using server = tagServer(1000);
  await t.step("pages", async () => {
    const e = await assertRejects(
      () => listTags(`${server.host}/team/app`, { plainHttp: true, maxPages: 20 }),
      RangeError,
    );
    assertMatch(e.message, /^Cannot list tags of 127\.0\.0\.1:\d+\/team\/app: more than 20 pages$/);
  });
  await t.step("tags in all", async () => {
    const e = await assertRejects(
      () => listTags(`${server.host}/team/app`, { plainHttp: true, maxTags: 2500 }),
      RangeError,
    );
    assertMatch(e.message, /more than 2500 tags$/);
  });
  await t.step("the CLI ends in one line on the default caps", async () => {
    // a page of 1000 tags each time: the 1 000 000-tag cap stops it at page 1001
    const r = await skiff(["tags", `${server.host}/team/app`]);
    assertEquals(r.code, 1);
    assertMatch(r.stderr, /^skiff: Cannot list tags of [^\n]*: more than 1000000 tags\n$/);
    assertEquals(r.stdout.split("\n").length - 1, 1_000_000); // what came before the cap
  });
});

Deno.test("caps: a tag page, a token, an error body that never end", async (t) => {
  let realm = "";
  await using server = serve((_req, url) => {
    if (url.pathname === "/token") return new Response(endless());
    if (url.pathname.startsWith("/v2/private/")) {
      return new Response(null, {
        status: 401,
        headers: { "www-authenticate": `Bearer realm="${realm}",service="s"` },
      });
    }
    if (url.pathname.endsWith("/tags/list")) return new Response(endless(MiB));
    return new Response(endless(), { status: 404 });
  });
  realm = `http://${server.host}/token`;
  const client = () =>
    new RegistryClient(server.host, { plainHttp: true, credentials: () => undefined });

  await t.step("a tag page", async () => {
    const e = await assertRejects(() => client().listTags("team/app"), RangeError);
    assertEquals(e.message, "Cannot read tag list page: larger than 16777216 bytes");
  });
  await t.step("a token body", async () => {
    const e = await assertRejects(() => client().getManifest("private/app", "1"), RangeError);
    assertEquals(e.message, "Cannot read token response: larger than 1048576 bytes");
  });
  await t.step("an error body: the status is reported, the rest never read", async () => {
    const e = await assertRejects(() => client().getManifest("team/app", "1"), RegistryError);
    assertEquals((e as RegistryError).status, 404);
  });
});

Deno.test("caps: a config or manifest descriptor far beyond any real one is refused unfetched", async (t) => {
  const digest = (c: string) => `sha256:${c.repeat(64)}`;
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: digest("a"),
      size: 1024 * 1024 * MiB,
    },
    layers: [],
  });
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: digest("b"),
      size: 512 * MiB,
      platform: { os: "linux", architecture: Deno.build.arch === "aarch64" ? "arm64" : "amd64" },
    }],
  });
  await using server = serve((_req, url) => {
    if (url.pathname.endsWith("/manifests/image")) {
      return new Response(manifest, {
        headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
      });
    }
    if (url.pathname.endsWith("/manifests/index")) {
      return new Response(index, {
        headers: { "content-type": "application/vnd.oci.image.index.v1+json" },
      });
    }
    return new Response(endless(MiB)); // what a blob or manifest request would get
  });
  const dir = await tempDir({ prefix: "skiff-caps-" });
  try {
    for (
      const [tag, why] of [
        ["image", /config claims 1099511627776 bytes, more than the 67108864 bytes/],
        ["index", /manifests\[0\] claims 536870912 bytes, more than the 4194304 bytes/],
      ] as const
    ) {
      await t.step(tag, async () => {
        const before = server.seen.length;
        const r = await skiff([
          "pull",
          "-q",
          "--store",
          `${dir}/store`,
          `${server.host}/team/app:${tag}`,
        ]);
        assertEquals(r.code, 1);
        assertMatch(r.stderr, /^skiff: Cannot parse manifest: [^\n]*\n$/);
        assertMatch(r.stderr, why);
        const asked = server.seen.slice(before);
        assert(
          asked.every((s) => !s.includes(digest("a")) && !s.includes(digest("b"))),
          `${asked}`,
        );
      });
    }
    let ingest: string[] = [];
    try {
      ingest = [...Deno.readDirSync(`${dir}/store/ingest`)].map((e) => e.name)
        .filter((n) => !n.endsWith(".lock"));
    } catch { /* none */ }
    assertEquals(ingest, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

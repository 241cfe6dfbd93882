// The handler in process, on stores made by hand: which index.json names are served (canonical
// references only; a name with a digest and no tag), the referrers' artifact types, the page cap,
// the htpasswd file's rules, and the Range parser's table.

import { assertEquals, assertMatch, assertThrows } from "../_assert.ts";
import { sha256 } from "../_images.ts";
import { tempDir } from "../_temp.ts";
import { parseRange } from "../../lib/serve/_blob_response.ts";
import { PAGE_LIMIT, RegistryHandler } from "../../lib/serve/registry_handler.ts";
import { Store } from "../../lib/store/store.ts";

const enc = new TextEncoder();
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

async function put(store: Store, value: unknown): Promise<{ digest: string; size: number }> {
  const bytes = enc.encode(typeof value === "string" ? value : JSON.stringify(value));
  const digest = sha256(bytes);
  await store.putBlob(digest, bytes);
  return { digest, size: bytes.length };
}

/** A small image: a config, one layer, a manifest. */
async function image(store: Store, label: string) {
  const config = await put(store, { architecture: "amd64", os: "linux", label });
  const layer = await put(store, `layer of ${label}`);
  const manifest = await put(store, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
  });
  return { config, layer, manifest };
}

function entry(name: string, d: { digest: string; size: number }, mediaType = OCI_MANIFEST) {
  return {
    mediaType,
    ...d,
    annotations: { "org.opencontainers.image.ref.name": name },
  };
}

async function call(handler: RegistryHandler, path: string, init?: RequestInit) {
  return await handler.handle(new Request(`http://127.0.0.1${path}`, init));
}

Deno.test("RegistryHandler: canonical names only, a digest name, referrers' artifact types", async () => {
  const store = await Store.open(`${await tempDir()}/store`);
  const a = await image(store, "a");
  const b = await image(store, "b");
  const c = await image(store, "c");
  // an artifact whose type is its config's media type, and an index that says its own
  const empty = await put(store, "{}");
  const sig = await put(store, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: "application/vnd.example.sig.config+json", ...empty },
    layers: [],
    subject: { mediaType: OCI_MANIFEST, ...c.manifest },
    annotations: { "org.example": "yes" },
  });
  const bundle = await put(store, {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    artifactType: "application/vnd.example.bundle",
    manifests: [],
    subject: { mediaType: OCI_MANIFEST, ...c.manifest },
  });
  await store.updateIndex(() => [
    entry("1", a.manifest), // what skopeo copy ... oci:DIR:1 writes: no repository
    entry("alpine:3", a.manifest), // not canonical
    entry(`docker.io/library/pinned@${b.manifest.digest}`, b.manifest),
    entry("docker.io/library/c:1", c.manifest),
    entry("docker.io/library/c:sig", sig),
    entry("docker.io/library/c:bundle", bundle, OCI_INDEX),
  ]);
  const handler = new RegistryHandler(store);
  assertEquals(await (await call(handler, "/v2/_catalog")).json(), {
    repositories: ["library/c", "library/pinned"],
  });
  // the digest-named image: no tag, its manifest and blobs by digest
  assertEquals((await (await call(handler, "/v2/library/pinned/tags/list")).json()).tags, []);
  assertEquals(
    (await call(handler, `/v2/library/pinned/manifests/${b.manifest.digest}`)).status,
    200,
  );
  assertEquals((await call(handler, `/v2/pinned/blobs/${b.layer.digest}`)).status, 200);
  assertEquals((await call(handler, `/v2/library/pinned/blobs/${a.layer.digest}`)).status, 404);
  // referrers: the config's media type stands for a missing artifactType; annotations kept
  const res = await call(handler, `/v2/library/c/referrers/${c.manifest.digest}`);
  const listed = (await res.json()).manifests;
  assertEquals(listed.length, 2);
  const byDigest = Object.fromEntries(
    listed.map((m: { digest: string }) => [m.digest, m]),
  );
  assertEquals(byDigest[sig.digest], {
    mediaType: OCI_MANIFEST,
    digest: sig.digest,
    size: sig.size,
    artifactType: "application/vnd.example.sig.config+json",
    annotations: { "org.example": "yes" },
  });
  assertEquals(byDigest[bundle.digest].artifactType, "application/vnd.example.bundle");
  assertEquals(byDigest[bundle.digest].mediaType, OCI_INDEX);
  // HEAD of an error: the status and headers, no body
  const head = await call(handler, "/v2/library/nothing/manifests/1", { method: "HEAD" });
  assertEquals(head.status, 404);
  assertEquals(await head.text(), "");
});

Deno.test("RegistryHandler: a literal repository path before the full form; a cut index as it is", async () => {
  const store = await Store.open(`${await tempDir()}/store`);
  const a = await image(store, "a");
  const b = await image(store, "b");
  const c = await image(store, "c");
  // an index of two platforms, and one cut down to one of them (what rm --platform names)
  const whole = await put(store, {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { mediaType: OCI_MANIFEST, ...b.manifest, platform: { os: "linux", architecture: "amd64" } },
      { mediaType: OCI_MANIFEST, ...c.manifest, platform: { os: "linux", architecture: "arm64" } },
    ],
  });
  const cut = await put(store, {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { mediaType: OCI_MANIFEST, ...b.manifest, platform: { os: "linux", architecture: "amd64" } },
    ],
  });
  const withIndex = (e: ReturnType<typeof entry>) => ({
    ...e,
    annotations: { ...e.annotations, "dev.skiff.index.digest": whole.digest },
  });
  await store.updateIndex(() => [
    entry("docker.io/ghcr.io/x:1", a.manifest), // Docker Hub's repository called ghcr.io/x
    entry("ghcr.io/x:1", b.manifest),
    withIndex(entry("ghcr.io/cut:1", cut, OCI_INDEX)),
    withIndex(entry("ghcr.io/platform:1", b.manifest)),
  ]);
  const handler = new RegistryHandler(store);
  const digest = async (path: string) => {
    const res = await call(handler, path, { method: "HEAD" });
    return res.headers.get("docker-content-digest") ?? res.status;
  };
  assertEquals(await digest("/v2/ghcr.io/x/manifests/1"), a.manifest.digest);
  assertEquals(await digest("/v2/x/manifests/1"), b.manifest.digest);
  assertEquals(await digest("/v2/x/manifests/1?ns=ghcr.io"), b.manifest.digest);
  assertEquals(await digest("/v2/ghcr.io/x/manifests/1?ns=docker.io"), a.manifest.digest);
  // a platform pulled from the index: the index; a cut index: itself, never what it was cut from
  assertEquals(await digest("/v2/platform/manifests/1"), whole.digest);
  assertEquals(await digest("/v2/cut/manifests/1"), cut.digest);
});

Deno.test("RegistryHandler: a tag list longer than a page is cut at PAGE_LIMIT, with a Link", async () => {
  const store = await Store.open(`${await tempDir()}/store`);
  const a = await image(store, "a");
  const tags = Array.from({ length: PAGE_LIMIT + 5 }, (_, i) => `t${String(i).padStart(5, "0")}`);
  await store.updateIndex(() => tags.map((t) => entry(`docker.io/library/many:${t}`, a.manifest)));
  const handler = new RegistryHandler(store);
  for (const query of ["", `?n=${PAGE_LIMIT * 2}`]) {
    const res = await call(handler, `/v2/library/many/tags/list${query}`);
    assertEquals((await res.json()).tags.length, PAGE_LIMIT);
    assertEquals(
      res.headers.get("link"),
      `</v2/library/many/tags/list?n=${PAGE_LIMIT}&last=${tags[PAGE_LIMIT - 1]}>; rel="next"`,
    );
  }
  const rest = await call(handler, `/v2/library/many/tags/list?last=${tags[PAGE_LIMIT - 1]}`);
  assertEquals((await rest.json()).tags, tags.slice(PAGE_LIMIT));
  assertEquals(rest.headers.get("link"), null);
});

Deno.test("RegistryHandler: an htpasswd file of anything but bcrypt entries is refused", async () => {
  const store = await Store.open(`${await tempDir()}/store`);
  const bcrypt = "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
  for (
    const [text, why] of [
      ["alice:$apr1$abcdefgh$0123456789abcdefghijkl\n", /line 1 is not "user:" and a bcrypt/],
      [`# users\n\nalice:${bcrypt}\nbob:{SHA}abc=\n`, /line 4 is not/],
      [`alice:${bcrypt}\nalice:${bcrypt}\n`, /the user on line 2 is listed twice/],
      [`:${bcrypt}\n`, /line 1 is not/],
      ["# nobody\n", /it lists no user/],
    ] as const
  ) {
    const e = assertThrows(
      () => new RegistryHandler(store, { auth: { htpasswd: text, source: "users.txt" } }),
      SyntaxError,
    );
    assertMatch(e.message, /^Cannot read users\.txt: /);
    assertMatch(e.message, why);
  }
  // the vector's password is U*U
  const handler = new RegistryHandler(store, { auth: { htpasswd: `alice:${bcrypt}\r\n` } });
  const basic = (s: string) => `Basic ${btoa(s)}`;
  for (
    const [authorization, status] of [
      [basic("alice:U*U"), 200],
      [basic("alice:U*U "), 401],
      [basic("aliceU*U"), 401],
      [basic(":U*U"), 401],
      [basic("mallory:"), 401], // an unknown user is checked against a hash of "" all the same
      ["Basic", 401],
      [`basic ${btoa("alice:U*U")}`, 200],
    ] as const
  ) {
    const res = await call(handler, "/v2/", { headers: { authorization } });
    assertEquals(res.status, status, authorization);
    await res.body?.cancel();
  }
});

Deno.test("parseRange: RFC 9110's byte ranges", () => {
  const size = 100;
  const cases: [string | null, ReturnType<typeof parseRange>][] = [
    [null, { kind: "whole" }],
    ["bytes=0-9", { kind: "range", start: 0, end: 9 }],
    ["bytes=90-", { kind: "range", start: 90, end: 99 }],
    ["bytes=90-1000", { kind: "range", start: 90, end: 99 }],
    ["bytes=-1", { kind: "range", start: 99, end: 99 }],
    ["bytes=-1000", { kind: "range", start: 0, end: 99 }],
    ["Bytes=1-2", { kind: "range", start: 1, end: 2 }],
    ["bytes=100-", { kind: "unsatisfiable" }],
    ["bytes=100-200", { kind: "unsatisfiable" }],
    ["bytes=-0", { kind: "unsatisfiable" }],
    ["bytes=9-0", { kind: "whole" }],
    ["bytes=0-1,3-4", { kind: "whole" }],
    ["bytes=-", { kind: "whole" }],
    ["bytes=a-b", { kind: "whole" }],
    ["bytes=1.5-2", { kind: "whole" }],
    ["items=0-1", { kind: "whole" }],
    ["0-1", { kind: "whole" }],
  ];
  for (const [header, want] of cases) assertEquals(parseRange(header, size), want, String(header));
  assertEquals(parseRange("bytes=0-", 0), { kind: "unsatisfiable" });
  assertEquals(parseRange("bytes=-5", 0), { kind: "unsatisfiable" });
});

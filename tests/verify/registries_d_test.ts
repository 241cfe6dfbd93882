// registries.d: the YAML subset, the directory skiff reads, how a lookaside is chosen, and reading
// signatures from file:// and http:// lookasides (an http server of the test's own on 127.0.0.1,
// some of its answers hostile), with skopeo reading the same http lookaside to agree.

import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { layerOf, LayoutBuilder, run } from "../_images.ts";
import { startRegistry } from "../_registry.ts";
import { tempDir } from "../_temp.ts";
import { Gpg } from "./_gpg.ts";
import { readYamlSubset } from "../../lib/verify/_yaml_subset.ts";
import { loadRegistriesD, lookasideBase, type RegistriesD } from "../../lib/verify/registries_d.ts";
import { readLookaside } from "../../lib/verify/read_lookaside.ts";
import { loadPolicy } from "../../lib/verify/load_policy.ts";
import { evaluatePolicy } from "../../lib/verify/evaluate_policy.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const yaml = (s: string) => readYamlSubset(enc(s), { what: "test.yaml", maxBytes: 1 << 20 });
const D = "sha256:" + "ab".repeat(32);

Deno.test("registries.d YAML: what the files contain is read", () => {
  const doc = yaml(`---
# a comment
default-docker:
    lookaside: file:///mnt/companywide/signatures/for/other/repositories
docker:   # trailing comment
    registry.test.example.com:8888:
        lookaside: http://registry.test.example.com:8889/lookaside
        lookaside-staging: "https://registry.test.example.com:8889/lookaside/x#y"
    'quoted.example/ns':
        sigstore: 'it''s: quoted'
    localhost/file:
        lookaside: "/no/scheme/\\u0041"
        use-sigstore-attachments: true
    empty.example:
`);
  assertEquals(JSON.parse(JSON.stringify(doc)), {
    "default-docker": { lookaside: "file:///mnt/companywide/signatures/for/other/repositories" },
    docker: {
      "registry.test.example.com:8888": {
        lookaside: "http://registry.test.example.com:8889/lookaside",
        "lookaside-staging": "https://registry.test.example.com:8889/lookaside/x#y",
      },
      "quoted.example/ns": { sigstore: "it's: quoted" },
      "localhost/file": { lookaside: "/no/scheme/A", "use-sigstore-attachments": "true" },
      "empty.example": null,
    },
  });
  assertEquals(Object.keys(yaml("")), []);
  assertEquals(Object.keys(yaml("# nothing\n")), []);
});

Deno.test("registries.d YAML: what the subset does not cover is refused, with its line", () => {
  const cases: [string, string][] = [
    ["docker:\n  - a\n", "line 2: sequences"],
    ["docker: [a, b]\n", "line 1:"],
    ["docker: {a: b}\n", "line 1:"],
    ["default-docker: &x\n  lookaside: a\ndocker: *x\n", "line 1:"],
    ["docker: !!map\n", "line 1:"],
    ["docker: |\n  text\n", "line 1:"],
    ["docker:\n\tlookaside: a\n", "line 2: a tab"],
    ["docker:\n  a: 1\n  a: 2\n", 'line 3: the key "a" appears twice'],
    ["docker:\n  a: 1\n---\nx: 1\n", "several documents"],
    ["docker:\n    a: 1\n  b: 2\n", "line 3: unexpected indentation"],
    ["  docker: 1\n", "line 1: the document does not start"],
    ["docker: 'open\n", "line 1: a quoted string is not closed"],
    ["just text\n", "line 1: a line that is not"],
    ["a: b: c\n", "line 1: a mapping cannot start"],
  ];
  for (const [text, message] of cases) assertThrows(() => yaml(text), SyntaxError, message, text);
  assertThrows(
    () => readYamlSubset(enc("a: " + "b".repeat(100)), { what: "t", maxBytes: 50 }),
    SyntaxError,
    "larger than 50 bytes",
  );
  const deep = Array.from({ length: 30 }, (_, i) => `${" ".repeat(i * 2)}k${i}:`).join("\n") + "\n";
  assertThrows(() => yaml(deep), SyntaxError, "nested deeper than 16");
});

Deno.test("registries.d: the directory, the merge, and the lookaside each image gets", async () => {
  const home = await tempDir({ prefix: "skiff-home-" });
  const system = await tempDir({ prefix: "skiff-etc-" });
  await Deno.writeTextFile(
    `${system}/default.yaml`,
    "default-docker:\n  lookaside: https://system.example/sigs\n",
  );
  // no user directory: the system one
  let c = await loadRegistriesD({ home, systemDirectory: system });
  assertEquals(c.directory, system);
  assertEquals(lookasideBase(c, "quay.io/a/b:1").href, "https://system.example/sigs/a/b");
  // a user directory, even empty, replaces the system one (containers/image reads one directory)
  const user = `${home}/.config/containers/registries.d`;
  await Deno.mkdir(user, { recursive: true });
  c = await loadRegistriesD({ home, systemDirectory: system });
  assertEquals(c.directory, user);
  assertEquals(c.defaultDocker, undefined);
  // no directory at all: empty, and the built-in default lookaside
  c = await loadRegistriesD({ directory: `${home}/none` });
  assertEquals(c.directory, undefined);
  assertEquals(
    lookasideBase(c, "quay.io/a/b:1", { root: true }).href,
    "file:///var/lib/containers/sigstore/a/b",
  );
  assertEquals(
    lookasideBase(c, "quay.io/a/b:1", { root: false, home: "/home/u" }).href,
    "file:///home/u/.local/share/containers/sigstore/a/b",
  );

  await Deno.writeTextFile(
    `${user}/a.yaml`,
    `
default-docker:
  lookaside: https://default.example
docker:
  reg.example.com:
    lookaside: https://registry-wide.example/x/
  reg.example.com/ns:
    lookaside-staging: file:///staging-only
  reg.example.com/ns/app:2:
    sigstore: https://legacy.example/s
  "*.example.org":
    lookaside: https://wildcard.example/w
`,
  );
  await Deno.writeTextFile(
    `${user}/b.yaml`,
    `
docker:
  reg.example.com/other:
    lookaside: file:///srv/sigs
    future-key: 1
`,
  );
  await Deno.writeTextFile(`${user}/ignored.yml`, "this: [is not read]\n");
  c = await loadRegistriesD({ home });
  const base = (ref: string) => lookasideBase(c, ref).href;
  // a section without lookaside falls through to the next (containers/image's code, not its man page)
  assertEquals(base("reg.example.com/ns/app:1"), "https://registry-wide.example/x//ns/app");
  assertEquals(base("reg.example.com/ns/app:2"), "https://legacy.example/s/ns/app");
  assertEquals(base(`reg.example.com/ns/app@${D}`), "https://registry-wide.example/x//ns/app");
  assertEquals(base("reg.example.com/other/x:1"), "file:///srv/sigs/other/x");
  assertEquals(base("a.b.example.org/x:1"), "https://wildcard.example/w/x");
  assertEquals(base("busybox"), "https://default.example/library/busybox");
  assertEquals(c.ignored, [`${user}/b.yaml: docker.reg.example.com/other.future-key`]);

  // one section per scope across files, one default-docker
  await Deno.writeTextFile(
    `${user}/c.yaml`,
    "docker:\n  reg.example.com/other:\n    lookaside: file:///x\n",
  );
  await assertRejects(
    () => loadRegistriesD({ home }),
    SyntaxError,
    `is also defined in ${user}/b.yaml`,
  );
  await Deno.writeTextFile(`${user}/c.yaml`, "default-docker:\n  lookaside: file:///x\n");
  await assertRejects(
    () => loadRegistriesD({ home }),
    SyntaxError,
    `"default-docker" is also defined in ${user}/a.yaml`,
  );
  await Deno.writeTextFile(
    `${user}/c.yaml`,
    "docker:\n  x:\n    use-sigstore-attachments: maybe\n",
  );
  await assertRejects(
    () => loadRegistriesD({ home }),
    SyntaxError,
    "use-sigstore-attachments is not true or false",
  );
  await Deno.writeTextFile(`${user}/c.yaml`, "docker:\n  docker.io/x:\n    lookaside: ':bad'\n");
  c = await loadRegistriesD({ home });
  assertThrows(() => lookasideBase(c, "x/y:1"), SyntaxError, "is not a URL");
});

async function readAll(base: URL, options = {}) {
  return await readLookaside(base, D, options);
}

Deno.test("lookaside: file:// signatures are read until one is missing, within the caps", async () => {
  const dir = await tempDir({ prefix: "skiff-lookaside-" });
  const sigs = `${dir}/ns/app@sha256=${"ab".repeat(32)}`;
  await Deno.mkdir(sigs, { recursive: true });
  const base = new URL(`file://${dir}/ns/app`);
  assertEquals(await readAll(base), []);
  await Deno.writeFile(`${sigs}/signature-1`, new Uint8Array([0xa3, 1, 2]));
  await Deno.writeFile(`${sigs}/signature-2`, new Uint8Array([0x89, 3]));
  await Deno.writeFile(`${sigs}/signature-4`, new Uint8Array([0x89, 4])); // after a gap: not read
  assertEquals(await readAll(base), [new Uint8Array([0xa3, 1, 2]), new Uint8Array([0x89, 3])]);
  // the envelope containers/image writes for formats in a dir: layout
  await Deno.writeFile(
    `${sigs}/signature-3`,
    new Uint8Array([0, ...enc("simple-signing\n"), 0xc2, 9]),
  );
  assertEquals((await readAll(base))[2], new Uint8Array([0xc2, 9]));
  await Deno.writeFile(`${sigs}/signature-3`, new Uint8Array([0, ...enc("sigstore-json\n{}")]));
  await assertRejects(
    () => readAll(base),
    Error,
    'the format "sigstore-json" is not a simple signature',
  );
  await Deno.writeFile(`${sigs}/signature-3`, enc("<html>"));
  await assertRejects(() => readAll(base), Error, "it starts with byte 0x3c");
  await Deno.writeFile(`${sigs}/signature-3`, new Uint8Array());
  await assertRejects(() => readAll(base), Error, "signature-3: it is empty");
  await Deno.remove(`${sigs}/signature-3`);
  await Deno.mkdir(`${sigs}/signature-3`);
  await assertRejects(() => readAll(base), Error, "signature-3: not a file");
  await Deno.remove(`${sigs}/signature-3`);
  // size and count caps
  await Deno.writeFile(`${sigs}/signature-3`, new Uint8Array(101).fill(0x89));
  await assertRejects(() => readAll(base, { maxBytes: 100 }), Error, "larger than 100 bytes");
  await assertRejects(() => readAll(base, { maxSignatures: 2 }), Error, "more than 2 signatures");
  await assertRejects(() => readAll(new URL("ftp://x/y")), Error, "unsupported scheme");
  await assertRejects(
    () => readAll(new URL("http://127.0.0.1:1/y")),
    TypeError,
    "no fetch was given",
  );
});

/** A lookaside server of the test's own: `answer(path)` decides; every request is counted. */
function serve(answer: (path: string, n: number) => Response | Promise<Response>) {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    return answer(path, requests.length);
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, requests, stop: () => server.shutdown() };
}

Deno.test("lookaside: http:// signatures, and servers that lie", async () => {
  const good = new Uint8Array([0xa3, 7, 7]);
  const s = serve((path) => {
    if (path.endsWith("/signature-1")) {
      return new Response(good, { headers: { "content-type": "text/html" } });
    }
    if (path.startsWith("/error/")) return new Response("no", { status: 500 });
    // "endless" up to 300 (so that a reader without a cap ends too, and the test fails, not hangs)
    if (path.startsWith("/endless/")) {
      return Number(path.split("-").at(-1)) <= 300
        ? new Response(good)
        : new Response("", { status: 404 });
    }
    if (path.startsWith("/huge/")) {
      // a body that never ends: only the cap stops the read
      return new Response(
        new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(65536).fill(0x89)) }),
      );
    }
    if (path.startsWith("/redirect/")) {
      return Response.redirect("http://127.0.0.1:1/elsewhere", 302);
    }
    return new Response("not found", { status: 404 });
  });
  const fetcher = (r: Request) => fetch(r);
  try {
    // the query string stays on the request, the messages never show it
    const ok = await readLookaside(new URL(`${s.url}/sigs/ns/app?token=secret`), D, {
      fetch: fetcher,
    });
    assertEquals(ok, [good]);
    assertEquals(s.requests, [
      `/sigs/ns/app@sha256=${"ab".repeat(32)}/signature-1`,
      `/sigs/ns/app@sha256=${"ab".repeat(32)}/signature-2`,
    ]);
    const e = await assertRejects(
      () => readLookaside(new URL(`${s.url}/error/x?token=secret`), D, { fetch: fetcher }),
      Error,
      "the server answered 500",
    );
    assert(!e.message.includes("secret"), e.message);
    await assertRejects(
      () => readLookaside(new URL(`${s.url}/endless/x`), D, { fetch: fetcher }),
      Error,
      "more than 128 signatures",
    );
    const before = s.requests.length;
    await assertRejects(
      () => readLookaside(new URL(`${s.url}/huge/x`), D, { fetch: fetcher }),
      Error,
      "larger than 4194304 bytes",
    );
    assertEquals(s.requests.length, before + 2); // signature-1, then the endless signature-2
    // a redirect the fetch follows to a dead port: a network error, one line
    await assertRejects(
      () => readLookaside(new URL(`${s.url}/redirect/x`), D, { fetch: fetcher }),
      Error,
      "Cannot read signatures from",
    );
  } finally {
    await s.stop();
  }
});

Deno.test({
  name: "lookaside: skopeo and skiff read the same http:// lookaside the same way",

  async fn() {
    const gpg = await Gpg.create();
    const registry = await startRegistry();
    const b = await LayoutBuilder.create();
    const dir = await tempDir({ prefix: "skiff-http-lookaside-" });
    const server = { mode: "files" as "files" | "500" | "endless" };
    const s = serve(async (path) => {
      if (server.mode === "500") return new Response("broken", { status: 500 });
      const file = `${dir}/sigs${decodeURIComponent(path).replace(/^\/lookaside/, "")}`;
      if (
        server.mode === "endless" && path.includes("/signature-") && !path.endsWith("/signature-1")
      ) {
        return new Response(await Deno.readFile(file.replace(/signature-\d+$/, "signature-1")));
      }
      try {
        return new Response(await Deno.readFile(file));
      } catch {
        return new Response("no", { status: 404 });
      }
    });
    try {
      const key = await gpg.makeKey("ed25519");
      const other = await gpg.makeKey("ed25519");
      await Deno.writeFile(`${dir}/key.gpg`, await gpg.exportKey(key.email));
      await Deno.writeFile(`${dir}/other.gpg`, await gpg.exportKey(other.email));
      // skopeo signs into a file lookaside ...
      await Deno.mkdir(`${dir}/write`);
      await Deno.writeTextFile(
        `${dir}/write/w.yaml`,
        `default-docker:\n  lookaside: file://${dir}/sigs\n`,
      );
      const img = await b.image([await layerOf({ "x": "http lookaside" })]);
      await b.tag("t", img);
      const pushed = await run("skopeo", [
        "copy",
        "--quiet",
        "--registries.d",
        `${dir}/write`,
        "--sign-by",
        key.fingerprint,
        "--dest-tls-verify=false",
        `oci:${b.dir}:t`,
        `docker://${registry.host}/ns/app:1`,
      ], { env: gpg.env });
      assertEquals(pushed.code, 0, pushed.stderr);
      // ... which both then read over http
      await Deno.mkdir(`${dir}/read`);
      await Deno.writeTextFile(
        `${dir}/read/r.yaml`,
        `docker:\n  ${registry.host}:\n    lookaside: ${s.url}/lookaside\n`,
      );
      const policyFor = async (keyFile: string) => {
        const path = `${dir}/${keyFile}.json`;
        await Deno.writeTextFile(
          path,
          JSON.stringify({
            default: [{ type: "signedBy", keyType: "GPGKeys", keyPath: `${dir}/${keyFile}` }],
          }),
        );
        return path;
      };
      const name = `${registry.host}/ns/app:1`;
      const skopeo = async (policy: string) =>
        (await run("skopeo", [
          "copy",
          "--quiet",
          "--remove-signatures",
          "--registries.d",
          `${dir}/read`,
          "--policy",
          policy,
          "--src-tls-verify=false",
          `docker://${name}`,
          `dir:${dir}/out-${crypto.randomUUID()}`,
        ])).code === 0;
      const skiff = async (policy: string) => {
        try {
          const config: RegistriesD = await loadRegistriesD({ directory: `${dir}/read` });
          const base = lookasideBase(config, name);
          const v = await evaluatePolicy(await loadPolicy(policy), {
            transport: "docker",
            name,
            manifestDigest: img.digest,
          }, { gpg: () => readLookaside(base, img.digest, { fetch: (r) => fetch(r) }) });
          return v.accepted;
        } catch {
          return false;
        }
      };
      const cases: [string, "files" | "500", boolean][] = [
        ["key.gpg", "files", true],
        ["other.gpg", "files", false],
        ["key.gpg", "500", false],
      ];
      for (const [keyFile, mode, expected] of cases) {
        server.mode = mode;
        const policy = await policyFor(keyFile);
        assertEquals(
          [await skopeo(policy), await skiff(policy)],
          [expected, expected],
          `${keyFile} ${mode}`,
        );
      }
      // a lookaside that never answers 404: skopeo 1.9 (containers/image 5.23, before
      // maxLookasideSignatures) keeps asking and holding every answer (measured: 1.9 GB of memory
      // after 10 minutes, never ending), so only skiff is asked: it stops at 128
      server.mode = "endless";
      const policy = await policyFor("key.gpg");
      const before = s.requests.length;
      assertEquals(await skiff(policy), false);
      assertEquals(s.requests.length - before, 128);
      assert(s.requests.some((p) => p.endsWith("/signature-1")));
    } finally {
      await s.stop();
      await gpg.close();
      await registry.stop();
      await b.remove();
    }
  },
});

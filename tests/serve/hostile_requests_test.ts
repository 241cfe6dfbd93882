// `skiff serve` against requests no real client sends, each answered as the distribution spec and
// RFC 9110 say, and none holding the others back: invalid and encoded names, dot segments,
// writes, blobs of other repositories, every form of Range, the `ns` parameter and the full
// HOST/REPO form, damaged blobs and manifests, clients that stall, and signals. Raw TCP where
// fetch would tidy the request first.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { run, sha256 } from "../_images.ts";
import { pushImage } from "../_push.ts";
import { servedStore, startServe } from "../_serve.ts";
import { tempDir } from "../_temp.ts";
import { Store } from "../../lib/store/store.ts";
import { nameImage } from "../../lib/store/name_image.ts";

const MiB = 1024 * 1024;
const decoder = new TextDecoder();

/** One request as raw bytes on a new connection (`Connection: close`): status, headers, body. */
async function raw(
  port: number,
  head: string,
): Promise<{ status: number; headers: string; body: Uint8Array }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(`${head}\r\nHost: x\r\nConnection: close\r\n\r\n`));
  const chunks: Uint8Array[] = [];
  for await (const chunk of conn.readable) chunks.push(chunk);
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) all.set(c, (at += c.length) - c.length);
  const text = decoder.decode(all);
  const end = text.indexOf("\r\n\r\n");
  const headBytes = new TextEncoder().encode(text.slice(0, end + 4)).length;
  return {
    status: Number(text.slice(9, 12)),
    headers: text.slice(0, end),
    body: all.subarray(headBytes),
  };
}

async function errorCode(res: Response): Promise<string> {
  return (await res.json()).errors[0].code;
}

/** A connection that asks for `path` and then reads nothing. */
async function stalled(port: number, path: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
  return conn;
}

/** The server's memory (kB) from /proc: the resident set now, and its peak. */
async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)![1]);
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

Deno.test("skiff serve: hostile and edge requests, damage, stalls and signals", async (t) => {
  const s = await servedStore();
  const fx = s.fx;
  // a 64 MiB layer, larger than any buffer the server might hold for a stalled client
  const big = new Uint8Array(64 * MiB);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  const bigImage = await pushImage(fx.registry.url, "test/big", "1", [
    { mediaType: "application/vnd.oci.image.layer.v1.tar", bytes: big },
  ]);
  const bigLayer = bigImage.layers[0]!.digest;
  const pulled = await skiff(["pull", "-q", "--store", s.store, `${fx.host}/test/big:1`]);
  assertEquals(pulled.code, 0, pulled.stderr);
  const store = await Store.open(s.store, { create: false });
  // test/single of another registry (another image), and a blob no name reaches
  await nameImage(store, "quay.io/test/single:1", {
    mediaType: fx.arm64.mediaType,
    digest: fx.arm64.digest,
    size: fx.arm64.size,
  });
  const stray = new TextEncoder().encode("no name reaches me\n");
  await store.putBlob(sha256(stray), stray);

  const server = await startServe(["--store", s.store]);
  const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);
  const single = JSON.parse(
    decoder.decode(await store.readBlob(s.single.digest)),
  ) as { config: { digest: string }; layers: { digest: string; size: number }[] };
  const bigOfSingle = single.layers[1]!; // 2 MiB and a bit
  const bytesOf = (digest: string) => Deno.readFile(store.blobPath(digest));
  try {
    await t.step(
      "names: invalid, encoded, dot segments, unknown; routes that are not",
      async () => {
        const cases: [string, number, string | undefined][] = [
          ["GET /v2/Test/single/tags/list HTTP/1.1", 400, "NAME_INVALID"],
          ["GET /v2/test%2Fsingle/tags/list HTTP/1.1", 400, "NAME_INVALID"],
          ["GET /v2/test/%2e%2e/test/single/tags/list HTTP/1.1", 400, "NAME_INVALID"],
          ["GET /v2/test/../test/single/tags/list HTTP/1.1", 400, "NAME_INVALID"],
          ["GET /v2/./test/single/tags/list HTTP/1.1", 400, "NAME_INVALID"],
          ["GET /v2//test/single/tags/list HTTP/1.1", 400, "NAME_INVALID"],
          [
            "GET /v2/test/single/manifests/..%2F..%2Fetc%2Fpasswd HTTP/1.1",
            404,
            "MANIFEST_UNKNOWN",
          ],
          ["GET /v2/test/single/manifests/sha256:..%2F..%2Fx HTTP/1.1", 400, "DIGEST_INVALID"],
          ["GET /v2/test/single/blobs/sha256:zz HTTP/1.1", 400, "DIGEST_INVALID"],
          [`GET /v2/test/single/blobs/md5:${"0".repeat(32)} HTTP/1.1`, 400, "DIGEST_INVALID"],
          [
            `GET /v2/test/single/referrers/sha256:${"0".repeat(63)} HTTP/1.1`,
            400,
            "DIGEST_INVALID",
          ],
          ["GET /v2/test/single/manifests/nope HTTP/1.1", 404, "MANIFEST_UNKNOWN"],
          ["GET /v2/nothing/here/tags/list HTTP/1.1", 404, "NAME_UNKNOWN"],
          [`GET /v2/${"a/".repeat(200)}b/tags/list HTTP/1.1`, 400, "NAME_INVALID"],
          ["GET /v2/test/single/tags/all HTTP/1.1", 404, undefined],
          ["GET /etc/passwd HTTP/1.1", 404, undefined],
          ["GET /v2/test/single HTTP/1.1", 404, undefined],
        ];
        for (const [head, status, code] of cases) {
          const res = await raw(server.port, head);
          assertEquals(res.status, status, head);
          if (code) assertEquals(JSON.parse(decoder.decode(res.body)).errors[0].code, code, head);
          assertMatch(res.headers, /docker-distribution-api-version: registry\/2\.0/i);
        }
      },
    );

    await t.step(
      "writes: 405 UNSUPPORTED, and a real push fails with nothing written",
      async () => {
        const index = await Deno.readFile(`${s.store}/index.json`);
        for (
          const [method, path] of [
            ["POST", "/v2/test/single/blobs/uploads/"],
            ["PATCH", "/v2/test/single/blobs/uploads/abc"],
            ["PUT", "/v2/test/single/blobs/uploads/abc?digest=sha256:00"],
            ["GET", "/v2/test/single/blobs/uploads/abc"],
            ["PUT", "/v2/test/single/manifests/2"],
            ["DELETE", "/v2/test/single/manifests/1"],
            ["DELETE", `/v2/test/single/blobs/${single.config.digest}`],
            ["OPTIONS", "/v2/"],
          ] as const
        ) {
          const res = await get(path, { method, ...(method === "PUT" ? { body: "{}" } : {}) });
          assertEquals(res.status, 405, `${method} ${path}`);
          assertEquals(res.headers.get("allow"), "GET, HEAD");
          assertEquals(await errorCode(res), "UNSUPPORTED");
        }
        const push = await run("skopeo", [
          "copy",
          "--src-tls-verify=false",
          "--dest-tls-verify=false",
          `docker://${fx.host}/test/single:1`,
          `docker://${server.host}/test/pushed:1`,
        ]);
        assert(push.code !== 0);
        assertMatch(push.stderr, /405|UNSUPPORTED|unsupported/);
        const copy = await skiff([
          "copy",
          `${fx.host}/test/single:1`,
          `${server.host}/test/pushed:1`,
        ]);
        assertEquals(copy.code, 1);
        const errors = copy.stderr.trim().split("\n").filter((l) => l.startsWith("skiff:"));
        assertEquals(errors.length, 1, copy.stderr);
        assertMatch(
          errors[0]!,
          /^skiff: Cannot upload blob .*: 405 .*UNSUPPORTED: this registry is read-only$/,
        );
        assertEquals(await Deno.readFile(`${s.store}/index.json`), index);
      },
    );

    await t.step("a blob is served only for a repository whose manifests reach it", async () => {
      const sbomLayer = JSON.parse(decoder.decode(await store.readBlob(s.sbom.digest))).layers[0]
        .digest as string;
      assertEquals((await get(`/v2/test/single/blobs/${sbomLayer}`)).status, 200);
      for (
        const path of [
          `/v2/test/multi/blobs/${sbomLayer}`,
          `/v2/library/skiffdemo/blobs/${sbomLayer}`,
          `/v2/test/single/blobs/${sha256(stray)}`,
          `/v2/test/multi/blobs/${sha256(stray)}`,
        ]
      ) {
        for (const method of ["GET", "HEAD"]) {
          const res = await get(path, { method });
          assertEquals(res.status, 404, `${method} ${path}`);
          if (method === "GET") assertEquals(await errorCode(res), "BLOB_UNKNOWN");
          else await res.body?.cancel();
        }
      }
      // (test/multi reaches test/single's manifest: its amd64 entry is the same image)
      const manifest = await get(`/v2/test/multi/manifests/${s.sbom.digest}`);
      assertEquals(manifest.status, 404);
      assertEquals(await errorCode(manifest), "MANIFEST_UNKNOWN");
    });

    await t.step("Range: 206, 416 and the forms RFC 9110 says to ignore", async () => {
      const whole = await bytesOf(bigOfSingle.digest);
      const size = whole.length;
      const path = `/v2/test/single/blobs/${bigOfSingle.digest}`;
      const cases: [Record<string, string>, number, [number, number] | undefined][] = [
        [{ range: "bytes=0-99" }, 206, [0, 99]], // the first request of it: hashed whole first
        [{ range: "bytes=100-" }, 206, [100, size - 1]],
        [{ range: "bytes=-10" }, 206, [size - 10, size - 1]],
        [{ range: `bytes=-${size * 2}` }, 206, [0, size - 1]],
        [{ range: "bytes=5-99999999999999999999" }, 206, [5, size - 1]],
        [{ range: "bytes=1000-1000" }, 206, [1000, 1000]],
        [{ range: "BYTES = 7-8" }, 206, [7, 8]],
        [{ range: "bytes=5-2" }, 200, undefined], // invalid: ignored
        [{ range: "bytes=0-0,5-9" }, 200, undefined], // several: the whole
        [{ range: "items=0-5" }, 200, undefined], // another unit
        [{ range: "bytes=abc" }, 200, undefined],
        [{ range: `bytes=${size}-` }, 416, undefined],
        [{ range: `bytes=${size + 5}-${size + 9}` }, 416, undefined],
        [{ range: "bytes=-0" }, 416, undefined],
        [{ range: "bytes=0-9", "if-range": `"${bigOfSingle.digest}"` }, 206, [0, 9]],
        [{ range: "bytes=0-9", "if-range": '"sha256:other"' }, 200, undefined],
      ];
      for (const [headers, status, range] of cases) {
        const res = await get(path, { headers });
        assertEquals(res.status, status, JSON.stringify(headers));
        const body = new Uint8Array(await res.arrayBuffer());
        assertEquals(res.headers.get("docker-content-digest"), bigOfSingle.digest);
        if (status === 416) {
          assertEquals(res.headers.get("content-range"), `bytes */${size}`);
          assertEquals(body.length, 0);
        } else if (range) {
          assertEquals(res.headers.get("content-range"), `bytes ${range[0]}-${range[1]}/${size}`);
          assertEquals(body, whole.subarray(range[0], range[1] + 1));
        } else {
          assertEquals(res.headers.get("content-range"), null);
          assertEquals(sha256(body), bigOfSingle.digest);
        }
      }
      const head = await get(path, { method: "HEAD", headers: { range: "bytes=0-9" } });
      assertEquals(head.status, 200);
      assertEquals(head.headers.get("content-length"), String(size));
      assertEquals(head.headers.get("accept-ranges"), "bytes");
      await head.body?.cancel();
    });

    await t.step("ns, the order among registries, the full HOST/REPO form", async () => {
      const digestOf = async (path: string) => {
        const res = await get(path, { method: "HEAD" });
        await res.body?.cancel();
        return res.status === 200 ? res.headers.get("docker-content-digest") : res.status;
      };
      // two registries hold test/single: without ns the one that sorts first (127.0.0.1:PORT)
      assertEquals(await digestOf("/v2/test/single/manifests/1"), s.single.digest);
      assertEquals(await digestOf(`/v2/test/single/manifests/1?ns=${fx.host}`), s.single.digest);
      assertEquals(await digestOf("/v2/test/single/manifests/1?ns=quay.io"), fx.arm64.digest);
      assertEquals(await digestOf("/v2/quay.io/test/single/manifests/1"), fx.arm64.digest);
      assertEquals(await digestOf("/v2/test/single/manifests/1?ns=docker.io"), 404);
      assertEquals(await digestOf("/v2/test/single/manifests/1?ns=%20%1b"), 404);
      // a blob by ns: the arm64 config only through quay.io's test/single
      const arm64 = JSON.parse(decoder.decode(await store.readBlob(fx.arm64.digest)));
      const config = `/v2/test/single/blobs/${arm64.config.digest}`;
      assertEquals((await get(`${config}?ns=quay.io`, { method: "HEAD" })).status, 200);
      assertEquals((await get(config, { method: "HEAD" })).status, 404);
      // tags by ns
      assertEquals(
        (await (await get("/v2/test/single/tags/list?ns=quay.io")).json()).tags,
        ["1"],
      );
      // Docker Hub's first, whatever sorts first; a one-component name is library/NAME there
      await nameImage(store, "docker.io/test/single:1", {
        mediaType: fx.multi.mediaType,
        digest: fx.multi.digest,
        size: fx.multi.size,
      });
      assertEquals(await digestOf("/v2/test/single/manifests/1"), fx.multi.digest);
      assertEquals(await digestOf("/v2/skiffdemo/manifests/1"), fx.dockerList);
      assertEquals(await digestOf("/v2/docker.io/library/skiffdemo/manifests/1"), fx.dockerList);
      assertEquals(await digestOf("/v2/skiffdemo/manifests/1?ns=index.docker.io"), fx.dockerList);
      assertEquals(
        await digestOf("/v2/registry-1.docker.io/library/skiffdemo/manifests/1"),
        fx.dockerList,
      );
      assertEquals(await digestOf("/v2/a_b.io/test/single/manifests/1"), 404);
    });

    await t.step("untrusted strings in the access log are escaped", async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      const head = "GET /v2/x%1b[31m/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
        "User-Agent: evil\x9b2J\x85agent\r\n\r\n";
      await conn.write(Uint8Array.from(head, (c) => c.charCodeAt(0)));
      for await (const _ of conn.readable) { /* the answer */ }
      const log = await server.waitForStderr((e) => e.includes("evil"));
      const line = log.split("\n").find((l) => l.includes("evil"))!;
      assert(line.includes("evil\\u009b2J\\u0085agent"), line);
      // deno-lint-ignore no-control-regex
      assert(!/[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(log), "no raw control character");
    });

    await t.step("clients that stall hold nobody back, and memory stays flat", async () => {
      const path = `/v2/test/big/blobs/${bigLayer}`;
      const before = await memory(server.pid);
      // the first asks while nothing verified the blob (the hashing path), the others after
      const conns = [await stalled(server.port, path)];
      await conns[0]!.read(new Uint8Array(1)); // its answer began (the blob was verified)
      const whole = await get(path);
      assertEquals(sha256(new Uint8Array(await whole.arrayBuffer())), bigLayer);
      for (let i = 0; i < 7; i++) conns.push(await stalled(server.port, path));
      // meanwhile four clients at once pull whole images
      const [copies, blobs] = await Promise.all([
        Promise.all(["test/multi:1", "test/single:1"].map((name) =>
          run("skopeo", [
            "copy",
            "--src-tls-verify=false",
            `docker://${server.host}/${name}`,
            `oci:${s.store}-stall-${name.replace(/\W/g, "-")}:x`,
          ])
        )),
        Promise.all(
          [1, 2].map(async () => sha256(new Uint8Array(await (await get(path)).arrayBuffer()))),
        ),
      ]);
      for (const c of copies) assertEquals(c.code, 0, c.stderr);
      assertEquals(blobs, [bigLayer, bigLayer]);
      const after = await memory(server.pid);
      // 8 stalled requests of 64 MiB each: a server that buffered for them would hold 512 MiB
      assert(
        after.peak - before.rss < 64 * 1024,
        `peak ${after.peak} kB, ${after.peak - before.rss} kB above ${before.rss} kB`,
      );
      // a stalled client that reads at last gets the whole blob
      const first = conns.shift()!;
      const chunks: Uint8Array[] = [];
      let got = 0;
      for await (const chunk of first.readable) {
        chunks.push(chunk);
        got += chunk.length;
        if (got >= big.length) break; // the body is the last of it (keep-alive: no EOF)
      }
      assert(got >= big.length);
      for (const conn of conns) conn.close();
    });

    await t.step("a damaged blob or manifest is not served, and the log says so", async () => {
      const path = `/v2/test/single/blobs/${bigOfSingle.digest}`;
      // verified by the steps before; one byte changes in place (its change time moves)
      const file = await Deno.open(store.blobPath(bigOfSingle.digest), { write: true });
      await file.seek(1_000_000, Deno.SeekMode.Start);
      await file.write(new Uint8Array([0xff ^ (await bytesOf(bigOfSingle.digest))[1_000_000]!]));
      file.close();
      const res = await get(path);
      assertEquals(res.status, 404);
      assertEquals(await errorCode(res), "BLOB_UNKNOWN");
      const log = await server.waitForStderr((e) => /damaged in the store/.test(e));
      assertMatch(
        log,
        new RegExp(
          `skiff: warning: Cannot serve blob ${bigOfSingle.digest}: it is damaged in the store ` +
            `.* run skiff fsck --repair\n`,
        ),
      );
      for (const init of [{}, { method: "HEAD" }, { headers: { range: "bytes=0-9" } }]) {
        const again = await get(path, init);
        assertEquals(again.status, 404);
        await again.body?.cancel();
      }
      // a blob of another size is refused at once, a range of it too
      const base = single.layers[0]!.digest;
      await Deno.truncate(store.blobPath(base), 10);
      // HEAD hashes nothing: the size, checked every time, is what refuses it
      const headCut = await get(`/v2/test/single/blobs/${base}`, { method: "HEAD" });
      assertEquals(headCut.status, 404);
      await headCut.body?.cancel();
      const cut = await get(`/v2/test/single/blobs/${base}`, { headers: { range: "bytes=0-1" } });
      assertEquals(cut.status, 404);
      assertEquals(await errorCode(cut), "BLOB_UNKNOWN");
      // a damaged manifest: the tag is unknown
      const one = JSON.parse(await Deno.readTextFile(`${s.store}/index.json`)).manifests.find(
        (m: { annotations: Record<string, string> }) =>
          m.annotations["org.opencontainers.image.ref.name"] === `${fx.host}/test/docker-one:1`,
      );
      for (const digest of [one.digest, one.annotations["dev.skiff.source.digest"]]) {
        const bytes = await bytesOf(digest);
        bytes[10] = bytes[10]! ^ 1;
        await Deno.writeFile(store.blobPath(digest), bytes);
      }
      const tag = await get("/v2/test/docker-one/manifests/1");
      assertEquals(tag.status, 404);
      assertEquals(await errorCode(tag), "MANIFEST_UNKNOWN");
      const copy = await run("skopeo", [
        "copy",
        "--src-tls-verify=false",
        `docker://${server.host}/test/single:1`,
        `oci:${s.store}-copy:x`,
      ]);
      assert(copy.code !== 0);
      await Deno.remove(`${s.store}-copy`, { recursive: true }).catch(() => {});
    });

    await t.step("SIGTERM: the response in flight ends whole, then exit 0", async () => {
      const second = await startServe(["--store", s.store, "--quiet"]);
      const res = await fetch(`${second.url}/v2/test/big/blobs/${bigLayer}`);
      const reader = res.body!.getReader();
      const first = await reader.read();
      const stopping = second.stop("SIGTERM");
      const chunks = [first.value!];
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        chunks.push(value);
      }
      const body = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) body.set(c, (at += c.length) - c.length);
      assertEquals(sha256(body), bigLayer);
      const { code, stderr } = await stopping;
      assertEquals(code, 0, stderr);
      assertEquals(stderr, "");
      const refused = await fetch(`${second.url}/v2/`).then(() => false, () => true);
      assert(refused, "no new connection after the stop");
    });

    await t.step(
      "SIGINT with a client that never reads: broken off after 10 s, exit 0",
      async () => {
        const third = await startServe(["--store", s.store, "--quiet"]);
        const conn = await stalled(third.port, `/v2/test/big/blobs/${bigLayer}`);
        // its answer is under way (the server logs nothing with --quiet: wait for bytes)
        const first = new Uint8Array(1);
        await conn.read(first);
        const { code, stderr } = await third.stop("SIGINT");
        assertEquals(code, 0);
        assertMatch(
          stderr,
          /^skiff: stopped; responses still in flight after 10 s were broken off\n$/,
        );
        conn.close();
      },
    );
  } finally {
    const { code } = await server.stop();
    assertEquals(code, 0);
    await s.stop();
  }
});

Deno.test("skiff serve: what it refuses to start with, in one line", async () => {
  const dir = await tempDir();
  const s = { store: (await Store.open(`${dir}/store`)).path };
  {
    const md5 = `${dir}/md5`;
    await Deno.writeTextFile(md5, "user:$apr1$abcdefgh$0123456789abcdefghijkl\n");
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const busy = (taken.addr as Deno.NetAddr).port;
    const cases: [string[], number, RegExp][] = [
      [
        ["--addr", "0.0.0.0:0"],
        1,
        /^skiff: Cannot serve on 0\.0\.0\.0:0: plain HTTP beyond loopback/,
      ],
      [["--addr", ":0"], 1, /^skiff: Cannot serve on 0\.0\.0\.0:0: plain HTTP/],
      [["--addr", "[::]:0"], 1, /^skiff: Cannot serve on \[::\]:0: plain HTTP/],
      [["--addr", "127.0.0.1"], 2, /^skiff: --addr must be HOST:PORT/],
      [["--addr", "127.0.0.1:99999"], 2, /^skiff: --addr must be HOST:PORT/],
      [["--tls-cert", md5], 2, /^skiff: --tls-cert and --tls-key go together/],
      [["--tls-cert", `${dir}/none`, "--tls-key", md5], 1, /^skiff: Cannot read --tls-cert /],
      [
        ["--htpasswd", md5],
        1,
        /^skiff: Cannot read .*md5: line 1 is not "user:" and a bcrypt hash/,
      ],
      [
        ["--addr", `127.0.0.1:${busy}`],
        1,
        new RegExp(`^skiff: Cannot serve on 127\\.0\\.0\\.1:${busy}: `),
      ],
      [["extra"], 2, /^skiff: serve takes no arguments/],
    ];
    for (const [args, code, message] of cases) {
      // (bounded: a server that did start on 0.0.0.0 is killed, and the test fails)
      const r = await skiff(["serve", "--store", s.store, ...args], {
        signal: AbortSignal.timeout(120_000),
      });
      assertEquals(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assertMatch(r.stderr, message);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assertEquals(r.stdout, "");
    }
    taken.close();
    const missing = await skiff(["serve", "--store", `${dir}/no-store`, "--addr", "127.0.0.1:0"]);
    assertEquals(missing.code, 1);
    assertMatch(missing.stderr, /^skiff: Cannot open store .*no-store/);
  }
});

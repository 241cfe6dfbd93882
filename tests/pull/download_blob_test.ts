// Resume: partial blobs survive a killed process and the next pull fetches only the missing bytes
// with Range; servers that ignore or botch Range never get a full body appended to partial data.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { spawnSkiff } from "../_cli.ts";
import { type Fixture, startFixture } from "../_fixture.ts";
import { FaultProxy } from "../_proxy.ts";
import { checkStore } from "../_store_check.ts";
import { pull } from "../../lib/pull/pull.ts";
import { Store } from "../../lib/store/store.ts";
import { tempDir } from "../_temp.ts";

interface Blob {
  digest: string;
  size: number;
  bytes: Uint8Array;
}

async function bigLayer(fx: Fixture): Promise<Blob> {
  const manifest = await (await fetch(`${fx.registry.url}/v2/test/single/manifests/1`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  })).json();
  const { digest, size } = manifest.layers[1];
  const bytes = new Uint8Array(
    await (await fetch(`${fx.registry.url}/v2/test/single/blobs/${digest}`)).arrayBuffer(),
  );
  return { digest, size, bytes };
}

async function newStore(): Promise<string> {
  const dir = `${await tempDir({ prefix: "skiff-resume-" })}/store`;
  await Store.open(dir);
  return dir;
}

function ingestPath(store: string, digest: string): string {
  return `${store}/ingest/sha256-${digest.slice(7)}`;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return undefined;
  }
}

Deno.test("resume: partial blobs and Range", async (t) => {
  const fx = await startFixture();
  const blob = await bigLayer(fx);
  const isBlob = (url: URL) => url.pathname.endsWith(blob.digest);
  try {
    await t.step("a pull killed mid-blob resumes with Range from the bytes on disk", async () => {
      const store = await newStore();
      await using proxy = FaultProxy.start(fx.registry.url);
      proxy.on((_req, url) => isBlob(url) ? { kind: "stall", after: 1536 * 1024 } : undefined);
      const child = spawnSkiff(["pull", "--store", store, `${proxy.host}/test/single:1`]);
      // wait until some of the blob is on disk, then kill -9
      const partial = ingestPath(store, blob.digest);
      const deadline = Date.now() + 15_000;
      while (((await sizeOf(partial)) ?? 0) === 0) {
        if (Date.now() > deadline) throw new Error("no partial data appeared");
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 100));
      child.kill("SIGKILL");
      await child.output();
      const have = (await sizeOf(partial))!;
      assert(have > 0 && have < blob.size, `partial has ${have} of ${blob.size} bytes`);
      assertEquals(await Deno.readFile(partial), blob.bytes.subarray(0, have));
      // the store is valid after the kill: nothing partial under blobs/, no name yet
      const mid = await checkStore(store);
      assertEquals([mid.corrupt, mid.missing, mid.names], [[], [], []]);

      proxy.rules = [];
      const before = proxy.seen.length;
      const result = await pull(`${proxy.host}/test/single:1`, { store });
      const gets = proxy.seen.slice(before).filter((r) =>
        r.method === "GET" && r.path.endsWith(blob.digest)
      );
      assertEquals(gets.length, 1);
      assertEquals(gets[0]!.headers.range, `bytes=${have}-`);
      assertEquals(gets[0]!.status, 206);
      assertEquals(
        result.bytesFetched,
        blob.size - have + (await configSize(store, result.manifest.config.digest, before, proxy)),
      );
      const report = await checkStore(store);
      assertEquals([report.corrupt, report.missing, report.ingest], [[], [], []]);
      assertEquals(
        await Deno.readFile(`${store}/blobs/sha256/${blob.digest.slice(7)}`),
        blob.bytes,
      );
    });

    await t.step("a server that ignores Range (200): the blob restarts from zero", async () => {
      const store = await newStore();
      await Deno.writeFile(ingestPath(store, blob.digest), blob.bytes.subarray(0, 500_000));
      await using proxy = FaultProxy.start(fx.registry.url);
      proxy.on((_req, url) => isBlob(url) ? { kind: "ignore-range" } : undefined);
      await pull(`${proxy.host}/test/single:1`, { store });
      const [get] = proxy.requests(blob.digest);
      assertEquals(get!.headers.range, "bytes=500000-");
      assertEquals(get!.status, 200);
      assertEquals(
        await Deno.readFile(`${store}/blobs/sha256/${blob.digest.slice(7)}`),
        blob.bytes,
      );
    });

    await t.step("416: the blob restarts from zero without Range", async () => {
      const store = await newStore();
      await Deno.writeFile(ingestPath(store, blob.digest), blob.bytes.subarray(0, 1000));
      await using proxy = FaultProxy.start(fx.registry.url);
      proxy.on((req, url) =>
        isBlob(url) && req.headers.has("range") ? { kind: "status", status: 416 } : undefined
      );
      await pull(`${proxy.host}/test/single:1`, { store });
      const gets = proxy.requests(blob.digest);
      assertEquals(gets.map((g) => [g.headers.range, g.status]), [["bytes=1000-", 416], [
        undefined,
        200,
      ]]);
      assertEquals((await checkStore(store)).corrupt, []);
    });

    await t.step(
      "a 206 with the wrong Content-Range fails; partial data stays; next pull completes",
      async () => {
        const store = await newStore();
        const partial = ingestPath(store, blob.digest);
        await Deno.writeFile(partial, blob.bytes.subarray(0, 4096));
        await using proxy = FaultProxy.start(fx.registry.url);
        proxy.on((req, url) =>
          isBlob(url) && req.headers.has("range")
            ? { kind: "content-range", value: `bytes 0-${blob.size - 1}/${blob.size}` }
            : undefined
        );
        const e = await assertRejects(() => pull(`${proxy.host}/test/single:1`, { store }));
        assertMatch(
          e.message,
          /Cannot resume blob .*asked for bytes 4096-, the server answered Content-Range "bytes 0-/,
        );
        assertEquals(await sizeOf(partial), 4096);
        assertEquals((await checkStore(store)).names, []);
        proxy.rules = [];
        await pull(`${proxy.host}/test/single:1`, { store });
        assertEquals(proxy.requests(blob.digest).at(-1)!.headers.range, "bytes=4096-");
        assertEquals((await checkStore(store)).corrupt, []);
      },
    );

    await t.step(
      "complete partial data (killed before the rename) is committed without a fetch",
      async () => {
        const store = await newStore();
        await Deno.writeFile(ingestPath(store, blob.digest), blob.bytes);
        await using proxy = FaultProxy.start(fx.registry.url);
        await pull(`${proxy.host}/test/single:1`, { store });
        assertEquals(proxy.requests(blob.digest), []);
        assertEquals(
          await Deno.readFile(`${store}/blobs/sha256/${blob.digest.slice(7)}`),
          blob.bytes,
        );
      },
    );

    await t.step(
      "corrupt partial data: the mismatch deletes it and the blob is fetched once more",
      async () => {
        const store = await newStore();
        const garbage = blob.bytes.slice(0, 300_000);
        garbage[12345]! ^= 0xff;
        await Deno.writeFile(ingestPath(store, blob.digest), garbage);
        const oversized = new Uint8Array(blob.size + 10);
        await using proxy = FaultProxy.start(fx.registry.url);
        await pull(`${proxy.host}/test/single:1`, { store });
        assertEquals(proxy.requests(blob.digest).map((r) => r.headers.range), [
          "bytes=300000-",
          undefined,
        ]);
        assertEquals(
          await Deno.readFile(`${store}/blobs/sha256/${blob.digest.slice(7)}`),
          blob.bytes,
        );

        // partial data longer than the blob is dropped before any request
        const store2 = await newStore();
        await Deno.writeFile(ingestPath(store2, blob.digest), oversized);
        const n = proxy.seen.length;
        await pull(`${proxy.host}/test/single:1`, { store: store2 });
        assertEquals(
          proxy.seen.slice(n).filter((r) => r.path.endsWith(blob.digest)).map((r) =>
            r.headers.range
          ),
          [undefined],
        );
      },
    );

    await t.step(
      "a connection cut mid-blob is resumed in the same pull, from where it broke",
      async () => {
        const store = await newStore();
        await using proxy = FaultProxy.start(fx.registry.url);
        let cuts = 0;
        proxy.on((_req, url) =>
          isBlob(url) && cuts++ < 3 ? { kind: "cut", after: 300_000 } : undefined
        );
        const result = await pull(`${proxy.host}/test/single:1`, { store });
        const gets = proxy.requests(blob.digest).filter((r) => r.method === "GET");
        assertEquals(gets.length, 4);
        assertEquals(gets[0]!.headers.range, undefined);
        assertEquals(gets.slice(1).map((g) => g.status), [206, 206, 206]);
        // each resume starts after what the last connection brought (up to one read buffer is
        // lost with a broken connection), never beyond it
        let previous = 0;
        for (const g of gets.slice(1)) {
          const from = Number(/^bytes=(\d+)-$/.exec(g.headers.range!)![1]);
          assert(from > previous && from <= previous + 300_000, `${from} after ${previous}`);
          previous = from;
        }
        assert(result.bytesFetched >= blob.size);
        assertEquals(
          await Deno.readFile(`${store}/blobs/sha256/${blob.digest.slice(7)}`),
          blob.bytes,
        );
        assertEquals((await checkStore(store)).ingest, []);
      },
    );

    await t.step("a stalled body is aborted after the stall timeout and resumed", async () => {
      const store = await newStore();
      await using proxy = FaultProxy.start(fx.registry.url);
      let stalls = 0;
      proxy.on((_req, url) =>
        isBlob(url) && stalls++ < 1 ? { kind: "stall", after: 500_000 } : undefined
      );
      const started = performance.now();
      await pull(`${proxy.host}/test/single:1`, { store, stallTimeout: 400 });
      assert(performance.now() - started >= 400);
      const gets = proxy.requests(blob.digest).filter((r) => r.method === "GET");
      assertEquals(gets.length, 2);
      const from = Number(/^bytes=(\d+)-$/.exec(gets[1]!.headers.range!)![1]);
      assert(from > 0 && from <= 500_000, `resumed from ${from}`);
      assertEquals(
        await Deno.readFile(`${store}/blobs/sha256/${blob.digest.slice(7)}`),
        blob.bytes,
      );
    });

    await t.step(
      "a body that keeps breaking without progress fails, saying why, partial kept",
      async () => {
        const store = await newStore();
        await using proxy = FaultProxy.start(fx.registry.url);
        let first = true;
        proxy.on((_req, url) => {
          if (!isBlob(url)) return undefined;
          if (first) {
            first = false;
            return { kind: "cut", after: 600_000 };
          }
          return { kind: "cut", after: 0 };
        });
        const e = await assertRejects(() => pull(`${proxy.host}/test/single:1`, { store }));
        assertMatch(e.message, /broke off 5 times in a row without progress/);
        const kept = (await sizeOf(ingestPath(store, blob.digest)))!;
        assert(kept > 0 && kept <= 600_000, `kept ${kept}`);
        assertMatch(e.message, new RegExp(`; ${kept} of \\d+ bytes are kept for the next pull$`));
        proxy.rules = [];
        await pull(`${proxy.host}/test/single:1`, { store });
        assertEquals(proxy.requests(blob.digest).at(-1)!.headers.range, `bytes=${kept}-`);
      },
    );

    await t.step("a server that sends more bytes than the descriptor says is cut off", async () => {
      const store = await newStore();
      await using proxy = FaultProxy.start(fx.registry.url);
      proxy.on((_req, url) =>
        isBlob(url) ? { kind: "append", bytes: new Uint8Array(64 * 1024) } : undefined
      );
      const e = await assertRejects(() => pull(`${proxy.host}/test/single:1`, { store }));
      assertMatch(e.message, /size mismatch: expected \d+ bytes, got more than \d+/);
      const report = await checkStore(store);
      assertEquals([report.names, report.corrupt, report.ingest], [[], [], []]);
      assert(!(await sizeOf(`${store}/blobs/sha256/${blob.digest.slice(7)}`)));
    });
  } finally {
    await fx.stop();
  }
});

/** Bytes of the config fetched after `from` (0 when it was already present). */
async function configSize(
  store: string,
  digest: string,
  from: number,
  proxy: FaultProxy,
): Promise<number> {
  const fetched = proxy.seen.slice(from).some((r) => r.method === "GET" && r.path.endsWith(digest));
  return fetched ? (await Deno.stat(`${store}/blobs/sha256/${digest.slice(7)}`)).size : 0;
}

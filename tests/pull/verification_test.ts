// The checks that stand between the bytes on disk and a name in the store, each made to matter:
// a partial download already at full length is hashed before it is committed, a partial with a
// wrong byte in the part already on disk ends in a fetch from zero, and neither leaves anything
// unverified behind. Turning any of these checks off makes a step here fail.

import { assert, assertEquals } from "../_assert.ts";
import { type Fixture, startFixture } from "../_fixture.ts";
import { FaultProxy } from "../_proxy.ts";
import { checkStore } from "../_store_check.ts";
import { tempDir } from "../_temp.ts";
import { pull } from "../../lib/pull/pull.ts";
import { Store } from "../../lib/store/store.ts";

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
  const res = await fetch(`${fx.registry.url}/v2/test/single/blobs/${digest}`);
  return { digest, size, bytes: new Uint8Array(await res.arrayBuffer()) };
}

async function storeWithPartial(blob: Blob, bytes: Uint8Array): Promise<string> {
  const dir = `${await tempDir({ prefix: "skiff-verify-" })}/store`;
  await Store.open(dir);
  await Deno.writeFile(`${dir}/ingest/sha256-${blob.digest.slice(7)}`, bytes);
  return dir;
}

function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const copy = bytes.slice();
  copy[at]! ^= 0xff;
  return copy;
}

async function stored(store: string, digest: string): Promise<Uint8Array> {
  return await Deno.readFile(`${store}/blobs/sha256/${digest.slice(7)}`);
}

Deno.test("verification: partial data on disk is trusted only after it hashes right", async (t) => {
  const fx = await startFixture();
  const blob = await bigLayer(fx);
  const blobGets = (proxy: FaultProxy) =>
    proxy.seen.filter((r) => r.method === "GET" && r.path.endsWith(blob.digest));
  try {
    await t.step(
      "a full-length partial with the right bytes is committed without a fetch",
      async () => {
        const store = await storeWithPartial(blob, blob.bytes);
        await using proxy = FaultProxy.start(fx.registry.url);
        const result = await pull(`${proxy.host}/test/single:1`, { store });
        assertEquals(blobGets(proxy).length, 0);
        assert(result.bytesFetched < blob.size, `fetched ${result.bytesFetched} bytes`);
        assertEquals(await stored(store, blob.digest), blob.bytes);
        const report = await checkStore(store);
        assertEquals([report.corrupt, report.missing, report.ingest], [[], [], []]);
      },
    );

    await t.step("a full-length partial with one byte wrong is fetched again", async () => {
      const store = await storeWithPartial(blob, flipped(blob.bytes, blob.size >> 1));
      await using proxy = FaultProxy.start(fx.registry.url);
      const result = await pull(`${proxy.host}/test/single:1`, { store });
      const gets = blobGets(proxy);
      assertEquals(gets.length, 1);
      assertEquals(gets[0]!.headers["range"], undefined); // from zero, not resumed
      assertEquals(result.digest, fx.single.digest);
      assertEquals(await stored(store, blob.digest), blob.bytes);
      const report = await checkStore(store);
      assertEquals([report.corrupt, report.missing, report.ingest], [[], [], []]);
    });

    await t.step(
      "a half partial with a wrong byte: resumed, refused, fetched from zero",
      async () => {
        const half = blob.size >> 1;
        const store = await storeWithPartial(blob, flipped(blob.bytes.subarray(0, half), 100));
        await using proxy = FaultProxy.start(fx.registry.url);
        await pull(`${proxy.host}/test/single:1`, { store });
        const gets = blobGets(proxy);
        assertEquals(gets.map((g) => g.headers["range"]), [`bytes=${half}-`, undefined]);
        assertEquals(await stored(store, blob.digest), blob.bytes);
        const report = await checkStore(store);
        assertEquals([report.corrupt, report.missing, report.ingest], [[], [], []]);
      },
    );

    await t.step(
      "a partial longer than the blob is dropped and the blob fetched whole",
      async () => {
        const longer = new Uint8Array(blob.size + 10);
        longer.set(blob.bytes);
        const store = await storeWithPartial(blob, longer);
        await using proxy = FaultProxy.start(fx.registry.url);
        await pull(`${proxy.host}/test/single:1`, { store });
        const gets = blobGets(proxy);
        assertEquals(gets.map((g) => g.headers["range"]), [undefined]);
        assertEquals(await stored(store, blob.digest), blob.bytes);
      },
    );
  } finally {
    await fx.stop();
  }
});

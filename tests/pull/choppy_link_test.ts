// A link that breaks every few KiB, less than one ring buffer (256 KiB): every byte that arrived
// before a break is kept, so each resume goes on from the last byte and the blob completes.

import { assert, assertEquals } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { FaultProxy } from "../_proxy.ts";
import { checkStore } from "../_store_check.ts";
import { pull } from "../../lib/pull/pull.ts";
import { tempDir } from "../_temp.ts";

const CUT = 40 * 1024;

Deno.test("choppy link: a connection cut every 40 KiB still completes every blob", async () => {
  const fx = await startFixture();
  await using proxy = FaultProxy.start(fx.registry.url);
  proxy.on((_req, url) =>
    url.pathname.includes("/blobs/") ? { kind: "cut", after: CUT } : undefined
  );
  const dir = await tempDir({ prefix: "skiff-choppy-" });
  try {
    const store = `${dir}/store`;
    const name = `${proxy.host}/test/single:1`;
    const result = await pull(name, { store });
    assertEquals(result.reference, name);
    const report = await checkStore(store);
    assertEquals([report.corrupt, report.missing, report.names, report.ingest], [
      [],
      [],
      [name],
      [],
    ]);
    // the 2 MiB layer came in pieces of at most 40 KiB, each request asking for the next byte
    const big = result.layers.reduce((a, b) => (a.size > b.size ? a : b));
    const asked = proxy.requests(big.digest);
    assert(asked.length >= Math.ceil(big.size / CUT), `${asked.length} requests`);
    const offsets = asked.map((r) => Number(/bytes=(\d+)-/.exec(r.headers.range ?? "")?.[1] ?? 0));
    for (let i = 1; i < offsets.length; i++) {
      assert(offsets[i]! > offsets[i - 1]!, `request ${i} did not move on: ${offsets}`);
    }
    assertEquals(offsets.at(-1)! + CUT >= big.size, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await fx.stop();
  }
});

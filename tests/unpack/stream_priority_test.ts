// The streaming unpack's download priority (lib/image/download_priority.ts) against the real
// registry: where every connection is slow (the fault proxy throttles each blob's response), the
// first layer's reads wait on the network, so the later layers download beside it instead of
// after it. (Where the download is bound by CPU, as on loopback, they go one after another:
// machine-dependent, so shown by `deno task bench --rootfs-only`, and by the unit test on a clock
// of its own, tests/image/download_priority_test.ts.)

import { assert, assertEquals } from "../_assert.ts";
import { gzip, noise, sha256, tarOf } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { pushImage } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { checkStore } from "../_store_check.ts";
import { unpack } from "../../lib/unpack/unpack.ts";
import { tempDir } from "../_temp.ts";

const LAYERS = 3;
const LAYER_BYTES = 512 * 1024;

Deno.test("stream priority: slow connections download side by side, the tree is whole", async () => {
  const registry = await startRegistry();
  const proxy = FaultProxy.start(registry.url);
  const work = await tempDir({ prefix: "skiff-stream-priority-" });
  try {
    const layers = [];
    for (let i = 0; i < LAYERS; i++) {
      const tar = await tarOf({ [`layer${i}/data`]: noise(LAYER_BYTES, `layer ${i}`) });
      layers.push({
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        bytes: await gzip(tar),
        diffId: sha256(tar),
      });
    }
    const image = await pushImage(registry.url, "test/priority", "1", layers);
    const layerDigests = new Set(image.layers.map((l) => l.digest));
    // each layer's response at 1 MiB/s: half a second per layer, the network the limit
    proxy.on((req, url) =>
      req.method === "GET" && [...layerDigests].some((d) => url.pathname.endsWith(`/blobs/${d}`))
        ? { kind: "throttle", bytesPerSecond: 1024 * 1024 }
        : undefined
    );
    const progress: { digest: string; type: string; at: number }[] = [];
    const result = await unpack(`${proxy.host}/test/priority:1`, `${work}/rootfs`, {
      store: `${work}/store`,
      onProgress: (e) => {
        if ((e.type === "blob-progress" || e.type === "blob-done") && layerDigests.has(e.digest)) {
          progress.push({ digest: e.digest, type: e.type, at: performance.now() });
        }
      },
    });
    assertEquals(result.layers, LAYERS);
    for (let i = 0; i < LAYERS; i++) {
      assertEquals((await Deno.stat(`${work}/rootfs/layer${i}/data`)).size, LAYER_BYTES);
    }
    assertEquals((await checkStore(`${work}/store`)).corrupt, []);

    // the last layer's bytes came in while the first layer was still downloading
    const first = image.layers[0]!.digest;
    const last = image.layers[LAYERS - 1]!.digest;
    const firstDone = progress.find((p) => p.digest === first && p.type === "blob-done")!.at;
    const lastBytes = progress.filter((p) => p.digest === last && p.type === "blob-progress");
    assert(lastBytes.length > 0, "the last layer reported its bytes");
    assert(
      lastBytes[0]!.at < firstDone,
      `the last layer started after the first was done: they went one at a time (${
        (lastBytes[0]!.at - firstDone).toFixed(0)
      } ms after)`,
    );
    const lastDone = progress.find((p) => p.digest === last && p.type === "blob-done")!.at;
    const beforeFirstDone = lastBytes.filter((p) => p.at < firstDone).length;
    assert(
      beforeFirstDone > lastBytes.length / 4,
      `most of the last layer came after the first was done (${beforeFirstDone} of ` +
        `${lastBytes.length} progress events before it; done ${
          (lastDone - firstDone).toFixed(0)
        } ms later)`,
    );
  } finally {
    await proxy.stop();
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

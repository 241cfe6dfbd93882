// The streaming unpack's download priority (lib/image/download_priority.ts) against the real
// registry: where every connection is slow (the fault proxy throttles each layer's response),
// the first layer's reads wait on the network, so the later layers download beside it instead of
// after it (or only from when its last 8 MiB are left, when the next layer may start anyway).
// Where the download is bound by CPU, as on loopback, they go one after another: that is
// machine-dependent, so it is shown by `deno task bench --rootfs-only`, and by the unit test on a
// clock of its own, tests/image/download_priority_test.ts.

import { assert, assertEquals } from "../_assert.ts";
import { gzip, sha256, tarOf } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { pushImage } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { checkStore } from "../_store_check.ts";
import { unpack } from "../../lib/unpack/unpack.ts";
import { tempDir } from "../_temp.ts";

const LAYERS = 2;
// above the 8 MiB under which a first layer lets the next one start
const LAYER_BYTES = 24 * 1024 * 1024;

/** Incompressible bytes, quickly (their content does not matter here). */
function randomBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(out.subarray(at, at + 65536));
  return out;
}

Deno.test("stream priority: slow connections download side by side, the tree is whole", async () => {
  const registry = await startRegistry();
  const proxy = FaultProxy.start(registry.url);
  const work = await tempDir({ prefix: "skiff-stream-priority-" });
  try {
    const layers = [];
    for (let i = 0; i < LAYERS; i++) {
      const tar = await tarOf({ [`layer${i}/data`]: randomBytes(LAYER_BYTES) });
      layers.push({
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        bytes: await gzip(tar),
        diffId: sha256(tar),
      });
    }
    const image = await pushImage(registry.url, "test/priority", "1", layers);
    const layerDigests = new Set(image.layers.map((l) => l.digest));
    // each layer's response at 16 MiB/s: 1.5 s per layer, the network the limit
    proxy.on((req, url) =>
      req.method === "GET" && [...layerDigests].some((d) => url.pathname.endsWith(`/blobs/${d}`))
        ? { kind: "throttle", bytesPerSecond: 16 * 1024 * 1024 }
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

    // the last layer's bytes began to come in early in the first layer's download, not when its
    // last 8 MiB were left (when the next layer may start anyway) or after it was done
    const first = image.layers[0]!.digest;
    const last = image.layers[LAYERS - 1]!.digest;
    const of = (digest: string, type: string) =>
      progress.filter((p) => p.digest === digest && p.type === type).map((p) => p.at);
    const firstStart = of(first, "blob-progress")[0]!;
    const firstDone = of(first, "blob-done")[0]!;
    const lastStart = of(last, "blob-progress")[0]!;
    const into = (lastStart - firstStart) / (firstDone - firstStart);
    assert(
      into < 1 / 3,
      `the last layer began ${(into * 100).toFixed(0)}% into the first one's download ` +
        `(${(firstDone - firstStart).toFixed(0)} ms): they did not go side by side`,
    );
  } finally {
    await proxy.stop();
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

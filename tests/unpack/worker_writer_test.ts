// Unit: the worker that applies the streaming unpack's layers (lib/unpack/_worker_writer.ts and
// _apply_worker.ts): a layer from its blob file, a follow that an abort ends, a worker that cannot
// start (the caller then applies on its own thread).

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { gzip, sha256, tarOf } from "../_images.ts";
import { tempDir } from "../_temp.ts";
import { WorkerWriter } from "../../lib/unpack/_worker_writer.ts";
import { DigestMismatchError } from "../../lib/reference/digest_mismatch_error.ts";
import type { BlobNotice, LayerBlob } from "../../lib/unpack/sink.ts";

async function layerFile(dir: string, files: Record<string, string>) {
  const tar = await tarOf(files);
  const bytes = await gzip(tar);
  const digest = sha256(bytes);
  const path = `${dir}/${digest.slice("sha256:".length)}`;
  await Deno.writeFile(path, bytes);
  return { path, digest, size: bytes.byteLength, diffId: sha256(tar), bytes };
}

function blob(l: { path: string; digest: string; size: number; diffId: string }): LayerBlob {
  return {
    index: 0,
    layer: {
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: l.digest,
      size: l.size,
    },
    diffId: l.diffId,
    path: l.path,
    bytesBefore: 0,
    maxBytes: 1 << 30,
    tar: () => {
      throw new Error("not on this thread");
    },
  };
}

Deno.test("worker writer: a layer from its blob file, then the finish; a wrong diff_id keeps its class", async () => {
  const work = await tempDir({ prefix: "skiff-worker-" });
  try {
    await Deno.mkdir(`${work}/root`);
    const l = await layerFile(work, { "etc/": "", "etc/hello": "hi\n" });
    const writer = await WorkerWriter.start(`${work}/root`, { maxEntries: 10, owners: false });
    assert(writer, "the worker started");
    const n = await writer.apply(blob(l));
    assertEquals(n, (await tarOf({ "etc/": "", "etc/hello": "hi\n" })).byteLength);
    assertEquals([writer.entries, writer.bytes], [3, 3]); // ".", "etc/", "etc/hello"
    await writer.finish();
    assertEquals(await Deno.readTextFile(`${work}/root/etc/hello`), "hi\n");

    await Deno.mkdir(`${work}/root2`);
    const again = (await WorkerWriter.start(`${work}/root2`, { maxEntries: 10, owners: false }))!;
    try {
      const e = await assertRejects(
        () => again.apply({ ...blob(l), diffId: `sha256:${"0".repeat(64)}` }),
        DigestMismatchError,
      );
      assert(e.message.includes("diff_id"), e.message);
    } finally {
      await again.stop();
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("worker writer: stop() while a layer follows a download that never ends: the layer rejects, the worker is gone", async () => {
  const work = await tempDir({ prefix: "skiff-worker-" });
  try {
    await Deno.mkdir(`${work}/root`);
    const l = await layerFile(work, { "a": "a\n" });
    const ingest = `${work}/ingest`;
    await Deno.writeFile(ingest, l.bytes.subarray(0, 10)); // ten bytes on disk, then nothing
    const writer = (await WorkerWriter.start(`${work}/root`, { maxEntries: 10, owners: false }))!;
    const feed = {
      subscribe(listener: (n: BlobNotice) => void) {
        listener({
          type: "written",
          digest: l.digest,
          path: ingest,
          bytes: 10,
          committed: false,
          downloaded: true,
        });
        return () => {};
      },
    };
    const applying = writer.apply({ ...blob(l), feed });
    const outcome = applying.then(() => "applied", (e: Error) => e.message);
    // at once: an abort that comes before the worker took up the layer stops it all the same
    await writer.stop();
    assertEquals(await outcome, "Cannot apply the layer: the unpack was aborted");
    await assertRejects(() => writer.apply(blob(l)), Error, "it was stopped");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("worker writer: a worker module that cannot load gives no writer (the caller applies itself)", async () => {
  const work = await tempDir({ prefix: "skiff-worker-" });
  try {
    const writer = await WorkerWriter.start(work, {
      maxEntries: 10,
      module: new URL(`file://${work}/missing_worker.ts`),
    });
    assertEquals(writer, undefined);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

// Layered EROFS: one image per layer, named by its diff_id and reused by every image that has the
// layer, whiteouts kept in overlayfs's form, for containerd's EROFS snapshotter, Kata or microsandbox
// to stack with overlayfs (lowerdir = the layers' mounts, top first).

import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import { OutputFile, type OutputFileOptions } from "../store/output_file.ts";
import type { Store } from "../store/store.ts";
import { ErofsWriter } from "../disk/erofs/erofs_writer.ts";
import { fileDigest } from "../disk/file_digest.ts";
import { volumeUuid } from "../disk/volume_uuid.ts";
import { checkStoredLayer, readLayer } from "./read_layer.ts";

/** A layer image's output: a new file, never over one. */
const LAYER_OUTPUT: OutputFileOptions = {
  action: "unpack into",
  existing: "refuse",
  seeks: "an EROFS image",
  kind: "unpack",
};

/** One layer's image. */
export interface LayerImage {
  /** The layer's diff_id (the digest of its tar). */
  diffId: string;
  /** The image file, `DIR/<algorithm>-<hex>.erofs`. */
  path: string;
  /** Its size in bytes. */
  size: number;
  /** Whether it was there already (written by an earlier unpack) and reused. */
  reused: boolean;
}

export interface LayerImagesOptions {
  name: string;
  maxEntries: number;
  maxBytes: number;
  signal?: AbortSignal;
  onLayer?: (index: number, entries: number, bytes: number) => void;
}

/**
 * Writes the layers that `dir` does not have yet, each into a hidden, locked file beside its name
 * ({@linkcode OutputFile}), linked into place once the layer was verified; what killed runs left
 * in `dir` is removed first. Limits count over the layers written in this run.
 */
export async function writeLayerImages(
  store: Store,
  layers: Descriptor[],
  diffIds: string[],
  dir: string,
  options: LayerImagesOptions,
): Promise<{ images: LayerImage[]; entries: number; whiteouts: number; bytes: number }> {
  const { name, signal } = options;
  await Deno.mkdir(dir, { recursive: true });
  // what killed runs into the same directory left, of any layer (a running one's is left alone)
  await OutputFile.sweep(dir);
  const images: LayerImage[] = [];
  const total = { entries: 0, whiteouts: 0, bytes: 0, tar: 0 };
  for (const [i, layer] of layers.entries()) {
    const diffId = diffIds[i]!;
    if (!/^sha(256:[0-9a-f]{64}|512:[0-9a-f]{128})$/.test(diffId)) {
      throw new Error(`Cannot unpack ${name}: the config's diff_id ${i + 1} is not a digest`);
    }
    const path = `${dir}/${diffId.replace(":", "-")}.erofs`;
    const have = await Deno.lstat(path).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    });
    if (have?.isFile && await intact(path, signal)) {
      images.push({ diffId, path, size: have.size, reused: true });
      options.onLayer?.(i, 0, 0);
      continue;
    }
    if (have && !have.isFile) throw new Error(`Cannot unpack into ${path}: it is not a file`);
    if (have) {
      // truncated, altered, or with no record of what it was: written again
      await Deno.remove(path).catch((e) => {
        if (e instanceof Deno.errors.NotFound) return;
        throw new Error(
          `Cannot unpack into ${path}: it differs from what was written, and cannot be ` +
            `replaced: ${(e as Error).message}`,
          { cause: e },
        );
      });
    }
    // a new file beside its name, linked into place (never over a file that appeared meanwhile)
    const output = await OutputFile.open(path, { ...LAYER_OUTPUT, store });
    const writer = new ErofsWriter(output.temp ?? path, {
      maxEntries: options.maxEntries - total.entries,
      uuid: await volumeUuid(diffId),
      whiteouts: "overlay",
      file: output.file,
    });
    try {
      try {
        const tar = readLayer(store, layer, diffId, signal ? { signal } : {});
        await writer.applyLayer(counted(tar, total, options.maxBytes), signal ? { signal } : {});
        await writer.finish();
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        await checkStoredLayer(store, layer.digest, signal); // a damaged blob is the cause
        if (e instanceof DigestMismatchError || e instanceof SizeMismatchError) throw e;
        const message = (e as Error).message.replace(/^Cannot /, "cannot ");
        throw new Error(
          `Cannot unpack ${name}: layer ${i + 1} of ${layers.length} (${layer.digest}): ${message}`,
          { cause: e },
        );
      }
      signal?.throwIfAborted();
      try {
        await output.commit();
      } catch (e) {
        // another unpack wrote the same layer meanwhile: the same diff_id, the same bytes
        if (!((e as Error).cause instanceof Deno.errors.AlreadyExists)) throw e;
      }
      await Deno.writeTextFile(digestFile(path), digestLine(path, writer.image!.digest));
    } finally {
      writer.close();
      await output.abort();
    }
    total.entries += writer.entries;
    total.whiteouts += writer.whiteouts;
    total.bytes += writer.bytes;
    images.push({ diffId, path, size: writer.image!.size, reused: false });
    options.onLayer?.(i, writer.entries, writer.bytes);
  }
  return { images, entries: total.entries, whiteouts: total.whiteouts, bytes: total.bytes };
}

/**
 * Beside each layer image, its SHA-256 as `sha256sum` writes it (`sha256sum -c` checks it):
 * `DIR/sha256-<hex>.erofs.sha256`.
 */
function digestFile(path: string): string {
  return `${path}.sha256`;
}

function digestLine(path: string, digest: string): string {
  return `${digest.slice("sha256:".length)}  ${path.slice(path.lastIndexOf("/") + 1)}\n`;
}

/**
 * Whether a layer image is what was written: its digest file is there and names its bytes (one
 * read of the image). A truncated or altered image, or one without a readable record, is written
 * again rather than stacked.
 */
async function intact(path: string, signal: AbortSignal | undefined): Promise<boolean> {
  const record = new Uint8Array(512); // a line is 64 + 2 + the name (80) + 1 bytes
  let n: number | null;
  try {
    using file = await Deno.open(digestFile(path));
    n = await file.read(record);
  } catch {
    return false; // none, or not a file: writing the image again will say what is wrong
  }
  const line = new TextDecoder().decode(record.subarray(0, n ?? 0));
  const hex = /^([0-9a-f]{64}) {2}/.exec(line)?.[1];
  if (!hex) return false;
  return line === digestLine(path, `sha256:${hex}`) &&
    await fileDigest(path, signal) === `sha256:${hex}`;
}

async function* counted(
  chunks: AsyncIterable<Uint8Array>,
  total: { tar: number },
  max: number,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    total.tar += chunk.byteLength;
    if (total.tar > max) {
      throw new Error(`more than ${max} uncompressed bytes (the maxBytes limit)`);
    }
    yield chunk;
  }
}

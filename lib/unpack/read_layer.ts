/**
 * One layer from the store, verified twice in one pass: the blob against its digest and size as
 * it is read, the decompressed tar against the config's `rootfs.diff_ids[i]`.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import { layerCompression } from "../oci/media_types.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import { decompress } from "../stream/decompress.ts";
import { DigestVerifier } from "../stream/digest_verifier.ts";
import type { Store } from "../store/store.ts";
import { LayerChangedError } from "./layer_changed_error.ts";

/** Options for {@linkcode readLayer}. */
export interface ReadLayerOptions {
  /** Stops reading. */
  signal?: AbortSignal;
  /**
   * The read size from the blob file.
   * @default {1048576}
   */
  readSize?: number;
  /**
   * The blob's bytes, instead of its file in the store (the streaming unpack follows a blob
   * while it downloads); verified the same way.
   * @default {the store's file}
   */
  source?: AsyncIterable<Uint8Array>;
  /**
   * For a `source` whose bytes a download verifies as it writes them (the streaming unpack
   * following an ingest file): the blob is then not hashed a second time, only its size checked,
   * and at its end this must say that the download verified exactly the bytes read (committed,
   * and not restarted from zero meanwhile), or the layer fails with a `LayerChangedError`.
   * @default {undefined: the blob is hashed here}
   */
  verifiedByDownload?: () => boolean;
  /**
   * Frees each read buffer and gzip output buffer as soon as it is consumed (`decompress()`'s
   * `release`): for a consumer that is done with a chunk when it asks for the next and keeps no
   * view of it (`RootfsWriter`). Garbage of 1 MiB buffers otherwise piles up to tens of MiB
   * before the collector runs. A `source` must then yield buffers nobody else uses.
   * @default {false}
   */
  release?: boolean;
}

/**
 * Reads a layer blob from the store and yields its decompressed tar bytes.
 *
 * Both digests can only be known at the end: the generator throws then, after the last chunk,
 * so whoever consumed the chunks must treat what it made of them as unverified until the
 * generator returns.
 *
 * @param store The store holding the blob.
 * @param layer The layer's descriptor (media type, digest, size).
 * @param diffId The digest of the uncompressed tar, from the image config.
 * @param options Abort signal and read size.
 * @returns The tar bytes, in chunks.
 * @throws {Error} When the media type is not a layer type skiff reads.
 * @throws {DigestMismatchError} When the blob or the tar does not match its digest.
 * @throws {SizeMismatchError} When the blob's size differs from the descriptor's.
 * @throws {LayerChangedError} When `verifiedByDownload` says no at the end.
 *
 * @example Read a layer (from a store that has it)
 * ```ts ignore
 * import { readLayer } from "./read_layer.ts";
 * import { Store } from "../store/store.ts";
 *
 * const store = await Store.open("./images");
 * const layer = {
 *   mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *   digest: "sha256:...",
 *   size: 1234,
 * };
 * let bytes = 0;
 * for await (const chunk of readLayer(store, layer, "sha256:...")) bytes += chunk.byteLength;
 * ```
 */
export async function* readLayer(
  store: Pick<Store, "blobPath">,
  layer: Descriptor,
  diffId: string,
  options: ReadLayerOptions = {},
): AsyncGenerator<Uint8Array> {
  const compression = layerCompression(layer.mediaType);
  if (compression === undefined) {
    throw new Error(
      `Cannot unpack layer ${layer.digest}: media type "${layer.mediaType}" is not a layer ` +
        `skiff can read (tar, tar+gzip or tar+zstd)`,
    );
  }
  const want = parseDigest(diffId);
  const readSize = options.readSize ?? 1024 * 1024;
  const signal = options.signal;

  async function* stored(): AsyncGenerator<Uint8Array> {
    using file = await Deno.open(store.blobPath(layer.digest));
    for (;;) {
      signal?.throwIfAborted();
      // a fresh buffer each time: the decompressor may still hold the last one
      const buffer = new Uint8Array(readSize);
      const n = await file.read(buffer);
      if (n === null) break;
      yield buffer.subarray(0, n);
    }
  }

  async function* blob(): AsyncGenerator<Uint8Array> {
    const verifier = new DigestVerifier(layer, { what: `layer ${layer.digest}` });
    for await (const chunk of options.source ?? stored()) {
      verifier.update(chunk);
      yield chunk;
    }
    verifier.verify();
  }

  /** The download's verification stands for this one: sizes counted, the verdict asked at the end. */
  async function* downloaded(
    source: AsyncIterable<Uint8Array>,
    verified: () => boolean,
  ): AsyncGenerator<Uint8Array> {
    const what = `layer ${layer.digest}`;
    let bytes = 0;
    for await (const chunk of source) {
      bytes += chunk.byteLength;
      if (bytes > layer.size) throw new SizeMismatchError(what, layer.size, bytes);
      yield chunk;
    }
    if (bytes !== layer.size) throw new SizeMismatchError(what, layer.size, bytes);
    if (!verified()) throw new LayerChangedError(layer.digest);
  }

  const hash = createHash(want.algorithm);
  const bytes = options.source && options.verifiedByDownload
    ? downloaded(options.source, options.verifiedByDownload)
    : blob();
  // gzip only: the buffer hand-over that makes release safe is node:zlib's inflate stream's
  const release = options.release === true && compression === "gzip";
  for await (const chunk of decompress(bytes, compression, { release })) {
    hash.update(chunk);
    yield chunk;
  }
  const actual = `${want.algorithm}:${hash.digest("hex")}`;
  if (actual !== diffId) {
    throw new DigestMismatchError(`the tar of layer ${layer.digest} (diff_id)`, diffId, actual);
  }
}

/**
 * After reading a layer from the store failed (its tar or its compression broke, or it did not
 * match its digest): whether the store's copy is damaged. Hashes the blob's file whole (only on
 * that failure); a damaged one is a {@linkcode DigestMismatchError} naming the blob and the way to
 * mend the store, which is the cause to report rather than the tar's complaint.
 *
 * @param store The store the layer was read from.
 * @param digest The layer's digest.
 * @param signal Stops the hashing.
 * @returns Resolves when the blob is intact (or absent): the failure was the layer's own.
 * @throws {DigestMismatchError} When the blob in the store does not hash to its name.
 *
 * @example An intact layer passes
 * ```ts
 * import { checkStoredLayer } from "./read_layer.ts";
 * import { Store } from "../store/store.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const store = await Store.open(dir);
 * const digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
 * await store.putBlob(digest, new TextEncoder().encode("hello"));
 * await checkStoredLayer(store, digest);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function checkStoredLayer(
  store: Store,
  digest: string,
  signal?: AbortSignal,
): Promise<void> {
  const actual = await store.hashBlob(digest, signal);
  if (actual === undefined || actual === digest) return;
  throw new DigestMismatchError(
    `layer ${digest} in the store ${store.path}`,
    digest,
    actual,
    "the store is damaged: 'skiff fsck --repair' deletes the blob, and the next pull fetches it again",
  );
}

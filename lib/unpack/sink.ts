/**
 * What the unpack pipeline writes into: a sink takes an image's layers, base first, each as its
 * uncompressed tar stream, and makes one result of them (a directory, a tar, a disk image).
 *
 * @module
 */

import type { ImageConfig } from "../oci/parse_image_config.ts";
import type { Descriptor, ImageManifest } from "../oci/parse_manifest.ts";

import type { ApplyLayerOptions } from "../layer/apply_layer.ts";

/** Options for {@linkcode UnpackSink.applyLayer} (a signal: what was written stays until
 * {@linkcode UnpackSink.abort}). */
export type { ApplyLayerOptions };

/**
 * A target of the unpack pipeline (`unpackImage()`): the layers of one image go in, base first,
 * one {@linkcode UnpackSink.applyLayer} call each, then {@linkcode UnpackSink.finish} once, or
 * {@linkcode UnpackSink.abort} after any failure.
 *
 * The tar bytes a sink is given are verified only when the layer's stream ends without an error
 * (the blob's digest and the diff_id are known at the end), so a sink must not publish anything
 * before `finish()`: a failed or aborted unpack must leave no trace of it at its target.
 *
 * The counters are read after each layer and at the end.
 *
 * @example A sink that counts the bytes of every layer
 * ```ts
 * import type { ApplyLayerOptions, UnpackSink } from "./sink.ts";
 * import assert from "node:assert/strict";
 *
 * class CountingSink implements UnpackSink {
 *   entries = 0;
 *   whiteouts = 0;
 *   bytes = 0;
 *   skippedDevices = 0;
 *   finished = false;
 *   async applyLayer(tar: AsyncIterable<Uint8Array>, options: ApplyLayerOptions = {}) {
 *     for await (const chunk of tar) {
 *       options.signal?.throwIfAborted();
 *       this.bytes += chunk.byteLength;
 *     }
 *   }
 *   finish() {
 *     this.finished = true;
 *   }
 *   abort() {}
 * }
 *
 * const sink = new CountingSink();
 * await sink.applyLayer((async function* () {
 *   yield new Uint8Array(1024);
 * })());
 * await sink.finish();
 * assert.equal(sink.bytes, 1024);
 * ```
 */
export interface UnpackSink {
  /** Tar entries read so far, whiteouts included. */
  readonly entries: number;
  /** Whiteouts applied so far. */
  readonly whiteouts: number;
  /** Bytes of file content written so far. */
  readonly bytes: number;
  /** Device nodes skipped (a sink that cannot make them); 0 where it does not apply. */
  readonly skippedDevices: number;
  /**
   * Applies one layer's uncompressed tar on top of the layers before it.
   *
   * @param tar The tar bytes, in chunks (a chunk is the sink's until its next iteration step).
   * @param options Abort signal.
   * @returns Resolves once the whole layer was applied.
   */
  applyLayer(tar: AsyncIterable<Uint8Array>, options?: ApplyLayerOptions): Promise<void>;
  /**
   * Completes the result after the last layer and publishes it (renames it into place).
   *
   * @returns Resolves once the result is complete.
   */
  finish(): void | Promise<void>;
  /**
   * Removes whatever the sink made; called once after any failure, also before the first layer.
   * Must not throw.
   *
   * @returns Resolves once cleaned up.
   */
  abort?(): void | Promise<void>;
  /**
   * Optional, for speed: applies one layer from its blob, read, verified and decompressed by the
   * sink itself (`DirectorySink` does all of it in a worker thread, off the thread that
   * downloads). The streaming unpack calls it instead of {@linkcode UnpackSink.applyLayer} for
   * every layer when a sink has it; the same rules hold (nothing published before `finish()`).
   *
   * @param blob Where the layer's bytes are, its digests, the byte budget, and the main-thread
   * tar stream (for a sink that cannot do better after all).
   * @param options Abort signal.
   * @returns The uncompressed tar bytes the layer had (counted against the unpack's maxBytes).
   */
  applyBlob?(blob: LayerBlob, options?: ApplyLayerOptions): Promise<number>;
}

/** A blob notice of a running pull, as a {@linkcode BlobFeed} replays and forwards it. */
export type BlobNotice =
  | {
    type: "written";
    /** The blob. */
    digest: string;
    /** The file that holds its bytes (the ingest file, or the blob once committed). */
    path: string;
    /** Bytes on disk so far (fewer than before after a restart from zero). */
    bytes: number;
    /** Verified and renamed into `blobs/`. */
    committed: boolean;
    /** Written by the pull, which verified it at the commit (not found in the store). */
    downloaded: boolean;
  }
  | {
    type: "ended";
    /** Why the pull failed, when it failed. */
    error?: string;
  };

/**
 * The notices of a running pull: what was written so far (replayed at once to a new listener),
 * then every new one, synchronously.
 */
export interface BlobFeed {
  /**
   * Listens to the notices; the blobs' current states are replayed first.
   *
   * @param listener Called for every notice; must not throw.
   * @returns Stops listening.
   */
  subscribe(listener: (notice: BlobNotice) => void): () => void;
}

/** One layer as its blob, for {@linkcode UnpackSink.applyBlob}. */
export interface LayerBlob {
  /** The layer's index, base first. */
  index: number;
  /** The layer's descriptor (media type, digest, size). */
  layer: Descriptor;
  /** The digest of its uncompressed tar (the config's `rootfs.diff_ids[index]`). */
  diffId: string;
  /** The blob's path in the store (where it is once committed). */
  path: string;
  /** The running pull's notices, when the blob may still be downloading. */
  feed?: BlobFeed;
  /** Uncompressed bytes all layers before this one had. */
  bytesBefore: number;
  /** The most uncompressed bytes all layers together may have (the unpack's maxBytes). */
  maxBytes: number;
  /**
   * The same layer as verified tar bytes read on the calling thread, counted against the
   * budget: what {@linkcode UnpackSink.applyLayer} would be given.
   *
   * @returns The tar bytes, in chunks.
   */
  tar(): AsyncIterable<Uint8Array>;
}

/** What a {@linkcode SinkFactory} is told about the image it will receive. */
export interface SinkImage {
  /** The canonical reference. */
  reference: string;
  /** The digest of the image manifest. */
  digest: string;
  /** The image manifest (its layers, in order). */
  manifest: ImageManifest;
  /** The image config. */
  config: ImageConfig;
  /** The most tar entries all layers together may have (the unpack's `maxEntries`). */
  maxEntries: number;
  /**
   * A layer's uncompressed tar again, verified, from the store: for a sink that needs a second
   * pass over the layers (the flattened tar). The blobs are in the store by `finish()`.
   *
   * @param index The layer's index, base first.
   * @param signal Stops reading.
   * @returns The tar bytes, in chunks.
   */
  rereadLayer(index: number, signal?: AbortSignal): AsyncIterable<Uint8Array>;
}

/**
 * Makes the sink once the image is known (after its manifest and config, before its first
 * layer), so that nothing is made for an image that cannot be found. It may be called a second
 * time, after the first sink was aborted: when a streaming unpack starts over from the store
 * (a download restarted from zero under a layer that was applied without a hash of its own).
 */
export type SinkFactory = (image: SinkImage) => UnpackSink | Promise<UnpackSink>;

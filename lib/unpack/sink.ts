/**
 * What the unpack pipeline writes into: a sink takes an image's layers, base first, each as its
 * uncompressed tar stream, and makes one result of them (a directory, a tar, a disk image).
 *
 * @module
 */

import type { ImageConfig } from "../oci/parse_image_config.ts";
import type { ImageManifest } from "../oci/parse_manifest.ts";

/** Options for {@linkcode UnpackSink.applyLayer}. */
export interface ApplyLayerOptions {
  /** Stops between chunks; what was written stays until {@linkcode UnpackSink.abort}. */
  signal?: AbortSignal;
}

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
 * layer), so that nothing is made for an image that cannot be found.
 */
export type SinkFactory = (image: SinkImage) => UnpackSink | Promise<UnpackSink>;

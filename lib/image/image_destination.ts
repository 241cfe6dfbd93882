/**
 * Where an image is copied to: a registry repository, a store, an archive (next).
 *
 * @module
 */

import type { Descriptor } from "../oci/parse_manifest.ts";
import type { BlobLocation } from "./image_source.ts";

/** Options for the calls of an {@linkcode ImageDestination}. */
export interface DestinationRequestOptions {
  /** Aborts the call. */
  signal?: AbortSignal;
}

/** Options for {@linkcode ImageDestination.writeBlob}. */
export interface WriteBlobOptions extends DestinationRequestOptions {
  /** Called as bytes are accepted by the destination, with the count from the blob's start. */
  onProgress?: (bytes: number) => void;
}

/** What {@linkcode ImageDestination.writeBlob} did. */
export interface WrittenBlob {
  /** Bytes sent to the destination, resent bytes included. */
  sent: number;
  /** Bytes sent again after an interrupted write (0 when nothing was interrupted). */
  resent: number;
}

/**
 * An image destination: it takes blobs (verified on the way), then manifests, then a name.
 *
 * The rule every destination keeps: `writeBlob` commits only when the stream it reads ends
 * normally. The engine hands it a stream that errors instead of ending when the bytes do not match
 * the descriptor, so unverified content is never committed, and no manifest or tag is written
 * before everything it refers to is there.
 *
 * @example A destination that has everything (a test double)
 * ```ts
 * import type { ImageDestination } from "./image_destination.ts";
 *
 * const full: ImageDestination = {
 *   name: "memory",
 *   hasBlob: () => Promise.resolve(true),
 *   writeBlob: () => Promise.reject(new Error("Cannot write blob: read-only")),
 *   putManifest: () => Promise.resolve(),
 * };
 * console.log(full.name);
 * ```
 */
export interface ImageDestination {
  /** What the destination is, for messages (e.g. `127.0.0.1:5001/team/app:1`). */
  readonly name: string;
  /**
   * Tells whether the destination has a blob already (then it is not copied).
   *
   * @param descriptor The blob.
   * @param options Abort signal.
   * @returns `true` when it is there, with that size.
   */
  hasBlob(descriptor: Descriptor, options?: DestinationRequestOptions): Promise<boolean>;
  /**
   * Tells whether blobs kept at `from` can be mounted instead of copied (same registry).
   *
   * @param from Where the source keeps its blobs.
   * @returns `true` when {@linkcode ImageDestination.mountBlob} may be tried.
   */
  canMount?(from: BlobLocation): boolean;
  /**
   * Asks the destination to take a blob from another repository of its own registry.
   *
   * @param descriptor The blob.
   * @param from The repository it is in.
   * @param options Abort signal.
   * @returns `true` when mounted; `false` when the blob must be written.
   */
  mountBlob?(
    descriptor: Descriptor,
    from: BlobLocation,
    options?: DestinationRequestOptions,
  ): Promise<boolean>;
  /**
   * Writes a blob from a stream, committing it only when the stream ends normally, and resuming
   * an interrupted write where the destination says it stopped.
   *
   * @param descriptor The blob.
   * @param content Its bytes (an error instead of the end means: abort, commit nothing).
   * @param options Progress and abort signal.
   * @returns What was sent.
   */
  writeBlob(
    descriptor: Descriptor,
    content: ReadableStream<Uint8Array>,
    options?: WriteBlobOptions,
  ): Promise<WrittenBlob>;
  /**
   * Stores a manifest or index (everything it refers to is there already), by digest, and by
   * `tag` when given (the name: written last).
   *
   * @param descriptor Its descriptor (media type, digest, size).
   * @param bytes Its exact bytes.
   * @param options The tag, and an abort signal.
   */
  putManifest(
    descriptor: Descriptor,
    bytes: Uint8Array,
    options?: DestinationRequestOptions & { tag?: string },
  ): Promise<void>;
}

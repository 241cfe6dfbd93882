/**
 * Where an image is copied to: a registry repository, a store, an archive.
 *
 * @module
 */

import type { Hash } from "node:crypto";
import type { Descriptor } from "../oci/parse_manifest.ts";
import type { BlobLocation } from "./image_source.ts";

/** Options for the calls of an {@linkcode ImageDestination}. */
export interface DestinationRequestOptions {
  /** Aborts the call. */
  signal?: AbortSignal;
}

/** Options for {@linkcode ImageDestination.hasBlob}. */
export interface HasBlobOptions extends DestinationRequestOptions {
  /**
   * What the blob is to the image: a destination may re-verify small blobs (a config) it has.
   * @default {"layer"}
   */
  kind?: "config" | "layer";
}

/**
 * A partial blob a destination keeps between attempts (a store's ingest file): the engine resumes
 * into it, hashing what is there first, and commits it once the whole blob verified.
 */
export interface BlobIngest {
  /** The file that holds the bytes so far. */
  readonly path: string;
  /** `true` when the blob was committed already (by another copy) when this was opened. */
  readonly complete: boolean;
  /**
   * Tells how much partial data there is.
   *
   * @returns How many bytes it holds.
   */
  length(): Promise<number>;
  /**
   * Feeds the bytes it holds into `hash`.
   *
   * @param hash A hash of the blob's algorithm.
   * @param signal Aborts the read.
   * @returns How many bytes were hashed.
   */
  rehash(hash: Hash, signal?: AbortSignal): Promise<number>;
  /**
   * Appends bytes (writes run in order; the chunk may be reused once the promise settles).
   *
   * @param chunk The bytes.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Drops every byte (the blob starts over). */
  truncate(): Promise<void>;
  /** Waits for the writes issued so far and whatever runs behind them (rejects on a failed one). */
  flush(): Promise<void>;
  /** Makes the verified blob the destination's (durably). */
  commit(): Promise<void>;
  /** Deletes the partial data. */
  remove(): Promise<void>;
  /** Releases it; partial data stays for the next attempt. */
  close(): void;
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
  hasBlob(descriptor: Descriptor, options?: HasBlobOptions): Promise<boolean>;
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
   * Opens the partial data of a blob, for a destination that keeps it between attempts and
   * processes (a store). The engine then reads the source from where that data ends, verifies
   * the whole blob (what was there and what came), and commits it; without this method the
   * engine uses {@linkcode ImageDestination.writeBlob}.
   *
   * @param descriptor The blob.
   * @param options Abort signal.
   * @returns The partial blob, locked for this copy; close it when done.
   */
  openIngest?(descriptor: Descriptor, options?: DestinationRequestOptions): Promise<BlobIngest>;
  /**
   * Where a committed blob is, for a consumer that reads blobs as they land.
   *
   * @param digest The blob.
   * @returns Its path.
   */
  blobPath?(digest: string): string;
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

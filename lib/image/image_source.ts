/**
 * Where an image is copied from: a registry repository, a store, an archive.
 *
 * @module
 */

import type { Descriptor } from "../oci/parse_manifest.ts";

/** Where a source keeps its blobs, so a destination on the same registry can mount them. */
export interface BlobLocation {
  /** The registry's name, as references spell it (`127.0.0.1:5000`, `docker.io`). */
  registry: string;
  /** The repository, e.g. `library/alpine`. */
  repository: string;
}

/** A resolved name: the root descriptor (an index or a manifest) and its verified bytes. */
export interface ResolvedRoot {
  /** The root's descriptor: media type, digest (the source's own) and size. */
  descriptor: Descriptor;
  /** The exact bytes, verified against `descriptor.digest`. */
  bytes: Uint8Array;
  /**
   * `true` when the bytes came from a copy the destination has (a re-pull into a store), for
   * the `resolved` progress event.
   * @default {false}
   */
  local?: boolean;
}

/** Options for the calls of an {@linkcode ImageSource}. */
export interface SourceRequestOptions {
  /** Aborts the call. */
  signal?: AbortSignal;
}

/** Options for {@linkcode ImageSource.blob}. */
export interface BlobReadOptions extends SourceRequestOptions {
  /**
   * Where to start reading, for a resumed copy.
   * @default {0}
   */
  offset?: number;
}

/** What {@linkcode ImageSource.openBlob} opened: a body, and where in the blob it starts. */
export interface OpenedBlob {
  /** The bytes from `offset` to the end of the blob. */
  body: ReadableStream<Uint8Array>;
  /**
   * Where `body` starts: the offset asked for, or 0 when the source could only start over (a
   * registry that ignores `Range`, or answers 416).
   */
  offset: number;
}

/**
 * An image source: it names images, and serves manifests and blobs by descriptor.
 *
 * A source verifies what it can verify whole (`resolve` and `manifest` return bytes checked
 * against their digest); blobs are streams the engine verifies on the way, exactly once, so a
 * source never reads a blob twice.
 *
 * @example A source in memory (a test double)
 * ```ts
 * import type { ImageSource } from "./image_source.ts";
 *
 * const empty: ImageSource = {
 *   name: "memory",
 *   resolve: () => Promise.reject(new Error("Cannot resolve: nothing here")),
 *   manifest: () => Promise.reject(new Error("Cannot read manifest: nothing here")),
 *   blob: () => Promise.reject(new Error("Cannot read blob: nothing here")),
 * };
 * console.log(empty.name);
 * ```
 */
export interface ImageSource {
  /** What the source is, for messages (e.g. `127.0.0.1:5000/team/app`). */
  readonly name: string;
  /** Where its blobs are, when a registry could mount them from there. */
  readonly location?: BlobLocation;
  /**
   * Resolves a name (a tag, a stored name, or a digest) to its root.
   *
   * @param ref The name within this source.
   * @param options Abort signal.
   * @returns The root descriptor and its verified bytes.
   */
  resolve(ref: string, options?: SourceRequestOptions): Promise<ResolvedRoot>;
  /**
   * Reads a manifest or index by descriptor, verified against its digest.
   *
   * @param descriptor The manifest's descriptor.
   * @param options Abort signal.
   * @returns Its exact bytes.
   */
  manifest(descriptor: Descriptor, options?: SourceRequestOptions): Promise<Uint8Array>;
  /**
   * Opens a blob, from an offset. The bytes are not verified here: the engine does it.
   *
   * @param descriptor The blob's descriptor.
   * @param options Offset and abort signal.
   * @returns The bytes from `offset` to the end.
   */
  blob(descriptor: Descriptor, options?: BlobReadOptions): Promise<ReadableStream<Uint8Array>>;
  /**
   * Opens a blob from an offset, or from its start when the source cannot start there (the body
   * is then the whole blob, and `offset` says 0). For destinations that keep partial data and
   * resume into it; without this method the engine uses {@linkcode ImageSource.blob}.
   *
   * @param descriptor The blob's descriptor.
   * @param options Offset and abort signal.
   * @returns The body and where it starts.
   */
  openBlob?(descriptor: Descriptor, options?: BlobReadOptions): Promise<OpenedBlob>;
  /**
   * Told that a blob it served failed (its bytes did not match, or the stream broke): the next
   * request for it goes elsewhere when the source has another place to ask (a mirror).
   *
   * @param digest The blob.
   * @returns `true` when what was served came from somewhere not to be trusted again for it
   *   (then the bytes it sent are not kept), `false` otherwise.
   */
  distrust?(digest: string): boolean;
}

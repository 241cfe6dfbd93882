/**
 * The typed events a pull reports through `onProgress`. The library only emits them; drawing is
 * the CLI's business.
 *
 * @module
 */

/** Which part of an image a blob is. */
export type BlobKind = "config" | "layer";

/**
 * One step of a pull.
 *
 * - `resolved`: the reference's manifest (or index) was fetched or found in the store.
 * - `manifest`: the platform's image manifest was chosen.
 * - `blob-start`: a blob download begins (`offset` > 0 when resuming partial data).
 * - `blob-progress`: more bytes of a blob were written (`bytes` counts from the blob's start).
 * - `blob-done`: a blob is verified and in the store, or at a copy's destination (`cached` when it
 *   was there already, `mounted` when the registry mounted it from the source's repository).
 * - `done`: the image is complete and named in `index.json`.
 * - `layer-unpacked`: `unpack()` applied a layer, verified, to the root filesystem.
 */
export type ProgressEvent =
  | {
    type: "resolved";
    /** The canonical reference. */
    reference: string;
    /** The digest of what the reference points at (an index or a manifest). */
    digest: string;
    /** Its media type. */
    mediaType: string;
    /** `true` when no network request was needed. */
    local: boolean;
  }
  | {
    type: "manifest";
    /** The image manifest's digest. */
    digest: string;
    /** The platform, as `os/arch[/variant]`, when known. */
    platform: string | undefined;
    /** Number of layers. */
    layers: number;
    /** Total bytes of config and layers. */
    size: number;
  }
  | {
    type: "blob-start";
    /** The blob's digest. */
    digest: string;
    /** Config or layer. */
    kind: BlobKind;
    /** The blob's size. */
    size: number;
    /** Bytes already present from an earlier, interrupted download. */
    offset: number;
  }
  | {
    type: "blob-progress";
    /** The blob's digest. */
    digest: string;
    /** Bytes written so far, counted from the blob's start. */
    bytes: number;
    /** The blob's size. */
    size: number;
  }
  | {
    type: "blob-done";
    /** The blob's digest. */
    digest: string;
    /** Config or layer. */
    kind: BlobKind;
    /** The blob's size. */
    size: number;
    /** Bytes transferred for it in this pull (0 when cached). */
    fetched: number;
    /** `true` when the blob was already there (in the store; at the destination of a copy). */
    cached: boolean;
    /** `true` when a copy's destination mounted it from the source's repository (no upload). */
    mounted?: boolean;
  }
  | {
    type: "done";
    /** The canonical reference. */
    reference: string;
    /** The stored manifest's digest. */
    digest: string;
  }
  | {
    type: "layer-unpacked";
    /** The layer's digest. */
    digest: string;
    /** Its position, base first, from 0. */
    index: number;
    /** The number of layers. */
    layers: number;
    /** Tar entries in the layer, whiteouts included. */
    entries: number;
    /** Bytes of file content written for it (for a tar export, which writes at the end: the
     * file content the layer holds). */
    bytes: number;
  };

/** A callback for {@linkcode ProgressEvent}s. It must not throw. */
export type ProgressListener = (event: ProgressEvent) => void;

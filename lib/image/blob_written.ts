/**
 * What a copy into a store tells a consumer that reads blobs while they land (the streaming
 * unpack): how much of a blob is on disk, and where.
 *
 * @module
 */

/**
 * How much of a blob is on disk, and where. A consumer may read a blob while it downloads by
 * following its ingest file (bytes at an offset never change unless the download starts over,
 * which only happens for content that will fail its digest check or for a server that ignored
 * Range and resent the same bytes).
 *
 * @example A notice for a committed blob
 * ```ts
 * import type { BlobWritten } from "./blob_written.ts";
 *
 * const notice: BlobWritten = {
 *   digest: "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
 *   path: "./images/blobs/sha256/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
 *   bytes: 5,
 *   committed: true,
 * };
 * console.log(notice.committed);
 * ```
 */
export interface BlobWritten {
  /** The blob's digest. */
  digest: string;
  /** The file that holds the bytes: the ingest file, or the blob in `blobs/` once committed. */
  path: string;
  /** Bytes of the blob written so far (fewer than before after a restart from zero). */
  bytes: number;
  /** `true` once the blob is verified and renamed into `blobs/` (or was there already). */
  committed: boolean;
}

/** Receives {@linkcode BlobWritten} notices; it runs synchronously and must not throw. */
export type BlobWrittenListener = (event: BlobWritten) => void;

/**
 * A file in the store's `ingest/` for bytes whose digest is known only once they are all written
 * (an archive's `<id>/layer.tar`, whose name says nothing): its writer hashes them, and
 * {@linkcode ScratchFile.commit} makes it the blob of that digest by a rename, as an ingest's
 * commit does. Made by `Store.createScratch`.
 *
 * @module
 */

import { writeAll } from "./_fs.ts";

/**
 * A scratch file: appended to, read back at any offset, then committed as a blob or removed.
 * It is not locked: its writer holds the pull side of the store's gc lock (a
 * `LayoutImageDestination`), which a garbage collection waits for before it sweeps `ingest/`.
 *
 * @example Write bytes, then name them by their digest
 * ```ts
 * import { Store } from "./store.ts";
 * import { computeDigest } from "../reference/compute_digest.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const store = await Store.open(dir);
 * const scratch = await store.createScratch("example");
 * const bytes = new TextEncoder().encode("hello");
 * await scratch.append(bytes);
 * const digest = await computeDigest(bytes);
 * await scratch.commit(digest);
 * assert.ok(await store.hasBlob(digest, 5));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class ScratchFile {
  /** Where it is, in `ingest/`. */
  readonly path: string;
  #file: Deno.FsFile | undefined;
  #size = 0;
  /** The file's position is its end (no read moved it). */
  #atEnd = true;
  #blobPath: (digest: string) => string;

  /**
   * Wraps a file `Store.createScratch` made.
   *
   * @param path The file, in the store's `ingest/`.
   * @param file It, open for reading and writing.
   * @param blobPath Where a blob of the store is.
   */
  constructor(path: string, file: Deno.FsFile, blobPath: (digest: string) => string) {
    this.path = path;
    this.#file = file;
    this.#blobPath = blobPath;
  }

  /** How many bytes it holds. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends bytes (writes must not overlap: await each).
   *
   * @param bytes The bytes.
   */
  async append(bytes: Uint8Array): Promise<void> {
    const file = this.#open();
    if (!this.#atEnd) await file.seek(this.#size, Deno.SeekMode.Start);
    this.#atEnd = true;
    await writeAll(file, bytes);
    this.#size += bytes.byteLength;
  }

  /**
   * Reads bytes back.
   *
   * @param offset Where they start.
   * @param size How many.
   * @returns The bytes.
   * @throws {Error} When the file is shorter.
   */
  async read(offset: number, size: number): Promise<Uint8Array> {
    const file = this.#file ?? await Deno.open(this.path, { read: true });
    if (file === this.#file) this.#atEnd = false;
    try {
      const bytes = new Uint8Array(size);
      await file.seek(offset, Deno.SeekMode.Start);
      for (let at = 0; at < size;) {
        const n = await file.read(bytes.subarray(at));
        if (n === null) throw new Error(`Cannot read ${this.path}: it ends at ${offset + at}`);
        at += n;
      }
      return bytes;
    } finally {
      if (file !== this.#file) file.close();
    }
  }

  /**
   * Opens its bytes from an offset, as a stream.
   *
   * @param offset Where to start.
   * @returns The bytes from `offset` to the end.
   */
  async readable(offset = 0): Promise<ReadableStream<Uint8Array>> {
    const file = await Deno.open(this.path, { read: true });
    if (offset > 0) await file.seek(offset, Deno.SeekMode.Start);
    return file.readable;
  }

  /** Closes it; the file stays (to be committed, read or removed later). */
  close(): void {
    try {
      this.#file?.close();
    } catch {
      // closed
    }
    this.#file = undefined;
  }

  /**
   * Makes it the store's blob `digest`: synced, then renamed into `blobs/` (removed instead when
   * the store has that blob already). The digest is its writer's word: it hashed the bytes.
   *
   * @param digest The digest its bytes have.
   */
  async commit(digest: string): Promise<void> {
    const target = this.#blobPath(digest);
    const present = await Deno.stat(target).then((s) => s.isFile && s.size === this.#size)
      .catch(() => false);
    if (present) {
      await this.remove();
      return;
    }
    const file = this.#file ?? await Deno.open(this.path, { read: true, write: true });
    try {
      await file.syncData(); // as an ingest commit does: durable before it has a name
    } finally {
      if (file !== this.#file) file.close();
    }
    this.close();
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.rename(this.path, target);
  }

  /** Closes and deletes it. */
  async remove(): Promise<void> {
    this.close();
    await Deno.remove(this.path).catch(() => {});
  }

  #open(): Deno.FsFile {
    if (!this.#file) throw new Error(`Cannot write to ${this.path}: it is closed`);
    return this.#file;
  }
}

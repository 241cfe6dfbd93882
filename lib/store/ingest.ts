/**
 * Partial blobs: one locked file per digest in `ingest/`, committed into `blobs/` by rename once
 * verified (the containerd content store's model).
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { parseDigest } from "../reference/parse_digest.ts";
import { writeAll } from "./_fs.ts";

/** The size of the buffer that coalesces small network chunks into large writes. */
const WRITE_BUFFER = 1024 * 1024;

/**
 * An exclusively locked partial blob. Get one from `Store.openIngest()`; always `close()` it.
 *
 * The lock (an `flock` on the partial file) keeps two processes, or two pulls in one process, from
 * writing the same blob at once; the kernel releases it if the process dies, and the bytes already
 * written stay for the next attempt to resume from.
 */
export class Ingest {
  /** The blob's digest. */
  readonly digest: string;
  /** The blob's expected size. */
  readonly size: number;
  /** The partial file's path. */
  readonly path: string;
  /** `true` when the blob was already in the store once the lock was taken: nothing to do. */
  readonly complete: boolean;
  #file: Deno.FsFile;
  #blobPath: string;
  #closed = false;

  /**
   * Used by the store; do not call directly.
   *
   * @param init The locked file and where it goes.
   */
  constructor(init: {
    digest: string;
    size: number;
    path: string;
    blobPath: string;
    file: Deno.FsFile;
    complete: boolean;
  }) {
    this.digest = init.digest;
    this.size = init.size;
    this.path = init.path;
    this.#blobPath = init.blobPath;
    this.#file = init.file;
    this.complete = init.complete;
  }

  /**
   * How many bytes of the blob are already here.
   *
   * @returns The partial file's length.
   */
  async length(): Promise<number> {
    return (await this.#file.stat()).size;
  }

  /**
   * Hashes the bytes already here, so a download can resume after them.
   *
   * @param signal Aborts the re-hash.
   * @returns A hash fed with the partial data, and how many bytes that was.
   */
  async rehash(signal?: AbortSignal): Promise<{ hash: Hash; offset: number }> {
    const hash = createHash(parseDigest(this.digest).algorithm);
    await this.#file.seek(0, Deno.SeekMode.Start);
    const buf = new Uint8Array(WRITE_BUFFER);
    let offset = 0;
    for (;;) {
      signal?.throwIfAborted();
      const n = await this.#file.read(buf);
      if (n === null || n === 0) break;
      hash.update(buf.subarray(0, n));
      offset += n;
    }
    return { hash, offset };
  }

  /** Drops the partial data: the next write starts the blob from zero. */
  async truncate(): Promise<void> {
    await this.#file.truncate(0);
    await this.#file.seek(0, Deno.SeekMode.Start);
  }

  /**
   * A sink that appends to the partial file, coalescing chunks into 1 MiB writes (issued while
   * the next chunks arrive). Aborting it keeps what was received, for a later resume.
   *
   * @param onWritten Called after each write with the number of bytes written.
   * @returns The writable stream.
   */
  writable(onWritten?: (bytes: number) => void): WritableStream<Uint8Array> {
    const file = this.#file;
    let buffer = new Uint8Array(WRITE_BUFFER);
    let used = 0;
    let pending: Promise<void> = Promise.resolve();
    let failure: unknown;
    const issue = (bytes: Uint8Array) => {
      pending = pending.then(async () => {
        if (failure !== undefined) return;
        try {
          await writeAll(file, bytes);
          onWritten?.(bytes.byteLength);
        } catch (e) {
          failure = e;
        }
      });
    };
    const flush = () => {
      if (used === 0) return;
      issue(buffer.subarray(0, used));
      buffer = new Uint8Array(WRITE_BUFFER);
      used = 0;
    };
    const settle = async () => {
      flush();
      await pending;
      if (failure !== undefined) throw failure;
    };
    let started = false;
    return new WritableStream<Uint8Array>({
      async write(chunk) {
        if (!started) {
          started = true;
          await file.seek(0, Deno.SeekMode.End);
        }
        if (failure !== undefined) throw failure;
        if (used + chunk.byteLength > WRITE_BUFFER) {
          flush();
          // one write in flight at most: wait for the previous one before buffering more
          await pending;
          if (failure !== undefined) throw failure;
        }
        if (chunk.byteLength >= WRITE_BUFFER) issue(chunk);
        else {
          buffer.set(chunk, used);
          used += chunk.byteLength;
        }
      },
      close: settle,
      async abort() {
        await settle().catch(() => {});
      },
    });
  }

  /** Moves the verified blob into `blobs/`. Call only after the content was verified. */
  async commit(): Promise<void> {
    await Deno.mkdir(this.#blobPath.slice(0, this.#blobPath.lastIndexOf("/")), {
      recursive: true,
    });
    await Deno.rename(this.path, this.#blobPath);
  }

  /** Deletes the partial data (after a digest mismatch). */
  async remove(): Promise<void> {
    await Deno.remove(this.path).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  /** Releases the lock and closes the file; partial data stays. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file.close();
    } catch {
      // already closed
    }
  }

  /** Releases the lock (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Partial blobs: one locked file per digest in `ingest/`, committed into `blobs/` by rename once
 * verified (the containerd content store's model).
 *
 * @module
 */

import type { Hash } from "node:crypto";
import { writeAll } from "./_fs.ts";

/** The read size when re-hashing partial data. */
const READ_BUFFER = 1024 * 1024;

/** How many bytes are written between two background syncs (see `Ingest.#syncBehind`). */
const SYNC_EVERY = 16 * 1024 * 1024;

/**
 * An exclusively locked partial blob. Get one from `Store.openIngest()`; always `close()` it.
 *
 * The lock (an `flock` on the partial file) keeps two processes, or two pulls in one process, from
 * writing the same blob at once; the kernel releases it if the process dies, and the bytes already
 * written stay for the next attempt to resume from.
 *
 * @example Write a blob in pieces, then commit it
 * ```ts
 * import { Store } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const store = await Store.open(dir);
 * const bytes = new TextEncoder().encode("hello");
 * const digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
 * const ingest = await store.openIngest(digest, bytes.byteLength);
 * try {
 *   await ingest.write(bytes.subarray(0, 2));
 *   await ingest.write(bytes.subarray(2));
 *   await ingest.commit(); // only after verifying the bytes, as pull does
 * } finally {
 *   ingest.close();
 * }
 * assert.deepEqual(await store.hasBlob(digest, 5), true);
 * await Deno.remove(dir, { recursive: true });
 * ```
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
  #tail: Promise<void> = Promise.resolve();
  #positioned = false;
  #failure: { error: unknown } | undefined;
  /** Bytes written since the last background sync began. */
  #unsynced = 0;
  /** The background sync in flight, and the second descriptor it runs on. */
  #syncing: Promise<void> | undefined;
  #syncFile: Deno.FsFile | undefined;

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
   * Feeds the bytes already here into a hash, so a download can resume after them.
   *
   * @param hash A fresh hash of the blob's digest algorithm.
   * @param signal Aborts the re-hash.
   * @returns How many bytes were hashed.
   */
  async rehash(hash: Hash, signal?: AbortSignal): Promise<number> {
    await this.flush();
    await this.#file.seek(0, Deno.SeekMode.Start);
    this.#positioned = false;
    const buf = new Uint8Array(READ_BUFFER);
    let offset = 0;
    for (;;) {
      signal?.throwIfAborted();
      const n = await this.#file.read(buf);
      if (n === null || n === 0) break;
      hash.update(buf.subarray(0, n));
      offset += n;
    }
    return offset;
  }

  /** Drops the partial data: the next write starts the blob from zero. */
  async truncate(): Promise<void> {
    await this.flush().catch(() => {});
    this.#failure = undefined;
    await this.#file.truncate(0);
    await this.#file.seek(0, Deno.SeekMode.Start);
    this.#positioned = true;
  }

  /**
   * Appends bytes to the partial file. Writes run one after another in call order, so several may
   * be issued without waiting; the promise resolves once these bytes are written (and `chunk` may
   * be reused). After a failed write (a full disk), every later write fails the same way.
   *
   * @param chunk The next bytes of the blob.
   * @returns Resolves when written.
   */
  write(chunk: Uint8Array): Promise<void> {
    const file = this.#file;
    const run = async () => {
      if (this.#failure) throw this.#failure.error;
      if (!this.#positioned) {
        await file.seek(0, Deno.SeekMode.End);
        this.#positioned = true;
      }
      try {
        await writeAll(file, chunk);
        this.#unsynced += chunk.byteLength;
        if (this.#unsynced >= SYNC_EVERY && !this.#syncing) this.#syncBehind();
      } catch (error) {
        // a full disk or a read-only store: say which store; the bytes before stay for a resume
        const store = this.path.slice(0, this.path.lastIndexOf("/ingest/"));
        const wrapped = new Error(
          `Cannot write to store ${store}: ${(error as Error).message}`,
          { cause: error },
        );
        this.#failure = { error: wrapped };
        throw wrapped;
      }
    };
    const done = this.#tail.then(run);
    this.#tail = done.catch(() => {});
    return done;
  }

  /**
   * Waits for every write issued so far (and the background sync in flight).
   *
   * @returns Resolves when they are all done (rejects with the first failure).
   */
  async flush(): Promise<void> {
    await this.#tail;
    await this.#syncing;
    if (this.#failure) throw this.#failure.error;
  }

  /**
   * Starts writing what is written so far out to disk, while the download goes on: a blob's bytes
   * then reach the disk as they come, and the `fdatasync` before its commit has only the last
   * ones left (with the default dirty-page limits of a large machine, nothing is written back
   * before that call, which then waited for the whole blob: ~0.13-0.27 s per 128 MiB layer here,
   * at the end of every pull). It runs on a second descriptor of the same file, since one
   * descriptor's operations run one after another and the writes would wait for it. Its failure
   * is ignored: the commit's own `fdatasync` is the one that counts.
   */
  #syncBehind(): void {
    this.#unsynced = 0;
    this.#syncing = (async () => {
      try {
        this.#syncFile ??= await Deno.open(this.path, { read: true });
        if (!this.#closed) await this.#syncFile.syncData();
      } catch {
        // the commit's sync reports what matters
      } finally {
        this.#syncing = undefined;
        if (this.#closed) this.#closeSyncFile();
      }
    })();
  }

  #closeSyncFile(): void {
    const file = this.#syncFile;
    this.#syncFile = undefined;
    try {
      file?.close();
    } catch {
      // already closed
    }
  }

  /** Moves the verified blob into `blobs/`. Call only after the content was verified. */
  async commit(): Promise<void> {
    await this.flush();
    try {
      // on disk before it has a name, so a power cut never leaves a named blob with lost bytes
      // (skopeo syncs its OCI blobs the same way)
      await this.#file.syncData();
      await Deno.mkdir(this.#blobPath.slice(0, this.#blobPath.lastIndexOf("/")), {
        recursive: true,
      });
      await Deno.rename(this.path, this.#blobPath);
    } catch (error) {
      const store = this.path.slice(0, this.path.lastIndexOf("/ingest/"));
      throw new Error(`Cannot write to store ${store}: ${(error as Error).message}`, {
        cause: error,
      });
    }
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
    // a sync in flight closes its descriptor when it ends (closing it under the sync would fail
    // it for nothing)
    if (!this.#syncing) this.#closeSyncFile();
  }

  /** Releases the lock (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

// The streaming unpack's view of a running pull: which blobs are on disk, how far, and a reader
// that follows a blob's file while the download appends to it.

import type { BlobWritten } from "../image/blob_written.ts";
import type { ImageManifest } from "../oci/parse_manifest.ts";
import type { BlobNotice } from "./sink.ts";

/** Where a blob is once committed (a {@linkcode Store} is one). */
export interface BlobPaths {
  blobPath(digest: string): string;
}

interface BlobState {
  path: string;
  bytes: number;
  committed: boolean;
  /** Bumped on every notice: a reader that saw EOF re-reads when it moved meanwhile. */
  version: number;
  /** Written by the pull (not found in the store): its commit means the pull verified it. */
  downloaded: boolean;
  /** Notices of fewer bytes than the one before: the download started over from zero. */
  restarts: number;
}

/** A pull's notice, and (forwarded from another follower) whether the pull wrote the blob. */
export type FollowedNotice = BlobWritten & { downloaded?: boolean };

/**
 * Collects a pull's notices (manifest, bytes written, commits, its end) and wakes the readers
 * waiting on them. Everything runs on one thread: notices are synchronous callbacks, so a reader
 * that checks the state and then waits cannot miss one.
 */
export class BlobFollower {
  #store: BlobPaths;
  #blobs = new Map<string, BlobState>();
  #wake = Promise.withResolvers<void>();
  #failure: { error: unknown } | undefined;
  #image = Promise.withResolvers<{ manifest: ImageManifest; digest: string }>();
  #ended = false;
  #listeners = new Set<(notice: BlobNotice) => void>();

  constructor(store: BlobPaths) {
    this.#store = store;
    this.#image.promise.catch(() => {}); // read or not, a failure is reported through read()
  }

  /** The pull chose its manifest. */
  manifest(manifest: ImageManifest, digest: string): void {
    this.#image.resolve({ manifest, digest });
  }

  /** A blob's bytes landed (the pull's observer). */
  written(event: FollowedNotice): void {
    const state = this.#blobs.get(event.digest);
    const next: BlobState = {
      path: event.path,
      bytes: event.bytes,
      committed: event.committed || (state?.committed ?? false),
      version: (state?.version ?? 0) + 1,
      downloaded: event.downloaded ?? ((state?.downloaded ?? false) || !event.committed),
      restarts: (state?.restarts ?? 0) + (state && event.bytes < state.bytes ? 1 : 0),
    };
    this.#blobs.set(event.digest, next);
    this.#notify();
    if (this.#listeners.size > 0) {
      const notice = this.#notice(event.digest, next);
      for (const listener of this.#listeners) listener(notice);
    }
  }

  #notice(digest: string, state: BlobState): BlobNotice {
    const { path, bytes, committed, downloaded } = state;
    return { type: "written", digest, path, bytes, committed, downloaded };
  }

  /**
   * How many times the blob's download started over from zero so far (as the notices tell).
   *
   * @param digest The blob.
   * @returns The count.
   */
  restarts(digest: string): number {
    return this.#blobs.get(digest)?.restarts ?? 0;
  }

  /**
   * Whether the pull verified the blob's bytes and none changed since `restarts` counted
   * `since`: it committed a blob it wrote itself (one found in the store was verified by
   * nobody), and never started over from zero in between.
   *
   * @param digest The blob.
   * @param since What {@linkcode BlobFollower.restarts} said before the blob was read.
   * @returns `true` when the bytes read are the verified ones.
   */
  verifiedSince(digest: string, since: number): boolean {
    const state = this.#blobs.get(digest);
    return state !== undefined && state.committed && state.downloaded && state.restarts === since;
  }

  /**
   * Forwards every notice to `listener` (a worker's own follower): the blobs' states so far
   * first, then each new notice, synchronously.
   *
   * @param listener Called for every notice; must not throw.
   * @returns Stops forwarding.
   */
  subscribe(listener: (notice: BlobNotice) => void): () => void {
    for (const [digest, state] of this.#blobs) listener(this.#notice(digest, state));
    if (this.#ended) listener(this.#endNotice());
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #endNotice(): BlobNotice {
    const error = this.#failure?.error;
    return error === undefined ? { type: "ended" } : {
      type: "ended",
      error: error instanceof Error ? error.message : String(error),
    };
  }

  /** The pull ended: with an error, or done (every blob committed). */
  ended(error?: { error: unknown }): void {
    this.#ended = true;
    if (error && !this.#failure) this.#failure = error;
    this.#image.reject(error?.error ?? new Error("Cannot unpack: the pull chose no manifest"));
    this.#notify();
    for (const listener of this.#listeners) listener(this.#endNotice());
  }

  /** Resolves with the manifest once the pull chose it; rejects when the pull failed first. */
  image(): Promise<{ manifest: ImageManifest; digest: string }> {
    return this.#image.promise;
  }

  /**
   * Waits until the blob is committed (resolves `true`), or the pull failed (`false`).
   *
   * @param digest The blob.
   * @param signal Stops waiting.
   */
  async settled(digest: string, signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if (this.#blobs.get(digest)?.committed) return true;
      if (this.#failure || this.#ended) return false;
      await this.#next(signal);
    }
  }

  /** The pull's failure, if it failed. */
  get failure(): { error: unknown } | undefined {
    return this.#failure;
  }

  /**
   * The blob's bytes from offset 0: what its file holds already, then what the download appends,
   * until it is committed. Throws the pull's error if the pull fails first. The bytes are not
   * verified here (the caller verifies what it read, as it does for a stored blob).
   *
   * @param digest The blob.
   * @param readSize The read size.
   * @param signal Stops reading.
   */
  async *read(
    digest: string,
    readSize: number,
    signal?: AbortSignal,
  ): AsyncGenerator<Uint8Array> {
    let file: Deno.FsFile | undefined;
    /** A buffer a read at EOF left unused: the next read takes it (following a download live
     * reaches EOF again and again, and each would leave 1 MiB of garbage). */
    let spare: Uint8Array | undefined;
    try {
      for (;;) {
        signal?.throwIfAborted();
        if (this.#failure) throw this.#failure.error;
        const state = this.#blobs.get(digest);
        if (!state) {
          if (this.#ended) throw new Error(`Cannot read blob ${digest}: the pull did not fetch it`);
          await this.#next(signal);
          continue;
        }
        file ??= await this.#open(state.path, digest);
        const version = state.version;
        const committed = state.committed;
        // taken before reading: a notice (a write, the commit, the pull's end) that comes while
        // the reads run wakes this wait, instead of resolving a promise nobody waits on any more
        const wake = this.#wake.promise;
        for (;;) {
          signal?.throwIfAborted();
          // a fresh buffer each time: the decompressor may still hold the last one
          const buffer = spare ?? new Uint8Array(readSize);
          spare = undefined;
          const n = await file.read(buffer);
          if (n === null || n === 0) {
            spare = buffer;
            break;
          }
          yield buffer.subarray(0, n);
        }
        if (committed) return; // every byte was in the file before this read reached its end
        const failure = this.failure; // (read again: it may have come during the reads)
        if (failure) throw failure.error;
        if (this.#blobs.get(digest)!.version === version) {
          if (this.#ended) {
            throw new Error(`Cannot read blob ${digest}: the pull ended without committing it`);
          }
          await this.#next(signal, wake);
        }
      }
    } finally {
      file?.close();
    }
  }

  /** Opens the file a notice named; the ingest file may have been renamed into blobs/ since. */
  async #open(path: string, digest: string): Promise<Deno.FsFile> {
    try {
      return await Deno.open(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      return await Deno.open(this.#store.blobPath(digest));
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = Promise.withResolvers<void>();
    wake.resolve();
  }

  /** Waits for the next notice after `wake` was taken (by default: from now). */
  async #next(signal?: AbortSignal, wake: Promise<void> = this.#wake.promise): Promise<void> {
    if (!signal) return await wake;
    signal.throwIfAborted();
    const aborted = Promise.withResolvers<void>();
    const onAbort = () => aborted.reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.race([wake, aborted.promise]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}

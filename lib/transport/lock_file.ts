/**
 * `lockFile()`: an advisory `flock` on a lock file, waited for without blocking a thread, so the
 * wait can be aborted. The one way skiff takes a lock between processes: the store's locks and
 * the lock beside a shared file ({@linkcode updateSharedFile}) both come here.
 *
 * @module
 */

import { sleep } from "./retry_fetch.ts";

/** Options for {@linkcode lockFile}. */
export interface LockFileOptions {
  /**
   * Take it shared (readers) instead of exclusive.
   * @default {false}
   */
  shared?: boolean;
  /** Stops waiting. */
  signal?: AbortSignal;
  /** Called once when the lock is busy and the wait begins. */
  onWait?: () => void;
  /**
   * Open the lock file read-only, without creating it (`flock` needs no write access): for a
   * shared lock in a read-only directory.
   * @default {false}
   */
  readOnly?: boolean;
  /**
   * The mode of a lock file that is created.
   * @default {0o644}
   */
  mode?: number;
}

/** How often a busy lock is tried again. */
const POLL_MS = 50;

/**
 * Opens (creating when missing) a lock file and locks it. A busy lock is polled every 50 ms with
 * `tryLock`, so a wait never holds one of the runtime's threads and ends when `signal` aborts.
 * The lock is the open file's: close the file to release it (a process that dies releases it
 * too). Two opens in one process exclude each other as two processes do.
 *
 * @param path The lock file.
 * @param options Shared or exclusive, abort signal, a wait callback.
 * @returns The open, locked file.
 * @throws {Deno.errors.NotFound} With `readOnly`, when the file does not exist.
 * @throws {Error} When the file cannot be opened or created (the OS error), or `signal` aborts.
 *
 * @example Two holders in turn
 * ```ts
 * import { lockFile } from "./lock_file.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const first = await lockFile(`${dir}/x.lock`);
 * let second = false;
 * const waiting = lockFile(`${dir}/x.lock`).then((f) => {
 *   second = true;
 *   return f;
 * });
 * await new Promise((r) => setTimeout(r, 120));
 * assert.equal(second, false); // the first still holds it
 * first.close();
 * (await waiting).close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function lockFile(path: string, options: LockFileOptions = {}): Promise<Deno.FsFile> {
  const file = await Deno.open(
    path,
    options.readOnly
      ? { read: true }
      : { read: true, write: true, create: true, mode: options.mode ?? 0o644 },
  );
  try {
    let waited = false;
    while (!(await file.tryLock(!options.shared))) {
      if (!waited) {
        waited = true;
        options.onWait?.();
      }
      await sleep(POLL_MS, options.signal);
    }
    return file;
  } catch (e) {
    file.close();
    throw e;
  }
}

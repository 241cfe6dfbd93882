// The store's advisory locks (flock), in ingest/:
//   index.lock  exclusive around every index.json read-modify-write (Store.updateIndex takes it
//               by this same path) and around a garbage collection
//   gc.lock     shared by every running pull, exclusive by a garbage collection: gc never deletes
//               a blob a running pull has committed but not yet named in index.json
// Lock order, to never deadlock: gc.lock, then index.lock.

import { lockFile } from "../transport/lock_file.ts";
import { isReadOnlyError } from "./_fs.ts";

/** File name of the index lock in `ingest/`. */
export const INDEX_LOCK = "index.lock";
/** File name of the pull/gc lock in `ingest/`. */
export const GC_LOCK = "gc.lock";

/** What the locks need of a store: where it is (`Store` has it). */
export interface LockedStore {
  readonly path: string;
}

/** Options for {@linkcode acquireLock}. */
export interface AcquireLockOptions {
  /** Stops waiting. */
  signal?: AbortSignal;
  /** Called once when the lock is busy and the wait begins. */
  onWait?: () => void;
  /**
   * Open the lock file read-only, without creating it (`flock` needs no write access): for a
   * shared lock on a read-only store.
   * @default {false}
   */
  readOnly?: boolean;
}

/**
 * Opens `ingest/<name>` and locks it, shared or exclusive (`lockFile`: polled, so the wait can be
 * aborted). Close the file to release it.
 */
export async function acquireLock(
  store: LockedStore,
  name: string,
  exclusive: boolean,
  options: AcquireLockOptions = {},
): Promise<Deno.FsFile> {
  try {
    return await lockFile(`${store.path}/ingest/${name}`, { ...options, shared: !exclusive });
  } catch (e) {
    if (options.readOnly || options.signal?.aborted) throw e;
    // a read-only or full store: say which store
    throw new Error(`Cannot write to store ${store.path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Holds the pull side of the gc lock (shared) until disposed: `using _ = await holdPullLock(s)`.
 * Waits while a garbage collection runs.
 */
export async function holdPullLock(store: LockedStore, signal?: AbortSignal): Promise<Disposable> {
  let file: Deno.FsFile | undefined;
  try {
    file = await acquireLock(store, GC_LOCK, false, signal ? { signal } : {});
  } catch (e) {
    if (!isReadOnlyError((e as Error).cause)) throw e;
    // a read-only store: a pull that finds everything present writes nothing, and a pull that
    // must write fails at its first write, saying so; the lock file, when there, is still locked
    try {
      file = await acquireLock(store, GC_LOCK, false, {
        readOnly: true,
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound) && !isReadOnlyError(e)) throw e;
    }
  }
  return {
    [Symbol.dispose]() {
      try {
        file?.close();
      } catch {
        // already closed
      }
    },
  };
}

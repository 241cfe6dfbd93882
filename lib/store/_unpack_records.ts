// Unfinished unpacks. An unpack builds its root filesystem in a hidden temporary directory
// (beside its target, or inside an empty target) and holds an exclusive flock on that directory
// while it runs; a kill -9 leaves the directory behind, unlocked. The unpack notes the directory
// in the store's ingest/ (`unpack-<id>`, holding its path) so that gc finds it, and the next
// unpack into the same place finds it by its name. Either removes a directory only once it holds
// the directory's lock: a running unpack is never touched.

import type { Store } from "./store.ts";

/** The prefix of an unpack's record in `ingest/`. */
const RECORD_PREFIX = "unpack-";

/**
 * Locks a directory (exclusive `flock` on a read-only handle of it), without waiting.
 *
 * @returns The open handle (close it to release), or `undefined` when another process holds it.
 */
export async function tryLockDir(path: string): Promise<Deno.FsFile | undefined> {
  const dir = await Deno.open(path, { read: true });
  try {
    if (await dir.tryLock(true)) return dir;
  } catch (e) {
    dir.close();
    throw e;
  }
  dir.close();
  return undefined;
}

/**
 * Removes a left-over unpack directory when no process holds its lock.
 *
 * @returns `removed`, `in-use` (a running unpack's), or `gone` (not there any more).
 */
export async function removeIfStale(
  path: string,
  options: { remove: boolean } = { remove: true },
): Promise<"removed" | "in-use" | "gone"> {
  let lock: Deno.FsFile | undefined;
  try {
    lock = await tryLockDir(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "gone";
    throw e;
  }
  if (!lock) return "in-use";
  try {
    if (options.remove) await removeTree(path);
    return "removed";
  } finally {
    lock.close();
  }
}

/** Removes a tree, making its directories writable first when needed (an image's 0555 dirs). */
export async function removeTree(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
    const open = async (dir: string) => {
      await Deno.chmod(dir, 0o700);
      for await (const entry of Deno.readDir(dir)) {
        if (entry.isDirectory) await open(`${dir}/${entry.name}`);
      }
    };
    await open(path);
    await Deno.remove(path, { recursive: true });
  }
}

/**
 * Notes a running unpack's directory in the store (best effort: a read-only store keeps no note,
 * and the next unpack into the same place still finds it).
 *
 * @returns Removes the note.
 */
export async function recordUnpack(store: Store, dir: string): Promise<() => Promise<void>> {
  const path = `${store.path}/ingest/${RECORD_PREFIX}${crypto.randomUUID()}`;
  const absolute = dir.startsWith("/") ? dir : `${Deno.cwd()}/${dir}`;
  try {
    await Deno.writeTextFile(path, absolute + "\n", { createNew: true });
  } catch {
    return async () => {};
  }
  return () => Deno.remove(path).catch(() => {});
}

/** What {@linkcode sweepUnpacks} found. */
export interface UnpackSweep {
  /** Directories of unfinished unpacks no process holds (deleted when `remove`). */
  stale: string[];
  /** Directories of unpacks still running. */
  inUse: string[];
}

/** Finds, and with `remove` deletes, the directories unfinished unpacks left behind. */
export async function sweepUnpacks(
  store: Store,
  options: { remove: boolean },
): Promise<UnpackSweep> {
  const found: UnpackSweep = { stale: [], inUse: [] };
  const ingest = `${store.path}/ingest`;
  const records: string[] = [];
  try {
    for await (const e of Deno.readDir(ingest)) {
      if (e.isFile && e.name.startsWith(RECORD_PREFIX)) records.push(e.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return found;
    throw e;
  }
  for (const name of records.sort()) {
    const record = `${ingest}/${name}`;
    const dir = (await Deno.readTextFile(record).catch(() => "")).trim();
    // only a directory named the way unpack names its own: a record cannot point elsewhere
    const base = dir.slice(dir.lastIndexOf("/") + 1);
    if (!dir.startsWith("/") || !/^\.(.+\.)?skiff-unpack-[A-Za-z0-9_]+$/.test(base)) {
      if (options.remove) await Deno.remove(record).catch(() => {});
      continue;
    }
    const state = await removeIfStale(dir, options);
    if (state === "in-use") {
      found.inUse.push(dir);
      continue;
    }
    if (state === "removed") found.stale.push(dir);
    if (options.remove) await Deno.remove(record).catch(() => {});
  }
  return found;
}

// Where an unpack builds its root filesystem, and how the result takes its place.
//
// - DIR absent: built in a hidden `.BASE.skiff-unpack-*` directory beside DIR, renamed to DIR at
//   the end (DIR appears complete or not at all).
// - DIR an empty directory (`.`, a mount point, a directory made for it): built in a hidden
//   `.skiff-unpack-*` directory inside DIR (same file system, whatever is mounted there), whose
//   entries are renamed into DIR at the end; DIR then takes the image root's mode, owner and
//   time, as the renamed directory would have. A rename onto a busy directory (the cwd, a mount
//   point) is never needed.
//
// Each unpack holds an exclusive flock on its building directory. Such a directory that a kill -9
// left behind (its lock free) is removed by the next unpack into the same place, and by gc
// (unpack notes it in the store's ingest/).

import { recordUnpack, removeIfStale, removeTree, tryLockDir } from "../store/_unpack_records.ts";
import type { Store } from "../store/store.ts";

const MARK = "skiff-unpack-";

function split(target: string): { parent: string; base: string } {
  const slash = target.lastIndexOf("/");
  return {
    parent: slash === -1 ? "." : slash === 0 ? "/" : target.slice(0, slash),
    base: target.slice(slash + 1),
  };
}

/** Hidden directories of earlier unpacks into `target`, inside it and beside it. */
async function leftovers(target: string, inside: boolean): Promise<string[]> {
  const { parent, base } = split(target);
  const found: string[] = [];
  const scan = async (dir: string, prefix: string) => {
    try {
      for await (const e of Deno.readDir(dir)) {
        if (e.isDirectory && e.name.startsWith(prefix)) found.push(`${dir}/${e.name}`);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  };
  if (inside) await scan(target, `.${MARK}`);
  if (base !== "." && base !== "..") await scan(parent, `.${base}.${MARK}`);
  return found;
}

/**
 * Checks, before any work, that `target` can receive a root filesystem: absent, or an empty
 * directory. What an interrupted unpack into the same place left behind (unlocked) is removed
 * first, and does not count.
 *
 * @throws {Error} `Cannot unpack into DIR: ...` when it is not a directory or not empty.
 */
export async function checkTarget(target: string): Promise<void> {
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.lstat(target);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new Error(`Cannot unpack into ${target}: ${(e as Error).message}`, { cause: e });
    }
  }
  if (info && !info.isDirectory) {
    throw new Error(`Cannot unpack into ${target}: it is not a directory`);
  }
  const busy = new Set<string>();
  for (const dir of await leftovers(target, info !== undefined)) {
    if ((await removeIfStale(dir)) === "in-use") busy.add(dir);
  }
  if (!info) return;
  for await (const e of Deno.readDir(target)) {
    const path = `${target}/${e.name}`;
    throw new Error(
      busy.has(path)
        ? `Cannot unpack into ${target}: another unpack into it is running`
        : `Cannot unpack into ${target}: the directory is not empty`,
    );
  }
}

/** Where an unpack builds, and how it ends. */
export interface TargetBuild {
  /** The directory to build the root filesystem in. */
  dir: string;
  /** Puts the built tree in place of the target; the building directory is gone after. */
  commit(): Promise<void>;
  /** Removes what was built; the target is left as it was. */
  abort(): Promise<void>;
}

/**
 * Makes the building directory for `target` (checked by {@linkcode checkTarget}), locked and
 * noted in the store.
 */
export async function startBuild(target: string, store: Store): Promise<TargetBuild> {
  const { parent, base } = split(target);
  let inside = false;
  try {
    inside = (await Deno.lstat(target)).isDirectory;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (!inside) await Deno.mkdir(parent, { recursive: true });
  const id = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  const dir = inside ? `${target}/.${MARK}${id}` : `${parent}/.${base}.${MARK}${id}`;
  await Deno.mkdir(dir, { mode: 0o700 });
  const lock = await tryLockDir(dir);
  if (!lock) throw new Error(`Cannot lock ${dir}: another process holds it`);
  const unrecord = await recordUnpack(store, dir);
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    lock.close();
    await unrecord();
  };
  return {
    dir,
    async commit() {
      try {
        if (!inside) {
          // an empty directory made at the target meanwhile is replaced; anything else fails
          await Deno.rename(dir, target);
          return;
        }
        const names: string[] = [];
        for await (const e of Deno.readDir(dir)) names.push(e.name);
        const moved: string[] = [];
        try {
          for (const name of names) {
            const to = `${target}/${name}`;
            if (await Deno.lstat(to).then(() => true, () => false)) {
              throw new Deno.errors.AlreadyExists(`${to} appeared meanwhile`);
            }
            await Deno.rename(`${dir}/${name}`, to);
            moved.push(name);
          }
        } catch (e) {
          // put back what was moved: the target is left as it was
          for (const name of moved) {
            await Deno.rename(`${target}/${name}`, `${dir}/${name}`).catch(() => {});
          }
          throw e;
        }
        // the target becomes the image's root: its mode, owner and time
        const root = await Deno.stat(dir);
        await Deno.remove(dir);
        if (root.mode !== null) await Deno.chmod(target, root.mode & 0o7777);
        if (Deno.uid() === 0 && root.uid !== null && root.gid !== null) {
          await Deno.chown(target, root.uid, root.gid);
        }
        if (root.mtime && root.atime) await Deno.utime(target, root.atime, root.mtime);
      } finally {
        await release();
      }
    },
    async abort() {
      await removeTree(dir).catch(() => {});
      await release();
    },
  };
}

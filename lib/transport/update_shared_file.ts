/**
 * `updateSharedFile()`: the one read-modify-write of a file that other processes and tools share
 * (docker's `config.json` at `skiff login`/`logout`, a store's `index.json`): locked, re-read
 * inside the lock, written beside and renamed over, through a symlink to the file it names.
 *
 * @module
 */

import { lockFile } from "./lock_file.ts";

/** Options for {@linkcode updateSharedFile}. */
export interface UpdateSharedFileOptions {
  /**
   * The lock file every writer takes (exclusive) around its read-modify-write.
   * @default {`<target>.lock`, beside the file the path resolves to}
   */
  lockFile?: string;
  /**
   * Where the new content is written before it is renamed over the target: a directory on the
   * target's file system.
   * @default {the target's directory}
   */
  tempDir?: string;
  /**
   * The mode the file (and a lock file that is created) gets.
   * @default {0o644}
   */
  mode?: number;
  /** Stops waiting for the lock. */
  signal?: AbortSignal;
  /** Called once when another writer holds the lock and the wait begins. */
  onWait?: () => void;
}

/** How many symlinks are followed before giving up (as the kernel's `ELOOP`). */
const MAX_LINKS = 40;

/**
 * Changes a shared file so that no writer loses another's change:
 *
 * 1. the path is followed through symlinks to the file they name (which may not exist yet), as
 *    docker does: the link stays a link, its target gets the content;
 * 2. an exclusive `flock` on the lock file (`<target>.lock` beside it unless told otherwise) is
 *    taken, waited for when another writer holds it;
 * 3. inside the lock the file is read (`undefined` when it does not exist) and `change` gets it;
 * 4. unless `change` returns `undefined` (nothing to write), the new text goes to a temporary
 *    file beside the target (`.<name>.tmp-<uuid>`), is `fdatasync`ed, takes the mode, and is
 *    renamed over the target: a reader sees the old file or the new one, never a mix;
 * 5. the lock is released. Temporary files of writers killed in step 4 (they held the lock, so
 *    none is being written now) are removed on the way.
 *
 * @param path The file, or a symlink to it.
 * @param change Gets the current text, returns the new one (or `undefined` to leave it). It runs
 *   inside the lock: keep it short, and throw to write nothing.
 * @param options The lock file, a temporary directory, the mode, abort signal.
 * @throws {Error} The OS error when the directory, lock or file cannot be read or written, or
 *   what `change` throws; the file is then left as it was.
 *
 * @example Two writers at once keep both changes
 * ```ts
 * import { updateSharedFile } from "./update_shared_file.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const add = (key: string) =>
 *   updateSharedFile(`${dir}/shared.json`, (text) => {
 *     const doc = text ? JSON.parse(text) : {};
 *     doc[key] = true;
 *     return JSON.stringify(doc);
 *   });
 * await Promise.all([add("a"), add("b"), add("c")]);
 * assert.deepEqual(Object.keys(JSON.parse(await Deno.readTextFile(`${dir}/shared.json`))).sort(), [
 *   "a",
 *   "b",
 *   "c",
 * ]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function updateSharedFile(
  path: string,
  change: (current: string | undefined) => string | undefined | Promise<string | undefined>,
  options: UpdateSharedFileOptions = {},
): Promise<void> {
  const target = await followLinks(path);
  const dir = dirname(target);
  const base = target.slice(target.lastIndexOf("/") + 1);
  const tempDir = options.tempDir ?? dir;
  const prefix = `.${base}.tmp-`;
  const mode = options.mode ?? 0o644;
  using _lock = await lockFile(options.lockFile ?? `${target}.lock`, {
    mode,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onWait ? { onWait: options.onWait } : {}),
  });
  await removeLeftovers(tempDir, prefix);
  let current: string | undefined;
  try {
    current = await Deno.readTextFile(target);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const next = await change(current);
  if (next === undefined) return;
  const temp = `${tempDir}/${prefix}${crypto.randomUUID()}`;
  try {
    {
      using file = await Deno.open(temp, { write: true, createNew: true, mode });
      const bytes = new TextEncoder().encode(next);
      for (let at = 0; at < bytes.byteLength;) {
        at += await file.write(at === 0 ? bytes : bytes.subarray(at));
      }
      await file.syncData();
    }
    await Deno.chmod(temp, mode); // the umask does not narrow what the file gets
    await Deno.rename(temp, target);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
}

/**
 * The file a path names after its symlinks (each relative one read from the link's directory);
 * the last link's target when it does not exist yet.
 */
async function followLinks(path: string): Promise<string> {
  let at = path;
  for (let i = 0; i < MAX_LINKS; i++) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(at);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return at;
      throw e;
    }
    if (!info.isSymlink) return at;
    const link = await Deno.readLink(at);
    at = link.startsWith("/") ? link : `${dirname(at)}/${link}`;
  }
  throw new Error(`Cannot follow ${path}: more than ${MAX_LINKS} symbolic links`);
}

/** Temporary files a killed writer left (removed under the lock: no writer is using one). */
async function removeLeftovers(dir: string, prefix: string): Promise<void> {
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.startsWith(prefix)) {
        await Deno.remove(`${dir}/${e.name}`).catch(() => {});
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash === -1 ? "." : path.slice(0, slash) || "/";
}

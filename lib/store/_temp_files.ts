// Temporary files and directories: what every write that must appear whole writes first (an
// output beside its target, an unpack's tree, a new store, a file of the store), and how one that
// a kill -9 left behind is found and removed without ever touching one a live process writes.
//
// - Names. Beside a target BASE: `.BASE.skiff-KIND-ID`; inside a target directory:
//   `.skiff-KIND-ID` (KIND a word such as save, export, unpack, new; ID 16 hex digits). The store's
//   own, in ingest/: `tmp-...`.
// - Liveness is a lock, never an age: the writer holds an exclusive `flock` on its temporary (the
//   file it writes, or a handle of the directory) for as long as it runs; the kernel drops it when
//   the process dies, however it dies. A temporary whose lock can be taken is a dead writer's.
// - The moment between creating a temporary and locking it is closed by the directory it is made
//   in: a writer holds a shared `flock` on that directory while it creates and locks its
//   temporary, a sweeper an exclusive one while it tries the temporaries' locks (or, when a writer
//   holds it, judges nothing this time). So a sweeper never sees a temporary that exists but is
//   not locked yet.
// - A temporary outside the store is also noted in the store's ingest/ (`output-<uuid>`, holding
//   its path; older versions wrote `unpack-<uuid>`), so that gc finds it; the next write into the
//   same place finds it by its name.

import { sleep } from "../transport/retry_fetch.ts";

/** How often a busy directory lock is tried again. */
const POLL_MS = 5;

/** The prefixes of the notes in ingest/ (`unpack-` from older versions). */
const RECORD_PREFIXES = ["output-", "unpack-"];

const TEMP_TAIL = /^skiff-[a-z]+-[0-9a-f]{16}$/;

/** The directory and the last name of a path (`a/b` -> `a`, `b`; `b` -> `.`, `b`). */
export function splitPath(path: string): { parent: string; base: string } {
  const slash = path.lastIndexOf("/");
  return {
    parent: slash === -1 ? "." : slash === 0 ? "/" : path.slice(0, slash),
    base: path.slice(slash + 1),
  };
}

/**
 * A new temporary's name: `.BASE.skiff-KIND-ID` beside `BASE`, or `.skiff-KIND-ID` inside a
 * directory when `base` is `undefined`.
 */
export function tempName(base: string | undefined, kind: string): string {
  const id = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  return base === undefined ? `.skiff-${kind}-${id}` : `.${base}.skiff-${kind}-${id}`;
}

/**
 * Whether `name` is a temporary's name: of the target `base` (beside it), of a directory target
 * (`base` is `""`: inside it), or of any target (`base` undefined).
 */
export function isTempName(name: string, base?: string): boolean {
  if (base === undefined) return /^\.(?:.+\.)?skiff-[a-z]+-[0-9a-f]{16}$/.test(name);
  const prefix = base === "" ? "." : `.${base}.`;
  return name.startsWith(prefix) && TEMP_TAIL.test(name.slice(prefix.length));
}

/**
 * Runs `fn` holding a `flock` on the directory `dir`: shared to create temporaries in it (waiting
 * while a sweeper judges them: a few `open`s), exclusive to judge them (not waiting: while a
 * writer is creating one, `busy` is returned and nothing is judged this time). A directory that
 * cannot be opened for it (no read permission) is not locked.
 */
async function withDirLock<T>(
  dir: string,
  exclusive: boolean,
  fn: () => Promise<T>,
): Promise<T | "busy"> {
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(dir, { read: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
  }
  try {
    if (handle) {
      while (!(await handle.tryLock(exclusive))) {
        if (exclusive) return "busy";
        await sleep(POLL_MS);
      }
    }
    return await fn();
  } finally {
    handle?.close();
  }
}

/** `withDirLock` for a writer, which always gets the lock. */
async function creating<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  return (await withDirLock(dir, false, fn)) as T;
}

/**
 * Creates the temporary file `dir/name` (it must not exist), open for reading and writing and
 * locked for as long as the returned handle is open.
 */
export function createTempFile(dir: string, name: string, mode = 0o644): Promise<Deno.FsFile> {
  const path = `${dir}/${name}`;
  return creating(dir, async () => {
    const file = await Deno.open(path, { read: true, write: true, createNew: true, mode });
    try {
      if (!(await file.tryLock(true))) throw new Error(`Cannot lock ${path}: it is held`);
      return file;
    } catch (e) {
      file.close();
      await Deno.remove(path).catch(() => {});
      throw e;
    }
  });
}

/**
 * Creates the temporary directory `dir/name` (it must not exist) and locks it.
 *
 * @returns A handle of the directory: it holds the lock until closed.
 */
export function createTempDir(dir: string, name: string, mode = 0o700): Promise<Deno.FsFile> {
  const path = `${dir}/${name}`;
  return creating(dir, async () => {
    await Deno.mkdir(path, { mode });
    try {
      const handle = await Deno.open(path, { read: true });
      if (await handle.tryLock(true)) return handle;
      handle.close();
      throw new Error(`Cannot lock ${path}: it is held`);
    } catch (e) {
      await Deno.remove(path).catch(() => {});
      throw e;
    }
  });
}

/** What {@linkcode sweepTemps} found. */
export interface TempSweep {
  /** Temporaries of dead writers (removed when `remove`), with their sizes (a directory: 0). */
  stale: { path: string; size: number }[];
  /** Temporaries of writers still running: never touched. */
  inUse: string[];
}

/**
 * Finds, and with `remove` deletes, the temporaries in `dir` whose names `match` and whose writer
 * is dead (their lock is free). One is deleted only while its lock is held and only when the name
 * still is the file or directory that was locked (never what a symlink of that name points to).
 */
export async function sweepTemps(
  dir: string,
  match: (name: string) => boolean,
  options: { remove: boolean } = { remove: true },
): Promise<TempSweep> {
  const found: TempSweep = { stale: [], inUse: [] };
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (match(e.name)) names.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return found;
    throw e;
  }
  if (names.length === 0) return found;
  const held: { path: string; handle: Deno.FsFile }[] = [];
  try {
    const judged = await withDirLock(dir, true, async () => {
      for (const name of names.sort()) {
        const path = `${dir}/${name}`;
        let handle: Deno.FsFile;
        try {
          handle = await Deno.open(path, { read: true });
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) continue;
          // not ours to judge (another user's): left alone
          if (e instanceof Deno.errors.PermissionDenied) found.inUse.push(path);
          else throw e;
          continue;
        }
        if (await handle.tryLock(true)) held.push({ path, handle });
        else {
          handle.close();
          found.inUse.push(path);
        }
      }
    });
    if (judged === "busy") {
      // a writer is creating a temporary here right now: none is judged (all left alone)
      found.inUse.push(...names.map((name) => `${dir}/${name}`));
      return found;
    }
    for (const { path, handle } of held) {
      const [locked, now] = await Promise.all([handle.stat(), Deno.lstat(path).catch(() => null)]);
      if (!now || now.ino !== locked.ino || now.dev !== locked.dev) continue;
      if (options.remove) await removeTree(path);
      found.stale.push({ path, size: locked.isFile ? locked.size : 0 });
    }
  } finally {
    for (const { handle } of held) handle.close();
  }
  return found;
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
 * Notes a temporary outside the store in the store's ingest/ (best effort: a read-only store
 * keeps no note, and the next write into the same place still finds it).
 *
 * @returns Removes the note.
 */
export async function recordTemp(
  store: { readonly path: string },
  temp: string,
): Promise<() => Promise<void>> {
  const path = `${store.path}/ingest/${RECORD_PREFIXES[0]}${crypto.randomUUID()}`;
  const absolute = temp.startsWith("/") ? temp : `${Deno.cwd()}/${temp}`;
  try {
    await Deno.writeTextFile(path, absolute + "\n", { createNew: true });
  } catch {
    return async () => {};
  }
  return () => Deno.remove(path).catch(() => {});
}

/**
 * Finds, and with `remove` deletes, the temporaries noted in the store whose writers are dead
 * (outputs, unpacks: outside the store), and the notes of those that are gone.
 */
export async function sweepRecords(
  store: { readonly path: string },
  options: { remove: boolean },
): Promise<TempSweep> {
  const found: TempSweep = { stale: [], inUse: [] };
  const ingest = `${store.path}/ingest`;
  const records: string[] = [];
  try {
    for await (const e of Deno.readDir(ingest)) {
      if (e.isFile && RECORD_PREFIXES.some((p) => e.name.startsWith(p))) records.push(e.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return found;
    throw e;
  }
  for (const name of records.sort()) {
    const record = `${ingest}/${name}`;
    const temp = (await Deno.readTextFile(record).catch(() => "")).trim();
    // only a path named the way a temporary is: a note cannot point elsewhere
    const { parent, base } = splitPath(temp);
    if (temp.startsWith("/") && isTempName(base)) {
      const swept = await sweepTemps(parent, (n) => n === base, options);
      found.stale.push(...swept.stale);
      if (swept.inUse.length > 0) {
        found.inUse.push(...swept.inUse);
        continue;
      }
    }
    if (options.remove) await Deno.remove(record).catch(() => {});
  }
  return found;
}

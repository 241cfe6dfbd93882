/**
 * The one way a command opens a file output path (`save -o`, `export -o`, a disk image, a layer
 * image): what is there decides, as `tar -cf` does.
 *
 * - absent, or a regular file: written beside it as a hidden, locked temporary
 *   (`.NAME.skiff-KIND-ID`) and moved into place once complete (renamed over it, or linked when
 *   an existing file is to be refused), so the path holds the old file or the whole new one;
 * - a symlink: the same at the path it points to (the link stays a link);
 * - a block device, a character device, a FIFO: written into, never replaced (a FIFO waits for
 *   its reader); an output written out of order and read back (a disk image) goes only into a
 *   file or a block device;
 * - a directory, a socket or a terminal: refused.
 *
 * A temporary a killed run left (its lock free) is removed by the next run into the same place,
 * and, when noted in a store, by its garbage collection.
 *
 * @module
 */

import { writeAll } from "./_fs.ts";
import {
  createTempFile,
  isTempName,
  recordTemp,
  splitPath,
  sweepTemps,
  tempName,
} from "./_temp_files.ts";

/** What is at an output path, symlinks followed. */
export type OutputKind = "absent" | "file" | "directory" | "block" | "char" | "fifo" | "socket";

/** An output path, looked at. */
export interface ResolvedOutput {
  /** The path as given. */
  path: string;
  /**
   * Where a new file or directory takes its place: `path`, or for a symlink (also one that
   * points nowhere yet) the path it points to.
   */
  target: string;
  /** What is there now. */
  kind: OutputKind;
}

const MAX_LINKS = 40;

const SHOWN_KIND: Record<OutputKind, string> = {
  absent: "absent",
  file: "a file",
  directory: "a directory",
  block: "a block device",
  char: "a character device",
  fifo: "a FIFO",
  socket: "a socket",
};

function kindOf(info: Deno.FileInfo): OutputKind {
  if (info.isFile) return "file";
  if (info.isDirectory) return "directory";
  if (info.isBlockDevice) return "block";
  if (info.isCharDevice) return "char";
  if (info.isFifo) return "fifo";
  return "socket";
}

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/**
 * Looks at an output path: what is there (symlinks followed), and where a new file or directory
 * takes its place.
 *
 * @param path The path as given.
 * @returns What is there and where a new one goes.
 * @throws {Error} When it cannot be looked at (a loop of symlinks, a file used as a directory).
 *
 * @example A symlink to a file that does not exist yet
 * ```ts
 * import { resolveOutput } from "./output_file.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.realPath(await Deno.makeTempDir());
 * await Deno.symlink("real.tar", `${dir}/link.tar`);
 * const out = await resolveOutput(`${dir}/link.tar`);
 * assert.deepEqual([out.kind, out.target], ["absent", `${dir}/real.tar`]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function resolveOutput(path: string): Promise<ResolvedOutput> {
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const link = (await lstatOrUndefined(path))?.isSymlink ?? false;
  if (info) {
    const kind = kindOf(info);
    // what replaces a file (or fills a directory) goes where the link points, never over it
    const target = link && (kind === "file" || kind === "directory")
      ? await Deno.realPath(path)
      : path;
    return { path, target, kind };
  }
  if (!link) return { path, target: path, kind: "absent" };
  // a symlink to nothing yet: the path at the end of its chain
  let at = path;
  for (let hops = 0; hops < MAX_LINKS; hops++) {
    const to = await Deno.readLink(at);
    at = to.startsWith("/") ? to : `${splitPath(at).parent}/${to}`;
    const next = await lstatOrUndefined(at);
    if (!next) return { path, target: at, kind: "absent" };
    if (!next.isSymlink) return { path, target: at, kind: kindOf(next) };
  }
  throw new Error("Too many levels of symbolic links");
}

/**
 * Opens a device or a FIFO for writing. A FIFO's open waits for a reader; an abort ends the wait
 * by opening it for reading once (the two opens meet), so no open is left pending.
 */
async function openInto(path: string, read: boolean, signal?: AbortSignal): Promise<Deno.FsFile> {
  signal?.throwIfAborted();
  const opening = Deno.open(path, { write: true, read });
  if (!signal) return await opening;
  let meet: Promise<void> | undefined;
  const onAbort = () => {
    meet = Deno.open(path, { read: true }).then((f) => f.close(), () => {});
  };
  signal.addEventListener("abort", onAbort, { once: true });
  let file: Deno.FsFile;
  try {
    file = await opening;
  } finally {
    signal.removeEventListener("abort", onAbort);
    await meet;
  }
  if (signal.aborted) {
    file.close();
    throw signal.reason;
  }
  return file;
}

/** Options for {@linkcode OutputFile.open} and {@linkcode OutputFile.check}. */
export interface OutputFileOptions {
  /**
   * The verb of messages: `Cannot <action> <path>: <state>`.
   * @default {"write to"}
   */
  action?: string;
  /**
   * A regular file at the path: `replace` it (atomically), or `refuse` it (`it exists`).
   * @default {"replace"}
   */
  existing?: "replace" | "refuse";
  /**
   * What is written, when it is written out of order and read back (e.g. `"a disk image"`): it
   * then goes only into a file or a block device, and a FIFO or a character device is refused
   * naming it. Without it, the bytes are written in order and may go into either.
   * @default {undefined}
   */
  seeks?: string;
  /**
   * Create missing parent directories.
   * @default {false}
   */
  parents?: boolean;
  /**
   * The word in the temporary's name, `.NAME.skiff-<kind>-<id>` (lower-case letters).
   * @default {"write"}
   */
  kind?: string;
  /**
   * A store where the temporary is noted, so that its garbage collection removes it after a
   * kill (the next run into the same place does in any case).
   * @default {undefined}
   */
  store?: { readonly path: string };
  /**
   * The new file's mode (before the umask).
   * @default {0o644}
   */
  mode?: number;
  /** Stops waiting for a FIFO's reader (the open is then ended, and rejects with the reason). */
  signal?: AbortSignal;
}

/**
 * An output file being written: into a temporary beside the target, moved into place by
 * {@linkcode OutputFile.commit}, or straight into a device or a FIFO.
 *
 * @example Write an archive beside its target and move it into place
 * ```ts
 * import { OutputFile } from "./output_file.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/out.tar`, "old");
 * const out = await OutputFile.open(`${dir}/out.tar`, { action: "save to", kind: "save" });
 * await out.write(new TextEncoder().encode("new"));
 * assert.equal(await Deno.readTextFile(`${dir}/out.tar`), "old"); // untouched until the end
 * await out.commit();
 * assert.equal(await Deno.readTextFile(`${dir}/out.tar`), "new");
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["out.tar"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @example A FIFO is written into, not replaced
 * ```ts ignore
 * import { OutputFile } from "./output_file.ts";
 *
 * // mkfifo pipe; cat pipe > copy.tar &
 * const out = await OutputFile.open("pipe", { action: "save to" }); // waits for the reader
 * await out.write(new Uint8Array(1024));
 * await out.commit(); // closes it: the reader sees the end
 * ```
 */
export class OutputFile {
  /** The path as given. */
  readonly path: string;
  /** Where the bytes end up: `path`, or the file a symlink points to. */
  readonly target: string;
  /** What was at the path when it was opened. */
  readonly kind: OutputKind;
  /** The temporary file beside the target; `undefined` when written into a device or a FIFO. */
  readonly temp: string | undefined;
  /** The open file to write (and, with `seeks`, read back) through. */
  readonly file: Deno.FsFile;
  #action: string;
  #existing: "replace" | "refuse";
  #unrecord: () => Promise<void>;
  #done = false;

  private constructor(
    resolved: ResolvedOutput,
    file: Deno.FsFile,
    temp: string | undefined,
    options: OutputFileOptions,
    unrecord: () => Promise<void>,
  ) {
    this.path = resolved.path;
    this.target = resolved.target;
    this.kind = resolved.kind;
    this.file = file;
    this.temp = temp;
    this.#action = options.action ?? "write to";
    this.#existing = options.existing ?? "replace";
    this.#unrecord = unrecord;
  }

  /**
   * Looks at an output path and refuses, before any work, what it cannot become: a directory, a
   * socket, an existing file with `existing: "refuse"`, a FIFO or a character device for an
   * output that `seeks`. Temporaries that killed runs into the same place left (their lock free)
   * are removed on the way.
   *
   * @param path The output path.
   * @param options The message's verb, what to do with an existing file, `seeks`.
   * @returns What is there and where a new file goes.
   * @throws {Error} `Cannot <action> <path>: <why>`.
   */
  static async check(path: string, options: OutputFileOptions = {}): Promise<ResolvedOutput> {
    const action = options.action ?? "write to";
    const refuse = (why: string, cause?: unknown): never => {
      throw new Error(`Cannot ${action} ${path}: ${why}`, cause ? { cause } : {});
    };
    if (path === "") refuse("the path is empty");
    let resolved: ResolvedOutput;
    try {
      resolved = await resolveOutput(path);
    } catch (e) {
      return refuse((e as Error).message, e);
    }
    const { kind } = resolved;
    if (kind === "directory" || kind === "socket") refuse(`it is ${SHOWN_KIND[kind]}`);
    if ((kind === "fifo" || kind === "char") && options.seeks !== undefined) {
      refuse(
        `it is ${SHOWN_KIND[kind]}, and ${options.seeks} is written out of order and read ` +
          `back: give a file or a block device`,
      );
    }
    if (kind === "absent" || kind === "file") {
      const { parent, base } = splitPath(resolved.target);
      if (base === "" || base === "." || base === "..") refuse("not a file name");
      // what killed runs into the same place left (a running one's is left alone)
      try {
        await sweepTemps(parent, (name) => isTempName(name, base));
      } catch (e) {
        refuse((e as Error).message, e);
      }
    }
    if (kind === "file" && options.existing === "refuse") refuse("it exists");
    return resolved;
  }

  /**
   * Removes from a directory the temporaries of every output killed while it was written there
   * (`.NAME.skiff-KIND-ID` of any NAME, whose lock is free); a running writer's is left alone.
   * For a directory of many outputs (`unpack --layers DIR`), before writing into it.
   *
   * @param dir The directory.
   * @returns How many were removed.
   *
   * @example Nothing to remove in a new directory
   * ```ts
   * import { OutputFile } from "./output_file.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * assert.equal(await OutputFile.sweep(dir), 0);
   * await Deno.remove(dir);
   * ```
   */
  static async sweep(dir: string): Promise<number> {
    return (await sweepTemps(dir, (name) => isTempName(name))).stale.length;
  }

  /**
   * Opens an output path for writing (after {@linkcode OutputFile.check}): a temporary beside the
   * file (or beside what a symlink points to); or the device or FIFO itself (a FIFO waits here
   * until a reader opens it).
   *
   * @param path The output path.
   * @param options The message's verb, what to do with an existing file, `seeks`, parents, the
   * temporary's name, the store to note it in, the mode.
   * @returns The open output: write to {@linkcode OutputFile.file} or with
   * {@linkcode OutputFile.write}, then {@linkcode OutputFile.commit} or
   * {@linkcode OutputFile.abort}.
   * @throws {Error} `Cannot <action> <path>: <why>`.
   */
  static async open(path: string, options: OutputFileOptions = {}): Promise<OutputFile> {
    const resolved = await OutputFile.check(path, options);
    const fail = (e: unknown): never => {
      throw new Error(`Cannot ${options.action ?? "write to"} ${path}: ${(e as Error).message}`, {
        cause: e,
      });
    };
    if (resolved.kind === "absent" || resolved.kind === "file") {
      const { parent, base } = splitPath(resolved.target);
      const name = tempName(base, options.kind ?? "write");
      const temp = `${parent}/${name}`;
      // noted before it exists: a kill right after its creation still leaves a note for gc
      const unrecord = options.store ? await recordTemp(options.store, temp) : async () => {};
      try {
        if (options.parents) await Deno.mkdir(parent, { recursive: true });
        const file = await createTempFile(parent, name, options.mode ?? 0o644);
        return new OutputFile(resolved, file, temp, options, unrecord);
      } catch (e) {
        await unrecord();
        return fail(e);
      }
    }
    // a device or a FIFO: written into (following a symlink, /proc/self/fd/N too), as tar does
    let file: Deno.FsFile;
    try {
      file = await openInto(path, options.seeks !== undefined, options.signal);
    } catch (e) {
      if (options.signal?.aborted) throw options.signal.reason;
      return fail(e);
    }
    const now = await file.stat();
    if (now.isFile || now.isDirectory) {
      file.close();
      return fail(new Error(`it changed while it was opened (now ${SHOWN_KIND[kindOf(now)]})`));
    }
    if (file.isTerminal()) {
      // an archive or an image on a screen is garbage at best, escape sequences at worst (as
      // `-o -` to a terminal is refused)
      file.close();
      return fail(new Error("it is a terminal"));
    }
    return new OutputFile(resolved, file, undefined, options, async () => {});
  }

  /** The error of this output for a failure `e`: `Cannot <action> <path>: <what e says>`. */
  error(e: unknown): Error {
    return new Error(`Cannot ${this.#action} ${this.path}: ${(e as Error).message}`, { cause: e });
  }

  /**
   * Writes all of `bytes`, in order.
   * @param bytes What to write.
   * @returns Resolves once written.
   * @throws {Error} `Cannot <action> <path>: ...` (a full disk, a FIFO's reader gone).
   */
  async write(bytes: Uint8Array): Promise<void> {
    try {
      await writeAll(this.file, bytes);
    } catch (e) {
      throw this.error(e);
    }
  }

  /**
   * Ends the output: a temporary is synced to disk and moved into place (renamed over the target,
   * or linked to it when an existing file is refused), a block device synced; then the file is
   * closed. On failure the temporary is removed and the target left as it was.
   *
   * @returns Resolves once the output is in place.
   * @throws {Error} `Cannot <action> <path>: it exists` when a file appeared at the target and
   * existing files are refused; `Cannot <action> <path>: ...` for any other failure.
   */
  async commit(): Promise<void> {
    if (this.#done) throw this.error(new Error("it was ended already"));
    this.#done = true;
    try {
      if (this.temp !== undefined) {
        await this.file.syncData();
        if (this.#existing === "refuse") {
          try {
            // a link, unlike a rename, never replaces a file that appeared meanwhile
            await Deno.link(this.temp, this.target);
          } catch (e) {
            if (e instanceof Deno.errors.AlreadyExists) {
              throw new Error(`Cannot ${this.#action} ${this.path}: it exists`, { cause: e });
            }
            throw e;
          }
          await Deno.remove(this.temp).catch(() => {});
        } else {
          await Deno.rename(this.temp, this.target);
        }
      } else if (this.kind === "block") {
        await this.file.syncData();
      }
    } catch (e) {
      if (this.temp !== undefined) await Deno.remove(this.temp).catch(() => {});
      throw (e as Error).message?.startsWith(`Cannot ${this.#action} `) ? e : this.error(e);
    } finally {
      this.#close();
      await this.#unrecord();
    }
  }

  /**
   * Ends the output without it: a temporary is removed (the target is left as it was); a device
   * or a FIFO is closed (its reader sees the end of what was written).
   *
   * @returns Resolves once done; never fails.
   */
  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    // removed while its lock is held: no sweeper judges it meanwhile
    if (this.temp !== undefined) await Deno.remove(this.temp).catch(() => {});
    this.#close();
    await this.#unrecord();
  }

  #close(): void {
    try {
      this.file.close();
    } catch {
      // closed already
    }
  }
}

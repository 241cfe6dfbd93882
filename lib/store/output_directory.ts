/**
 * The one way a command builds a directory at an output path (`unpack REF DIR`): it appears
 * complete or not at all.
 *
 * - DIR absent: built in a hidden, locked `.DIR.skiff-KIND-ID` beside it, renamed to DIR at the
 *   end.
 * - DIR an empty directory (`.`, a mount point, one made for it): built in a hidden, locked
 *   `.skiff-KIND-ID` inside DIR (same file system, whatever is mounted there), whose entries are
 *   renamed into DIR at the end; DIR then takes the built root's mode, owner and time, as the
 *   renamed directory would have. A rename onto a busy directory (the cwd, a mount point) is never
 *   needed.
 * - DIR a symlink: the same where it points (to an empty directory: inside it; to nothing yet:
 *   beside that path and renamed to it); the link stays a link.
 * - Anything else (a file, a device, a FIFO, a socket): refused.
 *
 * A building directory a killed run left (its lock free) is removed by the next run into the same
 * place and, when noted in a store, by its garbage collection; a running one's is never touched.
 *
 * @module
 */

import { type ResolvedOutput, resolveOutput } from "./output_file.ts";
import {
  createTempDir,
  isTempName,
  recordTemp,
  removeTree,
  splitPath,
  sweepTemps,
  tempName,
} from "./_temp_files.ts";

/** Options for {@linkcode OutputDirectory.check} and {@linkcode OutputDirectory.create}. */
export interface OutputDirectoryOptions {
  /**
   * The verb of messages: `Cannot <action> <path>: <state>`.
   * @default {"write into"}
   */
  action?: string;
  /**
   * The word in the building directory's name, and in `another <kind> into it is running`.
   * @default {"write"}
   */
  kind?: string;
  /**
   * A store where the building directory is noted, so that its garbage collection removes it
   * after a kill.
   * @default {undefined}
   */
  store?: { readonly path: string };
}

/**
 * A directory being built for an output path.
 *
 * @example Build a directory that appears whole
 * ```ts
 * import { OutputDirectory } from "./output_directory.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await OutputDirectory.check(`${dir}/rootfs`);
 * const out = await OutputDirectory.create(`${dir}/rootfs`, { kind: "unpack" });
 * await Deno.writeTextFile(`${out.dir}/hello`, "hi\n");
 * await out.commit();
 * assert.equal(await Deno.readTextFile(`${dir}/rootfs/hello`), "hi\n");
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["rootfs"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class OutputDirectory {
  /** The path as given. */
  readonly path: string;
  /** Where the directory ends up: `path`, or what a symlink points to. */
  readonly target: string;
  /** The directory to build in. */
  readonly dir: string;
  /** Whether it is built inside an existing empty target (else beside it). */
  readonly inside: boolean;
  #lock: Deno.FsFile;
  #unrecord: () => Promise<void>;
  #released = false;

  private constructor(
    resolved: ResolvedOutput,
    dir: string,
    inside: boolean,
    lock: Deno.FsFile,
    unrecord: () => Promise<void>,
  ) {
    this.path = resolved.path;
    this.target = resolved.target;
    this.dir = dir;
    this.inside = inside;
    this.#lock = lock;
    this.#unrecord = unrecord;
  }

  /**
   * Checks, before any work, that the path can become the directory: absent (or a symlink to
   * nothing yet), or an empty directory. What an interrupted run into the same place left (its
   * lock free) is removed first, and does not count.
   *
   * @param path The output path.
   * @param options The message's verb and the kind of work.
   * @returns What is there and where the directory goes.
   * @throws {Error} `Cannot <action> <path>: ...` when it is not a directory or not empty, or
   * another run builds there.
   */
  static async check(
    path: string,
    options: OutputDirectoryOptions = {},
  ): Promise<ResolvedOutput> {
    const action = options.action ?? "write into";
    const refuse = (why: string, cause?: unknown): never => {
      throw new Error(`Cannot ${action} ${path}: ${why}`, cause ? { cause } : {});
    };
    let resolved: ResolvedOutput;
    try {
      resolved = await resolveOutput(path);
    } catch (e) {
      return refuse((e as Error).message, e);
    }
    const inside = resolved.kind === "directory";
    if (!inside && resolved.kind !== "absent") refuse("it is not a directory");
    const { parent, base } = splitPath(resolved.target);
    const busy = new Set<string>();
    try {
      if (inside) {
        const swept = await sweepTemps(resolved.target, (name) => isTempName(name, ""));
        for (const p of swept.inUse) busy.add(p);
      }
      if (base !== "." && base !== "..") {
        await sweepTemps(parent, (name) => isTempName(name, base));
      } else if (!inside) {
        refuse("not a directory name");
      }
      if (!inside) return resolved;
      for await (const e of Deno.readDir(resolved.target)) {
        refuse(
          busy.has(`${resolved.target}/${e.name}`)
            ? `another ${options.kind ?? "write"} into it is running`
            : "the directory is not empty",
        );
      }
    } catch (e) {
      if ((e as Error).message?.startsWith(`Cannot ${action} `)) throw e;
      return refuse((e as Error).message, e);
    }
    return resolved;
  }

  /**
   * Makes the locked building directory for the path (checked by
   * {@linkcode OutputDirectory.check}), noted in the store when one is given.
   *
   * @param path The output path.
   * @param options The message's verb, the kind of work, the store.
   * @returns The build: fill {@linkcode OutputDirectory.dir}, then
   * {@linkcode OutputDirectory.commit} or {@linkcode OutputDirectory.abort}.
   * @throws {Error} `Cannot <action> <path>: ...`.
   */
  static async create(
    path: string,
    options: OutputDirectoryOptions = {},
  ): Promise<OutputDirectory> {
    const action = options.action ?? "write into";
    const kind = options.kind ?? "write";
    let unrecord = async () => {};
    try {
      const resolved = await resolveOutput(path);
      const inside = resolved.kind === "directory";
      if (!inside && resolved.kind !== "absent") throw new Error("it is not a directory");
      const { parent, base } = splitPath(resolved.target);
      if (!inside) await Deno.mkdir(parent, { recursive: true });
      const home = inside ? resolved.target : parent;
      const name = inside ? tempName(undefined, kind) : tempName(base, kind);
      const dir = `${home}/${name}`;
      // noted before it exists: a kill right after its creation still leaves a note for gc
      if (options.store) unrecord = await recordTemp(options.store, dir);
      const lock = await createTempDir(home, name);
      return new OutputDirectory(resolved, dir, inside, lock, unrecord);
    } catch (e) {
      await unrecord();
      throw new Error(`Cannot ${action} ${path}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Puts the built tree in place of the target: the building directory renamed to it, or its
   * entries moved into the existing empty target (which then takes the built root's mode, owner
   * and time). The building directory is gone after.
   *
   * @returns Resolves once the tree is in place.
   * @throws {Deno.errors.AlreadyExists} When an entry appeared in the target meanwhile (what was
   * moved is put back); an `ENOTEMPTY` error when a non-empty directory appeared at the target.
   */
  async commit(): Promise<void> {
    try {
      if (!this.inside) {
        // an empty directory made at the target meanwhile is replaced; anything else fails
        await Deno.rename(this.dir, this.target);
        return;
      }
      const names: string[] = [];
      for await (const e of Deno.readDir(this.dir)) names.push(e.name);
      const moved: string[] = [];
      try {
        for (const name of names) {
          const to = `${this.target}/${name}`;
          if (await Deno.lstat(to).then(() => true, () => false)) {
            throw new Deno.errors.AlreadyExists(`${to} appeared meanwhile`);
          }
          await Deno.rename(`${this.dir}/${name}`, to);
          moved.push(name);
        }
      } catch (e) {
        // put back what was moved: the target is left as it was
        for (const name of moved) {
          await Deno.rename(`${this.target}/${name}`, `${this.dir}/${name}`).catch(() => {});
        }
        throw e;
      }
      // the target becomes the built root: its mode, owner and time
      const root = await Deno.stat(this.dir);
      await Deno.remove(this.dir);
      if (root.mode !== null) await Deno.chmod(this.target, root.mode & 0o7777);
      if (Deno.uid() === 0 && root.uid !== null && root.gid !== null) {
        await Deno.chown(this.target, root.uid, root.gid);
      }
      if (root.mtime && root.atime) await Deno.utime(this.target, root.atime, root.mtime);
    } finally {
      await this.#release();
    }
  }

  /**
   * Removes what was built; the target is left as it was.
   * @returns Resolves once removed; never fails.
   */
  async abort(): Promise<void> {
    await removeTree(this.dir).catch(() => {});
    await this.#release();
  }

  async #release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#lock.close();
    await this.#unrecord();
  }
}

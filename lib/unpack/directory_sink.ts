/**
 * The directory target of an unpack: a {@linkcode RootfsWriter} on a hidden temporary directory
 * beside the target, renamed to the target once every layer was applied and verified.
 *
 * @module
 */

import type { RootfsWriter } from "./rootfs_writer.ts";
import type { ApplyLayerOptions, UnpackSink } from "./sink.ts";

/** Options for {@linkcode DirectorySink.create}. */
export interface DirectorySinkOptions {
  /**
   * The most entries (whiteouts included) all layers together may have.
   * @default {1000000}
   */
  maxEntries?: number;
  /**
   * Set owners from the image and make device nodes (both need root); otherwise files belong
   * to the caller and device nodes are skipped and counted.
   * @default {true when running as root}
   */
  owners?: boolean;
}

/**
 * Unpacks into a directory that appears only when complete: the layers are written into
 * `.NAME.skiff-unpack-XXXX` beside it, `finish()` sets the directories' metadata and renames the
 * temporary directory to the target, `abort()` removes it.
 *
 * @example Check a target, then make the sink
 * ```ts
 * import { DirectorySink } from "./directory_sink.ts";
 * import assert from "node:assert/strict";
 *
 * const work = await Deno.makeTempDir();
 * await DirectorySink.checkTarget(`${work}/rootfs`); // absent: fine
 * const sink = await DirectorySink.create(`${work}/rootfs`, { owners: false });
 * await sink.abort(); // nothing was applied: the temporary directory goes
 * assert.deepEqual([...Deno.readDirSync(work)], []);
 * await Deno.remove(work, { recursive: true });
 * ```
 */
export class DirectorySink implements UnpackSink {
  /** The target directory. */
  readonly target: string;
  /** The temporary directory the layers are written into. */
  readonly temp: string;
  #writer: RootfsWriter;

  private constructor(target: string, temp: string, writer: RootfsWriter) {
    this.target = target;
    this.temp = temp;
    this.#writer = writer;
  }

  /**
   * Refuses a target that is not absent or an empty directory.
   *
   * @param dir The target.
   * @returns The target without trailing slashes.
   * @throws {Error} When `dir` exists and is not an empty directory.
   */
  static async checkTarget(dir: string): Promise<string> {
    const path = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return path;
      throw new Error(`Cannot unpack into ${path}: ${(e as Error).message}`, { cause: e });
    }
    if (!info.isDirectory) throw new Error(`Cannot unpack into ${path}: it is not a directory`);
    for await (const _ of Deno.readDir(path)) {
      throw new Error(`Cannot unpack into ${path}: the directory is not empty`);
    }
    return path;
  }

  /**
   * Makes the temporary directory beside `dir` (and `dir`'s parents).
   *
   * @param dir The target directory (absent or empty).
   * @param options Limits and ownership.
   * @returns The sink.
   */
  static async create(dir: string, options: DirectorySinkOptions = {}): Promise<DirectorySink> {
    const target = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
    const slash = target.lastIndexOf("/");
    const parent = slash === -1 ? "." : slash === 0 ? "/" : target.slice(0, slash);
    const base = target.slice(slash + 1);
    // loaded only now: node:fs costs start-up time to every command that does not unpack
    const { RootfsWriter } = await import("./rootfs_writer.ts");
    await Deno.mkdir(parent, { recursive: true });
    const temp = await Deno.makeTempDir({ dir: parent, prefix: `.${base}.skiff-unpack-` });
    return new DirectorySink(target, temp, new RootfsWriter(temp, options));
  }

  /** Tar entries read so far, whiteouts included. */
  get entries(): number {
    return this.#writer.entries;
  }
  /** Whiteouts applied so far. */
  get whiteouts(): number {
    return this.#writer.whiteouts;
  }
  /** Bytes of file content written so far. */
  get bytes(): number {
    return this.#writer.bytes;
  }
  /** Device nodes skipped because the caller may not make them. */
  get skippedDevices(): number {
    return this.#writer.skippedDevices;
  }

  /**
   * Applies one layer into the temporary directory.
   *
   * @param tar The layer's uncompressed tar.
   * @param options Abort signal.
   * @returns Resolves once applied.
   */
  applyLayer(tar: AsyncIterable<Uint8Array>, options: ApplyLayerOptions = {}): Promise<void> {
    return this.#writer.applyLayer(tar, options);
  }

  /**
   * Sets the directories' metadata and renames the temporary directory to the target (an empty
   * directory there is replaced).
   *
   * @returns Resolves once the target is in place.
   * @throws {Error} When the target is no longer empty.
   */
  async finish(): Promise<void> {
    this.#writer.finish();
    try {
      await Deno.rename(this.temp, this.target);
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists || (e as { code?: string }).code === "ENOTEMPTY") {
        throw new Error(`Cannot unpack into ${this.target}: it is no longer empty`, { cause: e });
      }
      throw e;
    }
  }

  /**
   * Removes the temporary directory.
   *
   * @returns Resolves once removed.
   */
  async abort(): Promise<void> {
    await Deno.remove(this.temp, { recursive: true }).catch(() => {});
  }
}

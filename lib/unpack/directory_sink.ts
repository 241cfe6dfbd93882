/**
 * The directory target of an unpack: a {@linkcode RootfsWriter} on a hidden temporary directory
 * beside the target, renamed to the target once every layer was applied and verified.
 *
 * @module
 */

import { OutputDirectory, type OutputDirectoryOptions } from "../store/output_directory.ts";
import type { Store } from "../store/store.ts";
import type { RootfsWriter } from "./rootfs_writer.ts";
import type { ApplyLayerOptions, LayerBlob, UnpackSink } from "./sink.ts";
import type { WorkerWriter } from "./_worker_writer.ts";

/** How an unpack's directory output is named in messages and temporaries. */
const OUTPUT: OutputDirectoryOptions = { action: "unpack into", kind: "unpack" };

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
 * import { Store } from "../store/store.ts";
 * import assert from "node:assert/strict";
 *
 * const work = await Deno.makeTempDir();
 * const store = await Store.open(`${work}/store`);
 * await DirectorySink.checkTarget(`${work}/rootfs`); // absent: fine
 * const sink = await DirectorySink.create(`${work}/rootfs`, store, { owners: false });
 * await sink.abort(); // nothing was applied: the temporary directory goes
 * assert.deepEqual([...Deno.readDirSync(work)].map((e) => e.name), ["store"]);
 * await Deno.remove(work, { recursive: true });
 * ```
 */
export class DirectorySink implements UnpackSink {
  /** The target directory. */
  readonly target: string;
  /** The temporary directory the layers are written into. */
  readonly temp: string;
  #build: OutputDirectory;
  #writer: RootfsWriter;
  #options: DirectorySinkOptions;
  /** The writer in a worker thread, once `applyBlob` started one (then every layer goes there). */
  #remote: WorkerWriter | undefined;
  /** Whether the first layer chose: `remote`, or `local` (the writer on this thread). */
  #mode: "local" | "remote" | undefined;

  private constructor(
    target: string,
    build: OutputDirectory,
    writer: RootfsWriter,
    options: DirectorySinkOptions,
  ) {
    this.target = target;
    this.temp = build.dir;
    this.#build = build;
    this.#writer = writer;
    this.#options = options;
  }

  get #counters(): { entries: number; whiteouts: number; bytes: number; skippedDevices: number } {
    return this.#remote ?? this.#writer;
  }

  /**
   * Refuses a target that is not absent or an empty directory, directly or through a symlink
   * (or where another unpack is running; see `lib/store/output_directory.ts`). What a killed
   * unpack into the same place left is removed first.
   * @param dir The target.
   * @returns The target without trailing slashes.
   * @throws {Error} When `dir` exists and is not an empty directory.
   */
  static async checkTarget(dir: string): Promise<string> {
    const path = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
    await OutputDirectory.check(path, OUTPUT);
    return path;
  }

  /**
   * Starts the build for `dir`: a locked hidden directory beside it (inside it when `dir` is an
   * existing empty directory, such as `.` or a mount point; where it points when it is a
   * symlink), noted in the store so that one a killed unpack left is swept by the next unpack
   * there and by gc.
   * @param dir The target directory (absent or empty).
   * @param store The store the image comes from (where the build is noted).
   * @param options Limits and ownership.
   * @returns The sink.
   */
  static async create(
    dir: string,
    store: Store,
    options: DirectorySinkOptions = {},
  ): Promise<DirectorySink> {
    const target = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
    // loaded only now: node:fs costs start-up time to every command that does not unpack
    const { RootfsWriter } = await import("./rootfs_writer.ts");
    const build = await OutputDirectory.create(target, { ...OUTPUT, store });
    try {
      return new DirectorySink(target, build, new RootfsWriter(build.dir, options), options);
    } catch (e) {
      await build.abort();
      throw e;
    }
  }

  /** Tar entries read so far, whiteouts included. */
  get entries(): number {
    return this.#counters.entries;
  }
  /** Whiteouts applied so far. */
  get whiteouts(): number {
    return this.#counters.whiteouts;
  }
  /** Bytes of file content written so far. */
  get bytes(): number {
    return this.#counters.bytes;
  }
  /** Device nodes skipped because the caller may not make them. */
  get skippedDevices(): number {
    return this.#counters.skippedDevices;
  }

  /**
   * Applies one layer into the temporary directory.
   *
   * @param tar The layer's uncompressed tar.
   * @param options Abort signal.
   * @returns Resolves once applied.
   */
  applyLayer(tar: AsyncIterable<Uint8Array>, options: ApplyLayerOptions = {}): Promise<void> {
    if (this.#mode === "remote") {
      return Promise.reject(
        new Error("Cannot apply a tar stream: the layers before it were applied in a worker"),
      );
    }
    this.#mode = "local";
    return this.#writer.applyLayer(tar, options);
  }

  /**
   * Applies one layer from its blob in a worker thread (started with the first layer): reading,
   * both digests, decompression and the file writes all happen there, so that a pull running on
   * this thread and the unpack use two cores. When no worker can be started, the layer's tar
   * stream is applied on this thread instead.
   *
   * @param blob The layer's blob, digests and budget.
   * @param options Abort signal (terminates the worker).
   * @returns The layer's uncompressed tar bytes.
   */
  async applyBlob(blob: LayerBlob, options: ApplyLayerOptions = {}): Promise<number> {
    if (this.#mode === undefined) {
      const { WorkerWriter } = await import("./_worker_writer.ts");
      this.#remote = await WorkerWriter.start(this.temp, {
        maxEntries: this.#options.maxEntries ?? 1_000_000,
        ...(this.#options.owners === undefined ? {} : { owners: this.#options.owners }),
      });
      this.#mode = this.#remote ? "remote" : "local";
    }
    if (this.#remote) return await this.#remote.apply(blob, options.signal);
    let bytes = 0;
    const tar = blob.tar();
    await this.#writer.applyLayer(
      (async function* () {
        for await (const chunk of tar) {
          bytes += chunk.byteLength;
          yield chunk;
        }
      })(),
      options,
    );
    return bytes;
  }

  /**
   * Sets the directories' metadata and puts the tree in place: the temporary directory renamed
   * to the target, or its entries moved into the existing empty target.
   *
   * @returns Resolves once the target is in place.
   * @throws {Error} When the target is no longer empty.
   */
  async finish(): Promise<void> {
    if (this.#remote) await this.#remote.finish();
    else this.#writer.finish();
    try {
      await this.#build.commit();
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists || (e as { code?: string }).code === "ENOTEMPTY") {
        throw new Error(`Cannot unpack into ${this.target}: it is no longer empty`, { cause: e });
      }
      throw e;
    }
  }

  /**
   * Removes the temporary directory (and its note in the store).
   * @returns Resolves once removed.
   */
  async abort(): Promise<void> {
    await this.#remote?.stop(); // before the directory goes: nothing writes into it any more
    await this.#build.abort().catch(() => {});
  }
}

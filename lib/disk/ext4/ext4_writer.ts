/**
 * Layers into an ext4 image file, written by skiff itself: no mkfs, no mount, no root. File
 * content is streamed into the image as the layers arrive; the metadata is kept in memory and
 * written by {@linkcode Ext4Writer.finish}.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { type Ext4Data, Ext4DataStore } from "./_ext4_data.ts";
import { BLOCK_SIZE } from "./_ext4_format.ts";
import { gdtBlocksFor, writeExt4Image } from "./_ext4_image.ts";
import { applyLayer, type ApplyLayerOptions } from "../../layer/apply_layer.ts";
import { LayerTree } from "../../layer/layer_tree.ts";

/** Options for {@linkcode Ext4Writer}. */
export interface Ext4WriterOptions {
  /**
   * The most entries (whiteouts included) all layers together may have.
   * @default {1000000}
   */
  maxEntries?: number;
  /**
   * What the file system's UUID and directory hash seed are derived from (skiff gives the
   * manifest digest), so that the same layers give the same bytes.
   * @default {""}
   */
  seed?: string;
  /**
   * The image size in bytes, a whole number of 4 KiB blocks (never rounded); too small for the
   * tree is an error. Its empty space costs neither time nor disk: block groups with nothing in
   * them are left uninitialised (as mke2fs does) and unwritten (holes).
   * @default {what the tree needs, plus `free`}
   */
  size?: number;
  /**
   * Bytes of free space beyond what the tree needs (with one inode for every 16 KiB of it), a
   * whole number of 4 KiB blocks. Ignored when `size` is given.
   * @default {0}
   */
  free?: number;
  /**
   * Add an empty jbd2 journal (inode 8) sized as mke2fs would for the image.
   * @default {false}
   */
  journal?: boolean;
  /**
   * An open file to write into (at its start) instead of creating `path`, e.g. an output's
   * temporary or a block device (`OutputFile.file`). It is left open: its owner closes it.
   * @default {`path`, created}
   */
  file?: Deno.FsFile;
  /**
   * Whether the file reads as zeros where nothing was written (a new file): the empty space is
   * left as holes and the inode tables are marked zeroed. `false` for a block device, which holds
   * old bytes: the unused part of each inode table is left for the kernel to zero (as
   * `mke2fs -E lazy_itable_init` does), the file is not truncated, and an image larger than the
   * device is an error.
   * @default {true}
   */
  zeroed?: boolean;
}

/** What {@linkcode Ext4Writer.finish} returns. */
export interface Ext4WriterResult {
  /** The image size in bytes. */
  size: number;
  /** Blocks of 4 KiB in the file system. */
  blocks: number;
  /** Free blocks. */
  freeBlocks: number;
  /** Inodes in use (the reserved ones included). */
  inodes: number;
}

const DEFAULT_MAX_SIZE = 2 ** 40;

/**
 * Builds an ext4 file system image from layers applied in order, with the directory unpack's
 * rules (whiteouts, the path guard, hardlinks inside the tree).
 *
 * The image: 4 KiB blocks, 256-byte inodes (32-bit owners, nanosecond times, xattrs in the inode
 * when they fit, else in a block), extents (with index blocks when a file has more than four),
 * linear directories of any size, `metadata_csum` (crc32c) on every structure, `lost+found`, no
 * journal unless asked. Owners, modes, times, device numbers and xattrs are the layers' own,
 * whoever runs skiff. All-zero blocks of a file are left as holes.
 *
 * The file is created (it must not exist) and written in one pass: content from block `1 +
 * descriptors` on as it arrives, then the metadata behind it. On failure call
 * {@linkcode Ext4Writer.close} and remove the file.
 *
 * @example Write an image of one directory
 * ```ts
 * import { Ext4Writer } from "./ext4_writer.ts";
 * import assert from "node:assert/strict";
 *
 * // a one-entry tar: the directory "etc/"
 * const header = new Uint8Array(512);
 * const put = (at: number, s: string) => header.set(new TextEncoder().encode(s), at);
 * put(0, "etc/");
 * put(100, "0000755\0");
 * put(124, "00000000000\0");
 * put(136, "00000000000\0");
 * put(156, "5");
 * put(257, "ustar\x0000");
 * put(148, "        ");
 * put(148, header.reduce((a, b) => a + b, 0).toString(8).padStart(6, "0") + "\0 ");
 *
 * const dir = await Deno.makeTempDir();
 * const writer = new Ext4Writer(`${dir}/root.ext4`, { seed: "sha256:example" });
 * await writer.applyLayer((async function* () {
 *   yield header;
 * })());
 * const result = writer.finish();
 * const image = await Deno.readFile(`${dir}/root.ext4`);
 * assert.equal(image.byteLength, result.size);
 * assert.equal(new DataView(image.buffer).getUint16(1024 + 0x38, true), 0xef53); // ext4 magic
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Ext4Writer {
  /** The image file. */
  readonly path: string;
  /** Device nodes skipped: always 0 (an image holds them whoever runs skiff). */
  readonly skippedDevices = 0;

  #file: Deno.FsFile;
  #store: Ext4DataStore;
  #tree: LayerTree<Ext4Data>;
  #dataStart: number;
  #options: Ext4WriterOptions;
  #closed = false;

  /**
   * Creates the image file (it must not exist), or takes `options.file`.
   *
   * @param path The image file (with `options.file`: its name, for messages).
   * @param options Limits, size, the seed, an open file.
   * @throws {RangeError} When `size` or `free` is not a whole number of 4 KiB blocks.
   * @throws {Error} When the file exists or cannot be created.
   */
  constructor(path: string, options: Ext4WriterOptions = {}) {
    for (const [what, n] of [["size", options.size], ["free", options.free]] as const) {
      const problem = n === undefined ? undefined : Ext4Writer.sizeProblem(n);
      if (problem) throw new RangeError(`Cannot write an ext4 image: ${what} ${problem}`);
    }
    this.path = path;
    this.#options = options;
    this.#dataStart = 1 + gdtBlocksFor(options.size ?? DEFAULT_MAX_SIZE + (options.free ?? 0));
    try {
      this.#file = options.file ??
        Deno.openSync(path, { write: true, createNew: true, mode: 0o644 });
    } catch (e) {
      throw new Error(`Cannot create the ext4 image ${path}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    this.#file.seekSync(this.#dataStart * BLOCK_SIZE, Deno.SeekMode.Start);
    this.#store = new Ext4DataStore(this.#file, this.#dataStart);
    this.#tree = new LayerTree({
      ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}),
    });
  }

  /**
   * Why a number of bytes cannot be an image's `size` or `free`, or undefined when it can: it
   * must be a whole number of 4 KiB blocks, so that the image is exactly the size asked for.
   *
   * @param bytes The size or free space asked for.
   * @returns The problem, as words to follow the number (`10000 is not ...`), or undefined.
   *
   * @example A size that is not whole blocks
   * ```ts
   * import { Ext4Writer } from "./ext4_writer.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(Ext4Writer.sizeProblem(2 * 1024 ** 3), undefined);
   * assert.equal(
   *   Ext4Writer.sizeProblem(10000),
   *   "10000 is not a whole number of 4 KiB blocks (8192 or 12288 would be)",
   * );
   * ```
   */
  static sizeProblem(bytes: number): string | undefined {
    if (!Number.isSafeInteger(bytes) || bytes < 0) return `${bytes} is not a number of bytes`;
    if (bytes % BLOCK_SIZE === 0) return undefined;
    const below = bytes - (bytes % BLOCK_SIZE);
    return `${bytes} is not a whole number of 4 KiB blocks (${below > 0 ? `${below} or ` : ""}${
      below + BLOCK_SIZE
    } would be)`;
  }

  /** Entries read so far (whiteouts included). */
  get entries(): number {
    return this.#tree.entries;
  }

  /** Whiteouts applied so far. */
  get whiteouts(): number {
    return this.#tree.whiteouts;
  }

  /** Bytes of file content read so far. */
  get bytes(): number {
    return this.#store.bytes;
  }

  /**
   * Applies one layer's tar stream (uncompressed) on top of what is there; its file content is
   * written to the image as it comes.
   *
   * @param tar The tar bytes, in chunks.
   * @param options Abort signal.
   * @throws {Error} When the tar is malformed or truncated, an entry is hostile, a limit is
   * passed, or the file system refuses the write.
   */
  async applyLayer(
    tar: AsyncIterable<Uint8Array>,
    options: ApplyLayerOptions = {},
  ): Promise<void> {
    await applyLayer(tar, this.#tree, this.#store, options);
  }

  /**
   * Writes the metadata (directories, inode tables, bitmaps, group descriptors, superblock) and
   * closes the file it created.
   *
   * @returns The image's size and counts.
   * @throws {Error} When the tree does not fit the `size`, or cannot be an ext4 file system (a
   * name over 255 bytes, more than 65000 links to a file, an xattr outside the namespaces ext4
   * stores).
   */
  finish(): Ext4WriterResult {
    try {
      this.#tree.finish();
      this.#store.flush();
      const seed = createHash("sha256").update(`skiff ext4 ${this.#options.seed ?? ""}`).digest();
      const bytes = new Uint8Array(seed.buffer, seed.byteOffset, 32).slice();
      bytes[6] = (bytes[6]! & 0x0f) | 0x40; // a version 4 UUID (random-looking, yet derived)
      bytes[8] = (bytes[8]! & 0x3f) | 0x80;
      const result = writeExt4Image(this.#file, this.#tree.root, {
        dataStart: this.#dataStart,
        dataEnd: this.#store.next,
        seed: bytes,
        ...(this.#options.size !== undefined ? { size: this.#options.size } : {}),
        ...(this.#options.free !== undefined ? { free: this.#options.free } : {}),
        ...(this.#options.journal ? { journal: true } : {}),
        ...(this.#options.zeroed === false ? { zeroed: false } : {}),
      });
      return result;
    } catch (e) {
      throw new Error(`Cannot write the ext4 image: ${(e as Error).message}`, { cause: e });
    } finally {
      this.close();
    }
  }

  /** Closes the file it created (after a failure; the caller removes it); one it was given stays open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#options.file === undefined) this.#file.close();
  }
}

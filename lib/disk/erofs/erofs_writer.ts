/**
 * Layers into an EROFS image file, written by skiff itself: no mkfs, no mount, no root. Owners,
 * modes, times, device numbers and xattrs are what the layers say, whoever runs it.
 *
 * @module
 */

import { type ErofsData, ErofsDataStore } from "./_erofs_data.ts";
import { BLOCK } from "./_erofs_format.ts";
import { writeErofsMetadata } from "./_erofs_image.ts";
import { ImageFile } from "./_image_file.ts";
import { imageDigest } from "../file_digest.ts";
import { applyLayer } from "../../layer/apply_layer.ts";
import { LayerTree, overlayWhiteouts } from "../../layer/layer_tree.ts";

/** Options for {@linkcode ErofsWriter}. */
export interface ErofsWriterOptions {
  /**
   * The most entries (whiteouts included) all layers together may have.
   * @default {1000000}
   */
  maxEntries?: number;
  /**
   * The volume UUID (16 bytes); derive it from the image (e.g. its manifest digest) so that the
   * same image gives the same bytes.
   * @default {16 zero bytes}
   */
  uuid?: Uint8Array;
  /**
   * The most bytes of file tails (the last partial block of each file) held in memory to be
   * inlined beside their inodes; past it, tails take a whole block in the data area.
   * @default {33554432}
   */
  inlineBudget?: number;
  /**
   * `apply`: a flattened root filesystem. `overlay`: whiteouts kept as overlayfs reads them
   * (0:0 character devices, `trusted.overlay.opaque=y`), for one image per layer.
   * @default {"apply"}
   */
  whiteouts?: "apply" | "overlay";
  /**
   * An open file to write into (readable too, at its start) instead of creating `path`, e.g. an
   * output's temporary or a block device (`OutputFile.file`). It is left open: its owner closes
   * it.
   * @default {`path`, created}
   */
  file?: Deno.FsFile;
}

/** Options for {@linkcode ErofsWriter.applyLayer}. */
export interface ErofsApplyOptions {
  /** Stops between chunks; the file is left for the caller to remove. */
  signal?: AbortSignal;
}

/** What {@linkcode ErofsWriter.finish} made. */
export interface ErofsImage {
  /** The image's size in bytes (a whole number of 4 KiB blocks). */
  size: number;
  /** The image's SHA-256, `sha256:<hex>`. */
  digest: string;
  /** Inodes in the image. */
  inodes: number;
  /** Inodes that needed the 64-byte (extended) form: their own mtime, large ids or sizes. */
  extendedInodes: number;
}

/**
 * Writes an uncompressed EROFS image (4 KiB blocks) from layers applied in order.
 *
 * The layers go into an in-memory {@linkcode LayerTree} (the layer rules every sink follows); file content streams into the image as it arrives, each file contiguous from a block
 * boundary, its last partial block kept to be inlined after its inode when it fits. At
 * {@linkcode ErofsWriter.finish} the metadata follows the data: directory blocks (sorted entries,
 * as many blocks as they need), then the inodes (compact when the node has the image's most common
 * mtime and small ids, else extended), each with its xattrs and inline data in one block, then the
 * superblock and root inode in block 0.
 *
 * Output is deterministic: the same layers and options give the same bytes.
 *
 * @example Write an image from one layer
 * ```ts
 * import { ErofsWriter } from "./erofs_writer.ts";
 * import assert from "node:assert/strict";
 *
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
 * const writer = new ErofsWriter(`${dir}/rootfs.erofs`);
 * await writer.applyLayer((async function* () {
 *   yield header;
 * })());
 * await writer.finish();
 * assert.equal(writer.image?.size, 8192); // block 0 (superblock, root), one block of inodes
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class ErofsWriter {
  /** The image file. */
  readonly path: string;
  /** Device nodes skipped: always 0 (an image holds them whoever runs skiff). */
  readonly skippedDevices = 0;
  /** Xattrs EROFS cannot name (not user., trusted., security. or a POSIX ACL), left out. */
  skippedXattrs = 0;
  /** The image, once {@linkcode ErofsWriter.finish} made it. */
  image: ErofsImage | undefined;

  #file: Deno.FsFile | undefined;
  /** Whether the writer created the file (and closes it). */
  #owned: boolean;
  #out: ImageFile;
  #tree: LayerTree<ErofsData>;
  #store: ErofsDataStore;
  #uuid: Uint8Array;

  /**
   * Creates the image file (it must not exist), or takes `options.file`, and reserves its first
   * block.
   *
   * @param path The file to create (with `options.file`: its name, for messages).
   * @param options Limits, UUID, inline budget, an open file.
   * @throws {Deno.errors.AlreadyExists} When the file exists.
   */
  constructor(path: string, options: ErofsWriterOptions = {}) {
    this.path = path;
    this.#uuid = options.uuid ?? new Uint8Array(16);
    if (this.#uuid.length !== 16) throw new RangeError("Cannot use the uuid: expected 16 bytes");
    this.#owned = options.file === undefined;
    this.#file = options.file ??
      Deno.openSync(path, { read: true, write: true, createNew: true, mode: 0o644 });
    this.#out = new ImageFile(this.#file, BLOCK);
    void this.#out.put(new Uint8Array(BLOCK)); // block 0: superblock and root, written last
    this.#store = new ErofsDataStore(this.#out, options.inlineBudget ?? 32 * 1024 * 1024);
    this.#tree = new LayerTree(
      options.whiteouts === "overlay"
        ? { ...limit(options), convertWhiteout: overlayWhiteouts, scope: "layer" }
        : limit(options),
    );
  }

  /** Entries read so far (whiteouts included). */
  get entries(): number {
    return this.#tree.entries;
  }

  /** Whiteouts applied so far. */
  get whiteouts(): number {
    return this.#tree.whiteouts;
  }

  /** Bytes of file content written so far. */
  get bytes(): number {
    return this.#store.bytes;
  }

  /**
   * Applies one layer's tar stream (uncompressed) on top of what is there.
   *
   * @param tar The tar bytes, in chunks.
   * @param options Abort signal.
   * @throws {Error} When the tar is malformed or truncated, an entry is hostile, a limit is
   * passed, or the file cannot be written.
   */
  applyLayer(tar: AsyncIterable<Uint8Array>, options: ErofsApplyOptions = {}): Promise<void> {
    if (!this.#file) throw new Error(`Cannot write ${this.path}: the writer is closed`);
    return applyLayer(tar, this.#tree, this.#store, options);
  }

  /**
   * Writes the metadata (directories, inodes, superblock), hashes the image (read back: its
   * first block is written last) and closes the file it created.
   *
   * @throws {Error} When a name or xattr does not fit EROFS, or the file cannot be written.
   */
  async finish(): Promise<void> {
    if (!this.#file) throw new Error(`Cannot write ${this.path}: the writer is closed`);
    try {
      const { skippedXattrs, ...made } = await writeErofsMetadata(
        this.#tree,
        this.#out,
        this.#uuid,
      );
      this.skippedXattrs = skippedXattrs;
      // only the image's bytes: a block device goes on after them
      this.image = { ...made, digest: await imageDigest(this.#file, made.size) };
    } finally {
      this.close();
    }
  }

  /**
   * Closes the file it created (after a failure; the caller removes it); one it was given stays
   * open. Safe to call twice.
   */
  close(): void {
    try {
      if (this.#owned) this.#file?.close();
    } catch {
      // closed already
    }
    this.#file = undefined;
  }
}

function limit(options: ErofsWriterOptions): { maxEntries?: number } {
  return options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries };
}

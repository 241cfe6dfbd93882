/**
 * The unpack's sink for disk images: the layers into an EROFS or ext4 image file written by skiff
 * itself ({@linkcode ErofsWriter}, {@linkcode Ext4Writer}), beside the target, linked into place
 * only when every layer was applied and verified; or into a block device.
 *
 * @module
 */

import { volumeUuid } from "../disk/volume_uuid.ts";
import { OutputFile, type OutputFileOptions } from "../store/output_file.ts";
import type { ErofsWriter } from "../disk/erofs/erofs_writer.ts";
import type { Ext4Writer } from "../disk/ext4/ext4_writer.ts";
import type { ApplyLayerOptions, UnpackSink } from "./sink.ts";

/** A disk image's output: a new file (never over one), or a block device; it seeks. */
const OUTPUT: OutputFileOptions = {
  action: "unpack into",
  existing: "refuse",
  seeks: "a disk image",
  parents: true,
  kind: "unpack",
};

/** Options for {@linkcode DiskImageSink.create}. */
export interface DiskImageSinkOptions {
  /**
   * The most entries (whiteouts included) all layers together may have.
   * @default {1000000}
   */
  maxEntries?: number;
  /** The image manifest's digest: the volume UUID (and ext4's hash seed) derive from it. */
  digest: string;
  /** The image's canonical reference, for messages. */
  reference?: string;
  /**
   * ext4: the image's size in bytes.
   * @default {what the tree needs, plus `free`}
   */
  size?: number;
  /**
   * ext4: free bytes beyond what the tree needs.
   * @default {0}
   */
  free?: number;
  /**
   * ext4: an (empty) journal.
   * @default {false}
   */
  journal?: boolean;
  /** Aborts the read-back of the finished image (its digest). */
  signal?: AbortSignal;
  /**
   * The store the image comes from: the temporary file is noted there, so that its garbage
   * collection removes one a killed unpack left.
   * @default {undefined}
   */
  store?: { readonly path: string };
}

/**
 * Writes the layers into an EROFS or ext4 image file.
 *
 * The file is written as a hidden, locked `.<name>.skiff-unpack-<id>` beside the target (beside
 * what a symlink points to) and, when {@linkcode DiskImageSink.finish} has written the metadata,
 * linked to the target (a link, unlike a rename, never replaces a file that appeared there
 * meanwhile) and its temporary name removed. {@linkcode DiskImageSink.abort} removes it; one a
 * killed unpack left is removed by the next unpack into the same place. A block device is written
 * into (the image at its start); a FIFO, a character device, a directory or an existing file is
 * refused.
 *
 * @example Refuse a target that exists
 * ```ts
 * import { DiskImageSink } from "./disk_image_sink.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/taken.erofs`, "");
 * await assert.rejects(() => DiskImageSink.checkTarget(`${dir}/taken.erofs`), /it exists/);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class DiskImageSink implements UnpackSink {
  /** `erofs` or `ext4`. */
  readonly format: "erofs" | "ext4";
  /** The image file's path once finished. */
  readonly target: string;
  /** Where it is written until then (a block device: the device). */
  readonly temp: string;
  /**
   * The finished image: its size and SHA-256 (`sha256:<hex>`); an ext4 image with `size` or
   * `free` has no digest (its empty space would cost a second a GiB to hash).
   */
  image: { size: number; digest?: string } | undefined;
  #erofs: ErofsWriter | undefined;
  #ext4: Ext4Writer | undefined;
  #output: OutputFile;
  #signal: AbortSignal | undefined;
  #what = "";
  /** An ext4 image with `size` or `free`: mostly empty space, not hashed. */
  #sized = false;

  private constructor(
    format: "erofs" | "ext4",
    output: OutputFile,
    writer: { erofs?: ErofsWriter; ext4?: Ext4Writer },
    signal: AbortSignal | undefined,
  ) {
    this.format = format;
    this.target = output.path;
    this.temp = output.temp ?? output.path;
    this.#output = output;
    this.#erofs = writer.erofs;
    this.#ext4 = writer.ext4;
    this.#signal = signal;
  }

  /**
   * Refuses a target that cannot take a disk image: an existing file (a disk image is written
   * beside it and linked into place, never over a file), a directory, a FIFO, a character
   * device or a socket. Absent (or a symlink to nothing yet) and a block device are fine.
   * @param path The image file's path.
   * @returns Resolves when it can take the image.
   * @throws {Error} `Cannot unpack into <path>: ...`.
   */
  static async checkTarget(path: string): Promise<void> {
    await OutputFile.check(path, OUTPUT);
  }

  /**
   * Opens the writer for `format` on a temporary file beside `target` (or on the block device it
   * is).
   * @param format `erofs` or `ext4`.
   * @param target The image file's path (absent, or a block device).
   * @param options Limits, the manifest digest, ext4's size, free space and journal, the store.
   * @returns The sink.
   */
  static async create(
    format: "erofs" | "ext4",
    target: string,
    options: DiskImageSinkOptions,
  ): Promise<DiskImageSink> {
    const maxEntries = options.maxEntries ?? 1_000_000;
    // loaded only now: node:fs and node:crypto cost start-up time to every other command
    const { ErofsWriter } = format === "erofs" ? await import("../disk/erofs/erofs_writer.ts") : {};
    const { Ext4Writer } = format === "ext4" ? await import("../disk/ext4/ext4_writer.ts") : {};
    const output = await OutputFile.open(target, {
      ...OUTPUT,
      ...(options.store ? { store: options.store } : {}),
    });
    try {
      const path = output.temp ?? target;
      const { file } = output;
      const writer = ErofsWriter
        ? {
          erofs: new ErofsWriter(path, {
            maxEntries,
            uuid: await volumeUuid(options.digest),
            file,
          }),
        }
        : {
          ext4: new Ext4Writer!(path, {
            maxEntries,
            seed: options.digest,
            file,
            // a block device holds old bytes where nothing is written
            ...(output.temp === undefined ? { zeroed: false } : {}),
            ...(options.size !== undefined ? { size: options.size } : {}),
            ...(options.free !== undefined ? { free: options.free } : {}),
            ...(options.journal ? { journal: true } : {}),
          }),
        };
      const sink = new DiskImageSink(format, output, writer, options.signal);
      sink.#what = options.reference ?? target;
      sink.#sized = format === "ext4" &&
        (options.size !== undefined || options.free !== undefined);
      return sink;
    } catch (e) {
      await output.abort();
      throw e;
    }
  }

  get #writer(): ErofsWriter | Ext4Writer {
    return (this.#erofs ?? this.#ext4)!;
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
  /** Device nodes skipped (none: an image holds them whoever runs skiff). */
  get skippedDevices(): number {
    return this.#writer.skippedDevices;
  }

  /**
   * Applies one layer: metadata into the tree, file content into the image as it comes.
   * @param tar The layer's uncompressed tar.
   * @param options Abort signal.
   * @returns Resolves once applied.
   */
  applyLayer(tar: AsyncIterable<Uint8Array>, options: ApplyLayerOptions = {}): Promise<void> {
    return this.#writer.applyLayer(tar, options);
  }

  /**
   * Writes the metadata, reads the image back for its digest, and links it into place (a block
   * device: syncs it).
   * @returns Resolves once the image is at the target.
   * @throws {Error} When the tree does not fit (`--size`, a block device), or a file appeared at
   * the target.
   */
  async finish(): Promise<void> {
    try {
      if (this.#erofs) {
        await this.#erofs.finish();
        const image = this.#erofs.image!;
        this.image = { size: image.size, digest: image.digest };
      } else {
        const { size } = this.#ext4!.finish();
        const { imageDigest } = await import("../disk/file_digest.ts"); // node:crypto: only now
        this.image = this.#sized
          ? { size }
          : { size, digest: await imageDigest(this.#output.file, size, this.#signal) };
      }
    } catch (e) {
      if (this.#signal?.aborted) throw this.#signal.reason;
      const message = (e as Error).message.replace(/^Cannot /, "cannot ");
      throw new Error(`Cannot unpack ${this.#what}: ${message}`, { cause: e });
    }
    this.#signal?.throwIfAborted();
    await this.#output.commit();
  }

  /**
   * Closes the writer and removes the temporary file (a block device keeps what was written).
   * @returns Resolves once removed.
   */
  async abort(): Promise<void> {
    try {
      this.#writer.close();
    } catch {
      // already closed
    }
    await this.#output.abort();
  }
}

/**
 * The unpack's sink for disk images: the layers into an EROFS or ext4 image file written by skiff
 * itself ({@linkcode ErofsWriter}, {@linkcode Ext4Writer}), beside the target, linked into place
 * only when every layer was applied and verified.
 *
 * @module
 */

import type { ErofsWriter } from "./erofs_writer.ts";
import type { Ext4Writer } from "./ext4_writer.ts";
import type { ApplyLayerOptions, UnpackSink } from "./sink.ts";

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
}

/**
 * Writes the layers into an EROFS or ext4 image file.
 *
 * The file is written as a hidden `.<name>.skiff-unpack-<uuid>` beside the target and, when
 * {@linkcode DiskImageSink.finish} has written the metadata, linked to the target (a link, unlike
 * a rename, never replaces a file that appeared there meanwhile) and its temporary name removed.
 * {@linkcode DiskImageSink.abort} removes it.
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
  /** Where it is written until then. */
  readonly temp: string;
  /**
   * The finished image: its size and SHA-256 (`sha256:<hex>`); an ext4 image with `size` or
   * `free` has no digest (its empty space would cost a second a GiB to hash).
   */
  image: { size: number; digest?: string } | undefined;
  #erofs: ErofsWriter | undefined;
  #ext4: Ext4Writer | undefined;
  #signal: AbortSignal | undefined;
  #what = "";
  /** An ext4 image with `size` or `free`: mostly empty space, not hashed. */
  #sized = false;

  private constructor(
    format: "erofs" | "ext4",
    target: string,
    temp: string,
    writer: { erofs?: ErofsWriter; ext4?: Ext4Writer },
    signal: AbortSignal | undefined,
  ) {
    this.format = format;
    this.target = target;
    this.temp = temp;
    this.#erofs = writer.erofs;
    this.#ext4 = writer.ext4;
    this.#signal = signal;
  }

  /**
   * Refuses a target that exists: a disk image is written beside it and linked into place.
   * @param path The image file's path.
   * @returns Resolves when it is absent.
   * @throws {Error} When something is there, or it cannot be looked at.
   */
  static async checkTarget(path: string): Promise<void> {
    try {
      await Deno.lstat(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw new Error(`Cannot unpack into ${path}: ${(e as Error).message}`, { cause: e });
    }
    throw new Error(`Cannot unpack into ${path}: it exists`);
  }

  /**
   * Opens the writer for `format` on a temporary file beside `target`.
   * @param format `erofs` or `ext4`.
   * @param target The image file's path (absent).
   * @param options Limits, the manifest digest, ext4's size, free space and journal.
   * @returns The sink.
   */
  static async create(
    format: "erofs" | "ext4",
    target: string,
    options: DiskImageSinkOptions,
  ): Promise<DiskImageSink> {
    const slash = target.lastIndexOf("/");
    const parent = slash === -1 ? "." : slash === 0 ? "/" : target.slice(0, slash);
    const base = target.slice(slash + 1);
    await Deno.mkdir(parent, { recursive: true });
    const temp = `${parent}/.${base}.skiff-unpack-${crypto.randomUUID()}`;
    const maxEntries = options.maxEntries ?? 1_000_000;
    if (format === "erofs") {
      // loaded only now: node:fs and node:crypto cost start-up time to every other command
      const { ErofsWriter } = await import("./erofs_writer.ts");
      const erofs = new ErofsWriter(temp, { maxEntries, uuid: await imageUuid(options.digest) });
      const sink = new DiskImageSink(format, target, temp, { erofs }, options.signal);
      sink.#what = options.reference ?? target;
      return sink;
    }
    const { Ext4Writer } = await import("./ext4_writer.ts");
    const ext4 = new Ext4Writer(temp, {
      maxEntries,
      seed: options.digest,
      ...(options.size !== undefined ? { size: options.size } : {}),
      ...(options.free !== undefined ? { free: options.free } : {}),
      ...(options.journal ? { journal: true } : {}),
    });
    const sink = new DiskImageSink(format, target, temp, { ext4 }, options.signal);
    sink.#what = options.reference ?? target;
    sink.#sized = options.size !== undefined || options.free !== undefined;
    return sink;
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
   * Writes the metadata, reads the image back for its digest, and links it into place.
   * @returns Resolves once the image is at the target.
   * @throws {Error} When the tree does not fit (`--size`), or a file appeared at the target.
   */
  async finish(): Promise<void> {
    try {
      if (this.#erofs) {
        await this.#erofs.finish();
        const image = this.#erofs.image!;
        this.image = { size: image.size, digest: image.digest };
      } else {
        const { size } = this.#ext4!.finish();
        const { fileDigest } = await import("./_file_digest.ts"); // node:crypto: only now
        this.image = this.#sized
          ? { size }
          : { size, digest: await fileDigest(this.temp, this.#signal) };
      }
    } catch (e) {
      if (this.#signal?.aborted) throw this.#signal.reason;
      const message = (e as Error).message.replace(/^Cannot /, "cannot ");
      throw new Error(`Cannot unpack ${this.#what}: ${message}`, { cause: e });
    }
    this.#signal?.throwIfAborted();
    try {
      await Deno.link(this.temp, this.target);
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new Error(`Cannot unpack into ${this.target}: it exists`, { cause: e });
      }
      throw e;
    }
    await Deno.remove(this.temp);
  }

  /**
   * Closes the writer and removes the temporary file.
   * @returns Resolves once removed.
   */
  async abort(): Promise<void> {
    try {
      this.#writer.close();
    } catch {
      // already closed
    }
    await Deno.remove(this.temp).catch(() => {});
  }
}

/** The volume UUID of an image's disk image: from its manifest digest, so runs agree. */
async function imageUuid(digest: string): Promise<Uint8Array> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`skiff ${digest}`));
  const uuid = new Uint8Array(hash, 0, 16).slice();
  uuid[6] = (uuid[6]! & 0x0f) | 0x80; // version 8: custom
  uuid[8] = (uuid[8]! & 0x3f) | 0x80; // RFC 9562 variant
  return uuid;
}

/**
 * The unpack into a directory: an image from the store (pulled while it is unpacked when
 * missing) -> its layers in order, each verified while it streams -> a root filesystem in a
 * directory that appears only when complete.
 *
 * @module
 */

import type { Reference } from "../reference/parse_reference.ts";
import { DirectorySink } from "./directory_sink.ts";
import { unpackImage, type UnpackImageOptions } from "./unpack_image.ts";

/** Options for {@linkcode unpack}. */
export interface UnpackOptions extends UnpackImageOptions {
  /**
   * Set owners from the image and make device nodes; both need root. Otherwise files belong to
   * the caller and device nodes are skipped (and counted).
   * @default {true when running as root}
   */
  owners?: boolean;
}

/** What {@linkcode unpack} returns. */
export interface UnpackResult {
  /** The canonical reference, e.g. `docker.io/library/alpine:3.20`. */
  reference: string;
  /** The digest of the stored image manifest that was unpacked. */
  digest: string;
  /** The directory holding the root filesystem. */
  dir: string;
  /** The number of layers applied. */
  layers: number;
  /** Tar entries read, whiteouts included. */
  entries: number;
  /** Whiteouts applied. */
  whiteouts: number;
  /** Bytes of file content written. */
  bytes: number;
  /** Device nodes skipped because the caller may not make them (not root, or `owners: false`). */
  skippedDevices: number;
  /** Whether the image was pulled (while it was unpacked). */
  pulled: boolean;
}

/**
 * Unpacks an image into a directory as a root filesystem, the way a container runtime builds it.
 *
 * The image comes from the store; when the store does not have it, it is pulled and unpacked at
 * once (each layer applied while it downloads, see {@linkcode unpackImage}). Each layer is read
 * once, as a stream: its blob is checked against its digest, decompressed (gzip,
 * zstd or plain tar), checked against the config's `rootfs.diff_ids`, and its tar entries are
 * written as they come. OCI whiteouts delete what lower layers put there. No entry can write
 * outside the directory: `..` above the root is refused, absolute names and symlinks (even those
 * the image planted) are resolved inside the root, and hardlinks must point inside it.
 *
 * The root filesystem is built in a hidden temporary directory beside `dir` and renamed to `dir`
 * only once every layer was applied and verified; on any failure the temporary directory is
 * removed and `dir` is left as it was.
 *
 * @param reference The image, e.g. `alpine:3.20` or `127.0.0.1:5000/team/app@sha256:...`.
 * @param dir The target directory: it must be absent or empty.
 * @param options Store, platform, limits, pull options, progress and signal.
 * @returns What was unpacked.
 * @throws {SyntaxError} When the reference or platform is malformed.
 * @throws {DigestMismatchError} When a layer or its tar does not match its digest.
 * @throws {Error} When `dir` is not empty, a layer is malformed or hostile, or a limit is passed.
 *
 * @example Unpack an image into a directory
 * ```ts ignore
 * import { unpack } from "./unpack.ts";
 *
 * const result = await unpack("alpine:3.20", "./rootfs", { store: "./images" });
 * console.log(`${result.entries} entries from ${result.layers} layers in ${result.dir}`);
 * ```
 */
export async function unpack(
  reference: string | Reference,
  dir: string,
  options: UnpackOptions = {},
): Promise<UnpackResult> {
  const target = await DirectorySink.checkTarget(dir);
  const { owners, ...rest } = options;
  const result = await unpackImage(
    reference,
    (image) =>
      DirectorySink.create(target, {
        maxEntries: image.maxEntries,
        ...(owners !== undefined ? { owners } : {}),
      }),
    rest,
  );
  return { ...result, dir: target };
}

/**
 * The unpack: an image from the store (pulled while it is unpacked when missing) -> its layers in
 * order, each verified while it streams -> a root filesystem in a directory, or an EROFS or ext4
 * image file, that appears only when complete.
 *
 * @module
 */

import { pull } from "../pull/pull.ts";
import type { Reference } from "../reference/parse_reference.ts";
import { hostPlatform, normalizePlatform, parsePlatform } from "../oci/choose_platform.ts";
import { ImageId, resolveImageId, storedImageRef } from "../store/resolve_stored_image.ts";
import { resolveOutput } from "../store/output_file.ts";
import { Store } from "../store/store.ts";
import { DirectorySink } from "./directory_sink.ts";
import { DiskImageSink } from "./disk_image_sink.ts";
import { unpackImage, type UnpackImageOptions, type UnpackImageResult } from "./unpack_image.ts";

/** Options for {@linkcode unpack}. */
export interface UnpackOptions extends UnpackImageOptions {
  /**
   * Set owners from the image and make device nodes; both need root. Otherwise files belong to
   * the caller and device nodes are skipped (and counted). Disk images always carry the image's.
   * @default {true when running as root}
   */
  owners?: boolean;
  /**
   * `directory`: a root filesystem in a directory; `erofs` or `ext4`: an image file written by
   * skiff itself (no mkfs, no mount, no root: owners, device nodes and xattrs are the image's,
   * whoever runs it; `owners` does not apply).
   * @default {"directory"}
   */
  format?: "directory" | "erofs" | "ext4";
  /**
   * An ext4 image's size in bytes, a whole number of 4 KiB blocks (it fails when the tree does
   * not fit). Its empty space costs no time; the image's digest is then not computed.
   * @default {what the tree needs, plus `free`}
   */
  size?: number;
  /**
   * Bytes of free space an ext4 image gets beyond what the tree needs, a whole number of 4 KiB
   * blocks; the image's digest is then not computed.
   * @default {0}
   */
  free?: number;
  /**
   * Give an ext4 image an (empty) journal.
   * @default {false}
   */
  journal?: boolean;
  /**
   * With `format: "erofs"`: one image per layer in the directory `dir`, named by the layer's
   * diff_id (`sha256-<hex>.erofs`) and reused when there, whiteouts kept as overlayfs reads them,
   * to be stacked with overlayfs (see {@linkcode UnpackResult.layerImages}). The image is taken
   * from the store (pulled first when missing), not streamed.
   * @default {false}
   */
  layers?: boolean;
}

/** What {@linkcode unpack} returns: what the pipeline returns, and what was written. */
export interface UnpackResult extends UnpackImageResult {
  /** The directory holding the root filesystem (for a disk image: the image file). */
  dir: string;
  /** What was written. */
  format: "directory" | "erofs" | "ext4";
  /**
   * For a disk image: its size in bytes and its SHA-256 (`sha256:<hex>`); no digest for an ext4
   * image with `size` or `free` (hashing its empty space would cost a second a GiB).
   */
  image?: { size: number; digest?: string };
  /**
   * With `layers`: the layers' images, base first (overlayfs's `lowerdir` lists their mounts in
   * the reverse order, top first).
   */
  layerImages?: { diffId: string; path: string; size: number; reused: boolean }[];
}

/**
 * Unpacks an image into a directory as a root filesystem, the way a container runtime builds it,
 * or into an EROFS or ext4 image file.
 *
 * The image comes from the store; when the store does not have it, it is pulled and unpacked at
 * once (each layer applied while it downloads, see {@linkcode unpackImage}). Each layer is read
 * once, as a stream: its blob is checked against its digest, decompressed (gzip, zstd or plain
 * tar), checked against the config's `rootfs.diff_ids`, and its tar entries are written as they
 * come. OCI whiteouts delete what lower layers put there. No entry can write outside the
 * directory: `..` above the root is refused, absolute names and symlinks (even those the image
 * planted) are resolved inside the root, and hardlinks must point inside it.
 *
 * A directory is built in a hidden temporary directory beside `dir` and renamed to `dir` only
 * once every layer was applied and verified; when `dir` is an existing empty directory (`.`, a
 * mount point), it is built in a hidden directory inside `dir` whose entries are moved into it at
 * the end. A disk image is written beside its file and linked into place. On any failure the
 * temporary tree or file is removed and the target is left as it was; one that a killed unpack
 * left behind is removed by the next unpack into the same place (and by `collectGarbage`).
 *
 * @param reference The image, e.g. `alpine:3.20` or `127.0.0.1:5000/team/app@sha256:...`.
 * @param dir The target directory (absent or empty), or the image file (absent).
 * @param options Store, platform, format, limits, pull options, progress and signal.
 * @returns What was unpacked.
 * @throws {SyntaxError} When the reference or platform is malformed.
 * @throws {DigestMismatchError} When a layer or its tar does not match its digest.
 * @throws {Error} When `dir` is not empty, a layer is malformed or hostile, or a limit is passed.
 *
 * @example Unpack an image into a directory, and into an EROFS image
 * ```ts ignore
 * import { unpack } from "./unpack.ts";
 *
 * const result = await unpack("alpine:3.20", "./rootfs", { store: "./images" });
 * console.log(`${result.entries} entries from ${result.layers} layers in ${result.dir}`);
 * const erofs = await unpack("alpine:3.20", "./alpine.erofs", { format: "erofs" });
 * console.log(erofs.image?.digest);
 * ```
 */
export async function unpack(
  reference: string | Reference | ImageId,
  dir: string,
  options: UnpackOptions = {},
): Promise<UnpackResult> {
  const format = options.format ?? "directory";
  if (format !== "directory" && format !== "erofs" && format !== "ext4") {
    throw new RangeError(`Cannot unpack as "${format}": expected directory, erofs or ext4`);
  }
  const target = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
  if (options.layers) {
    if (format !== "erofs") {
      throw new RangeError(`Cannot unpack as "${format}" with layers: only erofs has them`);
    }
    return await unpackLayerImages(reference, target, options);
  }
  if (format === "ext4") {
    const { Ext4Writer } = await import("../disk/ext4/ext4_writer.ts");
    for (const [what, n] of [["size", options.size], ["free", options.free]] as const) {
      const problem = n === undefined ? undefined : Ext4Writer.sizeProblem(n);
      if (problem) throw new RangeError(`Cannot unpack as ext4: ${what} ${problem}`);
    }
  }
  if (format === "directory") await DirectorySink.checkTarget(target);
  else await DiskImageSink.checkTarget(target);
  options.signal?.throwIfAborted();
  const store = options.store instanceof Store
    ? options.store
    : await Store.open(options.store ?? Store.defaultPath());
  const { owners, format: _format, size, free, journal, layers: _layers, ...rest } = options;
  let disk: DiskImageSink | undefined;
  const result = await unpackImage(
    reference,
    async (image) => {
      if (format === "directory") {
        return await DirectorySink.create(target, store, {
          maxEntries: image.maxEntries,
          ...(owners !== undefined ? { owners } : {}),
        });
      }
      disk = await DiskImageSink.create(format, target, {
        reference: image.reference,
        maxEntries: image.maxEntries,
        digest: image.digest,
        ...(size !== undefined ? { size } : {}),
        ...(free !== undefined ? { free } : {}),
        ...(journal ? { journal: true } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        store,
      });
      return disk;
    },
    { ...rest, store },
  );
  return {
    ...result,
    dir: target,
    format,
    ...(disk?.image ? { image: disk.image } : {}),
  };
}

/** The image an ID names in the store: the platform asked for, else the host's from an index. */
async function storedById(store: Store, id: ImageId, platform: UnpackOptions["platform"]) {
  const want = platform === undefined
    ? hostPlatform()
    : typeof platform === "string"
    ? parsePlatform(platform)
    : normalizePlatform(platform);
  return await resolveImageId(
    store,
    id,
    platform === undefined ? { defaultPlatform: want } : { platform: want },
  );
}

/** `layers: true`: one EROFS image per layer, from the store (pulled first when missing). */
async function unpackLayerImages(
  reference: string | Reference | ImageId,
  target: string,
  options: UnpackOptions,
): Promise<UnpackResult> {
  // a directory, or a symlink to one (or to where one is to be made): the images go where it points
  let resolved;
  try {
    resolved = await resolveOutput(target);
  } catch (e) {
    throw new Error(`Cannot unpack into ${target}: ${(e as Error).message}`, { cause: e });
  }
  if (resolved.kind !== "directory" && resolved.kind !== "absent") {
    throw new Error(`Cannot unpack into ${target}: it is not a directory`);
  }
  const ref = storedImageRef(reference);
  const name = ref.toString();
  const store = options.store instanceof Store
    ? options.store
    : await Store.open(options.store ?? Store.defaultPath());
  const signal = options.signal;
  const policy = options.pull ?? "missing";
  const pulled = ref instanceof ImageId
    ? { ...await storedById(store, ref, options.platform), bytesFetched: 0 }
    : await pull(ref, {
      ...options.pullOptions,
      store,
      policy: policy === "always" ? "always" : policy,
      ...(options.platform !== undefined ? { platform: options.platform } : {}),
      ...(signal ? { signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  const layers = pulled.manifest.layers;
  const diffIds = pulled.config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== layers.length) {
    throw new Error(
      `Cannot unpack ${name}: the config lists ${diffIds.length} diff_ids for ${layers.length} layers`,
    );
  }
  const { writeLayerImages } = await import("./_layer_images.ts");
  if (resolved.kind === "absent") await Deno.mkdir(resolved.target, { recursive: true });
  const made = await writeLayerImages(store, layers, diffIds, target, {
    name,
    maxEntries: options.maxEntries ?? 1_000_000,
    maxBytes: options.maxBytes ?? 64 * 1024 ** 3,
    ...(signal ? { signal } : {}),
    onLayer: (index, entries, bytes) => {
      try {
        options.onProgress?.({
          type: "layer-unpacked",
          digest: layers[index]!.digest,
          index,
          layers: layers.length,
          entries,
          bytes,
        });
      } catch {
        // a listener's failure must not break the unpack
      }
    },
  });
  return {
    reference: name,
    digest: pulled.digest,
    storedDigest: pulled.storedDigest,
    dir: target,
    format: "erofs",
    layerImages: made.images,
    layers: layers.length,
    entries: made.entries,
    whiteouts: made.whiteouts,
    bytes: made.bytes,
    skippedDevices: 0,
    pulled: pulled.bytesFetched > 0,
  };
}

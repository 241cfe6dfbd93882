/**
 * The unpack: an image from the store (pulled first when missing) -> its layers in order, each
 * verified while it streams -> a root filesystem in a directory that appears only when complete.
 *
 * @module
 */

import type { ProgressEvent, ProgressListener } from "../progress/progress_event.ts";
import { pull, type PullOptions } from "../pull/pull.ts";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { parseReference, type Reference } from "../reference/parse_reference.ts";
import {
  choosePlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
} from "../registry/choose_platform.ts";
import { layerCompression } from "../registry/media_types.ts";
import { type ImageConfig, parseImageConfig } from "../registry/parse_image_config.ts";
import { type ImageManifest, parseManifest, type Platform } from "../registry/parse_manifest.ts";
import { Store } from "../store/store.ts";

/** Options for {@linkcode unpack}. */
export interface UnpackOptions {
  /**
   * The store: a directory or an open {@linkcode Store}.
   * @default {Store.defaultPath()}
   */
  store?: string | Store;
  /**
   * The platform, `os/arch[/variant]` or an object; an image stored for another platform is
   * pulled again for this one.
   * @default {"linux/<host arch>"}
   */
  platform?: string | Platform;
  /**
   * `missing`: pull the image when the store does not have it (complete, for the platform);
   * `never`: fail instead.
   * @default {"missing"}
   */
  pull?: "missing" | "never";
  /**
   * Options for that pull: registry transport, credentials, concurrency.
   * @default {{}}
   */
  pullOptions?: Omit<PullOptions, "store" | "platform" | "signal" | "onProgress">;
  /**
   * The most tar entries (whiteouts included) of all layers together.
   * @default {1000000}
   */
  maxEntries?: number;
  /**
   * The most uncompressed tar bytes of all layers together.
   * @default {68719476736}
   */
  maxBytes?: number;
  /**
   * Set owners from the image and make device nodes; both need root. Otherwise files belong to
   * the caller and device nodes are skipped (and counted).
   * @default {true when running as root}
   */
  owners?: boolean;
  /**
   * `directory`: a root filesystem in a directory; `erofs`: an EROFS image file written by skiff
   * itself (no mkfs, no mount, no root: owners, device nodes and xattrs are the image's, whoever
   * runs it; `owners` does not apply).
   * @default {"directory"}
   */
  format?: "directory" | "erofs";
  /**
   * With `format: "erofs"`: one image per layer in the directory `dir`, named by the layer's
   * diff_id (`sha256-<hex>.erofs`) and reused when there, whiteouts kept as overlayfs reads them,
   * to be stacked with overlayfs (see {@linkcode UnpackResult.layerImages}).
   * @default {false}
   */
  layers?: boolean;
  /** Aborts the unpack (and the pull); nothing is left at the target. */
  signal?: AbortSignal;
  /** Receives the pull's progress events and one `layer-unpacked` event per layer. */
  onProgress?: ProgressListener;
}

/** What {@linkcode unpack} returns. */
export interface UnpackResult {
  /** The canonical reference, e.g. `docker.io/library/alpine:3.20`. */
  reference: string;
  /** The digest of the stored image manifest that was unpacked. */
  digest: string;
  /** The directory holding the root filesystem (for a disk image: the image file). */
  dir: string;
  /** What was written. */
  format: "directory" | "erofs";
  /** For a disk image: its size in bytes and its SHA-256 (`sha256:<hex>`). */
  image?: { size: number; digest: string };
  /**
   * With `layers`: the layers' images, base first (overlayfs's `lowerdir` lists their mounts in
   * the reverse order, top first).
   */
  layerImages?: { diffId: string; path: string; size: number; reused: boolean }[];
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
  /** Whether the image was pulled first. */
  pulled: boolean;
}

const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;

/**
 * Unpacks an image into a directory as a root filesystem, the way a container runtime builds it.
 *
 * The image comes from the store, and is pulled first when the store does not have it. Each
 * layer is read once, as a stream: its blob is checked against its digest, decompressed (gzip,
 * zstd or plain tar), checked against the config's `rootfs.diff_ids`, and its tar entries are
 * written as they come. OCI whiteouts delete what lower layers put there. No entry can write
 * outside the directory: `..` above the root is refused, absolute names and symlinks (even those
 * the image planted) are resolved inside the root, and hardlinks must point inside it.
 *
 * The root filesystem is built in a hidden temporary directory beside `dir` and renamed to `dir`
 * only once every layer was applied and verified; on any failure the temporary directory is
 * removed and `dir` is left as it was.
 *
 * With `format: "erofs"`, `dir` names an image file to make (it must not exist): the same layers,
 * whiteouts and path rules go into an EROFS image written beside it as a hidden file and linked
 * into place once every layer was verified. Its volume UUID derives from the manifest digest and
 * every time comes from the entries, so the same image gives the same bytes.
 *
 * @param reference The image, e.g. `alpine:3.20` or `127.0.0.1:5000/team/app@sha256:...`.
 * @param dir The target directory: it must be absent or empty (for a disk image, the file: it
 * must be absent).
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
 *
 * @example Unpack an image into an EROFS disk image
 * ```ts ignore
 * import { unpack } from "./unpack.ts";
 *
 * const result = await unpack("alpine:3.20", "./rootfs.erofs", { format: "erofs" });
 * console.log(`${result.image?.size} bytes, ${result.image?.digest}`);
 * ```
 */
export async function unpack(
  reference: string | Reference,
  dir: string,
  options: UnpackOptions = {},
): Promise<UnpackResult> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const name = ref.toString();
  const maxEntries = options.maxEntries ?? 1_000_000;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  for (const [what, n] of [["maxEntries", maxEntries], ["maxBytes", maxBytes]] as const) {
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new RangeError(`Cannot unpack with ${what} ${n}: expected a positive integer`);
    }
  }
  const want = options.platform === undefined
    ? hostPlatform()
    : typeof options.platform === "string"
    ? parsePlatform(options.platform)
    : normalizePlatform(options.platform);
  const signal = options.signal;
  const emit = (event: ProgressEvent) => {
    try {
      options.onProgress?.(event);
    } catch {
      // a listener's failure must not break the unpack
    }
  };
  const format = options.format ?? "directory";
  if (format !== "directory" && format !== "erofs") {
    throw new RangeError(`Cannot unpack as "${format}": expected directory or erofs`);
  }
  if (options.layers && format !== "erofs") {
    throw new RangeError(`Cannot unpack as "${format}" with layers: only erofs has them`);
  }
  const target = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
  if (options.layers) await checkLayersTarget(target);
  else await (format === "directory" ? checkTarget(target) : checkFileTarget(target));
  signal?.throwIfAborted();

  const store = options.store instanceof Store
    ? options.store
    : await Store.open(options.store ?? Store.defaultPath());
  let image = await findStored(store, name, want);
  let pulled = false;
  if (!image) {
    if (options.pull === "never") {
      throw new Error(`Cannot unpack ${name}: the store ${store.path} does not have it`);
    }
    const result = await pull(ref, {
      ...options.pullOptions,
      store,
      platform: want,
      ...(signal ? { signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    image = { digest: result.digest, manifest: result.manifest, config: result.config };
    pulled = true;
  }
  const layers = image.manifest.layers;
  const diffIds = image.config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== layers.length) {
    throw new Error(
      `Cannot unpack ${name}: the config lists ${diffIds.length} diff_ids for ${layers.length} layers`,
    );
  }
  for (const layer of layers) {
    if (layerCompression(layer.mediaType) === undefined) {
      throw new Error(
        `Cannot unpack ${name}: layer ${layer.digest} has media type "${layer.mediaType}", ` +
          `not a tar, tar+gzip or tar+zstd layer`,
      );
    }
  }

  if (options.layers) {
    const { writeLayerImages } = await import("./_layer_images.ts");
    const made = await writeLayerImages(store, layers, diffIds, target, {
      name,
      maxEntries,
      maxBytes,
      ...(signal ? { signal } : {}),
      onLayer: (index, entries, bytes) =>
        emit({
          type: "layer-unpacked",
          digest: layers[index]!.digest,
          index,
          layers: layers.length,
          entries,
          bytes,
        }),
    });
    return {
      reference: name,
      digest: image.digest,
      dir: target,
      format,
      layerImages: made.images,
      layers: layers.length,
      entries: made.entries,
      whiteouts: made.whiteouts,
      bytes: made.bytes,
      skippedDevices: 0,
      pulled,
    };
  }

  // loaded only now: node:zlib, node:crypto and node:fs cost start-up time to every other command
  const [{ RootfsWriter }, { ErofsWriter }, { readLayer }] = await Promise.all([
    import("./rootfs_writer.ts"),
    import("./erofs_writer.ts"),
    import("./read_layer.ts"),
  ]);
  const slash = target.lastIndexOf("/");
  const parent = slash === -1 ? "." : slash === 0 ? "/" : target.slice(0, slash);
  const base = target.slice(slash + 1);
  await Deno.mkdir(parent, { recursive: true });
  const temp = format === "directory"
    ? await Deno.makeTempDir({ dir: parent, prefix: `.${base}.skiff-unpack-` })
    : `${parent}/.${base}.skiff-unpack-${crypto.randomUUID()}`;
  let erofs: InstanceType<typeof ErofsWriter> | undefined;
  try {
    const writer = format === "erofs"
      ? (erofs = new ErofsWriter(temp, { maxEntries, uuid: await imageUuid(image.digest) }))
      : new RootfsWriter(temp, {
        maxEntries,
        ...(options.owners !== undefined ? { owners: options.owners } : {}),
      });
    const budget = { bytes: 0, max: maxBytes };
    for (const [i, layer] of layers.entries()) {
      const before = { entries: writer.entries, bytes: writer.bytes };
      try {
        const tar = counted(readLayer(store, layer, diffIds[i]!, signal ? { signal } : {}), budget);
        await writer.applyLayer(tar, signal ? { signal } : {});
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        if (e instanceof DigestMismatchError || e instanceof SizeMismatchError) throw e;
        const message = (e as Error).message.replace(/^Cannot /, "cannot ");
        throw new Error(
          `Cannot unpack ${name}: layer ${i + 1} of ${layers.length} (${layer.digest}): ${message}`,
          { cause: e },
        );
      }
      emit({
        type: "layer-unpacked",
        digest: layer.digest,
        index: i,
        layers: layers.length,
        entries: writer.entries - before.entries,
        bytes: writer.bytes - before.bytes,
      });
    }
    try {
      await writer.finish();
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      const message = (e as Error).message.replace(/^Cannot /, "cannot ");
      throw new Error(`Cannot unpack ${name}: ${message}`, { cause: e });
    }
    signal?.throwIfAborted();
    if (erofs) {
      // a link, unlike a rename, never replaces a file that appeared at the target meanwhile
      await Deno.link(temp, target);
      await Deno.remove(temp);
    } // an empty directory at the target is replaced by the rename; anything else makes it fail
    else await Deno.rename(temp, target);
    return {
      reference: name,
      digest: image.digest,
      dir: target,
      format,
      ...(erofs?.image ? { image: { size: erofs.image.size, digest: erofs.image.digest } } : {}),
      layers: layers.length,
      entries: writer.entries,
      whiteouts: writer.whiteouts,
      bytes: writer.bytes,
      skippedDevices: writer.skippedDevices,
      pulled,
    };
  } catch (e) {
    erofs?.close();
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    if (e instanceof Deno.errors.AlreadyExists || (e as { code?: string }).code === "ENOTEMPTY") {
      const state = erofs ? "it exists" : "it is no longer empty";
      throw new Error(`Cannot unpack into ${target}: ${state}`, { cause: e });
    }
    throw e;
  }
}

/** Passes chunks on, counting them against the budget shared by all layers. */
async function* counted(
  chunks: AsyncIterable<Uint8Array>,
  budget: { bytes: number; max: number },
): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    budget.bytes += chunk.byteLength;
    if (budget.bytes > budget.max) {
      throw new Error(`more than ${budget.max} uncompressed bytes (the maxBytes limit)`);
    }
    yield chunk;
  }
}

/** The target must be absent or an empty directory. */
async function checkTarget(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new Error(`Cannot unpack into ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (!info.isDirectory) throw new Error(`Cannot unpack into ${path}: it is not a directory`);
  for await (const _ of Deno.readDir(path)) {
    throw new Error(`Cannot unpack into ${path}: the directory is not empty`);
  }
}

/** The directory of layer images: absent or a directory (the images in it are reused). */
async function checkLayersTarget(path: string): Promise<void> {
  try {
    if ((await Deno.stat(path)).isDirectory) return;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new Error(`Cannot unpack into ${path}: ${(e as Error).message}`, { cause: e });
  }
  throw new Error(`Cannot unpack into ${path}: it is not a directory`);
}

/** A disk image's target must be absent: it is written beside it and renamed into place. */
async function checkFileTarget(path: string): Promise<void> {
  try {
    await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new Error(`Cannot unpack into ${path}: ${(e as Error).message}`, { cause: e });
  }
  throw new Error(`Cannot unpack into ${path}: it exists`);
}

/** The volume UUID of an image's disk image: from its manifest digest, so runs agree. */
async function imageUuid(digest: string): Promise<Uint8Array> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`skiff ${digest}`));
  const uuid = new Uint8Array(hash, 0, 16).slice();
  uuid[6] = (uuid[6]! & 0x0f) | 0x80; // version 8: custom
  uuid[8] = (uuid[8]! & 0x3f) | 0x80; // RFC 9562 variant
  return uuid;
}

interface StoredImage {
  digest: string;
  manifest: ImageManifest;
  config: ImageConfig;
}

/** The image named `name` in the store, when it is there complete and for the platform. */
async function findStored(
  store: Store,
  name: string,
  want: Platform,
): Promise<StoredImage | undefined> {
  const entry = await store.findImage(name);
  if (!entry) return undefined;
  if (entry.platform) {
    try {
      choosePlatform({ schemaVersion: 2, manifests: [entry] }, want);
    } catch {
      return undefined; // stored for another platform
    }
  }
  try {
    const parsed = parseManifest(await store.readBlob(entry.digest, 4 * 1024 * 1024));
    if (parsed.kind !== "manifest") return undefined;
    const manifest = parsed.manifest;
    for (const blob of [manifest.config, ...manifest.layers]) {
      if (!(await store.hasBlob(blob.digest, blob.size))) return undefined;
    }
    const config = parseImageConfig(await store.readBlob(manifest.config.digest));
    return { digest: entry.digest, manifest, config };
  } catch {
    return undefined; // damaged: a pull repairs it
  }
}

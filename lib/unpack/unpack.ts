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
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  PlatformNotFoundError,
} from "../registry/choose_platform.ts";
import { layerCompression } from "../registry/media_types.ts";
import type { ImageConfig } from "../registry/parse_image_config.ts";
import type { ImageManifest, Platform } from "../registry/parse_manifest.ts";
import { Store } from "../store/store.ts";
import { resolveStoredImage } from "../store/resolve_stored_image.ts";
import { checkTarget, startBuild, type TargetBuild } from "./_target.ts";

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
   * `directory`: a root filesystem in a directory; `erofs` or `ext4`: an image file written by
   * skiff itself (no mkfs, no mount, no root: owners, device nodes and xattrs are the image's,
   * whoever runs it; `owners` does not apply).
   * @default {"directory"}
   */
  format?: "directory" | "erofs" | "ext4";
  /**
   * An ext4 image's size in bytes (it fails when the tree does not fit).
   * @default {what the tree needs, plus `free`}
   */
  size?: number;
  /**
   * Bytes of free space an ext4 image gets beyond what the tree needs.
   * @default {0}
   */
  free?: number;
  /**
   * Give an ext4 image an (empty) journal.
   * @default {false}
   */
  journal?: boolean;
  /** Aborts the unpack (and the pull); nothing is left at the target. */
  signal?: AbortSignal;
  /** Receives the pull's progress events and one `layer-unpacked` event per layer. */
  onProgress?: ProgressListener;
}

/** What {@linkcode unpack} returns. */
export interface UnpackResult {
  /** The canonical reference, e.g. `docker.io/library/alpine:3.20`. */
  reference: string;
  /** The registry's digest of the image manifest that was unpacked (what `pull` prints). */
  digest: string;
  /** The digest of that manifest as stored (its OCI conversion, for a Docker schema 2 image). */
  storedDigest: string;
  /** The directory holding the root filesystem (for a disk image: the image file). */
  dir: string;
  /** What was written. */
  format: "directory" | "erofs" | "ext4";
  /** For a disk image: its size in bytes and its SHA-256 (`sha256:<hex>`). */
  image?: { size: number; digest: string };
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
 * only once every layer was applied and verified; when `dir` is an existing empty directory (`.`,
 * a mount point), it is built in a hidden directory inside `dir` whose entries are moved into it
 * at the end. On any failure the temporary directory is removed and `dir` is left as it was; one
 * that a killed unpack left behind is removed by the next unpack into the same place (and by
 * `collectGarbage`).
 *
 * With `format: "erofs"`, `dir` names an image file to make (it must not exist): the same layers,
 * whiteouts and path rules go into an EROFS image written beside it as a hidden file and linked
 * into place once every layer was verified. Its volume UUID derives from the manifest digest and
 * every time comes from the entries, so the same image gives the same bytes. With `format: "ext4"`
 * the same, into an ext4 image (`Ext4Writer`), sized by `size` or `free`.
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
 *
 * @example Write an ext4 disk image, with 256 MiB of free space
 * ```ts ignore
 * import { unpack } from "./unpack.ts";
 *
 * const result = await unpack("alpine:3.20", "./rootfs.ext4", {
 *   format: "ext4",
 *   free: 256 * 1024 ** 2,
 * });
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
  if (format !== "directory" && format !== "erofs" && format !== "ext4") {
    throw new RangeError(`Cannot unpack as "${format}": expected directory, erofs or ext4`);
  }
  const target = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
  await (format === "directory" ? checkTarget(target) : checkFileTarget(target));
  signal?.throwIfAborted();

  const store = options.store instanceof Store
    ? options.store
    : await Store.open(options.store ?? Store.defaultPath());
  let image = await findStored(store, ref, want, options.platform !== undefined);
  let pulled = false;
  if (!image) {
    // with "never", the store alone answers, as `pull --pull never` does (a stored image for
    // another platform is a PlatformNotFoundError naming both)
    const result = await pull(ref, {
      ...options.pullOptions,
      store,
      platform: want,
      ...(options.pull === "never" ? { policy: "never" as const } : {}),
      ...(signal ? { signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    image = {
      digest: result.digest,
      storedDigest: result.storedDigest,
      manifest: result.manifest,
      config: result.config,
    };
    pulled = options.pull !== "never";
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

  // loaded only now: node:zlib, node:crypto and node:fs cost start-up time to every other command
  const [{ RootfsWriter }, { ErofsWriter }, { Ext4Writer }, { readLayer }] = await Promise.all([
    import("./rootfs_writer.ts"),
    import("./erofs_writer.ts"),
    import("./ext4_writer.ts"),
    import("./read_layer.ts"),
  ]);
  // a directory is built in a locked hidden directory (lib/unpack/_target.ts); a disk image is
  // written beside its target and linked into place
  let build: TargetBuild | undefined;
  let temp: string;
  if (format === "directory") {
    build = await startBuild(target, store);
    temp = build.dir;
  } else {
    const slash = target.lastIndexOf("/");
    const parent = slash === -1 ? "." : slash === 0 ? "/" : target.slice(0, slash);
    const base = target.slice(slash + 1);
    await Deno.mkdir(parent, { recursive: true });
    temp = `${parent}/.${base}.skiff-unpack-${crypto.randomUUID()}`;
  }
  let erofs: InstanceType<typeof ErofsWriter> | undefined;
  let ext4: InstanceType<typeof Ext4Writer> | undefined;
  try {
    const writer = format === "erofs"
      ? (erofs = new ErofsWriter(temp, { maxEntries, uuid: await imageUuid(image.digest) }))
      : format === "ext4"
      ? (ext4 = new Ext4Writer(temp, {
        maxEntries,
        seed: image.digest,
        ...(options.size !== undefined ? { size: options.size } : {}),
        ...(options.free !== undefined ? { free: options.free } : {}),
        ...(options.journal ? { journal: true } : {}),
      }))
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
    let ext4Image: { size: number; digest: string } | undefined;
    try {
      if (ext4) {
        const { size } = ext4.finish();
        ext4Image = { size, digest: await fileDigest(temp, signal) };
      } else await writer.finish();
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      const message = (e as Error).message.replace(/^Cannot /, "cannot ");
      throw new Error(`Cannot unpack ${name}: ${message}`, { cause: e });
    }
    signal?.throwIfAborted();
    if (build) await build.commit();
    else {
      // a link, unlike a rename, never replaces a file that appeared at the target meanwhile
      await Deno.link(temp, target);
      await Deno.remove(temp);
    }
    return {
      reference: name,
      digest: image.digest,
      storedDigest: image.storedDigest,
      dir: target,
      format,
      ...(erofs?.image ? { image: { size: erofs.image.size, digest: erofs.image.digest } } : {}),
      ...(ext4Image ? { image: ext4Image } : {}),
      layers: layers.length,
      entries: writer.entries,
      whiteouts: writer.whiteouts,
      bytes: writer.bytes,
      skippedDevices: writer.skippedDevices,
      pulled,
    };
  } catch (e) {
    erofs?.close();
    ext4?.close();
    if (build) await build.abort();
    else await Deno.remove(temp).catch(() => {});
    if (e instanceof Deno.errors.AlreadyExists || (e as { code?: string }).code === "ENOTEMPTY") {
      const state = erofs || ext4 ? "it exists" : "it is no longer empty";
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

/** The `sha256:` digest of a file, read in 1 MiB chunks. */
async function fileDigest(path: string, signal: AbortSignal | undefined): Promise<string> {
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  const buffer = new Uint8Array(1024 * 1024);
  for (;;) {
    signal?.throwIfAborted();
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return `sha256:${hash.digest("hex")}`;
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
  storedDigest: string;
  manifest: ImageManifest;
  config: ImageConfig;
}

/**
 * The image `ref` names in the store, when it is there complete and for the platform (an explicit
 * one is checked against a single-platform image; from a stored index, it is chosen).
 */
async function findStored(
  store: Store,
  ref: Reference,
  want: Platform,
  explicit: boolean,
): Promise<StoredImage | undefined> {
  // a digest names one image (or an index to choose from): the host platform is only a default
  if (!explicit && ref.digest !== undefined) {
    return await resolveStoredImage(store, ref, { defaultPlatform: want }).catch((e) => {
      if (e instanceof PlatformNotFoundError) return undefined;
      throw e;
    });
  }
  try {
    return await resolveStoredImage(store, ref, { platform: want });
  } catch (e) {
    if (!(e instanceof PlatformNotFoundError)) throw e;
    // a single-platform image for another platform: used as it is unless one was asked for
    return explicit ? undefined : await resolveStoredImage(store, ref);
  }
}

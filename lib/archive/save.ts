/**
 * `save()`: images from the store (pulled first when missing) into one tar archive, docker or OCI.
 *
 * @module
 */

import { copyImage } from "../image/copy_image.ts";
import type { ProgressListener } from "../progress/progress_event.ts";
import { pull, type PullOptions } from "../pull/pull.ts";
import type { Reference } from "../reference/parse_reference.ts";
import { hostPlatform, normalizePlatform, parsePlatform } from "../oci/choose_platform.ts";
import { INDEX_MEDIA_TYPES } from "../oci/media_types.ts";
import type { Descriptor, Platform } from "../oci/parse_manifest.ts";
import { ImageNotFoundError } from "../store/image_not_found_error.ts";
import { LayoutImageSource } from "../store/layout_image_source.ts";
import { OutputFile } from "../store/output_file.ts";
import { planStoredPlatforms, type StoredPlatformsPlan } from "../store/plan_stored_platforms.ts";
import { ImageId, resolveImageId, storedImageRef } from "../store/resolve_stored_image.ts";
import { Store } from "../store/store.ts";
import { isComplete } from "./_stored_image.ts";
import type { ArchiveFormat } from "./archive_image_destination.ts";
import { DockerArchiveDestination } from "./docker_archive_destination.ts";
import { OciArchiveDestination } from "./oci_archive_destination.ts";
import { TarWriter, type TarWriterSink } from "../tar/tar_writer.ts";

/** Options for {@linkcode save}. */
export interface SaveOptions {
  /**
   * The store: a directory or an open {@linkcode Store}.
   * @default {Store.defaultPath()}
   */
  store?: string | Store;
  /**
   * `docker`: a docker-archive (`manifest.json` with `Config`, `RepoTags`, `Layers`) that
   * `docker load`, `podman load` and skopeo read, one platform per image; `oci`: an oci-archive
   * (an OCI layout in a tar) with every digest kept, an index staying an index.
   * @default {"docker"}
   */
  format?: ArchiveFormat;
  /**
   * With the docker format, the platform taken from a stored index (and pulled when missing);
   * with the oci format, the platform pulled when the image is not in the store.
   * @default {"linux/<host arch>"}
   */
  platform?: string | Platform;
  /**
   * `missing`: pull an image the store does not have complete (as `unpack` does); `never`: fail
   * instead.
   * @default {"missing"}
   */
  pull?: "missing" | "never";
  /**
   * Options for that pull: registry transport, credentials, concurrency.
   * @default {{}}
   */
  pullOptions?: Omit<PullOptions, "store" | "platform" | "signal" | "onProgress" | "policy">;
  /** Aborts the save; a file output is then removed (nothing is left). */
  signal?: AbortSignal;
  /** Progress events of the pulls of missing images. */
  onProgress?: ProgressListener;
}

/** One image written by {@linkcode save}. */
export interface SavedImage {
  /** The name it was asked for (canonical), e.g. `docker.io/library/alpine:3.20`. */
  name: string;
  /** The digest of its root in the archive (a manifest; an index with the oci format). */
  digest: string;
  /** The root's media type. */
  mediaType: string;
  /** Whether it was pulled first. */
  pulled: boolean;
  /**
   * `"same"`: the stored root as it is; `"platform"`: one platform's manifest of a stored index
   * (the docker format); `"rewritten"`: an index listing the platforms the store holds, when it
   * holds only some of what the stored index lists (the oci format; a new digest).
   */
  root: "same" | "platform" | "rewritten";
  /** The platforms written, `os/arch[/variant]`. */
  platforms: string[];
  /** The digest the store names it by (the stored index, when it was rewritten). */
  storedDigest: string;
}

/** What {@linkcode save} returns. */
export interface SaveResult {
  /** The file written, or `"-"` for a stream. */
  output: string;
  /** The format written. */
  format: ArchiveFormat;
  /** The images, in the order asked. */
  images: SavedImage[];
  /** Blobs in the archive (configs, layers, manifests). */
  blobs: number;
  /** The archive's size in bytes. */
  bytes: number;
}

/**
 * Saves images from the store into a tar archive, streamed: each blob is read from the store,
 * checked against its digest on the way, and written as a tar entry, so no blob is held in memory
 * and no temporary tree is made. Images missing from the store (or incomplete) are pulled first.
 *
 * With the oci format, a stored index is written as it is when the store holds everything it
 * lists; after `pull --platform a,b` (the index kept whole, two platforms stored) it is written
 * rewritten to list the stored platforms (and their stored attestations), as `push` does:
 * `root: "rewritten"`, a new digest. What is not stored is never fetched for it.
 *
 * A file output is written beside its target as a hidden temporary file (beside the file a
 * symlink points to, the link kept) and renamed into place only when the archive is complete; on
 * any failure it is removed and the target is untouched; one a killed save left is removed by
 * the next save to the same file, and by `collectGarbage`. A block or character device, or a
 * FIFO (also through a symlink, such as `/proc/self/fd/1`), is written into, as `tar -cf` does;
 * a directory or a socket is refused. A stream output gets the archive as it is written (an
 * error aborts the stream).
 *
 * @param references The images, as pulled: `alpine:3.20`, `127.0.0.1:5000/team/app:1`,
 * `repo@sha256:...`; or a stored image's ID (`sha256:<hex>`, a unique prefix of its digest: from
 * the store only, saved without a name).
 * @param output A file path, or a stream (e.g. stdout's).
 * @param options Store, format, platform, pull, signal, progress.
 * @returns What was written.
 * @throws {ImageNotFoundError} With `pull: "never"`, when an image is not complete in the store.
 * @throws {Error} When the docker format is asked for an image that is not one image manifest.
 *
 * @example Save two images into a docker archive
 * ```ts ignore
 * import { save } from "@skiff/skiff";
 *
 * const r = await save(["alpine:3.20", "busybox:1.36"], "images.tar", { store: "./images" });
 * console.log(r.images.map((i) => i.digest), r.bytes);
 * ```
 *
 * @example Save an OCI archive to a stream
 * ```ts ignore
 * import { save } from "@skiff/skiff";
 *
 * await save("alpine:3.20", Deno.stdout.writable, { format: "oci", store: "./images" });
 * ```
 */
export async function save(
  references: string | Reference | ImageId | readonly (string | Reference | ImageId)[],
  output: string | WritableStream<Uint8Array>,
  options: SaveOptions = {},
): Promise<SaveResult> {
  const list = Array.isArray(references)
    ? references
    : [references as string | Reference | ImageId];
  if (list.length === 0) throw new TypeError("Cannot save: no image given");
  const refs = list.map((r) => storedImageRef(r));
  const format = options.format ?? "docker";
  if (format !== "docker" && format !== "oci") {
    throw new TypeError(`Cannot save with format "${format}": expected docker or oci`);
  }
  const explicit = options.platform !== undefined;
  const want = options.platform === undefined
    ? hostPlatform()
    : typeof options.platform === "string"
    ? parsePlatform(options.platform)
    : normalizePlatform(options.platform);
  const store = options.store instanceof Store
    ? options.store
    : await Store.open(options.store ?? Store.defaultPath());
  const signal = options.signal;
  const label = typeof output === "string" ? output : "-";
  // a path that cannot take the archive is refused before anything is pulled
  if (typeof output === "string" && output !== "") await OutputFile.check(output, FILE_OUTPUT);

  // 1. Every image complete in the store (pulled when missing) before a byte is written.
  const source = new LayoutImageSource(store);
  const images: {
    ref: Reference | ImageId;
    entry: Descriptor;
    pulled: boolean;
    want: Platform;
    plan?: StoredPlatformsPlan;
  }[] = [];
  for (const ref of refs) {
    signal?.throwIfAborted();
    const name = ref.toString();
    if (ref instanceof ImageId) {
      // the store's image, whatever the policy: no registry has an ID
      const found = await resolveImageId(
        store,
        ref,
        explicit ? { platform: want } : { defaultPlatform: want },
      );
      // oci: what is stored of an index (the index rewritten when not all of it is)
      const plan = format === "oci" && INDEX_MEDIA_TYPES.has(found.entry.mediaType)
        ? await planOci(store, source, found.entry, name)
        : undefined;
      images.push({
        ref,
        entry: found.entry,
        pulled: false,
        want: found.platform ?? want,
        ...(plan ? { plan } : {}),
      });
      continue;
    }
    const known = await store.findImage(name);
    if (known && format === "oci" && INDEX_MEDIA_TYPES.has(known.mediaType)) {
      // what is stored of it: every platform whose manifest, config and layers are there
      const plan = await planOci(store, source, known, name).catch(() => undefined);
      if (plan) {
        images.push({ ref, entry: known, pulled: false, want, plan });
        continue;
      }
    } else if (known && await isComplete(store, known, want, explicit)) {
      // docker: one platform of an index; a manifest must match an explicit platform
      images.push({ ref, entry: known, pulled: false, want });
      continue;
    }
    if (options.pull === "never") {
      throw new ImageNotFoundError(
        "save",
        name,
        store.path,
        `${known ? "it is in the store but not complete" : `not in the store ${store.path}`}` +
          `, and the pull policy "never" forbids the network`,
      );
    }
    await pull(ref, {
      ...options.pullOptions,
      store,
      policy: "missing",
      platform: want,
      ...(signal ? { signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    const entry = await store.findImage(name);
    if (!entry) throw new ImageNotFoundError("save", name, store.path);
    const plan = format === "oci" && INDEX_MEDIA_TYPES.has(entry.mediaType)
      ? await planOci(store, source, entry, name)
      : undefined;
    images.push({ ref, entry, pulled: true, want, ...(plan ? { plan } : {}) });
  }

  // 2. The archive, blob by blob.
  const out = await openOutput(output, store, signal);
  try {
    const tar = new TarWriter(out.sink);
    const dest = format === "docker"
      ? new DockerArchiveDestination(tar, label)
      : new OciArchiveDestination(tar, label);
    await dest.begin();
    const saved: SavedImage[] = [];
    for (const { ref, entry, pulled, want, plan } of images) {
      const name = ref.toString();
      const isIndex = INDEX_MEDIA_TYPES.has(entry.mediaType);
      const result = await copyImage(source, entry.digest, dest, {
        platforms: plan?.platforms ?? (format === "docker" && isIndex ? [want] : "all"),
        ...(plan ? { absent: plan.absent } : {}),
        jobs: 1,
        ...(signal ? { signal } : {}),
      });
      const root = result.manifests[result.manifests.length - 1]!;
      const platform = root.digest === entry.digest ? entry.platform : root.platform;
      // an image saved by its ID carries no name, as docker save of an image ID
      const tagged = !(ref instanceof ImageId) && ref.tag !== undefined
        ? [`${ref.name}:${ref.tag}`]
        : [];
      await dest.addImage({ ...root, ...(platform ? { platform } : {}) }, tagged);
      saved.push({
        name,
        digest: result.digest,
        mediaType: result.mediaType,
        pulled,
        root: result.root,
        platforms: result.platforms,
        storedDigest: entry.digest,
      });
    }
    await dest.finish();
    await out.commit();
    return { output: label, format, images: saved, blobs: dest.blobs, bytes: tar.bytes };
  } catch (e) {
    await out.abort(e);
    throw e;
  }
}

/**
 * What the oci format writes of a stored index: all of it when the store holds everything it
 * lists, else the stored platforms (the index rewritten); `ImageNotFoundError` when no platform
 * of it is stored.
 */
async function planOci(
  store: Store,
  source: LayoutImageSource,
  entry: Descriptor,
  name: string,
): Promise<StoredPlatformsPlan> {
  return await planStoredPlatforms(
    store,
    await source.resolve(entry.digest),
    undefined,
    name,
    "save",
  );
}

/** How a file output of save is named in messages and temporaries. */
const FILE_OUTPUT = { action: "save to", kind: "save" } as const;

interface Output {
  sink: TarWriterSink;
  commit(): Promise<void>;
  abort(reason: unknown): Promise<void>;
}

/** A file output (see {@linkcode OutputFile}), or a stream. */
async function openOutput(
  output: string | WritableStream<Uint8Array>,
  store: Store,
  signal: AbortSignal | undefined,
): Promise<Output> {
  if (typeof output !== "string") {
    const writer = output.getWriter();
    return {
      sink: { write: (chunk) => writer.write(chunk) },
      async commit() {
        await writer.close();
      },
      async abort(reason) {
        await writer.abort(reason).catch(() => {});
      },
    };
  }
  if (output === "") throw new TypeError("Cannot save: the output path is empty");
  const out = await OutputFile.open(output, {
    ...FILE_OUTPUT,
    store,
    ...(signal ? { signal } : {}),
  });
  return {
    sink: { write: (chunk) => out.write(chunk) },
    commit: () => out.commit(),
    abort: () => out.abort(),
  };
}

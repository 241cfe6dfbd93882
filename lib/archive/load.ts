/**
 * `load()`: a docker-archive or oci-archive into the store: the archive read once as a stream
 * (every blob verified while it is read, staged in the store), then each of its images copied by
 * the engine from the archive's source (`DockerArchiveSource`, `OciArchiveSource`) into the store,
 * then the names, in one update.
 *
 * @module
 */

import { copyImage } from "../image/copy_image.ts";
import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { type Descriptor, MANIFEST_SIZE_LIMIT, type Platform } from "../oci/parse_manifest.ts";
import { LayoutImageDestination } from "../store/layout_image_destination.ts";
import { type ImageName, nameImages } from "../store/name_image.ts";
import { storedEntry } from "../store/stored_form.ts";
import { Store } from "../store/store.ts";
import { ArchiveContents } from "./_archive_contents.ts";
import { ArchiveProblem } from "./_archive_problem.ts";
import type { ArchivedImage, ArchiveImageSource } from "./archive_image_source.ts";
import { DockerArchiveSource } from "./docker_archive_source.ts";
import { OciArchiveSource } from "./oci_archive_source.ts";

/** Options for {@linkcode load}. */
export interface LoadOptions {
  /**
   * The store: a directory or an open {@linkcode Store}.
   * @default {Store.defaultPath()}
   */
  store?: string | Store;
  /**
   * The name to give the archive's image instead of its own (the archive must hold one image).
   * @default {the archive's names: RepoTags, io.containerd.image.name, or the ref.name annotation}
   */
  name?: string | Reference;
  /**
   * What the archive is called in messages (for a stream).
   * @default {the path, or "-" for a stream}
   */
  label?: string;
  /**
   * The most bytes read from the archive (all entries together).
   * @default {68719476736}
   */
  maxBytes?: number;
  /**
   * The largest `manifest.json`, `index.json`, manifest or config read into memory (a manifest
   * is at most 4 MiB whatever this says).
   * @default {4194304}
   */
  maxMetadataSize?: number;
  /**
   * The most names the archive may give its images (`RepoTags`, name annotations): each is an
   * `index.json` entry of the store.
   * @default {1000}
   */
  maxNames?: number;
  /**
   * The most entries the archive may hold (files, directories, links), each remembered until
   * the end.
   * @default {1000000}
   */
  maxEntries?: number;
  /** Aborts the load; nothing is named, partial data is removed. */
  signal?: AbortSignal;
}

/** One image {@linkcode load} named (or stored unnamed). */
export interface LoadedImage {
  /** Its name in the store, or `undefined` when the archive gives none. */
  name: string | undefined;
  /** The digest of the stored root (an image manifest, or an index from an oci-archive). */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** The platform, when known. */
  platform: Platform | undefined;
}

/** What {@linkcode load} returns. */
export interface LoadResult {
  /** What the archive was: `docker` (manifest.json only), `oci`, or `docker+oci` (both). */
  format: "docker" | "oci" | "docker+oci";
  /** The images, one per name. */
  images: LoadedImage[];
  /** Blobs the archive held (configs, layers, manifests). */
  blobs: number;
  /** Bytes of the archive read. */
  bytes: number;
}

const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;

/**
 * Loads the images of a tar archive into the store: docker-archives (the classic form with
 * `<id>/layer.tar` files, and the OCI-layout form `docker save` writes since Docker 25) and
 * oci-archives, plain or gzip/zstd compressed as a whole.
 *
 * The tar is read once, in whatever order its entries come: an entry named by its digest
 * (`blobs/sha256/<hex>`) streams into the store's ingest while it is hashed, and is committed only
 * when it matches; any other file (a classic layer or config) is hashed into a scratch file in
 * ingest and named by what it hashed to only once `manifest.json` refers to it and the config's
 * `diff_ids` agree. Then each image is copied by the copy engine from the archive's source into
 * the store (everything it names present, with its size), and the names are written to
 * `index.json` last, in one update. For a docker archive, which has no OCI manifest, one is built
 * from `manifest.json` and the config (layer media types from the layers' bytes: gzip, zstd or
 * plain tar); a Docker schema 2 manifest is stored as its OCI conversion: the way `pull` stores
 * images.
 *
 * Any problem (a truncated or hostile archive: a path escaping it, a link, a blob that does not
 * match its name, a manifest naming a blob the archive lacks, an entry past a limit) fails with
 * `Cannot load <archive>: ...`, names nothing, and leaves no partial data.
 *
 * @param input A file path, or a stream of the archive's bytes.
 * @param options Store, name override, limits, abort signal.
 * @returns The images named and what was read.
 * @throws {Error} `Cannot load <archive>: ...` for a bad archive.
 *
 * @example Load an archive made by docker save
 * ```ts ignore
 * import { load } from "@skiff/skiff";
 *
 * const r = await load("alpine.tar", { store: "./images" });
 * for (const image of r.images) console.log(image.name, image.digest);
 * ```
 *
 * @example Load from stdin under another name
 * ```ts ignore
 * import { load } from "@skiff/skiff";
 *
 * await load(Deno.stdin.readable, { store: "./images", name: "127.0.0.1:5000/team/app:1" });
 * ```
 */
export async function load(
  input: string | ReadableStream<Uint8Array>,
  options: LoadOptions = {},
): Promise<LoadResult> {
  const label = options.label ?? (typeof input === "string" ? input : "-");
  const limits = {
    maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
    maxMetadataSize: options.maxMetadataSize ?? MANIFEST_SIZE_LIMIT,
    maxNames: options.maxNames ?? 1000,
    maxEntries: options.maxEntries ?? 1_000_000,
  };
  for (const [what, n] of Object.entries(limits)) {
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new RangeError(`Cannot load with ${what} ${n}: expected a positive integer`);
    }
  }
  const override = options.name === undefined
    ? undefined
    : typeof options.name === "string"
    ? parseReference(options.name)
    : options.name;
  const store = options.store instanceof Store
    ? options.store
    : await Store.open(options.store ?? Store.defaultPath());
  const signal = options.signal;
  // the pull side of the gc lock, for the whole load: what is staged is not swept meanwhile
  using destination = await LayoutImageDestination.open(store, signal);
  const contents = new ArchiveContents(store, limits, signal);
  try {
    await contents.read(input);
    const { source, format } = await openSource(label, contents);
    const images = chosen(source.images, override);
    for (const root of new Set(images.map((i) => i.root.digest))) {
      await copyImage(source, root, destination, { ...(signal ? { signal } : {}) });
    }
    const named = await entries(store, source, images);
    if (named.byName > limits.maxNames) {
      throw new ArchiveProblem(
        `it names ${named.byName} images, more than the limit of ${limits.maxNames}`,
      );
    }
    signal?.throwIfAborted();
    await nameImages(store, named.names, { pulled: false });
    return {
      format,
      images: named.names.map(({ name, entry }) => ({
        name,
        digest: entry.digest,
        mediaType: entry.mediaType,
        platform: entry.platform,
      })),
      blobs: contents.blobCount(),
      bytes: contents.bytes,
    };
  } catch (e) {
    if (signal?.aborted && e === signal.reason) throw e;
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(`Cannot load ${label}: ${message.replace(/^Cannot read tar: /, "")}`, {
      cause: e,
    });
  } finally {
    await contents.cleanup();
  }
}

/** The archive's source, by what it has: `index.json` (oci), `manifest.json` (docker), both. */
async function openSource(
  label: string,
  contents: ArchiveContents,
): Promise<{ source: ArchiveImageSource; format: LoadResult["format"] }> {
  const hasIndex = contents.metadata("index.json") !== undefined;
  const hasManifest = contents.metadata("manifest.json") !== undefined;
  if (!hasIndex && !hasManifest) {
    throw new ArchiveProblem(
      contents.fileCount === 0 && contents.bytes === 0
        ? "it is empty"
        : "not an image archive: it has neither manifest.json nor index.json",
    );
  }
  if (!hasIndex) {
    return { source: await DockerArchiveSource.open(label, contents), format: "docker" };
  }
  try {
    const source = await OciArchiveSource.open(label, contents);
    return { source, format: hasManifest ? "docker+oci" : "oci" };
  } catch (e) {
    // `docker save` with the containerd store lists a whole index in index.json but carries
    // only the platforms it has; its manifest.json then describes what is really there
    if (!(e instanceof ArchiveProblem) || !hasManifest) throw e;
    return { source: await DockerArchiveSource.open(label, contents), format: "docker" };
  }
}

/** The images to name: the archive's, or its one image under the name asked for. */
function chosen(
  images: readonly ArchivedImage[],
  override: Reference | undefined,
): ArchivedImage[] {
  if (!override) return [...images];
  const roots = new Set(images.map((i) => i.root.digest));
  if (roots.size !== 1) {
    throw new ArchiveProblem(`--name needs an archive of one image; this one has ${roots.size}`);
  }
  return [{ root: images[0]!.root, names: [override.toString()] }];
}

/**
 * The names to give, each once (a later image of the same name wins, as docker load does), and
 * the images without one; each entry in its stored form (a Docker manifest's OCI conversion).
 */
async function entries(
  store: Store,
  source: ArchiveImageSource,
  images: readonly ArchivedImage[],
): Promise<{ names: ImageName[]; byName: number }> {
  const stored = new Map<string, Descriptor>();
  const entryOf = async (root: Descriptor): Promise<Descriptor> => {
    let entry = stored.get(root.digest);
    if (!entry) {
      entry = await storedEntry(store, root, await source.manifest(root));
      if (root.platform) entry = { ...entry, platform: root.platform };
      stored.set(root.digest, entry);
    }
    return entry;
  };
  const byName = new Map<string, Descriptor>();
  const unnamed = new Map<string, Descriptor>();
  for (const { root, names } of images) {
    const entry = await entryOf(root);
    if (names.length === 0) unnamed.set(entry.digest, entry);
    for (const name of names) byName.set(name, entry);
  }
  return {
    names: [
      ...[...byName].map(([name, entry]) => ({ name, entry })),
      ...[...unnamed.values()].map((entry) => ({ name: undefined, entry })),
    ],
    byName: byName.size,
  };
}

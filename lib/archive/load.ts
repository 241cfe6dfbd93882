/**
 * `load()`: a docker-archive or oci-archive into the store, read once as a stream, every blob
 * verified while it is read, names written last.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { isDigest, parseDigest } from "../reference/parse_digest.ts";
import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { INDEX_MEDIA_TYPES, MediaType } from "../oci/media_types.ts";
import { parseImageConfig } from "../oci/parse_image_config.ts";
import {
  type Descriptor,
  type ImageManifest,
  parseManifest,
  type Platform,
} from "../oci/parse_manifest.ts";
import { toOciManifest } from "../oci/to_oci_manifest.ts";
import { computeDigest } from "../reference/compute_digest.ts";
import { writeAll } from "../store/_fs.ts";
import { holdPullLock } from "../store/_locks.ts";
import type { Ingest } from "../store/ingest.ts";
import { REF_NAME_ANNOTATION, SOURCE_DIGEST_ANNOTATION, Store } from "../store/store.ts";
import { DigestVerifier } from "../stream/digest_verifier.ts";
import { type TarHeader, TarReader } from "../tar/tar_reader.ts";
import { CONTAINERD_NAME_ANNOTATION } from "./archive_image_destination.ts";

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
   * The largest `manifest.json`, `index.json`, manifest or config read into memory.
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

interface FileRecord {
  /** The entry's path (normalized). */
  path: string;
  digest: string;
  size: number;
  /** The first bytes (compression magic). */
  head: Uint8Array;
  /** Where the bytes are now, when not yet in the store: a file of their own in ingest... */
  temp: string | undefined;
  /** ... or at this offset of the spool (a small entry); both undefined: the store's blob. */
  spool: number | undefined;
}

interface DockerItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

const KNOWN_METADATA = new Set(["manifest.json", "index.json", "oci-layout", "repositories"]);
const READ_SIZE = 1024 * 1024;
const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;
const MAX_IMAGES = 10_000;
/** Entries smaller than this are appended to one spool file in ingest, not given a file each:
 * an archive of 100,000 small entries costs 100,000 appends, not 100,000 files and syncs. */
const SPOOL_ENTRY_MAX = 1024 * 1024;

/** A problem with the archive: becomes `Cannot load <label>: <message>`. */
class ArchiveProblem extends Error {}

/**
 * Loads the images of a tar archive into the store: docker-archives (the classic form with
 * `<id>/layer.tar` files, and the OCI-layout form `docker save` writes since Docker 25) and
 * oci-archives, plain or gzip/zstd compressed as a whole.
 *
 * The tar is read once, in whatever order its entries come: an entry named by its digest
 * (`blobs/sha256/<hex>`) streams into the store's ingest while it is hashed, and is committed only
 * when it matches; any other file (a classic layer or config) is hashed into a temporary file in
 * ingest and named by what it hashed to only once `manifest.json` refers to it and the config's
 * `diff_ids` agree. Manifests are checked (everything they name present, with its size), and the
 * names are written to `index.json` last, in one update. For a docker archive, which has no OCI
 * manifest, one is built from `manifest.json` and the config (layer media types from the layers'
 * bytes: gzip, zstd or plain tar), the way `pull` stores images.
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
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxMeta = options.maxMetadataSize ?? 4 * 1024 * 1024;
  const limits = {
    maxBytes,
    maxMetadataSize: maxMeta,
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
  using _loading = await holdPullLock(store, signal);
  const loader = new Loader(store, limits, signal);
  try {
    await loader.read(input);
    return await loader.finish(override);
  } catch (e) {
    if (signal?.aborted && e === signal.reason) throw e;
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(`Cannot load ${label}: ${message.replace(/^Cannot read tar: /, "")}`, {
      cause: e,
    });
  } finally {
    await loader.cleanup();
  }
}

interface Limits {
  maxBytes: number;
  maxMetadataSize: number;
  maxNames: number;
  maxEntries: number;
}

class Loader {
  #store: Store;
  #maxBytes: number;
  #maxMeta: number;
  #limits: Limits;
  #signal: AbortSignal | undefined;
  #files = new Map<string, FileRecord>();
  /** Entries not yet in the store, by the digest of their bytes. */
  #held = new Map<string, FileRecord[]>();
  #links = new Map<string, string>();
  #metadata = new Map<string, Uint8Array>();
  #temps = new Set<string>();
  #spool: Spool | undefined;
  #bytes = 0;
  #entries = 0;
  #current: EntrySink | undefined;

  constructor(store: Store, limits: Limits, signal: AbortSignal | undefined) {
    this.#store = store;
    this.#maxBytes = limits.maxBytes;
    this.#maxMeta = limits.maxMetadataSize;
    this.#limits = limits;
    this.#signal = signal;
  }

  /** Reads the tar once, to its end-of-archive blocks (what follows them is not read). */
  async read(input: string | ReadableStream<Uint8Array>): Promise<void> {
    const reader = new TarReader();
    for await (const chunk of archiveBytes(input, this.#signal)) {
      this.#bytes += chunk.byteLength;
      if (this.#bytes > this.#maxBytes) {
        throw new ArchiveProblem(`it is larger than the limit of ${this.#maxBytes} bytes`);
      }
      for (const event of reader.push(chunk)) {
        if (event.kind === "entry") {
          this.#current = await this.#begin(event.header);
        } else if (event.kind === "data") {
          await this.#current!.data(event.bytes);
        } else {
          await this.#current!.end();
          this.#current = undefined;
        }
      }
      // the two zero blocks end the archive, as GNU tar reads it: a stream that goes on (zeros
      // forever, say) is cancelled here, not read to its end or to the size limit
      if (reader.done) break;
    }
    reader.end();
    if (this.#current) throw new ArchiveProblem("the archive ends inside an entry");
  }

  async #begin(header: TarHeader): Promise<EntrySink> {
    this.#signal?.throwIfAborted();
    if (++this.#entries > this.#limits.maxEntries) {
      throw new ArchiveProblem(`it has more than ${this.#limits.maxEntries} entries`);
    }
    const path = archivePath(header.path);
    switch (header.type) {
      case "directory":
        return IGNORE;
      case "symlink":
      case "link": {
        if (header.linkname.startsWith("/")) {
          throw new ArchiveProblem(
            `entry ${show(header.path)} links to an absolute path ${show(header.linkname)}`,
          );
        }
        const base = header.type === "symlink" ? path.split("/").slice(0, -1).join("/") : "";
        const target = archivePath(base === "" ? header.linkname : `${base}/${header.linkname}`, {
          link: header.path,
        });
        const known = this.#links.get(path);
        if (this.#files.has(path) || (known !== undefined && known !== target)) this.#twice(path);
        this.#links.set(path, target);
        return IGNORE;
      }
      case "file":
        break;
      default:
        throw new ArchiveProblem(
          `entry ${show(header.path)} is a ${header.type}, which no image archive holds`,
        );
    }
    if (header.size > this.#maxBytes) {
      throw new ArchiveProblem(
        `entry ${
          show(header.path)
        } declares ${header.size} bytes, more than the archive's limit of ` +
          `${this.#maxBytes}`,
      );
    }
    if (KNOWN_METADATA.has(path)) {
      if (header.size > this.#maxMeta) {
        throw new ArchiveProblem(
          `${path} is ${header.size} bytes, larger than the limit of ${this.#maxMeta}`,
        );
      }
      return new MemorySink(header.size, (bytes) => {
        const known = this.#metadata.get(path);
        if (known !== undefined && !equalBytes(known, bytes)) this.#twice(path);
        this.#metadata.set(path, bytes);
      });
    }
    const named = blobDigest(path);
    const done = (record: FileRecord) => this.#record(record);
    if (header.size < SPOOL_ENTRY_MAX) {
      this.#spool ??= await Spool.open(
        `${this.#store.path}/ingest/tmp-load-${crypto.randomUUID()}`,
      );
      return new SpoolSink(this.#spool, header.size, path, named, done);
    }
    if (named !== undefined) {
      const ingest = await this.#store.openIngest(named, header.size);
      return new BlobSink(ingest, header.size, path, done);
    }
    const temp = `${this.#store.path}/ingest/tmp-load-${crypto.randomUUID()}`;
    this.#temps.add(temp);
    const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o644 });
    return new TempSink(file, temp, header.size, path, done);
  }

  /** Keeps a file entry's record: a path given twice must have the same bytes both times. */
  #record(record: FileRecord): void {
    const known = this.#files.get(record.path);
    if (this.#links.has(record.path) || (known !== undefined && known.digest !== record.digest)) {
      this.#twice(record.path);
    }
    this.#files.set(record.path, record);
    if (record.temp !== undefined || record.spool !== undefined) {
      const held = this.#held.get(record.digest);
      if (held) held.push(record);
      else this.#held.set(record.digest, [record]);
    }
  }

  #twice(path: string): never {
    throw new ArchiveProblem(
      `it has two entries ${show(path)} that differ (which one counts is not clear)`,
    );
  }

  /** Checks what the archive holds, stores the manifests, and names the images. */
  async finish(override: Reference | undefined): Promise<LoadResult> {
    const hasIndex = this.#metadata.has("index.json");
    const hasManifest = this.#metadata.has("manifest.json");
    if (!hasIndex && !hasManifest) {
      throw new ArchiveProblem(
        this.#files.size === 0 && this.#bytes === 0
          ? "it is empty"
          : "not an image archive: it has neither manifest.json nor index.json",
      );
    }
    let images: { entry: Descriptor; names: string[] }[];
    let format: LoadResult["format"] = hasIndex ? (hasManifest ? "docker+oci" : "oci") : "docker";
    if (!hasIndex) {
      images = await this.#fromDockerManifest();
    } else {
      try {
        images = await this.#fromIndex(hasManifest);
      } catch (e) {
        // `docker save` with the containerd store lists a whole index in index.json but carries
        // only the platforms it has; its manifest.json then describes what is really there
        if (!(e instanceof ArchiveProblem) || !hasManifest) throw e;
        images = await this.#fromDockerManifest();
        format = "docker";
      }
    }
    const roots = new Set(images.map((i) => i.entry.digest));
    if (override) {
      if (roots.size !== 1) {
        throw new ArchiveProblem(
          `--name needs an archive of one image; this one has ${roots.size}`,
        );
      }
      images.splice(1);
      images[0]!.names = [override.toString()];
    }
    // every name once: a later image of the same name wins, as docker load does
    const byName = new Map<string, Descriptor>();
    const unnamed: Descriptor[] = [];
    for (const { entry, names } of images) {
      if (names.length === 0 && !unnamed.some((u) => u.digest === entry.digest)) {
        unnamed.push(entry);
      }
      for (const name of names) byName.set(name, entry);
    }
    const entries: Descriptor[] = [
      ...[...byName].map(([name, entry]) => ({
        ...entry,
        annotations: { ...entry.annotations, [REF_NAME_ANNOTATION]: name },
      })),
      ...unnamed,
    ];
    if (byName.size > this.#limits.maxNames) {
      throw new ArchiveProblem(
        `it names ${byName.size} images, more than the limit of ${this.#limits.maxNames}`,
      );
    }
    this.#signal?.throwIfAborted();
    await this.#store.updateIndex((current) => [
      ...current.filter((e) => {
        const name = e.annotations?.[REF_NAME_ANNOTATION];
        if (name !== undefined) return !byName.has(name);
        return !unnamed.some((u) => u.digest === e.digest);
      }),
      ...entries,
    ]);
    return {
      format,
      images: entries.map((e) => ({
        name: e.annotations?.[REF_NAME_ANNOTATION],
        digest: e.digest,
        mediaType: e.mediaType,
        platform: e.platform,
      })),
      blobs: new Set(
        [...this.#files.values()].filter((f) => !this.#held.has(f.digest)).map((f) => f.digest),
      ).size,
      bytes: this.#bytes,
    };
  }

  /** An OCI layout (an oci-archive, or a docker archive of Docker 25 and later). */
  async #fromIndex(hasManifest: boolean): Promise<{ entry: Descriptor; names: string[] }[]> {
    const bytes = this.#metadata.get("index.json")!;
    let index;
    try {
      const parsed = parseManifest(bytes, MediaType.OciIndex);
      if (parsed.kind !== "index") throw new Error("not an index");
      index = parsed.index;
    } catch (e) {
      throw new ArchiveProblem(`index.json is not a valid OCI index (${(e as Error).message})`);
    }
    if (index.manifests.length > MAX_IMAGES) {
      throw new ArchiveProblem(`index.json lists more than ${MAX_IMAGES} images`);
    }
    if (index.manifests.length === 0) throw new ArchiveProblem("index.json lists no image");
    const dockerItems = hasManifest ? this.#dockerItems() : [];
    const out: { entry: Descriptor; names: string[] }[] = [];
    const checked = new Set<string>();
    for (const d of index.manifests) {
      const { root, config } = await this.#checkTree(d, checked);
      let names = nameOf(d);
      if (names.length === 0 && config !== undefined) {
        // Docker's index.json may leave names to manifest.json
        names = dockerItems.filter((i) => this.#resolve(i.Config)?.digest === config)
          .flatMap((i) => i.RepoTags.map((t) => canonical(t)));
      }
      out.push({ entry: root, names });
    }
    return out;
  }

  /** Checks a root and everything under it; returns the entry to store (OCI media types). */
  async #checkTree(
    d: Descriptor,
    checked: Set<string>,
  ): Promise<{ root: Descriptor; config: string | undefined }> {
    const walk = async (desc: Descriptor, depth: number): Promise<ImageManifest | undefined> => {
      if (depth > 8) throw new ArchiveProblem("indexes nest more than 8 deep");
      const bytes = await this.#manifestBytes(desc);
      const parsed = parseManifest(bytes, desc.mediaType);
      if (checked.has(desc.digest)) return parsed.kind === "manifest" ? parsed.manifest : undefined;
      if (parsed.kind === "index") {
        for (const child of parsed.index.manifests) await walk(child, depth + 1);
        checked.add(desc.digest);
        return undefined;
      }
      for (const blob of [parsed.manifest.config, ...parsed.manifest.layers]) {
        if (await this.#provide(blob.digest, blob.size)) continue;
        if (blob.urls?.length) continue; // a foreign layer: fetched from its URLs, never archived
        throw new ArchiveProblem(
          `the manifest ${desc.digest} names the blob ${blob.digest} (${blob.size} bytes), ` +
            `which the archive lacks`,
        );
      }
      checked.add(desc.digest);
      return parsed.manifest;
    };
    const manifest = await walk(d, 0);
    const base: Descriptor = {
      mediaType: d.mediaType,
      digest: d.digest,
      size: d.size,
      ...(d.platform ? { platform: d.platform } : {}),
    };
    if (manifest === undefined) return { root: base, config: undefined };
    // a Docker schema 2 manifest is stored as its OCI conversion, as pull does
    const converted = toOciManifest(manifest, d.mediaType);
    let root = base;
    if (converted) {
      const digest = await computeDigest(converted);
      await this.#store.putBlob(digest, converted);
      root = {
        ...base,
        mediaType: MediaType.OciManifest,
        digest,
        size: converted.byteLength,
        annotations: { [SOURCE_DIGEST_ANNOTATION]: d.digest },
      };
    }
    if (!root.platform) {
      const platform = await this.#platformOf(manifest.config);
      if (platform) root = { ...root, platform };
    }
    return { root, config: manifest.config.digest };
  }

  async #manifestBytes(d: Descriptor): Promise<Uint8Array> {
    if (!INDEX_MEDIA_TYPES.has(d.mediaType) && !isManifestType(d.mediaType)) {
      throw new ArchiveProblem(`${d.digest} has media type ${show(d.mediaType)}, not a manifest`);
    }
    if (d.size > this.#maxMeta) {
      throw new ArchiveProblem(`the manifest ${d.digest} is larger than ${this.#maxMeta} bytes`);
    }
    if (!(await this.#provide(d.digest, d.size))) {
      throw new ArchiveProblem(
        `the manifest ${d.digest} (${d.size} bytes) is not in the archive`,
      );
    }
    return await this.#store.readBlob(d.digest, this.#maxMeta);
  }

  async #platformOf(config: Descriptor): Promise<Platform | undefined> {
    try {
      const c = parseImageConfig(await this.#store.readBlob(config.digest, this.#maxMeta));
      if (!c.os || !c.architecture) return undefined;
      return {
        os: c.os,
        architecture: c.architecture,
        ...(c.variant ? { variant: c.variant } : {}),
      };
    } catch {
      return undefined; // an artifact's config: no platform
    }
  }

  /** `manifest.json`, validated. */
  #dockerItems(): DockerItem[] {
    const bytes = this.#metadata.get("manifest.json");
    if (!bytes) return [];
    let doc: unknown;
    try {
      doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch {
      throw new ArchiveProblem("manifest.json is not valid JSON");
    }
    if (!Array.isArray(doc)) throw new ArchiveProblem("manifest.json is not a list of images");
    if (doc.length > MAX_IMAGES) {
      throw new ArchiveProblem(`manifest.json lists more than ${MAX_IMAGES} images`);
    }
    return doc.map((item, i) => {
      const where = `manifest.json item ${i}`;
      if (typeof item !== "object" || item === null) {
        throw new ArchiveProblem(`${where} is not an object`);
      }
      const { Config, RepoTags, Layers } = item as Record<string, unknown>;
      if (typeof Config !== "string") throw new ArchiveProblem(`${where} has no Config path`);
      if (!Array.isArray(Layers) || !Layers.every((l) => typeof l === "string")) {
        throw new ArchiveProblem(`${where} has no Layers list`);
      }
      if (
        RepoTags !== undefined && RepoTags !== null &&
        (!Array.isArray(RepoTags) || !RepoTags.every((t) => typeof t === "string"))
      ) {
        throw new ArchiveProblem(`${where} has a RepoTags that is not a list of names`);
      }
      return { Config, RepoTags: (RepoTags ?? []) as string[], Layers: Layers as string[] };
    });
  }

  /** A classic docker archive: an OCI manifest is built for each `manifest.json` item. */
  async #fromDockerManifest(): Promise<{ entry: Descriptor; names: string[] }[]> {
    const items = this.#dockerItems();
    if (items.length === 0) throw new ArchiveProblem("manifest.json lists no image");
    const out: { entry: Descriptor; names: string[] }[] = [];
    for (const [i, item] of items.entries()) {
      const config = this.#need(item.Config, `manifest.json item ${i} Config`);
      const configBytes = await this.#readSmall(config);
      let parsedConfig;
      try {
        parsedConfig = parseImageConfig(configBytes);
      } catch (e) {
        throw new ArchiveProblem(
          `the config ${show(item.Config)} is not valid (${(e as Error).message})`,
        );
      }
      const diffIds = parsedConfig.rootfs?.diff_ids ?? [];
      if (diffIds.length !== item.Layers.length) {
        throw new ArchiveProblem(
          `manifest.json item ${i} lists ${item.Layers.length} layers, its config ` +
            `${diffIds.length} diff_ids`,
        );
      }
      const layers: Descriptor[] = [];
      for (const [j, path] of item.Layers.entries()) {
        const layer = this.#need(path, `manifest.json item ${i} layer ${j}`);
        const compression = compressionOf(layer.head);
        const diffId = compression === "none"
          ? layer.digest
          : await this.#diffIdOf(layer, compression);
        if (diffId !== diffIds[j]) {
          throw new ArchiveProblem(
            `layer ${show(path)} does not match the config: its content is ${diffId}, ` +
              `the config's diff_id ${diffIds[j]}`,
          );
        }
        layers.push({
          mediaType: compression === "gzip"
            ? MediaType.OciLayerGzip
            : compression === "zstd"
            ? MediaType.OciLayerZstd
            : MediaType.OciLayer,
          digest: layer.digest,
          size: layer.size,
        });
      }
      // verified: the config and layers get their names in blobs/
      for (const f of [config, ...item.Layers.map((p) => this.#resolve(p)!)]) await this.#commit(f);
      const manifest = new TextEncoder().encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: config.digest, size: config.size },
        layers,
      }));
      const digest = await computeDigest(manifest);
      await this.#store.putBlob(digest, manifest);
      const platform: Platform | undefined = parsedConfig.os && parsedConfig.architecture
        ? {
          os: parsedConfig.os,
          architecture: parsedConfig.architecture,
          ...(parsedConfig.variant ? { variant: parsedConfig.variant } : {}),
        }
        : undefined;
      out.push({
        entry: {
          mediaType: MediaType.OciManifest,
          digest,
          size: manifest.byteLength,
          ...(platform ? { platform } : {}),
        },
        names: item.RepoTags.map((t) => canonical(t)),
      });
    }
    return out;
  }

  /** The file a path in `manifest.json` names (through links), or an error. */
  #need(path: string, what: string): FileRecord {
    const found = this.#resolve(path);
    if (!found) throw new ArchiveProblem(`${what} is ${show(path)}, which the archive lacks`);
    return found;
  }

  #resolve(path: string): FileRecord | undefined {
    let p = archivePath(path);
    for (let hops = 0; hops < 16; hops++) {
      const f = this.#files.get(p);
      if (f) return f;
      const next = this.#links.get(p);
      if (next === undefined) return undefined;
      p = next;
    }
    throw new ArchiveProblem(`${show(path)} is a chain of more than 16 links`);
  }

  async #readSmall(f: FileRecord): Promise<Uint8Array> {
    if (f.size > this.#maxMeta) {
      throw new ArchiveProblem(`${show(f.path)} is larger than ${this.#maxMeta} bytes`);
    }
    return f.spool !== undefined
      ? await this.#spool!.read(f.spool, f.size)
      : f.temp
      ? await Deno.readFile(f.temp)
      : await this.#store.readBlob(f.digest, this.#maxMeta);
  }

  /** Whether the store has the blob, once the archive's entry of those bytes is committed. */
  async #provide(digest: string, size: number): Promise<boolean> {
    const held = this.#held.get(digest)?.find((f) => f.size === size);
    if (held) await this.#commit(held);
    return await this.#store.hasBlob(digest, size);
  }

  /** The sha256 of a compressed layer's tar, read back from ingest or the store. */
  async #diffIdOf(f: FileRecord, compression: "gzip" | "zstd"): Promise<string> {
    const { decompress } = await import("../stream/decompress.ts");
    using file = f.spool !== undefined
      ? undefined
      : await Deno.open(f.temp ?? this.#store.blobPath(f.digest), { read: true });
    const spooled = file ? undefined : await this.#spool!.read(f.spool!, f.size);
    const source = file ? file.readable : (async function* () {
      yield spooled!;
    })();
    const hash = createHash("sha256");
    try {
      for await (const chunk of decompress(source, compression)) {
        this.#signal?.throwIfAborted();
        hash.update(chunk);
      }
    } catch (e) {
      throw new ArchiveProblem(
        `layer ${show(f.path)} is not valid ${compression} data (${(e as Error).message})`,
      );
    }
    return `sha256:${hash.digest("hex")}`;
  }

  /** Names verified bytes in blobs/ (they hashed to `digest`): a temporary file is synced and
   * renamed there, a spooled entry written there. */
  async #commit(f: FileRecord): Promise<void> {
    const held = this.#held.get(f.digest);
    if (!held) return; // in the store already
    if (!(await this.#store.hasBlob(f.digest, f.size))) {
      if (f.spool !== undefined) {
        await this.#store.putBlob(f.digest, await this.#spool!.read(f.spool, f.size));
      } else {
        const temp = f.temp!;
        using file = await Deno.open(temp, { read: true, write: true });
        await file.syncData(); // as an ingest commit does: durable before it has a name
        const target = this.#store.blobPath(f.digest);
        await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
        await Deno.rename(temp, target);
      }
    }
    // every record of the same bytes is in the store now
    for (const other of held) {
      if (other.temp !== undefined) {
        this.#temps.delete(other.temp);
        await Deno.remove(other.temp).catch(() => {});
      }
      other.temp = undefined;
      other.spool = undefined;
    }
    this.#held.delete(f.digest);
  }

  /** Removes what was not committed (temporary files, the spool, a partial blob). */
  async cleanup(): Promise<void> {
    if (this.#current) await this.#current.abort().catch(() => {});
    for (const temp of this.#temps) await Deno.remove(temp).catch(() => {});
    this.#temps.clear();
    await this.#spool?.remove();
  }
}

/** One file in ingest that small entries are appended to, through a 1 MiB buffer (no sync:
 * what is used is written to blobs/ by `putBlob`, which syncs). */
class Spool {
  #path: string;
  #file: Deno.FsFile;
  #buffer = new Uint8Array(SPOOL_ENTRY_MAX);
  #buffered = 0;
  #written = 0;

  private constructor(path: string, file: Deno.FsFile) {
    this.#path = path;
    this.#file = file;
  }

  static async open(path: string): Promise<Spool> {
    const file = await Deno.open(path, { read: true, write: true, createNew: true, mode: 0o600 });
    return new Spool(path, file);
  }

  /** The bytes appended so far: where the next append begins. */
  get size(): number {
    return this.#written + this.#buffered;
  }

  async append(bytes: Uint8Array): Promise<void> {
    if (this.#buffered + bytes.byteLength > this.#buffer.byteLength) await this.#flush();
    if (bytes.byteLength > this.#buffer.byteLength) {
      await this.#write(bytes);
      return;
    }
    this.#buffer.set(bytes, this.#buffered);
    this.#buffered += bytes.byteLength;
  }

  async read(offset: number, size: number): Promise<Uint8Array> {
    await this.#flush();
    const bytes = new Uint8Array(size);
    await this.#file.seek(offset, Deno.SeekMode.Start);
    for (let at = 0; at < size;) {
      const n = await this.#file.read(bytes.subarray(at));
      if (n === null) throw new Error(`Cannot read ${this.#path}: it ends at ${offset + at}`);
      at += n;
    }
    return bytes;
  }

  async #flush(): Promise<void> {
    if (this.#buffered === 0) return;
    const bytes = this.#buffer.subarray(0, this.#buffered);
    this.#buffered = 0;
    await this.#write(bytes);
  }

  async #write(bytes: Uint8Array): Promise<void> {
    await this.#file.seek(this.#written, Deno.SeekMode.Start);
    await writeAll(this.#file, bytes);
    this.#written += bytes.byteLength;
  }

  async remove(): Promise<void> {
    try {
      this.#file.close();
    } catch {
      // closed
    }
    await Deno.remove(this.#path).catch(() => {});
  }
}

interface EntrySink {
  data(bytes: Uint8Array): Promise<void>;
  end(): Promise<void>;
  abort(): Promise<void>;
}

const IGNORE: EntrySink = {
  data: () => Promise.resolve(),
  end: () => Promise.resolve(),
  abort: () => Promise.resolve(),
};

class MemorySink implements EntrySink {
  #bytes: Uint8Array;
  #fill = 0;
  #done: (bytes: Uint8Array) => void;
  constructor(size: number, done: (bytes: Uint8Array) => void) {
    this.#bytes = new Uint8Array(size);
    this.#done = done;
  }
  data(bytes: Uint8Array): Promise<void> {
    this.#bytes.set(bytes, this.#fill);
    this.#fill += bytes.byteLength;
    return Promise.resolve();
  }
  end(): Promise<void> {
    this.#done(this.#bytes);
    return Promise.resolve();
  }
  abort(): Promise<void> {
    return Promise.resolve();
  }
}

/** The first bytes of an entry, kept for the compression check. */
class Head {
  bytes = new Uint8Array(4);
  fill = 0;
  take(chunk: Uint8Array): void {
    if (this.fill >= 4) return;
    const n = Math.min(4 - this.fill, chunk.byteLength);
    this.bytes.set(chunk.subarray(0, n), this.fill);
    this.fill += n;
  }
  get value(): Uint8Array {
    return this.bytes.subarray(0, this.fill);
  }
}

/** An entry named by its digest: into the blob's ingest file, committed only when it matches. */
class BlobSink implements EntrySink {
  #ingest: Ingest;
  #verifier: DigestVerifier;
  #head = new Head();
  #path: string;
  #done: (record: FileRecord) => void;
  constructor(ingest: Ingest, size: number, path: string, done: (record: FileRecord) => void) {
    this.#ingest = ingest;
    this.#path = path;
    this.#done = done;
    this.#verifier = new DigestVerifier({ digest: ingest.digest, size }, {
      what: `entry ${path}`,
    });
    this.#started = ingest.complete ? Promise.resolve() : ingest.truncate();
  }
  #started: Promise<void>;
  async data(bytes: Uint8Array): Promise<void> {
    await this.#started;
    this.#head.take(bytes);
    this.#verifier.update(bytes);
    if (!this.#ingest.complete) await this.#ingest.write(bytes);
  }
  async end(): Promise<void> {
    await this.#started;
    try {
      this.#verifier.verify();
    } catch (e) {
      if (e instanceof DigestMismatchError || e instanceof SizeMismatchError) {
        throw new ArchiveProblem(
          `entry ${show(this.#path)} does not match its name: its bytes hash to ` +
            `${e instanceof DigestMismatchError ? e.actual : "another size"}`,
        );
      }
      throw e;
    }
    if (!this.#ingest.complete) await this.#ingest.commit();
    this.#ingest.close();
    this.#done({
      path: this.#path,
      digest: this.#ingest.digest,
      size: this.#ingest.size,
      head: this.#head.value,
      temp: undefined,
      spool: undefined,
    });
  }
  async abort(): Promise<void> {
    if (!this.#ingest.complete) await this.#ingest.remove();
    this.#ingest.close();
  }
}

/** Any other file: hashed into a temporary file in ingest, named later if it is used. */
class TempSink implements EntrySink {
  #file: Deno.FsFile;
  #temp: string;
  #size: number;
  #path: string;
  #hash = createHash("sha256");
  #head = new Head();
  #done: (record: FileRecord) => void;
  constructor(
    file: Deno.FsFile,
    temp: string,
    size: number,
    path: string,
    done: (record: FileRecord) => void,
  ) {
    this.#file = file;
    this.#temp = temp;
    this.#size = size;
    this.#path = path;
    this.#done = done;
  }
  async data(bytes: Uint8Array): Promise<void> {
    this.#head.take(bytes);
    this.#hash.update(bytes);
    await writeAll(this.#file, bytes);
  }
  end(): Promise<void> {
    // not synced here: most such files are never used (synced when committed)
    this.#file.close();
    this.#done({
      path: this.#path,
      digest: `sha256:${this.#hash.digest("hex")}`,
      size: this.#size,
      head: this.#head.value,
      temp: this.#temp,
      spool: undefined,
    });
    return Promise.resolve();
  }
  abort(): Promise<void> {
    try {
      this.#file.close();
    } catch {
      // closed
    }
    return Promise.resolve();
  }
}

/** A small entry: appended to the spool while it is hashed (and checked against its name when it
 * has one: `blobs/<alg>/<hex>`). */
class SpoolSink implements EntrySink {
  #spool: Spool;
  #offset: number;
  #size: number;
  #path: string;
  #named: string | undefined;
  #hash;
  #algorithm: string;
  #head = new Head();
  #done: (record: FileRecord) => void;
  constructor(
    spool: Spool,
    size: number,
    path: string,
    named: string | undefined,
    done: (record: FileRecord) => void,
  ) {
    this.#spool = spool;
    this.#offset = spool.size;
    this.#size = size;
    this.#path = path;
    this.#named = named;
    this.#algorithm = named === undefined ? "sha256" : parseDigest(named).algorithm;
    this.#hash = createHash(this.#algorithm);
    this.#done = done;
  }
  async data(bytes: Uint8Array): Promise<void> {
    this.#head.take(bytes);
    this.#hash.update(bytes);
    await this.#spool.append(bytes);
  }
  end(): Promise<void> {
    const digest = `${this.#algorithm}:${this.#hash.digest("hex")}`;
    if (this.#named !== undefined && digest !== this.#named) {
      throw new ArchiveProblem(
        `entry ${show(this.#path)} does not match its name: its bytes hash to ${digest}`,
      );
    }
    this.#done({
      path: this.#path,
      digest,
      size: this.#size,
      head: this.#head.value,
      temp: undefined,
      spool: this.#offset,
    });
    return Promise.resolve();
  }
  abort(): Promise<void> {
    return Promise.resolve();
  }
}

/** The archive's bytes in chunks: a file read 1 MiB at a time, or a stream; gzip or zstd
 * compression of the whole archive is undone. When the consumer stops early (the archive's end
 * blocks came, or it failed), a stream is cancelled, before the decompressor is stopped (which
 * waits for its input): so a stream that stalls after the end holds nothing up. */
async function* archiveBytes(
  input: string | ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  let file: Deno.FsFile | undefined;
  let stream: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let next: () => Promise<Uint8Array | undefined>;
  if (typeof input === "string") {
    try {
      file = await Deno.open(input, { read: true });
    } catch (e) {
      throw new ArchiveProblem((e as Error).message);
    }
    const f = file;
    const buffer = new Uint8Array(READ_SIZE);
    next = async () => {
      const n = await f.read(buffer);
      return n === null ? undefined : buffer.subarray(0, n);
    };
  } else {
    const reader = input.getReader();
    stream = reader;
    next = async () => {
      const r = await reader.read();
      return r.done ? undefined : r.value;
    };
  }
  let decompressed: AsyncIterator<Uint8Array> | undefined;
  try {
    const head = await next();
    if (head === undefined) return;
    const compression = compressionOf(head);
    const rest = async function* () {
      yield head;
      for (let chunk = await next(); chunk !== undefined; chunk = await next()) yield chunk;
    };
    if (compression === "none") {
      for await (const chunk of rest()) {
        signal?.throwIfAborted();
        yield chunk;
      }
      return;
    }
    const { decompress } = await import("../stream/decompress.ts");
    // a file buffer is reused: the decompressor gets copies
    const copied = async function* () {
      for await (const chunk of rest()) yield file ? chunk.slice() : chunk;
    };
    decompressed = decompress(copied(), compression)[Symbol.asyncIterator]();
    for (let r = await decompressed.next(); !r.done; r = await decompressed.next()) {
      signal?.throwIfAborted();
      yield r.value;
    }
  } finally {
    // what follows is not read: the stream's producer sees it closed
    await stream?.cancel().catch(() => {});
    await decompressed?.return?.();
    file?.close();
  }
}

/** gzip, zstd or plain, from the first bytes. */
function compressionOf(head: Uint8Array): "none" | "gzip" | "zstd" {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}

/** A tar path made relative and normalized; one that is absolute or climbs out is refused. */
function archivePath(raw: string, context: { link?: string } = {}): string {
  const what = () =>
    context.link !== undefined
      ? `entry ${show(context.link)} links to ${show(raw)}, which`
      : `entry ${show(raw)}`;
  if (raw.startsWith("/")) throw new ArchiveProblem(`${what()} has an absolute path`);
  const parts: string[] = [];
  for (const part of raw.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) throw new ArchiveProblem(`${what()} escapes the archive`);
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts.join("/");
}

/** The digest of a `blobs/<alg>/<hex>` path; an ill-formed one under blobs/ is refused. */
function blobDigest(path: string): string | undefined {
  const m = /^blobs\/([^/]+)\/([^/]+)$/.exec(path);
  if (!m) return undefined;
  const digest = `${m[1]}:${m[2]}`;
  if (!isDigest(digest)) {
    throw new ArchiveProblem(`entry ${show(path)} is not named by a valid digest`);
  }
  parseDigest(digest);
  return digest;
}

/** The names an `index.json` entry gives (a bare tag names nothing: it has no repository). */
function nameOf(d: Descriptor): string[] {
  const value = d.annotations?.[CONTAINERD_NAME_ANNOTATION] ?? d.annotations?.[REF_NAME_ANNOTATION];
  if (value === undefined || value === "") return [];
  if (!/[/:@]/.test(value)) return [];
  return [canonical(value)];
}

function canonical(name: string): string {
  try {
    return parseReference(name).toString();
  } catch {
    throw new ArchiveProblem(`the archive names an image ${show(name)}, not a valid reference`);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isManifestType(mediaType: string): boolean {
  return mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest;
}

/** An untrusted string, quoted, control characters escaped, at most 200 characters. */
function show(value: string): string {
  const s = value.length > 200 ? value.slice(0, 197) + "..." : value;
  return JSON.stringify(s);
}

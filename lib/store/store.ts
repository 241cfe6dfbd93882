/**
 * The store: an OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) plus `ingest/`
 * for partial downloads and locks. It is a valid layout at every instant: blobs appear by rename
 * after verification, `index.json` is replaced by rename under a lock.
 *
 * @module
 */

import { computeDigest } from "../reference/compute_digest.ts";
import { DigestMismatchError } from "../reference/digest_mismatch_error.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import { MediaType } from "../oci/media_types.ts";
import {
  CONFIG_SIZE_LIMIT,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  MANIFEST_SIZE_LIMIT,
  ManifestError,
  type ParsedManifest,
  parseManifest,
} from "../oci/parse_manifest.ts";
import { type ImageConfig, parseImageConfig } from "../oci/parse_image_config.ts";
import { fileSize, hashFile, isReadOnlyError, refuseNonDirectory, writeFileAtomic } from "./_fs.ts";
import { updateSharedFile } from "../transport/update_shared_file.ts";
import { Ingest } from "./ingest.ts";
import { acquireLock, INDEX_LOCK } from "./_locks.ts";
import { type IndexEntry, readEntries } from "./index_entry.ts";
import { createTempDir, isTempName, splitPath, sweepTemps, tempName } from "./_temp_files.ts";
import { resolveOutput } from "./output_file.ts";
import { ScratchFile } from "./scratch_file.ts";

export { REF_NAME_ANNOTATION } from "../oci/annotations.ts";
/** Annotation on `index.json` entries: the index the name pointed at, when it was an index. */
export const INDEX_DIGEST_ANNOTATION = "dev.skiff.index.digest";
/**
 * Annotation on `index.json` entries: the registry's manifest digest, when skiff stored an OCI
 * conversion of a Docker manifest.
 */
export const SOURCE_DIGEST_ANNOTATION = "dev.skiff.source.digest";
/**
 * Annotation on `index.json` entries: when the name was pulled to what it points at now (RFC
 * 3339); a re-pull that finds nothing new does not change it.
 */
export const PULLED_ANNOTATION = "dev.skiff.pulled";

/** The `index.json` document. Fields skiff does not know are kept as they are. */
export interface LayoutIndex {
  /** Always 2. */
  schemaVersion: 2;
  /** The OCI index media type. */
  mediaType?: string;
  /** One entry per named image. */
  manifests: Descriptor[];
  /** Other fields, kept. */
  [key: string]: unknown;
}

/**
 * What the store's typed reads take: a descriptor, or as much of one as the caller has. The
 * digest names the blob (and is checked); the media type, when given, tells how to read it, as a
 * `Content-Type` does. A size is not trusted: the digest decides.
 */
export type BlobRef = Pick<Descriptor, "digest"> & Partial<Pick<Descriptor, "mediaType" | "size">>;

/** A manifest or index read from the store by {@linkcode Store.readManifestOrIndex}. */
export interface StoredDocument {
  /** Its descriptor: the media type the document has (see `parseManifest`), digest, size. */
  descriptor: Descriptor;
  /** Its exact bytes, verified against the digest. */
  bytes: Uint8Array;
  /** The parsed document. */
  parsed: ParsedManifest;
}

/** An image manifest read from the store by {@linkcode Store.readManifest}. */
export interface StoredImageManifest extends StoredDocument {
  /** The manifest. */
  manifest: ImageManifest;
}

/** An index read from the store by {@linkcode Store.readIndex}. */
export interface StoredIndex extends StoredDocument {
  /** The index. */
  index: ImageIndex;
}

/** Options for {@linkcode Store.open}. */
export interface StoreOpenOptions {
  /**
   * Create the layout when the directory is missing or empty.
   * @default {true}
   */
  create?: boolean;
}

const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';
const EMPTY_INDEX = JSON.stringify(
  { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] },
  null,
  2,
) + "\n";

/**
 * An OCI image layout on disk that skiff pulls into.
 *
 * @example Open a store and list its images
 * ```ts
 * import { Store } from "./store.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const store = await Store.open(dir);
 * console.log((await store.readLayoutIndex()).manifests.length); // 0
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Store {
  /** The layout's directory. */
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /**
   * The default store directory: `$SKIFF_STORE`, else `$XDG_DATA_HOME/skiff`, else
   * `~/.local/share/skiff`.
   *
   * @returns The directory path.
   * @throws {Error} When none of those variables is set.
   */
  static defaultPath(): string {
    const env = (name: string) => {
      try {
        return Deno.env.get(name) || undefined;
      } catch {
        return undefined; // no --allow-env: fall through
      }
    };
    const explicit = env("SKIFF_STORE");
    if (explicit) return explicit;
    const xdg = env("XDG_DATA_HOME");
    if (xdg) return `${xdg}/skiff`;
    const home = env("HOME") ?? env("USERPROFILE");
    if (home) return `${home}/.local/share/skiff`;
    throw new Error("Cannot find a store directory: set SKIFF_STORE or HOME, or pass --store");
  }

  /**
   * Opens a store, creating the layout when the directory is missing or empty.
   *
   * A new store is built in a temporary sibling directory (`.NAME.skiff-new-<id>`, locked while
   * it is built; one a killed creation left is removed by the next) and renamed into place, so no
   * one ever sees a directory without `oci-layout` and `index.json`. A symlink to a directory
   * that does not exist yet gets the store where it points.
   *
   * @param path The layout directory.
   * @param options Whether to create it.
   * @returns The store.
   * @throws {Error} When the directory exists, is not empty, and is not an OCI layout.
   */
  static async open(path: string, options: StoreOpenOptions = {}): Promise<Store> {
    const dir = path.length > 1 ? path.replace(/\/+$/, "") : path;
    const store = new Store(dir);
    await refuseNonDirectory(dir);
    if ((await fileSize(`${dir}/oci-layout`)) !== undefined) {
      await store.#ensureDirs();
      return store;
    }
    if (options.create === false) {
      throw new Error(`Cannot open store ${dir}: not an OCI image layout (no oci-layout file)`);
    }
    let entries: string[] | undefined;
    try {
      entries = [];
      for await (const e of Deno.readDir(dir)) entries.push(e.name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw storeError(dir, "open", e);
      entries = undefined;
    }
    if (entries?.includes("oci-layout")) {
      // another process finished creating it between our two looks
      await store.#ensureDirs();
      return store;
    }
    if (entries !== undefined && entries.length > 0 && !(await beingCreated(dir, entries))) {
      throw new Error(
        `Cannot open store ${dir}: the directory is not empty and is not an OCI image layout`,
      );
    }
    try {
      if (entries === undefined) {
        // built beside it (a symlink to nothing yet: beside where it points; the link stays), in
        // a locked temporary that the next creation of the same store removes after a kill
        const { target } = await resolveOutput(dir);
        const { parent, base } = splitPath(target);
        await Deno.mkdir(parent, { recursive: true });
        await sweepTemps(parent, (name) => isTempName(name, base));
        const name = tempName(base, "new");
        const temp = `${parent}/${name}`;
        const lock = await createTempDir(parent, name, 0o755);
        try {
          await Deno.chmod(temp, 0o755);
          await Deno.writeTextFile(`${temp}/oci-layout`, OCI_LAYOUT);
          await Deno.writeTextFile(`${temp}/index.json`, EMPTY_INDEX);
          await Deno.rename(temp, target);
        } catch (e) {
          await Deno.remove(temp, { recursive: true }).catch(() => {});
          // another process created it first: use theirs
          if ((await fileSize(`${dir}/oci-layout`)) === undefined) throw e;
        } finally {
          lock.close();
        }
      } else {
        // an empty directory (a mount point, `.`): the two files are written under the index
        // lock, and only by the first to take it, so a second opener cannot put an empty
        // index.json over the entries a first one's pull wrote meanwhile
        await Deno.mkdir(`${dir}/ingest`, { recursive: true });
        using _lock = await acquireLock(store, INDEX_LOCK, true);
        if ((await fileSize(`${dir}/oci-layout`)) === undefined) {
          await writeFileAtomic(`${dir}/index.json`, EMPTY_INDEX, `${dir}/ingest`);
          await writeFileAtomic(`${dir}/oci-layout`, OCI_LAYOUT, `${dir}/ingest`);
        }
      }
      await store.#ensureDirs();
    } catch (e) {
      throw storeError(dir, "create", e);
    }
    return store;
  }

  async #ensureDirs(): Promise<void> {
    for (const dir of [`${this.path}/blobs/sha256`, `${this.path}/ingest`]) {
      try {
        await Deno.mkdir(dir, { recursive: true });
      } catch (e) {
        // a read-only store: what only reads works; a write says so when it comes
        if (!isReadOnlyError(e)) throw storeError(this.path, "open", e);
      }
    }
  }

  /**
   * The path of a blob in the layout (whether or not it exists).
   *
   * @param digest A digest; it is validated before it becomes a path.
   * @returns `<store>/blobs/<alg>/<hex>`.
   */
  blobPath(digest: string): string {
    const d = parseDigest(digest);
    return `${this.path}/blobs/${d.algorithm}/${d.hex}`;
  }

  /**
   * Hashes a blob's file as it is read (any size): the digest its bytes really have, to tell an
   * intact blob from a damaged one where reading it failed for another reason (a layer whose tar
   * broke). Small blobs are verified on every read anyway ({@linkcode Store.readBlob}).
   *
   * @param digest The blob's name (its algorithm is the one used).
   * @param signal Stops the reading.
   * @returns The digest of the file's bytes, or `undefined` when the store does not have it.
   *
   * @example An intact blob hashes to its name
   * ```ts
   * import { Store } from "./store.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * const store = await Store.open(dir);
   * const digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
   * await store.putBlob(digest, new TextEncoder().encode("hello"));
   * assert.equal(await store.hashBlob(digest), digest);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async hashBlob(digest: string, signal?: AbortSignal): Promise<string | undefined> {
    const { algorithm } = parseDigest(digest);
    const hashed = await hashFile(this.blobPath(digest), algorithm, signal);
    return hashed && `${algorithm}:${hashed.hex}`;
  }

  /**
   * Tells whether a blob is present (and, when `size` is given, has that size).
   *
   * @param digest The blob's digest.
   * @param size The expected size, if known.
   * @returns `true` when present.
   */
  async hasBlob(digest: string, size?: number): Promise<boolean> {
    const have = await fileSize(this.blobPath(digest));
    return have !== undefined && (size === undefined || have === size);
  }

  /**
   * Tells whether a small blob (an index, a manifest, a config) is present and intact: it is read
   * whole and hashed, as every read of a small blob is.
   *
   * @param digest The blob's digest.
   * @param size The size it must have, if known.
   * @param limit The largest size read.
   * @returns `missing` (absent, or of another size), `damaged` (it does not hash to its name), or
   * `intact`.
   */
  async blobState(
    digest: string,
    size?: number,
    limit: number = CONFIG_SIZE_LIMIT,
  ): Promise<"missing" | "damaged" | "intact"> {
    if (!(await this.hasBlob(digest, size))) return "missing";
    try {
      await this.readBlob(digest, limit);
      return "intact";
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return "missing";
      if (e instanceof DigestMismatchError) return "damaged";
      throw e;
    }
  }

  /**
   * Reads a small blob (a manifest or config) whole, and checks its digest. What it is is the
   * caller's business: {@linkcode Store.readManifest}, {@linkcode Store.readIndex} and
   * {@linkcode Store.readConfig} read and parse the documents skiff understands.
   *
   * @param digest The blob's digest.
   * @param limit The largest size read.
   * @returns The bytes.
   * @throws {DigestMismatchError} When the file does not hash to its name (a damaged store).
   */
  async readBlob(digest: string, limit: number = CONFIG_SIZE_LIMIT): Promise<Uint8Array> {
    const path = this.blobPath(digest);
    const size = await fileSize(path);
    if (size === undefined) {
      throw new Deno.errors.NotFound(`Cannot read blob ${digest}: not in the store`);
    }
    if (size > limit) {
      throw new RangeError(`Cannot read blob ${digest}: larger than ${limit} bytes`);
    }
    const bytes = await Deno.readFile(path);
    const actual = await computeDigest(bytes, parseDigest(digest).algorithm);
    if (actual !== digest) {
      throw new DigestMismatchError(
        `stored blob ${digest}`,
        digest,
        actual,
        "run skiff fsck --repair",
      );
    }
    return bytes;
  }

  /**
   * Reads a stored manifest or index: at most `MANIFEST_SIZE_LIMIT` bytes, verified against its
   * digest, parsed by `parseManifest` (the descriptor's media type read as a `Content-Type`).
   * The one place a stored manifest becomes a document, as containerd's `content.ReadBlob`.
   *
   * @param ref Its descriptor (or its digest, and its media type when known).
   * @returns Its descriptor as read, its bytes, and the parsed document.
   * @throws {Deno.errors.NotFound} When the store does not have it.
   * @throws {DigestMismatchError} When the file does not hash to its name.
   * @throws {RangeError} When it is larger than a manifest may be.
   * @throws {ManifestError} When it is not a manifest or index.
   *
   * @example Read back a manifest the store was given
   * ```ts
   * import { Store } from "./store.ts";
   * import { computeDigest } from "../reference/compute_digest.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * const store = await Store.open(dir);
   * const bytes = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, manifests: [] }));
   * const digest = await computeDigest(bytes);
   * await store.putBlob(digest, bytes);
   * const read = await store.readManifestOrIndex({ digest });
   * assert.equal(read.parsed.kind, "index");
   * assert.equal(read.descriptor.size, bytes.byteLength);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async readManifestOrIndex(ref: BlobRef): Promise<StoredDocument> {
    const bytes = await this.readBlob(ref.digest, MANIFEST_SIZE_LIMIT);
    const parsed = parseManifest(bytes, ref.mediaType || undefined);
    return {
      descriptor: { mediaType: parsed.mediaType, digest: ref.digest, size: bytes.byteLength },
      bytes,
      parsed,
    };
  }

  /**
   * Reads a stored image manifest (see {@linkcode Store.readManifestOrIndex}).
   *
   * @param ref Its descriptor (or its digest, and its media type when known).
   * @returns Its descriptor as read, its bytes, and the manifest.
   * @throws {ManifestError} When it is an index, or not a manifest at all.
   * @throws {Deno.errors.NotFound} When the store does not have it.
   * @throws {DigestMismatchError} When the file does not hash to its name.
   *
   * @example Read a stored image manifest
   * ```ts
   * import { Store } from "./store.ts";
   * import { computeDigest } from "../reference/compute_digest.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * const store = await Store.open(dir);
   * const config = { mediaType: "application/vnd.oci.image.config.v1+json", size: 2 };
   * const bytes = new TextEncoder().encode(JSON.stringify({
   *   schemaVersion: 2,
   *   config: { ...config, digest: await computeDigest(new TextEncoder().encode("{}")) },
   *   layers: [],
   * }));
   * const digest = await computeDigest(bytes);
   * await store.putBlob(digest, bytes);
   * assert.equal((await store.readManifest({ digest })).manifest.layers.length, 0);
   * await assert.rejects(() => store.readIndex({ digest }), /not an index/);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async readManifest(ref: BlobRef): Promise<StoredImageManifest> {
    const read = await this.readManifestOrIndex(ref);
    if (read.parsed.kind !== "manifest") {
      throw new ManifestError(`Cannot use ${ref.digest} as an image: it is an index`);
    }
    return { ...read, manifest: read.parsed.manifest };
  }

  /**
   * Reads a stored index (see {@linkcode Store.readManifestOrIndex}).
   *
   * @param ref Its descriptor (or its digest, and its media type when known).
   * @returns Its descriptor as read, its bytes, and the index.
   * @throws {ManifestError} When it is an image manifest, or not a manifest at all.
   * @throws {Deno.errors.NotFound} When the store does not have it.
   * @throws {DigestMismatchError} When the file does not hash to its name.
   *
   * @example Read a stored index
   * ```ts
   * import { Store } from "./store.ts";
   * import { computeDigest } from "../reference/compute_digest.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * const store = await Store.open(dir);
   * const bytes = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, manifests: [] }));
   * const digest = await computeDigest(bytes);
   * await store.putBlob(digest, bytes);
   * assert.deepEqual((await store.readIndex({ digest })).index.manifests, []);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async readIndex(ref: BlobRef): Promise<StoredIndex> {
    const read = await this.readManifestOrIndex(ref);
    if (read.parsed.kind !== "index") {
      throw new ManifestError(`Cannot use ${ref.digest} as an index: it is not an index`);
    }
    return { ...read, index: read.parsed.index };
  }

  /**
   * Reads a stored image config: at most `CONFIG_SIZE_LIMIT` bytes, verified against its
   * digest, parsed by `parseImageConfig`.
   *
   * @param ref Its descriptor (or its digest).
   * @returns The config.
   * @throws {Deno.errors.NotFound} When the store does not have it.
   * @throws {DigestMismatchError} When the file does not hash to its name.
   * @throws {SyntaxError} When it is not an image config.
   *
   * @example Read a stored config
   * ```ts
   * import { Store } from "./store.ts";
   * import { computeDigest } from "../reference/compute_digest.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * const store = await Store.open(dir);
   * const bytes = new TextEncoder().encode('{"os":"linux","architecture":"arm64"}');
   * const digest = await computeDigest(bytes);
   * await store.putBlob(digest, bytes);
   * assert.equal((await store.readConfig({ digest })).architecture, "arm64");
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async readConfig(ref: BlobRef): Promise<ImageConfig> {
    return parseImageConfig(await this.readBlob(ref.digest, CONFIG_SIZE_LIMIT));
  }

  /**
   * Stores a small blob held in memory (a manifest), after checking its digest. A copy already
   * in the store is kept only when it is intact: a damaged one (a flipped byte, same size) is
   * replaced.
   *
   * @param digest The digest the bytes must have.
   * @param bytes The content.
   * @throws {DigestMismatchError} When the bytes do not match.
   */
  async putBlob(digest: string, bytes: Uint8Array): Promise<void> {
    const actual = await computeDigest(bytes, parseDigest(digest).algorithm);
    if (actual !== digest) throw new DigestMismatchError(`blob ${digest}`, digest, actual);
    if ((await this.blobState(digest, bytes.byteLength, bytes.byteLength)) === "intact") return;
    const path = this.blobPath(digest);
    try {
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await writeFileAtomic(path, bytes, `${this.path}/ingest`);
    } catch (e) {
      throw storeError(this.path, "write to", e);
    }
  }

  /**
   * Opens (creating if needed) and exclusively locks the partial file of a blob. Waits while
   * another process or pull holds the lock. Close the result when done.
   *
   * @param digest The blob's digest.
   * @param size The blob's size.
   * @returns The locked ingest; `complete` is `true` when the blob is already in the store.
   */
  async openIngest(digest: string, size: number): Promise<Ingest> {
    const d = parseDigest(digest);
    const path = `${this.path}/ingest/${d.algorithm}-${d.hex}`;
    const blobPath = this.blobPath(digest);
    for (let attempt = 0;; attempt++) {
      let file: Deno.FsFile;
      try {
        file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o644 });
      } catch (e) {
        throw storeError(this.path, "write to", e);
      }
      try {
        await file.lock(true);
        // the path may have been renamed into blobs/ or removed while we waited for the lock
        const [held, current] = await Promise.all([file.stat(), Deno.stat(path).catch(() => null)]);
        if (current === null || current.ino !== held.ino || current.dev !== held.dev) {
          file.close();
          if (attempt > 100) throw new Error(`Cannot lock ${path}: it keeps changing`);
          continue;
        }
        const complete = await this.hasBlob(digest, size);
        if (complete) await Deno.remove(path).catch(() => {});
        return new Ingest({ digest, size, path, blobPath, file, complete });
      } catch (e) {
        try {
          file.close();
        } catch {
          // closed above
        }
        throw e;
      }
    }
  }

  /**
   * Creates a {@linkcode ScratchFile} in `ingest/` (`tmp-<kind>-<uuid>`): for bytes whose digest
   * is known only once they are written, named by `commit`. Hold the pull side of the gc lock
   * (a `LayoutImageDestination`) while it exists: gc removes what it finds there otherwise.
   *
   * @param kind A word for its name (`load`).
   * @returns The file, open for appending and reading.
   *
   * @example See {@linkcode ScratchFile}
   * ```ts
   * import { Store } from "./store.ts";
   *
   * const dir = await Deno.makeTempDir();
   * const scratch = await (await Store.open(dir)).createScratch("example");
   * await scratch.remove();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async createScratch(kind: string): Promise<ScratchFile> {
    const path = `${this.path}/ingest/tmp-${kind}-${crypto.randomUUID()}`;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true, write: true, createNew: true, mode: 0o644 });
    } catch (e) {
      throw storeError(this.path, "write to", e);
    }
    return new ScratchFile(path, file, (digest) => this.blobPath(digest));
  }

  /**
   * Reads `index.json` (the layout's own index, of names; an image index in `blobs/` is read by
   * {@linkcode Store.readIndex}).
   *
   * @returns The layout's index.
   * @throws {Error} When it is missing or not a valid index.
   */
  async readLayoutIndex(): Promise<LayoutIndex> {
    let text: string;
    try {
      text = await Deno.readTextFile(`${this.path}/index.json`);
    } catch (e) {
      throw storeError(this.path, "read", e);
    }
    return this.#parseIndex(text);
  }

  /** `index.json`'s text as an index. */
  #parseIndex(text: string): LayoutIndex {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new Error(`Cannot read store ${this.path}: index.json is not valid JSON`);
    }
    if (
      typeof doc !== "object" || doc === null ||
      !Array.isArray((doc as { manifests?: unknown }).manifests)
    ) {
      throw new Error(`Cannot read store ${this.path}: index.json has no manifests list`);
    }
    return doc as LayoutIndex;
  }

  /**
   * Changes the list of images in `index.json` as every shared file is changed
   * (`updateSharedFile`): under the store's index lock (`ingest/index.lock`, which gc takes too),
   * re-read inside it, written to `ingest/`, synced and renamed over, so concurrent pulls never
   * lose each other's entries.
   *
   * @param update Gets the current entries, returns the new ones.
   */
  async updateIndex(update: (manifests: Descriptor[]) => Descriptor[]): Promise<void> {
    const path = `${this.path}/index.json`;
    try {
      await updateSharedFile(path, (text) => {
        if (text === undefined) {
          throw storeError(this.path, "read", new Deno.errors.NotFound(`no ${path}`));
        }
        const index = this.#parseIndex(text);
        const next: LayoutIndex = { ...index, manifests: update([...index.manifests]) };
        if (next.mediaType === undefined) next.mediaType = MediaType.OciIndex;
        return JSON.stringify(next, null, 2) + "\n";
      }, { lockFile: `${this.path}/ingest/${INDEX_LOCK}`, tempDir: `${this.path}/ingest` });
    } catch (e) {
      throw storeError(this.path, "write to", e);
    }
  }

  /**
   * Finds an image by its full name (`org.opencontainers.image.ref.name`).
   *
   * @param name The canonical reference, e.g. `docker.io/library/alpine:3.20`.
   * @returns Its entry, or `undefined`.
   */
  async findImage(name: string): Promise<Descriptor | undefined> {
    const entry = (await this.readEntries()).find((e) => e.name === name);
    // an entry with malformed fields is not an image to use: a pull replaces it
    return entry && entry.problems.length === 0 ? entry.descriptor : undefined;
  }

  /**
   * Reads `index.json`'s entries through the one lenient reader every command uses: the media
   * type without parameters, only well-typed fields, and what is wrong with each entry.
   *
   * @returns The entries, in order.
   * @throws {Error} When `index.json` is missing or not a valid index.
   */
  async readEntries(): Promise<IndexEntry[]> {
    return readEntries((await this.readLayoutIndex()).manifests);
  }
}

/**
 * Whether a directory holds only what a `Store.open` making a layout in it writes before
 * `oci-layout` (its `ingest/` with the index lock, `index.json`): another opener is creating it
 * (or was killed doing so), and the index lock tells which.
 */
async function beingCreated(dir: string, entries: string[]): Promise<boolean> {
  if (!entries.every((e) => e === "ingest" || e === "index.json")) return false;
  return (await fileSize(`${dir}/ingest/${INDEX_LOCK}`)) !== undefined;
}

/** Wraps an operating-system error (full disk, read-only, permissions) with the store's path. */
function storeError(path: string, action: string, cause: unknown): unknown {
  // Deno's own classes (NotFound, PermissionDenied, ...) or a plain Error with an errno `code`
  // (EROFS, ENOSPC, EDQUOT, ...)
  const fromOs = cause instanceof Error &&
    (Object.values(Deno.errors).some((kind) => cause instanceof kind) ||
      typeof (cause as { code?: unknown }).code === "string");
  if (!fromOs) return cause;
  return new Error(`Cannot ${action} store ${path}: ${(cause as Error).message}`, { cause });
}

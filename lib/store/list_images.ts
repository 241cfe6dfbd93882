/**
 * The images a store holds: one per `index.json` entry, or per stored platform of an entry that
 * is an index, with its size, platform, and whether every blob it needs is present.
 *
 * @module
 */

import type { Descriptor, Platform } from "../oci/parse_manifest.ts";
import { openExisting } from "./_open_existing.ts";
import type { IndexEntry } from "./index_entry.ts";
import { childrenOf, refersToBlobs, walkOptions } from "./_walk.ts";
import { configPlatform } from "../oci/check_image_platform.ts";
import { isAttestation } from "../oci/choose_platform.ts";
import { registryDigestOf } from "./resolve_stored_image.ts";
import {
  INDEX_DIGEST_ANNOTATION,
  PULLED_ANNOTATION,
  REF_NAME_ANNOTATION,
  type Store,
} from "./store.ts";

/** One image in a store, as {@linkcode listImages} describes it. */
export interface StoredImage {
  /** The name (`org.opencontainers.image.ref.name`), or `undefined` for an unnamed entry. */
  name: string | undefined;
  /**
   * The registry's digest of the image's manifest: for a Docker schema 2 image stored as its OCI
   * conversion, the original's; for a platform of a stored index, that platform's manifest; for
   * an index with no platform stored, the index's.
   */
  digest: string;
  /** The digest of the manifest as stored (differs from `digest` after a conversion). */
  storedDigest: string;
  /** The index the image is a platform of: the stored index entry's, or the one it was chosen from. */
  indexDigest: string | undefined;
  /**
   * For a platform of an index that `rm --platform` cut down: the registry's digest of the index
   * it was cut from. `indexDigest` is then the cut's, skiff's own, which no registry has (the
   * platform's `digest` is still the registry's). `undefined` otherwise.
   */
  indexCutFrom: string | undefined;
  /** The entry's media type. */
  mediaType: string;
  /** The platform: the index entry's, else the config's; `undefined` when unknown. */
  platform: Platform | undefined;
  /**
   * Bytes of the image's config and layers (each blob counted once), as the manifests declare
   * them, with those of the attestations that describe it.
   */
  size: number;
  /** When skiff pulled it (the `dev.skiff.pulled` annotation), as RFC 3339. */
  pulled: string | undefined;
  /** Digests the image needs that are not in the store: empty when it is complete. */
  missing: string[];
  /**
   * What is wrong with the entry: malformed fields in `index.json`, or a manifest or index in the
   * store that is damaged or not a manifest. Empty when nothing is; the other images are listed
   * all the same.
   */
  problems: string[];
  /** The `index.json` entry (its well-typed fields, the media type without parameters). */
  descriptor: Descriptor;
}

/** Options for {@linkcode listImages}. */
export interface ListImagesOptions {
  /** Stops the listing. */
  signal?: AbortSignal;
}

/**
 * Lists the images in a store, in `index.json` order; an entry that is an index (several platforms
 * stored) is one image per platform whose manifest is in the store. A directory that does not exist yet is an
 * empty store (nothing is created). Only small blobs are read (manifests, and a config when the
 * entry has no platform); layers are only checked for presence.
 *
 * @param store The store: a directory or an open {@linkcode Store}.
 * @param options Abort signal.
 * @returns The images.
 * A damaged or malformed entry is listed with its `problems`; it never stops the listing.
 *
 * @throws {Error} When the directory is not an OCI image layout, or `index.json` is unreadable.
 *
 * @example List a store
 * ```ts
 * import { listImages } from "./list_images.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * assert.deepEqual(await listImages(`${dir}/not-yet`), []);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function listImages(
  store: string | Store,
  options: ListImagesOptions = {},
): Promise<StoredImage[]> {
  const opened = await openExisting(store);
  if (!opened) return [];
  const images: StoredImage[] = [];
  for (const entry of await opened.readEntries()) {
    options.signal?.throwIfAborted();
    images.push(...await describeEntry(opened, entry));
  }
  return images;
}

/**
 * Describes one `index.json` entry: size, platform, missing blobs, problems. Never throws for
 * what the store holds: a damaged manifest is the entry's problem.
 *
 * @param store The store.
 * @param entry The entry, as `Store.readEntries()` reads it.
 * @returns The description: one per stored platform for an index, else one.
 */
export async function describeEntry(store: Store, entry: IndexEntry): Promise<StoredImage[]> {
  const problems = [...entry.problems];
  let described: Described[] = [];
  if (entry.digest !== undefined) {
    try {
      described = await describe(store, entry.descriptor);
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
  }
  const fallback: Described = {
    name: entry.name,
    digest: entry.descriptor.digest,
    storedDigest: entry.descriptor.digest,
    indexDigest: undefined,
    indexCutFrom: undefined,
    mediaType: entry.descriptor.mediaType,
    platform: entry.descriptor.platform,
    size: 0,
    pulled: entry.descriptor.annotations?.[PULLED_ANNOTATION],
    missing: [],
    descriptor: entry.descriptor,
  };
  return (described.length > 0 ? described : [fallback]).map((d) => ({
    ...d,
    problems,
    descriptor: entry.descriptor,
  }));
}

type Described = Omit<StoredImage, "problems">;

/**
 * Describes one well-formed entry; a damaged manifest throws. An index whose platforms' manifests
 * are in the store is one description per platform (attestations are counted with the platform
 * they describe, never listed).
 */
async function describe(store: Store, entry: Descriptor): Promise<Described[]> {
  const base = {
    name: entry.annotations?.[REF_NAME_ANNOTATION],
    indexCutFrom: undefined,
    mediaType: entry.mediaType,
    pulled: entry.annotations?.[PULLED_ANNOTATION],
    descriptor: entry,
  };
  const one = (): Tally => ({ missing: [], counted: new Set(), size: 0 });
  if (!refersToBlobs(entry)) {
    const t = one();
    if (!(await store.hasBlob(entry.digest))) t.missing.push(entry.digest);
    return [{
      ...base,
      digest: entry.digest,
      storedDigest: entry.digest,
      indexDigest: undefined,
      platform: entry.platform,
      size: 0,
      missing: t.missing,
    }];
  }
  const children = await childrenOf(store, entry.digest, walkOptions(entry));
  if (!children) {
    return [{
      ...base,
      digest: registryDigestOf(entry),
      storedDigest: entry.digest,
      indexDigest: entry.annotations?.[INDEX_DIGEST_ANNOTATION],
      platform: entry.platform,
      size: 0,
      missing: [entry.digest],
    }];
  }
  if (children.manifests.length === 0 && children.config !== undefined) {
    const t = one();
    const platform = await image(store, entry, t, true) ?? entry.platform;
    return [{
      ...base,
      digest: registryDigestOf(entry),
      storedDigest: entry.digest,
      indexDigest: entry.annotations?.[INDEX_DIGEST_ANNOTATION],
      platform: entry.platform ?? platform,
      size: t.size,
      missing: t.missing,
    }];
  }
  // an index: one line per platform whose manifest is in the store
  const stored: Descriptor[] = [];
  for (const m of children.manifests) {
    if (await store.hasBlob(m.digest)) stored.push(m);
  }
  const platforms = stored.filter((m) => !isAttestation(m));
  if (platforms.length === 0) {
    // nothing but the index (or attestations alone): the index as one line
    const t = one();
    for (const m of stored) await image(store, m, t, false);
    return [{
      ...base,
      digest: registryDigestOf(entry),
      storedDigest: entry.digest,
      indexDigest: undefined,
      platform: undefined,
      size: t.size,
      missing: t.missing,
    }];
  }
  const lines: Described[] = [];
  for (const m of platforms) {
    const t = one();
    const platform = await image(store, m, t, m.platform === undefined);
    // the attestations that describe this platform's manifest belong to its line
    for (const a of stored) {
      if (isAttestation(a) && a.annotations?.["vnd.docker.reference.digest"] === m.digest) {
        await image(store, a, t, false);
      }
    }
    lines.push({
      ...base,
      digest: registryDigestOf(m),
      storedDigest: m.digest,
      indexDigest: registryDigestOf(entry),
      indexCutFrom: entry.annotations?.[INDEX_DIGEST_ANNOTATION],
      platform: m.platform ?? platform,
      size: t.size,
      missing: t.missing,
    });
  }
  return lines;
}

interface Tally {
  missing: string[];
  counted: Set<string>;
  size: number;
}

/** Counts an image manifest's config and layers; returns its config's platform when asked. */
async function image(
  store: Store,
  manifest: Descriptor,
  t: Tally,
  readPlatform: boolean,
): Promise<Platform | undefined> {
  const children = await childrenOf(store, manifest.digest, walkOptions(manifest));
  if (!children) {
    t.missing.push(manifest.digest);
    return undefined;
  }
  const count = async (d: Descriptor) => {
    if (t.counted.has(d.digest)) return;
    t.counted.add(d.digest);
    t.size += d.size;
    if (!(await store.hasBlob(d.digest, d.size))) t.missing.push(d.digest);
  };
  let platform: Platform | undefined;
  if (children.config) {
    await count(children.config);
    if (readPlatform && await store.hasBlob(children.config.digest)) {
      try {
        platform = configPlatform(await store.readConfig(children.config));
      } catch {
        // not an image config (an artifact): no platform
      }
    }
  }
  for (const layer of children.layers) await count(layer);
  return platform;
}

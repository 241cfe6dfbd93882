/**
 * The images a store holds: one per `index.json` entry, with its size, platform, and whether
 * every blob it needs is present.
 *
 * @module
 */

import { parseImageConfig } from "../registry/parse_image_config.ts";
import type { Descriptor, Platform } from "../registry/parse_manifest.ts";
import { openExisting } from "./_open_existing.ts";
import type { IndexEntry } from "./_index_entry.ts";
import { childrenOf, refersToBlobs, walkOptions } from "./_walk.ts";
import { PULLED_ANNOTATION, type Store } from "./store.ts";

/** One image in a store, as {@linkcode listImages} describes it. */
export interface StoredImage {
  /** The name (`org.opencontainers.image.ref.name`), or `undefined` for an unnamed entry. */
  name: string | undefined;
  /** The digest of the entry's manifest (or index). */
  digest: string;
  /** The entry's media type. */
  mediaType: string;
  /** The platform: the entry's, else the config's; `undefined` for an index or when unknown. */
  platform: Platform | undefined;
  /**
   * Bytes of the image's config and layers (each blob counted once), as the manifests declare
   * them; for an index entry, of every platform present in the store.
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
 * Lists the images in a store, in `index.json` order. A directory that does not exist yet is an
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
    images.push(await describeEntry(opened, entry));
  }
  return images;
}

/**
 * Describes one `index.json` entry: size, platform, missing blobs, problems. Never throws for
 * what the store holds: a damaged manifest is the entry's problem.
 *
 * @param store The store.
 * @param entry The entry, as `Store.readEntries()` reads it.
 * @returns The description.
 */
export async function describeEntry(store: Store, entry: IndexEntry): Promise<StoredImage> {
  const problems = [...entry.problems];
  let described: Omit<StoredImage, "problems"> | undefined;
  if (entry.digest !== undefined) {
    try {
      described = await describe(store, entry.descriptor);
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
  }
  return {
    name: entry.name,
    digest: entry.descriptor.digest,
    mediaType: entry.descriptor.mediaType,
    platform: entry.descriptor.platform,
    size: 0,
    pulled: entry.descriptor.annotations?.[PULLED_ANNOTATION],
    missing: [],
    ...described,
    problems,
    descriptor: entry.descriptor,
  };
}

/** Describes one well-formed entry; a damaged manifest throws. */
async function describe(store: Store, entry: Descriptor): Promise<Omit<StoredImage, "problems">> {
  const missing: string[] = [];
  const counted = new Set<string>();
  let size = 0;
  let platform = entry.platform;
  const present = async (d: Descriptor) => {
    if (await store.hasBlob(d.digest, d.size)) return true;
    missing.push(d.digest);
    return false;
  };
  const count = async (d: Descriptor) => {
    if (counted.has(d.digest)) return;
    counted.add(d.digest);
    size += d.size;
    await present(d);
  };
  const image = async (manifest: Descriptor, top: boolean) => {
    const children = await childrenOf(store, manifest.digest, walkOptions(manifest));
    if (!children) {
      missing.push(manifest.digest);
      return;
    }
    if (children.config) {
      await count(children.config);
      if (top && !platform && await store.hasBlob(children.config.digest)) {
        try {
          const config = parseImageConfig(await store.readBlob(children.config.digest));
          if (config.os && config.architecture) {
            platform = { os: config.os, architecture: config.architecture };
            if (config.variant) platform.variant = config.variant;
          }
        } catch {
          // not an image config (an artifact): no platform
        }
      }
    }
    for (const layer of children.layers) await count(layer);
  };
  let isIndex = false;
  if (refersToBlobs(entry)) {
    const children = await childrenOf(store, entry.digest, walkOptions(entry));
    if (!children) {
      missing.push(entry.digest);
    } else if (children.manifests.length > 0 || children.config === undefined) {
      // an index: the platforms present in the store
      isIndex = true;
      for (const m of children.manifests) {
        if (await store.hasBlob(m.digest)) await image(m, false);
      }
    } else {
      await image(entry, true);
    }
  } else if (!(await store.hasBlob(entry.digest))) {
    missing.push(entry.digest);
  }
  return {
    name: entry.annotations?.["org.opencontainers.image.ref.name"],
    digest: entry.digest,
    mediaType: entry.mediaType,
    platform: isIndex ? undefined : platform,
    size,
    pulled: entry.annotations?.[PULLED_ANNOTATION],
    missing,
    descriptor: entry,
  };
}

/**
 * The images a store holds: one per `index.json` entry, with its size, platform, and whether
 * every blob it needs is present.
 *
 * @module
 */

import { parseImageConfig } from "../registry/parse_image_config.ts";
import type { Descriptor, Platform } from "../registry/parse_manifest.ts";
import { openExisting } from "./_open_existing.ts";
import { childrenOf, refersToBlobs } from "./_walk.ts";
import { PULLED_ANNOTATION, REF_NAME_ANNOTATION, type Store } from "./store.ts";

/** When skiff pulled an entry (RFC 3339): the same annotation `pull` writes. */

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
  /** The `index.json` entry itself. */
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
 * @throws {Error} When the directory is not an OCI image layout, or `index.json` is unreadable.
 * @throws {DigestMismatchError} When a manifest in the store is damaged.
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
  const index = await opened.readIndex();
  const images: StoredImage[] = [];
  for (const entry of index.manifests) {
    options.signal?.throwIfAborted();
    images.push(await describeImage(opened, entry));
  }
  return images;
}

/**
 * Describes one `index.json` entry: size, platform, missing blobs.
 *
 * @param store The store.
 * @param entry The entry.
 * @returns The description.
 */
export async function describeImage(store: Store, entry: Descriptor): Promise<StoredImage> {
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
    const children = await childrenOf(store, manifest.digest);
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
    const children = await childrenOf(store, entry.digest);
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
    name: entry.annotations?.[REF_NAME_ANNOTATION],
    digest: entry.digest,
    mediaType: entry.mediaType,
    platform: isIndex ? undefined : platform,
    size,
    pulled: entry.annotations?.[PULLED_ANNOTATION],
    missing,
    descriptor: entry,
  };
}

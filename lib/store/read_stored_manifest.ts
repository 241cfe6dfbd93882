/**
 * What `skiff inspect --local` and `skiff config --local` read: a stored image's manifest (or
 * index) and config, from the store alone, shown as the registry has them.
 *
 * @module
 */

import type { Reference } from "../reference/parse_reference.ts";
import { formatPlatform } from "../oci/choose_platform.ts";
import { MANIFEST_SIZE_LIMIT, type Platform } from "../oci/parse_manifest.ts";
import { ImageNotFoundError } from "./image_not_found_error.ts";
import { matchEntry, registryDigestOf, resolveStoredImage } from "./resolve_stored_image.ts";
import type { Store } from "./store.ts";

/** A stored manifest or index, as {@linkcode readStoredManifest} reads it. */
export interface StoredManifest {
  /** The name it is stored under. */
  name: string;
  /** The registry's digest of these bytes. */
  digest: string;
  /** The digest of the stored form (an OCI conversion of a Docker manifest or list). */
  storedDigest: string;
  /** The exact bytes: the registry's when the store keeps them (it does for what skiff pulls). */
  bytes: Uint8Array;
  /** The index the manifest was chosen from, when there was one. */
  indexDigest: string | undefined;
  /** The platform chosen, when one was asked for. */
  platform: Platform | undefined;
  /** With a platform: its config's digest and bytes. */
  config?: { digest: string; bytes: Uint8Array };
}

/** Options for {@linkcode readStoredManifest}. */
export interface ReadStoredManifestOptions {
  /**
   * The platform: chosen from a stored index, checked against a single-platform image.
   * @default {undefined}
   */
  platform?: Platform;
  /**
   * Chosen from a stored index when `platform` is not given (a single-platform image is read as
   * it is). Without either, the entry itself (an index too) is read.
   * @default {undefined}
   */
  defaultPlatform?: Platform;
}

/**
 * Reads what a stored name (or `REPO@DIGEST` with the registry's digest) points at, with no
 * network: without a platform, the entry's manifest or index; with one, that platform's manifest
 * (chosen from a stored index) and its config.
 *
 * @param store The store.
 * @param ref The reference.
 * @param options The platform to choose.
 * @returns The manifest's bytes, the registry's where they are kept.
 * @throws {ImageNotFoundError} When the store does not have it (complete, for the platform).
 *
 * @example Read a stored image's manifest
 * ```ts ignore
 * import { readStoredManifest } from "./read_stored_manifest.ts";
 * import { Store } from "./store.ts";
 * import { parseReference } from "../reference/parse_reference.ts";
 *
 * const m = await readStoredManifest(await Store.open("./images"), parseReference("alpine:3.20"));
 * console.log(m.digest);
 * ```
 */
export async function readStoredManifest(
  store: Store,
  ref: Reference,
  options: ReadStoredManifestOptions = {},
): Promise<StoredManifest> {
  const name = ref.toString();
  const { platform, defaultPlatform } = options;
  if (platform === undefined && defaultPlatform === undefined) {
    const entries = await store.readEntries();
    const entry = entries.find((e) => matchEntry(e, ref) === "exact") ??
      entries.find((e) => matchEntry(e, ref) === "digest" && e.kind !== "index");
    if (entry) {
      const d = entry.descriptor;
      const digest = registryDigestOf(d);
      const kept = digest !== d.digest && await store.hasBlob(digest);
      try {
        const bytes = await store.readBlob(kept ? digest : d.digest, MANIFEST_SIZE_LIMIT);
        return {
          name: entry.name!,
          digest: kept ? digest : d.digest,
          storedDigest: d.digest,
          bytes,
          indexDigest: d.annotations?.["dev.skiff.index.digest"],
          platform: undefined,
        };
      } catch (e) {
        throw new ImageNotFoundError(
          "inspect",
          name,
          store.path,
          `its manifest in the store ${store.path} is missing or damaged (${(e as Error).message})`,
        );
      }
    }
  }
  const found = await resolveStoredImage(store, ref, {
    ...(platform ? { platform } : {}),
    ...(defaultPlatform ? { defaultPlatform } : {}),
  });
  if (!found) {
    throw new ImageNotFoundError(
      "inspect",
      name,
      store.path,
      `not in the store ${store.path}${platform ? ` for ${formatPlatform(platform)}` : ""}` +
        ` (or not complete)`,
    );
  }
  const kept = found.digest !== found.storedDigest && await store.hasBlob(found.digest);
  return {
    name: found.name,
    digest: kept ? found.digest : found.storedDigest,
    storedDigest: found.storedDigest,
    bytes: await store.readBlob(kept ? found.digest : found.storedDigest, MANIFEST_SIZE_LIMIT),
    indexDigest: found.indexDigest,
    platform: found.platform,
    config: {
      digest: found.manifest.config.digest,
      bytes: await store.readBlob(found.manifest.config.digest),
    },
  };
}

/**
 * The store's one resolver: a reference (a name as stored, or `REPO@DIGEST` with the registry's
 * digest) and an optional platform -> the stored image, its manifest and config, when it is
 * there complete. Pull (policies `missing` and `never`), unpack, push and rm all answer
 * "which stored image is this" through it.
 *
 * @module
 */

import type { Reference } from "../reference/parse_reference.ts";
import { parseReference } from "../reference/parse_reference.ts";
import { checkImagePlatform, configPlatform, platformMatches } from "../oci/_platform_check.ts";
import { choosePlatform, PlatformNotFoundError } from "../oci/choose_platform.ts";
import { type ImageConfig, parseImageConfig } from "../oci/parse_image_config.ts";
import {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  MANIFEST_SIZE_LIMIT,
  parseManifest,
  type Platform,
} from "../oci/parse_manifest.ts";
import type { IndexEntry } from "./_index_entry.ts";
import { INDEX_DIGEST_ANNOTATION, SOURCE_DIGEST_ANNOTATION, type Store } from "./store.ts";

/** The largest manifest or index read from the store. */

/** A stored image, as {@linkcode resolveStoredImage} finds it. */
export interface ResolvedStoredImage {
  /** The `index.json` entry's name. */
  name: string;
  /** The `index.json` entry (an image manifest, or an index with several platforms). */
  entry: Descriptor;
  /**
   * The registry's digest of the image manifest: what the registry serves, what skiff prints.
   * For a Docker schema 2 image stored as its OCI conversion, the original's digest.
   */
  digest: string;
  /** The digest of the manifest as stored (the OCI conversion's, else the same as `digest`). */
  storedDigest: string;
  /** The stored manifest's media type. */
  mediaType: string;
  /** The registry's digest of the index the image was chosen from, when there was one. */
  indexDigest: string | undefined;
  /** The image's platform: the index entry's, else the config's. */
  platform: Platform | undefined;
  /** The stored manifest. */
  manifest: ImageManifest;
  /** The image config. */
  config: ImageConfig;
}

/** Options for {@linkcode resolveStoredImage}. */
export interface ResolveStoredImageOptions {
  /**
   * The platform wanted. A single-platform image for another platform is an error; from a stored
   * index, the platform is chosen (the host's when this is not given).
   * @default {undefined}
   */
  platform?: Platform;
  /**
   * The platform chosen from a stored index when `platform` is not given.
   * @default {undefined} (then the index's entry for `platform` must be given, else none is chosen)
   */
  defaultPlatform?: Platform;
}

/**
 * The registry's digest of a stored entry: the original's (`dev.skiff.source.digest`) when skiff
 * stored a conversion, else the entry's own.
 *
 * @param entry An `index.json` entry.
 * @returns The digest the registry has.
 *
 * @example The original's digest of a converted entry
 * ```ts
 * import { registryDigestOf } from "./resolve_stored_image.ts";
 * import assert from "node:assert/strict";
 *
 * const entry = {
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:" + "a".repeat(64),
 *   size: 1,
 *   annotations: { "dev.skiff.source.digest": "sha256:" + "b".repeat(64) },
 * };
 * assert.equal(registryDigestOf(entry), "sha256:" + "b".repeat(64));
 * ```
 */
export function registryDigestOf(entry: Descriptor): string {
  return entry.annotations?.[SOURCE_DIGEST_ANNOTATION] ?? entry.digest;
}

/**
 * Whether an `index.json` entry is the one a reference names: by its name; or, for a reference
 * with a digest, an entry of the same repository whose registry digest, stored digest or index
 * digest it is.
 *
 * @param entry The entry, as `Store.readEntries()` reads it.
 * @param ref The reference.
 * @returns `exact` for the name, `digest` for a digest of the same repository, else `undefined`.
 *
 * @example A digest reference finds an image pulled by tag
 * ```ts
 * import { matchEntry } from "./resolve_stored_image.ts";
 * import { parseReference } from "../reference/parse_reference.ts";
 * import assert from "node:assert/strict";
 *
 * const digest = "sha256:" + "c".repeat(64);
 * const entry = {
 *   position: 0,
 *   descriptor: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest, size: 1 },
 *   digest,
 *   name: "docker.io/library/alpine:3.20",
 *   kind: "manifest" as const,
 *   problems: [],
 * };
 * assert.equal(matchEntry(entry, parseReference(`alpine@${digest}`)), "digest");
 * ```
 */
export function matchEntry(entry: IndexEntry, ref: Reference): "exact" | "digest" | undefined {
  if (entry.problems.length > 0 || entry.name === undefined) return undefined;
  if (entry.name === ref.toString()) return "exact";
  if (ref.digest === undefined) return undefined;
  const d = entry.descriptor;
  const digests = [
    d.digest,
    d.annotations?.[SOURCE_DIGEST_ANNOTATION],
    d.annotations?.[INDEX_DIGEST_ANNOTATION],
  ];
  if (!digests.includes(ref.digest) && entry.kind !== "index") return undefined;
  let named: Reference;
  try {
    named = parseReference(entry.name);
  } catch {
    return undefined;
  }
  if (named.registry !== ref.registry || named.repository !== ref.repository) return undefined;
  // an index entry: its own digest, or (checked when it is read) one of its platforms'
  return digests.includes(ref.digest) || entry.kind === "index" ? "digest" : undefined;
}

/**
 * Finds a stored image and checks that it is complete: its manifest, config and every layer in
 * the store. Reads only small blobs (manifests, the config); layers are checked for presence.
 *
 * A name matches exactly; a reference with a digest also finds an image of the same repository
 * pulled by tag (by the registry's digest of its manifest or index, or the stored digest). From an
 * entry that is an index (several platforms stored), the platform is chosen; a digest of one of
 * its platforms' manifests chooses that one.
 *
 * @param store The store.
 * @param ref The reference.
 * @param options The platform wanted.
 * @returns The image, or `undefined` when the store does not have it complete (or it is damaged:
 *   a pull mends it), or has only other platforms of a stored index.
 * @throws {PlatformNotFoundError} When a single-platform image is stored for another platform.
 *
 * @example Nothing in an empty store
 * ```ts
 * import { resolveStoredImage } from "./resolve_stored_image.ts";
 * import { Store } from "./store.ts";
 * import { parseReference } from "../reference/parse_reference.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const store = await Store.open(dir);
 * assert.equal(await resolveStoredImage(store, parseReference("alpine:3.20")), undefined);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function resolveStoredImage(
  store: Store,
  ref: Reference,
  options: ResolveStoredImageOptions = {},
): Promise<ResolvedStoredImage | undefined> {
  const entries = await store.readEntries();
  const candidates = [
    ...entries.filter((e) => matchEntry(e, ref) === "exact"),
    ...entries.filter((e) => matchEntry(e, ref) === "digest"),
  ];
  let mismatch: PlatformNotFoundError | undefined;
  for (const candidate of candidates) {
    try {
      const found = await fromEntry(store, candidate, ref, options);
      if (found) return found;
    } catch (e) {
      if (!(e instanceof PlatformNotFoundError)) throw e;
      mismatch ??= e;
    }
  }
  if (mismatch) throw mismatch;
  return undefined;
}

async function fromEntry(
  store: Store,
  candidate: IndexEntry,
  ref: Reference,
  options: ResolveStoredImageOptions,
): Promise<ResolvedStoredImage | undefined> {
  const entry = candidate.descriptor;
  const name = candidate.name!;
  let parsed;
  try {
    parsed = parseManifest(
      await store.readBlob(entry.digest, MANIFEST_SIZE_LIMIT),
      entry.mediaType,
    );
  } catch {
    return undefined; // missing or damaged: the registry can mend it
  }
  if (parsed.kind === "index") {
    // its own digests: as stored, the registry's, and the one it was cut from (`rm --platform`)
    const own = [
      entry.digest,
      registryDigestOf(entry),
      entry.annotations?.[INDEX_DIGEST_ANNOTATION],
    ]
      .filter((d): d is string => d !== undefined);
    const child = chooseChild(parsed.index, ref, own, options);
    if (!child) return undefined;
    let manifest;
    try {
      const m = parseManifest(
        await store.readBlob(child.digest, MANIFEST_SIZE_LIMIT),
        child.mediaType,
      );
      if (m.kind !== "manifest") return undefined;
      manifest = m.manifest;
    } catch {
      return undefined; // that platform is not stored (or damaged)
    }
    const config = await complete(store, manifest);
    if (!config) return undefined;
    return {
      name,
      entry,
      digest: registryDigestOf(child),
      storedDigest: child.digest,
      mediaType: child.mediaType,
      indexDigest: registryDigestOf(entry),
      platform: child.platform ?? configPlatform(config),
      manifest,
      config,
    };
  }
  if (parsed.kind !== "manifest") return undefined;
  const config = await complete(store, parsed.manifest);
  if (!config) return undefined;
  const platform = entry.platform ?? configPlatform(config);
  const indexDigest = entry.annotations?.[INDEX_DIGEST_ANNOTATION];
  const want = options.platform;
  if (want !== undefined) {
    if (!platform) return undefined;
    if (!platformMatches(platform, want)) {
      // a single-platform image for another platform: that is the answer, as from the registry
      // (one chosen from an index says nothing about the index's other platforms)
      if (indexDigest === undefined) checkImagePlatform(platform, want, name);
      return undefined;
    }
  }
  return {
    name,
    entry,
    digest: registryDigestOf(entry),
    storedDigest: entry.digest,
    mediaType: entry.mediaType,
    indexDigest,
    platform,
    manifest: parsed.manifest,
    config,
  };
}

/** The entry of a stored index the reference and platform ask for. */
function chooseChild(
  index: ImageIndex,
  ref: Reference,
  own: string[],
  options: ResolveStoredImageOptions,
): Descriptor | undefined {
  if (ref.digest !== undefined) {
    const child = index.manifests.find((m) =>
      m.digest === ref.digest || m.annotations?.[SOURCE_DIGEST_ANNOTATION] === ref.digest
    );
    // no child with that digest: it must be the index's own, and the platform chooses
    if (!child && !own.includes(ref.digest)) return undefined;
    if (child) {
      if (
        options.platform && child.platform && !platformMatches(child.platform, options.platform)
      ) {
        return undefined;
      }
      return child;
    }
  }
  const want = options.platform ?? options.defaultPlatform;
  if (!want) return undefined;
  try {
    return choosePlatform(index, want);
  } catch (e) {
    if (e instanceof PlatformNotFoundError) return undefined;
    throw e;
  }
}

/** The config, when the manifest's config and every layer are in the store. */
async function complete(store: Store, manifest: ImageManifest): Promise<ImageConfig | undefined> {
  const blobs = [manifest.config, ...manifest.layers];
  // all at once: each file-system call is a round trip to a worker thread
  const [present, configBytes] = await Promise.all([
    Promise.all(blobs.map((b) => store.hasBlob(b.digest, b.size))),
    store.readBlob(manifest.config.digest).catch(() => undefined),
  ]);
  if (!present.every(Boolean) || configBytes === undefined) return undefined;
  try {
    return parseImageConfig(configBytes);
  } catch {
    return undefined;
  }
}

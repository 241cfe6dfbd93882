/**
 * The store's one resolver: a reference (a name as stored, or `REPO@DIGEST` with the registry's
 * digest) or an image ID (`sha256:<hex>`: a stored image's digest, or a unique prefix of it, as
 * `docker run` takes one) and an optional platform -> the stored image, its manifest and config,
 * when it is there complete. Pull (policies `missing` and `never`), unpack, export, push and rm
 * answer "which stored image is this" through it, and save and push find an image by its ID here.
 *
 * @module
 */

import type { Reference } from "../reference/parse_reference.ts";
import { parseReference } from "../reference/parse_reference.ts";
import { ImageNotFoundError } from "./image_not_found_error.ts";
import {
  checkImagePlatform,
  configPlatform,
  platformMatches,
} from "../oci/check_image_platform.ts";
import { choosePlatform, formatPlatform, PlatformNotFoundError } from "../oci/choose_platform.ts";
import type { ImageConfig } from "../oci/parse_image_config.ts";
import type { Descriptor, ImageIndex, ImageManifest, Platform } from "../oci/parse_manifest.ts";
import type { IndexEntry } from "./index_entry.ts";
import { INDEX_DIGEST_ANNOTATION, SOURCE_DIGEST_ANNOTATION, type Store } from "./store.ts";

/** The shortest prefix of a digest's hex digits that names an image by ID. */
const ID_PREFIX_MIN = 4;

/**
 * A stored image named by its digest, as `docker run` takes an image ID: what `skiff load` and
 * `skiff images` print for an image loaded without a name (`<none>`) reaches it this way. From
 * {@linkcode parseImageId}.
 */
export class ImageId {
  /** `sha256:` and the hex digits given: all 64, or a prefix of at least 4. */
  readonly digest: string;

  /**
   * Makes an ID; use {@linkcode parseImageId} for input.
   *
   * @param digest `sha256:` and 4 to 64 lowercase hex digits.
   */
  constructor(digest: string) {
    this.digest = digest;
  }

  /**
   * The ID as given, normalized: `sha256:<hex>`.
   *
   * @returns The ID.
   */
  toString(): string {
    return this.digest;
  }
}

/**
 * Reads an image ID: `sha256:<hex>` or `@sha256:<hex>` (4 to 64 hex digits: a unique prefix is
 * enough, as `skiff images` prints 12), or 64 hex digits alone. Anything else is not one (a
 * reference, for {@linkcode parseReference}): a short bare hex string stays a name, since
 * `deadbeef` is also a repository on Docker Hub.
 *
 * @param input What the user gave.
 * @returns The ID, or `undefined` when `input` is not an image ID.
 *
 * @example The forms an ID takes
 * ```ts
 * import { parseImageId } from "./resolve_stored_image.ts";
 * import assert from "node:assert/strict";
 *
 * const hex = "0123456789abcdef".repeat(4);
 * assert.equal(parseImageId(`sha256:${hex}`)?.digest, `sha256:${hex}`);
 * assert.equal(parseImageId(`@sha256:${hex}`)?.digest, `sha256:${hex}`);
 * assert.equal(parseImageId(hex)?.digest, `sha256:${hex}`);
 * assert.equal(parseImageId("sha256:0123456789ab")?.digest, "sha256:0123456789ab");
 * assert.equal(parseImageId("alpine:3.20"), undefined);
 * assert.equal(parseImageId("sha256:latest"), undefined);
 * ```
 */
export function parseImageId(input: string): ImageId | undefined {
  const m = new RegExp(`^(?:@?sha256:([0-9a-f]{${ID_PREFIX_MIN},64})|([0-9a-f]{64}))$`).exec(
    input,
  );
  if (!m) return undefined;
  return new ImageId(`sha256:${m[1] ?? m[2]}`);
}

/**
 * What a command or a caller names a stored image with: an image ID when `input` is one (see
 * {@linkcode parseImageId}), else a reference.
 *
 * @param input A string, or an already parsed reference or ID.
 * @returns The reference or the ID.
 * @throws {SyntaxError} When `input` is neither.
 *
 * @example A digest alone is an ID, a name a reference
 * ```ts
 * import { ImageId, storedImageRef } from "./resolve_stored_image.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(storedImageRef("sha256:0123456789ab") instanceof ImageId);
 * assert.equal(storedImageRef("alpine").toString(), "docker.io/library/alpine:latest");
 * ```
 */
export function storedImageRef(input: string | Reference | ImageId): Reference | ImageId {
  if (typeof input !== "string") return input;
  return parseImageId(input) ?? parseReference(input);
}

/**
 * Finds the one stored image an ID names: the digests of every `index.json` entry (as stored,
 * the registry's, the index it was chosen from, and a stored index's platforms) that begin with
 * it must all be one digest.
 *
 * @param store The store.
 * @param id The ID.
 * @param action What the caller does, for the error (`unpack`, `push`, ...).
 * @returns The full digest, and the entries that hold it (a named one first).
 * @throws {ImageNotFoundError} When no entry has such a digest, or several digests begin so.
 *
 * @example Nothing in an empty store
 * ```ts
 * import { findImageId, parseImageId } from "./resolve_stored_image.ts";
 * import { Store } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const store = await Store.open(dir);
 * await assert.rejects(
 *   () => findImageId(store, parseImageId("sha256:0123")!, "unpack"),
 *   /^ImageNotFoundError: Cannot unpack sha256:0123: no image in the store .* has that ID$/,
 * );
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function findImageId(
  store: Store,
  id: ImageId,
  action: string,
): Promise<{ digest: string; entries: IndexEntry[] }> {
  const matched = new Map<string, IndexEntry[]>();
  for (const entry of await store.readEntries()) {
    if (entry.problems.length > 0 || entry.digest === undefined) continue;
    for (const digest of await digestsOf(store, entry)) {
      if (!digest.startsWith(id.digest)) continue;
      const list = matched.get(digest) ?? [];
      if (!list.includes(entry)) list.push(entry);
      matched.set(digest, list);
    }
  }
  if (matched.size === 0) {
    throw new ImageNotFoundError(
      action,
      id.digest,
      store.path,
      `no image in the store ${store.path} has that ID`,
    );
  }
  if (matched.size > 1) {
    const all = [...matched.keys()].sort();
    throw new ImageNotFoundError(
      action,
      id.digest,
      store.path,
      `the ID is ambiguous: ${all.length} digests in the store begin so (${
        all.slice(0, 4).join(", ")
      }${all.length > 4 ? ", ..." : ""}); give more of its digits`,
    );
  }
  const [digest, entries] = [...matched][0]!;
  // a name, when one of them has it, is what the image is reported as
  return { digest, entries: entries.sort((a, b) => (a.name ? 0 : 1) - (b.name ? 0 : 1)) };
}

/** Every digest that names an entry's image: as stored, the registry's, the index it came from,
 * and, for a stored index, its platforms' (as stored and the registry's). */
async function digestsOf(store: Store, entry: IndexEntry): Promise<string[]> {
  const d = entry.descriptor;
  const own = [
    d.digest,
    d.annotations?.[SOURCE_DIGEST_ANNOTATION],
    d.annotations?.[INDEX_DIGEST_ANNOTATION],
  ];
  if (entry.kind === "index") {
    try {
      const { parsed } = await store.readManifestOrIndex(d);
      if (parsed.kind === "index") {
        for (const m of parsed.index.manifests) {
          own.push(m.digest, m.annotations?.[SOURCE_DIGEST_ANNOTATION]);
        }
      }
    } catch {
      // missing or damaged: its own digests still name it
    }
  }
  return [...new Set(own.filter((x): x is string => x !== undefined))];
}

/** A stored image, as {@linkcode resolveStoredImage} finds it. */
export interface ResolvedStoredImage {
  /** The `index.json` entry's name; for an entry without one, found by its ID, the digest. */
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
 * pulled by tag (by the registry's digest of its manifest or index, or the stored digest). An
 * image ID finds the one image whose digest begins with it, named or not ({@linkcode findImageId}).
 * From an entry that is an index (several platforms stored), the platform is chosen; a digest of
 * one of its platforms' manifests chooses that one.
 *
 * @param store The store.
 * @param ref The reference, or an image ID.
 * @param options The platform wanted.
 * @returns The image, or `undefined` when the store does not have it complete (or it is damaged:
 *   a pull mends it), or has only other platforms of a stored index.
 * @throws {PlatformNotFoundError} When a single-platform image is stored for another platform.
 * @throws {ImageNotFoundError} When an image ID names no stored image, or several.
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
  ref: Reference | ImageId,
  options: ResolveStoredImageOptions = {},
): Promise<ResolvedStoredImage | undefined> {
  let candidates: IndexEntry[];
  let digest: string | undefined;
  if (ref instanceof ImageId) {
    const found = await findImageId(store, ref, "find");
    candidates = found.entries;
    digest = found.digest;
  } else {
    const entries = await store.readEntries();
    candidates = [
      ...entries.filter((e) => matchEntry(e, ref) === "exact"),
      ...entries.filter((e) => matchEntry(e, ref) === "digest"),
    ];
    digest = ref.digest;
  }
  let mismatch: PlatformNotFoundError | undefined;
  for (const candidate of candidates) {
    try {
      const found = await fromEntry(store, candidate, digest, options);
      if (found) return found;
    } catch (e) {
      if (!(e instanceof PlatformNotFoundError)) throw e;
      mismatch ??= e;
    }
  }
  if (mismatch) throw mismatch;
  return undefined;
}

/**
 * The stored image an ID names, complete: {@linkcode resolveStoredImage} for an
 * {@linkcode ImageId}, which has no registry to fall back on, so that "not complete" is an error
 * too.
 *
 * @param store The store.
 * @param id The ID.
 * @param options The platform wanted (from a stored index; checked on a single-platform image).
 * @returns The image.
 * @throws {ImageNotFoundError} When the ID names no image, several, or one not complete.
 * @throws {PlatformNotFoundError} When the image is stored for another platform than asked.
 *
 * @example Nothing in an empty store
 * ```ts
 * import { parseImageId, resolveImageId } from "./resolve_stored_image.ts";
 * import { Store } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const store = await Store.open(dir);
 * await assert.rejects(() => resolveImageId(store, parseImageId("sha256:abcd")!), /has that ID/);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function resolveImageId(
  store: Store,
  id: ImageId,
  options: ResolveStoredImageOptions = {},
): Promise<ResolvedStoredImage> {
  const found = await resolveStoredImage(store, id, options);
  if (found) return found;
  throw new ImageNotFoundError(
    "find",
    id.digest,
    store.path,
    `it is not complete in the store ${store.path}` +
      (options.platform ? ` for ${formatPlatform(options.platform)}` : "") +
      " (an image ID names what the store holds: pull the image by its name)",
  );
}

async function fromEntry(
  store: Store,
  candidate: IndexEntry,
  digest: string | undefined,
  options: ResolveStoredImageOptions,
): Promise<ResolvedStoredImage | undefined> {
  const entry = candidate.descriptor;
  const name = candidate.name ?? entry.digest;
  let parsed;
  try {
    parsed = (await store.readManifestOrIndex(entry)).parsed;
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
    const child = chooseChild(parsed.index, digest, own, options);
    if (!child) return undefined;
    let manifest;
    try {
      const m = (await store.readManifestOrIndex(child)).parsed;
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

/** The entry of a stored index the reference's digest (if any) and platform ask for. */
function chooseChild(
  index: ImageIndex,
  digest: string | undefined,
  own: string[],
  options: ResolveStoredImageOptions,
): Descriptor | undefined {
  if (digest !== undefined) {
    const child = index.manifests.find((m) =>
      m.digest === digest || m.annotations?.[SOURCE_DIGEST_ANNOTATION] === digest
    );
    // no child with that digest: it must be the index's own, and the platform chooses
    if (!child && !own.includes(digest)) return undefined;
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
  const [present, config] = await Promise.all([
    Promise.all(blobs.map((b) => store.hasBlob(b.digest, b.size))),
    store.readConfig(manifest.config).catch(() => undefined),
  ]);
  return present.every(Boolean) ? config : undefined;
}

// The pull policies "missing" and "never": the store's own answer, with no request, when the name
// (or, for REPO@DIGEST, an image of that repository with that registry digest) is there complete
// for every platform asked for. The caching source serves its root to the engine, which finds
// every blob present; the pull then returns this answer and names nothing (it is named already).

import type { ResolvedRoot } from "../image/image_source.ts";
import {
  choosePlatform,
  formatPlatform,
  hostPlatform,
  isAttestation,
  PlatformNotFoundError,
} from "../oci/choose_platform.ts";
import type { ImageIndex, Platform } from "../oci/parse_manifest.ts";
import { ImageNotFoundError } from "../store/image_not_found_error.ts";
import { type ResolvedStoredImage, resolveStoredImage } from "../store/resolve_stored_image.ts";
import { INDEX_DIGEST_ANNOTATION, SOURCE_DIGEST_ANNOTATION, type Store } from "../store/store.ts";
import type { PullRequest } from "./_pull_request.ts";
import type { PullResult } from "./pull_options.ts";

/** What the store answers a pull with. */
export interface StoredAnswer {
  /** The root the engine copies (from the store to itself: nothing moves). */
  root: ResolvedRoot;
  /** What the pull returns. */
  result: PullResult;
}

/**
 * The store's answer to a pull with policy `missing` or `never`: `undefined` when the store does
 * not have everything asked for (policy `missing`: the registry is asked).
 *
 * @throws {ImageNotFoundError} With policy `never`, when the store does not have it all.
 * @throws {PlatformNotFoundError} With policy `never`, when what is stored is for another
 *   platform than asked.
 */
export async function storedAnswer(
  store: Store,
  request: PullRequest,
): Promise<StoredAnswer | undefined> {
  return request.multi
    ? await severalPlatforms(store, request)
    : await onePlatform(store, request, request.explicit ? request.want : undefined);
}

/** The stored image `ref` names for one platform (`want`, else whatever is stored). */
async function onePlatform(
  store: Store,
  request: PullRequest,
  want: Platform | undefined,
): Promise<StoredAnswer | undefined> {
  const { ref, name, policy, explicit } = request;
  let found: ResolvedStoredImage | undefined;
  try {
    found = await resolveStoredImage(store, ref, {
      ...(want ? { platform: want } : {}),
      defaultPlatform: hostPlatform(),
    });
  } catch (e) {
    // the stored image is for another platform: "never" says so; "missing" asks the registry,
    // which may have the platform (or says the same)
    if (policy === "never" || !(e instanceof PlatformNotFoundError)) throw e;
    return undefined;
  }
  if (found) {
    return { root: await registryForm(store, found), result: resultOf(store, name, found) };
  }
  if (policy === "missing") return undefined;
  const known = await store.findImage(name);
  throw new ImageNotFoundError(
    "pull",
    name,
    store.path,
    `${
      known
        ? `it is in the store ${store.path} but not complete${
          explicit ? " or not for " + formatPlatform(request.want!) : ""
        }`
        : `not in the store ${store.path}`
    }, and the pull policy "never" forbids the network`,
  );
}

/**
 * Several platforms from the store alone: the index, every platform asked for (complete) and,
 * with `"all"`, every other manifest the index lists must be there.
 */
async function severalPlatforms(
  store: Store,
  request: PullRequest,
): Promise<StoredAnswer | undefined> {
  const { name, policy, platforms } = request;
  const refuse = (why: string) => {
    if (policy === "missing") return undefined;
    throw new ImageNotFoundError(
      "pull",
      name,
      store.path,
      `${why}, and the pull policy "never" forbids the network`,
    );
  };
  const stored = await storedIndex(store, name);
  if (!stored) {
    // a single-platform image stored under the name: "all" it has is itself
    if (platforms === "all" && (await store.findImage(name))) {
      const one = await onePlatform(store, { ...request, policy: "missing" }, undefined);
      if (one && one.result.indexDigest === undefined) {
        const { platform, digest, storedDigest } = one.result;
        return {
          ...one,
          result: { ...one.result, platforms: [{ platform, digest, storedDigest }] },
        };
      }
    }
    return refuse(`its index is not in the store ${store.path}`);
  }
  const { index, root } = stored;
  const wanted = platforms === "all" || platforms === undefined
    ? index.manifests.filter((m) => m.platform && !isAttestation(m)).map((m) => m.platform!)
    : platforms;
  const results: PullResult[] = [];
  for (const platform of wanted) {
    try {
      choosePlatform(index, platform, name); // the index has it (else PlatformNotFoundError)
    } catch (e) {
      if (policy === "never") throw e;
      return undefined; // the registry may have it (or says the same)
    }
    const found = await resolveStoredImage(store, request.ref, {
      platform,
      defaultPlatform: hostPlatform(),
    });
    if (!found || found.indexDigest !== root.descriptor.digest) {
      return refuse(`its platform ${JSON.stringify(platform)} is not complete in the store`);
    }
    results.push(resultOf(store, name, found));
  }
  if (platforms === "all") {
    // attestations, and anything else the index lists without a platform
    const rest = index.manifests.filter((m) => !m.platform || isAttestation(m));
    let missing = 0;
    for (const m of rest) if (!(await store.hasBlob(m.digest, m.size))) missing++;
    if (missing > 0) {
      return refuse(
        `its ${missing} attestation manifest(s) are not in the store ${store.path}`,
      );
    }
  }
  const { descriptor } = root;
  const named = await store.findImage(name);
  return {
    root,
    result: {
      ...results[0]!,
      digest: descriptor.digest,
      storedDigest: named?.digest ?? descriptor.digest,
      mediaType: descriptor.mediaType,
      indexDigest: descriptor.digest,
      platform: undefined,
      platforms: results.map((r) => ({
        platform: r.platform,
        digest: r.digest,
        storedDigest: r.storedDigest,
      })),
    },
  };
}

/** The pull's result for a stored image. */
function resultOf(store: Store, name: string, found: ResolvedStoredImage): PullResult {
  return {
    reference: name,
    digest: found.digest,
    storedDigest: found.storedDigest,
    mediaType: found.mediaType,
    indexDigest: found.indexDigest,
    platform: found.platform,
    manifest: found.manifest,
    config: found.config,
    layers: found.manifest.layers,
    store: store.path,
    bytesFetched: 0,
  };
}

/**
 * The stored image's manifest as the registry has it (a Docker manifest's original, kept beside
 * its OCI conversion), with its platform: the root the engine copies.
 */
async function registryForm(store: Store, found: ResolvedStoredImage): Promise<ResolvedRoot> {
  const original = found.digest !== found.storedDigest && await store.hasBlob(found.digest);
  const { descriptor, bytes } = await store.readManifest({
    digest: original ? found.digest : found.storedDigest,
  });
  return {
    descriptor: { ...descriptor, ...(found.platform ? { platform: found.platform } : {}) },
    bytes,
    local: true,
  };
}

/** The index the name's entry is (or, for one platform stored, was chosen from), if stored. */
async function storedIndex(
  store: Store,
  name: string,
): Promise<{ index: ImageIndex; root: ResolvedRoot } | undefined> {
  const entry = await store.findImage(name);
  if (!entry) return undefined;
  try {
    const { parsed, bytes } = await store.readManifestOrIndex(entry);
    if (parsed.kind === "index") {
      const from = entry.annotations?.[SOURCE_DIGEST_ANNOTATION];
      // a Docker list, named through its OCI conversion: the list itself is the index
      const list = from ? await indexBlob(store, from) : undefined;
      if (list) return list;
      const descriptor = { mediaType: parsed.mediaType, digest: entry.digest, size: bytes.length };
      return { index: parsed.index, root: { descriptor, bytes, local: true } };
    }
    // a single-platform entry chosen from an index: that index, when it is stored
    const from = entry.annotations?.[INDEX_DIGEST_ANNOTATION];
    const index = from ? await indexBlob(store, from) : undefined;
    if (index) return index;
  } catch {
    // damaged: the registry mends it (or "never" says it is not there)
  }
  return undefined;
}

/** A stored blob that is an index, as a root; `undefined` when absent or not one. */
async function indexBlob(
  store: Store,
  digest: string,
): Promise<{ index: ImageIndex; root: ResolvedRoot } | undefined> {
  if (!(await store.hasBlob(digest))) return undefined;
  const { parsed, descriptor, bytes } = await store.readManifestOrIndex({ digest });
  if (parsed.kind !== "index") return undefined;
  return { index: parsed.index, root: { descriptor, bytes, local: true } };
}

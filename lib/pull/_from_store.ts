// The pull policies "missing" and "never": answer from the store alone, with no request, when
// the name is there and complete.

import type { ProgressEvent } from "../progress/progress_event.ts";
import type { Reference } from "../reference/parse_reference.ts";
import { checkImagePlatform, platformMatches } from "../registry/_platform_check.ts";
import { parseImageConfig } from "../registry/parse_image_config.ts";
import { parseManifest, type Platform } from "../registry/parse_manifest.ts";
import { INDEX_DIGEST_ANNOTATION, SOURCE_DIGEST_ANNOTATION, type Store } from "../store/store.ts";
import type { PullResult } from "./pull.ts";
import { cachedBlobEvent, manifestEvent } from "./_events.ts";

/**
 * The stored image named `ref`, when its manifest, config and every layer are in the store (and,
 * when `want` is given, its platform matches); else `undefined`. Emits the events a pull that
 * found everything present would.
 */
export async function pullFromStore(
  ref: Reference,
  store: Store,
  want: Platform | undefined,
  emit: (event: ProgressEvent) => void,
): Promise<PullResult | undefined> {
  const name = ref.toString();
  const entry = await store.findImage(name);
  if (!entry) return undefined;
  let parsed;
  try {
    parsed = parseManifest(await store.readBlob(entry.digest, 4 * 1024 * 1024), entry.mediaType);
  } catch {
    return undefined; // missing or damaged: the registry can mend it
  }
  if (parsed.kind !== "manifest") return undefined;
  const manifest = parsed.manifest;
  const blobs = [manifest.config, ...manifest.layers];
  // all at once: each file-system call is a round trip to a worker thread
  const [present, configBytes] = await Promise.all([
    Promise.all(blobs.map((b) => store.hasBlob(b.digest, b.size))),
    store.readBlob(manifest.config.digest).catch(() => undefined),
  ]);
  if (!present.every(Boolean) || configBytes === undefined) return undefined;
  let config;
  try {
    config = parseImageConfig(configBytes);
  } catch {
    return undefined;
  }
  let platform: Platform | undefined = entry.platform;
  if (!platform && config.os && config.architecture) {
    platform = { os: config.os, architecture: config.architecture };
    if (config.variant) platform.variant = config.variant;
  }
  const indexDigest = entry.annotations?.[INDEX_DIGEST_ANNOTATION];
  if (want !== undefined) {
    if (!platform) return undefined;
    if (!platformMatches(platform, want)) {
      // a single-platform image for another platform: that is the answer, as from the registry
      // (one chosen from an index says nothing about the index's other platforms)
      if (indexDigest === undefined) checkImagePlatform(platform, want, name);
      return undefined;
    }
  }

  emit({
    type: "resolved",
    reference: name,
    digest: indexDigest ?? entry.digest,
    mediaType: entry.mediaType,
    local: true,
  });
  emit(manifestEvent(entry.digest, platform, manifest));
  const seen = new Set<string>();
  for (const blob of blobs) {
    if (seen.has(blob.digest)) continue;
    seen.add(blob.digest);
    emit(cachedBlobEvent(blob, manifest));
  }
  emit({ type: "done", reference: name, digest: entry.digest });
  return {
    reference: name,
    digest: entry.digest,
    sourceDigest: entry.annotations?.[SOURCE_DIGEST_ANNOTATION] ?? entry.digest,
    mediaType: entry.mediaType,
    indexDigest,
    platform,
    manifest,
    config,
    layers: manifest.layers,
    store: store.path,
    bytesFetched: 0,
  };
}

// The pull policies "missing" and "never": answer from the store alone, with no request, when
// the name (or, for REPO@DIGEST, an image of that repository with that registry digest) is there
// and complete.

import type { ProgressEvent } from "../progress/progress_event.ts";
import type { Reference } from "../reference/parse_reference.ts";
import type { Platform } from "../oci/parse_manifest.ts";
import { hostPlatform } from "../oci/choose_platform.ts";
import { resolveStoredImage } from "../store/resolve_stored_image.ts";
import type { Store } from "../store/store.ts";
import type { PullResult } from "./pull_options.ts";
import { cachedBlobEvent, manifestEvent } from "./_events.ts";

/**
 * The stored image `ref` names, when its manifest, config and every layer are in the store (and,
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
  const found = await resolveStoredImage(store, ref, {
    ...(want ? { platform: want } : {}),
    defaultPlatform: hostPlatform(),
  });
  if (!found) return undefined;
  const { manifest } = found;
  emit({
    type: "resolved",
    reference: name,
    digest: found.indexDigest ?? found.digest,
    mediaType: found.indexDigest ? found.entry.mediaType : found.mediaType,
    local: true,
  });
  emit(manifestEvent(found.digest, found.platform, manifest));
  const seen = new Set<string>();
  for (const blob of [manifest.config, ...manifest.layers]) {
    if (seen.has(blob.digest)) continue;
    seen.add(blob.digest);
    emit(cachedBlobEvent(blob, manifest));
  }
  emit({ type: "done", reference: name, digest: found.digest });
  return {
    reference: name,
    digest: found.digest,
    storedDigest: found.storedDigest,
    mediaType: found.mediaType,
    indexDigest: found.indexDigest,
    platform: found.platform,
    manifest,
    config: found.config,
    layers: manifest.layers,
    store: store.path,
    bytesFetched: 0,
  };
}

// The progress events a pull emits in more than one place: the chosen manifest, and a blob that
// was already in the store.

import type { ProgressEvent } from "../progress/progress_event.ts";
import { formatPlatform } from "../oci/choose_platform.ts";
import type { Descriptor, ImageManifest, Platform } from "../oci/parse_manifest.ts";

/** `manifest`: the image manifest chosen, its platform, layer count and total size. */
export function manifestEvent(
  digest: string,
  platform: Platform | undefined,
  manifest: ImageManifest,
): ProgressEvent {
  return {
    type: "manifest",
    digest,
    platform: platform ? formatPlatform(platform) : undefined,
    layers: manifest.layers.length,
    size: [manifest.config, ...manifest.layers].reduce((n, b) => n + b.size, 0),
  };
}

/** `blob-done` for a blob the store already had. */
export function cachedBlobEvent(blob: Descriptor, manifest: ImageManifest): ProgressEvent {
  return {
    type: "blob-done",
    digest: blob.digest,
    kind: blob === manifest.config ? "config" : "layer",
    size: blob.size,
    fetched: 0,
    cached: true,
  };
}

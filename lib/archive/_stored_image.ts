// Whether a stored name has everything an archive of it needs: its manifest (or index and the
// wanted platforms' manifests), configs and layers, all in blobs/. Read-only, no lock.

import { choosePlatform, PlatformNotFoundError } from "../oci/choose_platform.ts";
import { platformMatches } from "../oci/check_image_platform.ts";
import type { Descriptor, Platform } from "../oci/parse_manifest.ts";
import type { Store } from "../store/store.ts";

/**
 * `true` when `entry` (an `index.json` entry) is complete in the store: for an index, every
 * entry (`want` undefined) or the one for `want`; for a manifest, whose platform must then match
 * `want` when `strict`.
 */
export async function isComplete(
  store: Store,
  entry: Descriptor,
  want: Platform | undefined,
  strict: boolean,
): Promise<boolean> {
  const walk = async (d: Descriptor, depth: number, top: boolean): Promise<boolean> => {
    if (depth > 8) return false;
    let parsed;
    try {
      parsed = (await store.readManifestOrIndex(d)).parsed;
    } catch {
      return false;
    }
    if (parsed.kind === "manifest") {
      if (
        top && strict && want !== undefined && entry.platform &&
        !platformMatches(entry.platform, want)
      ) {
        return false; // (an unknown platform: the image is taken as it is)
      }
      const blobs = [parsed.manifest.config, ...parsed.manifest.layers];
      const present = await Promise.all(blobs.map((b) => store.hasBlob(b.digest, b.size)));
      return present.every(Boolean);
    }
    if (want !== undefined && top) {
      let chosen: Descriptor;
      try {
        chosen = choosePlatform(parsed.index, want);
      } catch (e) {
        if (e instanceof PlatformNotFoundError) return false;
        throw e;
      }
      return await walk(chosen, depth + 1, false);
    }
    for (const child of parsed.index.manifests) {
      if (!(await walk(child, depth + 1, false))) return false;
    }
    return true;
  };
  return await walk(entry, 0, true);
}

/**
 * Dropping names from a store's `index.json`. Blobs stay until {@linkcode collectGarbage}.
 *
 * @module
 */

import { isDigest } from "../reference/parse_digest.ts";
import { parseReference } from "../reference/parse_reference.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import { openExisting } from "./_open_existing.ts";
import { ImageNotFoundError } from "./image_not_found_error.ts";
import { nameOf } from "./index_entry.ts";
import { INDEX_DIGEST_ANNOTATION, SOURCE_DIGEST_ANNOTATION, type Store } from "./store.ts";

/** Options for {@linkcode removeImages}. */
export interface RemoveImagesOptions {
  /**
   * Ignore names that are not in the store, instead of failing before removing anything.
   * @default {false}
   */
  ignoreMissing?: boolean;
}

/** One removed `index.json` entry. */
export interface RemovedImage {
  /** The name as it was asked for. */
  query: string;
  /** The entry's name (`org.opencontainers.image.ref.name`), if it had one. */
  name: string | undefined;
  /** The entry's manifest digest, the registry's (of the original, for a converted manifest). */
  digest: string;
}

/**
 * Removes images from a store's `index.json`, atomically and under the index lock (a concurrent
 * pull never loses its entry). Each name matches an entry's name exactly, or after
 * normalization (`alpine:3.20` matches `docker.io/library/alpine:3.20`); a digest matches every
 * entry with that manifest digest: the registry's (what `pull` prints, also of a Docker image
 * stored as its OCI conversion, or of the index a platform was chosen from) or the stored one. Without `ignoreMissing`, one name that matches nothing fails
 * the call and nothing is removed. Blobs are not deleted: {@linkcode collectGarbage} does that.
 *
 * @param store The store: a directory or an open {@linkcode Store}.
 * @param names Names (or manifest digests) to remove.
 * @param options Whether a missing name is an error.
 * @returns The removed entries, in `index.json` order.
 * @throws {ImageNotFoundError} When a name is not in the store (and `ignoreMissing` is not set).
 *
 * @example Remove a name that is not there, quietly
 * ```ts
 * import { removeImages } from "./remove_images.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * assert.deepEqual(await removeImages(dir, ["alpine:3.20"], { ignoreMissing: true }), []);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function removeImages(
  store: string | Store,
  names: readonly string[],
  options: RemoveImagesOptions = {},
): Promise<RemovedImage[]> {
  const opened = await openExisting(store);
  const path = typeof store === "string" ? store : store.path;
  if (!opened) {
    if (!options.ignoreMissing && names.length > 0) {
      throw new ImageNotFoundError("remove", names[0]!, path);
    }
    return [];
  }
  const removed: RemovedImage[] = [];
  await opened.updateIndex((entries) => {
    const matchers = names.map((query) => ({ query, match: matcher(query) }));
    const unmatched = matchers.filter(({ match }) => !entries.some(match));
    if (unmatched.length > 0 && !options.ignoreMissing) {
      throw new ImageNotFoundError("remove", unmatched[0]!.query, opened.path);
    }
    return entries.filter((entry) => {
      const hit = matchers.find(({ match }) => match(entry));
      if (!hit) return true;
      removed.push({
        query: hit.query,
        name: nameOf(entry),
        digest: registryDigest(entry),
      });
      return false;
    });
  });
  return removed;
}

// entries are read as index.json has them: any of them may be malformed (not even an object)
function matcher(query: string): (entry: Descriptor) => boolean {
  if (isDigest(query)) {
    // the stored manifest's digest, or the registry's (of a converted manifest, of the index)
    return (entry) => {
      const e = entry as { digest?: unknown; annotations?: Record<string, unknown> } | null;
      return e?.digest === query || e?.annotations?.[SOURCE_DIGEST_ANNOTATION] === query ||
        e?.annotations?.[INDEX_DIGEST_ANNOTATION] === query;
    };
  }
  let canonical: string | undefined;
  try {
    canonical = parseReference(query).toString();
  } catch {
    canonical = undefined; // not a reference: only an exact name can match
  }
  return (entry) => {
    const name = nameOf(entry);
    return name !== undefined && (name === query || name === canonical);
  };
}

/** The registry's digest of a raw entry: the original's for a converted manifest. */
function registryDigest(entry: unknown): string {
  const e = entry as { digest?: unknown; annotations?: Record<string, unknown> } | null;
  const source = e?.annotations?.[SOURCE_DIGEST_ANNOTATION];
  return typeof source === "string" ? source : String(e?.digest ?? "");
}

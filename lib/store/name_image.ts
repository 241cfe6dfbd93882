/**
 * The store's one naming call: what a name in `index.json` points at after a pull. A second
 * platform of the same index turns the name into the index; a platform the index entry already
 * covers leaves it as it is: pulling a platform never drops another one.
 *
 * @module
 */

import type { Descriptor } from "../oci/parse_manifest.ts";
import { kindOf, nameOf } from "./index_entry.ts";
import { storedIndexEntry } from "./_stored_index.ts";
import { registryFormOf, subsetIndex } from "./_subset_index.ts";
import { registryDigestOf } from "./resolve_stored_image.ts";
import {
  INDEX_DIGEST_ANNOTATION,
  PULLED_ANNOTATION,
  REF_NAME_ANNOTATION,
  SOURCE_DIGEST_ANNOTATION,
  type Store,
} from "./store.ts";

/** Options for {@linkcode nameImage}. */
export interface NameImageOptions {
  /**
   * The index `entry` was chosen from (its descriptor, its blob in the store): when the name
   * already holds another platform of it, the name becomes this index.
   * @default {undefined}
   */
  index?: Descriptor;
}

/**
 * Names an image in `index.json`, last in a pull (every blob it needs is in the store already).
 * The rules, for a name that is there already:
 *
 * - the same entry (digest and the skiff annotations): nothing is written, not even the time (a
 *   warm re-pull stays cheap and works on a read-only store);
 * - an entry for the index `entry` was chosen from: kept as it is (it lists that platform);
 * - an entry for another platform of that index: the name becomes the index, which lists both;
 * - an index cut from that index (`rm --platform`): this platform is added to the cut (the index
 *   itself when that makes it whole), so what was removed does not come back;
 * - anything else: replaced by `entry` (and a name with several entries, malformed ones
 *   included, is left with this one).
 *
 * @param store The store.
 * @param name The name, `org.opencontainers.image.ref.name`.
 * @param entry The entry to write: its media type, digest, size, platform and annotations (the
 *   name and the pull time are added).
 * @param options The index it was chosen from.
 * @returns The entry the name now has.
 *
 * @example Name a stored image
 * ```ts ignore
 * import { nameImage } from "./name_image.ts";
 * import { Store } from "./store.ts";
 *
 * const store = await Store.open("./images");
 * await nameImage(store, "docker.io/library/alpine:3.20", {
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:...",
 *   size: 1024,
 * });
 * ```
 */
export async function nameImage(
  store: Store,
  name: string,
  entry: Descriptor,
  options: NameImageOptions = {},
): Promise<Descriptor> {
  const annotate = (d: Descriptor): Descriptor => ({
    ...d,
    annotations: {
      ...d.annotations,
      [REF_NAME_ANNOTATION]: name,
      [PULLED_ANNOTATION]: new Date().toISOString(),
    },
  });
  const named = (await store.readEntries()).filter((e) => e.name === name);
  const known = named.length === 1 && named[0]!.problems.length === 0
    ? named[0]!.descriptor
    : undefined;
  const index = options.index;
  // an index is named in its stored form: a Docker list through its OCI conversion
  let wanted = kindOf(entry.mediaType) === "index" ? await storedIndexEntry(store, entry) : entry;
  const cut = known !== undefined && index !== undefined && kindOf(known.mediaType) === "index" &&
    known.annotations?.[INDEX_DIGEST_ANNOTATION] === index.digest;
  if (cut && await store.hasBlob(index.digest, index.size)) {
    // the name holds a part of that index (cut by `rm --platform`): this platform is added to the
    // part, never the whole index (which would bring back what was removed)
    const part = await registryFormOf(store, known!);
    const listed = new Set(
      part.parsed.kind === "index" ? part.parsed.index.manifests.map((m) => m.digest) : [],
    );
    const added = entry.annotations?.[SOURCE_DIGEST_ANNOTATION] ?? entry.digest;
    if (listed.has(added)) return known!; // the part lists it already
    const full = await store.readIndex(index);
    wanted = await subsetIndex(
      store,
      full,
      (d) => listed.has(d.digest) || d.digest === added,
      index.digest,
    );
  } else if (known !== undefined && index !== undefined) {
    const otherPlatform = known.annotations?.[INDEX_DIGEST_ANNOTATION] === index.digest &&
      known.digest !== entry.digest;
    const sameIndex = kindOf(known.mediaType) === "index" &&
      registryDigestOf(known) === index.digest;
    if ((sameIndex || otherPlatform) && await store.hasBlob(index.digest, index.size)) {
      // (a converted list is made again: it now lists this platform's conversion too)
      wanted = await storedIndexEntry(store, index);
    }
  }
  const same = known !== undefined && known.digest === wanted.digest &&
    known.annotations?.[INDEX_DIGEST_ANNOTATION] ===
      wanted.annotations?.[INDEX_DIGEST_ANNOTATION] &&
    known.annotations?.[SOURCE_DIGEST_ANNOTATION] ===
      wanted.annotations?.[SOURCE_DIGEST_ANNOTATION];
  if (same) return known;
  const written = annotate(wanted);
  await store.updateIndex((entries) => [
    ...entries.filter((e) => nameOf(e) !== name),
    written,
  ]);
  return written;
}

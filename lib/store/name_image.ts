/**
 * The store's one naming call: what a name in `index.json` points at after a pull or a load. A
 * second platform of the same index turns the name into the index; a platform the index entry
 * already covers leaves it as it is: pulling a platform never drops another one. Several names
 * are given in one update (`nameImages`).
 *
 * @module
 */

import type { Descriptor } from "../oci/parse_manifest.ts";
import { type IndexEntry, kindOf, nameOf } from "./index_entry.ts";
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

/** One name for {@linkcode nameImages}. */
export interface ImageName {
  /**
   * The name (`org.opencontainers.image.ref.name`); `undefined` for an image stored without one
   * (an archive's image that has none), kept once by its digest.
   */
  name: string | undefined;
  /** The entry to write (see {@linkcode nameImage}). */
  entry: Descriptor;
  /** The index `entry` was chosen from (see {@linkcode NameImageOptions.index}). */
  index?: Descriptor;
}

/** Options for {@linkcode nameImages}. */
export interface NameImagesOptions {
  /**
   * Record when a name was given (`dev.skiff.pulled`): a pull does; a load does not (the
   * archive's image was not pulled).
   * @default {true}
   */
  pulled?: boolean;
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
  const [named] = await nameImages(store, [{ name, entry, ...options }]);
  return named!;
}

/**
 * Gives several names at once, by the rules of {@linkcode nameImage}, in one `index.json` update
 * (none when every name is as asked already): what a load of an archive names is named together,
 * or not at all.
 *
 * @param store The store.
 * @param names The names and their entries; a later one of the same name wins.
 * @param options Whether the time is recorded.
 * @returns The entries the names now have, in order.
 *
 * @example Name an image twice, and one without a name
 * ```ts ignore
 * import { nameImages } from "./name_image.ts";
 * import { Store } from "./store.ts";
 *
 * const store = await Store.open("./images");
 * const entry = {
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:...",
 *   size: 1024,
 * };
 * await nameImages(store, [
 *   { name: "example.com/team/app:1", entry },
 *   { name: "example.com/team/app:latest", entry },
 *   { name: undefined, entry: { ...entry, digest: "sha256:..." } },
 * ], { pulled: false });
 * ```
 */
export async function nameImages(
  store: Store,
  names: readonly ImageName[],
  options: NameImagesOptions = {},
): Promise<Descriptor[]> {
  const current = await store.readEntries();
  const out: Descriptor[] = [];
  const writes = new Map<string, Descriptor>();
  const unnamed = new Map<string, Descriptor>();
  for (const { name, entry, index } of names) {
    if (name === undefined) {
      const known = current.find((e) =>
        e.name === undefined && e.problems.length === 0 && e.digest === entry.digest
      );
      const kept = known?.descriptor ?? entry;
      if (!known) unnamed.set(entry.digest, entry);
      out.push(kept);
      continue;
    }
    const wanted = await nameTo(store, current, name, entry, index);
    if (wanted.same) {
      out.push(wanted.entry);
      continue;
    }
    const written: Descriptor = {
      ...wanted.entry,
      annotations: {
        ...wanted.entry.annotations,
        [REF_NAME_ANNOTATION]: name,
        ...(options.pulled ?? true ? { [PULLED_ANNOTATION]: new Date().toISOString() } : {}),
      },
    };
    writes.delete(name); // a later entry of the same name goes last
    writes.set(name, written);
    out.push(written);
  }
  if (writes.size === 0 && unnamed.size === 0) return out;
  await store.updateIndex((entries) => [
    // (entries of any shape: index.json is read leniently, and what is not ours stays)
    ...entries.filter((e) => {
      const name = nameOf(e);
      if (name !== undefined) return !writes.has(name);
      const digest = (e as { digest?: unknown } | null)?.digest;
      return !(typeof digest === "string" && unnamed.has(digest));
    }),
    ...writes.values(),
    ...unnamed.values(),
  ]);
  return out;
}

/** What `name` should point at for `entry` (by {@linkcode nameImage}'s rules). */
async function nameTo(
  store: Store,
  current: readonly IndexEntry[],
  name: string,
  entry: Descriptor,
  index: Descriptor | undefined,
): Promise<{ entry: Descriptor; same: boolean }> {
  const named = current.filter((e) => e.name === name);
  const known = named.length === 1 && named[0]!.problems.length === 0
    ? named[0]!.descriptor
    : undefined;
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
    if (listed.has(added)) return { entry: known!, same: true }; // the part lists it already
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
  return same ? { entry: known, same } : { entry: wanted, same };
}

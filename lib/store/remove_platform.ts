/**
 * `removePlatform()`: one platform less under a name stored with several (`skiff rm --platform`).
 *
 * @module
 */

import { parseReference } from "../reference/parse_reference.ts";
import {
  formatPlatform,
  isAttestation,
  normalizePlatform,
  parsePlatform,
} from "../oci/choose_platform.ts";
import { configPlatform } from "../oci/check_image_platform.ts";
import type { Descriptor, Platform } from "../oci/parse_manifest.ts";
import { kindOf } from "./index_entry.ts";
import { holdPullLock } from "./_locks.ts";
import { openExisting } from "./_open_existing.ts";
import { registryFormOf, subsetIndex } from "./_subset_index.ts";
import { ImageNotFoundError } from "./image_not_found_error.ts";
import { registryDigestOf } from "./resolve_stored_image.ts";
import {
  INDEX_DIGEST_ANNOTATION,
  PULLED_ANNOTATION,
  REF_NAME_ANNOTATION,
  SOURCE_DIGEST_ANNOTATION,
  type Store,
} from "./store.ts";

/** Options for {@linkcode removePlatform}. */
export interface RemovePlatformOptions {
  /** Stops the wait for a running garbage collection. */
  signal?: AbortSignal;
}

/** What {@linkcode removePlatform} did. */
export interface RemovedPlatform {
  /** The entry's name. */
  name: string;
  /** The platform removed, `os/arch[/variant]`, as the index lists it. */
  platform: string;
  /** The registry's digest of the removed platform's manifest. */
  digest: string;
  /** The platforms still stored under the name, in index order. */
  remaining: string[];
  /**
   * What the name points at now: `"index"` (an index listing the rest: a new digest, skiff's),
   * `"manifest"` (one platform left: its manifest, as a pull of that platform names it; every
   * digest is the registry's), or `"removed"` (that was the last platform: the name is gone).
   */
  entry: "index" | "manifest" | "removed";
  /** The digest of the name's entry now (`undefined` when removed). */
  entryDigest: string | undefined;
  /** The registry's digest of the index the platforms came from. */
  indexDigest: string;
}

/** Thrown inside the index update when the entry changed since it was read: read again. */
class Changed extends Error {}

/**
 * Removes one platform from a name stored with several (an index entry, after `pull --platform
 * a,b` or `all`). The rest stays under the name: with two or more left, an index that lists them
 * (the stored index's JSON without the platform and its attestations: a new digest, which no
 * registry has; the entry's `dev.skiff.index.digest` keeps the registry's); with one left, that
 * platform's manifest, named as a pull of that platform alone names it (the registry's digests,
 * and an entry umoci reads); with none left, the name is removed. A single-platform entry of that
 * platform is removed. The removed platform's blobs are not deleted: those no other image needs
 * are garbage for {@linkcode collectGarbage}. `index.json` is changed under its lock, atomically.
 *
 * @param store The store: a directory or an open {@linkcode Store}.
 * @param name The name (as pulled, or normalized: `alpine:3.20`).
 * @param platform The platform, `os/arch[/variant]` or a {@linkcode Platform}; without a variant
 *   it must name one stored platform.
 * @param options Abort signal.
 * @returns What was removed and what the name points at now.
 * @throws {ImageNotFoundError} When the name is not in the store, or that platform is not stored
 *   under it (the message lists what is).
 *
 * @example Remove the arm64 platform of a name pulled with two
 * ```ts ignore
 * import { pull, removePlatform } from "@skiff/skiff";
 *
 * await pull("alpine:3.20", { store: "./images", platform: "linux/amd64,linux/arm64" });
 * const r = await removePlatform("./images", "alpine:3.20", "linux/arm64");
 * console.log(r.entry, r.remaining); // "manifest" [ "linux/amd64" ]
 * ```
 */
export async function removePlatform(
  store: string | Store,
  name: string,
  platform: string | Platform,
  options: RemovePlatformOptions = {},
): Promise<RemovedPlatform> {
  const want = normalizePlatform(typeof platform === "string" ? parsePlatform(platform) : platform);
  const path = typeof store === "string" ? store : store.path;
  const opened = await openExisting(store);
  if (!opened) throw new ImageNotFoundError("remove", name, path);
  // the new index blob is written before it is named: a gc must not sweep it in between
  using _ = await holdPullLock(opened, options.signal);
  for (let attempt = 0;; attempt++) {
    const plan = await planRemoval(opened, name, want);
    try {
      await opened.updateIndex((entries) => {
        const at = entries.findIndex((e) =>
          e?.annotations?.[REF_NAME_ANNOTATION] === plan.name && e.digest === plan.from
        );
        if (at < 0) throw new Changed();
        if (plan.next === undefined) return entries.filter((_, i) => i !== at);
        return entries.map((e, i) => i === at ? plan.next! : e);
      });
    } catch (e) {
      if (!(e instanceof Changed)) throw e;
      if (attempt >= 4) {
        throw new Error(`Cannot remove platform of ${plan.name}: it keeps changing`);
      }
      continue; // a pull renamed it meanwhile: decide again from what is there now
    }
    return plan.result;
  }
}

interface Removal {
  name: string;
  /** The digest of the entry the plan was made from. */
  from: string;
  /** The entry that replaces it, or `undefined` to drop the name. */
  next: Descriptor | undefined;
  result: RemovedPlatform;
}

async function planRemoval(store: Store, query: string, want: Platform): Promise<Removal> {
  let canonical: string | undefined;
  try {
    canonical = parseReference(query).toString();
  } catch {
    canonical = undefined;
  }
  const found = (await store.readEntries()).find((e) =>
    e.problems.length === 0 && e.name !== undefined && (e.name === query || e.name === canonical)
  );
  if (!found) throw new ImageNotFoundError("remove", query, store.path);
  const name = found.name!;
  const entry = found.descriptor;
  const wanted = formatPlatform(want);
  const { parsed } = await store.readManifestOrIndex(
    kindOf(entry.mediaType) === "unknown" ? { digest: entry.digest } : entry,
  );
  const notStored = (stored: string[]) =>
    new ImageNotFoundError(
      "remove",
      `platform ${wanted} of ${name}`,
      store.path,
      `it is not in the store (stored: ${stored.join(", ") || "no platform"})`,
    );
  if (parsed.kind === "manifest") {
    let have = entry.platform;
    if (!have) {
      try {
        have = configPlatform(await store.readConfig(parsed.manifest.config));
      } catch {
        have = undefined;
      }
    }
    if (!have || !samePlatform(have, want, [have])) {
      throw notStored(have ? [formatPlatform(have)] : []);
    }
    return {
      name,
      from: entry.digest,
      next: undefined,
      result: {
        name,
        platform: formatPlatform(have),
        digest: registryDigestOf(entry),
        remaining: [],
        entry: "removed",
        entryDigest: undefined,
        indexDigest: entry.annotations?.[INDEX_DIGEST_ANNOTATION] ?? registryDigestOf(entry),
      },
    };
  }
  // an index: its platforms whose manifests are in the store (what `images` lists)
  const stored: Descriptor[] = [];
  for (const m of parsed.index.manifests) {
    if (m.platform && !isAttestation(m) && await store.hasBlob(m.digest)) stored.push(m);
  }
  const platforms = stored.map((m) => m.platform!);
  const chosen = stored.filter((m) => samePlatform(m.platform!, want, platforms));
  if (chosen.length !== 1) throw notStored(platforms.map(formatPlatform));
  const gone = chosen[0]!;
  const rest = stored.filter((m) => m !== gone);
  const original = entry.annotations?.[INDEX_DIGEST_ANNOTATION] ?? registryDigestOf(entry);
  const keepName = (d: Descriptor): Descriptor => ({
    ...d,
    annotations: {
      ...d.annotations,
      [REF_NAME_ANNOTATION]: name,
      ...(entry.annotations?.[PULLED_ANNOTATION] !== undefined
        ? { [PULLED_ANNOTATION]: entry.annotations[PULLED_ANNOTATION] }
        : {}),
    },
  });
  const result = {
    name,
    platform: formatPlatform(gone.platform!),
    digest: registryDigestOf(gone),
    remaining: rest.map((m) => formatPlatform(m.platform!)),
    indexDigest: original,
  };
  if (rest.length === 0) {
    return {
      name,
      from: entry.digest,
      next: undefined,
      result: { ...result, entry: "removed", entryDigest: undefined },
    };
  }
  if (rest.length === 1) {
    // one platform left: its manifest, as `pull --platform` of it alone names it
    const m = rest[0]!;
    const source = m.annotations?.[SOURCE_DIGEST_ANNOTATION];
    const next = keepName({
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.size,
      platform: m.platform!,
      annotations: {
        [INDEX_DIGEST_ANNOTATION]: original,
        ...(source !== undefined ? { [SOURCE_DIGEST_ANNOTATION]: source } : {}),
      },
    });
    return {
      name,
      from: entry.digest,
      next,
      result: { ...result, entry: "manifest", entryDigest: m.digest },
    };
  }
  // the index without it: cut in its registry form (a Docker list stays one), a new digest
  const removed = registryDigestOf(gone);
  const next = keepName(
    await subsetIndex(
      store,
      await registryFormOf(store, entry),
      (d) => d.digest !== removed,
      original,
    ),
  );
  return {
    name,
    from: entry.digest,
    next,
    result: { ...result, entry: "index", entryDigest: next.digest },
  };
}

/**
 * Whether a stored platform is the one asked for: the same after normalization; or, asked
 * without a variant, the only stored one of that OS and architecture. (Never the nearest ARM
 * variant, as a pull would choose: removing picks exactly.)
 */
function samePlatform(have: Platform, want: Platform, all: readonly Platform[]): boolean {
  const h = normalizePlatform(have);
  if (h.os !== want.os || h.architecture !== want.architecture) return false;
  if ((h.variant ?? "") === (want.variant ?? "")) return true;
  if (want.variant !== undefined && want.variant !== "") return false;
  const same = all.map(normalizePlatform).filter((p) =>
    p.os === want.os && p.architecture === want.architecture
  );
  return same.length === 1;
}

// A pull of several platforms (a list, or all an index has) is one engine run (lib/pull/pull.ts);
// here: what the `platform` option asks for, and the answer from the store alone for the
// policies "missing" and "never".

import type { ProgressEvent } from "../progress/progress_event.ts";
import type { Reference } from "../reference/parse_reference.ts";
import {
  choosePlatform,
  isAttestation,
  parsePlatform,
  parsePlatformList,
} from "../oci/choose_platform.ts";
import type { Descriptor, ImageIndex, Platform } from "../oci/parse_manifest.ts";
import { ImageNotFoundError } from "../store/image_not_found_error.ts";
import { INDEX_DIGEST_ANNOTATION, SOURCE_DIGEST_ANNOTATION, type Store } from "../store/store.ts";
import { pullFromStore } from "./_from_store.ts";
import type { PullOptions, PullResult } from "./pull_options.ts";

/** The platforms a `platform` option asks for: one, a list, or all. */
export function platformsOf(
  platform: PullOptions["platform"],
): "all" | Platform[] | undefined {
  if (platform === undefined) return undefined;
  if (typeof platform === "string") return parsePlatformList(platform);
  const items: readonly (string | Platform)[] = Array.isArray(platform)
    ? platform
    : [platform as Platform];
  if (items.length === 0) throw new SyntaxError(`Cannot pull for an empty list of platforms`);
  return items.map((p) => typeof p === "string" ? parsePlatform(p) : p);
}

/**
 * Several platforms of `ref` from the store alone, when the index, every platform asked for
 * (complete) and, with `"all"`, every other manifest the index lists are there; else `undefined`
 * (policy "missing": the registry is asked) or {@linkcode ImageNotFoundError} (policy "never").
 */
export async function pullPlatformsFromStore(
  ref: Reference,
  store: Store,
  platforms: "all" | Platform[] | undefined,
  policy: "missing" | "never",
  emit: (event: ProgressEvent) => void,
): Promise<PullResult | undefined> {
  const name = ref.toString();
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
      const one = await pullFromStore(ref, store, undefined, () => {});
      if (one && one.indexDigest === undefined) {
        await pullFromStore(ref, store, undefined, emit);
        return {
          ...one,
          platforms: [{
            platform: one.platform,
            digest: one.digest,
            storedDigest: one.storedDigest,
          }],
        };
      }
    }
    return refuse(`its index is not in the store ${store.path}`);
  }
  const { index, descriptor } = stored;
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
    const r = await pullFromStore(ref, store, platform, () => {});
    if (!r || r.indexDigest !== descriptor.digest) {
      return refuse(`its platform ${JSON.stringify(platform)} is not complete in the store`);
    }
    results.push(r);
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
  for (const platform of wanted) await pullFromStore(ref, store, platform, emit);
  const first = results[0]!;
  const named = await store.findImage(name);
  return {
    ...first,
    digest: descriptor.digest,
    storedDigest: named?.digest ?? descriptor.digest,
    mediaType: descriptor.mediaType,
    indexDigest: descriptor.digest,
    platform: undefined,
    bytesFetched: 0,
    platforms: results.map((r) => ({
      platform: r.platform,
      digest: r.digest,
      storedDigest: r.storedDigest,
    })),
  };
}

/** The index the name's entry is (or, for one platform stored, was chosen from), if stored. */
async function storedIndex(
  store: Store,
  name: string,
): Promise<{ index: ImageIndex; descriptor: Descriptor } | undefined> {
  const entry = await store.findImage(name);
  if (!entry) return undefined;
  try {
    const { parsed, bytes } = await store.readManifestOrIndex(entry);
    if (parsed.kind === "index") {
      const from = entry.annotations?.[SOURCE_DIGEST_ANNOTATION];
      // a Docker list, named through its OCI conversion: the list itself is the index
      const list = from ? await indexBlob(store, from) : undefined;
      if (list) return list;
      return {
        index: parsed.index,
        descriptor: { mediaType: parsed.mediaType, digest: entry.digest, size: bytes.byteLength },
      };
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

/** A stored blob that is an index, with its descriptor; `undefined` when absent or not one. */
async function indexBlob(
  store: Store,
  digest: string,
): Promise<{ index: ImageIndex; descriptor: Descriptor } | undefined> {
  if (!(await store.hasBlob(digest))) return undefined;
  const { parsed, descriptor } = await store.readManifestOrIndex({ digest });
  if (parsed.kind !== "index") return undefined;
  return { index: parsed.index, descriptor };
}

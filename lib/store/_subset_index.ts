// An index cut down to some of its entries, for `rm --platform` (one platform less) and for a pull
// that adds a platform to such an index. The cut is made on the registry's form of the index (an
// OCI index, or the Docker list a conversion was made from), keeping its JSON as it was but for
// the entries; the result is named as any stored index is (a Docker list through its OCI
// conversion). Its digest is skiff's, which no registry has: the entry says so with
// `dev.skiff.index.digest`, the registry's index it was cut from.

import { computeDigest } from "../reference/compute_digest.ts";
import { isAttestation } from "../oci/choose_platform.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import { storedIndexEntry } from "./_stored_index.ts";
import {
  INDEX_DIGEST_ANNOTATION,
  SOURCE_DIGEST_ANNOTATION,
  type Store,
  type StoredDocument,
} from "./store.ts";

/** The registry's form of a stored index entry: the original of a conversion, else itself. */
export async function registryFormOf(store: Store, entry: Descriptor): Promise<StoredDocument> {
  const source = entry.annotations?.[SOURCE_DIGEST_ANNOTATION];
  if (source !== undefined && await store.hasBlob(source)) {
    return await store.readManifestOrIndex({ digest: source });
  }
  const read = await store.readManifestOrIndex(entry);
  return { ...read, descriptor: { ...read.descriptor, mediaType: entry.mediaType } };
}

/**
 * The entry to name for `index` (in its registry form, its blob in the store) cut down to the
 * entries `keep` accepts; an attestation goes with the manifest it describes. When nothing is cut,
 * the index itself (as `nameImage` names it). The new index's blob is written to the store.
 *
 * @param store The store.
 * @param index The registry's form of the index, and its bytes.
 * @param keep Whether an entry (not an attestation) stays.
 * @param original The registry's digest of the index the cut comes from.
 * @returns The descriptor to name (annotated with `original` when it was cut).
 */
export async function subsetIndex(
  store: Store,
  index: StoredDocument,
  keep: (entry: Descriptor) => boolean,
  original: string,
): Promise<Descriptor> {
  const parsed = index.parsed;
  if (parsed.kind !== "index") throw new Error(`${index.descriptor.digest} is not an index`);
  const entries = parsed.index.manifests;
  const kept = new Set(entries.filter((d) => !isAttestation(d) && keep(d)).map((d) => d.digest));
  const positions = entries.map((d, i) => ({ d, i })).filter(({ d }) =>
    isAttestation(d)
      ? kept.has(d.annotations?.["vnd.docker.reference.digest"] ?? "")
      : kept.has(d.digest)
  ).map(({ i }) => i);
  let cut = index.descriptor;
  if (positions.length < entries.length) {
    const doc = JSON.parse(new TextDecoder().decode(index.bytes)) as { manifests: unknown[] };
    doc.manifests = positions.map((i) => doc.manifests[i]);
    const bytes = new TextEncoder().encode(JSON.stringify(doc));
    cut = {
      mediaType: index.descriptor.mediaType,
      digest: await computeDigest(bytes),
      size: bytes.byteLength,
    };
    await store.putBlob(cut.digest, bytes);
  }
  const named = await storedIndexEntry(store, cut);
  if (cut.digest === original) return named;
  return { ...named, annotations: { ...named.annotations, [INDEX_DIGEST_ANNOTATION]: original } };
}

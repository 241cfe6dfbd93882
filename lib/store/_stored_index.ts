// The entry a name gets when it holds several platforms of an index. An OCI index is named as it
// is (its exact bytes). A Docker manifest list is named through its OCI conversion, for the same
// reason a single Docker manifest is (OCI tools, skopeo's oci: transport, only follow OCI media
// types): the conversion lists, in the list's order, the OCI conversion of each platform whose
// Docker manifest is in the store, and the others as the list has them. The list's exact bytes
// stay in blobs/ under the `dev.skiff.source.digest` annotation: the registry's digest.

import { computeDigest } from "../reference/compute_digest.ts";
import { MediaType } from "../oci/media_types.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import { toOciManifest } from "../oci/to_oci_manifest.ts";
import { SOURCE_DIGEST_ANNOTATION, type Store } from "./store.ts";

/**
 * The descriptor to name for an index that is in the store (its blob written there first); for a
 * Docker list, its conversion, written to `blobs/` (with each platform's conversion).
 */
export async function storedIndexEntry(store: Store, index: Descriptor): Promise<Descriptor> {
  if (index.mediaType !== MediaType.DockerManifestList) {
    return { mediaType: index.mediaType, digest: index.digest, size: index.size };
  }
  const { bytes, index: list } = await store.readIndex(index);
  const raw = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  const manifests: Descriptor[] = [];
  for (const m of list.manifests) {
    let converted: Uint8Array | undefined;
    if (m.mediaType === MediaType.DockerManifest && await store.hasBlob(m.digest, m.size)) {
      const child = (await store.readManifestOrIndex(m)).parsed;
      if (child.kind === "manifest") converted = toOciManifest(child.manifest, m.mediaType);
    }
    if (!converted) {
      manifests.push(m);
      continue;
    }
    const digest = await computeDigest(converted);
    await store.putBlob(digest, converted);
    manifests.push({
      ...m,
      mediaType: MediaType.OciManifest,
      digest,
      size: converted.byteLength,
      annotations: { ...m.annotations, [SOURCE_DIGEST_ANNOTATION]: m.digest },
    });
  }
  const oci: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests,
  };
  if (raw.annotations !== undefined) oci.annotations = raw.annotations;
  const out = new TextEncoder().encode(JSON.stringify(oci));
  const digest = await computeDigest(out);
  await store.putBlob(digest, out);
  return {
    mediaType: MediaType.OciIndex,
    digest,
    size: out.byteLength,
    annotations: { [SOURCE_DIGEST_ANNOTATION]: index.digest },
  };
}

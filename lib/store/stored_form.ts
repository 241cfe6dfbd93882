/**
 * The form a manifest takes in the store: an OCI manifest as it is; a Docker schema 2 manifest as
 * its OCI conversion (config and layers untouched), because skopeo, umoci and podman find images
 * in a layout through OCI media types only. The original stays in `blobs/`, its digest in the
 * entry's `dev.skiff.source.digest`: what skiff prints and pushes. Pull, load and a sync into a
 * layout store what they name this way.
 *
 * @module
 */

import { computeDigest } from "../reference/compute_digest.ts";
import { MediaType } from "../oci/media_types.ts";
import {
  type Descriptor,
  type ImageManifest,
  ManifestError,
  parseManifest,
} from "../oci/parse_manifest.ts";
import { toOciManifest } from "../oci/to_oci_manifest.ts";
import { SOURCE_DIGEST_ANNOTATION, type Store } from "./store.ts";

/** An image manifest as the store keeps it (see {@linkcode storedForm}). */
export interface StoredForm {
  /** The stored bytes' digest: the manifest's own, or its conversion's. */
  digest: string;
  /** The stored bytes. */
  bytes: Uint8Array;
  /** The stored media type. */
  mediaType: string;
  /** The stored manifest. */
  manifest: ImageManifest;
}

/**
 * The form an image manifest is stored in: OCI as it is, Docker schema 2 converted to OCI.
 * Nothing is written.
 *
 * @param descriptor The manifest's digest and media type (as a source served it).
 * @param bytes Its exact bytes.
 * @returns The stored digest, bytes, media type and manifest.
 * @throws {ManifestError} When the bytes are an index, or not a manifest.
 *
 * @example An OCI manifest is stored as it is
 * ```ts
 * import { storedForm } from "./stored_form.ts";
 * import assert from "node:assert/strict";
 *
 * const config = {
 *   mediaType: "application/vnd.oci.image.config.v1+json",
 *   digest: "sha256:" + "c".repeat(64),
 *   size: 2,
 * };
 * const bytes = new TextEncoder().encode(JSON.stringify({
 *   schemaVersion: 2,
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config,
 *   layers: [],
 * }));
 * const digest = "sha256:" + "d".repeat(64);
 * const stored = await storedForm({ digest, mediaType: "" }, bytes);
 * assert.equal(stored.digest, digest);
 * assert.equal(stored.bytes, bytes);
 * ```
 */
export async function storedForm(
  descriptor: Pick<Descriptor, "digest" | "mediaType">,
  bytes: Uint8Array,
): Promise<StoredForm> {
  const parsed = parseManifest(bytes, descriptor.mediaType || undefined);
  if (parsed.kind !== "manifest") throw new ManifestError("Cannot use an index as an image");
  const converted = toOciManifest(parsed.manifest, parsed.mediaType);
  if (!converted) {
    return {
      digest: descriptor.digest,
      bytes,
      mediaType: parsed.mediaType,
      manifest: parsed.manifest,
    };
  }
  const oci = parseManifest(converted, MediaType.OciManifest);
  if (oci.kind !== "manifest") throw new ManifestError("Cannot convert manifest to OCI");
  return {
    digest: await computeDigest(converted),
    bytes: converted,
    mediaType: MediaType.OciManifest,
    manifest: oci.manifest,
  };
}

/**
 * The `index.json` entry to name an image manifest or index by, its stored form written to the
 * store first: a Docker schema 2 manifest through its conversion, with the original's digest in
 * `dev.skiff.source.digest`; anything else as it is (an index is converted, when it is a Docker
 * list, by the naming call itself).
 *
 * @param store The store (it has the manifest already).
 * @param descriptor The manifest's descriptor, as copied.
 * @param bytes Its exact bytes.
 * @returns The entry's media type, digest, size and annotations (a platform is the caller's).
 *
 * @example An index is named as it is
 * ```ts
 * import { storedEntry } from "./stored_form.ts";
 * import { Store } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const index = {
 *   mediaType: "application/vnd.oci.image.index.v1+json",
 *   digest: "sha256:" + "e".repeat(64),
 *   size: 40,
 * };
 * const entry = await storedEntry(await Store.open(dir), index, new Uint8Array(40));
 * assert.deepEqual(entry, index);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function storedEntry(
  store: Store,
  descriptor: Descriptor,
  bytes: Uint8Array,
): Promise<Descriptor> {
  const plain = {
    mediaType: descriptor.mediaType,
    digest: descriptor.digest,
    size: descriptor.size,
  };
  if (descriptor.mediaType !== MediaType.DockerManifest) return plain;
  const stored = await storedForm(descriptor, bytes);
  if (stored.digest === descriptor.digest) return plain;
  await store.putBlob(stored.digest, stored.bytes);
  return {
    mediaType: stored.mediaType,
    digest: stored.digest,
    size: stored.bytes.byteLength,
    annotations: { [SOURCE_DIGEST_ANNOTATION]: descriptor.digest },
  };
}

/**
 * Docker schema 2 -> OCI image manifest, the conversion `skopeo copy` and podman make when they
 * write an OCI layout. Config and layer blobs stay byte for byte; only the manifest changes.
 *
 * @module
 */

import { MediaType } from "./media_types.ts";
import type { Descriptor, ImageManifest } from "./parse_manifest.ts";

const LAYER_TYPES: Record<string, string> = {
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  [MediaType.DockerLayerForeignGzip]: MediaType.OciLayerNondistributableGzip,
  [MediaType.DockerLayer]: MediaType.OciLayer,
};

/**
 * Converts a Docker schema 2 manifest to an OCI image manifest. OCI manifests are returned as
 * they are (`undefined`), so the registry's bytes are kept whenever they already are OCI.
 *
 * Why: skopeo, umoci and podman find images in an OCI layout only through OCI media types, so a
 * Docker manifest named in `index.json` would be invisible to them.
 *
 * @param manifest The parsed manifest.
 * @param mediaType Its media type.
 * @returns The OCI manifest's bytes, or `undefined` when no conversion is needed.
 *
 * @example Convert a Docker manifest
 * ```ts
 * import { toOciManifest } from "./to_oci_manifest.ts";
 * import assert from "node:assert/strict";
 *
 * const docker = {
 *   schemaVersion: 2 as const,
 *   mediaType: "application/vnd.docker.distribution.manifest.v2+json",
 *   config: {
 *     mediaType: "application/vnd.docker.container.image.v1+json",
 *     digest: "sha256:" + "1".repeat(64),
 *     size: 10,
 *   },
 *   layers: [],
 * };
 * const bytes = toOciManifest(docker, docker.mediaType)!;
 * const oci = JSON.parse(new TextDecoder().decode(bytes));
 * assert.equal(oci.mediaType, "application/vnd.oci.image.manifest.v1+json");
 * assert.equal(oci.config.mediaType, "application/vnd.oci.image.config.v1+json");
 * ```
 */
export function toOciManifest(
  manifest: ImageManifest,
  mediaType: string,
): Uint8Array | undefined {
  if (mediaType !== MediaType.DockerManifest) return undefined;
  const descriptor = (d: Descriptor, type: string): Descriptor => {
    const out: Descriptor = { mediaType: type, digest: d.digest, size: d.size };
    if (d.urls) out.urls = d.urls;
    if (d.annotations) out.annotations = d.annotations;
    return out;
  };
  const config = manifest.config.mediaType === MediaType.DockerConfig
    ? MediaType.OciConfig
    : manifest.config.mediaType;
  const oci = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: descriptor(manifest.config, config),
    layers: manifest.layers.map((l) => descriptor(l, LAYER_TYPES[l.mediaType] ?? l.mediaType)),
    ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
  };
  return new TextEncoder().encode(JSON.stringify(oci));
}

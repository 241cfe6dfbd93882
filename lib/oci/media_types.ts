/**
 * The media types skiff understands, and the Accept header built from them.
 *
 * @module
 */

/** Media type constants of the OCI image spec and Docker's image manifest v2. */
export const MediaType = {
  /** OCI image index. */
  OciIndex: "application/vnd.oci.image.index.v1+json",
  /** OCI image manifest. */
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  /** OCI image config. */
  OciConfig: "application/vnd.oci.image.config.v1+json",
  /** OCI layer, uncompressed tar. */
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  /** OCI layer, gzip. */
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  /** OCI layer, zstd. */
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  /** OCI non-distributable layer, uncompressed tar (deprecated by the spec, still read). */
  OciLayerNondistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  /** OCI non-distributable layer, gzip. */
  OciLayerNondistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  /** OCI non-distributable layer, zstd. */
  OciLayerNondistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  /** Docker manifest list ("fat manifest"). */
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  /** Docker image manifest, schema 2. */
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  /** Docker image config. */
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  /** Docker layer, tar+gzip. */
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  /** Docker layer, uncompressed tar. */
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  /** Docker foreign (non-distributable) layer, tar+gzip. */
  DockerLayerForeignGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  /** Docker schema 1 manifest (unsupported; refused with a clear message). */
  DockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  /** Docker schema 1 signed manifest (unsupported). */
  DockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

/** The media types that name an index of manifests. */
export const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([
  MediaType.OciIndex,
  MediaType.DockerManifestList,
]);

/** The media types that name a single image manifest. */
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([
  MediaType.OciManifest,
  MediaType.DockerManifest,
]);

/** The `Accept` header for manifest requests: the four formats skiff reads, best first. */
export const MANIFEST_ACCEPT: string = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
].join(", ");

/** How a layer's tar is compressed. */
export type LayerCompression = "none" | "gzip" | "zstd";

const LAYER_COMPRESSION: Record<string, LayerCompression> = {
  [MediaType.OciLayer]: "none",
  [MediaType.OciLayerGzip]: "gzip",
  [MediaType.OciLayerZstd]: "zstd",
  [MediaType.OciLayerNondistributable]: "none",
  [MediaType.OciLayerNondistributableGzip]: "gzip",
  [MediaType.OciLayerNondistributableZstd]: "zstd",
  [MediaType.DockerLayer]: "none",
  [MediaType.DockerLayerGzip]: "gzip",
  [MediaType.DockerLayerForeignGzip]: "gzip",
};

/**
 * Tells how a layer of the given media type is compressed: the OCI and Docker tar, tar+gzip and
 * tar+zstd layers and their non-distributable (foreign) variants.
 *
 * @param mediaType The layer descriptor's media type.
 * @returns The compression, or `undefined` when the media type is not a known layer type.
 *
 * @example Look up a layer type
 * ```ts
 * import { layerCompression } from "./media_types.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(layerCompression("application/vnd.oci.image.layer.v1.tar+zstd"), "zstd");
 * assert.equal(layerCompression("application/vnd.in-toto+json"), undefined);
 * ```
 */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  return Object.hasOwn(LAYER_COMPRESSION, mediaType) ? LAYER_COMPRESSION[mediaType] : undefined;
}

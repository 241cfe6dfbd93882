/**
 * skiff pulls container images from any OCI or Docker registry into a standard OCI image layout,
 * verifying every byte against its digest while it streams, and resuming interrupted downloads;
 * and it unpacks them into root filesystems, with no way for a hostile image to write outside.
 *
 * @example Pull an image into a directory
 * ```ts ignore
 * import { pull } from "@skiff/skiff";
 *
 * const image = await pull("alpine:3.20", {
 *   store: "./images",
 *   platform: "linux/arm64",
 *   onProgress: (e) => {
 *     if (e.type === "blob-done") console.error(`${e.digest} ${e.size} bytes`);
 *   },
 * });
 * console.log(image.reference, image.digest, image.layers.length);
 * ```
 *
 * @example Unpack an image into a root filesystem
 * ```ts ignore
 * import { unpack } from "@skiff/skiff";
 *
 * // pulls alpine:3.20 into the store first when it is not there
 * const result = await unpack("alpine:3.20", "./rootfs", { store: "./images" });
 * console.log(result.dir, result.layers, result.entries, result.skippedDevices);
 * ```
 *
 * @example Copy an image between registries, every platform, byte for byte
 * ```ts ignore
 * import { copy } from "@skiff/skiff";
 *
 * const r = await copy("alpine:3.20", "127.0.0.1:5000/mirror/alpine:3.20", { jobs: 4 });
 * console.log(r.destination, r.digest === r.sourceDigest, r.blobs);
 * ```
 *
 * @example Save images into an archive docker and podman load, and load one
 * ```ts ignore
 * import { load, save } from "@skiff/skiff";
 *
 * // pulls what the store lacks, then streams every blob into the tar
 * await save(["alpine:3.20", "busybox:1.36"], "images.tar", { store: "./images" });
 * await save("alpine:3.20", "alpine-oci.tar", { store: "./images", format: "oci" });
 * const r = await load("images.tar", { store: "./elsewhere" });
 * console.log(r.images.map((i) => `${i.name} ${i.digest}`));
 * @example Export an image's flattened root filesystem as one tar
 * ```ts ignore
 * import { exportRootfs } from "@skiff/skiff";
 *
 * const { readable, result } = exportRootfs("alpine:3.20", { store: "./images" });
 * await Deno.writeFile("alpine.tar.part", readable); // errors if the export fails
 * console.log((await result).entries);
 * await Deno.rename("alpine.tar.part", "alpine.tar");
 * ```
 *
 * @example Read from a registry without pulling
 * ```ts ignore
 * import { fetchImageConfig, listTags, resolveDigest, resolveManifest } from "@skiff/skiff";
 *
 * console.log(await listTags("alpine"));
 * console.log((await resolveDigest("alpine:3.20")).digest);
 * const m = await resolveManifest("alpine:3.20", { platform: "linux/arm64" });
 * const { config } = await fetchImageConfig("alpine:3.20");
 * console.log(m.digest, config.config?.Cmd);
 * ```
 *
 * @example Manage a store: use what is there, list, remove, collect garbage
 * ```ts ignore
 * import { collectGarbage, listImages, pull, removeImages } from "@skiff/skiff";
 *
 * await pull("alpine:3.20", { store: "./images", policy: "missing" }); // no request if present
 * for (const image of await listImages("./images")) console.log(image.name, image.size);
 * await removeImages("./images", ["alpine:3.20"]);
 * const freed = await collectGarbage("./images");
 * console.log(`${freed.bytes} bytes freed`);
 * ```
 *
 * @example Log in to a registry (checked, then stored where docker keeps credentials)
 * ```ts ignore
 * import { login, logout } from "@skiff/skiff";
 *
 * const saved = await login("ghcr.io", { username: "octocat", password: "<token>" });
 * console.log(saved.helper ?? saved.file);
 * await logout("ghcr.io");
 * ```
 *
 * @example Serve the store as a read-only registry (a mirror for docker, podman, containerd)
 * ```ts ignore
 * import { serve } from "@skiff/skiff";
 *
 * const server = await serve({ store: "./images", port: 0 }); // 127.0.0.1, any free port
 * console.log(`docker.io/library/alpine:3.20 is ${server.url}/v2/library/alpine/manifests/3.20`);
 * await server.shutdown(); // the responses in flight end first
 * ```
 *
 * @example Parse and normalize a reference
 * ```ts
 * import { parseReference } from "@skiff/skiff";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseReference("alpine").toString(), "docker.io/library/alpine:latest");
 * ```
 *
 * @module
 */

export {
  pull,
  type PulledPlatform,
  type PullObserver,
  type PullOptions,
  type PullPolicy,
  type PullResult,
} from "./lib/pull/pull.ts";
export { unpack, type UnpackOptions, type UnpackResult } from "./lib/unpack/unpack.ts";
export { copy, type CopyOptions, type CopyResult } from "./lib/copy/copy.ts";
export { save, type SavedImage, type SaveOptions, type SaveResult } from "./lib/archive/save.ts";
export { load, type LoadedImage, type LoadOptions, type LoadResult } from "./lib/archive/load.ts";
export {
  type ArchiveFormat,
  ArchiveImageDestination,
  CONTAINERD_NAME_ANNOTATION,
} from "./lib/archive/archive_image_destination.ts";
export {
  DockerArchiveDestination,
  type DockerArchiveItem,
} from "./lib/archive/docker_archive_destination.ts";
export { OciArchiveDestination } from "./lib/archive/oci_archive_destination.ts";
export {
  type TarAddOptions,
  type TarEntry,
  TarWriter,
  type TarWriterOptions,
  type TarWriterSink,
} from "./lib/tar/tar_writer.ts";
export type { TarEntryType, TarHeader } from "./lib/tar/tar_reader.ts";
export {
  type ConvertWhiteout,
  type LayerDecision,
  type LayerHandler,
  type LayerNode,
  type LayerNodeType,
  LayerTree,
  type LayerTreeOptions,
  overlayWhiteouts,
  type Whiteout,
} from "./lib/layer/layer_tree.ts";
export { applyLayer } from "./lib/layer/apply_layer.ts";
export { push, type PushOptions } from "./lib/copy/push.ts";
export { sync, type SyncedTag, type SyncOptions, type SyncReport } from "./lib/copy/sync.ts";
export {
  type CarriedReferrers,
  carryReferrers,
  type CarryReferrersContext,
  REFERRER_DEPTH,
  type ReferrerTarget,
  type SourceReferrerHints,
} from "./lib/copy/carry_referrers.ts";
export { LayoutImageSource } from "./lib/store/layout_image_source.ts";
export { LayoutImageDestination } from "./lib/store/layout_image_destination.ts";
export { WriteLostError } from "./lib/image/write_lost_error.ts";
export {
  type CopiedManifest,
  copyImage,
  type CopyImageOptions,
  type CopyImageResult,
  type CopyPlan,
} from "./lib/image/copy_image.ts";
export type {
  BlobLocation,
  BlobReadOptions,
  ImageSource,
  OpenedBlob,
  ResolvedRoot,
  SourceRequestOptions,
} from "./lib/image/image_source.ts";
export type {
  BlobIngest,
  DestinationRequestOptions,
  HasBlobOptions,
  ImageDestination,
  WriteBlobOptions,
  WrittenBlob,
} from "./lib/image/image_destination.ts";
export { RegistryImageSource } from "./lib/registry/registry_image_source.ts";
export {
  RegistryImageDestination,
  type RegistryImageDestinationOptions,
} from "./lib/registry/registry_image_destination.ts";
export {
  unpackImage,
  type UnpackImageOptions,
  type UnpackImageResult,
} from "./lib/unpack/unpack_image.ts";
export {
  type ExportedRootfs,
  exportRootfs,
  type ExportRootfsOptions,
} from "./lib/unpack/export_rootfs.ts";
export type {
  ApplyLayerOptions,
  BlobFeed,
  BlobNotice,
  LayerBlob,
  SinkFactory,
  SinkImage,
  UnpackSink,
} from "./lib/unpack/sink.ts";
export { LayerChangedError } from "./lib/unpack/layer_changed_error.ts";
export { DirectorySink, type DirectorySinkOptions } from "./lib/unpack/directory_sink.ts";
export { type TarOutput, TarSink, type TarSinkOptions } from "./lib/unpack/tar_sink.ts";
export { DiskImageSink, type DiskImageSinkOptions } from "./lib/unpack/disk_image_sink.ts";
export type { BlobWritten, BlobWrittenListener } from "./lib/image/blob_written.ts";
export { parseReference, Reference } from "./lib/reference/parse_reference.ts";
export { parseRepository } from "./lib/reference/parse_repository.ts";
export { type Digest, type DigestAlgorithm, parseDigest } from "./lib/reference/parse_digest.ts";
export { DigestMismatchError, SizeMismatchError } from "./lib/reference/digest_mismatch_error.ts";
export {
  type FetchedManifest,
  type ManifestHead,
  RegistryClient,
  type RegistryClientOptions,
  type RequestOptions,
  type TagPagesOptions,
} from "./lib/registry/registry_client.ts";
export {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  ManifestError,
  type ParsedManifest,
  parseManifest,
  type Platform,
} from "./lib/oci/parse_manifest.ts";
export { type ImageConfig, parseImageConfig } from "./lib/oci/parse_image_config.ts";
export type { RemoteOptions } from "./lib/registry/remote_options.ts";
export {
  type ResolvedManifest,
  resolveManifest,
  type ResolveManifestOptions,
} from "./lib/registry/resolve_manifest.ts";
export { type ResolvedDigest, resolveDigest } from "./lib/registry/resolve_digest.ts";
export { type FetchedImageConfig, fetchImageConfig } from "./lib/registry/fetch_image_config.ts";
export { fetchBlob, type FetchBlobOptions, type FetchedBlob } from "./lib/registry/fetch_blob.ts";
export { listTags, type ListTagsOptions } from "./lib/registry/list_tags.ts";
export { streamTags } from "./lib/registry/stream_tags.ts";
export {
  listReferrers,
  type ListReferrersOptions,
  type Referrer,
  type ReferrerSource,
  type ReferrersResult,
} from "./lib/registry/list_referrers.ts";
export {
  choosePlatform,
  formatPlatform,
  hostPlatform,
  parsePlatform,
  parsePlatformList,
  PlatformNotFoundError,
} from "./lib/oci/choose_platform.ts";
export { type LayerCompression, layerCompression, MediaType } from "./lib/oci/media_types.ts";
export {
  type Mirror,
  MirroredRegistry,
  type RegistrySource,
} from "./lib/registry/mirrored_registry.ts";
export {
  loadRegistryConfig,
  type MirrorConfig,
  parseRegistryConfig,
  type RegistryConfig,
  registryConfigPath,
  type RegistryHostConfig,
} from "./lib/registry/registry_config.ts";
export { RegistryError, type RegistryErrorCode } from "./lib/transport/registry_error.ts";
export type { CredentialResolver, Credentials } from "./lib/transport/auth_fetch.ts";
export {
  storedCredentials,
  type StoredCredentialsOptions,
} from "./lib/transport/stored_credentials.ts";
export { login, type LoginOptions, type LoginResult } from "./lib/registry/login.ts";
export { logout, type LogoutOptions, type LogoutResult } from "./lib/transport/logout.ts";
export {
  saveCredentials,
  type SaveCredentialsOptions,
  type SavedCredentials,
} from "./lib/transport/save_credentials.ts";
export { CredentialHelperError } from "./lib/transport/credential_helper.ts";
export type { Fetcher } from "./lib/transport/fetcher.ts";
export type { RetryOptions } from "./lib/transport/retry_fetch.ts";
export {
  type BlobRef,
  INDEX_DIGEST_ANNOTATION,
  type LayoutIndex,
  PULLED_ANNOTATION,
  REF_NAME_ANNOTATION,
  SOURCE_DIGEST_ANNOTATION,
  Store,
  type StoredDocument,
  type StoredImageManifest,
  type StoredIndex,
  type StoreOpenOptions,
} from "./lib/store/store.ts";
export { ScratchFile } from "./lib/store/scratch_file.ts";
export { Ingest } from "./lib/store/ingest.ts";
export { listImages, type ListImagesOptions, type StoredImage } from "./lib/store/list_images.ts";
export {
  findImageId,
  ImageId,
  parseImageId,
  registryDigestOf,
  type ResolvedStoredImage,
  resolveImageId,
  resolveStoredImage,
  type ResolveStoredImageOptions,
  storedImageRef,
} from "./lib/store/resolve_stored_image.ts";
export {
  readStoredManifest,
  type ReadStoredManifestOptions,
  type StoredManifest,
} from "./lib/store/read_stored_manifest.ts";
export {
  type ImageName,
  nameImage,
  type NameImageOptions,
  nameImages,
  type NameImagesOptions,
} from "./lib/store/name_image.ts";
export {
  type RemovedImage,
  removeImages,
  type RemoveImagesOptions,
} from "./lib/store/remove_images.ts";
export {
  type RemovedPlatform,
  removePlatform,
  type RemovePlatformOptions,
} from "./lib/store/remove_platform.ts";
export {
  collectGarbage,
  type CollectGarbageOptions,
  type FreedFile,
  type GarbageReport,
} from "./lib/store/collect_garbage.ts";
export { ImageNotFoundError } from "./lib/store/image_not_found_error.ts";
export {
  type CorruptBlob,
  type EntryProblem,
  type MissingBlob,
  type SizeMismatch,
  type StalePartial,
  type StoreReport,
  verifyStore,
  type VerifyStoreOptions,
} from "./lib/store/verify_store.ts";
export type { IndexEntry } from "./lib/store/index_entry.ts";
export { serve, type ServeOptions, type StoreServer } from "./lib/serve/serve.ts";
export {
  type AccessLogEntry,
  PAGE_LIMIT,
  type RegistryAuthOptions,
  RegistryHandler,
  type RegistryHandlerOptions,
} from "./lib/serve/registry_handler.ts";
export { DigestVerifyStream } from "./lib/stream/digest_verify_stream.ts";
export type { BlobKind, ProgressEvent, ProgressListener } from "./lib/progress/progress_event.ts";
export { VERSION } from "./lib/version.ts";

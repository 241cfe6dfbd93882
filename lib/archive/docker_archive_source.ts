/**
 * A docker-archive as an image source: `manifest.json` lists the images (`Config`, `RepoTags`,
 * `Layers`: paths into the archive). The classic form (`<id>/layer.tar`, `<hex>.json`, written by
 * Docker before 25, skopeo and podman) names nothing by digest, and has no manifest: each layer is
 * checked against the config's `diff_ids`, and an OCI manifest is made for each image, its layer
 * media types from the layers' bytes (gzip, zstd or plain tar), the way `pull` stores images. The
 * form Docker 25 writes points into `blobs/`, and gives back the archive's own manifest.
 *
 * @module
 */

import { computeDigest } from "../reference/compute_digest.ts";
import { parseReference } from "../reference/parse_reference.ts";
import { configPlatform } from "../oci/check_image_platform.ts";
import { MediaType } from "../oci/media_types.ts";
import type { ImageConfig } from "../oci/parse_image_config.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import type { ArchiveContents } from "./_archive_contents.ts";
import { compressionOf } from "./_archive_bytes.ts";
import { ArchiveProblem, show } from "./_archive_problem.ts";
import { type ArchivedImage, ArchiveImageSource } from "./archive_image_source.ts";
import type { DockerArchiveItem } from "./docker_archive_destination.ts";

/** The most images one `manifest.json` or `index.json` may list. */
export const MAX_ARCHIVED_IMAGES = 10_000;

/**
 * The images of a docker-archive, from its `manifest.json`.
 *
 * @example Load a docker archive's images into a store
 * ```ts ignore
 * import { load } from "./load.ts";
 *
 * // load() reads the archive once and copies each image of its source into the store
 * const r = await load("alpine.tar", { store: "./images" });
 * console.log(r.format, r.images);
 * ```
 */
export class DockerArchiveSource extends ArchiveImageSource {
  /** Always `docker`. */
  readonly format = "docker" as const;

  /**
   * Lists the images of an archive read into `contents`, checking each against its config (the
   * layers' diff_ids), and committing its config and layers into the store.
   *
   * @param name The archive, for messages.
   * @param contents The archive, read.
   * @returns The source.
   * @throws {Error} When `manifest.json` is missing or malformed, names a file the archive lacks,
   *   or a layer is not what its config says.
   */
  static async open(name: string, contents: ArchiveContents): Promise<DockerArchiveSource> {
    const items = readManifestJson(contents);
    if (items.length === 0) throw new ArchiveProblem("manifest.json lists no image");
    const images: ArchivedImage[] = [];
    const documents = new Map<string, Uint8Array>();
    for (const [i, item] of items.entries()) {
      const config = contents.need(item.Config, `manifest.json item ${i} Config`);
      let parsed: ImageConfig;
      try {
        parsed = await contents.readConfig(config);
      } catch (e) {
        if (e instanceof ArchiveProblem) throw e;
        throw new ArchiveProblem(
          `the config ${show(item.Config)} is not valid (${(e as Error).message})`,
        );
      }
      const diffIds = parsed.rootfs?.diff_ids ?? [];
      if (diffIds.length !== item.Layers.length) {
        throw new ArchiveProblem(
          `manifest.json item ${i} lists ${item.Layers.length} layers, its config ` +
            `${diffIds.length} diff_ids`,
        );
      }
      const layers: Descriptor[] = [];
      for (const [j, path] of item.Layers.entries()) {
        const layer = contents.need(path, `manifest.json item ${i} layer ${j}`);
        const compression = compressionOf(layer.head);
        const diffId = compression === "none"
          ? layer.digest
          : await contents.diffIdOf(layer, compression);
        if (diffId !== diffIds[j]) {
          throw new ArchiveProblem(
            `layer ${show(path)} does not match the config: its content is ${diffId}, ` +
              `the config's diff_id ${diffIds[j]}`,
          );
        }
        layers.push({
          mediaType: compression === "gzip"
            ? MediaType.OciLayerGzip
            : compression === "zstd"
            ? MediaType.OciLayerZstd
            : MediaType.OciLayer,
          digest: layer.digest,
          size: layer.size,
        });
      }
      // verified: the config and layers get their names in blobs/
      for (const f of [config, ...item.Layers.map((p) => contents.resolve(p)!)]) {
        await contents.commit(f);
      }
      const manifest = new TextEncoder().encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: config.digest, size: config.size },
        layers,
      }));
      const digest = await computeDigest(manifest);
      documents.set(digest, manifest);
      const platform = configPlatform(parsed);
      images.push({
        root: {
          mediaType: MediaType.OciManifest,
          digest,
          size: manifest.byteLength,
          ...(platform ? { platform } : {}),
        },
        names: item.RepoTags.map((t) => archivedName(t)),
      });
    }
    return new DockerArchiveSource(name, contents, images, documents);
  }
}

/**
 * An archive's `manifest.json`, validated; none when it has no such file.
 *
 * @param contents The archive, read.
 * @returns Its items.
 * @throws {Error} When it is not a list of `Config`, `RepoTags`, `Layers` items.
 */
export function readManifestJson(contents: ArchiveContents): DockerArchiveItem[] {
  const bytes = contents.metadata("manifest.json");
  if (!bytes) return [];
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new ArchiveProblem("manifest.json is not valid JSON");
  }
  if (!Array.isArray(doc)) throw new ArchiveProblem("manifest.json is not a list of images");
  if (doc.length > MAX_ARCHIVED_IMAGES) {
    throw new ArchiveProblem(`manifest.json lists more than ${MAX_ARCHIVED_IMAGES} images`);
  }
  return doc.map((item, i) => {
    const where = `manifest.json item ${i}`;
    if (typeof item !== "object" || item === null) {
      throw new ArchiveProblem(`${where} is not an object`);
    }
    const { Config, RepoTags, Layers } = item as Record<string, unknown>;
    if (typeof Config !== "string") throw new ArchiveProblem(`${where} has no Config path`);
    if (!Array.isArray(Layers) || !Layers.every((l) => typeof l === "string")) {
      throw new ArchiveProblem(`${where} has no Layers list`);
    }
    if (
      RepoTags !== undefined && RepoTags !== null &&
      (!Array.isArray(RepoTags) || !RepoTags.every((t) => typeof t === "string"))
    ) {
      throw new ArchiveProblem(`${where} has a RepoTags that is not a list of names`);
    }
    return { Config, RepoTags: (RepoTags ?? []) as string[], Layers: Layers as string[] };
  });
}

/**
 * A name an archive gives an image, canonical (`alpine:3.20` -> `docker.io/library/alpine:3.20`).
 *
 * @param name The name as the archive has it.
 * @returns Its canonical form.
 * @throws {Error} When it is not a reference.
 */
export function archivedName(name: string): string {
  try {
    return parseReference(name).toString();
  } catch {
    throw new ArchiveProblem(`the archive names an image ${show(name)}, not a valid reference`);
  }
}

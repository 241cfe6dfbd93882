/**
 * An oci-archive (an OCI image layout in a tar) as an image source: `index.json` lists the images,
 * named by their `io.containerd.image.name` or `org.opencontainers.image.ref.name` annotation
 * (Docker 25 and later leave the names to `manifest.json`). Every manifest and blob is named by
 * its digest, so the digests are kept: an index stays the index it was.
 *
 * @module
 */

import { configPlatform } from "../oci/check_image_platform.ts";
import { INDEX_MEDIA_TYPES, MediaType } from "../oci/media_types.ts";
import { type Descriptor, type ImageManifest, parseManifest } from "../oci/parse_manifest.ts";
import { REF_NAME_ANNOTATION } from "../store/store.ts";
import type { ArchiveContents } from "./_archive_contents.ts";
import { ArchiveProblem, show } from "./_archive_problem.ts";
import { type ArchivedImage, ArchiveImageSource } from "./archive_image_source.ts";
import { CONTAINERD_NAME_ANNOTATION } from "./archive_image_destination.ts";
import { archivedName, MAX_ARCHIVED_IMAGES, readManifestJson } from "./docker_archive_source.ts";

/**
 * The images of an oci-archive, from its `index.json`.
 *
 * @example Load an oci-archive's images into a store
 * ```ts ignore
 * import { load } from "./load.ts";
 *
 * // load() reads the archive once and copies each image of its source into the store
 * const r = await load("app.oci.tar", { store: "./images" });
 * console.log(r.format, r.images);
 * ```
 */
export class OciArchiveSource extends ArchiveImageSource {
  /** Always `oci`. */
  readonly format = "oci" as const;

  /**
   * Lists the images of an archive read into `contents`, checking that everything each one names
   * is in the archive with its size (a foreign layer, fetched from its URLs, need not be), and
   * committing what they name into the store.
   *
   * @param name The archive, for messages.
   * @param contents The archive, read.
   * @returns The source.
   * @throws {Error} When `index.json` is missing or malformed, or names what the archive lacks.
   */
  static async open(name: string, contents: ArchiveContents): Promise<OciArchiveSource> {
    const bytes = contents.metadata("index.json");
    if (!bytes) throw new ArchiveProblem("it has no index.json");
    let index;
    try {
      const parsed = parseManifest(bytes, MediaType.OciIndex);
      if (parsed.kind !== "index") throw new Error("not an index");
      index = parsed.index;
    } catch (e) {
      throw new ArchiveProblem(`index.json is not a valid OCI index (${(e as Error).message})`);
    }
    if (index.manifests.length > MAX_ARCHIVED_IMAGES) {
      throw new ArchiveProblem(`index.json lists more than ${MAX_ARCHIVED_IMAGES} images`);
    }
    if (index.manifests.length === 0) throw new ArchiveProblem("index.json lists no image");
    const dockerItems = readManifestJson(contents);
    const images: ArchivedImage[] = [];
    const checked = new Set<string>();
    for (const d of index.manifests) {
      const { root, config } = await checkTree(contents, d, checked);
      let names = namesOf(d);
      if (names.length === 0 && config !== undefined) {
        // Docker's index.json may leave names to manifest.json
        names = dockerItems.filter((i) => contents.resolve(i.Config)?.digest === config)
          .flatMap((i) => i.RepoTags.map((t) => archivedName(t)));
      }
      images.push({ root, names });
    }
    return new OciArchiveSource(name, contents, images);
  }
}

/**
 * Checks a root and everything under it, committing it into the store; returns the root (with
 * the platform its config tells, when the index entry has none) and its config's digest.
 */
async function checkTree(
  contents: ArchiveContents,
  d: Descriptor,
  checked: Set<string>,
): Promise<{ root: Descriptor; config: string | undefined }> {
  const walk = async (desc: Descriptor, depth: number): Promise<ImageManifest | undefined> => {
    if (depth > 8) throw new ArchiveProblem("indexes nest more than 8 deep");
    const { parsed } = await manifestOf(contents, desc);
    if (checked.has(desc.digest)) return parsed.kind === "manifest" ? parsed.manifest : undefined;
    if (parsed.kind === "index") {
      for (const child of parsed.index.manifests) await walk(child, depth + 1);
      checked.add(desc.digest);
      return undefined;
    }
    for (const blob of [parsed.manifest.config, ...parsed.manifest.layers]) {
      if (await contents.provide(blob.digest, blob.size)) continue;
      if (blob.urls?.length) continue; // a foreign layer: fetched from its URLs, never archived
      throw new ArchiveProblem(
        `the manifest ${desc.digest} names the blob ${blob.digest} (${blob.size} bytes), ` +
          `which the archive lacks`,
      );
    }
    checked.add(desc.digest);
    return parsed.manifest;
  };
  const manifest = await walk(d, 0);
  const root: Descriptor = {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.platform ? { platform: d.platform } : {}),
  };
  if (manifest === undefined) return { root, config: undefined };
  if (!root.platform) {
    const config = await contents.store.readConfig(manifest.config).catch(() => undefined);
    const platform = config && configPlatform(config); // an artifact's config: none
    if (platform) root.platform = platform;
  }
  return { root, config: manifest.config.digest };
}

/** A manifest the archive has (into the store, then read through its typed read). */
async function manifestOf(contents: ArchiveContents, d: Descriptor) {
  if (!INDEX_MEDIA_TYPES.has(d.mediaType) && !isManifestType(d.mediaType)) {
    throw new ArchiveProblem(`${d.digest} has media type ${show(d.mediaType)}, not a manifest`);
  }
  if (d.size > contents.maxMetadataSize) {
    throw new ArchiveProblem(
      `the manifest ${d.digest} is larger than ${contents.maxMetadataSize} bytes`,
    );
  }
  if (!(await contents.provide(d.digest, d.size))) {
    throw new ArchiveProblem(`the manifest ${d.digest} (${d.size} bytes) is not in the archive`);
  }
  return await contents.store.readManifestOrIndex(d);
}

/** The names an `index.json` entry gives (a bare tag names nothing: it has no repository). */
function namesOf(d: Descriptor): string[] {
  const value = d.annotations?.[CONTAINERD_NAME_ANNOTATION] ?? d.annotations?.[REF_NAME_ANNOTATION];
  if (value === undefined || value === "") return [];
  if (!/[/:@]/.test(value)) return [];
  return [archivedName(value)];
}

function isManifestType(mediaType: string): boolean {
  return mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest;
}

/**
 * An archive as an image source for the copy engine, as go-containerregistry's `tarball.Image`
 * is one: what `load` copies into the store. The archive is read once, before the copy, its
 * entries staged in the store the copy goes to (`DockerArchiveSource` and `OciArchiveSource`,
 * one per format): so every blob the engine asks the destination
 * about is there already, verified, and nothing is read twice.
 *
 * @module
 */

import type {
  BlobReadOptions,
  ImageSource,
  ResolvedRoot,
  SourceRequestOptions,
} from "../image/image_source.ts";
import { isDigest } from "../reference/parse_digest.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import type { ArchiveContents } from "./_archive_contents.ts";
import { ArchiveProblem } from "./_archive_problem.ts";

/** One image of an archive, as its source lists it. */
export interface ArchivedImage {
  /** Its root (an image manifest, or an index), with its platform when the archive tells it. */
  root: Descriptor;
  /** The names the archive gives it (canonical references); none for an unnamed image. */
  names: string[];
}

/**
 * What both archive sources share: the images the archive lists, and their manifests and blobs
 * served to the engine from where the read staged them (the store, or its `ingest/`).
 */
export abstract class ArchiveImageSource implements ImageSource {
  /** The archive, for messages. */
  readonly name: string;
  /** The images, in the archive's order. */
  readonly images: readonly ArchivedImage[];
  #contents: ArchiveContents;
  #documents: ReadonlyMap<string, Uint8Array>;

  /**
   * @param name The archive, for messages.
   * @param contents The archive, read.
   * @param images Its images.
   * @param documents Manifests the source made (a classic docker archive has none), by digest.
   */
  protected constructor(
    name: string,
    contents: ArchiveContents,
    images: readonly ArchivedImage[],
    documents: ReadonlyMap<string, Uint8Array> = new Map(),
  ) {
    this.name = name;
    this.#contents = contents;
    this.images = images;
    this.#documents = documents;
  }

  /** The format read: `docker` (manifest.json) or `oci` (index.json). */
  abstract readonly format: "docker" | "oci";

  /**
   * Finds an image of the archive: by its root's digest, or by a name the archive gives it.
   *
   * @param ref A digest or a name.
   * @param _options Unused (the archive is read).
   * @returns The root's descriptor (with the platform the archive tells) and bytes.
   * @throws {Error} When the archive has no such image.
   */
  async resolve(ref: string, _options: SourceRequestOptions = {}): Promise<ResolvedRoot> {
    const image = this.images.find((i) =>
      isDigest(ref) ? i.root.digest === ref : i.names.includes(ref)
    );
    if (!image) throw new ArchiveProblem(`it has no image ${JSON.stringify(ref)}`);
    return { descriptor: image.root, bytes: await this.manifest(image.root) };
  }

  /**
   * Reads a manifest or index of the archive (verified against its digest).
   *
   * @param descriptor The manifest.
   * @param _options Unused.
   * @returns Its bytes.
   */
  async manifest(descriptor: Descriptor, _options: SourceRequestOptions = {}): Promise<Uint8Array> {
    const made = this.#documents.get(descriptor.digest);
    if (made) return made;
    await this.#contents.provide(descriptor.digest, descriptor.size);
    return (await this.#contents.store.readManifestOrIndex(descriptor)).bytes;
  }

  /**
   * Opens a blob of the archive from an offset (the engine verifies it).
   *
   * @param descriptor The blob.
   * @param options The offset.
   * @returns Its bytes from the offset.
   */
  blob(descriptor: Descriptor, options: BlobReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    return this.#contents.openBlob(descriptor, options.offset ?? 0);
  }
}

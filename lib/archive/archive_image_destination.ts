/**
 * An archive as an image destination for the copy engine: every blob becomes a tar entry as it
 * streams (`blobs/<alg>/<hex>`), and the archive's table of contents (`index.json`, and what its
 * format adds: `manifest.json` for the docker format) is written at the end. What both formats
 * share is here; each format is a subclass (`OciArchiveDestination`, `DockerArchiveDestination`).
 *
 * @module
 */

import type {
  DestinationRequestOptions,
  ImageDestination,
  WriteBlobOptions,
  WrittenBlob,
} from "../image/image_destination.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import { MediaType } from "../oci/media_types.ts";
import { type Descriptor, type ImageManifest, parseManifest } from "../oci/parse_manifest.ts";
import { REF_NAME_ANNOTATION } from "../store/store.ts";
import type { TarWriter } from "../tar/tar_writer.ts";

/** Which archive: `docker` (`docker save`'s, with `manifest.json`) or `oci` (an OCI layout). */
export type ArchiveFormat = "docker" | "oci";

/** The annotation containerd and `docker save` (25 and later) name images with in `index.json`. */
export const CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name";

const OCI_LAYOUT = new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}');

/**
 * Writes images into a tar archive, in the layout both formats share: `oci-layout`, blobs under
 * `blobs/<alg>/<hex>` (layers as stored: compressed ones stay compressed), `index.json`. A format
 * adds to it: {@linkcode ArchiveImageDestination.describe} is told each image, and
 * {@linkcode ArchiveImageDestination.tableOfContents} gives the files written after `index.json`.
 *
 * Blobs are written one at a time, each as the engine streams it; a blob two images share is
 * written once. Call {@linkcode ArchiveImageDestination.begin} first, then copy images, name each
 * with {@linkcode ArchiveImageDestination.addImage}, and end with
 * {@linkcode ArchiveImageDestination.finish}.
 *
 * @example Write a docker archive of one stored image
 * ```ts ignore
 * import { DockerArchiveDestination } from "./docker_archive_destination.ts";
 * import { TarWriter } from "../tar/tar_writer.ts";
 * import { copyImage } from "../image/copy_image.ts";
 * import { LayoutImageSource } from "../store/layout_image_source.ts";
 * import { Store } from "../store/store.ts";
 *
 * using file = await Deno.open("app.tar", { write: true, create: true, truncate: true });
 * const writer = file.writable.getWriter();
 * const dest = new DockerArchiveDestination(new TarWriter(writer), "app.tar");
 * await dest.begin();
 * const name = "docker.io/library/alpine:3.20";
 * const source = new LayoutImageSource(await Store.open("./images"));
 * const r = await copyImage(source, name, dest, { jobs: 1 });
 * await dest.addImage(r.manifests[r.manifests.length - 1]!, [name]);
 * await dest.finish();
 * await writer.close();
 * ```
 */
export abstract class ArchiveImageDestination implements ImageDestination {
  /** The archive, for messages. */
  readonly name: string;
  /** Which format is written. */
  abstract readonly format: ArchiveFormat;
  #tar: TarWriter;
  #written = new Set<string>();
  #manifests = new Map<string, ImageManifest>();
  #entries: Descriptor[] = [];
  #queue: Promise<void> = Promise.resolve();

  /**
   * Makes a destination over a tar writer.
   *
   * @param tar Where the archive goes.
   * @param name The archive's name, for messages.
   */
  protected constructor(tar: TarWriter, name: string) {
    this.#tar = tar;
    this.name = name;
  }

  /** How many blobs (configs, layers, manifests) the archive holds so far. */
  get blobs(): number {
    return this.#written.size;
  }

  /** Writes `oci-layout`, the archive's first entry. */
  async begin(): Promise<void> {
    await this.#serial(() => this.#tar.add("oci-layout", OCI_LAYOUT));
  }

  /**
   * Tells whether the archive has the blob already (written for an earlier image).
   *
   * @param descriptor The blob.
   * @param _options Unused.
   * @returns `true` when it is in the archive.
   */
  hasBlob(descriptor: Descriptor, _options?: DestinationRequestOptions): Promise<boolean> {
    return Promise.resolve(this.#written.has(descriptor.digest));
  }

  /**
   * Streams a blob into the archive as the entry `blobs/<alg>/<hex>`. The stream must end with
   * exactly the descriptor's size (the engine's stream errors on a mismatch, which fails the
   * archive: a tar entry cannot be taken back).
   *
   * @param descriptor The blob.
   * @param content Its bytes.
   * @param options Abort signal and progress.
   * @returns The bytes written.
   */
  async writeBlob(
    descriptor: Descriptor,
    content: ReadableStream<Uint8Array>,
    options: WriteBlobOptions = {},
  ): Promise<WrittenBlob> {
    await this.#serial(async () => {
      if (this.#written.has(descriptor.digest)) {
        await content.cancel().catch(() => {});
        return;
      }
      const counted = options.onProgress ? countBytes(content, options.onProgress) : content;
      await this.#tar.add(blobEntry(descriptor.digest), counted, descriptor.size, {
        ...(options.signal ? { signal: options.signal } : {}),
      });
      this.#written.add(descriptor.digest);
    });
    return { sent: descriptor.size, resent: 0 };
  }

  /**
   * Writes a manifest or index as a blob entry (and remembers image manifests, whose layers the
   * docker format lists in `manifest.json`).
   *
   * @param descriptor Its descriptor.
   * @param bytes Its bytes.
   * @param _options Unused (names come from {@linkcode ArchiveImageDestination.addImage}).
   */
  async putManifest(
    descriptor: Descriptor,
    bytes: Uint8Array,
    _options?: DestinationRequestOptions & { tag?: string },
  ): Promise<void> {
    const parsed = parseManifest(bytes, descriptor.mediaType);
    if (parsed.kind === "manifest") this.#manifests.set(descriptor.digest, parsed.manifest);
    await this.#serial(async () => {
      if (this.#written.has(descriptor.digest)) return;
      await this.#tar.add(blobEntry(descriptor.digest), bytes);
      this.#written.add(descriptor.digest);
    });
  }

  /**
   * Lists an image copied into the archive, under its names: an `index.json` entry per name (one
   * unnamed entry when there is none), and whatever the format adds
   * ({@linkcode ArchiveImageDestination.describe}).
   *
   * @param root The descriptor of the image's root as copied (the last manifest the copy wrote);
   * a `platform` on it is kept.
   * @param names Full names (`registry/repository:tag`); none for an image saved by digest.
   * @throws {Error} When the format cannot hold the image.
   */
  addImage(root: Descriptor, names: readonly string[]): Promise<void> {
    const entry = (name?: string): Descriptor => ({
      mediaType: root.mediaType,
      digest: root.digest,
      size: root.size,
      ...(root.platform ? { platform: root.platform } : {}),
      ...(name !== undefined
        ? { annotations: { [CONTAINERD_NAME_ANNOTATION]: name, [REF_NAME_ANNOTATION]: name } }
        : {}),
    });
    if (names.length === 0) {
      if (!this.#entries.some((e) => e.digest === root.digest && !e.annotations)) {
        this.#entries.push(entry());
      }
    }
    for (const name of names) {
      this.#entries = this.#entries.filter((e) => e.annotations?.[REF_NAME_ANNOTATION] !== name);
      this.#entries.push(entry(name));
    }
    this.describe(root, names);
    return Promise.resolve();
  }

  /** Writes `index.json` (and the format's table of contents) and the end of the archive. */
  async finish(): Promise<void> {
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: this.#entries,
    };
    await this.#serial(async () => {
      await this.#tar.add("index.json", jsonBytes(index));
      for (const [path, bytes] of this.tableOfContents()) await this.#tar.add(path, bytes);
      await this.#tar.end();
    });
  }

  /**
   * Told each image {@linkcode ArchiveImageDestination.addImage} lists, for the format's own
   * table of contents (nothing, for an OCI archive).
   *
   * @param _root The image's root as copied.
   * @param _names Its names.
   * @throws {Error} When the format cannot hold the image.
   */
  protected describe(_root: Descriptor, _names: readonly string[]): void {}

  /**
   * The files the format writes after `index.json` (none, for an OCI archive).
   *
   * @returns Their paths and bytes.
   */
  protected tableOfContents(): [string, Uint8Array][] {
    return [];
  }

  /**
   * An image manifest copied into the archive.
   *
   * @param digest Its digest.
   * @returns The manifest, or `undefined` when none of that digest was copied (or it is an index).
   */
  protected manifestOf(digest: string): ImageManifest | undefined {
    return this.#manifests.get(digest);
  }

  /**
   * Whether a blob is in the archive.
   *
   * @param digest Its digest.
   * @returns `true` when written.
   */
  protected holds(digest: string): boolean {
    return this.#written.has(digest);
  }

  /** Runs tar writes one after another, in call order. */
  #serial(step: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(step);
    this.#queue = run.catch(() => {});
    return run;
  }
}

/**
 * The entry a blob is in an archive: `blobs/<alg>/<hex>`.
 *
 * @param digest The blob's digest (validated).
 * @returns Its path in the archive.
 */
export function blobEntry(digest: string): string {
  const d = parseDigest(digest);
  return `blobs/${d.algorithm}/${d.hex}`;
}

/** A document as a file of an archive: its JSON and a newline. */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value) + "\n");
}

/** The stream, reporting the running count of bytes through it. */
function countBytes(
  content: ReadableStream<Uint8Array>,
  onProgress: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  let count = 0;
  return content.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        count += chunk.byteLength;
        onProgress(count);
        controller.enqueue(chunk);
      },
    }),
  );
}

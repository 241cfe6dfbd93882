/**
 * An archive as an image destination for the copy engine: every blob becomes a tar entry as it
 * streams (`blobs/<alg>/<hex>`), and the archive's table of contents (`index.json`, and for the
 * docker format `manifest.json`) is written at the end.
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

/** One `manifest.json` item of a docker archive. */
export interface DockerArchiveItem {
  /** The config's path in the archive. */
  Config: string;
  /** The image's names (`registry/repository:tag`). */
  RepoTags: string[];
  /** The layers' paths in the archive, base first. */
  Layers: string[];
}

const OCI_LAYOUT = new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}');

/**
 * Writes images into a tar archive, in the layout both formats share: `oci-layout`, blobs under
 * `blobs/<alg>/<hex>` (layers as stored: compressed ones stay compressed), `index.json`; the
 * docker format adds `manifest.json` (`Config`, `RepoTags`, `Layers`), which is what
 * `docker load`, `podman load` and skopeo's `docker-archive:` read (the same form `docker save`
 * writes since Docker 25).
 *
 * Blobs are written one at a time, each as the engine streams it; a blob two images share is
 * written once. Call {@linkcode ArchiveImageDestination.begin} first, then copy images, name each
 * with {@linkcode ArchiveImageDestination.addImage}, and end with
 * {@linkcode ArchiveImageDestination.finish}.
 *
 * @example Write an archive of one stored image
 * ```ts ignore
 * import { ArchiveImageDestination } from "./archive_image_destination.ts";
 * import { TarWriter } from "../tar/tar_writer.ts";
 * import { copyImage } from "../image/copy_image.ts";
 * import { LayoutImageSource } from "../store/layout_image_source.ts";
 * import { Store } from "../store/store.ts";
 *
 * using file = await Deno.open("app.tar", { write: true, create: true, truncate: true });
 * const writer = file.writable.getWriter();
 * const dest = new ArchiveImageDestination(new TarWriter(writer), "docker", "app.tar");
 * await dest.begin();
 * const name = "docker.io/library/alpine:3.20";
 * const source = new LayoutImageSource(await Store.open("./images"));
 * const r = await copyImage(source, name, dest, { jobs: 1 });
 * await dest.addImage(r.manifests[r.manifests.length - 1]!, [name]);
 * await dest.finish();
 * await writer.close();
 * ```
 */
export class ArchiveImageDestination implements ImageDestination {
  /** The archive, for messages. */
  readonly name: string;
  /** Which format is written. */
  readonly format: ArchiveFormat;
  #tar: TarWriter;
  #written = new Set<string>();
  #manifests = new Map<string, ImageManifest>();
  #entries: Descriptor[] = [];
  #items: DockerArchiveItem[] = [];
  #queue: Promise<void> = Promise.resolve();

  /**
   * Makes a destination over a tar writer.
   *
   * @param tar Where the archive goes.
   * @param format `docker` or `oci`.
   * @param name The archive's name, for messages.
   */
  constructor(tar: TarWriter, format: ArchiveFormat, name: string) {
    this.#tar = tar;
    this.format = format;
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
      await this.#tar.add(blobPath(descriptor.digest), counted, descriptor.size, {
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
      await this.#tar.add(blobPath(descriptor.digest), bytes);
      this.#written.add(descriptor.digest);
    });
  }

  /**
   * Lists an image copied into the archive, under its names: an `index.json` entry per name (one
   * unnamed entry when there is none) and, for the docker format, a `manifest.json` item.
   *
   * @param root The descriptor of the image's root as copied (the last manifest the copy wrote);
   * a `platform` on it is kept.
   * @param names Full names (`registry/repository:tag`); none for an image saved by digest.
   * @throws {Error} With the docker format, when the root is not an image manifest (an index or
   * an artifact).
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
    if (this.format === "docker") {
      const manifest = this.#manifests.get(root.digest);
      if (!manifest) {
        throw new Error(
          `Cannot save ${names[0] ?? root.digest} as a docker archive: it is not one image ` +
            `(${root.mediaType}); choose a platform or use --format oci`,
        );
      }
      const config = manifest.config.mediaType;
      if (config !== MediaType.OciConfig && config !== MediaType.DockerConfig) {
        throw new Error(
          `Cannot save ${names[0] ?? root.digest} as a docker archive: its config is ` +
            `${JSON.stringify(config)}, not an image config`,
        );
      }
      for (const layer of manifest.layers) {
        if (!this.#written.has(layer.digest)) {
          throw new Error(
            `Cannot save ${names[0] ?? root.digest} as a docker archive: layer ${layer.digest} ` +
              `is not in it (a non-distributable layer)`,
          );
        }
      }
      const Config = blobPath(manifest.config.digest);
      const Layers = manifest.layers.map((l) => blobPath(l.digest));
      const same = this.#items.find((i) =>
        i.Config === Config && i.Layers.join("\n") === Layers.join("\n")
      );
      for (const item of this.#items) {
        item.RepoTags = item.RepoTags.filter((t) => !names.includes(t));
      }
      if (same) {
        same.RepoTags.push(...names);
      } else {
        this.#items.push({ Config, RepoTags: [...names], Layers });
      }
    }
    return Promise.resolve();
  }

  /** Writes `index.json` (and `manifest.json`) and the end of the archive. */
  async finish(): Promise<void> {
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: this.#entries,
    };
    const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value) + "\n");
    await this.#serial(async () => {
      await this.#tar.add("index.json", json(index));
      if (this.format === "docker") await this.#tar.add("manifest.json", json(this.#items));
      await this.#tar.end();
    });
  }

  /** Runs tar writes one after another, in call order. */
  #serial(step: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(step);
    this.#queue = run.catch(() => {});
    return run;
  }
}

/** `blobs/<alg>/<hex>` for a (validated) digest. */
function blobPath(digest: string): string {
  const d = parseDigest(digest);
  return `blobs/${d.algorithm}/${d.hex}`;
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

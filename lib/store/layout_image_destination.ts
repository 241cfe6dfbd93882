/**
 * The store (an OCI image layout) as an image destination for the copy engine: blobs through the
 * ingest (committed only on a verified end), manifests as blobs, the name in `index.json` last.
 *
 * @module
 */

import type {
  BlobIngest,
  DestinationRequestOptions,
  HasBlobOptions,
  ImageDestination,
  WriteBlobOptions,
  WrittenBlob,
} from "../image/image_destination.ts";
import { CONFIG_SIZE_LIMIT, type Descriptor } from "../oci/parse_manifest.ts";
import { holdPullLock } from "./_locks.ts";
import { REF_NAME_ANNOTATION, type Store } from "./store.ts";

/**
 * Writes images into a store. Holds the shared side of the store's gc lock from `open` until
 * disposed, as a pull does, so a garbage collection never removes blobs written for an image that
 * is not named yet.
 *
 * A name (`putManifest` with a tag) is a full reference, e.g. `docker.io/library/alpine:3.20`; the
 * entry it gets replaces an older entry with that name. With every platform copied, the entry is
 * the index, its exact bytes, and every manifest and blob it lists is in the store.
 *
 * @example Copy an image from a registry into a store
 * ```ts ignore
 * import { LayoutImageDestination } from "./layout_image_destination.ts";
 * import { Store } from "./store.ts";
 * import { copyImage } from "../image/copy_image.ts";
 * import { RegistryImageSource } from "../registry/registry_image_source.ts";
 * import { parseReference } from "../reference/parse_reference.ts";
 *
 * const ref = parseReference("alpine:3.20");
 * using dest = await LayoutImageDestination.open(await Store.open("./images"));
 * await copyImage(await RegistryImageSource.open(ref), "3.20", dest, { tag: ref.toString() });
 * ```
 */
export class LayoutImageDestination implements ImageDestination, Disposable {
  /** The store written to. */
  readonly store: Store;
  #lock: Disposable;
  #damaged = new Set<string>();

  private constructor(store: Store, lock: Disposable) {
    this.store = store;
    this.#lock = lock;
  }

  /**
   * Opens a destination on a store (waits while a garbage collection runs).
   *
   * @param store The store.
   * @param signal Aborts the wait for the lock.
   * @returns The destination; dispose of it (`using`) when the copy is done.
   */
  static async open(store: Store, signal?: AbortSignal): Promise<LayoutImageDestination> {
    return new LayoutImageDestination(store, await holdPullLock(store, signal));
  }

  /** The store's path. */
  get name(): string {
    return this.store.path;
  }

  /**
   * Tells whether the store has the blob with its size. A config (small, read whole) is
   * re-verified: a damaged copy is fetched again.
   *
   * @param descriptor The blob.
   * @param options What the blob is.
   * @returns `true` when present (and, for a config, intact).
   */
  async hasBlob(descriptor: Descriptor, options: HasBlobOptions = {}): Promise<boolean> {
    if (options.kind === "config" && descriptor.size <= CONFIG_SIZE_LIMIT) {
      const state = await this.store.blobState(
        descriptor.digest,
        descriptor.size,
        CONFIG_SIZE_LIMIT,
      );
      if (state === "damaged") this.#damaged.add(descriptor.digest);
      return state === "intact";
    }
    return await this.store.hasBlob(descriptor.digest, descriptor.size);
  }

  /**
   * Opens (and locks) the blob's ingest file, for the engine to resume into and commit: the
   * partial data of an interrupted copy, by this process or another, is kept and continued.
   *
   * @param descriptor The blob.
   * @returns The ingest; `complete` when another copy committed the blob meanwhile.
   */
  openIngest(descriptor: Descriptor): Promise<BlobIngest> {
    if (this.#damaged.has(descriptor.digest)) {
      // its file is there but wrong: fetched whole and put in its place (written beside it and
      // renamed over it: there is never a moment without a file)
      return Promise.resolve(new ReplacingIngest(this.store, descriptor));
    }
    return this.store.openIngest(descriptor.digest, descriptor.size);
  }

  /**
   * The path of a blob in the store.
   *
   * @param digest The blob.
   * @returns Its path under `blobs/`.
   */
  blobPath(digest: string): string {
    return this.store.blobPath(digest);
  }

  /**
   * Writes a blob through an ingest file, renamed into `blobs/` only when the stream ended
   * normally (verified); a failed stream leaves nothing.
   *
   * @param descriptor The blob.
   * @param content Its bytes.
   * @param options Progress and abort signal.
   * @returns The bytes written.
   */
  async writeBlob(
    descriptor: Descriptor,
    content: ReadableStream<Uint8Array>,
    options: WriteBlobOptions = {},
  ): Promise<WrittenBlob> {
    const ingest = await this.store.openIngest(descriptor.digest, descriptor.size);
    let committed = false;
    try {
      if (ingest.complete) {
        await content.cancel();
        return { sent: 0, resent: 0 };
      }
      await ingest.truncate();
      let written = 0;
      for await (const chunk of content) {
        options.signal?.throwIfAborted();
        await ingest.write(chunk);
        written += chunk.byteLength;
        options.onProgress?.(written);
      }
      await ingest.commit();
      committed = true;
      return { sent: written, resent: 0 };
    } finally {
      if (!committed) await ingest.remove().catch(() => {});
      ingest.close();
    }
  }

  /**
   * Stores a manifest (digest checked), and names it in `index.json` when a tag is given.
   *
   * @param descriptor The manifest.
   * @param bytes Its bytes.
   * @param options The name (a full reference).
   */
  async putManifest(
    descriptor: Descriptor,
    bytes: Uint8Array,
    options: DestinationRequestOptions & { tag?: string } = {},
  ): Promise<void> {
    await this.store.putBlob(descriptor.digest, bytes);
    const name = options.tag;
    if (name === undefined) return;
    await this.store.updateIndex((entries) => [
      ...entries.filter((e) => e.annotations?.[REF_NAME_ANNOTATION] !== name),
      {
        mediaType: descriptor.mediaType,
        digest: descriptor.digest,
        size: descriptor.size,
        annotations: { [REF_NAME_ANNOTATION]: name },
      },
    ]);
  }

  /** Releases the gc lock. */
  [Symbol.dispose](): void {
    this.#lock[Symbol.dispose]();
  }
}

/** The ingest of a small blob whose stored copy is damaged: in memory, put over the copy. */
class ReplacingIngest implements BlobIngest {
  readonly path: string;
  readonly complete = false;
  #store: Store;
  #digest: string;
  #chunks: Uint8Array[] = [];

  constructor(store: Store, descriptor: Descriptor) {
    this.#store = store;
    this.#digest = descriptor.digest;
    this.path = store.blobPath(descriptor.digest);
  }

  length(): Promise<number> {
    return Promise.resolve(0);
  }

  rehash(): Promise<number> {
    return Promise.resolve(0);
  }

  write(chunk: Uint8Array): Promise<void> {
    this.#chunks.push(chunk.slice()); // the ring reuses its buffers
    return Promise.resolve();
  }

  truncate(): Promise<void> {
    this.#chunks = [];
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return Promise.resolve(); // in memory: nothing runs behind the writes
  }

  async commit(): Promise<void> {
    const bytes = new Uint8Array(this.#chunks.reduce((n, c) => n + c.byteLength, 0));
    let at = 0;
    for (const c of this.#chunks) {
      bytes.set(c, at);
      at += c.byteLength;
    }
    await this.#store.putBlob(this.#digest, bytes); // checks the digest, replaces the copy
  }

  remove(): Promise<void> {
    this.#chunks = [];
    return Promise.resolve();
  }

  close(): void {}
}

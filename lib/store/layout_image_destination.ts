/**
 * The store (an OCI image layout) as an image destination for the copy engine: blobs through the
 * ingest (committed only on a verified end), manifests as blobs, the name in `index.json` last.
 *
 * @module
 */

import type {
  DestinationRequestOptions,
  ImageDestination,
  WriteBlobOptions,
  WrittenBlob,
} from "../image/image_destination.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
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
   * Tells whether the store has the blob with its size.
   *
   * @param descriptor The blob.
   * @returns `true` when present.
   */
  hasBlob(descriptor: Descriptor): Promise<boolean> {
    return this.store.hasBlob(descriptor.digest, descriptor.size);
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

/**
 * The store (an OCI image layout) as an image source for the copy engine: what `push` reads.
 *
 * @module
 */

import type {
  BlobReadOptions,
  ImageSource,
  ResolvedRoot,
  SourceRequestOptions,
} from "../image/image_source.ts";
import { SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { isDigest } from "../reference/parse_digest.ts";
import { type Descriptor, MANIFEST_SIZE_LIMIT, ManifestError } from "../oci/parse_manifest.ts";
import { ImageNotFoundError } from "./image_not_found_error.ts";
import { SOURCE_DIGEST_ANNOTATION, type Store } from "./store.ts";

/**
 * Reads images from a store: names from `index.json`, manifests verified whole (a damaged store is
 * an error, never pushed), blob files as streams from an offset, which the engine verifies.
 *
 * @example Resolve a stored name
 * ```ts ignore
 * import { LayoutImageSource } from "./layout_image_source.ts";
 * import { Store } from "./store.ts";
 *
 * const source = new LayoutImageSource(await Store.open("./images"));
 * const root = await source.resolve("docker.io/library/alpine:3.20");
 * console.log(root.descriptor.digest);
 * ```
 */
export class LayoutImageSource implements ImageSource {
  /** The store read. */
  readonly store: Store;

  /**
   * Makes a source.
   *
   * @param store The store.
   */
  constructor(store: Store) {
    this.store = store;
  }

  /** The store's path. */
  get name(): string {
    return this.store.path;
  }

  /**
   * Finds a stored image: by its name as stored, or by digest (the registry's it was pulled as,
   * also of one platform's manifest in a stored index, or the stored manifest's). By name or the
   * registry's digest, a Docker schema 2 image (or list) stored as its OCI conversion resolves to
   * the registry's original, kept in `blobs/`, so that what is pushed has the digest the image
   * had where it was pulled from (its config and layers are the same blobs); by the stored
   * digest, to the stored conversion.
   *
   * @param ref A canonical name (`docker.io/library/alpine:3.20`) or a digest.
   * @param _options Unused (the store answers at once).
   * @returns The manifest's descriptor and verified bytes.
   * @throws {ImageNotFoundError} When nothing in the store has that name or digest.
   */
  async resolve(ref: string, _options: SourceRequestOptions = {}): Promise<ResolvedRoot> {
    const index = await this.store.readLayoutIndex();
    const entry = isDigest(ref)
      ? index.manifests.find((m) =>
        m.digest === ref || m.annotations?.[SOURCE_DIGEST_ANNOTATION] === ref
      )
      : index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === ref);
    let digest = entry?.digest;
    const original = entry?.annotations?.[SOURCE_DIGEST_ANNOTATION];
    // the stored digest itself asks for the stored bytes (what an OCI archive of the store holds)
    const asStored = isDigest(ref) && ref === entry?.digest;
    if (
      !asStored && original !== undefined && isDigest(original) &&
      await this.store.hasBlob(original)
    ) {
      digest = original;
    } else if (digest === undefined && isDigest(ref) && await this.store.hasBlob(ref)) {
      digest = ref; // a platform's manifest inside a stored index
    }
    if (digest === undefined) throw new ImageNotFoundError("push", ref, this.store.path);
    if (digest === entry?.digest) {
      const bytes = await this.store.readBlob(digest, MANIFEST_SIZE_LIMIT);
      return { descriptor: { mediaType: entry.mediaType, digest, size: bytes.byteLength }, bytes };
    }
    let read;
    try {
      read = await this.store.readManifestOrIndex({ digest });
    } catch (e) {
      if (!(e instanceof ManifestError)) throw e;
      throw new ImageNotFoundError(
        "push",
        ref,
        this.store.path,
        `${digest} in the store is not a manifest (${e.message})`,
      );
    }
    return { descriptor: read.descriptor, bytes: read.bytes };
  }

  /**
   * Reads a manifest, verified against its digest and size.
   *
   * @param descriptor The manifest.
   * @param _options Unused.
   * @returns Its bytes.
   * @throws {SizeMismatchError} When the stored file has another size.
   */
  async manifest(descriptor: Descriptor, _options: SourceRequestOptions = {}): Promise<Uint8Array> {
    const { bytes } = await this.store.readManifestOrIndex(descriptor);
    if (bytes.byteLength !== descriptor.size) {
      throw new SizeMismatchError(
        `stored manifest ${descriptor.digest}`,
        descriptor.size,
        bytes.byteLength,
      );
    }
    return bytes;
  }

  /**
   * Opens a blob file from an offset.
   *
   * @param descriptor The blob.
   * @param options The offset.
   * @returns Its bytes from the offset.
   * @throws {Error} When the blob is not in the store.
   */
  async blob(
    descriptor: Descriptor,
    options: BlobReadOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.store.blobPath(descriptor.digest), { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(
          `Cannot read blob ${descriptor.digest}: not in the store ${this.store.path} (pull the image again)`,
        );
      }
      throw e;
    }
    if (options.offset) await file.seek(options.offset, Deno.SeekMode.Start);
    return file.readable;
  }
}

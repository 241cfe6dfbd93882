// The registry as a pull sees it: manifests the store has already (verified) are read from the
// store, and a name pulled before costs one HEAD to learn whether its tag still points at what the
// store has. Blobs always come from the registry (the destination says which it needs).

import type {
  BlobReadOptions,
  ImageSource,
  OpenedBlob,
  ResolvedRoot,
  SourceRequestOptions,
} from "../image/image_source.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import type { RegistryImageSource } from "../registry/registry_image_source.ts";
import type { Store } from "../store/store.ts";
import { ResponseTimeoutError } from "../transport/with_deadline.ts";

/** A registry source in front of which the store answers for the manifests it has. */
export class StoreCachedSource implements ImageSource {
  readonly name: string;
  #registry: RegistryImageSource;
  #store: Store;
  #known: boolean;
  /** What `resolve` answered last. */
  resolved: ResolvedRoot | undefined;

  /**
   * @param registry The registry (with its mirrors).
   * @param store The store pulled into.
   * @param name The reference, for messages.
   * @param known Whether the store has an entry for the name (then a tag costs a HEAD first).
   */
  constructor(registry: RegistryImageSource, store: Store, name: string, known: boolean) {
    this.#registry = registry;
    this.#store = store;
    this.name = name;
    this.#known = known;
  }

  async resolve(ref: string, options: SourceRequestOptions = {}): Promise<ResolvedRoot> {
    this.resolved = await this.#resolve(ref, options);
    return this.resolved;
  }

  async #resolve(ref: string, options: SourceRequestOptions): Promise<ResolvedRoot> {
    if (ref.includes(":")) {
      parseDigest(ref);
      return await this.#local(ref) ?? await this.#registry.resolve(ref, options);
    }
    if (this.#known) {
      // a HEAD the registry refuses is no answer (the GET below tells); one it never answers is
      // the answer for the GET too: no second wait
      const head = await this.#registry.client.headManifest(
        this.#registry.repository,
        ref,
        options,
      ).catch((e) => {
        if (e instanceof ResponseTimeoutError || e?.cause instanceof ResponseTimeoutError) throw e;
        return undefined;
      });
      if (head?.digest) {
        const local = await this.#local(head.digest);
        if (local) return local;
      }
    }
    return await this.#registry.resolve(ref, options);
  }

  /** A manifest from the store, or `undefined` when it is not there, damaged or not one. */
  async #local(digest: string): Promise<ResolvedRoot | undefined> {
    if (!(await this.#store.hasBlob(digest))) return undefined;
    try {
      const { descriptor, bytes } = await this.#store.readManifestOrIndex({ digest });
      return { descriptor, bytes, local: true };
    } catch {
      return undefined;
    }
  }

  async manifest(descriptor: Descriptor, options: SourceRequestOptions = {}): Promise<Uint8Array> {
    parseDigest(descriptor.digest);
    if (await this.#store.hasBlob(descriptor.digest, descriptor.size)) {
      try {
        return (await this.#store.readManifestOrIndex(descriptor)).bytes;
      } catch {
        // damaged: the registry's copy replaces it
      }
    }
    return await this.#registry.manifest(descriptor, options);
  }

  blob(descriptor: Descriptor, options?: BlobReadOptions): Promise<ReadableStream<Uint8Array>> {
    return this.#registry.blob(descriptor, options);
  }

  openBlob(descriptor: Descriptor, options?: BlobReadOptions): Promise<OpenedBlob> {
    return this.#registry.openBlob(descriptor, options);
  }

  distrust(digest: string): boolean {
    return this.#registry.distrust(digest);
  }
}

// The registry as a pull sees it: the store in front of it.
//
// - Policies "missing" and "never": an image the store has complete (every platform asked for) is
//   the store's answer (`answer`), its root read from the store, with no request; "never" with
//   anything missing is an error, and so is any later need of the network.
// - Otherwise manifests the store has already (verified) are read from the store, and a name
//   pulled before costs one HEAD to learn whether its tag still points at what the store has.
// - Blobs always come from the registry (the destination says which it needs).
//
// The registry's client (credentials, mirrors, configuration) is made on the first request.

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
import { ImageNotFoundError } from "../store/image_not_found_error.ts";
import type { Store } from "../store/store.ts";
import { ResponseTimeoutError } from "../transport/with_deadline.ts";
import type { PullRequest } from "./_pull_request.ts";
import { storedAnswer } from "./_stored_answer.ts";
import type { PullResult } from "./pull_options.ts";

/** A registry source in front of which the store answers for what it has. */
export class StoreCachedSource implements ImageSource {
  readonly name: string;
  /** What `resolve` answered last. */
  resolved: ResolvedRoot | undefined;
  /** The store's own answer (policies `missing` and `never`), when it had everything. */
  answer: PullResult | undefined;
  #store: Store;
  #request: PullRequest;
  #open: () => Promise<RegistryImageSource>;
  #registry: Promise<RegistryImageSource> | undefined;
  #made: RegistryImageSource | undefined;

  /**
   * @param store The store pulled into.
   * @param request What the pull asks for (its reference, policy and platforms).
   * @param registry Makes the registry's source (with its mirrors), when one is needed.
   */
  constructor(store: Store, request: PullRequest, registry: () => Promise<RegistryImageSource>) {
    this.#store = store;
    this.#request = request;
    this.#open = registry;
    this.name = request.name;
  }

  async resolve(ref: string, options: SourceRequestOptions = {}): Promise<ResolvedRoot> {
    this.resolved = await this.#resolve(ref, options);
    return this.resolved;
  }

  async #resolve(ref: string, options: SourceRequestOptions): Promise<ResolvedRoot> {
    if (this.#request.policy !== "always") {
      const stored = await storedAnswer(this.#store, this.#request);
      if (stored) {
        this.answer = stored.result;
        return stored.root;
      }
    }
    const registry = await this.#registryFor();
    if (ref.includes(":")) {
      parseDigest(ref);
      return await this.#local(ref) ?? await registry.resolve(ref, options);
    }
    if (await this.#store.findImage(this.name)) {
      // a HEAD the registry refuses is no answer (the GET below tells); one it never answers is
      // the answer for the GET too: no second wait
      const head = await registry.client.headManifest(registry.repository, ref, options).catch(
        (e) => {
          if (e instanceof ResponseTimeoutError || e?.cause instanceof ResponseTimeoutError) {
            throw e;
          }
          return undefined;
        },
      );
      if (head?.digest) {
        const local = await this.#local(head.digest);
        if (local) return local;
      }
    }
    return await registry.resolve(ref, options);
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
    return await (await this.#registryFor()).manifest(descriptor, options);
  }

  async blob(
    descriptor: Descriptor,
    options?: BlobReadOptions,
  ): Promise<ReadableStream<Uint8Array>> {
    return await (await this.#registryFor()).blob(descriptor, options);
  }

  async openBlob(descriptor: Descriptor, options?: BlobReadOptions): Promise<OpenedBlob> {
    return await (await this.#registryFor()).openBlob(descriptor, options);
  }

  distrust(digest: string): boolean {
    return this.#made?.distrust(digest) ?? false;
  }

  /** The registry; with policy `never`, an error (the store had to answer for everything). */
  #registryFor(): Promise<RegistryImageSource> {
    if (this.#request.policy === "never") {
      return Promise.reject(
        new ImageNotFoundError(
          "pull",
          this.name,
          this.#store.path,
          `it is not complete in the store ${this.#store.path}, and the pull policy "never" ` +
            "forbids the network",
        ),
      );
    }
    this.#registry ??= this.#open().then((r) => this.#made = r);
    return this.#registry;
  }
}

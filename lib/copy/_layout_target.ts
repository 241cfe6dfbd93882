// An OCI image layout (`oci:DIR`) as the destination of a sync: the store's own destination
// (ingest, verified commits, index.json under its lock) with the repository's tags turned into
// names. A tag T of the source repository R (canonical, `registry/path`) is named `R:T` in
// index.json's `org.opencontainers.image.ref.name`, the form skiff's store uses, which skopeo
// (`oci:DIR:R:T`) and umoci (`--image DIR:R:T`) read, and which keeps the tags of several
// repositories apart in one layout. Docker manifests and lists are named through their OCI
// conversion (as a pull names them; OCI tools follow OCI media types only), the registry's digest
// kept in `dev.skiff.source.digest`, which is what `head` answers: the comparison with the source
// is by the registry's digest. The layout has no referrers API: referrers are kept as the
// registry fallback keeps them, an index named `R:sha256-<hex>`, and cosign-style tags as names
// `R:sha256-<hex>.sig`.

import type {
  DestinationRequestOptions,
  ImageDestination,
  WriteBlobOptions,
  WrittenBlob,
} from "../image/image_destination.ts";
import { isDigest } from "../reference/parse_digest.ts";
import { MediaType } from "../oci/media_types.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import type { LayoutImageDestination } from "../store/layout_image_destination.ts";
import { nameImage } from "../store/name_image.ts";
import { registryDigestOf } from "../store/resolve_stored_image.ts";
import type { Store } from "../store/store.ts";
import { storedEntry } from "../store/stored_form.ts";
import type { ReferrerTarget } from "./referrer_target.ts";

/** The layout a sync writes to, for the copy engine and for the referrers. */
export class LayoutTarget implements ImageDestination, ReferrerTarget {
  readonly #inner: LayoutImageDestination | undefined;
  readonly #base: string;
  readonly #store: Store;
  /** The names in index.json as the run began, then as it wrote them: name -> entry. */
  #names: Map<string, Descriptor> | undefined;

  /**
   * @param store The layout.
   * @param inner The store's destination (holding its gc lock); none for a dry run, which reads.
   * @param base The canonical source repository: tag T is named `base:T`.
   */
  constructor(store: Store, inner: LayoutImageDestination | undefined, base: string) {
    this.#inner = inner;
    this.#base = base;
    this.#store = store;
  }

  get name(): string {
    return `oci:${this.#store.path}`;
  }

  /** The name a tag gets. */
  nameOf(tag: string): string {
    return `${this.#base}:${tag}`;
  }

  hasBlob(descriptor: Descriptor): Promise<boolean> {
    return this.#store.hasBlob(descriptor.digest, descriptor.size);
  }

  writeBlob(
    descriptor: Descriptor,
    content: ReadableStream<Uint8Array>,
    options: WriteBlobOptions = {},
  ): Promise<WrittenBlob> {
    return this.#writer().writeBlob(descriptor, content, options);
  }

  /** Stores the manifest; with a tag, names it (its OCI conversion for a Docker one). */
  async putManifest(
    descriptor: Descriptor,
    bytes: Uint8Array,
    options: DestinationRequestOptions & { tag?: string } = {},
  ): Promise<void> {
    this.#writer();
    await this.#store.putBlob(descriptor.digest, bytes);
    if (options.tag === undefined) return;
    const name = this.nameOf(options.tag);
    const entry = await storedEntry(this.#store, descriptor, bytes);
    const written = await nameImage(this.#store, name, entry);
    (await this.#entries()).set(name, written);
  }

  /** The registry digest named `base:reference`, or for a digest, that digest when stored. */
  async head(reference: string): Promise<string | undefined> {
    if (isDigest(reference)) {
      return await this.#store.hasBlob(reference) ? reference : undefined;
    }
    const entry = (await this.#entries()).get(this.nameOf(reference));
    return entry ? registryDigestOf(entry) : undefined;
  }

  /** A layout has no referrers API. */
  keepsReferrers(): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** The entries of the index named `base:tag`. */
  async fallbackEntries(tag: string): Promise<Descriptor[]> {
    const entry = (await this.#entries()).get(this.nameOf(tag));
    if (!entry || entry.mediaType !== MediaType.OciIndex) return [];
    const { parsed } = await this.#store.readManifestOrIndex(entry);
    return parsed.kind === "index" ? [...parsed.index.manifests] : [];
  }

  /** The store's destination; a dry run has none. */
  #writer(): LayoutImageDestination {
    if (!this.#inner) throw new Error(`Cannot write to ${this.name}: this is a dry run`);
    return this.#inner;
  }

  /** index.json's names, read once (what this run names is added as it is written). */
  async #entries(): Promise<Map<string, Descriptor>> {
    if (this.#names === undefined) {
      const names = new Map<string, Descriptor>();
      for (const e of await this.#store.readEntries()) {
        if (e.name !== undefined && e.problems.length === 0) names.set(e.name, e.descriptor);
      }
      this.#names ??= names;
    }
    return this.#names;
  }
}

/**
 * A registry repository as an image source for the copy engine, over the registry client (and
 * the mirrors in front of it).
 *
 * @module
 */

import type {
  BlobLocation,
  BlobReadOptions,
  ImageSource,
  OpenedBlob,
  ResolvedRoot,
  SourceRequestOptions,
} from "../image/image_source.ts";
import { SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import type { Reference } from "../reference/parse_reference.ts";
import { discard } from "../transport/fetcher.ts";
import type { RegistrySource } from "./mirrored_registry.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import { clientFor, type RemoteOptions } from "./remote_options.ts";

/**
 * Reads images of one repository of a registry: manifests verified whole, blobs as streams from an
 * offset (`Range`), which the engine verifies.
 *
 * (The name `RegistrySource` is the registry client's interface, so this class is
 * `RegistryImageSource`.)
 *
 * @example Resolve a tag
 * ```ts ignore
 * import { RegistryImageSource } from "./registry_image_source.ts";
 * import { parseReference } from "../reference/parse_reference.ts";
 *
 * const source = await RegistryImageSource.open(parseReference("alpine:3.20"));
 * const root = await source.resolve("3.20");
 * console.log(root.descriptor.digest, root.descriptor.mediaType);
 * ```
 */
export class RegistryImageSource implements ImageSource {
  /** The client (a `RegistryClient`, or one behind mirrors). */
  readonly client: RegistrySource;
  /** The repository, e.g. `library/alpine`. */
  readonly repository: string;

  /**
   * Makes a source.
   *
   * @param client The registry client.
   * @param repository The repository read.
   */
  constructor(client: RegistrySource, repository: string) {
    this.client = client;
    this.repository = repository;
  }

  /**
   * Makes a source for a reference's repository, with the client `pull()` would use (mirrors,
   * credentials, retries).
   *
   * @param ref The reference (its tag or digest is not used here: pass it to `resolve`).
   * @param options How to reach the registry.
   * @returns The source.
   */
  static async open(ref: Reference, options: RemoteOptions = {}): Promise<RegistryImageSource> {
    return new RegistryImageSource(await clientFor(ref, options), ref.repository);
  }

  /** `registry/repository`. */
  get name(): string {
    return `${this.client.registry}/${this.repository}`;
  }

  /** Where the blobs are, for a mount on the same registry. */
  get location(): BlobLocation {
    return { registry: this.client.registry, repository: this.repository };
  }

  /**
   * Fetches the manifest or index a tag or digest names, verified.
   *
   * @param ref A tag or a digest.
   * @param options Abort signal.
   * @returns Its descriptor and bytes.
   */
  async resolve(ref: string, options: SourceRequestOptions = {}): Promise<ResolvedRoot> {
    const m = await this.client.getManifest(this.repository, ref, options);
    return {
      descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.bytes.byteLength },
      bytes: m.bytes,
    };
  }

  /**
   * Fetches a manifest by its descriptor's digest, verified, and checks its size.
   *
   * @param descriptor The manifest's descriptor.
   * @param options Abort signal.
   * @returns Its bytes.
   * @throws {SizeMismatchError} When its size is not the descriptor's.
   */
  async manifest(descriptor: Descriptor, options: SourceRequestOptions = {}): Promise<Uint8Array> {
    const m = await this.client.getManifest(this.repository, descriptor.digest, options);
    if (m.bytes.byteLength !== descriptor.size) {
      throw new SizeMismatchError(
        `manifest ${descriptor.digest} of ${this.name}`,
        descriptor.size,
        m.bytes.byteLength,
      );
    }
    return m.bytes;
  }

  /**
   * Opens a blob from an offset. A registry that ignores `Range` (200 with the whole body) has
   * the bytes before the offset skipped here.
   *
   * @param descriptor The blob.
   * @param options Offset and abort signal.
   * @returns The bytes from the offset.
   * @throws {Error} When the registry answers a range other than the one asked.
   */
  async blob(
    descriptor: Descriptor,
    options: BlobReadOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const offset = options.offset ?? 0;
    const opened = await this.openBlob(descriptor, options);
    return opened.offset === offset ? opened.body : opened.body.pipeThrough(skip(offset));
  }

  /**
   * Opens a blob from an offset (`Range: bytes=N-`). A `206` must carry the matching
   * `Content-Range`; a `200` (the registry ignored `Range`) is the whole blob, and a `416` is
   * answered with a request for the whole blob: then the result's `offset` is 0.
   *
   * @param descriptor The blob.
   * @param options Offset and abort signal.
   * @returns The body and where it starts.
   * @throws {Error} When the registry answers another range, or neither 200 nor 206.
   * @throws {SizeMismatchError} When it announces more bytes than the blob has.
   */
  async openBlob(descriptor: Descriptor, options: BlobReadOptions = {}): Promise<OpenedBlob> {
    const { digest, size } = descriptor;
    const from = options.offset ?? 0;
    const request = options.signal ? { signal: options.signal } : {};
    let res = await this.client.getBlob(this.repository, digest, {
      ...request,
      ...(from > 0 ? { offset: from } : {}),
    });
    let start = 0;
    if (from > 0 && res.status === 206) {
      const range = res.headers.get("content-range");
      const m = range ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range.trim()) : null;
      const ok = m !== null && Number(m[1]) === from && Number(m[2]) === size - 1 &&
        (m[3] === "*" || Number(m[3]) === size);
      if (!ok) {
        await discard(res);
        throw new Error(
          `Cannot resume blob ${digest}: asked for bytes ${from}-, the server answered ` +
            `Content-Range ${range === null ? "(none)" : `"${range}"`}`,
        );
      }
      start = from;
    } else if (from > 0 && res.status === 416) {
      // not satisfiable: the whole blob
      await discard(res);
      res = await this.client.getBlob(this.repository, digest, request);
    }
    if (res.status !== 200 && res.status !== 206) {
      await discard(res);
      throw new Error(`Cannot fetch blob ${digest}: unexpected status ${res.status}`);
    }
    const declared = res.headers.get("content-length");
    if (declared !== null && /^\d+$/.test(declared) && Number(declared) > size - start) {
      await discard(res);
      throw new SizeMismatchError(
        `blob ${digest}`,
        size,
        start + Number(declared),
        "the server announced too many bytes",
      );
    }
    if (!res.body) throw new SizeMismatchError(`blob ${digest}`, size, start);
    return { body: res.body, offset: start };
  }

  /**
   * Stops asking the mirror that served a blob for it (see `RegistrySource.distrust`).
   *
   * @param digest The blob whose bytes failed.
   * @returns `true` when a mirror served it, `false` when the registry itself did.
   */
  distrust(digest: string): boolean {
    return this.client.distrust?.(digest) ?? false;
  }
}

/** Drops the first `count` bytes. */
function skip(count: number): TransformStream<Uint8Array, Uint8Array> {
  let left = count;
  return new TransformStream({
    transform(chunk, controller) {
      if (left >= chunk.byteLength) {
        left -= chunk.byteLength;
        return;
      }
      controller.enqueue(left > 0 ? chunk.subarray(left) : chunk);
      left = 0;
    },
  });
}

/**
 * A small blob (an image config, an artifact's content) whole from any image source, verified
 * on the way by the same `DigestVerifier` as every blob the engine copies.
 *
 * @module
 */

import { DigestVerifier } from "../stream/digest_verifier.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import type { ImageSource } from "./image_source.ts";

/** Options for {@linkcode readBlobBytes}. */
export interface ReadBlobBytesOptions {
  /** The most bytes read: a descriptor announcing more is refused before any request. */
  limit: number;
  /** What the blob is, for messages (e.g. `config sha256:... of alpine:3.20`). */
  what?: string;
  /** Aborts the read. */
  signal?: AbortSignal | undefined;
}

/**
 * Reads a blob whole: at most its descriptor's size (and `limit`) bytes, checked against its
 * digest as they arrive. A mirror that serves it wrong in any way (short, long, altered,
 * broken) is not asked again: the next source in line serves it.
 *
 * @param source Where the blob is.
 * @param descriptor Its digest and size.
 * @param options The size limit, a name for messages, an abort signal.
 * @returns Its exact bytes.
 * @throws {RangeError} When the descriptor's size is over the limit.
 * @throws {DigestMismatchError} When the bytes do not match the digest.
 * @throws {SizeMismatchError} When more or fewer bytes than the size arrive.
 *
 * @example A config from a registry
 * ```ts ignore
 * import { readBlobBytes } from "./read_blob_bytes.ts";
 * import { RegistryImageSource } from "../registry/registry_image_source.ts";
 * import { parseReference } from "../reference/parse_reference.ts";
 *
 * const source = await RegistryImageSource.open(parseReference("alpine:3.20"));
 * const root = await source.resolve("3.20");
 * console.log(root.descriptor.digest);
 * const bytes = await readBlobBytes(source, { mediaType: "x", digest: "sha256:...", size: 1 }, {
 *   limit: 64 * 1024 * 1024,
 * });
 * console.log(bytes.byteLength);
 * ```
 */
export async function readBlobBytes(
  source: ImageSource,
  descriptor: Descriptor,
  options: ReadBlobBytesOptions,
): Promise<Uint8Array> {
  const { digest, size } = descriptor;
  const what = options.what ?? `blob ${digest} of ${source.name}`;
  if (size > options.limit) {
    throw new RangeError(`Cannot read ${what}: ${size} bytes is more than ${options.limit}`);
  }
  const signal = options.signal;
  for (;;) {
    try {
      return await readOnce(source, descriptor, what, signal);
    } catch (e) {
      if (signal?.aborted || !source.distrust?.(digest)) throw e;
    }
  }
}

async function readOnce(
  source: ImageSource,
  descriptor: Descriptor,
  what: string,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const verifier = new DigestVerifier(descriptor, { what });
  const body = await source.blob(descriptor, signal ? { signal } : {});
  const out = new Uint8Array(descriptor.size);
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const at = verifier.bytes;
      verifier.update(value); // a byte past the size throws here, before it is kept
      out.set(value, at);
    }
  } catch (e) {
    await reader.cancel(e).catch(() => {});
    throw e;
  }
  verifier.verify();
  return out;
}

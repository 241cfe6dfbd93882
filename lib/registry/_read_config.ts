// Reads an image config blob from the registry whole: at most its declared size (and 64 MiB),
// verified against its digest. Shared by fetchImageConfig and resolveManifest's platform check.

import { computeDigest } from "../reference/compute_digest.ts";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import type { Reference } from "../reference/parse_reference.ts";
import { readCapped } from "../transport/fetcher.ts";
import type { RegistrySource } from "./mirrored_registry.ts";
import { CONFIG_SIZE_LIMIT, type Descriptor } from "../oci/parse_manifest.ts";

export { CONFIG_SIZE_LIMIT };

/**
 * The config blob's exact bytes, verified. A mirror that fails to serve it in any way (short,
 * long, wrong, broken) is not asked again: the next source serves it.
 */
export async function readConfig(
  client: RegistrySource,
  ref: Reference,
  config: Descriptor,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const { digest, size } = config;
  const what = `config ${digest} of ${ref}`;
  if (size > CONFIG_SIZE_LIMIT) {
    throw new RangeError(`Cannot read ${what}: ${size} bytes is more than ${CONFIG_SIZE_LIMIT}`);
  }
  for (;;) {
    try {
      return await readOnce(client, ref.repository, digest, size, what, signal);
    } catch (e) {
      if (signal?.aborted || !client.distrust?.(digest)) throw e;
    }
  }
}

async function readOnce(
  client: RegistrySource,
  repository: string,
  digest: string,
  size: number,
  what: string,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const res = await client.getBlob(repository, digest, signal ? { signal } : {});
  let bytes: Uint8Array;
  try {
    bytes = await readCapped(res, size, what);
  } catch (e) {
    if (e instanceof RangeError) {
      throw new SizeMismatchError(what, size, size + 1, "the server sent too many bytes");
    }
    throw e;
  }
  if (bytes.byteLength !== size) throw new SizeMismatchError(what, size, bytes.byteLength);
  const actual = await computeDigest(bytes, parseDigest(digest).algorithm);
  if (actual !== digest) throw new DigestMismatchError(what, digest, actual);
  return bytes;
}

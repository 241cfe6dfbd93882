// Reads an image config blob from the registry whole: at most its declared size (and 64 MiB),
// verified against its digest. Shared by fetchImageConfig and resolveManifest's platform check.

import { computeDigest } from "../reference/compute_digest.ts";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import type { Reference } from "../reference/parse_reference.ts";
import { readCapped } from "../transport/fetcher.ts";
import type { RegistrySource } from "./mirrored_registry.ts";
import type { Descriptor } from "./parse_manifest.ts";

/** The largest config blob read (real ones are a few KiB; large histories reach a few MiB). */
export const CONFIG_SIZE_LIMIT = 64 * 1024 * 1024;

/** The config blob's exact bytes, verified. */
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
  const res = await client.getBlob(ref.repository, digest, signal ? { signal } : {});
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

// The SHA-256 of a file as `sha256:<hex>`, read in 1 MiB chunks: the digest reported for a disk
// image, and what a layer image is checked against before it is reused.

import { createHash } from "node:crypto";

/**
 * Hashes a whole file.
 *
 * @param path The file.
 * @param signal Stops between chunks.
 * @returns `sha256:<hex>`.
 */
export async function fileDigest(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  const buffer = new Uint8Array(1024 * 1024);
  for (;;) {
    signal?.throwIfAborted();
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return `sha256:${hash.digest("hex")}`;
}

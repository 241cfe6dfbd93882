/**
 * The SHA-256 of a file as `sha256:<hex>`, read in 1 MiB chunks: the digest reported for a disk
 * image, and what a layer image is checked against before it is reused.
 *
 * @module
 */

import { createHash } from "node:crypto";

/**
 * Hashes a whole file.
 *
 * @param path The file.
 * @param signal Stops between chunks.
 * @returns `sha256:<hex>`.
 *
 * @example Hash a file
 * ```ts
 * import { fileDigest } from "./file_digest.ts";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "hello");
 * assert.equal(
 *   await fileDigest(path),
 *   "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
 * );
 * await Deno.remove(path);
 * ```
 */
export async function fileDigest(path: string, signal?: AbortSignal): Promise<string> {
  using file = await Deno.open(path);
  return await imageDigest(file, Infinity, signal);
}

/**
 * Hashes the first `size` bytes of an open file, from its start: a disk image read back through
 * the file it was written to (on a block device, what follows the image is not the image's).
 *
 * @param file The open file (readable).
 * @param size The bytes to hash (`Infinity`: to the end).
 * @param signal Stops between chunks.
 * @returns `sha256:<hex>`.
 * @throws {Error} When the file ends before `size` bytes.
 *
 * @example Hash the first bytes of an open file
 * ```ts
 * import { imageDigest } from "./file_digest.ts";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "hello, and more");
 * using file = await Deno.open(path);
 * assert.equal(
 *   await imageDigest(file, 5),
 *   "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
 * );
 * await Deno.remove(path);
 * ```
 */
export async function imageDigest(
  file: Deno.FsFile,
  size: number,
  signal?: AbortSignal,
): Promise<string> {
  const hash = createHash("sha256");
  await file.seek(0, Deno.SeekMode.Start);
  const buffer = new Uint8Array(1024 * 1024);
  let left = size;
  while (left > 0) {
    signal?.throwIfAborted();
    const n = await file.read(left < buffer.length ? buffer.subarray(0, left) : buffer);
    if (n === null) {
      if (size === Infinity) break;
      throw new Error(`Cannot read the image back: it ends ${left} bytes short`);
    }
    hash.update(buffer.subarray(0, n));
    left -= n;
  }
  return `sha256:${hash.digest("hex")}`;
}

/**
 * Digests of bytes in memory (manifests, configs); blobs are hashed while they stream.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { DigestAlgorithm } from "./parse_digest.ts";

/**
 * Computes the digest of some bytes.
 *
 * @param bytes The content.
 * @param algorithm The algorithm.
 * @returns The digest as `algorithm:hex`.
 *
 * @example Digest of the empty string
 * ```ts
 * import { computeDigest } from "./compute_digest.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   computeDigest(new Uint8Array()),
 *   "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
 * );
 * ```
 */
export function computeDigest(bytes: Uint8Array, algorithm: DigestAlgorithm = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}

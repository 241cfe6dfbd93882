/**
 * Digests of bytes in memory (manifests, configs); blobs are hashed while they stream.
 *
 * @module
 */

import type { DigestAlgorithm } from "./parse_digest.ts";

const WEB_NAMES: Record<DigestAlgorithm, string> = { sha256: "SHA-256", sha512: "SHA-512" };

/**
 * Computes the digest of some bytes with Web Crypto (which, unlike `node:crypto`, costs nothing
 * at start-up: a warm re-pull touches no other hash).
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
 *   await computeDigest(new Uint8Array()),
 *   "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
 * );
 * ```
 */
export async function computeDigest(
  bytes: Uint8Array,
  algorithm: DigestAlgorithm = "sha256",
): Promise<string> {
  const hash = new Uint8Array(
    await crypto.subtle.digest(WEB_NAMES[algorithm], bytes as Uint8Array<ArrayBuffer>),
  );
  let hex = "";
  for (const b of hash) hex += b.toString(16).padStart(2, "0");
  return `${algorithm}:${hex}`;
}

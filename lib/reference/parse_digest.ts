/**
 * Content digests: `algorithm:hex`, validated before they are ever used in a path or a URL.
 *
 * @module
 */

/** The digest algorithms skiff can verify. */
export type DigestAlgorithm = "sha256" | "sha512";

/** A validated content digest, split into its parts. */
export interface Digest {
  /** The algorithm, `sha256` or `sha512`. */
  readonly algorithm: DigestAlgorithm;
  /** The encoded hash: lowercase hex, 64 characters for sha256, 128 for sha512. */
  readonly hex: string;
  /** The digest as it is written: `algorithm:hex`. */
  readonly digest: string;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const ALGORITHM = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/;

/**
 * Parses and validates a digest such as `sha256:e3b0...`.
 *
 * Only `sha256` (64 lowercase hex characters) and `sha512` (128) are accepted, which is what the
 * OCI image spec registers; the result is therefore always safe to use as a file name.
 *
 * @param input The digest string.
 * @returns The digest's algorithm and hex parts.
 * @throws {SyntaxError} When the digest is malformed or uses an unsupported algorithm.
 *
 * @example Parse a sha256 digest
 * ```ts
 * import { parseDigest } from "./parse_digest.ts";
 * import assert from "node:assert/strict";
 *
 * const d = parseDigest("sha256:" + "a".repeat(64));
 * assert.deepEqual(d.algorithm, "sha256");
 * assert.deepEqual(d.hex.length, 64);
 * ```
 */
export function parseDigest(input: string): Digest {
  const colon = input.indexOf(":");
  if (colon <= 0) {
    throw new SyntaxError(`Cannot parse digest "${clip(input)}": expected "algorithm:hex"`);
  }
  const algorithm = input.slice(0, colon);
  const hex = input.slice(colon + 1);
  if (!ALGORITHM.test(algorithm)) {
    throw new SyntaxError(`Cannot parse digest "${clip(input)}": invalid algorithm`);
  }
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    throw new SyntaxError(
      `Cannot parse digest "${clip(input)}": unsupported algorithm "${algorithm}" ` +
        `(supported: sha256, sha512)`,
    );
  }
  const want = HEX_LENGTH[algorithm];
  if (hex.length !== want || !/^[0-9a-f]+$/.test(hex)) {
    throw new SyntaxError(
      `Cannot parse digest "${clip(input)}": ${algorithm} needs ${want} lowercase hex characters`,
    );
  }
  return { algorithm, hex, digest: input };
}

/**
 * Tells whether a string is a valid, supported digest.
 *
 * @param input The string to test.
 * @returns `true` when {@linkcode parseDigest} would accept it.
 *
 * @example Check a digest
 * ```ts
 * import { isDigest } from "./parse_digest.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isDigest("sha256:" + "0".repeat(64)));
 * assert.ok(!isDigest("sha256:xyz"));
 * ```
 */
export function isDigest(input: string): boolean {
  try {
    parseDigest(input);
    return true;
  } catch {
    return false;
  }
}

function clip(s: string): string {
  return s.length > 80 ? s.slice(0, 77) + "..." : s;
}

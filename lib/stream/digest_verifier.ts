/**
 * The verification core shared by the streaming paths: hash and count bytes, refuse any byte past
 * the expected size, and compare the digest at the end.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { parseDigest } from "../reference/parse_digest.ts";

/** What the content must be: a digest and a size. */
export interface ExpectedContent {
  /** The digest, `sha256:...` or `sha512:...`. */
  digest: string;
  /** The size in bytes; `undefined` when nothing says it (only the digest is checked then). */
  size: number | undefined;
}

/** Options for {@linkcode DigestVerifier}. */
export interface DigestVerifierOptions {
  /**
   * A hash already fed with the first `offset` bytes (when resuming a partial download).
   * @default {a new hash of the digest's algorithm}
   */
  hash?: Hash;
  /**
   * How many bytes came before (already hashed into `hash`).
   * @default {0}
   */
  offset?: number;
  /**
   * What is verified, for error messages.
   * @default {"blob <digest>"}
   */
  what?: string;
}

/**
 * Hashes and counts content as it arrives, and checks it against a digest and size.
 *
 * @example Verify bytes in pieces
 * ```ts
 * import { DigestVerifier } from "./digest_verifier.ts";
 * import assert from "node:assert/strict";
 *
 * const v = new DigestVerifier({
 *   digest: "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
 *   size: 5,
 * });
 * v.update(new TextEncoder().encode("hel"));
 * v.update(new TextEncoder().encode("lo"));
 * v.verify(); // throws on a mismatch
 * assert.equal(v.bytes, 5);
 * ```
 */
export class DigestVerifier {
  /** The expected digest and size. */
  readonly expected: ExpectedContent;
  #hash: Hash;
  #algorithm: string;
  #bytes: number;
  #what: string;

  /**
   * Makes a verifier.
   *
   * @param expected The digest and size the content must have.
   * @param options A hash and offset to resume from.
   * @throws {SyntaxError} When the expected digest is malformed or unsupported.
   */
  constructor(expected: ExpectedContent, options: DigestVerifierOptions = {}) {
    const { algorithm } = parseDigest(expected.digest);
    this.expected = expected;
    this.#algorithm = algorithm;
    this.#hash = options.hash ?? createHash(algorithm);
    this.#bytes = options.offset ?? 0;
    this.#what = options.what ?? `blob ${expected.digest}`;
  }

  /** How many bytes were verified so far, including the offset. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Hashes the next bytes.
   *
   * @param chunk The bytes.
   * @throws {SizeMismatchError} When they would exceed the expected size (nothing is hashed).
   */
  update(chunk: Uint8Array): void {
    const next = this.#bytes + chunk.byteLength;
    if (this.expected.size !== undefined && next > this.expected.size) {
      throw new SizeMismatchError(
        this.#what,
        this.expected.size,
        next,
        "the server sent too many bytes",
      );
    }
    this.#bytes = next;
    this.#hash.update(chunk);
  }

  /**
   * Checks the size and the digest once all bytes are in. Call once.
   *
   * @throws {SizeMismatchError} When fewer bytes than expected arrived.
   * @throws {DigestMismatchError} When the digest differs.
   */
  verify(): void {
    if (this.expected.size !== undefined && this.#bytes !== this.expected.size) {
      throw new SizeMismatchError(this.#what, this.expected.size, this.#bytes);
    }
    const actual = `${this.#algorithm}:${this.#hash.digest("hex")}`;
    if (actual !== this.expected.digest) {
      throw new DigestMismatchError(this.#what, this.expected.digest, actual);
    }
  }
}

/**
 * The error for content that does not match its digest or size.
 *
 * @module
 */

/** Content did not hash to the digest (or have the size) it was asked for by. */
export class DigestMismatchError extends Error {
  /** The digest that was wanted. */
  readonly expected: string;
  /** The digest the bytes really have (or a description of the size when the size differs). */
  readonly actual: string;

  /**
   * Makes the error.
   *
   * @param what What was checked, e.g. `blob sha256:ab12...` or `manifest alpine:3.20`.
   * @param expected The digest that was wanted.
   * @param actual The digest the content has.
   * @param detail A short note, e.g. `the partial data was deleted`.
   *
   * @example The message names both digests
   * ```ts
   * import { DigestMismatchError } from "./digest_mismatch_error.ts";
   * import assert from "node:assert/strict";
   *
   * const e = new DigestMismatchError("blob", "sha256:aa", "sha256:bb");
   * assert.match(e.message, /expected sha256:aa, got sha256:bb/);
   * ```
   */
  constructor(what: string, expected: string, actual: string, detail?: string) {
    super(
      `Cannot verify ${what}: digest mismatch: expected ${expected}, got ${actual}` +
        (detail ? ` (${detail})` : ""),
    );
    this.name = "DigestMismatchError";
    this.expected = expected;
    this.actual = actual;
  }
}

/** Content had a different size than its descriptor says. */
export class SizeMismatchError extends Error {
  /** The size that was wanted. */
  readonly expected: number;
  /** The size seen (for too-long content: the first size known to be too large). */
  readonly actual: number;

  /**
   * Makes the error.
   *
   * @param what What was checked.
   * @param expected The size that was wanted.
   * @param actual The size seen.
   * @param detail A short note.
   */
  constructor(what: string, expected: number, actual: number, detail?: string) {
    super(
      `Cannot verify ${what}: size mismatch: expected ${expected} bytes, ` +
        (actual > expected ? `got more than ${expected}` : `got ${actual}`) +
        (detail ? ` (${detail})` : ""),
    );
    this.name = "SizeMismatchError";
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * The error of one signature that cannot be accepted.
 *
 * @module
 */

/**
 * A signature that is malformed, does not verify, or comes from a key that is not trusted or not
 * valid. The message is one line, `Cannot verify signature: <why>`; what the signature itself
 * says (a key ID, a digest) is quoted, never trusted.
 *
 * @example Tell a bad signature from other failures
 * ```ts
 * import { InvalidSignatureError } from "./invalid_signature_error.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new InvalidSignatureError("the signature does not verify");
 * assert.equal(e.message, "Cannot verify signature: the signature does not verify");
 * assert.equal(e.reason, "the signature does not verify");
 * ```
 */
export class InvalidSignatureError extends Error {
  /** Why, without the `Cannot verify signature: ` prefix. */
  readonly reason: string;

  /**
   * Makes the error of one signature.
   *
   * @param reason Why the signature cannot be accepted.
   * @param options The cause, if any.
   */
  constructor(reason: string, options?: ErrorOptions) {
    super(`Cannot verify signature: ${reason}`, options);
    this.name = "InvalidSignatureError";
    this.reason = reason;
  }
}

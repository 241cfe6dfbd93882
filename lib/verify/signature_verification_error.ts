/**
 * The error of a signature or attestation that does not verify.
 *
 * @module
 */

/**
 * Why a signature or attestation was refused:
 * - `malformed`: the bundle, payload, certificate, timestamp or log entry does not parse;
 * - `too-large`: it is over a size or count limit;
 * - `unsupported`: a version, media type, kind or algorithm skiff does not verify;
 * - `subject`: it is about another digest (a replay on another image);
 * - `predicate-type`: an attestation of a type the caller did not ask for;
 * - `key`: no trusted key made it;
 * - `certificate`: the certificate does not chain to the trusted root, has no valid SCT, or was
 *   not valid at the trusted time;
 * - `identity`: the certificate's identity, issuer or claims are not the ones asked for;
 * - `tlog`: a transparency log entry does not verify or does not match;
 * - `timestamp`: a timestamp does not verify, or there is no trusted time;
 * - `signature`: the signature itself does not verify.
 */
export type VerificationFailure =
  | "malformed"
  | "too-large"
  | "unsupported"
  | "subject"
  | "predicate-type"
  | "key"
  | "certificate"
  | "identity"
  | "tlog"
  | "timestamp"
  | "signature";

/**
 * A signature or attestation did not verify. The message is one line,
 * `Cannot verify <what>: <reason>`; {@link failure} says which check refused it.
 *
 * @example The message names the reason
 * ```ts
 * import { SignatureVerificationError } from "./signature_verification_error.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new SignatureVerificationError("sigstore bundle", "tlog", "its log is not trusted");
 * assert.equal(e.message, "Cannot verify sigstore bundle: its log is not trusted");
 * assert.equal(e.failure, "tlog");
 * ```
 */
export class SignatureVerificationError extends Error {
  /** Which check refused it. */
  readonly failure: VerificationFailure;
  /** What was being verified, e.g. `sigstore bundle for sha256:ab12...`. */
  readonly what: string;
  /** The reason alone, without the `Cannot verify <what>:` prefix. */
  readonly reason: string;

  /**
   * Makes the error.
   *
   * @param what What was being verified.
   * @param failure Which check refused it.
   * @param reason Why, in a few words (newlines become spaces: the message stays one line).
   */
  constructor(what: string, failure: VerificationFailure, reason: string) {
    const line = (s: string) => s.replace(/[\r\n]+/g, " ");
    super(`Cannot verify ${line(what)}: ${line(reason)}`);
    this.name = "SignatureVerificationError";
    this.failure = failure;
    this.what = line(what);
    this.reason = line(reason);
  }
}

/**
 * What a verified signature or attestation tells: who signed, what, when, and for which digest.
 *
 * @module
 */

import type { KeyAlgorithm } from "./public_key.ts";
import type { FulcioClaims, SubjectAltName } from "./x509_certificate.ts";

/** A signer known by its key (`cosign sign --key`, a key-based bundle). */
export interface KeySigner {
  /** The kind of signer. */
  readonly type: "key";
  /** `sha256:` and the hex SHA-256 of the key's DER SubjectPublicKeyInfo. */
  readonly fingerprint: string;
  /** The key's algorithm. */
  readonly algorithm: KeyAlgorithm;
}

/** A signer known by a Fulcio certificate (keyless). */
export interface CertificateSigner {
  /** The kind of signer. */
  readonly type: "certificate";
  /** The identity that matched: the certificate's subject alternative name. */
  readonly identity: string;
  /** All of its subject alternative names. */
  readonly subjectAltNames: readonly SubjectAltName[];
  /** The OIDC issuer. */
  readonly issuer: string;
  /** Fulcio's claims (GitHub workflow, source repository...). */
  readonly claims: FulcioClaims;
  /** The hex SHA-256 of the certificate's DER. */
  readonly certificateFingerprint: string;
  /** The URI of the certificate authority of the trusted root it chains to. */
  readonly authority: string;
  /** The certificate's validity. */
  readonly notBefore: Date;
  /** The certificate's validity. */
  readonly notAfter: Date;
}

/** One time the verification trusted, and where it came from. */
export interface TrustedTime {
  /** The instant. */
  readonly time: Date;
  /** A transparency log's signed entry timestamp, or an RFC 3161 timestamp authority. */
  readonly source: "tlog" | "timestamp-authority";
  /** The log's base URL or the authority's URI. */
  readonly authority: string;
}

/** One transparency log entry that verified. */
export interface VerifiedTlogEntry {
  /** The log's base URL. */
  readonly log: string;
  /** The entry's index. */
  readonly logIndex: bigint;
  /** Its integrated time, when the log signed one. */
  readonly integratedTime?: Date;
  /** Whether a signed entry timestamp verified. */
  readonly promise: boolean;
  /** Whether an inclusion proof with a signed checkpoint verified. */
  readonly proof: boolean;
}

/** A signature or attestation that verified. */
export interface VerificationResult {
  /** A signature (of the image), or an attestation (an in-toto statement about it). */
  readonly kind: "signature" | "attestation";
  /** Its format: a sigstore bundle, or a cosign v2 signature or attestation layer. */
  readonly format: "sigstore-bundle" | "cosign";
  /** The bundle's or layer's media type. */
  readonly mediaType: string;
  /** The digest it was verified for. */
  readonly digest: string;
  /** The in-toto predicate type (DSSE statements), or cosign's signature type. */
  readonly predicateType?: string;
  /** The signed payload: the in-toto statement or the simple-signing JSON (untrusted text). */
  readonly payload?: Uint8Array;
  /** Who signed. */
  readonly signer: KeySigner | CertificateSigner;
  /** The trusted times, earliest first. */
  readonly times: readonly TrustedTime[];
  /** The log entries that verified. */
  readonly tlogEntries: readonly VerifiedTlogEntry[];
  /**
   * `sha256:` and the hex SHA-256 of the signature bytes: the same signature seen twice (in two
   * referrers, under a tag and in the referrers API) has the same id and is counted once.
   */
  readonly id: string;
}

/**
 * The results with one of each signature: the first of each {@link VerificationResult.id}.
 *
 * @param results Results, in the order they were found.
 * @returns The distinct ones, in the same order.
 *
 * @example Duplicates count once
 * ```ts
 * import { distinctResults, type VerificationResult } from "./verification_result.ts";
 * import assert from "node:assert/strict";
 *
 * const a = { id: "sha256:aa" } as VerificationResult;
 * const b = { id: "sha256:bb" } as VerificationResult;
 * assert.deepEqual(distinctResults([a, b, { ...a }]).map((r) => r.id), ["sha256:aa", "sha256:bb"]);
 * ```
 */
export function distinctResults(results: readonly VerificationResult[]): VerificationResult[] {
  const seen = new Set<string>();
  return results.filter((r) => !seen.has(r.id) && seen.add(r.id) !== undefined);
}

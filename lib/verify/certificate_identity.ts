/**
 * Who a keyless signature must come from: the certificate's identity (subject alternative name)
 * and OIDC issuer, exactly or by regular expression as cosign's `--certificate-identity`,
 * `--certificate-identity-regexp`, `--certificate-oidc-issuer` and
 * `--certificate-oidc-issuer-regexp` say, and optionally Fulcio's claims (GitHub's repository,
 * ref, workflow...).
 *
 * @module
 */

import type { FulcioClaimName, X509Certificate } from "./x509_certificate.ts";

/**
 * One accepted identity. A certificate matches when every field given matches. A regular
 * expression is matched as cosign and sigstore-go match it: anywhere in the value, unless it is
 * anchored with `^` and `$` (JavaScript syntax, with the `u` flag).
 */
export interface CertificateIdentity {
  /** The exact subject alternative name (an email, a URI such as a workflow's). */
  subject?: string;
  /** A regular expression over the subject alternative name. */
  subjectRegExp?: string;
  /** The exact OIDC issuer, e.g. `https://token.actions.githubusercontent.com`. */
  issuer?: string;
  /** A regular expression over the OIDC issuer. */
  issuerRegExp?: string;
  /** Fulcio claims that must be exactly these, e.g. `{ sourceRepositoryUri: "https://github.com/o/r" }`. */
  claims?: Partial<Record<FulcioClaimName, string>>;
  /** Fulcio claims that must match these regular expressions. */
  claimsRegExp?: Partial<Record<FulcioClaimName, string>>;
}

function compile(pattern: string, what: string): RegExp {
  try {
    return new RegExp(pattern, "u");
  } catch (e) {
    throw new TypeError(`Cannot use ${what} ${JSON.stringify(pattern)}: ${(e as Error).message}`);
  }
}

/**
 * Checks that an identity says enough: an issuer (exact or regexp) and a subject, a subject
 * regexp or a claim, as cosign requires both an identity and an issuer; and that its regular
 * expressions compile.
 *
 * @param identity The identity.
 * @throws {TypeError} When it is incomplete or a regular expression is invalid.
 *
 * @example An identity without an issuer is refused
 * ```ts
 * import { checkIdentity } from "./certificate_identity.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => checkIdentity({ subject: "me@example.com" }), TypeError);
 * checkIdentity({ subject: "me@example.com", issuer: "https://accounts.example.com" });
 * ```
 */
export function checkIdentity(identity: CertificateIdentity): void {
  if (identity.issuer === undefined && identity.issuerRegExp === undefined) {
    throw new TypeError(
      "Cannot use a certificate identity without an OIDC issuer (exact or regexp)",
    );
  }
  const hasClaims = Object.keys(identity.claims ?? {}).length > 0 ||
    Object.keys(identity.claimsRegExp ?? {}).length > 0;
  if (identity.subject === undefined && identity.subjectRegExp === undefined && !hasClaims) {
    throw new TypeError(
      "Cannot use a certificate identity without a subject, a subject regexp or a claim",
    );
  }
  if (identity.subjectRegExp !== undefined) compile(identity.subjectRegExp, "the identity regexp");
  if (identity.issuerRegExp !== undefined) compile(identity.issuerRegExp, "the issuer regexp");
  for (const [k, v] of Object.entries(identity.claimsRegExp ?? {})) compile(v!, `the ${k} regexp`);
}

/**
 * Matches a certificate against one identity.
 *
 * @param cert The (already path-verified) signing certificate.
 * @param identity The identity asked for.
 * @returns `undefined` when it matches, else why not (naming the value found: untrusted text).
 *
 * @example See the tests in tests/verify/certificate_identity_test.ts
 * ```ts ignore
 * const why = matchIdentity(cert, { subjectRegExp: "^https://github.com/o/r/", issuer: "https://token.actions.githubusercontent.com" });
 * ```
 */
export function matchIdentity(
  cert: X509Certificate,
  identity: CertificateIdentity,
): string | undefined {
  const issuer = cert.claims.issuer;
  if (issuer === undefined) return "the certificate names no OIDC issuer";
  if (identity.issuer !== undefined && issuer !== identity.issuer) {
    return `its OIDC issuer is ${JSON.stringify(issuer)}, not ${JSON.stringify(identity.issuer)}`;
  }
  if (identity.issuerRegExp !== undefined && !compile(identity.issuerRegExp, "").test(issuer)) {
    return `its OIDC issuer ${JSON.stringify(issuer)} does not match ${
      JSON.stringify(identity.issuerRegExp)
    }`;
  }
  const names = cert.subjectAltNames.map((s) => s.value);
  if (identity.subject !== undefined && !names.includes(identity.subject)) {
    return `its identity is ${JSON.stringify(names[0] ?? "")}, not ${
      JSON.stringify(identity.subject)
    }`;
  }
  if (identity.subjectRegExp !== undefined) {
    const re = compile(identity.subjectRegExp, "");
    if (!names.some((n) => re.test(n))) {
      return `its identity ${JSON.stringify(names[0] ?? "")} does not match ${
        JSON.stringify(identity.subjectRegExp)
      }`;
    }
  }
  for (const [k, want] of Object.entries(identity.claims ?? {})) {
    const got = cert.claims[k as FulcioClaimName];
    if (got !== want) {
      return `its ${k} is ${JSON.stringify(got ?? "(none)")}, not ${JSON.stringify(want)}`;
    }
  }
  for (const [k, pattern] of Object.entries(identity.claimsRegExp ?? {})) {
    const got = cert.claims[k as FulcioClaimName];
    if (got === undefined || !compile(pattern!, "").test(got)) {
      return `its ${k} ${JSON.stringify(got ?? "(none)")} does not match ${
        JSON.stringify(pattern)
      }`;
    }
  }
  return undefined;
}

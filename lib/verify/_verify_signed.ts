// The checks every signature goes through once its content is bound to the digest (a bundle's
// DSSE statement or message digest, a cosign payload's claims): trusted times, the signer (a
// certificate's path, SCTs and identity, or a given key), the transparency log entries, and the
// signature itself. Order, as sigstore-js and sigstore-go: timestamps, signer, log entries,
// signature, identity.

import { bytesEqual, toHex } from "./_bytes.ts";
import { certificateKey, verifyCertificatePath } from "./_certificate_path.ts";
import { verifyTimestamp } from "./_rfc3161.ts";
import { verifyScts } from "./_sct.ts";
import {
  type LoggedContent,
  type LoggedSigner,
  verifyInclusionProof,
  verifyLoggedBody,
  verifySignedEntryTimestamp,
} from "./_tlog.ts";
import { type CertificateIdentity, matchIdentity } from "./certificate_identity.ts";
import type { TlogEntry } from "./sigstore_bundle.ts";
import type { PublicKey, SignatureHash } from "./public_key.ts";
import {
  SignatureVerificationError,
  type VerificationFailure,
} from "./signature_verification_error.ts";
import type { TrustedRoot } from "./trusted_root.ts";
import type {
  CertificateSigner,
  KeySigner,
  TrustedTime,
  VerifiedTlogEntry,
} from "./verification_result.ts";
import { X509Certificate } from "./x509_certificate.ts";

/** What trust a verification uses, and how much of it it requires. */
export interface TrustOptions {
  /** The trusted root: Fulcio CAs, Rekor logs, CT logs, timestamp authorities. */
  trustedRoot?: TrustedRoot;
  /** The keys a key-based signature may be made by. */
  keys?: readonly PublicKey[];
  /** The identities a keyless signature may come from (any one). */
  identities?: readonly CertificateIdentity[];
  /** The fewest distinct transparency log entries that must verify. @default 1 */
  tlogThreshold?: number;
  /** The fewest CT logs whose SCT in the certificate must verify. @default 1 */
  ctlogThreshold?: number;
  /** The fewest trusted times (signed entry timestamps, RFC 3161 timestamps). @default 1 */
  timestampThreshold?: number;
  /** Stops the verification between its steps. */
  signal?: AbortSignal;
}

/** One signature and what comes with it, in a form common to bundles and cosign layers. */
export interface SignedMaterial {
  /** What is verified, for messages (`sigstore bundle for sha256:...`). */
  readonly what: string;
  /** The signature. */
  readonly signature: Uint8Array;
  /** The bytes the signature covers. */
  readonly signed: Uint8Array;
  /** The hash the signer used, when the format says (a message digest's algorithm). */
  readonly hash?: SignatureHash;
  /** The content as a log entry records it. */
  readonly logged: LoggedContent;
  /** The signing certificate's DER (keyless). */
  readonly certificate?: Uint8Array;
  /** Whether the signer is a key (key-based). */
  readonly keyBased: boolean;
  /** Transparency log entries. */
  readonly tlogEntries: readonly TlogEntry[];
  /** RFC 3161 timestamps, DER. */
  readonly timestamps: readonly Uint8Array[];
}

/** What the common checks establish. */
export interface VerifiedSigner {
  /** Who signed. */
  readonly signer: KeySigner | CertificateSigner;
  /** The trusted times, earliest first. */
  readonly times: readonly TrustedTime[];
  /** The log entries that verified. */
  readonly tlogEntries: readonly VerifiedTlogEntry[];
}

/**
 * Runs the common checks.
 *
 * @throws {SignatureVerificationError} Naming the first check that failed.
 */
export async function verifySigned(m: SignedMaterial, o: TrustOptions): Promise<VerifiedSigner> {
  const fail = (failure: VerificationFailure, reason: string): never => {
    throw new SignatureVerificationError(m.what, failure, reason);
  };
  const root = o.trustedRoot;
  o.signal?.throwIfAborted();

  // the signer's kind first: without the matching trust, nothing else is worth checking
  let leaf: X509Certificate | undefined;
  if (m.certificate) {
    if (!root) fail("certificate", "it is keyless and no trusted root was given");
    if (!o.identities || o.identities.length === 0) {
      fail("identity", "it is keyless and no certificate identity was given to match");
    }
    try {
      leaf = X509Certificate.parse(m.certificate);
    } catch (e) {
      fail("malformed", `its certificate is malformed: ${(e as Error).message}`);
    }
  } else if (!o.keys || o.keys.length === 0) {
    fail("key", "it is signed by a key and no key was given");
  }

  // 1. trusted times: RFC 3161 timestamps over the signature, and signed entry timestamps
  const times: TrustedTime[] = [];
  const seenStamps: Uint8Array[] = [];
  for (const der of m.timestamps) {
    if (seenStamps.some((s) => bytesEqual(s, der))) fail("timestamp", "a timestamp appears twice");
    seenStamps.push(der);
    if (!root) fail("timestamp", "it has a timestamp and no trusted root was given");
    try {
      const t = await verifyTimestamp(der, m.signature, root!.timestampAuthorities);
      times.push({ time: t.time, source: "timestamp-authority", authority: t.authority.uri });
    } catch (e) {
      fail("timestamp", `its RFC 3161 timestamp does not verify: ${(e as Error).message}`);
    }
  }
  const promised = new Map<TlogEntry, string>();
  for (const entry of m.tlogEntries) {
    if (!entry.inclusionPromise) continue;
    if (!root) fail("tlog", "it has a log entry and no trusted root was given");
    try {
      const log = await verifySignedEntryTimestamp(entry, root!.tlogs);
      promised.set(entry, log.baseUrl);
      const t = {
        time: new Date(Number(entry.integratedTime) * 1000),
        source: "tlog" as const,
        authority: log.baseUrl,
      };
      if (
        times.some((x) =>
          x.source === t.source && x.authority === t.authority &&
          x.time.getTime() === t.time.getTime()
        )
      ) {
        fail("timestamp", "a log entry's time appears twice");
      }
      times.push(t);
    } catch (e) {
      if (e instanceof SignatureVerificationError) throw e;
      fail(
        "tlog",
        `its log entry's signed entry timestamp does not verify: ${(e as Error).message}`,
      );
    }
  }
  o.signal?.throwIfAborted();
  const threshold = o.timestampThreshold ?? 1;
  if (times.length < threshold) {
    fail(
      "timestamp",
      times.length === 0
        ? "it has no trusted time (no signed entry timestamp, no RFC 3161 timestamp)"
        : `it has ${times.length} trusted times, ${threshold} are required`,
    );
  }
  times.sort((a, b) => a.time.getTime() - b.time.getTime());

  // 2. the signer
  let key: PublicKey | undefined;
  let signer: KeySigner | CertificateSigner;
  let loggedSigner: LoggedSigner;
  if (leaf) {
    const at = times.length > 0 ? times.map((t) => t.time) : [new Date()];
    let path;
    try {
      path = await verifyCertificatePath(leaf, root!.certificateAuthorities, at, "codeSigning");
    } catch (e) {
      fail("certificate", `its certificate ${(e as Error).message}`);
    }
    const { authority, path: chain } = path!;
    try {
      const sct = await verifyScts(leaf, chain[1] ?? leaf, root!.ctlogs);
      const need = o.ctlogThreshold ?? 1;
      if (sct.verified < need) {
        fail(
          "certificate",
          sct.unknown > 0
            ? "its certificate's SCT is from a CT log that is not in the trusted root"
            : `its certificate has ${sct.verified} verified SCTs, ${need} required`,
        );
      }
    } catch (e) {
      if (e instanceof SignatureVerificationError) throw e;
      fail("certificate", `its certificate's SCT: ${(e as Error).message}`);
    }
    try {
      key = await certificateKey(leaf);
    } catch (e) {
      fail("certificate", `its certificate's key is unusable: ${(e as Error).message}`);
    }
    const san = leaf.subjectAltNames[0]?.value ?? "";
    signer = {
      type: "certificate",
      identity: san,
      subjectAltNames: leaf.subjectAltNames,
      issuer: leaf.claims.issuer ?? "",
      claims: leaf.claims,
      certificateFingerprint: await leaf.fingerprint(),
      authority: authority.uri,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
    };
    loggedSigner = { certificate: leaf.der };
  } else {
    for (const k of o.keys!) {
      if (await k.verify(m.signed, m.signature, m.hash ? { hash: m.hash } : {})) {
        key = k;
        break;
      }
    }
    if (!key) {
      fail(
        "key",
        o.keys!.length === 1
          ? "it is not signed by the given key"
          : `it is not signed by any of the ${o.keys!.length} given keys`,
      );
    }
    signer = { type: "key", fingerprint: await key!.fingerprint(), algorithm: key!.algorithm };
    loggedSigner = { spki: key!.spki };
  }
  o.signal?.throwIfAborted();

  // 3. the transparency log entries: inclusion (promise or proof) and the body
  const verified: VerifiedTlogEntry[] = [];
  const distinct = new Set<string>();
  for (const entry of m.tlogEntries) {
    let log = promised.get(entry);
    let proof = false;
    if (entry.inclusionProof) {
      try {
        log = (await verifyInclusionProof(entry, root?.tlogs ?? [])).baseUrl;
        proof = true;
      } catch (e) {
        fail("tlog", `its log entry's inclusion proof: ${(e as Error).message}`);
      }
    }
    if (log === undefined) {
      fail("tlog", "its log entry has neither an inclusion promise nor a proof");
    }
    try {
      await verifyLoggedBody(entry, m.logged, loggedSigner);
    } catch (e) {
      fail("tlog", `its log entry: ${(e as Error).message}`);
    }
    distinct.add(`${toHex(entry.logId)}/${entry.logIndex}`);
    const integrated = promised.has(entry)
      ? { integratedTime: new Date(Number(entry.integratedTime) * 1000) }
      : {};
    verified.push({
      log: log!,
      logIndex: entry.logIndex,
      ...integrated,
      promise: promised.has(entry),
      proof,
    });
  }
  const need = o.tlogThreshold ?? 1;
  if (distinct.size < need) {
    fail(
      "tlog",
      distinct.size === 0
        ? "it is in no transparency log"
        : `it is in ${distinct.size} logs, ${need} required`,
    );
  }
  o.signal?.throwIfAborted();

  // 4. the signature
  if (leaf && !(await key!.verify(m.signed, m.signature, m.hash ? { hash: m.hash } : {}))) {
    fail("signature", "its signature does not verify with its certificate's key");
  }

  // 5. the identity
  if (leaf) {
    let why = "";
    const ok = o.identities!.some((id) => {
      const r = matchIdentity(leaf!, id);
      if (r !== undefined && why === "") why = r;
      return r === undefined;
    });
    if (!ok) fail("identity", why);
  }
  return { signer, times, tlogEntries: verified };
}

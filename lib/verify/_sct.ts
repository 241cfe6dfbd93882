// Signed certificate timestamps embedded in a certificate (RFC 6962 section 3): each SCT is a CT
// log's signature over the precertificate, which is the certificate's TBSCertificate with the SCT
// list extension taken out, together with the SHA-256 of the issuer's public key.

import { bytesEqual, concat, digest } from "./_bytes.ts";
import { children, encode, isContext, parseDer, readOid, sequence } from "./_der.ts";
import { inWindow, type TrustedLog } from "./trusted_root.ts";
import { Ext, type X509Certificate } from "./x509_certificate.ts";
import type { SignatureHash } from "./public_key.ts";

/** One SCT as parsed. */
export interface Sct {
  /** The log's ID (SHA-256 of its key). */
  readonly logId: Uint8Array;
  /** Milliseconds since the epoch. */
  readonly timestamp: bigint;
  /** The whole SCT, for duplicate checks. */
  readonly raw: Uint8Array;
  readonly version: number;
  readonly timestampBytes: Uint8Array;
  readonly extensions: Uint8Array;
  readonly hash: number;
  readonly signatureAlgorithm: number;
  readonly signature: Uint8Array;
}

/** The most SCTs read from one certificate. */
const MAX_SCTS = 32;

/** Parses the TLS-encoded SignedCertificateTimestampList. */
export function parseSctList(list: Uint8Array): Sct[] {
  const view = new DataView(list.buffer, list.byteOffset, list.byteLength);
  if (list.byteLength < 2) throw new Error("the SCT list is cut off");
  const total = view.getUint16(0);
  if (total !== list.byteLength - 2) throw new Error("the SCT list's length is wrong");
  const out: Sct[] = [];
  let at = 2;
  while (at < list.byteLength) {
    if (at + 2 > list.byteLength) throw new Error("an SCT is cut off");
    const len = view.getUint16(at);
    at += 2;
    if (len === 0 || at + len > list.byteLength) throw new Error("an SCT's length is wrong");
    if (out.length === MAX_SCTS) throw new Error(`more than ${MAX_SCTS} SCTs`);
    out.push(parseSct(list.subarray(at, at + len)));
    at += len;
  }
  return out;
}

function parseSct(b: Uint8Array): Sct {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const need = (n: number, at: number) => {
    if (at + n > b.byteLength) throw new Error("an SCT is cut off");
  };
  need(1 + 32 + 8 + 2, 0);
  const version = b[0]!;
  if (version !== 0) throw new Error(`SCT version ${version} is not v1`);
  const logId = b.subarray(1, 33);
  const timestampBytes = b.subarray(33, 41);
  const timestamp = view.getBigUint64(33);
  const extLen = view.getUint16(41);
  let at = 43;
  need(extLen, at);
  const extensions = b.subarray(at, at + extLen);
  at += extLen;
  need(4, at);
  const hash = b[at]!, signatureAlgorithm = b[at + 1]!;
  const sigLen = view.getUint16(at + 2);
  at += 4;
  need(sigLen, at);
  const signature = b.subarray(at, at + sigLen);
  at += sigLen;
  if (at !== b.byteLength) throw new Error("an SCT has trailing bytes");
  return {
    logId,
    timestamp,
    raw: b,
    version,
    timestampBytes,
    extensions,
    hash,
    signatureAlgorithm,
    signature,
  };
}

/** The TBSCertificate with the SCT list extension removed, re-encoded in DER. */
export function precertificateTbs(cert: X509Certificate): Uint8Array {
  const tbs = parseDer(cert.tbs, "tbsCertificate");
  const parts = children(tbs, "tbsCertificate");
  const out: Uint8Array[] = [];
  for (const p of parts) {
    if (!isContext(p, 3)) {
      out.push(p.der);
      continue;
    }
    const list = sequence(children(p, "extensions")[0], "extensions");
    const kept = list.filter((e) =>
      readOid(sequence(e, "extension")[0], "extension") !== Ext.SctList
    );
    if (kept.length > 0) out.push(encode(0xa3, encode(0x30, ...kept.map((e) => e.der))));
  }
  return encode(0x30, ...out);
}

const HASH: Record<number, SignatureHash> = { 4: "SHA-256", 5: "SHA-384", 6: "SHA-512" };

/**
 * Verifies the certificate's SCTs against the trusted CT logs. Returns the number of distinct
 * logs whose SCT verified; throws when an SCT names a trusted log but does not verify, or when
 * the list is malformed. SCTs from logs the root does not know are not counted.
 *
 * @param leaf The certificate.
 * @param issuer The certificate of its issuer (whose key hash is part of the signed data).
 * @param ctlogs The trusted CT logs.
 * @returns The count of logs with a valid SCT.
 */
export async function verifyScts(
  leaf: X509Certificate,
  issuer: X509Certificate,
  ctlogs: readonly TrustedLog[],
): Promise<{ verified: number; unknown: number }> {
  if (!leaf.sctList) return { verified: 0, unknown: 0 };
  const scts = parseSctList(leaf.sctList);
  const tbs = precertificateTbs(leaf);
  if (tbs.byteLength >= 1 << 24) throw new Error("the precertificate is too large");
  const issuerKeyHash = await digest("SHA-256", issuer.spki);
  const logs = new Set<string>();
  let unknown = 0;
  for (const sct of scts) {
    const time = new Date(Number(sct.timestamp));
    const candidates = ctlogs.filter((l) =>
      bytesEqual(l.logId, sct.logId) && inWindow(l.validFor, time)
    );
    if (candidates.length === 0) {
      unknown++;
      continue;
    }
    const hash = HASH[sct.hash];
    const signed = concat(
      new Uint8Array([sct.version, 0]), // signature_type certificate_timestamp
      sct.timestampBytes,
      new Uint8Array([0, 1]), // entry_type precert_entry
      issuerKeyHash,
      new Uint8Array([
        (tbs.byteLength >> 16) & 0xff,
        (tbs.byteLength >> 8) & 0xff,
        tbs.byteLength & 0xff,
      ]),
      tbs,
      new Uint8Array([(sct.extensions.byteLength >> 8) & 0xff, sct.extensions.byteLength & 0xff]),
      sct.extensions,
    );
    let ok = false;
    for (const log of candidates) {
      if (!log.key || !hash) continue;
      const fits = (sct.signatureAlgorithm === 3 && log.key.algorithm.startsWith("ecdsa-")) ||
        (sct.signatureAlgorithm === 1 && log.key.algorithm === "rsa");
      if (!fits) continue;
      if (
        await log.key.verify(signed, sct.signature, {
          hash,
          rsaPadding: "pkcs1",
          ecdsaFormat: "der",
        })
      ) {
        ok = true;
        break;
      }
    }
    if (!ok) throw new Error("its SCT from a trusted CT log does not verify");
    const id = [...sct.logId].join(",");
    logs.add(id);
  }
  return { verified: logs.size, unknown };
}

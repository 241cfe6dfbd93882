// Certificates of the tests' own, for the path-validation and parsing tests: real ECDSA P-256
// signatures (Web Crypto) over a TBSCertificate assembled field by field, so that one test can
// make the certificate a CA would never issue (a leaf that is a CA, an intermediate that is not,
// a path length exceeded, an unknown critical extension, two issuer claims that disagree).

import { encode, encodeOid } from "../../lib/verify/_der.ts";

const te = new TextEncoder();
const seq = (...p: Uint8Array[]) => encode(0x30, ...p);
const ECDSA_SHA256 = seq(encodeOid("1.2.840.10045.4.3.2"));

/** A name with one common name. */
export function name(cn: string): Uint8Array {
  return seq(encode(0x31, seq(encodeOid("2.5.4.3"), encode(0x0c, te.encode(cn)))));
}

function utcTime(d: Date): Uint8Array {
  const p = (n: number) => String(n).padStart(2, "0");
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${
    p(d.getUTCHours())
  }${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return encode(0x17, te.encode(s));
}

function ext(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return seq(
    encodeOid(oid),
    ...(critical ? [encode(0x01, new Uint8Array([0xff]))] : []),
    encode(0x04, value),
  );
}

/** What a test certificate says. */
export interface CertSpec {
  subject: string;
  /** The issuer's name and private key; none: self-signed with `keys`. */
  issuer?: { name: string; key: CryptoKey };
  keys: CryptoKeyPair;
  notBefore?: Date;
  notAfter?: Date;
  /** Basic constraints; undefined: none. */
  ca?: boolean;
  pathLength?: number;
  /** Key usage bits set; undefined: no extension. */
  keyUsage?: ("digitalSignature" | "keyCertSign")[];
  /** Extended key usage OIDs; undefined: none. */
  eku?: string[];
  /** A URI subject alternative name. */
  uri?: string;
  /** More extensions. */
  extra?: { oid: string; critical: boolean; value: Uint8Array }[];
  serial?: number;
}

/** A P-256 key pair. */
export async function keyPair(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

function derSignature(raw: Uint8Array): Uint8Array {
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const m = b.subarray(i);
    return (m[0]! & 0x80) ? encode(0x02, new Uint8Array([0]), m) : encode(0x02, m);
  };
  return seq(int(raw.subarray(0, 32)), int(raw.subarray(32)));
}

/** Makes the certificate's DER. */
export async function makeCert(spec: CertSpec): Promise<Uint8Array> {
  const now = Date.now();
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", spec.keys.publicKey));
  const exts: Uint8Array[] = [];
  if (spec.ca !== undefined) {
    const parts = [...(spec.ca ? [encode(0x01, new Uint8Array([0xff]))] : [])];
    if (spec.pathLength !== undefined) parts.push(encode(0x02, new Uint8Array([spec.pathLength])));
    exts.push(ext("2.5.29.19", true, seq(...parts)));
  }
  if (spec.keyUsage) {
    let bits = 0;
    if (spec.keyUsage.includes("digitalSignature")) bits |= 0x80;
    if (spec.keyUsage.includes("keyCertSign")) bits |= 0x04;
    exts.push(ext("2.5.29.15", true, encode(0x03, new Uint8Array([0, bits]))));
  }
  if (spec.eku) exts.push(ext("2.5.29.37", false, seq(...spec.eku.map(encodeOid))));
  if (spec.uri) exts.push(ext("2.5.29.17", true, seq(encode(0x86, te.encode(spec.uri)))));
  for (const e of spec.extra ?? []) exts.push(ext(e.oid, e.critical, e.value));
  const tbs = seq(
    encode(0xa0, encode(0x02, new Uint8Array([2]))),
    encode(0x02, new Uint8Array([spec.serial ?? 7])),
    ECDSA_SHA256,
    name(spec.issuer?.name ?? spec.subject),
    seq(
      utcTime(spec.notBefore ?? new Date(now - 3600_000)),
      utcTime(spec.notAfter ?? new Date(now + 3600_000)),
    ),
    name(spec.subject),
    spki,
    ...(exts.length > 0 ? [encode(0xa3, seq(...exts))] : []),
  );
  const signer = spec.issuer?.key ?? spec.keys.privateKey;
  const raw = new Uint8Array(
    await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      signer,
      tbs as Uint8Array<ArrayBuffer>,
    ),
  );
  return seq(tbs, ECDSA_SHA256, encode(0x03, new Uint8Array([0]), derSignature(raw)));
}

/** Encodes text as a DER UTF8String (Fulcio's v2 claims). */
export function utf8String(text: string): Uint8Array {
  return encode(0x0c, te.encode(text));
}

/** DER of `depth` SEQUENCEs nested around a NULL (minimal lengths): hostile input for parsers. */
export function nestedDer(depth: number): Uint8Array {
  let inner: Uint8Array = new Uint8Array([0x05, 0x00]);
  for (let i = 0; i < depth; i++) inner = encode(0x30, inner);
  return inner;
}

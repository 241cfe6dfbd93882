/**
 * OpenPGP signature packets (RFC 4880 section 5.2, RFC 9580 section 5.2): versions 3, 4 and 6,
 * their subpackets, what they hash, and their verification with one key.
 *
 * @module
 */

import { type KeyMaterial, verifyWithKey } from "./_openpgp_key_import.ts";
import { concat, OpenPgpFormatError, Reader, toHex } from "./_openpgp_packets.ts";

/** Signature types (RFC 9580 section 5.2.1). */
export const SigType = {
  Binary: 0x00,
  Text: 0x01,
  CertGeneric: 0x10,
  CertPositive: 0x13,
  SubkeyBinding: 0x18,
  PrimaryKeyBinding: 0x19,
  DirectKey: 0x1f,
  KeyRevocation: 0x20,
  SubkeyRevocation: 0x28,
  CertRevocation: 0x30,
} as const;

/** Hash algorithms: OpenPGP id -> Web Crypto name, salt size of a v6 signature. */
const HASHES: Record<number, { name: string; salt: number } | undefined> = {
  2: { name: "SHA-1", salt: 0 },
  8: { name: "SHA-256", salt: 16 },
  9: { name: "SHA-384", salt: 24 },
  10: { name: "SHA-512", salt: 32 },
};
const HASH_NAMES: Record<number, string> = {
  1: "MD5",
  2: "SHA-1",
  3: "RIPEMD-160",
  8: "SHA-256",
  9: "SHA-384",
  10: "SHA-512",
  11: "SHA-224",
  12: "SHA3-256",
  14: "SHA3-512",
};

/** The name of a hash algorithm, for messages. */
export function hashName(id: number): string {
  return HASH_NAMES[id] ?? `hash algorithm ${id}`;
}

/**
 * Subpacket types whose meaning skiff knows, so that a critical one is not an error (RFC 9580
 * section 5.2.3.7: an unknown critical subpacket makes the signature invalid). Trust signatures,
 * regular expressions, designated revokers, notations, signature targets and the like are not
 * interpreted, so they are errors when critical.
 */
const UNDERSTOOD = new Set([2, 3, 4, 7, 9, 11, 16, 21, 22, 23, 25, 27, 29, 30, 32, 33, 34, 39]);

/** A parsed signature packet. */
export interface Signature {
  /** 3, 4 or 6. */
  version: number;
  /** The signature type. */
  type: number;
  /** The public key algorithm. */
  keyAlgorithm: number;
  /** The hash algorithm. */
  hashAlgorithm: number;
  /** What the trailer hashes: v3 the type and creation time, v4/v6 the packet up to the hashed subpackets. */
  hashedArea: Uint8Array;
  /** The creation time (seconds since the epoch), from the hashed area (v4/v6) or the packet (v3). */
  created: number | undefined;
  /** Seconds after creation when the signature expires (0 or undefined: never). */
  expiresAfter: number | undefined;
  /** Seconds after the key's creation when the key expires (0 or undefined: never). */
  keyExpiresAfter: number | undefined;
  /** The first octet of the key flags, when the subpacket is there. */
  keyFlags: number | undefined;
  /** Whether the primary user ID flag is set. */
  primaryUserId: boolean;
  /** Issuer key IDs (hashed or not: a hint to find the key), upper-case hex. */
  issuerKeyIds: string[];
  /** Issuer fingerprints (hashed or not), upper-case hex. */
  issuerFingerprints: string[];
  /** Embedded signatures (the subkey's back-signature in a binding signature). */
  embedded: Uint8Array[];
  /** The left 16 bits of the hash. */
  left16: Uint8Array;
  /** The salt (v6). */
  salt: Uint8Array;
  /** The signature material. */
  material: Uint8Array[];
  /** Why the signature cannot be used at all (an unknown critical subpacket, a missing creation time). */
  unusable: string | undefined;
}

/**
 * Parses a signature packet body.
 *
 * @param body The packet body.
 * @returns The signature.
 * @throws {OpenPgpFormatError} When it is malformed or of an unknown version.
 */
export function parseSignature(body: Uint8Array): Signature {
  const r = new Reader(body, "an OpenPGP signature");
  const version = r.u8();
  const sig: Signature = {
    version,
    type: 0,
    keyAlgorithm: 0,
    hashAlgorithm: 0,
    hashedArea: new Uint8Array(),
    created: undefined,
    expiresAfter: undefined,
    keyExpiresAfter: undefined,
    keyFlags: undefined,
    primaryUserId: false,
    issuerKeyIds: [],
    issuerFingerprints: [],
    embedded: [],
    left16: new Uint8Array(),
    salt: new Uint8Array(),
    material: [],
    unusable: undefined,
  };
  if (version === 3 || version === 2) {
    if (r.u8() !== 5) {
      throw new OpenPgpFormatError("Cannot read an OpenPGP signature: bad v3 length");
    }
    sig.version = 3;
    const start = r.at;
    sig.type = r.u8();
    sig.created = r.u32();
    sig.hashedArea = body.subarray(start, r.at);
    sig.issuerKeyIds.push(toHex(r.bytes(8)));
    sig.keyAlgorithm = r.u8();
    sig.hashAlgorithm = r.u8();
  } else if (version === 4 || version === 6) {
    sig.type = r.u8();
    sig.keyAlgorithm = r.u8();
    sig.hashAlgorithm = r.u8();
    const hashedLength = version === 6 ? r.u32() : r.u16();
    readSubpackets(r.bytes(hashedLength), sig, true);
    sig.hashedArea = body.subarray(0, r.at);
    const unhashedLength = version === 6 ? r.u32() : r.u16();
    readSubpackets(r.bytes(unhashedLength), sig, false);
    if (sig.created === undefined && !sig.unusable) {
      sig.unusable = "it has no creation time";
    }
  } else {
    throw new OpenPgpFormatError(`Cannot read an OpenPGP signature: version ${version}`);
  }
  sig.left16 = r.bytes(2);
  if (version === 6) {
    const saltLength = r.u8();
    sig.salt = r.bytes(saltLength);
  }
  switch (sig.keyAlgorithm) {
    case 1:
    case 3:
      sig.material = [r.mpi()];
      break;
    case 19:
    case 22:
      sig.material = [r.mpi(), r.mpi()];
      break;
    case 27:
      sig.material = [r.bytes(64)];
      break;
    default:
      r.rest(); // an algorithm skiff cannot verify: the caller says so
  }
  r.end();
  return sig;
}

function readSubpackets(area: Uint8Array, sig: Signature, hashed: boolean): void {
  const r = new Reader(area, "OpenPGP signature subpackets");
  while (r.left > 0) {
    const first = r.u8();
    let length: number;
    if (first < 192) length = first;
    else if (first < 255) length = ((first - 192) << 8) + r.u8() + 192;
    else length = r.u32();
    if (length === 0) {
      throw new OpenPgpFormatError("Cannot read an OpenPGP signature: empty subpacket");
    }
    const typeByte = r.u8();
    const data = r.bytes(length - 1);
    const type = typeByte & 0x7f;
    const critical = (typeByte & 0x80) !== 0;
    if (critical && !UNDERSTOOD.has(type) && !sig.unusable) {
      sig.unusable = `it has a critical subpacket of type ${type}`;
    }
    const d = new Reader(data, `an OpenPGP signature subpacket of type ${type}`);
    switch (type) {
      case 16: // issuer key ID: a hint, hashed or not
        sig.issuerKeyIds.push(toHex(d.bytes(8)));
        d.end();
        break;
      case 33: { // issuer fingerprint: a hint, hashed or not
        const v = d.u8();
        const fp = d.rest();
        if ((v === 4 && fp.byteLength === 20) || (v === 6 && fp.byteLength === 32)) {
          sig.issuerFingerprints.push(toHex(fp));
        }
        break;
      }
      case 32: // embedded signature (a back-signature): itself signed, so taken from either area
        sig.embedded.push(data);
        break;
      default:
        if (!hashed) break; // everything else counts only when it is signed
        switch (type) {
          case 2:
            sig.created = d.u32();
            d.end();
            break;
          case 3:
            sig.expiresAfter = d.u32();
            d.end();
            break;
          case 9:
            sig.keyExpiresAfter = d.u32();
            d.end();
            break;
          case 25:
            sig.primaryUserId = d.u8() !== 0;
            break;
          case 27:
            sig.keyFlags = data.byteLength > 0 ? data[0]! : 0;
            break;
        }
    }
  }
}

/**
 * What the signature's hash covers after the signed content: the v3 type and time, or the v4/v6
 * hashed area and its trailer (version, 0xFF, four-byte length).
 */
function trailer(sig: Signature): Uint8Array {
  if (sig.version === 3) return sig.hashedArea;
  const n = sig.hashedArea.byteLength;
  const t = new Uint8Array(n + 6);
  t.set(sig.hashedArea);
  t[n] = sig.version;
  t[n + 1] = 0xff;
  new DataView(t.buffer).setUint32(n + 2, n);
  return t;
}

/** Framing of a key packet inside a hash: 0x99 and a 2-byte length (v4), 0x9B and 4 bytes (v6). */
export function keyFraming(version: number, body: Uint8Array): Uint8Array {
  if (version === 6) {
    const head = new Uint8Array(5);
    head[0] = 0x9b;
    new DataView(head.buffer).setUint32(1, body.byteLength);
    return concat([head, body]);
  }
  return concat([new Uint8Array([0x99, body.byteLength >> 8, body.byteLength & 0xff]), body]);
}

/** Framing of a user ID (0xB4) or attribute (0xD1) inside a hash, with a 4-byte length. */
export function userIdFraming(attribute: boolean, data: Uint8Array): Uint8Array {
  const head = new Uint8Array(5);
  head[0] = attribute ? 0xd1 : 0xb4;
  new DataView(head.buffer).setUint32(1, data.byteLength);
  return concat([head, data]);
}

/** Options for {@linkcode verifySignature}. */
export interface VerifySignatureOptions {
  /** Accept SHA-1 (only for signatures over keys made before 2023-02-01). */
  allowSha1: boolean;
}

/**
 * Checks a signature's cryptography with one key: the hash of the salt (v6), the content and the
 * trailer, its left 16 bits, then the key's verification.
 *
 * @param sig The signature.
 * @param content What it signs before the trailer (the literal data; framed keys and user IDs).
 * @param key The key's version, algorithm and material.
 * @param options Whether SHA-1 is allowed here.
 * @returns `undefined` when valid, else why not.
 */
export async function verifySignature(
  sig: Signature,
  content: Uint8Array,
  key: { version: number; algorithm: number; material: KeyMaterial },
  options: VerifySignatureOptions,
): Promise<string | undefined> {
  if (sig.unusable) return `the signature cannot be used: ${sig.unusable}`;
  const hash = HASHES[sig.hashAlgorithm];
  if (!hash) {
    return `the signature uses ${hashName(sig.hashAlgorithm)}, which skiff does not accept`;
  }
  if (hash.name === "SHA-1" && !options.allowSha1) {
    return "the signature uses SHA-1, which is not accepted for this signature";
  }
  if (key.material.kind === "unsupported") return `the key cannot verify: ${key.material.why}`;
  if ((key.version === 6) !== (sig.version === 6)) {
    return `a version ${sig.version} signature cannot come from a version ${key.version} key`;
  }
  const family = (a: number) => (a === 3 ? 1 : a);
  if (family(sig.keyAlgorithm) !== family(key.algorithm)) {
    return "the signature's algorithm is not the key's";
  }
  if (sig.version === 6 && sig.salt.byteLength !== hash.salt) {
    return "the signature's salt does not fit its hash";
  }
  const hashed = concat([sig.salt, content, trailer(sig)]);
  const digest = new Uint8Array(
    await crypto.subtle.digest(hash.name, hashed as Uint8Array<ArrayBuffer>),
  );
  if (digest[0] !== sig.left16[0] || digest[1] !== sig.left16[1]) {
    return "the signature does not match the data (hash prefix)";
  }
  let ok = false;
  try {
    ok = await verifyWithKey(
      key.material,
      sig.keyAlgorithm,
      hash.name,
      hashed,
      digest,
      sig.material,
    );
  } catch (e) {
    return `the key cannot verify: ${(e as Error).message}`;
  }
  return ok ? undefined : "the signature does not verify";
}

/**
 * OpenPGP public key material to Web Crypto, and the one verification call: RSA PKCS#1 v1.5,
 * ECDSA on P-256/P-384/P-521, Ed25519 (the legacy EdDSA algorithm 22 and RFC 9580's algorithm 27).
 * Kept small and apart so it can join the module that imports the sigstore side's keys.
 *
 * `crypto.subtle` only: `node:crypto.verify(null, ...)` throws on EC keys in Deno 2.9.
 *
 * @module
 */

import { OpenPgpFormatError, type Reader } from "./_openpgp_packets.ts";

/** Public key algorithms (RFC 9580 section 9.1). */
export const PublicKeyAlgorithm = {
  RsaEncryptSign: 1,
  RsaEncrypt: 2,
  RsaSign: 3,
  ElGamal: 16,
  Dsa: 17,
  Ecdh: 18,
  Ecdsa: 19,
  EdDsaLegacy: 22,
  X25519: 25,
  X448: 26,
  Ed25519: 27,
  Ed448: 28,
} as const;

/** The key material skiff can verify with, or why it cannot. */
export type KeyMaterial =
  | { kind: "rsa"; n: Uint8Array; e: Uint8Array; bits: number }
  | { kind: "ecdsa"; curve: "P-256" | "P-384" | "P-521"; point: Uint8Array }
  | { kind: "ed25519"; key: Uint8Array }
  | { kind: "unsupported"; why: string };

/** The smallest RSA modulus accepted, in bits (as sequoia's standard policy). */
export const MIN_RSA_BITS = 2048;

const CURVES: [string, "P-256" | "P-384" | "P-521", number][] = [
  ["2a8648ce3d030107", "P-256", 32],
  ["2b81040022", "P-384", 48],
  ["2b81040023", "P-521", 66],
];
const ED25519_LEGACY_OID = "2b06010401da470f01";

/** Names of the public key algorithms, for messages. */
export function algorithmName(id: number): string {
  const names: Record<number, string> = {
    1: "RSA",
    2: "RSA (encrypt only)",
    3: "RSA (sign only)",
    16: "ElGamal",
    17: "DSA",
    18: "ECDH",
    19: "ECDSA",
    22: "EdDSA",
    25: "X25519",
    26: "X448",
    27: "Ed25519",
    28: "Ed448",
  };
  return names[id] ?? `algorithm ${id}`;
}

/**
 * Reads the key material that follows the algorithm octet of a public key packet.
 *
 * @param algorithm The public key algorithm.
 * @param r The reader, at the material.
 * @returns The material (or why it cannot be used for verification).
 */
export function readKeyMaterial(algorithm: number, r: Reader): KeyMaterial {
  switch (algorithm) {
    case 1:
    case 3: {
      const n = r.mpi(), e = r.mpi();
      const bits = n.byteLength === 0 ? 0 : (n.byteLength - 1) * 8 + bitLength(n[0]!);
      if (bits < MIN_RSA_BITS) {
        return { kind: "unsupported", why: `RSA key of ${bits} bits (at least ${MIN_RSA_BITS})` };
      }
      return { kind: "rsa", n, e, bits };
    }
    case 19: {
      const oid = readOid(r);
      const point = r.mpi();
      const curve = CURVES.find(([o]) => o === oid);
      if (!curve) return { kind: "unsupported", why: `ECDSA on curve OID ${oid}` };
      if (point.byteLength !== 1 + 2 * curve[2] || point[0] !== 0x04) {
        throw new OpenPgpFormatError("Cannot read OpenPGP key: a malformed ECDSA point");
      }
      return { kind: "ecdsa", curve: curve[1], point };
    }
    case 22: {
      const oid = readOid(r);
      const point = r.mpi();
      if (oid !== ED25519_LEGACY_OID) return { kind: "unsupported", why: `EdDSA on OID ${oid}` };
      if (point.byteLength !== 33 || point[0] !== 0x40) {
        throw new OpenPgpFormatError("Cannot read OpenPGP key: a malformed Ed25519 point");
      }
      return { kind: "ed25519", key: point.subarray(1) };
    }
    case 27:
      return { kind: "ed25519", key: r.bytes(32) };
    default:
      r.rest();
      return { kind: "unsupported", why: `${algorithmName(algorithm)} keys cannot sign here` };
  }
}

function readOid(r: Reader): string {
  const n = r.u8();
  if (n === 0 || n === 0xff) throw new OpenPgpFormatError("Cannot read OpenPGP key: a bad OID");
  let s = "";
  for (const b of r.bytes(n)) s += b.toString(16).padStart(2, "0");
  return s;
}

function bitLength(b: number): number {
  let n = 0;
  while (b > 0) {
    n++;
    b >>= 1;
  }
  return n;
}

/**
 * Verifies signature material with a key.
 *
 * @param material The key.
 * @param signatureAlgorithm The signature's public key algorithm (it must fit the key).
 * @param hash The Web Crypto hash name of the signature's hash algorithm.
 * @param hashed The data the signature covers (hashed here for RSA and ECDSA).
 * @param digest The hash of `hashed` (EdDSA signs the digest itself).
 * @param signature The signature's material (its MPIs or native bytes).
 * @returns Whether the signature is valid.
 */
export async function verifyWithKey(
  material: KeyMaterial,
  signatureAlgorithm: number,
  hash: string,
  hashed: Uint8Array,
  digest: Uint8Array,
  signature: Uint8Array[],
): Promise<boolean> {
  const sig = (parts: Uint8Array[], size: number): Uint8Array<ArrayBuffer> | undefined => {
    const out = new Uint8Array(size * parts.length);
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (p.byteLength > size) return undefined;
      out.set(p, i * size + size - p.byteLength);
    }
    return out;
  };
  const data = hashed as Uint8Array<ArrayBuffer>;
  switch (material.kind) {
    case "rsa": {
      if (signatureAlgorithm !== 1 && signatureAlgorithm !== 3) return false;
      const s = sig(signature.slice(0, 1), material.n.byteLength);
      if (!s || signature.length !== 1) return false;
      const key = await crypto.subtle.importKey(
        "jwk",
        { kty: "RSA", n: b64url(material.n), e: b64url(material.e), ext: true },
        { name: "RSASSA-PKCS1-v1_5", hash },
        false,
        ["verify"],
      );
      return await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, s, data);
    }
    case "ecdsa": {
      if (signatureAlgorithm !== 19 || signature.length !== 2) return false;
      const size = (material.point.byteLength - 1) / 2;
      const s = sig(signature, size);
      if (!s) return false;
      const key = await crypto.subtle.importKey(
        "raw",
        material.point as Uint8Array<ArrayBuffer>,
        { name: "ECDSA", namedCurve: material.curve },
        false,
        ["verify"],
      );
      return await crypto.subtle.verify({ name: "ECDSA", hash }, key, s, data);
    }
    case "ed25519": {
      let s: Uint8Array<ArrayBuffer> | undefined;
      if (signatureAlgorithm === 22 && signature.length === 2) s = sig(signature, 32);
      else if (signatureAlgorithm === 27 && signature.length === 1) s = sig(signature, 64);
      if (!s || s.byteLength !== 64) return false;
      const key = await crypto.subtle.importKey(
        "raw",
        material.key as Uint8Array<ArrayBuffer>,
        { name: "Ed25519" },
        false,
        ["verify"],
      );
      return await crypto.subtle.verify("Ed25519", key, s, digest as Uint8Array<ArrayBuffer>);
    }
    default:
      return false;
  }
}

function b64url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

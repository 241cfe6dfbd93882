// Signature algorithm identifiers of X.509 and CMS, mapped to how a PublicKey checks them.

import {
  children,
  DerError,
  type DerNode,
  isContext,
  isUniversal,
  readOid,
  readSmallInt,
  sequence,
  Tag,
} from "./_der.ts";
import type { PublicKey, SignatureAlgorithm, SignatureHash } from "./public_key.ts";

const HASHES: Record<string, SignatureHash> = {
  "2.16.840.1.101.3.4.2.1": "SHA-256",
  "2.16.840.1.101.3.4.2.2": "SHA-384",
  "2.16.840.1.101.3.4.2.3": "SHA-512",
};

/** The OID of a digest algorithm to its Web Crypto name (SHA-2 only). */
export function hashOfOid(oid: string): SignatureHash | undefined {
  return HASHES[oid];
}

const SIMPLE: Record<string, { key: "ecdsa" | "rsa" | "ed25519"; hash?: SignatureHash }> = {
  "1.2.840.10045.4.3.2": { key: "ecdsa", hash: "SHA-256" },
  "1.2.840.10045.4.3.3": { key: "ecdsa", hash: "SHA-384" },
  "1.2.840.10045.4.3.4": { key: "ecdsa", hash: "SHA-512" },
  "1.2.840.113549.1.1.11": { key: "rsa", hash: "SHA-256" },
  "1.2.840.113549.1.1.12": { key: "rsa", hash: "SHA-384" },
  "1.2.840.113549.1.1.13": { key: "rsa", hash: "SHA-512" },
  "1.3.101.112": { key: "ed25519" },
};
const RSA_PSS = "1.2.840.113549.1.1.10";
const MGF1 = "1.2.840.113549.1.1.8";

/**
 * Reads an AlgorithmIdentifier of a signature (X.509 `signatureAlgorithm`, a CMS signer's).
 *
 * @param n The AlgorithmIdentifier.
 * @param what What it is, for messages.
 * @returns The algorithm, or a DerError for one skiff does not verify.
 */
export function readSignatureAlgorithm(n: DerNode | undefined, what: string): SignatureAlgorithm {
  const parts = sequence(n, what);
  const oid = readOid(parts[0], what);
  const simple = SIMPLE[oid];
  if (simple) {
    // ECDSA and Ed25519 take no parameters; RSA PKCS #1 takes NULL or none
    const params = parts[1];
    if (parts.length > 2 || (params && !(simple.key === "rsa" && isUniversal(params, Tag.Null)))) {
      throw new DerError(`${what}: unexpected algorithm parameters`);
    }
    return {
      oid,
      key: simple.key,
      options: simple.hash ? { hash: simple.hash, rsaPadding: "pkcs1", ecdsaFormat: "der" } : {},
    };
  }
  if (oid === RSA_PSS) {
    // RSASSA-PSS-params: hash [0], mask generation [1] (MGF1 with the same hash), salt length
    // [2] (the hash length), trailer [3] (1): the only form sigstore and Web Crypto use
    const params = sequence(parts[1], `${what} parameters`);
    let hash: SignatureHash | undefined;
    let mgfHash: SignatureHash | undefined;
    let salt = 20;
    for (const p of params) {
      const inner = children(p, what)[0];
      if (isContext(p, 0)) hash = HASHES[readOid(sequence(inner, what)[0], what)];
      else if (isContext(p, 1)) {
        const mgf = sequence(inner, what);
        if (readOid(mgf[0], what) !== MGF1) throw new DerError(`${what}: PSS mask is not MGF1`);
        mgfHash = HASHES[readOid(sequence(mgf[1], what)[0], what)];
      } else if (isContext(p, 2)) salt = readSmallInt(inner, what);
      else if (isContext(p, 3)) {
        if (readSmallInt(inner, what) !== 1) throw new DerError(`${what}: PSS trailer is not 1`);
      } else throw new DerError(`${what}: unknown PSS parameter`);
    }
    const length = hash === "SHA-256" ? 32 : hash === "SHA-384" ? 48 : hash === "SHA-512" ? 64 : 0;
    if (!hash || mgfHash !== hash || salt !== length) {
      throw new DerError(
        `${what}: PSS parameters other than SHA-2 with MGF1 and salt = hash length`,
      );
    }
    return { oid, key: "rsa", options: { hash, rsaPadding: "pss" } };
  }
  throw new DerError(`${what}: unsupported signature algorithm ${oid}`);
}

/** Whether a key can make signatures of an algorithm. */
export function keyFits(key: PublicKey, alg: SignatureAlgorithm): boolean {
  if (alg.key === "ecdsa") return key.algorithm.startsWith("ecdsa-");
  return key.algorithm === alg.key;
}

/**
 * Public keys and signature checks with Web Crypto: ECDSA (P-256, P-384, P-521), Ed25519 and RSA
 * (PKCS #1 v1.5 and PSS, 2048 to 4096 bits), with SHA-256, SHA-384 or SHA-512.
 *
 * A key comes from a PEM file (`PUBLIC KEY`, as a `cosign.pub` holds, or `RSA PUBLIC KEY`), from
 * DER (a certificate's SubjectPublicKeyInfo), or from raw material (an RSA modulus and exponent,
 * an EC point, an Ed25519 key, a JWK), which is what OpenPGP keys carry. Every form is turned into
 * one canonical SubjectPublicKeyInfo, so a key has one fingerprint however it was given.
 * `node:crypto.verify(null, ...)` is not used: it throws on EC keys under Deno 2.9.
 *
 * @module
 */

import { bytesEqual, digest, fromBase64, parsePem, toHex } from "./_bytes.ts";
import {
  DerError,
  encode,
  encodeOid,
  encodeUnsigned,
  expect,
  parseDer,
  readBitString,
  readOid,
  readUnsigned,
  sequence,
  Tag,
} from "./_der.ts";

/** The kinds of key skiff verifies with. */
export type KeyAlgorithm = "ecdsa-p256" | "ecdsa-p384" | "ecdsa-p521" | "ed25519" | "rsa";

/** A hash, by its Web Crypto name. */
export type SignatureHash = "SHA-256" | "SHA-384" | "SHA-512";

/** How a signature is checked. */
export interface VerifySignatureOptions {
  /**
   * The hash the signer used (not used by Ed25519).
   * @default "SHA-256" for P-256 and RSA, "SHA-384" for P-384, "SHA-512" for P-521
   */
  hash?: SignatureHash;
  /** RSA padding: PKCS #1 v1.5 or PSS (salt length = hash length). @default "pkcs1" */
  rsaPadding?: "pkcs1" | "pss";
  /**
   * ECDSA signature encoding: DER `SEQUENCE { r, s }` as X.509, CMS, sigstore and cosign use,
   * `raw` r||s (each padded to the curve size) as Web Crypto and OpenPGP's MPIs give it, or
   * `auto`: DER when the bytes parse as such, else raw when the length fits.
   * @default "auto"
   */
  ecdsaFormat?: "der" | "raw" | "auto";
}

/** A signature algorithm of a certificate or a CMS signer: the key family it needs and how to verify. */
export interface SignatureAlgorithm {
  /** The algorithm's OID. */
  readonly oid: string;
  /** The key family it needs. */
  readonly key: "ecdsa" | "rsa" | "ed25519";
  /** The verify options (hash, padding). */
  readonly options: VerifySignatureOptions;
}

/** The smallest and largest RSA modulus accepted, in bits. */
export const RSA_BITS = { min: 2048, max: 4096 } as const;

const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const OID_RSA = "1.2.840.113549.1.1.1";
const OID_ED25519 = "1.3.101.112";
const CURVES: Record<
  string,
  { alg: KeyAlgorithm; curve: string; size: number; hash: SignatureHash }
> = {
  "1.2.840.10045.3.1.7": { alg: "ecdsa-p256", curve: "P-256", size: 32, hash: "SHA-256" },
  "1.3.132.0.34": { alg: "ecdsa-p384", curve: "P-384", size: 48, hash: "SHA-384" },
  "1.3.132.0.35": { alg: "ecdsa-p521", curve: "P-521", size: 66, hash: "SHA-512" },
};
const CURVE_OIDS: Record<string, string> = {
  "P-256": "1.2.840.10045.3.1.7",
  "P-384": "1.3.132.0.34",
  "P-521": "1.3.132.0.35",
};

/** The largest key encoding read (an RSA 4096 SPKI is about 550 bytes). */
const MAX_KEY_BYTES = 4096;

/**
 * A public key that verifies signatures. Make one with {@link PublicKey.fromPem},
 * {@link PublicKey.fromSpki} or the raw-material constructors.
 *
 * @example Verify an ECDSA P-256 signature
 * ```ts
 * import { PublicKey } from "./public_key.ts";
 * import assert from "node:assert/strict";
 *
 * const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
 *   "sign",
 *   "verify",
 * ]) as CryptoKeyPair;
 * const data = new TextEncoder().encode("hello");
 * const sig = new Uint8Array(
 *   await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, data),
 * );
 * const key = await PublicKey.fromSpki(
 *   new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey)),
 * );
 * assert.equal(key.algorithm, "ecdsa-p256");
 * assert.ok(await key.verify(data, sig));
 * assert.ok(!(await key.verify(new TextEncoder().encode("other"), sig)));
 * ```
 */
export class PublicKey {
  /** The kind of key. */
  readonly algorithm: KeyAlgorithm;
  /** Its canonical DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  /** The RSA modulus size or the curve size, in bits. */
  readonly bits: number;
  #curve?: { curve: string; size: number; hash: SignatureHash };
  #keys = new Map<string, Promise<CryptoKey>>();

  private constructor(
    algorithm: KeyAlgorithm,
    spki: Uint8Array,
    bits: number,
    curve?: { curve: string; size: number; hash: SignatureHash },
  ) {
    this.algorithm = algorithm;
    this.spki = spki;
    this.bits = bits;
    if (curve) this.#curve = curve;
  }

  /**
   * Reads a DER SubjectPublicKeyInfo (ECDSA on P-256/P-384/P-521, Ed25519, RSA).
   *
   * @param der The encoding.
   * @returns The key, checked to import into Web Crypto.
   * @throws {SyntaxError} When it is malformed or of an algorithm skiff does not verify with.
   *
   * @example A key from a certificate's SPKI
   * ```ts
   * import { PublicKey } from "./public_key.ts";
   * import assert from "node:assert/strict";
   *
   * const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]) as CryptoKeyPair;
   * const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
   * assert.equal((await PublicKey.fromSpki(spki)).algorithm, "ed25519");
   * ```
   */
  static async fromSpki(der: Uint8Array): Promise<PublicKey> {
    let key: PublicKey;
    try {
      key = PublicKey.#parseSpki(der);
    } catch (e) {
      if (e instanceof DerError) throw new SyntaxError(`Cannot read public key: ${e.message}`);
      throw e;
    }
    await key.#import(key.#defaultParams());
    return key;
  }

  static #parseSpki(der: Uint8Array): PublicKey {
    const top = sequence(parseDer(der, "public key", { maxBytes: MAX_KEY_BYTES }), "public key");
    if (top.length !== 2) throw new DerError("public key: expected algorithm and key");
    const alg = sequence(top[0], "public key algorithm");
    const oid = readOid(alg[0], "public key algorithm");
    const { bytes, unused } = readBitString(top[1], "public key bits");
    if (unused !== 0) throw new DerError("public key: unused bits in the key");
    if (oid === OID_EC_PUBLIC_KEY) {
      const curveOid = readOid(alg[1], "public key curve");
      const c = CURVES[curveOid];
      if (!c) throw new SyntaxError(`Cannot read public key: unsupported curve ${curveOid}`);
      if (alg.length !== 2) throw new DerError("public key: extra algorithm parameters");
      if (bytes.byteLength !== 1 + 2 * c.size || bytes[0] !== 0x04) {
        throw new SyntaxError(`Cannot read public key: ${c.curve} point must be uncompressed`);
      }
      return new PublicKey(c.alg, der.slice(), c.size === 66 ? 521 : c.size * 8, c);
    }
    if (oid === OID_ED25519) {
      if (alg.length !== 1) throw new DerError("public key: Ed25519 takes no parameters");
      if (bytes.byteLength !== 32) {
        throw new SyntaxError("Cannot read public key: Ed25519 is 32 bytes");
      }
      return new PublicKey("ed25519", der.slice(), 256);
    }
    if (oid === OID_RSA) {
      if (alg.length === 2) expect(alg[1], Tag.Null, "RSA parameters");
      else if (alg.length !== 1) throw new DerError("public key: bad RSA parameters");
      const rsa = sequence(parseDer(bytes, "RSA public key"), "RSA public key");
      if (rsa.length !== 2) throw new DerError("RSA public key: expected modulus and exponent");
      const n = readUnsigned(rsa[0], "RSA modulus");
      readUnsigned(rsa[1], "RSA exponent");
      const bits = bitLength(n);
      if (bits < RSA_BITS.min || bits > RSA_BITS.max) {
        throw new SyntaxError(
          `Cannot read public key: RSA ${bits} bits is outside ${RSA_BITS.min}-${RSA_BITS.max}`,
        );
      }
      return new PublicKey("rsa", der.slice(), bits);
    }
    throw new SyntaxError(`Cannot read public key: unsupported algorithm ${oid}`);
  }

  /**
   * Reads the first public key of a PEM text: `PUBLIC KEY` (SubjectPublicKeyInfo) or
   * `RSA PUBLIC KEY` (PKCS #1).
   *
   * @param pem The PEM text, e.g. a `cosign.pub`.
   * @returns The key.
   * @throws {SyntaxError} When there is no such block or the key is unsupported.
   *
   * @example A cosign.pub
   * ```ts
   * import { PublicKey } from "./public_key.ts";
   * import assert from "node:assert/strict";
   *
   * const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign", "verify"]) as CryptoKeyPair;
   * const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
   * const pem = `-----BEGIN PUBLIC KEY-----\n${btoa(String.fromCharCode(...spki))}\n-----END PUBLIC KEY-----\n`;
   * assert.equal((await PublicKey.fromPem(pem)).algorithm, "ecdsa-p384");
   * ```
   */
  static async fromPem(pem: string): Promise<PublicKey> {
    if (pem.length > 64 * 1024) {
      throw new SyntaxError("Cannot read public key: PEM text over 64 KiB");
    }
    for (const block of parsePem(pem, "public key PEM")) {
      if (block.label === "PUBLIC KEY") return await PublicKey.fromSpki(block.der);
      if (block.label === "RSA PUBLIC KEY") {
        let parts: Uint8Array[];
        try {
          const rsa = sequence(parseDer(block.der, "RSA public key"), "RSA public key");
          if (rsa.length !== 2) throw new DerError("RSA public key: expected modulus and exponent");
          parts = [readUnsigned(rsa[0], "RSA modulus"), readUnsigned(rsa[1], "RSA exponent")];
        } catch (e) {
          if (e instanceof DerError) throw new SyntaxError(`Cannot read public key: ${e.message}`);
          throw e;
        }
        return await PublicKey.fromRsa(parts[0]!, parts[1]!);
      }
    }
    throw new SyntaxError("Cannot read public key: no PUBLIC KEY or RSA PUBLIC KEY block");
  }

  /**
   * An RSA key from its modulus and public exponent (big-endian magnitudes, as OpenPGP MPIs).
   *
   * @param n The modulus.
   * @param e The public exponent.
   * @returns The key.
   *
   * @example From components
   * ```ts
   * import { PublicKey } from "./public_key.ts";
   * import assert from "node:assert/strict";
   *
   * const pair = await crypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"]) as CryptoKeyPair;
   * const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
   * const b64 = (s: string) =>
   *   Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
   * const key = await PublicKey.fromRsa(b64(jwk.n!), b64(jwk.e!));
   * assert.equal(key.bits, 2048);
   * ```
   */
  static async fromRsa(n: Uint8Array, e: Uint8Array): Promise<PublicKey> {
    const rsa = encode(0x30, encodeUnsigned(n), encodeUnsigned(e));
    const alg = encode(0x30, encodeOid(OID_RSA), encode(Tag.Null));
    return await PublicKey.fromSpki(encode(0x30, alg, bitString(rsa)));
  }

  /**
   * An ECDSA key from its curve and uncompressed point (`04 || x || y`).
   *
   * @param curve The curve.
   * @param point The point.
   * @returns The key.
   *
   * @example From a raw point
   * ```ts
   * import { PublicKey } from "./public_key.ts";
   * import assert from "node:assert/strict";
   *
   * const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]) as CryptoKeyPair;
   * const point = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
   * assert.equal((await PublicKey.fromEcPoint("P-256", point)).algorithm, "ecdsa-p256");
   * ```
   */
  static async fromEcPoint(
    curve: "P-256" | "P-384" | "P-521",
    point: Uint8Array,
  ): Promise<PublicKey> {
    const oid = CURVE_OIDS[curve];
    if (!oid) throw new TypeError(`Cannot read public key: unsupported curve ${curve}`);
    const alg = encode(0x30, encodeOid(OID_EC_PUBLIC_KEY), encodeOid(oid));
    return await PublicKey.fromSpki(encode(0x30, alg, bitString(point)));
  }

  /**
   * An Ed25519 key from its 32 raw bytes.
   *
   * @param raw The key.
   * @returns The key.
   *
   * @example From raw bytes
   * ```ts
   * import { PublicKey } from "./public_key.ts";
   * import assert from "node:assert/strict";
   *
   * const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]) as CryptoKeyPair;
   * const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
   * assert.equal((await PublicKey.fromEd25519(raw)).bits, 256);
   * ```
   */
  static async fromEd25519(raw: Uint8Array): Promise<PublicKey> {
    const alg = encode(0x30, encodeOid(OID_ED25519));
    return await PublicKey.fromSpki(encode(0x30, alg, bitString(raw)));
  }

  /**
   * A key from a JWK (`kty` `EC` with `crv` and `x`/`y`, `OKP` with `crv: "Ed25519"`, `RSA` with
   * `n`/`e`).
   *
   * @param jwk The key.
   * @returns The key.
   *
   * @example From a JWK
   * ```ts
   * import { PublicKey } from "./public_key.ts";
   * import assert from "node:assert/strict";
   *
   * const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign", "verify"]) as CryptoKeyPair;
   * const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
   * assert.equal((await PublicKey.fromJwk(jwk)).algorithm, "ecdsa-p384");
   * ```
   */
  static async fromJwk(jwk: JsonWebKey): Promise<PublicKey> {
    const b = (s: string | undefined, what: string) => {
      if (typeof s !== "string" || s.length > 2048) {
        throw new SyntaxError(`Cannot read public key: JWK ${what} is missing`);
      }
      return fromBase64(s, `JWK ${what}`);
    };
    if (jwk.kty === "RSA") return await PublicKey.fromRsa(b(jwk.n, "n"), b(jwk.e, "e"));
    if (jwk.kty === "OKP" && jwk.crv === "Ed25519") {
      return await PublicKey.fromEd25519(b(jwk.x, "x"));
    }
    if (jwk.kty === "EC" && (jwk.crv === "P-256" || jwk.crv === "P-384" || jwk.crv === "P-521")) {
      const size = jwk.crv === "P-521" ? 66 : jwk.crv === "P-384" ? 48 : 32;
      const x = b(jwk.x, "x"), y = b(jwk.y, "y");
      if (x.byteLength !== size || y.byteLength !== size) {
        throw new SyntaxError(
          `Cannot read public key: JWK ${jwk.crv} coordinates are not ${size} bytes`,
        );
      }
      const point = new Uint8Array(1 + 2 * size);
      point[0] = 4;
      point.set(x, 1);
      point.set(y, 1 + size);
      return await PublicKey.fromEcPoint(jwk.crv, point);
    }
    throw new SyntaxError(
      `Cannot read public key: unsupported JWK ${String(jwk.kty)} ${String(jwk.crv)}`,
    );
  }

  /**
   * The key's fingerprint: `sha256:` and the hex SHA-256 of its DER SubjectPublicKeyInfo (what
   * sigstore calls a key's log ID when the key is a log's).
   *
   * @returns The fingerprint.
   *
   * @example Two forms of one key have one fingerprint
   * ```ts
   * import { PublicKey } from "./public_key.ts";
   * import assert from "node:assert/strict";
   *
   * const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]) as CryptoKeyPair;
   * const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
   * const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
   * assert.equal(
   *   await (await PublicKey.fromEd25519(raw)).fingerprint(),
   *   await (await PublicKey.fromSpki(spki)).fingerprint(),
   * );
   * ```
   */
  async fingerprint(): Promise<string> {
    return `sha256:${toHex(await digest("SHA-256", this.spki))}`;
  }

  /** Whether another key is the same key (same SubjectPublicKeyInfo). */
  equals(other: PublicKey): boolean {
    return bytesEqual(this.spki, other.spki);
  }

  /**
   * Checks a signature over `data`. A malformed signature is `false`, never an exception.
   *
   * @param data The signed bytes (hashed here, as the algorithm says).
   * @param signature The signature.
   * @param options The hash, RSA padding and ECDSA encoding.
   * @returns Whether the signature is valid.
   *
   * @example RSA PSS with SHA-384
   * ```ts
   * import { PublicKey } from "./public_key.ts";
   * import assert from "node:assert/strict";
   *
   * const pair = await crypto.subtle.generateKey({ name: "RSA-PSS", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-384" }, true, ["sign", "verify"]) as CryptoKeyPair;
   * const data = new Uint8Array([1, 2, 3]);
   * const sig = new Uint8Array(await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 48 }, pair.privateKey, data));
   * const key = await PublicKey.fromSpki(new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey)));
   * assert.ok(await key.verify(data, sig, { hash: "SHA-384", rsaPadding: "pss" }));
   * assert.ok(!(await key.verify(data, sig, { hash: "SHA-384" })));
   * ```
   */
  async verify(
    data: Uint8Array,
    signature: Uint8Array,
    options: VerifySignatureOptions = {},
  ): Promise<boolean> {
    if (signature.byteLength === 0 || signature.byteLength > 1024) return false;
    const hash = options.hash ?? this.#curve?.hash ?? "SHA-256";
    const buf = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;
    try {
      switch (this.algorithm) {
        case "ed25519":
          return await crypto.subtle.verify(
            "Ed25519",
            await this.#import({ name: "Ed25519" }),
            buf(signature),
            buf(data),
          );
        case "rsa": {
          const pss = options.rsaPadding === "pss";
          const name = pss ? "RSA-PSS" : "RSASSA-PKCS1-v1_5";
          const key = await this.#import({ name, hash });
          const saltLength = hash === "SHA-256" ? 32 : hash === "SHA-384" ? 48 : 64;
          return await crypto.subtle.verify(
            pss ? { name, saltLength } : { name },
            key,
            buf(signature),
            buf(data),
          );
        }
        default: {
          const c = this.#curve!;
          const raw = ecdsaRaw(signature, c.size, options.ecdsaFormat ?? "auto");
          if (!raw) return false;
          const key = await this.#import({ name: "ECDSA", namedCurve: c.curve });
          return await crypto.subtle.verify({ name: "ECDSA", hash }, key, buf(raw), buf(data));
        }
      }
    } catch {
      return false;
    }
  }

  #defaultParams(): RsaHashedImportParams | EcKeyImportParams | Algorithm {
    if (this.algorithm === "ed25519") return { name: "Ed25519" };
    if (this.algorithm === "rsa") return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    return { name: "ECDSA", namedCurve: this.#curve!.curve };
  }

  #import(params: RsaHashedImportParams | EcKeyImportParams | Algorithm): Promise<CryptoKey> {
    const id = JSON.stringify(params);
    let key = this.#keys.get(id);
    if (!key) {
      key = crypto.subtle.importKey(
        "spki",
        this.spki as Uint8Array<ArrayBuffer>,
        params,
        false,
        ["verify"],
      ).catch((e: unknown) => {
        this.#keys.delete(id);
        throw new SyntaxError(
          `Cannot read public key: Web Crypto refused it (${(e as Error).message})`,
        );
      });
      this.#keys.set(id, key);
    }
    return key;
  }
}

function bitString(bytes: Uint8Array): Uint8Array {
  return encode(Tag.BitString, new Uint8Array([0]), bytes);
}

function bitLength(n: Uint8Array): number {
  let i = 0;
  while (i < n.byteLength && n[i] === 0) i++;
  if (i === n.byteLength) return 0;
  return (n.byteLength - i - 1) * 8 + (32 - Math.clz32(n[i]!));
}

/**
 * An ECDSA signature as raw r||s for Web Crypto, or undefined when it is not a valid encoding.
 */
function ecdsaRaw(
  sig: Uint8Array,
  size: number,
  format: "der" | "raw" | "auto",
): Uint8Array | undefined {
  if (format !== "raw") {
    try {
      const parts = sequence(
        parseDer(sig, "ECDSA signature", { maxBytes: 256 }),
        "ECDSA signature",
      );
      if (parts.length !== 2) return undefined;
      const r = readUnsigned(parts[0], "r"), s = readUnsigned(parts[1], "s");
      if (r.byteLength > size || s.byteLength > size) return undefined;
      const raw = new Uint8Array(2 * size);
      raw.set(r, size - r.byteLength);
      raw.set(s, 2 * size - s.byteLength);
      return raw;
    } catch {
      if (format === "der") return undefined;
    }
  }
  return sig.byteLength === 2 * size ? sig : undefined;
}

/**
 * sigstore's trusted root (`trusted_root.json`, media types
 * `application/vnd.dev.sigstore.trustedroot+json;version=0.1` and `0.2`, also written
 * `application/vnd.dev.sigstore.trustedroot.v0.1+json`): the Fulcio certificate authorities, the
 * Rekor transparency logs, the certificate transparency logs and the timestamp authorities a
 * verification trusts, each with its validity window. It is what `cosign --trusted-root` and
 * `gh attestation verify --custom-trusted-root` take.
 *
 * @module
 */

import {
  asObject,
  type JsonObject,
  optArray,
  optEnum,
  optObject,
  optString,
  optTimestamp,
  parseJsonObject,
  reqBytes,
  reqObject,
} from "./_json.ts";
import { PublicKey, type VerifySignatureOptions } from "./public_key.ts";
import { X509Certificate } from "./x509_certificate.ts";

/** A window of time, either end open. */
export interface ValidityWindow {
  /** The first instant, or none. */
  readonly start?: Date;
  /** The last instant, or none. */
  readonly end?: Date;
}

/** A transparency log (Rekor) or certificate transparency log. */
export interface TrustedLog {
  /** Its base URL. */
  readonly baseUrl: string;
  /** The log ID: SHA-256 of the key's SPKI for Rekor v1 and CT logs. */
  readonly logId: Uint8Array;
  /** The key ID used in checkpoints, when it differs from the log ID (Rekor v2). */
  readonly checkpointKeyId?: Uint8Array;
  /** The key, or undefined when its algorithm is not one skiff verifies (see keyError). */
  readonly key?: PublicKey;
  /** How the key verifies (hash, padding), from `keyDetails`. */
  readonly keyOptions: VerifySignatureOptions;
  /** Why the key is unusable, when it is. */
  readonly keyError?: string;
  /** When the key may be used. */
  readonly validFor: ValidityWindow;
}

/** A certificate authority (Fulcio) or timestamp authority. */
export interface TrustedAuthority {
  /** Its URI, for messages. */
  readonly uri: string;
  /** Its chain, the certificate closest to the leaf first, the root last. */
  readonly chain: readonly X509Certificate[];
  /** When certificates it issued may be trusted. */
  readonly validFor: ValidityWindow;
}

/** A parsed trusted root. */
export interface TrustedRoot {
  /** The media type it declared. */
  readonly mediaType: string;
  /** Rekor logs. */
  readonly tlogs: readonly TrustedLog[];
  /** Fulcio certificate authorities. */
  readonly certificateAuthorities: readonly TrustedAuthority[];
  /** Certificate transparency logs. */
  readonly ctlogs: readonly TrustedLog[];
  /** RFC 3161 timestamp authorities. */
  readonly timestampAuthorities: readonly TrustedAuthority[];
}

const MEDIA_TYPES = new Set([
  "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
  "application/vnd.dev.sigstore.trustedroot+json;version=0.2",
  "application/vnd.dev.sigstore.trustedroot.v0.1+json",
  "application/vnd.dev.sigstore.trustedroot.v0.2+json",
]);

/** The largest trusted root read (sigstore's public one is about 10 KiB). */
export const MAX_TRUSTED_ROOT_BYTES = 4 * 1024 * 1024;

const KEY_DETAILS: Record<string, VerifySignatureOptions & { format?: "pkcs1" }> = {
  PKIX_ECDSA_P256_SHA_256: { hash: "SHA-256" },
  PKIX_ECDSA_P384_SHA_384: { hash: "SHA-384" },
  PKIX_ECDSA_P521_SHA_512: { hash: "SHA-512" },
  PKIX_ED25519: {},
  PKIX_RSA_PKCS1V15_2048_SHA256: { hash: "SHA-256", rsaPadding: "pkcs1" },
  PKIX_RSA_PKCS1V15_3072_SHA256: { hash: "SHA-256", rsaPadding: "pkcs1" },
  PKIX_RSA_PKCS1V15_4096_SHA256: { hash: "SHA-256", rsaPadding: "pkcs1" },
  PKIX_RSA_PSS_2048_SHA256: { hash: "SHA-256", rsaPadding: "pss" },
  PKIX_RSA_PSS_3072_SHA256: { hash: "SHA-256", rsaPadding: "pss" },
  PKIX_RSA_PSS_4096_SHA256: { hash: "SHA-256", rsaPadding: "pss" },
  PKIX_RSA_PKCS1V5: { hash: "SHA-256", rsaPadding: "pkcs1" },
  PKIX_RSA_PSS: { hash: "SHA-256", rsaPadding: "pss" },
  PKCS1_RSA_PKCS1V5: { hash: "SHA-256", rsaPadding: "pkcs1", format: "pkcs1" },
  PKCS1_RSA_PSS: { hash: "SHA-256", rsaPadding: "pss", format: "pkcs1" },
};

/**
 * Parses a trusted root. Unknown fields are ignored as protobuf JSON does; a field of the wrong
 * type is refused naming it. A log whose key algorithm skiff cannot use is kept with its
 * `keyError` (it then verifies nothing); a certificate that does not parse is refused.
 *
 * @param input The JSON bytes, or text.
 * @returns The trusted root.
 * @throws {SyntaxError} `Cannot read the trusted root: <field>: <problem>`.
 *
 * @example A field of the wrong type is named
 * ```ts
 * import { parseTrustedRoot } from "./trusted_root.ts";
 * import assert from "node:assert/strict";
 *
 * const text = JSON.stringify({
 *   mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
 *   tlogs: [{ baseUrl: 7 }],
 * });
 * await assert.rejects(parseTrustedRoot(text), /tlogs\[0\]\.baseUrl: expected a string/);
 * ```
 */
export async function parseTrustedRoot(input: Uint8Array | string): Promise<TrustedRoot> {
  try {
    const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
    if (bytes.byteLength > MAX_TRUSTED_ROOT_BYTES) {
      throw new SyntaxError(`over the limit of ${MAX_TRUSTED_ROOT_BYTES} bytes`);
    }
    const root = parseJsonObject(bytes, "trusted root");
    const mediaType = optString(root, "mediaType", "trustedRoot", 256);
    if (mediaType === undefined) throw new SyntaxError("mediaType: missing");
    if (!MEDIA_TYPES.has(mediaType)) {
      throw new SyntaxError(`mediaType: unsupported ${JSON.stringify(mediaType)}`);
    }
    return {
      mediaType,
      tlogs: await logs(root, "tlogs"),
      certificateAuthorities: authorities(root, "certificateAuthorities"),
      ctlogs: await logs(root, "ctlogs"),
      timestampAuthorities: authorities(root, "timestampAuthorities"),
    };
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new SyntaxError(`Cannot read the trusted root: ${e.message}`);
    }
    throw e;
  }
}

function window(o: JsonObject, path: string): ValidityWindow {
  const v = optObject(o, "validFor", path);
  if (!v) return {};
  const start = optTimestamp(v, "start", `${path}.validFor`);
  const end = optTimestamp(v, "end", `${path}.validFor`);
  return { ...(start ? { start } : {}), ...(end ? { end } : {}) };
}

async function logs(root: JsonObject, name: string): Promise<TrustedLog[]> {
  const out: TrustedLog[] = [];
  const list = optArray(root, name, "", 256) ?? [];
  for (const [i, item] of list.entries()) {
    const path = `${name}[${i}]`;
    const o = asObject(item, path);
    const baseUrl = optString(o, "baseUrl", path, 2048) ?? "";
    const pk = reqObject(o, "publicKey", path);
    const raw = reqBytes(pk, "rawBytes", `${path}.publicKey`, 8192);
    const details = optEnum(pk, "keyDetails", `${path}.publicKey`);
    const logId = reqBytes(reqObject(o, "logId", path), "keyId", `${path}.logId`, 64);
    const cp = optObject(o, "checkpointKeyId", path);
    const checkpointKeyId = cp ? reqBytes(cp, "keyId", `${path}.checkpointKeyId`, 64) : undefined;
    const validFor = window(pk, `${path}.publicKey`);
    const known = typeof details === "string" ? KEY_DETAILS[details] : undefined;
    let key: PublicKey | undefined;
    let keyError: string | undefined;
    if (!known) {
      keyError = `key type ${String(details ?? "unspecified")} is not supported`;
    } else {
      try {
        key = known.format === "pkcs1"
          ? await PublicKey.fromPem(
            `-----BEGIN RSA PUBLIC KEY-----\n${
              btoa(String.fromCharCode(...raw))
            }\n-----END RSA PUBLIC KEY-----`,
          )
          : await PublicKey.fromSpki(raw);
      } catch (e) {
        keyError = (e as Error).message;
      }
    }
    const { format: _, ...keyOptions } = known ?? {};
    out.push({
      baseUrl,
      logId,
      ...(checkpointKeyId ? { checkpointKeyId } : {}),
      ...(key ? { key } : {}),
      keyOptions,
      ...(keyError ? { keyError } : {}),
      validFor,
    });
  }
  return out;
}

function authorities(root: JsonObject, name: string): TrustedAuthority[] {
  const out: TrustedAuthority[] = [];
  const list = optArray(root, name, "", 256) ?? [];
  for (const [i, item] of list.entries()) {
    const path = `${name}[${i}]`;
    const o = asObject(item, path);
    const uri = optString(o, "uri", path, 2048) ?? "";
    const chainObject = reqObject(o, "certChain", path);
    const certs = optArray(chainObject, "certificates", `${path}.certChain`, 16) ?? [];
    if (certs.length === 0) throw new SyntaxError(`${path}.certChain.certificates: empty`);
    const chain = certs.map((c, j) => {
      const cpath = `${path}.certChain.certificates[${j}]`;
      const der = reqBytes(asObject(c, cpath), "rawBytes", cpath, 64 * 1024);
      try {
        return X509Certificate.parse(der);
      } catch (e) {
        throw new SyntaxError(`${cpath}.rawBytes: ${(e as Error).message}`);
      }
    });
    out.push({ uri, chain, validFor: window(o, path) });
  }
  return out;
}

/** Whether `time` falls in a window. */
export function inWindow(w: ValidityWindow, time: Date): boolean {
  const t = time.getTime();
  return (w.start === undefined || w.start.getTime() <= t) &&
    (w.end === undefined || t <= w.end.getTime());
}

/**
 * Sigstore bundles, v0.1 to v0.3 (sigstore/protobuf-specs `sigstore_bundle.proto`, JSON form):
 * the signed content (a DSSE envelope or a message signature) with its verification material
 * (a certificate, a certificate chain or a public key hint; transparency log entries; RFC 3161
 * timestamps). Parsing checks structure, types and caps only; `verifyBundle` checks the rest.
 *
 * @module
 */

import {
  asObject,
  field,
  type JsonObject,
  optArray,
  optBytes,
  optInt64,
  optObject,
  optString,
  parseJsonObject,
  reqBytes,
  reqObject,
  reqString,
} from "./_json.ts";
import { MAX_CERTIFICATE_BYTES } from "./x509_certificate.ts";

/** The largest bundle read (a bundle holds its attestation: SBOMs can be megabytes). */
export const MAX_BUNDLE_BYTES = 32 * 1024 * 1024;
/** The most transparency log entries, timestamps and chain certificates read from one bundle. */
export const MAX_BUNDLE_ENTRIES = 32;

/** The bundle format versions. */
export type BundleVersion = "0.1" | "0.2" | "0.3";

const MEDIA_TYPES: Record<string, BundleVersion> = {
  "application/vnd.dev.sigstore.bundle+json;version=0.1": "0.1",
  "application/vnd.dev.sigstore.bundle+json;version=0.2": "0.2",
  "application/vnd.dev.sigstore.bundle+json;version=0.3": "0.3",
  "application/vnd.dev.sigstore.bundle.v0.1+json": "0.1",
  "application/vnd.dev.sigstore.bundle.v0.2+json": "0.2",
  "application/vnd.dev.sigstore.bundle.v0.3+json": "0.3",
};

/** Whether a media type is one of a sigstore bundle (any version skiff reads). */
export function isBundleMediaType(mediaType: string): boolean {
  return Object.hasOwn(MEDIA_TYPES, mediaType);
}

/** One transparency log entry of a bundle. */
export interface TlogEntry {
  /** The entry's index in the log (for sharded logs, across all shards). */
  readonly logIndex: bigint;
  /** The ID of the log that holds it. */
  readonly logId: Uint8Array;
  /** Its kind: `hashedrekord`, `dsse` or `intoto`. */
  readonly kind: string;
  /** The kind's version, e.g. `0.0.1`. */
  readonly version: string;
  /** When the log integrated it, in seconds since the epoch (0 when the log does not say). */
  readonly integratedTime: bigint;
  /** The signed entry timestamp, when there is one. */
  readonly inclusionPromise?: Uint8Array;
  /** The inclusion proof, when there is one. */
  readonly inclusionProof?: InclusionProof;
  /** The logged body, as the log canonicalized it. */
  readonly canonicalizedBody: Uint8Array;
}

/** An RFC 6962 inclusion proof with the checkpoint it is against. */
export interface InclusionProof {
  /** The leaf's index in this tree (a shard's tree for sharded logs). */
  readonly logIndex: bigint;
  /** The tree's root hash. */
  readonly rootHash: Uint8Array;
  /** The tree's size. */
  readonly treeSize: bigint;
  /** The audit path, leaf side first. */
  readonly hashes: readonly Uint8Array[];
  /** The signed checkpoint (a signed note). */
  readonly checkpoint: string;
}

/** A DSSE envelope. */
export interface DsseEnvelope {
  /** The payload type, e.g. `application/vnd.in-toto+json`. */
  readonly payloadType: string;
  /** The payload. */
  readonly payload: Uint8Array;
  /** The signatures (a bundle holds exactly one). */
  readonly signatures: readonly { readonly sig: Uint8Array; readonly keyid: string }[];
}

/** The signed content of a bundle. */
export type BundleContent =
  | {
    readonly type: "message";
    /** The digest algorithm of the message digest. */
    readonly digestAlgorithm: "sha256" | "sha384" | "sha512";
    /** The artifact's digest. */
    readonly digest: Uint8Array;
    /** The signature over the artifact. */
    readonly signature: Uint8Array;
  }
  | { readonly type: "dsse"; readonly envelope: DsseEnvelope };

/** A parsed bundle. */
export interface SigstoreBundle {
  /** The media type. */
  readonly mediaType: string;
  /** The format version. */
  readonly version: BundleVersion;
  /** The signing certificate's DER (the first of a chain), for keyless bundles. */
  readonly certificate?: Uint8Array;
  /** The public key hint, for key-based bundles. */
  readonly publicKeyHint?: string;
  /** The transparency log entries. */
  readonly tlogEntries: readonly TlogEntry[];
  /** RFC 3161 timestamps (DER). */
  readonly timestamps: readonly Uint8Array[];
  /** The signed content. */
  readonly content: BundleContent;
}

const DIGESTS: Record<string, "sha256" | "sha384" | "sha512"> = {
  SHA2_256: "sha256",
  SHA2_384: "sha384",
  SHA2_512: "sha512",
};

/**
 * Parses a bundle's JSON. Unknown fields are ignored (protobuf JSON); a wrong type, a missing
 * field the version requires, or a value over its cap is a SyntaxError naming the field.
 *
 * @param bytes The bundle's bytes (at most {@link MAX_BUNDLE_BYTES}).
 * @returns The bundle.
 * @throws {SyntaxError} When it is not a bundle skiff can verify.
 *
 * @example Refuse a bundle of an unknown version
 * ```ts
 * import { parseBundle } from "./sigstore_bundle.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode(JSON.stringify({ mediaType: "application/vnd.dev.sigstore.bundle.v9.9+json" }));
 * assert.throws(() => parseBundle(bytes), /mediaType/);
 * ```
 */
export function parseBundle(bytes: Uint8Array): SigstoreBundle {
  if (bytes.byteLength > MAX_BUNDLE_BYTES) {
    throw new SyntaxError(
      `the bundle is ${bytes.byteLength} bytes, over the limit of ${MAX_BUNDLE_BYTES}`,
    );
  }
  const b = parseJsonObject(bytes, "the bundle");
  const mediaType = reqString(b, "mediaType", "bundle", 256);
  const version = MEDIA_TYPES[mediaType];
  if (!version) throw new SyntaxError(`bundle.mediaType: unsupported ${JSON.stringify(mediaType)}`);

  const vm = reqObject(b, "verificationMaterial", "bundle");
  const path = "bundle.verificationMaterial";
  let certificate: Uint8Array | undefined;
  let publicKeyHint: string | undefined;
  const chain = optObject(vm, "x509CertificateChain", path);
  const single = optObject(vm, "certificate", path);
  const key = optObject(vm, "publicKey", path);
  if ([chain, single, key].filter((x) => x !== undefined).length !== 1) {
    throw new SyntaxError(`${path}: expected one of x509CertificateChain, certificate, publicKey`);
  }
  if (chain) {
    if (version === "0.3") {
      throw new SyntaxError(
        `${path}.x509CertificateChain: a v0.3 bundle holds a single certificate`,
      );
    }
    const certs =
      optArray(chain, "certificates", `${path}.x509CertificateChain`, MAX_BUNDLE_ENTRIES) ?? [];
    if (certs.length === 0) {
      throw new SyntaxError(`${path}.x509CertificateChain.certificates: empty`);
    }
    // only the leaf is used: the rest of a chain is the trusted root's to give
    const cpath = `${path}.x509CertificateChain.certificates`;
    certs.forEach((c, i) =>
      reqBytes(asObject(c, `${cpath}[${i}]`), "rawBytes", `${cpath}[${i}]`, MAX_CERTIFICATE_BYTES)
    );
    certificate = reqBytes(
      asObject(certs[0], `${cpath}[0]`),
      "rawBytes",
      `${cpath}[0]`,
      MAX_CERTIFICATE_BYTES,
    );
  } else if (single) {
    certificate = reqBytes(single, "rawBytes", `${path}.certificate`, MAX_CERTIFICATE_BYTES);
  } else {
    publicKeyHint = optString(key!, "hint", `${path}.publicKey`, 1024) ?? "";
  }

  // an empty repeated field is left out of protobuf JSON: absent is empty
  const entries = optArray(vm, "tlogEntries", path, MAX_BUNDLE_ENTRIES);
  const tlogEntries = (entries ?? []).map((e, i) =>
    tlogEntry(asObject(e, `${path}.tlogEntries[${i}]`), `${path}.tlogEntries[${i}]`, version)
  );

  const tvd = optObject(vm, "timestampVerificationData", path);
  const stamps = tvd
    ? optArray(tvd, "rfc3161Timestamps", `${path}.timestampVerificationData`, MAX_BUNDLE_ENTRIES) ??
      []
    : [];
  const timestamps = stamps.map((t, i) => {
    const p = `${path}.timestampVerificationData.rfc3161Timestamps[${i}]`;
    return reqBytes(asObject(t, p), "signedTimestamp", p, 64 * 1024);
  });

  const message = optObject(b, "messageSignature", "bundle");
  const dsse = optObject(b, "dsseEnvelope", "bundle");
  if ((message === undefined) === (dsse === undefined)) {
    throw new SyntaxError("bundle: expected one of messageSignature, dsseEnvelope");
  }
  let content: BundleContent;
  if (message) {
    const md = reqObject(message, "messageDigest", "bundle.messageSignature");
    const alg = field(md, "algorithm") ?? "SHA2_256";
    const digestAlgorithm = DIGESTS[String(alg)];
    if (!digestAlgorithm) {
      throw new SyntaxError(
        `bundle.messageSignature.messageDigest.algorithm: unsupported ${JSON.stringify(alg)}`,
      );
    }
    content = {
      type: "message",
      digestAlgorithm,
      digest: reqBytes(md, "digest", "bundle.messageSignature.messageDigest", 64),
      signature: reqBytes(message, "signature", "bundle.messageSignature", 8192),
    };
  } else {
    content = { type: "dsse", envelope: parseEnvelope(dsse!, "bundle.dsseEnvelope") };
  }
  return {
    mediaType,
    version,
    ...(certificate ? { certificate } : {}),
    ...(publicKeyHint !== undefined ? { publicKeyHint } : {}),
    tlogEntries,
    timestamps,
    content,
  };
}

/**
 * Reads a DSSE envelope (JSON object form) with exactly one signature.
 *
 * @param value The envelope (a parsed JSON value).
 * @param path Its path, for messages.
 * @returns The envelope.
 */
export function parseEnvelope(value: unknown, path: string): DsseEnvelope {
  const o = asObject(value, path);
  const payloadType = reqString(o, "payloadType", path, 1024);
  const payload = reqBytes(o, "payload", path, MAX_BUNDLE_BYTES);
  const sigs = optArray(o, "signatures", path, MAX_BUNDLE_ENTRIES) ?? [];
  if (sigs.length !== 1) {
    throw new SyntaxError(`${path}.signatures: ${sigs.length} signatures, expected 1`);
  }
  const signatures = sigs.map((s, i) => {
    const so = asObject(s, `${path}.signatures[${i}]`);
    return {
      sig: reqBytes(so, "sig", `${path}.signatures[${i}]`, 8192),
      keyid: optString(so, "keyid", `${path}.signatures[${i}]`, 1024) ?? "",
    };
  });
  return { payloadType, payload, signatures };
}

function tlogEntry(o: JsonObject, path: string, version: BundleVersion): TlogEntry {
  const logIndex = optInt64(o, "logIndex", path) ?? 0n;
  const logId = reqBytes(reqObject(o, "logId", path), "keyId", `${path}.logId`, 64);
  const kv = reqObject(o, "kindVersion", path);
  const kind = reqString(kv, "kind", `${path}.kindVersion`, 64);
  const kindVersion = reqString(kv, "version", `${path}.kindVersion`, 64);
  const integratedTime = optInt64(o, "integratedTime", path) ?? 0n;
  if (logIndex < 0n || integratedTime < 0n) {
    throw new SyntaxError(`${path}: negative index or time`);
  }
  const promise = optObject(o, "inclusionPromise", path);
  const inclusionPromise = promise
    ? reqBytes(promise, "signedEntryTimestamp", `${path}.inclusionPromise`, 1024)
    : undefined;
  const proofObject = optObject(o, "inclusionProof", path);
  let inclusionProof: TlogEntry["inclusionProof"];
  if (proofObject) {
    const p = `${path}.inclusionProof`;
    const cp = reqObject(proofObject, "checkpoint", p);
    const hashes = (optArray(proofObject, "hashes", p, 64) ?? []).map((h, i) => {
      if (typeof h !== "string") {
        throw new SyntaxError(`${p}.hashes[${i}]: expected a base64 string`);
      }
      return reqBytes({ h }, "h", `${p}.hashes[${i}]`, 64);
    });
    inclusionProof = {
      logIndex: optInt64(proofObject, "logIndex", p) ?? 0n,
      rootHash: reqBytes(proofObject, "rootHash", p, 64),
      treeSize: optInt64(proofObject, "treeSize", p) ?? 0n,
      hashes,
      checkpoint: reqString(cp, "envelope", `${p}.checkpoint`, 64 * 1024),
    };
  }
  if (version === "0.1" && !inclusionPromise) {
    throw new SyntaxError(`${path}.inclusionPromise: missing (required in a v0.1 bundle)`);
  }
  if (version !== "0.1" && !inclusionProof) {
    throw new SyntaxError(`${path}.inclusionProof: missing (required from v0.2 on)`);
  }
  const canonicalizedBody = optBytes(o, "canonicalizedBody", path, MAX_BUNDLE_BYTES);
  if (!canonicalizedBody || canonicalizedBody.byteLength === 0) {
    throw new SyntaxError(`${path}.canonicalizedBody: missing`);
  }
  return {
    logIndex,
    logId,
    kind,
    version: kindVersion,
    integratedTime,
    ...(inclusionPromise ? { inclusionPromise } : {}),
    ...(inclusionProof ? { inclusionProof } : {}),
    canonicalizedBody,
  };
}

/**
 * Verification of one cosign v2 signature or attestation layer (cosign `specs/SIGNATURE_SPEC.md`):
 * the layers of the manifests cosign pushes under the `sha256-<hex>.sig` and `.att` tags. A
 * signature layer is a simple-signing payload (`application/vnd.dev.cosign.simplesigning.v1+json`)
 * whose signature is the `dev.cosignproject.cosign/signature` annotation; an attestation layer is
 * a DSSE envelope (`application/vnd.dsse.envelope.v1+json`). Keyless layers carry their
 * certificate (`dev.sigstore.cosign/certificate`, `dev.sigstore.cosign/chain`), their Rekor entry
 * with its signed entry timestamp (`dev.sigstore.cosign/bundle`) and optionally an RFC 3161
 * timestamp (`dev.sigstore.cosign/rfc3161timestamp`). Pure: the layer's bytes and annotations in,
 * a result or a {@link SignatureVerificationError} out.
 *
 * @module
 */

import { digest as hashBytes, fromBase64, fromHex, parsePem, toHex } from "./_bytes.ts";
import { bindStatement, type InTotoStatement, preAuthEncoding } from "./_in_toto.ts";
import {
  asObject,
  field,
  optInt64,
  optString,
  parseJsonObject,
  reqObject,
  reqString,
} from "./_json.ts";
import { type SignedMaterial, type TrustOptions, verifySigned } from "./_verify_signed.ts";
import { checkIdentity } from "./certificate_identity.ts";
import {
  COSIGN_SIGNATURE_TYPE,
  parseSimpleSigning,
  simpleSigningDigestMismatch,
} from "./simple_signing.ts";
import {
  SignatureVerificationError,
  type VerificationFailure,
} from "./signature_verification_error.ts";
import { type DsseEnvelope, parseEnvelope, type TlogEntry } from "./sigstore_bundle.ts";
import { splitDigest } from "./verify_bundle.ts";
import type { VerificationResult } from "./verification_result.ts";

/** The media type of a cosign signature layer. */
export const COSIGN_SIGNATURE_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
/** The media type of a cosign attestation layer. */
export const COSIGN_ATTESTATION_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json";

/** The annotations cosign v2 writes on a signature or attestation layer. */
export const CosignAnnotation = {
  /** The base64 signature over the payload (empty on attestations). */
  Signature: "dev.cosignproject.cosign/signature",
  /** The PEM signing certificate (keyless). */
  Certificate: "dev.sigstore.cosign/certificate",
  /** The PEM chain above the certificate (keyless). */
  Chain: "dev.sigstore.cosign/chain",
  /** The Rekor entry: `{"SignedEntryTimestamp", "Payload": {body, integratedTime, logIndex, logID}}`. */
  Bundle: "dev.sigstore.cosign/bundle",
  /** An RFC 3161 timestamp over the signature: `{"SignedRFC3161Timestamp": base64}`. */
  Timestamp: "dev.sigstore.cosign/rfc3161timestamp",
} as const;

/** The largest cosign layer payload read (an attestation can hold an SBOM). */
export const MAX_COSIGN_PAYLOAD_BYTES = 32 * 1024 * 1024;

/** One cosign layer: its bytes, media type and annotations (from the signature manifest). */
export interface CosignLayer {
  /** The layer's bytes (its digest already checked against the manifest's descriptor). */
  payload: Uint8Array;
  /** The layer's media type. */
  mediaType: string;
  /** The layer descriptor's annotations. */
  annotations: Readonly<Record<string, string>>;
}

/** Options of {@link verifyCosignSignature}. */
export interface VerifyCosignOptions extends TrustOptions {
  /** The digest being verified: the image manifest's, `sha256:<hex>`. */
  digest: string;
  /**
   * The predicate types accepted for attestation layers; given, a signature layer is refused.
   * Not given: any.
   */
  predicateTypes?: readonly string[];
  /** How the layer is named in messages. @default "cosign signature for <digest>" */
  what?: string;
}

/** The result of a cosign layer: a {@link VerificationResult} and the claimed reference. */
export interface CosignVerificationResult extends VerificationResult {
  /** `critical.identity.docker-reference` of a signature payload (untrusted until a policy matches it). */
  readonly dockerReference?: string;
}

/**
 * Verifies one cosign v2 signature or attestation layer for one digest. The payload must claim
 * the digest (`docker-manifest-digest`, or an in-toto subject); then the same checks as a bundle:
 * the trusted times (the Rekor entry's signed entry timestamp, RFC 3161 timestamps), the signer
 * (certificate chain, SCT, validity at every trusted time, identity; or a key), the Rekor entry's
 * body against the layer, the signature.
 *
 * @param layer The layer.
 * @param options The digest, the trust and what is required.
 * @returns What verified.
 * @throws {SignatureVerificationError} `Cannot verify cosign signature for <digest>: <reason>`.
 * @throws {SyntaxError} When the digest is not a valid digest.
 * @throws {TypeError} When an identity is incomplete or its regular expression invalid.
 *
 * @example Verify a `cosign sign --key` signature layer
 * ```ts ignore
 * import { PublicKey } from "./public_key.ts";
 * import { verifyCosignSignature } from "./verify_cosign_signature.ts";
 *
 * const result = await verifyCosignSignature(
 *   { payload, mediaType: layer.mediaType, annotations: layer.annotations ?? {} },
 *   { digest: imageDigest, keys: [await PublicKey.fromPem(await Deno.readTextFile("cosign.pub"))], trustedRoot },
 * );
 * ```
 */
export async function verifyCosignSignature(
  layer: CosignLayer,
  options: VerifyCosignOptions,
): Promise<CosignVerificationResult> {
  splitDigest(options.digest);
  for (const id of options.identities ?? []) checkIdentity(id);
  const attestation = layer.mediaType === COSIGN_ATTESTATION_MEDIA_TYPE;
  const what = options.what ??
    `cosign ${attestation ? "attestation" : "signature"} for ${options.digest}`;
  const fail = (failure: VerificationFailure, reason: string): never => {
    throw new SignatureVerificationError(what, failure, reason);
  };
  if (layer.payload.byteLength > MAX_COSIGN_PAYLOAD_BYTES) {
    fail(
      "too-large",
      `its payload is ${layer.payload.byteLength} bytes, over the limit of ${MAX_COSIGN_PAYLOAD_BYTES}`,
    );
  }
  const a = layer.annotations;
  const annotation = (key: string, max: number): string | undefined => {
    const v = a[key];
    if (v !== undefined && (typeof v !== "string" || v.length > max)) {
      fail("too-large", `its annotation ${key} is too large`);
    }
    return v;
  };

  // the certificate (keyless); the chain annotation is not trusted: the trusted root gives it
  let certificate: Uint8Array | undefined;
  const pem = annotation(CosignAnnotation.Certificate, 128 * 1024);
  if (pem !== undefined && pem !== "") {
    try {
      const blocks = parsePem(pem, "its certificate annotation", 4).filter((b) =>
        b.label === "CERTIFICATE"
      );
      if (blocks.length !== 1) {
        fail("malformed", "its certificate annotation does not hold one certificate");
      }
      certificate = blocks[0]!.der;
    } catch (e) {
      if (e instanceof SignatureVerificationError) throw e;
      fail("malformed", (e as Error).message);
    }
  }

  let tlogEntries: TlogEntry[] = [];
  const rekor = annotation(CosignAnnotation.Bundle, 4 * 1024 * 1024);
  if (rekor !== undefined) {
    try {
      tlogEntries = [rekorBundleEntry(rekor)];
    } catch (e) {
      fail("malformed", `its Rekor bundle annotation: ${(e as Error).message}`);
    }
  }
  const timestamps: Uint8Array[] = [];
  const stamp = annotation(CosignAnnotation.Timestamp, 128 * 1024);
  if (stamp !== undefined) {
    try {
      const o = parseJsonObject(new TextEncoder().encode(stamp), "its timestamp annotation");
      timestamps.push(
        fromBase64(reqString(o, "SignedRFC3161Timestamp", "timestamp", 128 * 1024), "timestamp"),
      );
    } catch (e) {
      fail("malformed", (e as Error).message);
    }
  }

  const common = {
    what,
    ...(certificate ? { certificate } : {}),
    keyBased: certificate === undefined,
    tlogEntries,
    timestamps,
  };
  let material: SignedMaterial;
  let kind: VerificationResult["kind"];
  let predicateType: string | undefined;
  let payload: Uint8Array;
  let dockerReference: string | undefined;
  if (attestation) {
    let env: DsseEnvelope;
    try {
      env = parseEnvelope(parseJsonObject(layer.payload, "its DSSE envelope"), "envelope");
    } catch (e) {
      fail("malformed", (e as Error).message);
    }
    const bound = bindStatement(
      env!.payloadType,
      env!.payload,
      options.digest,
      options.predicateTypes,
    );
    if ("failure" in bound) fail(bound.failure, bound.reason);
    const s = bound as InTotoStatement;
    kind = "attestation";
    predicateType = s.predicateType;
    payload = env!.payload;
    const sig = env!.signatures[0]!.sig;
    material = {
      ...common,
      signature: sig,
      signed: preAuthEncoding(env!.payloadType, env!.payload),
      logged: {
        type: "dsse",
        signature: sig,
        payload: env!.payload,
        payloadType: env!.payloadType,
      },
    };
  } else if (layer.mediaType === COSIGN_SIGNATURE_MEDIA_TYPE) {
    if (options.predicateTypes) {
      fail(
        "predicate-type",
        `it is a signature, not an attestation of type ${options.predicateTypes.join(" or ")}`,
      );
    }
    let claims;
    try {
      claims = parseSimpleSigning(layer.payload, { type: COSIGN_SIGNATURE_TYPE });
    } catch (e) {
      fail(
        "malformed",
        (e as Error).message.replace(/^Cannot parse simple signing payload: /, "its payload: "),
      );
    }
    const mismatch = simpleSigningDigestMismatch(claims!, options.digest);
    if (mismatch) fail("subject", mismatch.replace(/^the signature signs/, "it signs"));
    const b64 = annotation(CosignAnnotation.Signature, 16 * 1024);
    if (!b64) fail("malformed", "it has no signature annotation");
    let signature: Uint8Array;
    try {
      signature = fromBase64(b64!, "its signature annotation");
    } catch (e) {
      fail("malformed", (e as Error).message);
    }
    kind = "signature";
    predicateType = COSIGN_SIGNATURE_TYPE;
    payload = layer.payload;
    dockerReference = claims!.dockerReference;
    material = {
      ...common,
      signature: signature!,
      signed: layer.payload,
      hash: "SHA-256",
      logged: {
        type: "message",
        signature: signature!,
        digestAlgorithm: "sha256",
        digest: await hashBytes("SHA-256", layer.payload),
      },
    };
  } else {
    fail(
      "unsupported",
      `its media type ${JSON.stringify(layer.mediaType)} is not a cosign signature or attestation`,
    );
  }
  const verified = await verifySigned(material!, options);
  return {
    kind: kind!,
    format: "cosign",
    mediaType: layer.mediaType,
    digest: options.digest,
    ...(predicateType !== undefined ? { predicateType } : {}),
    payload: payload!,
    signer: verified.signer,
    times: verified.times,
    tlogEntries: verified.tlogEntries,
    id: `sha256:${toHex(await hashBytes("SHA-256", material!.signature))}`,
    ...(dockerReference !== undefined ? { dockerReference } : {}),
  };
}

/** The Rekor entry of a `dev.sigstore.cosign/bundle` annotation, with its SET as the promise. */
function rekorBundleEntry(text: string): TlogEntry {
  const o = parseJsonObject(new TextEncoder().encode(text), "it");
  const set = fromBase64(
    reqString(o, "SignedEntryTimestamp", "bundle", 2048),
    "SignedEntryTimestamp",
  );
  const p = reqObject(o, "Payload", "bundle");
  const body = fromBase64(reqString(p, "body", "Payload", 16 * 1024 * 1024), "Payload.body");
  const logIndex = optInt64(p, "logIndex", "Payload");
  const integratedTime = optInt64(p, "integratedTime", "Payload");
  if (
    logIndex === undefined || integratedTime === undefined || logIndex < 0n || integratedTime < 0n
  ) {
    throw new SyntaxError("Payload: logIndex and integratedTime must be non-negative integers");
  }
  const logId = fromHex(reqString(p, "logID", "Payload", 128), "Payload.logID");
  const parsed = asObject(parseJsonObject(body, "Payload.body"), "Payload.body");
  const kind = field(parsed, "kind"), version = field(parsed, "apiVersion");
  if (typeof kind !== "string" || typeof version !== "string") {
    throw new SyntaxError("Payload.body: no kind and apiVersion");
  }
  optString(parsed, "kind", "Payload.body", 64);
  return {
    logIndex,
    logId,
    kind,
    version,
    integratedTime,
    inclusionPromise: set,
    canonicalizedBody: body,
  };
}

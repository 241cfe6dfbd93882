/**
 * Verification of one sigstore bundle (v0.1 to v0.3) for one digest: what `cosign` v3 `sign` and
 * `attest` attach and what GitHub's `attest-build-provenance` pushes. Pure: bytes in, a result or
 * a {@link SignatureVerificationError} out; no registry, no store, no clock other than the
 * trusted times the bundle proves.
 *
 * @module
 */

import { parseDigest } from "../reference/parse_digest.ts";
import { bytesEqual, digest as hashBytes, fromHex, toHex } from "./_bytes.ts";
import { bindStatement, type InTotoStatement, preAuthEncoding } from "./_in_toto.ts";
import { type SignedMaterial, type TrustOptions, verifySigned } from "./_verify_signed.ts";
import { checkIdentity } from "./certificate_identity.ts";
import type { SignatureHash } from "./public_key.ts";
import { SignatureVerificationError } from "./signature_verification_error.ts";
import { MAX_BUNDLE_BYTES, parseBundle, type SigstoreBundle } from "./sigstore_bundle.ts";
import type { VerificationResult } from "./verification_result.ts";

export type { TrustOptions } from "./_verify_signed.ts";

/** The predicate type of a cosign v3 image signature (a DSSE statement with no predicate). */
export const COSIGN_SIGN_PREDICATE_TYPE = "https://sigstore.dev/cosign/sign/v1";

/** Options of {@link verifyBundle}. */
export interface VerifyBundleOptions extends TrustOptions {
  /** The digest being verified, `sha256:<hex>`: the image manifest's digest for an image. */
  digest: string;
  /**
   * The artifact's bytes (the image manifest). A message signature is over these bytes, so it
   * needs them; they must hash to {@link digest}. DSSE bundles do not need them.
   */
  artifact?: Uint8Array;
  /**
   * The predicate types accepted. Given: the bundle must be an in-toto statement of one of them
   * (a message signature is refused). Not given: any signature or attestation is accepted, and
   * the result's `kind` and `predicateType` say which it is.
   */
  predicateTypes?: readonly string[];
  /** How the bundle is named in messages. @default "sigstore bundle for <digest>" */
  what?: string;
}

const HASH: Record<string, SignatureHash> = {
  sha256: "SHA-256",
  sha384: "SHA-384",
  sha512: "SHA-512",
};

/**
 * Verifies one sigstore bundle for one digest. The checks, in order: the bundle's format and
 * caps; the content is about the digest (the in-toto statement's subject, or the message
 * digest and the artifact's bytes) and of an accepted predicate type; every RFC 3161 timestamp
 * and signed entry timestamp (at least `timestampThreshold` trusted times); the signer (a
 * Fulcio certificate chained to the trusted root and valid at every trusted time, with SCTs
 * from `ctlogThreshold` trusted CT logs; or one of `keys`); every transparency log entry
 * (inclusion promise and/or inclusion proof with a signed checkpoint, and the logged body is
 * this bundle's; at least `tlogThreshold` entries); the signature; the identity.
 *
 * @param bytes The bundle's bytes (at most 32 MiB).
 * @param options The digest, the trust and what is required.
 * @returns What verified: who signed, what, when.
 * @throws {SignatureVerificationError} `Cannot verify sigstore bundle for <digest>: <reason>`.
 * @throws {SyntaxError} When the digest is not a valid digest.
 * @throws {TypeError} When an identity is incomplete or its regular expression invalid.
 *
 * @example Verify a GitHub provenance attestation by workflow identity
 * ```ts ignore
 * import { parseTrustedRoot } from "./trusted_root.ts";
 * import { verifyBundle } from "./verify_bundle.ts";
 *
 * const result = await verifyBundle(await Deno.readFile("bundle.json"), {
 *   digest: "sha256:...",
 *   trustedRoot: await parseTrustedRoot(await Deno.readFile("trusted_root.json")),
 *   identities: [{
 *     issuer: "https://token.actions.githubusercontent.com",
 *     claims: { sourceRepositoryUri: "https://github.com/owner/repo" },
 *   }],
 *   predicateTypes: ["https://slsa.dev/provenance/v1"],
 * });
 * console.log(result.signer, result.times[0]);
 * ```
 */
export async function verifyBundle(
  bytes: Uint8Array,
  options: VerifyBundleOptions,
): Promise<VerificationResult> {
  const [algorithm, hex] = splitDigest(options.digest);
  for (const id of options.identities ?? []) checkIdentity(id);
  const what = options.what ?? `sigstore bundle for ${options.digest}`;
  const fail = (
    failure: ConstructorParameters<typeof SignatureVerificationError>[1],
    reason: string,
  ): never => {
    throw new SignatureVerificationError(what, failure, reason);
  };
  if (bytes.byteLength > MAX_BUNDLE_BYTES) {
    fail("too-large", `it is ${bytes.byteLength} bytes, over the limit of ${MAX_BUNDLE_BYTES}`);
  }
  let bundle: SigstoreBundle;
  try {
    bundle = parseBundle(bytes);
  } catch (e) {
    fail("malformed", (e as Error).message);
  }
  const b = bundle!;

  let material: SignedMaterial;
  let kind: VerificationResult["kind"];
  let predicateType: string | undefined;
  let payload: Uint8Array | undefined;
  if (b.content.type === "message") {
    const c = b.content;
    if (options.predicateTypes) {
      fail(
        "predicate-type",
        `it is a signature, not an attestation of type ${options.predicateTypes.join(" or ")}`,
      );
    }
    if (c.digestAlgorithm !== algorithm || !bytesEqual(c.digest, fromHex(hex, "digest"))) {
      fail("subject", `it signs ${c.digestAlgorithm}:${toHex(c.digest)}, not ${options.digest}`);
    }
    if (!options.artifact) {
      fail("subject", "a message signature needs the artifact's bytes to verify");
    }
    const got = toHex(await hashBytes(HASH[algorithm]!, options.artifact!));
    if (got !== hex) {
      fail("subject", `the artifact given is ${algorithm}:${got}, not ${options.digest}`);
    }
    kind = "signature";
    material = {
      what,
      signature: c.signature,
      signed: options.artifact!,
      hash: HASH[c.digestAlgorithm]!,
      logged: {
        type: "message",
        signature: c.signature,
        digestAlgorithm: c.digestAlgorithm,
        digest: c.digest,
      },
      ...material0(b),
    };
  } else {
    const env = b.content.envelope;
    const bound = bindStatement(
      env.payloadType,
      env.payload,
      options.digest,
      options.predicateTypes,
    );
    if ("failure" in bound) fail(bound.failure, bound.reason);
    const s = bound as InTotoStatement;
    kind = s.predicateType === COSIGN_SIGN_PREDICATE_TYPE ? "signature" : "attestation";
    predicateType = s.predicateType;
    payload = env.payload;
    const sig = env.signatures[0]!.sig;
    material = {
      what,
      signature: sig,
      signed: preAuthEncoding(env.payloadType, env.payload),
      logged: { type: "dsse", signature: sig, payload: env.payload, payloadType: env.payloadType },
      ...material0(b),
    };
  }
  const verified = await verifySigned(material, options);
  return {
    kind,
    format: "sigstore-bundle",
    mediaType: b.mediaType,
    digest: options.digest,
    ...(predicateType !== undefined ? { predicateType } : {}),
    ...(payload ? { payload } : {}),
    signer: verified.signer,
    times: verified.times,
    tlogEntries: verified.tlogEntries,
    id: `sha256:${toHex(await hashBytes("SHA-256", material.signature))}`,
  };
}

function material0(b: SigstoreBundle) {
  return {
    ...(b.certificate ? { certificate: b.certificate } : {}),
    keyBased: b.certificate === undefined,
    tlogEntries: b.tlogEntries,
    timestamps: b.timestamps,
  };
}

/**
 * Splits and checks a digest option (the project's one digest rule: sha256 or sha512, lowercase
 * hex of the right length).
 *
 * @param digest The digest, `algorithm:hex`.
 * @returns The algorithm and the hex.
 * @throws {SyntaxError} When it is not a valid digest.
 */
export function splitDigest(digest: string): ["sha256" | "sha512", string] {
  const d = parseDigest(digest);
  return [d.algorithm, d.hex];
}

/**
 * A GPG simple signature, as `skopeo copy --sign-by` and podman write it and as Red Hat publishes
 * it: an OpenPGP signed message whose content is a simple-signing payload of type
 * `atomic container signature`.
 *
 * @module
 */

import { computeDigest } from "../reference/compute_digest.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import { InvalidSignatureError } from "./invalid_signature_error.ts";
import type { OpenPgpKeyring } from "./openpgp_keyring.ts";
import {
  ATOMIC_SIGNATURE_TYPE,
  parseSimpleSigning,
  type SimpleSigning,
  simpleSigningDigestMismatch,
} from "./simple_signing.ts";
import { type VerifiedOpenPgpMessage, verifyOpenPgpMessage } from "./verify_openpgp_message.ts";

/** Options for {@linkcode verifySimpleSignature}. */
export interface VerifySimpleSignatureOptions {
  /** The digest of the manifest being verified. */
  manifestDigest: string;
  /**
   * The manifest's bytes, to check a claim made with another digest algorithm (a sha512 claim for
   * an image named by its sha256 digest); without them such a claim does not match.
   * @default {undefined}
   */
  manifest?: Uint8Array | undefined;
  /**
   * The time of verification.
   * @default {new Date()}
   */
  now?: Date;
}

/** A simple signature that verified. */
export interface VerifiedSimpleSignature {
  /** The payload's claims (the digest checked; the identity is for the policy to judge). */
  signing: SimpleSigning;
  /** Who signed, and when. */
  message: VerifiedOpenPgpMessage;
}

/**
 * Verifies a GPG simple signature: the OpenPGP signature by a trusted key (see
 * {@linkcode verifyOpenPgpMessage}), then its payload (strictly parsed, type
 * `atomic container signature`), then its `docker-manifest-digest` against the manifest. The
 * `docker-reference` claim is returned for the policy's `signedIdentity` to judge.
 *
 * @param blob The signature (`signature-N` of a lookaside).
 * @param keyring The trusted keys.
 * @param options The manifest's digest and the time of verification.
 * @returns The claims and the signer.
 * @throws {InvalidSignatureError} `Cannot verify signature: <why>`.
 *
 * @example Verify a lookaside signature
 * ```ts ignore
 * import { OpenPgpKeyring } from "./openpgp_keyring.ts";
 * import { verifySimpleSignature } from "./verify_simple_signature.ts";
 *
 * const keyring = await OpenPgpKeyring.read([await Deno.readFile("/etc/pki/rpm-gpg/key.gpg")]);
 * const { signing, message } = await verifySimpleSignature(
 *   await Deno.readFile("signature-1"),
 *   keyring,
 *   { manifestDigest: "sha256:..." },
 * );
 * console.log(signing.dockerReference, message.primaryKeyFingerprint);
 * ```
 */
export async function verifySimpleSignature(
  blob: Uint8Array,
  keyring: OpenPgpKeyring,
  options: VerifySimpleSignatureOptions,
): Promise<VerifiedSimpleSignature> {
  const message = await verifyOpenPgpMessage(
    blob,
    keyring,
    options.now ? { now: options.now } : {},
  );
  let signing: SimpleSigning;
  try {
    signing = parseSimpleSigning(message.content, { type: ATOMIC_SIGNATURE_TYPE });
  } catch (e) {
    throw new InvalidSignatureError(
      `its payload is invalid: ${
        (e as Error).message.replace(/^Cannot parse simple signing payload: /, "")
      }`,
    );
  }
  let mismatch = simpleSigningDigestMismatch(signing, options.manifestDigest);
  if (mismatch && options.manifest) {
    const claimed = parseDigest(signing.manifestDigest);
    if (claimed.algorithm !== parseDigest(options.manifestDigest).algorithm) {
      const actual = await computeDigest(options.manifest, claimed.algorithm);
      if (actual === signing.manifestDigest) mismatch = undefined;
    }
  }
  if (mismatch) throw new InvalidSignatureError(mismatch);
  return { signing, message };
}

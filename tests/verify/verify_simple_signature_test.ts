// GPG simple signatures: the OpenPGP layer (see verify_openpgp_message_test.ts), then the payload
// as skopeo writes it, its type and its digest claim.

import { assertEquals, assertRejects } from "../_assert.ts";
import { Gpg } from "./_gpg.ts";
import { OpenPgpKeyring } from "../../lib/verify/openpgp_keyring.ts";
import { verifySimpleSignature } from "../../lib/verify/verify_simple_signature.ts";
import { InvalidSignatureError } from "../../lib/verify/invalid_signature_error.ts";
import { computeDigest } from "../../lib/reference/compute_digest.ts";

const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const payload = (digest: string, type = "atomic container signature") =>
  enc({
    critical: {
      identity: { "docker-reference": "reg.example/ns/app:1" },
      image: { "docker-manifest-digest": digest },
      type,
    },
    optional: { creator: "test" },
  });

Deno.test("simple signature: payload, type and digest claim", async () => {
  const gpg = await Gpg.create();
  try {
    const key = await gpg.makeKey("ed25519");
    const ring = await OpenPgpKeyring.read([await gpg.exportKey(key.email)]);
    const manifest = enc({ schemaVersion: 2, layers: [] });
    const sha256 = await computeDigest(manifest);
    const sha512 = await computeDigest(manifest, "sha512");

    const ok = await verifySimpleSignature(await gpg.sign(key.email, payload(sha256)), ring, {
      manifestDigest: sha256,
    });
    assertEquals(ok.signing.dockerReference, "reg.example/ns/app:1");
    assertEquals(ok.message.primaryKeyFingerprint, key.fingerprint);

    // the payload alone, unsigned
    await assertRejects(
      () => verifySimpleSignature(payload(sha256), ring, { manifestDigest: sha256 }),
      InvalidSignatureError,
      "does not start a packet",
    );
    // another digest
    const other = "sha256:" + "0".repeat(64);
    await assertRejects(
      async () =>
        verifySimpleSignature(await gpg.sign(key.email, payload(other)), ring, {
          manifestDigest: sha256,
        }),
      InvalidSignatureError,
      `the signature signs manifest ${other}, not ${sha256}`,
    );
    // a claim in another algorithm matches when the manifest's bytes are at hand, as in containers/image
    const by512 = await gpg.sign(key.email, payload(sha512));
    await verifySimpleSignature(by512, ring, { manifestDigest: sha256, manifest });
    await assertRejects(
      () => verifySimpleSignature(by512, ring, { manifestDigest: sha256 }),
      InvalidSignatureError,
      "signs manifest sha512:",
    );
    await assertRejects(
      () => verifySimpleSignature(by512, ring, { manifestDigest: sha256, manifest: enc("other") }),
      InvalidSignatureError,
    );
    // a cosign payload signed with GPG is not a GPG simple signature
    await assertRejects(
      async () =>
        verifySimpleSignature(
          await gpg.sign(key.email, payload(sha256, "cosign container image signature")),
          ring,
          { manifestDigest: sha256 },
        ),
      InvalidSignatureError,
      'its payload is invalid: critical.type "cosign container image signature" is not "atomic container signature"',
    );
    // a signed text that is not a payload
    await assertRejects(
      async () =>
        verifySimpleSignature(await gpg.sign(key.email, enc("hello")), ring, {
          manifestDigest: sha256,
        }),
      InvalidSignatureError,
      "its payload is invalid",
    );
  } finally {
    await gpg.close();
  }
});

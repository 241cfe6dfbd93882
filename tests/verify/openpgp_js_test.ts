// Signatures by a second implementation: OpenPGP.js (a pinned npm package, test tooling only),
// which makes what GnuPG 2.2 cannot: RFC 9580 version 6 keys and signatures (Ed25519, algorithm
// 27, with salts and SHA-256 fingerprints), and version 4 keys of its own making.

import { assertEquals, assertRejects } from "../_assert.ts";
import * as openpgp from "npm:openpgp@6.3.2";
import { OpenPgpKeyring } from "../../lib/verify/openpgp_keyring.ts";
import { verifyOpenPgpMessage } from "../../lib/verify/verify_openpgp_message.ts";
import { InvalidSignatureError } from "../../lib/verify/invalid_signature_error.ts";

const DATA = new TextEncoder().encode('{"critical":{},"optional":{}}');

async function signed(
  options: {
    type: "curve25519" | "ecc" | "rsa";
    curve?: "nistP256" | "nistP384";
    v6?: boolean;
    expires?: number;
  },
) {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: options.type,
    ...(options.curve ? { curve: options.curve } : {}),
    ...(options.type === "rsa" ? { rsaBits: 2048 } : {}),
    userIDs: [{ name: "Skiff Test", email: "openpgpjs@skiff.test" }],
    format: "object",
    ...(options.expires ? { keyExpirationTime: options.expires } : {}),
    config: { v6Keys: options.v6 ?? false },
  });
  const message = await openpgp.sign({
    message: await openpgp.createMessage({ binary: DATA }),
    signingKeys: privateKey,
    format: "binary",
  }) as Uint8Array;
  return {
    publicKey,
    message,
    binaryKey: publicKey.write() as Uint8Array,
    armored: publicKey.armor(),
  };
}

Deno.test("openpgp.js: v6 Ed25519 keys and signatures (RFC 9580) verify", async () => {
  const { publicKey, message, binaryKey, armored } = await signed({ type: "curve25519", v6: true });
  assertEquals(publicKey.keyPacket.version, 6);
  for (const source of [binaryKey, new TextEncoder().encode(armored)]) {
    const ring = await OpenPgpKeyring.read([source]);
    // a v6 fingerprint is SHA-256: 64 hex digits
    assertEquals(
      ring.certificates[0]!.primary.fingerprint,
      publicKey.getFingerprint().toUpperCase(),
    );
    assertEquals(ring.certificates[0]!.primary.fingerprint.length, 64);
    const v = await verifyOpenPgpMessage(message, ring);
    assertEquals(v.algorithm, "Ed25519");
    assertEquals(new TextDecoder().decode(v.content), new TextDecoder().decode(DATA));
    // OpenPGP.js signs with a subkey by default
    assertEquals(v.primaryKeyFingerprint, publicKey.getFingerprint().toUpperCase());
  }
  // the salt is part of what is signed
  const ring = await OpenPgpKeyring.read([binaryKey]);
  const text = Array.from(message);
  const saltAt = text.length - 64 - 32; // [... salt(32) | signature(64)] for SHA-512
  const m = message.slice();
  m[saltAt] = m[saltAt]! ^ 1;
  await assertRejects(() => verifyOpenPgpMessage(m, ring), InvalidSignatureError);
});

Deno.test("openpgp.js: v4 keys of its own making (ECDSA, RSA, legacy EdDSA) verify; expiry holds", async () => {
  for (
    const options of [
      { type: "ecc" as const, curve: "nistP256" as const },
      { type: "ecc" as const, curve: "nistP384" as const },
      { type: "rsa" as const },
      { type: "curve25519" as const },
    ]
  ) {
    const { publicKey, message, binaryKey } = await signed(options);
    const v = await verifyOpenPgpMessage(message, await OpenPgpKeyring.read([binaryKey]));
    assertEquals(
      v.primaryKeyFingerprint,
      publicKey.getFingerprint().toUpperCase(),
      JSON.stringify(options),
    );
  }
  const { message, binaryKey } = await signed({ type: "curve25519", v6: true, expires: 3600 });
  const ring = await OpenPgpKeyring.read([binaryKey]);
  await verifyOpenPgpMessage(message, ring);
  await assertRejects(
    () => verifyOpenPgpMessage(message, ring, { now: new Date(Date.now() + 7200_000) }),
    InvalidSignatureError,
    "expired on",
  );
});

// OpenPGP verification against signatures made by the real gpg (a throwaway GNUPGHOME): every key
// algorithm gpg 2.2 makes that skiff accepts, subkeys, compression choices, and the refusals:
// untrusted, expired and revoked keys, expired signatures, SHA-1, two signatures, and bytes that
// were altered, cut or made up.

import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_assert.ts";
import { Gpg } from "./_gpg.ts";
import { OpenPgpKeyring } from "../../lib/verify/openpgp_keyring.ts";
import { verifyOpenPgpMessage } from "../../lib/verify/verify_openpgp_message.ts";
import { InvalidSignatureError } from "../../lib/verify/invalid_signature_error.ts";
import { readPackets } from "../../lib/verify/_openpgp_packets.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const DATA = enc('{"critical":{"type":"atomic container signature"},"optional":{}}');

async function keyring(gpg: Gpg, who: string[], armor = false): Promise<OpenPgpKeyring> {
  const sources = [];
  for (const w of who) sources.push(await gpg.exportKey(w, armor));
  return await OpenPgpKeyring.read(sources);
}

const rejects = async (
  message: Uint8Array,
  ring: OpenPgpKeyring,
  includes: string,
  now?: Date,
) =>
  await assertRejects(
    () => verifyOpenPgpMessage(message, ring, now ? { now } : {}),
    InvalidSignatureError,
    includes,
  );

Deno.test("openpgp: signatures by every key kind gpg makes verify", async (t) => {
  const gpg = await Gpg.create();
  try {
    const cases: [string, { subkeyAlgo?: string }, string[], string, string][] = [
      ["rsa2048", {}, [], "RSA", "SHA-512"],
      ["rsa4096", {}, ["--digest-algo", "SHA256"], "RSA", "SHA-256"],
      ["ed25519", {}, [], "EdDSA", "SHA-256"],
      ["ed25519", {}, ["--digest-algo", "SHA512"], "EdDSA", "SHA-512"],
      ["nistp256", {}, [], "ECDSA", "SHA-256"],
      ["nistp256", {}, ["--digest-algo", "SHA512"], "ECDSA", "SHA-512"],
      ["nistp384", {}, [], "ECDSA", "SHA-384"],
      ["nistp521", {}, [], "ECDSA", "SHA-512"],
      ["ed25519", { subkeyAlgo: "nistp256/ecdsa" }, [], "ECDSA", "SHA-256"],
      ["rsa2048", { subkeyAlgo: "ed25519" }, [], "EdDSA", "SHA-256"],
      ["nistp384", { subkeyAlgo: "rsa2048" }, [], "RSA", "SHA-512"],
    ];
    for (const [algo, options, extra, algorithm, hash] of cases) {
      await t.step(
        `${algo}${options.subkeyAlgo ? ` + ${options.subkeyAlgo} subkey` : ""} ${extra.join(" ")}`,
        async () => {
          const key = await gpg.makeKey(algo, options);
          const message = await gpg.sign(key.email, DATA, extra);
          for (const armor of [false, true]) {
            const v = await verifyOpenPgpMessage(message, await keyring(gpg, [key.email], armor));
            assertEquals(dec(v.content), dec(DATA));
            assertEquals(v.primaryKeyFingerprint, key.fingerprint);
            assertEquals(v.algorithm, algorithm);
            assertEquals(v.hash, hash);
            if (options.subkeyAlgo) {
              assertEquals(
                v.signingKeyFingerprint,
                (await gpg.subkeyFingerprints(key.email)).at(-1),
              );
            } else assertEquals(v.signingKeyFingerprint, key.fingerprint);
          }
        },
      );
    }
  } finally {
    await gpg.close();
  }
});

Deno.test("openpgp: every framing gpg writes: zip, zlib, no compression, text mode, several keys", async () => {
  const gpg = await Gpg.create();
  try {
    const a = await gpg.makeKey("ed25519");
    const b = await gpg.makeKey("nistp256");
    const ring = await keyring(gpg, [a.email, b.email]);
    for (
      const extra of [
        ["--compress-algo", "zip"],
        ["--compress-algo", "zlib"],
        ["--compress-algo", "none"],
        ["--textmode"],
      ]
    ) {
      for (const who of [a, b]) {
        const v = await verifyOpenPgpMessage(await gpg.sign(who.email, DATA, extra), ring);
        assertEquals(v.primaryKeyFingerprint, who.fingerprint, extra.join(" "));
        assertEquals(dec(v.content), dec(DATA));
      }
    }
    // one keyring file holding both keys
    const both = await OpenPgpKeyring.read([await gpg.gpg(["--export", a.email, b.email])]);
    assertEquals(both.certificates.length, 2);
    await verifyOpenPgpMessage(await gpg.sign(b.email, DATA), both);
  } finally {
    await gpg.close();
  }
});

Deno.test("openpgp: keys that may not sign now are refused", async (t) => {
  const gpg = await Gpg.create();
  try {
    await t.step("a key that is not in the keyring", async () => {
      const trusted = await gpg.makeKey("ed25519");
      const other = await gpg.makeKey("ed25519");
      const message = await gpg.sign(other.email, DATA);
      await rejects(
        message,
        await keyring(gpg, [trusted.email]),
        `made by key ${other.fingerprint}, which is not trusted`,
      );
    });
    await t.step("a key that expired (after it signed)", async () => {
      const key = await gpg.makeKey("ed25519", { at: "20240101T000000", expire: "1y" });
      const message = await gpg.sign(key.email, DATA, [], "20240601T000000");
      const ring = await keyring(gpg, [key.email]);
      await rejects(message, ring, `key ${key.fingerprint} expired on 2024-12-31`);
      // while it was valid, the same signature verifies
      await verifyOpenPgpMessage(message, ring, { now: new Date("2024-07-01T00:00:00Z") });
    });
    await t.step("a key that expires in the future is fine, until then", async () => {
      const key = await gpg.makeKey("nistp256", { expire: "1y" });
      const message = await gpg.sign(key.email, DATA);
      const ring = await keyring(gpg, [key.email]);
      await verifyOpenPgpMessage(message, ring);
      await rejects(message, ring, "expired on", new Date(Date.now() + 2 * 365 * 86400_000));
    });
    await t.step("a revoked key", async () => {
      const key = await gpg.makeKey("rsa2048");
      const message = await gpg.sign(key.email, DATA);
      await verifyOpenPgpMessage(message, await keyring(gpg, [key.email]));
      await gpg.revoke(key.fingerprint);
      await rejects(message, await keyring(gpg, [key.email]), `key ${key.fingerprint} is revoked`);
    });
    await t.step("a revoked signing subkey", async () => {
      const key = await gpg.makeKey("ed25519", { subkeyAlgo: "ed25519" });
      const message = await gpg.sign(key.email, DATA);
      await verifyOpenPgpMessage(message, await keyring(gpg, [key.email]));
      await gpg.revokeSubkey(key.fingerprint);
      const sub = (await gpg.subkeyFingerprints(key.email))[0];
      await rejects(message, await keyring(gpg, [key.email]), `subkey ${sub} is revoked`);
    });
    await t.step("an expired signature", async () => {
      const key = await gpg.makeKey("ed25519", { at: "20240101T000000" });
      const message = await gpg.sign(
        key.email,
        DATA,
        ["--default-sig-expire", "1d"],
        "20240601T000000",
      );
      const ring = await keyring(gpg, [key.email]);
      await rejects(message, ring, "it expired on 2024-06-02");
      await verifyOpenPgpMessage(message, ring, { now: new Date("2024-06-01T12:00:00Z") });
    });
    await t.step("a key from the future, a signature from the future", async () => {
      const key = await gpg.makeKey("ed25519");
      const message = await gpg.sign(key.email, DATA);
      const ring = await keyring(gpg, [key.email]);
      // verified at a time before the key was made: the key does not exist yet
      await rejects(
        message,
        ring,
        `key ${key.fingerprint} was made in the future`,
        new Date(Date.now() - 86400_000),
      );
      // a key of 2024, a signature dated 2040 (gpg's clock set forward)
      const old = await gpg.makeKey("ed25519", { at: "20240101T000000" });
      const ahead = await gpg.sign(old.email, DATA, [], "20400101T000000");
      await rejects(
        ahead,
        await keyring(gpg, [old.email]),
        "it was made in the future (2040-01-01",
      );
    });
    await t.step("SHA-1 data signatures", async () => {
      const key = await gpg.makeKey("rsa2048");
      const message = await gpg.sign(key.email, DATA, ["--digest-algo", "SHA1"]);
      await rejects(message, await keyring(gpg, [key.email]), "uses SHA-1");
    });
    await t.step("two signatures in one message", async () => {
      const a = await gpg.makeKey("ed25519");
      const b = await gpg.makeKey("ed25519");
      const message = await gpg.sign([a.email, b.email], DATA);
      await rejects(message, await keyring(gpg, [a.email, b.email]), "holds 2 signatures, not one");
    });
  } finally {
    await gpg.close();
  }
});

Deno.test("openpgp: altered, cut, inflated and made-up bytes are refused, one line each", async () => {
  const gpg = await Gpg.create();
  try {
    const key = await gpg.makeKey("ed25519");
    const ring = await keyring(gpg, [key.email]);
    const plain = await gpg.sign(key.email, DATA, ["--compress-algo", "none"]);
    const packed = await gpg.sign(key.email, DATA);
    await verifyOpenPgpMessage(plain, ring);

    // every single byte flipped: either refused with one InvalidSignatureError line, or (a byte the
    // signature does not cover: the literal packet's name and date, an unhashed key ID hint, an
    // MPI's bit count, deflate padding) the very same content from the very same key
    for (const message of [plain, packed]) {
      let refused = 0;
      for (let i = 0; i < message.byteLength; i++) {
        const m = message.slice();
        m[i] = m[i]! ^ 0x01;
        try {
          const v = await verifyOpenPgpMessage(m, ring);
          assertEquals(dec(v.content), dec(DATA), `flip at ${i}`);
          assertEquals(v.primaryKeyFingerprint, key.fingerprint);
        } catch (e) {
          assert(e instanceof InvalidSignatureError, String(e));
          assert(!e.message.includes("\n"), e.message);
          refused++;
        }
      }
      assert(refused > message.byteLength * 0.8, `${refused} of ${message.byteLength} refused`);
      // every truncation
      for (let n = 0; n < message.byteLength; n++) {
        await assertRejects(
          () => verifyOpenPgpMessage(message.subarray(0, n), ring),
          InvalidSignatureError,
        );
      }
    }
    // bytes after the end: in the compressed packet (which runs to the end) or as another packet
    const trailed = new Uint8Array([...packed, 0x01, 0x02, 0x03]);
    await rejects(trailed, ring, "bytes after the end of the compressed stream");
    await rejects(new Uint8Array([...plain, 0xcb, 0x01, 0x62]), ring, "not a signed message");

    // the content altered where it is readable: every byte of it matters
    // byte offsets: latin1 maps each byte to one character (UTF-8 would shift them after the key
    // ID's bytes whenever those are not valid UTF-8)
    const latin1 = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
    const at = latin1(plain).indexOf(latin1(DATA));
    assert(at > 0);
    for (let i = at; i < at + DATA.byteLength; i++) {
      const altered = plain.slice();
      altered[i] = altered[i]! ^ 0x20;
      await rejects(altered, ring, "does not match the data");
    }

    // lengths that claim far more than there is: refused before anything is allocated
    const huge = [
      new Uint8Array([0xc2, 0xff, 0xff, 0xff, 0xff, 0xff, 0x04]), // new format, 4 GiB
      new Uint8Array([0x8a, 0xff, 0xff, 0xff, 0xf0, 0x04]), // old format, 4-byte length
      new Uint8Array([0xcb, 0xfe, 0x62, 0x00]), // a partial chunk of 1 GiB
      new Uint8Array([0xcb, 0xe0, 1, 0xe0, 1, 0xe0, 1, 0x01]), // partial chunks that end short
      new Uint8Array([0xc2, 0xe9, 0x01]), // a partial length on a signature packet
    ];
    for (const m of huge) await rejects(m, ring, "");

    // a compressed packet that expands beyond the content cap
    const bomb = await gpg.sign(key.email, new Uint8Array(3 * 1024 * 1024), [
      "--compress-algo",
      "zlib",
    ]);
    await rejects(bomb, ring, "expands to more than");

    // made-up data
    const noise = crypto.getRandomValues(new Uint8Array(4096));
    await rejects(noise, ring, "");
    await rejects(new Uint8Array(), ring, "not a signed message");
    await rejects(enc("-----BEGIN PGP MESSAGE-----\n\nabc\n-----END PGP MESSAGE-----\n"), ring, "");
    // a detached signature is not a signed message
    const detached = await gpg.gpg(["--local-user", key.email, "--detach-sign"], DATA);
    await rejects(detached, ring, "not a signed message");
  } finally {
    await gpg.close();
  }
});

/** A v4 signature packet's body with another unhashed subpacket area (test-only surgery). */
function withUnhashed(body: Uint8Array, unhashed: Uint8Array): Uint8Array {
  const hashedEnd = 6 + ((body[4]! << 8) | body[5]!);
  const oldLength = (body[hashedEnd]! << 8) | body[hashedEnd + 1]!;
  const rest = body.subarray(hashedEnd + 2 + oldLength);
  return new Uint8Array([
    ...body.subarray(0, hashedEnd),
    unhashed.byteLength >> 8,
    unhashed.byteLength & 0xff,
    ...unhashed,
    ...rest,
  ]);
}

/** Re-frames packets (new format, five-byte lengths). */
function frame(packets: { tag: number; body: Uint8Array }[]): Uint8Array {
  const out: number[] = [];
  for (const p of packets) {
    const n = p.body.byteLength;
    out.push(0xc0 | p.tag, 0xff, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, ...p.body);
  }
  return new Uint8Array(out);
}

Deno.test("openpgp: the checks that gpg's happy path does not reach", async (t) => {
  const gpg = await Gpg.create();
  try {
    await t.step("a signing subkey without its back-signature is not a signing key", async () => {
      const key = await gpg.makeKey("ed25519", { subkeyAlgo: "ed25519" });
      const message = await gpg.sign(key.email, DATA);
      const exported = await gpg.exportKey(key.email);
      await verifyOpenPgpMessage(message, await OpenPgpKeyring.read([exported]));
      // gpg puts the back-signature in the binding signature's unhashed area: taking it out
      // leaves the binding valid and the subkey unbound from its side
      const packets = readPackets(exported, 100).map((p) =>
        p.tag === 2 && p.body[1] === 0x18
          ? { tag: 2, body: withUnhashed(p.body, new Uint8Array()) }
          : p
      );
      const sub = (await gpg.subkeyFingerprints(key.email))[0];
      await rejects(
        message,
        await OpenPgpKeyring.read([frame(packets)]),
        `subkey ${sub} has no valid back-signature`,
      );
    });
    await t.step("a one-pass packet that does not announce the signature", async () => {
      const key = await gpg.makeKey("ed25519");
      const ring = await keyring(gpg, [key.email]);
      const plain = await gpg.sign(key.email, DATA, ["--compress-algo", "none"]);
      // [OPS, literal, signature]: change the OPS's hash algorithm (byte 2 of its body)
      const packets = readPackets(plain, 10);
      assertEquals(packets.map((p) => p.tag), [4, 11, 2]);
      const ops = packets[0]!.body.slice();
      ops[2] = ops[2] === 8 ? 10 : 8;
      await rejects(
        frame([{ tag: 4, body: ops }, packets[1]!, packets[2]!]),
        ring,
        "does not announce its signature",
      );
      await verifyOpenPgpMessage(frame(packets), ring);
    });
    await t.step("an unknown critical subpacket (gpg: a critical notation)", async () => {
      const key = await gpg.makeKey("ed25519");
      const message = await gpg.sign(key.email, DATA, ["--sig-notation", "!test@skiff.test=1"]);
      await rejects(message, await keyring(gpg, [key.email]), "critical subpacket of type 20");
      // the same notation, not critical, is fine
      const soft = await gpg.sign(key.email, DATA, ["--sig-notation", "test@skiff.test=1"]);
      await verifyOpenPgpMessage(soft, await keyring(gpg, [key.email]));
    });
    await t.step("RSA keys under 2048 bits", async () => {
      const key = await gpg.makeKey("rsa1024");
      const message = await gpg.sign(key.email, DATA);
      await rejects(
        message,
        await keyring(gpg, [key.email]),
        "RSA key of 1024 bits (at least 2048)",
      );
    });
  } finally {
    await gpg.close();
  }
});

Deno.test("openpgp: a keyring that is not one is refused when read", async () => {
  for (
    const bytes of [new Uint8Array(), enc("hello"), new Uint8Array([0x99, 0x00, 0x05, 4, 0, 0])]
  ) {
    const e = await assertRejects(
      () => OpenPgpKeyring.read([bytes]),
      SyntaxError,
      "Cannot read OpenPGP keys",
    );
    assertStringIncludes(e.message, "Cannot read OpenPGP keys");
  }
});

// Public keys in every form skiff takes (PEM SPKI, PEM PKCS #1, DER, JWK, raw components) and
// signatures of every algorithm it verifies, made by Web Crypto and by OpenSSL.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { PublicKey } from "../../lib/verify/public_key.ts";
import { tempDir } from "../_temp.ts";

const data = new TextEncoder().encode("the signed bytes");
const spkiOf = async (k: CryptoKey) => new Uint8Array(await crypto.subtle.exportKey("spki", k));
const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
const pem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${b64(der)}\n-----END ${label}-----\n`;

Deno.test("public key: ECDSA P-256/P-384/P-521, raw and DER signatures, the curve's hash by default", async () => {
  for (
    const [curve, hash] of [["P-256", "SHA-256"], ["P-384", "SHA-384"], [
      "P-521",
      "SHA-512",
    ]] as const
  ) {
    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: curve }, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const raw = new Uint8Array(
      await crypto.subtle.sign({ name: "ECDSA", hash }, pair.privateKey, data),
    );
    const key = await PublicKey.fromSpki(await spkiOf(pair.publicKey));
    assert(await key.verify(data, raw), `${curve} raw`);
    assert(await key.verify(data, raw, { ecdsaFormat: "raw" }));
    assert(!(await key.verify(data, raw, { ecdsaFormat: "der" })));
    assert(!(await key.verify(data, raw, { hash: hash === "SHA-256" ? "SHA-384" : "SHA-256" })));
    assert(!(await key.verify(new Uint8Array([1]), raw)));
    const point = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    assertEquals(
      await (await PublicKey.fromEcPoint(curve, point)).fingerprint(),
      await key.fingerprint(),
    );
    assertEquals(
      await (await PublicKey.fromJwk(await crypto.subtle.exportKey("jwk", pair.publicKey)))
        .fingerprint(),
      await key.fingerprint(),
    );
  }
});

Deno.test("public key: signatures made by openssl (DER ECDSA, RSA PKCS #1 and PSS, Ed25519) from PEM keys", async () => {
  const dir = await tempDir();
  await Deno.writeFile(`${dir}/data`, data);
  const run = async (...args: string[]) => {
    const r = await new Deno.Command("openssl", { args, cwd: dir, stderr: "piped" }).output();
    if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
  };
  const cases: [string, string[], string[], Parameters<PublicKey["verify"]>[2]][] = [
    ["ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], ["-sha256"], {}],
    ["ec384", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], ["-sha384"], {}],
    ["rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], ["-sha256"], {
      hash: "SHA-256",
    }],
    ["rsa3072", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"], ["-sha512"], {
      hash: "SHA-512",
    }],
    ["pss", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"], [
      "-sha256",
      "-sigopt",
      "rsa_padding_mode:pss",
      "-sigopt",
      "rsa_pss_saltlen:digest",
    ], { hash: "SHA-256", rsaPadding: "pss" }],
    ["ed", ["-algorithm", "ED25519"], [], {}],
  ];
  for (const [name, gen, sign, options] of cases) {
    await run("genpkey", ...gen, "-out", `${name}.key`);
    await run("pkey", "-in", `${name}.key`, "-pubout", "-out", `${name}.pub`);
    if (name === "ed") {
      await run(
        "pkeyutl",
        "-sign",
        "-rawin",
        "-inkey",
        `${name}.key`,
        "-in",
        "data",
        "-out",
        `${name}.sig`,
      );
    } else await run("dgst", ...sign, "-sign", `${name}.key`, "-out", `${name}.sig`, "data");
    const key = await PublicKey.fromPem(await Deno.readTextFile(`${dir}/${name}.pub`));
    const sig = await Deno.readFile(`${dir}/${name}.sig`);
    assert(await key.verify(data, sig, options), name);
    sig[sig.length - 3] = sig[sig.length - 3]! ^ 1;
    assert(!(await key.verify(data, sig, options)), `${name} altered`);
  }
  // the same RSA key as PKCS #1 "RSA PUBLIC KEY"
  await run("rsa", "-in", "rsa.key", "-RSAPublicKey_out", "-out", "rsa.pkcs1");
  const pkcs1 = await PublicKey.fromPem(await Deno.readTextFile(`${dir}/rsa.pkcs1`));
  assertEquals(
    await pkcs1.fingerprint(),
    await (await PublicKey.fromPem(await Deno.readTextFile(`${dir}/rsa.pub`))).fingerprint(),
  );
});

Deno.test("public key: RSA from its modulus and exponent; Ed25519 from raw bytes", async () => {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const dec = (s: string) =>
    Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const key = await PublicKey.fromRsa(dec(jwk.n!), dec(jwk.e!));
  const sig = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", pair.privateKey, data));
  assert(await key.verify(data, sig));
  assertEquals(key.bits, 2048);
  const ed = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const edKey = await PublicKey.fromEd25519(
    new Uint8Array(await crypto.subtle.exportKey("raw", ed.publicKey)),
  );
  assert(
    await edKey.verify(
      data,
      new Uint8Array(await crypto.subtle.sign("Ed25519", ed.privateKey, data)),
    ),
  );
});

Deno.test("public key: what is refused", async () => {
  const small = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 1024,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  await assertRejects(
    async () => await PublicKey.fromSpki(await spkiOf(small.publicKey)),
    SyntaxError,
    "outside 2048-4096",
  );
  // secp256k1 is not a curve skiff verifies with
  const k1 = Uint8Array.from(
    atob("MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAE" + "A".repeat(86) + "=="),
    (c) => c.charCodeAt(0),
  );
  await assertRejects(() => PublicKey.fromSpki(k1), SyntaxError);
  await assertRejects(() => PublicKey.fromPem("no key here"), SyntaxError);
  await assertRejects(
    () => PublicKey.fromPem(pem("PRIVATE KEY", new Uint8Array([0x30, 0]))),
    SyntaxError,
    "no PUBLIC KEY",
  );
  await assertRejects(
    () => PublicKey.fromSpki(new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])),
    SyntaxError,
  );
  await assertRejects(() => PublicKey.fromEcPoint("P-256", new Uint8Array(65)), SyntaxError);
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const key = await PublicKey.fromSpki(await spkiOf(pair.publicKey));
  assert(!(await key.verify(data, new Uint8Array())));
  assert(!(await key.verify(data, new Uint8Array(5000))));
  assert(
    !(await key.verify(data, new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]))),
  );
});

// Certificate path validation against chains of the tests' own (tests/verify/_x509.ts): each
// rule of RFC 5280 the verifier applies, shown to refuse the certificate that breaks it.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { verifyAuthorityChain, verifyCertificatePath } from "../../lib/verify/_certificate_path.ts";
import type { TrustedAuthority } from "../../lib/verify/trusted_root.ts";
import { X509Certificate } from "../../lib/verify/x509_certificate.ts";
import { type CertSpec, keyPair, makeCert } from "./_x509.ts";

const CODE_SIGNING = "1.3.6.1.5.5.7.3.3";
const TIME_STAMPING = "1.3.6.1.5.5.7.3.8";
const NOW = new Date();

interface Pki {
  root: CryptoKeyPair;
  inter: CryptoKeyPair;
  leaf: CryptoKeyPair;
}

async function pki(): Promise<Pki> {
  return { root: await keyPair(), inter: await keyPair(), leaf: await keyPair() };
}

async function chain(
  k: Pki,
  o: {
    root?: Partial<CertSpec>;
    inter?: Partial<CertSpec>;
    leaf?: Partial<CertSpec>;
    direct?: boolean;
  } = {},
) {
  const root = X509Certificate.parse(
    await makeCert({
      subject: "root",
      keys: k.root,
      ca: true,
      keyUsage: ["keyCertSign"],
      ...o.root,
    }),
  );
  const inter = X509Certificate.parse(
    await makeCert({
      subject: "intermediate",
      keys: k.inter,
      issuer: { name: "root", key: k.root.privateKey },
      ca: true,
      keyUsage: ["keyCertSign"],
      ...o.inter,
    }),
  );
  const leaf = X509Certificate.parse(
    await makeCert({
      subject: "leaf",
      keys: k.leaf,
      issuer: o.direct
        ? { name: "root", key: k.root.privateKey }
        : { name: "intermediate", key: k.inter.privateKey },
      keyUsage: ["digitalSignature"],
      eku: [CODE_SIGNING],
      uri: "https://example.com/me",
      ...o.leaf,
    }),
  );
  const authority: TrustedAuthority = {
    uri: "https://ca.test",
    chain: o.direct ? [root] : [inter, root],
    validFor: {},
  };
  return { root, inter, leaf, authority };
}

Deno.test("path: a leaf through an intermediate to the root verifies", async () => {
  const { leaf, authority } = await chain(await pki());
  const p = await verifyCertificatePath(leaf, [authority], [NOW], "codeSigning");
  assertEquals(p.path.length, 3);
});

Deno.test("path: a leaf issued by the root directly verifies", async () => {
  const { leaf, authority } = await chain(await pki(), { direct: true });
  assertEquals(
    (await verifyCertificatePath(leaf, [authority], [NOW], "codeSigning")).path.length,
    2,
  );
});

const refusals: [string, (k: Pki) => ReturnType<typeof chain>, RegExp, Date?][] = [
  [
    "an intermediate that is not a CA",
    (k) => chain(k, { inter: { ca: false } }),
    /which is not a CA/,
  ],
  [
    "an intermediate without basic constraints",
    (k) => chain(k, { inter: { ca: undefined as unknown as boolean } }),
    /which is not a CA/,
  ],
  [
    "an intermediate that may not sign certificates",
    (k) => chain(k, { inter: { keyUsage: ["digitalSignature"] } }),
    /may not sign certificates/,
  ],
  [
    "a root whose path length allows no intermediate",
    (k) => chain(k, { root: { pathLength: 0 } }),
    /path length constraint/,
  ],
  ["a leaf that is a CA", (k) => chain(k, { leaf: { ca: true } }), /is a CA certificate/],
  [
    "a leaf without the code signing usage",
    (k) => chain(k, { leaf: { eku: ["1.3.6.1.5.5.7.3.1"] } }),
    /not a code signing certificate/,
  ],
  [
    "a leaf without extended key usage",
    (k) => chain(k, { leaf: { eku: undefined as unknown as string[] } }),
    /not a code signing certificate/,
  ],
  [
    "a leaf whose key usage has no digitalSignature",
    (k) => chain(k, { leaf: { keyUsage: ["keyCertSign"] } }),
    /does not allow digital signatures/,
  ],
  [
    "a leaf with an unknown critical extension",
    (k) =>
      chain(k, {
        leaf: { extra: [{ oid: "1.2.3.4.5", critical: true, value: new Uint8Array([5, 0]) }] },
      }),
    /unknown critical extension 1\.2\.3\.4\.5/,
  ],
  [
    "an intermediate with an unknown critical extension",
    (k) =>
      chain(k, {
        inter: { extra: [{ oid: "1.2.3.4.6", critical: true, value: new Uint8Array([5, 0]) }] },
      }),
    /unknown critical extension 1\.2\.3\.4\.6/,
  ],
  [
    "a CT precertificate (the poison extension)",
    (k) =>
      chain(k, {
        leaf: {
          extra: [{
            oid: "1.3.6.1.4.1.11129.2.4.3",
            critical: true,
            value: new Uint8Array([5, 0]),
          }],
        },
      }),
    /precertificate/,
  ],
  ["a leaf signed by another key under the intermediate's name", async (k) => {
    const c = await chain(k);
    const rogue = await keyPair();
    const leaf = X509Certificate.parse(
      await makeCert({
        subject: "leaf",
        keys: k.leaf,
        issuer: { name: "intermediate", key: rogue.privateKey },
        keyUsage: ["digitalSignature"],
        eku: [CODE_SIGNING],
      }),
    );
    return { ...c, leaf };
  }, /does not verify with the key of CN=intermediate/],
  [
    "a leaf not valid at the trusted time",
    (k) => chain(k, { leaf: { notAfter: new Date(NOW.getTime() - 1000) } }),
    /was not valid at/,
  ],
  [
    "an intermediate not valid at the trusted time",
    (k) => chain(k, { inter: { notBefore: new Date(NOW.getTime() + 60_000) } }),
    /CN=intermediate, which was not valid/,
  ],
];

for (const [what, make, message] of refusals) {
  Deno.test(`path: refuses ${what}`, async () => {
    const { leaf, authority } = await make(await pki());
    const e = await assertRejects(() =>
      verifyCertificatePath(leaf, [authority], [NOW], "codeSigning")
    );
    assert(message.test((e as Error).message), (e as Error).message);
  });
}

Deno.test("path: the authority's window must hold every trusted time", async () => {
  const { leaf, authority } = await chain(await pki());
  const closed = { ...authority, validFor: { end: new Date(NOW.getTime() - 1000) } };
  const e = await assertRejects(() => verifyCertificatePath(leaf, [closed], [NOW], "codeSigning"));
  assert(/which was not trusted at/.test((e as Error).message), (e as Error).message);
  // every time counts, not only the first
  const later = new Date(NOW.getTime() + 2 * 3600_000);
  await assertRejects(() => verifyCertificatePath(leaf, [authority], [NOW, later], "codeSigning"));
});

Deno.test("path: an authority that did not issue the leaf is skipped for one that did", async () => {
  const a = await chain(await pki());
  const b = await chain(await pki());
  const p = await verifyCertificatePath(a.leaf, [b.authority, a.authority], [NOW], "codeSigning");
  assertEquals(p.authority, a.authority);
  await assertRejects(() => verifyCertificatePath(a.leaf, [b.authority], [NOW], "codeSigning"));
});

Deno.test("path: a timestamp authority's own chain (timeStamping usage)", async () => {
  const k = await pki();
  const { root } = await chain(k);
  const tsa = X509Certificate.parse(
    await makeCert({
      subject: "tsa",
      keys: k.leaf,
      issuer: { name: "root", key: k.root.privateKey },
      keyUsage: ["digitalSignature"],
      eku: [TIME_STAMPING],
    }),
  );
  await verifyAuthorityChain(
    { uri: "tsa", chain: [tsa, root], validFor: {} },
    [NOW],
    "timeStamping",
  );
  const e = await assertRejects(() =>
    verifyAuthorityChain({ uri: "tsa", chain: [tsa, root], validFor: {} }, [NOW], "codeSigning")
  );
  assert(/code signing/.test((e as Error).message));
});

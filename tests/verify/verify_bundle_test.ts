// verifyBundle against bundles made by real signers (sigstore-js, against fake Fulcio, Rekor and
// TSA servers on 127.0.0.1: tests/verify/node), every mutation of them the issue lists, and a
// differential: @sigstore/verify under Node must agree with skiff on accept or reject for every
// case, except the cases marked `differs`, where the specifications say sigstore-js is wrong
// (each says why, and the test checks that sigstore-js still differs, so the note stays true).

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { PublicKey } from "../../lib/verify/public_key.ts";
import {
  SignatureVerificationError,
  type VerificationFailure,
} from "../../lib/verify/signature_verification_error.ts";
import { MAX_BUNDLE_BYTES } from "../../lib/verify/sigstore_bundle.ts";
import { parseTrustedRoot } from "../../lib/verify/trusted_root.ts";
import { verifyBundle, type VerifyBundleOptions } from "../../lib/verify/verify_bundle.ts";
import type { CertificateIdentity } from "../../lib/verify/certificate_identity.ts";
import {
  assertAgrees,
  base64,
  type SigstoreFixtures,
  sigstoreFixtures,
  sigstoreJs,
  type SigstoreJsCase,
  unbase64,
} from "./_sigstore.ts";
import { nestedDer } from "./_x509.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** One case: a bundle, a root, the options, and what must happen. */
interface Case {
  name: string;
  fixture: string;
  bundle?: (b: Json) => void;
  root?: (r: Json) => void;
  digest?: string;
  identity?: CertificateIdentity;
  otherKey?: boolean;
  artifact?: "none" | "other";
  predicateTypes?: string[];
  tlogThreshold?: number;
  timestampThreshold?: number;
  /** What skiff does: accept, or the failure. */
  expect: "accept" | VerificationFailure;
  /** What skiff's message must say. */
  message?: RegExp;
  /** Why sigstore-js decides the other way, when the specifications say it is wrong. */
  differs?: string;
}

const OTHER_DIGEST = `sha256:${"e".repeat(64)}`;
/** The digest of the bytes given as the "other" artifact. */
const OTHER_MANIFEST_DIGEST = `sha256:${
  Array.from(
    new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode("another manifest")),
    ),
  )
    .map((b) => b.toString(16).padStart(2, "0")).join("")
}`;
/** Bundles of other fixtures that a case borrows from (set once the fixtures are made). */
const borrowed: { message?: Json; p384?: Json } = {};
const flip = (b64: string, at = 10) => {
  const b = unbase64(b64);
  b[at % b.length] = b[at % b.length]! ^ 0x01;
  return base64(b);
};
const entry = (b: Json) => b.verificationMaterial.tlogEntries[0];
const certOf = (b: Json) =>
  b.verificationMaterial.certificate ?? b.verificationMaterial.x509CertificateChain.certificates[0];

const CASES: Case[] = [
  // the real signers' bundles, as they are
  {
    name: "GitHub provenance (keyless DSSE, v0.3, Rekor dsse with SET and proof)",
    fixture: "github-provenance",
    expect: "accept",
  },
  {
    name: "cosign v3 signature (keyless DSSE sign/v1, Rekor and TSA)",
    fixture: "cosign-v3-signature",
    expect: "accept",
  },
  {
    name: "v0.2 bundle with a chain, in-toto v0.1, Rekor intoto",
    fixture: "chain-v02-intoto",
    expect: "accept",
  },
  { name: "key-based DSSE, ECDSA P-256", fixture: "key-p256", expect: "accept" },
  {
    name: "key-based DSSE, ECDSA P-384",
    fixture: "key-p384",
    expect: "accept",
    differs:
      "sigstore-js verifies every ECDSA key with SHA-256 (node's default for a null algorithm); " +
      "sigstore's algorithm registry (PKIX_ECDSA_P384_SHA_384) and cosign sign P-384 with SHA-384",
  },
  { name: "key-based DSSE, Ed25519", fixture: "key-ed25519", expect: "accept" },
  { name: "key-based DSSE, RSA 2048", fixture: "key-rsa", expect: "accept" },
  {
    name: "message signature over the manifest (hashedrekord and TSA)",
    fixture: "message-signature",
    expect: "accept",
  },
  {
    name: "a v0.1 bundle (the v0.2 one under the v0.1 media type: SET required)",
    fixture: "chain-v02-intoto",
    bundle: (b) => (b.mediaType = "application/vnd.dev.sigstore.bundle+json;version=0.1"),
    expect: "accept",
  },
  {
    name: "the time from an RFC 3161 timestamp with one fraction digit (.5Z)",
    fixture: "tsa-fraction",
    tlogThreshold: 0,
    expect: "accept",
    differs:
      "RFC 3161 2.4.2 allows genTime fractions of any precision (sigstore's timestamp authority " +
      "writes 0 to 9 digits); sigstore-js's time parser takes only 0 or 3 digits and fails with 'invalid time'",
  },

  // replay, binding, predicate types
  {
    name: "a bundle for another digest (replay)",
    fixture: "github-provenance",
    digest: OTHER_DIGEST,
    expect: "subject",
  },
  {
    name: "a message signature for another digest",
    fixture: "message-signature",
    digest: OTHER_DIGEST,
    artifact: "other",
    expect: "subject",
  },
  {
    name: "a message signature checked for another manifest given with its bytes",
    fixture: "message-signature",
    digest: OTHER_MANIFEST_DIGEST,
    artifact: "other",
    expect: "subject",
    message: /it signs sha256:[0-9a-f]{64}, not sha256:/,
  },
  {
    name: "a message signature without the artifact's bytes",
    fixture: "message-signature",
    artifact: "none",
    expect: "subject",
  },
  {
    name: "an attestation of a predicate type not asked for",
    fixture: "github-provenance",
    predicateTypes: ["https://spdx.dev/Document"],
    expect: "predicate-type",
  },
  {
    name: "an attestation of a predicate type asked for",
    fixture: "github-provenance",
    predicateTypes: ["https://spdx.dev/Document", "https://slsa.dev/provenance/v1"],
    expect: "accept",
  },
  {
    name: "a statement whose payload was changed (subject kept)",
    fixture: "github-provenance",
    bundle: (b) => {
      const st = JSON.parse(new TextDecoder().decode(unbase64(b.dsseEnvelope.payload)));
      st.predicate.extra = "injected";
      b.dsseEnvelope.payload = base64(new TextEncoder().encode(JSON.stringify(st)));
    },
    expect: "tlog",
  },

  // keys and identities
  {
    name: "a valid signature by a key that is not trusted",
    fixture: "key-p256",
    otherKey: true,
    expect: "key",
  },
  {
    name: "the Fulcio CA is not in the trusted root",
    fixture: "github-provenance",
    root: (r) => (r.certificateAuthorities = []),
    expect: "certificate",
  },
  {
    name: "another identity (SAN)",
    fixture: "github-provenance",
    identity: {
      subject: "https://github.com/evil/app/.github/workflows/build.yml@refs/heads/main",
      issuer: "https://token.actions.githubusercontent.com",
    },
    expect: "identity",
  },
  {
    name: "another OIDC issuer",
    fixture: "github-provenance",
    identity: {
      subject: "https://github.com/octo/app/.github/workflows/build.yml@refs/heads/main",
      issuer: "https://accounts.example.com",
    },
    expect: "identity",
  },
  {
    name: "identity by regexp (anchored, as cosign's --certificate-identity-regexp)",
    fixture: "github-provenance",
    identity: {
      subjectRegExp: "^https://github\\.com/octo/app/\\.github/workflows/[^/]+@refs/heads/main$",
      issuer: "https://token.actions.githubusercontent.com",
    },
    expect: "accept",
  },
  {
    name: "identity regexp that does not match",
    fixture: "github-provenance",
    identity: {
      subjectRegExp: "^https://github\\.com/octo/other/",
      issuer: "https://token.actions.githubusercontent.com",
    },
    expect: "identity",
  },
  {
    name: "GitHub workflow claims (repository and ref)",
    fixture: "github-provenance",
    identity: {
      issuer: "https://token.actions.githubusercontent.com",
      claims: {
        sourceRepositoryUri: "https://github.com/octo/app",
        sourceRepositoryRef: "refs/heads/main",
        githubWorkflowTrigger: "push",
      },
    },
    expect: "accept",
  },
  {
    name: "a GitHub claim that does not match (another repository)",
    fixture: "github-provenance",
    identity: {
      issuer: "https://token.actions.githubusercontent.com",
      claims: { sourceRepositoryUri: "https://github.com/octo/fork" },
    },
    expect: "identity",
  },

  // time
  {
    name: "an expired certificate with no trusted time (inclusion proof only, no SET, no TSA)",
    fixture: "github-provenance",
    bundle: (b) => delete entry(b).inclusionPromise,
    expect: "timestamp",
  },
  {
    name: "an RFC 3161 timestamp outside the certificate's validity",
    fixture: "tsa-late",
    tlogThreshold: 0,
    expect: "certificate",
  },
  {
    name: "a log entry integrated after the certificate expired",
    fixture: "log-late",
    expect: "certificate",
  },
  {
    name: "the same timestamp twice",
    fixture: "cosign-v3-signature",
    bundle: (b) =>
      b.verificationMaterial.timestampVerificationData.rfc3161Timestamps.push(
        b.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0],
      ),
    expect: "timestamp",
  },
  {
    name: "an altered RFC 3161 timestamp",
    fixture: "cosign-v3-signature",
    bundle: (b) => {
      const t = b.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0];
      t.signedTimestamp = flip(t.signedTimestamp, unbase64(t.signedTimestamp).length - 5);
    },
    expect: "timestamp",
  },
  {
    name: "a timestamp over another signature",
    fixture: "cosign-v3-signature",
    bundle: (
      b,
    ) => (b.verificationMaterial.timestampVerificationData = structuredClone(
      borrowed.message.verificationMaterial.timestampVerificationData,
    )),
    expect: "timestamp",
  },
  {
    name: "the timestamp authority is not in the trusted root",
    fixture: "message-signature",
    root: (r) => (r.timestampAuthorities = []),
    expect: "timestamp",
  },

  // the transparency log
  {
    name: "the log's key is not in the trusted root",
    fixture: "github-provenance",
    root: (r) => (r.tlogs = []),
    expect: "tlog",
  },
  {
    name: "an altered signed entry timestamp",
    fixture: "github-provenance",
    bundle: (
      b,
    ) => (entry(b).inclusionPromise.signedEntryTimestamp = flip(
      entry(b).inclusionPromise.signedEntryTimestamp,
      20,
    )),
    expect: "tlog",
  },
  {
    name: "an altered integrated time (the SET no longer covers it)",
    fixture: "github-provenance",
    bundle: (b) => (entry(b).integratedTime = String(Number(entry(b).integratedTime) + 60)),
    expect: "tlog",
  },
  {
    name: "an altered checkpoint (another root hash line)",
    fixture: "github-provenance",
    bundle: (b) => {
      const cp = entry(b).inclusionProof.checkpoint;
      const lines = cp.envelope.split("\n");
      lines[2] = base64(new Uint8Array(32));
      cp.envelope = lines.join("\n");
    },
    expect: "tlog",
  },
  {
    name: "an inconsistent inclusion proof (a hash of the path changed)",
    fixture: "github-provenance",
    bundle: (b) => (entry(b).inclusionProof.hashes[0] = flip(entry(b).inclusionProof.hashes[0], 3)),
    expect: "tlog",
  },
  {
    name: "an inconsistent inclusion proof (another leaf index)",
    fixture: "github-provenance",
    bundle: (
      b,
    ) => (entry(b).inclusionProof.logIndex = String(Number(entry(b).inclusionProof.logIndex) - 1)),
    expect: "tlog",
  },
  {
    name: "an inconsistent inclusion proof (a hash left out)",
    fixture: "github-provenance",
    bundle: (b) => entry(b).inclusionProof.hashes.pop(),
    expect: "tlog",
  },
  {
    name: "a checkpoint whose signature was altered",
    fixture: "github-provenance",
    bundle: (b) => {
      const cp = entry(b).inclusionProof.checkpoint;
      const [note, sig] = cp.envelope.split("\n\n");
      const [dash, name, b64] = sig.trim().split(" ");
      cp.envelope = `${note}\n\n${dash} ${name} ${flip(b64, 30)}\n`;
    },
    expect: "tlog",
  },
  {
    name: "a valid log entry of another signature from the same log",
    fixture: "key-p256",
    bundle: (
      b,
    ) => (b.verificationMaterial.tlogEntries = structuredClone(
      borrowed.p384.verificationMaterial.tlogEntries,
    )),
    expect: "tlog",
    message: /its logged signature is not the bundle's/,
  },
  {
    name: "an inclusion proof whose root hash is not its checkpoint's",
    fixture: "github-provenance",
    bundle: (b) => (entry(b).inclusionProof.rootHash = base64(new Uint8Array(32))),
    expect: "tlog",
    differs:
      "the proof must be for the checkpoint's tree (sigstore-go compares the proof's root hash " +
      "and tree size with the checkpoint's); sigstore-js computes the root from the path and ignores the " +
      "proof's own root hash, so it accepts a bundle that contradicts itself",
  },
  {
    name: "a bundle with a timestamp but in no log, when a log entry is required",
    fixture: "tsa-fraction",
    expect: "tlog",
  },
  {
    name: "a log entry whose body is another entry's (altered body)",
    fixture: "key-p256",
    bundle: (b) => (entry(b).canonicalizedBody = flip(entry(b).canonicalizedBody, 40)),
    expect: "tlog",
  },
  {
    name: "a log entry of another kind than its body says",
    fixture: "github-provenance",
    bundle: (b) => (entry(b).kindVersion.kind = "intoto"),
    expect: "tlog",
    message: /its log entry: its body is dsse 0\.0\.1, the entry says intoto 0\.0\.1/,
  },
  {
    name: "a checkpoint signature under another name than the log's",
    fixture: "github-provenance",
    bundle: (b) => {
      const cp = entry(b).inclusionProof.checkpoint;
      cp.envelope = cp.envelope.replace(/\u2014 (\S+) /, "\u2014 127 ");
    },
    expect: "tlog",
    differs:
      "C2SP signed-note: a signature line is for the key its name and hash name; sigstore-js " +
      "matches the name as a regular expression against the log's URL, so '127' passes",
  },
  {
    name: "no log entry and no timestamp",
    fixture: "key-p256",
    bundle: (b) => (b.verificationMaterial.tlogEntries = []),
    expect: "timestamp",
  },

  // certificates: SCTs and hostile DER
  {
    name: "an SCT that does not verify with its CT log's key",
    fixture: "github-provenance",
    root: (r) => (r.ctlogs[0].publicKey.rawBytes = r.tlogs[0].publicKey.rawBytes),
    expect: "certificate",
  },
  {
    name: "the SCT's CT log is not in the trusted root",
    fixture: "github-provenance",
    root: (r) => (r.ctlogs = []),
    expect: "certificate",
  },
  {
    name: "a certificate of DER nested 5000 deep",
    fixture: "github-provenance",
    bundle: (b) => (certOf(b).rawBytes = base64(nestedDer(5000))),
    expect: "malformed",
  },
  {
    name: "a certificate whose length says 4 GiB",
    fixture: "github-provenance",
    bundle: (
      b,
    ) => (certOf(b).rawBytes = base64(
      new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30, 0x00]),
    )),
    expect: "malformed",
  },
  {
    name: "a certificate with one byte flipped in its signed part",
    fixture: "github-provenance",
    bundle: (b) => (certOf(b).rawBytes = flip(certOf(b).rawBytes, 300)),
    expect: "certificate",
  },
  {
    name: "a v0.3 bundle with a certificate chain",
    fixture: "github-provenance",
    bundle: (b) => {
      b.verificationMaterial.x509CertificateChain = {
        certificates: [b.verificationMaterial.certificate],
      };
      delete b.verificationMaterial.certificate;
    },
    expect: "malformed",
  },
  {
    name: "a DSSE envelope with two signatures",
    fixture: "key-p256",
    bundle: (b) => b.dsseEnvelope.signatures.push(b.dsseEnvelope.signatures[0]),
    expect: "malformed",
  },
];

let state:
  | Promise<{ fx: SigstoreFixtures; verdicts: Map<string, { ok: boolean; error?: string }> }>
  | undefined;

function build(c: Case, fx: SigstoreFixtures) {
  borrowed.message = fx.bundles["message-signature"]!.bundle;
  borrowed.p384 = fx.bundles["key-p384"]!.bundle;
  const f = fx.bundles[c.fixture]!;
  const bundle = structuredClone(f.bundle) as Json;
  c.bundle?.(bundle);
  const root = structuredClone(fx.trustedRoot) as Json;
  c.root?.(root);
  const identity = c.identity ?? f.identity;
  const digest = c.digest ?? fx.digest;
  const artifact = f.artifact && c.artifact !== "none"
    ? (c.artifact === "other" ? base64(new TextEncoder().encode("another manifest")) : fx.manifest)
    : undefined;
  return { f, bundle, root, identity, digest, artifact };
}

async function otherKeyPem(): Promise<string> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  return `-----BEGIN PUBLIC KEY-----\n${base64(spki)}\n-----END PUBLIC KEY-----\n`;
}

let other: Promise<string> | undefined;

function setup() {
  state ??= (async () => {
    const fx = await sigstoreFixtures();
    other ??= otherKeyPem();
    const cases: SigstoreJsCase[] = [];
    for (const c of CASES) {
      const { f, bundle, root, identity, digest, artifact } = build(c, fx);
      cases.push({
        name: c.name,
        trustedRoot: root,
        bundle,
        digest,
        binding: f.artifact ? "message" : "statement",
        ...(artifact ? { artifact } : {}),
        ...(f.keyPem ? { keyPem: c.otherKey ? await other : f.keyPem } : {}),
        ...(identity ? { identity: identity as Record<string, unknown> } : {}),
        ...(c.predicateTypes ? { predicateTypes: c.predicateTypes } : {}),
        ...(c.tlogThreshold !== undefined ? { tlogThreshold: c.tlogThreshold } : {}),
        ...(c.timestampThreshold !== undefined ? { timestampThreshold: c.timestampThreshold } : {}),
      });
    }
    const verdicts = await sigstoreJs(cases);
    if (Deno.env.get("SHOW")) {
      for (const [k, v] of verdicts) console.error(v.ok ? "accept" : "reject", k, v.error ?? "");
    }
    return { fx, verdicts };
  })();
  return state;
}

async function skiff(c: Case, fx: SigstoreFixtures) {
  const { f, bundle, root, identity, digest, artifact } = build(c, fx);
  const options: VerifyBundleOptions = {
    digest,
    trustedRoot: await parseTrustedRoot(JSON.stringify(root)),
    ...(identity ? { identities: [identity] } : {}),
    ...(f.keyPem ? { keys: [await PublicKey.fromPem(c.otherKey ? await other! : f.keyPem)] } : {}),
    ...(artifact ? { artifact: unbase64(artifact) } : {}),
    ...(c.predicateTypes ? { predicateTypes: c.predicateTypes } : {}),
    ...(c.tlogThreshold !== undefined ? { tlogThreshold: c.tlogThreshold } : {}),
    ...(c.timestampThreshold !== undefined ? { timestampThreshold: c.timestampThreshold } : {}),
  };
  return await verifyBundle(new TextEncoder().encode(JSON.stringify(bundle)), options);
}

for (const c of CASES) {
  Deno.test(`verifyBundle: ${c.name}`, async () => {
    const { fx, verdicts } = await setup();
    let failure: VerificationFailure | "accept" = "accept";
    try {
      const r = await skiff(c, fx);
      assertEquals(r.digest, c.digest ?? fx.digest);
    } catch (e) {
      if (!(e instanceof SignatureVerificationError)) throw e;
      assert(!e.message.includes("\n"), "one line");
      assert(e.message.startsWith("Cannot verify sigstore bundle for "), e.message);
      failure = e.failure;
      if (c.expect !== failure) {
        throw new Error(`expected ${c.expect}, got ${failure}: ${e.message}`);
      }
      if (c.message && !c.message.test(e.message)) {
        throw new Error(`expected ${c.message}, got: ${e.message}`);
      }
    }
    assertEquals(failure, c.expect);
    assertAgrees(verdicts.get(c.name), failure === "accept", c.differs);
  });
}

Deno.test("verifyBundle: what a verified GitHub provenance says (who, what, when)", async () => {
  const { fx } = await setup();
  const r = await skiff(CASES[0]!, fx);
  assertEquals(r.kind, "attestation");
  assertEquals(r.format, "sigstore-bundle");
  assertEquals(r.predicateType, "https://slsa.dev/provenance/v1");
  assert(r.signer.type === "certificate");
  assertEquals(
    r.signer.identity,
    "https://github.com/octo/app/.github/workflows/build.yml@refs/heads/main",
  );
  assertEquals(r.signer.issuer, "https://token.actions.githubusercontent.com");
  assertEquals(r.signer.claims.sourceRepositoryUri, "https://github.com/octo/app");
  assertEquals(r.signer.claims.githubWorkflowRepository, "octo/app");
  assertEquals(
    r.signer.claims.buildSignerUri,
    "https://github.com/octo/app/.github/workflows/build.yml@refs/heads/main",
  );
  assertEquals(r.signer.claims.runnerEnvironment, "github-hosted");
  assertEquals(r.times.length, 1);
  assertEquals(r.times[0]!.source, "tlog");
  assert(r.signer.notBefore <= r.times[0]!.time && r.times[0]!.time <= r.signer.notAfter);
  assertEquals(r.tlogEntries.length, 1);
  assert(r.tlogEntries[0]!.promise && r.tlogEntries[0]!.proof);
  // the tests' own log offsets global indexes as a sharded Rekor does
  assert(r.tlogEntries[0]!.logIndex >= 1000n);
  assert(r.id.startsWith("sha256:"));
});

Deno.test("verifyBundle: the timestamp authority is the one whose certificate signed (ESS signing-certificate)", async () => {
  // the fraction TSA shares its key, names and serial numbers with the others of the root (one
  // operator, several certificates): only the signing-certificate attribute says which signed
  const { fx } = await setup();
  const r = await skiff(CASES.find((c) => c.fixture === "tsa-fraction")!, fx);
  const tsas = (fx.trustedRoot as Json).timestampAuthorities;
  assertEquals(r.times.length, 1);
  assertEquals(r.times[0]!.source, "timestamp-authority");
  assertEquals(r.times[0]!.authority, tsas[1].uri);
  assertEquals(r.times[0]!.time.getUTCMilliseconds(), 500);
});

Deno.test("verifyBundle: a key-based result names the key by fingerprint", async () => {
  const { fx } = await setup();
  const r = await skiff(CASES.find((c) => c.fixture === "key-ed25519")!, fx);
  assert(r.signer.type === "key");
  assertEquals(r.signer.algorithm, "ed25519");
  assertEquals(
    r.signer.fingerprint,
    await (await PublicKey.fromPem(fx.bundles["key-ed25519"]!.keyPem!)).fingerprint(),
  );
});

Deno.test("verifyBundle: a bundle over the size cap is refused before it is parsed", async () => {
  const { fx } = await setup();
  const huge = new Uint8Array(MAX_BUNDLE_BYTES + 1).fill(0x20);
  const trustedRoot = await parseTrustedRoot(JSON.stringify(fx.trustedRoot));
  const e = await assertRejects(
    () => verifyBundle(huge, { digest: fx.digest, trustedRoot }),
    SignatureVerificationError,
  );
  assertEquals((e as SignatureVerificationError).failure, "too-large");
});

Deno.test("verifyBundle: a 1 MB certificate inside a bundle is refused by its field's cap", async () => {
  const { fx } = await setup();
  const c: Case = {
    name: "",
    fixture: "github-provenance",
    bundle: (
      b,
    ) => (b.verificationMaterial.certificate.rawBytes = base64(new Uint8Array(1024 * 1024))),
    expect: "malformed",
  };
  const e = await assertRejects(() => skiff(c, fx), SignatureVerificationError);
  assertEquals((e as SignatureVerificationError).failure, "malformed");
  assert(/over the limit of 65536 bytes/.test((e as Error).message), (e as Error).message);
});

Deno.test("verifyBundle: keyless without an identity, key-based without a key", async () => {
  const { fx } = await setup();
  const root = await parseTrustedRoot(JSON.stringify(fx.trustedRoot));
  const bytes = (name: string) =>
    new TextEncoder().encode(JSON.stringify(fx.bundles[name]!.bundle));
  const a = await assertRejects(
    () => verifyBundle(bytes("github-provenance"), { digest: fx.digest, trustedRoot: root }),
    SignatureVerificationError,
  );
  assertEquals((a as SignatureVerificationError).failure, "identity");
  const b = await assertRejects(
    () => verifyBundle(bytes("key-p256"), { digest: fx.digest, trustedRoot: root }),
    SignatureVerificationError,
  );
  assertEquals((b as SignatureVerificationError).failure, "key");
  await assertRejects(
    () => verifyBundle(bytes("key-p256"), { digest: "sha256:abc", trustedRoot: root }),
    SyntaxError,
  );
  await assertRejects(
    () =>
      verifyBundle(bytes("github-provenance"), {
        digest: fx.digest,
        trustedRoot: root,
        identities: [{ subject: "x" }],
      }),
    TypeError,
  );
});

Deno.test("verifyBundle: an aborted signal stops it", async () => {
  const { fx } = await setup();
  const root = await parseTrustedRoot(JSON.stringify(fx.trustedRoot));
  const controller = new AbortController();
  controller.abort();
  await assertRejects(() =>
    verifyBundle(new TextEncoder().encode(JSON.stringify(fx.bundles["key-p256"]!.bundle)), {
      digest: fx.digest,
      trustedRoot: root,
      keys: [],
      signal: controller.signal,
    })
  );
});

// verifyCosignSignature against cosign v2 layers written from cosign's SIGNATURE_SPEC.md by the
// test tooling (keyed, keyed without a log, keyless with the Rekor bundle annotation, a keyless
// attestation), their mutations, and a differential: each layer is also given to @sigstore/verify
// as the v0.1 bundle it amounts to (a message signature over the payload, or the DSSE envelope,
// with the Rekor entry and its SET), with the payload's claim about the digest checked as the
// spec says (differential.mjs). skiff and sigstore-js must agree on accept or reject.

import { assert, assertEquals } from "../_assert.ts";
import { PublicKey } from "../../lib/verify/public_key.ts";
import {
  SignatureVerificationError,
  type VerificationFailure,
} from "../../lib/verify/signature_verification_error.ts";
import { parseTrustedRoot } from "../../lib/verify/trusted_root.ts";
import {
  type CosignLayer,
  type VerifyCosignOptions,
  verifyCosignSignature,
} from "../../lib/verify/verify_cosign_signature.ts";
import type { CertificateIdentity } from "../../lib/verify/certificate_identity.ts";
import {
  assertAgrees,
  base64,
  type CosignFixture,
  type SigstoreFixtures,
  sigstoreFixtures,
  sigstoreJs,
  type SigstoreJsCase,
  unbase64,
} from "./_sigstore.ts";
import { nestedDer } from "./_x509.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

interface Case {
  name: string;
  fixture: string;
  layer?: (
    l: { payload: Uint8Array; mediaType: string; annotations: Record<string, string> },
  ) => void;
  root?: (r: Json) => void;
  digest?: string;
  identity?: CertificateIdentity;
  otherKey?: boolean;
  predicateTypes?: string[];
  thresholds?: { tlogThreshold?: number; timestampThreshold?: number };
  expect: "accept" | VerificationFailure;
  /** Not given to sigstore-js: a check of the layer format only skiff reads. */
  skiffOnly?: string;
}

const OTHER_DIGEST = `sha256:${"f".repeat(64)}`;
const SIG = "dev.cosignproject.cosign/signature";
const CERT = "dev.sigstore.cosign/certificate";
const BUNDLE = "dev.sigstore.cosign/bundle";

function payloadFor(digest: string, ref: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    critical: {
      identity: { "docker-reference": ref },
      image: { "docker-manifest-digest": digest },
      type: "cosign container image signature",
    },
    optional: null,
  }));
}

const CASES: Case[] = [
  { name: "keyed signature with its Rekor bundle", fixture: "keyed", expect: "accept" },
  { name: "keyed signature, no log asked for", fixture: "keyed-no-log", expect: "accept" },
  {
    name: "keyed signature without a log when one is required",
    fixture: "keyed-no-log",
    thresholds: { tlogThreshold: 1, timestampThreshold: 1 },
    expect: "timestamp",
  },
  {
    name: "keyless signature (certificate, chain, Rekor bundle)",
    fixture: "keyless",
    expect: "accept",
  },
  {
    name: "keyless attestation (DSSE layer, Rekor intoto)",
    fixture: "attestation",
    expect: "accept",
  },

  {
    name: "a signature for another digest (replay)",
    fixture: "keyless",
    digest: OTHER_DIGEST,
    expect: "subject",
  },
  {
    name: "an attestation for another digest",
    fixture: "attestation",
    digest: OTHER_DIGEST,
    expect: "subject",
  },
  {
    name: "an attestation of a type not asked for",
    fixture: "attestation",
    predicateTypes: ["https://spdx.dev/Document"],
    expect: "predicate-type",
  },
  {
    name: "a signature where an attestation is asked for",
    fixture: "keyed",
    predicateTypes: ["https://slsa.dev/provenance/v0.2"],
    expect: "predicate-type",
  },
  {
    name: "a payload re-signed for another digest by another key",
    fixture: "keyed-no-log",
    layer: (l) => (l.payload = payloadFor(OTHER_DIGEST, "127.0.0.1:5000/verify/app")),
    expect: "subject",
  },
  {
    name: "a valid signature by a key that is not trusted",
    fixture: "keyed",
    otherKey: true,
    expect: "key",
  },
  {
    name: "an altered signature annotation",
    fixture: "keyed",
    layer: (l) => {
      const b = unbase64(l.annotations[SIG]!);
      b[12] = b[12]! ^ 1;
      l.annotations[SIG] = base64(b);
    },
    expect: "key",
  },
  {
    name: "a payload changed after signing",
    fixture: "keyless",
    layer: (l) => {
      const p = JSON.parse(new TextDecoder().decode(l.payload));
      p.optional = { creator: "someone else" };
      l.payload = new TextEncoder().encode(JSON.stringify(p));
    },
    expect: "tlog",
  },
  {
    name: "the Fulcio CA is not in the trusted root",
    fixture: "keyless",
    root: (r) => (r.certificateAuthorities = []),
    expect: "certificate",
  },
  {
    name: "the Rekor key is not in the trusted root",
    fixture: "keyless",
    root: (r) => (r.tlogs = []),
    expect: "tlog",
  },
  {
    name: "the SCT's log is not in the trusted root",
    fixture: "keyless",
    root: (r) => (r.ctlogs = []),
    expect: "certificate",
  },
  {
    name: "another identity",
    fixture: "keyless",
    identity: {
      subject: "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main",
      issuer: "https://token.actions.githubusercontent.com",
    },
    expect: "identity",
  },
  {
    name: "an altered SignedEntryTimestamp",
    fixture: "keyless",
    layer: (l) => {
      const b = JSON.parse(l.annotations[BUNDLE]!);
      const set = unbase64(b.SignedEntryTimestamp);
      set[20] = set[20]! ^ 1;
      b.SignedEntryTimestamp = base64(set);
      l.annotations[BUNDLE] = JSON.stringify(b);
    },
    expect: "tlog",
  },
  {
    name: "a Rekor bundle of another log index (the SET no longer covers it)",
    fixture: "keyless",
    layer: (l) => {
      const b = JSON.parse(l.annotations[BUNDLE]!);
      b.Payload.logIndex += 1;
      l.annotations[BUNDLE] = JSON.stringify(b);
    },
    expect: "tlog",
  },
  {
    name: "a certificate annotation of DER nested 5000 deep",
    fixture: "keyless",
    layer: (l) => {
      const der = nestedDer(5000);
      l.annotations[CERT] = `-----BEGIN CERTIFICATE-----\n${
        base64(der)
      }\n-----END CERTIFICATE-----\n`;
    },
    expect: "malformed",
  },
  {
    name: "a layer of another media type",
    fixture: "keyed",
    layer: (l) => (l.mediaType = "application/octet-stream"),
    expect: "unsupported",
    skiffOnly: "the media type of a cosign layer is not part of a sigstore bundle",
  },
  {
    name: "a signature layer without its signature annotation",
    fixture: "keyed",
    layer: (l) => delete l.annotations[SIG],
    expect: "malformed",
    skiffOnly:
      "the annotation is where the signature is; without it there is nothing to give sigstore-js",
  },
];

function layerOf(f: CosignFixture, c: Case) {
  const l = {
    payload: unbase64(f.payload),
    mediaType: f.mediaType,
    annotations: { ...f.annotations },
  };
  c.layer?.(l);
  return l;
}

/** The v0.1 sigstore bundle a cosign layer amounts to, for sigstore-js. */
async function asBundle(
  l: ReturnType<typeof layerOf>,
  f: CosignFixture,
): Promise<{ bundle: Json; artifact?: string }> {
  const vm: Json = { tlogEntries: [] };
  const pem = l.annotations[CERT];
  if (pem) {
    const b64 = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s/g, "");
    vm.x509CertificateChain = { certificates: [{ rawBytes: b64 }] };
  } else vm.publicKey = { hint: "key" };
  if (l.annotations[BUNDLE]) {
    const rb = JSON.parse(l.annotations[BUNDLE]!);
    const body = JSON.parse(new TextDecoder().decode(unbase64(rb.Payload.body)));
    vm.tlogEntries.push({
      logIndex: String(rb.Payload.logIndex),
      logId: {
        keyId: base64(Uint8Array.from(
          rb.Payload.logID.match(/../g).map((h: string) => parseInt(h, 16)),
        )),
      },
      kindVersion: { kind: body.kind, version: body.apiVersion },
      integratedTime: String(rb.Payload.integratedTime),
      inclusionPromise: { signedEntryTimestamp: rb.SignedEntryTimestamp },
      canonicalizedBody: rb.Payload.body,
    });
  }
  const mediaType = "application/vnd.dev.sigstore.bundle+json;version=0.1";
  if (l.mediaType === "application/vnd.dsse.envelope.v1+json") {
    return {
      bundle: {
        mediaType,
        verificationMaterial: vm,
        dsseEnvelope: JSON.parse(new TextDecoder().decode(l.payload)),
      },
    };
  }
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", l.payload as Uint8Array<ArrayBuffer>),
  );
  void f;
  return {
    bundle: {
      mediaType,
      verificationMaterial: vm,
      messageSignature: {
        messageDigest: { algorithm: "SHA2_256", digest: base64(digest) },
        signature: l.annotations[SIG] ?? "",
      },
    },
    artifact: base64(l.payload),
  };
}

let state:
  | Promise<
    { fx: SigstoreFixtures; verdicts: Map<string, { ok: boolean; error?: string }>; other: string }
  >
  | undefined;

function setup() {
  state ??= (async () => {
    const fx = await sigstoreFixtures();
    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const other = `-----BEGIN PUBLIC KEY-----\n${
      base64(new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey)))
    }\n-----END PUBLIC KEY-----\n`;
    const cases: SigstoreJsCase[] = [];
    for (const c of CASES.filter((c) => !c.skiffOnly)) {
      const f = fx.cosign[c.fixture]!;
      const root = structuredClone(fx.trustedRoot) as Json;
      c.root?.(root);
      const l = layerOf(f, c);
      const { bundle, artifact } = await asBundle(l, f);
      const th = {
        tlogThreshold: f.tlogThreshold ?? 1,
        timestampThreshold: f.timestampThreshold ?? 1,
        ...c.thresholds,
      };
      cases.push({
        name: c.name,
        trustedRoot: root,
        bundle,
        digest: c.digest ?? fx.digest,
        binding: artifact ? "simple-signing" : "statement",
        ...(artifact ? { artifact } : {}),
        ...(f.keyPem ? { keyPem: c.otherKey ? other : f.keyPem } : {}),
        ...((c.identity ?? f.identity)
          ? { identity: (c.identity ?? f.identity) as Record<string, unknown> }
          : {}),
        ...(c.predicateTypes ? { predicateTypes: c.predicateTypes } : {}),
        ...th,
      });
    }
    return { fx, verdicts: await sigstoreJs(cases), other };
  })();
  return state;
}

async function skiff(c: Case, fx: SigstoreFixtures, other: string) {
  const f = fx.cosign[c.fixture]!;
  const root = structuredClone(fx.trustedRoot) as Json;
  c.root?.(root);
  const identity = c.identity ?? f.identity;
  const options: VerifyCosignOptions = {
    digest: c.digest ?? fx.digest,
    trustedRoot: await parseTrustedRoot(JSON.stringify(root)),
    ...(identity ? { identities: [identity] } : {}),
    ...(f.keyPem ? { keys: [await PublicKey.fromPem(c.otherKey ? other : f.keyPem)] } : {}),
    ...(c.predicateTypes ? { predicateTypes: c.predicateTypes } : {}),
    tlogThreshold: f.tlogThreshold ?? 1,
    timestampThreshold: f.timestampThreshold ?? 1,
    ...c.thresholds,
  };
  return await verifyCosignSignature(layerOf(f, c) as CosignLayer, options);
}

for (const c of CASES) {
  Deno.test(`verifyCosignSignature: ${c.name}`, async () => {
    const { fx, verdicts, other } = await setup();
    let failure: VerificationFailure | "accept" = "accept";
    try {
      await skiff(c, fx, other);
    } catch (e) {
      if (!(e instanceof SignatureVerificationError)) throw e;
      assert(
        /^Cannot verify cosign (signature|attestation) for sha256:[0-9a-f]{64}: /.test(e.message),
        e.message,
      );
      failure = e.failure;
      if (c.expect !== failure) {
        throw new Error(`expected ${c.expect}, got ${failure}: ${e.message}`);
      }
    }
    assertEquals(failure, c.expect);
    if (c.skiffOnly) return;
    assertAgrees(verdicts.get(c.name), failure === "accept");
  });
}

Deno.test("verifyCosignSignature: what a keyless signature says, and the reference it claims", async () => {
  const { fx, other } = await setup();
  const r = await skiff(CASES[3]!, fx, other);
  assertEquals(r.kind, "signature");
  assertEquals(r.format, "cosign");
  assertEquals(r.predicateType, "cosign container image signature");
  assertEquals(r.dockerReference, fx.image);
  assert(r.signer.type === "certificate");
  assertEquals(r.signer.issuer, "https://token.actions.githubusercontent.com");
  assertEquals(r.times[0]!.source, "tlog");
  assertEquals(r.tlogEntries[0]!.promise, true);
  // the claimed reference is returned, not judged: a policy's signedIdentity decides
  const a = await skiff(CASES[0]!, fx, other);
  assertEquals(a.dockerReference, fx.image);
  assertEquals(a.signer.type, "key");
});

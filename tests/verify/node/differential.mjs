// The other side of the differential tests: @sigstore/verify (sigstore-js) under Node verifies
// every case the Deno tests give it, and says accept or reject. Reads one JSON document on stdin:
//
//   { "cases": [{ "name", "trustedRoot", "bundle", "artifact"?: base64, "digest",
//                 "binding": "statement" | "message" | "simple-signing",
//                 "keyPem"?, "identity"?: { subject?, subjectRegExp?, issuer?, issuerRegExp?, claims? },
//                 "predicateTypes"?, "tlogThreshold"?, "ctlogThreshold"?, "timestampThreshold"? }] }
//
// and prints [{ "name", "ok", "error"? }]. sigstore-js checks the cryptography (timestamps, the
// certificate path and SCTs, the log entries, the signature, the identity). It does not bind the
// content to an image: what a bundle or payload must say about the digest being verified (the
// in-toto subject and predicate type, the message digest, cosign's docker-manifest-digest) is
// checked here, as the specifications say (in-toto attestation spec, cosign SIGNATURE_SPEC.md),
// the way `gh attestation verify` and cosign add them on top of the library.
//
// Test tooling only (Node): never a part of skiff.

import crypto from "node:crypto";
import bundleModule from "@sigstore/bundle";
import specs from "@sigstore/protobuf-specs";
import verifyModule from "@sigstore/verify";

const { bundleFromJSON } = bundleModule;
const { TrustedRoot } = specs;
const { Verifier, toSignedEntity, toTrustMaterial } = verifyModule;

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const utf8Value = (der) => {
  // a DER UTF8String's contents (Fulcio's v2 claims); the deprecated v1 ones are raw
  const b = Buffer.from(der);
  if (b[0] === 0x0c && b[1] < 0x80) return b.subarray(2).toString("utf8");
  return b.toString("utf8");
};
const CLAIM_OIDS = {
  buildSignerUri: "1.3.6.1.4.1.57264.1.9",
  runnerEnvironment: "1.3.6.1.4.1.57264.1.11",
  sourceRepositoryUri: "1.3.6.1.4.1.57264.1.12",
  sourceRepositoryDigest: "1.3.6.1.4.1.57264.1.13",
  sourceRepositoryRef: "1.3.6.1.4.1.57264.1.14",
  sourceRepositoryOwnerUri: "1.3.6.1.4.1.57264.1.16",
  buildConfigUri: "1.3.6.1.4.1.57264.1.18",
  buildTrigger: "1.3.6.1.4.1.57264.1.20",
  githubWorkflowRepository: "1.3.6.1.4.1.57264.1.5",
  githubWorkflowRef: "1.3.6.1.4.1.57264.1.6",
  githubWorkflowTrigger: "1.3.6.1.4.1.57264.1.2",
};

function bind(c, bundle) {
  const hex = c.digest.slice("sha256:".length);
  if (c.binding === "message") {
    const md = bundle.messageSignature?.messageDigest;
    if (!md || Buffer.from(md.digest, "base64").toString("hex") !== hex) {
      throw new Error("message digest is not the digest");
    }
    if (c.predicateTypes) throw new Error("a signature, not an attestation");
    return;
  }
  if (c.binding === "simple-signing") {
    const p = JSON.parse(Buffer.from(c.artifact, "base64").toString("utf8"));
    if (p?.critical?.image?.["docker-manifest-digest"] !== c.digest) {
      throw new Error("docker-manifest-digest is not the digest");
    }
    if (p?.critical?.type !== "cosign container image signature") {
      throw new Error("not a cosign signature payload");
    }
    if (c.predicateTypes) throw new Error("a signature, not an attestation");
    return;
  }
  const env = bundle.dsseEnvelope;
  if (!env || env.payloadType !== "application/vnd.in-toto+json") {
    throw new Error("not an in-toto statement");
  }
  const st = JSON.parse(Buffer.from(env.payload, "base64").toString("utf8"));
  if (
    !["https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1"]
      .includes(st._type)
  ) {
    throw new Error("unknown statement type");
  }
  if (
    !Array.isArray(st.subject) ||
    !st.subject.some((s) => s?.digest?.sha256?.toLowerCase() === hex)
  ) {
    throw new Error("no subject has the digest");
  }
  if (c.predicateTypes && !c.predicateTypes.includes(st.predicateType)) {
    throw new Error("predicate type not asked for");
  }
}

function verifyCase(c) {
  bind(c, c.bundle);
  const root = TrustedRoot.fromJSON(c.trustedRoot);
  const keyFinder = (_hint) => {
    if (!c.keyPem) throw new Error("no key");
    return {
      publicKey: crypto.createPublicKey(c.keyPem),
      validFor: () => true,
    };
  };
  const verifier = new Verifier(toTrustMaterial(root, keyFinder), {
    tlogThreshold: c.tlogThreshold ?? 1,
    ctlogThreshold: c.ctlogThreshold ?? 1,
    timestampThreshold: c.timestampThreshold ?? 1,
  });
  const artifact = c.artifact ? Buffer.from(c.artifact, "base64") : undefined;
  const entity = toSignedEntity(bundleFromJSON(c.bundle), artifact);
  const id = c.identity;
  const policy = {};
  if (id?.subject !== undefined) {
    policy.subjectAlternativeName = `^${escape(id.subject)}$`;
  }
  if (id?.subjectRegExp !== undefined) {
    policy.subjectAlternativeName = id.subjectRegExp;
  }
  if (id?.issuer !== undefined) policy.extensions = { issuer: id.issuer };
  const signer = verifier.verify(entity, policy);
  if (
    id?.issuerRegExp !== undefined &&
    !new RegExp(id.issuerRegExp, "u").test(
      signer.identity?.extensions?.issuer ?? "",
    )
  ) {
    throw new Error("issuer does not match");
  }
  for (const [name, want] of Object.entries(id?.claims ?? {})) {
    const oid = CLAIM_OIDS[name];
    const ext = signer.identity?.oids?.find((o) => o.oid.id.join(".") === oid);
    if (!ext || utf8Value(ext.value) !== want) {
      throw new Error(`claim ${name} does not match`);
    }
  }
}

const input = JSON.parse(
  await new Promise((resolve) => {
    const chunks = [];
    process.stdin.on("data", (d) => chunks.push(d));
    process.stdin.on(
      "end",
      () => resolve(Buffer.concat(chunks).toString("utf8")),
    );
  }),
);
const results = input.cases.map((c) => {
  try {
    verifyCase(c);
    return { name: c.name, ok: true };
  } catch (e) {
    return {
      name: c.name,
      ok: false,
      error: String(e?.message ?? e).split("\n")[0],
    };
  }
});
process.stdout.write(JSON.stringify(results));

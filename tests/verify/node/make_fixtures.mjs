// Makes the verify tests' fixtures with real signers: sigstore-js (@sigstore/sign) signs, against
// the fake Fulcio, Rekor and TSA servers of services.mjs on 127.0.0.1, the bundles skiff must
// verify (GitHub's provenance shape, cosign v3's signature shape, a key-based DSSE attestation, a
// message signature, ...), and cosign v2 `.sig`/`.att` layers are written from cosign's
// SIGNATURE_SPEC.md with the same services. Prints one JSON document on stdout; nothing is
// written anywhere else.
//
//   node tests/verify/node/make_fixtures.mjs
//
// Test tooling only (Node, loopback): never a part of skiff.

import crypto from "node:crypto";
import bundleModule from "@sigstore/bundle";
import signModule from "@sigstore/sign";
import { startServices } from "./services.mjs";

const { bundleToJSON } = bundleModule;
const {
  DSSEBundleBuilder,
  FulcioSigner,
  MessageSignatureBundleBuilder,
  RekorWitness,
  TSAWitness,
} = signModule;

const b64 = (b) => Buffer.from(b).toString("base64");
const b64url = (s) => Buffer.from(s).toString("base64url");
const sha256hex = (b) => crypto.createHash("sha256").update(b).digest("hex");
const retry = { retries: 0 };

/** An unsigned OIDC token: the mock Fulcio decodes it without checking a signature. */
function token(claims) {
  return `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${
    b64url(JSON.stringify(claims))
  }.x`;
}

// the image the signatures are about: an OCI manifest (its bytes and digest)
const manifest = Buffer.from(JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  // the empty descriptor: the tests can push this manifest to a real registry as it is
  config: {
    mediaType: "application/vnd.oci.empty.v1+json",
    digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    size: 2,
  },
  layers: [],
  annotations: { "made.by": `verify tests ${crypto.randomUUID()}` },
}));
const digest = `sha256:${sha256hex(manifest)}`;
const image = "127.0.0.1:5000/verify/app";

const GITHUB = {
  iss: "https://token.actions.githubusercontent.com",
  sub: "https://github.com/octo/app/.github/workflows/build.yml@refs/heads/main",
  repository: "octo/app",
  repository_owner: "octo",
  repository_id: "1001",
  repository_owner_id: "2002",
  repository_visibility: "public",
  ref: "refs/heads/main",
  sha: "a".repeat(40),
  workflow: "build",
  event_name: "push",
  job_workflow_ref: "octo/app/.github/workflows/build.yml@refs/heads/main",
  job_workflow_sha: "a".repeat(40),
  workflow_ref: "octo/app/.github/workflows/build.yml@refs/heads/main",
  workflow_sha: "a".repeat(40),
  runner_environment: "github-hosted",
  run_id: "77",
  run_attempt: "1",
};
const PERSON = {
  iss: "https://accounts.example.com",
  sub: "https://example.com/people/ada",
};

function statement(
  predicateType,
  predicate,
  subjectDigest = digest,
  version = "v1",
) {
  return Buffer.from(JSON.stringify({
    _type: `https://in-toto.io/Statement/${version}`,
    subject: [{
      name: image,
      digest: { sha256: subjectDigest.slice("sha256:".length) },
    }],
    predicateType,
    predicate,
  }));
}

const now = Math.floor(Date.now() / 1000) * 1000;
const services = await startServices({
  tsaClocks: {
    // a genTime with one fraction digit (".5Z"): valid RFC 3161, refused by sigstore-js's parser
    fraction: new Date(now + 60_500),
    // an hour after the certificate expired
    late: new Date(now + 3600_000),
  },
  logClocks: { late: new Date(now + 3600_000) },
});

const fulcio = (claims) =>
  new FulcioSigner({
    fulcioBaseURL: services.fulcioURL,
    identityProvider: { getToken: () => Promise.resolve(token(claims)) },
    retry,
  });
const rekor = (url, entryType) =>
  new RekorWitness({
    rekorBaseURL: url,
    entryType,
    fetchOnConflict: false,
    retry,
  });
const tsa = (url) => new TSAWitness({ tsaBaseURL: url, retry });

/** A key-based signer of sigstore-js's Signer interface. */
function keySigner(kind) {
  const pair = kind === "ed25519"
    ? crypto.generateKeyPairSync("ed25519")
    : kind === "rsa"
    ? crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
    : crypto.generateKeyPairSync("ec", {
      namedCurve: kind === "p384" ? "P-384" : "P-256",
    });
  const pem = pair.publicKey.export({ format: "pem", type: "spki" }).toString();
  const hash = kind === "ed25519" ? null : kind === "p384" ? "sha384" : "sha256";
  return {
    pem,
    signer: {
      sign: (data) =>
        Promise.resolve({
          signature: crypto.sign(hash, data, pair.privateKey),
          key: { $case: "publicKey", publicKey: pem, hint: `key-${kind}` },
        }),
    },
    sign: (data) => crypto.sign(hash, data, pair.privateKey),
  };
}

const out = {
  trustedRoot: services.trustedRoot,
  manifest: b64(manifest),
  digest,
  image,
  bundles: {},
  cosign: {},
};

async function dsse(
  name,
  { signer, witnesses, payload, chain = false, identity },
) {
  const builder = new DSSEBundleBuilder({
    signer,
    witnesses,
    certificateChain: chain,
  });
  const bundle = await builder.create({
    data: payload,
    type: "application/vnd.in-toto+json",
  });
  out.bundles[name] = { bundle: bundleToJSON(bundle), ...identity };
}

try {
  // GitHub's attest-build-provenance: keyless, SLSA provenance v1 in a v0.3 bundle, Rekor dsse
  await dsse("github-provenance", {
    signer: fulcio(GITHUB),
    witnesses: [rekor(services.ownLogURL, "dsse")],
    payload: statement("https://slsa.dev/provenance/v1", {
      buildDefinition: {
        buildType: "https://actions.github.io/buildtypes/workflow/v1",
      },
      runDetails: {
        builder: { id: "https://github.com/actions/runner/github-hosted" },
      },
    }),
    identity: { identity: { subject: GITHUB.sub, issuer: GITHUB.iss } },
  });
  // cosign v3 sign: keyless, the sign/v1 statement, Rekor dsse and an RFC 3161 timestamp
  await dsse("cosign-v3-signature", {
    signer: fulcio(PERSON),
    witnesses: [rekor(services.ownLogURL, "dsse"), tsa(services.tsaURL)],
    payload: statement("https://sigstore.dev/cosign/sign/v1", {}),
    identity: { identity: { subject: PERSON.sub, issuer: PERSON.iss } },
  });
  // a v0.2 bundle with a certificate chain and an in-toto v0.1 statement, logged as intoto
  await dsse("chain-v02-intoto", {
    signer: fulcio(PERSON),
    witnesses: [rekor(services.ownLogURL, "intoto")],
    payload: statement(
      "https://example.com/predicate/v1",
      { x: 1 },
      digest,
      "v0.1",
    ),
    chain: true,
    identity: { identity: { subject: PERSON.sub, issuer: PERSON.iss } },
  });
  // TSA only (no log): the time comes from a timestamp whose genTime has a fraction
  await dsse("tsa-fraction", {
    signer: fulcio(PERSON),
    witnesses: [tsa(services.tsaURLs.fraction)],
    payload: statement("https://example.com/predicate/v1", {}),
    identity: {
      identity: { subject: PERSON.sub, issuer: PERSON.iss },
      tlogThreshold: 0,
    },
  });
  // TSA only, an hour after the certificate expired
  await dsse("tsa-late", {
    signer: fulcio(PERSON),
    witnesses: [tsa(services.tsaURLs.late)],
    payload: statement("https://example.com/predicate/v1", {}),
    identity: {
      identity: { subject: PERSON.sub, issuer: PERSON.iss },
      tlogThreshold: 0,
    },
  });
  // logged an hour after the certificate expired
  await dsse("log-late", {
    signer: fulcio(PERSON),
    witnesses: [rekor(services.logURLs.late, "dsse")],
    payload: statement("https://example.com/predicate/v1", {}),
    identity: { identity: { subject: PERSON.sub, issuer: PERSON.iss } },
  });
  // key-based DSSE attestations, one per key type
  for (const kind of ["p256", "p384", "ed25519", "rsa"]) {
    const k = keySigner(kind);
    await dsse(`key-${kind}`, {
      signer: k.signer,
      witnesses: [rekor(services.ownLogURL, "dsse")],
      payload: statement("https://example.com/predicate/v1", { key: kind }),
      identity: { keyPem: k.pem },
    });
  }
  // a message signature over the manifest: keyless, hashedrekord and a timestamp
  {
    const builder = new MessageSignatureBundleBuilder({
      signer: fulcio(GITHUB),
      witnesses: [rekor(services.ownLogURL), tsa(services.tsaURL)],
    });
    const bundle = await builder.create({ data: manifest });
    out.bundles["message-signature"] = {
      bundle: bundleToJSON(bundle),
      identity: { subject: GITHUB.sub, issuer: GITHUB.iss },
      artifact: true,
    };
  }

  // cosign v2 (SIGNATURE_SPEC.md): a simple-signing payload per layer, the signature in an
  // annotation; keyless adds the certificate, its chain and the Rekor bundle (SET + payload)
  const simpleSigning = (d = digest, ref = image) =>
    Buffer.from(JSON.stringify({
      critical: {
        identity: { "docker-reference": ref },
        image: { "docker-manifest-digest": d },
        type: "cosign container image signature",
      },
      optional: { creator: "skiff verify tests" },
    }));
  const rekorBundle = (entries) => {
    const e = entries.tlogEntries[0];
    return JSON.stringify({
      SignedEntryTimestamp: b64(e.inclusionPromise.signedEntryTimestamp),
      Payload: {
        body: b64(e.canonicalizedBody),
        integratedTime: Number(e.integratedTime),
        logIndex: Number(e.logIndex),
        logID: Buffer.from(e.logId.keyId).toString("hex"),
      },
    });
  };
  {
    const k = keySigner("p256");
    const payload = simpleSigning();
    const signature = k.sign(payload);
    const logged = await rekor(services.ownLogURL).testify(
      {
        $case: "messageSignature",
        messageSignature: {
          messageDigest: {
            algorithm: 1,
            digest: crypto.createHash("sha256").update(payload).digest(),
          },
          signature,
        },
      },
      k.pem,
    );
    out.cosign["keyed"] = {
      payload: b64(payload),
      mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
      annotations: {
        "dev.cosignproject.cosign/signature": b64(signature),
        "dev.sigstore.cosign/bundle": rekorBundle(logged),
      },
      keyPem: k.pem,
    };
    out.cosign["keyed-no-log"] = {
      payload: b64(payload),
      mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
      annotations: { "dev.cosignproject.cosign/signature": b64(signature) },
      keyPem: k.pem,
      tlogThreshold: 0,
      timestampThreshold: 0,
    };
  }
  {
    const payload = simpleSigning();
    const signed = await fulcio(GITHUB).sign(payload);
    const logged = await rekor(services.mockRekorURL).testify(
      {
        $case: "messageSignature",
        messageSignature: {
          messageDigest: {
            algorithm: 1,
            digest: crypto.createHash("sha256").update(payload).digest(),
          },
          signature: signed.signature,
        },
      },
      signed.key.certificate,
    );
    const root = services.trustedRoot.certificateAuthorities[0].certChain.certificates[0]
      .rawBytes;
    out.cosign["keyless"] = {
      payload: b64(payload),
      mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
      annotations: {
        "dev.cosignproject.cosign/signature": b64(signed.signature),
        "dev.sigstore.cosign/certificate": signed.key.certificate,
        "dev.sigstore.cosign/chain": `-----BEGIN CERTIFICATE-----\n${
          root.match(/.{1,64}/g).join("\n")
        }\n-----END CERTIFICATE-----\n`,
        "dev.sigstore.cosign/bundle": rekorBundle(logged),
      },
      identity: { subject: GITHUB.sub, issuer: GITHUB.iss },
    };
  }
  {
    // a cosign v2 attestation: the layer is the DSSE envelope, logged as intoto 0.0.2
    const payload = statement(
      "https://slsa.dev/provenance/v0.2",
      { builder: { id: "x" } },
      digest,
      "v0.1",
    );
    const signer = fulcio(PERSON);
    const builder = new DSSEBundleBuilder({
      signer,
      witnesses: [rekor(services.ownLogURL, "intoto")],
    });
    const bundle = bundleToJSON(
      await builder.create({
        data: payload,
        type: "application/vnd.in-toto+json",
      }),
    );
    const e = bundle.verificationMaterial.tlogEntries[0];
    const cert = Buffer.from(
      bundle.verificationMaterial.certificate.rawBytes,
      "base64",
    );
    out.cosign["attestation"] = {
      payload: b64(JSON.stringify(bundle.dsseEnvelope)),
      mediaType: "application/vnd.dsse.envelope.v1+json",
      annotations: {
        "dev.cosignproject.cosign/signature": "",
        "dev.sigstore.cosign/certificate": `-----BEGIN CERTIFICATE-----\n${
          cert.toString("base64").match(/.{1,64}/g).join("\n")
        }\n-----END CERTIFICATE-----\n`,
        "dev.sigstore.cosign/bundle": JSON.stringify({
          SignedEntryTimestamp: e.inclusionPromise.signedEntryTimestamp,
          Payload: {
            body: e.canonicalizedBody,
            integratedTime: Number(e.integratedTime),
            logIndex: Number(e.logIndex),
            logID: Buffer.from(e.logId.keyId, "base64").toString("hex"),
          },
        }),
      },
      identity: { subject: PERSON.sub, issuer: PERSON.iss },
    };
  }
  process.stdout.write(JSON.stringify(out));
} finally {
  await services.close();
}

// Policy evaluation's own rules, with candidates and a sigstore verifier of the test's own (the
// GPG path against real signatures and skopeo is policy_differential_test.ts): scope choice,
// every requirement must hold, laziness, duplicates once, the mapping handed to the sigstore
// verifier, signedIdentity on what it returns, extension files, and the one-line error.

import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_assert.ts";
import { tempDir } from "../_temp.ts";
import { run } from "../_images.ts";
import { parsePolicy } from "../../lib/verify/parse_policy.ts";
import { loadPolicy } from "../../lib/verify/load_policy.ts";
import {
  assertPolicy,
  evaluatePolicy,
  requirementsFor,
  type SigstoreCandidate,
  type SigstoreRequirementOptions,
  type SigstoreVerification,
} from "../../lib/verify/evaluate_policy.ts";
import { PolicyRejectedError } from "../../lib/verify/policy_rejected_error.ts";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const D = "sha256:" + "d".repeat(64);
const image = (name: string, transport = "docker") => ({ transport, name, manifestDigest: D });

interface Cand extends SigstoreCandidate {
  verdict: SigstoreVerification;
}
const cand = (id: string, verdict: SigstoreVerification): Cand => ({
  id,
  label: `candidate ${id}`,
  verdict,
});
const good = (ref: string | undefined, signer = "key K"): SigstoreVerification => ({
  accepted: true,
  dockerReference: ref,
  signer,
});

Deno.test("evaluate: the most specific scope applies, as containers/image looks it up", () => {
  const p = parsePolicy(enc({
    default: [{ type: "reject" }],
    transports: {
      docker: {
        "": [{ type: "reject" }],
        "reg.example.com:5000/ns/app:1": [{ type: "insecureAcceptAnything" }],
        "reg.example.com:5000/ns/app": [{ type: "insecureAcceptAnything" }],
        "reg.example.com:5000/ns": [{ type: "insecureAcceptAnything" }],
        "reg.example.com:5000": [{ type: "insecureAcceptAnything" }],
        "*.example.com": [{ type: "insecureAcceptAnything" }],
        "docker.io/library/busybox": [{ type: "insecureAcceptAnything" }],
      },
      oci: { "/srv/images": [{ type: "insecureAcceptAnything" }], "": [{ type: "reject" }] },
    },
  }));
  const scope = (name: string, transport = "docker") =>
    requirementsFor(p, { transport, name }).scope;
  assertEquals(scope("reg.example.com:5000/ns/app:1"), "reg.example.com:5000/ns/app:1");
  assertEquals(scope("reg.example.com:5000/ns/app:2"), "reg.example.com:5000/ns/app");
  assertEquals(scope(`reg.example.com:5000/ns/app@${D}`), "reg.example.com:5000/ns/app");
  // with a tag and a digest, the digest is the identity
  assertEquals(scope(`reg.example.com:5000/ns/app:1@${D}`), "reg.example.com:5000/ns/app");
  assertEquals(scope("reg.example.com:5000/ns/other:1"), "reg.example.com:5000/ns");
  assertEquals(scope("reg.example.com:5000/x:1"), "reg.example.com:5000");
  // the port is not a wildcard's, and another port is another registry
  assertEquals(scope("reg.example.com:6000/x:1"), "*.example.com");
  assertEquals(scope("a.b.example.com/x:1"), "*.example.com");
  assertEquals(scope("example.com/x:1"), "");
  assertEquals(scope("busybox"), "docker.io/library/busybox");
  assertEquals(scope("/srv/images/app", "oci"), "/srv/images");
  assertEquals(scope("/srv/imagesx", "oci"), "");
  assertEquals(scope("/x.tar", "docker-archive"), undefined);
});

Deno.test("evaluate: every requirement must hold; reject rejects; signatures are read only when needed, once", async () => {
  let gpgCalls = 0, sigstoreCalls = 0;
  const candidates = {
    gpg: () => {
      gpgCalls++;
      return Promise.resolve([]);
    },
    sigstore: () => {
      sigstoreCalls++;
      return Promise.resolve([cand("a", good("reg.example/app:1"))]);
    },
  };
  const verifySigstore = (c: Cand) => Promise.resolve(c.verdict);
  const policy = (reqs: unknown[]) => parsePolicy(enc({ default: reqs }));
  const sig = { type: "sigstoreSigned", keyData: btoa("k") };

  let v = await evaluatePolicy(
    policy([{ type: "insecureAcceptAnything" }]),
    image("reg.example/app:1"),
    candidates,
    { verifySigstore },
  );
  assert(v.accepted);
  assertEquals([gpgCalls, sigstoreCalls], [0, 0]);

  v = await evaluatePolicy(
    policy([sig, sig, { type: "insecureAcceptAnything" }]),
    image("reg.example/app:1"),
    candidates,
    { verifySigstore },
  );
  assert(v.accepted);
  assertEquals([gpgCalls, sigstoreCalls], [0, 1]);

  v = await evaluatePolicy(
    policy([sig, { type: "reject" }]),
    image("reg.example/app:1"),
    candidates,
    { verifySigstore },
  );
  assert(!v.accepted);
  assertEquals(v.requirements.map((r) => r.satisfied), [true, false]);
  assertEquals(v.requirements[1]!.reason, "the policy rejects it");

  // a signedBy with no signatures at all
  v = await evaluatePolicy(
    policy([{ type: "signedBy", keyType: "GPGKeys", keyData: btoa("x") }]),
    image("reg.example/app:1"),
    candidates,
  );
  assert(!v.accepted);
  // (the key data is not a keyring: that is the reason, before any signature is read)
  assertStringIncludes(v.requirements[0]!.reason, "Cannot read OpenPGP keys");
  assertEquals(gpgCalls, 0);

  v = await evaluatePolicy(
    policy([{ type: "signedBaseLayer", baseLayerIdentity: { type: "matchRepository" } }]),
    image("reg.example/app:1"),
    candidates,
  );
  assert(!v.accepted);
  assertStringIncludes(v.requirements[0]!.reason, "not implemented");
});

Deno.test("evaluate: the sigstore verifier gets the requirement's mapping; signedIdentity judges its claim", async () => {
  const dir = await tempDir({ prefix: "skiff-eval-" });
  await Deno.writeTextFile(`${dir}/cosign.pub`, "PEM KEY");
  await Deno.writeTextFile(`${dir}/rekor.pub`, "REKOR KEY");
  await Deno.writeTextFile(`${dir}/ca.pem`, "CA");
  const policy = parsePolicy(enc({
    default: [{ type: "reject" }],
    transports: {
      docker: {
        "reg.example/keyed": [{
          type: "sigstoreSigned",
          keyPaths: [`${dir}/cosign.pub`],
          rekorPublicKeyPath: `${dir}/rekor.pub`,
          signedIdentity: { type: "matchRepository" },
        }],
        "reg.example/fulcio": [{
          type: "sigstoreSigned",
          fulcio: { caPath: `${dir}/ca.pem`, oidcIssuer: "https://issuer", subjectEmail: "a@b" },
          rekorPublicKeyData: btoa("REKOR DATA"),
        }],
      },
    },
  }));
  const seen: SigstoreRequirementOptions[] = [];
  const now = new Date("2026-01-01T00:00:00Z");
  const verify = (
    c: Cand,
    options: SigstoreRequirementOptions,
    img: { manifestDigest: string },
  ) => {
    seen.push(options);
    assertEquals(img.manifestDigest, D);
    return Promise.resolve(c.verdict);
  };
  const dec = (b: Uint8Array) => new TextDecoder().decode(b);

  // keyed, matchRepository: a claim of another tag of the repository is fine, another repository not
  let v = await evaluatePolicy(policy, image("reg.example/keyed:1"), {
    sigstore: () =>
      Promise.resolve([cand("x", good("reg.example/other")), cand("y", good("reg.example/keyed"))]),
  }, { verifySigstore: verify, now });
  assert(v.accepted, JSON.stringify(v));
  assertEquals(v.requirements[0]!.signatures.map((s) => s.accepted), [false, true]);
  assertStringIncludes(
    v.requirements[0]!.signatures[0]!.reason,
    'it signs identity "reg.example/other", which matchRepository does not accept',
  );
  const o = seen[0]!;
  assertEquals(o.kind, "signature");
  assertEquals(o.publicKeys.map(dec), ["PEM KEY"]);
  assertEquals(o.rekorPublicKeys.map(dec), ["REKOR KEY"]);
  assertEquals([o.fulcio, o.pki, o.trustedRoot, o.identities, o.predicateTypes], [
    undefined,
    undefined,
    undefined,
    [],
    [],
  ]);
  assertEquals(o.now, now);

  // fulcio with the default identity rule: a digest-only claim (an in-toto bundle) binds by digest
  seen.length = 0;
  v = await evaluatePolicy(policy, image("reg.example/fulcio:1"), {
    sigstore: () => Promise.resolve([cand("z", good(undefined, "a@b (https://issuer)"))]),
  }, { verifySigstore: verify, now });
  assert(v.accepted);
  assertEquals(dec(seen[0]!.fulcio!.caCertificates), "CA");
  assertEquals([seen[0]!.fulcio!.oidcIssuer, seen[0]!.fulcio!.subjectEmail], [
    "https://issuer",
    "a@b",
  ]);
  assertEquals(seen[0]!.rekorPublicKeys.map(dec), ["REKOR DATA"]);

  // matchRepoDigestOrExact: a tagged image needs the exact claim
  v = await evaluatePolicy(policy, image("reg.example/fulcio:1"), {
    sigstore: () => Promise.resolve([cand("z", good("reg.example/fulcio:2"))]),
  }, { verifySigstore: verify, now });
  assert(!v.accepted);

  // the verifier's refusals and failures are reasons; duplicates count once; no verifier, no acceptance
  v = await evaluatePolicy(policy, image("reg.example/keyed:1"), {
    sigstore: () =>
      Promise.resolve([
        cand("r", { accepted: false, reason: "the certificate is not from the trusted root" }),
        cand("r", { accepted: false, reason: "the certificate is not from the trusted root" }),
        { id: "t", label: "candidate t", verdict: good("x") },
      ]),
  }, {
    verifySigstore: (c) =>
      c.id === "t" ? Promise.reject(new Error("bundle is malformed")) : Promise.resolve(c.verdict),
  });
  assert(!v.accepted);
  assertEquals(v.requirements[0]!.signatures.length, 2);
  assertEquals(
    v.requirements[0]!.reason,
    "none of 2 signatures is accepted: candidate r: the certificate is not from the trusted root; candidate t: bundle is malformed",
  );
  v = await evaluatePolicy(policy, image("reg.example/keyed:1"), {
    sigstore: () => Promise.resolve([]),
  }, {
    verifySigstore: verify,
  });
  assertEquals(v.requirements[0]!.reason, "a sigstore signature was required, but there is none");
  v = await evaluatePolicy(policy, image("reg.example/keyed:1"), {
    sigstore: () => Promise.resolve([cand("a", good("reg.example/keyed"))]),
  });
  assertEquals(v.requirements[0]!.reason, "sigstore verification is not available here");

  // a key file that cannot be read is that requirement's reason
  await Deno.remove(`${dir}/cosign.pub`);
  v = await evaluatePolicy(policy, image("reg.example/keyed:1"), {
    sigstore: () => Promise.resolve([]),
  }, {
    verifySigstore: verify,
  });
  assertStringIncludes(v.requirements[0]!.reason, `Cannot read ${dir}/cosign.pub`);
});

Deno.test("evaluate: images from a directory or archive have no Docker identity", async () => {
  const policy = parsePolicy(enc({
    default: [{ type: "reject" }],
    transports: {
      oci: {
        "/srv/a": [{ type: "sigstoreSigned", keyData: btoa("k") }],
        "/srv/b": [{
          type: "sigstoreSigned",
          keyData: btoa("k"),
          signedIdentity: { type: "exactRepository", dockerRepository: "reg.example/app" },
        }],
      },
    },
  }));
  const candidates = { sigstore: () => Promise.resolve([cand("a", good("reg.example/app:1"))]) };
  const verifySigstore = (c: Cand) => Promise.resolve(c.verdict);
  let v = await evaluatePolicy(policy, image("/srv/a/layout", "oci"), candidates, {
    verifySigstore,
  });
  assert(!v.accepted);
  assertStringIncludes(v.requirements[0]!.reason, "(no Docker identity)");
  v = await evaluatePolicy(policy, image("/srv/b/layout", "oci"), candidates, { verifySigstore });
  assert(v.accepted);
});

Deno.test("evaluate: the rejection is one line naming the image, policy, scope and requirement", async () => {
  const policy = parsePolicy(
    enc({
      default: [{ type: "insecureAcceptAnything" }],
      transports: {
        docker: {
          "reg.example": [{ type: "insecureAcceptAnything" }, {
            type: "sigstoreSigned",
            keyData: btoa("k"),
          }],
        },
      },
    }),
    { source: "/etc/p.json" },
  );
  const e = await assertRejects(
    () =>
      assertPolicy(policy, image("reg.example/app:1"), {
        sigstore: () =>
          Promise.resolve([cand("a", { accepted: false, reason: "no\nnewline\r\nhere" })]),
      }, { verifySigstore: (c: Cand) => Promise.resolve(c.verdict) }),
    PolicyRejectedError,
  );
  assertEquals(
    e.message,
    'Cannot accept docker://reg.example/app:1: policy /etc/p.json, scope "reg.example", requirement 2 (sigstoreSigned): no newline here',
  );
  assert(e instanceof PolicyRejectedError && e.verdict.requirements.length === 2);
  // a docker name that is not a reference, or that names another digest, is the caller's mistake
  await assertRejects(() => evaluatePolicy(policy, image("Not A Ref"), {}), TypeError);
  await assertRejects(
    () => evaluatePolicy(policy, image(`reg.example/app@sha256:${"e".repeat(64)}`), {}),
    TypeError,
    "names another digest",
  );
  // the signal stops it
  await assertRejects(
    () => evaluatePolicy(policy, image("reg.example/app:1"), {}, { signal: AbortSignal.abort() }),
    DOMException,
  );
});

Deno.test("evaluate: a policy with extension files, which skopeo still reads", async () => {
  const dir = await tempDir({ prefix: "skiff-ext-" });
  await Deno.mkdir(`${dir}/skiff`);
  const policyPath = `${dir}/policy.json`;
  await Deno.writeTextFile(
    policyPath,
    JSON.stringify({
      default: [{ type: "reject" }],
      transports: {
        docker: {
          "ghcr.io/org": [{ type: "reject" }],
          "quay.io": [{ type: "insecureAcceptAnything" }],
        },
        "skiff-policy-extension": { "skiff/ext.json": [{ type: "reject" }] },
      },
    }),
  );
  await Deno.writeTextFile(
    `${dir}/skiff/ext.json`,
    JSON.stringify({
      skiffPolicyExtension: 1,
      transports: {
        docker: {
          "ghcr.io/org": [
            {
              type: "sigstoreSigned",
              trustedRootPath: "trusted_root.json",
              identities: [{
                issuerRegExp: "^https://token\\.actions\\.githubusercontent\\.com$",
                subject: "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main",
                githubWorkflowRef: "refs/heads/main",
              }],
              signedIdentity: { type: "matchRepository" },
            },
            {
              type: "attested",
              predicateType: "https://slsa.dev/provenance/v1",
              trustedRootPath: "trusted_root.json",
              identities: [{
                issuer: "https://token.actions.githubusercontent.com",
                subjectRegExp: "^https://github\\.com/org/",
              }],
            },
          ],
        },
      },
    }),
  );
  await Deno.writeTextFile(
    `${dir}/skiff/trusted_root.json`,
    '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}',
  );

  // skopeo reads the same policy.json: it parses, and its own ghcr.io/org scope rejects
  const r = await run("skopeo", [
    "copy",
    "--policy",
    policyPath,
    `oci:${dir}/none:x`,
    `dir:${dir}/out`,
  ]);
  assert(!r.stderr.includes("Error loading trust policy"), r.stderr);

  const policy = await loadPolicy(policyPath);
  assertEquals(policy.extensions, [`${dir}/skiff/ext.json`]);
  const { requirements } = requirementsFor(policy, {
    transport: "docker",
    name: "ghcr.io/org/app:1",
  });
  assertEquals(requirements.map((r) => r.type), ["sigstoreSigned", "attested"]);
  // policy.json's other scopes are still there
  assertEquals(
    requirementsFor(policy, { transport: "docker", name: "quay.io/a:1" }).scope,
    "quay.io",
  );

  const seen: SigstoreRequirementOptions[] = [];
  const v = await evaluatePolicy(policy, image("ghcr.io/org/app:1"), {
    sigstore: () =>
      Promise.resolve([
        cand(
          "sig",
          good(
            "ghcr.io/org/app",
            "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main",
          ),
        ),
        cand("att", {
          accepted: true,
          dockerReference: undefined,
          signer: "workflow",
          predicateType: "https://slsa.dev/provenance/v1",
        }),
      ]),
  }, {
    verifySigstore: (c: Cand, o) => {
      seen.push(o);
      // a real verifier tells signatures from attestations; this one by id
      return Promise.resolve(
        (o.kind === "signature") === (c.id === "sig")
          ? c.verdict
          : { accepted: false, reason: `not a ${o.kind}` },
      );
    },
  });
  assert(v.accepted, JSON.stringify(v.requirements));
  const [sigOpts, attOpts] = [
    seen.find((o) => o.kind === "signature")!,
    seen.find((o) => o.kind === "attestation")!,
  ];
  assertEquals(
    new TextDecoder().decode(sigOpts.trustedRoot!),
    '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}',
  );
  assertEquals(sigOpts.identities[0]!.githubWorkflowRef, "refs/heads/main");
  assertEquals(attOpts.predicateTypes, ["https://slsa.dev/provenance/v1"]);

  // two extensions may not define one scope
  await Deno.writeTextFile(
    `${dir}/skiff/ext2.json`,
    JSON.stringify({
      skiffPolicyExtension: 1,
      transports: { docker: { "ghcr.io/org": [{ type: "reject" }] } },
    }),
  );
  const both = JSON.parse(await Deno.readTextFile(policyPath));
  both.transports["skiff-policy-extension"]["skiff/ext2.json"] = [{ type: "reject" }];
  await Deno.writeTextFile(policyPath, JSON.stringify(both));
  await assertRejects(() => loadPolicy(policyPath), SyntaxError, "is also defined in");
  // a missing extension is an error, not a silently looser policy
  await Deno.remove(`${dir}/skiff/ext2.json`);
  await assertRejects(
    () => loadPolicy(policyPath),
    Error,
    `Cannot read policy extension ${dir}/skiff/ext2.json`,
  );
});

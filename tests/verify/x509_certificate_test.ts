// X.509 parsing: a Fulcio certificate made by @sigstore/mock's CA through sigstore-js (its SAN, the
// GitHub claims in both forms, the SCT list), and certificates that must be refused.

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { DerError } from "../../lib/verify/_der.ts";
import { parseSctList, precertificateTbs } from "../../lib/verify/_sct.ts";
import { X509Certificate } from "../../lib/verify/x509_certificate.ts";
import { sigstoreFixtures, unbase64 } from "./_sigstore.ts";
import { keyPair, makeCert, utf8String } from "./_x509.ts";

Deno.test("x509: a Fulcio certificate's identity, claims and SCT", async () => {
  const fx = await sigstoreFixtures();
  // deno-lint-ignore no-explicit-any
  const b = fx.bundles["github-provenance"]!.bundle as any;
  const cert = X509Certificate.parse(unbase64(b.verificationMaterial.certificate.rawBytes));
  assertEquals(cert.version, 3);
  assertEquals(cert.subjectAltNames, [{
    type: "uri",
    value: "https://github.com/octo/app/.github/workflows/build.yml@refs/heads/main",
  }]);
  assertEquals(cert.claims.issuer, "https://token.actions.githubusercontent.com");
  assertEquals(cert.claims.githubWorkflowTrigger, "push");
  assertEquals(cert.claims.githubWorkflowSha, "a".repeat(40));
  assertEquals(cert.claims.githubWorkflowName, "build");
  assertEquals(cert.claims.githubWorkflowRepository, "octo/app");
  assertEquals(cert.claims.githubWorkflowRef, "refs/heads/main");
  assertEquals(
    cert.claims.buildSignerUri,
    "https://github.com/octo/app/.github/workflows/build.yml@refs/heads/main",
  );
  assertEquals(cert.claims.buildSignerDigest, "a".repeat(40));
  assertEquals(cert.claims.runnerEnvironment, "github-hosted");
  assertEquals(cert.claims.sourceRepositoryUri, "https://github.com/octo/app");
  assertEquals(cert.claims.sourceRepositoryDigest, "a".repeat(40));
  assertEquals(cert.claims.sourceRepositoryRef, "refs/heads/main");
  assertEquals(cert.claims.sourceRepositoryIdentifier, "1001");
  assertEquals(cert.claims.sourceRepositoryOwnerUri, "https://github.com/octo");
  assertEquals(cert.claims.sourceRepositoryOwnerIdentifier, "2002");
  assertEquals(
    cert.claims.buildConfigUri,
    "https://github.com/octo/app/.github/workflows/build.yml@refs/heads/main",
  );
  assertEquals(cert.claims.buildTrigger, "push");
  assertEquals(
    cert.claims.runInvocationUri,
    "https://github.com/octo/app/actions/runs/77/attempts/1",
  );
  assertEquals(cert.claims.sourceRepositoryVisibilityAtSigning, "public");
  assert(cert.extKeyUsage?.includes("1.3.6.1.5.5.7.3.3"));
  assert(cert.keyUsage?.digitalSignature);
  assertEquals(cert.precertificatePoison, false);
  assertEquals(parseSctList(cert.sctList!).length, 1);
  // the precertificate drops exactly the SCT extension
  assert(precertificateTbs(cert).length < cert.tbs.length);
  assertEquals(cert.notAfter.getTime() - cert.notBefore.getTime(), 10 * 60 * 1000);
});

Deno.test("x509: the refused", async () => {
  assertThrows(
    () => X509Certificate.parse(new Uint8Array(100 * 1024 * 1024)),
    DerError,
    "over the limit",
  );
  const k = await keyPair();
  const base = {
    subject: "leaf",
    keys: k,
    keyUsage: ["digitalSignature" as const],
    eku: ["1.3.6.1.5.5.7.3.3"],
  };
  const dup = await makeCert({
    ...base,
    extra: [{ oid: "2.5.29.15", critical: true, value: new Uint8Array([3, 2, 0, 0x80]) }],
  });
  assertThrows(() => X509Certificate.parse(dup), DerError, "appears twice");
  const issuers = await makeCert({
    ...base,
    extra: [
      {
        oid: "1.3.6.1.4.1.57264.1.1",
        critical: false,
        value: new TextEncoder().encode("https://a.example"),
      },
      { oid: "1.3.6.1.4.1.57264.1.8", critical: false, value: utf8String("https://b.example") },
    ],
  });
  assertThrows(() => X509Certificate.parse(issuers), DerError, "issuer extensions differ");
  const badV2 = await makeCert({
    ...base,
    extra: [{ oid: "1.3.6.1.4.1.57264.1.8", critical: false, value: new Uint8Array([4, 1, 0x41]) }],
  });
  assertThrows(() => X509Certificate.parse(badV2), DerError, "expected a string");
  const good = await makeCert({
    ...base,
    extra: [{ oid: "1.3.6.1.4.1.57264.1.99", critical: false, value: new Uint8Array([5, 0]) }],
  });
  assertEquals(X509Certificate.parse(good).unknownCritical, []);
  const trailing = new Uint8Array([...good, 0]);
  assertThrows(() => X509Certificate.parse(trailing), DerError, "follow the element");
  assertThrows(
    () => X509Certificate.fromPem("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"),
    SyntaxError,
  );
});

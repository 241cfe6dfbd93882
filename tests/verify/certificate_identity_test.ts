// Identity matching as cosign does it: exact values, or regular expressions matched anywhere in
// the value unless anchored; Fulcio claims exactly or by regexp.

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { checkIdentity, matchIdentity } from "../../lib/verify/certificate_identity.ts";
import { X509Certificate } from "../../lib/verify/x509_certificate.ts";
import { keyPair, makeCert, utf8String } from "./_x509.ts";

const cert = X509Certificate.parse(
  await makeCert({
    subject: "leaf",
    keys: await keyPair(),
    uri: "https://github.com/octo/app/.github/workflows/build.yml@refs/heads/main",
    extra: [
      {
        oid: "1.3.6.1.4.1.57264.1.8",
        critical: false,
        value: utf8String("https://token.actions.githubusercontent.com"),
      },
      {
        oid: "1.3.6.1.4.1.57264.1.12",
        critical: false,
        value: utf8String("https://github.com/octo/app"),
      },
    ],
  }),
);
const ISSUER = "https://token.actions.githubusercontent.com";

Deno.test("identity: exact, regexp (unanchored as cosign's), claims", () => {
  assertEquals(
    matchIdentity(cert, {
      subject: "https://github.com/octo/app/.github/workflows/build.yml@refs/heads/main",
      issuer: ISSUER,
    }),
    undefined,
  );
  assertEquals(matchIdentity(cert, { subjectRegExp: "octo/app", issuer: ISSUER }), undefined);
  assert(
    matchIdentity(cert, { subjectRegExp: "^octo/app", issuer: ISSUER })!.includes("does not match"),
  );
  assertEquals(
    matchIdentity(cert, {
      subjectRegExp: "^https://github\\.com/octo/",
      issuerRegExp: "^https://token\\.actions\\.",
    }),
    undefined,
  );
  assert(
    matchIdentity(cert, { subject: "https://github.com/octo/app", issuer: ISSUER })!.includes(
      "its identity is",
    ),
  );
  assert(
    matchIdentity(cert, { subjectRegExp: ".", issuer: "https://accounts.google.com" })!.includes(
      "its OIDC issuer is",
    ),
  );
  assertEquals(
    matchIdentity(cert, {
      issuer: ISSUER,
      claims: { sourceRepositoryUri: "https://github.com/octo/app" },
    }),
    undefined,
  );
  assert(
    matchIdentity(cert, { issuer: ISSUER, claims: { sourceRepositoryRef: "refs/heads/main" } })!
      .includes("(none)"),
  );
  assertEquals(
    matchIdentity(cert, {
      issuer: ISSUER,
      claimsRegExp: { sourceRepositoryUri: "^https://github\\.com/octo/" },
    }),
    undefined,
  );
});

Deno.test("identity: incomplete identities and bad regexps are refused", () => {
  assertThrows(() => checkIdentity({ subject: "x" }), TypeError, "without an OIDC issuer");
  assertThrows(() => checkIdentity({ issuer: ISSUER }), TypeError, "without a subject");
  assertThrows(
    () => checkIdentity({ subjectRegExp: "(", issuer: ISSUER }),
    TypeError,
    "identity regexp",
  );
  checkIdentity({ issuer: ISSUER, claims: { sourceRepositoryUri: "x" } });
});

// The trusted root: protobuf JSON tolerance (unknown fields, snake_case names, null) and strictness
// (a wrong type is refused naming its field), against the root the tests' services publish.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { parseTrustedRoot } from "../../lib/verify/trusted_root.ts";
import { sigstoreFixtures } from "./_sigstore.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test("trusted root: the services' root, with unknown fields and snake_case names", async () => {
  const fx = await sigstoreFixtures();
  const r = structuredClone(fx.trustedRoot) as Json;
  r.somethingNew = { x: 1 };
  r.tlogs[0].operator = "someone";
  r.tlogs[0].public_key = r.tlogs[0].publicKey;
  delete r.tlogs[0].publicKey;
  r.ctlogs[0].checkpointKeyId = null;
  const root = await parseTrustedRoot(JSON.stringify(r));
  assertEquals(
    root.tlogs.length,
    fx.trustedRoot.tlogs instanceof Array ? (fx.trustedRoot.tlogs as unknown[]).length : 0,
  );
  assertEquals(root.tlogs[0]!.key?.algorithm, "ecdsa-p256");
  assertEquals(root.certificateAuthorities[0]!.chain.length, 1);
  assertEquals(root.timestampAuthorities[0]!.chain.length, 2);
  assert(root.tlogs[0]!.validFor.start instanceof Date);
  r.mediaType = "application/vnd.dev.sigstore.trustedroot.v0.2+json";
  assertEquals((await parseTrustedRoot(JSON.stringify(r))).mediaType, r.mediaType);
});

Deno.test("trusted root: a wrong type is refused naming the field", async () => {
  const fx = await sigstoreFixtures();
  const cases: [(r: Json) => void, string][] = [
    [(r) => (r.tlogs = {}), "tlogs: expected an array"],
    [(r) => (r.tlogs[0].baseUrl = 5), "tlogs[0].baseUrl: expected a string"],
    [
      (r) => (r.tlogs[0].publicKey.rawBytes = 5),
      "tlogs[0].publicKey.rawBytes: expected a base64 string",
    ],
    [(r) => (r.tlogs[0].publicKey.rawBytes = "%%%"), "tlogs[0].publicKey.rawBytes is not base64"],
    [(r) => (r.tlogs[0].logId = "x"), "tlogs[0].logId: expected an object"],
    [
      (r) => (r.certificateAuthorities[0].certChain.certificates[0].rawBytes = "AAAA"),
      "certificateAuthorities[0].certChain.certificates[0].rawBytes",
    ],
    [
      (r) => (r.certificateAuthorities[0].validFor.start = "yesterday"),
      "certificateAuthorities[0].validFor.start: expected an RFC 3339 time",
    ],
    [(r) => (r.mediaType = "application/json"), "mediaType: unsupported"],
    [(r) => delete r.mediaType, "mediaType: missing"],
  ];
  for (const [mutate, message] of cases) {
    const r = structuredClone(fx.trustedRoot) as Json;
    mutate(r);
    await assertRejects(
      () => parseTrustedRoot(JSON.stringify(r)),
      SyntaxError,
      `Cannot read the trusted root: ${message}`,
    );
  }
  await assertRejects(() => parseTrustedRoot("[]"), SyntaxError, "expected an object");
  await assertRejects(() => parseTrustedRoot(new Uint8Array([0xff])), SyntaxError, "not UTF-8");
});

Deno.test("trusted root: a log of a key type skiff cannot use is kept, and verifies nothing", async () => {
  const fx = await sigstoreFixtures();
  const r = structuredClone(fx.trustedRoot) as Json;
  r.tlogs[0].publicKey.keyDetails = "ML_DSA_65";
  const root = await parseTrustedRoot(JSON.stringify(r));
  assertEquals(root.tlogs[0]!.key, undefined);
  assert(/ML_DSA_65 is not supported/.test(root.tlogs[0]!.keyError!));
});

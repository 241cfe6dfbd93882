import { assertEquals, assertThrows } from "../_assert.ts";
import {
  ATOMIC_SIGNATURE_TYPE,
  COSIGN_SIGNATURE_TYPE,
  parseSimpleSigning,
  simpleSigningDigestMismatch,
} from "../../lib/verify/simple_signing.ts";

const DIGEST = "sha256:" + "ab".repeat(32);
const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

function payload(extra: { critical?: Record<string, unknown>; optional?: unknown } = {}) {
  return {
    critical: {
      type: ATOMIC_SIGNATURE_TYPE,
      image: { "docker-manifest-digest": DIGEST },
      identity: { "docker-reference": "registry.example/ns/app:1.0" },
      ...extra.critical,
    },
    optional: "optional" in extra
      ? extra.optional
      : { creator: "atomic 2.0.0", timestamp: 1700000000 },
  };
}

Deno.test("simple signing: what skopeo writes is read", () => {
  // the byte layout containers/image's MarshalJSON produces
  const bytes = enc(
    `{"critical":{"identity":{"docker-reference":"registry.example/ns/app:1.0"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"atomic container signature"},"optional":{"creator":"atomic 5.23.1","timestamp":1700000000}}`,
  );
  const s = parseSimpleSigning(bytes);
  assertEquals(s.type, ATOMIC_SIGNATURE_TYPE);
  assertEquals(s.manifestDigest, DIGEST);
  assertEquals(s.dockerReference, "registry.example/ns/app:1.0");
  assertEquals(s.creator, "atomic 5.23.1");
  assertEquals(s.timestamp, 1700000000);
});

Deno.test("simple signing: cosign's payload, with optional null or annotations", () => {
  const cosign = {
    critical: {
      identity: { "docker-reference": "ghcr.io/org/app" },
      image: { "docker-manifest-digest": DIGEST },
      type: COSIGN_SIGNATURE_TYPE,
    },
    optional: null,
  };
  const s = parseSimpleSigning(enc(cosign), { type: COSIGN_SIGNATURE_TYPE });
  assertEquals(s.optional, null);
  assertEquals(s.dockerReference, "ghcr.io/org/app");
  const annotated = parseSimpleSigning(enc({ ...cosign, optional: { env: "prod", n: [1] } }));
  assertEquals(annotated.optional?.env, "prod");
  assertEquals(annotated.creator, undefined);
  // the wrong kind is refused when one is asked for
  assertThrows(
    () => parseSimpleSigning(enc(cosign), { type: ATOMIC_SIGNATURE_TYPE }),
    SyntaxError,
    'critical.type "cosign container image signature" is not "atomic container signature"',
  );
});

Deno.test("simple signing: every deviation is refused, naming the field", () => {
  const cases: [unknown, string][] = [
    [
      payload({ critical: { type: "something else" } }),
      'critical.type "something else" is not a known',
    ],
    [payload({ critical: { type: 1 } }), "critical.type is number, not a string"],
    [payload({ critical: { extra: 1 } }), 'critical has an unknown field "extra"'],
    [
      payload({ critical: { image: { "docker-manifest-digest": "sha256:abc" } } }),
      "not a valid digest",
    ],
    [
      payload({ critical: { image: { "docker-manifest-digest": DIGEST, x: 1 } } }),
      'critical.image has an unknown field "x"',
    ],
    [payload({ critical: { image: {} } }), "critical.image.docker-manifest-digest is missing"],
    [payload({ critical: { image: null } }), "critical.image is null, not an object"],
    [
      payload({ critical: { identity: { "docker-reference": null } } }),
      "critical.identity.docker-reference is null",
    ],
    [
      payload({ critical: { identity: { "docker-reference": "a", more: "b" } } }),
      'critical.identity has an unknown field "more"',
    ],
    [payload({ optional: null }), "optional is null, not an object"],
    [payload({ optional: [] }), "optional is array, not an object"],
    [payload({ optional: { timestamp: 1.5 } }), "optional.timestamp is not an integer"],
    [payload({ optional: { timestamp: "1" } }), "optional.timestamp is string"],
    [payload({ optional: { creator: 7 } }), "optional.creator is number"],
    [{ critical: payload().critical }, "optional is missing"],
    [{ ...payload(), extra: true }, 'the document has an unknown field "extra"'],
    [[payload()], "the document is array, not an object"],
    [
      `{"critical":${JSON.stringify(payload().critical)},"optional":{},"optional":{}}`,
      'the key "optional" appears twice',
    ],
    ["not json", "Cannot parse simple signing payload"],
    [JSON.stringify(payload()) + "x", "data after the end of the document"],
  ];
  for (const [doc, message] of cases) {
    assertThrows(() => parseSimpleSigning(enc(doc)), SyntaxError, message, JSON.stringify(doc));
  }
  // unknown optional fields are kept, as containers/image ignores them
  assertEquals(
    JSON.parse(JSON.stringify(
      parseSimpleSigning(enc(payload({ optional: { other: { deep: 1 } } }))).optional?.other,
    )),
    { deep: 1 },
  );
});

Deno.test("simple signing: the size is bounded", () => {
  const big = payload({ optional: { pad: "x".repeat(300 * 1024) } });
  assertThrows(() => parseSimpleSigning(enc(big)), SyntaxError, "larger than");
});

Deno.test("simple signing: the digest claim must be the manifest's", () => {
  const s = parseSimpleSigning(enc(payload()));
  assertEquals(simpleSigningDigestMismatch(s, DIGEST), undefined);
  const other = "sha256:" + "cd".repeat(32);
  assertEquals(
    simpleSigningDigestMismatch(s, other),
    `the signature signs manifest ${DIGEST}, not ${other}`,
  );
});

// policy.json parsing: what skiff accepts and refuses, compared with what skopeo 1.9 (Debian 12)
// accepts and refuses for the same file, and the messages naming the field.

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { run } from "../_images.ts";
import { tempDir } from "../_temp.ts";
import {
  parsePolicy,
  parsePolicyExtension,
  type Requirement,
} from "../../lib/verify/parse_policy.ts";

const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const ACCEPT = [{ type: "insecureAcceptAnything" }];
const withScope = (transport: string, scope: string, reqs: unknown = ACCEPT) => ({
  default: ACCEPT,
  transports: { [transport]: { [scope]: reqs } },
});
const req = (r: Record<string, unknown>) => withScope("docker", "example.com", [r]);
const gpg = (extra: Record<string, unknown> = {}) => ({
  type: "signedBy",
  keyType: "GPGKeys",
  keyPath: "/k.gpg",
  ...extra,
});
const B64 = btoa("key bytes");

/** [what, document, skiff's refusal (undefined: accepted), skopeo 1.9's verdict when it differs] */
const CASES: [string, unknown, string | undefined, ("accepts" | "refuses")?][] = [
  ["minimal", { default: ACCEPT }, undefined],
  ["reject default", { default: [{ type: "reject" }] }, undefined],
  ["no default", { transports: {} }, "default is missing"],
  ["empty default", { default: [] }, "default is empty"],
  ["null default", { default: null }, "default is null"],
  ["unknown top-level key", { default: ACCEPT, skiff: {} }, 'has an unknown field "skiff"'],
  ["transports null", { default: ACCEPT, transports: null }, "transports is null"],
  [
    "transport null",
    { default: ACCEPT, transports: { docker: null } },
    "transports.docker is null",
  ],
  [
    "transport an array",
    { default: ACCEPT, transports: { docker: [] } },
    "transports.docker is array",
  ],
  [
    "duplicated key",
    '{"default":[{"type":"reject"}],"default":[{"type":"reject"}]}',
    'the key "default" appears twice',
  ],
  [
    "duplicated key deep",
    '{"default":[{"type":"reject","type":"reject"}]}',
    'the key "type" appears twice',
  ],
  ["trailing data", '{"default":[{"type":"reject"}]}x', "data after the end"],
  ["not JSON", "default: reject", "Cannot parse policy"],
  [
    "an unknown transport with valid requirements",
    withScope("skiff", "anything at all"),
    undefined,
  ],
  [
    "an unknown transport with an unknown requirement",
    withScope("skiff", "x", [{ type: "skiffThing" }]),
    '"skiffThing" is not a known requirement type',
  ],
  [
    "an empty requirement list",
    withScope("docker", "example.com", []),
    'transports.docker["example.com"] is empty',
  ],
  [
    "requirements that are an object",
    withScope("docker", "example.com", { type: "reject" }),
    "not an array",
  ],
  ["a docker scope of any text", withScope("docker", "Not A Name:::"), undefined],
  ["a docker wildcard scope", withScope("docker", "*.example.com"), undefined],
  ["oci relative scope", withScope("oci", "relative/path"), "is not an absolute path"],
  ["oci / scope", withScope("oci", "/"), 'is "/"'],
  ["oci unclean scope", withScope("oci", "/a/../b"), "canonical form (/b)"],
  ["oci absolute scope", withScope("oci", "/srv/images"), undefined],
  ["dir absolute scope", withScope("dir", "/srv/images"), undefined],
  ["oci-archive absolute scope", withScope("oci-archive", "/srv/a.tar"), undefined],
  [
    "docker-archive scope",
    withScope("docker-archive", "/x.tar"),
    "docker-archive has only the default scope",
  ],
  ["docker-archive default scope", withScope("docker-archive", ""), undefined],
  ["tarball scope", withScope("tarball", "/x"), "tarball has only the default scope"],
  ["atomic scope", withScope("atomic", "registry.example:5000/ns/stream:tag"), undefined],
  // skopeo 1.9 as Debian builds it has no atomic transport, so any scope is accepted; skiff too
  ["atomic scope of any text", withScope("atomic", "a/b/c/d"), undefined],
  [
    "docker-daemon digest scope",
    withScope("docker-daemon", "sha256:" + "a".repeat(64)),
    "is a digest",
  ],
  [
    "containers-storage scope",
    withScope("containers-storage", "[overlay@/var/lib/containers/storage]docker.io/a"),
    undefined,
  ],
  [
    "containers-storage bad scope",
    withScope("containers-storage", "docker.io/a"),
    "not a valid containers-storage scope",
  ],
  ["requirement without type", req({}), "type is missing"],
  ["requirement type a number", req({ type: 1 }), "type is number"],
  [
    "insecureAcceptAnything with more",
    req({ type: "insecureAcceptAnything", x: 1 }),
    'has an unknown field "x"',
  ],
  ["signedBy keyPath", req(gpg()), undefined],
  ["signedBy keyPaths", req(gpg({ keyPath: undefined, keyPaths: ["/a", "/b"] })), undefined],
  ["signedBy empty keyPaths", req(gpg({ keyPath: undefined, keyPaths: [] })), undefined],
  ["signedBy keyData", req(gpg({ keyPath: undefined, keyData: B64 })), undefined],
  [
    "signedBy keyData not base64",
    req(gpg({ keyPath: undefined, keyData: "abc" })),
    "keyData is not valid base64",
  ],
  ["signedBy two key sources", req(gpg({ keyData: B64 })), "has keyPath and keyData; only one"],
  ["signedBy keyPath null", req(gpg({ keyData: B64, keyPath: null })), "Cannot parse policy"],
  [
    "signedBy no key",
    req({ type: "signedBy", keyType: "GPGKeys" }),
    "needs one of keyPath, keyPaths, keyData",
  ],
  ["signedBy empty keyPath", req(gpg({ keyPath: "" })), "keyPath is empty"],
  ["signedBy no keyType", req({ type: "signedBy", keyPath: "/k" }), "keyType is missing"],
  ["signedBy unknown keyType", req(gpg({ keyType: "PGP" })), '"PGP" is not a known key type'],
  ["signedBy reserved keyType", req(gpg({ keyType: "X509Certificates" })), undefined],
  ["signedBy unknown field", req(gpg({ keyFile: "/x" })), 'has an unknown field "keyFile"'],
  [
    "signedBy keyPaths of numbers",
    req(gpg({ keyPath: undefined, keyPaths: [1] })),
    "keyPaths[0] is number",
  ],
  ["signedIdentity matchExact", req(gpg({ signedIdentity: { type: "matchExact" } })), undefined],
  [
    "signedIdentity matchRepository",
    req(gpg({ signedIdentity: { type: "matchRepository" } })),
    undefined,
  ],
  [
    "signedIdentity with more",
    req(gpg({ signedIdentity: { type: "matchExact", x: 1 } })),
    "signedIdentity has an unknown field",
  ],
  [
    "signedIdentity unknown",
    req(gpg({ signedIdentity: { type: "matchAnything" } })),
    '"matchAnything" is not a known identity type',
  ],
  ["signedIdentity null", req(gpg({ signedIdentity: null })), "signedIdentity is null"],
  [
    "exactReference",
    req(gpg({ signedIdentity: { type: "exactReference", dockerReference: "busybox:1" } })),
    undefined,
  ],
  [
    "exactReference without tag",
    req(gpg({ signedIdentity: { type: "exactReference", dockerReference: "busybox" } })),
    "has neither a tag nor a digest",
  ],
  [
    "exactReference invalid",
    req(gpg({ signedIdentity: { type: "exactReference", dockerReference: "a b:1" } })),
    "is not a valid reference",
  ],
  [
    "exactReference missing",
    req(gpg({ signedIdentity: { type: "exactReference" } })),
    "dockerReference is missing",
  ],
  [
    "exactRepository",
    req(gpg({ signedIdentity: { type: "exactRepository", dockerRepository: "quay.io/a/b" } })),
    undefined,
  ],
  [
    "exactRepository invalid",
    req(gpg({ signedIdentity: { type: "exactRepository", dockerRepository: "a b" } })),
    "is not a valid repository",
  ],
  [
    "remapIdentity",
    req(
      gpg({
        signedIdentity: {
          type: "remapIdentity",
          prefix: "mirror.example:5000/vendor",
          signedPrefix: "docker.io/library",
        },
      }),
    ),
    undefined,
  ],
  [
    "remapIdentity host prefix",
    req(
      gpg({
        signedIdentity: {
          type: "remapIdentity",
          prefix: "mirror.example",
          signedPrefix: "quay.io",
        },
      }),
    ),
    undefined,
  ],
  [
    "remapIdentity prefix with tag",
    req(
      gpg({
        signedIdentity: { type: "remapIdentity", prefix: "quay.io/a:1", signedPrefix: "quay.io" },
      }),
    ),
    "is not a valid prefix",
  ],
  [
    "remapIdentity missing signedPrefix",
    req(gpg({ signedIdentity: { type: "remapIdentity", prefix: "quay.io" } })),
    "signedPrefix is missing",
  ],
  [
    "signedBaseLayer",
    req({ type: "signedBaseLayer", baseLayerIdentity: { type: "matchRepository" } }),
    undefined,
  ],
  [
    "signedBaseLayer without identity",
    req({ type: "signedBaseLayer" }),
    "baseLayerIdentity is missing",
  ],
  ["sigstoreSigned keyPath", req({ type: "sigstoreSigned", keyPath: "/cosign.pub" }), undefined],
  [
    "sigstoreSigned keyData + matchRepository",
    req({ type: "sigstoreSigned", keyData: B64, signedIdentity: { type: "matchRepository" } }),
    undefined,
  ],
  [
    "sigstoreSigned keyPath and keyData",
    req({ type: "sigstoreSigned", keyPath: "/a", keyData: B64 }),
    "has keyPath and keyData",
  ],
  [
    "sigstoreSigned no key",
    req({ type: "sigstoreSigned" }),
    "needs exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, pki",
  ],
  // fields containers/image added after skopeo 1.9's 5.23
  [
    "sigstoreSigned keyPaths",
    req({ type: "sigstoreSigned", keyPaths: ["/a", "/b"] }),
    undefined,
    "refuses",
  ],
  [
    "sigstoreSigned empty keyPaths",
    req({ type: "sigstoreSigned", keyPaths: [] }),
    "keyPaths is empty",
  ],
  [
    "sigstoreSigned keyDatas",
    req({ type: "sigstoreSigned", keyDatas: [B64] }),
    undefined,
    "refuses",
  ],
  [
    "sigstoreSigned fulcio",
    req({
      type: "sigstoreSigned",
      fulcio: { caPath: "/ca.pem", oidcIssuer: "https://issuer", subjectEmail: "a@b" },
      rekorPublicKeyPath: "/rekor.pub",
    }),
    undefined,
    "refuses",
  ],
  [
    "sigstoreSigned fulcio without rekor",
    req({
      type: "sigstoreSigned",
      fulcio: { caPath: "/ca.pem", oidcIssuer: "i", subjectEmail: "e" },
    }),
    "uses fulcio, which needs rekorPublicKeyPath",
  ],
  [
    "sigstoreSigned fulcio without email",
    req({
      type: "sigstoreSigned",
      fulcio: { caPath: "/ca.pem", oidcIssuer: "i" },
      rekorPublicKeyPath: "/r",
    }),
    "fulcio.subjectEmail is missing",
  ],
  [
    "sigstoreSigned fulcio caPath and caData",
    req({
      type: "sigstoreSigned",
      fulcio: { caPath: "/ca.pem", caData: B64, oidcIssuer: "i", subjectEmail: "e" },
      rekorPublicKeyPath: "/r",
    }),
    "has caPath and caData",
  ],
  [
    "sigstoreSigned fulcio unknown field",
    req({
      type: "sigstoreSigned",
      fulcio: { caPath: "/c", oidcIssuer: "i", subjectEmail: "e", issuerRegExp: "x" },
      rekorPublicKeyPath: "/r",
    }),
    'fulcio has an unknown field "issuerRegExp"',
  ],
  [
    "sigstoreSigned two rekor sources",
    req({
      type: "sigstoreSigned",
      keyPath: "/a",
      rekorPublicKeyPath: "/r",
      rekorPublicKeyData: B64,
    }),
    "has rekorPublicKeyPath and rekorPublicKeyData",
  ],
  [
    "sigstoreSigned pki",
    req({
      type: "sigstoreSigned",
      pki: { caRootsPath: "/roots.pem", subjectHostname: "build.example" },
    }),
    undefined,
    "refuses",
  ],
  [
    "sigstoreSigned pki with rekor",
    req({
      type: "sigstoreSigned",
      pki: { caRootsPath: "/r.pem", subjectEmail: "a@b" },
      rekorPublicKeyPath: "/r",
    }),
    "uses pki, which does not take rekor public keys",
  ],
  [
    "sigstoreSigned pki without subject",
    req({ type: "sigstoreSigned", pki: { caRootsPath: "/r.pem" } }),
    "needs subjectEmail or subjectHostname",
  ],
  [
    "sigstoreSigned keys and fulcio",
    req({
      type: "sigstoreSigned",
      keyPath: "/a",
      fulcio: { caPath: "/c", oidcIssuer: "i", subjectEmail: "e" },
      rekorPublicKeyPath: "/r",
    }),
    "(2 given)",
  ],
  // the skiff extension's fields are refused in policy.json (skopeo refuses them too)
  [
    "sigstoreSigned with an extension field",
    req({ type: "sigstoreSigned", keyPath: "/a", trustedRootPath: "/t.json" }),
    'has an unknown field "trustedRootPath"',
  ],
  [
    "attested in policy.json",
    req({ type: "attested", predicateType: "x", keyPath: "/a" }),
    "is a skiff extension",
  ],
  // the pointer to extension files
  [
    "an extension pointer",
    withScope("skiff-policy-extension", "skiff-policy.json", [{ type: "reject" }]),
    undefined,
  ],
  // skiff's own rule for its own transport: skopeo sees an unknown transport and accepts
  [
    "an extension pointer with another filler",
    withScope("skiff-policy-extension", "skiff-policy.json", ACCEPT),
    'must be [{"type": "reject"}]',
    "accepts",
  ],
];

Deno.test("policy parsing: skiff accepts and refuses what skopeo 1.9 does, naming the field", async () => {
  const dir = await tempDir({ prefix: "skiff-policy-parse-" });
  const disagreements: string[] = [];
  const queue = CASES.map((c, i) => ({ c, i }));
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const [what, doc, refusal, skopeoDiffers] = job.c;
      const bytes = enc(doc);
      // skiff
      let skiffError: string | undefined;
      try {
        parsePolicy(bytes, { source: "p.json" });
      } catch (e) {
        assert(e instanceof SyntaxError, `${what}: ${e}`);
        skiffError = e.message;
        assert(!skiffError.includes("\n"), skiffError);
      }
      if (refusal === undefined) {
        if (skiffError) disagreements.push(`${what}: skiff refuses: ${skiffError}`);
      } else if (!skiffError?.includes(refusal)) {
        disagreements.push(
          `${what}: expected a refusal with "${refusal}", got ${skiffError ?? "acceptance"}`,
        );
      }
      // skopeo: a copy from a layout that does not exist fails after the policy is read, or while
      const path = `${dir}/p${job.i}.json`;
      await Deno.writeFile(path, bytes);
      const r = await run("skopeo", [
        "copy",
        "--policy",
        path,
        `oci:${dir}/none:x`,
        `dir:${dir}/out${job.i}`,
      ]);
      assert(r.code !== 0);
      const skopeoRefuses = r.stderr.includes("Error loading trust policy");
      const expected = skopeoDiffers ?? (refusal === undefined ? "accepts" : "refuses");
      if ((expected === "refuses") !== skopeoRefuses) {
        disagreements.push(
          `${what}: skopeo ${skopeoRefuses ? "refuses" : "accepts"}: ${
            r.stderr.trim().slice(0, 300)
          }`,
        );
      }
    }
  }));
  assertEquals(disagreements, []);
});

Deno.test("policy parsing: the parsed structure", () => {
  const p = parsePolicy(
    enc({
      default: [{ type: "reject" }],
      transports: {
        docker: {
          "quay.io/ns": [
            {
              type: "signedBy",
              keyType: "GPGKeys",
              keyPaths: ["/a.gpg", "b.gpg"],
              signedIdentity: { type: "matchRepository" },
            },
            { type: "sigstoreSigned", keyData: B64 },
          ],
        },
        "skiff-policy-extension": {
          "ext.json": [{ type: "reject" }],
          "/etc/skiff/more.json": [{ type: "reject" }],
        },
      },
    }),
    { source: "/etc/containers/policy.json" },
  );
  assertEquals(p.source, "/etc/containers/policy.json");
  assertEquals(p.extensions, ["ext.json", "/etc/skiff/more.json"]);
  assertEquals([...p.transports.keys()], ["docker"]);
  const [signedBy, sigstore] = p.transports.get("docker")!.get("quay.io/ns")! as Requirement[];
  assert(signedBy?.type === "signedBy");
  assertEquals(signedBy.keys.field, "keyPaths");
  // policy.json's relative key paths stay relative to the working directory, as in containers/image
  assertEquals(signedBy.keys.sources, [{ path: "/a.gpg", base: undefined }, {
    path: "b.gpg",
    base: undefined,
  }]);
  assertEquals(signedBy.signedIdentity, { type: "matchRepository" });
  assert(sigstore?.type === "sigstoreSigned");
  assertEquals(
    new TextDecoder().decode((sigstore.keys!.sources[0] as { data: Uint8Array }).data),
    "key bytes",
  );
  // the default identity rule
  assertEquals(sigstore.signedIdentity, { type: "matchRepoDigestOrExact" });
});

Deno.test("policy parsing: an extension file", () => {
  const ext = parsePolicyExtension(
    enc({
      skiffPolicyExtension: 1,
      transports: {
        docker: {
          "ghcr.io/org": [
            {
              type: "sigstoreSigned",
              trustedRootPath: "trusted_root.json",
              identities: [
                {
                  issuer: "https://token.actions.githubusercontent.com",
                  subjectRegExp: "^https://github\\.com/org/.*$",
                  githubWorkflowRepository: "org/app",
                },
              ],
              signedIdentity: { type: "matchRepository" },
            },
            {
              type: "attested",
              predicateTypes: ["https://slsa.dev/provenance/v1"],
              keyPath: "cosign.pub",
              trustedRootPath: "/etc/tr.json",
            },
          ],
        },
      },
    }),
    { source: "/etc/skiff/ext.json", base: "/etc/skiff" },
  );
  const [s, a] = ext.transports.get("docker")!.get("ghcr.io/org")!;
  assert(s?.type === "sigstoreSigned");
  assertEquals(s.trustedRoot, { path: "trusted_root.json", base: "/etc/skiff" });
  assertEquals(s.identities?.[0]?.githubWorkflowRepository, "org/app");
  assert(a?.type === "attested");
  assertEquals(a.predicateTypes, ["https://slsa.dev/provenance/v1"]);
  assertEquals(a.keys?.sources, [{ path: "cosign.pub", base: "/etc/skiff" }]);

  const bad: [unknown, string][] = [
    [{ transports: {} }, "skiffPolicyExtension is missing"],
    [{ skiffPolicyExtension: 2 }, "skiffPolicyExtension is not 1"],
    [{ skiffPolicyExtension: 1, default: [] }, 'has an unknown field "default"'],
    [{
      skiffPolicyExtension: 1,
      transports: { "skiff-policy-extension": { "x": [{ type: "reject" }] } },
    }, "only allowed in policy.json"],
    [{
      skiffPolicyExtension: 1,
      transports: {
        docker: { x: [{ type: "sigstoreSigned", identities: [{ issuer: "i", subject: "s" }] }] },
      },
    }, "has identities but no trustedRootPath"],
    [{
      skiffPolicyExtension: 1,
      transports: {
        docker: { x: [{ type: "sigstoreSigned", trustedRootPath: "t", identities: [] }] },
      },
    }, "identities is empty"],
    [{
      skiffPolicyExtension: 1,
      transports: {
        docker: {
          x: [{ type: "sigstoreSigned", trustedRootPath: "t", identities: [{ subject: "s" }] }],
        },
      },
    }, "needs exactly one of issuer and issuerRegExp"],
    [{
      skiffPolicyExtension: 1,
      transports: {
        docker: {
          x: [{
            type: "sigstoreSigned",
            trustedRootPath: "t",
            identities: [{ issuer: "i", subject: "s", subjectRegExp: "s" }],
          }],
        },
      },
    }, "needs exactly one of subject and subjectRegExp"],
    [{
      skiffPolicyExtension: 1,
      transports: {
        docker: {
          x: [{
            type: "sigstoreSigned",
            trustedRootPath: "t",
            identities: [{ issuer: "i", subjectRegExp: "(" }],
          }],
        },
      },
    }, "subjectRegExp is not a valid regular expression"],
    [{
      skiffPolicyExtension: 1,
      transports: {
        docker: {
          x: [{
            type: "sigstoreSigned",
            trustedRootPath: "t",
            identities: [{ issuer: "i", subject: "s", email: "e" }],
          }],
        },
      },
    }, 'has an unknown field "email"'],
    [{
      skiffPolicyExtension: 1,
      transports: { docker: { x: [{ type: "attested", keyPath: "/k" }] } },
    }, "needs exactly one of predicateType and predicateTypes"],
    [{
      skiffPolicyExtension: 1,
      transports: { docker: { x: [{ type: "attested", predicateTypes: [], keyPath: "/k" }] } },
    }, "predicateTypes is empty"],
  ];
  for (const [doc, message] of bad) {
    assertThrows(
      () => parsePolicyExtension(enc(doc), { source: "e.json" }),
      SyntaxError,
      message,
      JSON.stringify(doc),
    );
  }
});

Deno.test("policy parsing: sizes and depths are bounded", () => {
  assertThrows(
    () => parsePolicy(new Uint8Array(5 * 1024 * 1024).fill(0x20)),
    SyntaxError,
    "larger than",
  );
  const deep = '{"default":' + "[".repeat(10_000) + "]".repeat(10_000) + "}";
  assertThrows(() => parsePolicy(enc(deep)), SyntaxError, "nested deeper");
});

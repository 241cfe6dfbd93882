import { assert, assertEquals } from "../_assert.ts";
import { type Challenge, parseChallenges } from "../../lib/transport/parse_challenges.ts";

Deno.test("parseChallenges: real registries' challenges", () => {
  const cases: [string, string, Challenge[]][] = [
    [
      "Docker Hub",
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",' +
      'scope="repository:library/alpine:pull"',
      [{
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:library/alpine:pull",
        },
      }],
    ],
    [
      "GHCR",
      'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull"',
      [{
        scheme: "bearer",
        params: {
          realm: "https://ghcr.io/token",
          service: "ghcr.io",
          scope: "repository:user/image:pull",
        },
      }],
    ],
    [
      "Quay",
      'Bearer realm="https://quay.io/v2/auth",service="quay.io",' +
      'scope="repository:coreos/etcd:pull"',
      [{
        scheme: "bearer",
        params: {
          realm: "https://quay.io/v2/auth",
          service: "quay.io",
          scope: "repository:coreos/etcd:pull",
        },
      }],
    ],
    [
      "ECR",
      'Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",' +
      'service="ecr.amazonaws.com"',
      [{
        scheme: "basic",
        params: {
          realm: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",
          service: "ecr.amazonaws.com",
        },
      }],
    ],
    [
      "Distribution with htpasswd",
      'Basic realm="Registry Realm"',
      [{ scheme: "basic", params: { realm: "Registry Realm" } }],
    ],
    [
      "insufficient scope",
      'Bearer realm="https://auth.example/token",service="r",scope="repository:a:pull",' +
      'error="insufficient_scope"',
      [{
        scheme: "bearer",
        params: {
          realm: "https://auth.example/token",
          service: "r",
          scope: "repository:a:pull",
          error: "insufficient_scope",
        },
      }],
    ],
  ];
  for (const [name, header, want] of cases) assertEquals(parseChallenges(header), want, name);
});

Deno.test("parseChallenges: several challenges in one header", () => {
  assertEquals(parseChallenges('Basic realm="x", Bearer realm="y",service="z"'), [
    { scheme: "basic", params: { realm: "x" } },
    { scheme: "bearer", params: { realm: "y", service: "z" } },
  ]);
  assertEquals(parseChallenges('Bearer realm="y" , Basic realm="x"'), [
    { scheme: "bearer", params: { realm: "y" } },
    { scheme: "basic", params: { realm: "x" } },
  ]);
  assertEquals(parseChallenges('Basic, Bearer realm="y"'), [
    { scheme: "basic", params: {} },
    { scheme: "bearer", params: { realm: "y" } },
  ]);
  // RFC 9110 section 11.6.1's example
  assertEquals(
    parseChallenges(
      'Newauth realm="apps", type=1,\ttitle="Login to \\"apps\\"", Basic realm="simple"',
    ),
    [
      { scheme: "newauth", params: { realm: "apps", type: "1", title: 'Login to "apps"' } },
      { scheme: "basic", params: { realm: "simple" } },
    ],
  );
});

Deno.test("parseChallenges: quoted strings with backslash escapes", () => {
  assertEquals(parseChallenges('Bearer realm="a\\"b\\\\c\\d"'), [
    { scheme: "bearer", params: { realm: 'a"b\\cd' } },
  ]);
  assertEquals(parseChallenges('Bearer realm="", service="s"'), [
    { scheme: "bearer", params: { realm: "", service: "s" } },
  ]);
  assertEquals(parseChallenges('Bearer realm="has = and , inside"'), [
    { scheme: "bearer", params: { realm: "has = and , inside" } },
  ]);
});

Deno.test("parseChallenges: commas and spaces inside a quoted scope", () => {
  assertEquals(
    parseChallenges(
      'Bearer realm="https://a/token",scope="repository:a:pull,push repository:b:pull",' +
        'service="s"',
    ),
    [{
      scheme: "bearer",
      params: {
        realm: "https://a/token",
        scope: "repository:a:pull,push repository:b:pull",
        service: "s",
      },
    }],
  );
});

Deno.test("parseChallenges: scheme and parameter names are case-insensitive", () => {
  const want = [{ scheme: "bearer", params: { realm: "https://A/Token", service: "Svc" } }];
  assertEquals(parseChallenges('BEARER Realm="https://A/Token", SERVICE="Svc"'), want);
  assertEquals(parseChallenges('bEaReR rEaLm="https://A/Token",sErViCe="Svc"'), want);
});

Deno.test("parseChallenges: unquoted token values and optional whitespace around =", () => {
  assertEquals(parseChallenges("Bearer realm=https://a/token,service=reg, error=invalid_token"), [
    {
      scheme: "bearer",
      params: { realm: "https://a/token", service: "reg", error: "invalid_token" },
    },
  ]);
  assertEquals(parseChallenges('Bearer realm = "x" , service =y'), [
    { scheme: "bearer", params: { realm: "x", service: "y" } },
  ]);
});

Deno.test("parseChallenges: token68", () => {
  assertEquals(parseChallenges("Negotiate YIIB+/abc=="), [
    { scheme: "negotiate", params: { "": "YIIB+/abc==" } },
  ]);
  assertEquals(parseChallenges('Negotiate abc=, Basic realm="r"'), [
    { scheme: "negotiate", params: { "": "abc=" } },
    { scheme: "basic", params: { realm: "r" } },
  ]);
  assertEquals(parseChallenges("Negotiate"), [{ scheme: "negotiate", params: {} }]);
});

Deno.test("parseChallenges: empty and odd headers", () => {
  assertEquals(parseChallenges(""), []);
  assertEquals(parseChallenges("   ,  , "), []);
  assertEquals(parseChallenges('Bearer realm="unterminated'), [
    { scheme: "bearer", params: { realm: "unterminated" } },
  ]);
});

Deno.test("parseChallenges: garbage never throws", () => {
  const garbage = [
    '"',
    '""',
    "=",
    "==,==",
    "Bearer =",
    'Bearer ="x"',
    "Bearer realm=",
    'Bearer realm="\\',
    "Bearer realm\\",
    'realm="x"',
    "\u0000\u0001\uffff",
    "Bearer, , , realm",
    "a=b=c=d",
    "\t\t",
    'Bearer realm="x""y"',
    '日本語 realm="ü"',
    "Basic " + "=".repeat(10_000),
    "Bearer " + 'a="b",'.repeat(10_000),
  ];
  // plus a few thousand deterministic random strings from the characters that matter
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const alphabet = ' \t,="\\aBr=;/+-';
  for (let i = 0; i < 3000; i++) {
    let s = "";
    const len = Math.floor(random() * 30);
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(random() * alphabet.length)];
    garbage.push(s);
  }
  for (const header of garbage) {
    let out: Challenge[] = [];
    try {
      out = parseChallenges(header);
    } catch (e) {
      throw new Error(`parseChallenges threw on ${JSON.stringify(header)}: ${e}`);
    }
    assert(Array.isArray(out));
    for (const c of out) {
      assert(typeof c.scheme === "string" && c.scheme === c.scheme.toLowerCase());
      assert(Object.values(c.params).every((v) => typeof v === "string"));
    }
  }
});

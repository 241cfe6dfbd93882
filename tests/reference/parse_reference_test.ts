import { assertEquals, assertMatch, assertThrows } from "../_assert.ts";
import { parseReference } from "../../lib/reference/parse_reference.ts";

const D256 = "sha256:" + "0123456789abcdef".repeat(4);
const D512 = "sha512:" + "0123456789abcdef".repeat(8);

// input -> [registry, repository, tag, digest, canonical]
const VALID: [string, string, string, string | undefined, string | undefined][] = [
  ["alpine", "docker.io", "library/alpine", "latest", undefined],
  ["alpine:3.20", "docker.io", "library/alpine", "3.20", undefined],
  ["library/alpine:3.20", "docker.io", "library/alpine", "3.20", undefined],
  ["docker.io/alpine", "docker.io", "library/alpine", "latest", undefined],
  ["index.docker.io/library/alpine", "docker.io", "library/alpine", "latest", undefined],
  ["index.docker.io/alpine:edge", "docker.io", "library/alpine", "edge", undefined],
  ["bitnami/redis:7", "docker.io", "bitnami/redis", "7", undefined],
  ["ghcr.io/org/app:v1.2.3", "ghcr.io", "org/app", "v1.2.3", undefined],
  ["ghcr.io/org/team/app", "ghcr.io", "org/team/app", "latest", undefined],
  ["quay.io/coreos/etcd:v3.5.0", "quay.io", "coreos/etcd", "v3.5.0", undefined],
  ["localhost/app", "localhost", "app", "latest", undefined],
  ["localhost:5000/app:dev", "localhost:5000", "app", "dev", undefined],
  ["127.0.0.1:5000/team/app:1.2", "127.0.0.1:5000", "team/app", "1.2", undefined],
  ["[::1]:5000/app", "[::1]:5000", "app", "latest", undefined],
  ["[2001:db8::1]/app:x", "[2001:db8::1]", "app", "x", undefined],
  ["[::]:5000/app", "[::]:5000", "app", "latest", undefined],
  ["[2001:DB8:0:0:8:800:200C:417A]/a", "[2001:DB8:0:0:8:800:200C:417A]", "a", "latest", undefined],
  ["[1:2:3:4:5:6:7::]/a", "[1:2:3:4:5:6:7::]", "a", "latest", undefined],
  ["[::2:3:4:5:6:7:8]/a", "[::2:3:4:5:6:7:8]", "a", "latest", undefined],
  ["[fe80::]:443/a", "[fe80::]:443", "a", "latest", undefined],
  ["[::ffff:192.0.2.128]/a", "[::ffff:192.0.2.128]", "a", "latest", undefined],
  ["[::13.1.68.3]/a", "[::13.1.68.3]", "a", "latest", undefined],
  ["[0:0:0:0:0:ffff:1.2.3.4]:5000/a", "[0:0:0:0:0:ffff:1.2.3.4]:5000", "a", "latest", undefined],
  ["[64:ff9b::255.255.255.255]/a", "[64:ff9b::255.255.255.255]", "a", "latest", undefined],
  ["registry.example.com:443/a/b/c:t", "registry.example.com:443", "a/b/c", "t", undefined],
  ["my-registry.local/app", "my-registry.local", "app", "latest", undefined],
  // first component without '.' or ':' and lowercase: a Docker Hub namespace, not a registry
  ["myregistry/app", "docker.io", "myregistry/app", "latest", undefined],
  // 'localhost:5000' alone is a Docker Hub name with a tag (Docker's own rule)
  ["localhost:5000", "docker.io", "library/localhost", "5000", undefined],
  [`alpine@${D256}`, "docker.io", "library/alpine", undefined, D256],
  [`alpine:3.20@${D256}`, "docker.io", "library/alpine", "3.20", D256],
  [`ghcr.io/a/b@${D512}`, "ghcr.io", "a/b", undefined, D512],
  ["a_b/c__d/e-f/g--h/i.j:T_a.g-9", "docker.io", "a_b/c__d/e-f/g--h/i.j", "T_a.g-9", undefined],
  ["_/x".slice(2), "docker.io", "library/x", "latest", undefined],
  ["x:_tag", "docker.io", "library/x", "_tag", undefined],
  ["x:" + "t".repeat(128), "docker.io", "library/x", "t".repeat(128), undefined],
];

Deno.test("parseReference: valid references normalize like Docker", () => {
  for (const [input, registry, repository, tag, digest] of VALID) {
    const ref = parseReference(input);
    assertEquals(
      { registry: ref.registry, repository: ref.repository, tag: ref.tag, digest: ref.digest },
      { registry, repository, tag, digest },
      input,
    );
    let canonical = `${registry}/${repository}`;
    if (tag !== undefined) canonical += `:${tag}`;
    if (digest !== undefined) canonical += `@${digest}`;
    assertEquals(ref.toString(), canonical, input);
    // the canonical form parses to itself
    assertEquals(parseReference(ref.toString()).toString(), canonical, input);
  }
});

Deno.test("parseReference: name:tag@digest keeps both and fetches by digest", () => {
  const ref = parseReference(`alpine:3.20@${D256}`);
  assertEquals(ref.tag, "3.20");
  assertEquals(ref.digest, D256);
  assertEquals(ref.identifier, D256);
  assertEquals(parseReference("alpine").identifier, "latest");
});

// input -> what the message must say
const INVALID: [string, RegExp][] = [
  ["", /empty/],
  [" alpine", /white space/],
  ["alpine ", /white space/],
  ["Alpine", /must be lowercase/],
  ["docker.io/Library/alpine", /must be lowercase/],
  ["alpine:", /tag after ':' is empty/],
  ["alpine:-x", /invalid tag/],
  ["alpine:.x", /invalid tag/],
  ["alpine:a/b", /invalid port "a"/],
  ["x:" + "t".repeat(129), /invalid tag/],
  ["alpine@sha256:abc", /invalid digest/],
  ["alpine@sha256:" + "A".repeat(64), /invalid digest/],
  ["alpine@md5:" + "0".repeat(32), /unsupported algorithm/],
  ["alpine@", /invalid digest/],
  ["/alpine", /empty|invalid/],
  ["alpine/", /empty path component|empty/],
  ["a//b", /empty path component/],
  ["-alpine", /invalid path component/],
  ["alpine-", /invalid path component/],
  ["a...b", /invalid path component/],
  ["a___b", /invalid path component/],
  ["ghcr.io/", /empty/],
  ["ghcr.io:99999/app", /invalid port/],
  ["ghcr.io:0/app", /invalid port/],
  ["ghcr.io:abc/app", /invalid port|invalid registry/],
  ["-bad.io/app", /invalid registry host/],
  ["bad-.io/app", /invalid registry host/],
  ["[::1/app", /unclosed|invalid/],
  ["[zz::1]/app", /invalid IPv6/],
  ["[...]/app", /invalid IPv6/],
  ["[:]/app", /invalid IPv6/],
  ["[]/app", /invalid path component/], // no "." or ":": not a registry part
  ["[:::]/app", /invalid IPv6/],
  ["[1:::2]/app", /invalid IPv6/],
  ["[1::2::3]/app", /invalid IPv6/],
  ["[:1::2]/app", /invalid IPv6/],
  ["[1::2:]/app", /invalid IPv6/],
  ["[1:2:3:4:5:6:7]/app", /invalid IPv6/],
  ["[1:2:3:4:5:6:7:8:9]/app", /invalid IPv6/],
  ["[1:2:3:4:5:6:7::8]/app", /invalid IPv6/],
  ["[12345::1]/app", /invalid IPv6/],
  ["[::1.2.3]/app", /invalid IPv6/],
  ["[::256.1.1.1]/app", /invalid IPv6/],
  ["[::01.2.3.4]/app", /invalid IPv6/],
  ["[1.2.3.4]/app", /invalid IPv6/],
  ["[::1.2.3.4:5]/app", /invalid IPv6/],
  ["[1.2.3.4::]/app", /invalid IPv6/],
  ["[1:2:3:4:5:6:7:1.2.3.4]/app", /invalid IPv6/],
  ["[fe80::1%eth0]/app", /invalid IPv6/],
  ["[::g]/app", /invalid IPv6/],
  ["0123456789abcdef".repeat(4), /image ID/],
  ["a/" + "b".repeat(254), /longer than 255/],
  ["ghcr.io/app:tag:more", /invalid tag|invalid/],
];

Deno.test("parseReference: invalid references throw a SyntaxError saying what is wrong", () => {
  for (const [input, message] of INVALID) {
    const e = assertThrows(() => parseReference(input), SyntaxError, undefined, input) as Error;
    assertMatch(e.message, /^Cannot parse reference/, input);
    assertMatch(e.message, message, input);
  }
});

Deno.test("parseReference: the 255-character limit counts the name as written", () => {
  const name = "a/" + "b".repeat(253); // exactly 255
  assertEquals(parseReference(name).repository, name);
});

import { assertEquals, assertMatch, assertThrows } from "../_assert.ts";
import { isDigest, parseDigest } from "../../lib/reference/parse_digest.ts";
import { computeDigest } from "../../lib/reference/compute_digest.ts";

Deno.test("parseDigest: sha256 and sha512 with exact lowercase hex", () => {
  assertEquals(parseDigest("sha256:" + "f".repeat(64)).algorithm, "sha256");
  assertEquals(parseDigest("sha512:" + "0".repeat(128)).hex.length, 128);
});

Deno.test("parseDigest: refuses what could escape a path or is not a digest", () => {
  const bad: [string, RegExp][] = [
    ["sha256:" + "f".repeat(63), /64 lowercase hex/],
    ["sha256:" + "f".repeat(65), /64 lowercase hex/],
    ["sha256:" + "F".repeat(64), /64 lowercase hex/],
    ["sha512:" + "0".repeat(64), /128 lowercase hex/],
    ["sha256:../../etc/passwd", /64 lowercase hex/],
    ["sha256/" + "f".repeat(64), /expected "algorithm:hex"/],
    [":" + "f".repeat(64), /expected "algorithm:hex"/],
    ["md5:" + "f".repeat(32), /unsupported algorithm/],
    ["SHA256:" + "f".repeat(64), /invalid algorithm/],
    ["", /expected/],
  ];
  for (const [input, message] of bad) {
    const e = assertThrows(() => parseDigest(input), SyntaxError, undefined, input) as Error;
    assertMatch(e.message, message, input);
    assertEquals(isDigest(input), false);
  }
});

Deno.test("computeDigest: known values", async () => {
  const hello = new TextEncoder().encode("hello");
  assertEquals(
    await computeDigest(hello),
    "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
  );
  assertMatch(await computeDigest(hello, "sha512"), /^sha512:9b71d224bd62f378/);
});

import { assertEquals, assertThrows } from "../_assert.ts";
import { createHash } from "node:crypto";
import { DigestVerifier } from "../../lib/stream/digest_verifier.ts";
import {
  DigestMismatchError,
  SizeMismatchError,
} from "../../lib/reference/digest_mismatch_error.ts";

const data = new TextEncoder().encode("the quick brown fox");
const sha256 = "sha256:" + createHash("sha256").update(data).digest("hex");
const sha512 = "sha512:" + createHash("sha512").update(data).digest("hex");

Deno.test("DigestVerifier: sha256 and sha512 in pieces", () => {
  for (const digest of [sha256, sha512]) {
    const v = new DigestVerifier({ digest, size: data.byteLength });
    v.update(data.subarray(0, 4));
    v.update(data.subarray(4));
    v.verify();
    assertEquals(v.bytes, data.byteLength);
  }
});

Deno.test("DigestVerifier: refuses a byte past the size before hashing it", () => {
  const v = new DigestVerifier({ digest: sha256, size: data.byteLength });
  v.update(data.subarray(0, 10));
  assertThrows(() => v.update(data), SizeMismatchError);
  assertEquals(v.bytes, 10); // the refused chunk was not counted
  v.update(data.subarray(10));
  v.verify();
});

Deno.test("DigestVerifier: short content and wrong content", () => {
  const short = new DigestVerifier({ digest: sha256, size: data.byteLength });
  short.update(data.subarray(1));
  assertThrows(() => short.verify(), SizeMismatchError);
  const wrong = new DigestVerifier({ digest: sha256, size: data.byteLength });
  const changed = data.slice();
  changed[0]! ^= 1;
  wrong.update(changed);
  const e = assertThrows(() => wrong.verify(), DigestMismatchError) as DigestMismatchError;
  assertEquals(e.expected, sha256);
  assertEquals(e.actual, "sha256:" + createHash("sha256").update(changed).digest("hex"));
});

Deno.test("DigestVerifier: resumes from a hash of the prefix", () => {
  const hash = createHash("sha256").update(data.subarray(0, 7));
  const v = new DigestVerifier({ digest: sha256, size: data.byteLength }, { hash, offset: 7 });
  v.update(data.subarray(7));
  v.verify();
});

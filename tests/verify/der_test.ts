// The bounded DER reader: hostile lengths and nesting end in a DerError (no stack overflow, no
// allocation of what a length claims), and times read as RFC 5280 and RFC 3161 write them.

import { assertEquals, assertThrows } from "../_assert.ts";
import { nestedDer } from "./_x509.ts";
import {
  DerError,
  encode,
  parseDer,
  readOid,
  readSmallInt,
  readTime,
} from "../../lib/verify/_der.ts";

const bytes = (...b: number[]) => new Uint8Array(b);
const time = (tag: number, s: string) => parseDer(encode(tag, new TextEncoder().encode(s)), "t");

Deno.test("der: a SEQUENCE nested 100 000 deep is refused at the depth cap, without recursion", () => {
  // built as one buffer: 100 000 headers "30 83 xx xx xx" around NULL
  const depth = 100_000;
  const out = new Uint8Array(depth * 5 + 2);
  let len = 2;
  for (let i = depth - 1; i >= 0; i--) {
    out.set([0x30, 0x83, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff], i * 5);
    len += 5;
  }
  out.set([0x05, 0x00], depth * 5);
  // (the innermost lengths are not minimal in this form, but the depth cap stops the walk first)
  assertThrows(
    () => parseDer(out, "deep", { maxBytes: out.length }),
    DerError,
    "nested deeper than 32",
  );
  const inner = nestedDer(2000);
  assertThrows(() => parseDer(inner, "deep"), DerError, "nested deeper than 32");
});

Deno.test("der: lengths are checked before use", () => {
  assertThrows(
    () => parseDer(bytes(0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0, 0), "x"),
    DerError,
    "runs past the end",
  );
  assertThrows(() => parseDer(bytes(0x30, 0x85, 1, 0, 0, 0, 0), "x"), DerError, "too large");
  assertThrows(() => parseDer(bytes(0x30, 0x80, 0, 0), "x"), DerError, "indefinite");
  assertThrows(
    () => parseDer(bytes(0x30, 0x81, 0x05, 5, 0, 5, 0, 0), "x"),
    DerError,
    "not minimal",
  );
  assertThrows(() => parseDer(bytes(0x30, 0x82, 0x00, 0x90), "x"), DerError, "not minimal");
  assertThrows(() => parseDer(bytes(0x05, 0x00, 0x00), "x"), DerError, "follow the element");
  assertThrows(
    () => parseDer(bytes(0x30, 0x03, 0x05, 0x05, 0x00), "x"),
    DerError,
    "runs past the end",
  );
  assertThrows(() => parseDer(bytes(0x30), "x"), DerError, "cut off");
});

Deno.test("der: the size and element caps", () => {
  assertThrows(
    () => parseDer(new Uint8Array(100 * 1024 * 1024), "certificate"),
    DerError,
    "over the limit",
  );
  const nulls = new Uint8Array(20_001 * 2);
  for (let i = 0; i < nulls.length; i += 2) nulls[i] = 0x05;
  const seq = encode(0x30, nulls);
  assertThrows(
    () => parseDer(seq, "x", { maxBytes: seq.length }),
    DerError,
    "more than 10000 elements",
  );
});

Deno.test("der: GeneralizedTime with 0 to 9 fraction digits", () => {
  for (let digits = 0; digits <= 9; digits++) {
    const frac = digits === 0 ? "" : "." + "123456789".slice(0, digits);
    const t = readTime(time(24, `20240102030405${frac}Z`), "t");
    const ms = digits === 0 ? 0 : Number("123456789".slice(0, Math.min(3, digits)).padEnd(3, "0"));
    assertEquals(t.date.toISOString(), `2024-01-02T03:04:05.${String(ms).padStart(3, "0")}Z`);
    assertEquals(t.text, `20240102030405${frac}Z`);
  }
  assertEquals(readTime(time(24, "20240102030405.5Z"), "t").date.getUTCMilliseconds(), 500);
  for (
    const bad of [
      "20240102030405.1234567890Z",
      "20240102030405.Z",
      "20240102030405+0100",
      "202401020304Z",
      "20240230030405Z",
      "20240102240000Z",
    ]
  ) {
    assertThrows(() => readTime(time(24, bad), "t"), DerError, undefined, bad);
  }
});

Deno.test("der: UTCTime years 1950 to 2049", () => {
  assertEquals(readTime(time(23, "491231235959Z"), "t").date.getUTCFullYear(), 2049);
  assertEquals(readTime(time(23, "500101000000Z"), "t").date.getUTCFullYear(), 1950);
  assertThrows(() => readTime(time(23, "5001010000Z"), "t"), DerError);
});

Deno.test("der: OIDs and small integers", () => {
  assertEquals(readOid(parseDer(bytes(0x06, 0x03, 0x55, 0x1d, 0x13), "o"), "o"), "2.5.29.19");
  assertEquals(
    readOid(parseDer(bytes(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02), "o"), "o"),
    "1.2.840.10045.4.3.2",
  );
  assertThrows(
    () => readOid(parseDer(bytes(0x06, 0x02, 0x80, 0x01), "o"), "o"),
    DerError,
    "not minimal",
  );
  assertThrows(() => readOid(parseDer(bytes(0x06, 0x01, 0x81), "o"), "o"), DerError, "cut off");
  assertEquals(readSmallInt(parseDer(bytes(0x02, 0x01, 0x05), "i"), "i"), 5);
  assertThrows(
    () => readSmallInt(parseDer(bytes(0x02, 0x02, 0x00, 0x05), "i"), "i"),
    DerError,
    "minimally",
  );
  assertThrows(
    () => readSmallInt(parseDer(bytes(0x02, 0x01, 0xff), "i"), "i"),
    DerError,
    "negative",
  );
});

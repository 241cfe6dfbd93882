import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { readStrictJson } from "../../lib/verify/_strict_json.ts";

const read = (text: string, maxBytes = 1 << 20, maxDepth?: number) =>
  readStrictJson(text, { what: "test document", maxBytes, ...(maxDepth ? { maxDepth } : {}) });

Deno.test("strict JSON: reads what JSON.parse reads", () => {
  for (
    const text of [
      '{"a":[1,2.5,-3e2,true,false,null],"b":{"c":"x\\u00e9\\n\\"y"}}',
      "[]",
      "{}",
      ' \n\t"text" ',
      "0",
      "-0.5E+3",
      '{"__proto__":{"polluted":1},"constructor":2}',
    ]
  ) {
    assertEquals(JSON.stringify(read(text)), JSON.stringify(JSON.parse(text)), text);
  }
  const o = read('{"__proto__":{"x":1}}') as Record<string, unknown>;
  assert(Object.hasOwn(o, "__proto__"));
  assertEquals(({} as Record<string, unknown>).x, undefined);
});

Deno.test("strict JSON: a duplicated key at any depth is refused, naming it and where", () => {
  assertThrows(() => read('{"a":1,"a":2}'), SyntaxError, 'the key "a" appears twice at line 1');
  assertThrows(() => read('{"x":[{"k":1,\n"k":1}]}'), SyntaxError, "at line 2, column 1");
});

Deno.test("strict JSON: refuses what RFC 8259 does not allow", () => {
  for (
    const text of [
      "",
      "{",
      "[1,]",
      '{"a":1,}',
      "{'a':1}",
      "01",
      "1.",
      ".5",
      "+1",
      "NaN",
      "Infinity",
      '"\u0001"',
      '"\\x41"',
      '"\\u12"',
      "[1] [2]",
      "// comment\n{}",
      '{"a" 1}',
      "tru",
      "1e999",
      '"unterminated',
    ]
  ) {
    assertThrows(() => read(text), SyntaxError, "Cannot parse test document:", text);
  }
});

Deno.test("strict JSON: bytes must be UTF-8 without a byte order mark, within the size cap", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  assertEquals(readStrictJson(bytes('"é"'), { what: "d", maxBytes: 10 }), "é");
  assertThrows(
    () => readStrictJson(new Uint8Array([0x22, 0xff, 0x22]), { what: "d", maxBytes: 10 }),
    SyntaxError,
    "not valid UTF-8",
  );
  assertThrows(
    () =>
      readStrictJson(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), { what: "d", maxBytes: 10 }),
    SyntaxError,
    "unexpected",
  );
  assertThrows(
    () => readStrictJson(bytes("[" + "1,".repeat(10) + "1]"), { what: "d", maxBytes: 10 }),
    SyntaxError,
    "larger than 10 bytes",
  );
});

Deno.test("strict JSON: nesting is bounded, without exhausting the stack", () => {
  assertEquals(read("[[[1]]]", 100, 3), [[[1]]]);
  assertThrows(() => read("[[[[1]]]]", 100, 3), SyntaxError, "nested deeper than 3 levels");
  const deep = "[".repeat(100_000) + "]".repeat(100_000);
  assertThrows(() => read(deep, 1 << 20), SyntaxError, "nested deeper than 64 levels");
});

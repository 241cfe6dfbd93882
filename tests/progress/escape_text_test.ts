import { assertEquals } from "../_assert.ts";
import { escapeText, jsonText, safe } from "../../lib/progress/escape_text.ts";

Deno.test("escapeText: every C0 and C1 control, DEL, separators and bidi controls are shown", () => {
  for (let c = 0; c < 0x20; c++) {
    const out = escapeText(String.fromCharCode(c));
    assertEquals(out.startsWith("\\"), true, `U+${c.toString(16)}`);
  }
  for (let c = 0x7f; c <= 0x9f; c++) {
    assertEquals(escapeText(String.fromCharCode(c)).startsWith("\\"), true, `U+${c.toString(16)}`);
  }
  assertEquals(escapeText("\u2028\u2029\u202e\u2066"), "\\u2028\\u2029\\u202e\\u2066");
  assertEquals(escapeText("\x1b[2J\x00\x7f\u009b"), "\\x1b[2J\\x00\\x7f\\u009b");
  assertEquals(escapeText("a\r\n\tb"), "a\\r\\n\\tb");
  assertEquals(escapeText("a\nb\x1b", { keepNewlines: true }), "a\nb\\x1b");
  // what is not a control is left alone, Unicode and backslashes included
  assertEquals(escapeText("größe \\x1b ✓ 日本"), "größe \\x1b ✓ 日本");
});

Deno.test("safe: interpolations escaped, literal text kept", () => {
  assertEquals(safe`a ${"\x1b]0;t\x07"}\n`, "a \\x1b]0;t\\x07\n");
  assertEquals(safe`${"x\ny"}`, "x\\ny");
});

Deno.test("jsonText: the same value, with no raw C1 or separator", () => {
  const value = { s: "\x1b\u0085\u009b\u2028\u2029\u202e\x7f", n: 1 };
  const text = jsonText(value, 2);
  // deno-lint-ignore no-control-regex
  assertEquals(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202e]/.test(text), false);
  assertEquals(JSON.parse(text), value);
});

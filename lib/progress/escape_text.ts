/**
 * Untrusted text made safe for a terminal or a log: every string that comes from a server or an
 * image (error messages, tags, annotations, tar entry names, platform strings) passes through
 * {@linkcode escapeText} before it is printed, and JSON output through {@linkcode jsonText}.
 *
 * It lives with the renderers (the lowest layer that writes to a terminal) so that both the
 * progress renderers and the CLI's printers use the same function.
 *
 * @module
 */

/** Options for {@linkcode escapeText}. */
export interface EscapeTextOptions {
  /**
   * Keep `\n` as a line break (multi-line text of our own, such as a usage message or a stack
   * trace); otherwise it is shown as the two characters `\n`.
   * @default {false}
   */
  keepNewlines?: boolean;
}

// C0 controls (NUL..US), DEL, C1 controls (U+0080..U+009F: 8-bit CSI, OSC, ... on some
// terminals), the Unicode line and paragraph separators, and the bidirectional overrides and
// isolates (which reorder what a terminal shows: "Trojan Source")
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_KEEP_NEWLINES =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// what JSON.stringify leaves raw inside strings (it escapes C0 itself)
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function visible(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code < 0x80 ? `\\x${code.toString(16).padStart(2, "0")}` : unicodeEscape(ch);
}

function unicodeEscape(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/**
 * Shows control characters as visible escapes: ESC as `\x1b`, BEL as `\x07`, NUL as `\x00`, a
 * newline as `\n`, DEL as `\x7f`, a C1 control such as U+009B as `\u009b`, and the line
 * separators and bidirectional controls as `\u2028`, `\u202e`, ... Everything else, backslashes
 * included, is left as it is: the result can move no cursor, set no title, erase nothing and
 * start no new line.
 *
 * @param text Untrusted text.
 * @param options Whether to keep line breaks.
 * @returns The text with every control character replaced by its escape.
 *
 * @example A registry error message that tries to erase the line
 * ```ts
 * import { escapeText } from "./escape_text.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(escapeText("denied\r\x1b[2Kverified OK\x07"), "denied\\r\\x1b[2Kverified OK\\x07");
 * assert.equal(escapeText("two\nlines"), "two\\nlines");
 * assert.equal(escapeText("two\nlines", { keepNewlines: true }), "two\nlines");
 * ```
 */
export function escapeText(text: string, options: EscapeTextOptions = {}): string {
  return text.replace(options.keepNewlines ? UNSAFE_KEEP_NEWLINES : UNSAFE, visible);
}

/**
 * A template tag that escapes every interpolated value with {@linkcode escapeText} (newlines
 * too) and keeps the literal parts (our own text, with its line breaks) as they are.
 *
 * @param strings The literal parts.
 * @param values The interpolated values, untrusted.
 * @returns The text.
 *
 * @example A table line with a hostile tag
 * ```ts
 * import { safe } from "./escape_text.ts";
 * import assert from "node:assert/strict";
 *
 * const tag = "1.0\x1b]0;pwned\x07";
 * assert.equal(safe`tag ${tag}\n`, "tag 1.0\\x1b]0;pwned\\x07\n");
 * ```
 */
export function safe(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) {
    out += escapeText(String(values[i])) + (strings[i + 1] ?? "");
  }
  return out;
}

/**
 * `JSON.stringify` with the characters it leaves raw inside strings (DEL, the C1 controls, the
 * line separators U+2028/U+2029 and the bidirectional controls) written as `\uXXXX` escapes: the
 * same JSON value, with no byte a terminal would act on.
 *
 * @param value The value.
 * @param indent The indentation, as for `JSON.stringify`.
 * @returns The JSON text.
 *
 * @example A C1 control inside an annotation
 * ```ts
 * import { jsonText } from "./escape_text.ts";
 * import assert from "node:assert/strict";
 *
 * const text = jsonText({ note: "a\u009b31mb\u2028" });
 * assert.equal(text, '{"note":"a\\u009b31mb\\u2028"}');
 * assert.deepEqual(JSON.parse(text), { note: "a\u009b31mb\u2028" });
 * ```
 */
export function jsonText(value: unknown, indent?: number): string {
  return (JSON.stringify(value, null, indent) ?? "null").replace(UNSAFE_IN_JSON, unicodeEscape);
}

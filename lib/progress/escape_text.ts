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
  /**
   * Shorten long untrusted strings, for an error or warning line: a run of more than 200
   * characters without a space (a deep path, a name, a digest list) keeps its first and last 90,
   * and the whole text its first and last 1,000, with how much was left out said in between
   * (`...[8572 characters]...`). Counted after escaping, so the line's length is bounded whatever
   * it held.
   * @default {false}
   */
  clip?: boolean;
}

/** The longest run without a space that {@linkcode escapeText} with `clip` shows whole. */
export const CLIP_WORD = 200;
/** The longest text that {@linkcode escapeText} with `clip` shows whole. */
export const CLIP_TEXT = 2000;

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
 *
 * @example An error line with a deep path from an image
 * ```ts
 * import { escapeText } from "./escape_text.ts";
 * import assert from "node:assert/strict";
 *
 * const line = escapeText(`Cannot create ${"a/".repeat(3000)}f: name too long`, { clip: true });
 * assert.match(line, /^Cannot create a\/a\/.*a\/\.\.\.\[5822 characters\]\.\.\.a\/a\/.*f: name too long$/);
 * assert.equal(line.length, 231);
 * ```
 */
export function escapeText(text: string, options: EscapeTextOptions = {}): string {
  const escaped = text.replace(options.keepNewlines ? UNSAFE_KEEP_NEWLINES : UNSAFE, visible);
  if (!options.clip) return escaped;
  const words = escaped.replace(
    new RegExp(`\\S{${CLIP_WORD + 1},}`, "g"),
    (word) => cut(word, (CLIP_WORD - 20) / 2),
  );
  return words.length > CLIP_TEXT ? cut(words, (CLIP_TEXT - 40) / 2) : words;
}

/** The text's first and last `keep` characters, with the number left out between them (never
 * splitting a surrogate pair). */
function cut(text: string, keep: number): string {
  let head = keep;
  let tail = text.length - keep;
  if (/[\ud800-\udbff]/.test(text[head - 1] ?? "")) head--;
  if (/[\udc00-\udfff]/.test(text[tail] ?? "")) tail++;
  return `${text.slice(0, head)}...[${tail - head} characters]...${text.slice(tail)}`;
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

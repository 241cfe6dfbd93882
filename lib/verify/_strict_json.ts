/**
 * A strict JSON reader for documents that decide trust (signature payloads, policy files): RFC
 * 8259 exactly, UTF-8 only (no byte order mark), a duplicated key anywhere is an error (two parsers
 * that keep different duplicates would see two different policies), bounded in bytes and depth.
 *
 * Objects come back with a null prototype, so a key such as `__proto__` is an ordinary key.
 *
 * @module
 */

/** A JSON value as read by {@linkcode readStrictJson}. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
/** A JSON object (null prototype). */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Bounds for {@linkcode readStrictJson}. */
export interface StrictJsonOptions {
  /** What is read, for the message: `Cannot parse ${what}: ...`. */
  what: string;
  /** The most bytes accepted. */
  maxBytes: number;
  /**
   * The deepest nesting of arrays and objects.
   * @default {64}
   */
  maxDepth?: number;
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * Parses JSON strictly.
 *
 * @param input The document, as UTF-8 bytes or as text.
 * @param options What it is (for messages) and its bounds.
 * @returns The value.
 * @throws {SyntaxError} `Cannot parse <what>: <why> at line L, column C` for anything that is not
 *   one valid JSON value within the bounds, or that repeats a key.
 */
export function readStrictJson(input: Uint8Array | string, options: StrictJsonOptions): JsonValue {
  const { what, maxBytes } = options;
  const maxDepth = options.maxDepth ?? 64;
  let text: string;
  if (typeof input === "string") {
    if (input.length > maxBytes) {
      throw new SyntaxError(`Cannot parse ${what}: it is larger than ${maxBytes} bytes`);
    }
    text = input;
  } else {
    if (input.byteLength > maxBytes) {
      throw new SyntaxError(`Cannot parse ${what}: it is larger than ${maxBytes} bytes`);
    }
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(input);
    } catch {
      throw new SyntaxError(`Cannot parse ${what}: it is not valid UTF-8`);
    }
  }
  let at = 0;

  const fail = (why: string, pos = at): never => {
    let line = 1, column = 1;
    for (let i = 0; i < pos && i < text.length; i++) {
      if (text.charCodeAt(i) === 0x0a) {
        line++;
        column = 1;
      } else column++;
    }
    throw new SyntaxError(`Cannot parse ${what}: ${why} at line ${line}, column ${column}`);
  };
  const skip = () => {
    while (at < text.length && WS.has(text.charCodeAt(at))) at++;
  };
  const describe = (): string => {
    if (at >= text.length) return "the document ends";
    const c = text[at]!;
    return `unexpected ${JSON.stringify(c)}`;
  };

  const readString = (): string => {
    const start = at;
    at++; // the opening quote
    for (;;) {
      if (at >= text.length) fail("a string is not closed", start);
      const c = text.charCodeAt(at);
      if (c === 0x22) break;
      if (c < 0x20) fail("a control character inside a string");
      if (c === 0x5c) {
        const e = text[at + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 2, at + 6))) fail("a bad \\u escape");
          at += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail("a bad escape in a string");
        at += 2;
        continue;
      }
      at++;
    }
    at++; // the closing quote
    return JSON.parse(text.slice(start, at)) as string;
  };

  const readValue = (depth: number): JsonValue => {
    skip();
    if (at >= text.length) fail("a value is missing");
    const c = text[at]!;
    if (c === "{" || c === "[") {
      if (depth >= maxDepth) fail(`it is nested deeper than ${maxDepth} levels`);
    }
    if (c === "{") {
      at++;
      const out = Object.create(null) as JsonObject;
      skip();
      if (text[at] === "}") {
        at++;
        return out;
      }
      for (;;) {
        skip();
        if (text[at] !== '"') fail(`${describe()} where a key was expected`);
        const keyAt = at;
        const key = readString();
        if (Object.hasOwn(out, key)) fail(`the key ${JSON.stringify(key)} appears twice`, keyAt);
        skip();
        if (text[at] !== ":") fail(`${describe()} where ':' was expected`);
        at++;
        out[key] = readValue(depth + 1);
        skip();
        if (text[at] === ",") {
          at++;
          continue;
        }
        if (text[at] === "}") {
          at++;
          return out;
        }
        fail(`${describe()} where ',' or '}' was expected`);
      }
    }
    if (c === "[") {
      at++;
      const out: JsonValue[] = [];
      skip();
      if (text[at] === "]") {
        at++;
        return out;
      }
      for (;;) {
        out.push(readValue(depth + 1));
        skip();
        if (text[at] === ",") {
          at++;
          continue;
        }
        if (text[at] === "]") {
          at++;
          return out;
        }
        fail(`${describe()} where ',' or ']' was expected`);
      }
    }
    if (c === '"') return readString();
    for (const [word, value] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return value;
      }
    }
    NUMBER.lastIndex = at;
    const m = NUMBER.exec(text);
    if (m && m[0].length > 0) {
      at += m[0].length;
      const n = Number(m[0]);
      if (!Number.isFinite(n)) fail("a number out of range", at - m[0].length);
      return n;
    }
    return fail(`${describe()} where a value was expected`);
  };

  const value = readValue(0);
  skip();
  if (at < text.length) fail("data after the end of the document");
  return value;
}

/** The JSON type of a value, for messages: `object`, `array`, `string`, `number`, ... */
export function jsonType(value: JsonValue | undefined): string {
  if (value === undefined) return "missing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** Whether a value is a JSON object (not an array, not null). */
export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

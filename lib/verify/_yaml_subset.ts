/**
 * The part of YAML that `registries.d` files use: nested block mappings of scalars (plain, single-
 * or double-quoted), comments, an optional `---` at the start. Anything else (sequences, flow
 * collections, anchors, aliases, tags, block scalars, several documents, tabs in indentation,
 * duplicated keys) is refused with the line it is on, rather than guessed at: these files decide
 * where signatures come from. Bounded in size and depth.
 *
 * @module
 */

/** A value of the subset: a string (`true` too: the caller decides what a scalar means), null, or a mapping. */
export type YamlValue = string | null | YamlMapping;
/** A mapping (null prototype, keys in file order). */
export interface YamlMapping {
  [key: string]: YamlValue;
}

/** Bounds for {@linkcode readYamlSubset}. */
export interface YamlSubsetOptions {
  /** What is read, for messages. */
  what: string;
  /** The most bytes. */
  maxBytes: number;
  /**
   * The deepest nesting of mappings.
   * @default {16}
   */
  maxDepth?: number;
}

interface Line {
  number: number;
  indent: number;
  text: string;
}

/**
 * Parses the subset.
 *
 * @param input The file's content.
 * @param options What it is and its bounds.
 * @returns The top-level mapping (empty for an empty document, or one that is only `null`, `~`
 *   or `{}`).
 * @throws {SyntaxError} `Cannot parse <what>: line N: <why>`.
 */
export function readYamlSubset(input: Uint8Array, options: YamlSubsetOptions): YamlMapping {
  const { what, maxBytes } = options;
  const maxDepth = options.maxDepth ?? 16;
  if (input.byteLength > maxBytes) {
    throw new SyntaxError(`Cannot parse ${what}: it is larger than ${maxBytes} bytes`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(input);
  } catch {
    throw new SyntaxError(`Cannot parse ${what}: it is not valid UTF-8`);
  }
  const fail = (line: number, why: string): never => {
    throw new SyntaxError(`Cannot parse ${what}: line ${line}: ${why}`);
  };
  const lines: Line[] = [];
  let started = false;
  text.split(/\r?\n/).forEach((raw, i) => {
    const number = i + 1;
    const body = stripComment(raw, number, fail);
    if (body.trim() === "") return;
    if (/^\t| \t/.test(body.match(/^[ \t]*/)![0])) fail(number, "a tab in the indentation");
    const indent = body.length - body.trimStart().length;
    const content = body.trim();
    if (content === "---" && indent === 0) {
      if (started || lines.length > 0) fail(number, "several documents are not supported");
      started = true;
      return;
    }
    if (content === "..." && indent === 0) fail(number, "a document end marker is not supported");
    lines.push({ number, indent, text: content });
  });

  let at = 0;
  const readMapping = (indent: number, depth: number): YamlMapping => {
    if (depth > maxDepth) fail(lines[at]!.number, `mappings nested deeper than ${maxDepth}`);
    const out = Object.create(null) as YamlMapping;
    while (at < lines.length) {
      const line = lines[at]!;
      if (line.indent < indent) break;
      if (line.indent > indent) fail(line.number, "unexpected indentation");
      const { key, rest } = splitKey(line, fail);
      if (Object.hasOwn(out, key)) {
        fail(line.number, `the key ${JSON.stringify(key)} appears twice`);
      }
      at++;
      if (rest !== "") {
        out[key] = scalar(rest, line.number, fail);
        continue;
      }
      const next = lines[at];
      if (next && next.indent > indent) {
        out[key] = readMapping(next.indent, depth + 1);
      } else {
        out[key] = null;
      }
    }
    return out;
  };
  if (lines.length === 0) return Object.create(null) as YamlMapping;
  if (lines.length === 1 && /^(null|~|\{\})$/.test(lines[0]!.text) && lines[0]!.indent === 0) {
    return Object.create(null) as YamlMapping;
  }
  if (lines[0]!.indent !== 0) fail(lines[0]!.number, "the document does not start at column 1");
  const doc = readMapping(0, 1);
  if (at < lines.length) fail(lines[at]!.number, "unexpected indentation");
  return doc;
}

/** Removes a comment: `#` at the start or after white space, outside quotes. */
function stripComment(raw: string, line: number, fail: (l: number, w: string) => never): string {
  let quote: string | undefined;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (quote) {
      if (quote === '"' && c === "\\") i++;
      else if (c === quote) {
        if (quote === "'" && raw[i + 1] === "'") i++;
        else quote = undefined;
      }
      continue;
    }
    if ((c === '"' || c === "'") && (i === 0 || /[\s:]/.test(raw[i - 1]!))) quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(raw[i - 1]!))) return raw.slice(0, i);
  }
  if (quote) fail(line, "a quoted string is not closed");
  return raw;
}

function splitKey(
  line: Line,
  fail: (l: number, w: string) => never,
): { key: string; rest: string } {
  const t = line.text;
  if (/^[-?]( |$)/.test(t)) fail(line.number, "sequences and complex keys are not supported");
  if (/^[[{&*!|>%@`]/.test(t)) {
    fail(
      line.number,
      `${
        JSON.stringify(t[0])
      } (flow collections, anchors, aliases, tags, block scalars) is not supported`,
    );
  }
  let key: string;
  let rest: string;
  if (t[0] === '"' || t[0] === "'") {
    const end = quotedEnd(t, 0, line.number, fail);
    key = unquote(t.slice(0, end), line.number, fail);
    const after = t.slice(end);
    if (!/^\s*:(\s|$)/.test(after)) fail(line.number, "a key must be followed by ':'");
    rest = after.replace(/^\s*:/, "").trim();
  } else {
    const m = /:(\s|$)/.exec(t);
    if (!m) fail(line.number, "a line that is not 'key: value'");
    key = t.slice(0, m!.index).trimEnd();
    rest = t.slice(m!.index + 1).trim();
    if (key === "") fail(line.number, "an empty key");
  }
  return { key, rest };
}

function quotedEnd(
  t: string,
  start: number,
  line: number,
  fail: (l: number, w: string) => never,
): number {
  const q = t[start]!;
  for (let i = start + 1; i < t.length; i++) {
    if (q === '"' && t[i] === "\\") {
      i++;
      continue;
    }
    if (t[i] === q) {
      if (q === "'" && t[i + 1] === "'") {
        i++;
        continue;
      }
      return i + 1;
    }
  }
  return fail(line, "a quoted string is not closed");
}

function unquote(s: string, line: number, fail: (l: number, w: string) => never): string {
  if (s[0] === "'") return s.slice(1, -1).replace(/''/g, "'");
  const body = s.slice(1, -1);
  return body.replace(/\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)/g, (_, e: string) => {
    switch (e[0]) {
      case "n":
        return "\n";
      case "t":
        return "\t";
      case "r":
        return "\r";
      case "0":
        return "\0";
      case '"':
      case "\\":
      case "/":
      case " ":
        return e;
      case "u":
      case "x":
        return String.fromCharCode(parseInt(e.slice(1), 16));
      default:
        return fail(line, `an unsupported escape \\${e}`);
    }
  });
}

function scalar(rest: string, line: number, fail: (l: number, w: string) => never): YamlValue {
  if (rest[0] === '"' || rest[0] === "'") {
    const end = quotedEnd(rest, 0, line, fail);
    if (rest.slice(end).trim() !== "") fail(line, "text after a quoted string");
    return unquote(rest.slice(0, end), line, fail);
  }
  if (/^[[{&*!|>%@`]/.test(rest)) {
    fail(
      line,
      `${
        JSON.stringify(rest[0])
      } (flow collections, anchors, aliases, tags, block scalars) is not supported`,
    );
  }
  if (/:(\s|$)/.test(rest)) fail(line, "a mapping cannot start on the line of its key");
  if (rest === "~" || rest === "null" || rest === "Null" || rest === "NULL") return null;
  return rest;
}

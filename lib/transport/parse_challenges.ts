/**
 * `WWW-Authenticate` parsing (RFC 9110 section 11.6.1): several challenges in one header, quoted
 * strings with escapes, commas inside quoted values.
 *
 * @module
 */

/** One authentication challenge. */
export interface Challenge {
  /** The scheme, lower-cased: `bearer`, `basic`, ... */
  scheme: string;
  /** Parameters with lower-cased names, e.g. `realm`, `service`, `scope`. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses a `WWW-Authenticate` header value into its challenges.
 *
 * Malformed parts are skipped rather than thrown on: a registry's odd header must not turn a
 * clear `401` into a parse error.
 *
 * @param header The header value.
 * @returns The challenges, in order.
 *
 * @example Docker Hub's challenge
 * ```ts
 * import { parseChallenges } from "./parse_challenges.ts";
 * import assert from "node:assert/strict";
 *
 * const [c] = parseChallenges(
 *   'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",' +
 *     'scope="repository:library/alpine:pull"',
 * );
 * assert.deepEqual(c?.scheme, "bearer");
 * assert.deepEqual(c?.params.scope, "repository:library/alpine:pull");
 * ```
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    // header[i] === '"'
    i++;
    let s = "";
    while (i < n && header[i] !== '"') {
      if (header[i] === "\\" && i + 1 < n) i++;
      s += header[i];
      i++;
    }
    i++; // closing quote (or end)
    return s;
  };

  let current: Challenge | undefined;
  while (i < n) {
    skipSpace();
    if (header[i] === ",") {
      i++;
      continue;
    }
    const start = i;
    const word = readToken();
    if (word === "") {
      i++; // skip a stray character
      continue;
    }
    skipSpace();
    if (header[i] === "=" && current) {
      // a parameter of the current challenge
      i++;
      skipSpace();
      let value: string;
      if (header[i] === '"') value = readQuoted();
      else {
        const vstart = i;
        while (i < n && header[i] !== "," && header[i] !== " " && header[i] !== "\t") i++;
        value = header.slice(vstart, i);
      }
      current.params[word.toLowerCase()] = value;
      continue;
    }
    // a new challenge: scheme, then optional token68 or parameters
    i = start + word.length;
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
    skipSpace();
    // token68 (e.g. `Negotiate abc==`): no parameter value follows it
    const t68 = /^[A-Za-z0-9\-._~+/]+=*[ \t]*(?=,|$)/.exec(header.slice(i));
    if (t68) {
      current.params[""] = t68[0].trim();
      i += t68[0].length;
    }
  }
  return out;
}

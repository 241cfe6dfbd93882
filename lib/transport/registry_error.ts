/**
 * Typed errors for registry responses that are not a success.
 *
 * @module
 */

import { discard } from "./fetcher.ts";
import { parseRetryAfter } from "./parse_retry_after.ts";
import { retryHistory, summarizeAttempts } from "./retry_fetch.ts";

/** One entry of a registry's `{"errors": [...]}` body (distribution spec, "Error Codes"). */
export interface RegistryErrorCode {
  /** The code, e.g. `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `UNAUTHORIZED`, `TOOMANYREQUESTS`. */
  code: string;
  /** The registry's human-readable message. */
  message: string;
}

/** The largest error body skiff reads; the rest is discarded. */
export const ERROR_BODY_LIMIT = 64 * 1024;

/** Fields of a {@linkcode RegistryError}. */
export interface RegistryErrorInit {
  /** HTTP status code. */
  status: number;
  /** HTTP method of the request. */
  method: string;
  /** Request URL; query string and user info are removed before it is kept. */
  url: string;
  /** Error codes from the body, if it had any. */
  codes?: RegistryErrorCode[];
  /** Plain-text body, when the body was not an OCI error document. */
  text?: string;
  /** What skiff was doing, e.g. `fetch manifest docker.io/library/alpine:3.20`. */
  action?: string;
  /** Seconds until a rate limit resets, when the registry said so. */
  retryAfter?: number;
  /** What the user can do about it, appended in parentheses. */
  hint?: string;
}

/**
 * A registry answered with an error status.
 *
 * The message is one line: `Cannot <action>: <status> <reason>: <codes and messages>`.
 */
export class RegistryError extends Error {
  /** HTTP status code. */
  readonly status: number;
  /** HTTP method of the request. */
  readonly method: string;
  /** Request URL without query string or user info. */
  readonly url: string;
  /** OCI error codes from the body (may be empty). */
  readonly codes: readonly RegistryErrorCode[];
  /** Seconds until a rate limit resets, when known. */
  readonly retryAfter: number | undefined;

  /**
   * Makes the error from its parts.
   *
   * @param init The status, request and body details.
   */
  constructor(init: RegistryErrorInit) {
    const url = redactUrl(init.url);
    const action = init.action ?? `${init.method} ${url}`;
    const codes = init.codes ?? [];
    let detail = describeStatus(init.status);
    if (codes.length > 0) {
      detail += ": " + codes.map((c) => c.message ? `${c.code}: ${c.message}` : c.code).join("; ");
    } else if (init.text) {
      detail += ": " + init.text;
    }
    if (init.hint) detail += ` (${init.hint})`;
    super(`Cannot ${action}: ${detail}`.replace(/\s+/g, " ").trim());
    this.name = "RegistryError";
    this.status = init.status;
    this.method = init.method;
    this.url = url;
    this.codes = codes;
    this.retryAfter = init.retryAfter;
  }

  /**
   * Tells whether the registry reported one of the given codes.
   *
   * @param code An OCI error code such as `MANIFEST_UNKNOWN`.
   * @returns `true` when the body carried that code.
   */
  hasCode(code: string): boolean {
    return this.codes.some((c) => c.code === code);
  }

  /**
   * Reads a failed response (body capped at 64 KiB) and makes the error.
   *
   * @param response The response with an error status.
   * @param method The request method (a HEAD response has no body to read).
   * @param action What was being done, for the message.
   * @param hint What the user can do about it.
   * @returns The error; the response body is consumed or cancelled.
   *
   * @example Turn a 404 into an error
   * ```ts
   * import { RegistryError } from "./registry_error.ts";
   * import assert from "node:assert/strict";
   *
   * const body = JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] });
   * const res = new Response(body, { status: 404 });
   * const err = await RegistryError.fromResponse(res, "GET", "https://r.example/v2/a/manifests/b");
   * assert.deepEqual(err.status, 404);
   * assert.deepEqual(err.hasCode("MANIFEST_UNKNOWN"), true);
   * ```
   */
  static async fromResponse(
    response: Response,
    method: string,
    url?: string,
    action?: string,
    hint?: string,
  ): Promise<RegistryError> {
    let codes: RegistryErrorCode[] = [];
    let text = "";
    if (method !== "HEAD") {
      text = await readCappedText(response, ERROR_BODY_LIMIT);
      codes = parseErrorBody(text);
    } else {
      await discard(response);
    }
    const init: RegistryErrorInit = {
      status: response.status,
      method,
      url: url ?? response.url,
      codes,
    };
    if (codes.length === 0 && text.trim() !== "" && !/^\s*</.test(text)) {
      init.text = text.trim().slice(0, 200);
    }
    if (action !== undefined) init.action = action;
    const history = retryHistory(response);
    if (history) {
      init.hint = `after ${history.length} attempts: ${summarizeAttempts(history)}` +
        (hint !== undefined ? `; ${hint}` : "");
    } else if (hint !== undefined) init.hint = hint;
    const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
    if (retryAfter !== undefined) init.retryAfter = retryAfter;
    return new RegistryError(init);
  }
}

/**
 * Removes the query string, fragment and user info of a URL, where presigned-URL signatures and
 * credentials live.
 *
 * @param url The URL.
 * @returns The URL without secrets.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    u.search = "";
    u.hash = "";
    return u.toString();
  } catch {
    return url.replace(/[?#].*$/, "");
  }
}

async function readCappedText(response: Response, limit: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // a body that breaks off still leaves us the status to report
  } finally {
    reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(Math.min(size, limit));
  let at = 0;
  for (const c of chunks) {
    const part = c.subarray(0, all.byteLength - at);
    all.set(part, at);
    at += part.byteLength;
    if (at >= all.byteLength) break;
  }
  return new TextDecoder().decode(all);
}

function parseErrorBody(text: string): RegistryErrorCode[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof doc !== "object" || doc === null) return [];
  const errors = (doc as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) {
    // some token servers answer {"details": "..."} or {"error": "..."}
    const d = doc as { details?: unknown; error?: unknown; message?: unknown };
    const msg = [d.details, d.error, d.message].find((x) => typeof x === "string") as
      | string
      | undefined;
    return msg ? [{ code: "ERROR", message: msg.slice(0, 300) }] : [];
  }
  return errors.slice(0, 10).flatMap((e) => {
    if (typeof e !== "object" || e === null) return [];
    const { code, message } = e as { code?: unknown; message?: unknown };
    return [{
      code: typeof code === "string" ? code.slice(0, 100) : "UNKNOWN",
      message: typeof message === "string" ? message.slice(0, 300) : "",
    }];
  });
}

function describeStatus(status: number): string {
  const reasons: Record<number, string> = {
    400: "bad request",
    401: "unauthorized",
    403: "denied",
    404: "not found",
    405: "method not allowed",
    408: "request timeout",
    416: "range not satisfiable",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
  };
  return `${status} ${reasons[status] ?? "error"}`;
}

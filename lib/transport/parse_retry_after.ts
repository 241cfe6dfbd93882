/**
 * `Retry-After` (RFC 9110 section 10.2.3): delay seconds or an HTTP date.
 *
 * @module
 */

/**
 * Parses a `Retry-After` header: delay seconds or an HTTP date.
 *
 * @example Both forms
 * ```ts
 * import { parseRetryAfter } from "./parse_retry_after.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseRetryAfter("120"), 120);
 * assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", Date.UTC(2015, 9, 21, 7, 28)), 30);
 * assert.equal(parseRetryAfter(null), undefined);
 * ```
 *
 * @param value The header value, or `null`.
 * @param now The current time in milliseconds, for HTTP dates.
 * @returns Seconds to wait (never negative), or `undefined` when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  // an HTTP date names its month ("Wed, 21 Oct 2015 07:28:00 GMT"); Date.parse alone takes "-1"
  if (!/[A-Za-z]{3}/.test(v)) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

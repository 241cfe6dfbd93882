/**
 * Number formatting for humans: sizes, rates, durations.
 *
 * @module
 */

/**
 * Formats a byte count with binary units: `0 B`, `512 B`, `1.5 KiB`, `23.4 MiB`, `1.02 GiB`.
 *
 * @param bytes The number of bytes.
 * @returns The formatted size.
 *
 * @example Format sizes
 * ```ts
 * import { formatBytes } from "./format.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(formatBytes(1536), "1.5 KiB");
 * assert.deepEqual(formatBytes(5 * 1024 * 1024), "5.0 MiB");
 * assert.deepEqual(formatBytes(298.9240410949068), "299 B");
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`; // a rate is a fraction: bytes are whole
  return `${
    value >= 100
      ? value.toFixed(0)
      : value >= 10
      ? value.toFixed(1)
      : value.toFixed(value >= 1 ? 1 : 2)
  } ${units[unit]}`;
}

/**
 * Formats a duration in milliseconds: `850 ms`, `2.4 s`, `1m05s`.
 *
 * @param ms Milliseconds.
 * @returns The formatted duration.
 *
 * @example Format durations
 * ```ts
 * import { formatDuration } from "./format.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(formatDuration(2400), "2.4 s");
 * assert.deepEqual(formatDuration(65000), "1m05s");
 * ```
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m${rest}s` : `${m}m${rest}s`;
}

/**
 * Shortens a digest for display: `sha256:0123456789ab`.
 *
 * @param digest A digest.
 * @returns Algorithm and the first 12 hex characters.
 */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(":");
  return colon === -1 ? digest.slice(0, 12) : digest.slice(0, colon + 13);
}

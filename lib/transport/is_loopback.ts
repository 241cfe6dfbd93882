/**
 * Loopback detection for hosts, where plain HTTP is acceptable.
 *
 * @module
 */

/**
 * Tells whether a host (with or without a port) is a loopback address: `localhost`, an address in
 * `127.0.0.0/8`, or `[::1]`.
 *
 * @param host A host as in a URL's `host` or `hostname`, e.g. `127.0.0.1:5000` or `[::1]`.
 * @returns `true` for loopback hosts.
 *
 * @example Loopback hosts
 * ```ts
 * import { isLoopback } from "./is_loopback.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isLoopback("127.0.0.1:5000"));
 * assert.ok(isLoopback("[::1]:5000"));
 * assert.ok(isLoopback("localhost"));
 * assert.ok(!isLoopback("registry.example.com"));
 * ```
 */
export function isLoopback(host: string): boolean {
  let name = host.toLowerCase();
  if (name.startsWith("[")) name = name.slice(1, name.indexOf("]"));
  else if (name.includes(":")) name = name.slice(0, name.lastIndexOf(":"));
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (name === "::1" || name === "0:0:0:0:0:0:0:1") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

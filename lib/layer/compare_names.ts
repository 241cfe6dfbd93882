/**
 * Name order for directories: the order of the names' UTF-8 bytes (what strcmp and EROFS's binary
 * search use), without encoding them: UTF-16 code units compare the same way except that
 * surrogates (code points above U+FFFF, 4 UTF-8 bytes) must sort after U+E000..U+FFFF.
 *
 * @module
 */

/**
 * Compares two names by their UTF-8 bytes: the order of a `LayerTree`'s children and of
 * every directory a disk image holds.
 *
 * @param a A name.
 * @param b Another name.
 * @returns A negative number, zero or a positive number.
 *
 * @example Sort names as their bytes sort
 * ```ts
 * import { compareNames } from "./compare_names.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(["\u{1F600}", "\uFFFD", "B", "a"].sort(compareNames), ["B", "a", "\uFFFD", "\u{1F600}"]);
 * ```
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * A node's modification time as a file system stores it: whole seconds and nanoseconds.
 *
 * @module
 */

/**
 * Seconds (floored, so a time before 1970 with a fraction counts down) and nanoseconds of a
 * node's mtime: exact when the layer gave nanoseconds (`mtimeNs`), else from the double.
 *
 * @param node A node (or anything with a time in seconds and maybe its exact nanoseconds).
 * @returns `[seconds, nanoseconds]`, nanoseconds in 0..999999999.
 *
 * @example Split an exact time before the epoch
 * ```ts
 * import { nodeTime } from "./node_time.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(nodeTime({ mtime: -1.5, mtimeNs: -1_500_000_000n }), [-2, 500_000_000]);
 * assert.deepEqual(nodeTime({ mtime: 1700000000 }), [1700000000, 0]);
 * ```
 */
export function nodeTime(node: { mtime: number; mtimeNs?: bigint }): [number, number] {
  if (node.mtimeNs !== undefined) {
    let sec = node.mtimeNs / 1_000_000_000n;
    let nsec = node.mtimeNs % 1_000_000_000n;
    if (nsec < 0n) {
      sec -= 1n;
      nsec += 1_000_000_000n;
    }
    return [Number(sec), Number(nsec)];
  }
  const sec = Math.floor(node.mtime);
  const nsec = Math.min(999_999_999, Math.round((node.mtime - sec) * 1e9));
  return [sec, nsec];
}

// Merkle audit paths (RFC 9162 2.1.3.2) against trees computed here independently (RFC 6962
// MTH and PATH), for every leaf of every tree size up to 40; checkpoints that are malformed.

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { parseCheckpoint, rootFromAuditPath } from "../../lib/verify/_tlog.ts";

const sha = async (...parts: Uint8Array[]) => {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
};
const split = (n: number) => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
async function mth(leaves: Uint8Array[]): Promise<Uint8Array> {
  if (leaves.length === 1) return leaves[0]!;
  const k = split(leaves.length);
  return await sha(new Uint8Array([1]), await mth(leaves.slice(0, k)), await mth(leaves.slice(k)));
}
async function path(m: number, leaves: Uint8Array[]): Promise<Uint8Array[]> {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  return m < k
    ? [...(await path(m, leaves.slice(0, k))), await mth(leaves.slice(k))]
    : [...(await path(m - k, leaves.slice(k))), await mth(leaves.slice(0, k))];
}

Deno.test("tlog: every audit path of trees of 1 to 40 leaves leads to the root; wrong ones do not", async () => {
  const leaves: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) leaves.push(await sha(new Uint8Array([0, i])));
  for (let size = 1; size <= 40; size++) {
    const tree = leaves.slice(0, size);
    const root = await mth(tree);
    for (let m = 0; m < size; m++) {
      const p = await path(m, tree);
      assertEquals(
        await rootFromAuditPath(BigInt(m), BigInt(size), tree[m]!, p),
        root,
        `${m}/${size}`,
      );
      if (size > 1) {
        const other = (m + 1) % size;
        const got = await rootFromAuditPath(BigInt(other), BigInt(size), tree[m]!, p);
        assert(
          got === undefined || got.toString() !== root.toString(),
          `index ${other} instead of ${m}/${size}`,
        );
        assertEquals(
          await rootFromAuditPath(BigInt(m), BigInt(size), tree[m]!, [...p, root]),
          undefined,
        );
      }
    }
  }
  assertEquals(await rootFromAuditPath(5n, 5n, leaves[0]!, []), undefined);
  assertEquals(await rootFromAuditPath(-1n, 5n, leaves[0]!, []), undefined);
});

Deno.test("tlog: malformed checkpoints", () => {
  const ok = "log.example - 1\n3\nAAAA\n\n\u2014 log.example AAAAAAAA\n";
  assertEquals(parseCheckpoint(ok).size, 3n);
  for (
    const [bad, why] of [
      ["log.example\n3\nAAAA\n", "no signature block"],
      ["log.example\n3\nAAAA\n\n\u2014 log.example AAAAAAAA", "end with a newline"],
      ["log.example\n3\nAAAA\n\n- log.example AAAAAAAA\n", "malformed signature line"],
      ["log.example\n3\nAAAA\n\n\u2014 log.example AAAA\n", "malformed signature line"],
      ["log.example\n03\nAAAA\n\n\u2014 log.example AAAAAAAA\n", "not a number"],
      ["log.example\n3\n\n\u2014 log.example AAAAAAAA\n", "fewer than three lines"],
      ["x".repeat(70_000), "too large"],
    ] as const
  ) {
    assertThrows(() => parseCheckpoint(bad), Error, why);
  }
});

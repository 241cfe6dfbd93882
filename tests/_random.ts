// Seeded randomness for the randomised tests (kill delays, the soak's faults): each run prints its
// seed, and `SKIFF_TEST_SEED=N` replays the same sequence of choices. (The choices are the same;
// the moments they meet, under a loaded machine, may differ: a replay is close, not exact.)

/** A generator of numbers in [0, 1) from `SKIFF_TEST_SEED`, or a fresh seed; prints the seed. */
export function seededRandom(label: string): () => number {
  const given = Deno.env.get("SKIFF_TEST_SEED");
  let state = given !== undefined && /^\d+$/.test(given)
    ? Number(given) >>> 0
    : crypto.getRandomValues(new Uint32Array(1))[0]!;
  console.log(`${label}: seed ${state} (replay with SKIFF_TEST_SEED=${state})`);
  // mulberry32
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Bounded concurrency with fail-fast cancellation (the engine's and the pull's blobs, sync's tags).

/**
 * Runs `task` for every item with at most `limit` running at once. The first failure aborts the
 * signal every other task got, waits for them all to settle, and is rethrown; so no task is left
 * running when this returns or throws.
 */
export async function runBounded<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, signal: AbortSignal) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`Cannot run with ${limit} jobs: expected a positive integer`);
  }
  const failFast = new AbortController();
  const combined = signal ? AbortSignal.any([signal, failFast.signal]) : failFast.signal;
  let next = 0;
  let first: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !combined.aborted) {
      const item = items[next++]!;
      try {
        await task(item, combined);
      } catch (error) {
        if (!first) {
          first = { error };
          failFast.abort(error);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (first) throw first.error;
  signal?.throwIfAborted();
}

// What every benchmark of hack/ needs: a fixed number of tasks with a bounded number in flight,
// and nearest-rank percentiles.

/**
 * Runs `total` tasks with at most `concurrency` in flight (task i gets index i); resolves with
 * the elapsed seconds. With `signal`, stops starting new tasks once it aborts (rejecting).
 */
export async function inFlight(total: number, concurrency: number, task: (i: number) => Promise<void>, signal?: AbortSignal): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < total) {
      signal?.throwIfAborted();
      await task(next++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Nearest-rank percentile of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

// Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And
// Jitter"): the n-th consecutive failure waits a uniformly random time in
// [0, min(maxMs, initialMs * 2^n)), so that many agents that lost the same server do not come
// back in lockstep. reset() after a success.

export interface BackoffOptions {
  /** Upper bound of the first wait, in ms. Default 500. */
  initialMs?: number;
  /** Upper bound of any wait, in ms. Default 30000. */
  maxMs?: number;
  /** Uniform random number in [0, 1); injectable for tests. Default Math.random. */
  random?: () => number;
}

export class Backoff {
  private failures = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 500;
    this.maxMs = options.maxMs ?? 30_000;
    this.random = options.random ?? Math.random;
  }

  /** The wait before the next try, in ms; counts one more failure. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return Math.floor(this.random() * ceiling);
  }

  /** Consecutive failures since the last reset. */
  get attempts(): number {
    return this.failures;
  }

  reset(): void {
    this.failures = 0;
  }
}

// A rate-limited work queue of string keys, after client-go's workqueue:
// - a key waiting in the queue is not queued twice (dedupe);
// - a key is handed to at most one worker at a time: a key added while it is being processed
//   is queued again when the worker calls done();
// - addAfter() delays a key (the earliest pending time wins);
// - addRateLimited() delays a key by a per-key exponential backoff until forget().
import { systemClock, type Clock, type Timer } from './clock.js';

export interface WorkQueueOptions {
  /** Default systemClock. */
  readonly clock?: Clock;
  /** First rate-limited delay. Default 5 ms (client-go). */
  readonly baseDelayMs?: number;
  /** Cap of the rate-limited delay. Default 1000 s (client-go). */
  readonly maxDelayMs?: number;
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  /** Keys ready to hand out, in order. */
  private readonly queue: string[] = [];
  /** Keys that need processing: queued, or added again while being processed. */
  private readonly dirty = new Set<string>();
  /** Keys a worker holds (between get() and done()). */
  private readonly processing = new Set<string>();
  /** Delayed keys: when they become ready and their timer. */
  private readonly delayed = new Map<string, { at: number; timer: Timer }>();
  /** Rate-limited failures per key since its last forget(). */
  private readonly failures = new Map<string, number>();
  /** Workers blocked in get(). */
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.baseDelayMs = checkDelay('baseDelayMs', options.baseDelayMs ?? 5);
    this.maxDelayMs = checkDelay('maxDelayMs', options.maxDelayMs ?? 1_000_000);
    if (this.maxDelayMs < this.baseDelayMs) {
      throw new RangeError(`WorkQueue: option maxDelayMs (${this.maxDelayMs}) must be >= baseDelayMs (${this.baseDelayMs})`);
    }
  }

  /** Queues `key` now, unless it is already waiting. No-op after shutDown(). */
  add(key: string): void {
    checkKey(key);
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // queued again by done()
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Queues `key` after `delayMs` (<= 0: now). A key already delayed keeps the earlier time. */
  addAfter(key: string, delayMs: number): void {
    checkKey(key);
    if (!Number.isFinite(delayMs)) throw new RangeError(`WorkQueue.addAfter: delayMs must be a finite number, got ${delayMs}`);
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + delayMs;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    existing?.timer.cancel();
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.delayed.set(key, { at, timer });
  }

  /** Queues `key` after its backoff: baseDelayMs * 2^failures, capped at maxDelayMs; counts a failure. */
  addRateLimited(key: string): void {
    checkKey(key);
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    this.addAfter(key, this.backoffMs(failures));
  }

  /** The delay addRateLimited(key) would use now. */
  nextBackoffMs(key: string): number {
    return this.backoffMs(this.failures.get(key) ?? 0);
  }

  /** Rate-limited failures of `key` since its last forget(). */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resets the backoff of `key` (its delayed add, if any, stays). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /**
   * The next key to process, waiting for one if needed; undefined once shut down.
   * The caller owns the key until it calls done(key).
   */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Ends processing of `key`; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    if (!this.processing.delete(key)) return;
    if (this.dirty.has(key) && !this.shuttingDown) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Keys ready to hand out (not counting delayed or in-process keys). */
  len(): number {
    return this.queue.length;
  }

  /** Keys waiting for a delay or backoff to pass. */
  delayedLen(): number {
    return this.delayed.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Stops handing out keys: waiting get() calls resolve undefined; every delay timer is cancelled. Idempotent. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) timer.cancel();
    this.delayed.clear();
    this.queue.length = 0;
    this.dirty.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  private backoffMs(failures: number): number {
    // 2^failures overflows to Infinity for large counts; the cap keeps the result finite.
    return Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
  }
}

function checkDelay(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`WorkQueue: option ${name} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '') throw new TypeError('WorkQueue: key must be a non-empty string');
}

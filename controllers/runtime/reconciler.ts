// The reconcile contract (after controller-runtime) and the Controller that drives it.
//
// A Reconciler looks at one key, re-reads current state and converges it; it never touches
// the queue. Its outcome is mapped to queue actions in exactly one place, applyOutcome():
//   success                      -> forget the key's backoff (+ addAfter when requeueAfterMs is set)
//   error (any but TerminalError) -> retry with per-key exponential backoff
//   TerminalError                -> forget, log, no retry (a later change of the object wakes it again)
import { errorMessage, silentLogger, type Logger } from './logger.js';
import type { Informer } from './informer.js';
import type { ControllerMetrics } from './metrics.js';
import type { Runnable } from './runnable.js';
import { WorkQueue, type WorkQueueOptions } from './work-queue.js';

export interface Result {
  /** Reconcile the key again after this many milliseconds (0: at once). Absent: only on the next change. */
  readonly requeueAfterMs?: number;
}

export interface Reconciler {
  /** Converges the state named by `key`. Throw to retry with backoff; throw TerminalError to give up. */
  reconcile(key: string, signal: AbortSignal): Promise<Result>;
}

/** An error that retrying cannot fix (bad spec, missing permission): the key is not retried. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
}

export type ReconcileOutcome = { readonly result: Result } | { readonly error: unknown };

/** What applyOutcome did with a key. */
export type QueueAction = 'forget' | 'requeueAfter' | 'retry' | 'terminal';

/** The queue operations an outcome maps to (WorkQueue satisfies it). */
export type OutcomeQueue = Pick<WorkQueue, 'forget' | 'add' | 'addAfter' | 'addRateLimited' | 'numRequeues'>;

/** The one mapping of a reconcile outcome to queue actions (see the file comment). */
export function applyOutcome(
  queue: OutcomeQueue,
  key: string,
  outcome: ReconcileOutcome,
  logger: Logger = silentLogger,
  controller = 'controller',
): QueueAction {
  if ('error' in outcome) {
    if (outcome.error instanceof TerminalError) {
      queue.forget(key);
      logger.error('reconcile failed terminally; not retrying', { controller, key, error: outcome.error.message });
      return 'terminal';
    }
    queue.addRateLimited(key);
    logger.warn('reconcile failed; retrying with backoff', {
      controller,
      key,
      error: errorMessage(outcome.error),
      retries: queue.numRequeues(key),
    });
    return 'retry';
  }
  const after = outcome.result.requeueAfterMs;
  if (after !== undefined && (typeof after !== 'number' || !Number.isFinite(after) || after < 0)) {
    queue.addRateLimited(key);
    logger.error('reconcile returned an invalid requeueAfterMs (must be a finite number >= 0); retrying with backoff', {
      controller,
      key,
      requeueAfterMs: String(after),
    });
    return 'retry';
  }
  queue.forget(key);
  if (after === undefined) return 'forget';
  queue.addAfter(key, after);
  return 'requeueAfter';
}

/** Maps an object of an informer to the reconcile keys it concerns (none: undefined or []). */
export type KeyFunction<T> = (storeKey: string, object: T) => string | readonly string[] | undefined;

export interface ControllerOptions {
  readonly name: string;
  readonly reconciler: Reconciler;
  /** Concurrent workers; never two on one key. Default 1. */
  readonly workers?: number;
  /** Options of the work queue made for each run (clock, backoff). */
  readonly queue?: WorkQueueOptions;
  readonly logger?: Logger;
  /** Reconcile durations and errors, queue depth. Absent: none (see also setMetrics). */
  readonly metrics?: ControllerMetrics;
}

interface Source {
  readonly informer: Informer<unknown>;
  readonly keysOf: KeyFunction<unknown>;
}

/**
 * Runs `workers` workers over a work queue fed by informers. Each run() gets a fresh queue
 * seeded with the keys of every cached object (so a new leader reconciles everything); workers
 * start only after every watched informer has synced. Informers run elsewhere (the Manager).
 */
export class Controller implements Runnable {
  readonly name: string;
  private readonly reconciler: Reconciler;
  private readonly workers: number;
  private readonly queueOptions: WorkQueueOptions;
  private readonly logger: Logger;
  private readonly sources: Source[] = [];
  private metrics: ControllerMetrics | undefined;
  /** The queue of the current run; events arriving between runs are dropped (the next run reseeds). */
  private queue: WorkQueue | undefined;

  constructor(options: ControllerOptions) {
    if (typeof options.name !== 'string' || options.name === '') throw new TypeError('Controller: option name must be a non-empty string');
    const workers = options.workers ?? 1;
    if (!Number.isSafeInteger(workers) || workers < 1) {
      throw new RangeError(`Controller ${options.name}: option workers must be an integer >= 1, got ${String(workers)}`);
    }
    this.name = options.name;
    this.reconciler = options.reconciler;
    this.workers = workers;
    this.queueOptions = options.queue ?? {};
    this.logger = options.logger ?? silentLogger;
    this.metrics = options.metrics;
  }

  /** Reports to `metrics` from the next run() on (for controllers built without the option). */
  setMetrics(metrics: ControllerMetrics | undefined): void {
    this.metrics = metrics;
  }

  /** Enqueues keysOf(object) for every add, update (old and new object) and delete the informer reports. */
  watch<T>(informer: Informer<T>, keysOf: KeyFunction<T>): void {
    const source: Source = { informer: informer as Informer<unknown>, keysOf: keysOf as KeyFunction<unknown> };
    this.sources.push(source);
    informer.addHandlers({
      onAdd: (key, object) => this.enqueue(source, key, [object]),
      onUpdate: (key, oldObject, newObject) => this.enqueue(source, key, [oldObject, newObject]),
      onDelete: (key, object) => this.enqueue(source, key, [object]),
    });
  }

  /** Queues `key` for reconciliation (no-op while not running). */
  enqueueKey(key: string): void {
    this.queue?.add(key);
  }

  /** Waits for caches, then reconciles until `signal` aborts; resolves after every worker finished. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.queue) throw new Error(`controller ${this.name}: already running`);
    const queue = new WorkQueue(this.queueOptions);
    this.queue = queue;
    const stop = (): void => queue.shutDown();
    signal.addEventListener('abort', stop, { once: true });
    const metrics = this.metrics;
    const unregisterQueue = metrics?.registerQueue(this.name, () => queue.len());
    try {
      for (const { informer } of this.sources) {
        if (!(await informer.waitForSync(signal))) return;
      }
      for (const source of this.sources) {
        for (const key of source.informer.keys()) {
          const object = source.informer.get(key);
          if (object !== undefined) this.enqueue(source, key, [object]);
        }
      }
      this.logger.info('controller started', { controller: this.name, workers: this.workers });
      await Promise.all(Array.from({ length: this.workers }, () => this.worker(queue, signal, metrics)));
    } finally {
      unregisterQueue?.();
      signal.removeEventListener('abort', stop);
      queue.shutDown();
      this.queue = undefined;
    }
  }

  private async worker(queue: WorkQueue, signal: AbortSignal, metrics: ControllerMetrics | undefined): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      let outcome: ReconcileOutcome;
      const started = performance.now();
      try {
        outcome = { result: (await this.reconciler.reconcile(key, signal)) ?? {} };
      } catch (error) {
        outcome = { error };
      }
      metrics?.observeReconcile(this.name, (performance.now() - started) / 1000, !('error' in outcome));
      applyOutcome(queue, key, outcome, this.logger, this.name);
      queue.done(key);
    }
  }

  /** Adds the distinct keys of `objects` (one add per key, so an update wakes a key once). */
  private enqueue(source: Source, storeKey: string, objects: readonly unknown[]): void {
    const queue = this.queue;
    if (!queue) return;
    const keys = new Set<string>();
    for (const object of objects) {
      let found: string | readonly string[] | undefined;
      try {
        found = source.keysOf(storeKey, object);
      } catch (err) {
        this.logger.error('controller key function threw', { controller: this.name, key: storeKey, error: errorMessage(err) });
        continue;
      }
      for (const key of typeof found === 'string' ? [found] : (found ?? [])) {
        if (typeof key === 'string' && key !== '') keys.add(key);
      }
    }
    for (const key of keys) queue.add(key);
  }
}

// A Store decorator that reports every call's latency and outcome to a StoreMetrics hook
// (metrics/server-metrics.ts implements it; the store package imports no metrics library).
//
// Contract:
// - Every method of Store is delegated unchanged: same arguments, same result, same error.
// - Each call but watch and close is observed once, when it settles, with its operation name
//   (the method name) and a bounded result label (storeResult).
// - watch is counted, not timed: watchStarted() when iteration begins, watchEnded(result) when
//   it ends (done, error, or the consumer stopping early).
import {
  CompactedError,
  ConflictError,
  FencedError,
  FutureRevisionError,
  LeaseNotFoundError,
  StoreClosedError,
  StoreUnavailableError,
  type DeleteOptions,
  type DeleteResult,
  type KeyValue,
  type LeaseId,
  type ListOptions,
  type ListResult,
  type PutOptions,
  type PutResult,
  type Store,
  type WatchEvent,
  type WatchOptions,
} from './store.js';

/** The operations observed (Store's methods, watch and close excepted). */
export type StoreOperation =
  | 'get'
  | 'list'
  | 'put'
  | 'delete'
  | 'grantLease'
  | 'keepAlive'
  | 'revokeLease'
  | 'currentRevision'
  | 'compact'
  | 'compactedRevision';

/** A bounded outcome label: ok, or the kind of StoreError (anything else: error). */
export type StoreResult = 'ok' | 'conflict' | 'fenced' | 'compacted' | 'future_revision' | 'unavailable' | 'lease_not_found' | 'closed' | 'error';

export interface StoreMetrics {
  observeOperation(operation: StoreOperation, result: StoreResult, seconds: number): void;
  watchStarted(): void;
  /** result: ok when the watch ended without an error (done or stopped by its consumer). */
  watchEnded(result: StoreResult): void;
}

/** The result label of a settled call: 'ok' for undefined, else the error's kind. */
export function storeResult(error: unknown): StoreResult {
  if (error === undefined) return 'ok';
  if (error instanceof ConflictError) return 'conflict';
  if (error instanceof FencedError) return 'fenced';
  if (error instanceof CompactedError) return 'compacted';
  if (error instanceof FutureRevisionError) return 'future_revision';
  if (error instanceof StoreUnavailableError) return 'unavailable';
  if (error instanceof LeaseNotFoundError) return 'lease_not_found';
  if (error instanceof StoreClosedError) return 'closed';
  return 'error';
}

export class MeteredStore implements Store {
  constructor(
    private readonly inner: Store,
    private readonly metrics: StoreMetrics,
  ) {}

  get(key: string): Promise<KeyValue | undefined> {
    return this.timed('get', () => this.inner.get(key));
  }

  list(prefix: string, options?: ListOptions): Promise<ListResult> {
    return this.timed('list', () => this.inner.list(prefix, options));
  }

  put(key: string, value: string, options?: PutOptions): Promise<PutResult> {
    return this.timed('put', () => this.inner.put(key, value, options));
  }

  delete(key: string, options?: DeleteOptions): Promise<DeleteResult | undefined> {
    return this.timed('delete', () => this.inner.delete(key, options));
  }

  watch(prefix: string, options?: WatchOptions): AsyncIterable<WatchEvent[]> {
    const iterable = this.inner.watch(prefix, options);
    const metrics = this.metrics;
    return { [Symbol.asyncIterator]: () => meteredIterator(iterable[Symbol.asyncIterator](), metrics) };
  }

  grantLease(ttlSeconds: number): Promise<LeaseId> {
    return this.timed('grantLease', () => this.inner.grantLease(ttlSeconds));
  }

  keepAlive(lease: LeaseId): Promise<void> {
    return this.timed('keepAlive', () => this.inner.keepAlive(lease));
  }

  revokeLease(lease: LeaseId): Promise<void> {
    return this.timed('revokeLease', () => this.inner.revokeLease(lease));
  }

  currentRevision(): Promise<number> {
    return this.timed('currentRevision', () => this.inner.currentRevision());
  }

  compact(revision: number): Promise<void> {
    return this.timed('compact', () => this.inner.compact(revision));
  }

  compactedRevision(): Promise<number> {
    return this.timed('compactedRevision', () => this.inner.compactedRevision());
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async timed<T>(operation: StoreOperation, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const value = await call();
      this.metrics.observeOperation(operation, 'ok', (performance.now() - started) / 1000);
      return value;
    } catch (err) {
      this.metrics.observeOperation(operation, storeResult(err), (performance.now() - started) / 1000);
      throw err;
    }
  }
}

/** Delegates to `inner`; reports the start on the first next() and the end exactly once. */
function meteredIterator(inner: AsyncIterator<WatchEvent[]>, metrics: StoreMetrics): AsyncIterator<WatchEvent[]> {
  let state: 'new' | 'open' | 'ended' = 'new';
  const end = (result: StoreResult): void => {
    if (state !== 'open') return;
    state = 'ended';
    metrics.watchEnded(result);
  };
  const settle = async (step: () => Promise<IteratorResult<WatchEvent[]>>): Promise<IteratorResult<WatchEvent[]>> => {
    if (state === 'new') {
      state = 'open';
      metrics.watchStarted();
    }
    try {
      const result = await step();
      if (result.done === true) end('ok');
      return result;
    } catch (err) {
      end(storeResult(err));
      throw err;
    }
  };
  return {
    next: () => settle(() => inner.next()),
    return: async (value?: unknown) => {
      if (state === 'new') state = 'ended'; // stopped before it began: nothing was counted
      try {
        return inner.return ? await inner.return(value) : { done: true, value: undefined };
      } finally {
        end('ok');
      }
    },
  };
}

// An informer keeps a read-only cache of every object under one key prefix of a Store, fed by
// a paged list and a watch from the list's revision, and tells handlers about every change.
//
// Guarantees:
// - Handlers see each change of a key in revision order; after a CompactedError the informer
//   relists and emits the differences (adds, updates, and deletes of keys that vanished), so the
//   handlers' view always converges on the store's.
// - Cached objects are deep-frozen: handlers and readers must not (and cannot) mutate them;
//   structuredClone() one before changing it.
// - Transient errors restart the list or watch with exponential backoff; run() resolves only
//   after the watch has ended and no timer is left.
// - Every handler call carries the store revision at which the informer learned of the change
//   (a watch event's revision; for the differences a list found, the list's revision), and
//   onResync announces each list before its differences, so handlers can keep a resumable
//   history of changes (the agent endpoint's AssignmentHub does).
import { CompactedError, type Store, type WatchEvent } from '../../store/store.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { errorMessage, silentLogger, type Logger } from './logger.js';
import type { Runnable } from './runnable.js';

/** Turns a stored value into an object; undefined means "not an object of this informer" (treated as absent). */
export type Decoder<T> = (value: string, key: string) => T | undefined;

export interface CacheEntry<T> {
  readonly object: T;
  /** The store modRevision the object was read at. */
  readonly revision: number;
}

/**
 * Callbacks of one informer; each receives the store key and frozen objects. Throwing is logged, not fatal.
 * `revision` is the store revision at which the informer learned of the change: the watch event's
 * revision (for a delete, the revision of the delete), or for the differences found by a list the
 * list's revision (for the onAdd replay of addHandlers, the revision the cache reflects).
 */
export interface InformerHandlers<T> {
  onAdd?(key: string, object: T, revision: number): void;
  onUpdate?(key: string, oldObject: T, newObject: T, revision: number): void;
  onDelete?(key: string, lastObject: T, revision: number): void;
  /**
   * A list at `revision` is about to bring the cache up to date: the first list, and every relist
   * after the watch fell behind a compaction. The changes it found follow, each with this revision;
   * changes between the previous watch position and `revision` are collapsed into them, so any
   * history a handler keeps of earlier revisions no longer tells every change.
   */
  onResync?(revision: number): void;
}

export interface InformerOptions<T> {
  readonly store: Store;
  /** Key prefix to list and watch, e.g. `/registry/jobs/`. */
  readonly prefix: string;
  readonly decode: Decoder<T>;
  /** Name in log lines. Default: the prefix. */
  readonly name?: string;
  /** Keys per list page. Default 500. */
  readonly pageSize?: number;
  /** First retry delay after a transient error. Default 100 ms. */
  readonly initialBackoffMs?: number;
  /** Cap of the retry delay. Default 10 s. */
  readonly maxBackoffMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export class Informer<T> implements Runnable {
  private readonly store: Store;
  private readonly prefix: string;
  private readonly decode: Decoder<T>;
  private readonly name: string;
  private readonly pageSize: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly cache = new Map<string, CacheEntry<T>>();
  private readonly handlers = new Set<InformerHandlers<T>>();
  private readonly syncWaiters = new Set<() => void>();
  private synced = false;
  private running = false;
  /** The store revision the cache reflects (0 before the first list). */
  private cacheRevision = 0;

  constructor(options: InformerOptions<T>) {
    if (typeof options.prefix !== 'string' || options.prefix === '') {
      throw new TypeError('Informer: option prefix must be a non-empty string');
    }
    if (typeof options.decode !== 'function') throw new TypeError('Informer: option decode must be a function');
    this.store = options.store;
    this.prefix = options.prefix;
    this.decode = options.decode;
    this.name = options.name ?? options.prefix;
    this.pageSize = positiveInteger('pageSize', options.pageSize ?? 500);
    this.initialBackoffMs = positiveInteger('initialBackoffMs', options.initialBackoffMs ?? 100);
    this.maxBackoffMs = positiveInteger('maxBackoffMs', options.maxBackoffMs ?? 10_000);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Registers handlers; returns a function that removes them. Handlers added after the cache
   * holds objects get an onAdd for each of them first (as client-go does).
   */
  addHandlers(handlers: InformerHandlers<T>): () => void {
    this.handlers.add(handlers);
    for (const [key, entry] of this.cache) {
      const revision = Math.max(this.cacheRevision, entry.revision);
      this.call('onAdd', key, () => handlers.onAdd?.(key, entry.object, revision));
    }
    return () => this.handlers.delete(handlers);
  }

  /** The cached object of `key` (frozen), or undefined. */
  get(key: string): T | undefined {
    return this.cache.get(key)?.object;
  }

  /** The cached entry of `key` with its revision, or undefined. */
  getEntry(key: string): CacheEntry<T> | undefined {
    return this.cache.get(key);
  }

  /** Every cached key, in no particular order. */
  keys(): string[] {
    return [...this.cache.keys()];
  }

  /** Every cached object (frozen). */
  list(): T[] {
    return [...this.cache.values()].map((entry) => entry.object);
  }

  /** The store revision the cache reflects: every change up to it has been applied (0 before the first list). */
  revision(): number {
    return this.cacheRevision;
  }

  /** True once the first full list has been applied (stays true across relists). */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced, or false if `signal` aborts first. */
  waitForSync(signal: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onSynced = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      };
      const onAbort = (): void => {
        this.syncWaiters.delete(onSynced);
        resolve(false);
      };
      this.syncWaiters.add(onSynced);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Lists and watches until `signal` aborts; resolves once the watch has ended. One run at a time. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error(`informer ${this.name}: already running`);
    this.running = true;
    try {
      await this.loop(signal);
    } finally {
      this.running = false;
    }
  }

  private async loop(signal: AbortSignal): Promise<void> {
    let revision: number | undefined; // the revision the cache reflects; undefined: relist
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (revision === undefined) {
          revision = await this.relist();
          this.cacheRevision = revision;
          failures = 0;
          continue;
        }
        for await (const events of this.store.watch(this.prefix, { fromRevision: revision + 1, signal })) {
          for (const event of events) {
            this.apply(event);
            revision = Math.max(revision, event.kv.modRevision);
          }
          this.cacheRevision = revision;
          failures = 0;
        }
        if (signal.aborted) break;
        // The watch ended without an error or abort: resume it after a pause.
        this.logger.warn('informer watch ended; restarting', { informer: this.name, revision });
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof CompactedError) {
          this.logger.info('informer watch compacted; relisting', { informer: this.name, revision });
          revision = undefined;
          continue;
        }
        this.logger.warn('informer list/watch failed; retrying', {
          informer: this.name,
          error: errorMessage(err),
          attempt: failures + 1,
        });
      }
      const delay = Math.min(this.initialBackoffMs * 2 ** failures, this.maxBackoffMs);
      failures++;
      await sleep(this.clock, delay, signal);
    }
  }

  /** Reads every page at one revision, replaces the cache and emits the differences. */
  private async relist(): Promise<number> {
    const fresh = new Map<string, { value: string; revision: number }>();
    let page = await this.store.list(this.prefix, { limit: this.pageSize });
    const revision = page.revision;
    for (;;) {
      for (const kv of page.items) fresh.set(kv.key, { value: kv.value, revision: kv.modRevision });
      const last = page.items.at(-1);
      if (!page.more || last === undefined) break;
      page = await this.store.list(this.prefix, { limit: this.pageSize, after: last.key, revision });
    }
    this.emit('onResync', '', (h) => h.onResync?.(revision));
    for (const [key, old] of [...this.cache]) {
      if (!fresh.has(key)) {
        this.cache.delete(key);
        this.emit('onDelete', key, (h) => h.onDelete?.(key, old.object, revision));
      }
    }
    for (const [key, { value, revision: modRevision }] of fresh) {
      const old = this.cache.get(key);
      if (old?.revision === modRevision) continue;
      this.cachePut(key, value, modRevision, old, revision);
    }
    if (!this.synced) {
      this.synced = true;
      for (const waiter of [...this.syncWaiters]) waiter();
      this.syncWaiters.clear();
    }
    return revision;
  }

  private apply(event: WatchEvent): void {
    const { key } = event.kv;
    const old = this.cache.get(key);
    const revision = event.kv.modRevision;
    if (event.type === 'put') {
      if (old && old.revision >= revision) return; // already seen (e.g. through a relist)
      this.cachePut(key, event.kv.value, revision, old, revision);
    } else if (old) {
      this.cache.delete(key);
      this.emit('onDelete', key, (h) => h.onDelete?.(key, old.object, revision));
    }
  }

  /**
   * Caches the decoded value of a put (modRevision `revision`) and emits add/update (or delete when
   * it no longer decodes), telling handlers `observedAt`.
   */
  private cachePut(key: string, value: string, revision: number, old: CacheEntry<T> | undefined, observedAt: number): void {
    let object: T | undefined;
    try {
      object = this.decode(value, key);
    } catch (err) {
      this.logger.warn('informer: cannot decode value; treating the key as absent', {
        informer: this.name,
        key,
        error: errorMessage(err),
      });
    }
    if (object === undefined) {
      if (old) {
        this.cache.delete(key);
        this.emit('onDelete', key, (h) => h.onDelete?.(key, old.object, observedAt));
      }
      return;
    }
    const frozen = deepFreeze(object);
    this.cache.set(key, { object: frozen, revision });
    if (old) this.emit('onUpdate', key, (h) => h.onUpdate?.(key, old.object, frozen, observedAt));
    else this.emit('onAdd', key, (h) => h.onAdd?.(key, frozen, observedAt));
  }

  private emit(kind: string, key: string, call: (handlers: InformerHandlers<T>) => void): void {
    for (const handlers of [...this.handlers]) this.call(kind, key, () => call(handlers));
  }

  private call(kind: string, key: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error('informer handler threw', { informer: this.name, handler: kind, key, error: errorMessage(err) });
    }
  }
}

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<V>(value: V): V {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Informer: option ${name} must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}

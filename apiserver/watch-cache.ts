// The watch cache (kube-apiserver's "cacher"): one store watch per watched collection, shared by
// every watch stream of it (watch.ts).
//
// A WatchCache reads the store's changes under one prefix from a start revision, decodes each
// change once (CachedEvent), keeps the most recent ones in a bounded buffer and hands the changes
// to its subscribers in batches. A subscriber joining from revision F gets, exactly once and in
// revision order, every change with revision >= F: the buffered ones at once (one batch), then
// the live ones. That is possible only while F >= oldestRevision (every change from there on is
// buffered or still to come); older revisions need a store watch of their own.
//
// Batching: the changes that arrive during one turn of the event loop are handed over together
// at its check phase (setImmediate), so a subscriber gets one deliver() call per turn, not one
// per change: a stream then makes one socket write per turn. Under load (many writes committed
// per turn) the fan-out cost per change falls instead of queueing the server behind it; when
// idle it adds at most one loop turn of latency.
//
// The cache never waits for a subscriber: deliver() must not block (watch.ts queues per stream
// and ends streams that fall too far behind).
import type { ApiObject } from '../api/meta.js';
import type { KeyValue, Store, WatchEvent } from '../store/store.js';
import { withResourceVersion } from './object-storage.js';
import type { ResourceRef } from './status.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
/** The types a change becomes for a stream (depends on the stream's selection). */
export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A kind of stored object that can be watched: decoded the same way for every watch of it. */
export interface WatchCollection {
  readonly store: Store;
  /** Names the kind in BOOKMARK objects and in error Statuses. */
  readonly resource: ResourceRef;
  /** apiVersion of BOOKMARK objects ("group/version"; "v1" for the core group). */
  readonly apiVersion: string;
  /** Key prefix of every object of the kind: one shared store watch covers it. */
  readonly prefix: string;
  /** The object of a stored value, resourceVersion = kv.modRevision; undefined: not one (skipped). */
  decode(kv: KeyValue): ApiObject | undefined;
}

type Memo<T> = { readonly value: T } | { readonly error: unknown };

function memo<T>(compute: () => T): Memo<T> {
  try {
    return { value: compute() };
  } catch (error) {
    return { error };
  }
}

function unwrap<T>(m: Memo<T>): T {
  if ('error' in m) throw m.error;
  return m.value;
}

/**
 * One store change, decoded at most once and encoded at most once per change type, whatever
 * the number of streams it is sent to. Decoding errors are thrown to every caller.
 */
export class CachedEvent {
  private decodedCurrent?: Memo<ApiObject | undefined>;
  private decodedPrevious?: Memo<ApiObject | undefined>;
  private removedObject?: Memo<ApiObject | undefined>;
  private currentJson?: string;
  private removedJson?: string;
  private readonly encoded = new Map<ChangeType, Buffer>();

  constructor(
    readonly change: WatchEvent,
    private readonly decode: (kv: KeyValue) => ApiObject | undefined,
  ) {}

  get revision(): number {
    return this.change.kv.modRevision;
  }

  get key(): string {
    return this.change.kv.key;
  }

  /** The object after a put; undefined for a delete or a value that is not an object. */
  current(): ApiObject | undefined {
    if (this.change.type !== 'put') return undefined;
    this.decodedCurrent ??= memo(() => this.decode(this.change.kv));
    return unwrap(this.decodedCurrent);
  }

  /** The object before the change; undefined when there was none (a create). */
  previous(): ApiObject | undefined {
    const prev = this.change.prevKv;
    if (prev === undefined) return undefined;
    this.decodedPrevious ??= memo(() => this.decode(prev));
    return unwrap(this.decodedPrevious);
  }

  /** What a DELETED event carries: the previous state at this change's revision. */
  removed(): ApiObject | undefined {
    this.removedObject ??= memo(() => {
      const previous = this.previous();
      return previous === undefined ? undefined : withResourceVersion(previous, this.revision);
    });
    return unwrap(this.removedObject);
  }

  /**
   * The NDJSON line `{"type":T,"object":...}\n` (exactly JSON.stringify's form) with the plain
   * object: current() for ADDED/MODIFIED, removed() for DELETED. The object is encoded once.
   */
  line(type: ChangeType): Buffer {
    let line = this.encoded.get(type);
    if (line === undefined) {
      const objectJson = this.objectJson(type === 'DELETED');
      line = Buffer.from(`{"type":"${type}","object":${objectJson}}\n`);
      this.encoded.set(type, line);
    }
    return line;
  }

  private objectJson(deleted: boolean): string {
    if (deleted) return (this.removedJson ??= JSON.stringify(this.removed()));
    return (this.currentJson ??= JSON.stringify(this.current()));
  }
}

/** Receives a cache's changes. */
export interface WatchSubscriber {
  /**
   * The next changes (never none) in revision order: over all calls, each change with revision >=
   * the subscription's fromRevision, once. Called synchronously; must not block.
   */
  deliver(events: readonly CachedEvent[]): void;
  /** No more changes will come: the store watch failed with `err`, or ended without one (undefined). */
  fail(err: unknown): void;
}

export interface WatchCacheOptions {
  readonly collection: WatchCollection;
  /** The watched key prefix: collection.prefix for a shared cache, or narrower. */
  readonly prefix: string;
  /** The store watch starts here (inclusive). */
  readonly fromRevision: number;
  /** How many recent changes are kept for subscribers that join later (0: none). */
  readonly capacity: number;
  /** Called once when the cache stops (last subscriber left, store watch failed or ended, stop()). */
  readonly onStop?: (cache: WatchCache) => void;
}

/** One store watch, its recent changes and its subscribers; starts at construction. */
export class WatchCache {
  readonly collection: WatchCollection;
  /** Settles (never rejects) when the store watch has ended. */
  readonly done: Promise<void>;
  /** Recent changes already handed to the subscribers (at most `capacity`). */
  private readonly buffer: CachedEvent[] = [];
  /** Changes received from the store and not yet handed over (see flush()). */
  private pending: CachedEvent[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  /** Every change with a revision >= this is in the buffer, pending or still to come. */
  private oldest: number;
  /** Each subscriber and the revision of the next change it is to get. */
  private readonly subscribers = new Map<WatchSubscriber, number>();
  private readonly controller = new AbortController();
  private stopped = false;

  constructor(private readonly options: WatchCacheOptions) {
    this.collection = options.collection;
    this.oldest = options.fromRevision;
    this.done = this.run();
  }

  /** The oldest revision a subscription can start from. */
  get oldestRevision(): number {
    return this.oldest;
  }

  /** True when a subscription from `fromRevision` would miss no change. */
  covers(fromRevision: number): boolean {
    return !this.stopped && fromRevision >= this.oldest;
  }

  /**
   * Delivers the buffered changes with revision >= fromRevision to `subscriber` now (one batch),
   * then the live ones. Returns the unsubscribe function, or undefined (nothing delivered) when
   * the cache cannot serve fromRevision (see covers()).
   */
  subscribe(subscriber: WatchSubscriber, fromRevision: number): (() => void) | undefined {
    if (!this.covers(fromRevision)) return undefined;
    this.subscribers.set(subscriber, fromRevision);
    const replay = this.buffer.slice(this.firstIndexFrom(this.buffer, fromRevision));
    if (replay.length > 0) {
      this.subscribers.set(subscriber, replay[replay.length - 1]!.revision + 1);
      this.deliverTo(subscriber, replay);
    }
    return () => this.unsubscribe(subscriber);
  }

  /** Ends the store watch; subscribers get nothing more (and no fail()). Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.subscribers.clear();
    this.pending = [];
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    this.controller.abort();
    this.options.onStop?.(this);
  }

  private unsubscribe(subscriber: WatchSubscriber): void {
    if (!this.subscribers.delete(subscriber)) return;
    if (this.subscribers.size === 0) this.stop();
  }

  /** Index of the first change of `events` (in revision order) with revision >= fromRevision (binary search). */
  private firstIndexFrom(events: readonly CachedEvent[], fromRevision: number): number {
    let low = 0;
    let high = events.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (events[mid]!.revision < fromRevision) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private async run(): Promise<void> {
    const { signal } = this.controller;
    const { collection, prefix, fromRevision } = this.options;
    let failure: unknown;
    try {
      for await (const batch of collection.store.watch(prefix, { fromRevision, signal })) {
        if (signal.aborted) break;
        for (const change of batch) this.pending.push(new CachedEvent(change, (kv) => collection.decode(kv)));
        this.flushScheduled ??= setImmediate(this.flush);
      }
    } catch (err) {
      failure = err;
    }
    if (this.stopped) return;
    this.flush(); // what was received is handed over before the end
    if (this.stopped) return;
    const subscribers = [...this.subscribers.keys()];
    this.stop();
    for (const subscriber of subscribers) subscriber.fail(failure);
  }

  /** Buffers the pending changes and hands each subscriber those it has not had, as one batch. */
  private readonly flush = (): void => {
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    const events = this.pending;
    if (events.length === 0 || this.stopped) return;
    this.pending = [];
    const { capacity } = this.options;
    if (capacity > 0) {
      this.buffer.push(...events);
      const excess = this.buffer.length - capacity;
      if (excess > 0) this.oldest = this.buffer.splice(0, excess)[excess - 1]!.revision + 1;
    } else {
      this.oldest = events[events.length - 1]!.revision + 1;
    }
    const next = events[events.length - 1]!.revision + 1;
    for (const [subscriber, fromRevision] of this.subscribers) {
      if (fromRevision >= next) continue;
      const first = fromRevision <= events[0]!.revision ? 0 : this.firstIndexFrom(events, fromRevision);
      this.subscribers.set(subscriber, next);
      this.deliverTo(subscriber, first === 0 ? events : events.slice(first));
    }
  };

  /** A subscriber that throws is dropped with fail(err); the others go on. */
  private deliverTo(subscriber: WatchSubscriber, events: readonly CachedEvent[]): void {
    try {
      subscriber.deliver(events);
    } catch (err) {
      this.unsubscribe(subscriber);
      subscriber.fail(err);
    }
  }
}

// Watch streams: newline-delimited JSON events {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}.
//
// resourceVersion N: only changes after N (from N+1); a compacted N is 410 before the stream
// starts, or an ERROR event with a 410 Status when compaction is found later.
// resourceVersion 0 or absent: a synthetic ADDED for every current match (read at revision R),
// then the changes from R+1, so nothing is missed or repeated. Selectors are applied to the
// old and new state of each change, as kube-apiserver does: an object that starts matching is
// ADDED, one that stops matching is DELETED (carrying its last matching state).
//
// What is watched is a WatchSource: a WatchCollection (the kind: store, prefix, decoding; one per
// kind, shared) and the client's selection and rendering. Resource kinds (resource-handlers.ts)
// and Events (events.ts) share this one streaming code.
//
// The watch cache (watch-cache.ts): every stream of a collection whose start revision is still in
// the collection's shared buffer is fed by ONE store watch of the whole collection (started with
// the first such stream at its start revision, stopped when the last one leaves); each change is
// decoded once and its plain JSON line encoded once for all streams. A stream starting before the
// buffer gets a store watch of its own (same delivery code, nothing shared). The cache hands over
// the changes of one event-loop turn as a batch, and a stream writes a batch's lines with one
// write (one socket write per stream per turn, however many changes). Each stream queues
// what its socket cannot take yet; one that falls more than maxQueuedEvents/maxQueuedBytes behind
// is ended with an ERROR 410 (the client relists), so a slow client never holds up the others.
import type { Response } from 'express';
import type winston from 'winston';
import type { ApiObject, Status } from '../api/meta.js';
import { readPage } from './list-reader.js';
import { badRequest, errorForLog, expired, serviceUnavailable, toApiError } from './status.js';
import { WatchCache, type CachedEvent, type ChangeType, type WatchCollection, type WatchSubscriber } from './watch-cache.js';

export type { WatchCollection, WatchEventType } from './watch-cache.js';

/** What a watch streams: a collection, seen through the client's selection. */
export interface WatchSource {
  readonly collection: WatchCollection;
  /** The client's selection; applied to the old and the new state of each change. */
  matches(obj: ApiObject): boolean;
  /** What is sent for an object (e.g. a one-row Table). Default: the object itself. */
  render?(obj: ApiObject): unknown;
}

export interface WatchRequest {
  readonly source: WatchSource;
  /** Key prefix to watch (the collection's, or narrower: a namespace, one name). */
  readonly prefix: string;
  /** The client's resourceVersion parameter. */
  readonly resourceVersion?: string;
  /** End the stream after this many seconds (normal end, no error). */
  readonly timeoutSeconds?: number;
  readonly allowBookmarks: boolean;
}

/** Sizes of the watch cache and of each stream's queue. */
export interface WatchLimits {
  /** Recent changes kept per collection, so that watches from a recent resourceVersion share its store watch. Default 1,000. */
  readonly cacheCapacity?: number;
  /** A stream with more events than this waiting for its socket is ended with ERROR 410. Default 10,000. */
  readonly maxQueuedEvents?: number;
  /** The same, in bytes of encoded events. Default 16 MiB. */
  readonly maxQueuedBytes?: number;
}

export const DEFAULT_WATCH_CACHE_CAPACITY = 1000;
export const DEFAULT_MAX_QUEUED_EVENTS = 10_000;
export const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024;

export interface WatchHubOptions extends WatchLimits {
  /** How often a BOOKMARK is sent to clients that allow them. */
  readonly bookmarkIntervalMs: number;
  readonly logger: winston.Logger;
}

/** Serves watch streams and ends all of them on close(). */
export class WatchHub {
  private readonly active = new Map<AbortController, Promise<void>>();
  /** The shared cache of each collection being watched. */
  private readonly shared = new Map<WatchCollection, WatchCache>();
  /** Every cache whose store watch has not ended yet (shared and per-stream). */
  private readonly caches = new Set<WatchCache>();
  private readonly limits: Required<WatchLimits>;
  private closed = false;

  constructor(private readonly options: WatchHubOptions) {
    this.limits = {
      cacheCapacity: positive('cacheCapacity', options.cacheCapacity ?? DEFAULT_WATCH_CACHE_CAPACITY),
      maxQueuedEvents: positive('maxQueuedEvents', options.maxQueuedEvents ?? DEFAULT_MAX_QUEUED_EVENTS),
      maxQueuedBytes: positive('maxQueuedBytes', options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES),
    };
  }

  /** Number of open streams. */
  get size(): number {
    return this.active.size;
  }

  /**
   * Streams events to `res` until the client goes away, the timeout passes or close() is called.
   * Errors found before the first byte (bad resourceVersion, 410, store down) are thrown.
   */
  async serve(res: Response, request: WatchRequest): Promise<void> {
    if (this.closed) throw serviceUnavailable('the server is shutting down');
    const { source } = request;
    const { collection } = source;
    const { store } = collection;
    const rv = request.resourceVersion;
    let initial: ApiObject[] = [];
    let fromRevision: number;
    if (rv === undefined || rv === '' || rv === '0') {
      const page = await readPage(
        { list: (prefix, options) => store.list(prefix, options), decode: (kv) => collection.decode(kv), accept: (obj) => source.matches(obj) },
        { prefix: request.prefix },
      );
      initial = page.items;
      fromRevision = page.revision + 1;
    } else {
      if (!/^\d{1,15}$/.test(rv)) throw badRequest(`resourceVersion: invalid value "${rv}": must be a decimal revision`);
      const requested = Number(rv);
      const oldest = await store.compactedRevision();
      if (requested + 1 < oldest) {
        throw expired(`too old resource version: ${requested} (${oldest}); start again from a fresh list`);
      }
      // Like kube-apiserver's "Too large resource version": a watch from the future would sit silent.
      const current = await store.currentRevision();
      if (requested > current) {
        throw badRequest(`resourceVersion: ${requested} is newer than the current revision ${current}; start from a fresh list`);
      }
      fromRevision = requested + 1;
    }
    if (this.closed) throw serviceUnavailable('the server is shutting down');

    const controller = new AbortController();
    const stream = new WatchStream(res, request, controller, fromRevision, this.options, this.limits);
    stream.open();
    stream.attach(this.subscribe(stream, request, fromRevision));
    const done = stream.run(initial);
    this.active.set(controller, done);
    try {
      await done;
    } finally {
      this.active.delete(controller);
    }
  }

  /** Ends every open stream and store watch and waits until they have finished. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const controller of this.active.keys()) controller.abort();
    for (const cache of [...this.caches]) cache.stop();
    await Promise.allSettled([...this.active.values(), ...[...this.caches].map((cache) => cache.done)]);
  }

  /**
   * Subscribes `stream` from `fromRevision`: to its collection's shared cache when the stream's
   * prefix is inside the collection and the revision inside the cache's buffer (a new shared
   * cache starts at fromRevision), else to a store watch of its own. Returns the unsubscribe.
   */
  private subscribe(stream: WatchStream, request: WatchRequest, fromRevision: number): () => void {
    const { collection } = request.source;
    if (request.prefix.startsWith(collection.prefix)) {
      const cache = this.shared.get(collection) ?? this.startCache(collection, collection.prefix, fromRevision, this.limits.cacheCapacity, true);
      const unsubscribe = cache.subscribe(stream, fromRevision);
      if (unsubscribe !== undefined) return unsubscribe;
    }
    const own = this.startCache(collection, request.prefix, fromRevision, 0, false);
    const unsubscribe = own.subscribe(stream, fromRevision);
    if (unsubscribe === undefined) throw new Error(`watch cache of ${request.prefix}: a new cache must cover its start revision ${fromRevision}`);
    return unsubscribe;
  }

  private startCache(collection: WatchCollection, prefix: string, fromRevision: number, capacity: number, shared: boolean): WatchCache {
    const cache = new WatchCache({
      collection,
      prefix,
      fromRevision,
      capacity,
      onStop: (stopped) => {
        if (this.shared.get(collection) === stopped) this.shared.delete(collection);
      },
    });
    if (shared) this.shared.set(collection, cache);
    this.caches.add(cache);
    void cache.done.then(() => this.caches.delete(cache));
    return cache;
  }
}

/** One client's stream: writes what the socket takes, queues the rest (bounded). */
class WatchStream implements WatchSubscriber {
  /** Chunks (one or more lines each) waiting for the socket, and how many lines each holds. */
  private readonly queue: Buffer[] = [];
  private readonly queuedCounts: number[] = [];
  private queuedBytes = 0;
  private queuedEvents = 0;
  /** The initial ADDEDs are out and the response is not waiting for 'drain': lines go straight to it. */
  private ready = false;
  private bookmarkDue = false;
  /** Set when no more changes come (store watch failed or ended): end once the queue is written. */
  private endAfterQueue: { readonly error: Status | undefined } | undefined;
  /** Every change up to here has been handed to this stream (a BOOKMARK's resourceVersion). */
  private lastRevision: number;
  private unsubscribe: (() => void) | undefined;
  private ended = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private resolveFinished: () => void = () => undefined;
  private readonly finished = new Promise<void>((resolve) => (this.resolveFinished = resolve));

  constructor(
    private readonly res: Response,
    private readonly request: WatchRequest,
    private readonly controller: AbortController,
    fromRevision: number,
    private readonly options: WatchHubOptions,
    private readonly limits: Required<WatchLimits>,
  ) {
    this.lastRevision = fromRevision - 1;
  }

  /** Sends the headers and starts the timers; events queue until run(). */
  open(): void {
    const { res, request } = this;
    res.status(200);
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-cache, private');
    res.flushHeaders();
    res.on('close', this.onGone);
    this.controller.signal.addEventListener('abort', this.onGone);
    if (request.timeoutSeconds !== undefined && request.timeoutSeconds > 0) {
      this.timers.push(setTimeout(this.onGone, request.timeoutSeconds * 1000));
    }
    if (request.allowBookmarks) this.timers.push(setInterval(this.onBookmarkTimer, this.options.bookmarkIntervalMs));
    // The client may have gone while the request was validated ('close' came before the listener).
    if (res.destroyed || res.socket === null || res.socket.destroyed) this.end();
  }

  /** Takes the cache subscription (dropped at the end; at once if the stream already ended). */
  attach(unsubscribe: () => void): void {
    if (this.ended) unsubscribe();
    else this.unsubscribe = unsubscribe;
  }

  /** Writes the initial ADDEDs, then the queued and live changes; resolves when the stream has ended. */
  async run(initial: readonly ApiObject[]): Promise<void> {
    for (const obj of initial) {
      if (this.ended) break;
      if (!this.writable()) {
        this.end();
        break;
      }
      if (!this.res.write(this.renderedLine('ADDED', obj))) await drained(this.res, this.controller.signal);
    }
    if (!this.ended) this.flush();
    return this.finished;
  }

  /** The batch's lines go out in one chunk (also when a line fails to encode: those before it). */
  deliver(events: readonly CachedEvent[]): void {
    if (this.ended) return;
    const lines: Buffer[] = [];
    try {
      for (const event of events) {
        this.lastRevision = event.revision;
        if (!event.key.startsWith(this.request.prefix)) continue;
        const line = this.lineFor(event);
        if (line !== undefined) lines.push(line);
      }
    } finally {
      if (lines.length > 0) this.send(lines.length === 1 ? lines[0]! : Buffer.concat(lines), lines.length);
    }
  }

  fail(err: unknown): void {
    if (this.ended) return;
    this.unsubscribe = undefined; // the cache has dropped this stream
    let error: Status | undefined;
    if (err !== undefined) {
      const mapped = toApiError(err, { resource: this.request.source.collection.resource });
      if (mapped.unexpected) this.options.logger.error('watch failed', { prefix: this.request.prefix, error: errorForLog(err) });
      error = mapped.error.status;
    }
    this.endAfterQueue = { error };
    if (this.ready) this.flush();
  }

  /** The line a change becomes under this stream's selection; undefined: not sent. */
  private lineFor(event: CachedEvent): Buffer | undefined {
    const { source } = this.request;
    const previous = event.previous();
    const matchedBefore = previous !== undefined && source.matches(previous);
    const current = event.current();
    if (current !== undefined && source.matches(current)) return this.changeLine(matchedBefore ? 'MODIFIED' : 'ADDED', event);
    if (matchedBefore) return this.changeLine('DELETED', event);
    return undefined;
  }

  /** The plain rendering is the cache's shared line; other renderings are made per stream. */
  private changeLine(type: ChangeType, event: CachedEvent): Buffer {
    if (this.request.source.render === undefined) return event.line(type);
    const obj = type === 'DELETED' ? event.removed() : event.current();
    return this.renderedLine(type, obj!);
  }

  private renderedLine(type: ChangeType, obj: ApiObject): Buffer {
    const { render } = this.request.source;
    return Buffer.from(`${JSON.stringify({ type, object: render === undefined ? obj : render(obj) })}\n`);
  }

  /** `chunk` holds `events` lines. */
  private send(chunk: Buffer, events: number): void {
    if (this.ready && this.queue.length === 0) {
      this.write(chunk);
      return;
    }
    this.queue.push(chunk);
    this.queuedCounts.push(events);
    this.queuedBytes += chunk.length;
    this.queuedEvents += events;
    const { maxQueuedEvents, maxQueuedBytes } = this.limits;
    if (this.queuedEvents > maxQueuedEvents || this.queuedBytes > maxQueuedBytes) {
      const behind = `${this.queuedEvents} events (${this.queuedBytes} bytes)`;
      this.options.logger.info('watch too slow: ended', { prefix: this.request.prefix, behind });
      this.end(
        expired(
          `the client is too slow: ${behind} not yet sent, over the limit of ${maxQueuedEvents} events or ${maxQueuedBytes} bytes; start again from a fresh list`,
        ).status,
      );
    }
  }

  /** Writes the queue while the response takes it; then ends (after a failure) or sends a due BOOKMARK. */
  private readonly flush = (): void => {
    this.ready = true;
    while (this.ready && this.queue.length > 0) {
      const chunk = this.queue.shift()!;
      this.queuedBytes -= chunk.length;
      this.queuedEvents -= this.queuedCounts.shift()!;
      this.write(chunk);
    }
    if (!this.ready || this.ended) return;
    if (this.endAfterQueue !== undefined) {
      this.end(this.endAfterQueue.error);
      return;
    }
    if (this.bookmarkDue) {
      this.bookmarkDue = false;
      this.write(this.bookmarkLine());
    }
  };

  private write(line: Buffer | string): void {
    if (!this.writable()) {
      this.end();
      return;
    }
    if (!this.res.write(line)) {
      this.ready = false;
      this.res.once('drain', this.flush);
    }
  }

  /** A BOOKMARK now if everything handed over is written, else after the queue (never before the initial ADDEDs). */
  private readonly onBookmarkTimer = (): void => {
    if (this.ended) return;
    if (this.ready && this.queue.length === 0 && this.endAfterQueue === undefined) this.write(this.bookmarkLine());
    else this.bookmarkDue = true;
  };

  private bookmarkLine(): string {
    const { collection } = this.request.source;
    const object = { kind: collection.resource.kind, apiVersion: collection.apiVersion, metadata: { resourceVersion: String(this.lastRevision) } };
    return `${JSON.stringify({ type: 'BOOKMARK', object })}\n`;
  }

  /** Client gone, timeout, or the hub closing: end without an ERROR. */
  private readonly onGone = (): void => this.end();

  private writable(): boolean {
    return !this.ended && !this.res.destroyed && !this.res.writableEnded;
  }

  /** Ends the stream once: drops the subscription and the queue, sends `error` as an ERROR event if given. */
  private end(error?: Status): void {
    if (this.ended) return;
    const sendError = error !== undefined && this.writable();
    this.ended = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.queue.length = 0;
    this.queuedCounts.length = 0;
    this.queuedBytes = 0;
    this.queuedEvents = 0;
    const { res } = this;
    res.off('close', this.onGone);
    res.off('drain', this.flush);
    this.controller.signal.removeEventListener('abort', this.onGone);
    if (sendError) res.write(`${JSON.stringify({ type: 'ERROR', object: error })}\n`);
    if (!res.writableEnded) res.end();
    this.controller.abort(); // wakes run() if it waits for 'drain'
    this.resolveFinished();
  }
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`watch limits: ${name} must be a positive integer, got ${value}`);
  return value;
}

/** Resolves when `res` can take more data again, or it closed, or `signal` aborted. */
export function drained(res: Response, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    if (signal.aborted) {
      resolve();
      return;
    }
    res.on('drain', done);
    res.on('close', done);
    signal.addEventListener('abort', done);
  });
}

// One Store watch on etcd: its own gRPC watch stream that is re-established, from the
// revision after the last delivered event, whenever it breaks (etcd restart, network), so the
// consumer sees every event exactly once. Compaction is surfaced as CompactedError. A watch etcd
// cancels for an invalid auth token (expired, or lost in an etcd restart) is re-established after
// the store renewed the token (etcd3 renews it for unary calls only).
import type { Etcd3, IDuplexStream, IEvent, IWatchRequest, IWatchResponse } from 'etcd3';
import { isEtcdInvalidAuthToken } from './etcd-errors.js';
import type { EtcdKeyspace } from './etcd-keyspace.js';
import type { StoreLogger } from './store-logger.js';
import { CompactedError, StoreClosedError, StoreError, type WatchEvent } from './store.js';

export interface EtcdWatcherDeps {
  readonly client: Etcd3;
  readonly keyspace: EtcdKeyspace;
  readonly logger: StoreLogger;
  /** Delay before the first attempt to re-establish a broken stream; doubles up to retryMaxMs. */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** Gets etcd3 a new auth token (a no-op without etcd auth); never rejects. */
  readonly renewAuthToken: () => Promise<void>;
  /** Called once when the watcher has stopped for good. */
  readonly onStopped: (watcher: EtcdWatcher) => void;
}

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

/** The consumer falls this many batches behind: stop reading the stream until it catches up. */
const PAUSE_AT_BATCHES = 64;
const RESUME_AT_BATCHES = 8;

function closeStream(stream: WatchStream): void {
  // end() first: a stream that is no longer writable is not reported as a failed host by etcd3.
  try {
    stream.end();
  } catch {
    // already closed
  }
  stream.cancel();
}

export class EtcdWatcher implements AsyncIterable<WatchEvent[]> {
  /** The revision of the next event to deliver; undefined until etcd created the first watch. */
  private nextRev: number | undefined;
  private stream: WatchStream | undefined;
  private paused = false;
  private retryDelayMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  /** etcd refused the stream's auth token: renew it before the next attempt. */
  private tokenInvalid = false;
  private readonly batches: WatchEvent[][] = [];
  /** Set once: ended (abort, iterator return) or failed (compaction, store closed). */
  private outcome: { readonly ended: true } | { readonly failure: Error } | undefined;
  private wake: (() => void) | undefined;
  private readonly range: { key: Buffer; range_end: Buffer };
  private readonly onAbort = (): void => this.stop({ ended: true });

  constructor(
    private readonly deps: EtcdWatcherDeps,
    prefix: string,
    fromRevision: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.range = deps.keyspace.range(prefix);
    this.nextRev = fromRevision;
    this.retryDelayMs = deps.retryMinMs;
  }

  /** Opens the stream now (not at the first next()), so that the watch starts as early as possible. */
  start(): void {
    if (this.signal?.aborted) {
      this.stop({ ended: true });
      return;
    }
    this.signal?.addEventListener('abort', this.onAbort);
    this.connect();
  }

  /** Ends the watch with `error` (e.g. StoreClosedError when the store closes). */
  fail(error: Error): void {
    this.stop({ failure: error });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent[]> {
    try {
      for (;;) {
        const outcome = this.outcome;
        if (outcome && 'ended' in outcome) return;
        if (outcome && outcome.failure instanceof StoreClosedError) throw outcome.failure;
        const batch = this.batches.shift();
        if (batch) {
          if (this.paused && this.batches.length <= RESUME_AT_BATCHES) this.setPaused(false);
          yield batch;
          continue;
        }
        if (outcome) throw outcome.failure;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    } finally {
      this.stop({ ended: true });
    }
  }

  private connect(): void {
    if (this.outcome) return;
    const renewed = this.tokenInvalid ? this.deps.renewAuthToken() : Promise.resolve();
    this.tokenInvalid = false;
    renewed.then(() => this.deps.client.watchClient.watch()).then(
      (stream) => this.attach(stream),
      (err: unknown) => this.retryLater(err),
    );
  }

  private attach(stream: WatchStream): void {
    if (this.outcome) {
      stream.on('error', () => undefined);
      closeStream(stream);
      return;
    }
    this.stream = stream;
    this.paused = false;
    stream.on('data', (response: IWatchResponse) => this.onResponse(stream, response));
    stream.on('error', (err: Error) => this.onBroken(stream, err));
    stream.on('end', () => this.onBroken(stream, new Error('the watch stream ended')));
    stream.write({
      create_request: {
        key: this.range.key,
        range_end: this.range.range_end,
        start_revision: this.nextRev ?? 0,
        prev_kv: true,
      },
    });
  }

  private onResponse(stream: WatchStream, response: IWatchResponse): void {
    if (stream !== this.stream || this.outcome) return;
    const compactRevision = Number(response.compact_revision || 0);
    if (compactRevision > 0) {
      this.stop({ failure: new CompactedError(this.nextRev ?? 0, compactRevision) });
      return;
    }
    if (response.canceled) {
      this.onBroken(stream, new StoreError(`etcd canceled the watch: ${response.cancel_reason || 'no reason given'}`));
      return;
    }
    if (response.created) {
      this.retryDelayMs = this.deps.retryMinMs;
      this.nextRev ??= Number(response.header.revision) + 1;
    }
    // Events of one revision always arrive in one response; skip any that were delivered already.
    const from = this.nextRev ?? 0;
    const events = response.events.filter((event) => Number(event.kv.mod_revision) >= from);
    const last = events.at(-1);
    if (!last) return;
    this.nextRev = Number(last.kv.mod_revision) + 1;
    this.batches.push(events.map((event) => this.toWatchEvent(event)));
    if (this.batches.length >= PAUSE_AT_BATCHES) this.setPaused(true);
    this.wake?.();
  }

  private toWatchEvent(event: IEvent): WatchEvent {
    const { keyspace } = this.deps;
    const prevKv = event.prev_kv ? keyspace.toKeyValue(event.prev_kv) : undefined;
    if (String(event.type).toUpperCase() === 'DELETE') {
      const kv = {
        key: keyspace.userKey(event.kv.key),
        value: '',
        createRevision: 0,
        modRevision: Number(event.kv.mod_revision),
        version: 0,
      };
      return prevKv ? { type: 'delete', kv, prevKv } : { type: 'delete', kv };
    }
    const kv = keyspace.toKeyValue(event.kv);
    return prevKv ? { type: 'put', kv, prevKv } : { type: 'put', kv };
  }

  private onBroken(stream: WatchStream, err: unknown): void {
    if (stream !== this.stream || this.outcome) return;
    this.stream = undefined;
    closeStream(stream);
    if (isEtcdInvalidAuthToken(err)) this.tokenInvalid = true;
    this.retryLater(err);
  }

  private retryLater(err: unknown): void {
    if (this.outcome) return;
    this.deps.logger.warn('store: etcd watch interrupted; resuming', {
      fromRevision: this.nextRev,
      retryInMs: this.retryDelayMs,
      error: err instanceof Error ? err.message : String(err),
    });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, this.retryDelayMs).unref();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.deps.retryMaxMs);
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    // The stream is a Node.js Duplex: pausing it lets HTTP/2 flow control hold etcd back.
    const stream = this.stream as (WatchStream & { pause?(): void; resume?(): void }) | undefined;
    if (paused) stream?.pause?.();
    else stream?.resume?.();
  }

  private stop(outcome: { readonly ended: true } | { readonly failure: Error }): void {
    if (this.outcome) return;
    this.outcome = outcome;
    this.signal?.removeEventListener('abort', this.onAbort);
    clearTimeout(this.retryTimer);
    if (this.stream) closeStream(this.stream);
    this.stream = undefined;
    this.deps.onStopped(this);
    this.wake?.();
  }
}

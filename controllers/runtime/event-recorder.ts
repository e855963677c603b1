// Records Kubernetes-style Events (core/v1, api/v1/event.ts) about objects, for `describe`.
//
// Contract:
// - record() never throws and never waits: it queues the event; a single writer drains the
//   queue in order. At most `maxPending` events wait; more are dropped with a warning. Store
//   errors are logged and the event dropped: a recorder must not break reconciliation.
// - An identical event (same object uid, type, reason, message) recorded again within
//   `dedupeWindowMs` of the last occurrence increments `count` and `lastTimestamp` of the
//   stored event (a write with an ifRevision precondition), like client-go's correlator.
// - Every event is put with a store lease, so the store deletes it `ttlSeconds` (default 1 h, as
//   kube-apiserver's --event-ttl) after its last update (up to `leaseReuseSeconds` later: one
//   lease serves the events of a short window, as kube-apiserver does).
// - At most `maxEventsPerObject` (default 100) events per involved object (uid): the oldest are
//   deleted when a new one is created.
import { randomInt, randomUUID } from 'node:crypto';
import {
  eventKey,
  eventNamespace,
  eventTimestamp,
  type Event,
  type EventType,
  type ObjectReference,
} from '../../api/v1/event.js';
import { ConflictError, LeaseNotFoundError, type LeaseId, type Store } from '../../store/store.js';
import { systemClock, type Clock } from './clock.js';
import { errorMessage, silentLogger, type Logger } from './logger.js';

export const DEFAULT_EVENT_TTL_SECONDS = 3600;
export const DEFAULT_MAX_EVENTS_PER_OBJECT = 100;
export const DEFAULT_EVENT_DEDUPE_WINDOW_MS = 10 * 60_000;
export const DEFAULT_MAX_PENDING_EVENTS = 1000;
/** Longer messages are cut to this many characters. */
export const MAX_EVENT_MESSAGE_LENGTH = 1024;

/** What the recorder needs of the object an event is about (any ApiObject satisfies it). */
export interface EventSubject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly uid?: string };
}

export interface EventRecorderOptions {
  /** `source.component` of every event, e.g. `job-controller`. */
  readonly component: string;
  /** Lifetime of an event after its last update. Default 1 h. */
  readonly ttlSeconds?: number;
  /** Default 100. */
  readonly maxEventsPerObject?: number;
  /** Default 10 min. */
  readonly dedupeWindowMs?: number;
  /** Queued events beyond this are dropped. Default 1000. */
  readonly maxPending?: number;
  /** How many distinct recent events are remembered for deduplication. Default 4096. */
  readonly maxCorrelations?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

interface Pending {
  readonly ref: ObjectReference;
  readonly type: EventType;
  readonly reason: string;
  readonly message: string;
  readonly atMs: number;
}

interface Correlation {
  readonly key: string;
  lastMs: number;
}

export class EventRecorder {
  private readonly component: string;
  private readonly ttlSeconds: number;
  private readonly leaseReuseSeconds: number;
  private readonly maxEventsPerObject: number;
  private readonly dedupeWindowMs: number;
  private readonly maxPending: number;
  private readonly maxCorrelations: number;
  private readonly clock: Clock;
  private readonly logger: Logger;

  private readonly queue: Pending[] = [];
  private draining: Promise<void> | undefined;
  private closed = false;
  /** Insertion order = recency (re-inserted on use), so the first entry is the least recent. */
  private readonly correlations = new Map<string, Correlation>();
  private lease: { id: LeaseId; reuseUntilMs: number } | undefined;

  constructor(
    private readonly store: Store,
    options: EventRecorderOptions,
  ) {
    const positive = (name: string, value: number | undefined, fallback: number): number => {
      const v = value ?? fallback;
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`EventRecorder: option ${name} must be an integer >= 1, got ${String(v)}`);
      return v;
    };
    if (typeof options.component !== 'string' || options.component === '') {
      throw new RangeError('EventRecorder: option component must be a non-empty string');
    }
    this.component = options.component;
    this.ttlSeconds = positive('ttlSeconds', options.ttlSeconds, DEFAULT_EVENT_TTL_SECONDS);
    this.leaseReuseSeconds = Math.min(60, Math.floor(this.ttlSeconds / 10));
    this.maxEventsPerObject = positive('maxEventsPerObject', options.maxEventsPerObject, DEFAULT_MAX_EVENTS_PER_OBJECT);
    this.dedupeWindowMs = positive('dedupeWindowMs', options.dedupeWindowMs, DEFAULT_EVENT_DEDUPE_WINDOW_MS);
    this.maxPending = positive('maxPending', options.maxPending, DEFAULT_MAX_PENDING_EVENTS);
    this.maxCorrelations = positive('maxCorrelations', options.maxCorrelations, 4096);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  /** Queues an event about `subject`; never throws (bad input and overflow are logged and dropped). */
  record(subject: EventSubject, type: EventType, reason: string, message: string): void {
    try {
      if (this.closed) {
        this.logger.debug('event dropped: recorder closed', { reason });
        return;
      }
      const name = subject?.metadata?.name;
      if (typeof name !== 'string' || name === '' || (type !== 'Normal' && type !== 'Warning') || typeof reason !== 'string' || reason === '') {
        this.logger.warn('event dropped: needs an object with metadata.name, type Normal|Warning and a reason', { name, type, reason });
        return;
      }
      if (this.queue.length >= this.maxPending) {
        this.logger.warn('event dropped: too many events waiting to be written', { kind: subject.kind, name, reason, maxPending: this.maxPending });
        return;
      }
      const text = typeof message === 'string' ? message : String(message);
      this.queue.push({
        ref: {
          apiVersion: subject.apiVersion,
          kind: subject.kind,
          name,
          namespace: subject.metadata.namespace ?? '',
          uid: subject.metadata.uid ?? '',
        },
        type,
        reason,
        message: text.length > MAX_EVENT_MESSAGE_LENGTH ? `${text.slice(0, MAX_EVENT_MESSAGE_LENGTH - 3)}...` : text,
        atMs: this.clock.now(),
      });
      // Started on a later microtask, so that a burst of record() calls is queued (and bounded) first.
      this.draining ??= Promise.resolve().then(() => this.drain());
    } catch (err) {
      this.logger.warn('event dropped', { reason, error: errorMessage(err) });
    }
  }

  /** Resolves when every event queued so far has been written (or dropped). Never rejects. */
  async flush(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
  }

  /** Stops accepting events and waits for the queued ones. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private async drain(): Promise<void> {
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
        try {
          await this.write(next);
        } catch (err) {
          if (err instanceof LeaseNotFoundError) this.lease = undefined;
          this.logger.warn('event not recorded', {
            kind: next.ref.kind,
            namespace: next.ref.namespace,
            name: next.ref.name,
            reason: next.reason,
            error: errorMessage(err),
          });
        }
      }
    } finally {
      this.draining = undefined;
    }
  }

  private async write(pending: Pending): Promise<void> {
    const { ref } = pending;
    const identity = ref.uid !== '' ? ref.uid : `${ref.kind}/${ref.namespace}/${ref.name}`;
    const correlationKey = JSON.stringify([identity, pending.type, pending.reason, pending.message]);
    const known = this.correlations.get(correlationKey);
    if (known !== undefined && pending.atMs - known.lastMs <= this.dedupeWindowMs) {
      if (await this.increment(known.key, pending.atMs)) {
        this.remember(correlationKey, known.key, pending.atMs);
        return;
      }
    }
    const key = await this.create(pending);
    this.remember(correlationKey, key, pending.atMs);
    await this.enforceCap(ref);
  }

  /** Adds one occurrence to the stored event; false when it no longer exists. */
  private async increment(key: string, atMs: number): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const kv = await this.store.get(key);
      if (kv === undefined) return false;
      const event = JSON.parse(kv.value) as Event;
      event.count = (typeof event.count === 'number' ? event.count : 1) + 1;
      event.lastTimestamp = eventTimestamp(atMs);
      try {
        await this.store.put(key, JSON.stringify(event), { ifRevision: kv.modRevision, lease: await this.currentLease() });
        return true;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    throw new Error(`event ${key} kept changing while its count was being updated`);
  }

  private async create(pending: Pending): Promise<string> {
    const { ref } = pending;
    const namespace = eventNamespace(ref.namespace);
    const timestamp = eventTimestamp(pending.atMs);
    for (let attempt = 0; ; attempt++) {
      // client-go names events `<object>.<hex time>`: fixed width, so names sort by creation.
      const suffix = (BigInt(pending.atMs) * 1_000_000n + BigInt(randomInt(1_000_000))).toString(16).padStart(16, '0');
      const name = `${ref.name}.${suffix}`;
      const event: Event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace, uid: randomUUID(), creationTimestamp: timestamp },
        involvedObject: { ...ref },
        reason: pending.reason,
        message: pending.message,
        type: pending.type,
        count: 1,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        source: { component: this.component },
      };
      const key = eventKey(namespace, name);
      try {
        await this.store.put(key, JSON.stringify(event), { ifAbsent: true, lease: await this.currentLease() });
        return key;
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= 2) throw err;
      }
    }
  }

  /** Deletes the oldest events of `ref` beyond maxEventsPerObject. */
  private async enforceCap(ref: ObjectReference): Promise<void> {
    const prefix = eventKey(eventNamespace(ref.namespace), `${ref.name}.`);
    const { items } = await this.store.list(prefix);
    const mine = items
      .map((kv) => ({ kv, event: JSON.parse(kv.value) as Event }))
      .filter(({ event }) => event.involvedObject?.uid === ref.uid && event.involvedObject.name === ref.name && event.involvedObject.kind === ref.kind);
    if (mine.length <= this.maxEventsPerObject) return;
    mine.sort((a, b) => a.kv.createRevision - b.kv.createRevision);
    for (const { kv } of mine.slice(0, mine.length - this.maxEventsPerObject)) {
      try {
        await this.store.delete(kv.key, { ifRevision: kv.modRevision });
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
  }

  private remember(correlationKey: string, key: string, atMs: number): void {
    this.correlations.delete(correlationKey);
    this.correlations.set(correlationKey, { key, lastMs: atMs });
    while (this.correlations.size > this.maxCorrelations) {
      const oldest = this.correlations.keys().next();
      if (oldest.done === true) break;
      this.correlations.delete(oldest.value);
    }
  }

  /** A lease that expires ttlSeconds (plus at most the reuse window) from now. */
  private async currentLease(): Promise<LeaseId> {
    const now = this.clock.now();
    if (this.lease !== undefined && now < this.lease.reuseUntilMs) return this.lease.id;
    const id = await this.store.grantLease(this.ttlSeconds + this.leaseReuseSeconds);
    this.lease = { id, reuseUntilMs: now + this.leaseReuseSeconds * 1000 };
    return id;
  }
}

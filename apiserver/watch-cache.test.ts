// The shared watch cache (watch-cache.ts, watch.ts) over real HTTP and a real SQLite store:
// 200 concurrent watches (mixed namespaces, selectors and resourceVersions: 0, inside the cache's
// buffer, before it) while 2,000 changes are made each receive exactly what the store's history
// says for their selection, in order; all but the ones from before the buffer share ONE store
// watch; a client that stops reading is ended with ERROR 410 while the others keep receiving.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { ApiObject } from '../api/meta.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { CompactedError, type KeyValue, type Store, type WatchEvent, type WatchOptions } from '../store/store.js';
import { TEST_TOKEN, TestServer, jobManifest } from './api-test-harness.js';
import { WatchCache, type CachedEvent, type WatchCollection, type WatchSubscriber } from './watch-cache.js';

const MERGE = 'application/merge-patch+json';
const API = '/apis/openscheduler.io/v1';
const ROOT = '/registry/openscheduler.io/jobs/';

type WatchLine = { type: string; object: any }; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
interface StoredJob {
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
}

/** Records every store.watch() call and its signal (open while not aborted). */
function countingWatches(calls: { prefix: string; signal: AbortSignal }[]) {
  return (store: Store): Store =>
    new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'watch') {
          return (prefix: string, options: WatchOptions = {}) => {
            assert.ok(options.signal, 'every store watch has a signal');
            calls.push({ prefix, signal: options.signal });
            return target.watch(prefix, options);
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
}

/** A watch read continuously (or paused) over node:http; every NDJSON line parsed. */
class Collector {
  readonly events: WatchLine[] = [];
  status = 0;
  private ended = false;
  private res: IncomingMessage | undefined;
  private constructor(private readonly req: ClientRequest) {}

  static open(server: TestServer, agent: http.Agent, path: string, options: { paused?: boolean } = {}): Promise<Collector> {
    return new Promise((resolve, reject) => {
      const req = http.get(`${server.url}${path}`, { agent, headers: { authorization: `Bearer ${TEST_TOKEN}` } });
      const collector = new Collector(req);
      req.on('error', (err) => {
        collector.ended = true;
        reject(err);
      });
      req.on('response', (res) => {
        collector.res = res;
        collector.status = res.statusCode ?? 0;
        if (options.paused === true) res.pause();
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let newline: number;
          while ((newline = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, newline);
            buffer = buffer.slice(newline + 1);
            if (line.trim() !== '') collector.events.push(JSON.parse(line) as WatchLine);
          }
        });
        const end = (): void => void (collector.ended = true);
        res.on('end', end);
        res.on('close', end);
        res.on('error', end);
        resolve(collector);
      });
    });
  }

  get done(): boolean {
    return this.ended;
  }

  resume(): void {
    this.res?.resume();
  }

  close(): void {
    this.req.destroy();
  }
}

async function until(condition: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Deterministic pseudo-random numbers in [0, 1). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One watch's selection: its URL and the same selection applied by the test (the oracle). */
interface Selection {
  readonly path: string;
  readonly query: string;
  /** The store keys it can see. */
  readonly prefix: string;
  accepts(job: StoredJob): boolean;
}

const team = (job: StoredJob): string | undefined => job.metadata.labels?.team;
const SELECTIONS: readonly Selection[] = [
  { path: `${API}/jobs`, query: '', prefix: ROOT, accepts: () => true },
  { path: `${API}/namespaces/ns-0/jobs`, query: '', prefix: `${ROOT}ns-0/`, accepts: () => true },
  { path: `${API}/namespaces/ns-1/jobs`, query: '&labelSelector=team%3Da', prefix: `${ROOT}ns-1/`, accepts: (j) => team(j) === 'a' },
  { path: `${API}/jobs`, query: '&labelSelector=team%3Db', prefix: ROOT, accepts: (j) => team(j) === 'b' },
  { path: `${API}/namespaces/ns-2/jobs`, query: '&fieldSelector=metadata.name%3Djob-3', prefix: `${ROOT}ns-2/job-3`, accepts: (j) => j.metadata.name === 'job-3' },
  { path: `${API}/namespaces/ns-3/jobs/job-5`, query: '', prefix: `${ROOT}ns-3/job-5`, accepts: (j) => j.metadata.name === 'job-5' },
  { path: `${API}/jobs`, query: '&fieldSelector=metadata.namespace%3Dns-1', prefix: `${ROOT}ns-1/`, accepts: () => true },
  { path: `${API}/namespaces/ns-0/jobs`, query: '&labelSelector=team%21%3Da', prefix: `${ROOT}ns-0/`, accepts: (j) => team(j) !== 'a' },
];

function parse(kv: KeyValue, revision = kv.modRevision): StoredJob {
  const job = JSON.parse(kv.value) as StoredJob;
  return { ...job, metadata: { ...job.metadata, resourceVersion: String(revision) } };
}

const describeEvent = (type: string, job: StoredJob): string =>
  `${type} ${job.metadata.namespace}/${job.metadata.name}@${job.metadata.resourceVersion} team=${team(job) ?? '-'}`;

/** What a watch of `selection` from `fromRevision` must receive, by the store's history. */
function expectedChanges(history: readonly WatchEvent[], selection: Selection, fromRevision: number): string[] {
  const out: string[] = [];
  for (const event of history) {
    if (event.kv.modRevision < fromRevision || !event.kv.key.startsWith(selection.prefix)) continue;
    const previous = event.prevKv === undefined ? undefined : parse(event.prevKv);
    const matchedBefore = previous !== undefined && selection.accepts(previous);
    const current = event.type === 'put' ? parse(event.kv) : undefined;
    if (current !== undefined && selection.accepts(current)) out.push(describeEvent(matchedBefore ? 'MODIFIED' : 'ADDED', current));
    else if (matchedBefore) out.push(describeEvent('DELETED', parse(event.prevKv!, event.kv.modRevision)));
  }
  return out;
}

interface Watcher {
  readonly collector: Collector;
  readonly selection: Selection;
  /** resourceVersion=N: exactly N; rv=0 or absent: the list revision is one of these. */
  readonly fromRevisions: readonly number[];
  readonly initial: boolean;
  readonly label: string;
}

void describe('watch cache', () => {
  let s: TestServer;
  const calls: { prefix: string; signal: AbortSignal }[] = [];
  const logged: string[] = [];
  const tooSlow = (): boolean => logged.some((line) => line.includes('watch too slow'));
  const agent = new http.Agent({ keepAlive: false });
  const collectors: Collector[] = [];
  const open = async (path: string, options: { paused?: boolean } = {}): Promise<Collector> => {
    const c = await Collector.open(s, agent, path, options);
    collectors.push(c);
    assert.equal(c.status, 200, path);
    return c;
  };

  before(async () => {
    const lines = new Writable({
      write(chunk: Buffer, _encoding, next) {
        logged.push(chunk.toString());
        next();
      },
    });
    const logger = winston.createLogger({ level: 'info', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: lines })] });
    s = await TestServer.start({
      wrapStore: countingWatches(calls),
      deps: () => ({ logger, watchLimits: { cacheCapacity: 300, maxQueuedBytes: 1024 * 1024 } }),
    });
  });
  after(async () => {
    for (const c of collectors) c.close();
    await s.close();
    agent.destroy();
  });

  void it('gives 200 concurrent watchers exactly their events while 2,000 changes are made, on one store watch', async () => {
    const rand = random(7);
    const namespaces = ['ns-0', 'ns-1', 'ns-2', 'ns-3'];
    const teams = new Map<string, string>(); // "ns/name" -> team, for the objects that exist
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
    const change = async (k: number): Promise<void> => {
      const ns = pick(namespaces);
      const name = `job-${Math.floor(rand() * 20)}`;
      const id = `${ns}/${name}`;
      const collection = `${API}/namespaces/${ns}/jobs`;
      const current = teams.get(id);
      const roll = rand();
      let res;
      if (current === undefined) {
        const t = rand() < 0.5 ? 'a' : 'b';
        res = await s.request('POST', collection, { body: jobManifest(name, { labels: { team: t } }) });
        teams.set(id, t);
      } else if (roll < 0.4) {
        const t = current === 'a' ? 'b' : 'a';
        res = await s.request('PATCH', `${collection}/${name}`, { body: { metadata: { labels: { team: t } } }, contentType: MERGE });
        teams.set(id, t);
      } else if (roll < 0.8) {
        res = await s.request('PATCH', `${collection}/${name}`, { body: { metadata: { annotations: { change: String(k) } } }, contentType: MERGE });
      } else {
        res = await s.request('DELETE', `${collection}/${name}`);
        teams.delete(id);
      }
      assert.ok(res.status === 200 || res.status === 201, `change ${k}: ${res.status} ${res.text}`);
    };
    for (let k = 0; k < 60; k++) await change(-1 - k);
    const r0 = await s.store.currentRevision();

    const watchers: Watcher[] = [];
    let selectionIndex = 0;
    const nextSelection = (): Selection => SELECTIONS[selectionIndex++ % SELECTIONS.length]!;
    const watchAt = async (label: string, selection: Selection, rv: number | '0' | undefined): Promise<void> => {
      const rvQuery = rv === undefined ? '' : `&resourceVersion=${rv}`;
      const before = await s.store.currentRevision();
      const collector = await open(`${selection.path}?watch=true${rvQuery}${selection.query}`);
      const afterOpen = await s.store.currentRevision();
      const listRevisions = Array.from({ length: afterOpen - before + 1 }, (_, i) => before + i);
      const numeric = typeof rv === 'number';
      watchers.push({ collector, selection, label, initial: !numeric, fromRevisions: numeric ? [rv + 1] : listRevisions.map((r) => r + 1) });
    };

    // Before the changes: the first watch starts the shared cache at r0 + 1; 49 more join it.
    await watchAt('first', SELECTIONS[0]!, r0);
    selectionIndex = 1;
    const first = watchers[0]!.collector;
    await Promise.all(
      Array.from({ length: 49 }, (_, i) => watchAt(`start-${i}`, nextSelection(), i % 5 === 0 ? undefined : i % 2 === 0 ? '0' : r0)),
    );

    const revisionAfter: number[] = [];
    const racing: Promise<void>[] = [];
    let beforeBuffer = 0;
    for (let k = 0; k < 2000; k++) {
      if (k > 0 && k % 500 === 0) {
        // The cache has dispatched change k-1: its buffer holds exactly changes k-300 .. k-1.
        const last = revisionAfter[k - 1]!;
        await until(() => first.events.some((e) => Number(e.object.metadata.resourceVersion) === last), 10_000, () => `cache at change ${k - 1}`);
        const deterministic: Promise<void>[] = [];
        for (let i = 0; i < 25; i++) {
          let rv: number;
          if (i < 2) rv = r0; // before the buffer
          else if (i < 5) rv = revisionAfter[k - 400]!; // before the buffer
          else if (i < 15) rv = revisionAfter[k - 50]!; // in the buffer
          else rv = revisionAfter[k - 250]!; // in the buffer
          if (i < 5) beforeBuffer++;
          deterministic.push(watchAt(`k${k}-rv${rv}-${i}`, nextSelection(), rv));
        }
        await Promise.all(deterministic);
        // Watches from a fresh list join while the changes go on.
        for (let i = 0; i < 25; i++) racing.push(watchAt(`k${k}-list-${i}`, nextSelection(), i % 5 === 0 ? undefined : '0'));
      }
      await change(k);
      revisionAfter.push(await s.store.currentRevision());
    }
    await Promise.all(racing);
    assert.equal(watchers.length, 200);
    const finalRevision = await s.store.currentRevision();

    // The store's history of every job change after r0.
    const history: WatchEvent[] = [];
    const reading = new AbortController();
    for await (const batch of s.sqlite.watch(ROOT, { fromRevision: r0 + 1, signal: reading.signal })) {
      history.push(...batch);
      if (batch.at(-1)!.kv.modRevision >= finalRevision) break;
    }
    reading.abort();

    const candidates = async (w: Watcher): Promise<string[][]> =>
      Promise.all(
        w.fromRevisions.map(async (from) => {
          const initial: string[] = [];
          if (w.initial) {
            const listed = await s.sqlite.list(w.selection.prefix, { revision: from - 1 });
            for (const kv of listed.items) {
              const job = parse(kv);
              if (w.selection.accepts(job)) initial.push(describeEvent('ADDED', job));
            }
          }
          return [...initial, ...expectedChanges(history, w.selection, from)];
        }),
      );
    const expected = await Promise.all(watchers.map(candidates));
    const received = (w: Watcher): string[] => w.collector.events.map((e) => describeEvent(e.type, e.object as StoredJob));
    await until(
      () => watchers.every((w, i) => w.collector.events.length >= Math.min(...expected[i]!.map((c) => c.length))),
      60_000,
      () => watchers.filter((w, i) => w.collector.events.length < Math.min(...expected[i]!.map((c) => c.length))).map((w) => w.label).join(', '),
    );
    await new Promise((resolve) => setTimeout(resolve, 500)); // anything extra would have arrived by now
    let total = 0;
    watchers.forEach((w, i) => {
      const got = received(w);
      total += got.length;
      const options = expected[i]!;
      const match = options.find((e) => e.length === got.length && e.every((line, j) => line === got[j]));
      if (match === undefined) assert.deepEqual(got, options[0], `${w.label} (${w.selection.path}${w.selection.query})`);
      assert.equal(w.collector.done, false, `${w.label} still open`);
    });
    assert.ok(total > 20_000, `${total} events delivered`);
    assert.ok(!tooSlow(), 'no watcher fell behind');

    // One store watch for everything that started inside the buffer; one each for the others.
    assert.equal(beforeBuffer, 15);
    assert.equal(calls.length, 1 + beforeBuffer, calls.map((c) => c.prefix).join(', '));
    assert.equal(calls.filter((c) => !c.signal.aborted).length, 1 + beforeBuffer);
    assert.equal(calls[0]!.prefix, ROOT);

    for (const w of watchers) w.collector.close();
    await until(() => calls.every((c) => c.signal.aborted), 5000, () => `${calls.filter((c) => !c.signal.aborted).length} store watches still open`);
  });

  void it('shares one store watch per collection, and stops it when the last watcher leaves', async () => {
    const before = calls.length;
    const jobs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => open(`${SELECTIONS[i % SELECTIONS.length]!.path}?watch=true&resourceVersion=0${SELECTIONS[i % SELECTIONS.length]!.query}`)),
    );
    assert.equal(calls.length, before + 1);
    const events = await Promise.all(Array.from({ length: 5 }, (_, i) => open(`/api/v1/${i % 2 === 0 ? 'namespaces/ns-0/' : ''}events?watch=true`)));
    assert.equal(calls.length, before + 2);
    assert.deepEqual(calls.slice(before).map((c) => c.prefix), [ROOT, '/registry/events/']);
    await s.request('POST', `${API}/namespaces/shared/jobs`, { body: jobManifest('seen') });
    await until(() => jobs[0]!.events.some((e) => e.object.metadata.name === 'seen'), 5000, () => 'the ADDED of the new job');
    for (const c of jobs) c.close();
    await until(() => calls[before]!.signal.aborted, 5000, () => 'the jobs store watch stops');
    assert.equal(calls[before + 1]!.signal.aborted, false, 'the events store watch goes on');
    for (const c of events) c.close();
    await until(() => calls[before + 1]!.signal.aborted, 5000, () => 'the events store watch stops');
  });

  void it('ends a watcher that stops reading with ERROR 410 while the others keep receiving', async () => {
    const ns = `${API}/namespaces/slow/jobs`;
    const big = 'x'.repeat(60_000);
    const created = await s.request('POST', ns, { body: jobManifest('big', { spec: { args: [big] } }) });
    assert.equal(created.status, 201, created.text);
    const rv = created.body.metadata.resourceVersion;
    const slow = await open(`${ns}?watch=true&resourceVersion=${rv}`, { paused: true });
    const fast = await open(`${ns}?watch=true&resourceVersion=${rv}`);
    let patches = 0;
    // The socket buffers take some megabytes first; then the server-side queue passes 1 MiB.
    while (!tooSlow()) {
      assert.ok(patches < 2000, 'the paused watcher was never ended');
      for (let i = 0; i < 20; i++) {
        const res = await s.request('PATCH', `${ns}/big`, { body: { metadata: { annotations: { seq: String(patches++) } } }, contentType: MERGE });
        assert.equal(res.status, 200, res.text);
      }
      await until(() => fast.events.length === patches, 10_000, () => `fast watcher: ${fast.events.length} of ${patches}`);
    }
    assert.deepEqual(new Set(fast.events.map((e) => e.type)), new Set(['MODIFIED']));
    assert.equal(fast.done, false);

    slow.resume();
    await until(() => slow.done, 20_000, () => `slow watcher ended; ${slow.events.length} events read`);
    const last = slow.events.at(-1)!;
    assert.equal(last.type, 'ERROR', JSON.stringify(last).slice(0, 300));
    assert.equal(last.object.code, 410);
    assert.equal(last.object.reason, 'Expired');
    assert.match(last.object.message, /too slow/);
    const delivered = slow.events.slice(0, -1).map((e) => e.object.metadata.resourceVersion as string);
    assert.ok(delivered.length < patches, `${delivered.length} of ${patches} before the ERROR`);
    assert.deepEqual(delivered, fast.events.slice(0, delivered.length).map((e) => e.object.metadata.resourceVersion as string), 'in order, none skipped');

    // The fast watcher still gets new changes.
    await s.request('PATCH', `${ns}/big`, { body: { metadata: { annotations: { seq: 'last' } } }, contentType: MERGE });
    await until(() => fast.events.length === patches + 1, 5000, () => 'the change after the slow watcher ended');
  });
});

/** A subscriber that records the revisions it gets, the size of each deliver() batch and its failures. */
function subscriberRecorder(): WatchSubscriber & { revisions: number[]; batches: number[]; failures: unknown[] } {
  const revisions: number[] = [];
  const batches: number[] = [];
  const failures: unknown[] = [];
  return {
    revisions,
    batches,
    failures,
    deliver: (events: readonly CachedEvent[]) => {
      batches.push(events.length);
      revisions.push(...events.map((event) => event.revision));
    },
    fail: (err: unknown) => void failures.push(err),
  };
}

void describe('WatchCache on a SQLite store', () => {
  let dir: string;
  let store: SqliteStore;
  let collection: WatchCollection;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-watch-cache-'));
    store = SqliteStore.open({ path: join(dir, 'store.db'), compactIntervalMs: 0 });
    collection = {
      store,
      resource: { group: '', plural: 'things', kind: 'Thing' },
      apiVersion: 'v1',
      prefix: '/things/',
      decode: (kv) => ({ apiVersion: 'v1', kind: 'Thing', metadata: { name: kv.key, resourceVersion: String(kv.modRevision) } }) as ApiObject,
    };
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const recorder = subscriberRecorder;

  void it('serves a join inside its buffer from the buffer, then live, each change once; refuses older revisions', async () => {
    const revs: number[] = [];
    for (let i = 0; i < 10; i++) revs.push((await store.put(`/things/t${i}`, 'v')).revision);
    await store.put('/other/x', 'v'); // outside the prefix
    let stopped = 0;
    const cache = new WatchCache({ collection, prefix: '/things/', fromRevision: revs[0]!, capacity: 5, onStop: () => void stopped++ });
    const a = recorder();
    const unsubscribeA = cache.subscribe(a, revs[0]!)!;
    await until(() => a.revisions.length === 10, 5000, () => `a: ${a.revisions.join(',')}`);
    assert.deepEqual(a.revisions, revs);
    assert.equal(cache.oldestRevision, revs[5]);
    assert.equal(cache.covers(revs[5]! - 1), false);
    assert.equal(cache.subscribe(recorder(), revs[4]!), undefined, 'before the buffer');

    const b = recorder();
    const unsubscribeB = cache.subscribe(b, revs[7]!)!;
    assert.deepEqual(b.revisions, revs.slice(7), 'the buffered changes at once');
    const later: number[] = [];
    for (let i = 0; i < 3; i++) later.push((await store.put(`/things/t${i}`, 'w')).revision);
    const deleted = (await store.delete('/things/t9'))!.revision;
    await until(() => b.revisions.length === 7, 5000, () => `b: ${b.revisions.join(',')}`);
    assert.deepEqual(b.revisions, [...revs.slice(7), ...later, deleted]);
    assert.deepEqual(a.revisions, [...revs, ...later, deleted]);
    const future = recorder();
    const unsubscribeFuture = cache.subscribe(future, deleted + 5)!;
    assert.deepEqual(future.revisions, []);

    unsubscribeA();
    unsubscribeB();
    assert.equal(stopped, 0);
    unsubscribeFuture();
    assert.equal(stopped, 1, 'stopped with the last subscriber');
    await cache.done;
    assert.equal(cache.covers(deleted + 1), false);
    assert.deepEqual([...a.failures, ...b.failures], []);
  });

  void it('fails every subscriber when the store watch fails (compaction)', async () => {
    const first = (await store.put('/things/c', 'v')).revision;
    await store.put('/things/c', 'w');
    await store.compact(await store.currentRevision());
    let stopped = 0;
    const cache = new WatchCache({ collection, prefix: '/things/', fromRevision: first, capacity: 5, onStop: () => void stopped++ });
    const subscribers = [recorder(), recorder()];
    for (const s of subscribers) assert.ok(cache.subscribe(s, first));
    await cache.done;
    for (const s of subscribers) {
      assert.equal(s.failures.length, 1);
      assert.ok(s.failures[0] instanceof CompactedError);
      assert.deepEqual(s.revisions, []);
    }
    assert.equal(stopped, 1);
    assert.equal(cache.covers(first), false);
  });

  void it('hands the changes of one event-loop turn over as one batch', async () => {
    const from = (await store.currentRevision()) + 1;
    const cache = new WatchCache({ collection, prefix: '/things/', fromRevision: from, capacity: 100 });
    const a = recorder();
    const unsubscribe = cache.subscribe(a, from)!;
    // Puts issued in one turn share one commit, hence one store-watch batch.
    const revs = (await Promise.all([0, 1, 2, 3, 4].map((i) => store.put(`/things/batch${i}`, 'v')))).map((r) => r.revision);
    await until(() => a.revisions.length === 5, 5000, () => `a: ${a.revisions.join(',')}`);
    assert.deepEqual(a.revisions, revs);
    assert.deepEqual(a.batches, [5]);
    const late = recorder();
    const unsubscribeLate = cache.subscribe(late, revs[2]!)!;
    assert.deepEqual(late.batches, [3], 'the buffered ones as one batch');
    unsubscribe();
    unsubscribeLate();
    await cache.done;
  });
});

/** A store whose watch yields the batches a test pushes (to control when changes arrive). */
class HandFedWatch {
  private readonly batches: WatchEvent[][] = [];
  private wake: (() => void) | undefined;

  push(...batch: WatchEvent[]): void {
    this.batches.push(batch);
    this.wake?.();
  }

  readonly store = {
    watch: (_prefix: string, options: WatchOptions = {}): AsyncIterable<WatchEvent[]> => {
      const { signal } = options;
      const next = async (): Promise<IteratorResult<WatchEvent[]>> => {
        while (this.batches.length === 0 && !signal?.aborted) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            signal?.addEventListener('abort', () => resolve(), { once: true });
          });
        }
        return signal?.aborted ? { done: true, value: undefined } : { done: false, value: this.batches.shift()! };
      };
      return { [Symbol.asyncIterator]: () => ({ next }) };
    },
  } as unknown as Store;
}

const put = (key: string, revision: number): WatchEvent => ({ type: 'put', kv: { key, value: 'v', createRevision: revision, modRevision: revision, version: 1 } });

void describe('WatchCache batching (hand-fed store watch)', () => {
  void it('gives a subscriber that joins while changes wait for the end of the turn each change once, from its revision', async () => {
    const fed = new HandFedWatch();
    const collection: WatchCollection = {
      store: fed.store,
      resource: { group: '', plural: 'things', kind: 'Thing' },
      apiVersion: 'v1',
      prefix: '/things/',
      decode: (kv) => ({ apiVersion: 'v1', kind: 'Thing', metadata: { name: kv.key, resourceVersion: String(kv.modRevision) } }) as ApiObject,
    };
    const cache = new WatchCache({ collection, prefix: '/things/', fromRevision: 10, capacity: 3 });
    const early = subscriberRecorder();
    cache.subscribe(early, 10);
    fed.push(put('/things/a', 10), put('/things/b', 11));
    fed.push(put('/things/c', 12));
    // Let the store-watch batches arrive (microtasks), but not the end of the turn (setImmediate).
    for (let i = 0; i < 20; i++) await Promise.resolve();
    const joined = subscriberRecorder();
    cache.subscribe(joined, 11);
    assert.deepEqual(early.revisions, [], 'nothing handed over before the end of the turn');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(early.revisions, [10, 11, 12]);
    assert.deepEqual(early.batches, [3], 'both store batches of the turn in one');
    assert.deepEqual(joined.revisions, [11, 12]);
    fed.push(put('/things/d', 13), put('/things/e', 14));
    await until(() => early.revisions.length === 5, 5000, () => `early: ${early.revisions.join(',')}`);
    assert.deepEqual(joined.revisions, [11, 12, 13, 14]);
    assert.equal(cache.oldestRevision, 12, 'capacity 3: 12, 13 and 14 are buffered');
    const late = subscriberRecorder();
    cache.subscribe(late, 12);
    assert.deepEqual(late.revisions, [12, 13, 14]);
    assert.deepEqual([...early.failures, ...joined.failures, ...late.failures], []);
    cache.stop();
    await cache.done;
  });
});

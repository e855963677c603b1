// Watch: initial state at rv=0, resume from a revision, 410 for compacted revisions,
// selector filtering, bookmarks, timeouts, Table events and clean shutdown.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CompactedError, type Store, type WatchEvent, type WatchOptions } from '../store/store.js';
import { JOBS, TestServer, WatchReader, jobManifest } from './api-test-harness.js';

const MERGE = 'application/merge-patch+json';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';
type Event = { type: string; object: { metadata: { name: string; resourceVersion: string; labels?: Record<string, string> } } };
const summary = (events: Event[]): string[] => events.map((e) => `${e.type} ${e.object.metadata.name}`);

void describe('watch', () => {
  let s: TestServer;
  const open: WatchReader[] = [];
  const watch = async (path: string, accept?: string): Promise<WatchReader> => {
    const reader = await WatchReader.open(s, path, accept);
    open.push(reader);
    return reader;
  };
  before(async () => {
    s = await TestServer.start({ watchBookmarkIntervalMs: 50 });
  });
  after(async () => {
    for (const reader of open) reader.close();
    await s.close();
  });

  void it('sends ADDED for current objects at resourceVersion=0, then the changes', async () => {
    const ns = '/apis/openscheduler.io/v1/namespaces/w1/jobs';
    await s.request('POST', ns, { body: jobManifest('a') });
    await s.request('POST', ns, { body: jobManifest('b') });
    await s.request('POST', JOBS, { body: jobManifest('elsewhere') });
    const w = await watch(`${ns}?watch=true&resourceVersion=0`);
    assert.equal(w.response.status, 200);
    assert.match(w.response.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(summary(await w.waitFor(2)), ['ADDED a', 'ADDED b']);

    await s.request('POST', ns, { body: jobManifest('c') });
    await s.request('PATCH', `${ns}/a`, { body: { spec: { priority: 1 } }, contentType: MERGE });
    const deleted = await s.request('DELETE', `${ns}/b`);
    const events = (await w.waitFor(5)) as Event[];
    assert.deepEqual(summary(events), ['ADDED a', 'ADDED b', 'ADDED c', 'MODIFIED a', 'DELETED b']);
    const del = events[4]!;
    assert.equal(del.object.metadata.name, 'b');
    assert.ok(Number(del.object.metadata.resourceVersion) > Number(deleted.body.metadata.resourceVersion), 'DELETED carries the delete revision');
    assert.equal((del.object as unknown as { spec: { driver: string } }).spec.driver, 'process', 'DELETED carries the last state');

    const noRv = await watch(`${ns}?watch=1`);
    assert.deepEqual(summary(await noRv.waitFor(2)), ['ADDED a', 'ADDED c']);
  });

  void it('resumes from resourceVersion N with exactly the later events', async () => {
    const ns = '/apis/openscheduler.io/v1/namespaces/w2/jobs';
    const rvs: string[] = [];
    for (const n of ['r1', 'r2', 'r3']) rvs.push((await s.request('POST', ns, { body: jobManifest(n) })).body.metadata.resourceVersion);
    const list = await s.request('GET', ns);
    const w = await watch(`${ns}?watch=true&resourceVersion=${rvs[0]}`);
    assert.deepEqual(summary(await w.waitFor(2)), ['ADDED r2', 'ADDED r3']);
    const fromList = await watch(`${ns}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`);
    await s.request('PATCH', `${ns}/r1`, { body: { metadata: { labels: { x: 'y' } } }, contentType: MERGE });
    assert.deepEqual(summary(await fromList.waitFor(1)), ['MODIFIED r1']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(fromList.events.length, 1, 'no replay of existing objects');
    const bad = await s.request('GET', `${ns}?watch=true&resourceVersion=abc`);
    assert.equal(bad.status, 400);
    const future = await s.request('GET', `${ns}?watch=true&resourceVersion=999999999`);
    assert.equal(future.status, 400);
    assert.match(future.body.message, /newer than the current revision/);
  });

  void it('answers 410 Gone for a compacted resourceVersion', async () => {
    const ns = '/apis/openscheduler.io/v1/namespaces/w3/jobs';
    const old = (await s.request('POST', ns, { body: jobManifest('old') })).body.metadata.resourceVersion;
    await s.request('POST', ns, { body: jobManifest('newer') });
    await s.request('POST', ns, { body: jobManifest('newest') });
    await s.store.compact(await s.store.currentRevision());
    const res = await s.request('GET', `${ns}?watch=true&resourceVersion=${old}`);
    assert.equal(res.status, 410);
    assert.equal(res.body.kind, 'Status');
    assert.equal(res.body.code, 410);
    assert.equal(res.body.reason, 'Expired');
  });

  void it('filters by selectors: objects that start matching are ADDED, stop matching DELETED', async () => {
    const ns = '/apis/openscheduler.io/v1/namespaces/w4/jobs';
    await s.request('POST', ns, { body: jobManifest('m1', { labels: { team: 'a' } }) });
    await s.request('POST', ns, { body: jobManifest('m2', { labels: { team: 'b' } }) });
    const w = await watch(`${ns}?watch=true&labelSelector=team%3Da`);
    const byName = await watch(`${ns}?watch=true&resourceVersion=0&fieldSelector=metadata.name%3Dm2`);
    assert.deepEqual(summary(await w.waitFor(1)), ['ADDED m1']);
    assert.deepEqual(summary(await byName.waitFor(1)), ['ADDED m2']);
    await s.request('PATCH', `${ns}/m1`, { body: { metadata: { labels: { team: 'b' } } }, contentType: MERGE });
    await s.request('PATCH', `${ns}/m2`, { body: { metadata: { labels: { team: 'a' } } }, contentType: MERGE });
    await s.request('POST', ns, { body: jobManifest('m3', { labels: { team: 'c' } }) });
    await s.request('PATCH', `${ns}/m2`, { body: { spec: { priority: 2 } }, contentType: MERGE });
    const events = (await w.waitFor(4)) as Event[];
    assert.deepEqual(summary(events), ['ADDED m1', 'DELETED m1', 'ADDED m2', 'MODIFIED m2']);
    assert.deepEqual(events[1]!.object.metadata.labels, { team: 'a' }, 'DELETED carries the last matching state');
    assert.deepEqual(summary(await byName.waitFor(3)), ['ADDED m2', 'MODIFIED m2', 'MODIFIED m2']);
  });

  void it('sends one-row Tables when asked, and bookmarks when allowed', async () => {
    const ns = '/apis/openscheduler.io/v1/namespaces/w5/jobs';
    const list = await s.request('GET', ns, { accept: TABLE });
    assert.equal(list.body.kind, 'Table');
    const w = await watch(`${ns}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`, TABLE);
    await s.request('POST', ns, { body: jobManifest('t1') });
    const [event] = await w.waitFor(1);
    assert.equal(event!.type, 'ADDED');
    assert.equal(event!.object.kind, 'Table');
    assert.equal(event!.object.rows.length, 1);
    assert.equal(event!.object.rows[0].cells[0], 't1');
    assert.equal(event!.object.rows[0].object.kind, 'PartialObjectMetadata');
    assert.ok(event!.object.metadata.resourceVersion);

    const b = await watch(`${ns}?watch=true&allowWatchBookmarks=true`);
    const events = await b.waitFor(3);
    assert.equal(events[0]!.type, 'ADDED');
    const bookmark = events.find((e) => e.type === 'BOOKMARK');
    assert.ok(bookmark, JSON.stringify(events));
    assert.equal(bookmark.object.kind, 'Job');
    assert.match(bookmark.object.metadata.resourceVersion, /^\d+$/);
  });

  void it('ends the stream after timeoutSeconds', async () => {
    const ns = '/apis/openscheduler.io/v1/namespaces/w6/jobs';
    const started = Date.now();
    const w = await watch(`${ns}?watch=true&timeoutSeconds=1`);
    assert.equal(await w.waitForEnd(5000), true);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900 && elapsed < 3000, `ended after ${elapsed} ms`);
  });
});

void describe('watch lifecycle', () => {
  void it('close() ends every open watch', async () => {
    const s = await TestServer.start();
    try {
      const w1 = await WatchReader.open(s, `${JOBS}?watch=true`);
      const w2 = await WatchReader.open(s, `/apis/openscheduler.io/v1/nodes?watch=true&allowWatchBookmarks=true`);
      const started = Date.now();
      await s.api.close();
      assert.equal(await w1.waitForEnd(2000), true);
      assert.equal(await w2.waitForEnd(2000), true);
      assert.ok(Date.now() - started < 2000);
      const refused = await s.request('GET', `${JOBS}?watch=true`);
      assert.equal(refused.status, 503, 'no new watch after close');
    } finally {
      await s.close();
    }
  });

  void it('stops the store watch when the client disconnects', async () => {
    const signals: AbortSignal[] = [];
    const recordingWatch = (store: Store): Store =>
      new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'watch') {
            return (prefix: string, options: WatchOptions = {}) => {
              if (options.signal) signals.push(options.signal);
              return target.watch(prefix, options);
            };
          }
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const s = await TestServer.start({ wrapStore: recordingWatch });
    try {
      const w = await WatchReader.open(s, `${JOBS}?watch=true`);
      await s.request('POST', JOBS, { body: jobManifest('seen') });
      assert.deepEqual(summary((await w.waitFor(1)) as Event[]), ['ADDED seen']);
      assert.equal(signals.length, 1);
      assert.equal(signals[0]!.aborted, false);
      w.close();
      const deadline = Date.now() + 2000;
      while (!signals[0]!.aborted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(signals[0]!.aborted, true, 'the server-side watch ended');
    } finally {
      await s.close();
    }
  });

  void it('sends an ERROR event with a 410 Status when compaction is found while streaming', async () => {
    const compactingWatch = (store: Store): Store =>
      new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'watch') {
            return (): AsyncIterable<WatchEvent[]> => ({
              [Symbol.asyncIterator]: () => ({
                next: () => Promise.reject(new CompactedError(1, 50)),
              }),
            });
          }
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const s = await TestServer.start({ wrapStore: compactingWatch });
    try {
      const rv = (await s.request('POST', JOBS, { body: jobManifest('x') })).body.metadata.resourceVersion;
      const w = await WatchReader.open(s, `${JOBS}?watch=true&resourceVersion=${rv}`);
      assert.equal(w.response.status, 200);
      const [event] = await w.waitFor(1);
      assert.equal(event!.type, 'ERROR');
      assert.equal(event!.object.kind, 'Status');
      assert.equal(event!.object.code, 410);
      assert.equal(await w.waitForEnd(2000), true);
    } finally {
      await s.close();
    }
  });
});

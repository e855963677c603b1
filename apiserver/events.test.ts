import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventKey } from '../api/v1/event.js';
import { EventRecorder } from '../controllers/runtime/event-recorder.js';
import { JOBS, TestServer, WatchReader, jobManifest } from './api-test-harness.js';

void describe('GET /api/v1/[namespaces/NS/]events', () => {
  let server: TestServer;
  let uid: string;

  before(async () => {
    server = await TestServer.start();
    const created = await server.request('POST', JOBS, { body: jobManifest('ev-job') });
    assert.equal(created.status, 201, created.text);
    uid = created.body.metadata.uid;
    const recorder = new EventRecorder(server.store, { component: 'openscheduler' });
    recorder.record(created.body, 'Normal', 'Scheduled', 'assigned to node-1');
    recorder.record(created.body, 'Normal', 'Started', 'attempt 1 started');
    recorder.record({ ...created.body, metadata: { ...created.body.metadata, name: 'other-job', uid: 'u-other' } }, 'Warning', 'Failed', 'boom');
    recorder.record({ apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name: 'node-1', uid: 'u-node' } }, 'Normal', 'NodeReady', 'ready');
    await recorder.close();
  });
  after(async () => {
    await server?.close();
  });

  void it('lists with the exact fieldSelector kubectl describe sends', async () => {
    const selector = encodeURIComponent(`involvedObject.name=ev-job,involvedObject.namespace=default,involvedObject.kind=Job,involvedObject.uid=${uid}`);
    const res = await server.request('GET', `/api/v1/namespaces/default/events?fieldSelector=${selector}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.kind, 'EventList');
    assert.equal(res.body.apiVersion, 'v1');
    assert.match(res.body.metadata.resourceVersion, /^\d+$/);
    assert.deepEqual(res.body.items.map((e: { reason: string }) => e.reason).sort(), ['Scheduled', 'Started']);
    const [first] = res.body.items;
    assert.equal(first.kind, 'Event');
    assert.equal(first.involvedObject.uid, uid);
    assert.match(first.metadata.resourceVersion, /^\d+$/);
    assert.equal(first.source.component, 'openscheduler');

    const wrongUid = await server.request('GET', `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent('involvedObject.name=ev-job,involvedObject.uid=nope')}`);
    assert.equal(wrongUid.status, 200);
    assert.equal(wrongUid.body.items.length, 0);
  });

  void it('lists events of cluster-scoped objects across namespaces (involvedObject.namespace=)', async () => {
    const selector = encodeURIComponent('involvedObject.name=node-1,involvedObject.namespace=,involvedObject.kind=Node,involvedObject.uid=u-node');
    const res = await server.request('GET', `/api/v1/events?fieldSelector=${selector}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.items.length, 1);
    assert.equal(res.body.items[0].reason, 'NodeReady');
    const all = await server.request('GET', '/api/v1/events');
    assert.equal(all.body.items.length, 4);
  });

  void it('pages with limit and continue', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const res = await server.request('GET', `/api/v1/events?limit=3${token ? `&continue=${encodeURIComponent(token)}` : ''}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.body.items.length <= 3);
      seen.push(...res.body.items.map((e: { metadata: { name: string } }) => e.metadata.name));
      token = res.body.metadata.continue;
    } while (token);
    assert.equal(seen.length, 4);
    assert.equal(new Set(seen).size, 4);
  });

  void it('gets one event by name and 404s an unknown one', async () => {
    const list = await server.request('GET', '/api/v1/namespaces/default/events?limit=1');
    const name = list.body.items[0].metadata.name;
    const one = await server.request('GET', `/api/v1/namespaces/default/events/${name}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.metadata.name, name);
    const missing = await server.request('GET', '/api/v1/namespaces/default/events/nope.0');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.kind, 'Status');
    assert.match(missing.body.message, /events "nope.0" not found/);
  });

  void it('rejects bad input with a Status naming the problem', async () => {
    const field = await server.request('GET', '/api/v1/events?fieldSelector=spec.x%3Dy');
    assert.equal(field.status, 400);
    assert.match(field.body.message, /field label not supported: spec\.x/);
    const limit = await server.request('GET', '/api/v1/events?limit=-1');
    assert.equal(limit.status, 400);
    assert.match(limit.body.message, /^limit:/);
    const token = await server.request('GET', '/api/v1/events?continue=garbage!');
    assert.equal(token.status, 400);
    assert.match(token.body.message, /continue/);
    const label = await server.request('GET', '/api/v1/events?labelSelector=a%3Db');
    assert.equal(label.status, 400);
    assert.match(label.body.message, /labelSelector/);
  });

  void it('is read-only and needs authentication', async () => {
    const post = await server.request('POST', '/api/v1/namespaces/default/events', { body: { kind: 'Event' } });
    assert.equal(post.status, 405);
    assert.equal(post.body.reason, 'MethodNotAllowed');
    const anonymous = await server.request('GET', '/api/v1/events', { token: null });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.reason, 'Unauthorized');
  });

  void it('does not advertise v1 in GET /api', async () => {
    const res = await server.request('GET', '/api');
    assert.equal(res.status, 200);
    assert.ok(!JSON.stringify(res.body.versions ?? []).includes('"v1"'), res.text);
  });
});

type EventWatchEvent = { type: string; object: { kind: string; apiVersion: string; metadata: { name: string; resourceVersion: string }; reason?: string; count?: number; involvedObject?: { name: string } } };
const reasons = (events: EventWatchEvent[]): string[] => events.map((e) => `${e.type} ${e.object.reason ?? e.object.kind}`);
const EVENTS = '/api/v1/namespaces/default/events';
/** The first `count` events other than bookmarks (waits for them; throws when the stream ends first). */
async function withoutBookmarks(reader: WatchReader, count: number): Promise<EventWatchEvent[]> {
  const others = (): EventWatchEvent[] => (reader.events as EventWatchEvent[]).filter((e) => e.type !== 'BOOKMARK');
  while (others().length < count) {
    const before = reader.events.length;
    await reader.waitFor(before + 1);
    if (reader.events.length === before) throw new Error(`the stream ended after ${JSON.stringify(reasons(others()))}`);
  }
  return others().slice(0, count);
}
const about = (name: string): string => `fieldSelector=${encodeURIComponent(`involvedObject.name=${name},involvedObject.kind=Job`)}`;

void describe('GET /api/v1/[namespaces/NS/]events?watch=true', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  const open: WatchReader[] = [];
  const watch = async (path: string): Promise<WatchReader> => {
    const reader = await WatchReader.open(server, path);
    open.push(reader);
    assert.equal(reader.response.status, 200, `${path}: ${reader.response.status}`);
    return reader;
  };
  /** A Job in namespace default (what the recorder needs of it). */
  const job = async (name: string) => {
    const created = await server.request('POST', JOBS, { body: jobManifest(name) });
    assert.equal(created.status, 201, created.text);
    return created.body as { apiVersion: string; kind: string; metadata: { name: string; namespace: string; uid: string } };
  };

  before(async () => {
    server = await TestServer.start({ watchBookmarkIntervalMs: 50 });
    recorder = new EventRecorder(server.store, { component: 'openscheduler' });
  });
  after(async () => {
    for (const reader of open) reader.close();
    await recorder?.close();
    await server?.close();
  });

  void it("from a list's resourceVersion: a new event is ADDED, its repetition MODIFIED (count), other objects' events never arrive", async () => {
    const watched = await job('watched');
    const other = await job('other');
    recorder.record(watched, 'Normal', 'Created', 'before the list');
    await recorder.flush();
    const list = await server.request('GET', `${EVENTS}?${about('watched')}`);
    assert.equal(list.status, 200, list.text);
    assert.equal(list.body.items.length, 1);
    const w = await watch(`${EVENTS}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}&${about('watched')}`);

    recorder.record(other, 'Warning', 'Failed', 'not watched');
    recorder.record(watched, 'Normal', 'Scheduled', 'assigned to node-1');
    recorder.record(watched, 'Normal', 'Scheduled', 'assigned to node-1');
    recorder.record(other, 'Warning', 'Failed', 'not watched either');
    recorder.record(watched, 'Normal', 'Started', 'attempt 1 started');
    await recorder.flush();

    // The stream is in revision order: the third event arriving means the others' events were passed over.
    const events = (await w.waitFor(3)) as EventWatchEvent[];
    assert.deepEqual(reasons(events), ['ADDED Scheduled', 'MODIFIED Scheduled', 'ADDED Started']);
    const [added, modified] = events as [EventWatchEvent, EventWatchEvent, EventWatchEvent];
    assert.equal(added.object.kind, 'Event');
    assert.equal(added.object.apiVersion, 'v1');
    assert.equal(modified.object.metadata.name, added.object.metadata.name, 'the count bump is the same event');
    assert.deepEqual([added.object.count, modified.object.count], [1, 2]);
    assert.ok(Number(modified.object.metadata.resourceVersion) > Number(added.object.metadata.resourceVersion));
    assert.ok(events.every((e) => e.object.involvedObject?.name === 'watched'), JSON.stringify(events));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(w.events.length, 3, 'nothing before the list revision is replayed, nothing else arrives');

    // Every namespace (/api/v1/events) with the same selector sees the same stream.
    const all = await watch(`/api/v1/events?watch=true&resourceVersion=${list.body.metadata.resourceVersion}&${about('watched')}`);
    assert.deepEqual(reasons((await all.waitFor(3)) as EventWatchEvent[]), ['ADDED Scheduled', 'MODIFIED Scheduled', 'ADDED Started']);
  });

  void it('resourceVersion=0 (or none) sends the current matches as ADDED first, then the changes, and bookmarks when allowed', async () => {
    const current = await job('current');
    recorder.record(current, 'Normal', 'Scheduled', 'assigned to node-1');
    recorder.record(current, 'Normal', 'Started', 'attempt 1 started');
    recorder.record(await job('unrelated'), 'Normal', 'Scheduled', 'assigned to node-2');
    await recorder.flush();

    const fromZero = await watch(`${EVENTS}?watch=true&resourceVersion=0&allowWatchBookmarks=true&${about('current')}`);
    const noVersion = await watch(`${EVENTS}?watch=1&${about('current')}`);
    const initial = (await fromZero.waitFor(2)) as EventWatchEvent[];
    assert.deepEqual(reasons(initial.slice(0, 2)).sort(), ['ADDED Scheduled', 'ADDED Started'], 'no bookmark before the current ones');
    assert.deepEqual(reasons(((await noVersion.waitFor(2)) as EventWatchEvent[]).slice(0, 2)).sort(), ['ADDED Scheduled', 'ADDED Started']);

    recorder.record(current, 'Warning', 'Failed', 'exit code 1');
    await recorder.flush();
    assert.deepEqual(reasons((await withoutBookmarks(fromZero, 3)).slice(2)), ['ADDED Failed']);
    assert.deepEqual(reasons(((await noVersion.waitFor(3)) as EventWatchEvent[]).slice(2)), ['ADDED Failed']);

    for (let i = 0; i < 20 && !fromZero.events.some((e) => e.type === 'BOOKMARK'); i++) await fromZero.waitFor(fromZero.events.length + 1);
    const bookmark = fromZero.events.find((e) => e.type === 'BOOKMARK') as EventWatchEvent | undefined;
    assert.ok(bookmark, JSON.stringify(fromZero.events));
    assert.equal(bookmark.object.kind, 'Event');
    assert.equal(bookmark.object.apiVersion, 'v1');
    assert.match(bookmark.object.metadata.resourceVersion, /^\d+$/);
  });

  void it('sends DELETED (the last state, at the delete revision) when an event goes, and watches one event by name', async () => {
    const doomed = await job('doomed');
    recorder.record(doomed, 'Normal', 'Scheduled', 'assigned to node-1');
    recorder.record(doomed, 'Normal', 'Started', 'attempt 1 started');
    await recorder.flush();
    const list = await server.request('GET', `${EVENTS}?${about('doomed')}`);
    const scheduled = (list.body.items as { reason: string; metadata: { name: string } }[]).find((e) => e.reason === 'Scheduled')!;
    const byName = await watch(`${EVENTS}/${scheduled.metadata.name}?watch=true&resourceVersion=0`);
    assert.deepEqual(reasons((await byName.waitFor(1)) as EventWatchEvent[]), ['ADDED Scheduled']);
    const w = await watch(`${EVENTS}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}&${about('doomed')}`);

    const deleted = await server.store.delete(eventKey('default', scheduled.metadata.name));
    assert.ok(deleted !== undefined);
    const [gone] = (await w.waitFor(1)) as EventWatchEvent[];
    assert.equal(gone!.type, 'DELETED');
    assert.equal(gone!.object.metadata.name, scheduled.metadata.name);
    assert.equal(gone!.object.reason, 'Scheduled');
    assert.equal(gone!.object.metadata.resourceVersion, String(deleted.revision));
    assert.deepEqual(reasons((await byName.waitFor(2)) as EventWatchEvent[]), ['ADDED Scheduled', 'DELETED Scheduled']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(byName.events.length, 2, 'the other event of the job is not part of the named watch');
  });

  void it('rejects bad input before the stream starts: labelSelector, unknown fields, bad versions and timeouts', async () => {
    const label = await server.request('GET', `${EVENTS}?watch=true&labelSelector=a%3Db`);
    assert.equal(label.status, 400);
    assert.match(label.body.message, /^labelSelector:/);
    const field = await server.request('GET', '/api/v1/events?watch=true&fieldSelector=spec.x%3Dy');
    assert.equal(field.status, 400);
    assert.match(field.body.message, /field label not supported: spec\.x/);
    const version = await server.request('GET', `${EVENTS}?watch=true&resourceVersion=abc`);
    assert.equal(version.status, 400);
    assert.match(version.body.message, /^resourceVersion:/);
    const future = await server.request('GET', `${EVENTS}?watch=true&resourceVersion=999999999`);
    assert.equal(future.status, 400);
    assert.match(future.body.message, /newer than the current revision/);
    const timeout = await server.request('GET', `${EVENTS}?watch=true&timeoutSeconds=-1`);
    assert.equal(timeout.status, 400);
    assert.match(timeout.body.message, /^timeoutSeconds:/);
    const flag = await server.request('GET', `${EVENTS}?watch=yes`);
    assert.equal(flag.status, 400);
    assert.match(flag.body.message, /^watch:/);
  });

  void it('ends the stream after timeoutSeconds', async () => {
    const started = Date.now();
    const w = await watch(`${EVENTS}?watch=true&timeoutSeconds=1`);
    assert.equal(await w.waitForEnd(5000), true);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900 && elapsed < 3000, `ended after ${elapsed} ms`);
  });

  void it('answers 410 Gone for a compacted resourceVersion', async () => {
    const compacted = await job('compacted');
    recorder.record(compacted, 'Normal', 'Scheduled', 'assigned to node-1');
    await recorder.flush();
    const old = (await server.request('GET', EVENTS)).body.metadata.resourceVersion as string;
    recorder.record(compacted, 'Normal', 'Started', 'attempt 1 started');
    recorder.record(compacted, 'Normal', 'Completed', 'exit code 0');
    await recorder.flush();
    await server.store.compact(await server.store.currentRevision());
    const res = await server.request('GET', `${EVENTS}?watch=true&resourceVersion=${old}&${about('compacted')}`);
    assert.equal(res.status, 410, res.text);
    assert.equal(res.body.kind, 'Status');
    assert.equal(res.body.reason, 'Expired');
  });
});

void describe('events watch lifecycle', () => {
  void it('ApiServer.close() ends an open events watch, and no new one starts', async () => {
    const server = await TestServer.start();
    try {
      const namespaced = await WatchReader.open(server, `${EVENTS}?watch=true&${about('any')}`);
      const all = await WatchReader.open(server, '/api/v1/events?watch=true&allowWatchBookmarks=true');
      assert.equal(namespaced.response.status, 200);
      assert.equal(all.response.status, 200);
      const started = Date.now();
      await server.api.close();
      assert.equal(await namespaced.waitForEnd(2000), true);
      assert.equal(await all.waitForEnd(2000), true);
      assert.ok(Date.now() - started < 2000);
      const refused = await server.request('GET', `${EVENTS}?watch=true`);
      assert.equal(refused.status, 503, 'no new watch after close');
    } finally {
      await server.close();
    }
  });
});

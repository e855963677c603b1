import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventCollectionPrefix, type Event } from '../../api/v1/event.js';
import { SqliteStore } from '../../store/sqlite-store.js';
import { StoreUnavailableError, type Store } from '../../store/store.js';
import { FakeClock } from './clock.js';
import { EventRecorder } from './event-recorder.js';
import type { Logger } from './logger.js';

const job = (name: string, uid: string) => ({
  apiVersion: 'openscheduler.io/v1',
  kind: 'Job',
  metadata: { name, namespace: 'default', uid },
});

async function events(store: Store, namespace = 'default'): Promise<{ event: Event; lease?: string; key: string }[]> {
  const { items } = await store.list(eventCollectionPrefix(namespace));
  return items.map((kv) => ({ event: JSON.parse(kv.value) as Event, lease: kv.lease, key: kv.key }));
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug: () => undefined, info: () => undefined, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) };
}

void describe('EventRecorder on a real SqliteStore', () => {
  let dir: string;
  let store: SqliteStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-events-'));
    store = SqliteStore.open({ path: join(dir, 'store.db'), compactIntervalMs: 0, leaseCheckIntervalMs: 50 });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('records a core/v1 Event with a TTL lease', async () => {
    const clock = new FakeClock(Date.parse('2026-01-02T03:04:05Z'));
    const recorder = new EventRecorder(store, { component: 'job-controller', clock });
    recorder.record(job('rec-a', 'uid-a'), 'Normal', 'Scheduled', 'assigned to node-1');
    await recorder.close();
    const [stored, ...rest] = (await events(store)).filter((e) => e.event.involvedObject.uid === 'uid-a');
    assert.equal(rest.length, 0);
    assert.ok(stored);
    const { event } = stored;
    assert.equal(event.apiVersion, 'v1');
    assert.equal(event.kind, 'Event');
    assert.match(event.metadata.name, /^rec-a\.[0-9a-f]{16}$/);
    assert.equal(event.metadata.namespace, 'default');
    assert.equal(stored.key, `/registry/events/default/${event.metadata.name}`);
    assert.ok(event.metadata.uid);
    assert.equal(event.metadata.creationTimestamp, '2026-01-02T03:04:05Z');
    assert.deepEqual(event.involvedObject, { apiVersion: 'openscheduler.io/v1', kind: 'Job', name: 'rec-a', namespace: 'default', uid: 'uid-a' });
    assert.equal(event.reason, 'Scheduled');
    assert.equal(event.message, 'assigned to node-1');
    assert.equal(event.type, 'Normal');
    assert.equal(event.count, 1);
    assert.equal(event.firstTimestamp, '2026-01-02T03:04:05Z');
    assert.equal(event.lastTimestamp, '2026-01-02T03:04:05Z');
    assert.deepEqual(event.source, { component: 'job-controller' });
    assert.ok(stored.lease, 'event is attached to a lease');
  });

  void it('dedupes an identical event within the window: count 2, lastTimestamp moves', async () => {
    const clock = new FakeClock(Date.parse('2026-01-02T03:00:00Z'));
    const recorder = new EventRecorder(store, { component: 'c', clock, dedupeWindowMs: 60_000 });
    recorder.record(job('rec-b', 'uid-b'), 'Warning', 'BackoffWaiting', 'retry in 10s');
    await recorder.flush();
    clock.advance(30_000);
    recorder.record(job('rec-b', 'uid-b'), 'Warning', 'BackoffWaiting', 'retry in 10s');
    recorder.record(job('rec-b', 'uid-b'), 'Warning', 'BackoffWaiting', 'a different message');
    await recorder.flush();
    clock.advance(120_000); // beyond the window: a new event
    recorder.record(job('rec-b', 'uid-b'), 'Warning', 'BackoffWaiting', 'retry in 10s');
    await recorder.close();
    const mine = (await events(store)).map((e) => e.event).filter((e) => e.involvedObject.uid === 'uid-b');
    assert.equal(mine.length, 3);
    const deduped = mine.find((e) => e.count === 2);
    assert.ok(deduped, JSON.stringify(mine));
    assert.equal(deduped.firstTimestamp, '2026-01-02T03:00:00Z');
    assert.equal(deduped.lastTimestamp, '2026-01-02T03:00:30Z');
    assert.equal(mine.filter((e) => e.count === 1).length, 2);
  });

  void it('the store deletes an event when its TTL lease expires', async () => {
    const recorder = new EventRecorder(store, { component: 'c', ttlSeconds: 1 });
    recorder.record(job('rec-ttl', 'uid-ttl'), 'Normal', 'Started', 'x');
    await recorder.close();
    const uidTtl = async (): Promise<number> => (await events(store)).filter((e) => e.event.involvedObject.uid === 'uid-ttl').length;
    assert.equal(await uidTtl(), 1);
    const deadline = Date.now() + 5000;
    while ((await uidTtl()) > 0 && Date.now() < deadline) await sleep(100);
    assert.equal(await uidTtl(), 0);
  });

  void it('keeps at most maxEventsPerObject per object, removing the oldest', async () => {
    const clock = new FakeClock();
    const recorder = new EventRecorder(store, { component: 'c', clock, maxEventsPerObject: 3 });
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      recorder.record(job('rec-cap', 'uid-cap'), 'Normal', 'Step', `step ${i}`);
    }
    recorder.record(job('rec-cap', 'uid-other'), 'Normal', 'Step', 'another object with the same name');
    await recorder.close();
    const all = (await events(store)).map((e) => e.event);
    const mine = all.filter((e) => e.involvedObject.uid === 'uid-cap').map((e) => e.message).sort();
    assert.deepEqual(mine, ['step 2', 'step 3', 'step 4']);
    assert.equal(all.filter((e) => e.involvedObject.uid === 'uid-other').length, 1);
  });

  void it('stores events of cluster-scoped objects in namespace default', async () => {
    const recorder = new EventRecorder(store, { component: 'node-lifecycle' });
    recorder.record({ apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name: 'node-9', uid: 'uid-n' } }, 'Warning', 'NodeNotReady', 'no heartbeat');
    await recorder.close();
    const event = (await events(store, 'default')).map((e) => e.event).find((e) => e.involvedObject.uid === 'uid-n');
    assert.ok(event);
    assert.equal(event.involvedObject.namespace, '');
    assert.equal(event.metadata.namespace, 'default');
  });

  void it('never throws into the caller: store errors and bad input are logged and dropped', async () => {
    const failing: Store = Object.create(store, {
      put: { value: () => Promise.reject(new StoreUnavailableError('store down')) },
      grantLease: { value: () => Promise.reject(new StoreUnavailableError('store down')) },
    }) as Store;
    const logger = recordingLogger();
    const recorder = new EventRecorder(failing, { component: 'c', logger, maxPending: 2 });
    assert.doesNotThrow(() => {
      recorder.record(job('rec-err', 'uid-err'), 'Normal', 'A', 'a');
      recorder.record(job('rec-err', 'uid-err'), 'Normal', 'B', 'b');
      recorder.record(job('rec-err', 'uid-err'), 'Normal', 'C', 'c'); // over maxPending
      recorder.record({ apiVersion: 'v', kind: 'K', metadata: { name: '' } }, 'Normal', 'D', 'd');
      recorder.record(job('rec-err', 'uid-err'), 'Bogus' as 'Normal', 'E', 'e');
    });
    await recorder.close();
    assert.ok(logger.warnings.some((w) => w.includes('not recorded')), logger.warnings.join('\n'));
    assert.ok(logger.warnings.some((w) => w.includes('too many events')), logger.warnings.join('\n'));
    assert.equal(logger.warnings.filter((w) => w.includes('needs an object')).length, 2);
    assert.equal((await events(store)).filter((e) => e.event.involvedObject.uid === 'uid-err').length, 0);
    // A recorder keeps working after errors.
    const healthy = new EventRecorder(store, { component: 'c' });
    healthy.record(job('rec-err', 'uid-err'), 'Normal', 'Recovered', 'ok');
    await healthy.close();
    assert.equal((await events(store)).filter((e) => e.event.involvedObject.uid === 'uid-err').length, 1);
  });

  void it('rejects bad options with the option name', () => {
    assert.throws(() => new EventRecorder(store, { component: '' }), /component/);
    assert.throws(() => new EventRecorder(store, { component: 'c', ttlSeconds: 0 }), /ttlSeconds/);
  });
});

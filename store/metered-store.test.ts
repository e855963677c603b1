// MeteredStore: the conformance suite through the decorator (it changes no behaviour), and what
// it reports for each call, over a real SQLite store.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MeteredStore, storeResult, type StoreMetrics, type StoreOperation, type StoreResult } from './metered-store.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
import { storeConformanceSuite } from './store-conformance.js';
import { CompactedError, ConflictError, FencedError, LeaseNotFoundError, StoreUnavailableError, type Store, type WatchEvent } from './store.js';

/** Records every report. */
class RecordingMetrics implements StoreMetrics {
  readonly operations: { operation: StoreOperation; result: StoreResult; seconds: number }[] = [];
  readonly watches: string[] = [];
  observeOperation(operation: StoreOperation, result: StoreResult, seconds: number): void {
    this.operations.push({ operation, result, seconds });
  }
  watchStarted(): void {
    this.watches.push('started');
  }
  watchEnded(result: StoreResult): void {
    this.watches.push(`ended ${result}`);
  }
  last(): { operation: StoreOperation; result: StoreResult } {
    const op = this.operations.at(-1);
    assert.ok(op, 'an operation was observed');
    assert.ok(op.seconds >= 0 && op.seconds < 5, `seconds ${op.seconds}`);
    return { operation: op.operation, result: op.result };
  }
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'metered-store-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});
let fileCount = 0;
const newPath = (): string => join(dir, `store-${++fileCount}`, 'state.db');

const opened = new Map<Store, { inner: SqliteStore; options: SqliteStoreOptions }>();
function openMetered(options: SqliteStoreOptions): Store {
  const inner = SqliteStore.open(options);
  const store = new MeteredStore(inner, new RecordingMetrics());
  opened.set(store, { inner, options });
  return store;
}

storeConformanceSuite('MeteredStore over SqliteStore', {
  storeSurvivesRestart: false,
  async create(options) {
    return openMetered({ path: newPath(), timeoutMs: options?.timeoutMs, leaseCheckIntervalMs: 100 });
  },
  async restart(store) {
    const entry = opened.get(store);
    assert.ok(entry, 'restart of a store this harness made');
    await store.close();
    opened.delete(store);
    return openMetered(entry.options);
  },
  async dispose() {
    await Promise.all([...opened.keys()].map((store) => store.close()));
    opened.clear();
  },
});

void describe('MeteredStore reports', () => {
  let inner: SqliteStore;
  let metrics: RecordingMetrics;
  let store: MeteredStore;
  before(() => {
    inner = SqliteStore.open({ path: newPath(), compactIntervalMs: 0, leaseCheckIntervalMs: 100 });
    metrics = new RecordingMetrics();
    store = new MeteredStore(inner, metrics);
  });
  after(async () => {
    await store.close();
  });

  void it('each call once, by method name, with ok or the kind of error', async () => {
    const { revision } = await store.put('/a', '1');
    assert.deepEqual(metrics.last(), { operation: 'put', result: 'ok' });
    await assert.rejects(store.put('/a', '2', { ifAbsent: true }), ConflictError);
    assert.deepEqual(metrics.last(), { operation: 'put', result: 'conflict' });
    assert.equal((await store.get('/a'))?.value, '1');
    assert.deepEqual(metrics.last(), { operation: 'get', result: 'ok' });
    assert.equal((await store.list('/')).items.length, 1);
    assert.deepEqual(metrics.last(), { operation: 'list', result: 'ok' });
    assert.equal(await store.currentRevision(), revision);
    assert.deepEqual(metrics.last(), { operation: 'currentRevision', result: 'ok' });
    const lease = await store.grantLease(5);
    assert.deepEqual(metrics.last(), { operation: 'grantLease', result: 'ok' });
    await store.keepAlive(lease);
    assert.deepEqual(metrics.last(), { operation: 'keepAlive', result: 'ok' });
    await store.revokeLease(lease);
    assert.deepEqual(metrics.last(), { operation: 'revokeLease', result: 'ok' });
    await assert.rejects(store.keepAlive(lease), LeaseNotFoundError);
    assert.deepEqual(metrics.last(), { operation: 'keepAlive', result: 'lease_not_found' });
    await store.put('/a', '3');
    const current = await store.currentRevision();
    await store.compact(current);
    assert.deepEqual(metrics.last(), { operation: 'compact', result: 'ok' });
    assert.equal(await store.compactedRevision(), current);
    assert.deepEqual(metrics.last(), { operation: 'compactedRevision', result: 'ok' });
    await assert.rejects(store.list('/', { revision: revision }), CompactedError);
    assert.deepEqual(metrics.last(), { operation: 'list', result: 'compacted' });
    assert.equal((await store.delete('/a'))?.previous.value, '3');
    assert.deepEqual(metrics.last(), { operation: 'delete', result: 'ok' });
    assert.deepEqual(metrics.watches, [], 'no watch was made');
  });

  void it('counts a watch when it starts and when it ends, and passes its events through', async () => {
    const before = metrics.watches.length;
    const from = (await store.currentRevision()) + 1;
    const abort = new AbortController();
    const seen: WatchEvent[] = [];
    const iterating = (async () => {
      for await (const events of store.watch('/w/', { fromRevision: from, signal: abort.signal })) {
        seen.push(...events);
        if (seen.length === 2) abort.abort();
      }
    })();
    await store.put('/w/1', 'x');
    await store.put('/w/2', 'y');
    await iterating;
    assert.deepEqual(
      seen.map((e) => [e.type, e.kv.key, e.kv.value]),
      [
        ['put', '/w/1', 'x'],
        ['put', '/w/2', 'y'],
      ],
    );
    assert.deepEqual(metrics.watches.slice(before), ['started', 'ended ok']);
  });

  void it('reports a watch that fails with the kind of its error, and one left early as ok', async () => {
    const before = metrics.watches.length;
    await assert.rejects(async () => {
      for await (const _ of store.watch('/w/', { fromRevision: 1 })) assert.fail('no events from a compacted revision');
    }, CompactedError);
    const from = (await store.currentRevision()) + 1;
    const breaking = (async () => {
      for await (const _ of store.watch('/x/', { fromRevision: from })) break; // return() ends it
    })();
    await store.put('/x/1', 'z');
    await breaking;
    assert.deepEqual(metrics.watches.slice(before), ['started', 'ended compacted', 'started', 'ended ok']);
  });

  void it('maps errors to bounded result labels', () => {
    assert.equal(storeResult(undefined), 'ok');
    assert.equal(storeResult(new ConflictError('/k')), 'conflict');
    assert.equal(storeResult(new FencedError('/k', '/leases/x')), 'fenced');
    assert.equal(storeResult(new StoreUnavailableError('down')), 'unavailable');
    assert.equal(storeResult(new TypeError('bad')), 'error');
  });
});

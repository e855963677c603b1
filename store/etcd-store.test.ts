// EtcdStore against a real etcd 3.4 started by the test (fails, never skips, without etcd).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEtcd, type EtcdProcess } from '../test/harness/etcd.js';
import { EtcdStore } from './etcd-store.js';
import { storeConformanceSuite } from './store-conformance.js';
import { CompactedError, StoreUnavailableError, type Store } from './store.js';

let etcd: EtcdProcess | undefined;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

function running(): EtcdProcess {
  assert.ok(etcd, 'etcd was started');
  return etcd;
}

let prefixCount = 0;
const stores = new Set<Store>();
function newStore(options: { prefix?: string; timeoutMs?: number } = {}): EtcdStore {
  const store = new EtcdStore({
    endpoints: [running().endpoint],
    prefix: options.prefix ?? `/conformance-${++prefixCount}`,
    timeoutMs: options.timeoutMs,
    compactIntervalMs: 0,
    watchRetryMinMs: 50,
    watchRetryMaxMs: 500,
  });
  stores.add(store);
  return store;
}

storeConformanceSuite('EtcdStore', {
  storeSurvivesRestart: true,
  async create(options) {
    return newStore(options);
  },
  async restart(store) {
    await running().restart('SIGKILL');
    return store;
  },
  async outage(kind) {
    const process = running();
    if (kind === 'down') {
      await process.kill('SIGKILL');
      return () => process.start();
    }
    await process.kill('SIGSTOP');
    return () => process.kill('SIGCONT');
  },
  async dispose() {
    await Promise.all([...stores].map((store) => store.close()));
    stores.clear();
  },
});

void describe('EtcdStore', () => {
  void it('keeps stores with different prefixes apart, and its bookkeeping out of lists', async () => {
    const one = newStore({ prefix: '/iso-one' });
    const two = newStore({ prefix: '/iso-one-more/' });
    await one.put('k', 'one');
    await two.put('k', 'two');
    const r = (await one.put('x', 'y')).revision;
    await one.compact(r);
    assert.equal((await one.get('k'))?.value, 'one');
    assert.equal((await two.get('k'))?.value, 'two');
    assert.deepEqual(
      (await one.list('')).items.map((kv) => kv.key),
      ['k', 'x'],
    );
    assert.deepEqual(
      (await two.list('')).items.map((kv) => kv.key),
      ['k'],
    );
    assert.equal(await two.compactedRevision(), 0);
    assert.equal(await one.compactedRevision(), r);
  });

  void it('open() checks that etcd answers, and fails within the timeout when it does not', async () => {
    const store = await EtcdStore.open({ endpoints: [running().endpoint], prefix: '/open-check', compactIntervalMs: 0 });
    assert.ok((await store.currentRevision()) > 0);
    await store.close();
    const started = Date.now();
    await assert.rejects(
      EtcdStore.open({ endpoints: ['http://127.0.0.1:1'], timeoutMs: 500, compactIntervalMs: 0 }),
      (err: unknown) => {
        assert.ok(err instanceof StoreUnavailableError);
        assert.match(err.message, /127\.0\.0\.1:1/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 1_500);
  });

  void it('compacts automatically to the revision seen one interval earlier', async () => {
    const store = new EtcdStore({ endpoints: [running().endpoint], prefix: '/auto-compact', compactIntervalMs: 300 });
    stores.add(store);
    const first = (await store.put('a', '1')).revision;
    const deadline = Date.now() + 10_000;
    while ((await store.compactedRevision()) < first && Date.now() < deadline) {
      await store.put('a', 'churn');
      await sleep(50);
    }
    const compacted = await store.compactedRevision();
    assert.ok(compacted >= first, `compacted to ${compacted}`);
    assert.ok(compacted < (await store.currentRevision()), 'the newest interval stays readable');
    await assert.rejects(store.list('', { revision: first - 1 }), CompactedError);
    await store.close();
  });

  void it('the harness throws when etcd is not installed', async () => {
    await assert.rejects(startEtcd({ executable: '/nonexistent/etcd' }), /etcd is not installed/);
  });

  void it('rejects bad options with the option name', () => {
    assert.throws(() => new EtcdStore({ endpoints: [] }), /option endpoints/);
    assert.throws(() => new EtcdStore({ endpoints: ['http://127.0.0.1:2379'], prefix: '/' }), /option prefix/);
    assert.throws(() => new EtcdStore({ endpoints: ['http://127.0.0.1:2379'], timeoutMs: 0 }), /timeoutMs/);
  });
});

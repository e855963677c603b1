// FencedStore: its logic over a real SqliteStore with a scripted fence, then the real thing on a
// real etcd: two LeaderElectors, the first deposed (lease revoked from outside, as when it
// expires) while it still believes it leads, as a leader paused with SIGSTOP does.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type EtcdProcess } from '../../test/harness/etcd.js';
import { EtcdStore } from '../../store/etcd-store.js';
import { FencedError, type Store, type WriteGuard } from '../../store/store.js';
import { FakeClock } from './clock.js';
import { FencedStore, NotLeaderError } from './fenced-store.js';
import { LeaderElector } from './leader-election.js';
import type { Logger } from './logger.js';
import { ControlledStore, openTempStore, waitFor, type TempStore } from './test-support.js';

/** A logger that keeps its warnings. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    debug: () => undefined,
    info: () => undefined,
    warn: (message: string) => void warnings.push(message),
    error: () => undefined,
  };
}

void describe('FencedStore (logic, over SQLite)', () => {
  let t: TempStore;
  before(async () => {
    t = await openTempStore();
  });
  after(async () => {
    await t.cleanup();
  });

  void it('without a term: NotLeaderError (a FencedError) and nothing is written', async () => {
    const logger = recordingLogger();
    const fenced = new FencedStore(t.store, () => undefined, { electionKey: '/leases/x', logger });
    const before = await t.store.currentRevision();
    await assert.rejects(fenced.put('/n/a', 'v'), (err: unknown) => {
      assert.ok(err instanceof NotLeaderError);
      assert.ok(err instanceof FencedError);
      assert.equal(err.key, '/n/a');
      assert.equal(err.guardKey, '/leases/x');
      return true;
    });
    await assert.rejects(fenced.delete('/n/a'), NotLeaderError);
    assert.equal(await t.store.currentRevision(), before);
    assert.equal(await fenced.get('/n/a'), undefined, 'reads pass through');
    assert.deepEqual(logger.warnings, ['write rejected: no longer the leader'], 'logged once');
  });

  void it('adds the term fence to every write (replacing a caller guard); a stale term is rejected by the store and logged once per term', async () => {
    const logger = recordingLogger();
    let fence: WriteGuard | undefined;
    const fenced = new FencedStore(t.store, () => fence, { electionKey: '/leases/y', logger });
    const term1 = (await t.store.put('/leases/y', 'a', { ifAbsent: true })).revision;
    fence = { key: '/leases/y', createRevision: term1 };
    const created = (await fenced.put('/f/obj', 'v1', { ifAbsent: true })).revision;
    // a caller's own guard is replaced by the term's
    await fenced.put('/f/obj', 'v2', { ifRevision: created, guard: { key: '/nowhere', createRevision: 1 } });
    assert.equal((await fenced.get('/f/obj'))?.value, 'v2');
    assert.deepEqual(logger.warnings, []);

    // the term ends in the store (lease expiry deletes the key; another process wins it) while
    // this process still holds the old fence
    await t.store.delete('/leases/y');
    const term2 = (await t.store.put('/leases/y', 'b', { ifAbsent: true })).revision;
    const revisionBefore = await t.store.currentRevision();
    for (let i = 0; i < 3; i++) {
      await assert.rejects(fenced.put('/f/obj', 'late'), (err: unknown) => err instanceof FencedError && !(err instanceof NotLeaderError));
      await assert.rejects(fenced.delete('/f/obj'), FencedError);
    }
    assert.equal(await t.store.currentRevision(), revisionBefore, 'nothing written');
    assert.equal((await t.store.get('/f/obj'))?.value, 'v2');
    assert.equal(logger.warnings.length, 1, 'one warning for the whole term');

    fence = undefined; // the elector noticed: the old term's warning was already logged
    await assert.rejects(fenced.put('/f/obj', 'late'), NotLeaderError);
    assert.equal(logger.warnings.length, 1);

    fence = { key: '/leases/y', createRevision: term2 }; // this process leads again
    await fenced.put('/f/obj', 'v3');
    await t.store.delete('/leases/y');
    await assert.rejects(fenced.put('/f/obj', 'late'), FencedError);
    assert.equal(logger.warnings.length, 2, 'a new term logs its first rejection again');
  });
});

void describe('FencedStore with LeaderElector on a real etcd', () => {
  let etcd: EtcdProcess | undefined;
  const stores: Store[] = [];
  let prefixCount = 0;
  const newStore = (prefix: string): EtcdStore => {
    if (!etcd) throw new Error('etcd was not started');
    const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix, compactIntervalMs: 0, watchRetryMinMs: 50, watchRetryMaxMs: 500 });
    stores.push(store);
    return store;
  };
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await etcd?.stop();
  });

  /** Runs an elector until the returned stop(); `terms()` counts the terms it started. */
  function campaign(elector: LeaderElector): { stop: () => Promise<void>; terms: () => number } {
    const abort = new AbortController();
    let terms = 0;
    const done = elector.run(abort.signal, async (signal) => {
      terms++;
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    });
    return {
      stop: async () => {
        abort.abort();
        await done;
      },
      terms: () => terms,
    };
  }

  void it('a deposed leader that still believes it leads (paused: no renewal, no watch news) cannot write; the new leader can', async () => {
    const prefix = `/fence-${++prefixCount}`;
    const shared = newStore(prefix); // "outside": revokes the lease as its expiry would
    // A's view of the store: its watches are held, as if A were paused and heard nothing;
    // its clock is manual, so it does not renew until told.
    const aStore = new ControlledStore(newStore(prefix));
    aStore.holdWatches();
    const aClock = new FakeClock();
    const aLogger = recordingLogger();
    const a = new LeaderElector({ store: aStore, name: 'ctl', identity: 'A', ttlSeconds: 15, clock: aClock });
    const aWrites = new FencedStore(aStore, () => a.fence(), { electionKey: a.key, logger: aLogger });
    const runA = campaign(a);
    try {
      await waitFor('A to lead', () => a.isLeader(), 15_000);
      const aFence = a.fence();
      assert.ok(aFence);
      assert.equal(aFence.key, '/leases/ctl');
      assert.equal((await shared.get(a.key))?.createRevision, aFence.createRevision, 'the fence is the createRevision of the leader key');
      const objRev = (await aWrites.put('/jobs/j1', 'by A')).revision;

      // A's term ends in the store: its lease goes (expiry, or here revocation), B wins
      const held = await shared.get(a.key);
      assert.ok(held?.lease);
      await shared.revokeLease(held.lease);
      const b = new LeaderElector({ store: newStore(prefix), name: 'ctl', identity: 'B', ttlSeconds: 15 });
      const bWrites = new FencedStore(newStore(prefix), () => b.fence(), { electionKey: b.key });
      const runB = campaign(b);
      try {
        await waitFor('B to lead', () => b.isLeader(), 15_000);
        assert.equal((await shared.get(a.key))?.value, 'B');

        // A has heard nothing: it still believes it leads, with its old fence
        assert.equal(a.isLeader(), true);
        assert.deepEqual(a.fence(), aFence);
        const revisionBefore = await shared.currentRevision();
        await assert.rejects(aWrites.put('/jobs/j1', 'late write by A', { ifRevision: objRev }), (err: unknown) => {
          assert.ok(err instanceof FencedError, `expected FencedError, got ${String(err)}`);
          assert.ok(!(err instanceof NotLeaderError), 'rejected by the store, not by A itself');
          return true;
        });
        await assert.rejects(aWrites.put('/jobs/j2', 'late create by A', { ifAbsent: true }), FencedError);
        await assert.rejects(aWrites.delete('/jobs/j1', { ifRevision: objRev }), FencedError);
        assert.equal(await shared.currentRevision(), revisionBefore, 'none of A late writes landed');
        assert.equal((await shared.get('/jobs/j1'))?.value, 'by A');
        assert.equal(await shared.get('/jobs/j2'), undefined);
        assert.deepEqual(aLogger.warnings, ['write rejected: no longer the leader']);

        // the new leader writes under its own term
        await bWrites.put('/jobs/j1', 'by B', { ifRevision: objRev });
        assert.equal((await shared.get('/jobs/j1'))?.value, 'by B');

        // A "resumes": its renewal finds the lease gone and it steps down; its fence goes with it
        aClock.advance(5_000);
        await waitFor('A to step down', () => !a.isLeader(), 15_000);
        assert.equal(a.fence(), undefined);
        await assert.rejects(aWrites.put('/jobs/j1', 'after stepping down'), NotLeaderError);
        assert.equal((await shared.get('/jobs/j1'))?.value, 'by B');
        assert.equal(b.isLeader(), true);
      } finally {
        await runB.stop();
      }
    } finally {
      aStore.open();
      await runA.stop();
    }
  });

  void it('elector fence: set while leading, a new createRevision each term, undefined after stepping down', async () => {
    const prefix = `/fence-${++prefixCount}`;
    const shared = newStore(prefix);
    const a = new LeaderElector({ store: newStore(prefix), name: 'ctl', identity: 'A', ttlSeconds: 5, retryMs: 50 });
    assert.equal(a.fence(), undefined);
    const runA = campaign(a);
    try {
      await waitFor('A to lead', () => a.isLeader(), 15_000);
      const first = a.fence();
      assert.ok(first);
      const held = await shared.get(a.key);
      assert.ok(held?.lease);
      await shared.revokeLease(held.lease); // A notices through its watch and campaigns again
      await waitFor('A to lead a second term', () => a.fence() !== undefined && a.fence()?.createRevision !== first.createRevision, 15_000);
      assert.ok((a.fence()?.createRevision ?? 0) > first.createRevision);
      assert.equal((await shared.get(a.key))?.createRevision, a.fence()?.createRevision);
    } finally {
      await runA.stop();
    }
    assert.equal(a.fence(), undefined);
    assert.equal(a.isLeader(), false);
  });
});

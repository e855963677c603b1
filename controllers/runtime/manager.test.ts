import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CompactedError, StoreUnavailableError, type PutOptions, type PutResult, type WatchEvent, type WatchOptions } from '../../store/store.js';
import { Informer } from './informer.js';
import { LeaderElector } from './leader-election.js';
import { Manager } from './manager.js';
import { Controller, type Reconciler } from './reconciler.js';
import type { Runnable } from './runnable.js';
import { ControlledStore, openTempStore, waitFor, type TempStore } from './test-support.js';

/** Timers, intervals and immediates alive in this process. */
const timerCount = (): number =>
  process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;

/** A leader-only runnable that records whether it runs and checks that no other instance runs at once. */
class Probe implements Runnable {
  active = false;
  runs = 0;
  constructor(
    readonly name: string,
    private readonly all: Probe[],
    private readonly violations: string[],
  ) {
    all.push(this);
  }
  async run(signal: AbortSignal): Promise<void> {
    const other = this.all.find((p) => p !== this && p.active);
    if (other) this.violations.push(`${this.name} started while ${other.name} was active`);
    this.active = true;
    this.runs++;
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    await delay(5); // some cleanup work before returning
    this.active = false;
  }
}

void describe('Manager', () => {
  let t: TempStore;
  before(async () => {
    t = await openTempStore();
  });
  after(async () => {
    await t.cleanup();
  });

  void it('starts informers first, runs controllers after sync, and stop() leaves nothing running', async () => {
    await t.store.put('/m/a', '{"n":1}');
    const controlled = new ControlledStore(t.store);
    const timersBefore = timerCount();
    const informer = new Informer({ store: controlled, prefix: '/m/', decode: (v) => JSON.parse(v) as { n: number } });
    const reconciled: string[] = [];
    const reconciler: Reconciler = {
      reconcile(key) {
        reconciled.push(key);
        return Promise.resolve({ requeueAfterMs: 60_000 }); // leaves a timer the stop must cancel
      },
    };
    const controller = new Controller({ name: 'c', reconciler, workers: 2 });
    controller.watch(informer, (key) => key);
    const probes: Probe[] = [];
    const violations: string[] = [];
    const always = new Probe('always', [], violations);
    const manager = new Manager();
    manager.addInformer(informer);
    manager.add(controller, { leaderOnly: true });
    manager.add(always);
    new Probe('leader-probe', probes, violations);
    manager.add(probes[0] as Probe, { leaderOnly: true });
    await manager.start();
    assert.equal(informer.hasSynced(), true);
    await waitFor('the reconcile', () => reconciled.length === 1);
    assert.deepEqual(reconciled, ['/m/a']);
    assert.equal(manager.isLeader(), true, 'without election the process leads');
    await waitFor('the runnables to start', () => always.active && probes[0]?.active === true);
    assert.equal(controlled.activeWatches, 1);
    assert.throws(() => manager.add(always), /already started/);
    await manager.stop();
    assert.equal(controlled.activeWatches, 0, 'no watch left');
    assert.equal(always.active, false);
    assert.equal(probes[0]?.active, false);
    assert.equal(manager.isLeader(), false);
    assert.equal(timerCount(), timersBefore, 'no timer left');
    await manager.stop(); // idempotent
  });

  void it('two managers on one store: exactly one leads; when it stops, the other takes over', async () => {
    const probes: Probe[] = [];
    const violations: string[] = [];
    const make = (id: string) => {
      const manager = new Manager({
        leaderElector: new LeaderElector({ store: t.store, name: 'scheduler', identity: id, ttlSeconds: 2, retryMs: 20 }),
      });
      const probe = new Probe(id, probes, violations);
      manager.add(probe, { leaderOnly: true });
      return { manager, probe };
    };
    const one = make('one');
    const two = make('two');
    await Promise.all([one.manager.start(), two.manager.start()]);
    await waitFor('a leader', () => one.manager.isLeader() || two.manager.isLeader());
    // Hold steady for longer than the TTL (renewals every ttl/3 ≈ 667 ms): still exactly one leader.
    for (let i = 0; i < 25; i++) {
      assert.equal(Number(one.manager.isLeader()) + Number(two.manager.isLeader()), 1);
      assert.equal(probes.filter((p) => p.active).length, 1);
      await delay(100);
    }
    const [leader, standby] = one.manager.isLeader() ? [one, two] : [two, one];
    const kv = await t.store.get('/leases/scheduler');
    assert.equal(kv?.value, leader.probe.name);
    assert.equal(leader.probe.runs, 1);
    assert.equal(standby.probe.runs, 0);

    const stoppedAt = Date.now();
    await leader.manager.stop();
    assert.equal(leader.probe.active, false);
    await waitFor('the standby to take over', () => standby.manager.isLeader() && standby.probe.active);
    assert.ok(Date.now() - stoppedAt < 1000, 'takeover follows the revoke, not the TTL');
    assert.equal((await t.store.get('/leases/scheduler'))?.value, standby.probe.name);
    await standby.manager.stop();
    assert.equal(await t.store.get('/leases/scheduler'), undefined, 'the last leader released the key');
    assert.deepEqual(violations, []);
  });

  void it('a leader whose lease is revoked stops its leader-only work; leadership is then won again', async () => {
    const probes: Probe[] = [];
    const violations: string[] = [];
    const managers = ['a', 'b'].map((id) => {
      const manager = new Manager({
        leaderElector: new LeaderElector({ store: t.store, name: 'gc', identity: id, ttlSeconds: 2, retryMs: 20 }),
      });
      const probe = new Probe(id, probes, violations);
      manager.add(probe, { leaderOnly: true });
      return { manager, probe };
    });
    await Promise.all(managers.map((m) => m.manager.start()));
    await waitFor('a leader', () => managers.some((m) => m.probe.active));
    const first = managers.find((m) => m.probe.active);
    assert.ok(first);
    assert.ok(first.manager.isLeader());
    const kv = await t.store.get('/leases/gc');
    assert.ok(kv?.lease);
    await t.store.revokeLease(kv.lease); // as if the lease expired
    await waitFor('the old term to end', () => !first.probe.active || first.probe.runs === 2);
    await waitFor('a new leader', async () => {
      const now = await t.store.get('/leases/gc');
      return now !== undefined && now.lease !== kv.lease && managers.filter((m) => m.probe.active).length === 1;
    });
    assert.equal(managers.filter((m) => m.manager.isLeader()).length, 1);
    await Promise.all(managers.map((m) => m.manager.stop()));
    assert.ok(managers.every((m) => !m.probe.active));
  });

  void it('an election won while shutting down is given back: run() ends, the work never starts, the key is gone', { timeout: 5000 }, async () => {
    // The campaign's put lands after the abort (a server closed right after it started).
    const abort = new AbortController();
    class AbortDuringPut extends ControlledStore {
      override async put(key: string, value: string, options?: PutOptions): Promise<PutResult> {
        const result = await super.put(key, value, options);
        if (key.startsWith('/leases/')) abort.abort();
        return result;
      }
    }
    const elector = new LeaderElector({ store: new AbortDuringPut(t.store), name: 'won-late', identity: 'late', ttlSeconds: 2, retryMs: 20 });
    let workStarted = false;
    await elector.run(abort.signal, async () => {
      workStarted = true;
    });
    assert.equal(workStarted, false);
    assert.equal(elector.isLeader(), false);
    assert.equal(await t.store.get(elector.key), undefined, 'the lease was revoked, taking the key');
  });

  void it('a compacted watch of the leader key keeps the term when the key is unchanged, ends it when not', { timeout: 10_000 }, async () => {
    // The leader's watch of its key fails once with CompactedError (as after a reconnect from a
    // compacted revision); `overwrite` first hands the key to another identity.
    class CompactOnce extends ControlledStore {
      constructor(private readonly overwrite: boolean) {
        super(t.store);
        this.failWatches = 1;
        this.failWith = new CompactedError(2, 1_000);
      }
      override watch(prefix: string, options?: WatchOptions): AsyncIterable<WatchEvent[]> {
        if (this.overwrite && this.failWatches > 0 && prefix.startsWith('/leases/')) {
          const store = t.store;
          const stolen = (async () => {
            const kv = await store.get(prefix);
            if (kv?.lease !== undefined) await store.revokeLease(kv.lease);
            await store.put(prefix, 'someone-else');
          })();
          const inner = super.watch(prefix, options);
          return {
            async *[Symbol.asyncIterator]() {
              await stolen;
              yield* inner;
            },
          };
        }
        return super.watch(prefix, options);
      }
    }
    for (const overwrite of [false, true]) {
      const name = `compacted-${String(overwrite)}`;
      const elector = new LeaderElector({ store: new CompactOnce(overwrite), name, identity: 'me', ttlSeconds: 2, retryMs: 20 });
      const abort = new AbortController();
      let terms = 0;
      let termEnded = false;
      const running = elector.run(abort.signal, async (signal) => {
        terms++;
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        termEnded = true;
        if (overwrite) abort.abort(); // do not campaign again: the stolen key has no lease
      });
      await waitFor(`${name}: the first term`, () => terms === 1);
      await delay(300);
      if (overwrite) {
        await waitFor(`${name}: the term ends`, () => termEnded);
      } else {
        assert.equal(termEnded, false, 'an unchanged key keeps the term');
        assert.equal(elector.isLeader(), true);
        assert.equal(terms, 1);
        // The watch resumed: a change of the key still ends the term.
        await t.store.put(elector.key, 'someone-else');
        await waitFor(`${name}: the term ends on a real change`, () => termEnded);
        abort.abort();
      }
      await running;
      await t.store.delete(elector.key);
    }
  });

  void it('stop() before caches synced makes start() fail and leaves nothing running', { timeout: 5000 }, async () => {
    // A store whose list always fails keeps the informer retrying, unsynced.
    class Unreachable extends ControlledStore {
      override list(): Promise<never> {
        return Promise.reject(new StoreUnavailableError('injected: store unreachable'));
      }
    }
    const timersBefore = timerCount();
    const stuck = new Informer({ store: new Unreachable(t.store), prefix: '/never/', decode: (v) => v, initialBackoffMs: 5 });
    const manager = new Manager();
    manager.addInformer(stuck);
    const started = manager.start();
    await delay(10);
    const stopped = manager.stop();
    await assert.rejects(started, /stopped before caches synced/);
    await stopped; // a hang fails through the test's timeout
    assert.equal(stuck.hasSynced(), false);
    assert.equal(timerCount(), timersBefore, 'no backoff timer left');
  });
});

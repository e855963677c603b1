// The Controller's metrics hook: one observation per reconcile (ok or not), the queue registered
// for the length of a run and its depth readable meanwhile. Real informer over a real SQLite store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeClock } from './clock.js';
import { Informer } from './informer.js';
import type { ControllerMetrics } from './metrics.js';
import { Controller, TerminalError, type Reconciler, type Result } from './reconciler.js';
import { openTempStore, waitFor, type TempStore } from './test-support.js';

class RecordingMetrics implements ControllerMetrics {
  readonly reconciles: { controller: string; ok: boolean; seconds: number }[] = [];
  readonly queues = new Map<string, () => number>();
  registrations = 0;
  observeReconcile(controller: string, seconds: number, ok: boolean): void {
    this.reconciles.push({ controller, ok, seconds });
  }
  registerQueue(controller: string, depth: () => number): () => void {
    this.registrations++;
    this.queues.set(controller, depth);
    return () => this.queues.delete(controller);
  }
}

const decode = (value: string): { n: number } => JSON.parse(value) as { n: number };
const nameOf = (storeKey: string): string => storeKey.slice(storeKey.lastIndexOf('/') + 1);

void describe('Controller metrics hook', () => {
  let t: TempStore;
  before(async () => {
    t = await openTempStore();
  });
  after(async () => {
    await t.cleanup();
  });

  void it('observes every reconcile with its outcome and registers the queue only while running', async () => {
    await t.store.put('/m/ok', '{"n":1}');
    await t.store.put('/m/fails', '{"n":1}');
    await t.store.put('/m/terminal', '{"n":1}');
    const calls = new Map<string, number>();
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const reconciler: Reconciler = {
      async reconcile(key: string): Promise<Result> {
        const n = (calls.get(key) ?? 0) + 1;
        calls.set(key, n);
        if (key === 'fails' && n === 1) throw new Error('first try fails');
        if (key === 'terminal') throw new TerminalError('bad spec');
        if (key === 'block') await blocked;
        return {};
      },
    };
    const metrics = new RecordingMetrics();
    const informer = new Informer({ store: t.store, prefix: '/m/', decode });
    const controller = new Controller({
      name: 'metered',
      reconciler,
      queue: { clock: new FakeClock(), baseDelayMs: 0, maxDelayMs: 0 },
      metrics,
    });
    controller.watch(informer, (key) => nameOf(key));
    assert.equal(metrics.queues.size, 0, 'no queue before run()');

    const abort = new AbortController();
    const running = [informer.run(abort.signal), controller.run(abort.signal)];
    await waitFor('four reconciles (one retry)', () => metrics.reconciles.length === 4);
    const outcomes = (key: string): number => calls.get(key) ?? 0;
    assert.equal(outcomes('fails'), 2);
    assert.deepEqual(
      metrics.reconciles.map((r) => r.controller),
      ['metered', 'metered', 'metered', 'metered'],
    );
    assert.equal(metrics.reconciles.filter((r) => !r.ok).length, 2, 'the failure and the TerminalError');
    assert.ok(metrics.reconciles.every((r) => r.seconds >= 0 && r.seconds < 5));

    // One worker busy on `block`: keys added meanwhile wait in the queue, and the depth says so.
    const depth = metrics.queues.get('metered');
    assert.ok(depth, 'the queue is registered while running');
    await t.store.put('/m/block', '{"n":1}');
    await waitFor('the worker to hold block', () => outcomes('block') === 1);
    await t.store.put('/m/ok', '{"n":2}');
    await t.store.put('/m/fails', '{"n":2}');
    await waitFor('two keys waiting', () => depth() === 2);
    release();
    await waitFor('the queue to drain', () => depth() === 0 && metrics.reconciles.length === 7);

    abort.abort();
    await Promise.all(running);
    assert.equal(metrics.queues.size, 0, 'unregistered when the run ended');
    assert.equal(metrics.registrations, 1);
  });

  void it('setMetrics instruments a controller built without the option', async () => {
    await t.store.put('/s/a', '{"n":1}');
    const metrics = new RecordingMetrics();
    const informer = new Informer({ store: t.store, prefix: '/s/', decode });
    const controller = new Controller({ name: 'late', reconciler: { reconcile: async () => ({}) } });
    controller.watch(informer, (key) => nameOf(key));
    controller.setMetrics(metrics);
    const abort = new AbortController();
    const running = [informer.run(abort.signal), controller.run(abort.signal)];
    await waitFor('a reconcile observed', () => metrics.reconciles.length === 1);
    assert.deepEqual(
      metrics.reconciles.map((r) => [r.controller, r.ok]),
      [['late', true]],
    );
    abort.abort();
    await Promise.all(running);
  });
});

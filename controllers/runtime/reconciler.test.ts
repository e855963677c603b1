import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { FakeClock } from './clock.js';
import { Informer } from './informer.js';
import { applyOutcome, Controller, TerminalError, type OutcomeQueue, type Reconciler, type Result } from './reconciler.js';
import { openTempStore, waitFor, type TempStore } from './test-support.js';

const decode = (value: string): { n: number } => JSON.parse(value) as { n: number };
const nameOf = (storeKey: string): string => storeKey.slice(storeKey.lastIndexOf('/') + 1);

/** A reconciler whose behaviour per call is scripted; records calls. */
class ScriptedReconciler implements Reconciler {
  readonly calls: string[] = [];
  constructor(private readonly script: (key: string, call: number) => Promise<Result> | Result) {}
  async reconcile(key: string): Promise<Result> {
    this.calls.push(key);
    return this.script(key, this.calls.filter((k) => k === key).length);
  }
  count(key: string): number {
    return this.calls.filter((k) => k === key).length;
  }
}

/** Lets pending promise callbacks (and a worker's next step) run. */
const settle = (): Promise<void> => delay(20);

void describe('applyOutcome', () => {
  function fakeQueue(): { ops: string[]; queue: OutcomeQueue } {
    const ops: string[] = [];
    return {
      ops,
      queue: {
        forget: (k) => ops.push(`forget ${k}`),
        add: (k) => ops.push(`add ${k}`),
        addAfter: (k, ms) => ops.push(`addAfter ${k} ${ms}`),
        addRateLimited: (k) => ops.push(`addRateLimited ${k}`),
        numRequeues: () => 1,
      },
    };
  }
  const cases: [string, Parameters<typeof applyOutcome>[2], string, string[]][] = [
    ['success', { result: {} }, 'forget', ['forget k']],
    ['requeueAfter', { result: { requeueAfterMs: 250 } }, 'requeueAfter', ['forget k', 'addAfter k 250']],
    ['requeue now', { result: { requeueAfterMs: 0 } }, 'requeueAfter', ['forget k', 'addAfter k 0']],
    ['error', { error: new Error('x') }, 'retry', ['addRateLimited k']],
    ['terminal', { error: new TerminalError('bad spec') }, 'terminal', ['forget k']],
    ['invalid requeueAfter', { result: { requeueAfterMs: -1 } }, 'retry', ['addRateLimited k']],
  ];
  for (const [name, outcome, action, ops] of cases) {
    void it(`maps ${name}`, () => {
      const q = fakeQueue();
      assert.equal(applyOutcome(q.queue, 'k', outcome), action);
      assert.deepEqual(q.ops, ops);
    });
  }
});

void describe('Controller', () => {
  let t: TempStore;
  before(async () => {
    t = await openTempStore();
  });
  after(async () => {
    await t.cleanup();
  });

  async function setup(prefix: string, reconciler: Reconciler, workers = 1) {
    const clock = new FakeClock();
    const informer = new Informer({ store: t.store, prefix, decode });
    const controller = new Controller({ name: 'test', reconciler, workers, queue: { clock, baseDelayMs: 5, maxDelayMs: 40 } });
    controller.watch(informer, (key) => nameOf(key));
    const abort = new AbortController();
    return {
      clock,
      informer,
      abort,
      startInformer: () => informer.run(abort.signal),
      startController: () => controller.run(abort.signal),
    };
  }

  void it('starts workers only after caches synced, then reconciles every cached key', async () => {
    await t.store.put('/s/a', '{"n":1}');
    await t.store.put('/s/b', '{"n":1}');
    const reconciler = new ScriptedReconciler(() => ({}));
    const s = await setup('/s/', reconciler);
    const controller = s.startController();
    await settle();
    assert.deepEqual(reconciler.calls, [], 'no reconcile before sync');
    const informer = s.startInformer();
    await waitFor('both keys reconciled', () => reconciler.calls.length === 2);
    assert.deepEqual([...reconciler.calls].sort(), ['a', 'b']);
    await t.store.put('/s/a', '{"n":2}');
    await waitFor('a change to reconcile again', () => reconciler.count('a') >= 2);
    await settle();
    assert.equal(reconciler.count('a'), 2, 'one update wakes the key once');
    s.abort.abort();
    await Promise.all([controller, informer]);
  });

  void it('retries errors with growing backoff up to the cap, and forgets on success', async () => {
    await t.store.put('/r/x', '{"n":1}');
    const reconciler = new ScriptedReconciler((_k, call) => {
      if (call <= 5) throw new Error(`failure ${call}`);
      return {};
    });
    const s = await setup('/r/', reconciler);
    const running = [s.startInformer(), s.startController()];
    await waitFor('the first attempt', () => reconciler.count('x') === 1);
    // Backoff 5, 10, 20, 40, 40 (capped): nothing before the delay, a retry right at it.
    for (const [attempt, backoff] of [[2, 5], [3, 10], [4, 20], [5, 40], [6, 40]] as const) {
      await waitFor(`the backoff timer before attempt ${attempt}`, () => s.clock.pendingTimers() === 1);
      s.clock.advance(backoff - 1);
      await settle();
      assert.equal(reconciler.count('x'), attempt - 1, `no retry ${attempt} before ${backoff} ms`);
      s.clock.advance(1);
      await waitFor(`attempt ${attempt}`, () => reconciler.count('x') === attempt);
    }
    await settle();
    s.clock.advance(10_000);
    await settle();
    assert.equal(reconciler.count('x'), 6, 'success ends the retries');
    assert.equal(s.clock.pendingTimers(), 0);
    s.abort.abort();
    await Promise.all(running);
  });

  void it('does not retry a TerminalError', async () => {
    await t.store.put('/t/x', '{"n":1}');
    const reconciler = new ScriptedReconciler(() => {
      throw new TerminalError('spec can never work');
    });
    const s = await setup('/t/', reconciler);
    const running = [s.startInformer(), s.startController()];
    await waitFor('the attempt', () => reconciler.count('x') === 1);
    await settle();
    assert.equal(s.clock.pendingTimers(), 0, 'no retry scheduled');
    s.clock.advance(1_000_000);
    await settle();
    assert.equal(reconciler.count('x'), 1);
    s.abort.abort();
    await Promise.all(running);
  });

  void it('honours requeueAfterMs', async () => {
    await t.store.put('/q/x', '{"n":1}');
    const reconciler = new ScriptedReconciler((_k, call) => (call === 1 ? { requeueAfterMs: 1000 } : {}));
    const s = await setup('/q/', reconciler);
    const running = [s.startInformer(), s.startController()];
    await waitFor('the attempt', () => reconciler.count('x') === 1);
    await waitFor('the requeue timer', () => s.clock.pendingTimers() === 1);
    s.clock.advance(999);
    await settle();
    assert.equal(reconciler.count('x'), 1);
    s.clock.advance(1);
    await waitFor('the requeue', () => reconciler.count('x') === 2);
    s.abort.abort();
    await Promise.all(running);
  });

  void it('never reconciles one key on two workers at once, and sees the latest state', async () => {
    const prefix = '/w/';
    const active = new Map<string, number>();
    let maxPerKey = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    const seen = new Map<string, number>();
    const reconciler: Reconciler = {
      async reconcile(key) {
        const now = (active.get(key) ?? 0) + 1;
        active.set(key, now);
        maxPerKey = Math.max(maxPerKey, now);
        maxConcurrent = Math.max(maxConcurrent, ++concurrent);
        await delay(3);
        const kv = await t.store.get(`${prefix}${key}`);
        if (kv) seen.set(key, (JSON.parse(kv.value) as { n: number }).n);
        active.set(key, now - 1);
        concurrent--;
        return {};
      },
    };
    const s = await setup(prefix, reconciler, 4);
    const running = [s.startInformer(), s.startController()];
    for (let i = 1; i <= 60; i++) await t.store.put(`${prefix}k${i % 6}`, JSON.stringify({ n: i }));
    await waitFor('the last state of every key to be reconciled', () =>
      [0, 1, 2, 3, 4, 5].every((j) => seen.get(`k${j}`) === 54 + (j === 0 ? 6 : j)),
    );
    assert.equal(maxPerKey, 1);
    assert.ok(maxConcurrent > 1, 'different keys run in parallel');
    s.abort.abort();
    await Promise.all(running);
  });

  void it('rejects bad options naming the option', () => {
    const reconciler = new ScriptedReconciler(() => ({}));
    assert.throws(() => new Controller({ name: '', reconciler }), /option name must be a non-empty string/);
    assert.throws(() => new Controller({ name: 'c', reconciler, workers: 0 }), /option workers must be an integer >= 1/);
  });
});

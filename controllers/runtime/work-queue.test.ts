import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from './clock.js';
import { WorkQueue } from './work-queue.js';

void describe('WorkQueue', () => {
  void it('dedupes a key that is already waiting and keeps order', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    queue.add('a');
    queue.add('b');
    queue.add('a');
    assert.equal(queue.len(), 2);
    assert.equal(await queue.get(), 'a');
    assert.equal(await queue.get(), 'b');
    assert.equal(queue.len(), 0);
  });

  void it('never hands one key to two workers; a key added while processed is re-queued after done', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    queue.add('a');
    assert.equal(await queue.get(), 'a');
    queue.add('a');
    queue.add('a');
    assert.equal(queue.len(), 0, 'not handed out while a worker holds it');
    const second = queue.get();
    let handed: string | undefined;
    void second.then((k) => (handed = k));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(handed, undefined);
    queue.done('a');
    assert.equal(await second, 'a', 'queued exactly once after done');
    queue.done('a');
    assert.equal(queue.len(), 0);
  });

  void it('a waiting worker receives a key added later', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    const pending = queue.get();
    queue.add('x');
    assert.equal(await pending, 'x');
  });

  void it('addAfter delays a key on the clock and keeps the earliest time', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    queue.addAfter('a', 100);
    queue.addAfter('a', 50);
    queue.addAfter('a', 500);
    assert.equal(queue.delayedLen(), 1);
    assert.equal(clock.pendingTimers(), 1, 'the later timer was cancelled');
    clock.advance(49);
    assert.equal(queue.len(), 0);
    clock.advance(1);
    assert.equal(queue.len(), 1);
    assert.equal(await queue.get(), 'a');
    queue.addAfter('b', 0);
    assert.equal(queue.len(), 1, 'zero delay queues at once');
  });

  void it('addRateLimited grows exponentially from the base up to the cap; forget resets', () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock, baseDelayMs: 5, maxDelayMs: 1_000_000 });
    const delays: number[] = [];
    for (let i = 0; i < 30; i++) {
      delays.push(queue.nextBackoffMs('k'));
      queue.addRateLimited('k');
    }
    assert.deepEqual(delays.slice(0, 5), [5, 10, 20, 40, 80]);
    assert.equal(delays.at(-1), 1_000_000, 'capped at 1000 s');
    assert.ok(delays.every((d, i) => i === 0 || d >= (delays[i - 1] ?? 0)));
    assert.equal(queue.numRequeues('k'), 30);
    queue.forget('k');
    assert.equal(queue.numRequeues('k'), 0);
    assert.equal(queue.nextBackoffMs('k'), 5);
    // Thousands of failures stay at the cap, never Infinity/NaN.
    for (let i = 0; i < 2000; i++) queue.addRateLimited('k');
    assert.equal(queue.nextBackoffMs('k'), 1_000_000);
  });

  void it('a rate-limited key becomes ready after its backoff', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock, baseDelayMs: 10, maxDelayMs: 100 });
    queue.addRateLimited('k'); // 10 ms
    clock.advance(9);
    assert.equal(queue.len(), 0);
    clock.advance(1);
    assert.equal(await queue.get(), 'k');
    queue.done('k');
    queue.addRateLimited('k'); // 20 ms
    clock.advance(19);
    assert.equal(queue.len(), 0);
    clock.advance(1);
    assert.equal(queue.len(), 1);
  });

  void it('shutDown releases waiting workers, cancels timers and ignores later adds', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    const waiting = queue.get();
    queue.addAfter('late', 1000);
    queue.shutDown();
    assert.equal(await waiting, undefined);
    assert.equal(clock.pendingTimers(), 0);
    queue.add('x');
    assert.equal(await queue.get(), undefined);
    queue.shutDown();
  });

  void it('rejects bad input with a message naming the field', () => {
    assert.throws(() => new WorkQueue({ baseDelayMs: -1 }), /baseDelayMs must be a finite number >= 0/);
    assert.throws(() => new WorkQueue({ baseDelayMs: 10, maxDelayMs: 5 }), /maxDelayMs \(5\) must be >= baseDelayMs/);
    const queue = new WorkQueue({ clock: new FakeClock() });
    assert.throws(() => queue.add(''), /key must be a non-empty string/);
    assert.throws(() => queue.addAfter('a', Number.NaN), /delayMs must be a finite number/);
  });
});

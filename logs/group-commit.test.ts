// GroupCommit with a flush the test controls: callers share flushes, and none is acknowledged
// by a flush that started before it asked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupCommit } from './group-commit.js';

class ControlledFlush {
  readonly started: { resolve: () => void; reject: (err: Error) => void }[] = [];
  readonly flush = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      this.started.push({ resolve, reject });
    });
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

void describe('GroupCommit', () => {
  void it('shares one flush among callers of one turn, and one more among callers that came during it', async () => {
    const control = new ControlledFlush();
    const commit = new GroupCommit(control.flush);
    const settled: string[] = [];
    const first = [1, 2, 3].map((n) => commit.sync().then(() => settled.push(`a${n}`)));
    await turn();
    assert.equal(control.started.length, 1);
    assert.equal(commit.busy, true);
    const second = [1, 2, 3, 4, 5].map((n) => commit.sync().then(() => settled.push(`b${n}`)));
    await turn();
    assert.equal(control.started.length, 1, 'the second group waits for a flush that starts after it asked');
    control.started[0]?.resolve();
    await Promise.all(first);
    await turn();
    assert.deepEqual(settled, ['a1', 'a2', 'a3']);
    assert.equal(control.started.length, 2);
    control.started[1]?.resolve();
    await Promise.all(second);
    assert.equal(settled.length, 8);
    await commit.idle();
    assert.equal(commit.busy, false);
  });

  void it('a failed flush rejects the callers it covered; the next callers get a fresh flush', async () => {
    const control = new ControlledFlush();
    const commit = new GroupCommit(control.flush);
    const failed = commit.sync();
    await turn();
    const later = commit.sync();
    control.started[0]?.reject(new Error('EIO'));
    await assert.rejects(failed, /EIO/);
    await turn();
    assert.equal(control.started.length, 2);
    control.started[1]?.resolve();
    await later;
  });
});

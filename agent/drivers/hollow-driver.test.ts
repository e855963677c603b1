import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HollowDriver } from './hollow-driver.js';
import { type TaskConfig, TaskNotFoundError } from './task-driver.js';

const task = (jobUid: string, attempt: number): TaskConfig => ({
  jobUid,
  namespace: 'default',
  name: 'hollow',
  attempt,
  command: ['/bin/true'],
  args: [],
  env: {},
  resources: {},
});

void describe('HollowDriver listOwned/removeOwned', () => {
  void it('lists its in-memory tasks, running or ended; removeOwned kills a running one and forgets it', async () => {
    const d = new HollowDriver({ durationMs: 60_000 });
    const quick = new HollowDriver();
    try {
      const running = await d.start(task('job-a', 2));
      const waiting = d.wait(running.taskId);
      assert.deepEqual(await d.listOwned(), [{ taskId: 'job-a.2', jobUid: 'job-a', attempt: 2, running: true, ref: 'job-a.2' }]);

      const ended = await quick.start(task('job-b', 0));
      await quick.wait(ended.taskId);
      assert.deepEqual(await quick.listOwned(), [{ taskId: 'job-b.0', jobUid: 'job-b', attempt: 0, running: false, ref: 'job-b.0' }]);

      const [owned] = await d.listOwned();
      await d.removeOwned(owned!);
      assert.deepEqual(await waiting, { exitCode: 137, signal: 'SIGKILL', reason: 'Stopped', finishedAt: (await waiting).finishedAt });
      assert.deepEqual(await d.listOwned(), []);
      await assert.rejects(d.inspect(running.taskId), TaskNotFoundError);
      await d.removeOwned(owned!); // already gone: resolves
    } finally {
      await d.close();
      await quick.close();
    }
  });
});

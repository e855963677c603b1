// Fault: kill -9 of etcd (a single member) while clients create jobs through the server and jobs
// run; etcd is started again on its data dir. Every client operation and watch event is recorded
// and checked: nothing acknowledged lost, no phantom, revisions monotonic, every job ends, no job
// with two tasks at once, no orphan one reconcile period after recovery.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '../harness/e2e.js';
import { type FaultCluster, jobsNotSucceeded, liveTasks, markedJob, startFaultCluster } from './faults-harness.js';
import { assertNoViolations } from './history.js';

const JOBS = 60;
/** No user retries: a task the agent stopped when it fenced itself (it lost the server for its lease TTL) is re-queued without using one. */
const RETRIES = { retryPolicy: { maxRetries: 0 } };

void describe('fault: kill -9 of etcd under load', () => {
  void it('after etcd restarts nothing acknowledged is lost and every job ends once', { timeout: 360_000 }, async () => {
    let c: FaultCluster | undefined;
    try {
      c = await startFaultCluster({ name: 'ke', store: 'etcd', agents: ['ke-node'] });
      const { history, marker } = c;
      const e = c.etcd!;
      const names = Array.from({ length: JOBS }, (_, i) => `ke-${i}`);
      // paced (>= 2 s of creates), so that creates are still coming when the first tasks run and etcd is killed
      const load = c.load({ targets: () => [c!.target()], names, manifest: (n) => markedJob(n, marker, 2, RETRIES), clients: 4, pauseMs: 150 });

      await waitFor('creates acknowledged and tasks running', async () => (load.acknowledged() >= JOBS / 4 && (await liveTasks(marker)).size > 0 ? true : undefined), 120_000);
      await e.kill('SIGKILL');
      // the outage lasts until the clients have seen it (a create without acknowledgement)
      const before = history.operations.length;
      await waitFor('a create to fail while etcd is down', async () => (history.operations.slice(before).some((o) => o.kind === 'create' && o.outcome !== 'ok') ? true : undefined), 60_000, 50);
      await e.start();
      await load.done;
      assert.ok(load.acknowledged() >= JOBS / 4);

      const { final, summary, violations } = await c.verify({ settleMs: 240_000, owned: (key) => key.startsWith('default/ke-') });
      console.log(`kill -9 etcd: ${summary}`);
      assertNoViolations(violations);
      assert.deepEqual(jobsNotSucceeded(final, 'ke-'), [], 'a fault must not fail a job');
    } finally {
      await c?.dispose();
    }
  });
});

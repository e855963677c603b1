// Fault: kill -9 of the server while clients apply jobs and jobs run, on the embedded SQLite
// store and on etcd; the server is started again on the same ports and data dir (the agent keeps
// running and reconnects). Every client operation and watch event is recorded and the checker runs
// over all of it: nothing acknowledged lost, no phantom, revisions monotonic, every job ends, no
// job with two tasks at once, no orphan one reconcile period after recovery.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '../harness/e2e.js';
import { type FaultCluster, jobsNotSucceeded, liveTasks, markedJob, startFaultCluster } from './faults-harness.js';
import { assertNoViolations } from './history.js';

const JOBS = 80;
/** No user retries: a task the agent stopped while it had lost the server (it fences itself after the lease TTL) is re-queued without using one. */
const RETRIES = { retryPolicy: { maxRetries: 0 } };

for (const storeKind of ['sqlite', 'etcd'] as const) {
  void describe(`fault: kill -9 of the server under load (${storeKind})`, () => {
    void it('loses no acknowledged job, makes no phantom, and every job ends once', { timeout: 360_000 }, async () => {
      let c: FaultCluster | undefined;
      try {
        c = await startFaultCluster({ name: `ks-${storeKind}`, store: storeKind, agents: ['ks-node'] });
        const { history, marker, server: s } = c;
        const names = Array.from({ length: JOBS }, (_, i) => `ks-${i}`);
        // paced (>= 3 s of creates), so that creates are still coming when the first tasks run and the server is killed
        const load = c.load({ targets: () => [s.target()], names, manifest: (n) => markedJob(n, marker, 2, RETRIES), clients: 4, pauseMs: 150 });

        // kill while creates are in flight and tasks run
        await waitFor('creates acknowledged and tasks running', async () => (load.acknowledged() >= JOBS / 4 && (await liveTasks(marker)).size > 0 ? true : undefined), 120_000);
        await s.kill9();
        await s.restart();
        await load.done;
        assert.ok(load.acknowledged() > JOBS / 4, `only ${load.acknowledged()} creates acknowledged`);
        assert.ok(
          history.operations.some((o) => o.kind === 'create' && o.outcome !== 'ok'),
          'the kill happened while creates were in flight (some create got no acknowledgement)',
        );

        const { final, summary, violations } = await c.verify({ settleMs: 240_000, owned: (key) => key.startsWith('default/ks-') });
        console.log(`kill -9 server (${storeKind}): ${summary}`);
        assertNoViolations(violations);
        assert.deepEqual(jobsNotSucceeded(final, 'ks-'), [], 'a fault must not fail a job');
      } finally {
        await c?.dispose();
      }
    });
  });
}

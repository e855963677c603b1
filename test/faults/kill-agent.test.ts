// Faults of an agent with running jobs, history-checked (test/run-jobs-e2e.test.ts has the
// single-job versions): kill -9 of the agent under load, then it is started again on its data dir
// (it adopts its tasks); kill -STOP of an agent past its lease (NodeLost: its jobs move to another
// node), then -CONT (its stale tasks are stopped within one reconcile period; the server's record
// never shows two live attempts of one job).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cwdOf, listJobs, waitFor } from '../harness/e2e.js';
import { type FaultCluster, gatedJob, jobsNotSucceeded, liveTasks, markedJob, RECONCILE_PERIOD_MS, startFaultCluster } from './faults-harness.js';
import { assertNoViolations } from './history.js';

/** No user retries: a task stopped by a fault is re-queued without using one. */
const RETRIES = { retryPolicy: { maxRetries: 0 } };

void describe('fault: kill -9 of an agent with running jobs', () => {
  void it('the restarted agent adopts its tasks; nothing lost, nothing run twice at once', { timeout: 300_000 }, async () => {
    let c: FaultCluster | undefined;
    try {
      c = await startFaultCluster({ name: 'ka', store: 'sqlite', agents: ['ka-node'] });
      const { marker, server: s } = c;
      const names = Array.from({ length: 40 }, (_, i) => `ka-${i}`);
      const load = c.load({ targets: () => [s.target()], names, manifest: (n) => markedJob(n, marker, 3, RETRIES), clients: 4 });

      await waitFor('several tasks running', async () => ((await liveTasks(marker)).size >= 3 ? true : undefined), 120_000);
      const agent = c.agent('ka-node');
      agent.kill('SIGKILL');
      await agent.exited;
      await c.startAgent('ka-node', { waitReady: false });
      await load.done;

      const { final, summary, violations } = await c.verify({ settleMs: 180_000, owned: (key) => key.startsWith('default/ka-') });
      console.log(`kill -9 agent: ${summary}`);
      assertNoViolations(violations);
      assert.deepEqual(jobsNotSucceeded(final, 'ka-'), [], 'a fault must not fail a job');
    } finally {
      await c?.dispose();
    }
  });
});

void describe('fault: kill -STOP of an agent past its lease, then -CONT', () => {
  void it('its jobs move (NodeLost); after -CONT its stale tasks stop; no two live attempts overlap', { timeout: 300_000 }, async () => {
    let c: FaultCluster | undefined;
    try {
      c = await startFaultCluster({ name: 'sa', store: 'sqlite', agents: ['sa-node-a'], watch: false });
      const { marker, server: s } = c;
      const target = c.target;
      const gate = join(c.work, 'gate'); // the tasks run until this file exists
      const agentA = c.agent('sa-node-a');
      const names = Array.from({ length: 6 }, (_, i) => `sa-${i}`);
      const load = c.load({ targets: () => [s.target()], names, manifest: (n) => gatedJob(n, marker, gate), clients: 2 });
      await load.done;
      assert.equal(load.acknowledged(), names.length);
      await waitFor('every task running on node a', async () => ((await liveTasks(marker)).size === names.length ? true : undefined), 120_000);
      await c.startAgent('sa-node-b');

      const stoppedAt = Date.now();
      agentA.kill('SIGSTOP');
      let staleGoneAt = Number.POSITIVE_INFINITY;
      try {
        await waitFor(
          'every job running again on node b',
          async () => {
            const jobs = (await listJobs(target())).filter((j) => j.metadata.name.startsWith('sa-'));
            return jobs.length === names.length && jobs.every((j) => j.status?.phase === 'Running' && j.status.nodeName === 'sa-node-b') ? true : undefined;
          },
          120_000,
          250,
        );
        const moved = await listJobs(target());
        for (const job of moved.filter((j) => j.metadata.name.startsWith('sa-'))) {
          assert.ok(job.status?.recentAttempts?.some((a) => a.nodeName === 'sa-node-a' && a.reason === 'NodeLost'), JSON.stringify(job.status));
        }
      } finally {
        agentA.kill('SIGCONT');
      }
      // node a is back: within one reconcile period (plus a margin: a shared machine) its copies are gone
      const staleLeft = await waitFor(
        "node a's stale tasks to stop",
        async () => {
          const onA: string[] = [];
          for (const groups of (await liveTasks(marker)).values()) {
            for (const group of groups) if ((await cwdOf(Number(group)))?.startsWith(agentA.dataDir) === true) onA.push(group);
          }
          return onA.length === 0 ? onA : undefined;
        },
        RECONCILE_PERIOD_MS + 30_000,
        200,
      );
      staleGoneAt = Date.now();
      assert.deepEqual(staleLeft, []);
      assert.equal((await liveTasks(marker)).size, names.length, "node b's tasks still run (they were not stopped with node a's)");

      await writeFile(gate, '');
      // While node a was stopped its tasks could not be stopped by anyone: the process-level check
      // covers the time before -STOP and after its stale tasks were gone; the server's record
      // (recentAttempts) is checked throughout.
      const { final, summary, violations } = await c.verify({
        settleMs: 120_000,
        owned: (key) => key.startsWith('default/sa-'),
        tasksExclusiveDuring: (at) => at < stoppedAt || at > staleGoneAt,
      });
      console.log(`kill -STOP agent: ${summary}; node a's stale tasks were gone ${staleGoneAt - stoppedAt} ms after -STOP`);
      assertNoViolations(violations);
      assert.ok(final.jobs.filter((j) => j.metadata.name.startsWith('sa-')).every((j) => j.status?.phase === 'Succeeded'), JSON.stringify(final.jobs.map((j) => j.status)));
    } finally {
      await c?.dispose(); // sends SIGCONT to a paused agent first
    }
  });
});

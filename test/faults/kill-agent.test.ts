// Faults of an agent with running jobs, history-checked (test/run-jobs-e2e.test.ts has the
// single-job versions): kill -9 of the agent under load, then it is started again on its data dir
// (it adopts its tasks); kill -STOP of an agent past its lease (NodeLost: its jobs move to another
// node), then -CONT (its stale tasks are stopped within one reconcile period; the server's record
// never shows two live attempts of one job).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AgentProcess } from '../harness/agent.js';
import { cwdOf, JOBS_API, killProcessesWith, listJobs, waitFor, type Target } from '../harness/e2e.js';
import {
  FAST_NODE_ARGS,
  gatedJob,
  liveTasks,
  markedJob,
  nodeReady,
  orphansAfterRecovery,
  RECONCILE_PERIOD_MS,
  readBack,
  readFinalState,
  settle,
  startFaultAgent,
  startLoad,
  startRestartableServer,
  startTaskSampler,
  startWatcher,
  type RestartableServer,
} from './faults-harness.js';
import { assertNoViolations, checkAll, History, summarize } from './history.js';

/** No user retries: a task stopped by a fault is re-queued without using one. */
const RETRIES = { retryPolicy: { maxRetries: 0 } };

void describe('fault: kill -9 of an agent with running jobs', () => {
  void it('the restarted agent adopts its tasks; nothing lost, nothing run twice at once', { timeout: 300_000 }, async () => {
    const work = await mkdtemp(join(tmpdir(), 'os-faults-kill-agent-'));
    const marker = `os-faults-ka-${process.pid}`;
    const history = new History();
    let server: RestartableServer | undefined;
    let agent: AgentProcess | undefined;
    const stoppers: Array<() => Promise<void>> = [];
    try {
      server = await startRestartableServer(join(work, 'server'), { extraArgs: FAST_NODE_ARGS });
      const s = server;
      const target = (): Target => s.target();
      const agentDir = join(work, 'agent');
      agent = await startFaultAgent(s.current(), 'ka-node', agentDir);
      await nodeReady(target, 'ka-node');
      const sampler = startTaskSampler(history, marker);
      stoppers.push(() => sampler.stop());
      const watcher = startWatcher(history, target, `${JOBS_API}/namespaces/default/jobs`);
      stoppers.push(() => watcher.stop());
      const names = Array.from({ length: 40 }, (_, i) => `ka-${i}`);
      const load = startLoad({ history, targets: () => [s.target()], names, manifest: (n) => markedJob(n, marker, 3, RETRIES), clients: 4 });
      stoppers.push(() => load.stop());

      await waitFor('several tasks running', async () => ((await liveTasks(marker)).size >= 3 ? true : undefined), 120_000);
      agent.kill('SIGKILL');
      await agent.exited;
      agent = await startFaultAgent(s.current(), 'ka-node', agentDir);
      await load.done;

      await settle(history, target, 180_000);
      const orphans = await orphansAfterRecovery({ marker });
      for (const stop of stoppers.splice(0)) await stop();
      const final = await readFinalState(target);
      await readBack(history, target, final);
      console.log(`kill -9 agent: ${summarize(history, final)}`);
      assertNoViolations(checkAll(history, final, { orphans, owned: (key) => key.startsWith('default/ka-') }));
    } finally {
      for (const stop of stoppers) await stop();
      await agent?.stop();
      await server?.stop();
      await killProcessesWith(marker);
      await rm(work, { recursive: true, force: true });
    }
  });
});

void describe('fault: kill -STOP of an agent past its lease, then -CONT', () => {
  void it('its jobs move (NodeLost); after -CONT its stale tasks stop; no two live attempts overlap', { timeout: 300_000 }, async () => {
    const work = await mkdtemp(join(tmpdir(), 'os-faults-stop-agent-'));
    const marker = `os-faults-sa-${process.pid}`;
    const gate = join(work, 'gate'); // the tasks run until this file exists
    const history = new History();
    let server: RestartableServer | undefined;
    let agentA: AgentProcess | undefined;
    let agentB: AgentProcess | undefined;
    const stoppers: Array<() => Promise<void>> = [];
    try {
      server = await startRestartableServer(join(work, 'server'), { extraArgs: FAST_NODE_ARGS });
      const s = server;
      const target = (): Target => s.target();
      agentA = await startFaultAgent(s.current(), 'sa-node-a', join(work, 'agent-a'));
      await nodeReady(target, 'sa-node-a');
      const sampler = startTaskSampler(history, marker);
      stoppers.push(() => sampler.stop());
      const names = Array.from({ length: 6 }, (_, i) => `sa-${i}`);
      const load = startLoad({ history, targets: () => [s.target()], names, manifest: (n) => gatedJob(n, marker, gate), clients: 2 });
      await load.done;
      assert.equal(load.acknowledged(), names.length);
      await waitFor('every task running on node a', async () => ((await liveTasks(marker)).size === names.length ? true : undefined), 120_000);
      agentB = await startFaultAgent(s.current(), 'sa-node-b', join(work, 'agent-b'));
      await nodeReady(target, 'sa-node-b');

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
            for (const group of groups) if ((await cwdOf(Number(group)))?.startsWith(agentA!.dataDir) === true) onA.push(group);
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
      await settle(history, target, 120_000);
      const orphans = await orphansAfterRecovery({ marker });
      for (const stop of stoppers.splice(0)) await stop();
      const final = await readFinalState(target);
      await readBack(history, target, final);
      console.log(`kill -STOP agent: ${summarize(history, final)}; node a's stale tasks were gone ${staleGoneAt - stoppedAt} ms after -STOP`);
      // While node a was stopped its tasks could not be stopped by anyone: the process-level check
      // covers the time before -STOP and after its stale tasks were gone; the server's record
      // (recentAttempts) is checked throughout.
      assertNoViolations(
        checkAll(history, final, { orphans, owned: (key) => key.startsWith('default/sa-'), tasksExclusiveDuring: (at) => at < stoppedAt || at > staleGoneAt }),
      );
      assert.ok(final.jobs.filter((j) => j.metadata.name.startsWith('sa-')).every((j) => j.status?.phase === 'Succeeded'), JSON.stringify(final.jobs.map((j) => j.status)));
    } finally {
      agentA?.kill('SIGCONT');
      for (const stop of stoppers) await stop();
      await agentA?.stop();
      await agentB?.stop();
      await server?.stop();
      await killProcessesWith(marker);
      await rm(work, { recursive: true, force: true });
    }
  });
});

// Faults of an agent running container jobs, history-checked (test/container-jobs-e2e.test.ts
// has the single-job versions): kill -9 of the agent while podman jobs run, then it is started
// again on its data dir (it adopts the containers, or — if it came back after its lease ran out —
// the jobs were re-queued and its stale containers must go); and SIGTERM with --shutdown-mode
// stop (the default), after which nothing of ours remains: no container, no task process, and the
// jobs are re-queued (NodeLost, no retry used) and run once the agent is back. The
// incus variant of the kill -9 runs when an incus daemon does (optional on a developer machine).
// Live tasks are sampled as the runtime's running containers (instances) labelled for the test's
// node, so "no job with two tasks at once" is checked on what the runtime ran; the orphan check
// looks for containers in any state labelled for the node, and for processes carrying the marker.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it, type TestContext } from 'node:test';
import type { Job } from '../../api/v1/index.js';
import { api, listJobs, waitFor } from '../harness/e2e.js';
import { containerJobManifest, containersConf, requireIncus, requirePodman } from '../harness/runtimes.js';
import { findOrphans, liveContainers, liveInstances, startFaultCluster, type FaultCluster } from './faults-harness.js';
import { assertNoViolations } from './history.js';

type Driver = 'podman' | 'incus';

/** No user retries: a fault must not use one (an attempt it ends is re-queued as NodeLost). */
const RETRIES = { retryPolicy: { maxRetries: 0 } };

/** A container job sleeping `seconds`; its argv carries `MARKER=NAME` like markedJob's (the orphan check looks for it). */
function containerJob(name: string, driver: Driver, marker: string, seconds: number): Record<string, unknown> {
  return containerJobManifest(name, driver, ['/bin/sh', '-c', `sleep ${seconds}; echo done`, `${marker}=${name}`], RETRIES);
}

/** Whether an incus daemon runs here (`pgrep -x incusd`). */
function incusdRuns(): Promise<boolean> {
  return new Promise((resolve) => execFile('pgrep', ['-x', 'incusd'], (err) => resolve(err === null)));
}

/** The fixture for container jobs of `driver` on one agent `node` (its runtime sampled, its containers orphan-checked). */
function containerCluster(driver: Driver, name: string, node: string, agentArgs: readonly string[] = []): Promise<FaultCluster> {
  return startFaultCluster({
    name,
    store: 'sqlite',
    agents: [node],
    agentArgs: ['--drivers', driver, ...agentArgs],
    agentEnv: { CONTAINERS_CONF: containersConf() },
    ...(driver === 'podman' ? { podmanNodes: [node] } : { incusNodes: [node] }),
    sampleTasks: driver === 'podman' ? () => liveContainers([node]) : () => liveInstances([node]),
    sampleIntervalMs: 500, // a runtime's CLI costs more than a look at /proc
  });
}

const describeJob = (j: Job): string => `${j.metadata.name}: ${String(j.status?.phase)} ${String(j.status?.reason)} attempts ${String(j.status?.attempts)} ${JSON.stringify(j.status?.recentAttempts?.map((a) => a.reason))}`;

/** kill -9 of the agent while `jobs` container jobs run, restart on its data dir, full history check. */
async function killAgentWhileContainersRun(t: TestContext, driver: Driver, prefix: string, jobs: number, seconds: number): Promise<void> {
  const node = `${prefix}-node-${process.pid}`;
  const live = driver === 'podman' ? () => liveContainers([node]) : () => liveInstances([node]);
  let c: FaultCluster | undefined;
  try {
    c = await containerCluster(driver, prefix, node);
    const { marker } = c;
    const names = Array.from({ length: jobs }, (_, i) => `${prefix}-${i}`);
    const load = c.load({ targets: () => [c!.target()], names, manifest: (n) => containerJob(n, driver, marker, seconds), clients: 2 });
    await load.done;
    assert.equal(load.acknowledged(), jobs);
    // every job Running (its start reported: the agent holds its handle) and its container up
    await waitFor(
      `${jobs} ${driver} jobs Running`,
      async () => {
        const phases = (await listJobs(c!.target())).filter((j) => j.metadata.name.startsWith(`${prefix}-`)).map((j) => j.status?.phase);
        return phases.length === jobs && phases.every((p) => p === 'Running') && (await live()).size === jobs ? true : undefined;
      },
      120_000,
      250,
    );

    const agent = c.agent(node);
    const killedAt = Date.now();
    agent.kill('SIGKILL');
    await agent.exited;
    const survived = (await live()).size;
    const restarted = await c.startAgent(node, { waitReady: false });
    const adoptions = (): number => restarted.output().split('re-adopted task').length - 1;
    const adoptedAt = await waitFor('the restarted agent to re-adopt the tasks', async () => (adoptions() >= survived ? Date.now() : undefined), 30_000, 100).catch(() => undefined);

    const { final, summary, violations, settledMs } = await c.verify({ settleMs: 120_000, owned: (key) => key.startsWith(`default/${prefix}-`) });
    const ours = final.jobs.filter((j) => j.metadata.name.startsWith(`${prefix}-`));
    const adopted = ours.filter((j) => j.status?.attempts === 1).length;
    t.diagnostic(
      `kill -9 agent (${driver}): ${jobs} tasks running at the kill, ${survived} still running after it; the restarted agent re-adopted ${adoptions()}` +
        `${adoptedAt !== undefined ? ` ${adoptedAt - killedAt} ms after the kill` : ' (not all within 30 s)'}; ` +
        `${adopted}/${jobs} jobs finished in their first attempt (adopted), ${jobs - adopted} re-run after NodeLost; every job ended ${settledMs} ms after the restart`,
    );
    t.diagnostic(`kill -9 agent (${driver}): ${summary}`);
    for (const job of ours.filter((j) => j.status?.phase !== 'Succeeded' || j.status.attempts !== 1)) t.diagnostic(`  ${describeJob(job)}`);
    assertNoViolations(violations);
    // a fault uses no retry: every job succeeds (in its first attempt, or after a NodeLost re-queue)
    assert.deepEqual(ours.filter((j) => j.status?.phase !== 'Succeeded').map(describeJob), []);
  } finally {
    await c?.dispose();
  }
}

void describe('fault: kill -9 of an agent running podman jobs', () => {
  void it('the restarted agent adopts its containers; every job ends once; no container left one reconcile period after recovery', { timeout: 300_000 }, async (t) => {
    await requirePodman();
    await killAgentWhileContainersRun(t, 'podman', 'kp', 4, 8);
  });
});

void describe('fault: kill -9 of an agent running incus jobs', () => {
  void it('the restarted agent adopts its instances; every job ends once; no instance left one reconcile period after recovery', { timeout: 300_000 }, async (t) => {
    if (!(await incusdRuns())) {
      t.skip('incus is not running here (no incusd process); the podman variant covers the fault');
      return;
    }
    await requireIncus(); // a daemon that runs must be usable: fail, not skip
    await killAgentWhileContainersRun(t, 'incus', 'ki', 2, 10);
  });
});

void describe('agent SIGTERM with --shutdown-mode stop while podman jobs run', () => {
  void it('stops them, leaving no container or task process; the jobs are re-queued without using a retry and run when the agent is back', { timeout: 300_000 }, async (t) => {
    await requirePodman();
    const prefix = 'kt';
    const node = `${prefix}-node-${process.pid}`;
    const jobs = 3;
    /** Long enough that every task still runs at SIGTERM; the second run takes as long. */
    const seconds = 25;
    let c: FaultCluster | undefined;
    try {
      c = await containerCluster('podman', prefix, node, ['--shutdown-mode', 'stop']);
      const { marker } = c;
      const names = Array.from({ length: jobs }, (_, i) => `${prefix}-${i}`);
      const load = c.load({ targets: () => [c!.target()], names, manifest: (n) => containerJob(n, 'podman', marker, seconds), clients: 2 });
      await load.done;
      assert.equal(load.acknowledged(), jobs);
      await waitFor(`${jobs} podman tasks running`, async () => ((await liveContainers([node])).size === jobs ? true : undefined), 120_000, 250);

      const agent = c.agent(node);
      const stoppingAt = Date.now();
      const code = await agent.stop(60_000);
      const stopMs = Date.now() - stoppingAt;
      assert.equal(code, 0, agent.output());
      // at once, not one sweep later: a clean stop leaves nothing of ours
      const left = await findOrphans({ marker, podmanNodes: [node] });
      assert.deepEqual(left, [], 'nothing of ours remains once the agent has exited');
      t.diagnostic(`SIGTERM agent (podman, shutdown-mode stop): exited 0 ${stopMs} ms after SIGTERM with ${jobs} containers running (kill timeout 3 s); nothing left right after`);

      // The agent reported each stop before it exited: attempt 1 ended NodeLost ("shutting
      // down"), counted as a node-lost re-queue, not a retry (the jobs allow none).
      for (const name of names) {
        const res = await api(c.target(), 'GET', `/apis/openscheduler.io/v1/namespaces/default/jobs/${name}`);
        const first = (res.body?.status?.recentAttempts ?? [])[0] as { reason?: string; message?: string; endTime?: string } | undefined;
        assert.ok(first?.endTime !== undefined && first.reason === 'NodeLost' && /shutting down/.test(first.message ?? ''), JSON.stringify(res.body?.status));
        assert.equal(res.body?.status?.nodeLostRequeues, 1, JSON.stringify(res.body?.status));
      }

      const backAt = Date.now();
      await c.startAgent(node);
      const { final, summary, violations } = await c.verify({ settleMs: 120_000, owned: (key) => key.startsWith(`default/${prefix}-`) });
      t.diagnostic(`SIGTERM agent (podman): agent back, every job finished ${Date.now() - backAt} ms later (${seconds} s tasks); ${summary}`);
      assertNoViolations(violations);
      for (const job of final.jobs.filter((j) => j.metadata.name.startsWith(`${prefix}-`))) {
        assert.equal(job.status?.phase, 'Succeeded', describeJob(job));
      }
    } finally {
      await c?.dispose();
    }
  });
});

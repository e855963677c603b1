// Fault: kill -9 of etcd (a single member) while clients create jobs through the server and jobs
// run; etcd is started again on its data dir. Every client operation and watch event is recorded
// and checked: nothing acknowledged lost, no phantom, revisions monotonic, every job ends, no job
// with two tasks at once, no orphan one reconcile period after recovery.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AgentProcess } from '../harness/agent.js';
import { JOBS_API, killProcessesWith, waitFor, type Target } from '../harness/e2e.js';
import { startEtcd, type EtcdProcess } from '../harness/etcd.js';
import {
  FAST_NODE_ARGS,
  liveTasks,
  markedJob,
  nodeReady,
  orphansAfterRecovery,
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

const JOBS = 60;
/** No user retries: a task the agent stopped when it fenced itself (it lost the server for its lease TTL) is re-queued without using one. */
const RETRIES = { retryPolicy: { maxRetries: 0 } };

void describe('fault: kill -9 of etcd under load', () => {
  void it('after etcd restarts nothing acknowledged is lost and every job ends once', { timeout: 360_000 }, async () => {
    const work = await mkdtemp(join(tmpdir(), 'os-faults-kill-etcd-'));
    const marker = `os-faults-ke-${process.pid}`;
    const history = new History();
    let etcd: EtcdProcess | undefined;
    let server: RestartableServer | undefined;
    let agent: AgentProcess | undefined;
    const stoppers: Array<() => Promise<void>> = [];
    try {
      etcd = await startEtcd();
      const e = etcd;
      server = await startRestartableServer(join(work, 'server'), { store: { etcdEndpoints: [e.endpoint], etcdPrefix: `/faults-ke-${process.pid}` }, extraArgs: FAST_NODE_ARGS });
      const s = server;
      const target = (): Target => s.target();
      agent = await startFaultAgent(s.current(), 'ke-node', join(work, 'agent'));
      await nodeReady(target, 'ke-node');
      const sampler = startTaskSampler(history, marker);
      stoppers.push(() => sampler.stop());
      const watcher = startWatcher(history, target, `${JOBS_API}/namespaces/default/jobs`);
      stoppers.push(() => watcher.stop());
      const names = Array.from({ length: JOBS }, (_, i) => `ke-${i}`);
      const load = startLoad({ history, targets: () => [s.target()], names, manifest: (n) => markedJob(n, marker, 2, RETRIES), clients: 4 });
      stoppers.push(() => load.stop());

      await waitFor('creates acknowledged and tasks running', async () => (load.acknowledged() >= JOBS / 4 && (await liveTasks(marker)).size > 0 ? true : undefined), 120_000);
      await e.kill('SIGKILL');
      // the outage lasts until the clients have seen it (a create without acknowledgement)
      const before = history.operations.length;
      await waitFor('a create to fail while etcd is down', async () => (history.operations.slice(before).some((o) => o.kind === 'create' && o.outcome !== 'ok') ? true : undefined), 60_000, 50);
      await e.start();
      await load.done;
      assert.ok(load.acknowledged() >= JOBS / 4);

      await settle(history, target, 240_000);
      const orphans = await orphansAfterRecovery({ marker });
      for (const stop of stoppers.splice(0)) await stop();
      const final = await readFinalState(target);
      await readBack(history, target, final);
      console.log(`kill -9 etcd: ${summarize(history, final)}; watch events ${watcher.events()}`);
      assertNoViolations(checkAll(history, final, { orphans, owned: (key) => key.startsWith('default/ke-') }));
    } finally {
      for (const stop of stoppers) await stop();
      await agent?.stop();
      await server?.stop();
      await etcd?.stop();
      await killProcessesWith(marker);
      await rm(work, { recursive: true, force: true });
    }
  });
});

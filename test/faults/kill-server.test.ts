// Fault: kill -9 of the server while clients apply jobs and jobs run, on the embedded SQLite
// store and on etcd; the server is started again on the same ports and data dir (the agent keeps
// running and reconnects). Every client operation and watch event is recorded and the checker runs
// over all of it: nothing acknowledged lost, no phantom, revisions monotonic, every job ends, no
// job with two tasks at once, no orphan one reconcile period after recovery.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AgentProcess } from '../harness/agent.js';
import { JOBS_API, killProcessesWith, waitFor } from '../harness/e2e.js';
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

const JOBS = 80;
/** No user retries: a task the agent stopped while it had lost the server (it fences itself after the lease TTL) is re-queued without using one. */
const RETRIES = { retryPolicy: { maxRetries: 0 } };

for (const storeKind of ['sqlite', 'etcd'] as const) {
  void describe(`fault: kill -9 of the server under load (${storeKind})`, () => {
    void it('loses no acknowledged job, makes no phantom, and every job ends once', { timeout: 360_000 }, async () => {
      const work = await mkdtemp(join(tmpdir(), 'os-faults-kill-server-'));
      const marker = `os-faults-ks-${storeKind}-${process.pid}`;
      const history = new History();
      let etcd: EtcdProcess | undefined;
      let server: RestartableServer | undefined;
      let agent: AgentProcess | undefined;
      const stoppers: Array<() => Promise<void>> = [];
      try {
        if (storeKind === 'etcd') etcd = await startEtcd();
        server = await startRestartableServer(join(work, 'server'), {
          ...(etcd ? { store: { etcdEndpoints: [etcd.endpoint], etcdPrefix: `/faults-ks-${process.pid}` } } : {}),
          extraArgs: FAST_NODE_ARGS,
        });
        const s = server;
        const target = (): ReturnType<RestartableServer['target']> => s.target();
        agent = await startFaultAgent(s.current(), 'ks-node', join(work, 'agent'));
        await nodeReady(target, 'ks-node');

        const sampler = startTaskSampler(history, marker);
        stoppers.push(() => sampler.stop());
        const watcher = startWatcher(history, target, `${JOBS_API}/namespaces/default/jobs`);
        stoppers.push(() => watcher.stop());
        const names = Array.from({ length: JOBS }, (_, i) => `ks-${i}`);
        const load = startLoad({ history, targets: () => [s.target()], names, manifest: (n) => markedJob(n, marker, 2, RETRIES), clients: 4 });
        stoppers.push(() => load.stop());

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

        await settle(history, target, 240_000);
        const orphans = await orphansAfterRecovery({ marker });
        for (const stop of stoppers.splice(0)) await stop();
        const final = await readFinalState(target);
        await readBack(history, target, final);
        console.log(`kill -9 server (${storeKind}): ${summarize(history, final)}; watch events ${watcher.events()}`);
        for (const job of final.jobs.filter((j) => j.status?.phase !== 'Succeeded')) {
          console.log(`  ${job.metadata.name}: ${String(job.status?.phase)} ${String(job.status?.reason)}: ${String(job.status?.message)} ${JSON.stringify(job.status?.recentAttempts)}`);
        }
        assertNoViolations(checkAll(history, final, { orphans, owned: (key) => key.startsWith('default/ks-') }));
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
}

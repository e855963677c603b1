// Fault: etcd compacted while the leading server is paused (kill -STOP). Two real servers share
// one real etcd, reached through the TCP fault proxy; the leader is paused and jobs are created
// through the other server meanwhile. Then every connection to etcd is cut (a watch stream that
// stays connected is not compacted by etcd while its buffers hold: the paused server would just
// read the buffered events on resume), more jobs are created, and etcd is compacted to its
// current revision, so the paused server's watches must resume from revisions that are gone.
// After kill -CONT each control-plane informer gets CompactedError and relists (its log says so)
// and everything converges: every job ends, the resumed server's API lists the same jobs at the
// same resourceVersions as the other, no job has two live attempts, the history checker is clean.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startAgentProcess } from '../harness/agent.js';
import { listJobs, waitFor, type Target } from '../harness/e2e.js';
import { startEtcd, type EtcdProcess } from '../harness/etcd.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { startServerCluster, type ClusterServer } from '../harness/servers.js';
import { FAST_AGENT_ARGS, FAST_NODE_ARGS, type FaultRun, jobsNotSucceeded, liveTasks, type Load, markedJob, nodeReady, startFaultRun } from './faults-harness.js';
import { assertNoViolations, jobKey } from './history.js';

/** Jobs created before the pause, during it (through the other server: before and after the cut), and after it. */
const BEFORE = 20;
const DURING = 20;
const CUT = 10;
const AFTER = 10;
const TOTAL = BEFORE + DURING + CUT + AFTER;
/** The control plane's informers (server/control-plane.ts), by the names they log. */
const INFORMERS = ['jobs', 'nodes', 'node-leases'] as const;
/** No user retries: a task stopped by a fault (a node declared lost, an agent fencing itself) is re-queued without using one. */
const RETRIES = { retryPolicy: { maxRetries: 0 } };
/** What the informer logs when its watch fell behind a compaction (controllers/runtime/informer.ts). */
const RELIST_MESSAGE = 'informer watch compacted; relisting';

/** etcd's current revision, through its JSON gateway. */
async function etcdRevision(etcd: EtcdProcess): Promise<number> {
  const res = await fetch(`${etcd.endpoint}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: Buffer.from('/').toString('base64'), count_only: true }),
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await res.json()) as { header?: { revision?: string } };
  const revision = Number(body.header?.revision);
  assert.ok(res.status === 200 && Number.isSafeInteger(revision) && revision > 0, `etcd range: ${res.status} ${JSON.stringify(body)}`);
  return revision;
}

/** Compacts etcd (the whole keyspace: every prefix) to `revision`, physically. */
async function compactEtcd(etcd: EtcdProcess, revision: number): Promise<void> {
  const res = await fetch(`${etcd.endpoint}/v3/kv/compaction`, {
    method: 'POST',
    body: JSON.stringify({ revision: String(revision), physical: true }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200, `etcd compaction to ${revision}: ${res.status} ${await res.text()}`);
}

/** Name and resourceVersion of every job a server's API lists, sorted: equal lists mean equal caches. */
async function jobVersions(target: Target): Promise<string[]> {
  return (await listJobs(target, 'default')).map((j) => `${jobKey(j)}@${String(j.metadata.resourceVersion)}`).sort();
}

void describe('fault: etcd compaction while the leader is paused', () => {
  void it('the paused server relists after kill -CONT and everything converges', { timeout: 240_000 }, async () => {
    let r: FaultRun | undefined;
    try {
      r = await startFaultRun({ name: 'co' });
      const { marker, work } = r;
      const e = await startEtcd();
      r.defer(() => e.stop());
      const p = await startFaultProxy({ target: e.endpoint });
      r.defer(() => p.close());
      const c = await startServerCluster({ count: 2, etcdEndpoints: [`http://${p.address}`], extraArgs: FAST_NODE_ARGS });
      r.defer(() => c.stop()); // SIGCONT before SIGTERM: a paused server is ended too
      const leader = await waitFor(
        'one leader',
        async () => {
          const leaders = await c.leaders();
          return leaders.length === 1 ? leaders[0] : undefined;
        },
        60_000,
      );
      const leaderIndex = c.servers.indexOf(leader);
      const otherIndex = 1 - leaderIndex;
      const other: ClusterServer = c.servers[otherIndex]!;
      const toLeader = (): Target => c.target(leaderIndex);
      const toOther = (): Target => c.target(otherIndex);
      // the agent talks to the server that is not paused: the pause is the controllers' alone
      const agent = await startAgentProcess({
        grpcAddress: other.grpcAddress,
        tokenFile: c.joinTokenPath,
        nodeName: 'co-node',
        dataDir: join(work, 'agent'),
        extraArgs: ['--labels', 'node=co-node', ...FAST_AGENT_ARGS],
      });
      r.defer(() => agent.stop());
      await nodeReady(toOther, 'co-node');

      r.sampleTasks();
      r.watch(toOther);
      const names = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `co-${prefix}-${i}`);
      const load = (prefix: string, count: number, targets: () => readonly Target[]): Load =>
        r!.load({ targets, names: names(prefix, count), manifest: (n) => markedJob(n, marker, 2, RETRIES), clients: 4 });

      const before = load('before', BEFORE, () => [toLeader(), toOther()]);
      await before.done;
      await waitFor('tasks running', async () => ((await liveTasks(marker)).size > 0 ? true : undefined), 60_000);

      // pause the leader: its informers, controllers and watches stop where they are
      const pausedAt = await etcdRevision(e);
      await leader.kill('SIGSTOP');
      const during = load('during', DURING, () => [toOther()]);
      await during.done;
      // cut every connection to etcd: what etcd sent the paused server so far waits in its socket,
      // what follows never reaches it; its watches must resume from their last revisions
      p.reset();
      p.pass();
      const cut = load('cut', CUT, () => [toOther()]);
      await cut.done;
      assert.equal(during.acknowledged() + cut.acknowledged(), DURING + CUT, 'every create through the running server is acknowledged');
      const compactedTo = await etcdRevision(e);
      assert.ok(compactedTo > pausedAt, `etcd moved on during the pause (${pausedAt} -> ${compactedTo})`);
      await compactEtcd(e, compactedTo);
      await leader.kill('SIGCONT');

      // every informer of the control plane (jobs, nodes, node leases) fell behind the compaction
      const relisted = (informer: string): boolean => leader.output().split('\n').some((l) => l.includes(RELIST_MESSAGE) && l.includes(`informer=${informer} `));
      await waitFor(
        `${leader.name} to log "${RELIST_MESSAGE}" for the informers jobs, nodes and node-leases`,
        async () => (INFORMERS.every(relisted) ? true : undefined),
        60_000,
        200,
      );
      const after = load('after', AFTER, () => [toLeader(), toOther()]);
      await after.done;
      assert.equal(before.acknowledged() + during.acknowledged() + cut.acknowledged() + after.acknowledged(), TOTAL);

      const { final, summary, violations } = await r.verify({
        target: toOther,
        readBackFrom: toLeader,
        settleMs: 120_000,
        owned: (key) => key.startsWith('default/co-'),
        // the resumed server's API (its caches relisted) serves exactly what the other one does
        beforeFinalRead: async () => {
          const converged = await waitFor(
            `${leader.name} and ${other.name} to list the same jobs at the same resourceVersions`,
            async () => {
              const [a, b] = await Promise.all([jobVersions(toLeader()), jobVersions(toOther())]);
              return a.length === TOTAL && JSON.stringify(a) === JSON.stringify(b) ? a : undefined;
            },
            30_000,
            500,
          );
          assert.equal(converged.length, TOTAL);
        },
      });
      const relists = leader.output().split('\n').filter((l) => l.includes(RELIST_MESSAGE) || l.includes('leader election'));
      const leaders = (await c.leaders()).map((s) => s.name);
      console.log(`compaction to ${compactedTo} (paused at ${pausedAt}): ${summary}; leader now ${leaders.join(',')}`);
      for (const line of relists) console.log(`  ${leader.name}: ${line}`);
      assertNoViolations(violations);
      assert.deepEqual(jobsNotSucceeded(final, 'co-'), [], 'a fault must not fail a job');
    } finally {
      await r?.dispose();
    }
  });
});

// Fault: kill -9 of one member of a 3-member etcd cluster under load — first a follower, then the
// raft leader — each started again on its data dir (and the cluster healthy) before the next.
// The server is given every member (--etcd-endpoints), clients create jobs at a steady pace so
// that the load spans both faults, and jobs run. A quorum survives each kill, so creates must go
// on being acknowledged while the member is down. After recovery the history checker runs over
// everything: nothing acknowledged lost, no phantom, revisions monotonic, every job ends, no job
// with two tasks at once, no orphan one reconcile period after recovery.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '../harness/e2e.js';
import { type FaultCluster, jobsNotSucceeded, liveTasks, markedJob, startFaultCluster } from './faults-harness.js';
import { assertNoViolations, type Operation } from './history.js';

/** Names the load may use; it is stopped once both faults are over, far before running out. */
const NAMES = 400;
/** Creates that must be acknowledged while a member is down (a quorum is left), and after both faults. */
const ACKS_PER_PHASE = 8;
/** No user retries: a task the agent stopped when it fenced itself (it lost the server for its lease TTL) is re-queued without using one. */
const RETRIES = { retryPolicy: { maxRetries: 0 } };

/** "ok=N unknown=N failed=N, slowest N ms" of the creates among `ops`, with what the others got. */
function createFigures(ops: readonly Operation[]): string {
  const creates = ops.filter((o) => o.kind === 'create');
  const count = (outcome: string): number => creates.filter((o) => o.outcome === outcome).length;
  const slowest = Math.max(0, ...creates.map((o) => o.endedAt - o.startedAt));
  const others = creates.filter((o) => o.outcome !== 'ok').map((o) => `${o.key} ${o.outcome} after ${o.endedAt - o.startedAt} ms: ${o.status ?? ''} ${(o.error ?? '').slice(0, 100)}`);
  return `creates ok=${count('ok')} unknown=${count('unknown')} failed=${count('failed')}, slowest ${slowest} ms${others.length > 0 ? ` [${others.join('; ')}]` : ''}`;
}

void describe('fault: kill -9 of one etcd member (3-member cluster) under load', () => {
  void it('a follower, then the raft leader: writes go on with the quorum; nothing lost, every job ends once', { timeout: 360_000 }, async (t) => {
    let c: FaultCluster | undefined;
    try {
      c = await startFaultCluster({ name: 'km', store: 'etcd-cluster', agents: ['km-node'] });
      const { history, marker } = c;
      const etcd = c.etcdCluster!;
      const names = Array.from({ length: NAMES }, (_, i) => `km-${i}`);
      const load = c.load({ targets: () => [c!.target()], names, manifest: (n) => markedJob(n, marker, 2, RETRIES), clients: 2, pauseMs: 150 });
      const acknowledged = (what: string, atLeast: number): Promise<true> =>
        waitFor(what, async () => (load.acknowledged() >= atLeast ? true : undefined), 90_000, 50);

      await waitFor('creates acknowledged and tasks running', async () => (load.acknowledged() >= ACKS_PER_PHASE && (await liveTasks(marker)).size > 0 ? true : undefined), 120_000);
      for (const role of ['follower', 'leader'] as const) {
        await etcd.waitHealthy();
        const raftLeader = await waitFor('an etcd raft leader', () => etcd.leader());
        const victim = role === 'leader' ? raftLeader : etcd.members.find((m) => m !== raftLeader)!;
        const opsBefore = history.operations.length;
        const killedAt = Date.now();
        await victim.kill('SIGKILL');
        let elected = '';
        if (role === 'leader') {
          const successor = await waitFor('a raft leader among the surviving members', async () => {
            const now = await etcd.leader();
            return now !== undefined && now !== victim ? now : undefined;
          });
          elected = `; ${successor.name} raft leader after ${Date.now() - killedAt} ms`;
        }
        // two of three members run: the API keeps acknowledging creates
        await acknowledged(`${ACKS_PER_PHASE} creates acknowledged with ${victim.name} down`, load.acknowledged() + ACKS_PER_PHASE);
        const downMs = Date.now() - killedAt;
        const outage = createFigures(history.operations.slice(opsBefore));
        await victim.start();
        await etcd.waitHealthy();
        t.diagnostic(`${role} ${victim.name} killed${elected}; ${ACKS_PER_PHASE} creates acknowledged ${downMs} ms after the kill (${outage}); back and every member healthy ${Date.now() - killedAt} ms after the kill`);
      }
      await acknowledged(`${ACKS_PER_PHASE} creates acknowledged after both faults`, load.acknowledged() + ACKS_PER_PHASE);
      await load.stop();

      const { final, summary, violations, settledMs } = await c.verify({ settleMs: 240_000, owned: (key) => key.startsWith('default/km-') });
      t.diagnostic(`kill -9 etcd member: ${summary}; every job ended ${settledMs} ms after the load stopped`);
      assertNoViolations(violations);
      assert.deepEqual(jobsNotSucceeded(final, 'km-'), [], 'a fault must not fail a job');
    } finally {
      await c?.dispose();
    }
  });
});

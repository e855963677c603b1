// The node lifecycle controller on a real SqliteStore: informers run on a Manager, time is a
// FakeClock; agents and other controllers are simulated by direct store writes.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Job, JobStatus, Node } from '../../api/v1/index.js';
import type { PutOptions, PutResult, Store } from '../../store/store.js';
import { FakeClock, Manager } from '../runtime/index.js';
import { openTempStore, waitFor, type TempStore } from '../runtime/test-support.js';
import { JOBS_PREFIX, NODES_PREFIX, newSchedulerInformers } from '../scheduler/scheduler.js';
import {
  decodeNodeLease,
  NodeLifecycle,
  newNodeLeaseInformer,
  newNodeLifecycleController,
  NODE_LEASES_PREFIX,
  nodeLeaseKey,
} from './node-lifecycle.js';
import { MAX_NODE_LOST_REQUEUES, requeueAfterNodeLoss } from '../jobs/job-transitions.js';

const GRACE = 40_000;
const START = Date.parse('2026-03-01T12:00:00Z');

function nodeObject(name: string, status: Partial<NonNullable<Node['status']>> = {}): Node {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Node',
    metadata: { name },
    spec: {},
    status: {
      allocatable: { cpu: '4', memory: '8Gi' },
      drivers: ['process'],
      conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady' }],
      ...status,
    },
  };
}

function jobObject(name: string, status: JobStatus): Job {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default' },
    spec: { driver: 'process', command: ['true'] },
    status,
  };
}

function bound(phase: 'Scheduled' | 'Running', nodeName: string, extra: JobStatus = {}): JobStatus {
  return {
    phase,
    nodeName,
    attempts: phase === 'Running' ? 1 : 0,
    conditions: [
      { type: 'DependenciesReady', status: 'True' },
      { type: 'Scheduled', status: 'True', reason: 'Scheduled', message: `bound to node ${nodeName}` },
    ],
    ...extra,
  };
}

const jobKey = (name: string): string => `${JOBS_PREFIX}default/${name}`;
const nodeKey = (name: string): string => `${NODES_PREFIX}${name}`;

/** A Store that counts the puts made through it. */
function countingStore(inner: Store): { store: Store; puts: string[] } {
  const puts: string[] = [];
  const put = (key: string, value: string, options?: PutOptions): Promise<PutResult> => {
    puts.push(key);
    return inner.put(key, value, options);
  };
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'put') return put;
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, puts };
}

void describe('decodeNodeLease and requeueAfterNodeLoss', () => {
  void it('decodes any lease value (presence alone means alive)', () => {
    assert.deepEqual(decodeNodeLease('{"holderIdentity":"agent-1","renewTime":"2026-01-01T00:00:00Z"}'), {
      holderIdentity: 'agent-1',
      renewTime: '2026-01-01T00:00:00Z',
    });
    assert.deepEqual(decodeNodeLease('not json'), {});
    assert.deepEqual(decodeNodeLease('[1]'), {});
    assert.deepEqual(decodeNodeLease('{"holderIdentity":5}'), {});
  });

  void it('re-queues up to the bound, then fails with NodeLost', () => {
    const now = '2026-03-01T12:00:40Z';
    const first = requeueAfterNodeLoss(jobObject('j', bound('Running', 'n1')), 'n1', now);
    assert.equal(first.status?.phase, 'Pending');
    assert.equal(first.status?.reason, 'NodeLost');
    assert.equal(first.status?.nodeLostRequeues, 1);
    assert.equal(first.status?.nodeName, undefined);
    assert.equal(first.status?.attempts, 1, 'attempts are not touched');
    const last = requeueAfterNodeLoss(jobObject('j', bound('Running', 'n1', { nodeLostRequeues: MAX_NODE_LOST_REQUEUES })), 'n1', now);
    assert.equal(last.status?.phase, 'Failed');
    assert.equal(last.status?.reason, 'NodeLost');
    assert.equal(last.status?.nodeLostRequeues, MAX_NODE_LOST_REQUEUES);
    assert.equal(last.status?.completionTime, now);
    assert.match(last.status?.message ?? '', new RegExp(`lost its node ${MAX_NODE_LOST_REQUEUES + 1} times`));
  });

  void it('rejects a bad gracePeriodMs naming the option', async () => {
    const temp = await openTempStore();
    try {
      const { jobs, nodes } = newSchedulerInformers(temp.store);
      const leases = newNodeLeaseInformer(temp.store);
      for (const bad of [-1, Number.NaN, Infinity]) {
        assert.throws(() => new NodeLifecycle({ store: temp.store, jobs, nodes, leases, gracePeriodMs: bad }), /gracePeriodMs must be a finite number >= 0/);
      }
    } finally {
      await temp.cleanup();
    }
  });
});

void describe('NodeLifecycle.reconcile', { timeout: 30_000 }, () => {
  let temp: TempStore;
  let manager: Manager | undefined;
  let clock: FakeClock;
  let puts: string[];
  let lifecycle: NodeLifecycle;
  /** Resolves once every informer reflects the store's current revision. */
  let settle: () => Promise<void>;

  beforeEach(async () => {
    temp = await openTempStore();
    clock = new FakeClock(START);
    const counted = countingStore(temp.store);
    puts = counted.puts;
    const { jobs, nodes } = newSchedulerInformers(temp.store);
    const leases = newNodeLeaseInformer(temp.store);
    lifecycle = new NodeLifecycle({ store: counted.store, jobs, nodes, leases, gracePeriodMs: GRACE, clock });
    const m = new Manager();
    m.addInformer(jobs);
    m.addInformer(nodes);
    m.addInformer(leases);
    manager = m;
    await m.start();
    settle = () =>
      waitFor('informers caught up with the store', async () => {
        for (const [informer, prefix] of [
          [jobs, JOBS_PREFIX],
          [nodes, NODES_PREFIX],
          [leases, NODE_LEASES_PREFIX],
        ] as const) {
          const { items } = await temp.store.list(prefix);
          const cached = informer.keys();
          if (cached.length !== items.length || items.some((kv) => informer.getEntry(kv.key)?.revision !== kv.modRevision)) return false;
        }
        return true;
      });
  });
  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
    await temp.cleanup();
  });

  const putNode = (node: Node): Promise<PutResult> => temp.store.put(nodeKey(node.metadata.name), JSON.stringify(node));
  const putJob = (job: Job): Promise<PutResult> => temp.store.put(jobKey(job.metadata.name), JSON.stringify(job));
  /** Simulates an agent: a lease with the node's lease key attached. */
  const holdLease = async (name: string): Promise<string> => {
    const lease = await temp.store.grantLease(60);
    await temp.store.put(nodeLeaseKey(name), JSON.stringify({ holderIdentity: name, renewTime: new Date(clock.now()).toISOString() }), { lease });
    return lease;
  };
  const read = async <T>(key: string): Promise<{ object: T; revision: number }> => {
    const kv = await temp.store.get(key);
    assert.ok(kv, `${key} exists`);
    return { object: JSON.parse(kv.value) as T, revision: kv.modRevision };
  };
  const ready = async (name: string) => (await read<Node>(nodeKey(name))).object.status?.conditions?.find((c) => c.type === 'Ready');

  void it('keeps a node with a live lease Ready and writes nothing', async () => {
    await putNode(nodeObject('n1'));
    await putJob(jobObject('run', bound('Running', 'n1')));
    await holdLease('n1');
    await settle();
    assert.deepEqual(await lifecycle.reconcile('n1'), {});
    clock.advance(10 * GRACE);
    assert.deepEqual(await lifecycle.reconcile('n1'), {});
    assert.deepEqual(await lifecycle.reconcile('unknown-node'), {});
    assert.deepEqual(puts, []);
    assert.equal((await ready('n1'))?.status, 'True');
    assert.equal((await read<Job>(jobKey('run'))).object.status?.phase, 'Running');
  });

  void it('marks a node lost only after the grace period and re-queues its Scheduled and Running jobs', async () => {
    await putNode(nodeObject('n1'));
    await putNode(nodeObject('n2'));
    const lease = await holdLease('n1');
    await holdLease('n2');
    await putJob(jobObject('sched', bound('Scheduled', 'n1')));
    await putJob(
      jobObject('run', bound('Running', 'n1', { startTime: '2026-03-01T11:59:00Z', recentAttempts: [{ attempt: 1, nodeName: 'n1', startTime: '2026-03-01T11:59:00Z' }] })),
    );
    await putJob(jobObject('done', { phase: 'Succeeded', nodeName: 'n1', attempts: 1, exitCode: 0 }));
    await putJob(jobObject('failed', { phase: 'Failed', nodeName: 'n1', attempts: 1, reason: 'RetriesExhausted' }));
    await putJob(jobObject('pending', { phase: 'Pending', reason: 'Unschedulable', message: 'no node' }));
    await putJob(jobObject('elsewhere', bound('Running', 'n2')));
    await settle();
    assert.deepEqual(await lifecycle.reconcile('n1'), {});

    await temp.store.revokeLease(lease); // the agent's heartbeats stop
    await settle();
    const before = new Map<string, number>();
    for (const name of ['done', 'failed', 'pending', 'elsewhere']) before.set(name, (await read<Job>(jobKey(name))).revision);

    assert.deepEqual(await lifecycle.reconcile('n1'), { requeueAfterMs: GRACE });
    clock.advance(GRACE - 1);
    assert.deepEqual(await lifecycle.reconcile('n1'), { requeueAfterMs: 1 });
    assert.deepEqual(puts, [], 'nothing written before the grace period ends');
    assert.equal((await ready('n1'))?.status, 'True');

    clock.advance(1);
    assert.deepEqual(await lifecycle.reconcile('n1'), {});
    const condition = await ready('n1');
    assert.equal(condition?.status, 'False');
    assert.equal(condition?.reason, 'NodeLost');
    assert.match(condition?.message ?? '', /since 2026-03-01T12:00:00Z/);
    assert.equal(condition?.lastTransitionTime, '2026-03-01T12:00:40Z');

    for (const name of ['sched', 'run']) {
      const status = (await read<Job>(jobKey(name))).object.status;
      assert.equal(status?.phase, 'Pending', name);
      assert.equal(status?.reason, 'NodeLost', name);
      assert.match(status?.message ?? '', /node n1 was lost/);
      assert.equal(status?.nodeName, undefined, name);
      assert.equal(status?.nodeLostRequeues, 1, name);
      assert.deepEqual(
        status?.conditions?.map((c) => c.type),
        ['DependenciesReady'],
        `${name}: Scheduled condition cleared, others kept`,
      );
    }
    const run = (await read<Job>(jobKey('run'))).object.status;
    assert.equal(run?.attempts, 1, 'attempts (the user retries) untouched');
    assert.deepEqual(run?.recentAttempts, [
      { attempt: 1, nodeName: 'n1', startTime: '2026-03-01T11:59:00Z', endTime: '2026-03-01T12:00:40Z', reason: 'NodeLost', message: 'node n1 was lost' },
    ]);
    for (const [name, revision] of before) assert.equal((await read<Job>(jobKey(name))).revision, revision, `${name} untouched`);
    assert.equal(puts.length, 3, 'one node write and two job writes');

    // Level-triggered: reconciling again changes nothing.
    await settle();
    clock.advance(GRACE);
    assert.deepEqual(await lifecycle.reconcile('n1'), {});
    assert.deepEqual(await lifecycle.reconcile('n2'), {});
    assert.equal(puts.length, 3, 'no writes when nothing changes');
  });

  void it('fails a job lost more than the bound allows and re-queues one still within it', async () => {
    await putNode(nodeObject('n1'));
    await putJob(jobObject('worn', bound('Running', 'n1', { nodeLostRequeues: MAX_NODE_LOST_REQUEUES })));
    await putJob(jobObject('almost', bound('Running', 'n1', { nodeLostRequeues: MAX_NODE_LOST_REQUEUES - 1 })));
    await settle();
    assert.deepEqual(await lifecycle.reconcile('n1'), { requeueAfterMs: GRACE });
    clock.advance(GRACE);
    await lifecycle.reconcile('n1');
    const worn = (await read<Job>(jobKey('worn'))).object.status;
    assert.equal(worn?.phase, 'Failed');
    assert.equal(worn?.reason, 'NodeLost');
    assert.match(worn?.message ?? '', /lost its node 6 times/);
    assert.equal(worn?.completionTime, '2026-03-01T12:00:40Z');
    const almost = (await read<Job>(jobKey('almost'))).object.status;
    assert.equal(almost?.phase, 'Pending');
    assert.equal(almost?.nodeLostRequeues, MAX_NODE_LOST_REQUEUES);
  });

  void it('counts the grace period from a later lastHeartbeatTime', async () => {
    await putNode(nodeObject('n1'));
    await settle();
    assert.deepEqual(await lifecycle.reconcile('n1'), { requeueAfterMs: GRACE });
    clock.advance(30_000);
    // The agent endpoint recorded a heartbeat 30 s after the lease key was first seen absent.
    const current = await read<Node>(nodeKey('n1'));
    await temp.store.put(nodeKey('n1'), JSON.stringify({ ...current.object, status: { ...current.object.status, lastHeartbeatTime: '2026-03-01T12:00:30Z' } }));
    await settle();
    clock.advance(10_000);
    assert.deepEqual(await lifecycle.reconcile('n1'), { requeueAfterMs: 30_000 });
    clock.advance(30_000);
    await lifecycle.reconcile('n1');
    assert.equal((await ready('n1'))?.reason, 'NodeLost');
  });

  void it('sets Ready back when the lease returns, only over its own NodeLost verdict', async () => {
    await putNode(nodeObject('n1'));
    await putNode(nodeObject('n2', { conditions: [{ type: 'Ready', status: 'False', reason: 'DriverUnhealthy' }] }));
    await holdLease('n2');
    await settle();
    await lifecycle.reconcile('n1');
    clock.advance(GRACE);
    await lifecycle.reconcile('n1');
    assert.equal((await ready('n1'))?.reason, 'NodeLost');

    await holdLease('n1');
    await settle();
    await lifecycle.reconcile('n1');
    const back = await ready('n1');
    assert.equal(back?.status, 'True');
    assert.equal(back?.reason, 'NodeLeaseRenewed');
    const writes = puts.length;
    await settle();
    await lifecycle.reconcile('n1');
    await lifecycle.reconcile('n2');
    assert.equal(puts.length, writes, 'no writes when nothing changes');
    assert.equal((await ready('n2'))?.reason, 'DriverUnhealthy', "the agent's own NotReady is left alone");
  });
});

void describe('node lifecycle controller', { timeout: 30_000 }, () => {
  void it('reacts to a revoked lease, waits the grace period on the injected clock, then re-queues', async () => {
    const temp = await openTempStore();
    const manager = new Manager();
    try {
      const clock = new FakeClock(START);
      const { jobs, nodes } = newSchedulerInformers(temp.store);
      const leases = newNodeLeaseInformer(temp.store);
      const { controller } = newNodeLifecycleController({ store: temp.store, jobs, nodes, leases, gracePeriodMs: GRACE, clock });
      manager.addInformer(jobs);
      manager.addInformer(nodes);
      manager.addInformer(leases);
      manager.add(controller, { leaderOnly: true });
      await temp.store.put(nodeKey('n1'), JSON.stringify(nodeObject('n1')));
      const lease = await temp.store.grantLease(60);
      await temp.store.put(nodeLeaseKey('n1'), '{"holderIdentity":"n1"}', { lease });
      await temp.store.put(jobKey('j'), JSON.stringify(jobObject('j', bound('Running', 'n1'))));
      await manager.start();

      await temp.store.revokeLease(lease);
      // The lease deletion wakes the node; its reconcile schedules a look after the grace period.
      await waitFor('grace-period timer scheduled', () => clock.pendingTimers() > 0);
      clock.advance(GRACE - 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const early = JSON.parse((await temp.store.get(jobKey('j')))?.value ?? '{}') as Job;
      assert.equal(early.status?.phase, 'Running', 'not before the grace period');
      clock.advance(1);
      await waitFor('job re-queued', async () => {
        const job = JSON.parse((await temp.store.get(jobKey('j')))?.value ?? '{}') as Job;
        return job.status?.phase === 'Pending' && job.status.reason === 'NodeLost';
      });
      const node = JSON.parse((await temp.store.get(nodeKey('n1')))?.value ?? '{}') as Node;
      assert.equal(node.status?.conditions?.find((c) => c.type === 'Ready')?.reason, 'NodeLost');
    } finally {
      await manager.stop();
      await temp.cleanup();
    }
  });
});

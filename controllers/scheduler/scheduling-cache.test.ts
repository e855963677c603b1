// The scheduler's incremental indexes: the assume overlay in isolation, then fed by a real
// Informer over a real SqliteStore through adds, updates, deletes and a relist after compaction,
// checked at every step against a recomputation from the informer's whole cache.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Job, JobPhase, Node } from '../../api/v1/index.js';
import { Informer } from '../runtime/index.js';
import { ControlledStore, openTempStore, waitFor, type TempStore } from '../runtime/test-support.js';
import { isRunnable, UNSCHEDULABLE_REASON } from './job-state.js';
import { allocationsByNode } from './placement.js';
import { AllocationOverlay, NodeCandidates, SchedulingCache } from './scheduling-cache.js';
import { decodeJob, JOBS_PREFIX } from './scheduler.js';

interface JobOpts {
  cpu?: string;
  memory?: string;
  phase?: JobPhase;
  nodeName?: string;
  priority?: number;
  reason?: string;
  created?: string;
}

function job(name: string, o: JobOpts = {}): Job {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default', creationTimestamp: o.created ?? '2026-01-01T00:00:00Z' },
    spec: {
      driver: 'process',
      command: ['true'],
      resources: { cpu: o.cpu ?? '100m', memory: o.memory ?? '64Mi' },
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
    },
    status: {
      phase: o.phase ?? 'Pending',
      ...(o.nodeName !== undefined ? { nodeName: o.nodeName } : {}),
      ...(o.reason !== undefined ? { reason: o.reason } : {}),
    },
  };
}

function node(name: string, cpu = '4'): Node {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Node',
    metadata: { name },
    spec: {},
    status: { allocatable: { cpu, memory: '8Gi' }, drivers: ['process'], conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

const key = (name: string): string => `${JOBS_PREFIX}default/${name}`;
const MiB = 2 ** 20;

void describe('SchedulingCache (assumed binds)', () => {
  void it('counts an assumed bind once, before and after the informer sees it, until pruned past its revision', () => {
    const cache = new SchedulingCache();
    const pending = job('a', { cpu: '500m' });
    cache.observe(key('a'), pending);
    assert.deepEqual(
      cache.pendingSnapshot().map((p) => p.key),
      [key('a')],
    );
    assert.equal(cache.get('n1'), undefined);

    const bound = job('a', { cpu: '500m', phase: 'Scheduled', nodeName: 'n1' });
    cache.assume(key('a'), bound);
    assert.ok(cache.isAssumed(key('a')));
    assert.deepEqual(cache.get('n1'), { cpuMillis: 500, memoryBytes: 64 * MiB, jobCount: 1 });

    // The write is in flight (revision unknown): no prune forgets it.
    cache.prune(1_000_000);
    assert.ok(cache.isAssumed(key('a')));
    cache.confirm(key('a'), 42);
    cache.prune(41);
    assert.ok(cache.isAssumed(key('a')), 'the informer has not reached revision 42 yet');

    // The informer reports the bind: still one job on n1, not two.
    cache.observe(key('a'), bound);
    assert.deepEqual(cache.get('n1'), { cpuMillis: 500, memoryBytes: 64 * MiB, jobCount: 1 });
    assert.deepEqual(cache.pendingSnapshot(), []);
    cache.prune(42);
    assert.equal(cache.isAssumed(key('a')), false);
    assert.equal(cache.assumedCount(), 0);
    assert.deepEqual(cache.get('n1'), { cpuMillis: 500, memoryBytes: 64 * MiB, jobCount: 1 });
  });

  void it('gives the capacity back when a bind is forgotten, and when an assumed job is deleted', () => {
    const cache = new SchedulingCache();
    cache.observe(key('a'), job('a'));
    cache.observe(key('b'), job('b'));
    cache.assume(key('a'), job('a', { phase: 'Scheduled', nodeName: 'n1' }));
    cache.assume(key('b'), job('b', { phase: 'Scheduled', nodeName: 'n1' }));
    assert.equal(cache.get('n1')?.jobCount, 2);
    cache.forget(key('a')); // its write failed
    assert.deepEqual(cache.get('n1'), { cpuMillis: 100, memoryBytes: 64 * MiB, jobCount: 1 });
    cache.confirm(key('b'), 7);
    cache.observe(key('b'), undefined); // deleted right after the bind
    assert.equal(cache.get('n1')?.jobCount, 1, 'counted while assumed');
    cache.prune(7);
    assert.equal(cache.get('n1'), undefined);
    assert.deepEqual([...cache.allocationSnapshot()], []);
  });

  void it('rejects assuming a job that is not bound', () => {
    const cache = new SchedulingCache();
    assert.throws(() => cache.assume(key('a'), job('a')), /must be Scheduled or Running with a status\.nodeName/);
  });

  void it('lists pending jobs of strictly higher priority only', () => {
    const cache = new SchedulingCache();
    cache.observe(key('low'), job('low', { priority: 0 }));
    cache.observe(key('mid'), job('mid', { priority: 5 }));
    cache.observe(key('top'), job('top', { priority: 9 }));
    cache.observe(key('top2'), job('top2', { priority: 9 }));
    const names = (priority: number): string[] =>
      cache
        .pendingAbove(priority)
        .map((p) => p.key)
        .sort();
    assert.deepEqual(names(9), []);
    assert.deepEqual(names(5), [key('top'), key('top2')]);
    assert.deepEqual(names(0), [key('mid'), key('top'), key('top2')]);
    assert.deepEqual(cache.prioritySnapshot(), [9, 5, 0]);
    // A priority change moves the job; an emptied priority disappears.
    cache.observe(key('mid'), job('mid', { priority: 1 }));
    assert.deepEqual(cache.prioritySnapshot(), [9, 1, 0]);
    cache.observe(key('top'), job('top', { priority: 9, phase: 'Scheduled', nodeName: 'n1' }));
    cache.observe(key('top2'), undefined);
    assert.deepEqual(cache.prioritySnapshot(), [1, 0]);
    assert.deepEqual(names(0), [key('mid')]);
  });

  void it('overlays simulated placements without changing the cache', () => {
    const cache = new SchedulingCache();
    cache.observe(key('a'), job('a', { cpu: '1', phase: 'Running', nodeName: 'n1' }));
    const overlay = new AllocationOverlay(cache);
    overlay.place('n1', { cpuMillis: 500, memoryBytes: MiB });
    overlay.place('n2', { cpuMillis: 200, memoryBytes: MiB });
    assert.deepEqual(overlay.get('n1'), { cpuMillis: 1500, memoryBytes: 65 * MiB, jobCount: 2 });
    assert.deepEqual(overlay.get('n2'), { cpuMillis: 200, memoryBytes: MiB, jobCount: 1 });
    assert.deepEqual(cache.get('n1'), { cpuMillis: 1000, memoryBytes: 64 * MiB, jobCount: 1 });
    assert.equal(cache.get('n2'), undefined);
  });
});

void describe('NodeCandidates', () => {
  void it('keeps nodes sorted by name with parsed allocatable across add, update and delete', () => {
    const nodes = new NodeCandidates();
    const names = (): string[] => nodes.list().map((c) => c.node.metadata.name);
    nodes.observe('/k/c', node('c'));
    nodes.observe('/k/a', node('a'));
    nodes.observe('/k/b', node('b'));
    assert.deepEqual(names(), ['a', 'b', 'c']);
    nodes.observe('/k/b', node('b', '500m')); // an update replaces in place
    assert.deepEqual(names(), ['a', 'b', 'c']);
    assert.deepEqual(nodes.list()[1]?.allocatable, { cpuMillis: 500, memoryBytes: 8 * 1024 * MiB });
    assert.equal(nodes.get('b')?.allocatable.cpuMillis, 500);
    nodes.observe('/k/a', undefined);
    nodes.observe('/k/missing', undefined);
    assert.deepEqual(names(), ['b', 'c']);
    assert.equal(nodes.get('a'), undefined);
  });
});

void describe('SchedulingCache fed by a job informer', { timeout: 30_000 }, () => {
  let temp: TempStore;
  let stopInformer: (() => Promise<void>) | undefined;

  beforeEach(async () => {
    temp = await openTempStore();
  });
  afterEach(async () => {
    await stopInformer?.();
    stopInformer = undefined;
    await temp.cleanup();
  });

  const put = async (j: Job): Promise<number> => (await temp.store.put(key(j.metadata.name), JSON.stringify(j))).revision;
  const remove = async (name: string): Promise<number> => {
    const result = await temp.store.delete(key(name));
    assert.ok(result, `${name} existed`);
    return result.revision;
  };

  /** A cache fed by an informer over `store`, running until the test ends. */
  const follow = (store: ControlledStore | TempStore['store']): { cache: SchedulingCache; informer: Informer<Job> } => {
    const informer = new Informer<Job>({ store, prefix: JOBS_PREFIX, decode: decodeJob, name: 'jobs' });
    const cache = new SchedulingCache();
    informer.addHandlers({
      onAdd: (k, j) => cache.observe(k, j),
      onUpdate: (k, _old, j) => cache.observe(k, j),
      onDelete: (k) => cache.observe(k, undefined),
    });
    const abort = new AbortController();
    const running = informer.run(abort.signal);
    stopInformer = async () => {
      abort.abort();
      await running;
    };
    return { cache, informer };
  };

  /** The cache agrees with a recomputation from every job the informer holds. */
  const assertConsistent = (cache: SchedulingCache, informer: Informer<Job>): void => {
    const jobs = informer.keys().map((k) => [k, informer.get(k)] as const);
    assert.deepEqual(cache.allocationSnapshot(), allocationsByNode(informer.list()), 'allocations');
    const runnable = jobs.filter(([, j]) => j !== undefined && isRunnable(j));
    assert.deepEqual(cache.pendingSnapshot().map((p) => p.key).sort(), runnable.map(([k]) => k).sort(), 'pending');
    assert.deepEqual(
      cache.prioritySnapshot(),
      [...new Set(runnable.map(([, j]) => j?.spec.priority ?? 0))].sort((a, b) => b - a),
      'priorities',
    );
    assert.deepEqual(
      cache.unschedulableKeys().sort(),
      runnable.filter(([, j]) => j?.status?.reason === UNSCHEDULABLE_REASON).map(([k]) => k).sort(),
      'unschedulable',
    );
  };

  const seed = async (): Promise<number> => {
    await put(job('run-1', { cpu: '1', memory: '1Gi', phase: 'Running', nodeName: 'n1' }));
    await put(job('sched-1', { cpu: '500m', phase: 'Scheduled', nodeName: 'n1' }));
    await put(job('sched-2', { cpu: '2', phase: 'Scheduled', nodeName: 'n2' }));
    await put(job('done-1', { cpu: '3', phase: 'Succeeded', nodeName: 'n1' }));
    await put(job('pend-0', { priority: 0 }));
    await put(job('pend-5', { priority: 5 }));
    await put(job('stuck', { priority: 5, reason: UNSCHEDULABLE_REASON }));
    return put(job('backoff', { reason: 'BackoffWaiting' }));
  };

  void it('follows adds, updates (a job finishing frees its capacity) and deletes', async () => {
    await seed();
    const { cache, informer } = follow(temp.store);
    await waitFor('informer synced', () => informer.hasSynced());
    assertConsistent(cache, informer);
    assert.deepEqual(cache.get('n1'), { cpuMillis: 1500, memoryBytes: 1024 * MiB + 64 * MiB, jobCount: 2 });
    assert.deepEqual(cache.get('n2'), { cpuMillis: 2000, memoryBytes: 64 * MiB, jobCount: 1 });
    assert.deepEqual(cache.prioritySnapshot(), [5, 0]);
    assert.deepEqual(cache.unschedulableKeys(), [key('stuck')]);

    const steps: [string, () => Promise<number>][] = [
      ['a running job finishes', () => put(job('run-1', { cpu: '1', memory: '1Gi', phase: 'Succeeded', nodeName: 'n1' }))],
      ['a pending job is bound', () => put(job('pend-5', { priority: 5, phase: 'Scheduled', nodeName: 'n2' }))],
      ['a bound job is deleted', () => remove('sched-1')],
      ['a job is added running', () => put(job('run-3', { cpu: '250m', phase: 'Running', nodeName: 'n3' }))],
      ['an unschedulable job becomes runnable again', () => put(job('stuck', { priority: 5 }))],
      ['a job leaves backoff', () => put(job('backoff', { priority: 2 }))],
      ['a scheduled job starts running', () => put(job('sched-2', { cpu: '2', phase: 'Running', nodeName: 'n2' }))],
      ['a running job is lost and re-queued', () => put(job('sched-2', { cpu: '2', reason: 'NodeLost' }))],
      ['a pending job is deleted', () => remove('pend-0')],
    ];
    for (const [what, step] of steps) {
      const revision = await step();
      await waitFor(`informer at ${what}`, () => informer.revision() >= revision);
      assertConsistent(cache, informer);
    }
    assert.equal(cache.get('n1'), undefined, 'every job on n1 finished or was deleted');
    assert.deepEqual(cache.get('n2'), { cpuMillis: 100, memoryBytes: 64 * MiB, jobCount: 1 });
    assert.deepEqual(cache.get('n3'), { cpuMillis: 250, memoryBytes: 64 * MiB, jobCount: 1 });
    assert.deepEqual(cache.prioritySnapshot(), [5, 2, 0]);
    assert.deepEqual(cache.unschedulableKeys(), []);
  });

  void it('converges after a relist forced by compaction (missed deletes, updates and adds)', async () => {
    await seed();
    const controlled = new ControlledStore(temp.store);
    controlled.holdWatches(); // the informer lists, then its watch waits
    const { cache, informer } = follow(controlled);
    await waitFor('informer synced', () => informer.hasSynced());
    await waitFor('watch started', () => controlled.watchCalls > 0);
    assertConsistent(cache, informer);

    // Changes the informer misses, then compaction past them: its watch must relist.
    await remove('sched-1');
    await remove('pend-0');
    await put(job('run-1', { cpu: '1', memory: '1Gi', phase: 'Failed', nodeName: 'n1' }));
    await put(job('stuck', { priority: 7, reason: UNSCHEDULABLE_REASON, created: '2026-01-02T00:00:00Z' }));
    await put(job('new-run', { cpu: '750m', phase: 'Running', nodeName: 'n1' }));
    const last = await put(job('new-pend', { priority: 1 }));
    await temp.store.compact(last);
    controlled.open();
    await waitFor('relisted', () => informer.revision() >= last);
    assertConsistent(cache, informer);
    assert.deepEqual(cache.get('n1'), { cpuMillis: 750, memoryBytes: 64 * MiB, jobCount: 1 });
    assert.deepEqual(cache.prioritySnapshot(), [7, 5, 1]);
    assert.deepEqual(cache.unschedulableKeys(), [key('stuck')]);
    assert.ok(controlled.watchCalls >= 2, 'the watch was restarted after the relist');
  });
});

// The scheduler on a real SqliteStore, driven by the controller runtime's Manager and Controller.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { EVENTS_PREFIX, type Event } from '../../api/v1/event.js';
import { MAX_RECENT_ATTEMPTS, type Job, type JobStatus, type Node } from '../../api/v1/index.js';
import { ConflictError, type PutOptions, type PutResult, type Store } from '../../store/store.js';
import { EventRecorder } from '../runtime/event-recorder.js';
import { Manager } from '../runtime/index.js';
import { openTempStore, waitFor, type TempStore } from '../runtime/test-support.js';
import { allocationsByNode, nodeAllocatable } from './placement.js';
import {
  decodeJob,
  decodeNode,
  isRunnable,
  JOBS_PREFIX,
  NODES_PREFIX,
  newSchedulerController,
  newSchedulerInformers,
  type Scheduler,
} from './scheduler.js';

interface NodeOpts {
  cpu: string;
  memory: string;
  drivers: string[];
  ready?: boolean;
  labels?: Record<string, string>;
}

function nodeObject(name: string, o: NodeOpts): Node {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Node',
    metadata: { name, ...(o.labels ? { labels: o.labels } : {}) },
    spec: {},
    status: {
      allocatable: { cpu: o.cpu, memory: o.memory },
      drivers: o.drivers,
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}

interface JobOpts {
  driver?: 'process' | 'podman' | 'incus';
  cpu?: string;
  memory?: string;
  priority?: number;
  reason?: string;
  dependsOn?: string[];
}

function jobObject(name: string, o: JobOpts = {}): Job {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {
      driver: o.driver ?? 'process',
      ...(o.driver === 'podman' ? { image: 'localhost/busybox:test' } : { command: ['true'] }),
      resources: { cpu: o.cpu ?? '100m', memory: o.memory ?? '64Mi' },
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
      ...(o.dependsOn !== undefined ? { dependsOn: o.dependsOn } : {}),
    },
    status: { phase: 'Pending', attempts: 0, ...(o.reason !== undefined ? { reason: o.reason } : {}) },
  };
}

const jobKey = (name: string): string => `${JOBS_PREFIX}default/${name}`;
const nodeKey = (name: string): string => `${NODES_PREFIX}${name}`;

/** Counts successful binding writes per key and lets a test run code before a put. */
interface Recorder {
  readonly store: Store;
  readonly binds: Map<string, number>;
  conflicts: number;
  beforePut?: (key: string, value: string, options: PutOptions | undefined) => Promise<void>;
}

function recording(inner: Store): Recorder {
  const recorder: Recorder = {
    binds: new Map(),
    conflicts: 0,
    store: undefined as unknown as Store,
  };
  const put = async (key: string, value: string, options?: PutOptions): Promise<PutResult> => {
    await recorder.beforePut?.(key, value, options);
    try {
      const result = await inner.put(key, value, options);
      const obj = JSON.parse(value) as Job;
      if (key.startsWith(JOBS_PREFIX) && obj.status?.phase === 'Scheduled') {
        recorder.binds.set(key, (recorder.binds.get(key) ?? 0) + 1);
      }
      return result;
    } catch (err) {
      if (err instanceof ConflictError) recorder.conflicts++;
      throw err;
    }
  };
  (recorder as { store: Store }).store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'put') return put;
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return recorder;
}

void describe('isRunnable and decoders', () => {
  void it('places only Pending jobs without a node that the lifecycle controller does not hold back', () => {
    const cases: [Job['status'], boolean][] = [
      [{ phase: 'Pending' }, true],
      [undefined, true],
      [{ phase: 'Pending', reason: 'Unschedulable', message: 'x' }, true],
      [{ phase: 'Pending', reason: 'WaitingForDependencies' }, false],
      [{ phase: 'Pending', reason: 'BackoffWaiting' }, false],
      [{ phase: 'Pending', nodeName: 'n1' }, false],
      [{ phase: 'Scheduled', nodeName: 'n1' }, false],
      [{ phase: 'Running', nodeName: 'n1' }, false],
      [{ phase: 'Succeeded' }, false],
      [{ phase: 'Failed', reason: 'RetriesExhausted' }, false],
    ];
    for (const [status, want] of cases) {
      const job = jobObject('j');
      if (status === undefined) delete job.status;
      else job.status = status;
      assert.equal(isRunnable(job), want, JSON.stringify(status));
    }
  });

  void it('places a job with dependsOn only once the dependency controller admitted it', () => {
    const job = jobObject('j');
    job.spec.dependsOn = ['build'];
    // Freshly created: no reason yet, but not admitted either.
    assert.equal(isRunnable(job), false);
    job.status = { phase: 'Pending', attempts: 0, conditions: [{ type: 'DependenciesReady', status: 'False' }] };
    assert.equal(isRunnable(job), false);
    job.status = { phase: 'Pending', attempts: 0, conditions: [{ type: 'DependenciesReady', status: 'True' }] };
    assert.equal(isRunnable(job), true);
    job.spec.dependsOn = [];
    job.status = { phase: 'Pending' };
    assert.equal(isRunnable(job), true);
  });

  void it('decodes only objects of the right kind', () => {
    assert.equal(decodeJob(JSON.stringify(jobObject('j')))?.metadata.name, 'j');
    assert.equal(decodeJob(JSON.stringify(nodeObject('n', { cpu: '1', memory: '1Gi', drivers: [] }))), undefined);
    assert.equal(decodeJob('null'), undefined);
    assert.equal(decodeJob('[1]'), undefined);
    assert.equal(decodeNode(JSON.stringify(nodeObject('n', { cpu: '1', memory: '1Gi', drivers: [] })))?.metadata.name, 'n');
    assert.throws(() => decodeNode('{not json'), SyntaxError); // the informer logs it and treats the key as absent
  });
});

void describe('Scheduler', { timeout: 30_000 }, () => {
  let temp: TempStore;
  let manager: Manager | undefined;
  let recorder: EventRecorder | undefined;

  beforeEach(async () => {
    temp = await openTempStore();
  });
  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
    await recorder?.close();
    recorder = undefined;
    await temp.cleanup();
  });

  const putNode = async (name: string, o: NodeOpts): Promise<void> => {
    await temp.store.put(nodeKey(name), JSON.stringify(nodeObject(name, o)));
  };
  const putJob = async (name: string, o: JobOpts = {}): Promise<void> => {
    await temp.store.put(jobKey(name), JSON.stringify(jobObject(name, o)));
  };
  const readJob = async (name: string): Promise<Job> => {
    const kv = await temp.store.get(jobKey(name));
    assert.ok(kv, `job ${name} exists`);
    return JSON.parse(kv.value) as Job;
  };
  const start = async (store: Store, workers = 4): Promise<Scheduler> => {
    const { jobs, nodes } = newSchedulerInformers(store);
    recorder = new EventRecorder(temp.store, { component: 'scheduler' });
    // A long retry period: wake-ups in these tests must come from the event handlers.
    const { scheduler, controller } = newSchedulerController({ store, jobs, nodes, workers, recorder, unschedulableRetryMs: 60_000 });
    const m = new Manager();
    m.addInformer(jobs);
    m.addInformer(nodes);
    m.add(controller, { leaderOnly: true });
    manager = m;
    await m.start();
    return scheduler;
  };

  void it('binds 30 jobs on 3 different nodes without overcommitting, spread, and explains the 31st', async () => {
    await putNode('n1', { cpu: '3', memory: '8Gi', drivers: ['process'] });
    await putNode('n2', { cpu: '3', memory: '4Gi', drivers: ['process', 'podman'] });
    await putNode('n3', { cpu: '3', memory: '16Gi', drivers: ['process', 'incus'], labels: { disk: 'ssd' } });
    await putJob('waiting', { reason: 'WaitingForDependencies' });
    // Has dependsOn but was not admitted by the dependency controller (no DependenciesReady=True).
    await putJob('gated', { dependsOn: ['waiting'] });
    const recorder = recording(temp.store);
    const scheduler = await start(recorder.store);
    // 31 jobs of 300m arrive while the scheduler runs: 3 nodes x 3 cpu hold exactly 30.
    await Promise.all(Array.from({ length: 31 }, (_, i) => putJob(`job-${String(i).padStart(2, '0')}`, { cpu: '300m', memory: '128Mi' })));
    const names = Array.from({ length: 31 }, (_, i) => `job-${String(i).padStart(2, '0')}`);
    let jobs: Job[] = [];
    await waitFor(
      'every job bound or unschedulable',
      async () => {
        jobs = await Promise.all(names.map(readJob));
        return jobs.every((j) => j.status?.phase === 'Scheduled' || j.status?.reason === 'Unschedulable');
      },
      15_000,
    );
    assert.equal(jobs.filter((j) => j.status?.phase === 'Scheduled').length, 30);
    const perNode = new Map<string, number>();
    for (const j of jobs.filter((x) => x.status?.phase === 'Scheduled')) {
      const node = j.status?.nodeName ?? '';
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
      assert.deepEqual(
        j.status?.conditions?.map((c) => [c.type, c.status, c.reason]),
        [['Scheduled', 'True', 'Scheduled']],
      );
      assert.equal(j.status?.reason, undefined);
    }
    assert.deepEqual([...perNode].sort(), [
      ['n1', 10],
      ['n2', 10],
      ['n3', 10],
    ]);
    const left = jobs.find((j) => j.status?.reason === 'Unschedulable');
    assert.equal(left?.status?.phase, 'Pending');
    assert.equal(left?.status?.nodeName, undefined);
    assert.equal(left?.status?.message, '0/3 nodes are available: 3 node(s) had insufficient cpu.');
    assert.deepEqual(left?.status?.conditions?.map((c) => [c.type, c.status, c.reason]), [['Scheduled', 'False', 'Unschedulable']]);
    // Each job was bound exactly once, the held-back job not at all.
    assert.equal(recorder.binds.size, 30);
    assert.ok([...recorder.binds.values()].every((n) => n === 1));
    assert.deepEqual((await readJob('waiting')).status, { phase: 'Pending', attempts: 0, reason: 'WaitingForDependencies' });
    assert.deepEqual((await readJob('gated')).status, { phase: 'Pending', attempts: 0 });
    await waitFor('assumed binds observed', () => scheduler.assumedCount() === 0);
  });

  void it('marks a job needing a missing driver Unschedulable and binds it once a fitting node appears', async () => {
    await putNode('n1', { cpu: '4', memory: '8Gi', drivers: ['process'] });
    await putNode('n2', { cpu: '4', memory: '8Gi', drivers: ['process', 'incus'] });
    await putNode('n3', { cpu: '4', memory: '8Gi', drivers: ['podman'], ready: false });
    await putJob('web', { driver: 'podman' });
    const recorder = recording(temp.store);
    await start(recorder.store);
    const expected = '0/3 nodes are available: 1 node(s) not ready, 2 node(s) missing driver "podman".';
    await waitFor('Unschedulable message', async () => (await readJob('web')).status?.message === expected);
    const before = await temp.store.get(jobKey('web'));
    assert.equal((await readJob('web')).status?.reason, 'Unschedulable');

    // A node change wakes the job, but the verdict is the same: the job is not rewritten (no write loop).
    await putNode('n1', { cpu: '4', memory: '8Gi', drivers: ['process'], labels: { zone: 'b' } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await temp.store.get(jobKey('web')))?.modRevision, before?.modRevision);

    await putNode('n3', { cpu: '4', memory: '8Gi', drivers: ['podman'], ready: true });
    await waitFor('bound to n3', async () => (await readJob('web')).status?.phase === 'Scheduled');
    const bound = await readJob('web');
    assert.equal(bound.status?.nodeName, 'n3');
    assert.equal(bound.status?.reason, undefined);
    assert.equal(bound.status?.message, undefined);
    assert.deepEqual(bound.status?.conditions?.map((c) => [c.type, c.status, c.reason]), [['Scheduled', 'True', 'Scheduled']]);
    assert.equal(recorder.binds.get(jobKey('web')), 1);
  });

  void it('gives scarce capacity to the higher-priority job, then to the other once it is freed', async () => {
    await putNode('only', { cpu: '1', memory: '8Gi', drivers: ['process'] });
    // 'a-low' sorts (and is queued) first; only one of the two fits.
    await putJob('a-low', { cpu: '800m', priority: 0 });
    await putJob('b-high', { cpu: '800m', priority: 10 });
    const scheduler = await start(temp.store, 1);
    await waitFor('high bound, low unschedulable', async () => {
      const [low, high] = await Promise.all([readJob('a-low'), readJob('b-high')]);
      return high.status?.phase === 'Scheduled' && low.status?.reason === 'Unschedulable';
    });
    const low = await readJob('a-low');
    assert.equal(low.status?.phase, 'Pending');
    assert.equal(low.status?.message, '0/1 nodes are available: 1 node(s) had insufficient cpu.');
    assert.equal((await readJob('b-high')).status?.nodeName, 'only');

    // The high-priority job finishes: its capacity goes to the waiting job without waiting for the retry period.
    const high = await readJob('b-high');
    const done = { ...high, status: { ...high.status, phase: 'Succeeded' } };
    await temp.store.put(jobKey('b-high'), JSON.stringify(done));
    await waitFor('low bound after high finished', async () => (await readJob('a-low')).status?.phase === 'Scheduled');
    assert.equal((await readJob('a-low')).status?.nodeName, 'only');
    await waitFor('assumed binds observed', () => scheduler.assumedCount() === 0);
    assert.deepEqual(scheduler.allocations(), new Map([['only', { cpuMillis: 800, memoryBytes: 64 * 2 ** 20, jobCount: 1 }]]));
  });

  void it('retries a bind that conflicts with a concurrent write, from fresh state, binding once', async () => {
    await putNode('n1', { cpu: '2', memory: '8Gi', drivers: ['process'] });
    await putJob('raced');
    const recorder = recording(temp.store);
    let injected = false;
    recorder.beforePut = async (key, value, options) => {
      if (injected || key !== jobKey('raced') || options?.ifRevision === undefined) return;
      injected = true;
      // Another writer updates the job between the scheduler's read and its write.
      const current = JSON.parse(value) as Job;
      const external = { ...current, metadata: { ...current.metadata, labels: { touched: 'yes' } }, status: { phase: 'Pending', attempts: 0 } };
      await temp.store.put(key, JSON.stringify(external));
    };
    await start(recorder.store, 2);
    await waitFor('bound after conflict', async () => (await readJob('raced')).status?.phase === 'Scheduled');
    const job = await readJob('raced');
    assert.ok(injected);
    assert.ok(recorder.conflicts >= 1, 'the first bind conflicted');
    assert.deepEqual(job.metadata.labels, { touched: 'yes' }, 'the concurrent write was kept, not overwritten');
    assert.equal(job.status?.nodeName, 'n1');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(recorder.binds.get(jobKey('raced')), 1);
  });

  const eventsOf = async (name: string): Promise<Event[]> => {
    await recorder?.flush();
    const { items } = await temp.store.list(`${EVENTS_PREFIX}default/`);
    return items.map((kv) => JSON.parse(kv.value) as Event).filter((e) => e.involvedObject.name === name);
  };

  void it('creates the next attempt at bind, keeping numbers across a DLQ retry and bounding recentAttempts', async () => {
    await putNode('n1', { cpu: '4', memory: '8Gi', drivers: ['process'] });
    await putJob('fresh');
    // Retried from the dead-letter queue after 10 attempts: the next attempt is 11, the oldest kept record goes.
    const retried = jobObject('retried');
    const history = Array.from({ length: MAX_RECENT_ATTEMPTS }, (_, i) => ({
      attempt: i + 1,
      nodeName: 'old-node',
      endTime: '2026-01-01T00:00:00Z',
      exitCode: 1,
      reason: 'Error',
    }));
    retried.status = {
      phase: 'Pending',
      reason: 'Retried',
      message: 'retried by admin',
      attempts: 10,
      seriesStartAttempt: 10,
      retrySeries: 1,
      exitCode: 1,
      recentAttempts: history,
    } satisfies JobStatus;
    await temp.store.put(jobKey('retried'), JSON.stringify(retried));
    const writes = recording(temp.store);
    await start(writes.store);
    await waitFor('both bound', async () => (await Promise.all([readJob('fresh'), readJob('retried')])).every((j) => j.status?.phase === 'Scheduled'));

    const fresh = await readJob('fresh');
    assert.equal(fresh.status?.attempts, 1);
    assert.deepEqual(fresh.status?.recentAttempts, [{ attempt: 1, nodeName: 'n1' }]);

    const bound = await readJob('retried');
    assert.equal(bound.status?.attempts, 11);
    assert.equal(bound.status?.seriesStartAttempt, 10, 'the series start is kept');
    assert.equal(bound.status?.exitCode, 1, 'the last attempt exit code stays until the new attempt ends');
    assert.equal(bound.status?.reason, undefined);
    assert.equal(bound.status?.message, undefined);
    assert.equal(bound.status?.recentAttempts?.length, MAX_RECENT_ATTEMPTS);
    assert.deepEqual(
      bound.status?.recentAttempts?.map((a) => a.attempt),
      [2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    );
    assert.deepEqual(bound.status?.recentAttempts?.at(-1), { attempt: 11, nodeName: 'n1' });
    assert.deepEqual(bound.status?.recentAttempts?.[0], history[1], 'older records are kept as they were');
    // One write per bind.
    assert.equal(writes.binds.get(jobKey('fresh')), 1);
    assert.equal(writes.binds.get(jobKey('retried')), 1);

    await waitFor('Scheduled events', async () => (await eventsOf('retried')).length > 0 && (await eventsOf('fresh')).length > 0);
    assert.deepEqual(
      (await eventsOf('retried')).map((e) => [e.type, e.reason, e.message, e.count, e.source.component]),
      [['Normal', 'Scheduled', 'bound to node n1 (attempt 11)', 1, 'scheduler']],
    );
    assert.deepEqual(
      (await eventsOf('fresh')).map((e) => [e.type, e.reason, e.message]),
      [['Normal', 'Scheduled', 'bound to node n1 (attempt 1)']],
    );
  });

  void it('records FailedScheduling once per written verdict, not on every look', async () => {
    await putNode('n1', { cpu: '4', memory: '8Gi', drivers: ['process'] });
    await putJob('web', { driver: 'podman' });
    await start(temp.store);
    const first = '0/1 nodes are available: 1 node(s) missing driver "podman".';
    await waitFor('first verdict', async () => (await readJob('web')).status?.message === first);
    // Same verdict after a node change (woken, not rewritten), then a different one.
    await putNode('n1', { cpu: '4', memory: '8Gi', drivers: ['process'], labels: { zone: 'a' } });
    await putNode('n2', { cpu: '4', memory: '8Gi', drivers: ['podman'], ready: false });
    const second = '0/2 nodes are available: 1 node(s) missing driver "podman", 1 node(s) not ready.';
    await waitFor('second verdict', async () => (await readJob('web')).status?.message === second);
    await waitFor('both events', async () => (await eventsOf('web')).length === 2);
    const events = (await eventsOf('web')).map((e) => [e.type, e.reason, e.message, e.count]);
    assert.deepEqual(events.sort(), [
      ['Warning', 'FailedScheduling', first, 1],
      ['Warning', 'FailedScheduling', second, 1],
    ]);
    assert.equal((await readJob('web')).status?.attempts, 0, 'no attempt without a bind');
  });

  void it('serves 1,000 jobs by priority on 20 nodes, never overcommits, and refills capacity freed by finished jobs', async () => {
    const nodeNames = Array.from({ length: 20 }, (_, i) => `node-${String(i).padStart(2, '0')}`);
    for (const name of nodeNames) await putNode(name, { cpu: '4', memory: '64Gi', drivers: ['process'] });
    // 80 cpu for 100 cpu of requests: 800 of the 1,000 fit. All 300 high-priority ones must be among them.
    const names = Array.from({ length: 1000 }, (_, i) => `job-${String(i).padStart(4, '0')}`);
    const high = (i: number): boolean => i % 10 < 3;
    for (let i = 0; i < names.length; i += 100) {
      await Promise.all(names.slice(i, i + 100).map((name, j) => putJob(name, { cpu: '100m', priority: high(i + j) ? 10 : 0 })));
    }
    const writes = recording(temp.store);
    const scheduler = await start(writes.store);
    let jobs: Job[] = [];
    const settled = async (): Promise<boolean> => {
      const { items } = await temp.store.list(JOBS_PREFIX);
      jobs = items.map((kv) => JSON.parse(kv.value) as Job);
      return jobs.every((j) => j.status?.phase !== 'Pending' || j.status.reason === 'Unschedulable');
    };
    await waitFor('every job bound or unschedulable', settled, 60_000);
    const check = async (wantBound: number): Promise<void> => {
      await waitFor('assumed binds observed', () => scheduler.assumedCount() === 0);
      const bound = jobs.filter((j) => j.status?.phase === 'Scheduled' || j.status?.phase === 'Running');
      assert.equal(bound.length, wantBound);
      const byNode = allocationsByNode(jobs);
      assert.deepEqual(scheduler.allocations(), byNode, 'the incremental index equals a recomputation');
      for (const name of nodeNames) {
        const used = byNode.get(name)?.cpuMillis ?? 0;
        assert.ok(used <= nodeAllocatable(nodeObject(name, { cpu: '4', memory: '64Gi', drivers: [] })).cpuMillis, `${name} not overcommitted`);
      }
      assert.ok([...writes.binds.values()].every((n) => n === 1), 'each job bound once');
      assert.ok(bound.every((j) => j.status?.attempts === 1));
    };
    await check(800);
    const bound = jobs.filter((j) => j.status?.phase === 'Scheduled');
    assert.equal(bound.filter((j) => j.spec.priority === 10).length, 300, 'every high-priority job placed');
    assert.equal(scheduler.unschedulableKeys().length, 200);

    // 50 bound jobs finish: 50 of the waiting ones take their place without the retry period.
    for (const done of bound.slice(0, 50)) {
      await temp.store.put(jobKey(done.metadata.name), JSON.stringify({ ...done, status: { ...done.status, phase: 'Succeeded' } }));
    }
    await waitFor('freed capacity refilled', async () => {
      await settled();
      return jobs.filter((j) => j.status?.phase === 'Scheduled').length === 800;
    }, 30_000);
    await check(800); // 50 finished, 50 more bound
    assert.equal(scheduler.unschedulableKeys().length, 150);
  });
});

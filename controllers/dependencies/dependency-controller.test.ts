// The dependency controller on a real SqliteStore, driven by the runtime's Manager and Controller.
// Other controllers are simulated by writing job status directly through the store.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Job, JobStatus, Node } from '../../api/v1/index.js';
import { Manager } from '../runtime/index.js';
import { openTempStore, waitFor, type TempStore } from '../runtime/test-support.js';
import { JOBS_PREFIX, NODES_PREFIX, newSchedulerController, newSchedulerInformers } from '../scheduler/scheduler.js';
import { dependencyVerdict, isGated, newDependencyController } from './dependency-controller.js';

function jobObject(name: string, dependsOn: string[] = [], status: JobStatus = { phase: 'Pending', attempts: 0 }): Job {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {
      driver: 'process',
      command: ['true'],
      resources: { cpu: '100m', memory: '64Mi' },
      ...(dependsOn.length > 0 ? { dependsOn } : {}),
    },
    status,
  };
}

const jobKey = (name: string, ns = 'default'): string => `${JOBS_PREFIX}${ns}/${name}`;
const conditionsOf = (job: Job): [string, string, string | undefined][] =>
  (job.status?.conditions ?? []).map((c) => [c.type, c.status, c.reason]);

void describe('dependencyVerdict', () => {
  const jobs = new Map<string, Job>([
    ['ok', jobObject('ok', [], { phase: 'Succeeded' })],
    ['run', jobObject('run', [], { phase: 'Running', nodeName: 'n1' })],
    ['bad', jobObject('bad', [], { phase: 'Failed', reason: 'RetriesExhausted' })],
    ['bare', jobObject('bare', [], { phase: 'Failed' })],
  ]);
  const lookup = (name: string): Job | undefined => jobs.get(name);

  void it('names waiting and missing dependencies in dependsOn order, once each', () => {
    assert.deepEqual(dependencyVerdict(jobObject('x', ['run', 'ok', 'run']), lookup), { kind: 'waiting', message: 'waiting for run' });
    assert.deepEqual(dependencyVerdict(jobObject('x', ['nope', 'run', 'gone']), lookup), {
      kind: 'waiting',
      message: 'waiting for nope, run, gone; nope, gone do not exist',
    });
    assert.deepEqual(dependencyVerdict(jobObject('x', ['ok', 'nope']), lookup), {
      kind: 'waiting',
      message: 'waiting for nope; nope does not exist',
    });
  });

  void it('fails on the first failed dependency, whatever else waits', () => {
    assert.deepEqual(dependencyVerdict(jobObject('x', ['run', 'nope', 'bad', 'bare']), lookup), {
      kind: 'failed',
      message: 'dependency bad failed (RetriesExhausted)',
    });
    assert.deepEqual(dependencyVerdict(jobObject('x', ['bare']), lookup), { kind: 'failed', message: 'dependency bare failed' });
    assert.deepEqual(dependencyVerdict(jobObject('x', ['ok', 'ok']), lookup), { kind: 'ready' });
  });

  void it('gates only Pending, unbound, not yet admitted jobs with dependsOn', () => {
    assert.equal(isGated(jobObject('x', ['a'])), true);
    assert.equal(isGated(jobObject('x', [])), false);
    assert.equal(isGated(jobObject('x', ['a'], { phase: 'Pending', nodeName: 'n1' })), false);
    assert.equal(isGated(jobObject('x', ['a'], { phase: 'Running', nodeName: 'n1' })), false);
    assert.equal(isGated(jobObject('x', ['a'], { phase: 'Pending', conditions: [{ type: 'DependenciesReady', status: 'True' }] })), false);
  });
});

void describe('dependency controller', { timeout: 30_000 }, () => {
  let temp: TempStore;
  let manager: Manager | undefined;

  beforeEach(async () => {
    temp = await openTempStore();
  });
  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
    await temp.cleanup();
  });

  const putJob = async (name: string, dependsOn: string[] = [], status?: JobStatus): Promise<void> => {
    await temp.store.put(jobKey(name), JSON.stringify(jobObject(name, dependsOn, status)));
  };
  const readJob = async (name: string): Promise<Job> => {
    const kv = await temp.store.get(jobKey(name));
    assert.ok(kv, `job ${name} exists`);
    return JSON.parse(kv.value) as Job;
  };
  const modRevision = async (name: string): Promise<number> => (await temp.store.get(jobKey(name)))?.modRevision ?? -1;
  /** Simulates another controller: replaces the job's status. */
  const setStatus = async (name: string, status: JobStatus): Promise<void> => {
    const kv = await temp.store.get(jobKey(name));
    assert.ok(kv, `job ${name} exists`);
    const job = JSON.parse(kv.value) as Job;
    job.status = status;
    await temp.store.put(jobKey(name), JSON.stringify(job), { ifRevision: kv.modRevision });
  };
  const waitMessage = async (name: string, message: string | undefined): Promise<Job> => {
    let job: Job | undefined;
    await waitFor(`${name} message ${String(message)}`, async () => {
      job = await readJob(name);
      return job.status?.message === message;
    });
    assert.ok(job);
    return job;
  };
  const waitAdmitted = async (name: string): Promise<Job> => {
    let job: Job | undefined;
    await waitFor(`${name} admitted`, async () => {
      job = await readJob(name);
      return (job.status?.conditions ?? []).some((c) => c.type === 'DependenciesReady' && c.status === 'True');
    });
    assert.ok(job);
    return job;
  };
  /** One worker: keys are reconciled in queue order, which the no-write tests rely on. */
  const start = async (): Promise<void> => {
    const { jobs } = newSchedulerInformers(temp.store);
    const { controller } = newDependencyController({ store: temp.store, jobs, workers: 1 });
    const m = new Manager();
    m.addInformer(jobs);
    m.add(controller, { leaderOnly: true });
    manager = m;
    await m.start();
  };
  /**
   * Applies a fresh job depending on `dep` and waits for the controller's write to it (waiting or
   * failed): with one worker, every key queued before it has been reconciled by then.
   */
  let probes = 0;
  const barrier = async (dep: string): Promise<Job> => {
    const name = `probe-${++probes}`;
    await putJob(name, [dep]);
    await waitFor(`${name} reconciled`, async () => (await readJob(name)).status?.reason !== undefined);
    return readJob(name);
  };

  void it('holds a chain a -> b -> c and admits each link once its dependency Succeeded', async () => {
    await putJob('a');
    await putJob('b', ['a']);
    await putJob('c', ['b']);
    await start();
    const b = await waitMessage('b', 'waiting for a');
    assert.equal(b.status?.phase, 'Pending');
    assert.equal(b.status?.reason, 'WaitingForDependencies');
    assert.deepEqual(conditionsOf(b), [['DependenciesReady', 'False', 'WaitingForDependencies']]);
    const c = await waitMessage('c', 'waiting for b');
    assert.equal(c.status?.reason, 'WaitingForDependencies');
    assert.deepEqual((await readJob('a')).status, { phase: 'Pending', attempts: 0 }); // no dependsOn: untouched

    await setStatus('a', { phase: 'Running', nodeName: 'n1', attempts: 1 });
    await setStatus('a', { phase: 'Succeeded', attempts: 1, exitCode: 0 });
    const admitted = await waitAdmitted('b');
    assert.equal(admitted.status?.phase, 'Pending');
    assert.equal(admitted.status?.reason, undefined);
    assert.equal(admitted.status?.message, undefined);
    assert.equal(admitted.status?.attempts, 0);
    assert.deepEqual(conditionsOf(admitted), [['DependenciesReady', 'True', 'DependenciesSucceeded']]);
    assert.equal((await readJob('c')).status?.message, 'waiting for b');

    await setStatus('b', { ...admitted.status, phase: 'Succeeded' });
    const c2 = await waitAdmitted('c');
    assert.equal(c2.status?.reason, undefined);
  });

  void it('admits the bottom of a diamond only after both branches Succeeded', async () => {
    await putJob('a');
    await putJob('b', ['a']);
    await putJob('c', ['a']);
    await putJob('d', ['b', 'c']);
    await start();
    await waitMessage('d', 'waiting for b, c');
    await setStatus('a', { phase: 'Succeeded' });
    await waitAdmitted('b');
    await waitAdmitted('c');
    await setStatus('b', { phase: 'Succeeded' });
    await waitMessage('d', 'waiting for c');
    assert.equal((await readJob('d')).status?.reason, 'WaitingForDependencies');
    await setStatus('c', { phase: 'Running', nodeName: 'n1' });
    await barrier('c');
    assert.equal((await readJob('d')).status?.message, 'waiting for c');
    await setStatus('c', { phase: 'Succeeded' });
    const d = await waitAdmitted('d');
    assert.equal(d.status?.reason, undefined);
    assert.equal(d.status?.message, undefined);
  });

  void it('fails every dependent transitively when a root fails for good', async () => {
    await putJob('root');
    await putJob('mid', ['root']);
    await putJob('leaf', ['mid']);
    await putJob('other');
    await putJob('join', ['other', 'leaf']);
    await start();
    await waitMessage('join', 'waiting for other, leaf');
    await setStatus('root', { phase: 'Failed', reason: 'RetriesExhausted', attempts: 4 });

    const mid = await waitMessage('mid', 'dependency root failed (RetriesExhausted)');
    assert.equal(mid.status?.phase, 'Failed');
    assert.equal(mid.status?.reason, 'DependencyFailed');
    assert.match(mid.status?.completionTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(conditionsOf(mid), [['DependenciesReady', 'False', 'DependencyFailed']]);
    const leaf = await waitMessage('leaf', 'dependency mid failed (DependencyFailed)');
    assert.equal(leaf.status?.phase, 'Failed');
    const join = await waitMessage('join', 'dependency leaf failed (DependencyFailed)');
    assert.equal(join.status?.phase, 'Failed');
    assert.equal(join.status?.reason, 'DependencyFailed');
    assert.deepEqual((await readJob('other')).status, { phase: 'Pending', attempts: 0 });
  });

  void it('keeps a job waiting on a missing dependency and admits it once that appears and succeeds', async () => {
    await putJob('b', ['a']);
    await start();
    await waitMessage('b', 'waiting for a; a does not exist');
    await putJob('a');
    await waitMessage('b', 'waiting for a');
    await setStatus('a', { phase: 'Succeeded' });
    const b = await waitAdmitted('b');
    assert.equal(b.status?.reason, undefined);
    // A dependency deleted after admission does not gate the admitted job again.
    await temp.store.delete(jobKey('a'));
    await barrier('a');
    assert.deepEqual(conditionsOf(await readJob('b')), [['DependenciesReady', 'True', 'DependenciesSucceeded']]);
  });

  void it('writes nothing when a wake-up changes no verdict, nor after a restart', async () => {
    await putJob('a');
    await putJob('b', ['a']);
    await putJob('c', ['a', 'b']);
    await start();
    await waitMessage('b', 'waiting for a');
    await waitMessage('c', 'waiting for a, b');
    const rev = await temp.store.currentRevision();
    const bRev = await modRevision('b');
    const cRev = await modRevision('c');

    // a changes phase: b and c are reconciled, but their verdict is the same.
    await setStatus('a', { phase: 'Running', nodeName: 'n1', attempts: 1 });
    await barrier('a'); // 2 writes: the probe and its WaitingForDependencies status
    assert.equal(await temp.store.currentRevision(), rev + 3);
    assert.equal(await modRevision('b'), bRev);
    assert.equal(await modRevision('c'), cRev);

    // A restart reseeds every key: still no write.
    await manager?.stop();
    await start();
    await barrier('a');
    assert.equal(await temp.store.currentRevision(), rev + 5);
    assert.equal(await modRevision('b'), bRev);
    assert.equal(await modRevision('c'), cRev);
  });

  void it('never touches a job that is bound or past Pending', async () => {
    await putJob('bad', [], { phase: 'Failed', reason: 'RetriesExhausted' });
    await putJob('bound', ['bad'], { phase: 'Pending', nodeName: 'n1', attempts: 0 });
    await putJob('running', ['bad'], { phase: 'Running', nodeName: 'n1', attempts: 1 });
    await putJob('done', ['missing'], { phase: 'Succeeded', attempts: 1 });
    const before = await Promise.all(['bound', 'running', 'done'].map(modRevision));
    await start();
    const probe = await barrier('bad');
    assert.equal(probe.status?.reason, 'DependencyFailed');
    await setStatus('bad', { phase: 'Failed', reason: 'RetriesExhausted', attempts: 2 });
    await barrier('missing');
    assert.deepEqual(await Promise.all(['bound', 'running', 'done'].map(modRevision)), before);
    assert.deepEqual((await readJob('running')).status, { phase: 'Running', nodeName: 'n1', attempts: 1 });
  });

  void it('with the scheduler: a dependent is bound only after its dependency Succeeded', async () => {
    const node: Node = {
      apiVersion: 'openscheduler.io/v1',
      kind: 'Node',
      metadata: { name: 'n1' },
      spec: {},
      status: { allocatable: { cpu: '4', memory: '8Gi' }, drivers: ['process'], conditions: [{ type: 'Ready', status: 'True' }] },
    };
    await temp.store.put(`${NODES_PREFIX}n1`, JSON.stringify(node));
    await putJob('a');
    await putJob('b', ['a']);
    const { jobs, nodes } = newSchedulerInformers(temp.store);
    const deps = newDependencyController({ store: temp.store, jobs });
    const sched = newSchedulerController({ store: temp.store, jobs, nodes, unschedulableRetryMs: 60_000 });
    const m = new Manager();
    m.addInformer(jobs);
    m.addInformer(nodes);
    m.add(sched.controller, { leaderOnly: true });
    m.add(deps.controller, { leaderOnly: true });
    manager = m;
    await m.start();

    await waitFor('a bound', async () => (await readJob('a')).status?.phase === 'Scheduled');
    await waitMessage('b', 'waiting for a');
    assert.equal((await readJob('b')).status?.nodeName, undefined);
    await setStatus('a', { phase: 'Succeeded', nodeName: 'n1' });
    await waitFor('b bound', async () => (await readJob('b')).status?.phase === 'Scheduled');
    const b = await readJob('b');
    assert.equal(b.status?.nodeName, 'n1');
    assert.equal(b.status?.reason, undefined);
    assert.deepEqual(conditionsOf(b), [
      ['DependenciesReady', 'True', 'DependenciesSucceeded'],
      ['Scheduled', 'True', 'Scheduled'],
    ]);
  });
});

// The job lifecycle controller on a real SqliteStore: informers run on a Manager, time is a
// FakeClock, events go through a real EventRecorder; the agent endpoint and the other
// controllers are simulated by direct store writes.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { eventCollectionPrefix, type Event } from '../../api/v1/event.js';
import type { Job, JobSpec, JobStatus } from '../../api/v1/index.js';
import { ConflictError, type DeleteOptions, type DeleteResult, type PutOptions, type PutResult, type Store } from '../../store/store.js';
import { EventRecorder } from '../runtime/event-recorder.js';
import { FakeClock, Manager, type Informer, type Logger } from '../runtime/index.js';
import { openTempStore, waitFor, type TempStore } from '../runtime/test-support.js';
import { isRunnable, JOBS_PREFIX, newSchedulerInformers } from '../scheduler/scheduler.js';
import { JobLifecycle, newJobLifecycleController, type AttemptSink } from './job-lifecycle.js';
import type { AttemptRecord } from './job-transitions.js';

const START = Date.parse('2026-03-01T12:00:00Z');
const at = (offsetSeconds: number): string => new Date(START + offsetSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
const jobKey = (name: string): string => `${JOBS_PREFIX}default/${name}`;

function jobObject(name: string, status: JobStatus, spec: Partial<JobSpec> = {}): Job {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { driver: 'process', command: ['true'], ...spec },
    status,
  };
}

/** A Running job on n1 whose attempt `attempt` started at `startOffset` seconds from START. */
function running(startOffset: number, extra: JobStatus = {}, attempt = 1): JobStatus {
  return {
    phase: 'Running',
    nodeName: 'n1',
    attempts: attempt,
    startTime: at(startOffset),
    recentAttempts: [{ attempt, nodeName: 'n1', startTime: at(startOffset), lastReportSequence: 2 }],
    conditions: [{ type: 'Scheduled', status: 'True', reason: 'Scheduled', message: 'bound to node n1' }],
    ...extra,
  };
}

/** A Store that counts puts and deletes and can run a hook just before a delete (a concurrent writer). */
function instrumentedStore(inner: Store): { store: Store; writes: string[]; beforeDelete: { hook?: () => Promise<void> } } {
  const writes: string[] = [];
  const beforeDelete: { hook?: () => Promise<void> } = {};
  const put = (key: string, value: string, options?: PutOptions): Promise<PutResult> => {
    if (key.startsWith(JOBS_PREFIX)) writes.push(`put ${key}`);
    return inner.put(key, value, options);
  };
  const del = async (key: string, options?: DeleteOptions): Promise<DeleteResult | undefined> => {
    const hook = beforeDelete.hook;
    beforeDelete.hook = undefined;
    if (hook) await hook();
    writes.push(`delete ${key}`);
    return inner.delete(key, options);
  };
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'put') return put;
      if (prop === 'delete') return del;
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, writes, beforeDelete };
}

class RecordingSink implements AttemptSink {
  readonly records: AttemptRecord[] = [];
  fail = false;
  recordAttempt(record: AttemptRecord): Promise<void> {
    if (this.fail) return Promise.reject(new Error('log store unavailable'));
    this.records.push(record);
    return Promise.resolve();
  }
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug: () => undefined, info: () => undefined, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) };
}

void describe('JobLifecycle.reconcile', { timeout: 30_000 }, () => {
  let temp: TempStore;
  let manager: Manager | undefined;
  let clock: FakeClock;
  let writes: string[];
  let beforeDelete: { hook?: () => Promise<void> };
  let recorder: EventRecorder;
  let sink: RecordingSink;
  let logger: ReturnType<typeof recordingLogger>;
  let lifecycle: JobLifecycle;
  let jobs: Informer<Job>;

  beforeEach(async () => {
    temp = await openTempStore();
    clock = new FakeClock(START);
    const instrumented = instrumentedStore(temp.store);
    writes = instrumented.writes;
    beforeDelete = instrumented.beforeDelete;
    jobs = newSchedulerInformers(temp.store).jobs;
    recorder = new EventRecorder(temp.store, { component: 'job-controller', clock });
    sink = new RecordingSink();
    logger = recordingLogger();
    lifecycle = new JobLifecycle({ store: instrumented.store, jobs, recorder, attempts: sink, clock, logger });
    const m = new Manager();
    m.addInformer(jobs);
    manager = m;
    await m.start();
  });
  afterEach(async () => {
    await recorder.close();
    await manager?.stop();
    manager = undefined;
    await temp.cleanup();
  });

  /** Writes a job and waits until the informer has it. */
  const putJob = async (job: Job): Promise<void> => {
    const { revision } = await temp.store.put(jobKey(job.metadata.name), JSON.stringify(job));
    await waitFor(`informer has ${job.metadata.name}@${revision}`, () => (jobs.getEntry(jobKey(job.metadata.name))?.revision ?? 0) >= revision);
  };
  /** Reconciles `name` and waits until the informer reflects whatever it wrote. */
  const reconcile = async (name: string) => {
    const result = await lifecycle.reconcile(jobKey(name));
    const kv = await temp.store.get(jobKey(name));
    await waitFor('informer caught up', () => (kv === undefined ? jobs.getEntry(jobKey(name)) === undefined : jobs.getEntry(jobKey(name))?.revision === kv.modRevision));
    return result;
  };
  const read = async (name: string): Promise<Job | undefined> => {
    const kv = await temp.store.get(jobKey(name));
    return kv === undefined ? undefined : (JSON.parse(kv.value) as Job);
  };
  const events = async (name: string): Promise<Pick<Event, 'type' | 'reason' | 'message'>[]> => {
    await recorder.flush();
    const { items } = await temp.store.list(eventCollectionPrefix('default'));
    return items
      .map((kv) => JSON.parse(kv.value) as Event)
      .filter((e) => e.involvedObject.name === name)
      .map(({ type, reason, message }) => ({ type, reason, message }));
  };

  void it('releases a BackoffWaiting job exactly at nextRetryAt, once', async () => {
    await putJob(jobObject('b', { phase: 'Pending', reason: 'BackoffWaiting', message: 'attempt 1 failed', nextRetryAt: at(20), attempts: 1 }, { retryPolicy: { maxRetries: 2 } }));
    assert.deepEqual(await reconcile('b'), { requeueAfterMs: 20_000 });
    clock.advance(19_999);
    assert.deepEqual(await reconcile('b'), { requeueAfterMs: 1 });
    assert.deepEqual(writes, [], 'nothing written before nextRetryAt');
    clock.advance(1);
    assert.deepEqual(await reconcile('b'), {});
    const released = await read('b');
    assert.equal(released?.status?.phase, 'Pending');
    assert.equal(released?.status?.reason, undefined);
    assert.equal(released?.status?.message, undefined);
    assert.equal(released?.status?.nextRetryAt, undefined);
    assert.equal(released?.status?.attempts, 1, 'attempts are the scheduler’s to count');
    assert.ok(released && isRunnable(released), 'the scheduler may place it now');
    assert.deepEqual(await events('b'), [{ type: 'Normal', reason: 'BackoffFinished', message: `backoff ended at ${at(20)}; the job may be scheduled again` }]);
    assert.deepEqual(await reconcile('b'), {});
    assert.equal(writes.length, 1, 'one write, none when nothing changes');
  });

  void it('wakes a waiting job at the earlier of nextRetryAt and the active deadline, and fails it at the deadline', async () => {
    await putJob(
      jobObject(
        'w',
        { phase: 'Pending', reason: 'BackoffWaiting', nextRetryAt: at(300), attempts: 1, startTime: at(-50), recentAttempts: [{ attempt: 1, nodeName: 'n1', endTime: at(-1), reason: 'Error' }] },
        { activeDeadlineSeconds: 100, retryPolicy: { maxRetries: 3 } },
      ),
    );
    assert.deepEqual(await reconcile('w'), { requeueAfterMs: 50_000 });
    clock.advance(50_000);
    assert.deepEqual(await reconcile('w'), {});
    const failed = await read('w');
    assert.equal(failed?.status?.phase, 'Failed');
    assert.equal(failed?.status?.reason, 'DeadlineExceeded');
    assert.equal(failed?.status?.nextRetryAt, undefined);
    assert.equal(failed?.status?.completionTime, at(50));
    assert.deepEqual(sink.records, [], 'no attempt was open');
    assert.equal((await events('w'))[0]?.reason, 'DeadlineExceeded');
  });

  void it('fails a Running job at its active deadline, removes nodeName and records the stopped attempt', async () => {
    await putJob(jobObject('d', running(-50), { activeDeadlineSeconds: 60, retryPolicy: { maxRetries: 5 } }));
    assert.deepEqual(await reconcile('d'), { requeueAfterMs: 10_000 });
    clock.advance(10_000);
    assert.deepEqual(await reconcile('d'), {});
    const job = await read('d');
    assert.equal(job?.status?.phase, 'Failed');
    assert.equal(job?.status?.reason, 'DeadlineExceeded');
    assert.equal(job?.status?.nodeName, undefined, 'the job leaves its node (the agent stops the task)');
    assert.equal(job?.status?.conditions?.some((c) => c.type === 'Scheduled'), false);
    assert.equal(job?.status?.recentAttempts?.[0]?.reason, 'DeadlineExceeded');
    assert.equal(job?.status?.recentAttempts?.[0]?.endTime, at(10));
    assert.deepEqual(sink.records, [
      {
        namespace: 'default',
        name: 'd',
        jobUid: 'uid-d',
        attempt: 1,
        retrySeries: 0,
        nodeName: 'n1',
        startTime: at(-50),
        endTime: at(10),
        reason: 'DeadlineExceeded',
        message: 'stopped: the job passed its active deadline of 60s',
      },
    ]);
    const recorded = await events('d');
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]?.type, 'Warning');
    assert.match(recorded[0]?.message ?? '', /active deadline of 60s/);
  });

  void it('per-attempt backstop: ends a Running attempt with no final report after timeout + kill + 60 s, like a report', async () => {
    await putJob(jobObject('s', running(0), { timeoutSeconds: 30, killTimeoutSeconds: 5, activeDeadlineSeconds: 3600, retryPolicy: { maxRetries: 1 } }));
    assert.deepEqual(await reconcile('s'), { requeueAfterMs: 95_000 }, 'the backstop comes before the active deadline');
    clock.advance(95_000);
    assert.deepEqual(await reconcile('s'), {});
    const job = await read('s');
    assert.equal(job?.status?.phase, 'Pending');
    assert.equal(job?.status?.reason, 'BackoffWaiting');
    assert.equal(job?.status?.nextRetryAt, at(105));
    assert.equal(job?.status?.nodeName, undefined);
    assert.equal(job?.status?.recentAttempts?.[0]?.reason, 'DeadlineExceeded');
    assert.match(job?.status?.recentAttempts?.[0]?.message ?? '', /no final report from node n1 within 30s \+ 5s \+ 60s/);
    assert.equal(sink.records.length, 1);
    assert.equal(sink.records[0]?.reason, 'DeadlineExceeded');
    assert.equal((await events('s'))[0]?.reason, 'BackOff');
    // Next: the backoff (and the active deadline measured from the first start).
    assert.deepEqual(await reconcile('s'), { requeueAfterMs: 10_000 });
  });

  void it('backstop with no retries left fails the job with DeadlineExceeded', async () => {
    await putJob(jobObject('s0', running(0), { timeoutSeconds: 30 }));
    clock.advance(100_000);
    await reconcile('s0');
    const job = await read('s0');
    assert.equal(job?.status?.phase, 'Failed');
    assert.equal(job?.status?.reason, 'DeadlineExceeded');
  });

  void it('deletes a finished job ttlSecondsAfterFinished after completionTime', async () => {
    await putJob(jobObject('t', { phase: 'Succeeded', completionTime: at(-10), exitCode: 0 }, { ttlSecondsAfterFinished: 60 }));
    assert.deepEqual(await reconcile('t'), { requeueAfterMs: 50_000 });
    clock.advance(50_000);
    assert.deepEqual(await reconcile('t'), {});
    assert.equal(await read('t'), undefined);
    assert.deepEqual(writes, [`delete ${jobKey('t')}`]);
    assert.deepEqual(await events('t'), [{ type: 'Normal', reason: 'TTLExpired', message: `deleted 60s after it finished (Succeeded at ${at(-10)})` }]);
    assert.deepEqual(await reconcile('t'), {}, 'a deleted job is nothing to do');
  });

  void it('does not delete a job that changed meanwhile (the delete carries the revision it was decided on)', async () => {
    await putJob(jobObject('r', { phase: 'Failed', reason: 'RetriesExhausted', completionTime: at(-100), attempts: 1 }, { ttlSecondsAfterFinished: 10 }));
    // A retry from the dead-letter queue lands between the verdict and the delete.
    beforeDelete.hook = async () => {
      await temp.store.put(jobKey('r'), JSON.stringify(jobObject('r', { phase: 'Pending', reason: 'Retried', attempts: 1, seriesStartAttempt: 1 }, { ttlSecondsAfterFinished: 10 })));
    };
    await assert.rejects(lifecycle.reconcile(jobKey('r')), (err: Error) => err.cause instanceof ConflictError);
    assert.equal((await read('r'))?.status?.phase, 'Pending', 'the retried job survives');
    await waitFor('informer has the retry', () => jobs.get(jobKey('r'))?.status?.phase === 'Pending');
    assert.deepEqual(await reconcile('r'), {}, 'fresh state: not finished, nothing to do');
    assert.notEqual(await read('r'), undefined);
    assert.deepEqual(await events('r'), []);
  });

  void it('leaves jobs it does not own alone and writes nothing for them', async () => {
    await putJob(jobObject('p', { phase: 'Pending', reason: 'Unschedulable', message: 'no node' }));
    await putJob(jobObject('nl', { phase: 'Pending', reason: 'NodeLost', attempts: 1, startTime: at(-5) }, { activeDeadlineSeconds: 600 }));
    await putJob(jobObject('sch', { phase: 'Scheduled', nodeName: 'n1', attempts: 1, recentAttempts: [{ attempt: 1, nodeName: 'n1' }] }, { timeoutSeconds: 5 }));
    await putJob(jobObject('run', running(-3600)));
    await putJob(jobObject('done', { phase: 'Succeeded', completionTime: at(-3600) }));
    await putJob(jobObject('nostart', { phase: 'Failed', reason: 'DependencyFailed' }, { ttlSecondsAfterFinished: 1 }));
    clock.advance(60_000);
    for (const name of ['p', 'sch', 'run', 'done', 'nostart']) assert.deepEqual(await reconcile(name), {}, name);
    assert.deepEqual(await reconcile('nl'), { requeueAfterMs: 535_000 }, 'only its active deadline is watched');
    assert.deepEqual(writes, []);
    assert.deepEqual(sink.records, []);
  });

  void it('logs a failing attempt sink and still completes the transition', async () => {
    sink.fail = true;
    await putJob(jobObject('f', running(-10), { activeDeadlineSeconds: 5 }));
    assert.deepEqual(await reconcile('f'), {});
    assert.equal((await read('f'))?.status?.phase, 'Failed');
    assert.ok(logger.warnings.some((w) => /recording a finished attempt failed/.test(w)), logger.warnings.join('\n'));
  });

  void it('a stale cache revision makes the write fail with a conflict instead of overwriting', async () => {
    await putJob(jobObject('c', running(-100), { activeDeadlineSeconds: 10 }));
    const cached = jobs.getEntry(jobKey('c'));
    assert.ok(cached);
    // The agent's Succeeded report is written, but the informer has not delivered it yet.
    const hidden = instrumentedStore(temp.store);
    const staleLifecycle = new JobLifecycle({
      store: hidden.store,
      jobs: { getEntry: () => cached } as unknown as Informer<Job>,
      recorder,
      attempts: sink,
      clock,
    });
    await temp.store.put(jobKey('c'), JSON.stringify(jobObject('c', { ...running(-100), phase: 'Succeeded', completionTime: at(-1) }, { activeDeadlineSeconds: 10 })));
    await assert.rejects(staleLifecycle.reconcile(jobKey('c')), (err: Error) => err.cause instanceof ConflictError);
    assert.equal((await read('c'))?.status?.phase, 'Succeeded');
    assert.deepEqual(sink.records, [], 'nothing recorded for a write that did not happen');
    assert.deepEqual(await events('c'), []);
  });
});

void describe('job lifecycle controller', { timeout: 30_000 }, () => {
  void it('releases a backoff and deletes an expired job through its queue timers on the injected clock', async () => {
    const temp = await openTempStore();
    const manager = new Manager();
    const clock = new FakeClock(START);
    const recorder = new EventRecorder(temp.store, { component: 'job-controller', clock });
    try {
      const { jobs } = newSchedulerInformers(temp.store);
      const { controller } = newJobLifecycleController({ store: temp.store, jobs, recorder, clock });
      manager.addInformer(jobs);
      manager.add(controller, { leaderOnly: true });
      await temp.store.put(jobKey('b'), JSON.stringify(jobObject('b', { phase: 'Pending', reason: 'BackoffWaiting', nextRetryAt: at(30), attempts: 1 }, { retryPolicy: { maxRetries: 1 } })));
      await temp.store.put(jobKey('t'), JSON.stringify(jobObject('t', { phase: 'Failed', reason: 'RetriesExhausted', completionTime: at(0) }, { ttlSecondsAfterFinished: 60 })));
      await manager.start();
      const readJob = async (name: string): Promise<Job | undefined> => {
        const kv = await temp.store.get(jobKey(name));
        return kv === undefined ? undefined : (JSON.parse(kv.value) as Job);
      };

      await waitFor('both wake-ups scheduled', () => clock.pendingTimers() >= 2);
      assert.equal((await readJob('b'))?.status?.reason, 'BackoffWaiting');
      clock.advance(30_000);
      await waitFor('backoff released', async () => (await readJob('b'))?.status?.reason === undefined);
      assert.notEqual(await readJob('t'), undefined, 'the TTL has not run out yet');
      clock.advance(30_000);
      await waitFor('expired job deleted', async () => (await readJob('t')) === undefined);
      await recorder.flush();
      const { items } = await temp.store.list(eventCollectionPrefix('default'));
      const reasons = items.map((kv) => (JSON.parse(kv.value) as Event).reason).sort();
      assert.deepEqual(reasons, ['BackoffFinished', 'TTLExpired']);
    } finally {
      await manager.stop();
      await recorder.close();
      await temp.cleanup();
    }
  });
});

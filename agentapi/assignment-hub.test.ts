// The AssignmentHub on a real Informer over a real SQLite store (a relist forced through
// ControlledStore), the AssignmentStream against a scripted call (backpressure, backlog limit,
// bookmarks on a FakeClock), and StatusReports against a stale cache (write conflicts).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { jobKind, type Job, type JobStatus } from '../api/v1/index.js';
import { AttemptState, EventType, type AssignmentEvent } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { ObjectStorage, type StoredObject } from '../apiserver/object-storage.js';
import { EventRecorder } from '../controllers/runtime/event-recorder.js';
import { FakeClock, Informer, systemClock } from '../controllers/runtime/index.js';
import { ControlledStore, openTempStore, waitFor } from '../controllers/runtime/test-support.js';
import { decodeJob, JOBS_PREFIX } from '../controllers/scheduler/scheduler.js';
import { CompactedError } from '../store/store.js';
import { AssignmentHub, type AssignmentSubscriber, type KnownJob } from './assignment-hub.js';
import { AssignmentStream, type WatchCall } from './assignment-stream.js';
import type { AgentApiError } from './errors.js';
import { StatusReports } from './status-reports.js';

function jobObject(name: string, status: JobStatus): Job {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default', uid: randomUUID(), generation: 1 },
    spec: { driver: 'process', command: ['/bin/true'] },
    status,
  };
}

const bound = (nodeName: string, attempt = 1): JobStatus => ({
  phase: 'Scheduled',
  nodeName,
  attempts: attempt,
  recentAttempts: [{ attempt, nodeName }],
});

class RecordingSubscriber implements AssignmentSubscriber {
  readonly events: AssignmentEvent[] = [];
  ended: AgentApiError | undefined;
  deliver(event: AssignmentEvent): void {
    this.events.push(event);
  }
  end(error: AgentApiError): void {
    this.ended = error;
  }
}

void describe('AssignmentHub', { timeout: 30_000 }, () => {
  void it('drops its history and ends subscribers with OUT_OF_RANGE when the informer relists', async () => {
    const temp = await openTempStore();
    const controlled = new ControlledStore(temp.store);
    const storage = new ObjectStorage(temp.store, jobKind);
    const abort = new AbortController();
    const informer = new Informer<Job>({ store: controlled, prefix: JOBS_PREFIX, decode: decodeJob, name: 'jobs' });
    const hub = new AssignmentHub({ jobs: informer });
    let running: Promise<void> | undefined;
    try {
      const first = await storage.create(jobObject('first', bound('node-x')) as unknown as StoredObject);
      // The informer lists, then its watch waits at the gate and fails as if compacted.
      controlled.holdWatches();
      controlled.failWatches = 1;
      controlled.failWith = new CompactedError(1, 2);
      running = informer.run(abort.signal);
      await waitFor('the first list', () => informer.hasSynced());
      const subscriber = new RecordingSubscriber();
      const subscribed = hub.subscribe('node-x', 0, subscriber);
      assert.equal(subscribed.kind, 'subscribed');
      assert.deepEqual(
        subscribed.kind === 'subscribed' ? subscribed.initial.map((e) => [e.type, e.job?.name]) : [],
        [
          [EventType.ADDED, 'first'],
          [EventType.BOOKMARK, undefined],
        ],
      );
      const resumeFrom = Number(first.metadata.resourceVersion);

      const second = await storage.create(jobObject('second', bound('node-x')) as unknown as StoredObject);
      controlled.open();
      await waitFor('the relist', () => informer.revision() >= Number(second.metadata.resourceVersion));
      assert.equal(subscriber.ended?.code, grpc.status.OUT_OF_RANGE);
      assert.match(subscriber.ended?.message ?? '', /re-read every job/);
      assert.deepEqual(subscriber.events, [], 'nothing collapsed by the list is sent as a change');
      assert.throws(() => hub.subscribe('node-x', resumeFrom, new RecordingSubscriber()), (err: AgentApiError) => err.code === grpc.status.OUT_OF_RANGE);
      const fresh = hub.subscribe('node-x', 0, new RecordingSubscriber());
      assert.deepEqual(fresh.kind === 'subscribed' ? fresh.initial.filter((e) => e.job).map((e) => e.job?.name) : [], ['first', 'second']);
      assert.equal(hub.lookup(second.metadata.uid ?? '')?.job.metadata.name, 'second');
      assert.equal(hub.assignedAttempt('node-x', second.metadata.uid ?? ''), 1);
    } finally {
      controlled.open();
      abort.abort();
      await running;
      hub.close();
      await temp.cleanup();
    }
  });
});

/** A stand-in for a grpc-js server stream: write() reports backpressure after `window` unacknowledged writes. */
class ScriptedCall extends EventEmitter {
  readonly written: AssignmentEvent[] = [];
  status: { code: number; details: string } | undefined;
  destroyed = false;
  writableEnded = false;
  private pending = 0;
  constructor(private readonly window: number) {
    super();
    this.on('error', (status: { code: number; details: string }) => {
      this.status = status;
      this.writableEnded = true;
    });
  }
  write(event: AssignmentEvent): boolean {
    this.written.push(event);
    this.pending++;
    return this.pending < this.window;
  }
  /** The client read everything written so far. */
  drain(): void {
    this.pending = 0;
    this.emit('drain');
  }
}

const statusOf = (call: ScriptedCall): { code: number; details: string } | undefined => call.status;

const change = (revision: number, name = `job-${revision}`): AssignmentEvent => ({
  type: EventType.ADDED,
  revision,
  job: {
    uid: name,
    namespace: 'default',
    name,
    attempt: 1,
    generation: 1,
    driver: 'process',
    workloadType: 'native',
    image: '',
    command: [],
    args: [],
    env: [],
    workingDir: '',
    volumes: [],
    network: '',
    killTimeoutSeconds: 10,
    desiredState: 1,
  },
});

void describe('AssignmentStream', () => {
  const open = (call: ScriptedCall, clock: FakeClock, revision: () => number, maxBacklog = 3) => {
    const stream = new AssignmentStream({
      call: call as unknown as WatchCall,
      nodeName: 'node-x',
      revision,
      bookmarkIntervalMs: 1000,
      maxBacklog,
      clock,
      track: () => undefined,
      logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    return stream;
  };

  void it('waits for drain when the call pushes back, and ends a reader that falls too far behind with UNAVAILABLE', () => {
    const call = new ScriptedCall(2);
    const clock = new FakeClock();
    let unsubscribed = 0;
    const stream = open(call, clock, () => 0, 3);
    // A large snapshot is not backlog.
    stream.start([change(1), change(2), change(3), change(4), change(5)], () => unsubscribed++);
    assert.deepEqual(call.written.map((e) => e.revision), [1, 2], 'writing stopped at the push-back');
    call.drain();
    assert.deepEqual(call.written.map((e) => e.revision), [1, 2, 3, 4]);
    call.drain();
    assert.deepEqual(call.written.map((e) => e.revision), [1, 2, 3, 4, 5]);
    // Live events: 6 is written (push-back), then 7, 8, 9 wait; a fourth waiting one is too many.
    for (const revision of [6, 7, 8, 9]) stream.deliver(change(revision));
    assert.equal(statusOf(call), undefined);
    stream.deliver(change(10));
    assert.equal(statusOf(call)?.code, grpc.status.UNAVAILABLE);
    assert.match(statusOf(call)?.details ?? '', /too slowly/);
    assert.equal(unsubscribed, 1, 'the stream left the hub');
    call.drain();
    assert.deepEqual(call.written.map((e) => e.revision), [1, 2, 3, 4, 5, 6], 'nothing more is written after the end');
    assert.equal(clock.pendingTimers(), 0, 'the bookmark timer is cancelled');
  });

  void it('sends a BOOKMARK after an idle interval only when the revision moved', () => {
    const call = new ScriptedCall(100);
    const clock = new FakeClock();
    let revision = 5;
    const stream = open(call, clock, () => revision);
    stream.start([{ type: EventType.BOOKMARK, revision: 5 }], () => undefined);
    clock.advance(1000);
    assert.equal(call.written.length, 1, 'no BOOKMARK repeating revision 5');
    revision = 9;
    clock.advance(1000);
    assert.deepEqual(call.written.map((e) => [e.type, e.revision]), [
      [EventType.BOOKMARK, 5],
      [EventType.BOOKMARK, 9],
    ]);
    stream.deliver(change(12));
    revision = 12;
    clock.advance(500);
    stream.deliver(change(13));
    revision = 20;
    clock.advance(500);
    assert.equal(call.written.at(-1)?.revision, 13, 'not idle: no BOOKMARK');
    call.emit('cancelled');
    assert.equal(clock.pendingTimers(), 0);
  });
});

void describe('StatusReports', { timeout: 30_000 }, () => {
  void it('re-reads and re-applies after a write conflict caused by a stale cache', async () => {
    const temp = await openTempStore();
    const storage = new ObjectStorage(temp.store, jobKind);
    const recorder = new EventRecorder(temp.store, { component: 'test' });
    try {
      const created = (await storage.create(jobObject('racy', bound('node-a')) as unknown as StoredObject)) as unknown as Job;
      const key = storage.key('default', 'racy');
      const stale: KnownJob = { key, job: created, revision: Number(created.metadata.resourceVersion), deleted: false };
      // A controller writes after the (stale) cache read.
      const current = await storage.get('default', 'racy');
      await storage.update({ ...current!.object, status: { ...(created.status ?? {}), message: 'touched' } } as StoredObject, current!.kv.modRevision);
      const recorded: unknown[] = [];
      const reports = new StatusReports({
        store: temp.store,
        hub: { lookup: () => stale } as unknown as AssignmentHub,
        recorder,
        attempts: { recordAttempt: async (record) => void recorded.push(record) },
        clock: systemClock,
        logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
      });
      const caller = { kind: 'node' as const, nodeName: 'node-a', tokenId: 'x', token: 'x' };
      const request = { nodeName: 'node-a', jobUid: created.metadata.uid ?? '', attempt: 1, sequence: 1, state: AttemptState.RUNNING, signal: '', reason: '', message: '' };
      assert.deepEqual(await reports.report(caller, request, new AbortController().signal), { accepted: true, duplicate: false });
      const after = await storage.get('default', 'racy');
      const status = (after?.object as unknown as Job).status;
      assert.equal(status?.phase, 'Running');
      assert.equal(status?.message, undefined, 'applied on top of the fresh job (Started clears the message)');
      assert.equal(status?.recentAttempts?.[0]?.lastReportSequence, 1);
      // Exit with a failure and no retries: Failed, and the attempt record goes to the sink.
      const exited = { ...request, sequence: 2, state: AttemptState.EXITED, exitCode: 3 };
      const fresh = await storage.get('default', 'racy');
      const staleAgain: KnownJob = { key, job: fresh!.object as unknown as Job, revision: fresh!.kv.modRevision, deleted: false };
      const reports2 = new StatusReports({
        store: temp.store,
        hub: { lookup: () => staleAgain } as unknown as AssignmentHub,
        recorder,
        attempts: { recordAttempt: async (record) => void recorded.push(record) },
        clock: systemClock,
        logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
      });
      assert.deepEqual(await reports2.report(caller, exited, new AbortController().signal), { accepted: true, duplicate: false });
      assert.equal(((await storage.get('default', 'racy'))?.object as unknown as Job).status?.phase, 'Failed');
      assert.equal(recorded.length, 1);
    } finally {
      await recorder.close();
      await temp.cleanup();
    }
  });
});

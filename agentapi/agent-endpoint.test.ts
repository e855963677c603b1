// The agent endpoint end to end: real gRPC over 127.0.0.1, the real SQLite store, the real job
// Informer, node tokens, the file log store and the job state machine. Time is real; every wait
// polls for a condition with a deadline.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { Job, Node } from '../api/v1/index.js';
import { AttemptState, EventType, LogStream } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { EVENTS_PREFIX, type Event } from '../api/v1/event.js';
import { nodeLeaseKey } from '../controllers/nodes/node-lifecycle.js';
import { waitFor } from '../controllers/runtime/test-support.js';
import { NODES_PREFIX } from '../controllers/scheduler/scheduler.js';
import {
  bindJob,
  createJob,
  expectCode,
  heartbeat,
  JOIN_TOKEN,
  register,
  reportStatus,
  settle,
  startHarness,
  streamLogs,
  updateJob,
  WatchClient,
  type Harness,
} from './agent-endpoint-harness.js';
import { AGENT_LABELS_ANNOTATION } from './node-registration.js';

const readNode = async (h: Harness, name: string): Promise<{ node: Node; revision: number } | undefined> => {
  const kv = await h.store.get(`${NODES_PREFIX}${name}`);
  return kv === undefined ? undefined : { node: JSON.parse(kv.value) as Node, revision: kv.modRevision };
};

const readJob = async (h: Harness, name: string): Promise<{ job: Job; version: number }> => {
  const current = await h.jobStorage.get('default', name);
  assert.ok(current, `job ${name} exists`);
  return { job: current.object as unknown as Job, version: current.kv.version };
};

const uidOf = (job: Job): string => job.metadata.uid ?? '';

void describe('AgentEndpoint', { timeout: 60_000 }, () => {
  let h: Harness;
  let tokenA: string;
  let tokenB: string;

  beforeEach(async () => {
    h = await startHarness();
    tokenA = await h.token('node-a');
    tokenB = await h.token('node-b');
  });
  afterEach(async () => {
    await h.close();
  });

  void describe('authentication and authorization', () => {
    void it('refuses a missing, unknown or revoked token with UNAUTHENTICATED on every call', async () => {
      const job = await createJob(h, 'auth-job');
      const revoked = await h.nodeTokens.create('node-a');
      await h.nodeTokens.revoke(revoked.id);
      for (const token of [undefined, 'not-a-token', 'ost_aaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', revoked.token]) {
        await expectCode(register(h, token, { nodeName: 'node-a' }), grpc.status.UNAUTHENTICATED);
        await expectCode(heartbeat(h, token, { nodeName: 'node-a' }), grpc.status.UNAUTHENTICATED);
        await expectCode(reportStatus(h, token, { nodeName: 'node-a', jobUid: uidOf(job), attempt: 1, sequence: 1, state: AttemptState.RUNNING }), grpc.status.UNAUTHENTICATED);
        await expectCode(streamLogs(h, token, [{ jobUid: uidOf(job), attempt: 1, stream: LogStream.STDOUT, data: Buffer.from('x') }]), grpc.status.UNAUTHENTICATED);
        const watch = new WatchClient(h, token, 'node-a', 0);
        assert.equal((await watch.ended).code, grpc.status.UNAUTHENTICATED);
      }
    });

    void it('lets a node token act only for its own node (PERMISSION_DENIED on every call)', async () => {
      await register(h, tokenA, { nodeName: 'node-a' });
      await register(h, tokenB, { nodeName: 'node-b' });
      await createJob(h, 'on-b');
      const onB = await bindJob(h, 'on-b', 'node-b');
      await settle(h, onB.metadata.resourceVersion);

      await expectCode(register(h, tokenA, { nodeName: 'node-b' }), grpc.status.PERMISSION_DENIED, /node_name "node-b"/);
      await expectCode(heartbeat(h, tokenA, { nodeName: 'node-b' }), grpc.status.PERMISSION_DENIED);
      const watch = new WatchClient(h, tokenA, 'node-b', 0);
      assert.equal((await watch.ended).code, grpc.status.PERMISSION_DENIED);
      const report = { jobUid: uidOf(onB), attempt: 1, sequence: 1, state: AttemptState.RUNNING };
      await expectCode(reportStatus(h, tokenA, { ...report, nodeName: 'node-b' }), grpc.status.PERMISSION_DENIED);
      // Naming its own node but an attempt assigned to node-b.
      await expectCode(reportStatus(h, tokenA, { ...report, nodeName: 'node-a' }), grpc.status.PERMISSION_DENIED, /not assigned to node node-a/);
      await expectCode(streamLogs(h, tokenA, [{ jobUid: uidOf(onB), attempt: 1, stream: LogStream.STDOUT, data: Buffer.from('x') }]), grpc.status.PERMISSION_DENIED);
      assert.equal((await readJob(h, 'on-b')).job.status?.phase, 'Scheduled', 'nothing was applied');
    });

    void it('accepts the join token for Register only, once per node without a token', async () => {
      const joined = await register(h, JOIN_TOKEN, { nodeName: 'node-new' });
      assert.match(joined.nodeToken, /^ost_/);
      assert.ok(await readNode(h, 'node-new'));
      // The issued token works; the join token no longer registers that node, and never does anything else.
      await heartbeat(h, joined.nodeToken, { nodeName: 'node-new' });
      await expectCode(register(h, JOIN_TOKEN, { nodeName: 'node-new' }), grpc.status.PERMISSION_DENIED, /already has a node token/);
      await expectCode(register(h, JOIN_TOKEN, { nodeName: 'node-a' }), grpc.status.PERMISSION_DENIED, /already has a node token/);
      await expectCode(heartbeat(h, JOIN_TOKEN, { nodeName: 'node-new' }), grpc.status.PERMISSION_DENIED, /Register only/);
      const watch = new WatchClient(h, JOIN_TOKEN, 'node-new', 0);
      assert.equal((await watch.ended).code, grpc.status.PERMISSION_DENIED);
      // A node token registering again gets no new token.
      assert.equal((await register(h, joined.nodeToken, { nodeName: 'node-new' })).nodeToken, '');
    });

    void it('refuses bad input with INVALID_ARGUMENT naming the field', async () => {
      await expectCode(register(h, tokenA, { nodeName: 'Node_A' }), grpc.status.INVALID_ARGUMENT, /node_name must be a DNS-1123 subdomain/);
      await expectCode(register(h, tokenA, { nodeName: 'node-a', capacity: undefined }), grpc.status.INVALID_ARGUMENT, /capacity is required/);
      await expectCode(
        register(h, tokenA, { nodeName: 'node-a', drivers: [{ name: 'process', healthy: true, detail: '' }, { name: 'process', healthy: true, detail: '' }] }),
        grpc.status.INVALID_ARGUMENT,
        /drivers\[1\]\.name/,
      );
      await expectCode(register(h, tokenA, { nodeName: 'node-a', labels: { 'bad key!': 'x' } }), grpc.status.INVALID_ARGUMENT, /labels/);
      const job = await createJob(h, 'bad-input');
      const base = { nodeName: 'node-a', jobUid: uidOf(job), attempt: 1, sequence: 1, state: AttemptState.RUNNING };
      await expectCode(reportStatus(h, tokenA, { ...base, attempt: 0 }), grpc.status.INVALID_ARGUMENT, /attempt must be an attempt number >= 1/);
      await expectCode(reportStatus(h, tokenA, { ...base, sequence: 0 }), grpc.status.INVALID_ARGUMENT, /sequence must be an integer >= 1/);
      await expectCode(reportStatus(h, tokenA, { ...base, state: AttemptState.UNSPECIFIED }), grpc.status.INVALID_ARGUMENT, /state must be one of/);
      await expectCode(reportStatus(h, tokenA, { ...base, state: AttemptState.EXITED }), grpc.status.INVALID_ARGUMENT, /exit_code or signal is required/);
      await expectCode(reportStatus(h, tokenA, { ...base, jobUid: '' }), grpc.status.INVALID_ARGUMENT, /job_uid is required/);
      await expectCode(
        streamLogs(h, tokenA, [{ jobUid: uidOf(job), attempt: 1, stream: LogStream.STDOUT, data: Buffer.alloc(1024 * 1024 + 1) }]),
        grpc.status.INVALID_ARGUMENT,
        /data must be at most 1048576 bytes/,
      );
      await expectCode(streamLogs(h, tokenA, [{ jobUid: uidOf(job), attempt: 1, stream: LogStream.UNSPECIFIED }]), grpc.status.INVALID_ARGUMENT, /stream must be STDOUT or STDERR/);
      const watch = new WatchClient(h, tokenA, 'node-a', -1);
      const ended = await watch.ended;
      assert.equal(ended.code, grpc.status.INVALID_ARGUMENT);
      assert.match(ended.details, /from_revision/);
    });
  });

  void describe('Register and Heartbeat', () => {
    void it('creates the Node and its lease key, and keeps the uid and admin labels on re-registration', async () => {
      const first = await register(h, tokenA, { nodeName: 'node-a', labels: { disk: 'ssd', zone: 'z1' } });
      assert.equal(first.leaseTtlSeconds, 30);
      assert.equal(first.heartbeatIntervalSeconds, 10);
      assert.equal(first.nodeToken, '');
      const created = await readNode(h, 'node-a');
      assert.ok(created);
      assert.equal(created.node.metadata.uid, first.nodeUid);
      assert.deepEqual(created.node.metadata.labels, { disk: 'ssd', zone: 'z1' });
      assert.deepEqual(created.node.status?.capacity, { cpu: '4', memory: '8Gi' });
      assert.deepEqual(created.node.status?.drivers, ['process']);
      assert.equal(created.node.status?.agentVersion, 'test-1');
      assert.equal(created.node.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
      const lease = await h.store.get(nodeLeaseKey('node-a'));
      assert.ok(lease?.lease, 'the lease key is attached to a lease');

      // An admin labels the node and cordons it through the API.
      const labelled = structuredClone(created.node);
      labelled.metadata.labels = { ...labelled.metadata.labels, team: 'ml' };
      labelled.spec = { unschedulable: true };
      await h.store.put(`${NODES_PREFIX}node-a`, JSON.stringify(labelled), { ifRevision: created.revision });

      const again = await register(h, tokenA, {
        nodeName: 'node-a',
        labels: { disk: 'nvme' },
        drivers: [
          { name: 'process', healthy: true, detail: '' },
          { name: 'podman', healthy: false, detail: 'runc missing' },
        ],
      });
      assert.equal(again.nodeUid, first.nodeUid, 'node_uid is stable');
      const updated = await readNode(h, 'node-a');
      assert.deepEqual(updated?.node.metadata.labels, { disk: 'nvme', team: 'ml' }, 'zone (agent, no longer sent) removed; team (admin) kept');
      assert.equal(updated?.node.metadata.annotations?.[AGENT_LABELS_ANNOTATION], 'disk');
      assert.equal(updated?.node.spec?.unschedulable, true, 'spec is the admin\'s');
      assert.deepEqual(updated?.node.status?.drivers, ['process'], 'only healthy drivers');
      assert.equal((await h.store.get(nodeLeaseKey('node-a')))?.lease, lease.lease, 'the live lease is reused');
    });

    void it('renews the lease without writing the Node, and writes only what changed', async () => {
      await register(h, tokenA, { nodeName: 'node-a' });
      const registered = await readNode(h, 'node-a');
      const lease = await h.store.get(nodeLeaseKey('node-a'));
      for (let i = 0; i < 5; i++) await heartbeat(h, tokenA, { nodeName: 'node-a', allocatable: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 }, drivers: [{ name: 'process', healthy: true, detail: '' }] });
      assert.equal((await readNode(h, 'node-a'))?.revision, registered?.revision, 'unchanged heartbeats write nothing');
      assert.equal((await h.store.get(nodeLeaseKey('node-a')))?.modRevision, lease?.modRevision, 'the lease key is not rewritten either');

      await heartbeat(h, tokenA, { nodeName: 'node-a', allocatable: { cpuMillis: 3500, memoryBytes: 8 * 2 ** 30 }, drivers: [{ name: 'process', healthy: true, detail: '' }] });
      const changed = await readNode(h, 'node-a');
      assert.notEqual(changed?.revision, registered?.revision);
      assert.deepEqual(changed?.node.status?.allocatable, { cpu: '3500m', memory: '8Gi' });

      // The key vanished (lease expired, or another server held it): the heartbeat puts it back on a new lease.
      await h.store.delete(nodeLeaseKey('node-a'));
      await heartbeat(h, tokenA, { nodeName: 'node-a', allocatable: { cpuMillis: 3500, memoryBytes: 8 * 2 ** 30 }, drivers: [{ name: 'process', healthy: true, detail: '' }] });
      const renewed = await h.store.get(nodeLeaseKey('node-a'));
      assert.ok(renewed?.lease);
      assert.notEqual(renewed.lease, lease?.lease);

      // The Node object deleted by an admin: NOT_FOUND, so that the agent registers again.
      const current = await readNode(h, 'node-a');
      await h.store.delete(`${NODES_PREFIX}node-a`, { ifRevision: current?.revision });
      await expectCode(heartbeat(h, tokenA, { nodeName: 'node-a', drivers: [{ name: 'podman', healthy: true, detail: '' }] }), grpc.status.NOT_FOUND, /call Register/);
    });

    void it('a heartbeat with shuttingDown makes the node not Ready (AgentShuttingDown) until it registers again', async () => {
      await register(h, tokenA, { nodeName: 'node-a' });
      const ready = (n: Awaited<ReturnType<typeof readNode>>) => n?.node.status?.conditions?.find((c) => c.type === 'Ready');
      assert.equal(ready(await readNode(h, 'node-a'))?.status, 'True');
      const drivers = [{ name: 'process', healthy: true, detail: '' }];
      await heartbeat(h, tokenA, { nodeName: 'node-a', drivers, shuttingDown: true });
      const down = ready(await readNode(h, 'node-a'));
      assert.equal(down?.status, 'False');
      assert.equal(down?.reason, 'AgentShuttingDown');
      assert.ok(await h.store.get(nodeLeaseKey('node-a')), 'the lease is kept');
      await heartbeat(h, tokenA, { nodeName: 'node-a', drivers, shuttingDown: true });
      assert.equal(ready(await readNode(h, 'node-a'))?.status, 'False', 'still not Ready');
      await register(h, tokenA, { nodeName: 'node-a' });
      const back = ready(await readNode(h, 'node-a'));
      assert.equal(back?.status, 'True');
      assert.equal(back?.reason, 'AgentReady');
    });
  });

  void describe('lease renewal', () => {
    void it('keeps the lease key alive past its TTL while heartbeats come, and lets it expire when they stop', async () => {
      await h.close();
      h = await startHarness({ leaseTtlSeconds: 2, heartbeatIntervalSeconds: 1 });
      tokenA = await h.token('node-a');
      await register(h, tokenA, { nodeName: 'node-a' });
      const lease = (await h.store.get(nodeLeaseKey('node-a')))?.lease;
      assert.ok(lease);
      const until = Date.now() + 3500;
      while (Date.now() < until) {
        await heartbeat(h, tokenA, { nodeName: 'node-a' });
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      assert.equal((await h.store.get(nodeLeaseKey('node-a')))?.lease, lease, 'the same lease, renewed past its 2 s TTL');
      await waitFor('the lease key to expire without heartbeats', async () => (await h.store.get(nodeLeaseKey('node-a'))) === undefined, 10_000);
    });
  });

  void describe('WatchAssignments', () => {
    void it('sends a snapshot and a BOOKMARK, then live ADDED/DELETED as nodeName changes, and BOOKMARKs while idle', async () => {
      await createJob(h, 'one');
      await createJob(h, 'two');
      const one = await bindJob(h, 'one', 'node-a');
      await settle(h, one.metadata.resourceVersion);

      const watchA = new WatchClient(h, tokenA, 'node-a', 0);
      const watchB = new WatchClient(h, tokenB, 'node-b', 0);
      await watchA.waitFor('snapshot of node-a', (events) => events.some((e) => e.type === EventType.BOOKMARK));
      await watchB.waitFor('snapshot of node-b', (events) => events.some((e) => e.type === EventType.BOOKMARK));
      const [added, bookmark] = watchA.events;
      assert.equal(added?.type, EventType.ADDED);
      assert.equal(added?.job?.uid, uidOf(one));
      assert.equal(added?.job?.name, 'one');
      assert.equal(added?.job?.attempt, 1);
      assert.equal(added?.job?.driver, 'process');
      assert.deepEqual(added?.job?.command, ['/bin/true']);
      assert.equal(added?.job?.killTimeoutSeconds, 10);
      assert.equal(bookmark?.type, EventType.BOOKMARK);
      assert.ok(bookmark!.revision >= added!.revision);
      assert.deepEqual(watchB.changes(), [], 'nothing is assigned to node-b yet');

      // Running does not change the assignment: no event. Moving the job is DELETED on a, ADDED on b.
      await updateJob(h, 'one', (s) => ({ ...s, phase: 'Running' }));
      const moved = await updateJob(h, 'one', (s) => ({ ...s, phase: 'Scheduled', nodeName: 'node-b', attempts: 2, recentAttempts: [...(s.recentAttempts ?? []), { attempt: 2, nodeName: 'node-b' }] }));
      await watchA.waitFor('DELETED on node-a', (events) => events.some((e) => e.type === EventType.DELETED));
      await watchB.waitFor('ADDED on node-b', (events) => events.some((e) => e.type === EventType.ADDED));
      const deleted = watchA.changes().at(-1);
      assert.equal(deleted?.job?.attempt, 1, 'DELETED carries the last known assignment');
      assert.equal(deleted?.revision, Number(moved.metadata.resourceVersion));
      assert.equal(watchA.changes().length, 2, 'ADDED then DELETED, nothing for the Running write');
      assert.equal(watchB.changes()[0]?.job?.attempt, 2);

      // Idle: a change elsewhere moves the hub's revision; node-a then gets a BOOKMARK at it.
      const before = watchA.lastRevision();
      const elsewhere = await bindJob(h, 'two', 'node-b');
      await watchA.waitFor('a newer BOOKMARK', (events) => events.some((e) => e.type === EventType.BOOKMARK && e.revision >= Number(elsewhere.metadata.resourceVersion)));
      assert.ok(watchA.lastRevision() > before);
      assert.equal(watchA.changes().length, 2, 'a change on another node is not sent to node-a');
      assertIncreasing(watchA.events.slice(2));
      await watchA.cancel();
      await watchB.cancel();
    });

    void it('resumes from a revision, missing nothing and repeating nothing', async () => {
      for (const name of ['j1', 'j2', 'j3', 'j4', 'j5']) await createJob(h, name);
      await bindJob(h, 'j1', 'node-a');
      const j2 = await bindJob(h, 'j2', 'node-a');
      await settle(h, j2.metadata.resourceVersion);
      const first = new WatchClient(h, tokenA, 'node-a', 0);
      await first.waitFor('snapshot', (events) => events.some((e) => e.type === EventType.BOOKMARK));
      await bindJob(h, 'j3', 'node-a');
      await first.waitFor('j3 ADDED', (events) => events.some((e) => e.job?.name === 'j3'));
      const resumeFrom = first.lastRevision();
      await first.cancel();

      // While the agent is away: j4 added, j1 moved away, j2 finished, j5 placed elsewhere.
      const j4 = await bindJob(h, 'j4', 'node-a');
      const j1 = await updateJob(h, 'j1', (s) => ({ ...s, nodeName: 'node-b' }));
      const j2done = await updateJob(h, 'j2', (s) => ({ ...s, phase: 'Succeeded' }));
      const j5 = await bindJob(h, 'j5', 'node-b');
      await settle(h, j5.metadata.resourceVersion);

      const resumed = new WatchClient(h, tokenA, 'node-a', resumeFrom);
      await resumed.waitFor('the replay and a BOOKMARK', (events) => events.some((e) => e.type === EventType.BOOKMARK));
      assert.deepEqual(
        resumed.changes().map((e) => [e.type, e.job?.name, e.revision]),
        [
          [EventType.ADDED, 'j4', Number(j4.metadata.resourceVersion)],
          [EventType.DELETED, 'j1', Number(j1.metadata.resourceVersion)],
          [EventType.DELETED, 'j2', Number(j2done.metadata.resourceVersion)],
        ],
      );
      assert.equal(resumed.events.at(-1)?.revision, Number(j5.metadata.resourceVersion), 'the BOOKMARK is at the newest revision');
      assertIncreasing(resumed.events);
      assert.ok(resumed.events.every((e) => e.revision > resumeFrom));

      // Resuming from the BOOKMARK sends nothing old; a live change follows.
      const fromBookmark = new WatchClient(h, tokenA, 'node-a', resumed.lastRevision());
      const j1back = await updateJob(h, 'j1', (s) => ({ ...s, nodeName: 'node-a' }));
      await fromBookmark.waitFor('j1 ADDED again', (events) => events.some((e) => e.job?.name === 'j1'));
      assert.deepEqual(fromBookmark.changes().map((e) => [e.type, e.job?.name, e.revision]), [[EventType.ADDED, 'j1', Number(j1back.metadata.resourceVersion)]]);
      await resumed.cancel();
      await fromBookmark.cancel();

      // A fresh snapshot agrees with what the resumed agent holds.
      const snapshot = new WatchClient(h, tokenA, 'node-a', 0);
      await snapshot.waitFor('snapshot', (events) => events.some((e) => e.type === EventType.BOOKMARK));
      assert.deepEqual(snapshot.changes().map((e) => e.job?.name).sort(), ['j1', 'j3', 'j4']);
      assertIncreasing(snapshot.changes());
      await snapshot.cancel();
    });

    void it('fails with OUT_OF_RANGE for a revision the history no longer reaches, or one newer than the server has seen', async () => {
      await h.close();
      h = await startHarness({ historyPerNode: 2 });
      tokenA = await h.token('node-a');
      const names = ['h1', 'h2', 'h3', 'h4', 'h5'];
      for (const name of names) await createJob(h, name);
      const first = await bindJob(h, 'h1', 'node-a');
      let last = first;
      for (const name of names.slice(1)) last = await bindJob(h, name, 'node-a');
      await settle(h, last.metadata.resourceVersion);
      const tooOld = new WatchClient(h, tokenA, 'node-a', Number(first.metadata.resourceVersion));
      const ended = await tooOld.ended;
      assert.equal(ended.code, grpc.status.OUT_OF_RANGE);
      assert.match(ended.details, /too old.*watch again from 0/);
      const recent = new WatchClient(h, tokenA, 'node-a', Number(last.metadata.resourceVersion) - 1);
      await recent.waitFor('the last change', (events) => events.some((e) => e.job?.name === 'h5'));
      await recent.cancel();
      const future = new WatchClient(h, tokenA, 'node-a', Number(last.metadata.resourceVersion) + 1000);
      const ahead = await future.ended;
      assert.equal(ahead.code, grpc.status.OUT_OF_RANGE);
      assert.match(ahead.details, /newer than this server's view/);
    });

    void it('makes an agent that runs an attempt not assigned to it take a fresh snapshot', async () => {
      await h.close();
      h = await startHarness({ strayGraceMs: 0 });
      tokenA = await h.token('node-a');
      await register(h, tokenA, { nodeName: 'node-a' });
      await createJob(h, 'mine');
      await createJob(h, 'moved');
      const mine = await bindJob(h, 'mine', 'node-a');
      const moved = await bindJob(h, 'moved', 'node-b');
      await settle(h, moved.metadata.resourceVersion);
      const watch = new WatchClient(h, tokenA, 'node-a', 0);
      await watch.waitFor('snapshot', (events) => events.some((e) => e.type === EventType.BOOKMARK));
      // Listing only what is assigned changes nothing.
      await heartbeat(h, tokenA, { nodeName: 'node-a', runningAttempts: [{ jobUid: uidOf(mine), attempt: 1 }] });
      await heartbeat(h, tokenA, { nodeName: 'node-a', runningAttempts: [{ jobUid: uidOf(mine), attempt: 1 }, { jobUid: uidOf(moved), attempt: 1 }] });
      const ended = await watch.ended;
      assert.equal(ended.code, grpc.status.OUT_OF_RANGE);
      assert.match(ended.details, /not assigned to node node-a/);
      const resume = new WatchClient(h, tokenA, 'node-a', watch.lastRevision());
      assert.equal((await resume.ended).code, grpc.status.OUT_OF_RANGE, 'resuming is refused until a snapshot');
      const fresh = new WatchClient(h, tokenA, 'node-a', 0);
      await fresh.waitFor('snapshot', (events) => events.some((e) => e.type === EventType.BOOKMARK));
      assert.deepEqual(fresh.changes().map((e) => e.job?.name), ['mine']);
      await fresh.cancel();
    });

    void it('ends watches with UNAVAILABLE when the endpoint closes', async () => {
      const watch = new WatchClient(h, tokenA, 'node-a', 0);
      await watch.waitFor('snapshot', (events) => events.some((e) => e.type === EventType.BOOKMARK));
      await h.endpoint.close();
      assert.equal((await watch.ended).code, grpc.status.UNAVAILABLE);
    });

    void it('ends a watch whose token is revoked', async () => {
      const issued = await h.nodeTokens.create('node-c');
      const watch = new WatchClient(h, issued.token, 'node-c', 0);
      await watch.waitFor('snapshot', (events) => events.some((e) => e.type === EventType.BOOKMARK));
      await h.nodeTokens.revoke(issued.id);
      const ended = await watch.ended;
      assert.equal(ended.code, grpc.status.UNAUTHENTICATED);
    });
  });

  void describe('ReportStatus', () => {
    void it('applies running and exited reports in four job writes, treats a repeated sequence as a duplicate, records events and the attempt', async () => {
      await createJob(h, 'work');
      const bound = await bindJob(h, 'work', 'node-a');
      await settle(h, bound.metadata.resourceVersion);
      const base = { nodeName: 'node-a', jobUid: uidOf(bound), attempt: 1 };

      assert.deepEqual(await reportStatus(h, tokenA, { ...base, sequence: 1, state: AttemptState.PENDING }), { accepted: true, duplicate: false });
      assert.deepEqual(await reportStatus(h, tokenA, { ...base, sequence: 2, state: AttemptState.RUNNING, startedAt: new Date() }), { accepted: true, duplicate: false });
      const running = await readJob(h, 'work');
      assert.equal(running.job.status?.phase, 'Running');
      assert.ok(running.job.status?.startTime);
      assert.equal(running.job.status?.recentAttempts?.[0]?.lastReportSequence, 2);
      assert.deepEqual(await reportStatus(h, tokenA, { ...base, sequence: 2, state: AttemptState.RUNNING }), { accepted: true, duplicate: true });
      assert.deepEqual(await reportStatus(h, tokenA, { ...base, sequence: 1, state: AttemptState.PENDING }), { accepted: true, duplicate: true });
      assert.equal((await readJob(h, 'work')).version, running.version, 'a duplicate writes nothing');

      assert.deepEqual(await reportStatus(h, tokenA, { ...base, sequence: 3, state: AttemptState.EXITED, exitCode: 0, finishedAt: new Date() }), { accepted: true, duplicate: false });
      const done = await readJob(h, 'work');
      assert.equal(done.job.status?.phase, 'Succeeded');
      assert.equal(done.job.status?.exitCode, 0);
      assert.equal(done.version, 4, 'create, bind, Running, Succeeded');
      // The replayed final report is still harmless.
      assert.deepEqual(await reportStatus(h, tokenA, { ...base, sequence: 3, state: AttemptState.EXITED, exitCode: 0 }), { accepted: true, duplicate: true });

      const attempts = await h.logs.listAttempts('default', 'work');
      assert.equal(attempts[0]?.record?.reason, 'Completed');
      assert.equal(attempts[0]?.record?.nodeName, 'node-a');
      await h.recorder.flush();
      const { items } = await h.store.list(EVENTS_PREFIX);
      const reasons = items.map((kv) => JSON.parse(kv.value) as Event).filter((e) => e.involvedObject.uid === uidOf(bound)).map((e) => e.reason).sort();
      assert.deepEqual(reasons, ['Completed', 'Started']);
    });

    void it('answers accepted=false for an attempt that moved away, or a job that is gone', async () => {
      await createJob(h, 'moving');
      await bindJob(h, 'moving', 'node-a');
      // The node was lost: the attempt closed, the job re-bound on node-b as attempt 2.
      const moved = await updateJob(h, 'moving', (s) => ({
        ...s,
        nodeName: 'node-b',
        attempts: 2,
        recentAttempts: [{ attempt: 1, nodeName: 'node-a', endTime: '2026-01-01T00:00:00Z', reason: 'NodeLost' }, { attempt: 2, nodeName: 'node-b' }],
      }));
      await settle(h, moved.metadata.resourceVersion);
      const uid = uidOf(moved);
      assert.deepEqual(await reportStatus(h, tokenA, { nodeName: 'node-a', jobUid: uid, attempt: 1, sequence: 5, state: AttemptState.RUNNING }), { accepted: false, duplicate: false });
      await expectCode(reportStatus(h, tokenA, { nodeName: 'node-a', jobUid: uid, attempt: 2, sequence: 1, state: AttemptState.RUNNING }), grpc.status.PERMISSION_DENIED);
      assert.deepEqual(await reportStatus(h, tokenB, { nodeName: 'node-b', jobUid: uid, attempt: 2, sequence: 1, state: AttemptState.RUNNING }), { accepted: true, duplicate: false });

      const current = await h.jobStorage.get('default', 'moving');
      const deletedAt = await h.jobStorage.delete(current!.object, current!.kv.modRevision);
      await settle(h, deletedAt);
      assert.deepEqual(await reportStatus(h, tokenB, { nodeName: 'node-b', jobUid: uid, attempt: 2, sequence: 2, state: AttemptState.EXITED, exitCode: 1 }), { accepted: false, duplicate: false });
      assert.deepEqual(await reportStatus(h, tokenB, { nodeName: 'node-b', jobUid: 'no-such-job', attempt: 1, sequence: 1, state: AttemptState.RUNNING }), { accepted: false, duplicate: false });
    });

    void it('retries the write after a conflict and still applies the report once', async () => {
      await createJob(h, 'racy');
      const bound = await bindJob(h, 'racy', 'node-a');
      await settle(h, bound.metadata.resourceVersion);
      // A concurrent writer (a controller) changes the job after the informer saw it: the cached revision is stale.
      await updateJob(h, 'racy', (s) => ({ ...s, message: 'touched by a controller' }));
      assert.deepEqual(await reportStatus(h, tokenA, { nodeName: 'node-a', jobUid: uidOf(bound), attempt: 1, sequence: 1, state: AttemptState.RUNNING }), { accepted: true, duplicate: false });
      const { job } = await readJob(h, 'racy');
      assert.equal(job.status?.phase, 'Running');
      assert.equal(job.status?.recentAttempts?.[0]?.lastReportSequence, 1);
    });
  });

  void describe('StreamLogs', () => {
    void it('appends chunks once, acks where to resume, and keeps logs of a deleted job', async () => {
      await createJob(h, 'noisy');
      const bound = await bindJob(h, 'noisy', 'node-a');
      await settle(h, bound.metadata.resourceVersion);
      const uid = uidOf(bound);
      const chunk = (stream: LogStream, offset: number, text: string, eof = false) => ({ jobUid: uid, attempt: 1, stream, offset, data: Buffer.from(text), eof });

      const ack = await streamLogs(h, tokenA, [chunk(LogStream.STDOUT, 0, 'hello '), chunk(LogStream.STDOUT, 6, 'world\n'), chunk(LogStream.STDERR, 0, 'oops\n', true)]);
      assert.deepEqual(sortOffsets(ack.offsets), [
        { jobUid: uid, attempt: 1, stream: LogStream.STDOUT, nextOffset: 12, complete: false },
        { jobUid: uid, attempt: 1, stream: LogStream.STDERR, nextOffset: 5, complete: true },
      ]);
      // A resend (overlapping what is stored) and a gap: each byte is kept once, the gap is not stored.
      const again = await streamLogs(h, tokenA, [chunk(LogStream.STDOUT, 0, 'hello '), chunk(LogStream.STDOUT, 3, 'lo world\nmore\n'), chunk(LogStream.STDOUT, 100, 'lost')]);
      assert.deepEqual(sortOffsets(again.offsets), [{ jobUid: uid, attempt: 1, stream: LogStream.STDOUT, nextOffset: 17, complete: false }]);

      const current = await h.jobStorage.get('default', 'noisy');
      const deletedAt = await h.jobStorage.delete(current!.object, current!.kv.modRevision);
      await settle(h, deletedAt);
      const late = await streamLogs(h, tokenA, [chunk(LogStream.STDOUT, 17, 'bye\n', true)]);
      assert.deepEqual(sortOffsets(late.offsets), [{ jobUid: uid, attempt: 1, stream: LogStream.STDOUT, nextOffset: 21, complete: true }]);

      const ref = { namespace: 'default', name: 'noisy', uid };
      assert.equal(await readAll(h.logs.read(ref, 1, { stream: 'stdout' })), 'hello world\nmore\nbye\n');
      assert.equal(await readAll(h.logs.read(ref, 1, { stream: 'stderr' })), 'oops\n');

      // Chunks the server cannot attribute are dropped and acked complete, so the agent forgets them.
      const unknown = await streamLogs(h, tokenA, [{ jobUid: 'no-such-job', attempt: 1, stream: LogStream.STDOUT, offset: 0, data: Buffer.from('??'), eof: false }]);
      assert.deepEqual(unknown.offsets, [{ jobUid: 'no-such-job', attempt: 1, stream: LogStream.STDOUT, nextOffset: 2, complete: true }]);
    });
  });
});

function assertIncreasing(events: readonly { revision: number }[]): void {
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i]!.revision > events[i - 1]!.revision, `revisions increase: ${events.map((e) => e.revision).join(', ')}`);
  }
}

function sortOffsets<T extends { stream: number }>(offsets: readonly T[]): T[] {
  return [...offsets].sort((a, b) => a.stream - b.stream);
}

async function readAll(source: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(Buffer.from(part));
  return Buffer.concat(parts).toString('utf8');
}


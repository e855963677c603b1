// The node agent against a fake AgentService over real gRPC on 127.0.0.1, running real
// processes with the real ProcessDriver in temporary directories.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { credentials as grpcCredentials, ServerCredentials, status } from '@grpc/grpc-js';
import type { Logger as WinstonLogger } from 'winston';
import { ensureTlsMaterial } from '../apiserver/tls.js';
import { AttemptState, type StatusReport } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { type Clock, systemClock, type Timer } from '../controllers/runtime/clock.js';
import type { Logger } from '../controllers/runtime/logger.js';
import { Agent, AgentOptionsError, createAgent, type AgentOptions } from './agent.js';
import { Backoff } from './backoff.js';
import { HollowDriver } from './drivers/hollow-driver.js';
import { type DriverFingerprint, fingerprintChanges } from './node-info.js';
import { isProcessAlive, signalProcessGroup } from './drivers/process-group.js';
import { ProcessDriver } from './drivers/process-driver.js';
import { type PidRecord, readRecord, taskFiles } from './drivers/process-task-files.js';
import type {
  ExitResult,
  Fingerprint,
  OwnedTask,
  RecoverOptions,
  TaskConfig,
  TaskDriver,
  TaskHandle,
  TaskStats,
  TaskStatus,
} from './drivers/task-driver.js';
import { FakeAgentService, makeAssignment } from './testing/fake-agent-service.js';

const SH = '/bin/sh';

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Records log lines so that a test can wait for one. */
class MemoryLogger implements Logger {
  readonly lines: { level: string; message: string; meta?: Record<string, unknown> }[] = [];
  debug(message: string, meta?: Record<string, unknown>): void {
    this.lines.push({ level: 'debug', message, ...(meta ? { meta } : {}) });
  }
  info(message: string, meta?: Record<string, unknown>): void {
    this.lines.push({ level: 'info', message, ...(meta ? { meta } : {}) });
  }
  warn(message: string, meta?: Record<string, unknown>): void {
    this.lines.push({ level: 'warn', message, ...(meta ? { meta } : {}) });
  }
  error(message: string, meta?: Record<string, unknown>): void {
    this.lines.push({ level: 'error', message, ...(meta ? { meta } : {}) });
  }
}

interface Running {
  agent: Agent;
  driver: TaskDriver;
  logger: MemoryLogger;
  stop(): Promise<void>;
}

void describe('Agent', () => {
  let root = '';
  let fake: FakeAgentService;
  let address = '';
  let n = 0;
  const agents: Running[] = [];
  const driverDirs: string[] = [];

  /** A fresh uid per test, so that the fake's state of one test never meets another's. */
  const uid = (): string => `job-${process.pid}-${n++}`;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'agent-test-'));
  });

  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
    if (fake) await fake.close();
    for (const dir of driverDirs.splice(0)) killLeftovers(dir);
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function newFake(options: ConstructorParameters<typeof FakeAgentService>[0] = {}, credentials?: ServerCredentials): Promise<void> {
    fake = new FakeAgentService(options);
    address = await fake.listen(credentials);
  }

  function dirs(name: string): { stateDir: string; driverDir: string } {
    const base = join(root, name);
    driverDirs.push(join(base, 'driver'));
    return { stateDir: join(base, 'state'), driverDir: join(base, 'driver') };
  }

  function startAgent(d: { stateDir: string; driverDir: string }, extra: Partial<AgentOptions> = {}, driver?: TaskDriver): Running {
    const logger = new MemoryLogger();
    const theDriver = driver ?? new ProcessDriver({ stateDir: d.driverDir, pollIntervalMs: 50 });
    const agent = new Agent({
      servers: [address],
      token: 'node-token',
      nodeName: 'node-1',
      drivers: [theDriver],
      stateDir: d.stateDir,
      logger,
      backoffInitialMs: 100,
      backoffMaxMs: 1_000,
      shutdownFlushTimeoutMs: 3_000,
      finalLogsTimeoutMs: 3_000,
      logs: { flushIntervalMs: 50 },
      ...extra,
    });
    const controller = new AbortController();
    const done = agent.run(controller.signal);
    let stopped: Promise<void> | undefined;
    const running: Running = {
      agent,
      driver: theDriver,
      logger,
      stop: () => {
        controller.abort();
        stopped ??= done.then(() => {
          const i = agents.indexOf(running);
          if (i >= 0) agents.splice(i, 1);
        });
        return stopped;
      },
    };
    agents.push(running);
    return running;
  }

  const reportsOf = (id: string, attempt = 1): StatusReport[] => fake.reportsOf(id, attempt);
  const exitedReport = (id: string, attempt = 1): StatusReport | undefined =>
    reportsOf(id, attempt).find((r) => r.state === AttemptState.EXITED || r.state === AttemptState.LOST || r.state === AttemptState.FAILED_TO_START);
  const runningReport = (id: string, attempt = 1): StatusReport | undefined => reportsOf(id, attempt).find((r) => r.state === AttemptState.RUNNING);

  /** The pid of a process-driver task, from the driver's records. */
  function taskPid(driverDir: string, taskId: string): number | undefined {
    return readRecord<PidRecord>(taskFiles(join(driverDir, 'tasks', taskId)).task)?.pid;
  }

  void it('runs a job: reports RUNNING then EXITED 0, ships its logs first, then cleans up', async () => {
    await newFake();
    const d = dirs('happy');
    const a = startAgent(d);
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: [SH, '-c', 'echo hello; echo oops >&2'] }));
    const exited = await waitFor('EXITED report', () => exitedReport(id));
    assert.equal(exited.exitCode, 0);
    assert.equal(exited.reason, 'Completed');
    const reports = reportsOf(id);
    assert.deepEqual(
      reports.map((r) => [r.state, r.sequence]),
      [
        [AttemptState.RUNNING, 1],
        [AttemptState.EXITED, 2],
      ],
    );
    assert.ok(reports[0]?.startedAt instanceof Date && exited.finishedAt instanceof Date);
    // Logs were complete before the final report was sent.
    assert.deepEqual(fake.logOf(id, 1, 'stdout'), { text: 'hello\n', complete: true });
    assert.deepEqual(fake.logOf(id, 1, 'stderr'), { text: 'oops\n', complete: true });
    // Delivered: the attempt's state and the driver's task directory are removed.
    await waitFor('attempt state removed', () => !existsSync(join(d.stateDir, 'attempts', `${id}.1.json`)));
    await waitFor('driver task dir removed', () => !existsSync(join(d.driverDir, 'tasks', `${id}.1`)));
    // The registration advertised the healthy process driver and a detected capacity.
    const reg = fake.registers[0]?.request;
    assert.deepEqual(reg?.drivers.map((x) => [x.name, x.healthy]), [['process', true]]);
    assert.ok((reg?.capacity?.cpuMillis ?? 0) >= 1000 && (reg?.capacity?.memoryBytes ?? 0) > 0);
    assert.equal(statSync(d.stateDir).mode & 0o777, 0o700);
    await a.stop();
  });

  void it('reports a non-zero exit code', async () => {
    await newFake();
    startAgent(dirs('exit3'));
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: [SH, '-c', 'exit 3'] }));
    const exited = await waitFor('EXITED report', () => exitedReport(id));
    assert.equal(exited.state, AttemptState.EXITED);
    assert.equal(exited.exitCode, 3);
    assert.equal(exited.reason, 'Error');
  });

  void it('enforces timeoutSeconds: a task that ignores SIGTERM is killed after the kill timeout, reason DeadlineExceeded', async () => {
    await newFake();
    const d = dirs('timeout');
    startAgent(d);
    const id = uid();
    fake.assign(
      makeAssignment({
        uid: id,
        command: [SH, '-c', "trap '' TERM; echo started; while :; do sleep 0.1; done"],
        timeoutSeconds: 1,
        killTimeoutSeconds: 1,
      }),
    );
    await waitFor('RUNNING report', () => runningReport(id));
    const pid = await waitFor('task pid', () => taskPid(d.driverDir, `${id}.1`));
    const exited = await waitFor('EXITED report', () => exitedReport(id));
    assert.equal(exited.reason, 'DeadlineExceeded');
    assert.equal(exited.signal, 'SIGKILL');
    assert.equal(exited.exitCode, undefined);
    assert.match(exited.message, /timeoutSeconds \(1s\)/);
    assert.equal(isProcessAlive(pid), false);
    assert.equal(fake.logOf(id, 1, 'stdout').text, 'started\n');
  });

  void it('DELETED stops the task (reason Stopped) and desired STOP does too', async () => {
    await newFake();
    const d = dirs('deleted');
    startAgent(d);
    const [one, two] = [uid(), uid()];
    fake.assign(makeAssignment({ uid: one, command: [SH, '-c', 'sleep 60'] }));
    fake.assign(makeAssignment({ uid: two, command: [SH, '-c', 'sleep 60'] }));
    await waitFor('RUNNING reports', () => runningReport(one) && runningReport(two));
    const pids = [await waitFor('pid', () => taskPid(d.driverDir, `${one}.1`)), await waitFor('pid', () => taskPid(d.driverDir, `${two}.1`))];
    fake.unassign(one);
    fake.stop(two);
    const e1 = await waitFor('EXITED after DELETED', () => exitedReport(one));
    const e2 = await waitFor('EXITED after STOP', () => exitedReport(two));
    assert.equal(e1.reason, 'Stopped');
    assert.match(e1.message, /no longer assigned/);
    assert.equal(e2.reason, 'Stopped');
    assert.equal(e1.signal, 'SIGTERM');
    for (const pid of pids) assert.equal(isProcessAlive(pid), false);
    await waitFor('driver task dirs removed', () => !existsSync(join(d.driverDir, 'tasks', `${one}.1`)) && !existsSync(join(d.driverDir, 'tasks', `${two}.1`)));
  });

  void it('never runs two attempts of one job: a newer attempt first stops the older one', async () => {
    await newFake();
    const d = dirs('newer');
    startAgent(d);
    const id = uid();
    fake.assign(makeAssignment({ uid: id, attempt: 1, command: [SH, '-c', 'sleep 60'] }));
    await waitFor('attempt 1 RUNNING', () => runningReport(id, 1));
    const pid1 = await waitFor('pid', () => taskPid(d.driverDir, `${id}.1`));
    fake.assign(makeAssignment({ uid: id, attempt: 2, command: [SH, '-c', 'echo second'] }));
    const exited2 = await waitFor('attempt 2 EXITED', () => exitedReport(id, 2));
    assert.equal(exited2.exitCode, 0);
    const exited1 = exitedReport(id, 1);
    assert.equal(exited1?.reason, 'Stopped');
    assert.match(exited1?.message ?? '', /superseded by attempt 2/);
    assert.equal(isProcessAlive(pid1), false);
    // Attempt 1 had ended before attempt 2 started.
    const order = fake.reports.filter((r) => r.jobUid === id).map((r) => `${r.attempt}:${AttemptState[r.state]}`);
    assert.ok(order.indexOf('1:EXITED') < order.indexOf('2:RUNNING'), order.join(' '));
    assert.equal(fake.logOf(id, 2, 'stdout').text, 'second\n');
  });

  void it('reports FAILED_TO_START for a driver it does not have and for a program that cannot start', async () => {
    await newFake();
    startAgent(dirs('failstart'));
    const [noDriver, noProgram] = [uid(), uid()];
    fake.assign(makeAssignment({ uid: noDriver, driver: 'podman', image: 'localhost/busybox:test', command: ['/bin/true'] }));
    fake.assign(makeAssignment({ uid: noProgram, command: ['/nonexistent/program'] }));
    const r1 = await waitFor('FAILED_TO_START (driver)', () => exitedReport(noDriver));
    const r2 = await waitFor('FAILED_TO_START (program)', () => exitedReport(noProgram));
    assert.equal(r1.state, AttemptState.FAILED_TO_START);
    assert.equal(r1.reason, 'DriverUnavailable');
    assert.match(r1.message, /podman/);
    assert.equal(r2.state, AttemptState.FAILED_TO_START);
    assert.equal(r2.reason, 'StartFailed');
    assert.match(r2.message, /nonexistent/);
    assert.equal(r1.sequence, 1);
  });

  void it('re-adopts a running task after a restart over the same state dir and reports its exit once, with a higher sequence', async () => {
    await newFake();
    const d = dirs('readopt');
    const gate = join(root, 'readopt-gate');
    const first = startAgent(d, { shutdownMode: 'detach' });
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: [SH, '-c', `echo before; while [ ! -e ${gate} ]; do sleep 0.05; done; echo after`] }));
    await waitFor('RUNNING report', () => runningReport(id));
    await waitFor('first output shipped', () => fake.logOf(id, 1, 'stdout').text === 'before\n');
    const pid = await waitFor('pid', () => taskPid(d.driverDir, `${id}.1`));
    await first.stop();
    assert.equal(isProcessAlive(pid), true, 'detach leaves the task running');
    assert.ok(existsSync(join(d.stateDir, 'attempts', `${id}.1.json`)));

    startAgent(d);
    await waitFor('second registration', () => fake.registers.length >= 2);
    await waitFor('re-adopted', () => agents[0]?.logger.lines.some((l) => l.message === 're-adopted task'));
    writeFileSync(gate, '');
    const exited = await waitFor('EXITED report', () => exitedReport(id));
    assert.equal(exited.exitCode, 0);
    await waitFor('attempt state removed', () => !existsSync(join(d.stateDir, 'attempts', `${id}.1.json`)));
    const reports = reportsOf(id);
    assert.deepEqual(
      reports.map((r) => [AttemptState[r.state], r.sequence]),
      [
        ['RUNNING', 1],
        ['EXITED', 2],
      ],
    );
    assert.deepEqual(fake.logOf(id, 1, 'stdout'), { text: 'before\nafter\n', complete: true });
  });

  void it('reports a task that ended while no agent ran with its real exit code', async () => {
    await newFake();
    const d = dirs('ended-while-down');
    const gate = join(root, 'ended-gate');
    const first = startAgent(d, { shutdownMode: 'detach' });
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: [SH, '-c', `while [ ! -e ${gate} ]; do sleep 0.05; done; echo bye; exit 7`] }));
    await waitFor('RUNNING report', () => runningReport(id));
    const pid = await waitFor('pid', () => taskPid(d.driverDir, `${id}.1`));
    await first.stop();
    writeFileSync(gate, '');
    await waitFor('task ended while no agent ran', () => !isProcessAlive(pid));
    assert.equal(exitedReport(id), undefined);

    startAgent(d);
    const exited = await waitFor('EXITED report', () => exitedReport(id));
    assert.equal(exited.exitCode, 7);
    assert.equal(exited.reason, 'Error');
    assert.equal(exited.sequence, 2);
    assert.deepEqual(fake.logOf(id, 1, 'stdout'), { text: 'bye\n', complete: true });
  });

  void it('resumes a broken watch from the last revision it processed and misses nothing', async () => {
    await newFake();
    startAgent(dirs('resume'));
    const [one, two] = [uid(), uid()];
    const rev1 = fake.assign(makeAssignment({ uid: one, command: [SH, '-c', 'exit 0'] }));
    await waitFor('first job done', () => exitedReport(one));
    fake.refuseWatches = status.UNAVAILABLE;
    fake.breakWatches();
    const watchesBefore = fake.watches.length;
    await waitFor('a refused re-watch', () => fake.watches.length > watchesBefore);
    fake.assign(makeAssignment({ uid: two, command: [SH, '-c', 'exit 0'] })); // while disconnected
    fake.refuseWatches = undefined;
    await waitFor('second job done', () => exitedReport(two));
    const resumed = fake.watches.slice(watchesBefore).map((w) => w.request.fromRevision);
    assert.ok(resumed.length > 0 && resumed.every((r) => r === rev1), `watched again from ${resumed.join(', ')}, expected ${rev1}`);
    assert.equal(fake.watches[0]?.request.fromRevision, 0);
  });

  void it('after OUT_OF_RANGE watches from a snapshot and stops attempts missing from it', async () => {
    await newFake();
    const d = dirs('snapshot');
    startAgent(d);
    const [gone, kept] = [uid(), uid()];
    fake.assign(makeAssignment({ uid: gone, command: [SH, '-c', 'sleep 60'] }));
    fake.assign(makeAssignment({ uid: kept, command: [SH, '-c', 'sleep 60'] }));
    await waitFor('both RUNNING', () => runningReport(gone) && runningReport(kept));
    fake.refuseWatches = status.UNAVAILABLE;
    fake.breakWatches();
    fake.unassign(gone); // the agent does not see this event...
    fake.compact(); // ...and can no longer resume from before it
    const watchesBefore = fake.watches.length;
    fake.refuseWatches = undefined;
    const stopped = await waitFor('missing attempt stopped', () => exitedReport(gone));
    assert.equal(stopped.reason, 'Stopped');
    const again = fake.watches.slice(watchesBefore).map((w) => w.request.fromRevision);
    assert.ok(again.includes(0), `watched again from ${again.join(', ')}`);
    assert.equal(exitedReport(kept), undefined, 'the attempt in the snapshot keeps running');
    assert.equal(isProcessAlive(taskPid(d.driverDir, `${kept}.1`) as number), true);
  });

  void it('fences itself: with no successful heartbeat for the lease TTL it stops every task', async () => {
    await newFake({ heartbeatIntervalSeconds: 1, leaseTtlSeconds: 2 });
    const d = dirs('fence');
    const a = startAgent(d);
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: [SH, '-c', 'sleep 60'] }));
    await waitFor('RUNNING report', () => runningReport(id));
    const pid = await waitFor('pid', () => taskPid(d.driverDir, `${id}.1`));
    fake.failHeartbeats = status.UNAVAILABLE;
    const exited = await waitFor('EXITED after fencing', () => exitedReport(id));
    assert.equal(exited.reason, 'NodeLost');
    assert.match(exited.message, /lost contact/);
    assert.equal(isProcessAlive(pid), false);
    assert.ok(a.logger.lines.some((l) => l.level === 'error' && /self-fencing/.test(l.message)));
  });

  void it('join token: stores the node token from Register (0600) and uses it from then on, also after a restart', async () => {
    await newFake({ joinToken: 'join-secret', nodeToken: 'node-secret', issuedNodeToken: 'node-secret' });
    const d = dirs('join');
    const a = startAgent(d, { token: 'join-secret' });
    await waitFor('a heartbeat', () => fake.heartbeats.length > 0);
    const tokenFile = join(d.stateDir, 'node-token');
    assert.equal(readFileSync(tokenFile, 'utf8').trim(), 'node-secret');
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    assert.equal(fake.registers[0]?.token, 'join-secret');
    assert.ok(fake.heartbeats.every((h) => h.token === 'node-secret'));
    assert.ok(fake.watches.every((w) => w.token === 'node-secret'));
    await a.stop();
    startAgent(d, { token: 'join-secret' });
    await waitFor('second registration', () => fake.registers.length >= 2);
    assert.equal(fake.registers[1]?.token, 'node-secret');
  });

  void it('registers again when the control plane says the node is unknown (NOT_FOUND)', async () => {
    await newFake();
    startAgent(dirs('notfound'));
    await waitFor('registered and watching', () => fake.registers.length === 1 && fake.openWatchCount === 1);
    fake.nodeUnknown = true;
    await waitFor('registered again', () => fake.registers.length >= 2);
    await waitFor('watching again', () => fake.openWatchCount === 1);
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: [SH, '-c', 'exit 0'] }));
    await waitFor('job done after re-registration', () => exitedReport(id));
  });

  void it('a rejected report (accepted=false) stops the task and drops its reports', async () => {
    await newFake();
    const d = dirs('rejected');
    startAgent(d);
    const id = uid();
    fake.rejectAttempts.add(`${id}.1`);
    fake.assign(makeAssignment({ uid: id, command: [SH, '-c', 'sleep 60'] }));
    await waitFor('RUNNING report', () => runningReport(id));
    await waitFor('attempt dropped and cleaned up', () => !existsSync(join(d.stateDir, 'attempts', `${id}.1.json`)));
    assert.equal(existsSync(join(d.driverDir, 'tasks', `${id}.1`)), false, 'the task was stopped and destroyed');
    assert.deepEqual(reportsOf(id).map((r) => AttemptState[r.state]), ['RUNNING']);
  });

  void it("shutdown 'stop' stops every task and leaves no process", async () => {
    await newFake();
    const d = dirs('shutdown');
    const a = startAgent(d);
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: [SH, '-c', 'sleep 60'], killTimeoutSeconds: 5 }));
    await waitFor('RUNNING report', () => runningReport(id));
    const pid = await waitFor('pid', () => taskPid(d.driverDir, `${id}.1`));
    const supervisorPid = readRecord<PidRecord>(taskFiles(join(d.driverDir, 'tasks', `${id}.1`)).supervisor)?.pid;
    await a.stop();
    assert.equal(isProcessAlive(pid), false);
    if (supervisorPid !== undefined) await waitFor('supervisor gone', () => !isProcessAlive(supervisorPid), 5_000);
    const exited = exitedReport(id);
    assert.equal(exited?.reason, 'NodeLost', 'not the job\'s fault: re-queued without using a retry');
    assert.match(exited?.message ?? '', /shutting down/);
    assert.equal(existsSync(join(d.stateDir, 'attempts', `${id}.1.json`)), false, 'delivered, so nothing is left to resend');
  });

  void it('does not hold the final report back for long when logs cannot be shipped, and resends the logs later', async () => {
    await newFake();
    const d = dirs('logs-fail');
    startAgent(d, { finalLogsTimeoutMs: 300 });
    fake.failLogs = status.UNAVAILABLE;
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: [SH, '-c', 'echo kept; exit 4'] }));
    const exited = await waitFor('EXITED report despite failing logs', () => exitedReport(id));
    assert.equal(exited.exitCode, 4);
    assert.deepEqual(fake.logOf(id, 1, 'stdout'), { text: '', complete: false });
    assert.ok(existsSync(join(d.stateDir, 'attempts', `${id}.1.json`)), 'kept until the logs are delivered');
    fake.failLogs = undefined;
    await waitFor('logs delivered after all', () => fake.logOf(id, 1, 'stdout').complete);
    assert.equal(fake.logOf(id, 1, 'stdout').text, 'kept\n');
    await waitFor('then cleaned up', () => !existsSync(join(d.stateDir, 'attempts', `${id}.1.json`)));
  });

  void it('ships large output in full with a small buffer by re-reading the driver files', async () => {
    await newFake();
    const d = dirs('large');
    const a = startAgent(d, { logs: { flushIntervalMs: 50, maxBufferedBytesPerTask: 16 * 1024 } });
    const id = uid();
    const size = 1024 * 1024;
    fake.assign(makeAssignment({ uid: id, command: [SH, '-c', `head -c ${size} /dev/zero | tr '\\0' 'a'`] }));
    const exited = await waitFor('EXITED report', () => exitedReport(id));
    assert.equal(exited.exitCode, 0);
    const out = fake.logOf(id, 1, 'stdout');
    assert.equal(out.complete, true);
    assert.equal(out.text.length, size, JSON.stringify(a.logger.lines.filter((l) => l.level !== 'debug')));
    assert.ok(/^a+$/.test(out.text));
  });

  void it('runs jobs with the hollow driver (no process), shipping its output line', async () => {
    await newFake();
    const hollow = new HollowDriver({ outputLine: (t) => `hollow ${t.name}`, durationMs: 20 });
    startAgent(dirs('hollow'), {}, hollow);
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: ['/bin/does-not-matter'] }));
    const exited = await waitFor('EXITED report', () => exitedReport(id));
    assert.equal(exited.exitCode, 0);
    assert.deepEqual(fake.logOf(id, 1, 'stdout'), { text: `hollow job-${id}\n`, complete: true });
  });

  void it('fails over to the next server address when one is unreachable', async () => {
    await newFake();
    const dead = new FakeAgentService();
    const deadAddress = await dead.listen();
    await dead.close(); // nothing listens there any more
    startAgent(dirs('failover'), { servers: [deadAddress, address] });
    await waitFor('registered with the live server', () => fake.registers.length > 0);
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: [SH, '-c', 'exit 0'] }));
    await waitFor('job done', () => exitedReport(id));
  });

  void it('fingerprints its drivers again and stops advertising one that became unhealthy', async () => {
    await newFake();
    let healthy = true;
    const flaky = new HollowDriver({ name: 'flaky' });
    flaky.fingerprint = async () => ({ healthy, detail: healthy ? 'ok' : 'broken', attributes: {} });
    startAgent(dirs('fingerprint'), { fingerprintIntervalMs: 100, drivers: [flaky] }, flaky);
    await waitFor('advertised while healthy', () => fake.heartbeats.some((h) => h.request.drivers.some((x) => x.name === 'flaky')));
    healthy = false;
    const seen = fake.heartbeats.length;
    await waitFor('no longer advertised', () => fake.heartbeats.slice(seen).some((h) => h.request.drivers.length === 0));
    const id = uid();
    fake.assign(makeAssignment({ uid: id, driver: 'flaky', command: ['/bin/true'] }));
    const r = await waitFor('FAILED_TO_START', () => exitedReport(id));
    assert.equal(r.reason, 'DriverUnavailable');
  });

  void it('createAgent defaults to a process driver under <stateDir>/drivers/process', async () => {
    await newFake();
    const d = dirs('create');
    driverDirs.push(join(d.stateDir, 'drivers', 'process'));
    const agent = createAgent({ servers: [address], token: 'node-token', nodeName: 'node-2', stateDir: d.stateDir });
    const controller = new AbortController();
    const done = agent.run(controller.signal);
    try {
      const id = uid();
      fake.assign(makeAssignment({ uid: id, command: [SH, '-c', 'sleep 0.3; echo from-default'] }));
      await waitFor('RUNNING report', () => runningReport(id));
      assert.ok(existsSync(join(d.stateDir, 'drivers', 'process', 'tasks', `${id}.1`)));
      await waitFor('EXITED report', () => exitedReport(id));
      assert.equal(fake.logOf(id, 1, 'stdout').text, 'from-default\n');
      assert.equal(fake.registers.at(-1)?.request.nodeName, 'node-2');
    } finally {
      controller.abort();
      await done;
    }
  });

  void it('talks TLS with the caller\'s channel credentials, verifying the server name given', async () => {
    const tlsDir = join(root, 'tls');
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as WinstonLogger;
    const tls = await ensureTlsMaterial({ dataDir: tlsDir, hostname: 'control-plane.test', logger: quiet });
    await newFake({}, ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }], false));
    const trusted = grpcCredentials.createSsl(Buffer.from(tls.caCert as string));
    // 127.0.0.1 is dialled; the certificate is checked against the name given instead.
    startAgent(dirs('tls'), { credentials: trusted, tlsServerName: 'control-plane.test' });
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: [SH, '-c', 'echo over-tls'] }));
    await waitFor('job done over TLS', () => exitedReport(id));
    assert.equal(fake.logOf(id, 1, 'stdout').text, 'over-tls\n');
    // A name the certificate does not carry is refused.
    const wrong = startAgent(dirs('tls-wrong'), { credentials: trusted, tlsServerName: 'someone-else.test' });
    await waitFor('a refused registration', () => wrong.logger.lines.some((l) => l.message === 'register failed; retrying'));
    assert.equal(fake.registers.length, 1);
  });

  void it('sweeps orphans: an owned task no attempt tracks is removed within one interval, a tracked one never', async () => {
    await newFake();
    const driver = new OwningDriver(new HollowDriver({ durationMs: 60_000 }));
    const a = startAgent(dirs('sweep'), { orphanSweepIntervalMs: 300, drivers: [driver] }, driver);
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: ['/bin/does-not-matter'] }));
    await waitFor('RUNNING report', () => runningReport(id));
    await waitFor('a sweep that saw the tracked task', () => driver.listings.some((l) => l.includes(`${id}.1`)));
    const orphan = driver.addOrphan(`orphan-${process.pid}`, 3);
    const added = Date.now();
    await waitFor('orphan removed', () => driver.removed.some((t) => t.taskId === orphan.taskId));
    assert.ok(Date.now() - added < 300 + 250, `removed after ${Date.now() - added} ms (interval 300 ms)`);
    const listed = driver.listings.length;
    await waitFor('two more sweeps', () => driver.listings.length >= listed + 2);
    assert.deepEqual(driver.removed.map((t) => t.taskId), [orphan.taskId], 'only the orphan, once');
    assert.equal(runningReport(id)?.state, AttemptState.RUNNING);
    assert.equal(exitedReport(id), undefined, 'the tracked task keeps running');
    const warned = a.logger.lines.find((l) => l.level === 'warn' && /orphaned task/.test(l.message));
    assert.deepEqual(warned?.meta, { taskId: orphan.taskId, ref: orphan.ref, driver: 'process', running: true });
  });

  void it('sweeps a real process task whose attempt state was lost: killed and its dir removed within one interval', async () => {
    await newFake();
    const d = dirs('sweep-process');
    const first = startAgent(d, { shutdownMode: 'detach' });
    const [lost, kept] = [uid(), uid()];
    fake.assign(makeAssignment({ uid: lost, command: [SH, '-c', 'sleep 60'] }));
    fake.assign(makeAssignment({ uid: kept, command: [SH, '-c', 'sleep 60'] }));
    await waitFor('RUNNING reports', () => runningReport(lost) && runningReport(kept));
    const lostPid = await waitFor('pid', () => taskPid(d.driverDir, `${lost}.1`));
    const keptPid = await waitFor('pid', () => taskPid(d.driverDir, `${kept}.1`));
    await first.stop();
    rmSync(join(d.stateDir, 'attempts', `${lost}.1.json`)); // the next agent knows nothing of it
    fake.unassign(lost);

    const second = startAgent(d, { orphanSweepIntervalMs: 500 });
    await waitFor('orphan killed and removed', () => !isProcessAlive(lostPid) && !existsSync(join(d.driverDir, 'tasks', `${lost}.1`)), 3_000);
    const warned = second.logger.lines.find((l) => l.level === 'warn' && /orphaned task/.test(l.message));
    assert.deepEqual(warned?.meta, { taskId: `${lost}.1`, ref: join(d.driverDir, 'tasks', `${lost}.1`), driver: 'process', running: true });
    assert.equal(isProcessAlive(keptPid), true, 'the re-adopted task is not touched');
    assert.equal(exitedReport(kept), undefined);
    await second.stop();
    assert.equal(isProcessAlive(keptPid), false);
    assert.deepEqual(readdirSync(join(d.driverDir, 'tasks')), [], 'nothing of ours survives a clean stop');
  });

  void it('sweeping goes on when listOwned or removeOwned fail, and skips unhealthy drivers', async () => {
    await newFake();
    const driver = new OwningDriver(new HollowDriver());
    driver.listFailures = 2;
    driver.removeFailures = 1;
    const sick = new OwningDriver(new HollowDriver({ name: 'sick' }), { healthy: false, detail: 'runtime missing', attributes: {} });
    sick.addOrphan('sick-orphan', 1);
    const a = startAgent(dirs('sweep-errors'), { orphanSweepIntervalMs: 50, drivers: [driver, sick] }, driver);
    const orphan = driver.addOrphan(`orphan-${process.pid}`, 0);
    await waitFor('orphan removed after failures', () => driver.removed.some((t) => t.taskId === orphan.taskId));
    const failedLists = a.logger.lines.filter((l) => l.level === 'warn' && /listing the tasks marked as ours failed/.test(l.message));
    assert.equal(failedLists.length, 2);
    assert.deepEqual(failedLists[0]?.meta, { driver: 'process', error: 'podman is not answering' });
    assert.ok(a.logger.lines.some((l) => l.level === 'error' && /removing an orphaned task failed/.test(l.message)));
    assert.equal(driver.removeCalls, 2, 'the failed removal was tried again by the next sweep');
    await a.stop();
    assert.equal(sick.listings.length, 0, 'an unhealthy driver is never asked');
    assert.deepEqual(sick.removed, []);
  });

  void it('a task listed while its attempt is being finalized is not taken for an orphan', async () => {
    await newFake();
    const driver = new OwningDriver(new HollowDriver({ durationMs: 300 }));
    const id = uid();
    const taskId = `${id}.1`;
    // The first listing that holds the task returns only after the agent destroyed it and dropped its attempt.
    driver.beforeListReturns = async (listing) => {
      if (listing.includes(taskId)) await waitFor('task destroyed', () => driver.destroyed.includes(taskId));
    };
    const a = startAgent(dirs('sweep-finalize'), { orphanSweepIntervalMs: 20, drivers: [driver] }, driver);
    fake.assign(makeAssignment({ uid: id, command: ['/bin/does-not-matter'] }));
    await waitFor('EXITED report', () => exitedReport(id));
    await waitFor('attempt finalized', () => driver.destroyed.includes(taskId));
    await waitFor('the stale listing was read', () => driver.listings.filter((l) => l.includes(taskId)).length === 1 && driver.listings.length >= 3);
    assert.deepEqual(driver.removed, []);
    assert.equal(a.logger.lines.filter((l) => /orphaned task/.test(l.message)).length, 0);
  });

  void it("shutdown 'stop' sweeps once more; 'detach' sweeps nothing; no sweep timer is left after run()", async () => {
    await newFake();
    const clock = new TimerCountingClock();
    const stopping = new OwningDriver(new HollowDriver({ durationMs: 60_000 }));
    const a = startAgent(dirs('sweep-stop'), { orphanSweepIntervalMs: 3_600_000, drivers: [stopping], clock }, stopping);
    await waitFor('the start-up sweep', () => stopping.listings.length === 1);
    const late = stopping.addOrphan(`late-${process.pid}`, 0);
    await a.stop();
    assert.deepEqual(stopping.removed.map((t) => t.taskId), [late.taskId]);
    assert.equal(clock.pending(), 0, 'no timer of the agent left');

    const detaching = new OwningDriver(new HollowDriver({ durationMs: 60_000 }));
    const b = startAgent(dirs('sweep-detach'), { orphanSweepIntervalMs: 50, shutdownMode: 'detach', drivers: [detaching] }, detaching);
    const id = uid();
    fake.assign(makeAssignment({ uid: id, command: ['/bin/does-not-matter'] }));
    await waitFor('RUNNING report', () => runningReport(id));
    await waitFor('a few sweeps', () => detaching.listings.length >= 3);
    await b.stop();
    detaching.addOrphan(`after-${process.pid}`, 0);
    const listed = detaching.listings.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(detaching.listings.length, listed, 'no sweep after run() resolved');
    assert.deepEqual(detaching.removed, [], 'detach removes nothing, not even at the end');
  });

  void it('rejects bad options naming the field and the rule', () => {
    const base: AgentOptions = { servers: ['127.0.0.1:1'], token: 't', nodeName: 'n', drivers: [new HollowDriver()], stateDir: '/tmp/x' };
    const cases: [Partial<AgentOptions>, RegExp][] = [
      [{ nodeName: 'Bad_Name' }, /nodeName: must be a DNS-1123 label/],
      [{ servers: [] }, /servers: must name at least one server/],
      [{ servers: ['localhost'] }, /servers\[0\]: must be host:port/],
      [{ stateDir: 'relative' }, /stateDir: must be an absolute path/],
      [{ drivers: [new HollowDriver(), new HollowDriver()] }, /drivers\[1\]\.name: must be unique/],
      [{ shutdownMode: 'later' as 'stop' }, /shutdownMode: must be "stop" or "detach"/],
      [{ capacity: { cpuMillis: 0, memoryBytes: 1 } }, /capacity\.cpuMillis: must be a positive integer/],
      [{ orphanSweepIntervalMs: 0 }, /orphanSweepIntervalMs: must be a positive number/],
    ];
    for (const [patch, message] of cases) {
      assert.throws(() => new Agent({ ...base, ...patch }), (err: unknown) => err instanceof AgentOptionsError && message.test(err.message));
    }
  });
});

void describe('fingerprintChanges', () => {
  void it('names a driver when first seen, when its health changes, and when an unhealthy one changes its detail', () => {
    const d = new OwningDriver(new HollowDriver({ name: 'podman' }));
    const fp = (healthy: boolean, detail: string): DriverFingerprint[] => [{ driver: d, info: { name: 'podman', healthy, detail } }];
    assert.equal(fingerprintChanges([], fp(false, 'podman: not found')).length, 1);
    assert.equal(fingerprintChanges(fp(false, 'podman: not found'), fp(false, 'podman: not found')).length, 0);
    assert.equal(fingerprintChanges(fp(false, 'podman: not found'), fp(false, 'podman 4.3: runc failed')).length, 1);
    assert.equal(fingerprintChanges(fp(false, 'podman 4.3: runc failed'), fp(true, 'podman 4.3')).length, 1);
    assert.equal(fingerprintChanges(fp(true, 'podman 4.3, 2 containers'), fp(true, 'podman 4.3, 3 containers')).length, 0);
    assert.equal(fingerprintChanges(fp(true, 'podman 4.3'), fp(false, 'podman 4.3: storage broken')).length, 1);
  });
});

void describe('HollowDriver', () => {
  const task = { jobUid: 'h1', namespace: 'default', name: 'h', attempt: 1, command: ['x'], args: [], env: {}, resources: {} };

  void it('completes a task with exit 0 after its duration, writing the output line', async () => {
    const chunks: string[] = [];
    const d = new HollowDriver({ name: 'sim', outputLine: 'done', durationMs: 10 });
    assert.equal(d.name, 'sim');
    const handle = await d.start({ ...task, logs: { onStdout: (c) => chunks.push(c.toString()), onStderr: () => undefined } });
    assert.equal(handle.driver, 'sim');
    const exit = await d.wait(handle.taskId);
    assert.equal(exit.exitCode, 0);
    assert.equal(exit.reason, 'Completed');
    assert.deepEqual(chunks, ['done\n']);
    await d.destroy(handle.taskId);
    await assert.rejects(d.inspect(handle.taskId), /not found/);
  });

  void it('stops a running task with SIGTERM semantics, cannot recover foreign tasks, and close rejects waiters', async () => {
    const d = new HollowDriver({ durationMs: 60_000 });
    const handle = await d.start(task);
    assert.equal((await d.inspect(handle.taskId)).state, 'running');
    const exit = await d.stop(handle.taskId);
    assert.deepEqual([exit.exitCode, exit.signal, exit.reason], [143, 'SIGTERM', 'Stopped']);
    await assert.rejects(d.recover({ ...handle, taskId: 'other.1' }), /do not survive/);
    await assert.rejects(d.start({ ...task, command: [] }), /command/);
    const second = await d.start({ ...task, attempt: 2 });
    const waiting = d.wait(second.taskId);
    await d.close();
    await assert.rejects(waiting, /driver closed/);
  });
});

void describe('Backoff', () => {
  void it('waits a random time below an exponentially growing cap (full jitter), reset after success', () => {
    const highs: number[] = [];
    const b = new Backoff({ initialMs: 100, maxMs: 1_000, random: () => 0.999 });
    for (let i = 0; i < 6; i++) highs.push(b.next());
    assert.deepEqual(highs, [99, 199, 399, 799, 999, 999]);
    b.reset();
    assert.equal(b.next(), 99);
    assert.equal(new Backoff({ random: () => 0 }).next(), 0);
  });
});

/**
 * A HollowDriver that marks its tasks as owned (listed from start until destroy) and can be given
 * orphans: owned tasks that no agent started. Counts and records what the agent asks of it.
 */
class OwningDriver implements TaskDriver {
  readonly name: string;
  readonly capabilities: TaskDriver['capabilities'];
  /** The task ids of each listOwned call, in call order. */
  readonly listings: string[][] = [];
  readonly removed: OwnedTask[] = [];
  readonly destroyed: string[] = [];
  removeCalls = 0;
  /** The next n listOwned calls reject. */
  listFailures = 0;
  /** The next n removeOwned calls reject. */
  removeFailures = 0;
  /** Runs after a listing was taken, before it is returned. */
  beforeListReturns: ((listing: string[]) => Promise<void>) | undefined;
  private readonly live = new Map<string, OwnedTask>();
  private readonly orphans = new Map<string, OwnedTask>();

  constructor(
    private readonly inner: Omit<TaskDriver, 'listOwned' | 'removeOwned'>,
    private readonly fingerprintResult?: Fingerprint,
  ) {
    this.name = inner.name;
    this.capabilities = inner.capabilities;
  }

  addOrphan(jobUid: string, attempt: number): OwnedTask {
    const task: OwnedTask = { taskId: `${jobUid}.${attempt}`, jobUid, attempt, running: true, ref: `ref-${jobUid}` };
    this.orphans.set(task.taskId, task);
    return task;
  }

  async fingerprint(): Promise<Fingerprint> {
    return this.fingerprintResult ?? this.inner.fingerprint();
  }
  async start(task: TaskConfig): Promise<TaskHandle> {
    const handle = await this.inner.start(task);
    this.live.set(handle.taskId, { taskId: handle.taskId, jobUid: task.jobUid, attempt: task.attempt, running: true, ref: `ref-${handle.taskId}` });
    return handle;
  }
  recover(handle: TaskHandle, options?: RecoverOptions): Promise<void> {
    return this.inner.recover(handle, options);
  }
  wait(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
    return this.inner.wait(taskId, signal);
  }
  stop(taskId: string, graceMs: number, signal?: NodeJS.Signals): Promise<ExitResult> {
    return this.inner.stop(taskId, graceMs, signal);
  }
  async destroy(taskId: string): Promise<void> {
    await this.inner.destroy(taskId);
    this.live.delete(taskId);
    this.destroyed.push(taskId);
  }
  inspect(taskId: string): Promise<TaskStatus> {
    return this.inner.inspect(taskId);
  }
  stats(taskId: string): Promise<TaskStats> {
    return this.inner.stats(taskId);
  }
  async listOwned(): Promise<OwnedTask[]> {
    const owned = [...this.live.values(), ...this.orphans.values()];
    const ids = owned.map((t) => t.taskId);
    this.listings.push(ids);
    if (this.listFailures > 0) {
      this.listFailures--;
      throw new Error('podman is not answering');
    }
    await this.beforeListReturns?.(ids);
    return owned;
  }
  async removeOwned(task: OwnedTask): Promise<void> {
    this.removeCalls++;
    if (this.removeFailures > 0) {
      this.removeFailures--;
      throw new Error('container is busy');
    }
    this.orphans.delete(task.taskId);
    this.removed.push(task);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The system clock, counting the timers set on it that neither fired nor were cancelled. */
class TimerCountingClock implements Clock {
  private readonly live = new Set<object>();

  now(): number {
    return systemClock.now();
  }

  setTimeout(callback: () => void, ms: number): Timer {
    const token = {};
    this.live.add(token);
    const timer = systemClock.setTimeout(() => {
      this.live.delete(token);
      callback();
    }, ms);
    return {
      cancel: () => {
        this.live.delete(token);
        timer.cancel();
      },
    };
  }

  pending(): number {
    return this.live.size;
  }
}

/** Kills, by recorded pid, every task group and supervisor left under a process driver's state dir. */
function killLeftovers(driverDir: string): void {
  const tasksDir = join(driverDir, 'tasks');
  if (!existsSync(tasksDir)) return;
  for (const id of readdirSync(tasksDir)) {
    const files = taskFiles(join(tasksDir, id));
    const task = readRecord<PidRecord>(files.task);
    if (task) signalProcessGroup(task.pid, 'SIGKILL');
    const supervisor = readRecord<PidRecord>(files.supervisor);
    if (supervisor && isProcessAlive(supervisor.pid, supervisor.startTime)) process.kill(supervisor.pid, 'SIGKILL');
  }
}

// The pure job state machine: every rule of applyAttemptReport, failAttempt and the helpers,
// on deep-frozen inputs (so any mutation of the input throws).
import assert from 'node:assert/strict';
import { constants as osConstants } from 'node:os';
import { describe, it } from 'node:test';
import { MAX_RECENT_ATTEMPTS, type Job, type JobAttempt, type JobSpec, type JobStatus } from '../../api/v1/index.js';
import { deepFreeze } from '../runtime/index.js';
import {
  activeDeadlineAt,
  applyAttemptReport,
  attemptBackstopAt,
  failActiveDeadline,
  failAttempt,
  retriesLeft,
  retriesUsed,
  MAX_NODE_LOST_REQUEUES,
  retryDelaySeconds,
  validateAttemptReport,
  type AppliedTransition,
  type AttemptReport,
  type ReportOutcome,
} from './job-transitions.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const at = (offsetSeconds: number): string => new Date(NOW.getTime() + offsetSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

function job(status: JobStatus, spec: Partial<JobSpec> = {}): Job {
  return deepFreeze({
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name: 'j', namespace: 'team', uid: 'uid-1' },
    spec: { driver: 'process', command: ['true'], retryPolicy: { maxRetries: 3 }, ...spec },
    status,
  });
}

/** A job bound to n1 by the scheduler: attempt `attempt` open on n1 (earlier attempts closed with Error). */
function boundJob(phase: 'Scheduled' | 'Running', attempt = 1, extra: JobStatus = {}, spec: Partial<JobSpec> = {}): Job {
  const earlier: JobAttempt[] = [];
  for (let n = Math.max(1, attempt - MAX_RECENT_ATTEMPTS + 1); n < attempt; n++) {
    earlier.push({ attempt: n, nodeName: 'n1', startTime: at(-100), endTime: at(-90), exitCode: 1, reason: 'Error', lastReportSequence: 3 });
  }
  const current: JobAttempt = { attempt, nodeName: 'n1', ...(phase === 'Running' ? { startTime: at(-60), lastReportSequence: 2 } : {}) };
  return job({
    phase,
    nodeName: 'n1',
    attempts: attempt,
    ...(phase === 'Running' ? { startTime: at(-60) } : {}),
    recentAttempts: [...earlier, current],
    conditions: [{ type: 'Scheduled', status: 'True', reason: 'Scheduled', message: 'bound to node n1' }],
    ...extra,
  }, spec);
}

function report(fields: Partial<AttemptReport>): AttemptReport {
  return { nodeName: 'n1', attempt: 1, sequence: 5, state: 'running', ...fields };
}

function applied(outcome: ReportOutcome): AppliedTransition {
  assert.equal(outcome.kind, 'apply', `expected apply, got ${JSON.stringify(outcome)}`);
  return outcome as AppliedTransition;
}

function attemptOf(result: AppliedTransition, n: number): JobAttempt | undefined {
  return result.job.status?.recentAttempts?.find((a) => a.attempt === n);
}

void describe('applyAttemptReport', () => {
  void it('running: Scheduled -> Running with the first start time, the attempt start and event Started', () => {
    const input = boundJob('Scheduled');
    const before = JSON.stringify(input);
    const result = applied(applyAttemptReport(input, report({ state: 'running', startedAt: at(-5) }), NOW));
    assert.equal(result.job.status?.phase, 'Running');
    assert.equal(result.job.status?.startTime, at(-5));
    assert.deepEqual(attemptOf(result, 1), { attempt: 1, nodeName: 'n1', startTime: at(-5), lastReportSequence: 5 });
    assert.deepEqual(result.events, [{ type: 'Normal', reason: 'Started', message: 'attempt 1 started on node n1' }]);
    assert.equal(result.finishedAttempt, undefined);
    assert.equal(JSON.stringify(input), before, 'input unchanged');
  });

  void it('running: keeps the job startTime of an earlier attempt and clamps an agent time ahead of now', () => {
    const input = boundJob('Scheduled', 2, { startTime: at(-300) });
    const result = applied(applyAttemptReport(input, report({ attempt: 2, state: 'running', startedAt: at(3600) }), NOW));
    assert.equal(result.job.status?.startTime, at(-300));
    assert.equal(attemptOf(result, 2)?.startTime, at(0), 'a future agent time counts as now');
  });

  void it('running again and pending are noops (nothing visible changes)', () => {
    assert.deepEqual(applyAttemptReport(boundJob('Running'), report({ state: 'running', sequence: 9 }), NOW), { kind: 'noop' });
    assert.deepEqual(applyAttemptReport(boundJob('Scheduled'), report({ state: 'pending' }), NOW), { kind: 'noop' });
  });

  void it('exited 0: Succeeded, completionTime, exit code 0, attempt Completed, event Completed and the attempt record', () => {
    const input = boundJob('Running', 1, { retrySeries: 2 });
    const result = applied(applyAttemptReport(input, report({ state: 'exited', exitCode: 0, finishedAt: at(-1), sequence: 7 }), NOW));
    const status = result.job.status!;
    assert.equal(status.phase, 'Succeeded');
    assert.equal(status.reason, 'Completed');
    assert.equal(status.completionTime, at(-1));
    assert.equal(status.exitCode, 0);
    assert.equal(status.nodeName, 'n1', 'where it ran is kept');
    assert.deepEqual(attemptOf(result, 1), { attempt: 1, nodeName: 'n1', startTime: at(-60), endTime: at(-1), exitCode: 0, reason: 'Completed', lastReportSequence: 7 });
    assert.deepEqual(result.events, [{ type: 'Normal', reason: 'Completed', message: 'attempt 1 completed on node n1' }]);
    assert.deepEqual(result.finishedAttempt, {
      namespace: 'team',
      name: 'j',
      jobUid: 'uid-1',
      attempt: 1,
      retrySeries: 2,
      nodeName: 'n1',
      startTime: at(-60),
      endTime: at(-1),
      exitCode: 0,
      reason: 'Completed',
    });
  });

  void it('exited 0 straight from Scheduled (running report never arrived) sets the start times too', () => {
    const result = applied(applyAttemptReport(boundJob('Scheduled'), report({ state: 'exited', exitCode: 0, startedAt: at(-3) }), NOW));
    assert.equal(result.job.status?.phase, 'Succeeded');
    assert.equal(result.job.status?.startTime, at(-3));
    assert.equal(attemptOf(result, 1)?.startTime, at(-3));
    assert.equal(result.job.status?.completionTime, at(0));
  });

  const backoffCases: { name: string; attempt: number; policy: JobSpec['retryPolicy']; delay: number; retry: number }[] = [
    { name: 'first retry waits backoffSeconds', attempt: 1, policy: { maxRetries: 3, backoffSeconds: 10, backoffFactor: 2 }, delay: 10, retry: 1 },
    { name: 'third retry waits backoffSeconds * factor^2', attempt: 3, policy: { maxRetries: 3, backoffSeconds: 10, backoffFactor: 2 }, delay: 40, retry: 3 },
    { name: 'the delay is capped by maxBackoffSeconds', attempt: 3, policy: { maxRetries: 5, backoffSeconds: 10, backoffFactor: 3, maxBackoffSeconds: 60 }, delay: 60, retry: 3 },
    { name: 'defaults 10 s, factor 2', attempt: 2, policy: { maxRetries: 2 }, delay: 20, retry: 2 },
  ];
  for (const c of backoffCases) {
    void it(`non-zero exit with retries left -> Pending/BackoffWaiting: ${c.name}`, () => {
      const input = boundJob('Running', c.attempt, {}, { retryPolicy: c.policy });
      const result = applied(applyAttemptReport(input, report({ attempt: c.attempt, state: 'exited', exitCode: 3, sequence: 8 }), NOW));
      const status = result.job.status!;
      assert.equal(status.phase, 'Pending');
      assert.equal(status.reason, 'BackoffWaiting');
      assert.equal(status.nextRetryAt, at(c.delay));
      assert.equal(status.nodeName, undefined);
      assert.equal(status.exitCode, 3);
      assert.deepEqual(status.conditions, [], 'the Scheduled condition is removed');
      assert.match(status.message ?? '', new RegExp(`retry ${c.retry} of ${c.policy?.maxRetries}`));
      assert.deepEqual(attemptOf(result, c.attempt), {
        attempt: c.attempt,
        nodeName: 'n1',
        startTime: at(-60),
        endTime: at(0),
        exitCode: 3,
        reason: 'Error',
        lastReportSequence: 8,
      });
      assert.equal(result.events.length, 1);
      assert.equal(result.events[0]?.type, 'Warning');
      assert.equal(result.events[0]?.reason, 'BackOff');
      assert.equal(result.finishedAttempt?.reason, 'Error');
      assert.equal(result.finishedAttempt?.exitCode, 3);
    });
  }

  void it('no retries left -> Failed/RetriesExhausted naming the attempts and the last exit', () => {
    const input = boundJob('Running', 4, {}, { retryPolicy: { maxRetries: 3 } });
    const result = applied(applyAttemptReport(input, report({ attempt: 4, state: 'exited', exitCode: 2 }), NOW));
    const status = result.job.status!;
    assert.equal(status.phase, 'Failed');
    assert.equal(status.reason, 'RetriesExhausted');
    assert.equal(status.completionTime, at(0));
    assert.equal(status.exitCode, 2);
    assert.equal(status.nextRetryAt, undefined);
    assert.match(status.message ?? '', /4 attempt\(s\) failed \(3 retries allowed\); the last, attempt 4 on node n1 exited with code 2/);
    assert.deepEqual(result.events, [{ type: 'Warning', reason: 'RetriesExhausted', message: status.message }]);
  });

  void it('default maxRetries 0: the first failure is final', () => {
    const input = boundJob('Running', 1, {}, { retryPolicy: {} });
    assert.equal(applied(applyAttemptReport(input, report({ state: 'exited', exitCode: 1 }), NOW)).job.status?.reason, 'RetriesExhausted');
  });

  void it('last attempt timed out (agent reason DeadlineExceeded) with no retries left -> Failed/DeadlineExceeded', () => {
    const input = boundJob('Running', 1, {}, { retryPolicy: { maxRetries: 0 }, timeoutSeconds: 30 });
    const result = applied(applyAttemptReport(input, report({ state: 'exited', signal: 'SIGTERM', reason: 'DeadlineExceeded' }), NOW));
    assert.equal(result.job.status?.phase, 'Failed');
    assert.equal(result.job.status?.reason, 'DeadlineExceeded');
    assert.equal(attemptOf(result, 1)?.reason, 'DeadlineExceeded');
    assert.equal(result.events[0]?.reason, 'DeadlineExceeded');
  });

  void it('a timed-out attempt with retries left is retried', () => {
    const input = boundJob('Running', 1, {}, { timeoutSeconds: 30 });
    const result = applied(applyAttemptReport(input, report({ state: 'exited', exitCode: 143, reason: 'DeadlineExceeded' }), NOW));
    assert.equal(result.job.status?.reason, 'BackoffWaiting');
  });

  void it('activeDeadlineSeconds passed -> Failed/DeadlineExceeded even with retries left', () => {
    const input = boundJob('Running', 1, { startTime: at(-120) }, { activeDeadlineSeconds: 100 });
    const result = applied(applyAttemptReport(input, report({ state: 'exited', exitCode: 1 }), NOW));
    assert.equal(result.job.status?.phase, 'Failed');
    assert.equal(result.job.status?.reason, 'DeadlineExceeded');
    assert.match(result.job.status?.message ?? '', /active deadline of 100s/);
    assert.equal(attemptOf(result, 1)?.reason, 'Error', 'the attempt keeps its own reason');
  });

  void it('failedToStart closes the attempt without an exit code and uses a retry', () => {
    const input = boundJob('Scheduled', 1, { exitCode: 9 });
    const result = applied(applyAttemptReport(input, report({ state: 'failedToStart', message: 'ENOENT: no such file /bin/nope' }), NOW));
    assert.equal(result.job.status?.reason, 'BackoffWaiting');
    assert.equal(result.job.status?.exitCode, undefined, 'status.exitCode is the last attempt exit code: none');
    assert.deepEqual(attemptOf(result, 1), {
      attempt: 1,
      nodeName: 'n1',
      endTime: at(0),
      reason: 'FailedToStart',
      message: 'ENOENT: no such file /bin/nope',
      lastReportSequence: 5,
    });
  });

  void it('lost (by the agent) ends the attempt with TaskLost and uses a retry', () => {
    const lost = applied(applyAttemptReport(boundJob('Running'), report({ state: 'lost' }), NOW));
    assert.equal(attemptOf(lost, 1)?.reason, 'TaskLost');
    assert.equal(lost.job.status?.reason, 'BackoffWaiting');
  });

  void it('NodeLost from the agent (it fenced itself) is a node-lost re-queue: no retry used, no backoff, bounded', () => {
    const spec = { retryPolicy: { maxRetries: 0 } };
    const message = 'the agent lost contact with the control plane for 3s (lease TTL 3s) and stopped the task';
    const input = boundJob('Running', 1, {}, spec);
    const result = applied(applyAttemptReport(input, report({ state: 'exited', exitCode: 0, reason: 'NodeLost', message, finishedAt: at(-1) }), NOW));
    assert.equal(result.job.status?.phase, 'Pending', 'maxRetries 0, yet re-queued');
    assert.equal(result.job.status?.reason, 'NodeLost');
    assert.equal(result.job.status?.nodeLostRequeues, 1);
    assert.equal(result.job.status?.nodeName, undefined);
    assert.equal(result.job.status?.nextRetryAt, undefined, 'no backoff');
    assert.ok(!(result.job.status?.conditions ?? []).some((c) => c.type === 'Scheduled'));
    assert.deepEqual(attemptOf(result, 1), { attempt: 1, nodeName: 'n1', startTime: at(-60), endTime: at(-1), reason: 'NodeLost', message, exitCode: 0, lastReportSequence: 5 });
    assert.equal(result.finishedAttempt?.reason, 'NodeLost');
    assert.deepEqual(result.events.map((e) => e.reason), ['NodeLost']);
    assert.equal(retriesUsed(result.job), 0);
    // Also when the task was lost on the way (LOST with reason NodeLost), and bounded like the controller's verdict.
    const worn = boundJob('Running', 1, { nodeLostRequeues: MAX_NODE_LOST_REQUEUES }, spec);
    const failed = applied(applyAttemptReport(worn, report({ state: 'lost', reason: 'NodeLost' }), NOW));
    assert.equal(failed.job.status?.phase, 'Failed');
    assert.match(failed.job.status?.message ?? '', new RegExp(`lost its node ${MAX_NODE_LOST_REQUEUES + 1} times`));
    // A restarted agent that finds an attempt it was starting and no driver knows (the task never ran).
    const unstarted = applied(applyAttemptReport(boundJob('Scheduled', 1, {}, spec), report({ state: 'failedToStart', reason: 'NodeLost' }), NOW));
    assert.equal(unstarted.job.status?.phase, 'Pending');
    assert.equal(attemptOf(unstarted, 1)?.reason, 'NodeLost');
  });

  void it('agent reasons such as OOMKilled are kept; exit 0 with a failure reason is a failure', () => {
    const oom = applied(applyAttemptReport(boundJob('Running'), report({ state: 'exited', exitCode: 0, reason: 'OOMKilled' }), NOW));
    assert.equal(oom.job.status?.phase, 'Pending');
    assert.equal(attemptOf(oom, 1)?.reason, 'OOMKilled');
  });

  void it('signal-only exit: exit code 128 + signal number, reason Signaled, the signal in the record', () => {
    const result = applied(applyAttemptReport(boundJob('Running'), report({ state: 'exited', signal: 'SIGKILL' }), NOW));
    const expected = 128 + osConstants.signals.SIGKILL;
    assert.equal(attemptOf(result, 1)?.exitCode, expected);
    assert.equal(attemptOf(result, 1)?.reason, 'Signaled');
    assert.equal(result.job.status?.exitCode, expected);
    assert.equal(result.finishedAttempt?.signal, 'SIGKILL');
    assert.match(result.job.status?.message ?? '', /was killed by SIGKILL/);
  });

  void it('duplicate: a sequence at or below the attempt lastReportSequence, also after the job finished', () => {
    const running = boundJob('Running');
    assert.deepEqual(applyAttemptReport(running, report({ state: 'running', sequence: 2 }), NOW), { kind: 'duplicate' });
    assert.deepEqual(applyAttemptReport(running, report({ state: 'exited', exitCode: 0, sequence: 1 }), NOW), { kind: 'duplicate' });
    const done = applied(applyAttemptReport(running, report({ state: 'exited', exitCode: 0, sequence: 7 }), NOW)).job;
    assert.deepEqual(applyAttemptReport(deepFreeze(done), report({ state: 'exited', exitCode: 0, sequence: 7 }), NOW), { kind: 'duplicate' });
  });

  const staleCases: { name: string; job: Job; report: AttemptReport; why: RegExp }[] = [
    { name: 'wrong attempt', job: boundJob('Running', 2), report: report({ attempt: 1, sequence: 9 }), why: /attempt 1 is not the job's current attempt \(2\)/ },
    { name: 'newer attempt than the job knows', job: boundJob('Running', 2), report: report({ attempt: 3 }), why: /not the job's current attempt/ },
    { name: 'wrong node', job: boundJob('Running'), report: report({ nodeName: 'n2' }), why: /bound to node n1, not n2/ },
    { name: 'job Pending', job: job({ phase: 'Pending', reason: 'BackoffWaiting', attempts: 1 }), report: report({}), why: /job is Pending/ },
    { name: 'job without status', job: job({}), report: report({}), why: /job is Pending/ },
    {
      name: 'job already Succeeded',
      job: job({ phase: 'Succeeded', nodeName: 'n1', attempts: 1, recentAttempts: [{ attempt: 1, nodeName: 'n1', endTime: at(-1), reason: 'Completed', lastReportSequence: 3 }] }),
      report: report({ state: 'exited', exitCode: 1, sequence: 4 }),
      why: /job is Succeeded/,
    },
    {
      name: 'attempt already closed',
      job: boundJob('Running', 1, { recentAttempts: [{ attempt: 1, nodeName: 'n1', endTime: at(-1), reason: 'NodeLost' }] }),
      report: report({}),
      why: /attempt 1 already ended \(NodeLost\)/,
    },
    { name: 'invalid report', job: boundJob('Running'), report: report({ sequence: -1, state: 'bogus' as never }), why: /report.sequence must be an integer >= 0; report.state must be one of/ },
  ];
  for (const c of staleCases) {
    void it(`stale: ${c.name}`, () => {
      const outcome = applyAttemptReport(c.job, c.report, NOW);
      assert.equal(outcome.kind, 'stale');
      assert.match((outcome as { why: string }).why, c.why);
    });
  }

  void it('after a DLQ retry (seriesStartAttempt) the retry budget is fresh', () => {
    const spec = { retryPolicy: { maxRetries: 1 } };
    const exhausted = boundJob('Running', 5, {}, spec);
    assert.equal(applied(applyAttemptReport(exhausted, report({ attempt: 5, state: 'exited', exitCode: 1 }), NOW)).job.status?.reason, 'RetriesExhausted');
    const retried = boundJob('Running', 5, { seriesStartAttempt: 4, retrySeries: 1 }, spec);
    const result = applied(applyAttemptReport(retried, report({ attempt: 5, state: 'exited', exitCode: 1 }), NOW));
    assert.equal(result.job.status?.reason, 'BackoffWaiting');
    assert.equal(result.job.status?.nextRetryAt, at(10), 'the series starts over at the first backoff');
    assert.equal(result.finishedAttempt?.retrySeries, 1);
    const second = boundJob('Running', 6, { seriesStartAttempt: 4, retrySeries: 1 }, spec);
    assert.equal(applied(applyAttemptReport(second, report({ attempt: 6, state: 'exited', exitCode: 1 }), NOW)).job.status?.reason, 'RetriesExhausted');
  });

  void it('attempts that ended with NodeLost do not use a retry', () => {
    const spec = { retryPolicy: { maxRetries: 1 } };
    const input = boundJob('Running', 3, { nodeLostRequeues: 2 }, spec);
    const result = applied(applyAttemptReport(input, report({ attempt: 3, state: 'exited', exitCode: 1 }), NOW));
    assert.equal(result.job.status?.reason, 'BackoffWaiting');
    assert.match(result.job.status?.message ?? '', /retry 1 of 1/);
  });

  void it('recentAttempts stays bounded: a missing entry of the current attempt is added and the oldest dropped', () => {
    const full = boundJob('Running', MAX_RECENT_ATTEMPTS);
    assert.equal(full.status?.recentAttempts?.length, MAX_RECENT_ATTEMPTS);
    const withoutCurrent = job({ ...full.status, attempts: MAX_RECENT_ATTEMPTS + 1, recentAttempts: full.status?.recentAttempts?.map((a) => ({ ...a, endTime: at(-2) })) }, full.spec);
    const result = applied(applyAttemptReport(withoutCurrent, report({ attempt: MAX_RECENT_ATTEMPTS + 1, state: 'running' }), NOW));
    const list = result.job.status?.recentAttempts ?? [];
    assert.equal(list.length, MAX_RECENT_ATTEMPTS);
    assert.equal(list[0]?.attempt, 2, 'attempt 1 dropped');
    assert.deepEqual(list.at(-1), { attempt: MAX_RECENT_ATTEMPTS + 1, nodeName: 'n1', startTime: at(0), lastReportSequence: 5 });
    const ended = applied(applyAttemptReport(full, report({ attempt: MAX_RECENT_ATTEMPTS, state: 'exited', exitCode: 0 }), NOW));
    assert.equal(ended.job.status?.recentAttempts?.length, MAX_RECENT_ATTEMPTS);
  });
});

void describe('validateAttemptReport', () => {
  const cases: { report: Partial<Record<keyof AttemptReport, unknown>>; problem: RegExp }[] = [
    { report: { nodeName: 'Bad_Node' }, problem: /report.nodeName must be a DNS-1123 subdomain/ },
    { report: { attempt: 0 }, problem: /report.attempt must be an integer >= 1/ },
    { report: { attempt: 1.5 }, problem: /report.attempt must be an integer >= 1/ },
    { report: { sequence: '3' }, problem: /report.sequence must be an integer >= 0/ },
    { report: { state: 'done' }, problem: /report.state must be one of pending, running, exited, failedToStart, lost/ },
    { report: { exitCode: 2 ** 40 }, problem: /report.exitCode must be a 32-bit integer/ },
    { report: { signal: 'kill me; rm' }, problem: /report.signal must be a signal name/ },
    { report: { reason: 'not camel case' }, problem: /report.reason must be a CamelCase word/ },
    { report: { message: 5 }, problem: /report.message must be a string/ },
    { report: { startedAt: 'yesterday' }, problem: /report.startedAt must be an RFC 3339 time/ },
    { report: { state: 'exited' }, problem: /report.exitCode or report.signal is required when report.state is exited/ },
  ];
  for (const c of cases) {
    void it(`names the field and the rule: ${JSON.stringify(c.report)}`, () => {
      const problems = validateAttemptReport({ ...report({}), ...c.report } as AttemptReport);
      assert.equal(problems.length, 1, problems.join('; '));
      assert.match(problems[0]!, c.problem);
    });
  }
  void it('accepts a full valid report and rejects a non-object without throwing', () => {
    assert.deepEqual(
      validateAttemptReport(report({ state: 'exited', exitCode: 137, signal: 'SIGKILL', reason: 'OOMKilled', message: 'x', startedAt: at(-1), finishedAt: at(0) })),
      [],
    );
    assert.deepEqual(validateAttemptReport(null as never), ['report must be an object']);
  });
});

void describe('retry helpers', () => {
  const delays: { policy: JobSpec['retryPolicy']; n: number; seconds: number }[] = [
    { policy: undefined, n: 1, seconds: 10 },
    { policy: undefined, n: 2, seconds: 20 },
    { policy: undefined, n: 5, seconds: 160 },
    { policy: undefined, n: 6, seconds: 300 },
    { policy: undefined, n: 100, seconds: 300 },
    { policy: { backoffSeconds: 0 }, n: 3, seconds: 0 },
    { policy: { backoffSeconds: 5, backoffFactor: 1 }, n: 9, seconds: 5 },
    { policy: { backoffSeconds: 400 }, n: 2, seconds: 400 },
    { policy: { backoffSeconds: 7, backoffFactor: 1.5, maxBackoffSeconds: 12 }, n: 2, seconds: 10.5 },
    { policy: { backoffSeconds: 7, backoffFactor: 1.5, maxBackoffSeconds: 12 }, n: 3, seconds: 12 },
  ];
  for (const d of delays) {
    void it(`retryDelaySeconds(${JSON.stringify(d.policy)}, ${d.n}) = ${d.seconds}`, () => {
      assert.equal(retryDelaySeconds(d.policy, d.n), d.seconds);
    });
  }
  void it('retryDelaySeconds rejects a retry number below 1 naming it', () => {
    assert.throws(() => retryDelaySeconds({}, 0), /n must be an integer >= 1, got 0/);
    assert.throws(() => retryDelaySeconds({}, 1.5), /n must be an integer >= 1/);
  });
  void it('retriesUsed and retriesLeft count the current series without NodeLost attempts', () => {
    const spec = { retryPolicy: { maxRetries: 2 } };
    const cases: { status: JobStatus; used: number; left: number }[] = [
      { status: {}, used: 0, left: 2 },
      { status: { attempts: 1 }, used: 0, left: 2 },
      { status: { attempts: 3 }, used: 2, left: 0 },
      { status: { attempts: 5 }, used: 4, left: 0 },
      { status: { attempts: 5, seriesStartAttempt: 4 }, used: 0, left: 2 },
      { status: { attempts: 4, nodeLostRequeues: 2 }, used: 1, left: 1 },
    ];
    for (const c of cases) {
      const j = job(c.status, spec);
      assert.equal(retriesUsed(j), c.used, JSON.stringify(c.status));
      assert.equal(retriesLeft(j), c.left, JSON.stringify(c.status));
    }
  });
});

void describe('deadline helpers', () => {
  void it('activeDeadlineAt and attemptBackstopAt', () => {
    const running = boundJob('Running', 1, {}, { activeDeadlineSeconds: 100, timeoutSeconds: 30, killTimeoutSeconds: 5 });
    assert.equal(activeDeadlineAt(running), NOW.getTime() + 40_000);
    assert.equal(attemptBackstopAt(running), NOW.getTime() - 60_000 + (30 + 5 + 60) * 1000);
    assert.equal(attemptBackstopAt(boundJob('Running', 1, {}, { timeoutSeconds: 30 })), NOW.getTime() - 60_000 + (30 + 10 + 60) * 1000, 'killTimeoutSeconds defaults to 10');
    assert.equal(attemptBackstopAt(boundJob('Running')), undefined, 'no timeout');
    assert.equal(attemptBackstopAt(boundJob('Scheduled', 1, {}, { timeoutSeconds: 30 })), undefined, 'not started');
    assert.equal(activeDeadlineAt(boundJob('Scheduled', 1, {}, { activeDeadlineSeconds: 5 })), undefined, 'never started');
  });

  void it('failActiveDeadline on a Running job closes its attempt and removes nodeName', () => {
    const input = boundJob('Running', 1, {}, { activeDeadlineSeconds: 50 });
    const result = failActiveDeadline(input, NOW);
    const status = result.job.status!;
    assert.equal(status.phase, 'Failed');
    assert.equal(status.reason, 'DeadlineExceeded');
    assert.equal(status.nodeName, undefined);
    assert.equal(status.completionTime, at(0));
    assert.deepEqual(status.conditions, []);
    assert.equal(attemptOf(result, 1)?.reason, 'DeadlineExceeded');
    assert.equal(attemptOf(result, 1)?.endTime, at(0));
    assert.equal(result.finishedAttempt?.reason, 'DeadlineExceeded');
    assert.equal(result.events[0]?.type, 'Warning');
  });

  void it('failActiveDeadline on a waiting job closes nothing and drops nextRetryAt', () => {
    const waiting = job({ phase: 'Pending', reason: 'BackoffWaiting', nextRetryAt: at(30), attempts: 1, startTime: at(-100), recentAttempts: [{ attempt: 1, nodeName: 'n1', endTime: at(-5), reason: 'Error' }] }, { activeDeadlineSeconds: 50 });
    const result = failActiveDeadline(waiting, NOW);
    assert.equal(result.job.status?.phase, 'Failed');
    assert.equal(result.job.status?.nextRetryAt, undefined);
    assert.equal(result.finishedAttempt, undefined);
    assert.deepEqual(result.job.status?.recentAttempts, waiting.status?.recentAttempts);
  });

  void it('failAttempt (the backstop path) ends the current attempt like a report', () => {
    const input = boundJob('Running', 1, {}, { timeoutSeconds: 10 });
    const result = failAttempt(input, { reason: 'DeadlineExceeded', message: 'no final report' }, NOW);
    assert.equal(result.job.status?.reason, 'BackoffWaiting');
    assert.equal(attemptOf(result, 1)?.reason, 'DeadlineExceeded');
    assert.equal(attemptOf(result, 1)?.lastReportSequence, 2, 'no report: the sequence is kept');
    assert.equal(result.finishedAttempt?.message, 'no final report');
  });
});

// The job state machine: pure functions from (job, what happened, now) to the next job, the
// events to record and the attempt that finished. No I/O, no clock: the callers (the agent
// endpoint for reports, the job lifecycle controller for deadlines) write the result with the
// revision they read and record the events.
//
// Attempts (api/v1 JobStatus): the scheduler creates attempt `status.attempts` when it binds
// (phase Scheduled, nodeName, an open entry {attempt, nodeName} in status.recentAttempts). An
// agent report names (nodeName, attempt, sequence) and is applied only to the job's current
// attempt on that node while the job is Scheduled or Running.
//
// Rules of applyAttemptReport:
// - Invalid report (a field of the wrong type or range) -> `stale`, `why` naming the field and
//   the rule (validateAttemptReport gives the same text; it never throws).
// - Duplicate: recentAttempts holds the report's attempt on the report's node with
//   lastReportSequence >= sequence -> `duplicate` (checked first, so a replay of the final
//   report after the job finished is still harmless).
// - Stale: job not Scheduled/Running, another node, another attempt, or that attempt already
//   closed -> `stale` (the endpoint answers accepted=false and the agent stops the task).
// - pending -> `noop`. running -> phase Running, status.startTime (first start, kept when set),
//   the attempt's startTime, event Normal/Started; when the job is Running with the attempt
//   started already -> `noop` (nothing visible changes, so nothing is written).
// - exited with exitCode 0 and no reason other than Completed -> Succeeded, completionTime,
//   exitCode 0, attempt closed with reason Completed, event Normal/Completed.
// - Any end with reason NodeLost (the agent stopped the task because it lost contact with the
//   control plane for its lease TTL, or because it shuts down; or it was restarted while
//   starting the task) -> the same as the node lifecycle controller's verdict
//   (requeueAfterNodeLoss): not a retry but a node-lost re-queue, bounded by
//   MAX_NODE_LOST_REQUEUES, so a misbehaving agent cannot re-queue a job forever.
// - Any other end (non-zero exit, signal, failedToStart, lost, an agent reason such as
//   DeadlineExceeded or OOMKilled) goes through failAttempt (see there), also used by the
//   lifecycle controller's per-attempt backstop.
// - Every applied report sets the attempt's lastReportSequence to the report's sequence.
// - Times from the agent (startedAt, finishedAt) are used when valid, but never later than
//   `now` (a skewed agent clock must not postpone deadlines); all written times are RFC 3339
//   in whole seconds, as every status timestamp.
//
// Retry budget (documented rule): attempts that ended with reason NodeLost do not use a retry.
// requeueAfterNodeLoss (the node lifecycle controller's verdict, or the agent's own report that
// it fenced itself) counts them in status.nodeLostRequeues, which a retry from the
// dead-letter queue resets to 0 together with seriesStartAttempt = attempts, and every NodeLost
// re-queue ends exactly one attempt (the scheduler creates an attempt on each bind). So, exactly
// and without looking at the bounded recentAttempts:
//   retries used = max(0, attempts - seriesStartAttempt - nodeLostRequeues - 1)
// and retriesLeft(job) = maxRetries - retries used (never negative), evaluated with the failed
// attempt counted; retry n (1-based, = retries used + 1) waits retryDelaySeconds(policy, n).
import { constants as osConstants } from 'node:os';
import {
  DEFAULT_BACKOFF_FACTOR,
  DEFAULT_BACKOFF_SECONDS,
  DEFAULT_KILL_TIMEOUT_SECONDS,
  DEFAULT_MAX_BACKOFF_SECONDS,
  DEFAULT_MAX_RETRIES,
  MAX_RECENT_ATTEMPTS,
  SCHEDULED_CONDITION,
  type Job,
  type JobAttempt,
  type JobStatus,
  type RetryPolicy,
} from '../../api/v1/index.js';

export type AttemptState = 'pending' | 'running' | 'exited' | 'failedToStart' | 'lost';

export interface AttemptReport {
  nodeName: string;
  attempt: number;
  sequence: number;
  state: AttemptState;
  exitCode?: number;
  signal?: string;
  reason?: string;
  message?: string;
  /** RFC 3339. */
  startedAt?: string;
  /** RFC 3339. */
  finishedAt?: string;
}

export interface JobEventSpec {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** One finished attempt, kept as a separate record (by the log store). */
export interface AttemptRecord {
  namespace: string;
  name: string;
  jobUid: string;
  attempt: number;
  retrySeries: number;
  nodeName?: string;
  startTime?: string;
  endTime: string;
  exitCode?: number;
  signal?: string;
  reason: string;
  message?: string;
}

/** Keeps the record of every finished attempt (the log store implements it): the attempt history. */
export interface AttemptSink {
  recordAttempt(record: AttemptRecord): Promise<void>;
}

/** A transition to write: the next job (a new object), the events, and the attempt it closed. */
export interface AppliedTransition {
  kind: 'apply';
  job: Job;
  events: JobEventSpec[];
  finishedAttempt?: AttemptRecord;
}

export type ReportOutcome =
  | AppliedTransition
  /** Accepted, nothing to write (e.g. 'pending'). */
  | { kind: 'noop' }
  /** sequence <= recentAttempts[attempt].lastReportSequence. */
  | { kind: 'duplicate' }
  /** Not the job's current attempt on that node, job not Scheduled/Running, or an invalid report -> accepted=false. */
  | { kind: 'stale'; why: string };

/** How an attempt ended badly (reports, the per-attempt backstop, the active deadline). */
export interface AttemptEnd {
  /** Why the attempt ended (JobAttempt.reason), e.g. Error, Signaled, FailedToStart, TaskLost, DeadlineExceeded, OOMKilled. */
  reason: string;
  message?: string;
  exitCode?: number;
  signal?: string;
  /** When the attempt ended (RFC 3339); default `now`, never later than `now`. */
  finishedAt?: string;
  /** Sequence of the report that ended the attempt, stored as lastReportSequence. */
  sequence?: number;
}

// status.reason values and event reasons.
export const STARTED_REASON = 'Started';
export const COMPLETED_REASON = 'Completed';
export const BACKOFF_REASON = 'BackOff';
export const BACKOFF_WAITING_REASON = 'BackoffWaiting';
export const RETRIES_EXHAUSTED_REASON = 'RetriesExhausted';
export const DEADLINE_EXCEEDED_REASON = 'DeadlineExceeded';
export const TTL_EXPIRED_REASON = 'TTLExpired';
export const BACKOFF_FINISHED_REASON = 'BackoffFinished';
// Attempt end reasons (JobAttempt.reason) chosen when the agent names none.
export const ERROR_REASON = 'Error';
export const SIGNALED_REASON = 'Signaled';
export const FAILED_TO_START_REASON = 'FailedToStart';
export const TASK_LOST_REASON = 'TaskLost';
export const OOM_KILLED_REASON = 'OOMKilled';
/** Attempts that ended with this reason (a lost node, see requeueAfterNodeLoss) do not use a retry. */
export const NODE_LOST_ATTEMPT_REASON = 'NodeLost';
/** A job is re-queued at most this many times for lost nodes; the next loss fails it. */
export const MAX_NODE_LOST_REQUEUES = 5;

/** Extra time the per-attempt backstop waits past timeoutSeconds + killTimeoutSeconds for the agent's report. */
export const ATTEMPT_BACKSTOP_GRACE_SECONDS = 60;

const ATTEMPT_STATES: ReadonlySet<string> = new Set<AttemptState>(['pending', 'running', 'exited', 'failedToStart', 'lost']);
const NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_REASON_LENGTH = 256;
const MAX_MESSAGE_LENGTH = 32768;

/** RFC 3339 in whole seconds (as every status timestamp). */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Milliseconds of an RFC 3339 time, undefined when absent or unparsable. */
export function parseTime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The problems of a report, each naming the field and the rule; empty when valid.
 * applyAttemptReport answers `stale` for an invalid report; call this first to answer
 * INVALID_ARGUMENT instead.
 */
export function validateAttemptReport(report: AttemptReport): string[] {
  const problems: string[] = [];
  if (typeof report !== 'object' || report === null) return ['report must be an object'];
  const r = report as unknown as Record<string, unknown>;
  if (typeof r.nodeName !== 'string' || r.nodeName.length === 0 || r.nodeName.length > 253 || !NAME_PATTERN.test(r.nodeName)) {
    problems.push('report.nodeName must be a DNS-1123 subdomain of at most 253 characters');
  }
  if (!Number.isSafeInteger(r.attempt) || (r.attempt as number) < 1) problems.push('report.attempt must be an integer >= 1');
  if (!Number.isSafeInteger(r.sequence) || (r.sequence as number) < 0) problems.push('report.sequence must be an integer >= 0');
  if (typeof r.state !== 'string' || !ATTEMPT_STATES.has(r.state)) {
    problems.push(`report.state must be one of ${[...ATTEMPT_STATES].join(', ')}`);
  }
  if (r.exitCode !== undefined && (!Number.isSafeInteger(r.exitCode) || (r.exitCode as number) < -2147483648 || (r.exitCode as number) > 2147483647)) {
    problems.push('report.exitCode must be a 32-bit integer');
  }
  if (r.signal !== undefined && (typeof r.signal !== 'string' || !/^[A-Z0-9+-]{1,32}$/.test(r.signal))) {
    problems.push('report.signal must be a signal name such as SIGKILL (A-Z, 0-9, at most 32 characters)');
  }
  if (r.reason !== undefined && (typeof r.reason !== 'string' || r.reason.length === 0 || r.reason.length > MAX_REASON_LENGTH || !/^[A-Za-z][A-Za-z0-9]*$/.test(r.reason))) {
    problems.push(`report.reason must be a CamelCase word of at most ${MAX_REASON_LENGTH} characters`);
  }
  if (r.message !== undefined && typeof r.message !== 'string') problems.push('report.message must be a string');
  for (const field of ['startedAt', 'finishedAt'] as const) {
    const value = r[field];
    if (value !== undefined && (typeof value !== 'string' || parseTime(value) === undefined)) problems.push(`report.${field} must be an RFC 3339 time`);
  }
  if (r.state === 'exited' && r.exitCode === undefined && r.signal === undefined) {
    problems.push('report.exitCode or report.signal is required when report.state is exited');
  }
  return problems;
}

/** The effective retry policy (defaults filled in). */
export function effectiveRetryPolicy(policy: RetryPolicy | undefined): Required<RetryPolicy> {
  const backoffSeconds = policy?.backoffSeconds ?? DEFAULT_BACKOFF_SECONDS;
  return {
    maxRetries: policy?.maxRetries ?? DEFAULT_MAX_RETRIES,
    backoffSeconds,
    backoffFactor: policy?.backoffFactor ?? DEFAULT_BACKOFF_FACTOR,
    maxBackoffSeconds: policy?.maxBackoffSeconds ?? Math.max(DEFAULT_MAX_BACKOFF_SECONDS, backoffSeconds),
  };
}

/** Delay before retry `n` (1-based): min(backoffSeconds * backoffFactor^(n-1), maxBackoffSeconds). */
export function retryDelaySeconds(policy: RetryPolicy | undefined, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`retryDelaySeconds: n must be an integer >= 1, got ${String(n)}`);
  const p = effectiveRetryPolicy(policy);
  const delay = p.backoffSeconds * Math.pow(p.backoffFactor, n - 1);
  return Math.max(0, Math.min(Number.isFinite(delay) ? delay : Infinity, p.maxBackoffSeconds));
}

/** Retries used in the current attempt series (NodeLost-ended attempts excluded; see the file comment). */
export function retriesUsed(job: Job): number {
  const s = job.status ?? {};
  return Math.max(0, (s.attempts ?? 0) - (s.seriesStartAttempt ?? 0) - (s.nodeLostRequeues ?? 0) - 1);
}

/** Retries still allowed after the current attempt (never negative). */
export function retriesLeft(job: Job): number {
  return Math.max(0, effectiveRetryPolicy(job.spec.retryPolicy).maxRetries - retriesUsed(job));
}

/** When the whole job's activeDeadlineSeconds runs out (ms), undefined without a deadline or a start. */
export function activeDeadlineAt(job: Job): number | undefined {
  const seconds = job.spec.activeDeadlineSeconds;
  const start = parseTime(job.status?.startTime);
  return seconds === undefined || start === undefined ? undefined : start + seconds * 1000;
}

/**
 * When the per-attempt backstop fires for a Running job (ms): the current attempt's start +
 * timeoutSeconds + killTimeoutSeconds + ATTEMPT_BACKSTOP_GRACE_SECONDS. Undefined without a
 * timeout, when not Running, or when the current attempt has no start time or is closed.
 */
export function attemptBackstopAt(job: Job): number | undefined {
  const timeout = job.spec.timeoutSeconds;
  if (timeout === undefined || job.status?.phase !== 'Running') return undefined;
  const entry = currentAttemptEntry(job);
  const start = parseTime(entry?.startTime);
  if (entry === undefined || entry.endTime !== undefined || start === undefined) return undefined;
  return start + (timeout + (job.spec.killTimeoutSeconds ?? DEFAULT_KILL_TIMEOUT_SECONDS) + ATTEMPT_BACKSTOP_GRACE_SECONDS) * 1000;
}

/** The recentAttempts entry of the current attempt (status.attempts), if kept. */
export function currentAttemptEntry(job: Job): JobAttempt | undefined {
  const current = job.status?.attempts ?? 0;
  return current < 1 ? undefined : job.status?.recentAttempts?.find((a) => a.attempt === current);
}

/** Applies one agent report to `job` (never mutated). See the rules in the file comment. */
export function applyAttemptReport(job: Job, report: AttemptReport, now: Date): ReportOutcome {
  const problems = validateAttemptReport(report);
  if (problems.length > 0) return { kind: 'stale', why: `invalid report: ${problems.join('; ')}` };
  const status = job.status ?? {};
  const entry = status.recentAttempts?.find((a) => a.attempt === report.attempt);
  if (entry !== undefined && entry.nodeName === report.nodeName && entry.lastReportSequence !== undefined && report.sequence <= entry.lastReportSequence) {
    return { kind: 'duplicate' };
  }
  const phase = status.phase ?? 'Pending';
  if (phase !== 'Scheduled' && phase !== 'Running') return { kind: 'stale', why: `job is ${phase}, not Scheduled or Running` };
  if (status.nodeName !== report.nodeName) {
    return { kind: 'stale', why: `job is bound to ${status.nodeName === undefined ? 'no node' : `node ${status.nodeName}`}, not ${report.nodeName}` };
  }
  if ((status.attempts ?? 0) !== report.attempt) {
    return { kind: 'stale', why: `attempt ${report.attempt} is not the job's current attempt (${status.attempts ?? 0})` };
  }
  if (entry?.endTime !== undefined) return { kind: 'stale', why: `attempt ${report.attempt} already ended (${entry.reason ?? 'unknown reason'})` };
  if (entry?.nodeName !== undefined && entry.nodeName !== report.nodeName) {
    return { kind: 'stale', why: `attempt ${report.attempt} runs on node ${entry.nodeName}, not ${report.nodeName}` };
  }

  const nowMs = now.getTime();
  switch (report.state) {
    case 'pending':
      return { kind: 'noop' };
    case 'running':
      if (phase === 'Running' && entry?.startTime !== undefined) return { kind: 'noop' };
      return startAttempt(job, report, nowMs);
    case 'exited':
    case 'lost':
    case 'failedToStart':
      if (report.reason === NODE_LOST_ATTEMPT_REASON) return nodeLostByAgent(job, report, nowMs);
      if (report.state !== 'exited') return failAttempt(job, attemptEndOf(report), now);
      if (report.exitCode === 0 && report.signal === undefined && (report.reason === undefined || report.reason === COMPLETED_REASON)) {
        return succeed(job, report, nowMs);
      }
      return failAttempt(job, attemptEndOf(report), now);
  }
}

/** The agent ended the attempt for reasons of its own (self-fencing, shutdown, restart while starting): a node loss. */
function nodeLostByAgent(job: Job, report: AttemptReport, nowMs: number): AppliedTransition {
  const signalNumber = report.signal === undefined ? undefined : (osConstants.signals as Record<string, number | undefined>)[report.signal];
  const exitCode = report.exitCode ?? (signalNumber === undefined ? undefined : 128 + signalNumber);
  const next = requeueAfterNodeLoss(job, report.nodeName, reportedTime(report.finishedAt, nowMs), {
    message: (report.message ?? `the agent on node ${report.nodeName} lost contact with the control plane and stopped the task`).slice(0, MAX_MESSAGE_LENGTH),
    ...(exitCode !== undefined ? { exitCode } : {}),
    lastReportSequence: report.sequence,
  });
  const closed = next.status!.recentAttempts!.find((a) => a.attempt === report.attempt)!;
  return {
    kind: 'apply',
    job: next,
    events: [{ type: 'Warning', reason: NODE_LOST_ATTEMPT_REASON, message: next.status!.message! }],
    finishedAttempt: attemptRecord(next, closed, report.signal),
  };
}

/** What closes the lost attempt besides reason NodeLost and its end time. */
export interface LostAttemptDetails {
  message?: string;
  exitCode?: number;
  lastReportSequence?: number;
}

/**
 * The job (never mutated) after losing node `nodeName` at `now` (RFC 3339): an open current
 * attempt is closed with reason NodeLost (message `node NAME was lost` unless `details` gives
 * one), nodeName and the Scheduled condition are removed, and the job becomes Pending/NodeLost
 * with nodeLostRequeues + 1 (no backoff, no retry used), or Failed/NodeLost once
 * MAX_NODE_LOST_REQUEUES re-queues were used.
 */
export function requeueAfterNodeLoss(job: Job, nodeName: string, now: string, details: LostAttemptDetails = {}): Job {
  const updated = structuredClone(job) as Job;
  const status: JobStatus = { ...updated.status };
  const used = status.nodeLostRequeues ?? 0;
  delete status.nodeName;
  status.conditions = (status.conditions ?? []).filter((c) => c.type !== SCHEDULED_CONDITION);
  const last = status.recentAttempts?.at(-1);
  if (last !== undefined && last.endTime === undefined) {
    const closed: JobAttempt = { ...last, endTime: now, reason: NODE_LOST_ATTEMPT_REASON, message: details.message ?? `node ${nodeName} was lost` };
    if (details.exitCode !== undefined) closed.exitCode = details.exitCode;
    if (details.lastReportSequence !== undefined) closed.lastReportSequence = details.lastReportSequence;
    status.recentAttempts = [...(status.recentAttempts ?? []).slice(0, -1), closed];
  }
  status.reason = NODE_LOST_ATTEMPT_REASON;
  if (used >= MAX_NODE_LOST_REQUEUES) {
    status.phase = 'Failed';
    status.message = `lost its node ${used + 1} times (last: ${nodeName}); not re-queued again`;
    status.completionTime = now;
  } else {
    status.phase = 'Pending';
    status.nodeLostRequeues = used + 1;
    status.message = `node ${nodeName} was lost; re-queued (node-lost re-queue ${used + 1} of ${MAX_NODE_LOST_REQUEUES})`;
  }
  updated.status = status;
  return updated;
}

/** Translates a report that ends an attempt badly into an AttemptEnd. */
function attemptEndOf(report: AttemptReport): AttemptEnd {
  const signalNumber = report.signal === undefined ? undefined : (osConstants.signals as Record<string, number | undefined>)[report.signal];
  const exitCode = report.exitCode ?? (signalNumber === undefined ? undefined : 128 + signalNumber);
  let reason = report.reason;
  // NodeLost never gets here (nodeLostByAgent); Completed is no reason for a bad end.
  if (reason === NODE_LOST_ATTEMPT_REASON || reason === COMPLETED_REASON) reason = undefined;
  if (reason === undefined) {
    if (report.state === 'failedToStart') reason = FAILED_TO_START_REASON;
    else if (report.state === 'lost') reason = TASK_LOST_REASON;
    else if (report.signal !== undefined) reason = SIGNALED_REASON;
    else reason = ERROR_REASON;
  }
  let message = report.message;
  if (message === undefined && report.state === 'lost') message = 'the agent lost track of the task';
  if (message === undefined && report.state === 'failedToStart') message = 'the task could not be started';
  return {
    reason,
    ...(message !== undefined ? { message } : {}),
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(report.signal !== undefined ? { signal: report.signal } : {}),
    ...(report.finishedAt !== undefined ? { finishedAt: report.finishedAt } : {}),
    sequence: report.sequence,
  };
}

/** A reported time, not later than now, in whole seconds; now when absent. */
function reportedTime(value: string | undefined, nowMs: number): string {
  const ms = parseTime(value);
  return rfc3339(ms === undefined ? nowMs : Math.min(ms, nowMs));
}

/** A copy of the job with a copied status and the current attempt's entry (created when missing) ready to change. */
function openTransition(job: Job): { next: Job; status: JobStatus; attempt: JobAttempt } {
  const next = structuredClone(job) as Job;
  const status: JobStatus = { ...next.status };
  next.status = status;
  const number = Math.max(1, status.attempts ?? 0);
  const attempts = [...(status.recentAttempts ?? [])];
  let index = attempts.findIndex((a) => a.attempt === number);
  if (index < 0) {
    attempts.push({ attempt: number, ...(status.nodeName !== undefined ? { nodeName: status.nodeName } : {}) });
    index = attempts.length - 1;
  }
  const attempt: JobAttempt = { ...attempts[index]! };
  attempts[index] = attempt;
  status.recentAttempts = attempts.slice(-MAX_RECENT_ATTEMPTS);
  return { next, status, attempt };
}

function startAttempt(job: Job, report: AttemptReport, nowMs: number): AppliedTransition {
  const { next, status, attempt } = openTransition(job);
  const startedAt = attempt.startTime ?? reportedTime(report.startedAt, nowMs);
  attempt.startTime = startedAt;
  attempt.lastReportSequence = report.sequence;
  status.phase = 'Running';
  status.startTime ??= startedAt;
  delete status.reason;
  delete status.message;
  const message = `attempt ${attempt.attempt} started on node ${report.nodeName}`;
  return { kind: 'apply', job: next, events: [{ type: 'Normal', reason: STARTED_REASON, message }] };
}

function succeed(job: Job, report: AttemptReport, nowMs: number): AppliedTransition {
  const { next, status, attempt } = openTransition(job);
  const endTime = reportedTime(report.finishedAt, nowMs);
  attempt.startTime ??= report.startedAt !== undefined ? reportedTime(report.startedAt, nowMs) : endTime;
  attempt.endTime = endTime;
  attempt.exitCode = 0;
  attempt.reason = COMPLETED_REASON;
  if (report.message !== undefined) attempt.message = report.message;
  else delete attempt.message;
  attempt.lastReportSequence = report.sequence;
  status.phase = 'Succeeded';
  status.reason = COMPLETED_REASON;
  status.message = `attempt ${attempt.attempt} completed on node ${report.nodeName}`;
  status.startTime ??= attempt.startTime;
  status.completionTime = endTime;
  status.exitCode = 0;
  delete status.nextRetryAt;
  return {
    kind: 'apply',
    job: next,
    events: [{ type: 'Normal', reason: COMPLETED_REASON, message: status.message }],
    finishedAttempt: attemptRecord(next, attempt),
  };
}

/**
 * The shared "an attempt ended badly" path: closes the current attempt with `end`, then
 * - the job's activeDeadlineSeconds passed -> Failed/DeadlineExceeded;
 * - retries left -> Pending/BackoffWaiting with nextRetryAt = now + retryDelaySeconds(policy, n),
 *   nodeName and the Scheduled condition removed, event Warning/BackOff;
 * - none left -> Failed, reason DeadlineExceeded when the attempt timed out (end.reason
 *   DeadlineExceeded), else RetriesExhausted; completionTime; event Warning.
 * status.exitCode becomes the attempt's exit code (removed when it has none). On Failed the
 * nodeName is kept (where the last attempt ran): the phase leaving Scheduled/Running is what
 * takes the job off its node's assignment, so a task still running (the backstop's case) is
 * stopped by its agent either way.
 */
export function failAttempt(job: Job, end: AttemptEnd, now: Date): AppliedTransition {
  const nowMs = now.getTime();
  const { next, status, attempt } = openTransition(job);
  const endTime = reportedTime(end.finishedAt, nowMs);
  attempt.endTime = endTime;
  attempt.reason = end.reason.slice(0, MAX_REASON_LENGTH);
  if (end.message !== undefined) attempt.message = end.message.slice(0, MAX_MESSAGE_LENGTH);
  else delete attempt.message;
  if (end.exitCode !== undefined) attempt.exitCode = end.exitCode;
  else delete attempt.exitCode;
  if (end.sequence !== undefined) attempt.lastReportSequence = end.sequence;
  if (end.exitCode !== undefined) status.exitCode = end.exitCode;
  else delete status.exitCode;
  const record = attemptRecord(next, attempt, end.signal);
  const where = attempt.nodeName !== undefined ? ` on node ${attempt.nodeName}` : '';
  const how = describeEnd(attempt, end.signal);
  const finished = `attempt ${attempt.attempt}${where} ${how}`;

  const deadline = activeDeadlineAt(next);
  if (deadline !== undefined && deadline <= nowMs) {
    failJob(status, DEADLINE_EXCEEDED_REASON, `${finished}; the job passed its active deadline of ${String(next.spec.activeDeadlineSeconds)}s`, nowMs);
    return { kind: 'apply', job: next, events: [{ type: 'Warning', reason: DEADLINE_EXCEEDED_REASON, message: status.message! }], finishedAttempt: record };
  }

  const left = retriesLeft(next);
  if (left > 0) {
    const policy = effectiveRetryPolicy(next.spec.retryPolicy);
    const n = retriesUsed(next) + 1;
    const delay = retryDelaySeconds(policy, n);
    const retryAt = Math.ceil((nowMs + delay * 1000) / 1000) * 1000;
    status.phase = 'Pending';
    status.reason = BACKOFF_WAITING_REASON;
    status.nextRetryAt = rfc3339(retryAt);
    status.message = `${finished}; retry ${n} of ${policy.maxRetries} at ${status.nextRetryAt} (after ${delay}s)`;
    delete status.nodeName;
    status.conditions = (status.conditions ?? []).filter((c) => c.type !== SCHEDULED_CONDITION);
    return { kind: 'apply', job: next, events: [{ type: 'Warning', reason: BACKOFF_REASON, message: status.message }], finishedAttempt: record };
  }

  const seriesAttempts = (status.attempts ?? 0) - (status.seriesStartAttempt ?? 0);
  const reason = attempt.reason === DEADLINE_EXCEEDED_REASON ? DEADLINE_EXCEEDED_REASON : RETRIES_EXHAUSTED_REASON;
  const retries = effectiveRetryPolicy(next.spec.retryPolicy).maxRetries;
  failJob(status, reason, `${seriesAttempts} attempt(s) failed (${retries} ${retries === 1 ? 'retry' : 'retries'} allowed); the last, ${finished}`, nowMs);
  return { kind: 'apply', job: next, events: [{ type: 'Warning', reason, message: status.message! }], finishedAttempt: record };
}

/**
 * The job after its activeDeadlineSeconds passed at `now`: Failed/DeadlineExceeded, nodeName and
 * nextRetryAt removed, an open current attempt closed with reason DeadlineExceeded (returned as
 * finishedAttempt). For jobs that are not finished yet (Pending, Scheduled or Running).
 */
export function failActiveDeadline(job: Job, now: Date): AppliedTransition {
  const nowMs = now.getTime();
  const seconds = String(job.spec.activeDeadlineSeconds);
  const phase = job.status?.phase;
  const hasOpenAttempt =
    (phase === 'Scheduled' || phase === 'Running') && (job.status?.attempts ?? 0) > 0 && currentAttemptEntry(job)?.endTime === undefined;
  let next: Job;
  let status: JobStatus;
  let finishedAttempt: AttemptRecord | undefined;
  if (hasOpenAttempt) {
    const opened = openTransition(job);
    ({ next, status } = opened);
    const attempt = opened.attempt;
    attempt.endTime = rfc3339(nowMs);
    attempt.reason = DEADLINE_EXCEEDED_REASON;
    attempt.message = `stopped: the job passed its active deadline of ${seconds}s`;
    finishedAttempt = attemptRecord(next, attempt);
  } else {
    next = structuredClone(job) as Job;
    status = { ...next.status };
    next.status = status;
  }
  failJob(status, DEADLINE_EXCEEDED_REASON, `the job passed its active deadline of ${seconds}s (started ${status.startTime ?? 'never'})`, nowMs);
  delete status.nodeName;
  status.conditions = (status.conditions ?? []).filter((c) => c.type !== SCHEDULED_CONDITION);
  return {
    kind: 'apply',
    job: next,
    events: [{ type: 'Warning', reason: DEADLINE_EXCEEDED_REASON, message: status.message! }],
    ...(finishedAttempt !== undefined ? { finishedAttempt } : {}),
  };
}

function failJob(status: JobStatus, reason: string, message: string, nowMs: number): void {
  status.phase = 'Failed';
  status.reason = reason;
  status.message = message.slice(0, MAX_MESSAGE_LENGTH);
  status.completionTime = rfc3339(nowMs);
  delete status.nextRetryAt;
}

function describeEnd(attempt: JobAttempt, signal: string | undefined): string {
  const parts: string[] = [];
  if (signal !== undefined) parts.push(`was killed by ${signal}`);
  else if (attempt.exitCode !== undefined) parts.push(`exited with code ${attempt.exitCode}`);
  else parts.push('ended');
  parts.push(`(${attempt.reason ?? ERROR_REASON}${attempt.message !== undefined ? `: ${attempt.message}` : ''})`);
  return parts.join(' ');
}

/** The record of a closed attempt (endTime set). */
function attemptRecord(job: Job, attempt: JobAttempt, signal?: string): AttemptRecord {
  return {
    namespace: job.metadata.namespace ?? 'default',
    name: job.metadata.name,
    jobUid: job.metadata.uid ?? '',
    attempt: attempt.attempt,
    retrySeries: job.status?.retrySeries ?? 0,
    ...(attempt.nodeName !== undefined ? { nodeName: attempt.nodeName } : {}),
    ...(attempt.startTime !== undefined ? { startTime: attempt.startTime } : {}),
    endTime: attempt.endTime!,
    ...(attempt.exitCode !== undefined ? { exitCode: attempt.exitCode } : {}),
    ...(signal !== undefined ? { signal } : {}),
    reason: attempt.reason ?? ERROR_REASON,
    ...(attempt.message !== undefined ? { message: attempt.message } : {}),
  };
}

// ReportStatus: one agent report applied to its Job through the job state machine
// (controllers/jobs/job-transitions.ts applyAttemptReport), written with ifRevision.
//
// Contract:
// - The job is found by uid through the AssignmentHub (live jobs, and recently deleted ones).
//   A uid the hub does not know is looked for again until `unknownJobWaitMs` has passed (another
//   server process may have bound it a moment ago); still unknown -> accepted=false.
// - Attribution: the node that ran the attempt is recentAttempts[attempt].nodeName, else
//   status.nodeName for the current attempt. Another node than the caller -> PERMISSION_DENIED.
//   An attempt the job no longer records, or a deleted job -> accepted=false (nothing to apply).
// - The outcome is computed from the informer cache first; a `stale` verdict from the cache is
//   checked once more against the store (the cache may lag), and a write conflict re-reads the
//   store and recomputes (at most `conflictRetries` times, then UNAVAILABLE).
// - apply: the job is written with ifRevision; after the write the events are recorded with the
//   EventRecorder and a finished attempt is passed to the attempt sink (failures are logged,
//   never returned to the agent: the job write is what matters). Answers: apply/noop ->
//   accepted; duplicate -> accepted + duplicate; stale -> not accepted (the agent stops the task).
import { jobKind, type Job } from '../api/v1/index.js';
import { AttemptState as ProtoAttemptState, type StatusAck, type StatusReport } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { ObjectStorage, type StoredObject } from '../apiserver/object-storage.js';
import {
  applyAttemptReport,
  validateAttemptReport,
  type AttemptReport,
  type AttemptState,
  type AttemptRecord,
  type AttemptSink,
  type ReportOutcome,
} from '../controllers/jobs/job-transitions.js';
import { sleep, type Clock } from '../controllers/runtime/clock.js';
import type { EventRecorder } from '../controllers/runtime/event-recorder.js';
import { errorMessage, type Logger } from '../controllers/runtime/logger.js';
import { ConflictError, type Store } from '../store/store.js';
import { requireNode, type AgentCaller } from './agent-auth.js';
import type { AssignmentHub, KnownJob } from './assignment-hub.js';
import { invalidArgument, permissionDenied, unavailable } from './errors.js';
import { checkAttempt, checkJobUid, checkMessage, checkNodeName, checkSequence, checkTime, checkWord } from './request-validation.js';

export interface StatusReportsOptions {
  readonly store: Store;
  readonly hub: AssignmentHub;
  readonly recorder: EventRecorder;
  /** Receives the record of every finished attempt (the log store). */
  readonly attempts: AttemptSink;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long an unknown job uid is looked for. Default 2000 ms. */
  readonly unknownJobWaitMs?: number;
  /** Re-reads after a write conflict. Default 5. */
  readonly conflictRetries?: number;
}

const STATES: ReadonlyMap<ProtoAttemptState, AttemptState> = new Map([
  [ProtoAttemptState.PENDING, 'pending'],
  [ProtoAttemptState.RUNNING, 'running'],
  [ProtoAttemptState.EXITED, 'exited'],
  [ProtoAttemptState.FAILED_TO_START, 'failedToStart'],
  [ProtoAttemptState.LOST, 'lost'],
]);

const SIGNAL = /^[A-Z0-9+-]{1,32}$/;
const REASON = /^[A-Za-z][A-Za-z0-9]*$/;
const POLL_MS = 25;

/** The node that ran `attempt` of `job` as far as its status tells, or undefined. */
export function attemptNode(job: Job, attempt: number): string | undefined {
  const entry = job.status?.recentAttempts?.find((a) => a.attempt === attempt);
  if (entry?.nodeName !== undefined) return entry.nodeName;
  return (job.status?.attempts ?? 0) === attempt ? job.status?.nodeName : undefined;
}

/** Converts and validates a StatusReport (INVALID_ARGUMENT naming the proto field). */
export function toAttemptReport(request: StatusReport): { uid: string; report: AttemptReport } {
  const nodeName = checkNodeName(request.nodeName);
  const uid = checkJobUid(request.jobUid);
  const attempt = checkAttempt(request.attempt);
  const sequence = checkSequence(request.sequence);
  const state = STATES.get(request.state);
  if (state === undefined) throw invalidArgument('state must be one of PENDING, RUNNING, EXITED, FAILED_TO_START, LOST');
  const exitCode = request.exitCode;
  if (exitCode !== undefined && state !== 'exited') throw invalidArgument('exit_code may be set only when state is EXITED');
  const signal = checkWord(request.signal, 'signal', SIGNAL, 'a signal name such as SIGKILL (A-Z, 0-9, at most 32 characters)');
  if (state === 'exited' && exitCode === undefined && signal === undefined) throw invalidArgument('exit_code or signal is required when state is EXITED');
  const reason = checkWord(request.reason, 'reason', REASON, 'a CamelCase word of at most 256 characters, e.g. DeadlineExceeded');
  const message = checkMessage(request.message);
  const startedAt = checkTime(request.startedAt, 'started_at');
  const finishedAt = checkTime(request.finishedAt, 'finished_at');
  const report: AttemptReport = {
    nodeName,
    attempt,
    sequence,
    state,
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(signal !== undefined ? { signal } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(message !== undefined ? { message } : {}),
    ...(startedAt !== undefined ? { startedAt } : {}),
    ...(finishedAt !== undefined ? { finishedAt } : {}),
  };
  const problems = validateAttemptReport(report);
  if (problems.length > 0) throw invalidArgument(problems.join('; '));
  return { uid, report };
}

export class StatusReports {
  private readonly storage: ObjectStorage;
  private readonly options: StatusReportsOptions;
  private readonly unknownJobWaitMs: number;
  private readonly conflictRetries: number;

  constructor(options: StatusReportsOptions) {
    this.options = options;
    this.storage = new ObjectStorage(options.store, jobKind);
    this.unknownJobWaitMs = options.unknownJobWaitMs ?? 2000;
    this.conflictRetries = options.conflictRetries ?? 5;
  }

  async report(caller: Extract<AgentCaller, { kind: 'node' }>, request: StatusReport, signal: AbortSignal): Promise<StatusAck> {
    const { uid, report } = toAttemptReport(request);
    requireNode(caller, report.nodeName);
    const known = await this.find(uid, signal);
    if (known === undefined) {
      this.options.logger.debug('agent endpoint: report for an unknown job', { node: caller.nodeName, uid });
      return { accepted: false, duplicate: false };
    }
    this.authorize(known.job, report, caller.nodeName);
    if (known.deleted) return { accepted: false, duplicate: false };

    let job = known.job;
    let revision = known.revision;
    let fromCache = true;
    for (let conflicts = 0; ; ) {
      const outcome: ReportOutcome = applyAttemptReport(job, report, new Date(this.options.clock.now()));
      if (outcome.kind === 'stale' && fromCache) {
        const fresh = await this.read(known.key, uid);
        if (fresh === undefined) return { accepted: false, duplicate: false };
        ({ job, revision } = fresh);
        fromCache = false;
        this.authorize(job, report, caller.nodeName);
        continue;
      }
      switch (outcome.kind) {
        case 'noop':
          return { accepted: true, duplicate: false };
        case 'duplicate':
          return { accepted: true, duplicate: true };
        case 'stale':
          this.options.logger.debug('agent endpoint: stale report', { node: caller.nodeName, uid, attempt: report.attempt, why: outcome.why });
          return { accepted: false, duplicate: false };
        case 'apply':
          break;
      }
      let written: Job;
      try {
        written = (await this.storage.update(outcome.job as unknown as StoredObject, revision)) as unknown as Job;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        if (++conflicts > this.conflictRetries) throw unavailable(`job ${known.key} kept changing while the report was applied; resend it`);
        const fresh = await this.read(known.key, uid);
        if (fresh === undefined) return { accepted: false, duplicate: false };
        ({ job, revision } = fresh);
        fromCache = false;
        this.authorize(job, report, caller.nodeName);
        continue;
      }
      for (const event of outcome.events) this.options.recorder.record(written, event.type, event.reason, event.message);
      if (outcome.finishedAttempt !== undefined) await this.recordAttempt(outcome.finishedAttempt);
      return { accepted: true, duplicate: false };
    }
  }

  /** PERMISSION_DENIED when the job records the attempt on another node. */
  private authorize(job: Job, report: AttemptReport, nodeName: string): void {
    const ranOn = attemptNode(job, report.attempt);
    if (ranOn !== undefined && ranOn !== nodeName) {
      throw permissionDenied(`attempt ${report.attempt} of job ${job.metadata.namespace ?? 'default'}/${job.metadata.name} was not assigned to node ${nodeName}`);
    }
  }

  /** The job with `uid` from the hub, waiting a little for a uid it does not know yet. */
  private async find(uid: string, signal: AbortSignal): Promise<KnownJob | undefined> {
    const deadline = this.options.clock.now() + this.unknownJobWaitMs;
    for (;;) {
      const known = this.options.hub.lookup(uid);
      if (known !== undefined) return known;
      if (this.options.clock.now() >= deadline || !(await sleep(this.options.clock, POLL_MS, signal))) return undefined;
    }
  }

  /** The job at `key` from the store, if it is still the one with `uid`. */
  private async read(key: string, uid: string): Promise<{ job: Job; revision: number } | undefined> {
    const kv = await this.options.store.get(key);
    if (kv === undefined) return undefined;
    const job = this.storage.decode(kv) as unknown as Job;
    return job.metadata.uid === uid ? { job, revision: kv.modRevision } : undefined;
  }

  private async recordAttempt(record: AttemptRecord): Promise<void> {
    try {
      await this.options.attempts.recordAttempt(record);
    } catch (err) {
      this.options.logger.warn('agent endpoint: attempt record not stored', {
        job: `${record.namespace}/${record.name}`,
        attempt: record.attempt,
        error: errorMessage(err),
      });
    }
  }
}

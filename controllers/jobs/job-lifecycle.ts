// The job lifecycle controller: a leader-only Reconciler keyed by a job's store key that drives
// the time-based transitions of a Job (the report-driven ones are applied by the agent endpoint
// with applyAttemptReport; both use the pure state machine in job-transitions.ts).
//
// Contract (DESIGN 2.2; issue 3):
// - Backoff: a Pending job with reason BackoffWaiting whose status.nextRetryAt has passed gets
//   reason, message and nextRetryAt cleared, so the scheduler may place it (event Normal/
//   BackoffFinished). Before that time the key is requeued for exactly nextRetryAt.
// - Active deadline: a job that is not finished and has spec.activeDeadlineSeconds and
//   status.startTime is Failed/DeadlineExceeded once startTime + activeDeadlineSeconds passed
//   (failActiveDeadline): nodeName and the Scheduled condition removed (the job leaves its
//   node's assignment, so the agent stops the task), an open attempt closed with reason
//   DeadlineExceeded. This applies in every unfinished phase, a waiting one included: the
//   deadline covers the whole job across attempts.
// - Per-attempt backstop: a Running job with spec.timeoutSeconds whose current attempt started
//   more than timeoutSeconds + killTimeoutSeconds + 60 s ago and was not ended by its agent's
//   report is ended through failAttempt with reason DeadlineExceeded (retried or failed exactly
//   as if the agent had reported the timeout).
// - TTL: a Succeeded or Failed job with spec.ttlSecondsAfterFinished and status.completionTime
//   is deleted ttlSecondsAfterFinished after completionTime, with ifRevision of the state the
//   verdict was computed from (a job retried or changed meanwhile is not deleted); event
//   Normal/TTLExpired. Logs outlive the job (the log store keeps them).
// - Ownership: nothing else is touched. Pending jobs without BackoffWaiting belong to the
//   scheduler and the dependency controller, report-driven Scheduled/Running transitions to the
//   agent endpoint, NodeLost re-queues to the node lifecycle controller; this controller changes
//   them only for the deadlines above.
// - Writes only on change, always with ifRevision of the cached revision (a ConflictError is
//   thrown so the runtime retries from fresh state). Events go through the EventRecorder after
//   the write; an attempt this controller ends is handed to `attempts.recordAttempt` after the
//   write succeeded (its errors are logged, never thrown).
// - Wake-ups: every change of a job with a timed concern enqueues it; reconcile returns
//   requeueAfterMs for the earliest future deadline, so nothing is polled.
import { DEFAULT_KILL_TIMEOUT_SECONDS, jobKind, type Job } from '../../api/v1/index.js';
import { ObjectStorage, type StoredObject } from '../../apiserver/object-storage.js';
import type { Store } from '../../store/store.js';
import type { EventRecorder } from '../runtime/event-recorder.js';
import {
  Controller,
  errorMessage,
  silentLogger,
  systemClock,
  type Clock,
  type Informer,
  type Logger,
  type Reconciler,
  type Result,
  type WorkQueueOptions,
} from '../runtime/index.js';
import {
  activeDeadlineAt,
  attemptBackstopAt,
  ATTEMPT_BACKSTOP_GRACE_SECONDS,
  BACKOFF_FINISHED_REASON,
  BACKOFF_WAITING_REASON,
  currentAttemptEntry,
  DEADLINE_EXCEEDED_REASON,
  failActiveDeadline,
  failAttempt,
  parseTime,
  TTL_EXPIRED_REASON,
  type AppliedTransition,
  type AttemptSink,
  type JobEventSpec,
} from './job-transitions.js';

export type { AttemptSink } from './job-transitions.js';

export interface JobLifecycleOptions {
  readonly store: Store;
  /** Informer over JOBS_PREFIX (share the scheduler's). */
  readonly jobs: Informer<Job>;
  /** Records the events of every transition (component `job-controller`). */
  readonly recorder: EventRecorder;
  /** Gets the record of every attempt this controller ends. */
  readonly attempts?: AttemptSink;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** True for a job whose phase is final. */
export function isFinished(job: Job): boolean {
  const phase = job.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** True for a Pending job held back by a retry backoff. */
export function isBackoffWaiting(job: Job): boolean {
  return (job.status?.phase ?? 'Pending') === 'Pending' && job.status?.reason === BACKOFF_WAITING_REASON;
}

/** When a finished job is to be deleted (ms), undefined without a TTL or a completionTime. */
export function ttlExpiresAt(job: Job): number | undefined {
  const ttl = job.spec.ttlSecondsAfterFinished;
  const completion = parseTime(job.status?.completionTime);
  return !isFinished(job) || ttl === undefined || completion === undefined ? undefined : completion + ttl * 1000;
}

/** True when this controller has a timed concern about `job` (the informer key function). */
export function hasLifecycleDeadline(job: Job): boolean {
  if (isFinished(job)) return ttlExpiresAt(job) !== undefined;
  return isBackoffWaiting(job) || activeDeadlineAt(job) !== undefined || attemptBackstopAt(job) !== undefined;
}

export class JobLifecycle implements Reconciler {
  private readonly storage: ObjectStorage;
  private readonly jobs: Informer<Job>;
  private readonly recorder: EventRecorder;
  private readonly attempts: AttemptSink | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(options: JobLifecycleOptions) {
    this.storage = new ObjectStorage(options.store, jobKind);
    this.jobs = options.jobs;
    this.recorder = options.recorder;
    this.attempts = options.attempts;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  async reconcile(key: string): Promise<Result> {
    const entry = this.jobs.getEntry(key);
    if (entry === undefined) return {};
    const job = entry.object;
    const now = this.clock.now();
    if (isFinished(job)) return this.reconcileFinished(key, job, entry.revision, now);

    const deadline = activeDeadlineAt(job);
    if (deadline !== undefined && deadline <= now) {
      await this.write(key, entry.revision, failActiveDeadline(job, new Date(now)));
      return {};
    }
    const wakeAt: (number | undefined)[] = [deadline];

    if (isBackoffWaiting(job)) {
      const retryAt = parseTime(job.status?.nextRetryAt);
      if (retryAt === undefined || retryAt <= now) {
        await this.releaseBackoff(key, job, entry.revision);
        return after(now, deadline);
      }
      wakeAt.push(retryAt);
    }

    const backstop = attemptBackstopAt(job);
    if (backstop !== undefined && backstop <= now) {
      const attempt = currentAttemptEntry(job);
      const limit = `${String(job.spec.timeoutSeconds)}s + ${String(job.spec.killTimeoutSeconds ?? DEFAULT_KILL_TIMEOUT_SECONDS)}s + ${ATTEMPT_BACKSTOP_GRACE_SECONDS}s`;
      const transition = failAttempt(
        job,
        {
          reason: DEADLINE_EXCEEDED_REASON,
          message: `no final report from node ${attempt?.nodeName ?? job.status?.nodeName ?? 'unknown'} within ${limit} of the attempt's start; ended by the job controller`,
        },
        new Date(now),
      );
      await this.write(key, entry.revision, transition);
      return {};
    }
    wakeAt.push(backstop);
    return after(now, ...wakeAt);
  }

  private async reconcileFinished(key: string, job: Job, revision: number, now: number): Promise<Result> {
    const expiresAt = ttlExpiresAt(job);
    if (expiresAt === undefined) return {};
    if (expiresAt > now) return { requeueAfterMs: expiresAt - now };
    try {
      await this.storage.delete(job as StoredObject, revision);
    } catch (err) {
      throw new Error(`deleting finished job ${key} after its ttlSecondsAfterFinished failed`, { cause: err });
    }
    const message = `deleted ${String(job.spec.ttlSecondsAfterFinished)}s after it finished (${job.status?.phase ?? 'unknown'} at ${job.status?.completionTime ?? 'unknown'})`;
    this.recorder.record(job, 'Normal', TTL_EXPIRED_REASON, message);
    this.logger.info('job lifecycle: finished job deleted after its TTL', { job: key });
    return {};
  }

  private async releaseBackoff(key: string, job: Job, revision: number): Promise<void> {
    const updated = structuredClone(job) as Job;
    const status = { ...updated.status };
    delete status.reason;
    delete status.message;
    delete status.nextRetryAt;
    updated.status = status;
    const message = `backoff ended${job.status?.nextRetryAt !== undefined ? ` at ${job.status.nextRetryAt}` : ''}; the job may be scheduled again`;
    await this.write(key, revision, { kind: 'apply', job: updated, events: [{ type: 'Normal', reason: BACKOFF_FINISHED_REASON, message }] });
  }

  /** Writes a transition with ifRevision, then records its events and its finished attempt. */
  private async write(key: string, revision: number, transition: AppliedTransition): Promise<void> {
    try {
      await this.storage.update(transition.job as StoredObject, revision);
    } catch (err) {
      throw new Error(`updating job ${key} failed`, { cause: err });
    }
    const status = transition.job.status;
    this.logger.info('job lifecycle: job status changed', { job: key, phase: status?.phase, reason: status?.reason });
    this.recordEvents(transition.job, transition.events);
    if (transition.finishedAttempt !== undefined && this.attempts !== undefined) {
      try {
        await this.attempts.recordAttempt(transition.finishedAttempt);
      } catch (err) {
        this.logger.warn('job lifecycle: recording a finished attempt failed', {
          job: key,
          attempt: transition.finishedAttempt.attempt,
          error: errorMessage(err),
        });
      }
    }
  }

  private recordEvents(job: Job, events: readonly JobEventSpec[]): void {
    for (const event of events) this.recorder.record(job, event.type, event.reason, event.message);
  }
}

/** requeueAfterMs for the earliest of `times` that lies ahead of `now` (none: no requeue). */
function after(now: number, ...times: (number | undefined)[]): Result {
  const ahead = times.filter((t): t is number => t !== undefined && t > now);
  return ahead.length === 0 ? {} : { requeueAfterMs: Math.min(...ahead) - now };
}

export interface JobLifecycleControllerOptions extends JobLifecycleOptions {
  /** Concurrent workers. Default 2. */
  readonly workers?: number;
  readonly queue?: WorkQueueOptions;
}

/** The job lifecycle reconciler and the Controller that drives it (run it leader-only). */
export interface JobLifecycleParts {
  readonly reconciler: JobLifecycle;
  readonly controller: Controller;
}

/** Wires a JobLifecycle into a Controller: every change of a job with a timed concern enqueues it. */
export function newJobLifecycleController(options: JobLifecycleControllerOptions): JobLifecycleParts {
  const reconciler = new JobLifecycle(options);
  const controller = new Controller({
    name: 'job-lifecycle',
    reconciler,
    workers: options.workers ?? 2,
    queue: options.queue ?? { clock: options.clock ?? systemClock },
    logger: options.logger,
  });
  controller.watch(options.jobs, (key, job) => (hasLifecycleDeadline(job) ? key : undefined));
  return { reconciler, controller };
}

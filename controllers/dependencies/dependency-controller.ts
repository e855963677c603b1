// The dependency controller: gates Jobs with spec.dependsOn (DESIGN 2.2) — a Reconciler keyed
// by a job's store key.
//
// Contract:
// - Touches only jobs with a non-empty spec.dependsOn that are Pending (an absent status counts
//   as Pending) and not bound (no status.nodeName), and that are not yet admitted; a job past
//   Pending is never changed. Dependencies are looked up in the job's own namespace.
// - Verdict, from the informer cache (dependsOn order decides which dependency is named first):
//   - some dependency Failed (every Failed job is final) -> phase Failed, reason DependencyFailed,
//     message `dependency NAME failed (REASON)`, completionTime, condition DependenciesReady=False.
//     This propagates down a chain, since DependencyFailed is itself Failed.
//   - else some dependency not Succeeded or missing -> reason WaitingForDependencies, message
//     `waiting for a, b` (plus `; b does not exist` for jobs not applied yet), condition
//     DependenciesReady=False.
//   - else -> condition DependenciesReady=True (the scheduler's admission gate) and a
//     WaitingForDependencies reason/message cleared. Admission is sticky: once a job is admitted
//     it is not gated again (its own retries and other controllers' reasons are left alone).
// - Writes only when the status changes, always with ifRevision of the cached revision; a
//   conflict is thrown so the runtime retries from fresh state.
// - Wake-ups: a reverse index (dependency key -> dependent keys), kept by informer handlers,
//   re-enqueues a job's dependents whenever that job is added, deleted or changes phase/reason.
//   An index instead of a scan keeps each event O(dependents) with many jobs.
import { jobKind, type Condition, type Job, type JobStatus } from '../../api/v1/index.js';
import { ObjectStorage, type StoredObject } from '../../apiserver/object-storage.js';
import type { Store } from '../../store/store.js';
import {
  Controller,
  silentLogger,
  systemClock,
  type Clock,
  type Informer,
  type Logger,
  type Reconciler,
  type Result,
  type WorkQueueOptions,
} from '../runtime/index.js';
import { DEPENDENCIES_READY_CONDITION } from '../../api/v1/job-conditions.js';
import type { EventRecorder } from '../runtime/event-recorder.js';
import { JOBS_PREFIX } from '../scheduler/scheduler.js';

export const WAITING_FOR_DEPENDENCIES_REASON = 'WaitingForDependencies';
export const DEPENDENCY_FAILED_REASON = 'DependencyFailed';
export const DEPENDENCIES_SUCCEEDED_REASON = 'DependenciesSucceeded';

/** What the dependencies of one job say about it. */
export type DependencyVerdict =
  | { readonly kind: 'ready' }
  | { readonly kind: 'waiting'; readonly message: string }
  | { readonly kind: 'failed'; readonly message: string };

/** The namespace part of a job store key (`<JOBS_PREFIX><ns>/<name>`). */
function namespaceOf(storeKey: string): string {
  const rest = storeKey.slice(JOBS_PREFIX.length);
  return rest.slice(0, rest.indexOf('/'));
}

/** Store key of job `name` in namespace `ns`. */
export function jobStoreKey(ns: string, name: string): string {
  return `${JOBS_PREFIX}${ns}/${name}`;
}

/** Distinct spec.dependsOn names in order. */
function dependencyNames(job: Job): string[] {
  return [...new Set(job.spec.dependsOn ?? [])];
}

/** True when the job is admitted (condition DependenciesReady=True). */
export function isAdmitted(job: Job): boolean {
  return (job.status?.conditions ?? []).some((c) => c.type === DEPENDENCIES_READY_CONDITION && c.status === 'True');
}

/** True for jobs this controller may change: dependsOn set, Pending, unbound, not yet admitted. */
export function isGated(job: Job): boolean {
  const status = job.status ?? {};
  return (
    dependencyNames(job).length > 0 && (status.phase ?? 'Pending') === 'Pending' && status.nodeName === undefined && !isAdmitted(job)
  );
}

/** The verdict for `job` given a lookup of same-namespace jobs by name. */
export function dependencyVerdict(job: Job, lookup: (name: string) => Job | undefined): DependencyVerdict {
  const waiting: string[] = [];
  const missing: string[] = [];
  for (const name of dependencyNames(job)) {
    const dep = lookup(name);
    if (dep === undefined) {
      waiting.push(name);
      missing.push(name);
      continue;
    }
    const phase = dep.status?.phase ?? 'Pending';
    if (phase === 'Failed') {
      const reason = dep.status?.reason;
      return { kind: 'failed', message: `dependency ${name} failed${reason ? ` (${reason})` : ''}` };
    }
    if (phase !== 'Succeeded') waiting.push(name);
  }
  if (waiting.length === 0) return { kind: 'ready' };
  let message = `waiting for ${waiting.join(', ')}`;
  if (missing.length > 0) message += `; ${missing.join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist`;
  return { kind: 'waiting', message };
}

export interface DependencyControllerOptions {
  readonly store: Store;
  /** Informer over JOBS_PREFIX (share the scheduler's). */
  readonly jobs: Informer<Job>;
  /** Records an Event for every verdict written (WaitingForDependencies, DependenciesSucceeded, DependencyFailed). */
  readonly recorder?: EventRecorder;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

const VERDICT_EVENTS: Readonly<Record<DependencyVerdict['kind'], { type: 'Normal' | 'Warning'; reason: string; message: string }>> = {
  ready: { type: 'Normal', reason: DEPENDENCIES_SUCCEEDED_REASON, message: 'all dependencies succeeded' },
  waiting: { type: 'Normal', reason: WAITING_FOR_DEPENDENCIES_REASON, message: 'waiting for dependencies' },
  failed: { type: 'Warning', reason: DEPENDENCY_FAILED_REASON, message: 'a dependency failed' },
};

export class DependencyReconciler implements Reconciler {
  private readonly storage: ObjectStorage;
  private readonly jobs: Informer<Job>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly recorder: EventRecorder | undefined;

  constructor(options: DependencyControllerOptions) {
    this.storage = new ObjectStorage(options.store, jobKind);
    this.jobs = options.jobs;
    this.recorder = options.recorder;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  async reconcile(key: string): Promise<Result> {
    const entry = this.jobs.getEntry(key);
    if (entry === undefined || !isGated(entry.object)) return {};
    const job = entry.object;
    const ns = namespaceOf(key);
    const verdict = dependencyVerdict(job, (name) => this.jobs.get(jobStoreKey(ns, name)));
    const status = this.desiredStatus(job.status ?? {}, verdict);
    if (JSON.stringify(status) === JSON.stringify(job.status ?? {})) return {};
    const updated = structuredClone(job) as Job;
    updated.status = status;
    try {
      await this.storage.update(updated as StoredObject, entry.revision);
    } catch (err) {
      throw new Error(`updating dependency status of ${key} failed`, { cause: err });
    }
    this.logger.info('dependencies: job status changed', { job: key, verdict: verdict.kind, message: status.message });
    const event = VERDICT_EVENTS[verdict.kind];
    this.recorder?.record(updated, event.type, event.reason, verdict.kind === 'ready' ? event.message : verdict.message);
    return {};
  }

  private desiredStatus(current: JobStatus, verdict: DependencyVerdict): JobStatus {
    const now = rfc3339(this.clock.now());
    const status: JobStatus = { ...current, phase: current.phase ?? 'Pending' };
    switch (verdict.kind) {
      case 'ready':
        if (status.reason === WAITING_FOR_DEPENDENCIES_REASON) {
          delete status.reason;
          delete status.message;
        }
        status.conditions = upsertCondition(
          current.conditions,
          { type: DEPENDENCIES_READY_CONDITION, status: 'True', reason: DEPENDENCIES_SUCCEEDED_REASON, message: 'all dependencies succeeded' },
          now,
        );
        return status;
      case 'waiting':
        status.reason = WAITING_FOR_DEPENDENCIES_REASON;
        status.message = verdict.message;
        status.conditions = upsertCondition(
          current.conditions,
          { type: DEPENDENCIES_READY_CONDITION, status: 'False', reason: WAITING_FOR_DEPENDENCIES_REASON, message: verdict.message },
          now,
        );
        return status;
      case 'failed':
        status.phase = 'Failed';
        status.reason = DEPENDENCY_FAILED_REASON;
        status.message = verdict.message;
        status.completionTime = now;
        status.conditions = upsertCondition(
          current.conditions,
          { type: DEPENDENCIES_READY_CONDITION, status: 'False', reason: DEPENDENCY_FAILED_REASON, message: verdict.message },
          now,
        );
        return status;
    }
  }
}

/**
 * Replaces the condition of the same type in place (appends a new one); keeps lastTransitionTime
 * when the status did not change, so an unchanged verdict yields an identical list.
 */
function upsertCondition(conditions: readonly Condition[] | undefined, next: Condition, now: string): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === next.type);
  const old = index >= 0 ? list[index] : undefined;
  const lastTransitionTime = old?.status === next.status && old.lastTransitionTime !== undefined ? old.lastTransitionTime : now;
  const merged: Condition = { ...next, lastTransitionTime };
  if (index >= 0) list[index] = merged;
  else list.push(merged);
  return list;
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

export interface DependencyControllerParts {
  readonly reconciler: DependencyReconciler;
  readonly controller: Controller;
}

export interface NewDependencyControllerOptions extends DependencyControllerOptions {
  /** Concurrent workers. Default 2. */
  readonly workers?: number;
  readonly queue?: WorkQueueOptions;
}

/**
 * Wires a DependencyReconciler into a Controller (run it leader-only on a Manager that runs
 * `jobs`): every change of a gated job enqueues it; a job added, deleted or changing phase or
 * reason enqueues its dependents.
 */
export function newDependencyController(options: NewDependencyControllerOptions): DependencyControllerParts {
  const reconciler = new DependencyReconciler(options);
  const controller = new Controller({
    name: 'dependencies',
    reconciler,
    workers: options.workers ?? 2,
    queue: options.queue ?? { clock: options.clock ?? systemClock },
    logger: options.logger,
  });
  const index = new DependentsIndex();
  const wakeDependents = (key: string): void => {
    for (const dependent of index.dependentsOf(key)) controller.enqueueKey(dependent);
  };
  // The index is updated before any enqueue below reads it.
  options.jobs.addHandlers({
    onAdd(key, job) {
      index.set(key, job);
      wakeDependents(key);
    },
    onUpdate(key, oldJob, newJob) {
      index.set(key, newJob);
      if (oldJob.status?.phase !== newJob.status?.phase || oldJob.status?.reason !== newJob.status?.reason) wakeDependents(key);
    },
    onDelete(key) {
      index.remove(key);
      wakeDependents(key);
    },
  });
  controller.watch(options.jobs, (key, job) => (isGated(job) ? key : undefined));
  return { reconciler, controller };
}

/** Reverse dependency index: store key of a (possibly missing) job -> store keys of the jobs naming it in dependsOn. */
class DependentsIndex {
  private readonly dependents = new Map<string, Set<string>>();
  private readonly dependencies = new Map<string, readonly string[]>();

  set(key: string, job: Job): void {
    const ns = namespaceOf(key);
    const next = dependencyNames(job).map((name) => jobStoreKey(ns, name));
    const previous = this.dependencies.get(key) ?? [];
    if (previous.length === next.length && previous.every((k, i) => k === next[i])) return;
    this.remove(key);
    if (next.length === 0) return;
    this.dependencies.set(key, next);
    for (const dep of next) {
      const set = this.dependents.get(dep) ?? new Set<string>();
      set.add(key);
      this.dependents.set(dep, set);
    }
  }

  remove(key: string): void {
    for (const dep of this.dependencies.get(key) ?? []) {
      const set = this.dependents.get(dep);
      set?.delete(key);
      if (set?.size === 0) this.dependents.delete(dep);
    }
    this.dependencies.delete(key);
  }

  dependentsOf(key: string): string[] {
    return [...(this.dependents.get(key) ?? [])];
  }
}

// The scheduler: a Reconciler keyed by a job's store key that binds each runnable Job to a node.
//
// Contract:
// - Reads jobs and nodes only from informer caches (frozen; copied with structuredClone before
//   any change) and writes a job only with the revision its decision was computed from
//   (ifRevision); a conflict is thrown so the runtime retries from fresh state.
// - Binding creates the job's next attempt, in one write: status.phase=Scheduled,
//   status.nodeName, status.attempts + 1, {attempt, nodeName} appended to status.recentAttempts
//   (at most MAX_RECENT_ATTEMPTS, oldest dropped), condition Scheduled=True (reason Scheduled);
//   status.reason/message of an earlier verdict and nextRetryAt are cleared. Event
//   Normal/Scheduled "bound to node X (attempt N)".
// - No node fits: status.reason=Unschedulable and a kube-scheduler-style status.message plus
//   condition Scheduled=False, written (with an event Warning/FailedScheduling) only when they
//   change; the job is looked at again after `unschedulableRetryMs`, and at once when a node
//   changes or a job frees capacity it could use (or a priority claim).
// - Priority: a job is placed only after every runnable pending job of strictly higher
//   spec.priority has been placed (in simulation, highest first) on the same state, so capacity
//   goes to the higher priority whatever order the queue hands out keys in. Equal priorities
//   are served in queue order.
// - Assumed placements (as kube-scheduler's assume cache): a bind is recorded before it is
//   written and counted until the job informer has caught up with the bind's revision, so two
//   binds in quick succession (or on concurrent workers) never overcommit a node.
// - Cost: a bind is O(nodes) (plus O(nodes) per pending job of strictly higher priority), never
//   O(jobs): allocation per node, pending jobs by priority and the Unschedulable jobs are kept
//   incrementally by a SchedulingCache fed from the informers' handlers (scheduling-cache.ts).
// - Metrics (optional hook): scheduling latency, from when this process first saw the job runnable
//   (created, admitted by the dependency controller, back from backoff or retried) to its bind.
import { jobKind, MAX_RECENT_ATTEMPTS, SCHEDULED_CONDITION, type Condition, type Job, type JobStatus, type Node } from '../../api/v1/index.js';
import { ObjectStorage, type StoredObject } from '../../apiserver/object-storage.js';
import type { Store } from '../../store/store.js';
import type { EventRecorder } from '../runtime/event-recorder.js';
import {
  Controller,
  Informer,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type Reconciler,
  type Result,
  type WorkQueueOptions,
} from '../runtime/index.js';
import { isRunnable, UNSCHEDULABLE_REASON } from './job-state.js';
import { bestNode, filterNodes, holdsResources, isNodeReady, jobRequests, unschedulableMessage, type Allocation, type Rejection } from './placement.js';
import { AllocationOverlay, NodeCandidates, SchedulingCache, type PendingJob } from './scheduling-cache.js';

export { isRunnable, UNSCHEDULABLE_REASON } from './job-state.js';

/** Store prefix of every Job (namespaced: `<prefix><ns>/<name>`). */
export const JOBS_PREFIX = '/registry/openscheduler.io/jobs/';
/** Store prefix of every Node (`<prefix><name>`). */
export const NODES_PREFIX = '/registry/openscheduler.io/nodes/';

/** Decodes a stored Job (undefined for anything that is not one). */
export function decodeJob(value: string): Job | undefined {
  const obj = JSON.parse(value) as Partial<Job> | null;
  return isObject(obj) && obj.kind === 'Job' && isObject(obj.metadata) && isObject(obj.spec) ? (obj as Job) : undefined;
}

/** Decodes a stored Node (undefined for anything that is not one). */
export function decodeNode(value: string): Node | undefined {
  const obj = JSON.parse(value) as Partial<Node> | null;
  return isObject(obj) && obj.kind === 'Node' && isObject(obj.metadata) ? (obj as Node) : undefined;
}

/** The scheduler's metrics hook (metrics/server-metrics.ts implements it; the scheduler imports no metrics library). */
export interface SchedulerMetrics {
  /** A job was bound `seconds` after this process first saw it runnable (created, admitted, or retried). */
  observeSchedulingLatency(seconds: number): void;
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface SchedulerOptions {
  readonly store: Store;
  /** Informer over JOBS_PREFIX (may be shared with other controllers). */
  readonly jobs: Informer<Job>;
  /** Informer over NODES_PREFIX. */
  readonly nodes: Informer<Node>;
  /** Look again at an unschedulable job after this long. Default 5000 ms. */
  readonly unschedulableRetryMs?: number;
  /** Receives the Scheduled and FailedScheduling events. Absent: no events. */
  readonly recorder?: EventRecorder;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Scheduling latency. Absent: not measured. */
  readonly metrics?: SchedulerMetrics;
}

export class Scheduler implements Reconciler {
  private readonly storage: ObjectStorage;
  private readonly jobs: Informer<Job>;
  private readonly unschedulableRetryMs: number;
  private readonly recorder: EventRecorder | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** Allocation per node (with assumed binds), pending jobs by priority, Unschedulable jobs. */
  private readonly cache = new SchedulingCache();
  private readonly nodeCandidates = new NodeCandidates();
  private readonly removeHandlers: (() => void)[];
  private readonly metrics: SchedulerMetrics | undefined;
  /** With metrics: when this process first saw each runnable job runnable (clock ms), by key. */
  private readonly runnableSince = new Map<string, number>();

  /** Registers handlers on both informers (they feed the scheduler's indexes); close() removes them. */
  constructor(options: SchedulerOptions) {
    const retry = options.unschedulableRetryMs ?? 5000;
    if (!Number.isFinite(retry) || retry < 0) {
      throw new RangeError(`Scheduler: option unschedulableRetryMs must be a finite number >= 0, got ${String(retry)}`);
    }
    this.storage = new ObjectStorage(options.store, jobKind);
    this.jobs = options.jobs;
    this.unschedulableRetryMs = retry;
    this.recorder = options.recorder;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.metrics = options.metrics;
    this.removeHandlers = [
      this.jobs.addHandlers({
        onAdd: (key, job) => this.observeJob(key, job),
        onUpdate: (key, _old, job) => this.observeJob(key, job),
        onDelete: (key) => this.observeJob(key, undefined),
      }),
      options.nodes.addHandlers({
        onAdd: (key, node) => this.nodeCandidates.observe(key, node),
        onUpdate: (key, _old, node) => this.nodeCandidates.observe(key, node),
        onDelete: (key) => this.nodeCandidates.observe(key, undefined),
      }),
    ];
  }

  private observeJob(key: string, job: Job | undefined): void {
    this.cache.observe(key, job);
    if (this.metrics === undefined) return;
    if (job !== undefined && isRunnable(job)) {
      if (!this.runnableSince.has(key)) this.runnableSince.set(key, this.clock.now());
    } else {
      this.runnableSince.delete(key);
    }
  }

  /** Stops following the informers (the indexes go stale: reconcile no more). Idempotent. */
  close(): void {
    for (const remove of this.removeHandlers.splice(0)) remove();
  }

  /** Binds not yet observed through the informer (for tests and metrics). */
  assumedCount(): number {
    this.cache.prune(this.jobs.revision());
    return this.cache.assumedCount();
  }

  /** What the scheduler counts as allocated per node, assumed binds included (a copy; for tests and metrics). */
  allocations(): Map<string, Allocation> {
    return this.cache.allocationSnapshot();
  }

  /** Keys of the runnable jobs marked Unschedulable (the ones a change of capacity may wake). */
  unschedulableKeys(): string[] {
    return this.cache.unschedulableKeys();
  }

  /** True when the cached job `key` would pass every check on node `nodeName` alone, as things stand. */
  couldFitOn(key: string, nodeName: string): boolean {
    const job = this.jobs.get(key);
    const node = this.nodeCandidates.get(nodeName);
    return job !== undefined && node !== undefined && filterNodes(job, [node], this.cache).feasible.length > 0;
  }

  async reconcile(key: string): Promise<Result> {
    this.cache.prune(this.jobs.revision());
    const entry = this.jobs.getEntry(key);
    if (entry === undefined || this.cache.isAssumed(key) || !isRunnable(entry.object)) return {};
    const job = entry.object;

    // Everything from here to the assume below is synchronous: no other worker interleaves.
    const nodes = this.nodeCandidates.list();
    const allocations = new AllocationOverlay(this.cache);
    for (const higher of this.pendingAbove(key, job)) {
      const best = bestNode(higher, filterNodes(higher, nodes, allocations).feasible);
      if (best) allocations.place(best.node.metadata.name, jobRequests(higher));
    }
    const { feasible, rejected } = filterNodes(job, nodes, allocations);
    const best = bestNode(job, feasible);
    if (best === undefined) return this.markUnschedulable(key, job, entry.revision, rejected);

    const nodeName = best.node.metadata.name;
    const bound = this.bind(job, nodeName);
    this.cache.assume(key, bound);
    const runnableSince = this.runnableSince.get(key); // read now: the informer may see the bind before the write returns
    let written: StoredObject;
    try {
      written = await this.storage.update(bound as StoredObject, entry.revision);
    } catch (err) {
      this.cache.forget(key);
      throw new Error(`binding ${key} to node ${nodeName} failed`, { cause: err });
    }
    this.cache.confirm(key, Number(written.metadata.resourceVersion));
    if (runnableSince !== undefined) this.metrics?.observeSchedulingLatency(Math.max(0, this.clock.now() - runnableSince) / 1000);
    const attempt = bound.status?.attempts ?? 0;
    this.recorder?.record(bound, 'Normal', 'Scheduled', `bound to node ${nodeName} (attempt ${attempt})`);
    this.logger.info('scheduler: bound job', { job: key, node: nodeName, attempt });
    return {};
  }

  /** Runnable jobs of strictly higher priority than `job`, not yet assumed, highest first (then oldest, then key). */
  private pendingAbove(key: string, job: Job): Job[] {
    const above = this.cache.pendingAbove(job.spec.priority ?? 0).filter((p) => p.key !== key && !this.cache.isAssumed(p.key));
    if (above.length === 0) return [];
    const jobs: Job[] = [];
    for (const p of above.sort(byPlacementOrder)) {
      const candidate = this.jobs.get(p.key);
      if (candidate !== undefined) jobs.push(candidate);
    }
    return jobs;
  }

  private bind(job: Job, nodeName: string): Job {
    const bound = structuredClone(job) as Job;
    const attempt = (bound.status?.attempts ?? 0) + 1;
    const status: JobStatus = { ...bound.status, phase: 'Scheduled', nodeName, attempts: attempt };
    delete status.reason;
    delete status.message;
    delete status.nextRetryAt;
    status.recentAttempts = [...(status.recentAttempts ?? []).filter((a) => a.attempt !== attempt), { attempt, nodeName }].slice(-MAX_RECENT_ATTEMPTS);
    status.conditions = setCondition(status.conditions, {
      type: SCHEDULED_CONDITION,
      status: 'True',
      reason: 'Scheduled',
      message: `bound to node ${nodeName}`,
      lastTransitionTime: rfc3339(this.clock.now()),
    });
    bound.status = status;
    return bound;
  }

  private async markUnschedulable(key: string, job: Job, revision: number, rejected: Rejection[]): Promise<Result> {
    const message = unschedulableMessage(rejected);
    const requeue = { requeueAfterMs: this.unschedulableRetryMs };
    if (job.status?.reason === UNSCHEDULABLE_REASON && job.status.message === message) return requeue;
    const updated = structuredClone(job) as Job;
    const status = { ...updated.status, phase: 'Pending' as const, reason: UNSCHEDULABLE_REASON, message };
    status.conditions = setCondition(status.conditions, {
      type: SCHEDULED_CONDITION,
      status: 'False',
      reason: UNSCHEDULABLE_REASON,
      message,
      lastTransitionTime: rfc3339(this.clock.now()),
    });
    updated.status = status;
    await this.storage.update(updated as StoredObject, revision);
    this.recorder?.record(updated, 'Warning', 'FailedScheduling', message);
    this.logger.info('scheduler: job unschedulable', { job: key, message });
    return requeue;
  }
}

/** Highest priority first, then oldest, then by key. */
function byPlacementOrder(a: PendingJob, b: PendingJob): number {
  return b.priority - a.priority || compare(a.creationTimestamp, b.creationTimestamp) || compare(a.key, b.key);
}

/** Replaces the condition of the same type; keeps lastTransitionTime when the status did not change. */
function setCondition(conditions: Condition[] | undefined, next: Condition): Condition[] {
  const list = conditions ?? [];
  const old = list.find((c) => c.type === next.type);
  const merged = old?.status === next.status && old.lastTransitionTime !== undefined ? { ...next, lastTransitionTime: old.lastTransitionTime } : next;
  return [...list.filter((c) => c.type !== next.type), merged];
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What a job's existence means to the pending jobs: capacity held, a priority claim, or nothing. */
function claimOf(job: Job): 'holds' | 'pending' | 'none' {
  return holdsResources(job) ? 'holds' : isRunnable(job) ? 'pending' : 'none';
}

/** The node fields placement depends on (heartbeats alone do not wake pending jobs). */
function placementView(node: Node): string {
  return JSON.stringify([
    node.metadata.labels ?? {},
    node.spec?.unschedulable === true,
    isNodeReady(node),
    node.status?.allocatable ?? null,
    node.status?.capacity ?? null,
    node.status?.drivers ?? [],
  ]);
}

export interface SchedulerControllerOptions extends SchedulerOptions {
  /** Concurrent workers. Default 2. */
  readonly workers?: number;
  readonly queue?: WorkQueueOptions;
}

/** The scheduler and the Controller that drives it (run it leader-only on a Manager that runs both informers). */
export interface SchedulerParts {
  readonly scheduler: Scheduler;
  readonly controller: Controller;
}

/**
 * Wires a Scheduler into a Controller: every change of a runnable job enqueues it. Unschedulable
 * jobs are woken (from the scheduler's index, never by scanning every job): all of them when a
 * node changes in a way placement sees or a pending job gives up its priority claim; when a job
 * frees capacity on node X, those that would fit on X alone now.
 */
export function newSchedulerController(options: SchedulerControllerOptions): SchedulerParts {
  const scheduler = new Scheduler(options);
  const controller = new Controller({
    name: 'scheduler',
    reconciler: scheduler,
    workers: options.workers ?? 2,
    queue: options.queue ?? { clock: options.clock ?? systemClock },
    logger: options.logger,
  });
  const jobs = options.jobs;
  controller.watch(jobs, (storeKey, job) => (isRunnable(job) ? storeKey : undefined));
  const wakeUnschedulable = (): void => {
    for (const key of scheduler.unschedulableKeys()) controller.enqueueKey(key);
  };
  const wakeThoseFittingOn = (nodeName: string): void => {
    for (const key of scheduler.unschedulableKeys()) if (scheduler.couldFitOn(key, nodeName)) controller.enqueueKey(key);
  };
  // Registered after the scheduler's own handlers, so its indexes already reflect the change.
  const released = (job: Job): void => {
    const claim = claimOf(job);
    if (claim === 'holds') wakeThoseFittingOn(job.status?.nodeName ?? '');
    else if (claim === 'pending') wakeUnschedulable();
  };
  jobs.addHandlers({
    onUpdate(_key, oldJob, newJob) {
      const before = claimOf(oldJob);
      const after = claimOf(newJob);
      if (before === 'holds' && (after !== 'holds' || oldJob.status?.nodeName !== newJob.status?.nodeName)) released(oldJob);
      else if (before === 'pending' && after === 'none') released(oldJob);
    },
    onDelete(_key, job) {
      released(job);
    },
  });
  options.nodes.addHandlers({
    onAdd: wakeUnschedulable,
    onUpdate(_key, oldNode, newNode) {
      if (placementView(oldNode) !== placementView(newNode)) wakeUnschedulable();
    },
    onDelete: wakeUnschedulable,
  });
  return { scheduler, controller };
}

/** Informers over every Job and every Node, for newSchedulerController (add both to the Manager). */
export function newSchedulerInformers(store: Store, options: { clock?: Clock; logger?: Logger } = {}): {
  jobs: Informer<Job>;
  nodes: Informer<Node>;
} {
  return {
    jobs: new Informer<Job>({ store, prefix: JOBS_PREFIX, decode: decodeJob, name: 'jobs', ...options }),
    nodes: new Informer<Node>({ store, prefix: NODES_PREFIX, decode: decodeNode, name: 'nodes', ...options }),
  };
}

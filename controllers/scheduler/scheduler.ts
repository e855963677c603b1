// The scheduler: a Reconciler keyed by a job's store key that binds each runnable Job to a node.
//
// Contract:
// - Reads jobs and nodes only from informer caches (frozen; copied with structuredClone before
//   any change) and writes a job only with the revision its decision was computed from
//   (ifRevision); a conflict is thrown so the runtime retries from fresh state.
// - Binding: status.phase=Scheduled, status.nodeName, condition Scheduled=True (reason Scheduled);
//   status.reason/message of an earlier Unschedulable verdict are cleared.
// - No node fits: status.reason=Unschedulable and a kube-scheduler-style status.message plus
//   condition Scheduled=False, written only when they change; the job is looked at again after
//   `unschedulableRetryMs`, and at once when a node changes or a job frees its claim.
// - Priority: a job is placed only after every runnable pending job of strictly higher
//   spec.priority has been placed (in simulation, highest first) on the same state, so capacity
//   goes to the higher priority whatever order the queue hands out keys in. Equal priorities
//   are served in queue order.
// - Assumed placements (as kube-scheduler's assume cache): a bind is recorded before it is
//   written and counted until the job informer has caught up with the bind's revision, so two
//   binds in quick succession (or on concurrent workers) never overcommit a node.
import { DEPENDENCIES_READY_CONDITION, jobKind, SCHEDULED_CONDITION, type Condition, type Job, type Node } from '../../api/v1/index.js';
import { ObjectStorage, type StoredObject } from '../../apiserver/object-storage.js';
import type { Store } from '../../store/store.js';
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
import { filterNodes, holdsResources, isNodeReady, scoreNodes, unschedulableMessage, type Rejection } from './placement.js';

/** Store prefix of every Job (namespaced: `<prefix><ns>/<name>`). */
export const JOBS_PREFIX = '/registry/openscheduler.io/jobs/';
/** Store prefix of every Node (`<prefix><name>`). */
export const NODES_PREFIX = '/registry/openscheduler.io/nodes/';

/** Status reasons set by the job lifecycle controller under which a Pending job must not be placed. */
const NOT_RUNNABLE_REASONS: ReadonlySet<string> = new Set(['WaitingForDependencies', 'BackoffWaiting']);

export const UNSCHEDULABLE_REASON = 'Unschedulable';

/**
 * True when the scheduler should place `job`: phase Pending (an absent status counts as the
 * initial Pending), no nodeName, not held back by the lifecycle controller, and, when it has
 * spec.dependsOn, admitted by the dependency controller (condition DependenciesReady=True) —
 * so a freshly created job is never bound before its dependencies were checked.
 */
export function isRunnable(job: Job): boolean {
  const status = job.status ?? {};
  return (
    (status.phase ?? 'Pending') === 'Pending' &&
    status.nodeName === undefined &&
    !(status.reason !== undefined && NOT_RUNNABLE_REASONS.has(status.reason)) &&
    ((job.spec.dependsOn ?? []).length === 0 ||
      (status.conditions ?? []).some((c) => c.type === DEPENDENCIES_READY_CONDITION && c.status === 'True'))
  );
}

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
  readonly clock?: Clock;
  readonly logger?: Logger;
}

interface Assumed {
  /** The job as bound. */
  readonly job: Job;
  /** Revision of the bind write; Infinity while the write is in flight. */
  revision: number;
}

export class Scheduler implements Reconciler {
  private readonly storage: ObjectStorage;
  private readonly jobs: Informer<Job>;
  private readonly nodes: Informer<Node>;
  private readonly unschedulableRetryMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** Binds not yet seen by the job informer, by job key. */
  private readonly assumed = new Map<string, Assumed>();

  constructor(options: SchedulerOptions) {
    const retry = options.unschedulableRetryMs ?? 5000;
    if (!Number.isFinite(retry) || retry < 0) {
      throw new RangeError(`Scheduler: option unschedulableRetryMs must be a finite number >= 0, got ${String(retry)}`);
    }
    this.storage = new ObjectStorage(options.store, jobKind);
    this.jobs = options.jobs;
    this.nodes = options.nodes;
    this.unschedulableRetryMs = retry;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  /** Binds not yet observed through the informer (for tests and metrics). */
  assumedCount(): number {
    this.pruneAssumed();
    return this.assumed.size;
  }

  async reconcile(key: string): Promise<Result> {
    this.pruneAssumed();
    const entry = this.jobs.getEntry(key);
    if (entry === undefined || this.assumed.has(key) || !isRunnable(entry.object)) return {};
    const job = entry.object;

    // Everything from here to the assume below is synchronous: no other worker interleaves.
    const placed = this.placedJobsByNode();
    const nodes = this.nodes.list().slice().sort((a, b) => compare(a.metadata.name, b.metadata.name));
    for (const higher of this.pendingAbove(key, job)) {
      const best = scoreNodes(higher, filterNodes(higher, nodes, placed).feasible)[0];
      if (best) addPlaced(placed, best.node.metadata.name, asBound(higher, best.node.metadata.name));
    }
    const { feasible, rejected } = filterNodes(job, nodes, placed);
    const best = scoreNodes(job, feasible)[0];
    if (best === undefined) return this.markUnschedulable(key, job, entry.revision, rejected);

    const nodeName = best.node.metadata.name;
    const bound = this.bind(job, nodeName);
    const assumed: Assumed = { job: bound, revision: Infinity };
    this.assumed.set(key, assumed);
    try {
      const written = await this.storage.update(bound as StoredObject, entry.revision);
      assumed.revision = Number(written.metadata.resourceVersion);
    } catch (err) {
      this.assumed.delete(key);
      throw new Error(`binding ${key} to node ${nodeName} failed`, { cause: err });
    }
    this.logger.info('scheduler: bound job', { job: key, node: nodeName });
    return {};
  }

  /** Jobs holding resources, by node: the cache overlaid with assumed binds. */
  private placedJobsByNode(): Map<string, Job[]> {
    const placed = new Map<string, Job[]>();
    for (const key of this.jobs.keys()) {
      if (this.assumed.has(key)) continue;
      const job = this.jobs.get(key);
      if (job && holdsResources(job)) addPlaced(placed, job.status?.nodeName ?? '', job);
    }
    for (const { job } of this.assumed.values()) addPlaced(placed, job.status?.nodeName ?? '', job);
    return placed;
  }

  /** Runnable jobs of strictly higher priority than `job`, highest first (then oldest, then key). */
  private pendingAbove(key: string, job: Job): Job[] {
    const priority = job.spec.priority ?? 0;
    const above: { key: string; job: Job }[] = [];
    for (const other of this.jobs.keys()) {
      if (other === key || this.assumed.has(other)) continue;
      const candidate = this.jobs.get(other);
      if (candidate && (candidate.spec.priority ?? 0) > priority && isRunnable(candidate)) above.push({ key: other, job: candidate });
    }
    return above
      .sort(
        (a, b) =>
          (b.job.spec.priority ?? 0) - (a.job.spec.priority ?? 0) ||
          compare(a.job.metadata.creationTimestamp ?? '', b.job.metadata.creationTimestamp ?? '') ||
          compare(a.key, b.key),
      )
      .map((a) => a.job);
  }

  private bind(job: Job, nodeName: string): Job {
    const bound = structuredClone(job) as Job;
    const status = { ...bound.status, phase: 'Scheduled' as const, nodeName };
    delete status.reason;
    delete status.message;
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
    this.logger.info('scheduler: job unschedulable', { job: key, message });
    return requeue;
  }

  /** Forgets assumed binds the job informer has caught up with. */
  private pruneAssumed(): void {
    const seen = this.jobs.revision();
    for (const [key, assumed] of this.assumed) if (assumed.revision <= seen) this.assumed.delete(key);
  }
}

/** The job as if bound to `nodeName` (only what placement looks at). */
function asBound(job: Job, nodeName: string): Job {
  return { ...job, status: { ...job.status, phase: 'Scheduled', nodeName } };
}

function addPlaced(placed: Map<string, Job[]>, nodeName: string, job: Job): void {
  const list = placed.get(nodeName);
  if (list) list.push(job);
  else placed.set(nodeName, [job]);
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
 * Wires a Scheduler into a Controller: every change of a runnable job enqueues it; a node change
 * that matters to placement, or a job giving up capacity or a priority claim, enqueues every
 * Unschedulable job.
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
    for (const key of jobs.keys()) {
      const job = jobs.get(key);
      if (job && isRunnable(job) && job.status?.reason === UNSCHEDULABLE_REASON) controller.enqueueKey(key);
    }
  };
  jobs.addHandlers({
    onUpdate(_key, oldJob, newJob) {
      const before = claimOf(oldJob);
      const after = claimOf(newJob);
      const released =
        (before === 'holds' && (after !== 'holds' || oldJob.status?.nodeName !== newJob.status?.nodeName)) ||
        (before === 'pending' && after === 'none');
      if (released) wakeUnschedulable();
    },
    onDelete(_key, job) {
      if (claimOf(job) !== 'none') wakeUnschedulable();
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

// The node lifecycle controller: a Reconciler keyed by node name that marks nodes whose agent
// stopped heartbeating as lost and re-queues their jobs (issue 3, item 4).
//
// Heartbeat contract (the agent endpoint follows it):
// - An agent holds a store lease and keeps the key `/leases/nodes/<nodeName>` (NODE_LEASES_PREFIX)
//   attached to it, value JSON {holderIdentity, renewTime} (NodeLease), renewed by keepAlive; the
//   key disappears when the lease expires or is revoked. Presence of the key is what counts: its
//   value is informational (a malformed value still means "alive").
// - The agent endpoint writes the Node's status: condition Ready (True while the agent is
//   connected and healthy) and status.lastHeartbeatTime (at least on register and on status
//   changes; not necessarily on every lease renewal).
//
// Behaviour:
// - A node whose lease key is absent for `gracePeriodMs` (default 40 s), measured from the later
//   of (a) when this controller first saw the key absent and (b) status.lastHeartbeatTime, gets
//   condition Ready=False, reason NodeLost, message naming the time it was last seen alive.
//   Written once on the transition, with ifRevision; never before the grace period ends.
// - Ready=True comes back through the agent's own status write. This controller sets Ready=True
//   (reason NodeLeaseRenewed) only to undo its own verdict: when Ready=False has reason NodeLost
//   and the lease key is present again. A Ready=False written by the agent is left alone.
// - Jobs bound to a node marked NodeLost (status.nodeName) in phase Scheduled or Running are
//   re-queued: phase Pending, reason NodeLost, message naming the node, nodeName cleared, the
//   Scheduled condition removed, status.nodeLostRequeues incremented, and an open last entry of
//   status.recentAttempts closed with reason NodeLost. This does not use a user retry: the job
//   lifecycle controller must not count attempts that ended with reason NodeLost against
//   spec.retryPolicy.maxRetries. After MAX_NODE_LOST_REQUEUES re-queues, the next loss makes the
//   job Failed, reason NodeLost ("lost its node N times"). Succeeded/Failed/Pending jobs are
//   never touched. Only a NodeLost verdict triggers re-queueing: an agent that reports NotReady
//   while holding its lease still owns its tasks.
// - Never two live attempts: when a lost node comes back, the agent endpoint must tell its agent
//   to stop (desired_state STOP) every attempt of a job whose status.nodeName is no longer that
//   node (moved elsewhere, or re-queued and not yet placed) before it reports anything else for
//   that job. (The endpoint does not exist yet; this is its contract.)
// - Level-triggered: every write carries the revision it was computed from (a conflict is thrown
//   so the runtime retries from fresh state); nothing is written when nothing changes.
import { jobKind, nodeKind, type Condition, type Job, type Node } from '../../api/v1/index.js';
import { ObjectStorage, type StoredObject } from '../../apiserver/object-storage.js';
import type { Store } from '../../store/store.js';
import {
  Controller,
  errorMessage,
  Informer,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type Reconciler,
  type Result,
  type WorkQueueOptions,
} from '../runtime/index.js';
import type { AttemptSink } from '../jobs/job-lifecycle.js';
import { requeueAfterNodeLoss, rfc3339 } from '../jobs/job-transitions.js';
import type { EventRecorder } from '../runtime/event-recorder.js';
import { NODES_PREFIX } from '../scheduler/scheduler.js';

/** Store prefix of the agents' lease keys (`<prefix><nodeName>`). */
export const NODE_LEASES_PREFIX = '/leases/nodes/';
/** Default time a lease key may be absent before its node is lost. */
export const DEFAULT_NODE_GRACE_PERIOD_MS = 40_000;
export const NODE_LOST_REASON = 'NodeLost';
export const NODE_LEASE_RENEWED_REASON = 'NodeLeaseRenewed';
export const READY_CONDITION = 'Ready';

/** Value of a node lease key (both fields informational). */
export interface NodeLease {
  readonly holderIdentity?: string;
  readonly renewTime?: string;
}

/** Store key of the lease of node `nodeName`. */
export function nodeLeaseKey(nodeName: string): string {
  return `${NODE_LEASES_PREFIX}${nodeName}`;
}

/** Decodes a lease value; never undefined, since the key's presence alone means "alive". */
export function decodeNodeLease(value: string): NodeLease {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
  const { holderIdentity, renewTime } = parsed as Record<string, unknown>;
  return {
    ...(typeof holderIdentity === 'string' ? { holderIdentity } : {}),
    ...(typeof renewTime === 'string' ? { renewTime } : {}),
  };
}

/** True when the node carries this controller's verdict: Ready=False with reason NodeLost. */
export function isNodeLost(node: Node): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === READY_CONDITION && c.status === 'False' && c.reason === NODE_LOST_REASON);
}

/** True for a job that occupies its node: phase Scheduled or Running with a nodeName. */
function isBoundActive(job: Job): boolean {
  const phase = job.status?.phase;
  return (phase === 'Scheduled' || phase === 'Running') && job.status?.nodeName !== undefined;
}

export interface NodeLifecycleOptions {
  readonly store: Store;
  /** Informer over NODES_PREFIX. */
  readonly nodes: Informer<Node>;
  /** Informer over JOBS_PREFIX. */
  readonly jobs: Informer<Job>;
  /** Informer over NODE_LEASES_PREFIX (newNodeLeaseInformer). */
  readonly leases: Informer<NodeLease>;
  /** How long a lease key may be absent before the node is lost. Default 40 000 ms. */
  readonly gracePeriodMs?: number;
  /** Records Events: NodeLost / NodeLeaseRenewed on the node, NodeLost on every re-queued job. */
  readonly recorder?: EventRecorder;
  /** Receives the record of every attempt ended by a node loss (the attempt history). */
  readonly attempts?: AttemptSink;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export class NodeLifecycle implements Reconciler {
  private readonly nodeStorage: ObjectStorage;
  private readonly jobStorage: ObjectStorage;
  private readonly nodes: Informer<Node>;
  private readonly jobs: Informer<Job>;
  private readonly leases: Informer<NodeLease>;
  private readonly gracePeriodMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly recorder: EventRecorder | undefined;
  private readonly attempts: AttemptSink | undefined;
  /** When this controller first saw each node's lease key absent (ms since the epoch). */
  private readonly absentSince = new Map<string, number>();

  constructor(options: NodeLifecycleOptions) {
    const grace = options.gracePeriodMs ?? DEFAULT_NODE_GRACE_PERIOD_MS;
    if (!Number.isFinite(grace) || grace < 0) {
      throw new RangeError(`NodeLifecycle: option gracePeriodMs must be a finite number >= 0, got ${String(grace)}`);
    }
    this.nodeStorage = new ObjectStorage(options.store, nodeKind);
    this.jobStorage = new ObjectStorage(options.store, jobKind);
    this.nodes = options.nodes;
    this.jobs = options.jobs;
    this.leases = options.leases;
    this.gracePeriodMs = grace;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.recorder = options.recorder;
    this.attempts = options.attempts;
  }

  async reconcile(nodeName: string): Promise<Result> {
    const entry = this.nodes.getEntry(`${NODES_PREFIX}${nodeName}`);
    if (entry === undefined) {
      this.absentSince.delete(nodeName);
      return {};
    }
    const node = entry.object;
    const now = this.clock.now();

    if (this.leases.get(nodeLeaseKey(nodeName)) !== undefined) {
      this.absentSince.delete(nodeName);
      if (isNodeLost(node)) await this.writeReady(node, entry.revision, now);
      return {};
    }

    if (!isNodeLost(node)) {
      let since = this.absentSince.get(nodeName);
      if (since === undefined) {
        since = now;
        this.absentSince.set(nodeName, since);
      }
      const heartbeat = Date.parse(node.status?.lastHeartbeatTime ?? '');
      // A heartbeat time ahead of this clock (skew) counts as now, so it cannot postpone the verdict forever.
      const lastAlive = Number.isNaN(heartbeat) ? since : Math.max(since, Math.min(heartbeat, now));
      const remaining = lastAlive + this.gracePeriodMs - now;
      if (remaining > 0) return { requeueAfterMs: remaining };
      await this.writeLost(node, entry.revision, now, lastAlive);
    }
    await this.requeueJobs(nodeName);
    return {};
  }

  private async writeLost(node: Node, revision: number, now: number, lastAlive: number): Promise<void> {
    const message = `no lease at ${nodeLeaseKey(node.metadata.name)} since ${rfc3339(lastAlive)}; node lost after a grace period of ${this.gracePeriodMs / 1000}s`;
    await this.writeCondition(node, revision, { type: READY_CONDITION, status: 'False', reason: NODE_LOST_REASON, message, lastTransitionTime: rfc3339(now) });
    this.logger.warn('node lifecycle: node lost', { node: node.metadata.name, lastAlive: rfc3339(lastAlive) });
    this.recorder?.record(node, 'Warning', NODE_LOST_REASON, message);
  }

  private async writeReady(node: Node, revision: number, now: number): Promise<void> {
    const message = `lease ${nodeLeaseKey(node.metadata.name)} is held again`;
    await this.writeCondition(node, revision, { type: READY_CONDITION, status: 'True', reason: NODE_LEASE_RENEWED_REASON, message, lastTransitionTime: rfc3339(now) });
    this.logger.info('node lifecycle: node is back', { node: node.metadata.name });
    this.recorder?.record(node, 'Normal', NODE_LEASE_RENEWED_REASON, message);
  }

  private async writeCondition(node: Node, revision: number, condition: Condition): Promise<void> {
    const updated = structuredClone(node) as Node;
    const conditions = (updated.status?.conditions ?? []).filter((c) => c.type !== condition.type);
    updated.status = { ...updated.status, conditions: [...conditions, condition] };
    await this.nodeStorage.update(updated as StoredObject, revision);
  }

  /** Re-queues (or fails) every Scheduled/Running job bound to the lost node. */
  private async requeueJobs(nodeName: string): Promise<void> {
    const now = rfc3339(this.clock.now());
    const failures: unknown[] = [];
    for (const key of this.jobs.keys().sort()) {
      const entry = this.jobs.getEntry(key);
      if (entry === undefined || !isBoundActive(entry.object) || entry.object.status?.nodeName !== nodeName) continue;
      const updated = requeueAfterNodeLoss(entry.object, nodeName, now);
      try {
        await this.jobStorage.update(updated as StoredObject, entry.revision);
        this.logger.info('node lifecycle: job re-queued from a lost node', { job: key, node: nodeName, phase: updated.status?.phase });
        this.recorder?.record(updated, 'Warning', NODE_LOST_REASON, updated.status?.message ?? `node ${nodeName} was lost`);
        await this.recordLostAttempt(entry.object, updated);
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0) {
      throw new Error(`re-queueing ${failures.length} job(s) of lost node ${nodeName} failed`, { cause: failures[0] });
    }
  }

  /** Hands the attempt that the node loss ended to the attempt history (failures logged only). */
  private async recordLostAttempt(before: Job, after: Job): Promise<void> {
    const open = before.status?.recentAttempts?.at(-1);
    const closed = after.status?.recentAttempts?.at(-1);
    if (this.attempts === undefined || open === undefined || open.endTime !== undefined || closed?.endTime === undefined) return;
    try {
      await this.attempts.recordAttempt({
        namespace: after.metadata.namespace ?? 'default',
        name: after.metadata.name,
        jobUid: after.metadata.uid ?? '',
        attempt: closed.attempt,
        retrySeries: after.status?.retrySeries ?? 0,
        ...(closed.nodeName !== undefined ? { nodeName: closed.nodeName } : {}),
        ...(closed.startTime !== undefined ? { startTime: closed.startTime } : {}),
        endTime: closed.endTime,
        reason: closed.reason ?? NODE_LOST_REASON,
        ...(closed.message !== undefined ? { message: closed.message } : {}),
      });
    } catch (err) {
      this.logger.warn('node lifecycle: recording the lost attempt failed', { job: after.metadata.name, error: errorMessage(err) });
    }
  }
}


export interface NodeLifecycleControllerOptions extends NodeLifecycleOptions {
  /** Concurrent workers. Default 2. */
  readonly workers?: number;
  readonly queue?: WorkQueueOptions;
}

/** The node lifecycle reconciler and the Controller that drives it (run it leader-only). */
export interface NodeLifecycleParts {
  readonly lifecycle: NodeLifecycle;
  readonly controller: Controller;
}

/**
 * Wires a NodeLifecycle into a Controller keyed by node name: every node change, every lease
 * key change, and every change of a Scheduled/Running job (keyed by its nodeName) enqueues the node.
 */
export function newNodeLifecycleController(options: NodeLifecycleControllerOptions): NodeLifecycleParts {
  const lifecycle = new NodeLifecycle(options);
  const controller = new Controller({
    name: 'node-lifecycle',
    reconciler: lifecycle,
    workers: options.workers ?? 2,
    queue: options.queue ?? { clock: options.clock ?? systemClock },
    logger: options.logger,
  });
  controller.watch(options.nodes, (_key, node) => node.metadata.name);
  controller.watch(options.leases, (key) => {
    const name = key.slice(NODE_LEASES_PREFIX.length);
    return name.includes('/') ? undefined : name;
  });
  controller.watch(options.jobs, (_key, job) => (isBoundActive(job) ? job.status?.nodeName : undefined));
  return { lifecycle, controller };
}

/** An informer over every node lease key (add it to the Manager next to the job and node informers). */
export function newNodeLeaseInformer(store: Store, options: { clock?: Clock; logger?: Logger } = {}): Informer<NodeLease> {
  return new Informer<NodeLease>({ store, prefix: NODE_LEASES_PREFIX, decode: decodeNodeLease, name: 'node-leases', ...options });
}

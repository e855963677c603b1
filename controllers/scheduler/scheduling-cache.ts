// The scheduler's incremental view of the cluster, so that a bind costs O(nodes), not O(jobs).
//
// Contract:
// - SchedulingCache is fed every change of the job informer (observe(), called from the
//   informer's handlers, which see each key's changes in order and, after a relist, the
//   differences) and the scheduler's own assumed binds (assume/confirm/forget/prune). From them
//   it keeps, at all times:
//     * per node, the summed requests and the count of the jobs holding resources there, where a
//       job's claim is its assumed bind while one is recorded, else what the informer last said;
//     * the runnable pending jobs (isRunnable) by spec.priority, with the distinct priorities in
//       descending order, so "pending jobs of strictly higher priority" looks only at those;
//     * the runnable jobs marked Unschedulable (the ones a freed node or node change must wake).
// - An assumed bind counts until the informer has caught up with the bind's revision (prune);
//   a bind whose write failed is forgotten at once.
// - NodeCandidates keeps the nodes of the node informer sorted by name with their parsed
//   allocatable resources, rebuilt only when a node is added or removed.
// Nothing here writes anything; the methods are synchronous and O(1) per change (priorities:
// O(distinct priorities) when one appears or disappears).
import type { Job, Node } from '../../api/v1/index.js';
import {
  addAllocation,
  candidateNode,
  holdsResources,
  jobRequests,
  NO_ALLOCATION,
  type Allocation,
  type AllocationLookup,
  type CandidateNode,
  type Resources,
} from './placement.js';
import { isRunnable, UNSCHEDULABLE_REASON } from './job-state.js';

/** Resources a job holds on one node. */
interface Claim extends Resources {
  readonly nodeName: string;
}

/** A runnable pending job as the priority index knows it. */
export interface PendingJob {
  readonly key: string;
  readonly priority: number;
  readonly creationTimestamp: string;
}

interface AssumedBind {
  readonly claim: Claim;
  /** Revision of the bind write; Infinity while the write is in flight. */
  revision: number;
}

export class SchedulingCache implements AllocationLookup {
  /** Claims of the jobs the informer reports holding resources, by job key. */
  private readonly observedClaims = new Map<string, Claim>();
  /** Binds not yet seen by the informer, by job key (they override the observed claim). */
  private readonly assumed = new Map<string, AssumedBind>();
  /** Effective allocation per node (observed claims overlaid with assumed ones). */
  private readonly allocations = new Map<string, Allocation>();
  private readonly pending = new Map<string, PendingJob>();
  private readonly pendingByPriority = new Map<number, Set<string>>();
  /** The keys of pendingByPriority, highest first. */
  private priorities: number[] = [];
  private readonly unschedulable = new Set<string>();

  /** Records the informer's current object of `key` (undefined: deleted). */
  observe(key: string, job: Job | undefined): void {
    const claim = job !== undefined ? claimOf(job) : undefined;
    const before = this.effectiveClaim(key);
    if (claim) this.observedClaims.set(key, claim);
    else this.observedClaims.delete(key);
    if (!this.assumed.has(key)) this.moveClaim(before, claim);

    const runnable = job !== undefined && isRunnable(job);
    this.setPending(key, runnable ? pendingJob(key, job) : undefined);
    if (runnable && job.status?.reason === UNSCHEDULABLE_REASON) this.unschedulable.add(key);
    else this.unschedulable.delete(key);
  }

  /** Counts `bound` (a job with status.nodeName) as placed from now on, until confirmed and seen, or forgotten. */
  assume(key: string, bound: Job): void {
    const claim = claimOf(bound);
    if (claim === undefined) throw new TypeError(`SchedulingCache.assume: job ${key} must be Scheduled or Running with a status.nodeName`);
    const before = this.effectiveClaim(key);
    this.assumed.set(key, { claim, revision: Infinity });
    this.moveClaim(before, claim);
  }

  /** The bind of `key` was written at `revision`: it stops counting once the informer reached it. */
  confirm(key: string, revision: number): void {
    const bind = this.assumed.get(key);
    if (bind) bind.revision = revision;
  }

  /** Drops the assumed bind of `key` (its write failed, or the informer saw it): the observed claim counts again. */
  forget(key: string): void {
    const bind = this.assumed.get(key);
    if (bind === undefined) return;
    this.assumed.delete(key);
    this.moveClaim(bind.claim, this.observedClaims.get(key));
  }

  /** Forgets every assumed bind written at or before `informerRevision`. */
  prune(informerRevision: number): void {
    for (const [key, bind] of this.assumed) if (bind.revision <= informerRevision) this.forget(key);
  }

  isAssumed(key: string): boolean {
    return this.assumed.has(key);
  }

  assumedCount(): number {
    return this.assumed.size;
  }

  /** What is allocated on `nodeName` (undefined: nothing). */
  get(nodeName: string): Allocation | undefined {
    return this.allocations.get(nodeName);
  }

  /** Runnable pending jobs of strictly higher priority than `priority`, unsorted. */
  pendingAbove(priority: number): PendingJob[] {
    const above: PendingJob[] = [];
    for (const p of this.priorities) {
      if (p <= priority) break;
      for (const key of this.pendingByPriority.get(p) ?? []) {
        const job = this.pending.get(key);
        if (job) above.push(job);
      }
    }
    return above;
  }

  /** Keys of the runnable jobs last marked Unschedulable. */
  unschedulableKeys(): string[] {
    return [...this.unschedulable];
  }

  /** Every node's allocation (a copy; for tests and metrics). */
  allocationSnapshot(): Map<string, Allocation> {
    return new Map(this.allocations);
  }

  /** Every runnable pending job (a copy; for tests). */
  pendingSnapshot(): PendingJob[] {
    return [...this.pending.values()];
  }

  /** Distinct priorities of the runnable pending jobs, highest first (a copy; for tests). */
  prioritySnapshot(): number[] {
    return [...this.priorities];
  }

  private effectiveClaim(key: string): Claim | undefined {
    return this.assumed.get(key)?.claim ?? this.observedClaims.get(key);
  }

  private moveClaim(from: Claim | undefined, to: Claim | undefined): void {
    if (from === to) return;
    if (from) this.adjust(from, -1);
    if (to) this.adjust(to, 1);
  }

  private adjust(claim: Claim, sign: 1 | -1): void {
    const current = this.allocations.get(claim.nodeName) ?? NO_ALLOCATION;
    if (sign === 1) {
      this.allocations.set(claim.nodeName, addAllocation(current, claim));
      return;
    }
    const jobCount = current.jobCount - 1;
    if (jobCount <= 0) {
      this.allocations.delete(claim.nodeName);
      return;
    }
    this.allocations.set(claim.nodeName, {
      cpuMillis: current.cpuMillis - claim.cpuMillis,
      memoryBytes: current.memoryBytes - claim.memoryBytes,
      jobCount,
    });
  }

  private setPending(key: string, next: PendingJob | undefined): void {
    const old = this.pending.get(key);
    if (old !== undefined && old.priority !== next?.priority) {
      const bucket = this.pendingByPriority.get(old.priority);
      bucket?.delete(key);
      if (bucket?.size === 0) {
        this.pendingByPriority.delete(old.priority);
        this.priorities = this.priorities.filter((p) => p !== old.priority);
      }
    }
    if (next === undefined) {
      this.pending.delete(key);
      return;
    }
    this.pending.set(key, next);
    let bucket = this.pendingByPriority.get(next.priority);
    if (bucket === undefined) {
      bucket = new Set();
      this.pendingByPriority.set(next.priority, bucket);
      this.priorities = [...this.priorities, next.priority].sort((a, b) => b - a);
    }
    bucket.add(key);
  }
}

function claimOf(job: Job): Claim | undefined {
  const nodeName = job.status?.nodeName;
  if (nodeName === undefined || !holdsResources(job)) return undefined;
  const { cpuMillis, memoryBytes } = jobRequests(job);
  return { nodeName, cpuMillis, memoryBytes };
}

function pendingJob(key: string, job: Job): PendingJob {
  return { key, priority: job.spec.priority ?? 0, creationTimestamp: job.metadata.creationTimestamp ?? '' };
}

/**
 * The allocations of a SchedulingCache plus what a simulation placed on top (the cache itself
 * is not changed): placing the pending jobs of higher priority first, in memory only.
 */
export class AllocationOverlay implements AllocationLookup {
  private readonly added = new Map<string, Allocation>();

  constructor(private readonly base: AllocationLookup) {}

  get(nodeName: string): Allocation | undefined {
    return this.added.get(nodeName) ?? this.base.get(nodeName);
  }

  /** Counts one more job with `requests` on `nodeName`. */
  place(nodeName: string, requests: Resources): void {
    this.added.set(nodeName, addAllocation(this.get(nodeName), requests));
  }
}

/**
 * The nodes of the node informer as placement wants them: sorted by name, allocatable parsed.
 * A node update (a heartbeat) replaces the node in place; only adds and deletes re-sort.
 */
export class NodeCandidates {
  /** By store key. */
  private readonly byKey = new Map<string, CandidateNode>();
  /** By node name. */
  private readonly byName = new Map<string, CandidateNode>();
  /** Sorted by node name; undefined: to rebuild on the next list(). */
  private sorted: CandidateNode[] | undefined = [];
  /** Index in `sorted` by store key (valid while `sorted` is). */
  private readonly positions = new Map<string, number>();

  /** Records the informer's current object of `key` (undefined: deleted). */
  observe(key: string, node: Node | undefined): void {
    const old = this.byKey.get(key);
    if (old !== undefined && old.node.metadata.name !== node?.metadata.name) this.byName.delete(old.node.metadata.name);
    if (node === undefined) {
      if (this.byKey.delete(key)) this.sorted = undefined;
      return;
    }
    const candidate = candidateNode(node);
    this.byKey.set(key, candidate);
    this.byName.set(node.metadata.name, candidate);
    const position = this.positions.get(key);
    if (this.sorted !== undefined && old !== undefined && position !== undefined && old.node.metadata.name === node.metadata.name) {
      this.sorted[position] = candidate;
    } else {
      this.sorted = undefined;
    }
  }

  /** Every node, sorted by name (do not modify). */
  list(): readonly CandidateNode[] {
    if (this.sorted === undefined) {
      const entries = [...this.byKey].sort(([, a], [, b]) => compare(a.node.metadata.name, b.node.metadata.name));
      this.positions.clear();
      entries.forEach(([key], i) => this.positions.set(key, i));
      this.sorted = entries.map(([, candidate]) => candidate);
    }
    return this.sorted;
  }

  /** The node named `name`, if known. */
  get(name: string): CandidateNode | undefined {
    return this.byName.get(name);
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

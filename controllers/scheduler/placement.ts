// Placement: which nodes can take a job (filter) and which of them is best (score). Pure
// functions of their arguments, so the scheduler's decisions are table-tested here.
import { parseCpuMillis, parseMemoryBytes } from '../../api/quantity.js';
import type { Job, Node } from '../../api/v1/index.js';

/** CPU a job is charged when it declares none: 100 millicores. */
export const DEFAULT_CPU_MILLIS = 100;
/** Memory a job is charged when it declares none: 64 MiB. */
export const DEFAULT_MEMORY_BYTES = 64 * 2 ** 20;

export interface Resources {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
}

/** Why a node cannot take a job (the first filter that failed). */
export type RejectReason =
  | { readonly type: 'NotReady' }
  | { readonly type: 'Unschedulable' }
  | { readonly type: 'MissingDriver'; readonly driver: string }
  | { readonly type: 'NodeSelectorMismatch'; readonly key: string }
  | { readonly type: 'InsufficientCpu'; readonly requestedMillis: number; readonly freeMillis: number }
  | { readonly type: 'InsufficientMemory'; readonly requestedBytes: number; readonly freeBytes: number };

export interface Rejection {
  readonly nodeName: string;
  readonly reason: RejectReason;
}

/**
 * What is allocated on a node: the summed requests of the jobs holding resources there (see
 * holdsResources) and how many they are. The scheduler keeps these sums incrementally, so
 * placement never walks job lists.
 */
export interface Allocation extends Resources {
  readonly jobCount: number;
}

/** Nothing allocated (a node no job holds resources on). */
export const NO_ALLOCATION: Allocation = Object.freeze({ cpuMillis: 0, memoryBytes: 0, jobCount: 0 });

/** Allocation by node name (a Map, or an overlay that answers get()). An absent node has nothing allocated. */
export interface AllocationLookup {
  get(nodeName: string): Allocation | undefined;
}

/** A node with what every placement asks of it computed once (per node change, not per job placed). */
export interface CandidateNode {
  readonly node: Node;
  readonly allocatable: Resources;
  /** isNodeReady(node). */
  readonly ready: boolean;
  /** spec.unschedulable (cordoned). */
  readonly cordoned: boolean;
}

/** A node that can take the job, with what is already placed on it. */
export interface FeasibleNode {
  readonly node: Node;
  readonly allocatable: Resources;
  /** Requests of the unfinished jobs placed there (not counting the job being placed). */
  readonly used: Resources;
  readonly jobCount: number;
}

export interface FilterResult {
  /** In the order of `nodes`. */
  readonly feasible: FeasibleNode[];
  readonly rejected: Rejection[];
}

/** The job's requests; an absent (or unparsable, which admission prevents) value gets the default. */
export function jobRequests(job: Job): Resources {
  const cpu = job.spec.resources?.cpu;
  const memory = job.spec.resources?.memory;
  return {
    cpuMillis: (cpu === undefined ? undefined : parseCpuMillis(cpu)) ?? DEFAULT_CPU_MILLIS,
    memoryBytes: (memory === undefined ? undefined : parseMemoryBytes(memory)) ?? DEFAULT_MEMORY_BYTES,
  };
}

/** True while a job holds resources on its node (Scheduled or Running). */
export function holdsResources(job: Job): boolean {
  const phase = job.status?.phase;
  return (phase === 'Scheduled' || phase === 'Running') && job.status?.nodeName !== undefined;
}

/** status.allocatable, else status.capacity; a missing or unparsable value counts as 0 (nothing fits). */
export function nodeAllocatable(node: Node): Resources {
  const cpu = node.status?.allocatable?.cpu ?? node.status?.capacity?.cpu;
  const memory = node.status?.allocatable?.memory ?? node.status?.capacity?.memory;
  return {
    cpuMillis: (cpu === undefined ? undefined : parseCpuMillis(cpu)) ?? 0,
    memoryBytes: (memory === undefined ? undefined : parseMemoryBytes(memory)) ?? 0,
  };
}

export function isNodeReady(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

export function candidateNode(node: Node): CandidateNode {
  return { node, allocatable: nodeAllocatable(node), ready: isNodeReady(node), cordoned: node.spec?.unschedulable === true };
}

/** Adds `requests` (one more job) to `allocation`. */
export function addAllocation(allocation: Allocation | undefined, requests: Resources): Allocation {
  const base = allocation ?? NO_ALLOCATION;
  return {
    cpuMillis: base.cpuMillis + requests.cpuMillis,
    memoryBytes: base.memoryBytes + requests.memoryBytes,
    jobCount: base.jobCount + 1,
  };
}

/** The allocation of every node from a list of jobs (those holding resources count); for tests and one-off checks. */
export function allocationsByNode(jobs: Iterable<Job>): Map<string, Allocation> {
  const allocations = new Map<string, Allocation>();
  for (const job of jobs) {
    const nodeName = job.status?.nodeName;
    if (nodeName !== undefined && holdsResources(job)) allocations.set(nodeName, addAllocation(allocations.get(nodeName), jobRequests(job)));
  }
  return allocations;
}

/**
 * Splits `nodes` into those that can take `job` and those that cannot (with the first failing
 * check: Ready, not unschedulable, driver, nodeSelector, cpu, memory). Resources count what
 * `allocations` says is held on each node (by node name). O(nodes), no job lists.
 */
export function filterNodes(job: Job, nodes: readonly CandidateNode[], allocations: AllocationLookup): FilterResult {
  const requests = jobRequests(job);
  const selector = Object.entries(job.spec.nodeSelector ?? {}).sort(([a], [b]) => compare(a, b));
  const feasible: FeasibleNode[] = [];
  const rejected: Rejection[] = [];
  for (const candidate of nodes) {
    const { node, allocatable } = candidate;
    const allocation = allocations.get(node.metadata.name) ?? NO_ALLOCATION;
    const reason = rejectReason(job, candidate, selector, requests, allocation);
    if (reason) rejected.push({ nodeName: node.metadata.name, reason });
    else feasible.push({ node, allocatable, used: { cpuMillis: allocation.cpuMillis, memoryBytes: allocation.memoryBytes }, jobCount: allocation.jobCount });
  }
  return { feasible, rejected };
}

function rejectReason(
  job: Job,
  { node, allocatable, ready, cordoned }: CandidateNode,
  selector: readonly [string, string][],
  requests: Resources,
  used: Resources,
): RejectReason | undefined {
  if (!ready) return { type: 'NotReady' };
  if (cordoned) return { type: 'Unschedulable' };
  if (!(node.status?.drivers ?? []).includes(job.spec.driver)) return { type: 'MissingDriver', driver: job.spec.driver };
  const labels = node.metadata.labels ?? {};
  for (const [key, value] of selector) {
    if (labels[key] !== value) return { type: 'NodeSelectorMismatch', key };
  }
  const freeMillis = allocatable.cpuMillis - used.cpuMillis;
  if (requests.cpuMillis > freeMillis) {
    return { type: 'InsufficientCpu', requestedMillis: requests.cpuMillis, freeMillis: Math.max(0, freeMillis) };
  }
  const freeBytes = allocatable.memoryBytes - used.memoryBytes;
  if (requests.memoryBytes > freeBytes) {
    return { type: 'InsufficientMemory', requestedBytes: requests.memoryBytes, freeBytes: Math.max(0, freeBytes) };
  }
  return undefined;
}

/**
 * Orders feasible nodes for spread, best first: the lowest allocated fraction after placing the
 * job (mean of cpu and memory, as kube-scheduler's LeastAllocated), then fewest jobs, then name.
 */
export function scoreNodes(job: Job, feasible: readonly FeasibleNode[]): FeasibleNode[] {
  const requests = jobRequests(job);
  return feasible
    .map((n) => ({ n, f: allocatedFraction(n, requests) }))
    .sort((a, b) => better(a, b))
    .map(({ n }) => n);
}

/** The first node scoreNodes would return, in one pass (no sort); undefined when none is feasible. */
export function bestNode(job: Job, feasible: readonly FeasibleNode[]): FeasibleNode | undefined {
  const requests = jobRequests(job);
  let best: { n: FeasibleNode; f: number } | undefined;
  for (const n of feasible) {
    const scored = { n, f: allocatedFraction(n, requests) };
    if (best === undefined || better(scored, best) < 0) best = scored;
  }
  return best?.n;
}

function allocatedFraction(n: FeasibleNode, requests: Resources): number {
  return (ratio(n.used.cpuMillis + requests.cpuMillis, n.allocatable.cpuMillis) + ratio(n.used.memoryBytes + requests.memoryBytes, n.allocatable.memoryBytes)) / 2;
}

/** Negative when `a` is the better node (see scoreNodes). */
function better(a: { n: FeasibleNode; f: number }, b: { n: FeasibleNode; f: number }): number {
  return a.f - b.f || a.n.jobCount - b.n.jobCount || compare(a.n.node.metadata.name, b.n.node.metadata.name);
}

function ratio(part: number, whole: number): number {
  return whole > 0 ? part / whole : 1;
}

/** The human-readable form of one reason, without the node count (e.g. `missing driver "podman"`). */
export function reasonText(reason: RejectReason): string {
  switch (reason.type) {
    case 'NotReady':
      return 'not ready';
    case 'Unschedulable':
      return 'were unschedulable';
    case 'MissingDriver':
      return `missing driver "${reason.driver}"`;
    case 'NodeSelectorMismatch':
      return `didn't match node selector "${reason.key}"`;
    case 'InsufficientCpu':
      return 'had insufficient cpu';
    case 'InsufficientMemory':
      return 'had insufficient memory';
  }
}

/**
 * Kubernetes-style summary of why no node fits, e.g.
 * `0/3 nodes are available: 1 node(s) not ready, 2 node(s) missing driver "podman".`
 * Groups are sorted as kube-scheduler sorts them (by their text). Amounts are left out on purpose:
 * the message then changes only when the reasons do, so it is not rewritten on every change of load.
 */
export function unschedulableMessage(rejected: readonly Rejection[]): string {
  if (rejected.length === 0) return '0/0 nodes are available: no nodes registered.';
  const counts = new Map<string, number>();
  for (const { reason } of rejected) {
    const text = reasonText(reason);
    counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  const parts = [...counts].map(([text, n]) => `${n} node(s) ${text}`).sort(compare);
  return `0/${rejected.length} nodes are available: ${parts.join(', ')}.`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

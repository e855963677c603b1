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

/**
 * Splits `nodes` into those that can take `job` and those that cannot (with the first failing
 * check: Ready, not unschedulable, driver, nodeSelector, cpu, memory). Resources count the
 * requests of the jobs in `placedJobsByNode` (by node name) that are Scheduled or Running.
 */
export function filterNodes(
  job: Job,
  nodes: readonly Node[],
  placedJobsByNode: ReadonlyMap<string, readonly Job[]>,
): FilterResult {
  const requests = jobRequests(job);
  const feasible: FeasibleNode[] = [];
  const rejected: Rejection[] = [];
  for (const node of nodes) {
    const placed = (placedJobsByNode.get(node.metadata.name) ?? []).filter(holdsResources);
    const allocatable = nodeAllocatable(node);
    const used = sumRequests(placed);
    const reason = rejectReason(job, node, requests, allocatable, used);
    if (reason) rejected.push({ nodeName: node.metadata.name, reason });
    else feasible.push({ node, allocatable, used, jobCount: placed.length });
  }
  return { feasible, rejected };
}

function rejectReason(job: Job, node: Node, requests: Resources, allocatable: Resources, used: Resources): RejectReason | undefined {
  if (!isNodeReady(node)) return { type: 'NotReady' };
  if (node.spec?.unschedulable === true) return { type: 'Unschedulable' };
  if (!(node.status?.drivers ?? []).includes(job.spec.driver)) return { type: 'MissingDriver', driver: job.spec.driver };
  const labels = node.metadata.labels ?? {};
  for (const [key, value] of Object.entries(job.spec.nodeSelector ?? {}).sort(([a], [b]) => compare(a, b))) {
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

function sumRequests(jobs: readonly Job[]): Resources {
  let cpuMillis = 0;
  let memoryBytes = 0;
  for (const job of jobs) {
    const r = jobRequests(job);
    cpuMillis += r.cpuMillis;
    memoryBytes += r.memoryBytes;
  }
  return { cpuMillis, memoryBytes };
}

/**
 * Orders feasible nodes for spread, best first: the lowest allocated fraction after placing the
 * job (mean of cpu and memory, as kube-scheduler's LeastAllocated), then fewest jobs, then name.
 */
export function scoreNodes(job: Job, feasible: readonly FeasibleNode[]): FeasibleNode[] {
  const requests = jobRequests(job);
  const fraction = (n: FeasibleNode): number =>
    (ratio(n.used.cpuMillis + requests.cpuMillis, n.allocatable.cpuMillis) +
      ratio(n.used.memoryBytes + requests.memoryBytes, n.allocatable.memoryBytes)) /
    2;
  return feasible
    .map((n) => ({ n, f: fraction(n) }))
    .sort((a, b) => a.f - b.f || a.n.jobCount - b.n.jobCount || compare(a.n.node.metadata.name, b.n.node.metadata.name))
    .map(({ n }) => n);
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

// The dashboard's read model: /dashboard/v1/{summary,jobs,nodes[/{name}]}, answered from the
// shared informer caches of the control plane (never by listing the store per request).
//
// Contract:
// - Items are Job/Node objects exactly as GET on the object answers them (resourceVersion is
//   the cache entry's modRevision, as ObjectStorage.decode sets it). Each answer's
//   resourceVersion is the revision the cache had fully applied when the answer was computed
//   (one synchronous pass): a watch from it misses no later change.
// - Until the caches exist and have synced: 503 ServiceUnavailable. GET/HEAD only (else 405);
//   errors are Kubernetes Status objects; 400s name the query parameter and the rule.
// - Every answer, errors included, carries Cache-Control: no-store.
// - The query logic (filter, sort, page, facets, summary, node allocation) is pure and exported.
import express, { type Request, type Response, type Router } from 'express';
import { JOB_PHASES, nodeKind, type Job, type JobPhase, type Node } from '../api/v1/index.js';
import { parseCpuMillis, parseMemoryBytes } from '../api/quantity.js';
import type { CacheEntry } from '../controllers/runtime/informer.js';
import { nodeLeaseKey } from '../controllers/nodes/node-lifecycle.js';
import { allocationsByNode, isNodeReady, nodeAllocatable, NO_ALLOCATION, type Allocation, type Resources } from '../controllers/scheduler/placement.js';
import { NODES_PREFIX } from '../controllers/scheduler/scheduler.js';
import { inDeadLetterQueue } from './job-retry.js';
import { withResourceVersion, type StoredObject } from './object-storage.js';
import { matchesLabels, parseLabelSelector, type LabelRequirement } from './selectors.js';
import { badField, methodNotAllowed, notFound, serviceUnavailable } from './status.js';

/** What the dashboard reads of an informer (an Informer satisfies it). */
export interface CacheView<T> {
  hasSynced(): boolean;
  /** The store revision the cache reflects: every change up to it has been applied. */
  revision(): number;
  keys(): string[];
  getEntry(key: string): CacheEntry<T> | undefined;
}

/** The control plane's shared caches; leases by key `nodeLeaseKey(name)`, whose presence means "held". */
export interface DashboardCaches {
  readonly jobs: CacheView<Job>;
  readonly nodes: CacheView<Node>;
  readonly leases: CacheView<unknown>;
}

export interface DashboardRoutesDeps {
  /** The caches, or undefined while the control plane is not running (answers 503). */
  readonly caches: () => DashboardCaches | undefined;
}

/** A cache's entries and the revision they reflect, read in one synchronous step. */
export interface Snapshot<T> {
  readonly revision: number;
  readonly entries: readonly CacheEntry<T>[];
}

export function snapshotOf<T>(cache: CacheView<T>): Snapshot<T> {
  const revision = cache.revision();
  const entries: CacheEntry<T>[] = [];
  for (const key of cache.keys()) {
    const entry = cache.getEntry(key);
    if (entry !== undefined) entries.push(entry);
  }
  return { revision, entries };
}

/** The object as GET answers it: the cached (frozen) object with resourceVersion set; the rest is shared, not copied. */
export function asServed<T>(entry: CacheEntry<T>): T {
  return withResourceVersion(entry.object as unknown as StoredObject, entry.revision) as unknown as T;
}

// --- jobs: query parsing ---

export const JOB_SORTS = ['-creationTimestamp', 'creationTimestamp', 'name', '-name'] as const;
export type JobSort = (typeof JOB_SORTS)[number];
export const DEFAULT_JOB_LIMIT = 50;
export const MAX_JOB_LIMIT = 500;
/** Longest `q` (the longest name a job can have). */
export const MAX_NAME_QUERY = 253;

export interface JobQuery {
  readonly namespace?: string;
  readonly phase?: JobPhase;
  readonly driver?: string;
  readonly node?: string;
  readonly labels: readonly LabelRequirement[];
  /** Lower-cased substring of metadata.name. */
  readonly nameContains?: string;
  /** Jobs whose spec.dependsOn names this job (of `namespace`). */
  readonly dependsOn?: string;
  readonly sort: JobSort;
  readonly limit: number;
  readonly offset: number;
}

/** The single string value of a query parameter ('' and absent: undefined); repeated: the first. */
function single(query: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const raw = query[name];
  const value = Array.isArray(raw) ? (raw as unknown[])[0] : raw;
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw badField(name, `${name}: Invalid value: must be a single string`);
  return value;
}

function integerParam(query: Readonly<Record<string, unknown>>, name: string, min: number, max: number, fallback: number): number {
  const text = single(query, name);
  if (text === undefined) return fallback;
  const rule = max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`;
  const value = /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw badField(name, `${name}: Invalid value: ${JSON.stringify(text)}: ${rule}`);
  return value;
}

function oneOf<V extends string>(name: string, text: string | undefined, allowed: readonly V[]): V | undefined {
  if (text === undefined) return undefined;
  if ((allowed as readonly string[]).includes(text)) return text as V;
  const supported = allowed.map((v) => JSON.stringify(v)).join(', ');
  throw badField(name, `${name}: Unsupported value: ${JSON.stringify(text)}: supported values: ${supported}`, 'FieldValueNotSupported');
}

/** Parses the query of /dashboard/v1/jobs (express req.query); throws 400 naming the parameter. Unknown parameters are ignored. */
export function parseJobQuery(query: Readonly<Record<string, unknown>>): JobQuery {
  const namespace = single(query, 'namespace');
  const q = single(query, 'q')?.trim();
  if (q !== undefined && q.length > MAX_NAME_QUERY) {
    throw badField('q', `q: Too long: may not be more than ${MAX_NAME_QUERY} characters`, 'FieldValueTooLong');
  }
  const dependsOn = single(query, 'dependsOn');
  if (dependsOn !== undefined && namespace === undefined) {
    throw badField('namespace', 'namespace: Required value: dependsOn needs the namespace of the job it names', 'FieldValueRequired');
  }
  const labelSelector = single(query, 'labelSelector');
  return {
    namespace,
    phase: oneOf('phase', single(query, 'phase'), JOB_PHASES),
    driver: single(query, 'driver'),
    node: single(query, 'node'),
    labels: labelSelector === undefined ? [] : parseLabelSelector(labelSelector),
    nameContains: q === undefined || q === '' ? undefined : q.toLowerCase(),
    dependsOn,
    sort: oneOf('sort', single(query, 'sort'), JOB_SORTS) ?? '-creationTimestamp',
    limit: integerParam(query, 'limit', 1, MAX_JOB_LIMIT, DEFAULT_JOB_LIMIT),
    offset: integerParam(query, 'offset', 0, Number.MAX_SAFE_INTEGER, 0),
  };
}

// --- jobs: filter, sort, page ---

/** A job's phase; a job without one (just created) is Pending. */
export function phaseOf(job: Job): JobPhase {
  return job.status?.phase ?? 'Pending';
}

export function jobMatches(job: Job, query: JobQuery): boolean {
  const { metadata, spec, status } = job;
  if (query.namespace !== undefined && (metadata.namespace ?? '') !== query.namespace) return false;
  if (query.phase !== undefined && phaseOf(job) !== query.phase) return false;
  if (query.driver !== undefined && spec.driver !== query.driver) return false;
  if (query.node !== undefined && status?.nodeName !== query.node) return false;
  if (query.nameContains !== undefined && !metadata.name.toLowerCase().includes(query.nameContains)) return false;
  if (query.dependsOn !== undefined && !(Array.isArray(spec.dependsOn) && spec.dependsOn.includes(query.dependsOn))) return false;
  return query.labels.length === 0 || matchesLabels(query.labels, metadata.labels);
}

/** Milliseconds of an RFC 3339 timestamp; 0 when absent or unparsable (sorts as the oldest). */
function timeOf(timestamp: string | undefined): number {
  const ms = timestamp === undefined ? NaN : Date.parse(timestamp);
  return Number.isFinite(ms) ? ms : 0;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Namespace, then name: the tie-breaker of every order (so pages are deterministic). */
function compareIdentity(a: Job, b: Job): number {
  return compareText(a.metadata.namespace ?? '', b.metadata.namespace ?? '') || compareText(a.metadata.name, b.metadata.name);
}

interface Row {
  readonly entry: CacheEntry<Job>;
  readonly time: number;
}

/** A descending sort is the exact reverse of its ascending one, ties included (same-second creations: last name first). */
function rowComparator(sort: JobSort): (a: Row, b: Row) => number {
  const tie = (a: Row, b: Row): number => compareIdentity(a.entry.object, b.entry.object);
  switch (sort) {
    case '-creationTimestamp':
      return (a, b) => b.time - a.time || tie(b, a);
    case 'creationTimestamp':
      return (a, b) => a.time - b.time || tie(a, b);
    case 'name':
      return (a, b) => compareText(a.entry.object.metadata.name, b.entry.object.metadata.name) || tie(a, b);
    case '-name':
      return (a, b) => compareText(b.entry.object.metadata.name, a.entry.object.metadata.name) || tie(b, a);
  }
}

export interface JobFacets {
  readonly namespaces: string[];
  readonly drivers: string[];
  readonly nodes: string[];
}

export interface JobsPage {
  readonly resourceVersion: string;
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
  readonly items: Job[];
  readonly facets: JobFacets;
}

function sorted(values: Set<string>): string[] {
  return [...values].sort(compareText);
}

/** One pass over every job (matches and facets), then a sort of the matches; only the page is materialized. */
export function queryJobs(jobs: Snapshot<Job>, query: JobQuery): JobsPage {
  const namespaces = new Set<string>();
  const drivers = new Set<string>();
  const nodes = new Set<string>();
  const rows: Row[] = [];
  for (const entry of jobs.entries) {
    const job = entry.object;
    namespaces.add(job.metadata.namespace ?? '');
    if (typeof job.spec.driver === 'string') drivers.add(job.spec.driver);
    if (job.status?.nodeName !== undefined) nodes.add(job.status.nodeName);
    if (jobMatches(job, query)) rows.push({ entry, time: timeOf(job.metadata.creationTimestamp) });
  }
  rows.sort(rowComparator(query.sort));
  return {
    resourceVersion: String(jobs.revision),
    total: rows.length,
    offset: query.offset,
    limit: query.limit,
    items: rows.slice(query.offset, query.offset + query.limit).map((row) => asServed(row.entry)),
    facets: { namespaces: sorted(namespaces), drivers: sorted(drivers), nodes: sorted(nodes) },
  };
}

// --- summary ---

export const RECENT_FAILURES = 10;

export interface DashboardSummary {
  readonly jobsResourceVersion: string;
  readonly nodesResourceVersion: string;
  readonly jobs: { readonly total: number; readonly byPhase: Record<JobPhase, number> };
  /** Jobs in the dead-letter queue (phase Failed). */
  readonly deadLetter: number;
  readonly nodes: { readonly total: number; readonly ready: number; readonly notReady: number };
  /** At most RECENT_FAILURES Failed jobs, newest status.completionTime (else creationTimestamp) first. */
  readonly recentFailures: Job[];
}

export function summarize(jobs: Snapshot<Job>, nodes: Snapshot<Node>): DashboardSummary {
  const byPhase = Object.fromEntries(JOB_PHASES.map((phase) => [phase, 0])) as Record<JobPhase, number>;
  let deadLetter = 0;
  const failed: Row[] = [];
  for (const entry of jobs.entries) {
    const job = entry.object;
    const phase = phaseOf(job);
    if (Object.hasOwn(byPhase, phase)) byPhase[phase]++;
    if (inDeadLetterQueue(job.status)) deadLetter++;
    if (phase === 'Failed') failed.push({ entry, time: timeOf(job.status?.completionTime ?? job.metadata.creationTimestamp) });
  }
  failed.sort(rowComparator('-creationTimestamp')); // newest `time` first, then namespace and name
  const ready = nodes.entries.filter((entry) => isNodeReady(entry.object)).length;
  return {
    jobsResourceVersion: String(jobs.revision),
    nodesResourceVersion: String(nodes.revision),
    jobs: { total: jobs.entries.length, byPhase },
    deadLetter,
    nodes: { total: nodes.entries.length, ready, notReady: nodes.entries.length - ready },
    recentFailures: failed.slice(0, RECENT_FAILURES).map((row) => asServed(row.entry)),
  };
}

// --- nodes ---

export interface NodeItem {
  readonly node: Node;
  /** The Ready condition is True. */
  readonly ready: boolean;
  /** The node's agent holds its lease (the key exists). */
  readonly leaseHeld: boolean;
  readonly capacity: Resources;
  /** status.allocatable, else status.capacity (what the scheduler places against). */
  readonly allocatable: Resources;
  /** Requests of the jobs bound to the node in phase Scheduled or Running. */
  readonly allocated: { readonly cpuMillis: number; readonly memoryBytes: number; readonly jobs: number };
}

export interface NodesPage {
  readonly resourceVersion: string;
  readonly items: NodeItem[];
}

function capacityOf(node: Node): Resources {
  const cpu = node.status?.capacity?.cpu;
  const memory = node.status?.capacity?.memory;
  return {
    cpuMillis: (cpu === undefined ? undefined : parseCpuMillis(cpu)) ?? 0,
    memoryBytes: (memory === undefined ? undefined : parseMemoryBytes(memory)) ?? 0,
  };
}

export function nodeItem(entry: CacheEntry<Node>, allocation: Allocation | undefined, leaseHeld: boolean): NodeItem {
  const node = entry.object;
  const { cpuMillis, memoryBytes, jobCount } = allocation ?? NO_ALLOCATION;
  return {
    node: asServed(entry),
    ready: isNodeReady(node),
    leaseHeld,
    capacity: capacityOf(node),
    allocatable: nodeAllocatable(node),
    allocated: { cpuMillis, memoryBytes, jobs: jobCount },
  };
}

/** Every node, sorted by name, with what the scheduler's arithmetic says is allocated on it. */
export function nodeItems(nodes: Snapshot<Node>, jobs: Snapshot<Job>, leaseHeld: (nodeName: string) => boolean): NodesPage {
  const allocations = allocationsByNode(jobs.entries.map((entry) => entry.object));
  const items = [...nodes.entries]
    .sort((a, b) => compareText(a.object.metadata.name, b.object.metadata.name))
    .map((entry) => nodeItem(entry, allocations.get(entry.object.metadata.name), leaseHeld(entry.object.metadata.name)));
  return { resourceVersion: String(nodes.revision), items };
}

// --- HTTP ---

/** Express router of /dashboard/v1/*; mount after authentication and authorization. */
export function dashboardRoutes(deps: DashboardRoutesDeps): Router {
  const router = express.Router();

  /** The synced caches, or 503; sets no-store first so that errors carry it too. */
  const begin = (req: Request, res: Response): DashboardCaches => {
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method);
    const caches = deps.caches();
    if (caches === undefined) throw serviceUnavailable('the dashboard is not available yet: the control plane is starting');
    if (!caches.jobs.hasSynced() || !caches.nodes.hasSynced() || !caches.leases.hasSynced()) {
      throw serviceUnavailable('the dashboard is not available yet: the caches have not synced');
    }
    return caches;
  };
  const leaseHeld = (caches: DashboardCaches) => (nodeName: string) => caches.leases.getEntry(nodeLeaseKey(nodeName)) !== undefined;

  router.all('/dashboard/v1/summary', (req: Request, res: Response) => {
    const caches = begin(req, res);
    res.status(200).json(summarize(snapshotOf(caches.jobs), snapshotOf(caches.nodes)));
  });

  router.all('/dashboard/v1/jobs', (req: Request, res: Response) => {
    const caches = begin(req, res);
    const query = parseJobQuery(req.query as Record<string, unknown>);
    res.status(200).json(queryJobs(snapshotOf(caches.jobs), query));
  });

  router.all('/dashboard/v1/nodes', (req: Request, res: Response) => {
    const caches = begin(req, res);
    res.status(200).json(nodeItems(snapshotOf(caches.nodes), snapshotOf(caches.jobs), leaseHeld(caches)));
  });

  router.all('/dashboard/v1/nodes/:name', (req: Request, res: Response) => {
    const caches = begin(req, res);
    const name = String(req.params.name);
    const entry = caches.nodes.getEntry(`${NODES_PREFIX}${name}`);
    if (entry === undefined) throw notFound(nodeKind, name);
    const jobs = snapshotOf(caches.jobs).entries.map((e) => e.object);
    const allocation = allocationsByNode(jobs.filter((job) => job.status?.nodeName === name)).get(name);
    res.status(200).json(nodeItem(entry, allocation, leaseHeld(caches)(name)));
  });

  return router;
}

// The control plane's Prometheus metrics: one prom-client Registry per server (never the global
// default registry), with Node's process metrics and every `openscheduler_*` family. It
// implements the hooks the other packages report through (they import no metrics library):
// the API request middleware, the store decorator, the controller runtime and the scheduler.
// Cluster state (jobs, nodes, agents, leadership) is read from a ClusterStateSource at scrape
// time, never kept twice.
//
// Label values are bounded: routes and verbs come from apiserver/api-metrics.ts (templates, never
// raw paths or object names); node names appear only in the per-node capacity families.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parseCpuMillis, parseMemoryBytes } from '../api/quantity.js';
import type { Job, Node } from '../api/v1/index.js';
import type { ApiServerMetrics } from '../apiserver/api-metrics.js';
import { inDeadLetterQueue } from '../apiserver/job-retry.js';
import type { ControllerMetrics } from '../controllers/runtime/metrics.js';
import type { Allocation } from '../controllers/scheduler/placement.js';
import { isNodeReady } from '../controllers/scheduler/placement.js';
import type { SchedulerMetrics } from '../controllers/scheduler/scheduler.js';
import type { StoreMetrics, StoreOperation, StoreResult } from '../store/metered-store.js';

/** What the scrape-time collectors read: the control plane's shared caches. */
export interface ClusterStateSource {
  /** Every cached Job. */
  jobs(): Iterable<Job>;
  /** Every cached Node. */
  nodes(): Iterable<Node>;
  /** What the scheduler counts as allocated per node (assumed binds included). */
  allocations(): ReadonlyMap<string, Allocation>;
  /** Nodes with an assignment watch open on this server. */
  connectedAgents(): number;
  /** Whether this process runs the controllers now. */
  isLeader(): boolean;
}

/** The phases every Job may be in (each is reported, 0 included). */
export const JOB_PHASES = ['Pending', 'Scheduled', 'Running', 'Succeeded', 'Failed'] as const;

/** Request durations: 5 ms to 1 min. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Store calls: 0.5 ms to 10 s. */
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Reconciles: 1 ms to 1 min. */
const RECONCILE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Scheduling latency: 5 ms to 10 min (a job may wait for capacity). */
const SCHEDULING_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export interface ServerMetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC). Default true. */
  readonly processMetrics?: boolean;
}

export class ServerMetrics implements ApiServerMetrics, StoreMetrics, ControllerMetrics, SchedulerMetrics {
  readonly registry = new Registry();
  readonly contentType: string = this.registry.contentType;
  private readonly requests: Counter<'route' | 'verb' | 'code'>;
  private readonly requestDuration: Histogram<'route' | 'verb'>;
  private readonly storeDuration: Histogram<'operation' | 'result'>;
  private readonly storeWatchesOpen: Gauge;
  private readonly storeWatchesEnded: Counter<'result'>;
  private readonly reconcileDuration: Histogram<'controller'>;
  private readonly reconcileErrors: Counter<'controller'>;
  private readonly schedulingLatency: Histogram;
  private readonly auditWriteErrors: Counter;
  /** controller -> depth readers (one per running queue; normally one). */
  private readonly queues = new Map<string, Set<() => number>>();
  private cluster: ClusterStateSource | undefined;

  constructor(options: ServerMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    this.requests = new Counter({
      name: 'openscheduler_api_requests_total',
      help: 'API requests by route template, verb and HTTP status code (401s included).',
      labelNames: ['route', 'verb', 'code'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'openscheduler_api_request_duration_seconds',
      help: 'API request duration by route template and verb; watches and log follows are not observed.',
      labelNames: ['route', 'verb'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.storeDuration = new Histogram({
      name: 'openscheduler_store_operation_duration_seconds',
      help: 'Store call duration by operation and result.',
      labelNames: ['operation', 'result'],
      buckets: STORE_BUCKETS,
      registers,
    });
    this.storeWatchesOpen = new Gauge({ name: 'openscheduler_store_watches_open', help: 'Store watches being iterated now.', registers });
    this.storeWatchesEnded = new Counter({
      name: 'openscheduler_store_watches_ended_total',
      help: 'Store watches that ended, by result (ok: done or stopped by their consumer).',
      labelNames: ['result'],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'openscheduler_reconcile_duration_seconds',
      help: 'Reconcile duration by controller.',
      labelNames: ['controller'],
      buckets: RECONCILE_BUCKETS,
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'openscheduler_reconcile_errors_total',
      help: 'Reconciles that failed (retried with backoff, or terminal), by controller.',
      labelNames: ['controller'],
      registers,
    });
    const queues = this.queues;
    new Gauge({
      name: 'openscheduler_workqueue_depth',
      help: 'Keys waiting in a controller work queue (running controllers only).',
      labelNames: ['controller'],
      registers,
      collect() {
        this.reset();
        for (const [controller, readers] of queues) {
          let depth = 0;
          for (const read of readers) depth += read();
          this.set({ controller }, depth);
        }
      },
    });
    this.schedulingLatency = new Histogram({
      name: 'openscheduler_scheduling_latency_seconds',
      help: 'Time from a job becoming schedulable (as this server saw it) to its bind to a node.',
      buckets: SCHEDULING_BUCKETS,
      registers,
    });
    this.auditWriteErrors = new Counter({
      name: 'openscheduler_audit_write_errors_total',
      help: 'Audit records that could not be written (the request was answered anyway; see the server log).',
      registers,
    });
    this.clusterCollectors(registers);
  }

  /** The caches the scrape-time families read; undefined (before start, after close): they report nothing. */
  setClusterState(source: ClusterStateSource | undefined): void {
    this.cluster = source;
  }

  /** The exposition text of every family. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  observeRequest(route: string, verb: string, code: number, seconds: number | undefined): void {
    this.requests.inc({ route, verb, code: String(code) });
    if (seconds !== undefined) this.requestDuration.observe({ route, verb }, seconds);
  }

  auditWriteFailed(): void {
    this.auditWriteErrors.inc();
  }

  observeOperation(operation: StoreOperation, result: StoreResult, seconds: number): void {
    this.storeDuration.observe({ operation, result }, seconds);
  }

  watchStarted(): void {
    this.storeWatchesOpen.inc();
  }

  watchEnded(result: StoreResult): void {
    this.storeWatchesOpen.dec();
    this.storeWatchesEnded.inc({ result });
  }

  observeReconcile(controller: string, seconds: number, ok: boolean): void {
    this.reconcileDuration.observe({ controller }, seconds);
    if (!ok) this.reconcileErrors.inc({ controller });
  }

  registerQueue(controller: string, depth: () => number): () => void {
    this.reconcileErrors.inc({ controller }, 0); // the series exists from the start
    let readers = this.queues.get(controller);
    if (readers === undefined) this.queues.set(controller, (readers = new Set()));
    const reader = (): number => depth();
    readers.add(reader);
    return () => {
      readers.delete(reader);
      if (readers.size === 0 && this.queues.get(controller) === readers) this.queues.delete(controller);
    };
  }

  observeSchedulingLatency(seconds: number): void {
    this.schedulingLatency.observe(seconds);
  }

  private clusterCollectors(registers: Registry[]): void {
    const state = (): ClusterStateSource | undefined => this.cluster;
    new Gauge({
      name: 'openscheduler_jobs',
      help: 'Jobs by status.phase (an absent phase counts as Pending).',
      labelNames: ['phase'],
      registers,
      collect() {
        const source = state();
        this.reset();
        if (source === undefined) return;
        const counts = new Map<string, number>(JOB_PHASES.map((p) => [p, 0]));
        for (const job of source.jobs()) {
          const phase = job.status?.phase ?? 'Pending';
          if (counts.has(phase)) counts.set(phase, (counts.get(phase) ?? 0) + 1);
        }
        for (const [phase, count] of counts) this.set({ phase }, count);
      },
    });
    new Gauge({
      name: 'openscheduler_dead_letter_jobs',
      help: 'Jobs in the dead-letter queue (phase Failed, until retried or deleted).',
      registers,
      collect() {
        const source = state();
        this.reset();
        if (source === undefined) return;
        let count = 0;
        for (const job of source.jobs()) if (inDeadLetterQueue(job.status)) count++;
        this.set(count);
      },
    });
    new Gauge({
      name: 'openscheduler_nodes',
      help: 'Nodes by their Ready condition.',
      labelNames: ['ready'],
      registers,
      collect() {
        const source = state();
        this.reset();
        if (source === undefined) return;
        let ready = 0;
        let notReady = 0;
        for (const node of source.nodes()) {
          if (isNodeReady(node)) ready++;
          else notReady++;
        }
        this.set({ ready: 'true' }, ready);
        this.set({ ready: 'false' }, notReady);
      },
    });
    new Gauge({
      name: 'openscheduler_node_capacity',
      help: 'Node capacity (status.capacity): cpu in cores, memory in bytes.',
      labelNames: ['node', 'resource'],
      registers,
      collect() {
        const source = state();
        this.reset();
        if (source === undefined) return;
        for (const node of source.nodes()) {
          const cpu = node.status?.capacity?.cpu;
          const memory = node.status?.capacity?.memory;
          const cpuMillis = cpu === undefined ? undefined : parseCpuMillis(cpu);
          const memoryBytes = memory === undefined ? undefined : parseMemoryBytes(memory);
          if (cpuMillis !== undefined) this.set({ node: node.metadata.name, resource: 'cpu' }, cpuMillis / 1000);
          if (memoryBytes !== undefined) this.set({ node: node.metadata.name, resource: 'memory' }, memoryBytes);
        }
      },
    });
    new Gauge({
      name: 'openscheduler_node_allocated',
      help: "Requests of the jobs holding resources on a node, as the scheduler counts them: cpu in cores, memory in bytes.",
      labelNames: ['node', 'resource'],
      registers,
      collect() {
        const source = state();
        this.reset();
        if (source === undefined) return;
        const allocations = source.allocations();
        for (const node of source.nodes()) {
          const name = node.metadata.name;
          const allocation = allocations.get(name);
          this.set({ node: name, resource: 'cpu' }, (allocation?.cpuMillis ?? 0) / 1000);
          this.set({ node: name, resource: 'memory' }, allocation?.memoryBytes ?? 0);
        }
      },
    });
    new Gauge({
      name: 'openscheduler_connected_agents',
      help: 'Nodes whose agent has an assignment stream open on this server.',
      registers,
      collect() {
        this.set(state()?.connectedAgents() ?? 0);
      },
    });
    new Gauge({
      name: 'openscheduler_leader',
      help: '1 while this server process runs the controllers (holds the leader lease), else 0.',
      registers,
      collect() {
        this.set(state()?.isLeader() === true ? 1 : 0);
      },
    });
  }
}

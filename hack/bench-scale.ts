// The scale benchmarks of issue 7, run by hack/bench.ts (`--only-scale LIST`, `--soak`). Each
// figure is printed next to the raw limit measured in the same run on the same machine (the raw
// put rate of the same store, benchRawStore), so that it holds on any machine.
//
//   scheduling  N simulated nodes (default 5,000) and M pending jobs (10,000) through the real
//               scheduler controller on a real store, in this process (benchScheduler): binds/s,
//               CPU ms per bind, and binds per CPU-second against the published per-core figures
//               of Kubernetes' scheduler_perf and Nomad's C2M (PUBLISHED below).
//   agents      J jobs (10,000) on A hollow agents (1,000): the run-jobs throughput section
//               (hack/bench-run-jobs.ts) at that scale: time to all Succeeded, jobs/s, writes/job.
//   watchers    W HTTP watches (1,000) of the jobs list while U updates/s (50) are PATCHed for S
//               seconds (20) onto jobs created before: per-event delivery latency (from the start
//               of the PATCH to the watcher reading the event) p50/p99, events lost (every watcher
//               must see every update), the server's CPU share; the server heap after a full GC
//               empty, with the jobs and with the watches open (per 10,000 jobs, per watcher).
//   heartbeats  H simulated agents (5,000): each a ControlPlaneClient on its own gRPC connection
//               that registers with the join token, holds a WatchAssignments stream and heartbeats
//               at the interval the server asks, for S seconds (60, more than the node lease TTL)
//               while a watch on the nodes counts any node that is not Ready (a false NotReady);
//               the server's CPU share and heap per agent connection.
//   soak        (only when asked) J jobs (100,000) through the server on SQLite with hollow agents,
//               at most `soakOutstanding` unfinished at once, each deleted ttlSecondsAfterFinished
//               after it finished: the SQLite file size (+ WAL) sampled over time (compaction keeps
//               it bounded) and jobs/s per window of `soakWindow` jobs (no decay). Its server keeps
//               Events `soakEventTtlSeconds` (60; the server's --event-ttl), printed with the figures;
//               `soakStoreHistorySeconds` sets its --store-history (default: the server's, 5 min),
//               and the file is still sampled `soakTailSeconds` (0) after the last job finished, to
//               see it shrink once that history has been compacted away.
//
// Every server is a child process (hack/bench-run-jobs-child.ts, --expose-gc) with a fresh data
// dir; every child, etcd, client and temp dir is stopped/removed at the end, also on failure.
import { credentials } from '@grpc/grpc-js';
import { setMaxListeners } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ControlPlaneClient, grpcCode } from '../agent/control-plane-client.js';
import { benchScheduler, type SchedulerBenchFigures } from '../controllers/scheduler/scheduler-bench.js';
import { openStore } from '../store/index.js';
import { startEtcd, type EtcdProcess } from '../test/harness/etcd.js';
import {
  BenchChild,
  benchRunJobs,
  Cleanups,
  CpuMeter,
  JOBS_PATH,
  JobWatch,
  LOOPBACK_PORTS,
  NODES_PATH,
  RestClient,
  RunTracker,
  settledRevision,
  sleep,
  startCluster,
  waitFor,
  type MachineFigures,
  type ServerEndpoints,
  type StoreKind,
  type ThroughputFigures,
} from './bench-run-jobs.js';
import { benchRequest } from './bench-http.js';
import { benchRawStore } from './bench-store.js';
import { inFlight, percentile } from './bench-stats.js';

export type ScaleSection = 'scheduling' | 'agents' | 'watchers' | 'heartbeats' | 'soak';
export const SCALE_SECTIONS: readonly ScaleSection[] = ['scheduling', 'agents', 'watchers', 'heartbeats', 'soak'];
/** What `npm run bench` runs by default (the soak only with --soak). */
export const DEFAULT_SCALE_SECTIONS: readonly ScaleSection[] = ['scheduling', 'agents', 'watchers', 'heartbeats'];

/** Published scheduler throughputs and the CPUs they were measured on (the per-core targets). */
export const PUBLISHED = Object.freeze({
  kubernetes: { name: "Kubernetes scheduler_perf", perSec: 700, cpus: 6 },
  nomad: { name: 'Nomad C2M', perSec: 1500, cpus: 3 * 64 },
});

export interface ScaleBenchOptions {
  readonly sections: readonly ScaleSection[];
  /** Stores of the scheduling and agents sections. Default ['sqlite']. */
  readonly stores?: readonly StoreKind[];
  readonly schedulingNodes?: number;
  readonly schedulingJobs?: number;
  readonly agents?: number;
  readonly agentJobs?: number;
  readonly watchers?: number;
  /** Jobs created before the watches open (the heap figure per 10,000 jobs; the updated objects). */
  readonly watchJobs?: number;
  readonly watchUpdatesPerSec?: number;
  readonly watchSeconds?: number;
  readonly heartbeatAgents?: number;
  readonly heartbeatSeconds?: number;
  /** Node lease TTL of the heartbeats section's server (heartbeat interval = TTL / 3). Default 30. */
  readonly heartbeatLeaseTtlSeconds?: number;
  readonly soakJobs?: number;
  readonly soakAgents?: number;
  readonly soakWindow?: number;
  readonly soakOutstanding?: number;
  readonly soakTtlSeconds?: number;
  /** Seconds between two samples of the soak's SQLite file. Default 5. */
  readonly soakSampleSeconds?: number;
  /** Event TTL of the soak's server (its eventTtlSeconds setting, at least 60). Default 60. */
  readonly soakEventTtlSeconds?: number;
  /** History window of the soak's server (its storeHistorySeconds setting, at least 10). Default: the server's default. */
  readonly soakStoreHistorySeconds?: number;
  /** Seconds the soak's file is still sampled after the last job finished. Default 0. */
  readonly soakTailSeconds?: number;
  /** V8 CPU profiles of the soak's server and agents children go under this directory. */
  readonly cpuProfileDir?: string;
  /** Raw store puts timed per store. Default 5,000. */
  readonly rawStorePuts?: number;
  /** Progress lines (default: stderr). */
  readonly progress?: (line: string) => void;
}

export interface SchedulingScaleFigures extends SchedulerBenchFigures {
  readonly rawPutsPerSec: number;
  /** CPU seconds of this process over the run, and of etcd (etcd store only). */
  readonly benchCpuSeconds: number;
  readonly etcdCpuSeconds: number;
  /** Binds per CPU-second used (this process + etcd): the per-core figure. */
  readonly bindsPerCoreSecond: number;
  readonly kubernetesPerCore: number;
  readonly nomadPerCore: number;
}

export interface WatchScaleFigures {
  readonly watchers: number;
  readonly jobs: number;
  readonly updates: number;
  readonly targetRatePerSec: number;
  readonly achievedRatePerSec: number;
  readonly expectedDeliveries: number;
  readonly deliveries: number;
  /** expectedDeliveries - deliveries: updates some watcher never saw (must be 0). */
  readonly lost: number;
  /** Watches that ended or failed before the end. */
  readonly failedWatches: number;
  readonly deliveryP50Ms: number;
  readonly deliveryP99Ms: number;
  readonly deliveryMaxMs: number;
  readonly patchP50Ms: number;
  readonly patchP99Ms: number;
  /** From the first PATCH to the last delivery. */
  readonly seconds: number;
  readonly deliveriesPerSec: number;
  readonly serverCpuSeconds: number;
  readonly serverCpuShare: number;
  readonly benchCpuSeconds: number;
  /** Longest event-loop delay of this process (the client of every watch and PATCH) while measured. */
  readonly benchLoopDelayMaxMs: number;
  readonly heapEmptyMb: number;
  readonly heapWithJobsMb: number;
  readonly heapWithWatchersMb: number;
  readonly heapPer10kJobsMb: number;
  readonly heapPerWatcherKb: number;
  readonly rssWithWatchersMb: number;
  readonly rawPutsPerSec: number;
}

export interface HeartbeatScaleFigures {
  readonly agents: number;
  readonly registered: number;
  readonly registerSeconds: number;
  readonly leaseTtlSeconds: number;
  readonly intervalSeconds: number;
  readonly seconds: number;
  readonly heartbeats: number;
  readonly heartbeatsPerSec: number;
  readonly heartbeatFailures: number;
  readonly heartbeatP50Ms: number;
  readonly heartbeatP99Ms: number;
  /** Assignment streams that failed while measured. */
  readonly streamFailures: number;
  /** Nodes seen with Ready != True while every agent heartbeated (must be 0). */
  readonly falseNotReady: number;
  readonly notReadyNodes: readonly string[];
  readonly serverCpuSeconds: number;
  readonly serverCpuShare: number;
  readonly benchCpuSeconds: number;
  readonly heapBeforeMb: number;
  readonly heapAfterMb: number;
  readonly heapPerAgentKb: number;
  readonly rssAfterMb: number;
  readonly rawPutsPerSec: number;
}

export interface SoakSample {
  readonly atSeconds: number;
  readonly finished: number;
  readonly dbBytes: number;
  readonly walBytes: number;
  readonly revision: number;
}

export interface SoakWindow {
  readonly from: number;
  readonly to: number;
  readonly seconds: number;
  readonly jobsPerSec: number;
}

export interface SoakFigures {
  readonly jobs: number;
  readonly agents: number;
  readonly outstanding: number;
  readonly ttlSeconds: number;
  /** The server's Event TTL. */
  readonly eventTtlSeconds: number;
  /** The server's store history window, when the soak set one. */
  readonly storeHistorySeconds?: number;
  /** Seconds sampled after the last job finished. */
  readonly tailSeconds: number;
  readonly seconds: number;
  readonly jobsPerSec: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Jobs seen DELETED (by their TTL) by the end. */
  readonly deleted: number;
  readonly windows: readonly SoakWindow[];
  /** Last window's jobs/s over the first's. */
  readonly lastToFirstWindow: number;
  readonly samples: readonly SoakSample[];
  readonly maxFileMb: number;
  readonly fileMbAtHalf: number;
  /** When the last job finished. */
  readonly fileMbAtEnd: number;
  /** At the end of the tail (= fileMbAtEnd without one). */
  readonly fileMbAfterTail: number;
  readonly serverCpuSeconds: number;
  readonly rawPutsPerSec: number;
}

export interface ScaleFigures {
  readonly machine: MachineFigures;
  readonly rawPutsPerSec: Partial<Record<StoreKind, number>>;
  readonly scheduling: SchedulingScaleFigures[];
  readonly agents: ThroughputFigures[];
  readonly watchers?: WatchScaleFigures;
  readonly heartbeats?: HeartbeatScaleFigures;
  readonly soak?: SoakFigures;
}

const MB = 2 ** 20;
const CONCURRENCY = 32;
const SEQ_ANNOTATION = 'bench.openscheduler.io/seq';
const SEQ_PATTERN = /"bench\.openscheduler\.io\/seq":"(\d+)"/;

function positiveInteger(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`scale bench: ${field}: must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function checkOptions(o: ScaleBenchOptions): void {
  if (!Array.isArray(o.sections) || o.sections.some((s) => !SCALE_SECTIONS.includes(s))) {
    throw new RangeError(`scale bench: sections: must list some of ${SCALE_SECTIONS.join(', ')}`);
  }
  if (o.stores !== undefined && (!Array.isArray(o.stores) || o.stores.some((s) => s !== 'sqlite' && s !== 'etcd'))) {
    throw new RangeError('scale bench: stores: must list "sqlite" and/or "etcd"');
  }
  const counts = [
    'schedulingNodes',
    'schedulingJobs',
    'agents',
    'agentJobs',
    'watchers',
    'watchJobs',
    'watchUpdatesPerSec',
    'watchSeconds',
    'heartbeatAgents',
    'heartbeatSeconds',
    'heartbeatLeaseTtlSeconds',
    'soakJobs',
    'soakAgents',
    'soakWindow',
    'soakOutstanding',
    'soakTtlSeconds',
    'soakSampleSeconds',
    'soakEventTtlSeconds',
    'soakStoreHistorySeconds',
    'rawStorePuts',
  ] as const;
  for (const field of counts) if (o[field] !== undefined) positiveInteger(field, o[field]);
  if ((o.heartbeatLeaseTtlSeconds ?? 30) < 3) throw new RangeError('scale bench: heartbeatLeaseTtlSeconds: must be at least 3');
  if ((o.soakEventTtlSeconds ?? 60) < 60) throw new RangeError("scale bench: soakEventTtlSeconds: must be at least 60 (the server's minimum --event-ttl)");
  if ((o.soakStoreHistorySeconds ?? 10) < 10) throw new RangeError("scale bench: soakStoreHistorySeconds: must be at least 10 (the server's minimum --store-history)");
  if (o.soakTailSeconds !== undefined && (!Number.isSafeInteger(o.soakTailSeconds) || o.soakTailSeconds < 0)) {
    throw new RangeError(`scale bench: soakTailSeconds: must be an integer >= 0, got ${String(o.soakTailSeconds)}`);
  }
}

const sqliteServerFlags = (dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  dataDir,
  ...LOOPBACK_PORTS,
  store: 'sqlite',
  ...extra,
});

async function startServer(flags: Record<string, unknown>, cleanups: Cleanups, what: string): Promise<{ server: BenchChild; endpoints: ServerEndpoints }> {
  const server = await BenchChild.start('server', flags);
  cleanups.push(`${what} server`, () => server.stop());
  const { httpUrl, token, grpcAddress, joinTokenPath } = server.ready;
  if (!httpUrl || !token || !grpcAddress || !joinTokenPath) throw new Error(`the bench server child reported no endpoints: ${JSON.stringify(server.ready)}`);
  return { server, endpoints: { httpUrl, token, grpcAddress, joinTokenPath } };
}

/**
 * One HTTP request with the bench token; the body read as text. A kept-alive connection that the
 * server closed as idle (its keep-alive timeout) just as it was reused fails with ECONNRESET
 * before the server read the request: that request is sent again (the failed connection is
 * gone from the pool; up to 4 tries, since the next free connection may be just as stale).
 */
async function request(agent: http.Agent, endpoints: ServerEndpoints, method: string, path: string, body?: string, contentType = 'application/json'): Promise<{ status: number; body: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await benchRequest(agent, `${endpoints.httpUrl}${path}`, method, endpoints.token, body, contentType);
    } catch (err) {
      const stale = (err as NodeJS.ErrnoException).code === 'ECONNRESET' && (err as { reusedSocket?: boolean }).reusedSocket === true;
      if (!stale || attempt >= 4) throw err;
    }
  }
}

/**
 * A watch stream (NDJSON over one HTTP response, its own socket) handing each line and the time
 * its chunk was read to `onLine`. `failure` is set when it ends or fails before close().
 */
class LineWatch {
  failure: Error | undefined;
  private closed = false;

  private constructor(private readonly req: http.ClientRequest) {}

  static open(endpoints: ServerEndpoints, path: string, onLine: (line: string, atMs: number) => void): Promise<LineWatch> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${endpoints.httpUrl}${path}`, { headers: { authorization: `Bearer ${endpoints.token}` }, agent: false });
      let watch: LineWatch | undefined;
      const fail = (err: Error): void => {
        if (watch === undefined) reject(err);
        else if (!watch.closed) watch.failure ??= err;
      };
      req.on('error', fail);
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`watch ${path}: HTTP ${res.statusCode}`));
          return;
        }
        watch = new LineWatch(req);
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          const atMs = performance.now();
          buffered += text;
          let nl = buffered.indexOf('\n');
          while (nl >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            nl = buffered.indexOf('\n');
            if (line !== '') onLine(line, atMs);
          }
        });
        res.on('end', () => fail(new Error(`watch ${path}: the stream ended`)));
        res.on('error', fail);
        resolve(watch);
      });
      req.end();
    });
  }

  close(): void {
    this.closed = true;
    this.req.destroy();
  }
}

async function revisionOf(agent: http.Agent, endpoints: ServerEndpoints, path: string): Promise<number> {
  const r = await request(agent, endpoints, 'GET', `${path}?limit=1`);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body.slice(0, 300)}`);
  return Number((JSON.parse(r.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion);
}

/** Ready nodes, paging through every node. */
async function countReadyNodes(agent: http.Agent, endpoints: ServerEndpoints): Promise<number> {
  let ready = 0;
  let cont = '';
  do {
    const r = await request(agent, endpoints, 'GET', `${NODES_PATH}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
    if (r.status !== 200) throw new Error(`GET ${NODES_PATH}: ${r.status} ${r.body.slice(0, 300)}`);
    const list = JSON.parse(r.body) as { items: NodeLike[]; metadata: { continue?: string } };
    ready += list.items.filter(isReady).length;
    cont = list.metadata.continue ?? '';
  } while (cont);
  return ready;
}

interface NodeLike {
  readonly metadata?: { readonly name?: string };
  readonly status?: { readonly conditions?: readonly { readonly type: string; readonly status: string }[] };
}

const isReady = (n: NodeLike): boolean => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

function pendingJob(name: string): string {
  return JSON.stringify({
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, labels: { bench: 'scale' } },
    spec: { driver: 'process', command: ['/bin/true'], resources: { cpu: '10m', memory: '16Mi' } },
  });
}

const jobName = (prefix: string, i: number): string => `${prefix}-${String(i).padStart(6, '0')}`;

// ---- scheduling ---------------------------------------------------------------------------------

async function benchSchedulingSection(
  etcd: EtcdProcess | undefined,
  rawPutsPerSec: number,
  nodes: number,
  jobs: number,
): Promise<SchedulingScaleFigures> {
  // CPU of etcd from /proc: its total before and after (a CpuMeter of one process).
  const meter = new CpuMeter({ etcd: etcd?.pid });
  await meter.start();
  const figures = await benchScheduler({ jobs, nodes, ...(etcd ? { etcdEndpoints: [etcd.endpoint] } : {}) });
  const used = await meter.stop();
  const etcdCpuSeconds = used.etcd?.own ?? 0;
  const benchCpuSeconds = (figures.cpuMsPerBind * figures.binds) / 1000;
  const bindsPerCoreSecond = figures.binds / (benchCpuSeconds + etcdCpuSeconds);
  return {
    ...figures,
    rawPutsPerSec,
    benchCpuSeconds,
    etcdCpuSeconds,
    bindsPerCoreSecond,
    kubernetesPerCore: PUBLISHED.kubernetes.perSec / PUBLISHED.kubernetes.cpus,
    nomadPerCore: PUBLISHED.nomad.perSec / PUBLISHED.nomad.cpus,
  };
}

// ---- watchers -----------------------------------------------------------------------------------

async function benchWatchers(o: Required<Pick<ScaleBenchOptions, 'watchers' | 'watchJobs' | 'watchUpdatesPerSec' | 'watchSeconds'>>, workDir: string, rawPutsPerSec: number, progress: (line: string) => void): Promise<WatchScaleFigures> {
  const cleanups = new Cleanups(progress);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  cleanups.push('http agent', async () => agent.destroy());
  try {
    const { server, endpoints } = await startServer(sqliteServerFlags(join(workDir, 'watchers-server')), cleanups, 'watchers');
    const rest = new RestClient(endpoints, agent);
    const heapEmpty = await server.heap();
    progress(`watchers: creating ${o.watchJobs} jobs`);
    await inFlight(o.watchJobs, CONCURRENCY, (i) => rest.createJob(pendingJob(jobName('watch', i))));
    // No node: the scheduler marks each job Unschedulable (and records an Event); let that settle.
    await settledRevision(rest, 2, new AbortController().signal);
    const heapJobs = await server.heap();

    const updates = o.watchUpdatesPerSec * o.watchSeconds;
    const sentAt = new Float64Array(updates).fill(NaN);
    const seen = Array.from({ length: o.watchers }, () => new Uint8Array(updates));
    const latencies: number[] = [];
    let deliveries = 0;
    const expected = o.watchers * updates;
    let lastDeliveryAt = 0;
    let allDelivered: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (allDelivered = resolve));
    const from = await revisionOf(agent, endpoints, JOBS_PATH);
    progress(`watchers: opening ${o.watchers} watches of the jobs list`);
    const watches: LineWatch[] = [];
    cleanups.push('watches', async () => watches.forEach((w) => w.close()));
    for (let i = 0; i < o.watchers; i += 50) {
      const batch = Array.from({ length: Math.min(50, o.watchers - i) }, (_, j) => {
        const mine = seen[i + j] as Uint8Array;
        return LineWatch.open(endpoints, `${JOBS_PATH}?watch=true&resourceVersion=${from}`, (line, atMs) => {
          const m = SEQ_PATTERN.exec(line);
          if (!m) return;
          const seq = Number(m[1]);
          if (seq >= updates || mine[seq] === 1) return;
          mine[seq] = 1;
          latencies.push(atMs - (sentAt[seq] ?? NaN));
          lastDeliveryAt = atMs;
          if (++deliveries === expected) allDelivered();
        });
      });
      watches.push(...(await Promise.all(batch)));
    }
    const heapWatchers = await server.heap();

    progress(`watchers: ${updates} updates at ${o.watchUpdatesPerSec}/s with ${o.watchers} watches open`);
    const cpu = new CpuMeter({ server: server.pid });
    await cpu.start();
    // This process reads every watch and times the PATCHes: a stall of its own would show in both.
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const patchMs: number[] = [];
    const patches: Promise<void>[] = [];
    let patchError: unknown;
    const started = performance.now();
    for (let seq = 0; seq < updates && patchError === undefined; seq++) {
      const wait = started + (seq * 1000) / o.watchUpdatesPerSec - performance.now();
      if (wait > 0) await sleep(wait);
      const body = JSON.stringify({ metadata: { annotations: { [SEQ_ANNOTATION]: String(seq) } } });
      const t0 = performance.now();
      sentAt[seq] = t0;
      patches.push(
        request(agent, endpoints, 'PATCH', `${JOBS_PATH}/${jobName('watch', seq % o.watchJobs)}`, body, 'application/merge-patch+json').then(
          (r) => {
            if (r.status !== 200) patchError ??= new Error(`PATCH update ${seq}: ${r.status} ${r.body.slice(0, 300)}`);
            patchMs.push(performance.now() - t0);
          },
          (err: unknown) => void (patchError ??= err),
        ),
      );
    }
    const lastPatch = performance.now();
    await Promise.all(patches);
    if (patchError !== undefined) throw patchError instanceof Error ? patchError : new Error(String(patchError));
    // Wait for every delivery, giving up after 30 s without any progress.
    for (let before = -1; deliveries < expected && deliveries !== before; ) {
      before = deliveries;
      await Promise.race([done, sleep(30_000)]);
    }
    loopDelay.disable();
    const used = await cpu.stop();
    const seconds = ((deliveries > 0 ? lastDeliveryAt : performance.now()) - started) / 1000;
    latencies.sort((a, b) => a - b);
    patchMs.sort((a, b) => a - b);
    return {
      watchers: o.watchers,
      jobs: o.watchJobs,
      updates,
      targetRatePerSec: o.watchUpdatesPerSec,
      achievedRatePerSec: updates > 1 ? ((updates - 1) * 1000) / (lastPatch - started) : o.watchUpdatesPerSec,
      expectedDeliveries: expected,
      deliveries,
      lost: expected - deliveries,
      failedWatches: watches.filter((w) => w.failure !== undefined).length,
      deliveryP50Ms: percentile(latencies, 50),
      deliveryP99Ms: percentile(latencies, 99),
      deliveryMaxMs: latencies.at(-1) ?? NaN,
      patchP50Ms: percentile(patchMs, 50),
      patchP99Ms: percentile(patchMs, 99),
      seconds,
      deliveriesPerSec: deliveries / seconds,
      serverCpuSeconds: used.server?.own ?? 0,
      serverCpuShare: (used.server?.own ?? 0) / seconds,
      benchCpuSeconds: used.bench,
      benchLoopDelayMaxMs: loopDelay.max / 1e6,
      heapEmptyMb: heapEmpty.heapUsed / MB,
      heapWithJobsMb: heapJobs.heapUsed / MB,
      heapWithWatchersMb: heapWatchers.heapUsed / MB,
      heapPer10kJobsMb: ((heapJobs.heapUsed - heapEmpty.heapUsed) / MB) * (10_000 / o.watchJobs),
      heapPerWatcherKb: (heapWatchers.heapUsed - heapJobs.heapUsed) / 1024 / o.watchers,
      rssWithWatchersMb: heapWatchers.rss / MB,
      rawPutsPerSec,
    };
  } finally {
    await cleanups.run();
  }
}

// ---- heartbeats ---------------------------------------------------------------------------------

interface HeartbeatStats {
  heartbeats: number;
  failures: number;
  streamFailures: number;
  measuring: boolean;
  readonly latencies: number[];
}

/** One simulated agent: registers, holds its assignment stream, heartbeats every intervalMs. */
class SimulatedAgent {
  private token: string;
  private readonly client: ControlPlaneClient;

  constructor(
    readonly nodeName: string,
    index: number,
    grpcAddress: string,
    joinToken: string,
  ) {
    this.token = joinToken;
    // Distinct keepalive times: grpc-js would otherwise share one connection between the clients.
    this.client = new ControlPlaneClient({ addresses: [grpcAddress], credentials: credentials.createInsecure(), token: () => this.token, keepaliveTimeMs: 10_000 + index });
  }

  /** Registers (up to 5 tries on failure); the heartbeat interval in ms. */
  async register(signal: AbortSignal): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.client.register(
          {
            nodeName: this.nodeName,
            labels: { bench: 'heartbeat' },
            capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 },
            drivers: [{ name: 'process', healthy: true, detail: 'simulated' }],
            agentVersion: 'bench-simulated-agent',
          },
          signal,
        );
        if (r.nodeToken !== '') this.token = r.nodeToken;
        return Math.max(1, r.heartbeatIntervalSeconds) * 1000;
      } catch (err) {
        if (attempt >= 5 || signal.aborted) throw new Error(`register ${this.nodeName}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        await sleep(500 * attempt);
      }
    }
  }

  /** Holds the assignment stream until `signal` aborts (a failure is counted, then it reopens). */
  async holdAssignments(stats: HeartbeatStats, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        for await (const event of this.client.watchAssignments({ nodeName: this.nodeName, fromRevision: 0 }, signal)) void event;
      } catch (err) {
        if (signal.aborted) return;
        if (stats.measuring) stats.streamFailures++;
        void grpcCode(err);
        await sleep(1000);
      }
    }
  }

  /** Heartbeats every intervalMs (the first after `firstAfterMs`) until `signal` aborts. */
  async heartbeatLoop(intervalMs: number, firstAfterMs: number, stats: HeartbeatStats, signal: AbortSignal): Promise<void> {
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([sleep(firstAfterMs), aborted]);
    while (!signal.aborted) {
      const t0 = performance.now();
      try {
        await this.client.heartbeat({ nodeName: this.nodeName, allocatable: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 }, drivers: [{ name: 'process', healthy: true, detail: 'simulated' }], runningAttempts: [], shuttingDown: false }, signal);
        if (stats.measuring) {
          stats.heartbeats++;
          stats.latencies.push(performance.now() - t0);
        }
      } catch {
        if (signal.aborted) return;
        if (stats.measuring) stats.failures++;
      }
      await Promise.race([sleep(Math.max(0, intervalMs - (performance.now() - t0))), aborted]);
    }
  }

  close(): void {
    this.client.close();
  }
}

async function benchHeartbeats(
  o: Required<Pick<ScaleBenchOptions, 'heartbeatAgents' | 'heartbeatSeconds' | 'heartbeatLeaseTtlSeconds'>>,
  workDir: string,
  rawPutsPerSec: number,
  progress: (line: string) => void,
): Promise<HeartbeatScaleFigures> {
  const cleanups = new Cleanups(progress);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  cleanups.push('http agent', async () => agent.destroy());
  const stop = new AbortController();
  // Every simulated agent's calls and loops listen on this one signal.
  setMaxListeners(0, stop.signal);
  try {
    const { server, endpoints } = await startServer(
      sqliteServerFlags(join(workDir, 'heartbeats-server'), { nodeLeaseTtlSeconds: o.heartbeatLeaseTtlSeconds }),
      cleanups,
      'heartbeats',
    );
    const joinToken = (await readFile(endpoints.joinTokenPath, 'utf8')).trim();
    const heapBefore = await server.heap();
    const agents = Array.from({ length: o.heartbeatAgents }, (_, i) => new SimulatedAgent(`sim-${String(i).padStart(5, '0')}`, i, endpoints.grpcAddress, joinToken));
    const loops: Promise<void>[] = [];
    cleanups.push('simulated agents', async () => {
      stop.abort();
      await Promise.all(loops);
      agents.forEach((a) => a.close());
    });
    const stats: HeartbeatStats = { heartbeats: 0, failures: 0, streamFailures: 0, measuring: false, latencies: [] };
    progress(`heartbeats: registering ${o.heartbeatAgents} simulated agents (${CONCURRENCY} at once)`);
    const registerStarted = performance.now();
    await inFlight(o.heartbeatAgents, CONCURRENCY, async (i) => {
      const a = agents[i] as SimulatedAgent;
      const intervalMs = await a.register(stop.signal);
      loops.push(a.holdAssignments(stats, stop.signal), a.heartbeatLoop(intervalMs, Math.random() * intervalMs, stats, stop.signal));
    });
    const registerSeconds = (performance.now() - registerStarted) / 1000;
    await waitFor(
      `${o.heartbeatAgents} Ready nodes`,
      async () => ((await countReadyNodes(agent, endpoints)) >= o.heartbeatAgents ? true : undefined),
      300_000,
      stop.signal,
      () => server.exitedError(),
    );
    const heapAfter = await server.heap();

    const notReady = new Set<string>();
    const nodesFrom = await revisionOf(agent, endpoints, NODES_PATH);
    const nodeWatch = await LineWatch.open(endpoints, `${NODES_PATH}?watch=true&resourceVersion=${nodesFrom}`, (line) => {
      const event = JSON.parse(line) as { type: string; object: NodeLike };
      if (event.type === 'BOOKMARK') return;
      if (event.type === 'DELETED' || !isReady(event.object)) notReady.add(event.object.metadata?.name ?? '?');
    });
    cleanups.push('nodes watch', async () => nodeWatch.close());
    const intervalSeconds = Math.max(1, Math.floor(o.heartbeatLeaseTtlSeconds / 3));
    progress(`heartbeats: ${o.heartbeatAgents} agents heartbeating every ${intervalSeconds} s, watched for ${o.heartbeatSeconds} s`);
    const cpu = new CpuMeter({ server: server.pid });
    await cpu.start();
    stats.measuring = true;
    const started = performance.now();
    await sleep(o.heartbeatSeconds * 1000);
    stats.measuring = false;
    const seconds = (performance.now() - started) / 1000;
    const used = await cpu.stop();
    if (nodeWatch.failure) throw nodeWatch.failure;
    stats.latencies.sort((a, b) => a - b);
    return {
      agents: o.heartbeatAgents,
      registered: loops.length / 2,
      registerSeconds,
      leaseTtlSeconds: o.heartbeatLeaseTtlSeconds,
      intervalSeconds,
      seconds,
      heartbeats: stats.heartbeats,
      heartbeatsPerSec: stats.heartbeats / seconds,
      heartbeatFailures: stats.failures,
      heartbeatP50Ms: percentile(stats.latencies, 50),
      heartbeatP99Ms: percentile(stats.latencies, 99),
      streamFailures: stats.streamFailures,
      falseNotReady: notReady.size,
      notReadyNodes: [...notReady].slice(0, 20),
      serverCpuSeconds: used.server?.own ?? 0,
      serverCpuShare: (used.server?.own ?? 0) / seconds,
      benchCpuSeconds: used.bench,
      heapBeforeMb: heapBefore.heapUsed / MB,
      heapAfterMb: heapAfter.heapUsed / MB,
      heapPerAgentKb: (heapAfter.heapUsed - heapBefore.heapUsed) / 1024 / o.heartbeatAgents,
      rssAfterMb: heapAfter.rss / MB,
      rawPutsPerSec,
    };
  } finally {
    stop.abort();
    await cleanups.run();
  }
}

// ---- soak ---------------------------------------------------------------------------------------

async function fileBytes(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.size ?? 0;
}

async function benchSoak(
  o: Required<Pick<ScaleBenchOptions, 'soakJobs' | 'soakAgents' | 'soakWindow' | 'soakOutstanding' | 'soakTtlSeconds' | 'soakSampleSeconds' | 'soakEventTtlSeconds' | 'soakTailSeconds'>> &
    Pick<ScaleBenchOptions, 'cpuProfileDir' | 'soakStoreHistorySeconds'>,
  workDir: string,
  rawPutsPerSec: number,
  progress: (line: string) => void,
): Promise<SoakFigures> {
  const cleanups = new Cleanups(progress);
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  cleanups.push('http agent', async () => httpAgent.destroy());
  const signal = new AbortController().signal;
  try {
    const dir = join(workDir, 'soak');
    await mkdir(dir, { recursive: true });
    const dataDir = join(dir, 'soak-server');
    const { rest, endpoints, server, agents } = await startCluster(
      { kind: 'sqlite', workDir: dir, serverFlags: () =>
          sqliteServerFlags(dataDir, {
            eventTtlSeconds: o.soakEventTtlSeconds,
            ...(o.soakStoreHistorySeconds !== undefined ? { storeHistorySeconds: o.soakStoreHistorySeconds } : {}),
          }),
      },
      'soak',
      { count: o.soakAgents, durationMs: 0 },
      httpAgent,
      cleanups,
      { stores: ['sqlite'], sections: [], ...(o.cpuProfileDir !== undefined ? { cpuProfileDir: o.cpuProfileDir } : {}) },
      signal,
    );
    const tracker = new RunTracker();
    let deleted = 0;
    /** Creators waiting for a job to finish (at most `soakOutstanding` unfinished). */
    const waiting = new Set<() => void>();
    const watch = await JobWatch.open(endpoints, await rest.revision(), (e) => {
      tracker.onEvent(e);
      if (e.type === 'DELETED') deleted++;
      for (const wake of waiting) wake();
      waiting.clear();
    });
    cleanups.push('soak watch', async () => watch.close());
    const samples: SoakSample[] = [];
    const dbPath = join(dataDir, 'state.db');
    const started = performance.now();
    const sample = async (): Promise<void> => {
      samples.push({
        atSeconds: (performance.now() - started) / 1000,
        finished: tracker.terminal.size,
        dbBytes: await fileBytes(dbPath),
        walBytes: await fileBytes(`${dbPath}-wal`),
        revision: await rest.revision().catch(() => NaN),
      });
    };
    await sample();
    let sampling = Promise.resolve();
    const sampler = setInterval(() => {
      sampling = sampling.then(sample);
    }, o.soakSampleSeconds * 1000);
    cleanups.push('sampler', async () => {
      clearInterval(sampler);
      await sampling;
    });
    const body = (i: number): string =>
      JSON.stringify({
        apiVersion: 'openscheduler.io/v1',
        kind: 'Job',
        metadata: { name: jobName('soak', i), labels: { bench: 'soak' } },
        spec: { driver: 'process', command: ['/bin/true'], resources: { cpu: '10m', memory: '16Mi' }, ttlSecondsAfterFinished: o.soakTtlSeconds },
      });
    const cpu = new CpuMeter({ server: server.pid, agents: agents?.pid });
    await cpu.start();
    progress(
      `soak: ${o.soakJobs} jobs on ${o.soakAgents} hollow agents, at most ${o.soakOutstanding} unfinished, deleted ${o.soakTtlSeconds} s after they finish, Events kept ${o.soakEventTtlSeconds} s`,
    );
    let reported = 0;
    await inFlight(o.soakJobs, CONCURRENCY, async (i) => {
      while (i - tracker.terminal.size >= o.soakOutstanding) {
        const fatal = watch.error ?? server.exitedError() ?? agents?.exitedError();
        if (fatal) throw fatal;
        await Promise.race([new Promise<void>((resolve) => waiting.add(resolve)), sleep(1000)]);
      }
      tracker.posting(jobName('soak', i));
      await rest.createJob(body(i));
      if (tracker.terminal.size - reported >= o.soakWindow) {
        reported = tracker.terminal.size;
        const last = samples.at(-1);
        progress(`soak: ${reported} finished; file ${((last?.dbBytes ?? 0) / MB).toFixed(0)} MB + WAL ${((last?.walBytes ?? 0) / MB).toFixed(0)} MB`);
      }
    });
    await tracker.allTerminal(o.soakJobs, watch, 600_000, signal, () => server.exitedError() ?? agents?.exitedError());
    const seconds = (tracker.lastTerminalAtMs - started) / 1000;
    const used = await cpu.stop();
    await sampling;
    await sample();
    const atEnd = samples.at(-1) as SoakSample;
    if (o.soakTailSeconds > 0) {
      progress(`soak: all finished; sampling the file ${o.soakTailSeconds} s more`);
      const tailEnd = performance.now() + o.soakTailSeconds * 1000;
      while (performance.now() < tailEnd) {
        const fatal = server.exitedError();
        if (fatal) throw fatal;
        await sleep(Math.min(1000, tailEnd - performance.now()));
      }
    }
    clearInterval(sampler);
    await sampling;
    await sample();
    if (watch.error) throw watch.error;
    const ends = [...tracker.terminalAt.values()].sort((a, b) => a - b);
    const windows: SoakWindow[] = [];
    for (let from = 0; from < ends.length; from += o.soakWindow) {
      const to = Math.min(from + o.soakWindow, ends.length);
      const begin = from === 0 ? started : (ends[from - 1] as number);
      const s = ((ends[to - 1] as number) - begin) / 1000;
      windows.push({ from, to, seconds: s, jobsPerSec: (to - from) / s });
    }
    const fileMb = (s: SoakSample): number => (s.dbBytes + s.walBytes) / MB;
    const half = samples.find((s) => s.finished >= o.soakJobs / 2) ?? samples.at(-1);
    return {
      jobs: o.soakJobs,
      agents: o.soakAgents,
      outstanding: o.soakOutstanding,
      ttlSeconds: o.soakTtlSeconds,
      eventTtlSeconds: o.soakEventTtlSeconds,
      ...(o.soakStoreHistorySeconds !== undefined ? { storeHistorySeconds: o.soakStoreHistorySeconds } : {}),
      tailSeconds: o.soakTailSeconds,
      seconds,
      jobsPerSec: o.soakJobs / seconds,
      succeeded: tracker.count('Succeeded'),
      failed: tracker.count('Failed'),
      deleted,
      windows,
      lastToFirstWindow: (windows.at(-1)?.jobsPerSec ?? NaN) / (windows[0]?.jobsPerSec ?? NaN),
      samples,
      maxFileMb: Math.max(...samples.map(fileMb)),
      fileMbAtHalf: half ? fileMb(half) : NaN,
      fileMbAtEnd: fileMb(atEnd),
      fileMbAfterTail: fileMb(samples.at(-1) as SoakSample),
      serverCpuSeconds: used.server?.own ?? 0,
      rawPutsPerSec,
    };
  } finally {
    await cleanups.run();
  }
}

// ---- the whole run ------------------------------------------------------------------------------

export async function benchScale(options: ScaleBenchOptions): Promise<ScaleFigures> {
  checkOptions(options);
  const began = performance.now();
  const progress =
    options.progress ?? ((line: string) => process.stderr.write(`[bench-scale +${((performance.now() - began) / 1000).toFixed(0)}s] ${line}\n`));
  const stores = options.stores ?? ['sqlite'];
  const sections = new Set(options.sections);
  const loadAtStart = loadavg()[0] ?? NaN;
  const workDir = await mkdtemp(join(tmpdir(), 'os-bench-scale-'));
  const figures: {
    rawPutsPerSec: Partial<Record<StoreKind, number>>;
    scheduling: SchedulingScaleFigures[];
    agents: ThroughputFigures[];
    watchers?: WatchScaleFigures;
    heartbeats?: HeartbeatScaleFigures;
    soak?: SoakFigures;
  } = { rawPutsPerSec: {}, scheduling: [], agents: [] };
  const rawPuts = options.rawStorePuts ?? 5000;
  try {
    const needsSqlite = stores.includes('sqlite') || sections.has('watchers') || sections.has('heartbeats') || sections.has('soak');
    for (const kind of ['sqlite', 'etcd'] as const) {
      if (kind === 'sqlite' ? !needsSqlite : !stores.includes('etcd')) continue;
      const cleanups = new Cleanups(progress);
      try {
        let etcd: EtcdProcess | undefined;
        if (kind === 'etcd') {
          etcd = await startEtcd();
          const started = etcd;
          cleanups.push('etcd', () => started.stop());
        }
        progress(`${kind}: raw store puts (${rawPuts}, ${CONCURRENCY} in flight)`);
        const raw = await openStore(
          etcd ? { type: 'etcd', endpoints: [etcd.endpoint], prefix: '/bench-scale-raw' } : { type: 'sqlite', path: join(workDir, 'raw.db') },
        );
        figures.rawPutsPerSec[kind] = (await benchRawStore(raw, { n: rawPuts, concurrency: CONCURRENCY, minPages: 1 }).finally(() => raw.close())).putsPerSec;
        if (sections.has('scheduling') && stores.includes(kind)) {
          const nodes = options.schedulingNodes ?? 5000;
          const jobs = options.schedulingJobs ?? 10_000;
          progress(`scheduling/${kind}: ${jobs} pending jobs on ${nodes} nodes`);
          figures.scheduling.push(await benchSchedulingSection(etcd, figures.rawPutsPerSec[kind] ?? NaN, nodes, jobs));
        }
      } finally {
        await cleanups.run();
      }
    }
    if (sections.has('agents')) {
      const run = await benchRunJobs({
        stores,
        sections: ['throughput'],
        throughputJobs: options.agentJobs ?? 10_000,
        agents: options.agents ?? 1000,
        rawStorePuts: rawPuts,
        progress,
      });
      figures.agents.push(...run.throughput);
    }
    const sqlitePuts = figures.rawPutsPerSec.sqlite ?? NaN;
    if (sections.has('watchers')) {
      figures.watchers = await benchWatchers(
        {
          watchers: options.watchers ?? 1000,
          watchJobs: options.watchJobs ?? 10_000,
          watchUpdatesPerSec: options.watchUpdatesPerSec ?? 50,
          watchSeconds: options.watchSeconds ?? 20,
        },
        workDir,
        sqlitePuts,
        progress,
      );
    }
    if (sections.has('heartbeats')) {
      figures.heartbeats = await benchHeartbeats(
        { heartbeatAgents: options.heartbeatAgents ?? 5000, heartbeatSeconds: options.heartbeatSeconds ?? 60, heartbeatLeaseTtlSeconds: options.heartbeatLeaseTtlSeconds ?? 30 },
        workDir,
        sqlitePuts,
        progress,
      );
    }
    if (sections.has('soak')) {
      figures.soak = await benchSoak(
        {
          soakJobs: options.soakJobs ?? 100_000,
          soakAgents: options.soakAgents ?? 100,
          soakWindow: options.soakWindow ?? 10_000,
          soakOutstanding: options.soakOutstanding ?? 2000,
          soakTtlSeconds: options.soakTtlSeconds ?? 30,
          soakSampleSeconds: options.soakSampleSeconds ?? 5,
          soakEventTtlSeconds: options.soakEventTtlSeconds ?? 60,
          soakTailSeconds: options.soakTailSeconds ?? 0,
          ...(options.soakStoreHistorySeconds !== undefined ? { soakStoreHistorySeconds: options.soakStoreHistorySeconds } : {}),
          ...(options.cpuProfileDir !== undefined ? { cpuProfileDir: options.cpuProfileDir } : {}),
        },
        workDir,
        sqlitePuts,
        progress,
      );
    }
    return { machine: { cpus: cpus().length, node: process.version, loadAvg: [loadAtStart, loadavg()[0] ?? NaN] }, ...figures };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

// ---- the report ---------------------------------------------------------------------------------

const f = (n: number | undefined, digits = 0): string => (n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(digits));
const verdict = (met: boolean): string => (met ? 'met' : 'MISSED');

/** Markdown tables (figure | value | raw limit of the same run | ratio | target), one per section. */
export function formatScaleReport(fig: ScaleFigures): string {
  const load = fig.machine.loadAvg.map((l) => f(l, 1)).join(' -> ');
  const out: string[] = [`\n## Scale (${fig.machine.cpus} CPUs, Node ${fig.machine.node}, load average ${load})`];
  const head = ['', '| figure | value | raw limit, same run | ratio | target |', '|---|---:|---:|---:|---|'];
  const row = (label: string, value: string, raw = '', ratio = '', target = ''): string => `| ${label} | ${value} | ${raw} | ${ratio} | ${target} |`;
  for (const s of fig.scheduling) {
    const rawText = `${f(s.rawPutsPerSec)} puts/s`;
    out.push(
      `\n### scheduling: ${s.jobs} pending jobs on ${s.nodes} nodes, real scheduler (${s.workers} workers) on ${s.store}`,
      ...head,
      row('binds/s (start -> last bind)', f(s.bindsPerSec), rawText, `${f((100 * s.bindsPerSec) / s.rawPutsPerSec, 1)}%`),
      row('seconds (of which informer sync)', `${f(s.seconds, 1)} (${f(s.syncSeconds, 1)})`),
      row('CPU ms per bind (this process' + (s.store === 'etcd' ? ' + etcd' : '') + ')', f((1000 * (s.benchCpuSeconds + s.etcdCpuSeconds)) / s.binds, 3)),
      row('cores used (CPU s / wall s)', f((s.benchCpuSeconds + s.etcdCpuSeconds) / s.seconds, 2)),
      row(
        `binds per CPU-second vs ${PUBLISHED.kubernetes.name} (${PUBLISHED.kubernetes.perSec}/s / ${PUBLISHED.kubernetes.cpus} CPUs)`,
        f(s.bindsPerCoreSecond),
        `${f(s.kubernetesPerCore, 1)}/s/core`,
        `${f(s.bindsPerCoreSecond / s.kubernetesPerCore, 1)}x`,
        `> 1x — ${verdict(s.bindsPerCoreSecond > s.kubernetesPerCore)}`,
      ),
      row(
        `binds per CPU-second vs ${PUBLISHED.nomad.name} (${PUBLISHED.nomad.perSec}/s / ${PUBLISHED.nomad.cpus} vCPUs)`,
        f(s.bindsPerCoreSecond),
        `${f(s.nomadPerCore, 1)}/s/core`,
        `${f(s.bindsPerCoreSecond / s.nomadPerCore, 1)}x`,
        `> 1x — ${verdict(s.bindsPerCoreSecond > s.nomadPerCore)}`,
      ),
    );
  }
  for (const a of fig.agents) {
    out.push(
      `\n### agents: ${a.jobs} jobs on ${a.agents} hollow agents, ${a.store}`,
      ...head,
      row('time to all Succeeded (s)', f(a.seconds, 1)),
      row('jobs/s', f(a.jobsPerSec), `${f(a.rawPutsPerSec)} puts/s`, `${f((100 * a.jobsPerSec) / a.rawPutsPerSec, 1)}%`),
      row('succeeded / failed', `${a.succeeded} / ${a.failed}`, '', '', `all succeeded — ${verdict(a.succeeded === a.jobs)}`),
      row('store writes per job (settled) / job-object writes per job', `${f(a.storeWritesPerJob, 2)} / ${f(a.jobWritesPerJob, 2)}`),
      row('store writes/s sustained', f(a.storeWritesPerSec), `${f(a.rawPutsPerSec)} puts/s`, `${f((100 * a.storeWritesPerSec) / a.rawPutsPerSec, 1)}%`),
      row('server CPU ms per job', f((1000 * a.cpu.serverSeconds) / a.jobs, 2)),
    );
  }
  const w = fig.watchers;
  if (w) {
    out.push(
      `\n### watchers: ${w.watchers} watches of the jobs list, ${w.updates} updates at ${w.targetRatePerSec}/s (SQLite)`,
      ...head,
      row('delivery latency p50 / p99 / max (ms, PATCH start -> event read)', `${f(w.deliveryP50Ms, 1)} / ${f(w.deliveryP99Ms, 1)} / ${f(w.deliveryMaxMs, 1)}`),
      row('events lost (expected - delivered)', `${w.lost} of ${w.expectedDeliveries}`, '', '', `0 — ${verdict(w.lost === 0)}`),
      row('watches that failed or ended', String(w.failedWatches), '', '', `0 — ${verdict(w.failedWatches === 0)}`),
      row('updates/s achieved; PATCH p50 / p99 (ms)', `${f(w.achievedRatePerSec, 1)}; ${f(w.patchP50Ms, 1)} / ${f(w.patchP99Ms, 1)}`, `${f(w.rawPutsPerSec)} puts/s`),
      row('events delivered/s', f(w.deliveriesPerSec)),
      row('server CPU share (CPU s / wall s)', `${f(100 * w.serverCpuShare)}%`, '', '', '(bench: ' + f(w.benchCpuSeconds, 1) + ' CPU s)'),
      row("bench client's longest event-loop delay (ms; a stall of the client would delay deliveries and PATCHes alike)", f(w.benchLoopDelayMaxMs, 1)),
      row('server heap after GC: empty / with jobs / with watches (MB)', `${f(w.heapEmptyMb, 1)} / ${f(w.heapWithJobsMb, 1)} / ${f(w.heapWithWatchersMb, 1)}`),
      row('server heap per 10,000 jobs (MB)', f(w.heapPer10kJobsMb, 1)),
      row('server heap per watcher (KB)', f(w.heapPerWatcherKb, 1)),
    );
  }
  const h = fig.heartbeats;
  if (h) {
    out.push(
      `\n### heartbeats: ${h.agents} simulated agents (own gRPC connection, assignment stream, heartbeat every ${h.intervalSeconds} s, lease ${h.leaseTtlSeconds} s), watched ${f(h.seconds)} s (SQLite)`,
      ...head,
      row('false NotReady nodes', String(h.falseNotReady), '', '', `0 — ${verdict(h.falseNotReady === 0)}`),
      row('server CPU share (CPU s / wall s)', `${f(100 * h.serverCpuShare, 1)}%`),
      row('heartbeats/s; failures; stream failures', `${f(h.heartbeatsPerSec)}; ${h.heartbeatFailures}; ${h.streamFailures}`, `${f(h.rawPutsPerSec)} puts/s`),
      row('heartbeat round trip p50 / p99 (ms)', `${f(h.heartbeatP50Ms, 1)} / ${f(h.heartbeatP99Ms, 1)}`),
      row('registration of all agents (s)', f(h.registerSeconds, 1)),
      row('server heap per agent connection (KB)', f(h.heapPerAgentKb, 1), '', '', `(${f(h.heapBeforeMb, 1)} -> ${f(h.heapAfterMb, 1)} MB, rss ${f(h.rssAfterMb)} MB)`),
    );
  }
  const s = fig.soak;
  if (s) {
    out.push(
      `\n### soak: ${s.jobs} jobs on ${s.agents} hollow agents (SQLite, at most ${s.outstanding} unfinished, TTL ${s.ttlSeconds} s after finishing, Event TTL ${s.eventTtlSeconds} s${s.storeHistorySeconds !== undefined ? `, store history ${s.storeHistorySeconds} s` : ''})`,
      ...head,
      row('jobs/s overall', f(s.jobsPerSec), `${f(s.rawPutsPerSec)} puts/s`, `${f((100 * s.jobsPerSec) / s.rawPutsPerSec, 1)}%`),
      row('succeeded / failed / deleted by TTL', `${s.succeeded} / ${s.failed} / ${s.deleted}`, '', '', `all succeeded — ${verdict(s.succeeded === s.jobs)}`),
      row('jobs/s per window', s.windows.map((x) => f(x.jobsPerSec)).join(', ')),
      row('last window / first window', f(s.lastToFirstWindow, 2), '', '', `no decay (>= 0.8) — ${verdict(s.lastToFirstWindow >= 0.8)}`),
      row('SQLite file + WAL (MB): at half / at end / max', `${f(s.fileMbAtHalf)} / ${f(s.fileMbAtEnd)} / ${f(s.maxFileMb)}`),
      row('file + WAL by jobs finished (MB)', soakCurve(s)),
      ...(s.tailSeconds > 0 ? [row(`file + WAL ${s.tailSeconds} s after the last job (MB)`, f(s.fileMbAfterTail), '', '', soakTail(s))] : []),
    );
  }
  return out.join('\n');
}

/** About ten samples of the file size after the last job finished, as "+seconds: MB". */
function soakTail(s: SoakFigures): string {
  const lastJobAt = s.samples.find((x) => x.finished >= s.jobs)?.atSeconds ?? NaN;
  const tail = s.samples.filter((x) => x.atSeconds >= lastJobAt);
  const step = Math.max(1, Math.floor(tail.length / 10));
  return tail
    .filter((_, i) => i % step === 0 || i === tail.length - 1)
    .map((x) => `+${f(x.atSeconds - lastJobAt)} s: ${f((x.dbBytes + x.walBytes) / MB)}`)
    .join(', ');
}

/** About ten samples of the file size, as "finished: MB". */
function soakCurve(s: SoakFigures): string {
  const step = Math.max(1, Math.floor(s.samples.length / 10));
  return s.samples
    .filter((_, i) => i % step === 0 || i === s.samples.length - 1)
    .map((x) => `${x.finished}: ${f((x.dbBytes + x.walBytes) / MB)}`)
    .join(', ');
}

// The run-jobs benchmarks (issue 3), run by hack/bench.ts: jobs going through the whole system
// (REST create -> scheduler bind -> agent endpoint -> agent -> status reports), each figure next
// to the raw limit measured in the same run on the same machine.
//
//   throughput  N jobs (default 10,000) on A simulated agents (default 100: real Agent instances
//               with the HollowDriver named 'process', each its own gRPC connection, in a child
//               process) against the real server in another child process. Jobs are created through
//               POST (32 in flight); measured from the first create to the last Succeeded seen by a
//               watch on the jobs. Store writes per job = store revision delta / N, from before
//               the first create until the writes trailing the run (queued events) are back to
//               the background rate (every write: jobs, events, nodes, leases); job-object writes
//               per job = ADDED + MODIFIED watch events per job. Raw store puts/s (benchRawStore,
//               fresh keys, 32 in flight) measured in the same run.
//   latency     apply->Running at a steady rate (default 1,000 jobs at 50/s, open loop), hollow tasks
//               running 2 s: from the start of each POST to the first watch event showing it Running.
//   real        (SQLite only) N real `/bin/true` jobs (default 1,000) on one real agent: an
//               `openscheduler agent` process with the ProcessDriver (test/harness/agent.ts),
//               against the raw spawn rate of /bin/true (child_process.spawn, 16 in flight).
// Jobs request cpu 10m (hollow nodes have room for all of them; the real node, 2 CPUs here, for
// 200 at once). Every section also reports where the time goes: p50/p99 of POST -> Scheduled ->
// Running -> Succeeded as the watch saw them, the most jobs bound at once, and the CPU seconds of
// every process (server, etcd, agents, the real agent's tasks, this process) from /proc.
//
// Every section gets a fresh server (SQLite in a temp dir, or a fresh prefix of one etcd started
// per store); every child, agent, etcd and temp dir is stopped/removed at the end, also on failure
// or SIGINT/SIGTERM (the run then rejects).
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../store/index.js';
import { startAgentProcess } from '../test/harness/agent.js';
import { startEtcd, type EtcdProcess } from '../test/harness/etcd.js';
import type { AgentsChildSettings, ChildMessage } from './bench-run-jobs-child.js';
import { benchRawStore } from './bench-store.js';
import { benchRequest, type BenchReply } from './bench-http.js';
import { inFlight, percentile } from './bench-stats.js';

export type RunSection = 'throughput' | 'latency' | 'real';
export type StoreKind = 'sqlite' | 'etcd';
export const RUN_SECTIONS: readonly RunSection[] = ['throughput', 'latency', 'real'];

export interface RunJobsBenchOptions {
  readonly stores: readonly StoreKind[];
  readonly sections: readonly RunSection[];
  /** Jobs of the throughput section. Default 10,000. */
  readonly throughputJobs?: number;
  /** Simulated agents of the throughput and latency sections. Default 100. */
  readonly agents?: number;
  /** Jobs of the latency section. Default 1,000. */
  readonly latencyJobs?: number;
  /** Creates per second of the latency section. Default 50. */
  readonly latencyRatePerSec?: number;
  /** How long each hollow task of the latency section runs. Default 2,000 ms. */
  readonly latencyTaskMs?: number;
  /** /bin/true jobs of the real section. Default 1,000. */
  readonly realJobs?: number;
  /** Raw /bin/true spawns to time. Default 1,000. */
  readonly rawSpawns?: number;
  /** Raw store puts to time (per store). Default 5,000. */
  readonly rawStorePuts?: number;
  /** When set, the server child (and agents child) write V8 CPU profiles here. */
  readonly cpuProfileDir?: string;
  /** Progress lines (default: stderr). */
  readonly progress?: (line: string) => void;
}

export interface CpuFigures {
  /** CPU seconds (user + system) over the measured window, per process. */
  readonly serverSeconds: number;
  readonly agentsSeconds?: number;
  /** Of the real agent process: its reaped children (the /bin/true tasks) apart. */
  readonly agentChildrenSeconds?: number;
  readonly etcdSeconds?: number;
  readonly benchSeconds: number;
}

export interface ThroughputFigures {
  readonly store: StoreKind;
  readonly jobs: number;
  readonly agents: number;
  readonly seconds: number;
  readonly jobsPerSec: number;
  readonly createSeconds: number;
  readonly createsPerSec: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly rawPutsPerSec: number;
  /** Store revision delta from before the first create to the last Succeeded. */
  readonly storeWritesAtDone: number;
  /** The same, once the writes that trail the run (queued events) settled. */
  readonly storeWrites: number;
  readonly storeWritesPerJob: number;
  readonly jobWrites: number;
  readonly jobWritesPerJob: number;
  /** How many jobs had k job-object writes, by k. */
  readonly jobWritesHistogram: Readonly<Record<string, number>>;
  readonly otherWritesPerJob: number;
  /** storeWritesAtDone / seconds: the write rate the system sustained. */
  readonly storeWritesPerSec: number;
  /** How long after the last Succeeded the store kept writing above its background rate (queued events). */
  readonly trailingWritesSeconds: number;
  readonly stages: StagesFigures;
  readonly cpu: CpuFigures;
}

export interface LatencyFigures {
  readonly store: StoreKind;
  readonly jobs: number;
  readonly agents: number;
  readonly targetRatePerSec: number;
  readonly achievedRatePerSec: number;
  readonly taskMs: number;
  readonly createP50Ms: number;
  readonly createP99Ms: number;
  readonly runningP50Ms: number;
  readonly runningP99Ms: number;
  readonly runningMaxMs: number;
  /** Jobs seen Running (the others were never seen Running: reported apart, not in the percentiles). */
  readonly seenRunning: number;
  readonly succeeded: number;
  readonly stages: StagesFigures;
  readonly cpu: CpuFigures;
}

export interface RealFigures {
  readonly store: 'sqlite';
  readonly agent: string;
  readonly jobs: number;
  readonly seconds: number;
  readonly jobsPerSec: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly rawSpawns: number;
  readonly spawnConcurrency: number;
  readonly rawSpawnsPerSec: number;
  readonly ratioToRaw: number;
  readonly stages: StagesFigures;
  readonly cpu: CpuFigures;
}

/** loadAvg: the 1-minute load average when the run started and ended (other work skews every figure). */
export interface MachineFigures {
  readonly cpus: number;
  readonly node: string;
  readonly loadAvg: readonly [number, number];
}

export interface RunJobsFigures {
  readonly machine: MachineFigures;
  readonly rawPutsPerSec: Partial<Record<StoreKind, number>>;
  readonly throughput: ThroughputFigures[];
  readonly latency: LatencyFigures[];
  readonly real?: RealFigures;
}

export const TARGETS = Object.freeze({
  etcdJobsPerSec: 500,
  storeWritesPerJob: 4,
  runningP99Ms: 250,
  realRatioToRaw: 0.5,
});

const CREATE_CONCURRENCY = 32;
const SPAWN_CONCURRENCY = 16;
/** Free ports, everything on loopback (the agent endpoint is then plaintext, as with `dev`). */
export const LOOPBACK_PORTS = Object.freeze({ bindAddress: '127.0.0.1', httpPort: 0, httpsPort: 0, grpcPort: 0 });
export const JOBS_PATH = '/apis/openscheduler.io/v1/namespaces/default/jobs';
export const NODES_PATH = '/apis/openscheduler.io/v1/nodes';

// ---- small helpers ---------------------------------------------------------------------------

function positiveInteger(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`run-jobs bench: ${field}: must be a positive integer, got ${String(value)}`);
  }
  return value;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves/rejects with `work`, or rejects when `signal` aborts first (the work is left to its owner's clean-up). */
export function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/**
 * Polls `probe` until it returns a value; throws naming `what` after `timeoutMs`, or at once
 * with what `hopeless` returns (e.g. the process that should answer has exited).
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  signal: AbortSignal,
  hopeless: () => Error | undefined = () => undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    signal.throwIfAborted();
    const fatal = hopeless();
    if (fatal) throw fatal;
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(250);
  }
}

/** LIFO clean-ups, each run once even when an earlier one fails. */
export class Cleanups {
  private readonly stack: { what: string; fn: () => Promise<void> }[] = [];

  constructor(private readonly progress: (line: string) => void) {}

  push(what: string, fn: () => Promise<void>): void {
    this.stack.push({ what, fn });
  }

  async run(): Promise<void> {
    for (let c = this.stack.pop(); c; c = this.stack.pop()) {
      await c.fn().catch((err: unknown) => this.progress(`clean-up of ${c?.what} failed: ${err instanceof Error ? err.message : String(err)}`));
    }
  }
}

// ---- CPU accounting from /proc -----------------------------------------------------------------

const CLOCK_TICKS = ((): number => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim();
  const n = Number(out);
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

export interface ProcCpu {
  readonly own: number;
  readonly children: number;
}

/** CPU seconds of a live process (user + system) and of its reaped children; zero when it is gone. */
async function procCpu(pid: number | undefined): Promise<ProcCpu> {
  if (pid === undefined) return { own: 0, children: 0 };
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (stat === '') return { own: 0, children: 0 };
  // fields after "(comm)": state is field 3; utime 14, stime 15, cutime 16, cstime 17
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const at = (n: number): number => Number(fields[n - 3] ?? 0);
  return { own: (at(14) + at(15)) / CLOCK_TICKS, children: (at(16) + at(17)) / CLOCK_TICKS };
}

/** CPU of a set of processes between start() and stop(). */
export class CpuMeter {
  private before = new Map<string, ProcCpu>();
  private benchBefore = process.cpuUsage();

  constructor(private readonly pids: Readonly<Record<string, number | undefined>>) {}

  async start(): Promise<void> {
    for (const [name, pid] of Object.entries(this.pids)) this.before.set(name, await procCpu(pid));
    this.benchBefore = process.cpuUsage();
  }

  async stop(): Promise<Record<string, ProcCpu> & { bench: number }> {
    const bench = process.cpuUsage(this.benchBefore);
    const out: Record<string, ProcCpu> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const now = await procCpu(pid);
      const was = this.before.get(name) ?? { own: 0, children: 0 };
      out[name] = { own: now.own - was.own, children: now.children - was.children };
    }
    return Object.assign(out, { bench: (bench.user + bench.system) / 1e6 });
  }
}

// ---- child processes ---------------------------------------------------------------------------

/** Run from the compiled JS under dist (npm run bench), not through tsx. */
const fromDist = !import.meta.url.endsWith('.ts');
const CHILD_SCRIPT = fileURLToPath(new URL(`./bench-run-jobs-child${fromDist ? '.js' : '.ts'}`, import.meta.url));

export interface ServerEndpoints {
  readonly httpUrl: string;
  readonly token: string;
  readonly grpcAddress: string;
  readonly joinTokenPath: string;
}

/** One forked child of bench-run-jobs-child.ts; stop() asks it to shut down, then kills it. */
export class BenchChild {
  private constructor(
    private readonly child: ChildProcess,
    readonly ready: Extract<ChildMessage, { type: 'ready' }>,
  ) {}

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** An error when the child has exited (it should run until stop()), else undefined. */
  exitedError(): Error | undefined {
    const { exitCode, signalCode } = this.child;
    return exitCode === null && signalCode === null ? undefined : new Error(`a bench child exited (code ${exitCode}, signal ${signalCode})`);
  }

  static async start(role: 'server' | 'agents', settings: unknown, cpuProfileDir?: string): Promise<BenchChild> {
    // The server child can then answer {cmd:'heap'} after a full GC (heap()).
    const gcFlag = role === 'server' ? ['--expose-gc'] : [];
    const execArgv = [...process.execArgv, ...gcFlag, ...(cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir] : [])];
    const child = fork(CHILD_SCRIPT, [role, JSON.stringify(settings)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const killOnExit = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    try {
      const ready = await new Promise<Extract<ChildMessage, { type: 'ready' }>>((resolve, reject) => {
        child.on('message', (m: ChildMessage) => {
          if (m.type === 'ready') resolve(m);
          else if (m.type === 'failed') reject(new Error(`bench ${role} child failed: ${m.error}`));
        });
        child.once('exit', (code, signal) => reject(new Error(`bench ${role} child exited early (code ${code}, signal ${signal})`)));
        child.once('error', reject);
      });
      return new BenchChild(child, ready);
    } catch (err) {
      await new BenchChild(child, { type: 'ready' }).stop();
      throw err;
    }
  }

  /** The server child's heap after a full GC (and its RSS), in bytes; rejects when the child exits first. */
  heap(): Promise<{ heapUsed: number; rss: number }> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: ChildMessage): void => {
        if (m.type !== 'heap') return;
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        resolve({ heapUsed: m.heapUsed, rss: m.rss });
      };
      const onExit = (): void => {
        this.child.off('message', onMessage);
        reject(this.exitedError() ?? new Error('the bench child exited'));
      };
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send({ cmd: 'heap' });
    });
  }

  async stop(graceMs = 20_000): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.connected) child.send({ cmd: 'stop' });
    else child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
    if ((await Promise.race([exited, late])) === 'late') {
      child.kill('SIGKILL');
      await exited;
    }
    clearTimeout(timer);
  }
}

// ---- REST ------------------------------------------------------------------------------------

export class RestClient {
  constructor(
    private readonly endpoints: ServerEndpoints,
    private readonly agent: http.Agent,
  ) {}

  /**
   * One request. A keep-alive connection the server closed as idle just as it was reused fails
   * with ECONNRESET before the server read anything: that request is sent again, once.
   */
  async request(method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
    try {
      return await this.send(method, path, body);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' || !(err as { reusedSocket?: boolean }).reusedSocket) throw err;
      return this.send(method, path, body);
    }
  }

  private send(method: string, path: string, body?: string): Promise<BenchReply> {
    return benchRequest(this.agent, `${this.endpoints.httpUrl}${path}`, method, this.endpoints.token, body);
  }


  async createJob(body: string): Promise<void> {
    const r = await this.request('POST', JOBS_PATH, body);
    if (r.status !== 201) throw new Error(`POST ${JOBS_PATH}: ${r.status} ${r.body.slice(0, 300)}`);
  }

  /** The store revision now (a jobs list's resourceVersion). */
  async revision(): Promise<number> {
    const r = await this.request('GET', `${JOBS_PATH}?limit=1`);
    if (r.status !== 200) throw new Error(`GET ${JOBS_PATH}: ${r.status} ${r.body.slice(0, 300)}`);
    return Number((JSON.parse(r.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion);
  }

  /** How many nodes are Ready. */
  async readyNodes(): Promise<number> {
    const r = await this.request('GET', `${NODES_PATH}?limit=1000`);
    if (r.status !== 200) throw new Error(`GET ${NODES_PATH}: ${r.status} ${r.body.slice(0, 300)}`);
    const list = JSON.parse(r.body) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] };
    return list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  }
}

export interface WatchedJob {
  readonly type: string;
  readonly name: string;
  readonly phase: string;
  readonly revision: number;
  /** performance.now() when the event was read. */
  readonly atMs: number;
}

/** A watch on the jobs of the default namespace from a revision (NDJSON over one HTTP response). */
export class JobWatch {
  private failure: Error | undefined;
  private closed = false;

  private constructor(private readonly req: http.ClientRequest) {}

  get error(): Error | undefined {
    return this.failure;
  }

  static open(endpoints: ServerEndpoints, fromRevision: number, onEvent: (event: WatchedJob) => void): Promise<JobWatch> {
    return new Promise((resolve, reject) => {
      let watch: JobWatch | undefined;
      const req = http.request(`${endpoints.httpUrl}${JOBS_PATH}?watch=true&resourceVersion=${fromRevision}`, {
        headers: { authorization: `Bearer ${endpoints.token}` },
        agent: false,
      });
      req.on('error', (err) => {
        if (watch) watch.fail(err);
        else reject(err);
      });
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`watch ${JOBS_PATH}: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        watch = new JobWatch(req);
        const w = watch;
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
            if (line.trim() === '') continue;
            const event = JSON.parse(line) as {
              type: string;
              object: { metadata?: { name?: string; resourceVersion?: string }; status?: { phase?: string }; message?: string };
            };
            if (event.type === 'ERROR') {
              w.fail(new Error(`watch ERROR event: ${event.object.message ?? line.slice(0, 300)}`));
              return;
            }
            if (event.type === 'BOOKMARK') continue;
            onEvent({
              type: event.type,
              name: event.object.metadata?.name ?? '',
              phase: event.object.status?.phase ?? 'Pending',
              revision: Number(event.object.metadata?.resourceVersion ?? 0),
              atMs,
            });
          }
        });
        res.on('end', () => w.fail(new Error('the watch stream ended')));
        res.on('error', (err) => w.fail(err));
        resolve(w);
      });
      req.end();
    });
  }

  private fail(err: Error): void {
    if (!this.closed) this.failure ??= err;
  }

  close(): void {
    this.closed = true;
    this.req.destroy();
  }
}

// ---- the sections ------------------------------------------------------------------------------

export interface StoreContext {
  readonly kind: StoreKind;
  /** Fresh server flags for a section (its own data dir; its own etcd prefix). */
  serverFlags(section: string): Record<string, unknown>;
  readonly etcd?: EtcdProcess;
  readonly workDir: string;
}

function hollowJob(name: string): string {
  return JSON.stringify({
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, labels: { bench: 'run' } },
    spec: { driver: 'process', command: ['/bin/true'], resources: { cpu: '10m', memory: '16Mi' } },
  });
}

const jobName = (prefix: string, i: number): string => `${prefix}-${String(i).padStart(6, '0')}`;

export interface Cluster {
  readonly server: BenchChild;
  readonly endpoints: ServerEndpoints;
  readonly rest: RestClient;
  readonly agents?: BenchChild;
}

export async function startCluster(
  ctx: StoreContext,
  section: string,
  agents: { count: number; durationMs: number } | undefined,
  httpAgent: http.Agent,
  cleanups: Cleanups,
  options: RunJobsBenchOptions,
  signal: AbortSignal,
): Promise<Cluster> {
  const profileDir = options.cpuProfileDir ? join(options.cpuProfileDir, `${section}-${ctx.kind}`) : undefined;
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const server = await BenchChild.start('server', ctx.serverFlags(section), profileDir);
  cleanups.push(`${section} server`, () => server.stop());
  const { httpUrl, token, grpcAddress, joinTokenPath } = server.ready;
  if (!httpUrl || !token || !grpcAddress || !joinTokenPath) throw new Error(`the bench server child reported no endpoints: ${JSON.stringify(server.ready)}`);
  const endpoints: ServerEndpoints = { httpUrl, token, grpcAddress, joinTokenPath };
  const rest = new RestClient(endpoints, httpAgent);
  if (!agents) return { server, endpoints, rest };
  const settings: AgentsChildSettings = {
    grpcAddress: endpoints.grpcAddress,
    tokenFile: endpoints.joinTokenPath,
    count: agents.count,
    durationMs: agents.durationMs,
    stateRoot: join(ctx.workDir, `${section}-agents`),
    namePrefix: 'hollow',
  };
  const agentsChild = await BenchChild.start('agents', settings, profileDir);
  cleanups.push(`${section} agents`, () => agentsChild.stop());
  await waitFor(
    `${agents.count} Ready nodes`,
    async () => ((await rest.readyNodes()) >= agents.count ? true : undefined),
    120_000,
    signal,
    () => server.exitedError() ?? agentsChild.exitedError(),
  );
  return { server, endpoints, rest, agents: agentsChild };
}

/**
 * Waits until the store is back to its background write rate (at most `backgroundPerSec` writes
 * in a second: node heartbeats) after a run, at most `maxMs`; returns the revision then and how
 * long the trailing writes (queued events) took.
 */
export async function settledRevision(
  rest: RestClient,
  backgroundPerSec: number,
  signal: AbortSignal,
  maxMs = 120_000,
): Promise<{ revision: number; seconds: number }> {
  const started = performance.now();
  let last = await rest.revision();
  for (;;) {
    signal.throwIfAborted();
    await sleep(1000);
    const now = await rest.revision();
    if (now - last <= backgroundPerSec || performance.now() - started > maxMs) return { revision: now, seconds: (performance.now() - started) / 1000 };
    last = now;
  }
}

/** p50 and p99 of a stage, in ms. */
export interface StageFigures {
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Where a job's time goes, from the start of its POST (watch events as seen by the bench). */
export interface StagesFigures {
  readonly postToScheduled: StageFigures;
  readonly scheduledToRunning: StageFigures;
  readonly runningToSucceeded: StageFigures;
  /** Most jobs Scheduled or Running at once (bound, not finished). */
  readonly maxActive: number;
}

const ACTIVE_PHASES: ReadonlySet<string> = new Set(['Scheduled', 'Running']);

/** Tracks the jobs of a run from the watch: writes per job, first time in each phase, terminal count. */
export class RunTracker {
  readonly postAt = new Map<string, number>();
  readonly writes = new Map<string, number>();
  readonly scheduledAt = new Map<string, number>();
  readonly runningAt = new Map<string, number>();
  readonly terminalAt = new Map<string, number>();
  readonly terminal = new Map<string, string>();
  lastTerminalRevision = 0;
  lastTerminalAtMs = 0;
  maxActive = 0;
  private readonly phase = new Map<string, string>();
  private active = 0;
  private waiter: { count: number; resolve: () => void } | undefined;

  /** Call just before the job's POST. */
  posting(name: string): void {
    this.postAt.set(name, performance.now());
  }

  onEvent = (e: WatchedJob): void => {
    if (e.type === 'ADDED' || e.type === 'MODIFIED') this.writes.set(e.name, (this.writes.get(e.name) ?? 0) + 1);
    const was = this.phase.get(e.name);
    const now = e.type === 'DELETED' ? undefined : e.phase;
    if (now === undefined) this.phase.delete(e.name);
    else this.phase.set(e.name, now);
    this.active += (now !== undefined && ACTIVE_PHASES.has(now) ? 1 : 0) - (was !== undefined && ACTIVE_PHASES.has(was) ? 1 : 0);
    this.maxActive = Math.max(this.maxActive, this.active);
    if (e.phase === 'Scheduled' && !this.scheduledAt.has(e.name)) this.scheduledAt.set(e.name, e.atMs);
    if (e.phase === 'Running' && !this.runningAt.has(e.name)) this.runningAt.set(e.name, e.atMs);
    if ((e.phase === 'Succeeded' || e.phase === 'Failed') && !this.terminal.has(e.name)) {
      this.terminal.set(e.name, e.phase);
      this.terminalAt.set(e.name, e.atMs);
      this.lastTerminalRevision = Math.max(this.lastTerminalRevision, e.revision);
      this.lastTerminalAtMs = e.atMs;
      if (this.waiter && this.terminal.size >= this.waiter.count) this.waiter.resolve();
    }
  };

  count(phase: string): number {
    let n = 0;
    for (const p of this.terminal.values()) if (p === phase) n++;
    return n;
  }

  /** Durations from one map's time to another's, for the jobs in both, sorted. */
  durations(from: ReadonlyMap<string, number>, to: ReadonlyMap<string, number>): number[] {
    const out: number[] = [];
    for (const [name, end] of to) {
      const begin = from.get(name);
      if (begin !== undefined) out.push(end - begin);
    }
    return out.sort((a, b) => a - b);
  }

  stages(): StagesFigures {
    const stage = (from: ReadonlyMap<string, number>, to: ReadonlyMap<string, number>): StageFigures => {
      const d = this.durations(from, to);
      return { p50Ms: percentile(d, 50), p99Ms: percentile(d, 99) };
    };
    return {
      postToScheduled: stage(this.postAt, this.scheduledAt),
      scheduledToRunning: stage(this.scheduledAt, this.runningAt),
      runningToSucceeded: stage(this.runningAt, this.terminalAt),
      maxActive: this.maxActive,
    };
  }

  /** Resolves once `count` jobs are Succeeded or Failed; rejects on a watch failure, when `hopeless` says so, or after timeoutMs. */
  async allTerminal(count: number, watch: JobWatch, timeoutMs: number, signal: AbortSignal, hopeless: () => Error | undefined): Promise<void> {
    if (this.terminal.size >= count) return;
    const done = new Promise<void>((resolve) => (this.waiter = { count, resolve }));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      signal.throwIfAborted();
      const fatal = watch.error ?? hopeless();
      if (fatal) throw fatal;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms: ${this.terminal.size} of ${count} jobs finished, ${this.runningAt.size} seen Running`);
      }
      if ((await Promise.race([done.then(() => 'done' as const), sleep(250)])) === 'done') return;
    }
  }
}

async function benchThroughput(
  ctx: StoreContext,
  rawPutsPerSec: number,
  jobs: number,
  agentCount: number,
  httpAgent: http.Agent,
  options: RunJobsBenchOptions,
  signal: AbortSignal,
  progress: (line: string) => void,
): Promise<ThroughputFigures> {
  const cleanups = new Cleanups(progress);
  try {
    const { rest, endpoints, server, agents } = await startCluster(ctx, 'throughput', { count: agentCount, durationMs: 0 }, httpAgent, cleanups, options, signal);
    const tracker = new RunTracker();
    const r0 = await rest.revision();
    const watch = await JobWatch.open(endpoints, r0, tracker.onEvent);
    cleanups.push('throughput watch', async () => watch.close());
    const bodies = Array.from({ length: jobs }, (_, i) => hollowJob(jobName('run', i)));
    const cpu = new CpuMeter({ server: server.pid, agents: agents?.pid, etcd: ctx.etcd?.pid });
    progress(`throughput/${ctx.kind}: creating ${jobs} jobs on ${agentCount} hollow agents`);
    await cpu.start();
    const started = performance.now();
    await abortable(
      inFlight(
        jobs,
        CREATE_CONCURRENCY,
        (i) => {
          tracker.posting(jobName('run', i));
          return rest.createJob(bodies[i] ?? '');
        },
        signal,
      ),
      signal,
    );
    const createSeconds = (performance.now() - started) / 1000;
    await tracker.allTerminal(jobs, watch, Math.max(300_000, jobs * 50), signal, () => server.exitedError() ?? agents?.exitedError());
    const seconds = (tracker.lastTerminalAtMs - started) / 1000;
    const used = await cpu.stop();
    const atDone = tracker.lastTerminalRevision - r0;
    progress(`throughput/${ctx.kind}: all finished after ${seconds.toFixed(1)} s; waiting for the trailing writes`);
    const trailing = await settledRevision(rest, Math.max(2, Math.ceil(agentCount / 30)), signal);
    const settled = trailing.revision - r0;
    if (watch.error) throw watch.error;
    watch.close();
    const histogram: Record<string, number> = {};
    let jobWrites = 0;
    for (const n of tracker.writes.values()) {
      jobWrites += n;
      histogram[String(n)] = (histogram[String(n)] ?? 0) + 1;
    }
    return {
      store: ctx.kind,
      jobs,
      agents: agentCount,
      seconds,
      jobsPerSec: jobs / seconds,
      createSeconds,
      createsPerSec: jobs / createSeconds,
      succeeded: tracker.count('Succeeded'),
      failed: tracker.count('Failed'),
      rawPutsPerSec,
      storeWritesAtDone: atDone,
      storeWrites: settled,
      storeWritesPerJob: settled / jobs,
      jobWrites,
      jobWritesPerJob: jobWrites / jobs,
      jobWritesHistogram: histogram,
      otherWritesPerJob: (settled - jobWrites) / jobs,
      storeWritesPerSec: atDone / seconds,
      trailingWritesSeconds: trailing.seconds,
      stages: tracker.stages(),
      cpu: simulatedAgentsCpu(used, ctx),
    };
  } finally {
    await cleanups.run();
  }
}

async function benchLatency(
  ctx: StoreContext,
  jobs: number,
  ratePerSec: number,
  taskMs: number,
  agentCount: number,
  httpAgent: http.Agent,
  options: RunJobsBenchOptions,
  signal: AbortSignal,
  progress: (line: string) => void,
): Promise<LatencyFigures> {
  const cleanups = new Cleanups(progress);
  try {
    const { rest, endpoints, server, agents } = await startCluster(ctx, 'latency', { count: agentCount, durationMs: taskMs }, httpAgent, cleanups, options, signal);
    const tracker = new RunTracker();
    const watch = await JobWatch.open(endpoints, await rest.revision(), tracker.onEvent);
    cleanups.push('latency watch', async () => watch.close());
    const names = Array.from({ length: jobs }, (_, i) => jobName('lat', i));
    const createMs: number[] = [];
    const cpu = new CpuMeter({ server: server.pid, agents: agents?.pid, etcd: ctx.etcd?.pid });
    progress(`latency/${ctx.kind}: ${jobs} jobs at ${ratePerSec}/s, hollow tasks of ${taskMs} ms`);
    await cpu.start();
    const started = performance.now();
    const posts: Promise<void>[] = [];
    let postError: unknown;
    for (let i = 0; i < jobs; i++) {
      if (postError !== undefined) break;
      signal.throwIfAborted();
      const due = started + (i * 1000) / ratePerSec;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const name = names[i] ?? '';
      tracker.posting(name);
      const t0 = performance.now();
      posts.push(
        rest.createJob(hollowJob(name)).then(
          () => void createMs.push(performance.now() - t0),
          (err: unknown) => void (postError ??= err),
        ),
      );
    }
    const lastPost = performance.now();
    await abortable(Promise.all(posts), signal);
    if (postError !== undefined) throw postError instanceof Error ? postError : new Error(String(postError));
    await tracker.allTerminal(jobs, watch, 120_000 + taskMs * 2, signal, () => server.exitedError() ?? agents?.exitedError());
    const used = await cpu.stop();
    if (watch.error) throw watch.error;
    watch.close();
    const latencies = tracker.durations(tracker.postAt, tracker.runningAt);
    createMs.sort((a, b) => a - b);
    return {
      store: ctx.kind,
      jobs,
      agents: agentCount,
      targetRatePerSec: ratePerSec,
      achievedRatePerSec: jobs > 1 ? ((jobs - 1) * 1000) / (lastPost - started) : ratePerSec,
      taskMs,
      createP50Ms: percentile(createMs, 50),
      createP99Ms: percentile(createMs, 99),
      runningP50Ms: percentile(latencies, 50),
      runningP99Ms: percentile(latencies, 99),
      runningMaxMs: latencies.at(-1) ?? NaN,
      seenRunning: latencies.length,
      succeeded: tracker.count('Succeeded'),
      stages: tracker.stages(),
      cpu: simulatedAgentsCpu(used, ctx),
    };
  } finally {
    await cleanups.run();
  }
}

/** spawns/s of `argv` with `concurrency` in flight (each waited for until it exited). */
async function rawSpawnRate(argv: readonly string[], total: number, concurrency: number, signal: AbortSignal): Promise<number> {
  const once = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn(argv[0] ?? '/bin/true', argv.slice(1), { stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')} exited with ${code}`))));
    });
  const started = performance.now();
  await inFlight(total, concurrency, once, signal);
  return total / ((performance.now() - started) / 1000);
}

async function benchReal(
  ctx: StoreContext,
  jobs: number,
  rawSpawns: number,
  httpAgent: http.Agent,
  options: RunJobsBenchOptions,
  signal: AbortSignal,
  progress: (line: string) => void,
): Promise<RealFigures> {
  const cleanups = new Cleanups(progress);
  try {
    progress(`real/${ctx.kind}: raw spawn rate of /bin/true (${rawSpawns} spawns, ${SPAWN_CONCURRENCY} in flight)`);
    const rawSpawnsPerSec = await rawSpawnRate(['/bin/true'], rawSpawns, SPAWN_CONCURRENCY, signal);
    const { rest, endpoints, server } = await startCluster(ctx, 'real', undefined, httpAgent, cleanups, options, signal);
    const agent = await startAgentProcess({ grpcAddress: endpoints.grpcAddress, tokenFile: endpoints.joinTokenPath, nodeName: 'bench-real' });
    let agentExit: number | undefined;
    void agent.exited.then((code) => (agentExit = code));
    const killOnExit = (): void => agent.kill('SIGKILL');
    process.once('exit', killOnExit);
    cleanups.push('real agent', async () => {
      process.off('exit', killOnExit);
      const code = await agent.stop();
      if (code !== 0) progress(`the real agent exited with ${code}; its last output:\n${agent.output().slice(-4000)}`);
    });
    await waitFor(
      'node bench-real Ready',
      async () => ((await rest.readyNodes()) >= 1 ? true : undefined),
      60_000,
      signal,
      () => (agentExit === undefined ? undefined : new Error(`the agent exited with ${agentExit}: ${agent.output().slice(-2000)}`)),
    );
    const tracker = new RunTracker();
    const watch = await JobWatch.open(endpoints, await rest.revision(), tracker.onEvent);
    cleanups.push('real watch', async () => watch.close());
    const bodies = Array.from({ length: jobs }, (_, i) => hollowJob(jobName('true', i)));
    const cpu = new CpuMeter({ server: server.pid, agent: agent.pid });
    progress(`real/${ctx.kind}: ${jobs} /bin/true jobs on one openscheduler agent process`);
    await cpu.start();
    const started = performance.now();
    await abortable(
      inFlight(
        jobs,
        CREATE_CONCURRENCY,
        (i) => {
          tracker.posting(jobName('true', i));
          return rest.createJob(bodies[i] ?? '');
        },
        signal,
      ),
      signal,
    );
    await tracker.allTerminal(jobs, watch, Math.max(300_000, jobs * 200), signal, () =>
      server.exitedError() ?? (agentExit === undefined ? undefined : new Error(`the agent exited with ${agentExit}`)),
    );
    const seconds = (tracker.lastTerminalAtMs - started) / 1000;
    const used = await cpu.stop();
    if (watch.error) throw watch.error;
    watch.close();
    return {
      store: 'sqlite',
      agent: `one \`openscheduler agent\` process (ProcessDriver; ${
        fromDist ? 'compiled JS' : 'run through tsx: every task supervisor transpiles at start, run from dist for real figures'
      }), jobs request cpu 10m`,
      jobs,
      seconds,
      jobsPerSec: jobs / seconds,
      succeeded: tracker.count('Succeeded'),
      failed: tracker.count('Failed'),
      rawSpawns,
      spawnConcurrency: SPAWN_CONCURRENCY,
      rawSpawnsPerSec,
      ratioToRaw: jobs / seconds / rawSpawnsPerSec,
      stages: tracker.stages(),
      cpu: {
        serverSeconds: used.server?.own ?? 0,
        agentsSeconds: used.agent?.own ?? 0,
        agentChildrenSeconds: used.agent?.children ?? 0,
        benchSeconds: used.bench,
      },
    };
  } finally {
    await cleanups.run();
  }
}

// ---- the whole run ------------------------------------------------------------------------------

/** Throws a RangeError naming the option and the rule for bad options. */
function checkOptions(o: RunJobsBenchOptions): void {
  if (!Array.isArray(o.stores) || o.stores.some((s) => s !== 'sqlite' && s !== 'etcd')) {
    throw new RangeError('run-jobs bench: stores: must list "sqlite" and/or "etcd"');
  }
  if (!Array.isArray(o.sections) || o.sections.some((s) => !RUN_SECTIONS.includes(s))) {
    throw new RangeError(`run-jobs bench: sections: must list some of ${RUN_SECTIONS.join(', ')}`);
  }
  for (const field of ['throughputJobs', 'agents', 'latencyJobs', 'latencyRatePerSec', 'latencyTaskMs', 'realJobs', 'rawSpawns', 'rawStorePuts'] as const) {
    if (o[field] !== undefined) positiveInteger(field, o[field]);
  }
  if ((o.agents ?? 100) > 5000) throw new RangeError('run-jobs bench: agents: must be at most 5000');
}

export async function benchRunJobs(options: RunJobsBenchOptions): Promise<RunJobsFigures> {
  checkOptions(options);
  const began = performance.now();
  const progress =
    options.progress ?? ((line: string) => process.stderr.write(`[bench +${((performance.now() - began) / 1000).toFixed(0)}s] ${line}\n`));
  const agents = options.agents ?? 100;
  const interrupted = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => interrupted.abort(new Error(`interrupted by ${sig}`));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const signal = interrupted.signal;
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const figures: { rawPutsPerSec: Partial<Record<StoreKind, number>>; throughput: ThroughputFigures[]; latency: LatencyFigures[]; real?: RealFigures } = {
    rawPutsPerSec: {},
    throughput: [],
    latency: [],
  };
  const loadAtStart = loadavg()[0] ?? NaN;
  const workDir = await mkdtemp(join(tmpdir(), 'os-bench-run-'));
  try {
    for (const kind of options.stores) {
      const wantsCluster = options.sections.some((s) => s === 'throughput' || s === 'latency');
      if (!wantsCluster) continue;
      const cleanups = new Cleanups(progress);
      try {
        const storeDir = join(workDir, kind);
        await mkdir(storeDir, { recursive: true });
        let etcd: EtcdProcess | undefined;
        if (kind === 'etcd') {
          etcd = await startEtcd();
          const started = etcd;
          cleanups.push('etcd', () => started.stop());
        }
        const ctx: StoreContext = {
          kind,
          workDir: storeDir,
          ...(etcd ? { etcd } : {}),
          serverFlags: (section) => ({
            dataDir: join(storeDir, `${section}-server`),
            ...LOOPBACK_PORTS,
            ...(etcd ? { etcdEndpoints: [etcd.endpoint], etcdPrefix: `/bench-run-${section}` } : { store: 'sqlite' }),
          }),
        };
        progress(`${kind}: raw store puts (${options.rawStorePuts ?? 5000}, ${CREATE_CONCURRENCY} in flight)`);
        const rawStore = await openStore(
          etcd ? { type: 'etcd', endpoints: [etcd.endpoint], prefix: '/bench-run-raw' } : { type: 'sqlite', path: join(storeDir, 'raw.db') },
        );
        const raw = await benchRawStore(rawStore, { n: options.rawStorePuts ?? 5000, concurrency: CREATE_CONCURRENCY, minPages: 1 }).finally(() =>
          rawStore.close(),
        );
        figures.rawPutsPerSec[kind] = raw.putsPerSec;
        if (options.sections.includes('throughput')) {
          figures.throughput.push(
            await benchThroughput(ctx, raw.putsPerSec, options.throughputJobs ?? 10_000, agents, httpAgent, options, signal, progress),
          );
        }
        if (options.sections.includes('latency')) {
          figures.latency.push(
            await benchLatency(
              ctx,
              options.latencyJobs ?? 1000,
              options.latencyRatePerSec ?? 50,
              options.latencyTaskMs ?? 2000,
              agents,
              httpAgent,
              options,
              signal,
              progress,
            ),
          );
        }
      } finally {
        await cleanups.run();
      }
    }
    if (options.sections.includes('real') && options.stores.includes('sqlite')) {
      const storeDir = join(workDir, 'real');
      await mkdir(storeDir, { recursive: true });
      const ctx: StoreContext = {
        kind: 'sqlite',
        workDir: storeDir,
        serverFlags: (section) => ({ dataDir: join(storeDir, `${section}-server`), ...LOOPBACK_PORTS, store: 'sqlite' }),
      };
      figures.real = await benchReal(ctx, options.realJobs ?? 1000, options.rawSpawns ?? 1000, httpAgent, options, signal, progress);
    }
    return { machine: { cpus: cpus().length, node: process.version, loadAvg: [loadAtStart, loadavg()[0] ?? NaN] }, ...figures };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    httpAgent.destroy();
    await rm(workDir, { recursive: true, force: true });
  }
}

// ---- the report ---------------------------------------------------------------------------------

const f = (n: number | undefined, digits = 0): string => (n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(digits));
const verdict = (met: boolean): string => (met ? 'met' : 'MISSED');

/** The CPU figures of a section with the server, the simulated agents' child and maybe etcd. */
function simulatedAgentsCpu(used: Record<string, ProcCpu> & { bench: number }, ctx: StoreContext): CpuFigures {
  return {
    serverSeconds: used.server?.own ?? 0,
    agentsSeconds: used.agents?.own ?? 0,
    ...(ctx.etcd ? { etcdSeconds: used.etcd?.own ?? 0 } : {}),
    benchSeconds: used.bench,
  };
}

function cpuText(cpu: CpuFigures, seconds?: number): string {
  const part = (label: string, s: number | undefined): string | undefined =>
    s === undefined ? undefined : `${label} ${f(s, 1)} s${seconds ? ` (${f((100 * s) / seconds)}%)` : ''}`;
  return [
    part('server', cpu.serverSeconds),
    part('etcd', cpu.etcdSeconds),
    part('agents', cpu.agentsSeconds),
    part('tasks', cpu.agentChildrenSeconds),
    part('bench', cpu.benchSeconds),
  ]
    .filter((p) => p !== undefined)
    .join(', ');
}

/** The rows of a StagesFigures, made by `row` from a label and a cell renderer. */
function stageRows(row: (cell: { label: string; value: (s: StagesFigures) => string }) => string): string[] {
  const pair = (st: StageFigures): string => `${f(st.p50Ms, 1)} / ${f(st.p99Ms, 1)}`;
  return [
    row({ label: 'POST start -> Scheduled p50 / p99 (ms)', value: (s) => pair(s.postToScheduled) }),
    row({ label: 'Scheduled -> Running p50 / p99 (ms)', value: (s) => pair(s.scheduledToRunning) }),
    row({ label: 'Running -> Succeeded p50 / p99 (ms)', value: (s) => pair(s.runningToSucceeded) }),
    row({ label: 'most jobs Scheduled or Running at once', value: (s) => String(s.maxActive) }),
  ];
}

/** Markdown tables of the figures (rows: figures; columns: stores), each with its target and the raw limit. */
export function formatRunJobsReport(fig: RunJobsFigures): string {
  const load = fig.machine.loadAvg.map((l) => f(l, 1)).join(' -> ');
  const out: string[] = [`\n## Running jobs end to end (${fig.machine.cpus} CPUs, Node ${fig.machine.node}, load average ${load})`];
  if (fig.throughput.length > 0) {
    const t = fig.throughput;
    const head = `| figure | ${t.map((x) => x.store).join(' | ')} | target |`;
    const rule = `|---|${t.map(() => '---:').join('|')}|---|`;
    const row = (label: string, cell: (x: ThroughputFigures) => string, target = ''): string => `| ${label} | ${t.map(cell).join(' | ')} | ${target} |`;
    out.push(
      `\n### (a) throughput: ${t[0]?.jobs} jobs on ${t[0]?.agents} hollow agents, created ${CREATE_CONCURRENCY} in flight`,
      '',
      head,
      rule,
      row(
        'jobs/s (first create -> all Succeeded)',
        (x) => `${f(x.jobsPerSec)}${x.store === 'etcd' ? ` (${verdict(x.jobsPerSec >= TARGETS.etcdJobsPerSec)})` : ''}`,
        `>= ${TARGETS.etcdJobsPerSec} on etcd`,
      ),
      row('seconds', (x) => f(x.seconds, 1)),
      row('succeeded / failed', (x) => `${x.succeeded} / ${x.failed}`, `all succeeded`),
      row('creates/s (while jobs run)', (x) => f(x.createsPerSec)),
      row('raw store puts/s (same run)', (x) => f(x.rawPutsPerSec)),
      row('jobs/s / raw puts/s', (x) => `${f((100 * x.jobsPerSec) / x.rawPutsPerSec, 1)}%`),
      row(
        'store writes/job (revision delta, settled)',
        (x) => `${f(x.storeWritesPerJob, 2)} (${verdict(x.storeWritesPerJob <= TARGETS.storeWritesPerJob)})`,
        `<= ${TARGETS.storeWritesPerJob}`,
      ),
      row('store writes/job at the last Succeeded', (x) => f(x.storeWritesAtDone / x.jobs, 2)),
      row(
        'job-object writes/job (watch ADDED+MODIFIED)',
        (x) => `${f(x.jobWritesPerJob, 2)} (${verdict(x.jobWritesPerJob <= TARGETS.storeWritesPerJob)})`,
        `<= ${TARGETS.storeWritesPerJob} (happy path: 4)`,
      ),
      row('jobs by their number of job writes', (x) =>
        Object.entries(x.jobWritesHistogram)
          .map(([k, n]) => `${k}: ${n}`)
          .join(', '),
      ),
      row('other writes/job (events, nodes, leases)', (x) => f(x.otherWritesPerJob, 2)),
      row('store writes/s sustained / raw puts/s', (x) => `${f(x.storeWritesPerSec)} / ${f(x.rawPutsPerSec)} (${f((100 * x.storeWritesPerSec) / x.rawPutsPerSec)}%)`),
      row('trailing writes after the last Succeeded (s)', (x) => f(x.trailingWritesSeconds)),
      ...stageRows((cell) => row(cell.label, (x) => cell.value(x.stages))),
      row('CPU over the run (% of one core)', (x) => cpuText(x.cpu, x.seconds)),
      row('server CPU ms/job', (x) => f((1000 * x.cpu.serverSeconds) / x.jobs, 2)),
    );
  }
  if (fig.latency.length > 0) {
    const l = fig.latency;
    const row = (label: string, cell: (x: LatencyFigures) => string, target = ''): string => `| ${label} | ${l.map(cell).join(' | ')} | ${target} |`;
    out.push(
      `\n### (b) apply -> Running latency: ${l[0]?.jobs} jobs at ${l[0]?.targetRatePerSec}/s on ${l[0]?.agents} hollow agents (tasks run ${l[0]?.taskMs} ms)`,
      '',
      `| figure | ${l.map((x) => x.store).join(' | ')} | target |`,
      `|---|${l.map(() => '---:').join('|')}|---|`,
      row('POST start -> watch shows Running p50 (ms)', (x) => f(x.runningP50Ms, 1)),
      row(
        'POST start -> watch shows Running p99 (ms)',
        (x) => `${f(x.runningP99Ms, 1)} (${verdict(x.runningP99Ms <= TARGETS.runningP99Ms)})`,
        `<= ${TARGETS.runningP99Ms}`,
      ),
      row('... max (ms)', (x) => f(x.runningMaxMs, 1)),
      row('POST round trip p50 / p99 (ms)', (x) => `${f(x.createP50Ms, 1)} / ${f(x.createP99Ms, 1)}`),
      row('creates/s achieved', (x) => f(x.achievedRatePerSec, 1)),
      row('seen Running / succeeded', (x) => `${x.seenRunning} / ${x.succeeded}`, 'all'),
      ...stageRows((cell) => row(cell.label, (x) => cell.value(x.stages))),
      row('CPU over the run', (x) => cpuText(x.cpu)),
    );
  }
  if (fig.real) {
    const r = fig.real;
    out.push(
      `\n### (c) real processes: ${r.jobs} \`/bin/true\` jobs on ${r.agent}, SQLite`,
      '',
      '| figure | value | target |',
      '|---|---:|---|',
      `| jobs/s (first create -> all Succeeded) | ${f(r.jobsPerSec, 1)} | |`,
      `| raw spawn rate of /bin/true (${r.spawnConcurrency} in flight, ${r.rawSpawns} spawns) | ${f(r.rawSpawnsPerSec, 1)}/s | |`,
      `| jobs/s / raw spawns/s | ${f(r.ratioToRaw, 2)} (${verdict(r.ratioToRaw >= TARGETS.realRatioToRaw)}) | >= ${TARGETS.realRatioToRaw} |`,
      `| seconds | ${f(r.seconds, 1)} | |`,
      `| succeeded / failed | ${r.succeeded} / ${r.failed} | all succeeded |`,
      ...stageRows((cell) => `| ${cell.label} | ${cell.value(r.stages)} | |`),
      `| CPU over the run | ${cpuText(r.cpu, r.seconds)} | |`,
    );
  }
  return out.join('\n');
}

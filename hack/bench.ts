// `npm run bench`: control-plane figures for both stores, each next to the raw limit measured in
// the same run on the same machine.
//
// For each store (embedded SQLite, etcd started here on loopback):
//   raw store  - puts/s of ifAbsent puts (10,000 x ~1.5 KB, 32 in flight) and p50/p99 of 500-key pages,
//                straight on the Store (no HTTP, no JSON handling);
//   raw HTTP   - GET /healthz round trips/s against the same server (32 in flight): the HTTP ceiling;
//   API        - Job creates/s through POST (10,000 jobs, 32 in flight), list latency p50/p99 for pages of
//                500 over the 10,000 jobs (limit/continue), and the server's heap (after a full GC) before
//                and after holding 10,000 jobs. The server runs in a child process so its heap is its own.
//
// Then the run-jobs sections (hack/bench-run-jobs.ts): (a) throughput of N jobs on simulated
// agents with store writes per job, (b) apply->Running latency at a steady rate, (c) real
// /bin/true jobs on one real agent against the raw spawn rate; each printed as a Markdown table
// with its target, and all their figures as JSON (to stdout, or to --json PATH).
//
// Usage: npm run bench [-- --jobs N] [-- --only sqlite|etcd]
//          [-- --skip-run | --only-run [throughput,latency,real]] [-- --run-jobs N] [-- --agents N]
//          [-- --json PATH] [-- --cpu-prof DIR]
//   --skip-run          no run-jobs sections (the control-plane ones above, drivers and scale still run)
//   --only-run [LIST]   only the run-jobs sections (all, or the comma-separated ones)
//   --run-jobs N        jobs of the throughput section (default 10,000); --agents N hollow agents (100)
//   --cpu-prof DIR      V8 CPU profiles of the run-jobs server and agents children, per section
//   --skip-drivers      no container-driver section; --only-drivers: only that section
//   --driver-tasks N    tasks per container-driver measurement (default 40); --driver-concurrency N (2)
//   --no-audit          the API server without its audit log (the default writes it, as a server does)
//
// Then the scale sections (hack/bench-scale.ts, issue 7): scheduling, agents, watchers, heartbeats
// (all by default), and soak (only with --soak or when listed):
//   --only-scale [LIST] only the scale sections (default ones, or the comma-separated ones);
//   --skip-scale        none of them; --soak adds the soak to the default ones
//   --scale-stores LIST stores of the scheduling and agents sections (default sqlite)
//   sizes: --sched-nodes N (5,000) --sched-jobs N (10,000) --scale-agents N (1,000)
//          --scale-agent-jobs N (10,000) --watchers N (1,000) --watch-jobs N (10,000)
//          --watch-rate N (50 updates/s) --watch-seconds N (20) --hb-agents N (5,000)
//          --hb-seconds N (60) --soak-jobs N (100,000) --soak-agents N (100) --soak-window N (10,000)
//          --soak-event-ttl SECONDS (60: the soak server's --event-ttl); --cpu-prof DIR profiles the soak too
//          --soak-store-history SECONDS (the soak server's --store-history; default the server's 5 min)
//          --soak-tail SECONDS (0: how long the soak's file is still sampled after the last job)
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../store/index.js';
import { startEtcd, type EtcdProcess } from '../test/harness/etcd.js';
import { writeFile } from 'node:fs/promises';
import { benchRunJobs, formatRunJobsReport, RUN_SECTIONS, type RunSection, type StoreKind } from './bench-run-jobs.js';
import { benchRawStore, type RawStoreFigures } from './bench-store.js';
import { benchRequest, type BenchReply } from './bench-http.js';
import { inFlight } from './bench-stats.js';
import { benchContainerDrivers, formatContainerDriversReport, type DriverBenchRow } from './bench-container-drivers.js';
import { benchScale, DEFAULT_SCALE_SECTIONS, formatScaleReport, SCALE_SECTIONS, type ScaleFigures, type ScaleSection } from './bench-scale.js';

const CONCURRENCY = 32;
const PAGE = 500;

interface ApiFigures {
  createsPerSec: number;
  healthzPerSec: number;
  listP50Ms: number;
  listP99Ms: number;
  pages: number;
  heapBeforeMb: number;
  heapAfterMb: number;
  rssAfterMb: number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function request(url: string, method: string, token: string, body?: string): Promise<BenchReply> {
  return benchRequest(agent, url, method, token, body);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function jobBody(i: number): string {
  return JSON.stringify({
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name: `bench-${String(i).padStart(6, '0')}`, labels: { bench: 'true', shard: String(i % 16) } },
    spec: {
      driver: 'process',
      command: ['/bin/sh', '-c'],
      args: ['echo benchmark job number ' + i + ' && sleep 1'],
      env: [{ name: 'GREETING', value: 'hello' }, { name: 'INDEX', value: String(i) }],
      resources: { cpu: '250m', memory: '64Mi' },
      timeoutSeconds: 600,
      retryPolicy: { maxRetries: 3, backoffSeconds: 10 },
    },
  });
}

class ServerChild {
  private constructor(
    private readonly child: ChildProcess,
    readonly httpUrl: string,
    readonly token: string,
  ) {}

  static async start(flags: Record<string, unknown>): Promise<ServerChild> {
    const script = fileURLToPath(new URL('./bench-server-child.js', import.meta.url));
    const child = fork(script, [JSON.stringify(flags)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await new Promise<{ httpUrl: string; token: string }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { httpUrl: string; token: string }));
      child.once('exit', (code) => reject(new Error(`bench server exited early with ${code}`)));
    });
    return new ServerChild(child, ready.httpUrl, ready.token);
  }

  heap(): Promise<{ heapUsed: number; rss: number }> {
    return new Promise((resolve) => {
      this.child.once('message', (m) => resolve(m as { heapUsed: number; rss: number }));
      this.child.send({ cmd: 'heap' });
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'stop' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

async function benchApi(flags: Record<string, unknown>, jobs: number): Promise<ApiFigures> {
  const server = await ServerChild.start(flags);
  try {
    const { httpUrl, token } = server;
    const healthz = 5000;
    const healthzSecs = await inFlight(healthz, CONCURRENCY, async () => {
      const r = await request(`${httpUrl}/healthz`, 'GET', token);
      if (r.status !== 200) throw new Error(`healthz: ${r.status}`);
    });
    const before = await server.heap();

    const jobsUrl = `${httpUrl}/apis/openscheduler.io/v1/namespaces/default/jobs`;
    const createSecs = await inFlight(jobs, CONCURRENCY, async (i) => {
      const r = await request(jobsUrl, 'POST', token, jobBody(i));
      if (r.status !== 201) throw new Error(`create ${i}: ${r.status} ${r.body.slice(0, 300)}`);
    });

    const latencies: number[] = [];
    for (let round = 0; round < 5; round++) {
      let cont = '';
      let seen = 0;
      do {
        const t0 = process.hrtime.bigint();
        const r = await request(`${jobsUrl}?limit=${PAGE}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`, 'GET', token);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (r.status !== 200) throw new Error(`list: ${r.status} ${r.body.slice(0, 300)}`);
        const list = JSON.parse(r.body) as { items: unknown[]; metadata: { continue?: string } };
        seen += list.items.length;
        cont = list.metadata.continue ?? '';
      } while (cont);
      if (seen !== jobs) throw new Error(`list returned ${seen} jobs, expected ${jobs}`);
    }
    latencies.sort((a, b) => a - b);
    const after = await server.heap();
    return {
      createsPerSec: jobs / createSecs,
      healthzPerSec: healthz / healthzSecs,
      listP50Ms: percentile(latencies, 50),
      listP99Ms: percentile(latencies, 99),
      pages: latencies.length,
      heapBeforeMb: before.heapUsed / 2 ** 20,
      heapAfterMb: after.heapUsed / 2 ** 20,
      rssAfterMb: after.rss / 2 ** 20,
    };
  } finally {
    await server.stop();
  }
}

interface Row {
  store: string;
  raw: RawStoreFigures;
  api: ApiFigures;
}

async function benchSqlite(jobs: number): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), 'os-bench-sqlite-'));
  try {
    const store = await openStore({ type: 'sqlite', path: join(dir, 'raw.db') });
    const raw = await benchRawStore(store, { n: jobs, concurrency: CONCURRENCY }).finally(() => store.close());
    const api = await benchApi({ dataDir: join(dir, 'server'), store: 'sqlite', httpPort: 0, httpsPort: 0, grpcPort: 0, ...serverExtraFlags }, jobs);
    return { store: 'sqlite', raw, api };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchEtcd(jobs: number): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), 'os-bench-etcd-'));
  let etcd: EtcdProcess | undefined;
  try {
    etcd = await startEtcd();
    const store = await openStore({ type: 'etcd', endpoints: [etcd.endpoint], prefix: '/bench-raw' });
    const raw = await benchRawStore(store, { n: jobs, concurrency: CONCURRENCY }).finally(() => store.close());
    const api = await benchApi(
      { dataDir: join(dir, 'server'), etcdEndpoints: [etcd.endpoint], etcdPrefix: '/bench-api', httpPort: 0, httpsPort: 0, grpcPort: 0, ...serverExtraFlags },
      jobs,
    );
    return { store: 'etcd', raw, api };
  } finally {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function report(rows: Row[], jobs: number): void {
  const f = (n: number, d = 0): string => n.toFixed(d);
  console.log(`\nOpen Scheduler control-plane benchmark: ${jobs} jobs, ${CONCURRENCY} in flight, pages of ${PAGE}`);
  for (const { store, raw, api } of rows) {
    console.log(`\n[${store}]`);
    console.log(`  raw store puts/s            ${f(raw.putsPerSec)}`);
    console.log(`  raw store page p50/p99      ${f(raw.listP50Ms, 1)} / ${f(raw.listP99Ms, 1)} ms`);
    console.log(`  raw HTTP /healthz req/s     ${f(api.healthzPerSec)}`);
    console.log(
      `  API creates/s               ${f(api.createsPerSec)}  (${f((100 * api.createsPerSec) / raw.putsPerSec)}% of raw store puts; target >= 50%)`,
    );
    console.log(`  API page p50/p99            ${f(api.listP50Ms, 1)} / ${f(api.listP99Ms, 1)} ms over ${api.pages} pages (target p99 <= 50 ms)`);
    console.log(
      `  server heap                 ${f(api.heapBeforeMb, 1)} MB empty -> ${f(api.heapAfterMb, 1)} MB with ${jobs} jobs ` +
        `(+${f(api.heapAfterMb - api.heapBeforeMb, 1)} MB; target <= 30 MB per 10,000), rss ${f(api.rssAfterMb)} MB`,
    );
  }
}

function usage(flag: string, rule: string): never {
  console.error(`bench: --${flag}: ${rule}`);
  process.exit(2);
}

function countFlag(name: string, fallback: number): number {
  const text = arg(name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) usage(name, `must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

/** --only-run [LIST]: undefined when absent, else the sections (all when no list follows). */
function onlyRunSections(): RunSection[] | undefined {
  const i = process.argv.indexOf('--only-run');
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith('--')) return [...RUN_SECTIONS];
  const picked = value.split(',').map((s) => s.trim());
  const bad = picked.find((s) => !RUN_SECTIONS.includes(s as RunSection));
  if (bad !== undefined) usage('only-run', `unknown section ${JSON.stringify(bad)}; use some of ${RUN_SECTIONS.join(',')}`);
  return picked as RunSection[];
}

/** --only-scale [LIST]: undefined when absent, else the scale sections (the default ones when no list follows). */
function onlyScaleSections(): ScaleSection[] | undefined {
  const i = process.argv.indexOf('--only-scale');
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith('--')) return [...DEFAULT_SCALE_SECTIONS, ...(process.argv.includes('--soak') ? ['soak' as const] : [])];
  const picked = value.split(',').map((s) => s.trim());
  const bad = picked.find((s) => !SCALE_SECTIONS.includes(s as ScaleSection));
  if (bad !== undefined) usage('only-scale', `unknown section ${JSON.stringify(bad)}; use some of ${SCALE_SECTIONS.join(',')}`);
  return picked as ScaleSection[];
}

/** --scale-stores LIST (default sqlite). */
function scaleStores(): StoreKind[] {
  const text = arg('scale-stores');
  if (text === undefined) return ['sqlite'];
  const picked = text.split(',').map((s) => s.trim());
  if (picked.length === 0 || picked.some((s) => s !== 'sqlite' && s !== 'etcd')) usage('scale-stores', 'must list sqlite and/or etcd');
  return picked as StoreKind[];
}

const jobs = countFlag('jobs', 10_000);
/** --no-audit: the API server without its audit log (to measure what the log's fdatasync per batch costs). */
const serverExtraFlags: Record<string, unknown> = process.argv.includes('--no-audit') ? { auditLogPath: 'off' } : {};
const only = arg('only');
if (only !== undefined && only !== 'sqlite' && only !== 'etcd') usage('only', 'must be sqlite or etcd');
const runSections = onlyRunSections();
const skipRun = process.argv.includes('--skip-run');
if (skipRun && runSections) usage('skip-run', 'cannot be combined with --only-run');
const jsonPath = arg('json');
if (process.argv.includes('--json') && (jsonPath === undefined || jsonPath.startsWith('--'))) usage('json', 'needs a file path');
const cpuProfileDir = arg('cpu-prof');
if (process.argv.includes('--cpu-prof') && (cpuProfileDir === undefined || cpuProfileDir.startsWith('--'))) usage('cpu-prof', 'needs a directory');

const onlyDrivers = process.argv.includes('--only-drivers');
const onlyScale = onlyScaleSections();
if (onlyScale && (runSections || onlyDrivers)) usage('only-scale', 'cannot be combined with --only-run or --only-drivers');
const skipScale = process.argv.includes('--skip-scale');
if (onlyScale && skipScale) usage('skip-scale', 'cannot be combined with --only-scale');
const rows: Row[] = [];
if (!runSections && !onlyDrivers && !onlyScale) {
  if (!only || only === 'sqlite') rows.push(await benchSqlite(jobs));
  if (!only || only === 'etcd') rows.push(await benchEtcd(jobs));
}
agent.destroy();
if (rows.length > 0) report(rows, jobs);

// Container drivers (hack/bench-container-drivers.ts): podman and incus against their raw runtimes.
let drivers: DriverBenchRow[] | undefined;
if (!process.argv.includes('--skip-drivers') && !runSections && !onlyScale) {
  drivers = await benchContainerDrivers({ tasks: countFlag('driver-tasks', 40), concurrency: countFlag('driver-concurrency', 2) });
  console.log(formatContainerDriversReport(drivers));
}
if (onlyDrivers) {
  console.log('\n```json\n' + JSON.stringify({ containerDrivers: drivers }, null, 2) + '\n```');
  process.exit(0);
}

let run: Awaited<ReturnType<typeof benchRunJobs>> | undefined;
if (!skipRun && !onlyScale) {
  const stores: StoreKind[] = only ? [only] : ['sqlite', 'etcd'];
  run = await benchRunJobs({
    stores,
    sections: runSections ?? [...RUN_SECTIONS],
    throughputJobs: countFlag('run-jobs', 10_000),
    agents: countFlag('agents', 100),
    ...(cpuProfileDir ? { cpuProfileDir } : {}),
  });
  console.log(formatRunJobsReport(run));
}

// Scale sections (hack/bench-scale.ts): each figure next to the raw store limit of the same run.
let scale: ScaleFigures | undefined;
if (onlyScale || (!skipScale && !runSections)) {
  scale = await benchScale({
    sections: onlyScale ?? [...DEFAULT_SCALE_SECTIONS, ...(process.argv.includes('--soak') ? ['soak' as const] : [])],
    stores: scaleStores(),
    schedulingNodes: countFlag('sched-nodes', 5000),
    schedulingJobs: countFlag('sched-jobs', 10_000),
    agents: countFlag('scale-agents', 1000),
    agentJobs: countFlag('scale-agent-jobs', 10_000),
    watchers: countFlag('watchers', 1000),
    watchJobs: countFlag('watch-jobs', 10_000),
    watchUpdatesPerSec: countFlag('watch-rate', 50),
    watchSeconds: countFlag('watch-seconds', 20),
    heartbeatAgents: countFlag('hb-agents', 5000),
    heartbeatSeconds: countFlag('hb-seconds', 60),
    soakJobs: countFlag('soak-jobs', 100_000),
    soakAgents: countFlag('soak-agents', 100),
    soakWindow: countFlag('soak-window', 10_000),
    soakEventTtlSeconds: countFlag('soak-event-ttl', 60),
    ...(arg('soak-store-history') !== undefined ? { soakStoreHistorySeconds: countFlag('soak-store-history', 300) } : {}),
    ...(arg('soak-tail') !== undefined ? { soakTailSeconds: countFlag('soak-tail', 1) } : {}),
    ...(cpuProfileDir ? { cpuProfileDir } : {}),
  });
  console.log(formatScaleReport(scale));
}

if (run || scale) {
  const json = JSON.stringify({ controlPlane: rows, containerDrivers: drivers, runJobs: run, scale }, null, 2);
  if (jsonPath) {
    await writeFile(jsonPath, json + '\n');
    console.log(`\nfigures written to ${jsonPath}`);
  } else {
    console.log('\n```json\n' + json + '\n```');
  }
}

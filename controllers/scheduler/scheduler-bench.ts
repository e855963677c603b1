// A micro benchmark of the scheduler (not a test; hack/bench.ts calls it): N Ready nodes and M
// pending jobs in a fresh SQLite store (temp dir, removed afterwards) or under a fresh prefix of
// an etcd the caller runs (`etcdEndpoints`; the keys are left there), then the real informers,
// Controller and Scheduler on a Manager until every job is bound.
//
// Figures: binds/s and CPU ms per bind (process.cpuUsage, user + system, of this whole process:
// informer list and watch decoding, placement, JSON, and the SQLite writes, which run in-process;
// with etcd, etcd's own CPU is not included: the caller measures that process)
// measured from Manager start (so the initial list of the M jobs is included) to the last bind
// seen by the informer; the time to sync the informers is reported apart as well.
// Every node has room for twice its fair share, so every job fits and the run ends.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job, Node } from '../../api/v1/index.js';
import { openStore, type Store } from '../../store/index.js';
import { Manager } from '../runtime/index.js';
import { JOBS_PREFIX, NODES_PREFIX, newSchedulerController, newSchedulerInformers } from './scheduler.js';

export interface SchedulerBenchOptions {
  /** Pending jobs to bind (integer >= 1). */
  readonly jobs: number;
  /** Ready nodes (integer >= 1). */
  readonly nodes: number;
  /** Scheduler workers. Default 2 (the controller's default). */
  readonly workers?: number;
  /** Give up (and throw) after this long. Default 600 s. */
  readonly timeoutMs?: number;
  /** Run against this etcd (a fresh key prefix) instead of a fresh SQLite file. Non-empty when set. */
  readonly etcdEndpoints?: readonly string[];
}

export interface SchedulerBenchFigures {
  readonly store: 'sqlite' | 'etcd';
  readonly jobs: number;
  readonly nodes: number;
  readonly workers: number;
  readonly binds: number;
  /** From Manager start to the last bind observed. */
  readonly seconds: number;
  /** From Manager start until the informers had listed everything. */
  readonly syncSeconds: number;
  readonly bindsPerSec: number;
  readonly cpuMsPerBind: number;
}

const JOB_CPU_MILLIS = 100;
const JOB_MEMORY_MIB = 64;
/** Puts in flight while seeding the store. */
const SEED_CONCURRENCY = 64;

export async function benchScheduler(options: SchedulerBenchOptions): Promise<SchedulerBenchFigures> {
  const jobCount = positiveInteger('jobs', options.jobs);
  const nodeCount = positiveInteger('nodes', options.nodes);
  const workers = positiveInteger('workers', options.workers ?? 2);
  const timeoutMs = positiveInteger('timeoutMs', options.timeoutMs ?? 600_000);
  const dir = await mkdtemp(join(tmpdir(), 'os-scheduler-bench-'));
  let store: Store | undefined;
  let manager: Manager | undefined;
  try {
    const etcd = options.etcdEndpoints;
    if (etcd !== undefined && (etcd.length === 0 || etcd.some((e) => typeof e !== 'string' || e === ''))) {
      throw new RangeError('benchScheduler: option etcdEndpoints must list at least one host:port');
    }
    store = await openStore(
      etcd
        ? { type: 'etcd', endpoints: [...etcd], prefix: `/scheduler-bench-${randomUUID()}`, compactIntervalMs: 0 }
        : { type: 'sqlite', path: join(dir, 'store.db'), compactIntervalMs: 0 },
    );
    await seed(store, jobCount, nodeCount);

    const { jobs, nodes } = newSchedulerInformers(store);
    const { controller } = newSchedulerController({ store, jobs, nodes, workers });
    let binds = 0;
    let allBound: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (allBound = resolve));
    jobs.addHandlers({
      onUpdate(_key, oldJob, newJob) {
        if (oldJob.status?.phase !== 'Scheduled' && newJob.status?.phase === 'Scheduled' && ++binds === jobCount) allBound();
      },
    });
    const m = new Manager();
    manager = m;
    m.addInformer(jobs);
    m.addInformer(nodes);
    m.add(controller, { leaderOnly: true });

    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await m.start();
    const syncSeconds = (performance.now() - started) / 1000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([done, timedOut]);
    clearTimeout(timer);
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    if (outcome === 'timeout') throw new Error(`benchScheduler: only ${binds} of ${jobCount} jobs bound within ${timeoutMs} ms`);
    return {
      store: etcd ? 'etcd' : 'sqlite',
      jobs: jobCount,
      nodes: nodeCount,
      workers,
      binds,
      seconds,
      syncSeconds,
      bindsPerSec: binds / seconds,
      cpuMsPerBind: (cpu.user + cpu.system) / 1000 / binds,
    };
  } finally {
    await manager?.stop();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** N Ready nodes with room for twice their share of the jobs, and M pending jobs. */
async function seed(store: Store, jobCount: number, nodeCount: number): Promise<void> {
  const perNode = 2 * Math.ceil(jobCount / nodeCount);
  for (let i = 0; i < nodeCount; i += SEED_CONCURRENCY) {
    const names = Array.from({ length: Math.min(SEED_CONCURRENCY, nodeCount - i) }, (_, j) => `node-${String(i + j).padStart(5, '0')}`);
    await Promise.all(names.map((name) => store.put(`${NODES_PREFIX}${name}`, JSON.stringify(benchNode(name, perNode)))));
  }
  for (let i = 0; i < jobCount; i += SEED_CONCURRENCY) {
    const names = Array.from({ length: Math.min(SEED_CONCURRENCY, jobCount - i) }, (_, j) => `job-${String(i + j).padStart(6, '0')}`);
    await Promise.all(names.map((name) => store.put(`${JOBS_PREFIX}bench/${name}`, JSON.stringify(benchJob(name)))));
  }
}

function benchNode(name: string, jobsThatFit: number): Node {
  const resources = { cpu: `${jobsThatFit * JOB_CPU_MILLIS}m`, memory: `${jobsThatFit * JOB_MEMORY_MIB}Mi` };
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Node',
    metadata: { name, labels: { 'openscheduler.io/bench': 'true' } },
    spec: {},
    status: { capacity: resources, allocatable: resources, drivers: ['process'], conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function benchJob(name: string): Job {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: 'bench', uid: `bench-${name}`, creationTimestamp: '2026-01-01T00:00:00Z', generation: 1 },
    spec: {
      driver: 'process',
      workloadType: 'native',
      command: ['/bin/sh', '-c'],
      args: ['echo hello'],
      resources: { cpu: `${JOB_CPU_MILLIS}m`, memory: `${JOB_MEMORY_MIB}Mi` },
    },
    status: { phase: 'Pending', attempts: 0 },
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`benchScheduler: option ${name} must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}

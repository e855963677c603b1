// Benchmark of the podman and incus drivers against their runtimes' raw rates, measured in the
// same run on the same machine:
//   podman: raw `podman run --rm --network none IMAGE true` (create, start, wait, remove)
//           against PodmanDriver start -> wait -> destroy of the same task;
//   incus:  raw REST create+start+exec(true)+delete of an instance (what one task costs Incus
//           at least) against IncusDriver start -> wait -> destroy.
// Both at the same concurrency; also start->Running latency (driver.start resolving) p50/p99
// next to the raw runtime's own start latency. Target (issue 4): driver rate >= 0.8 of raw.
//   node dist/hack/bench-container-drivers.js [--tasks 40] [--concurrency 4] [--only podman|incus]
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify, parseArgs } from 'node:util';
import { IncusClient } from '../agent/drivers/incus-client.js';
import { findIncusSocket, IncusDriver } from '../agent/drivers/incus-driver.js';
import { PodmanDriver } from '../agent/drivers/podman-driver.js';
import type { TaskDriver } from '../agent/drivers/task-driver.js';
import { inFlight, percentile } from './bench-stats.js';

const run = promisify(execFile);
const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), process.argv[1]?.includes('/dist/') ? '../..' : '..');
const PODMAN_IMAGE = 'localhost/busybox:test';
const INCUS_IMAGE = 'busybox-test';

export interface DriverBenchRow {
  driver: 'podman' | 'incus';
  tasks: number;
  concurrency: number;
  /** What the raw figure is: the runtime's own cheapest way to run one task. */
  raw: string;
  rawTasksPerSec: number;
  driverTasksPerSec: number;
  /** driverTasksPerSec / rawTasksPerSec; target >= 0.8. */
  ratio: number;
  rawStartP50Ms: number;
  rawStartP99Ms: number;
  driverStartP50Ms: number;
  driverStartP99Ms: number;
}

/** start -> wait -> destroy of `true` through the driver, recording start latencies. */
function driverTask(driver: TaskDriver, image: string, prefix: string, starts: number[]): (i: number) => Promise<void> {
  return async (i) => {
    const t0 = performance.now();
    const handle = await driver.start({
      jobUid: `${prefix}-${i}`,
      namespace: 'bench',
      name: 'bench',
      attempt: 1,
      image,
      command: ['/bin/true'],
      args: [],
      env: {},
      resources: {},
    });
    starts.push(performance.now() - t0);
    const exit = await driver.wait(handle.taskId);
    if (exit.exitCode !== 0) throw new Error(`task ${handle.taskId} exited ${exit.exitCode}: ${exit.message ?? ''}`);
    await driver.destroy(handle.taskId);
  };
}

async function benchPodman(tasks: number, concurrency: number): Promise<DriverBenchRow> {
  const containersConf = process.env.CONTAINERS_CONF ?? join(repoRoot, 'config/podman/containers.conf');
  const env = { ...process.env, CONTAINERS_CONF: containersConf };
  const stateDir = await mkdtemp(join(tmpdir(), 'bench-podman-'));
  const driver = new PodmanDriver({ nodeName: `bench-${process.pid}`, stateDir, containersConf });
  const rawStarts: number[] = [];
  const driverStarts: number[] = [];
  const rawRun = async (): Promise<void> => {
    await run('podman', ['run', '--rm', '--network', 'none', PODMAN_IMAGE, '/bin/true'], { env });
  };
  // raw start latency: `podman run -d` returns once the container runs
  const rawStart = async (i: number): Promise<void> => {
    const name = `bench-raw-${process.pid}-${i}`;
    const t0 = performance.now();
    await run('podman', ['run', '-d', '--name', name, '--network', 'none', PODMAN_IMAGE, '/bin/true'], { env });
    rawStarts.push(performance.now() - t0);
    await run('podman', ['rm', '-f', '-t', '0', name], { env });
  };
  try {
    await inFlight(Math.min(4, tasks), concurrency, rawRun); // warm-up
    await inFlight(Math.min(4, tasks), concurrency, driverTask(driver, PODMAN_IMAGE, `warm-${process.pid}`, []));
    const rawSeconds = await inFlight(tasks, concurrency, rawRun);
    const driverSeconds = await inFlight(tasks, concurrency, driverTask(driver, PODMAN_IMAGE, `bench-${process.pid}`, driverStarts));
    await inFlight(Math.min(tasks, 20), concurrency, rawStart);
    return row('podman', 'podman run --rm --network none IMAGE /bin/true', tasks, concurrency, rawSeconds, driverSeconds, rawStarts, driverStarts);
  } finally {
    await driver.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}

async function benchIncus(tasks: number, concurrency: number): Promise<DriverBenchRow> {
  const socketPath = findIncusSocket();
  if (socketPath === undefined) throw new Error('no Incus socket found (run `sudo bash hack/setup-runtimes.sh`)');
  const client = new IncusClient({ socketPath });
  const driver = new IncusDriver({ nodeName: `bench-${process.pid}`, socketPath });
  const rawStarts: number[] = [];
  const driverStarts: number[] = [];
  // raw: what one task costs Incus at least — create + start, exec /bin/true, force-delete
  const rawTask = async (i: number): Promise<void> => {
    const name = `bench-raw-${process.pid}-${i}`;
    const t0 = performance.now();
    await client.createInstance({ name, type: 'container', source: { type: 'image', alias: INCUS_IMAGE } });
    await client.changeState(name, { action: 'start' });
    rawStarts.push(performance.now() - t0);
    const op = await client.exec(name, { command: ['/bin/true'], 'wait-for-websocket': false, interactive: false, 'record-output': false, environment: {} });
    await client.waitOperation(op, 60);
    await client.changeState(name, { action: 'stop', force: true });
    await client.deleteInstance(name);
  };
  try {
    await inFlight(Math.min(2, tasks), concurrency, (i) => rawTask(-1 - i)); // warm-up
    await inFlight(Math.min(2, tasks), concurrency, driverTask(driver, INCUS_IMAGE, `warm-${process.pid}`, []));
    rawStarts.length = 0;
    const rawSeconds = await inFlight(tasks, concurrency, rawTask);
    const driverSeconds = await inFlight(tasks, concurrency, driverTask(driver, INCUS_IMAGE, `bench-${process.pid}`, driverStarts));
    return row('incus', 'REST create+start, exec /bin/true, stop+delete', tasks, concurrency, rawSeconds, driverSeconds, rawStarts, driverStarts);
  } finally {
    await driver.close();
    client.close();
  }
}

function row(
  driver: 'podman' | 'incus',
  raw: string,
  tasks: number,
  concurrency: number,
  rawSeconds: number,
  driverSeconds: number,
  rawStarts: number[],
  driverStarts: number[],
): DriverBenchRow {
  const rawTasksPerSec = tasks / rawSeconds;
  const driverTasksPerSec = tasks / driverSeconds;
  const rawSorted = [...rawStarts].sort((a, b) => a - b);
  const driverSorted = [...driverStarts].sort((a, b) => a - b);
  return {
    driver,
    tasks,
    concurrency,
    raw,
    rawTasksPerSec,
    driverTasksPerSec,
    ratio: driverTasksPerSec / rawTasksPerSec,
    rawStartP50Ms: percentile(rawSorted, 50),
    rawStartP99Ms: percentile(rawSorted, 99),
    driverStartP50Ms: percentile(driverSorted, 50),
    driverStartP99Ms: percentile(driverSorted, 99),
  };
}

export async function benchContainerDrivers(options: { tasks: number; concurrency: number; only?: 'podman' | 'incus' }): Promise<DriverBenchRow[]> {
  const rows: DriverBenchRow[] = [];
  if (options.only !== 'incus') rows.push(await benchPodman(options.tasks, options.concurrency));
  if (options.only !== 'podman') rows.push(await benchIncus(options.tasks, options.concurrency));
  return rows;
}

export function formatContainerDriversReport(rows: readonly DriverBenchRow[]): string {
  const f = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
  return [
    '',
    '### Container drivers: start throughput and start->Running latency against the raw runtime (target: rate >= 0.8 of raw)',
    '',
    '| driver | tasks x concurrency | raw tasks/s | driver tasks/s | ratio | raw start p50/p99 ms | driver start p50/p99 ms | raw is |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.driver} | ${r.tasks} x ${r.concurrency} | ${f(r.rawTasksPerSec)} | ${f(r.driverTasksPerSec)} | ${f(r.ratio, 2)} ${r.ratio >= 0.8 ? '(met)' : '(NOT met)'} | ${f(r.rawStartP50Ms, 0)} / ${f(r.rawStartP99Ms, 0)} | ${f(r.driverStartP50Ms, 0)} / ${f(r.driverStartP99Ms, 0)} | ${r.raw} |`,
    ),
  ].join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const { values } = parseArgs({ options: { tasks: { type: 'string', default: '40' }, concurrency: { type: 'string', default: '4' }, only: { type: 'string' } } });
  const tasks = Number(values.tasks);
  const concurrency = Number(values.concurrency);
  if (!Number.isSafeInteger(tasks) || tasks <= 0) throw new Error('--tasks: must be a positive integer');
  if (!Number.isSafeInteger(concurrency) || concurrency <= 0) throw new Error('--concurrency: must be a positive integer');
  if (values.only !== undefined && values.only !== 'podman' && values.only !== 'incus') throw new Error('--only: must be podman or incus');
  const rows = await benchContainerDrivers({ tasks, concurrency, ...(values.only ? { only: values.only } : {}) });
  console.log(formatContainerDriversReport(rows));
  console.log('\n```json\n' + JSON.stringify(rows, null, 2) + '\n```');
}

// Benchmark of the process driver against the machine's raw spawn rate:
//   node --import tsx hack/bench-process-driver.ts [--tasks 1000] [--concurrency 32] [--rounds 1] [--driver-module PATH]
// runs `--tasks` `/bin/true` tasks `--concurrency` at a time through ProcessDriver (start, wait,
// destroy), then as many plain `child_process.spawn('/bin/true')` calls, and prints tasks/s and
// CPU ms per task for both (this process's CPU plus that of its reaped children and their
// descendants, from /proc/self/stat). Rounds alternate the two, for machines with a varying
// load; the ratio of the rates is printed per round. `--driver-module` benchmarks another build of the driver
// (a module exporting ProcessDriver), e.g. an older one, for before/after comparisons.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { TaskDriver } from '../agent/drivers/task-driver.js';

interface Measurement {
  tasks: number;
  seconds: number;
  /** CPU of this process. */
  ownCpuMs: number;
  /** CPU of the reaped children and their descendants. */
  childCpuMs: number;
}

const clockTicksPerSecond = 100;

/** CPU time of this process and of its waited-for children (and theirs), in ms. */
function cpuMs(): { own: number; children: number } {
  const own = process.cpuUsage();
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const childTicks = Number(fields[16 - 3]) + Number(fields[17 - 3]); // cutime + cstime
  return { own: (own.user + own.system) / 1000, children: (childTicks * 1000) / clockTicksPerSecond };
}

/** Runs `count` jobs, `concurrency` at a time, and measures wall and CPU time. */
async function measure(count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<Measurement> {
  let next = 0;
  const cpu0 = cpuMs();
  const t0 = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < count) await job(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu1 = cpuMs();
  return { tasks: count, seconds, ownCpuMs: cpu1.own - cpu0.own, childCpuMs: cpu1.children - cpu0.children };
}

function rawSpawn(): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('/bin/true', [], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolvePromise());
  });
}

function report(label: string, m: Measurement): void {
  const rate = m.tasks / m.seconds;
  const perTask = (ms: number): string => (ms / m.tasks).toFixed(2).padStart(6);
  console.log(
    `${label.padEnd(14)} ${rate.toFixed(0).padStart(5)} tasks/s  CPU ms/task: ${perTask(m.ownCpuMs + m.childCpuMs)} ` +
      `(this process ${perTask(m.ownCpuMs)}, children ${perTask(m.childCpuMs)})  ${m.tasks} in ${m.seconds.toFixed(2)} s`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tasks: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '32' },
      rounds: { type: 'string', default: '1' },
      'driver-module': { type: 'string' },
    },
  });
  const tasks = Number(values.tasks);
  const concurrency = Number(values.concurrency);
  if (!Number.isSafeInteger(tasks) || tasks <= 0) throw new Error('--tasks: must be a positive integer');
  if (!Number.isSafeInteger(concurrency) || concurrency <= 0) throw new Error('--concurrency: must be a positive integer');
  const rounds = Number(values.rounds);
  if (!Number.isSafeInteger(rounds) || rounds <= 0) throw new Error('--rounds: must be a positive integer');
  const modulePath = values['driver-module'];
  const module = (await import(
    modulePath ? pathToFileURL(resolve(modulePath)).href : '../agent/drivers/process-driver.js'
  )) as { ProcessDriver: new (options: { stateDir: string }) => TaskDriver };

  const stateDir = await mkdtemp(join(tmpdir(), 'bench-process-driver-'));
  const driver = new module.ProcessDriver({ stateDir });
  try {
    const run = async (i: number): Promise<void> => {
      const handle = await driver.start({
        jobUid: `bench-${i < 0 ? `warm${-i}` : i}`,
        namespace: 'default',
        name: 'bench',
        attempt: 0,
        command: ['/bin/true'],
        args: [],
        env: {},
        resources: {},
      });
      const exit = await driver.wait(handle.taskId);
      if (exit.exitCode !== 0) throw new Error(`task ${handle.taskId} exited ${exit.exitCode}`);
      await driver.destroy(handle.taskId);
    };
    await measure(Math.min(50, tasks), concurrency, (i) => run(-1 - i)); // warm-up
    await measure(Math.min(50, tasks), concurrency, rawSpawn);
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const viaDriver = await measure(tasks, concurrency, (i) => run(round * tasks + i));
      const raw = await measure(tasks, concurrency, rawSpawn);
      report('ProcessDriver', viaDriver);
      report('raw spawn', raw);
      ratios.push(raw.seconds / viaDriver.seconds);
    }
    ratios.sort((a, b) => a - b);
    const median = ratios[Math.floor(ratios.length / 2)] as number;
    console.log(`driver rate / raw rate: ${ratios.map((r) => r.toFixed(2)).join(' ')} (median ${median.toFixed(2)})`);
  } finally {
    await driver.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}

await main();

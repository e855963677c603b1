// A small run of the run-jobs benchmark (hack/bench-run-jobs.ts) with real parts: the server and
// the hollow agents in child processes, a real etcd, a real `openscheduler agent` running
// /bin/true. It checks what the figures rest on — every job succeeded, each had exactly the 4
// job writes of the happy path (create, bind, Running, Succeeded), every job was seen Running —
// and that the benchmark leaves no child process and no temp dir behind.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { benchRunJobs, formatRunJobsReport, type RunJobsFigures, type StagesFigures } from './bench-run-jobs.js';

/** Command lines of this process's children (from /proc), but tsx's own esbuild service. */
async function childProcesses(): Promise<string[]> {
  const children: string[] = [];
  for (const task of await readdir(`/proc/${process.pid}/task`)) {
    const text = await readFile(`/proc/${process.pid}/task/${task}/children`, 'utf8').catch(() => '');
    for (const pid of text.split(' ').filter((p) => p.trim() !== '')) {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim();
      if (!/esbuild/.test(cmdline)) children.push(`${pid}: ${cmdline}`);
    }
  }
  return children;
}

async function benchTempDirs(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((name) => name.startsWith('os-bench-run-'));
}

function assertStages(stages: StagesFigures): void {
  for (const stage of [stages.postToScheduled, stages.scheduledToRunning, stages.runningToSucceeded]) {
    assert.ok(Number.isFinite(stage.p50Ms) && stage.p50Ms >= 0 && stage.p99Ms >= stage.p50Ms, JSON.stringify(stage));
  }
  assert.ok(stages.maxActive >= 1);
}

async function run(options: Parameters<typeof benchRunJobs>[0]): Promise<RunJobsFigures> {
  const dirsBefore = new Set(await benchTempDirs());
  const lines: string[] = [];
  const figures = await benchRunJobs({ ...options, progress: (line) => lines.push(line) });
  assert.deepEqual(await childProcesses(), [], 'no child process is left');
  assert.deepEqual((await benchTempDirs()).filter((d) => !dirsBefore.has(d)), [], 'no temp dir is left');
  assert.ok(lines.length > 0, 'progress was reported');
  return figures;
}

void describe('the run-jobs benchmark', () => {
  void it('runs every section on SQLite: all jobs succeed with the 4 writes of the happy path', async () => {
    const figures = await run({
      stores: ['sqlite'],
      sections: ['throughput', 'latency', 'real'],
      throughputJobs: 150,
      agents: 4,
      latencyJobs: 40,
      latencyRatePerSec: 20,
      latencyTaskMs: 300,
      realJobs: 30,
      rawSpawns: 50,
      rawStorePuts: 200,
    });
    const [throughput] = figures.throughput;
    assert.ok(throughput);
    assert.equal(throughput.succeeded, 150);
    assert.equal(throughput.failed, 0);
    assert.deepEqual(throughput.jobWritesHistogram, { '4': 150 }, 'every job written exactly 4 times');
    assert.ok(throughput.storeWrites >= throughput.jobWrites, 'the revision delta counts every job write');
    assert.ok(throughput.jobsPerSec > 0 && throughput.rawPutsPerSec > 0);
    assert.ok(throughput.cpu.serverSeconds > 0 && (throughput.cpu.agentsSeconds ?? 0) > 0);
    assertStages(throughput.stages);

    const [latency] = figures.latency;
    assert.ok(latency);
    assert.equal(latency.seenRunning, 40, 'every job was seen Running');
    assert.equal(latency.succeeded, 40);
    assert.ok(latency.runningP50Ms > 0 && latency.runningP99Ms >= latency.runningP50Ms);
    assertStages(latency.stages);

    const real = figures.real;
    assert.ok(real);
    assert.equal(real.succeeded, 30);
    assert.equal(real.failed, 0);
    assert.ok(real.rawSpawnsPerSec > 0 && real.ratioToRaw > 0);
    assertStages(real.stages);

    const report = formatRunJobsReport(figures);
    assert.match(report, /### \(a\) throughput: 150 jobs on 4 hollow agents/);
    assert.match(report, /### \(b\) apply -> Running latency/);
    assert.match(report, /### \(c\) real processes: 30 `\/bin\/true` jobs/);
  });

  void it('runs the throughput section on etcd', async () => {
    const figures = await run({ stores: ['etcd'], sections: ['throughput'], throughputJobs: 100, agents: 3, rawStorePuts: 200 });
    const [throughput] = figures.throughput;
    assert.ok(throughput);
    assert.equal(throughput.store, 'etcd');
    assert.equal(throughput.succeeded, 100);
    assert.deepEqual(throughput.jobWritesHistogram, { '4': 100 });
    assert.ok((throughput.cpu.etcdSeconds ?? 0) > 0, 'etcd CPU is measured');
    assert.equal(figures.latency.length, 0);
    assert.equal(figures.real, undefined, 'the real section runs on SQLite only');
  });

  void it('rejects bad options naming the field', async () => {
    await assert.rejects(benchRunJobs({ stores: ['sqlite'], sections: ['throughput'], agents: 0 }), /agents: must be a positive integer/);
    await assert.rejects(benchRunJobs({ stores: ['mysql' as 'sqlite'], sections: ['throughput'] }), /stores: must list/);
    await assert.rejects(benchRunJobs({ stores: ['sqlite'], sections: ['fast' as 'real'] }), /sections: must list some of/);
  });
});

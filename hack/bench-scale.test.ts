// A small run of every scale benchmark section (hack/bench-scale.ts) with real parts: the server
// and the hollow agents in child processes, real HTTP watches, real gRPC clients, real etcd.
// Figures are not asserted (they depend on the machine); what they rest on is: every bind, no
// watch event lost, no false NotReady, every soak job finished and deleted, every raw limit
// measured, the report names each section, and nothing is left running or on disk.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { benchScale, formatScaleReport, type ScaleFigures } from './bench-scale.js';

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

/**
 * Runs the bench with a private TMPDIR (this test file is its own process; the children inherit
 * it), so that "nothing is left on disk" is not confused by other test files' temp dirs.
 */
async function run(options: Parameters<typeof benchScale>[0]): Promise<ScaleFigures> {
  const privateTmp = await mkdtemp(join(tmpdir(), 'os-bench-scale-test-'));
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = privateTmp;
  try {
    const lines: string[] = [];
    const figures = await benchScale({ rawStorePuts: 200, ...options, progress: (line) => lines.push(line) });
    assert.deepEqual(await childProcesses(), [], 'no child process is left');
    const leftDirs = (await readdir(privateTmp)).filter((name) => name.startsWith('os-bench-') || name.startsWith('etcd-test-')); // not tsx's cache
    assert.deepEqual(leftDirs, [], 'no temp dir is left');
    assert.ok(lines.length > 0, 'progress was reported');
    return figures;
  } finally {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    await rm(privateTmp, { recursive: true, force: true });
  }
}

const finitePositive = (value: number | undefined): void => assert.ok(value !== undefined && Number.isFinite(value) && value > 0, String(value));

void describe('the scale benchmarks', { timeout: 600_000 }, () => {
  void it('scheduling on SQLite and etcd: every job bound, per-core figures next to the published ones', async () => {
    const figures = await run({ sections: ['scheduling'], stores: ['sqlite', 'etcd'], schedulingNodes: 20, schedulingJobs: 100 });
    assert.deepEqual(
      figures.scheduling.map((s) => s.store),
      ['sqlite', 'etcd'],
    );
    for (const s of figures.scheduling) {
      assert.equal(s.binds, 100);
      assert.equal(s.nodes, 20);
      finitePositive(s.rawPutsPerSec);
      finitePositive(s.bindsPerCoreSecond);
      assert.ok(Math.abs(s.kubernetesPerCore - 700 / 6) < 1e-9);
      assert.ok(Math.abs(s.nomadPerCore - 1500 / 192) < 1e-9);
    }
    assert.ok((figures.scheduling[1]?.etcdCpuSeconds ?? 0) > 0, 'etcd CPU is counted');
    const report = formatScaleReport(figures);
    assert.match(report, /### scheduling: 100 pending jobs on 20 nodes, real scheduler \(2 workers\) on sqlite/);
    assert.match(report, /binds per CPU-second vs Kubernetes scheduler_perf \(700\/s \/ 6 CPUs\)/);
  });

  void it('agents, watchers and heartbeats: all jobs succeed, no event lost, no false NotReady, heap figures', async () => {
    const figures = await run({
      sections: ['agents', 'watchers', 'heartbeats'],
      agents: 5,
      agentJobs: 60,
      watchers: 8,
      watchJobs: 30,
      watchUpdatesPerSec: 20,
      watchSeconds: 2,
      heartbeatAgents: 25,
      heartbeatSeconds: 5,
      heartbeatLeaseTtlSeconds: 3,
    });
    const [agents] = figures.agents;
    assert.ok(agents);
    assert.equal(agents.succeeded, 60);
    assert.equal(agents.agents, 5);

    const w = figures.watchers;
    assert.ok(w);
    assert.equal(w.updates, 40);
    assert.equal(w.expectedDeliveries, 8 * 40);
    assert.equal(w.lost, 0, 'every watcher saw every update');
    assert.equal(w.failedWatches, 0);
    assert.ok(w.deliveryP99Ms >= w.deliveryP50Ms && w.deliveryP50Ms > 0);
    finitePositive(w.heapEmptyMb);
    finitePositive(w.serverCpuSeconds);
    finitePositive(w.benchLoopDelayMaxMs);

    const h = figures.heartbeats;
    assert.ok(h);
    assert.equal(h.registered, 25);
    assert.equal(h.intervalSeconds, 1);
    assert.equal(h.falseNotReady, 0, `no node went NotReady: ${h.notReadyNodes.join(', ')}`);
    assert.equal(h.heartbeatFailures, 0);
    assert.ok(h.heartbeats >= 25, `every agent heartbeated while measured (${h.heartbeats})`);
    finitePositive(h.serverCpuShare);

    const report = formatScaleReport(figures);
    assert.match(report, /### agents: 60 jobs on 5 hollow agents, sqlite/);
    assert.match(report, /### watchers: 8 watches of the jobs list, 40 updates at 20\/s/);
    assert.match(report, /\| events lost \(expected - delivered\) \| 0 of 320 \|/);
    assert.match(report, /### heartbeats: 25 simulated agents/);
  });

  void it('soak: every job finishes (with a TTL); the SQLite file is sampled and throughput given per window', async () => {
    const figures = await run({
      sections: ['soak'],
      soakJobs: 300,
      soakAgents: 3,
      soakWindow: 100,
      soakOutstanding: 50,
      soakTtlSeconds: 1,
      soakSampleSeconds: 1,
      soakStoreHistorySeconds: 10,
      soakTailSeconds: 2,
    });
    const s = figures.soak;
    assert.ok(s);
    assert.equal(s.succeeded, 300);
    assert.equal(s.windows.length, 3);
    assert.deepEqual(
      s.windows.map((x) => [x.from, x.to]),
      [
        [0, 100],
        [100, 200],
        [200, 300],
      ],
    );
    assert.ok(s.samples.length >= 2);
    assert.ok(s.samples.every((x) => x.dbBytes > 0), 'the SQLite file was found');
    finitePositive(s.lastToFirstWindow);
    assert.equal(s.eventTtlSeconds, 60);
    assert.equal(s.storeHistorySeconds, 10);
    assert.equal(s.tailSeconds, 2);
    finitePositive(s.fileMbAfterTail);
    assert.ok(s.samples.at(-1)!.atSeconds - s.seconds >= 2, 'sampled during the tail');
    assert.match(formatScaleReport(figures), /### soak: 300 jobs on 3 hollow agents .*Event TTL 60 s, store history 10 s\)/);
    assert.match(formatScaleReport(figures), /\| file \+ WAL 2 s after the last job \(MB\) \|/);
  });

  void it('rejects bad options naming the field', async () => {
    await assert.rejects(benchScale({ sections: ['watchers'], watchers: 0 }), /scale bench: watchers: must be a positive integer, got 0/);
    await assert.rejects(benchScale({ sections: ['fast' as 'soak'] }), /sections: must list some of/);
    await assert.rejects(benchScale({ sections: ['scheduling'], stores: ['mysql' as 'sqlite'] }), /stores: must list/);
    await assert.rejects(benchScale({ sections: ['heartbeats'], heartbeatLeaseTtlSeconds: 2 }), /heartbeatLeaseTtlSeconds: must be at least 3/);
    await assert.rejects(benchScale({ sections: ['soak'], soakEventTtlSeconds: 30 }), /soakEventTtlSeconds: must be at least 60/);
    await assert.rejects(benchScale({ sections: ['soak'], soakStoreHistorySeconds: 5 }), /soakStoreHistorySeconds: must be at least 10/);
    await assert.rejects(benchScale({ sections: ['soak'], soakTailSeconds: -1 }), /soakTailSeconds: must be an integer >= 0/);
  });
});

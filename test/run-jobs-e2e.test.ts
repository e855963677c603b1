// End to end, with real processes: `openscheduler dev` (server + controllers + agent endpoint,
// no local agent) and real `openscheduler agent` processes running jobs with the process driver,
// on the embedded SQLite store and on a real etcd. What issue 3's acceptance list asks for.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Job } from '../api/v1/index.js';
import { startAgentProcess, type AgentProcess } from './harness/agent.js';
import {
  api,
  createJob,
  cwdOf,
  getJob,
  inParallel,
  jobPath,
  killProcessesWith,
  listJobs,
  osctl,
  processesWith,
  processJob,
  waitFor,
  waitForPhase,
} from './harness/e2e.js';
import { startEtcd, type EtcdProcess } from './harness/etcd.js';
import { startServerProcess, type ServerProcess } from './harness/server.js';

const STORES = ['sqlite', 'etcd'] as const;
/** Short node timings so that a lost node is noticed within seconds (a 5 s lease: a 2-core machine under load can stall an agent for 3 s). */
const FAST_NODE_ARGS = ['--node-lease-ttl', '5s', '--node-grace-period', '3s'];

for (const storeKind of STORES) {
  void describe(`running jobs end to end (${storeKind})`, () => {
    let etcd: EtcdProcess | undefined;
    let server: ServerProcess;
    let agentA: AgentProcess;
    let work: string;
    const marker = `os-e2e-${storeKind}-${process.pid}`;

    const cli = (args: readonly string[]): ReturnType<typeof osctl> => osctl(args, { OSCTL_CONFIG: server.osctlConfigPath, HOME: work });
    const startAgent = (nodeName: string, dataDir?: string): Promise<AgentProcess> =>
      startAgentProcess({
        grpcAddress: server.grpcAddress,
        tokenFile: server.joinTokenPath,
        nodeName,
        ...(dataDir !== undefined ? { dataDir } : {}),
        extraArgs: ['--labels', `node=${nodeName}`],
      });
    const nodeReady = (name: string): Promise<true> =>
      waitFor(`node ${name} Ready`, async () => {
        const res = await api(server, 'GET', `/apis/openscheduler.io/v1/nodes/${name}`);
        const ready = (res.body?.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
        return res.status === 200 && ready ? true : undefined;
      });

    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'os-run-e2e-'));
      if (storeKind === 'etcd') etcd = await startEtcd();
      server = await startServerProcess({
        ...(etcd ? { store: { etcdEndpoints: [etcd.endpoint], etcdPrefix: `/e2e-${process.pid}` } } : {}),
        extraArgs: FAST_NODE_ARGS,
      });
      // an agent's data dir holds its node token: node-a keeps it across restarts
      agentA = await startAgent('node-a', join(work, 'agent-a'));
      await nodeReady('node-a');
    });

    after(async () => {
      await agentA?.stop();
      await server?.stop();
      await etcd?.stop();
      await killProcessesWith(marker);
      await rm(work, { recursive: true, force: true });
    });

    void it('runs a job, keeps its output, and shows its events', async () => {
      const created = await createJob(server, processJob('hello', ['/bin/sh', '-c', 'echo "hello from $GREETING"; echo oops >&2'], { env: [{ name: 'GREETING', value: 'e2e' }] }));
      assert.equal(created.status, 201, created.text);
      const job = await waitForPhase(server, 'hello', ['Succeeded', 'Failed']);
      assert.equal(job.status?.phase, 'Succeeded', JSON.stringify(job.status));
      assert.equal(job.status?.exitCode, 0);
      assert.equal(job.status?.attempts, 1);
      assert.equal(job.status?.nodeName ?? job.status?.recentAttempts?.at(-1)?.nodeName, 'node-a');
      const logs = await waitFor('logs of hello', async () => {
        const res = await api(server, 'GET', `${jobPath('hello')}/log`);
        return res.status === 200 && res.text.includes('oops') ? res.text : undefined;
      });
      assert.match(logs, /hello from e2e\n/);
      const wait = await cli(['wait', 'job/hello', '--timeout', '30s']);
      assert.equal(wait.code, 0, wait.stderr);
      const printed = await cli(['logs', 'job/hello']);
      assert.equal(printed.code, 0, printed.stderr);
      assert.match(printed.stdout, /hello from e2e/);
      const described = await waitFor('events of hello', async () => {
        const d = await cli(['describe', 'job', 'hello']);
        return /Scheduled/.test(d.stdout) && /Started/.test(d.stdout) && /Completed/.test(d.stdout) ? d.stdout : undefined;
      });
      assert.match(described, /node-a/);
    });

    void it('runs 1,000 jobs applied at once to one agent, each exactly once', async () => {
      const runs = join(work, 'runs-1000');
      await writeFile(runs, '');
      const names = Array.from({ length: 1000 }, (_, i) => `many-${i}`);
      const replies = await inParallel(names, 32, (name) => createJob(server, processJob(name, ['/bin/sh', '-c', `echo ${name} >> ${runs}`])));
      for (const reply of replies) assert.equal(reply.status, 201, reply.text);
      const jobs = await waitFor(
        'all 1,000 jobs to finish',
        async () => {
          const all = (await listJobs(server)).filter((j) => j.metadata.name.startsWith('many-'));
          return all.length === 1000 && all.every((j) => j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed') ? all : undefined;
        },
        600_000,
        1000,
      );
      const failed = jobs.filter((j) => j.status?.phase !== 'Succeeded');
      assert.deepEqual(failed.map((j) => `${j.metadata.name}: ${j.status?.reason} ${j.status?.message}`), []);
      assert.ok(jobs.every((j) => j.status?.attempts === 1));
      const lines = (await readFile(runs, 'utf8')).split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1000, 'every job ran exactly once');
      assert.equal(new Set(lines).size, 1000);
    });

    void it('retries with backoff, dead-letters, and a retry after the fix succeeds', async () => {
      const fixed = join(work, 'fixed');
      const created = await createJob(
        server,
        processJob('flaky', ['/bin/sh', '-c', `echo "attempt ran"; test -f ${fixed}`], {
          retryPolicy: { maxRetries: 2, backoffSeconds: 1, backoffFactor: 2, maxBackoffSeconds: 2 },
        }),
      );
      assert.equal(created.status, 201, created.text);
      const dead = await waitForPhase(server, 'flaky', ['Failed', 'Succeeded'], 60_000);
      assert.equal(dead.status?.phase, 'Failed');
      assert.equal(dead.status?.reason, 'RetriesExhausted', JSON.stringify(dead.status));
      assert.equal(dead.status?.attempts, 3);
      assert.equal(dead.status?.exitCode, 1);
      const dlq = await cli(['dlq', 'list']);
      assert.equal(dlq.code, 0, dlq.stderr);
      assert.match(dlq.stdout, /flaky/);
      await writeFile(fixed, '');
      const retried = await cli(['retry', 'job/flaky']);
      assert.equal(retried.code, 0, retried.stderr);
      const ok = await waitForPhase(server, 'flaky', ['Succeeded', 'Failed'], 60_000);
      assert.equal(ok.status?.phase, 'Succeeded', JSON.stringify(ok.status));
      assert.equal(ok.status?.attempts, 4, 'attempt numbers continue after a retry');
      const all = await waitFor('logs of all 4 attempts', async () => {
        const r = await cli(['logs', 'job/flaky', '--all-attempts']);
        return r.code === 0 && (r.stdout.match(/attempt ran/g) ?? []).length === 4 ? r.stdout : undefined;
      });
      assert.match(all, /attempt 1/);
      assert.match(all, /attempt 4/);
    });

    void it('kills an attempt that outlives timeoutSeconds even if it ignores SIGTERM (DeadlineExceeded)', async () => {
      const created = await createJob(
        server,
        processJob('stubborn', ['/bin/sh', '-c', "trap '' TERM; while :; do sleep 1; done", `${marker}-stubborn`], { timeoutSeconds: 1, killTimeoutSeconds: 1 }),
      );
      assert.equal(created.status, 201, created.text);
      const job = await waitForPhase(server, 'stubborn', ['Failed', 'Succeeded'], 60_000);
      assert.equal(job.status?.phase, 'Failed');
      assert.equal(job.status?.reason, 'DeadlineExceeded', JSON.stringify(job.status));
      await waitFor('the stubborn task to be gone', async () => ((await processesWith(`${marker}-stubborn`)).length === 0 ? true : undefined), 20_000);
    });

    void it('runs a diamond DAG in dependency order; a failed root fails its dependents; a cycle is rejected', async () => {
      const step = (name: string, deps: string[]): Record<string, unknown> => processJob(`dag-${name}`, ['/bin/sh', '-c', 'sleep 0.2'], deps.length ? { dependsOn: deps.map((d) => `dag-${d}`) } : {});
      // created dependents first, so that order of creation cannot explain order of running
      for (const [name, deps] of [['e', ['d']], ['d', ['b', 'c']], ['b', ['a']], ['c', ['a']], ['a', []]] as const) {
        const r = await createJob(server, step(name, [...deps]));
        assert.equal(r.status, 201, r.text);
      }
      const done = new Map<string, Job>();
      for (const name of ['a', 'b', 'c', 'd', 'e']) done.set(name, await waitForPhase(server, `dag-${name}`, ['Succeeded', 'Failed'], 60_000));
      for (const job of done.values()) assert.equal(job.status?.phase, 'Succeeded', JSON.stringify(job.status));
      const t = (name: string, field: 'startTime' | 'completionTime'): number => Date.parse(done.get(name)!.status![field]!);
      for (const [child, parent] of [['b', 'a'], ['c', 'a'], ['d', 'b'], ['d', 'c'], ['e', 'd']] as const) {
        assert.ok(t(child, 'startTime') >= t(parent, 'completionTime'), `${child} started before ${parent} completed`);
      }

      for (const [name, deps, argv] of [
        ['root', [], ['/bin/false']],
        ['left', ['root'], ['/bin/true']],
        ['leaf', ['left'], ['/bin/true']],
      ] as const) {
        const r = await createJob(server, processJob(`bad-${name}`, [...argv], deps.length ? { dependsOn: deps.map((d) => `bad-${d}`) } : {}));
        assert.equal(r.status, 201, r.text);
      }
      for (const name of ['left', 'leaf']) {
        const job = await waitForPhase(server, `bad-${name}`, ['Failed', 'Succeeded'], 60_000);
        assert.equal(job.status?.phase, 'Failed');
        assert.equal(job.status?.reason, 'DependencyFailed', JSON.stringify(job.status));
        assert.equal(job.status?.attempts ?? 0, 0, 'a dependent of a failed job never runs');
      }
      await waitFor('a DependencyFailed event', async () => ((await cli(['describe', 'job', 'bad-leaf'])).stdout.includes('DependencyFailed') ? true : undefined));

      const first = await createJob(server, processJob('cyc-a', ['/bin/true'], { dependsOn: ['cyc-b'] }));
      assert.equal(first.status, 201, first.text);
      const cycle = await createJob(server, processJob('cyc-b', ['/bin/true'], { dependsOn: ['cyc-a'] }));
      assert.ok(cycle.status === 422 || cycle.status === 400, cycle.text);
      assert.match(cycle.text, /cycle/i);
    });

    void it('kill -9 of the agent during a running job: the restarted agent re-adopts it; it runs once', async () => {
      const runs = join(work, 'runs-adopt');
      await writeFile(runs, '');
      const created = await createJob(server, processJob('adopted', ['/bin/sh', '-c', `sleep 3; echo done >> ${runs}`, `${marker}-adopt`]));
      assert.equal(created.status, 201, created.text);
      await waitForPhase(server, 'adopted', ['Running']);
      agentA.kill('SIGKILL');
      await agentA.exited;
      agentA = await startAgent('node-a', agentA.dataDir);
      const job = await waitForPhase(server, 'adopted', ['Succeeded', 'Failed'], 60_000);
      assert.equal(job.status?.phase, 'Succeeded', JSON.stringify(job.status));
      assert.equal(job.status?.attempts, 1);
      assert.equal((await readFile(runs, 'utf8')).trim(), 'done');
    });

    void it('a node that stops heartbeating: its job runs elsewhere (NodeLost); the old task is stopped when it comes back', async () => {
      const agentB = await startAgent('node-b');
      try {
        await nodeReady('node-b');
        const tag = `${marker}-lost`;
        const created = await createJob(server, processJob('wanderer', ['/bin/sh', '-c', 'while :; do sleep 1; done', tag], { nodeSelector: { node: 'node-a' } }));
        assert.equal(created.status, 201, created.text);
        await waitForPhase(server, 'wanderer', ['Running']);
        // allow node-b too, then silence node-a
        const patched = await api(server, 'PATCH', jobPath('wanderer'), { spec: { nodeSelector: null } }, 'application/merge-patch+json');
        assert.equal(patched.status, 200, patched.text);
        agentA.kill('SIGSTOP');
        try {
          const moved = await waitFor(
            'wanderer to run on node-b',
            async () => {
              const job = await getJob(server, 'wanderer');
              return job?.status?.phase === 'Running' && job.status.nodeName === 'node-b' ? job : undefined;
            },
            60_000,
          );
          assert.ok(moved.status?.recentAttempts?.some((a) => a.reason === 'NodeLost'), JSON.stringify(moved.status));
          await waitFor('a NodeLost event on the job', async () => ((await cli(['describe', 'job', 'wanderer'])).stdout.includes('NodeLost') ? true : undefined));
        } finally {
          agentA.kill('SIGCONT');
        }
        // node-a comes back and must stop its copy: then exactly one task is left, on node-b
        const alive = await waitFor(
          'node-a to stop its stale attempt',
          async () => {
            const pids = await processesWith(tag);
            const dirs = await Promise.all(pids.map(cwdOf));
            return dirs.every((d) => d === undefined || !d.startsWith(agentA.dataDir)) ? pids : undefined;
          },
          60_000,
        );
        assert.ok(alive.length >= 1, 'the attempt on node-b still runs');
        const del = await api(server, 'DELETE', jobPath('wanderer'));
        assert.equal(del.status, 200, del.text);
        await waitFor('the wanderer task to be stopped after deletion', async () => ((await processesWith(tag)).length === 0 ? true : undefined), 60_000);
      } finally {
        await agentB.stop();
      }
    });

    void it('logs of a finished job stay readable after its agent is gone', async () => {
      const created = await createJob(server, processJob('remembered', ['/bin/echo', 'kept output']));
      assert.equal(created.status, 201, created.text);
      await waitForPhase(server, 'remembered', ['Succeeded']);
      await waitFor('logs of remembered', async () => {
        const res = await api(server, 'GET', `${jobPath('remembered')}/log`);
        return res.text.includes('kept output') ? true : undefined;
      });
      const code = await agentA.stop();
      assert.equal(code, 0, agentA.output());
      const res = await api(server, 'GET', `${jobPath('remembered')}/log`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.text, 'kept output\n');
      agentA = await startAgent('node-a', agentA.dataDir);
      await nodeReady('node-a');
    });

    void it('SIGTERM to agent and server: clean exit, no task left behind', async () => {
      const tag = `${marker}-term`;
      const created = await createJob(server, processJob('interrupted', ['/bin/sh', '-c', 'while :; do sleep 1; done', tag]));
      assert.equal(created.status, 201, created.text);
      await waitForPhase(server, 'interrupted', ['Running']);
      assert.ok((await processesWith(tag)).length > 0);
      assert.equal(await agentA.stop(), 0, agentA.output());
      assert.deepEqual(await processesWith(tag), [], 'the agent stopped its task on SIGTERM');
      assert.equal(await server.stop(), 0, server.output());
    });
  });
}

for (const storeKind of STORES) {
  void describe(`kill -9 of the server during 500 applies (${storeKind})`, () => {
    void it('every acknowledged job exists after the restart and finishes', async () => {
      const work = await mkdtemp(join(tmpdir(), 'os-crash-e2e-'));
      const dataDir = join(work, 'data');
      const etcd = storeKind === 'etcd' ? await startEtcd() : undefined;
      const store = etcd ? { store: { etcdEndpoints: [etcd.endpoint], etcdPrefix: `/crash-${process.pid}` } } : {};
      const first = await startServerProcess({ dataDir, ...store });
      let server = first;
      let agent: AgentProcess | undefined;
      try {
        const acknowledged: string[] = [];
        let killed = false;
        const names = Array.from({ length: 500 }, (_, i) => `crash-${i}`);
        await inParallel(names, 16, async (name) => {
          if (name === 'crash-250') {
            killed = true;
            server.kill('SIGKILL');
          }
          try {
            const r = await createJob(server, processJob(name, ['/bin/true']));
            if (r.status === 201) acknowledged.push(name);
          } catch {
            // the server is gone: not acknowledged
          }
        });
        assert.ok(killed);
        await first.stop(); // already dead: removes its temporary HOME only
        assert.ok(acknowledged.length >= 100, `only ${acknowledged.length} creates acknowledged before the kill`);
        server = await startServerProcess({ dataDir, ...store });
        agent = await startAgentProcess({ grpcAddress: server.grpcAddress, tokenFile: server.joinTokenPath, nodeName: 'crash-node' });
        const jobs = await waitFor(
          'every acknowledged job to finish',
          async () => {
            const all = new Map((await listJobs(server)).map((j) => [j.metadata.name, j]));
            return acknowledged.every((n) => all.get(n)?.status?.phase === 'Succeeded') ? all : undefined;
          },
          300_000,
          1000,
        );
        for (const name of acknowledged) assert.ok(jobs.has(name), `${name} was acknowledged but is lost`);
      } finally {
        await agent?.stop();
        await server.stop();
        await etcd?.stop();
        await rm(work, { recursive: true, force: true });
      }
    });
  });
}

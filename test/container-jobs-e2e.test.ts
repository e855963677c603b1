// End to end with real podman and real Incus: `openscheduler dev` (no local agent) and a real
// `openscheduler agent` running container jobs. What issue 4's acceptance list asks for:
// jobs run in containers and instances; kill -9 of the agent while they run, then a restart:
// each job finishes once, no duplicate, nothing orphaned; SIGTERM (default policy) stops them
// within grace + 2 s and reports them; orphans labelled as ours are removed within one sweep
// period while a decoy that is not ours is never touched; a driver that is absent is not
// advertised, and the scheduler does not place jobs needing it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from './harness/agent.js';
import { api, createJob, getJob, jobPath, waitFor, waitForPhase } from './harness/e2e.js';
import { containerJobManifest, containersConf, INCUS_TEST_IMAGE, PODMAN_TEST_IMAGE, requireIncus, requirePodman } from './harness/runtimes.js';
import { startServerProcess, type ServerProcess } from './harness/server.js';

const run = promisify(execFile);

/** `incus ARGS`; its stdin is closed at once (`incus launch` reads a config from a non-terminal stdin). */
function incus(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('incus', args, { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`incus ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
    child.stdin?.end();
  });
}
const PODMAN_ENV = { ...process.env, CONTAINERS_CONF: containersConf() };

/** Names of the podman containers (any state) labelled for `node`. */
async function podmanContainersOf(node: string): Promise<string[]> {
  const { stdout } = await run('podman', ['ps', '-a', '--filter', `label=io.openscheduler.node=${node}`, '--format', '{{.Names}}'], { env: PODMAN_ENV });
  return stdout.split('\n').filter((l) => l !== '');
}

interface IncusInstance {
  name: string;
  status: string;
  config: Record<string, string>;
}

async function incusInstances(): Promise<IncusInstance[]> {
  return JSON.parse(await incus(['list', '--format', 'json'])) as IncusInstance[];
}

/** Names of the Incus instances whose user keys name `node`. */
async function incusInstancesOf(node: string): Promise<string[]> {
  return (await incusInstances()).filter((i) => i.config['user.openscheduler.node'] === node).map((i) => i.name);
}

function containerJob(name: string, driver: 'podman' | 'incus', script: string, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return containerJobManifest(name, driver, ['/bin/sh', '-c', script], spec);
}

void describe('container jobs end to end (podman, incus)', () => {
  let server: ServerProcess;
  let work: string;
  const agents: AgentProcess[] = [];
  const node = `ctr-e2e-${process.pid}`;

  const startAgent = async (nodeName: string, dataDir: string, extraArgs: readonly string[] = []): Promise<AgentProcess> => {
    const agent = await startAgentProcess({
      grpcAddress: server.grpcAddress,
      tokenFile: server.joinTokenPath,
      nodeName,
      dataDir,
      extraArgs: ['--drivers', 'process,podman,incus', '--orphan-sweep-interval', '2s', ...extraArgs],
      env: { CONTAINERS_CONF: containersConf() },
    });
    agents.push(agent);
    return agent;
  };
  const nodeDrivers = (name: string): Promise<string[]> =>
    waitFor(`node ${name} Ready`, async () => {
      const res = await api(server, 'GET', `/apis/openscheduler.io/v1/nodes/${name}`);
      const ready = (res.body?.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
      return res.status === 200 && ready ? ((res.body?.status?.drivers ?? []) as string[]) : undefined;
    });
  const finished = (name: string) => waitForPhase(server, name, ['Succeeded', 'Failed'], 120_000);
  const logsOf = (name: string): Promise<string> =>
    waitFor(`logs of ${name}`, async () => {
      const res = await api(server, 'GET', `${jobPath(name)}/log`);
      return res.status === 200 && res.text !== '' ? res.text : undefined;
    });

  before(async () => {
    await requirePodman();
    await requireIncus();
    work = await mkdtemp(join(tmpdir(), 'os-ctr-e2e-'));
    server = await startServerProcess({ extraArgs: ['--node-lease-ttl', '6s', '--node-grace-period', '6s'] });
  });

  after(async () => {
    for (const a of agents) await a.stop();
    await server?.stop();
    // anything a failed test left behind, by our node labels only
    for (const name of await podmanContainersOf(node).catch(() => [])) await run('podman', ['rm', '-f', '-t', '0', name], { env: PODMAN_ENV }).catch(() => undefined);
    for (const name of await incusInstancesOf(node).catch(() => [])) await incus(['delete', '--force', name]).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  });

  void it('runs a podman job and an incus job; their output is kept', async () => {
    const agent = await startAgent(node, join(work, 'agent'));
    const drivers = await nodeDrivers(node);
    assert.deepEqual([...drivers].sort(), ['incus', 'podman', 'process'], agent.output());
    for (const driver of ['podman', 'incus'] as const) {
      const name = `hello-${driver}`;
      const created = await createJob(server, containerJob(name, driver, 'echo "hello from $WHERE"; echo oops >&2; exit 0', { env: [{ name: 'WHERE', value: driver }] }));
      assert.equal(created.status, 201, created.text);
    }
    for (const driver of ['podman', 'incus'] as const) {
      const job = await finished(`hello-${driver}`);
      assert.equal(job.status?.phase, 'Succeeded', `${driver}: ${JSON.stringify(job.status)}\n${agent.output()}`);
      assert.equal(job.status?.attempts, 1);
      assert.match(await logsOf(`hello-${driver}`), new RegExp(`hello from ${driver}`));
    }
    // finished tasks are destroyed once reported: nothing of this node is left
    await waitFor('containers and instances removed', async () => ((await podmanContainersOf(node)).length + (await incusInstancesOf(node)).length === 0 ? true : undefined), 30_000, 250);
  });

  void it('a container job above its memory limit fails as OOMKilled; one past timeoutSeconds as DeadlineExceeded', async () => {
    for (const driver of ['podman', 'incus'] as const) {
      const oom = await createJob(server, containerJob(`oom-${driver}`, driver, 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived', { resources: { memory: '32Mi' } }));
      assert.equal(oom.status, 201, oom.text);
      const slow = await createJob(server, containerJob(`slow-${driver}`, driver, "trap '' TERM; sleep 60", { timeoutSeconds: 1, killTimeoutSeconds: 1 }));
      assert.equal(slow.status, 201, slow.text);
    }
    for (const driver of ['podman', 'incus'] as const) {
      const oom = await finished(`oom-${driver}`);
      assert.equal(oom.status?.phase, 'Failed', JSON.stringify(oom.status));
      assert.equal(oom.status?.recentAttempts?.at(-1)?.reason, 'OOMKilled', `${driver}: ${JSON.stringify(oom.status)}`);
      const slow = await finished(`slow-${driver}`);
      assert.equal(slow.status?.phase, 'Failed', JSON.stringify(slow.status));
      assert.equal(slow.status?.recentAttempts?.at(-1)?.reason, 'DeadlineExceeded', `${driver}: ${JSON.stringify(slow.status)}`);
    }
    await waitFor('containers and instances removed', async () => ((await podmanContainersOf(node)).length + (await incusInstancesOf(node)).length === 0 ? true : undefined), 30_000, 250);
  });

  void it('kill -9 of the agent while podman and incus jobs run, then a restart: each finishes once, nothing duplicated or orphaned', async () => {
    const agent = agents.at(-1)!;
    for (const driver of ['podman', 'incus'] as const) {
      const created = await createJob(server, containerJob(`survive-${driver}`, driver, 'echo start; sleep 4; echo end'));
      assert.equal(created.status, 201, created.text);
    }
    for (const driver of ['podman', 'incus'] as const) await waitForPhase(server, `survive-${driver}`, ['Running'], 60_000);
    assert.equal((await podmanContainersOf(node)).length, 1);
    assert.equal((await incusInstancesOf(node)).length, 1);
    agent.kill('SIGKILL');
    await agent.exited;
    const restarted = await startAgent(node, agent.dataDir);
    for (const driver of ['podman', 'incus'] as const) {
      const job = await finished(`survive-${driver}`);
      assert.equal(job.status?.phase, 'Succeeded', `${driver}: ${JSON.stringify(job.status)}\n${restarted.output()}`);
      assert.equal(job.status?.attempts, 1, 'ran once: no second attempt');
      const logs = await logsOf(`survive-${driver}`);
      assert.equal(logs.match(/start/g)?.length, 1, `started once: ${logs}`);
      assert.match(logs, /end/);
    }
    await waitFor('nothing left after the restart', async () => ((await podmanContainersOf(node)).length + (await incusInstancesOf(node)).length === 0 ? true : undefined), 30_000, 250);
  });

  void it('--shutdown-mode detach leaves container jobs running; the next agent re-adopts them and reports exits that happened while none ran', async () => {
    const old = agents.at(-1)!;
    await old.stop();
    const detaching = await startAgent(node, old.dataDir, ['--shutdown-mode', 'detach']);
    for (const driver of ['podman', 'incus'] as const) {
      const created = await createJob(server, containerJob(`detach-${driver}`, driver, 'echo before; sleep 1; echo after; exit 3'));
      assert.equal(created.status, 201, created.text);
    }
    for (const driver of ['podman', 'incus'] as const) await waitForPhase(server, `detach-${driver}`, ['Running'], 60_000);
    assert.equal(await detaching.stop(30_000), 0, detaching.output());
    assert.equal((await podmanContainersOf(node)).length, 1, 'the container was left for re-adoption');
    assert.equal((await incusInstancesOf(node)).length, 1, 'the instance was left for re-adoption');
    // the tasks end while no agent runs, and for longer than incusd keeps a finished exec (~5 s)
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    const restarted = await startAgent(node, old.dataDir);
    for (const driver of ['podman', 'incus'] as const) {
      const job = await finished(`detach-${driver}`);
      assert.equal(job.status?.phase, 'Failed', `${driver}: ${JSON.stringify(job.status)}\n${restarted.output()}`);
      assert.equal(job.status?.exitCode, 3, `${driver}: the real exit code, reported after the restart`);
      assert.equal(job.status?.attempts, 1);
      const logs = await waitFor(`all output of detach-${driver}`, async () => {
        const text = await logsOf(`detach-${driver}`);
        return text.includes('after') ? text : undefined;
      });
      assert.equal(logs, 'before\nafter\n');
    }
    await waitFor('nothing left after re-adoption', async () => ((await podmanContainersOf(node)).length + (await incusInstancesOf(node)).length === 0 ? true : undefined), 30_000, 250);
  });

  void it('orphans labelled as ours are removed within one sweep period; a decoy is never touched', async () => {
    const decoyPodman = `decoy-${process.pid}`;
    const decoyIncus = `decoy-${process.pid}`;
    const orphanPodman = `os-orphan-${process.pid}`;
    const orphanIncus = `os-orphan-${process.pid}`;
    await run('podman', ['run', '-d', '--name', decoyPodman, '--network', 'none', '--label', 'io.openscheduler.managed=false', PODMAN_TEST_IMAGE, 'sleep', '300'], { env: PODMAN_ENV });
    await incus(['launch', INCUS_TEST_IMAGE, decoyIncus]);
    try {
      const orphanLabels = ['io.openscheduler.managed=true', `io.openscheduler.node=${node}`, 'io.openscheduler.task-id=orphan-uid.1', 'io.openscheduler.job-uid=orphan-uid', 'io.openscheduler.attempt=1'];
      await run('podman', ['run', '-d', '--name', orphanPodman, '--network', 'none', ...orphanLabels.flatMap((l) => ['--label', l]), PODMAN_TEST_IMAGE, 'sleep', '300'], { env: PODMAN_ENV });
      const orphanKeys = ['user.openscheduler.managed=true', `user.openscheduler.node=${node}`, 'user.openscheduler.task-id=orphan-uid.1', 'user.openscheduler.job-uid=orphan-uid', 'user.openscheduler.attempt=1'];
      await incus(['launch', INCUS_TEST_IMAGE, orphanIncus, ...orphanKeys.flatMap((k) => ['-c', k])]);
      await waitFor(
        'orphans removed by the sweep',
        async () => {
          const left = [...(await podmanContainersOf(node)), ...(await incusInstancesOf(node))];
          return left.length === 0 ? true : undefined;
        },
        15_000,
        250,
      );
      const { stdout } = await run('podman', ['container', 'inspect', '--format', '{{.State.Status}}', decoyPodman], { env: PODMAN_ENV });
      assert.equal(stdout.trim(), 'running', 'the podman decoy still runs');
      const decoy = (await incusInstances()).find((i) => i.name === decoyIncus);
      assert.equal(decoy?.status, 'Running', 'the incus decoy still runs');
    } finally {
      // one name per call: podman 4.3 removes nothing when one of several names is missing
      for (const name of [decoyPodman, orphanPodman]) await run('podman', ['rm', '-f', '-t', '0', name], { env: PODMAN_ENV }).catch(() => undefined);
      await incus(['delete', '--force', decoyIncus]).catch(() => undefined);
      await incus(['delete', '--force', orphanIncus]).catch(() => undefined);
    }
  });

  void it('SIGTERM to the agent (default policy): container jobs are stopped within grace + 2 s and reported; no orphan left; the jobs are re-queued, not placed on the node again', async () => {
    const agent = agents.at(-1)!;
    for (const driver of ['podman', 'incus'] as const) {
      const created = await createJob(server, containerJob(`term-${driver}`, driver, "trap 'echo got-term; exit 143' TERM; echo up; while :; do sleep 0.2; done", { killTimeoutSeconds: 3 }));
      assert.equal(created.status, 201, created.text);
    }
    for (const driver of ['podman', 'incus'] as const) await waitForPhase(server, `term-${driver}`, ['Running'], 60_000);
    const t0 = Date.now();
    const code = await agent.stop(30_000);
    const took = Date.now() - t0;
    assert.equal(code, 0, agent.output());
    assert.ok(took < 3_000 + 2_000 + 3_000, `the agent took ${took} ms to stop (grace 3 s)`);
    assert.deepEqual(await podmanContainersOf(node), [], 'no container left');
    assert.deepEqual(await incusInstancesOf(node), [], 'no instance left');
    for (const driver of ['podman', 'incus'] as const) {
      // The agent marked its node not Ready (AgentShuttingDown) before stopping: the job ended its
      // attempt NodeLost (no retry used) and waits for a node, not bound to this one again.
      const job = await getJob(server, `term-${driver}`);
      const attempts = job?.status?.recentAttempts ?? [];
      const nodeNow = await api(server, 'GET', `/apis/openscheduler.io/v1/nodes/${node}`);
      assert.equal(attempts.length, 1, `term-${driver}: one attempt, not placed here again: ${JSON.stringify(job?.status)}; node conditions: ${JSON.stringify(nodeNow.body?.status?.conditions)}`);
      assert.ok(attempts[0]?.endTime !== undefined, `term-${driver}: its end was reported: ${JSON.stringify(job?.status)}`);
      assert.equal(attempts[0]?.reason, 'NodeLost', JSON.stringify(attempts[0]));
      assert.match(attempts[0]?.message ?? '', /shutting down/);
      assert.equal(job?.status?.phase, 'Pending', JSON.stringify(job?.status));
      assert.equal(job?.status?.nodeLostRequeues, 1);
    }
  });

  void it('a node without incus does not advertise it, and an incus job is not placed there', async () => {
    const other = `no-incus-${process.pid}`;
    const agent = await startAgent(other, join(work, 'agent-no-incus'), ['--incus-socket', join(work, 'no-such.socket'), '--labels', `only=${other}`]);
    const drivers = await nodeDrivers(other);
    assert.ok(!drivers.includes('incus'), `advertised: ${drivers.join(',')}`);
    const created = await createJob(server, containerJob('needs-incus', 'incus', 'echo hi', { nodeSelector: { only: other } }));
    assert.equal(created.status, 201, created.text);
    const job = await waitFor('needs-incus unschedulable', async () => {
      const j = await getJob(server, 'needs-incus');
      return j?.status?.reason === 'Unschedulable' ? j : undefined;
    });
    assert.match(job.status?.message ?? '', /incus/);
    await agent.stop();
  });
});

// Network faults between an agent and the server (gRPC), through the TCP fault proxy: the real
// `openscheduler dev` (embedded store, short node lease and grace), agent node-a reaching it only
// through the proxy and agent node-b directly. Blackhole: node-a's assignment stream is found
// dead by gRPC keepalive (the agent's channel pings; grpc-js traces the ping timeout), node-a goes
// NotReady/NodeLost and its jobs move to node-b; after healing node-a reconnects and is Ready,
// every job ends, and no job ever had two live attempts. Reset: the stream fails at once and the
// agent reconnects after healing. Delay: jobs still run on the delayed agent.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../harness/agent.js';
import { api, createJob, jobPath, killProcessesWith, listJobs, processJob, waitFor, waitForPhase } from '../harness/e2e.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { startServerProcess, type ServerProcess } from '../harness/server.js';
import { assertNoViolations, checkAll, History, summarize } from './history.js';
import { nodeReady, orphansWith, recordTasks, unfinished } from './network-support.js';

/** The shortest node timings the server takes that keep a loaded machine from false alarms. */
const FAST_NODE_ARGS = ['--node-lease-ttl', '3s', '--node-grace-period', '3s'];
/** The agent's keepalive (agent/control-plane-client.ts defaults; no flag sets them): ping every 10 s, 5 s to answer. */
const AGENT_KEEPALIVE_MS = 10_000 + 5_000;
/** grpc-js's trace line when a keepalive ping went unanswered and the connection was dropped. */
const PING_TIMEOUT_TRACE = 'Ping timeout passed without response';

void describe('network faults between an agent and the server', { timeout: 600_000 }, () => {
  let server: ServerProcess;
  let proxy: FaultProxy;
  let agentA: AgentProcess;
  let agentB: AgentProcess;
  let tasks: ReturnType<typeof recordTasks>;
  const marker = `os-netfault-agent-${process.pid}`;
  /** Every client operation of the test, checked at the end (test/faults/history.ts). */
  const history = new History();

  const create = async (name: string, script: string, spec: Record<string, unknown> = {}): Promise<void> => {
    const res = await history.call('test', 'create', `default/${name}`, () => createJob(server, processJob(name, ['/bin/sh', '-c', script, `${marker}-${name}`], spec)));
    assert.equal(res?.status, 201, `create ${name}: ${res?.text}`);
  };
  const readyIs = (node: string, status: string, reason?: string): Promise<true> =>
    waitFor(
      `${node} Ready=${status}${reason ? ` (${reason})` : ''}`,
      async () => {
        const ready = await nodeReady(server, node);
        return ready?.status === status && (reason === undefined || ready.reason === reason) ? true : undefined;
      },
      120_000,
      200,
    );
  const onNodeA = { nodeSelector: { node: 'node-a' } };

  before(async () => {
    server = await startServerProcess({ extraArgs: FAST_NODE_ARGS });
    proxy = await startFaultProxy({ target: server.grpcAddress });
    agentA = await startAgentProcess({
      grpcAddress: proxy.address,
      tokenFile: server.joinTokenPath,
      nodeName: 'node-a',
      extraArgs: ['--labels', 'node=node-a'],
      env: { GRPC_TRACE: 'keepalive', GRPC_VERBOSITY: 'DEBUG' },
    });
    agentB = await startAgentProcess({ grpcAddress: server.grpcAddress, tokenFile: server.joinTokenPath, nodeName: 'node-b', extraArgs: ['--labels', 'node=node-b'] });
    await readyIs('node-a', 'True');
    await readyIs('node-b', 'True');
    tasks = recordTasks(marker, history);
  });

  after(async () => {
    proxy?.pass();
    await tasks?.stop();
    await agentA?.stop();
    await agentB?.stop();
    await server?.stop();
    await proxy?.close();
    await killProcessesWith(marker);
  });

  void it('blackhole: keepalive finds the stream dead, node-a is lost and its jobs move; after healing node-a is back and all jobs end', async (t) => {
    const names = ['bh-0', 'bh-1', 'bh-2'];
    for (const name of names) await create(name, 'sleep 8', onNodeA);
    for (const name of names) await waitForPhase(server, name, ['Running']);
    // now let them run anywhere: node-b may take them once node-a is lost
    for (const name of names) {
      const patched = await api(server, 'PATCH', jobPath(name), { spec: { nodeSelector: null } }, 'application/merge-patch+json');
      assert.equal(patched.status, 200, patched.text);
    }
    const tracesBefore = agentA.output().split(PING_TIMEOUT_TRACE).length - 1;
    const started = performance.now();
    proxy.blackhole();
    try {
      await waitFor(
        'node-a to be declared lost',
        async () => ((await nodeReady(server, 'node-a'))?.reason === 'NodeLost' ? true : undefined),
        120_000,
        200,
      );
      t.diagnostic(`blackhole: node-a NodeLost after ${(performance.now() - started).toFixed(0)} ms (lease 3 s + grace 3 s)`);
      await waitFor(
        "node-a's keepalive to drop the dead connection",
        async () => (agentA.output().split(PING_TIMEOUT_TRACE).length - 1 > tracesBefore ? true : undefined),
        AGENT_KEEPALIVE_MS + 60_000,
        200,
      );
      t.diagnostic(`blackhole: node-a's keepalive dropped the connection after ${(performance.now() - started).toFixed(0)} ms (keepalive ${AGENT_KEEPALIVE_MS} ms)`);
      await waitFor('the assignment watch to fail on node-a', async () => (/assignment watch failed/.test(agentA.output()) ? true : undefined), 30_000, 200);
      for (const name of names) {
        const moved = await waitFor(`${name} to run on node-b or end`, async () => {
          const job = (await listJobs(server)).find((j) => j.metadata.name === name);
          const phase = job?.status?.phase ?? '';
          return (phase === 'Running' && job?.status?.nodeName === 'node-b') || phase === 'Succeeded' || phase === 'Failed' ? job : undefined;
        });
        assert.ok(moved.status?.recentAttempts?.some((a) => a.reason === 'NodeLost'), `${name}: ${JSON.stringify(moved.status)}`);
      }
    } finally {
      proxy.pass();
    }
    const healed = performance.now();
    await readyIs('node-a', 'True');
    t.diagnostic(`blackhole: node-a Ready again ${(performance.now() - healed).toFixed(0)} ms after healing`);
    for (const name of names) {
      const done = await waitForPhase(server, name, ['Succeeded', 'Failed'], 120_000);
      assert.equal(done.status?.phase, 'Succeeded', `${name}: ${JSON.stringify(done.status)}`);
    }
    await create('bh-after', 'true', onNodeA);
    const after = await waitForPhase(server, 'bh-after', ['Succeeded', 'Failed'], 120_000);
    assert.equal(after.status?.phase, 'Succeeded', `node-a runs jobs again: ${JSON.stringify(after.status)}`);
  });

  void it('reset: the stream fails at once; jobs for node-a wait and run once it is back', async (t) => {
    const failuresBefore = agentA.output().split('assignment watch failed').length - 1;
    const started = performance.now();
    proxy.reset();
    try {
      await waitFor('the assignment watch to fail on node-a', async () => (agentA.output().split('assignment watch failed').length - 1 > failuresBefore ? true : undefined), 30_000, 100);
      t.diagnostic(`reset: node-a's watch failed after ${(performance.now() - started).toFixed(0)} ms`);
      await create('rst-0', 'true', onNodeA);
    } finally {
      proxy.pass();
    }
    const done = await waitForPhase(server, 'rst-0', ['Succeeded', 'Failed'], 120_000);
    assert.equal(done.status?.phase, 'Succeeded', JSON.stringify(done.status));
    await readyIs('node-a', 'True');
  });

  void it('delay: with 200 ms each way node-a still runs its jobs', async () => {
    proxy.delay(200);
    try {
      for (let i = 0; i < 3; i++) await create(`dly-${i}`, 'true', onNodeA);
      for (let i = 0; i < 3; i++) {
        const done = await waitForPhase(server, `dly-${i}`, ['Succeeded', 'Failed'], 120_000);
        assert.equal(done.status?.phase, 'Succeeded', JSON.stringify(done.status));
      }
    } finally {
      proxy.pass();
    }
  });

  void it('in the end: the history checks out (nothing lost, no phantom, every job ended, none ran twice at once, no orphan)', async (t) => {
    await waitFor('every job to end', async () => ((await unfinished(server, '')).length === 0 ? true : undefined), 120_000, 500);
    await tasks.stop();
    const final = { jobs: await listJobs(server) };
    t.diagnostic(summarize(history, final));
    assertNoViolations(checkAll(history, final, { orphans: await orphansWith(marker) }));
  });
});

// Network faults between the server and etcd, through the TCP fault proxy: the real
// `openscheduler dev` on a real etcd reached only through the proxy, a real agent (connected
// directly) running jobs. Blackhole: API reads and writes answer 503 within the store timeout
// (never hang) and /readyz says 503; reset: the same, at once; delay: everything still works.
// After healing: writes succeed, a REST watcher that resumes from its last resourceVersion sees
// every change made after healing and nothing twice, jobs created before the fault finish, and
// no job ever runs twice at once.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { DEFAULT_STORE_TIMEOUT_MS } from '../../store/store.js';
import { startAgentProcess, type AgentProcess } from '../harness/agent.js';
import { api, createJob, getJob, jobPath, JOBS_API, killProcessesWith, listJobs, processJob, waitFor, waitForPhase } from '../harness/e2e.js';
import { startEtcd, type EtcdProcess } from '../harness/etcd.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { startServerProcess, type ServerProcess } from '../harness/server.js';
import { assertNoViolations, checkAll, History, summarize } from './history.js';
import { nodeReady, orphansWith, probe, recordTasks, request, unfinished, watchJobs, watchViolations, type Probe, type RestWatcher } from './network-support.js';

/** A request under a store fault must be answered by then: the store timeout plus a generous margin for a loaded machine. */
const ANSWER_LIMIT_MS = DEFAULT_STORE_TIMEOUT_MS * 2 + 15_000;

void describe('network faults between the server and etcd', { timeout: 600_000 }, () => {
  let etcd: EtcdProcess;
  let proxy: FaultProxy;
  let server: ServerProcess;
  let agent: AgentProcess;
  let watcher: RestWatcher;
  let tasks: ReturnType<typeof recordTasks>;
  const marker = `os-netfault-etcd-${process.pid}`;
  /** Every client operation of the test, checked at the end (test/faults/history.ts). */
  const history = new History();
  /** Jobs whose create got no definite answer (503 or an error): they may or may not exist. */
  const uncertain: string[] = [];

  const job = (name: string, script: string): Record<string, unknown> => processJob(name, ['/bin/sh', '-c', script, `${marker}-${name}`]);
  const create = async (name: string, script: string): Promise<void> => {
    const res = await history.call('test', 'create', `default/${name}`, () => createJob(server, job(name, script)));
    assert.equal(res?.status, 201, `create ${name}: ${res?.text}`);
  };
  /** One REST call under a fault, recorded in the history; throws when no answer came. */
  const recorded =
    (kind: 'create' | 'get' | 'list' | 'update', key: string, method: string, path: string, body?: unknown, contentType?: string) =>
    async (signal: AbortSignal): Promise<{ status: number; text: string }> => {
      const { reply, operation } = await history.exchange('test', kind, key, async () => {
        const res = await request(server, method, path, signal, body, contentType);
        return { ...res, body: parseJson(res.text) };
      });
      if (!reply) throw new Error(operation.error ?? 'no answer');
      return reply;
    };

  before(async () => {
    etcd = await startEtcd();
    proxy = await startFaultProxy({ target: etcd.endpoint });
    server = await startServerProcess({ store: { etcdEndpoints: [`http://${proxy.address}`], etcdPrefix: `/netfault-${process.pid}` } });
    agent = await startAgentProcess({ grpcAddress: server.grpcAddress, tokenFile: server.joinTokenPath, nodeName: 'node-a' });
    await waitFor('node-a Ready', async () => ((await nodeReady(server, 'node-a'))?.status === 'True' ? true : undefined));
    const list = await api(server, 'GET', `${JOBS_API}/namespaces/default/jobs?limit=1`);
    assert.equal(list.status, 200, list.text);
    watcher = watchJobs(server, String(list.body.metadata.resourceVersion), history);
    tasks = recordTasks(marker, history);
  });

  after(async () => {
    proxy?.pass();
    await watcher?.stop();
    await tasks?.stop();
    await agent?.stop();
    await server?.stop();
    await proxy?.close();
    await etcd?.stop();
    await killProcessesWith(marker);
  });

  const untilReady = (): Promise<true> =>
    waitFor('/readyz 200', async () => ((await fetch(`${server.httpUrl}/readyz`)).status === 200 ? true : undefined), 60_000, 100);

  /** Creates jobs that are running when the fault starts. */
  const startWork = async (round: string): Promise<void> => {
    await untilReady();
    for (let i = 0; i < 3; i++) await create(`${round}-before-${i}`, 'sleep 2');
    await waitForPhase(server, `${round}-before-0`, ['Running', 'Succeeded']);
  };

  /** Probes every kind of call while the store is unreachable; each must be a 503 in time. */
  const probeWhileDown = async (t: TestContext, round: string): Promise<void> => {
    await waitFor('/readyz 503', async () => ((await fetch(`${server.httpUrl}/readyz`)).status === 503 ? true : undefined), ANSWER_LIMIT_MS, 100);
    const during = `${round}-during`;
    uncertain.push(during);
    const probes: [string, Promise<Probe>][] = [
      ['POST job', probe(recorded('create', `default/${during}`, 'POST', `${JOBS_API}/namespaces/default/jobs`, job(during, 'true')), ANSWER_LIMIT_MS)],
      ['GET job', probe(recorded('get', `default/${round}-before-0`, 'GET', jobPath(`${round}-before-0`)), ANSWER_LIMIT_MS)],
      ['LIST jobs', probe(recorded('list', `${JOBS_API}/namespaces/default/jobs`, 'GET', `${JOBS_API}/namespaces/default/jobs`), ANSWER_LIMIT_MS)],
      [
        'PATCH job',
        probe(recorded('update', `default/${round}-before-1`, 'PATCH', jobPath(`${round}-before-1`), { metadata: { labels: { touched: 'yes' } } }, 'application/merge-patch+json'), ANSWER_LIMIT_MS),
      ],
      ['GET /readyz', probe((s) => fetch(`${server.httpUrl}/readyz`, { signal: s }).then(async (r) => ({ status: r.status, text: await r.text() })), ANSWER_LIMIT_MS)],
    ];
    for (const [what, pending] of probes) {
      const p = await pending;
      t.diagnostic(`${round}: ${what} answered ${p.status} in ${p.ms.toFixed(0)} ms (store timeout ${DEFAULT_STORE_TIMEOUT_MS} ms)`);
      assert.equal(p.status, 503, `${what} during the fault: ${p.status} ${p.detail}`);
      assert.ok(p.ms < ANSWER_LIMIT_MS, `${what} took ${p.ms.toFixed(0)} ms`);
    }
  };

  /** After healing: ready again, writes succeed, the watcher sees each new change once, old jobs finish. */
  const checkHealed = async (t: TestContext, round: string): Promise<void> => {
    const healedAt = performance.now();
    await untilReady();
    t.diagnostic(`${round}: ready again ${(performance.now() - healedAt).toFixed(0)} ms after healing`);
    const names = Array.from({ length: 5 }, (_, i) => `${round}-after-${i}`);
    for (const name of names) await create(name, 'true');
    await waitFor(
      `the watcher to see ${names.join(', ')} ADDED`,
      async () => (names.every((n) => watcher.events.some((e) => e.type === 'ADDED' && e.name === n)) ? true : undefined),
      60_000,
    );
    for (const name of [...names, ...[0, 1, 2].map((i) => `${round}-before-${i}`)]) {
      const done = await waitForPhase(server, name, ['Succeeded', 'Failed'], 120_000);
      assert.equal(done.status?.phase, 'Succeeded', `${name}: ${JSON.stringify(done.status)}`);
    }
  };

  void it('blackhole: 503 within the store timeout, /readyz 503; after healing everything converges', async (t) => {
    await startWork('bh');
    proxy.blackhole();
    try {
      await probeWhileDown(t, 'bh');
    } finally {
      proxy.pass();
    }
    await checkHealed(t, 'bh');
  });

  void it('reset: connections to etcd are reset and refused: 503 within the store timeout; after healing everything converges', async (t) => {
    await startWork('rst');
    proxy.reset();
    try {
      await probeWhileDown(t, 'rst');
    } finally {
      proxy.pass();
    }
    await checkHealed(t, 'rst');
  });

  void it('delay: with 300 ms each way the API still answers and jobs still run', async (t) => {
    await startWork('dly');
    proxy.delay(300);
    try {
      const started = performance.now();
      await create('dly-slow', 'true');
      t.diagnostic(`delay: a create took ${(performance.now() - started).toFixed(0)} ms with 300 ms each way to etcd`);
      const got = await getJob(server, 'dly-slow');
      assert.equal(got?.metadata.name, 'dly-slow');
      const done = await waitForPhase(server, 'dly-slow', ['Succeeded', 'Failed'], 120_000);
      assert.equal(done.status?.phase, 'Succeeded', JSON.stringify(done.status));
    } finally {
      proxy.pass();
    }
    await checkHealed(t, 'dly');
  });

  void it('in the end: the history checks out (nothing lost, no phantom, every job ended, none ran twice at once), the watcher saw nothing twice', async (t) => {
    await untilReady();
    for (const name of uncertain) {
      // a 503'd create may have been applied after all (its request reached etcd after healing)
      const found = await getJob(server, name);
      t.diagnostic(`${name} (create answered 503): ${found ? 'applied after all' : 'not applied'}`);
    }
    await waitFor('every job to end', async () => ((await unfinished(server, '')).length === 0 ? true : undefined), 120_000, 500);
    await tasks.stop();
    await watcher.stop();
    const final = { jobs: await listJobs(server) };
    t.diagnostic(summarize(history, final));
    t.diagnostic(`watcher: ${watcher.events.length} events over ${watcher.opens} opens (${watcher.relists} relists)`);
    assertNoViolations(checkAll(history, final, { orphans: await orphansWith(marker) }));
    assert.deepEqual(watchViolations(watcher.events), [], 'the resuming watcher saw no change twice and none out of order');
  });
});

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

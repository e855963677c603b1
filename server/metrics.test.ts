// /metrics end to end, in-process: the real server (SQLite, HTTP on loopback) and a real node
// agent (process driver, gRPC over loopback) running jobs to completion; the server's and the
// agent's expositions are scraped over HTTP and parsed as Prometheus text.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import winston from 'winston';
import { createAgent, ProcessDriver, type Agent } from '../agent/index.js';
import { AgentMetrics } from '../metrics/agent-metrics.js';
import { MetricsServerOptionsError, startMetricsHttpServer, type RunningMetricsHttpServer } from '../metrics/metrics-http-server.js';
import { api, createJob, JOBS_API, processJob, waitFor, waitForPhase, type Target } from '../test/harness/e2e.js';
import { family, histogram, histogramSeries, scrape, value } from '../test/harness/prometheus.js';
import { resolveConfig, settingsFromFlags } from './config.js';
import { startServer, type RunningServer } from './server.js';

const logger = winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });
const NODE = 'metrics-node';
/** Every job name starts with this: no label value may contain it. */
const JOB_PREFIX = 'secret-job-name';
const AGENT_METRICS_TOKEN = 'agent-metrics-token-0123456789';

void describe('metrics of a running server and agent', { timeout: 120_000 }, () => {
  let dir: string;
  let server: RunningServer;
  let target: Target;
  let agent: Agent;
  let agentRun: Promise<void>;
  const agentAbort = new AbortController();
  let agentMetricsServer: RunningMetricsHttpServer;
  let readyBeforeStart: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-metrics-'));
    const options = resolveConfig({
      mode: 'dev',
      cwd: dir,
      flags: settingsFromFlags({ dataDir: join(dir, 'data'), httpPort: '0', httpsPort: '0', grpcPort: '0', bcryptCost: '10' }),
    }).server;
    server = await startServer(options, { logger });
    target = { httpUrl: server.httpUrl, token: (await server.mintToken('admin')).token };
    assert.equal(server.grpcTls, false, 'dev binds loopback: plaintext gRPC');
    agent = createAgent({
      servers: [server.grpcAddress],
      tokenFile: server.joinTokenPath,
      nodeName: NODE,
      stateDir: join(dir, 'agent'),
      drivers: [new ProcessDriver({ stateDir: join(dir, 'agent-process'), pollIntervalMs: 50 })],
      capacity: { cpuMillis: 2000, memoryBytes: 4 * 2 ** 30 },
      orphanSweepIntervalMs: 60_000,
    });
    agentMetricsServer = await startMetricsHttpServer({
      host: '127.0.0.1',
      port: 0,
      metrics: new AgentMetrics(() => agent.status()),
      ready: () => agent.status().connected,
      token: AGENT_METRICS_TOKEN,
    });
    readyBeforeStart = (await fetch(`${agentMetricsServer.url}/readyz`)).status;
    agentRun = agent.run(agentAbort.signal);

    // Two jobs succeed (one writes output, so logs are shipped), one fails into the dead-letter queue.
    for (const [name, argv] of [
      [`${JOB_PREFIX}-1`, ['sh', '-c', 'echo hello from a metered job']],
      [`${JOB_PREFIX}-2`, ['true']],
      [`${JOB_PREFIX}-3`, ['false']],
    ] as const) {
      assert.equal((await createJob(target, processJob(name, argv, { resources: { cpu: '500m', memory: '64Mi' } }))).status, 201);
    }
    await waitForPhase(target, `${JOB_PREFIX}-1`, ['Succeeded']);
    await waitForPhase(target, `${JOB_PREFIX}-2`, ['Succeeded']);
    await waitForPhase(target, `${JOB_PREFIX}-3`, ['Failed']);
  });

  after(async () => {
    agentAbort.abort();
    await agentRun;
    await agentMetricsServer?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('/metrics requires authentication; the 401 is counted', async () => {
    const anonymous = await fetch(`${server.httpUrl}/metrics`);
    assert.equal(anonymous.status, 401);
    const { exposition: families } = await scrape(`${server.httpUrl}/metrics`, target.token);
    assert.ok(value(families, 'openscheduler_api_requests_total', { route: '/metrics', verb: 'get', code: '401' }) >= 1);
    assert.equal((await fetch(`${server.httpUrl}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${target.token}` } })).status, 405);
  });

  void it('reports cluster state from the shared caches', async () => {
    const { status, contentType, exposition: families } = await scrape(`${server.httpUrl}/metrics`, target.token);
    assert.equal(status, 200);
    assert.match(contentType, /^text\/plain; version=0\.0\.4/);
    const phases = Object.fromEntries(family(families, 'openscheduler_jobs').metrics.map((m) => [m.labels?.phase, Number(m.value)]));
    assert.deepEqual(phases, { Pending: 0, Scheduled: 0, Running: 0, Succeeded: 2, Failed: 1 });
    assert.equal(value(families, 'openscheduler_dead_letter_jobs'), 1);
    assert.equal(value(families, 'openscheduler_nodes', { ready: 'true' }), 1);
    assert.equal(value(families, 'openscheduler_nodes', { ready: 'false' }), 0);
    assert.equal(value(families, 'openscheduler_node_capacity', { node: NODE, resource: 'cpu' }), 2);
    assert.equal(value(families, 'openscheduler_node_capacity', { node: NODE, resource: 'memory' }), 4 * 2 ** 30);
    assert.equal(value(families, 'openscheduler_node_allocated', { node: NODE, resource: 'cpu' }), 0, 'every job finished');
    assert.equal(value(families, 'openscheduler_node_allocated', { node: NODE, resource: 'memory' }), 0);
    assert.equal(value(families, 'openscheduler_connected_agents'), 1);
    assert.equal(value(families, 'openscheduler_leader'), 1, 'the embedded store: this process leads');
  });

  void it('reports controllers, scheduling, the store and the process', async () => {
    const { exposition: families } = await scrape(`${server.httpUrl}/metrics`, target.token);
    assert.equal(histogramSeries(families, 'openscheduler_scheduling_latency_seconds').count, 3, 'three binds');
    const controllers = family(families, 'openscheduler_workqueue_depth').metrics.map((m) => m.labels?.controller);
    assert.deepEqual(controllers.sort(), ['dependencies', 'job-lifecycle', 'node-lifecycle', 'scheduler'], 'every controller runs on the leader');
    assert.ok(histogramSeries(families, 'openscheduler_reconcile_duration_seconds', { controller: 'scheduler' }).count >= 3);
    assert.ok(value(families, 'openscheduler_reconcile_errors_total', { controller: 'scheduler' }) >= 0);
    const puts = histogramSeries(families, 'openscheduler_store_operation_duration_seconds', { operation: 'put', result: 'ok' });
    assert.ok(puts.count >= 3, `puts: ${puts.count}`);
    assert.ok(value(families, 'openscheduler_store_watches_open') >= 3, 'the informers watch');
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']) family(families, name);
  });

  void it('counts API requests by route template, verb and code, and times all but watches', async () => {
    const watchAbort = new AbortController();
    const watch = await fetch(`${server.httpUrl}${JOBS_API}/namespaces/default/jobs?watch=true`, {
      headers: { authorization: `Bearer ${target.token}` },
      signal: watchAbort.signal,
    });
    assert.equal(watch.status, 200);
    watchAbort.abort();
    await watch.text().catch(() => undefined);
    assert.equal((await api(target, 'GET', `${JOBS_API}/namespaces/default/jobs/${JOB_PREFIX}-missing`)).status, 404);
    assert.equal((await api(target, 'GET', `${JOBS_API}/namespaces/default/jobs/${JOB_PREFIX}-1/log`)).status, 200);
    assert.equal((await fetch(`${server.httpUrl}/apis/openscheduler.io/v1`, { headers: { authorization: `Bearer ${target.token}` } })).status, 200);
    assert.equal((await fetch(`${server.httpUrl}/no/such/${JOB_PREFIX}`, { headers: { authorization: `Bearer ${target.token}` } })).status, 404);

    const counted = async (labels: Record<string, string>): Promise<number> => {
      const { exposition } = await scrape(`${server.httpUrl}/metrics`, target.token);
      const found = family(exposition, 'openscheduler_api_requests_total').metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
      return Number(found?.value ?? 0);
    };
    await waitFor('the watch to be counted', async () => ((await counted({ route: 'jobs', verb: 'watch', code: '200' })) === 1 ? true : undefined), 5000);
    const { exposition: families } = await scrape(`${server.httpUrl}/metrics`, target.token);
    assert.equal(value(families, 'openscheduler_api_requests_total', { route: 'jobs', verb: 'create', code: '201' }), 3);
    assert.equal(value(families, 'openscheduler_api_requests_total', { route: 'jobs', verb: 'get', code: '404' }), 1);
    assert.ok(value(families, 'openscheduler_api_requests_total', { route: 'jobs', verb: 'get', code: '200' }) >= 3);
    assert.equal(value(families, 'openscheduler_api_requests_total', { route: 'jobs/log', verb: 'get', code: '200' }), 1);
    assert.equal(value(families, 'openscheduler_api_requests_total', { route: '/apis/{group}/{version}', verb: 'get', code: '200' }), 1);
    assert.equal(value(families, 'openscheduler_api_requests_total', { route: 'other', verb: 'get', code: '404' }), 1);
    assert.ok(value(families, 'openscheduler_api_requests_total', { route: '/metrics', verb: 'get', code: '200' }) >= 1);
    assert.equal(histogramSeries(families, 'openscheduler_api_request_duration_seconds', { route: 'jobs', verb: 'create' }).count, 3);
    const timed = histogram(families, 'openscheduler_api_request_duration_seconds');
    assert.ok(!timed.some((series) => series.labels.verb === 'watch'), 'watches are counted, not timed');

    // No label value anywhere names a job (or any other object): routes are templates.
    for (const f of families.families.values()) {
      for (const m of f.metrics) {
        for (const [label, text] of Object.entries(m.labels ?? {})) assert.ok(!text.includes(JOB_PREFIX), `${f.name}{${label}="${text}"}`);
      }
    }
    assert.ok(!families.text.includes(JOB_PREFIX), 'not in any series (histograms included)');
  });

  void it('the agent serves its own metrics and health over HTTP', async () => {
    assert.equal(readyBeforeStart, 503, 'not ready before it registered');
    const url = agentMetricsServer.url;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await fetch(`${url}/healthz`)).status, 200, 'health needs no token');
    assert.equal((await fetch(`${url}/readyz`)).status, 200, 'registered and connected');
    assert.equal((await fetch(`${url}/metrics`)).status, 401);
    assert.equal((await scrape(`${url}/metrics`, 'wrong-token')).status, 401);
    assert.equal((await fetch(`${url}/elsewhere`)).status, 404);
    const { status, exposition: families } = await scrape(`${url}/metrics`, AGENT_METRICS_TOKEN);
    assert.equal(status, 200);
    assert.equal(value(families, 'openscheduler_agent_connected'), 1);
    assert.equal(value(families, 'openscheduler_agent_tasks_running', { driver: 'process' }), 0, 'every task ended');
    assert.equal(value(families, 'openscheduler_agent_task_starts_total', { driver: 'process', result: 'started' }), 3);
    assert.equal(value(families, 'openscheduler_agent_driver_healthy', { driver: 'process' }), 1);
    assert.ok(value(families, 'openscheduler_agent_log_bytes_shipped_total') >= 'hello from a metered job\n'.length);
    family(families, 'process_cpu_user_seconds_total');
  });

  void it('a metrics listener off loopback needs a token', async () => {
    await assert.rejects(
      startMetricsHttpServer({ host: '0.0.0.0', port: 0, metrics: new AgentMetrics(() => agent.status(), { processMetrics: false }), ready: () => true }),
      MetricsServerOptionsError,
    );
  });
});

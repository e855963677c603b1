// The agent's metrics listener: its settings (--metrics-address, --metrics-token-file), and the
// real `openscheduler agent` serving /metrics, /healthz and /readyz over HTTP next to a real
// `openscheduler dev`, stopped cleanly by SIGTERM.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../test/harness/agent.js';
import { waitFor } from '../test/harness/e2e.js';
import { scrape, value } from '../test/harness/prometheus.js';
import { startServerProcess, type ServerProcess } from '../test/harness/server.js';
import { AgentConfigError, DEFAULT_AGENT_METRICS_ADDRESS, resolveAgentConfig, resolveAgentMetricsListener } from './agent-config.js';

void describe('agent metrics settings', () => {
  const listener = (flags: Record<string, unknown>, env: Record<string, string> = {}): ReturnType<typeof resolveAgentMetricsListener> =>
    resolveAgentMetricsListener(flags, env, '/work');

  void it('listens on loopback port 9464 by default; off turns it off', () => {
    assert.equal(DEFAULT_AGENT_METRICS_ADDRESS, '127.0.0.1:9464');
    assert.deepEqual(listener({}), { host: '127.0.0.1', port: 9464 });
    assert.equal(listener({ metricsAddress: 'off' }), undefined);
    assert.equal(listener({}, { OPENSCHEDULER_AGENT_METRICS_ADDRESS: 'off' }), undefined);
    assert.deepEqual(listener({}, { OPENSCHEDULER_AGENT_METRICS_ADDRESS: '127.0.0.2:9500' }), { host: '127.0.0.2', port: 9500 });
    assert.deepEqual(listener({ metricsAddress: '[::1]:0' }, { OPENSCHEDULER_AGENT_METRICS_ADDRESS: 'off' }), { host: '::1', port: 0 }, 'the flag wins');
    assert.deepEqual(resolveAgentConfig({ server: '127.0.0.1:50051', tokenFile: 't' }, {}, '/work').metrics, { host: '127.0.0.1', port: 9464 });
  });

  void it('off loopback it requires a token file', () => {
    assert.throws(() => listener({ metricsAddress: '0.0.0.0:9464' }), (err: unknown) => {
      assert.ok(err instanceof AgentConfigError);
      assert.match(err.message, /metrics-address.*0\.0\.0\.0:9464 is not a loopback address; give --metrics-token-file/);
      return true;
    });
    assert.deepEqual(listener({ metricsAddress: '0.0.0.0:9464', metricsTokenFile: 'metrics.token' }), { host: '0.0.0.0', port: 9464, tokenFile: '/work/metrics.token' });
    assert.deepEqual(listener({}, { OPENSCHEDULER_AGENT_METRICS_ADDRESS: '[::]:1', OPENSCHEDULER_AGENT_METRICS_TOKEN_FILE: '/etc/t' }), { host: '::', port: 1, tokenFile: '/etc/t' });
  });

  void it('rejects bad addresses naming the setting', () => {
    for (const bad of ['9464', 'localhost', 'example.com:9464', '::1:9464', '[127.0.0.1]:1', '127.0.0.1:70000', '127.0.0.1:']) {
      assert.throws(() => listener({ metricsAddress: bad }), /metrics-address.*must be IP:PORT/, bad);
    }
    assert.throws(() => listener({ metricsAddress: 'off', metricsTokenFile: 't' }), /metrics-token-file.*given while --metrics-address is off/);
  });
});

void describe('openscheduler agent serves metrics and health', { timeout: 120_000 }, () => {
  let server: ServerProcess;
  let agent: AgentProcess;
  let work: string;
  const token = 'agent-metrics-e2e-token-0123456789';

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'os-agent-metrics-'));
    await writeFile(join(work, 'metrics.token'), `${token}\n`, { mode: 0o600 });
    server = await startServerProcess();
  });
  after(async () => {
    await agent?.stop();
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  void it('health open, /metrics with the bearer token, ready once connected, closed on SIGTERM', async () => {
    agent = await startAgentProcess({
      grpcAddress: server.grpcAddress,
      tokenFile: server.joinTokenPath,
      nodeName: `metrics-e2e-${process.pid}`,
      extraArgs: ['--drivers', 'process', '--metrics-address', '127.0.0.1:0', '--metrics-token-file', join(work, 'metrics.token')],
    });
    const url = await waitFor('the metrics listener', async () => /metrics listening url=(http:\/\/127\.0\.0\.1:\d+)/.exec(agent.output())?.[1], 30_000);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    await waitFor('/readyz 200', async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined), 30_000);
    assert.equal((await fetch(`${url}/metrics`)).status, 401);
    const { status, exposition } = await scrape(`${url}/metrics`, token);
    assert.equal(status, 200);
    assert.equal(value(exposition, 'openscheduler_agent_connected'), 1);
    assert.equal(value(exposition, 'openscheduler_agent_driver_healthy', { driver: 'process' }), 1);
    assert.equal(value(exposition, 'openscheduler_agent_tasks_running', { driver: 'process' }), 0);

    assert.equal(await agent.stop(), 0, `clean exit:\n${agent.output()}`);
    await assert.rejects(fetch(`${url}/healthz`), /fetch failed/, 'the listener is gone');
  });
});

// TLS and mTLS on the agent endpoint end to end, with real processes: `openscheduler dev` serving
// gRPC over TLS with a certificate and client CA made by hack/make-test-ca.sh
// (--grpc-tls --grpc-tls-cert-file --grpc-tls-key-file --grpc-client-ca-file), and real
// `openscheduler agent` processes with the join token. The serving certificate names only
// os-test.example (no loopback names), so agents verify it with --tls-server-name os-test.example,
// and one that checks the address it dialled (127.0.0.1) must refuse the server.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgentProcess, type AgentProcess } from './harness/agent.js';
import { api, createJob, processJob, waitFor, waitForPhase } from './harness/e2e.js';
import { runOpenscheduler, startServerProcess, type ServerProcess } from './harness/server.js';
import { makeTestCa } from './harness/test-ca.js';

const SERVER_NAME = 'os-test.example';

void describe('agent endpoint TLS and mTLS end to end', { timeout: 240_000 }, () => {
  let work: string;
  let cert: (name: string) => string;
  let server: ServerProcess;
  const agents: AgentProcess[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'os-mtls-e2e-'));
    cert = await makeTestCa(join(work, 'certs'), {
      serverNames: [SERVER_NAME],
      noLoopbackNames: true,
      nodes: ['node-wrong', 'node-a', 'node-b', 'node-c'],
      wrongCa: true,
    });
    server = await startServerProcess({
      extraArgs: ['--grpc-tls', '--grpc-tls-cert-file', cert('server.crt'), '--grpc-tls-key-file', cert('server.key'), '--grpc-client-ca-file', cert('ca.crt')],
    });
  });

  after(async () => {
    for (const agent of agents) await agent.stop();
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  const startAgent = async (nodeName: string, tlsArgs: readonly string[]): Promise<AgentProcess> => {
    const agent = await startAgentProcess({
      grpcAddress: server.grpcAddress,
      tokenFile: server.joinTokenPath,
      nodeName,
      extraArgs: ['--drivers', 'process', ...tlsArgs],
    });
    agents.push(agent);
    return agent;
  };
  /** Trusts the test CA and checks the server's certificate for SERVER_NAME. */
  const verifyServer = (): string[] => ['--ca-file', cert('ca.crt'), '--tls-server-name', SERVER_NAME];
  const clientCertificate = (name: string): string[] => ['--cert-file', cert(`${name}.crt`), '--key-file', cert(`${name}.key`)];

  const nodeStatus = async (name: string): Promise<number> => (await api(server, 'GET', `/apis/openscheduler.io/v1/nodes/${name}`)).status;

  /**
   * Waits until the agent has failed to register twice, checks its first failure against `error`,
   * and that the server never registered the node (no Node object, no node token issued).
   */
  const expectRefused = async (agent: AgentProcess, nodeName: string, error: RegExp): Promise<void> => {
    const failures = await waitFor(
      `the agent of ${nodeName} to log failed registrations`,
      async () => {
        const lines = agent.output().split('\n').filter((line) => line.includes('register failed'));
        return lines.length >= 2 ? lines : undefined;
      },
      30_000,
    );
    assert.match(failures[0] ?? '', error, agent.output());
    assert.doesNotMatch(agent.output(), /registered node|registered with the join token/);
    assert.equal(await nodeStatus(nodeName), 404, `no Node ${nodeName} was registered`);
    assert.doesNotMatch(server.output(), new RegExp(`node token issued.*node=${nodeName}\\b`));
    await agent.stop();
  };

  void it('refuses an agent without a client certificate at the TLS handshake', async () => {
    const agent = await startAgent('node-a', verifyServer());
    await expectRefused(agent, 'node-a', /code=UNAVAILABLE .*certificate required/);
  });

  void it('refuses a client certificate from another CA at the TLS handshake', async () => {
    const agent = await startAgent('node-wrong', [...verifyServer(), ...clientCertificate('wrong-client-node-wrong')]);
    await expectRefused(agent, 'node-wrong', /code=UNAVAILABLE .*No connection established/);
  });

  void it('refuses Register when the client certificate is for another node than the agent', async () => {
    const agent = await startAgent('node-a', [...verifyServer(), ...clientCertificate('client-node-b')]);
    await expectRefused(agent, 'node-a', /code=PERMISSION_DENIED .*the client certificate is for node "node-b", the request for node "node-a"/);
  });

  void it('refuses a server whose certificate does not name the address the agent dialled', async () => {
    // no --tls-server-name: the agent checks the certificate for 127.0.0.1, which it does not name
    const agent = await startAgent('node-a', ['--ca-file', cert('ca.crt'), ...clientCertificate('client-node-a')]);
    await expectRefused(agent, 'node-a', /code=UNAVAILABLE .*ERR_TLS_CERT_ALTNAME_INVALID.*127\.0\.0\.1 is not in the cert's list/);
  });

  void it('registers an agent with the right certificate and token and runs its job to Succeeded', async () => {
    const agent = await startAgent('node-b', [...verifyServer(), ...clientCertificate('client-node-b')]);
    await waitFor('node-b Ready', async () => {
      const res = await api(server, 'GET', '/apis/openscheduler.io/v1/nodes/node-b');
      return res.status === 200 && (res.body?.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    });
    // from here on the agent calls with its node token, over the same certificate
    const created = await createJob(server, processJob('over-mtls', ['/bin/sh', '-c', 'echo hello over mTLS']));
    assert.equal(created.status, 201, created.text);
    const job = await waitForPhase(server, 'over-mtls', ['Succeeded', 'Failed']);
    assert.equal(job.status?.phase, 'Succeeded', JSON.stringify(job.status));
    assert.equal(job.status?.nodeName ?? job.status?.recentAttempts?.at(-1)?.nodeName, 'node-b');
    const logs = await waitFor('the job log', async () => {
      const res = await api(server, 'GET', '/apis/openscheduler.io/v1/namespaces/default/jobs/over-mtls/log');
      return res.status === 200 && res.text.includes('hello') ? res.text : undefined;
    });
    assert.match(logs, /hello over mTLS/);
    assert.doesNotMatch(agent.output(), /PERMISSION_DENIED|UNAUTHENTICATED/);
  });

  void it('connects without verifying the server with --tls-insecure-skip-verify, and says so loudly', async () => {
    const agent = await startAgent('node-c', ['--tls-insecure-skip-verify', ...clientCertificate('client-node-c')]);
    await waitFor('node-c registered', async () => ((await nodeStatus('node-c')) === 200 ? true : undefined));
    assert.match(agent.output(), /WARN +INSECURE: the server certificate is not verified/);
  });

  void it('fails to start with a startup error naming an unreadable or unusable TLS file', async () => {
    const base = ['dev', '--no-local-agent', '--http-port', '0', '--https-port', '0', '--grpc-port', '0', '--grpc-tls'];
    const missing = await runOpenscheduler([...base, '--data-dir', join(work, 'd1'), '--grpc-client-ca-file', join(work, 'no-such-ca.crt')], { env: { HOME: work } });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /gRPC TLS: cannot read .*no-such-ca\.crt \(--grpc-client-ca-file\): .*ENOENT/);
    const garbage = join(work, 'garbage.crt');
    await writeFile(garbage, 'not a certificate\n');
    const bad = await runOpenscheduler([...base, '--data-dir', join(work, 'd2'), '--grpc-client-ca-file', garbage], { env: { HOME: work } });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /garbage\.crt \(--grpc-client-ca-file\) is not a PEM certificate/);
    const mismatched = await runOpenscheduler(
      [...base, '--data-dir', join(work, 'd3'), '--grpc-tls-cert-file', cert('server.crt'), '--grpc-tls-key-file', cert('client-node-a.key')],
      { env: { HOME: work } },
    );
    assert.equal(mismatched.code, 1);
    assert.match(mismatched.stderr, /server\.crt and .*client-node-a\.key \(--grpc-tls-cert-file, --grpc-tls-key-file\) are not a usable certificate and key/);
  });
});

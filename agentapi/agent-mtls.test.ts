// mTLS on the agent endpoint: the real endpoint over real TLS on 127.0.0.1, with certificates made
// by hack/make-test-ca.sh. When the endpoint requires client certificates, the handshake refuses a
// client without one or with one from another CA, and a verified certificate binds the caller to
// the node it names (subject CN / DNS SAN): the join token registers only that node, a node token
// for another node is refused on every call (agent-auth.ts).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { AgentServiceClient } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { NODES_PREFIX } from '../controllers/scheduler/scheduler.js';
import { makeTestCa, readPair } from '../test/harness/test-ca.js';
import { expectCode, heartbeat, JOIN_TOKEN, register, startHarness, streamLogs, WatchClient, type Harness } from './agent-endpoint-harness.js';

interface Pem {
  readonly cert: Buffer;
  readonly key: Buffer;
}

void describe('agent endpoint with mTLS', { timeout: 60_000 }, () => {
  let dir: string;
  let ca: Buffer;
  let server: Pem;
  const clients = new Map<string, Pem>();
  let h: Harness | undefined;
  const channels: AgentServiceClient[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-mtls-'));
    await makeTestCa(dir, { nodes: ['node-a', 'node-b'], wrongCa: true });
    ca = await readFile(join(dir, 'ca.crt'));
    server = await readPair(dir, 'server');
    for (const name of ['client-node-a', 'client-node-b', 'wrong-client-node-a']) clients.set(name, await readPair(dir, name));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const c of channels.splice(0)) c.close();
    await h?.close();
    h = undefined;
  });

  /** The endpoint on TLS; `requireClientCertificates` as --grpc-client-ca-file does. */
  const start = async (requireClientCertificates: boolean): Promise<Harness> => {
    h = await startHarness({
      credentials: grpc.ServerCredentials.createSsl(requireClientCertificates ? ca : null, [{ cert_chain: server.cert, private_key: server.key }], requireClientCertificates),
    });
    return h;
  };

  /** The harness with its client replaced by a TLS client presenting `certificate` (a make-test-ca.sh name). */
  const over = (harness: Harness, certificate?: string): Harness => {
    const port = /:(\d+)$/.exec(harness.client.getChannel().getTarget())?.[1];
    assert.ok(port, 'the harness client names the port');
    const pair = certificate === undefined ? undefined : clients.get(certificate);
    assert.ok(certificate === undefined || pair, `certificate ${certificate} was made`);
    const client = new AgentServiceClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(ca, pair?.key ?? null, pair?.cert ?? null));
    channels.push(client);
    return { ...harness, client };
  };

  const nodeExists = async (harness: Harness, name: string): Promise<boolean> => (await harness.store.get(`${NODES_PREFIX}${name}`)) !== undefined;

  void it('refuses a client without a certificate, or with one from another CA, at the handshake', async () => {
    const harness = await start(true);
    await expectCode(register(over(harness), JOIN_TOKEN, { nodeName: 'node-a' }), grpc.status.UNAVAILABLE, /certificate required|ECONNRESET|Failed to connect/i);
    await expectCode(register(over(harness, 'wrong-client-node-a'), JOIN_TOKEN, { nodeName: 'node-a' }), grpc.status.UNAVAILABLE);
    assert.equal(await nodeExists(harness, 'node-a'), false, 'no Register reached the endpoint');
  });

  void it('with the join token, registers only the node the client certificate names', async () => {
    const harness = await start(true);
    const asB = over(harness, 'client-node-b');
    await expectCode(
      register(asB, JOIN_TOKEN, { nodeName: 'node-a' }),
      grpc.status.PERMISSION_DENIED,
      /^the client certificate is for node "node-b", the request for node "node-a"; an agent's certificate must name its node/,
    );
    assert.equal(await nodeExists(harness, 'node-a'), false);
    const registered = await register(asB, JOIN_TOKEN, { nodeName: 'node-b' });
    assert.match(registered.nodeToken, /\S/, 'the join token was traded for a node token');
    assert.equal(await nodeExists(harness, 'node-b'), true);
  });

  void it('refuses a node token for another node than the certificate on every call', async () => {
    const harness = await start(true);
    const tokenA = await harness.token('node-a');
    const asB = over(harness, 'client-node-b');
    const denied = /^the client certificate is for node "node-b", the token for node "node-a"/;
    await expectCode(register(asB, tokenA, { nodeName: 'node-a' }), grpc.status.PERMISSION_DENIED, denied);
    await expectCode(heartbeat(asB, tokenA, { nodeName: 'node-a' }), grpc.status.PERMISSION_DENIED, denied);
    await expectCode(streamLogs(asB, tokenA, []), grpc.status.PERMISSION_DENIED, denied);
    const watch = new WatchClient(asB, tokenA, 'node-a', 0);
    const ended = await watch.ended;
    assert.equal(ended.code, grpc.status.PERMISSION_DENIED);
    assert.match(ended.details, denied);
    assert.equal(await nodeExists(harness, 'node-a'), false);

    const asA = over(harness, 'client-node-a');
    await register(asA, tokenA, { nodeName: 'node-a' });
    await heartbeat(asA, tokenA, { nodeName: 'node-a' });
  });

  void it('binds nothing when client certificates are not requested (TLS only)', async () => {
    const harness = await start(false);
    const registered = await register(over(harness), JOIN_TOKEN, { nodeName: 'node-a' });
    assert.match(registered.nodeToken, /\S/);
    // a client certificate sent anyway is neither requested nor looked at
    await register(over(harness, 'client-node-b'), registered.nodeToken, { nodeName: 'node-a' });
  });
});

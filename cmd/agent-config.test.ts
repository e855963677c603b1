import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentConfigError, defaultNodeName, resolveAgentConfig } from './agent-config.js';

const resolve = (flags: Record<string, unknown>, env: Record<string, string> = {}): ReturnType<typeof resolveAgentConfig> =>
  resolveAgentConfig(flags, env, '/work');

void describe('resolveAgentConfig', () => {
  void it('takes flags over environment and fills defaults', () => {
    const config = resolve(
      { server: '127.0.0.1:50051', name: 'n1', labels: 'disk=ssd, zone=a', tokenFile: 'tok' },
      { OPENSCHEDULER_AGENT_SERVER: '10.0.0.1:1', OPENSCHEDULER_AGENT_NAME: 'other' },
    );
    assert.deepEqual(config.servers, ['127.0.0.1:50051']);
    assert.equal(config.nodeName, 'n1');
    assert.deepEqual(config.labels, { disk: 'ssd', zone: 'a' });
    assert.equal(config.tokenFile, '/work/tok');
    assert.equal(config.dataDir, '/var/lib/openscheduler-agent');
    assert.equal(config.shutdownMode, 'stop');
    assert.equal(config.tls, undefined);
  });

  void it('reads the GRPC_TLS_* variables of the original design', () => {
    const config = resolve({ server: 'sched.example:50051' }, { GRPC_TLS_CA_FILE: 'ca.crt', GRPC_TLS_CERT_FILE: 'c.pem', GRPC_TLS_KEY_FILE: 'k.pem' });
    assert.deepEqual(config.tls, { caFile: '/work/ca.crt', certFile: '/work/c.pem', keyFile: '/work/k.pem' });
    assert.deepEqual(resolve({ server: 'sched.example:50051' }, { GRPC_TLS_ENABLED: 'true' }).tls, {});
  });

  void it('rejects bad settings naming the setting and the rule', () => {
    const cases: [Record<string, unknown>, Record<string, string>, RegExp][] = [
      [{}, {}, /^server: required/],
      [{ server: 'nohost' }, {}, /^server: "nohost" is not HOST:PORT/],
      [{ server: '127.0.0.1:70000' }, {}, /^server: .* is not HOST:PORT/],
      [{ server: '10.1.2.3:50051' }, {}, /^server: 10\.1\.2\.3:50051 is not a loopback address; connect with TLS/],
      [{ server: '127.0.0.1:1', name: 'Bad_Name' }, {}, /^name: "Bad_Name" must be a DNS-1123 label/],
      [{ server: '127.0.0.1:1', labels: 'novalue' }, {}, /^labels: "novalue" is not key=value/],
      [{ server: '127.0.0.1:1', labels: 'k=v v' }, {}, /^labels: value "v v" of k is not a valid label value/],
      [{ server: '127.0.0.1:1', shutdownMode: 'pause' }, {}, /^shutdown-mode: must be stop or detach/],
      [{ server: '127.0.0.1:1', certFile: 'c' }, {}, /^cert-file and key-file must be given together/],
      [{ server: '127.0.0.1:1', token: 't', tokenFile: 'f' }, {}, /^token and token-file exclude each other/],
    ];
    for (const [flags, env, message] of cases) {
      assert.throws(() => resolve(flags, env), (err: unknown) => err instanceof AgentConfigError && message.test(err.message), JSON.stringify(flags));
    }
  });

  void it('allows plain gRPC to loopback names only', () => {
    assert.deepEqual(resolve({ server: 'localhost:50051,[::1]:50051' }).servers, ['localhost:50051', '[::1]:50051']);
  });
});

void describe('defaultNodeName', () => {
  void it('makes a DNS-1123 label of a host name', () => {
    assert.equal(defaultNodeName('Build_Box.example.com'), 'build-box');
    assert.equal(defaultNodeName('---'), 'node');
    assert.equal(defaultNodeName('a'.repeat(80)), 'a'.repeat(63));
  });
});

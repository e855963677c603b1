import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentConfigError, defaultNodeName, resolveAgentConfig, resolveAgentDriverSettings } from './agent-config.js';

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
    assert.deepEqual([config.keepaliveTimeMs, config.keepaliveTimeoutMs], [10_000, 5_000]);
  });

  void it('sets the gRPC keepalive from --keepalive-time/--keepalive-timeout and their variables, at least 1s', () => {
    const config = resolve({ server: '127.0.0.1:1', keepaliveTime: '2s' }, { OPENSCHEDULER_AGENT_KEEPALIVE_TIME: '1m', OPENSCHEDULER_AGENT_KEEPALIVE_TIMEOUT: '1500ms' });
    assert.deepEqual([config.keepaliveTimeMs, config.keepaliveTimeoutMs], [2_000, 1_500]);
    assert.throws(() => resolve({ server: '127.0.0.1:1', keepaliveTimeout: '500ms' }), (err: unknown) => err instanceof AgentConfigError && /^keepalive-timeout: must be at least 1s \(got "500ms"\)/.test(err.message));
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

void describe('agent driver settings', () => {
  const base = { server: '127.0.0.1:1' };

  void it('defaults: every driver, no volume roots or networks, the shipped containers.conf, a 30s sweep', () => {
    const config = resolveAgentConfig(base, {}, '/work', '/opt/openscheduler');
    assert.deepEqual(config.drivers, ['process', 'podman', 'incus']);
    assert.deepEqual(config.volumeRoots, []);
    assert.deepEqual(config.podman, { containersConf: '/opt/openscheduler/config/podman/containers.conf', networks: [] });
    assert.deepEqual(config.incus, {});
    assert.equal(config.orphanSweepIntervalMs, 30_000);
    // Without a package root, podman's own containers.conf search applies.
    assert.equal(resolve(base).podman.containersConf, undefined);
  });

  void it('takes flags over environment, CONTAINERS_CONF over the shipped file, and resolves paths against the cwd', () => {
    const env = {
      OPENSCHEDULER_AGENT_DRIVERS: 'process',
      OPENSCHEDULER_AGENT_VOLUME_ROOTS: '/srv/data',
      OPENSCHEDULER_AGENT_PODMAN_PATH: '/usr/bin/podman',
      CONTAINERS_CONF: 'pm/containers.conf',
      OPENSCHEDULER_AGENT_PODMAN_NETWORKS: 'envnet',
      OPENSCHEDULER_AGENT_INCUS_SOCKET: '/run/incus.socket',
      OPENSCHEDULER_AGENT_INCUS_PROJECT: 'envproject',
      OPENSCHEDULER_AGENT_ORPHAN_SWEEP_INTERVAL: '10s',
    };
    const fromEnv = resolveAgentConfig(base, env, '/work', '/opt/openscheduler');
    assert.deepEqual(
      [fromEnv.drivers, fromEnv.volumeRoots, fromEnv.podman, fromEnv.incus, fromEnv.orphanSweepIntervalMs],
      [['process'], ['/srv/data'], { path: '/usr/bin/podman', containersConf: '/work/pm/containers.conf', networks: ['envnet'] }, { socketPath: '/run/incus.socket', project: 'envproject' }, 10_000],
    );
    const fromFlags = resolveAgentConfig(
      {
        ...base,
        drivers: 'incus, podman',
        volumeRoots: '/srv/a/,/data//b',
        podmanPath: 'bin/podman',
        containersConf: '/etc/os/containers.conf',
        podmanNetworks: 'jobs,jobs-2',
        incusSocket: 'incus.sock',
        incusProject: 'batch',
        incusStoragePool: 'fast',
        orphanSweepInterval: '1m30s',
      },
      env,
      '/work',
    );
    assert.deepEqual(fromFlags.drivers, ['incus', 'podman']);
    assert.deepEqual(fromFlags.volumeRoots, ['/srv/a', '/data/b']);
    assert.deepEqual(fromFlags.podman, { path: '/work/bin/podman', containersConf: '/etc/os/containers.conf', networks: ['jobs', 'jobs-2'] });
    assert.deepEqual(fromFlags.incus, { socketPath: '/work/incus.sock', project: 'batch', storagePool: 'fast' });
    assert.equal(fromFlags.orphanSweepIntervalMs, 90_000);
    // A bare podman name is looked up in PATH, not resolved against the cwd.
    assert.equal(resolve({ ...base, podmanPath: 'podman' }).podman.path, 'podman');
  });

  void it('are the same for dev\'s local agent, which gives no flags', () => {
    const settings = resolveAgentDriverSettings({}, { CONTAINERS_CONF: '/etc/c.conf' }, '/work', '/opt/openscheduler');
    assert.deepEqual(settings.drivers, ['process', 'podman', 'incus']);
    assert.equal(settings.podman.containersConf, '/etc/c.conf');
  });

  void it('rejects bad values naming the flag and the rule', () => {
    const cases: [Record<string, unknown>, Record<string, string>, RegExp][] = [
      [{ drivers: 'process,docker' }, {}, /^drivers: "docker" is not a driver \(one of process, podman, incus\)/],
      [{ drivers: ' , ' }, {}, /^drivers: must name at least one of process, podman, incus/],
      [{ drivers: 'podman,podman' }, {}, /^drivers: "podman" is given twice/],
      [{}, { OPENSCHEDULER_AGENT_DRIVERS: 'vm' }, /^drivers: "vm" is not a driver/],
      [{ volumeRoots: 'data' }, {}, /^volume-roots: "data" must be an absolute path/],
      [{ volumeRoots: '/srv/../etc' }, {}, /^volume-roots: "\/srv\/..\/etc" must not contain "..", ":" or NUL/],
      [{ volumeRoots: '/srv/a:b' }, {}, /^volume-roots: .* must not contain/],
      [{ volumeRoots: '/srv,/srv/' }, {}, /^volume-roots: "\/srv" is given twice/],
      [{ podmanNetworks: 'ok,bad name' }, {}, /^podman-networks: "bad name" is not a network name/],
      [{ podmanNetworks: 'a,a' }, {}, /^podman-networks: "a" is given twice/],
      [{ incusProject: 'a/b' }, {}, /^incus-project: "a\/b" is not a project name/],
      [{ orphanSweepInterval: 'soon' }, {}, /^orphan-sweep-interval: must be a duration such as 30s or 2m \(got "soon"\)/],
      [{ orphanSweepInterval: '-5s' }, {}, /^orphan-sweep-interval: must be a duration/],
      [{ orphanSweepInterval: '500ms' }, {}, /^orphan-sweep-interval: must be at least 1s/],
      [{}, { OPENSCHEDULER_AGENT_ORPHAN_SWEEP_INTERVAL: '0' }, /^orphan-sweep-interval: must be at least 1s/],
    ];
    for (const [flags, env, message] of cases) {
      assert.throws(() => resolve({ ...base, ...flags }, env), (err: unknown) => err instanceof AgentConfigError && message.test(err.message), JSON.stringify(flags));
    }
  });
});

void describe('defaultNodeName', () => {
  void it('makes a DNS-1123 label of a host name', () => {
    assert.equal(defaultNodeName('Build_Box.example.com'), 'build-box');
    assert.equal(defaultNodeName('---'), 'node');
    assert.equal(defaultNodeName('a'.repeat(80)), 'a'.repeat(63));
  });
});

void describe('resolveAgentConfig: --tls-insecure-skip-verify', () => {
  void it('turns TLS on without verification from the flag or GRPC_TLS_INSECURE_SKIP_VERIFY', () => {
    assert.deepEqual(resolve({ server: 'sched.example:50051', tlsInsecureSkipVerify: true }).tls, { insecureSkipVerify: true });
    const fromEnv = resolve({ server: 'sched.example:50051', certFile: 'c.pem', keyFile: 'k.pem' }, { GRPC_TLS_INSECURE_SKIP_VERIFY: 'true' });
    assert.deepEqual(fromEnv.tls, { certFile: '/work/c.pem', keyFile: '/work/k.pem', insecureSkipVerify: true });
    assert.equal(resolve({ server: 'sched.example:50051', caFile: 'ca.crt' }, { GRPC_TLS_INSECURE_SKIP_VERIFY: 'false' }).tls?.insecureSkipVerify, undefined);
  });

  void it('refuses it together with the settings that ask for verification', () => {
    const cases: [Record<string, unknown>, Record<string, string>, RegExp][] = [
      [{ tlsInsecureSkipVerify: true, caFile: 'ca.crt' }, {}, /^tls-insecure-skip-verify: excludes ca-file/],
      [{ caFile: 'ca.crt' }, { GRPC_TLS_INSECURE_SKIP_VERIFY: '1' }, /^tls-insecure-skip-verify: excludes ca-file/],
      [{ tlsInsecureSkipVerify: true }, { GRPC_TLS_SERVER_NAME: 'sched.example' }, /^tls-insecure-skip-verify: excludes tls-server-name/],
    ];
    for (const [flags, env, message] of cases) {
      assert.throws(() => resolve({ server: 'sched.example:50051', ...flags }, env), (err: unknown) => err instanceof AgentConfigError && message.test(err.message), JSON.stringify(flags));
    }
  });
});

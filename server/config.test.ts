import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfigError,
  isLoopback,
  parseConfigFile,
  printServerConfig,
  resolveConfig,
  settingsFromEnv,
  settingsFromFlags,
} from './config.js';

const cwd = '/home/me/checkout';

void describe('server configuration', () => {
  void it('defaults dev to loopback, text logs and ./.openscheduler; server to 0.0.0.0 HTTPS and json logs', () => {
    const dev = resolveConfig({ mode: 'dev', cwd });
    assert.equal(dev.server.dataDir, '/home/me/checkout/.openscheduler');
    assert.equal(dev.server.bindAddress, '127.0.0.1');
    assert.equal(dev.server.httpBindAddress, '127.0.0.1');
    assert.deepEqual([dev.server.httpPort, dev.server.httpsPort, dev.server.grpcPort], [8080, 8443, 50051]);
    assert.deepEqual(dev.server.store, { type: 'sqlite', path: '/home/me/checkout/.openscheduler/state.db' });
    assert.equal(dev.server.tokenTtlSeconds, 86400);
    assert.equal(dev.server.storeTimeoutMs, 5000);
    assert.equal(dev.server.bcryptCost, 12);
    assert.equal(dev.logFormat, 'text');
    assert.equal(dev.logLevel, 'info');

    const server = resolveConfig({ mode: 'server', cwd });
    assert.equal(server.server.dataDir, '/var/lib/openscheduler');
    assert.equal(server.server.bindAddress, '0.0.0.0');
    assert.equal(server.server.httpBindAddress, '127.0.0.1', 'plain HTTP stays on loopback');
    assert.equal(server.logFormat, 'json');
  });

  void it('takes flags over environment over config file', () => {
    const file = parseConfigFile('httpPort: 1001\nhttpsPort: 2001\ngrpcPort: 3001\nlogLevel: debug\n', '/etc/os.yaml');
    const env = settingsFromEnv({ OPENSCHEDULER_HTTP_PORT: '1002', OPENSCHEDULER_HTTPS_PORT: '2002', OPENSCHEDULER_TOKEN_TTL: '90m' });
    const flags = settingsFromFlags({ httpPort: '1003', tokenTtl: '2h' });
    const { server, logLevel } = resolveConfig({ mode: 'server', cwd, file, env, flags });
    assert.equal(server.httpPort, 1003);
    assert.equal(server.httpsPort, 2002);
    assert.equal(server.grpcPort, 3001);
    assert.equal(server.tokenTtlSeconds, 7200);
    assert.equal(logLevel, 'debug');
  });

  void it('reads JSON config files too, with durations as strings or seconds', () => {
    const file = parseConfigFile('{"tokenTtlSeconds": 600, "storeTimeoutMs": "2s", "tlsSans": ["a.example.test"]}', 'c.json');
    const { server } = resolveConfig({ mode: 'dev', cwd, file });
    assert.equal(server.tokenTtlSeconds, 600);
    assert.equal(server.storeTimeoutMs, 2000);
    assert.deepEqual(server.tlsSans, ['a.example.test']);
  });

  void it('names the key of an unknown or mistyped config entry', () => {
    assert.throws(() => parseConfigFile('htpPort: 80\n', '/etc/os.yaml'), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^config file \/etc\/os\.yaml: unknown key "htpPort"/);
      return true;
    });
    assert.throws(() => parseConfigFile('httpPort: eighty\n', 'c.yaml'), /config file c\.yaml: httpPort: must be integer/);
    assert.throws(() => parseConfigFile('httpPort: 70000\n', 'c.yaml'), /httpPort: must be <= 65535/);
    assert.throws(() => parseConfigFile('logFormat: xml\n', 'c.yaml'), /logFormat: must be one of json, text/);
    assert.throws(() => parseConfigFile('tokenTtlSeconds: soon\n', 'c.yaml'), /tokenTtlSeconds: must be a duration/);
    assert.throws(() => parseConfigFile('- a\n- b\n', 'c.yaml'), /must be object/);
    assert.throws(() => parseConfigFile('httpPort: [1\n', 'c.yaml'), /not valid YAML\/JSON/);
    assert.deepEqual(parseConfigFile('', 'empty.yaml'), {});
  });

  void it('names the variable or flag of a bad value', () => {
    assert.throws(() => settingsFromEnv({ OPENSCHEDULER_HTTPS_PORT: 'x' }), /environment OPENSCHEDULER_HTTPS_PORT: must be a port number/);
    assert.throws(() => settingsFromEnv({ OPENSCHEDULER_INSECURE_HTTP: 'maybe' }), /OPENSCHEDULER_INSECURE_HTTP: must be true or false/);
    assert.throws(() => settingsFromFlags({ httpPort: '-1' }), /--http-port: must be a port number/);
    assert.throws(() => settingsFromFlags({ logLevel: 'loud' }), /--log-level: must be one of/);
    assert.throws(() => settingsFromFlags({ tokenTtl: '0s' }), /--token-ttl: must be at least 1s/);
    assert.deepEqual(settingsFromEnv({ ALLOWED_ORIGINS: 'https://a.test, https://b.test', OPENSCHEDULER_DATA_DIR: '' }), {
      allowedOrigins: ['https://a.test', 'https://b.test'],
    });
  });

  void it('refuses allowed origins that are no exact origins, naming the entry', () => {
    assert.throws(() => resolveConfig({ mode: 'server', cwd, flags: settingsFromFlags({ allowedOrigins: 'https://a.test,*' }) }), /allowedOrigins\[1\]: "\*" is not allowed/);
    assert.throws(() => resolveConfig({ mode: 'server', cwd, flags: settingsFromFlags({ allowedOrigins: 'https://a.test/' }) }), /not a serialised origin/);
    assert.deepEqual(resolveConfig({ mode: 'server', cwd, flags: settingsFromFlags({ allowedOrigins: 'https://a.test' }) }).server.allowedOrigins, ['https://a.test']);
  });

  void it('refuses plain HTTP off loopback unless --insecure-http', () => {
    assert.throws(
      () => resolveConfig({ mode: 'server', cwd, flags: settingsFromFlags({ httpBindAddress: '0.0.0.0' }) }),
      /http-bind-address: plain HTTP is for loopback only, refusing 0\.0\.0\.0.*--insecure-http/,
    );
    const ok = resolveConfig({ mode: 'server', cwd, flags: settingsFromFlags({ httpBindAddress: '0.0.0.0', insecureHttp: true }) });
    assert.equal(ok.server.httpBindAddress, '0.0.0.0');
    assert.throws(() => resolveConfig({ mode: 'dev', cwd, flags: settingsFromFlags({ bindAddress: 'my host' }) }), /bind-address: must be an IP address/);
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) assert.ok(isLoopback(a), a);
    for (const a of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1']) assert.ok(!isLoopback(a), a);
  });

  void it('chooses the store from --store and --etcd-endpoints', () => {
    const etcd = resolveConfig({ mode: 'server', cwd, flags: settingsFromFlags({ etcdEndpoints: ['127.0.0.1:2379,127.0.0.1:22379'], etcdPrefix: '/os' }) });
    assert.deepEqual(etcd.server.store, { type: 'etcd', endpoints: ['127.0.0.1:2379', '127.0.0.1:22379'], prefix: '/os' });
    const sqlite = resolveConfig({ mode: 'dev', cwd, flags: settingsFromFlags({ store: 'sqlite:db/state.db' }) });
    assert.deepEqual(sqlite.server.store, { type: 'sqlite', path: '/home/me/checkout/db/state.db' });
    assert.throws(() => resolveConfig({ mode: 'dev', cwd, flags: settingsFromFlags({ store: 'sqlite:x.db', etcdEndpoints: ['h:1'] }) }), /exclude each other/);
    assert.throws(() => resolveConfig({ mode: 'dev', cwd, flags: settingsFromFlags({ store: 'etcd' }) }), /needs --etcd-endpoints/);
    assert.throws(() => resolveConfig({ mode: 'dev', cwd, flags: settingsFromFlags({ store: 'mysql' }) }), /store: must be sqlite, sqlite:PATH or etcd/);
    assert.throws(() => resolveConfig({ mode: 'dev', cwd, flags: settingsFromFlags({ etcdEndpoints: ['nohostport'] }) }), /"nohostport" is not host:port/);
  });

  void it('requires the TLS certificate and key together and passes JWT_SECRET through', () => {
    assert.throws(() => resolveConfig({ mode: 'server', cwd, flags: settingsFromFlags({ tlsCertFile: 'a.crt' }) }), /must be given together/);
    const { server } = resolveConfig({
      mode: 'server',
      cwd,
      flags: settingsFromFlags({ tlsCertFile: 'a.crt', tlsPrivateKeyFile: '/k/a.key' }),
      jwtSecret: 's'.repeat(40),
    });
    assert.equal(server.tlsCertFile, '/home/me/checkout/a.crt');
    assert.equal(server.tlsKeyFile, '/k/a.key');
    assert.equal(server.jwtSecret, 's'.repeat(40));
    assert.throws(() => resolveConfig({ mode: 'dev', cwd, jwtSecret: 'é'.repeat(15) }), /^ConfigError: JWT_SECRET must be at least 32 bytes \(got 30\)/);
  });

  void it('keeps Events 1 h by default; --event-ttl, OPENSCHEDULER_EVENT_TTL and eventTtlSeconds set it, at least 1m', () => {
    assert.equal(resolveConfig({ mode: 'server', cwd }).server.eventTtlSeconds, 3600);
    assert.equal(resolveConfig({ mode: 'dev', cwd, flags: settingsFromFlags({ eventTtl: '90s' }), env: settingsFromEnv({ OPENSCHEDULER_EVENT_TTL: '2h' }) }).server.eventTtlSeconds, 90);
    assert.equal(resolveConfig({ mode: 'dev', cwd, env: settingsFromEnv({ OPENSCHEDULER_EVENT_TTL: '2h' }) }).server.eventTtlSeconds, 7200);
    assert.equal(resolveConfig({ mode: 'dev', cwd, file: parseConfigFile('eventTtlSeconds: 1h30m\n', 'c.yaml') }).server.eventTtlSeconds, 5400);
    assert.equal(resolveConfig({ mode: 'dev', cwd, file: parseConfigFile('{"eventTtlSeconds": 600}', 'c.json') }).server.eventTtlSeconds, 600);

    assert.throws(() => settingsFromFlags({ eventTtl: '30s' }), (err: unknown) => err instanceof ConfigError && /^--event-ttl: must be at least 1m \(got "30s"\)/.test(err.message));
    assert.throws(() => settingsFromEnv({ OPENSCHEDULER_EVENT_TTL: 'soon' }), /^ConfigError: environment OPENSCHEDULER_EVENT_TTL: must be a duration such as 30s or 2m/);
    assert.throws(() => parseConfigFile('eventTtlSeconds: 59\n', 'c.yaml'), /^ConfigError: config file c\.yaml: eventTtlSeconds: must be at least 1m \(got 59\)/);
    assert.throws(() => parseConfigFile('eventTtlSeconds: [1h]\n', 'c.yaml'), /config file c\.yaml: eventTtlSeconds: must be a duration/);
  });

  void it('keeps 5 min of store history by default; --store-history, OPENSCHEDULER_STORE_HISTORY and storeHistorySeconds set it, at least 10s', () => {
    assert.equal(resolveConfig({ mode: 'server', cwd }).server.storeHistorySeconds, 300);
    assert.equal(resolveConfig({ mode: 'dev', cwd, flags: settingsFromFlags({ storeHistory: '30s' }), env: settingsFromEnv({ OPENSCHEDULER_STORE_HISTORY: '2m' }) }).server.storeHistorySeconds, 30);
    assert.equal(resolveConfig({ mode: 'dev', cwd, env: settingsFromEnv({ OPENSCHEDULER_STORE_HISTORY: '2m' }) }).server.storeHistorySeconds, 120);
    assert.equal(resolveConfig({ mode: 'dev', cwd, file: parseConfigFile('storeHistorySeconds: 1m30s\n', 'c.yaml') }).server.storeHistorySeconds, 90);
    assert.equal(resolveConfig({ mode: 'server', cwd, flags: settingsFromFlags({ etcdEndpoints: '127.0.0.1:2379' }), file: parseConfigFile('{"storeHistorySeconds": 10}', 'c.json') }).server.storeHistorySeconds, 10);

    assert.throws(() => settingsFromFlags({ storeHistory: '9s' }), (err: unknown) => err instanceof ConfigError && /^--store-history: must be at least 10s \(got "9s"\)/.test(err.message));
    assert.throws(() => settingsFromEnv({ OPENSCHEDULER_STORE_HISTORY: 'long' }), /^ConfigError: environment OPENSCHEDULER_STORE_HISTORY: must be a duration such as 30s or 2m/);
    assert.throws(() => parseConfigFile('storeHistorySeconds: 5\n', 'c.yaml'), /^ConfigError: config file c\.yaml: storeHistorySeconds: must be at least 10s \(got 5\)/);
  });

  void it('leads with a 15 s lease by default; --leader-lease-ttl, OPENSCHEDULER_LEADER_LEASE_TTL and leaderLeaseTtlSeconds set it, at least 2s', () => {
    assert.equal(resolveConfig({ mode: 'server', cwd }).server.leaderLeaseTtlSeconds, 15);
    assert.equal(resolveConfig({ mode: 'server', cwd, flags: settingsFromFlags({ leaderLeaseTtl: '5s' }), env: settingsFromEnv({ OPENSCHEDULER_LEADER_LEASE_TTL: '1m' }) }).server.leaderLeaseTtlSeconds, 5);
    assert.equal(resolveConfig({ mode: 'server', cwd, env: settingsFromEnv({ OPENSCHEDULER_LEADER_LEASE_TTL: '1m' }) }).server.leaderLeaseTtlSeconds, 60);
    assert.equal(resolveConfig({ mode: 'server', cwd, file: parseConfigFile('leaderLeaseTtlSeconds: 30\n', 'c.yaml') }).server.leaderLeaseTtlSeconds, 30);
    assert.throws(() => settingsFromFlags({ leaderLeaseTtl: '1s' }), (err: unknown) => err instanceof ConfigError && /^--leader-lease-ttl: must be at least 2s \(got "1s"\)/.test(err.message));
    assert.throws(() => parseConfigFile('leaderLeaseTtlSeconds: 1\n', 'c.yaml'), /^ConfigError: config file c\.yaml: leaderLeaseTtlSeconds: must be at least 2s \(got 1\)/);
  });
});

void describe('agent endpoint TLS settings', () => {
  const grpcOf = (mode: 'dev' | 'server', sources: { flags?: Record<string, unknown>; env?: Record<string, string>; file?: string } = {}) => {
    const { server } = resolveConfig({
      mode,
      cwd,
      flags: settingsFromFlags(sources.flags ?? {}),
      env: settingsFromEnv(sources.env ?? {}),
      file: sources.file === undefined ? {} : parseConfigFile(sources.file, 'c.yaml'),
    });
    return { tls: server.grpcTls, cert: server.grpcTlsCertFile, key: server.grpcTlsKeyFile, ca: server.grpcClientCaFile };
  };

  void it('uses TLS unless bound to loopback, and may be forced on for loopback', () => {
    assert.deepEqual(grpcOf('dev'), { tls: false, cert: undefined, key: undefined, ca: undefined });
    assert.equal(grpcOf('server').tls, true);
    assert.equal(grpcOf('dev', { flags: { bindAddress: '0.0.0.0' } }).tls, true);
    assert.equal(grpcOf('dev', { flags: { grpcTls: true } }).tls, true);
    assert.equal(grpcOf('dev', { env: { GRPC_SERVER_TLS_ENABLED: 'true' } }).tls, true);
    assert.equal(grpcOf('dev', { file: 'grpcTlsEnabled: true\n' }).tls, true);
    assert.equal(grpcOf('dev', { env: { GRPC_SERVER_TLS_ENABLED: 'false' } }).tls, false);
  });

  void it('reads the GRPC_SERVER_TLS_* variables, flags and config keys, resolving relative paths', () => {
    const fromEnv = grpcOf('server', {
      env: { GRPC_SERVER_TLS_CERT_FILE: 'pki/server.crt', GRPC_SERVER_TLS_KEY_FILE: '/etc/os/server.key', GRPC_SERVER_TLS_CA_FILE: 'pki/ca.crt' },
    });
    assert.deepEqual(fromEnv, { tls: true, cert: '/home/me/checkout/pki/server.crt', key: '/etc/os/server.key', ca: '/home/me/checkout/pki/ca.crt' });
    const fromFlags = grpcOf('dev', {
      flags: { grpcTls: true, grpcTlsCertFile: 'a.crt', grpcTlsKeyFile: 'a.key', grpcClientCaFile: 'ca.crt' },
      env: { GRPC_SERVER_TLS_CA_FILE: 'other-ca.crt' },
    });
    assert.deepEqual(fromFlags, { tls: true, cert: '/home/me/checkout/a.crt', key: '/home/me/checkout/a.key', ca: '/home/me/checkout/ca.crt' });
    const fromFile = grpcOf('server', { file: 'grpcClientCaFile: /pki/ca.crt\n' });
    assert.equal(fromFile.ca, '/pki/ca.crt');
  });

  void it('refuses mTLS or a certificate without TLS, a certificate without its key, and plain gRPC off loopback, naming the key', () => {
    const refused = (sources: Parameters<typeof grpcOf>[1], message: RegExp, mode: 'dev' | 'server' = 'dev'): void => {
      assert.throws(() => grpcOf(mode, sources), (err: unknown) => err instanceof ConfigError && message.test(err.message), JSON.stringify(sources));
    };
    refused({ flags: { grpcClientCaFile: 'ca.crt' } }, /^grpc-client-ca-file: mTLS needs TLS on the agent endpoint, but it is bound to loopback \(127\.0\.0\.1\).*pass --grpc-tls/);
    refused({ env: { GRPC_SERVER_TLS_ENABLED: 'false', GRPC_SERVER_TLS_CA_FILE: 'ca.crt' } }, /^grpc-client-ca-file: mTLS needs TLS .*TLS is turned off/);
    refused({ flags: { grpcTlsCertFile: 'a.crt', grpcTlsKeyFile: 'a.key' } }, /^grpc-tls-cert-file: the agent endpoint does not use TLS/);
    refused({ flags: { grpcTls: true, grpcTlsCertFile: 'a.crt' } }, /^grpc-tls-cert-file and grpc-tls-key-file must be given together/);
    refused({ env: { GRPC_SERVER_TLS_KEY_FILE: 'a.key' } }, /^grpc-tls-cert-file and grpc-tls-key-file must be given together/, 'server');
    refused({ env: { GRPC_SERVER_TLS_ENABLED: 'false' } }, /^grpc-tls: plain gRPC is for loopback only, refusing it on 0\.0\.0\.0/, 'server');
    assert.throws(() => settingsFromEnv({ GRPC_SERVER_TLS_ENABLED: 'maybe' }), /GRPC_SERVER_TLS_ENABLED: must be true or false/);
  });
});

void describe('etcd client TLS and authentication settings', () => {
  const resolve = (sources: { flags?: Record<string, unknown>; env?: Record<string, string>; file?: string }) =>
    resolveConfig({
      mode: 'server',
      cwd,
      flags: settingsFromFlags(sources.flags ?? {}),
      env: settingsFromEnv(sources.env ?? {}),
      file: sources.file === undefined ? {} : parseConfigFile(sources.file, '/etc/os/c.yaml'),
      ...(sources.file === undefined ? {} : { configFile: '/etc/os/c.yaml' }),
    });
  const etcdOf = (sources: Parameters<typeof resolve>[0]) => resolve(sources).server.etcdClient;
  const refused = (sources: Parameters<typeof resolve>[0], message: RegExp): void => {
    assert.throws(() => resolve(sources), (err: unknown) => err instanceof ConfigError && message.test(err.message), JSON.stringify(sources));
  };
  const ENDPOINTS = { etcdEndpoints: ['10.0.0.11:2379', '10.0.0.12:2379'] };

  void it('is off without settings; a CA, a client certificate or an https:// endpoint turns TLS on (paths resolved)', () => {
    assert.equal(etcdOf({ flags: ENDPOINTS }), undefined);
    assert.deepEqual(etcdOf({ flags: { ...ENDPOINTS, etcdCaFile: 'pki/etcd-ca.crt' } }), { tls: { caFile: '/home/me/checkout/pki/etcd-ca.crt' } });
    assert.deepEqual(etcdOf({ env: { OPENSCHEDULER_ETCD_ENDPOINTS: 'a:2379', OPENSCHEDULER_ETCD_CERT_FILE: 'c.crt', OPENSCHEDULER_ETCD_KEY_FILE: '/k/c.key' } }), {
      tls: { certFile: '/home/me/checkout/c.crt', keyFile: '/k/c.key' },
    });
    assert.deepEqual(etcdOf({ flags: { etcdEndpoints: ['https://etcd-1:2379', 'etcd-2:2379'] } }), { tls: {} }, "https:// alone: the system's CAs");
    const fromFile = etcdOf({ file: 'etcdEndpoints: [https://10.0.0.11:2379]\netcdCaFile: pki/ca.crt\netcdCertFile: pki/c.crt\netcdKeyFile: pki/c.key\netcdUsername: sched\netcdPasswordFile: etcd-password\n' });
    assert.deepEqual(fromFile, {
      tls: { caFile: '/etc/os/pki/ca.crt', certFile: '/etc/os/pki/c.crt', keyFile: '/etc/os/pki/c.key' },
      auth: { username: 'sched', passwordFile: '/etc/os/etcd-password' },
    });
  });

  void it('takes the password from OPENSCHEDULER_ETCD_PASSWORD (never a flag or config key) and masks it in config print', () => {
    const config = resolve({ flags: { ...ENDPOINTS, etcdUsername: 'sched' }, env: { OPENSCHEDULER_ETCD_PASSWORD: 's3cret-etcd-pw' } });
    assert.deepEqual(config.server.etcdClient, { auth: { username: 'sched', password: 's3cret-etcd-pw' } });
    for (const format of ['yaml', 'json'] as const) {
      const printed = printServerConfig(config, format);
      assert.doesNotMatch(printed, /s3cret-etcd-pw/, format);
      assert.match(printed, /etcdPassword.*<redacted>/, format);
    }
    assert.equal(settingsFromFlags({ etcdPassword: 'x' }).etcdPassword, undefined, 'no --etcd-password flag');
    assert.throws(() => parseConfigFile('etcdPassword: x\n', 'c.yaml'), /"etcdPassword" is not accepted in a config file; set OPENSCHEDULER_ETCD_PASSWORD in the environment/);
  });

  void it('refuses bad combinations, naming the setting and the rule', () => {
    refused({ flags: { etcdCaFile: 'ca.crt' } }, /^--etcd-ca-file: TLS and authentication to etcd need the etcd store \(--etcd-endpoints host:port\[,\.\.\.\]\), but the store is sqlite/);
    refused({ flags: { store: 'sqlite' }, env: { OPENSCHEDULER_ETCD_USERNAME: 'sched', OPENSCHEDULER_ETCD_PASSWORD: 'pw' } }, /^environment OPENSCHEDULER_ETCD_USERNAME: TLS and authentication to etcd need the etcd store/);
    refused({ flags: { ...ENDPOINTS, etcdCertFile: 'c.crt' } }, /^--etcd-cert-file: etcd-cert-file and etcd-key-file must be given together/);
    refused({ flags: ENDPOINTS, file: 'etcdKeyFile: c.key\n' }, /^config file \/etc\/os\/c\.yaml: etcdKeyFile: etcd-cert-file and etcd-key-file must be given together/);
    refused(
      { flags: { etcdEndpoints: ['http://10.0.0.11:2379'], etcdCaFile: 'ca.crt' } },
      /^--etcd-endpoints: "http:\/\/10\.0\.0\.11:2379" is plain HTTP, but TLS to etcd is on \(--etcd-ca-file\); write https:\/\/host:port or host:port/,
    );
    refused({ flags: { etcdEndpoints: ['https://a:2379', 'http://b:2379'] } }, /"http:\/\/b:2379" is plain HTTP, but TLS to etcd is on \(the endpoint https:\/\/a:2379\)/);
    refused({ flags: { ...ENDPOINTS, etcdUsername: 'sched' } }, /^--etcd-username: an etcd user needs its password: set OPENSCHEDULER_ETCD_PASSWORD or --etcd-password-file/);
    refused({ flags: ENDPOINTS, env: { OPENSCHEDULER_ETCD_PASSWORD: 'pw' } }, /^environment OPENSCHEDULER_ETCD_PASSWORD: an etcd password needs --etcd-username/);
    refused({ flags: { ...ENDPOINTS, etcdPasswordFile: 'pw' } }, /^--etcd-password-file: an etcd password needs --etcd-username/);
    refused(
      { flags: { ...ENDPOINTS, etcdUsername: 'sched', etcdPasswordFile: 'pw' }, env: { OPENSCHEDULER_ETCD_PASSWORD: 'pw' } },
      /^--etcd-password-file and environment OPENSCHEDULER_ETCD_PASSWORD exclude each other/,
    );
  });
});

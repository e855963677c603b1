// The server's config file: paths relative to the file, sources of values, and `config print`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigFile, printServerConfig, resolveConfig, settingsFromEnv, settingsFromFlags } from './config.js';

const cwd = '/home/me/checkout';

void describe('server config file', () => {
  void it('resolves relative paths from the file against its directory, and those from flags against the working directory', () => {
    const configFile = 'etc/os.yaml';
    const file = parseConfigFile('dataDir: state\nstore: sqlite:db/s.db\ntlsCertFile: tls/a.crt\ntlsPrivateKeyFile: /k/a.key\n', configFile);
    const fromFile = resolveConfig({ mode: 'server', cwd, file, configFile });
    assert.equal(fromFile.server.dataDir, '/home/me/checkout/etc/state');
    assert.deepEqual(fromFile.server.store, { type: 'sqlite', path: '/home/me/checkout/etc/db/s.db' });
    assert.equal(fromFile.server.tlsCertFile, '/home/me/checkout/etc/tls/a.crt');
    assert.equal(fromFile.server.tlsKeyFile, '/k/a.key');

    const flags = settingsFromFlags({ dataDir: 'mine', tlsCertFile: 'b.crt' });
    const mixed = resolveConfig({ mode: 'server', cwd, file, configFile, flags });
    assert.equal(mixed.server.dataDir, '/home/me/checkout/mine');
    assert.equal(mixed.server.tlsCertFile, '/home/me/checkout/b.crt');
    assert.deepEqual(resolveConfig({ mode: 'server', cwd, file: parseConfigFile('store: sqlite\n', configFile), configFile }).server.store, {
      type: 'sqlite',
      path: '/var/lib/openscheduler/state.db',
    });
  });

  void it('records the source of every setting and names the file in errors about a value from it', () => {
    const configFile = '/etc/os.yaml';
    const config = resolveConfig({
      mode: 'dev',
      cwd,
      file: parseConfigFile('httpPort: 1\nhttpsPort: 2\nbindAddress: 10.0.0.1\n', configFile),
      env: settingsFromEnv({ OPENSCHEDULER_HTTPS_PORT: '3' }),
      flags: settingsFromFlags({ grpcPort: '4' }),
      configFile,
    });
    const sources = Object.fromEntries(Object.entries(config.settings.origins).map(([k, o]) => [k, o.source]));
    assert.deepEqual([sources.httpPort, sources.httpsPort, sources.grpcPort, sources.dataDir], ['file', 'env', 'flag', 'default']);
    assert.throws(
      () => resolveConfig({ mode: 'dev', cwd, file: parseConfigFile('bindAddress: my-host\n', configFile), configFile }),
      /^ConfigError: config file \/etc\/os\.yaml: bindAddress: must be an IP address/,
    );
    assert.throws(() => parseConfigFile('jwtSecret: x\n', configFile), /"jwtSecret" is not accepted in a config file; set JWT_SECRET in the environment/);
  });

  void it('prints the effective settings with JWT_SECRET masked as how it is provided', () => {
    const secret = 's'.repeat(40);
    const withSecret = resolveConfig({ mode: 'server', cwd, env: settingsFromEnv({ JWT_SECRET: secret }) });
    assert.equal(withSecret.server.jwtSecret, secret, 'JWT_SECRET comes through the environment layer too');
    const yaml = printServerConfig(withSecret, 'yaml');
    assert.ok(!yaml.includes(secret));
    assert.match(yaml, /^# jwtSecret: set \(from environment\) +# environment JWT_SECRET$/m);
    assert.match(yaml, /^tokenTtlSeconds: 24h +# default$/m);

    const generated = JSON.parse(printServerConfig(resolveConfig({ mode: 'server', cwd }), 'json')) as { settings: Record<string, unknown>; sources: Record<string, string> };
    assert.equal(generated.settings.jwtSecret, 'generated file /var/lib/openscheduler/jwt-secret');
    assert.equal(generated.sources.jwtSecret, 'default');
    const etcd = JSON.parse(printServerConfig(resolveConfig({ mode: 'server', cwd, flags: settingsFromFlags({ etcdEndpoints: ['127.0.0.1:2379'] }) }), 'json')) as {
      settings: Record<string, unknown>;
    };
    assert.match(String(etcd.settings.jwtSecret), /^generated once, shared through the store/);
    assert.equal(etcd.settings.store, 'etcd');
  });
});

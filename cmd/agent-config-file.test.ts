// The agent's config file (--config / OPENSCHEDULER_AGENT_CONFIG): keys, precedence, relative paths, errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AGENT_SETTINGS_TABLE, AgentConfigError, parseAgentConfigFile, printAgentConfig, resolveAgent } from './agent-config.js';

const configFile = '/etc/openscheduler/agent.yaml';

void describe('agent config file', () => {
  void it('gives every setting by its camelCase key, with paths relative to the file', () => {
    const file = parseAgentConfigFile(
      [
        'server: sched.example:50051, sched2.example:50051',
        'caFile: tls/ca.crt',
        'tokenFile: join-token',
        'name: worker-1',
        'labels: {disk: ssd, zone: a}',
        'dataDir: state',
        'shutdownMode: detach',
        'orphanSweepInterval: 2m',
        'drivers: [process, podman]',
        'volumeRoots: [/srv/data/]',
        'podmanPath: podman',
        'containersConf: containers.conf',
        'podmanNetworks: [jobs]',
        'incusSocket: /run/incus/unix.socket',
        'incusProject: batch',
        'logLevel: debug',
        'logFormat: text',
      ].join('\n'),
      configFile,
    );
    const { agent } = resolveAgent({ file, configFile, cwd: '/work' });
    assert.deepEqual(agent.servers, ['sched.example:50051', 'sched2.example:50051']);
    assert.deepEqual(agent.tls, { caFile: '/etc/openscheduler/tls/ca.crt' });
    assert.equal(agent.tokenFile, '/etc/openscheduler/join-token');
    assert.equal(agent.nodeName, 'worker-1');
    assert.deepEqual(agent.labels, { disk: 'ssd', zone: 'a' });
    assert.equal(agent.dataDir, '/etc/openscheduler/state');
    assert.equal(agent.shutdownMode, 'detach');
    assert.equal(agent.orphanSweepIntervalMs, 120_000);
    assert.deepEqual(agent.drivers, ['process', 'podman']);
    assert.deepEqual(agent.volumeRoots, ['/srv/data']);
    assert.deepEqual(agent.podman, { path: 'podman', containersConf: '/etc/openscheduler/containers.conf', networks: ['jobs'] });
    assert.deepEqual(agent.incus, { socketPath: '/run/incus/unix.socket', project: 'batch' });
    assert.deepEqual([agent.logLevel, agent.logFormat], ['debug', 'text']);
  });

  void it('takes flags over environment over the file', () => {
    const file = parseAgentConfigFile('server: 127.0.0.1:1\nname: from-file\nlabels: {a: "1"}\ndataDir: d\n', configFile);
    const env = AGENT_SETTINGS_TABLE.fromEnv({ OPENSCHEDULER_AGENT_NAME: 'from-env', OPENSCHEDULER_AGENT_DATA_DIR: 'e' });
    const flags = AGENT_SETTINGS_TABLE.fromFlags({ name: 'from-flag' });
    const { agent, settings } = resolveAgent({ file, env, flags, configFile, cwd: '/work' });
    assert.equal(agent.nodeName, 'from-flag');
    assert.equal(agent.dataDir, '/work/e', 'a path from the environment is relative to the working directory');
    assert.deepEqual(agent.labels, { a: '1' });
    const sources = Object.fromEntries(Object.entries(settings.origins).map(([k, o]) => [k, o.source]));
    assert.deepEqual([sources.name, sources.dataDir, sources.labels, sources.shutdownMode], ['flag', 'env', 'file', 'default']);
  });

  void it('refuses unknown keys, wrong types, bad durations and bad values, naming the file and the key', () => {
    const cases: [string, RegExp][] = [
      ['servr: x\n', /^config file \/etc\/openscheduler\/agent\.yaml: unknown key "servr" \(known keys: server, token, tokenFile, tls, /],
      ['labels: [a]\n', /: labels: must be object/],
      ['labels: {"bad key": x}\n', /: labels: "bad key" is not a valid label key/],
      ['orphanSweepInterval: soon\n', /: orphanSweepInterval: must be a duration such as 30s or 2m \(got "soon"\)/],
      ['orphanSweepInterval: 0.5\n', /: orphanSweepInterval: must be at least 1s/],
      ['shutdownMode: pause\n', /: shutdownMode: must be one of stop, detach/],
      ['tls: yes please\n', /: tls: must be boolean/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseAgentConfigFile(text, configFile), (err: unknown) => err instanceof AgentConfigError && message.test(err.message), text);
    }
    const semantic: [string, RegExp][] = [
      ['server: 127.0.0.1:1\ndrivers: [docker]\n', /^config file \/etc\/openscheduler\/agent\.yaml: drivers: "docker" is not a driver/],
      ['server: 127.0.0.1:1\nvolumeRoots: [data]\n', /^config file .*: volumeRoots: "data" must be an absolute path/],
      ['server: 10.0.0.1:1\n', /^config file .*: server: 10\.0\.0\.1:1 is not a loopback address/],
    ];
    for (const [text, message] of semantic) {
      assert.throws(
        () => resolveAgent({ file: parseAgentConfigFile(text, configFile), configFile, cwd: '/work' }),
        (err: unknown) => err instanceof AgentConfigError && message.test(err.message),
        text,
      );
    }
  });

  void it('prints the effective settings with the token masked', () => {
    const resolved = resolveAgent({ file: parseAgentConfigFile('server: 127.0.0.1:1\ntoken: s3cr3t-token\n', configFile), configFile, cwd: '/work', packageRoot: '/opt/os' });
    const yaml = printAgentConfig(resolved, 'yaml');
    assert.ok(!yaml.includes('s3cr3t'), yaml);
    assert.match(yaml, /^token: <redacted> +# config file \/etc\/openscheduler\/agent\.yaml$/m);
    assert.match(yaml, /^containersConf: \/opt\/os\/config\/podman\/containers\.conf +# default$/m);
    const json = JSON.parse(printAgentConfig(resolved, 'json')) as { configFile: string; settings: Record<string, unknown>; sources: Record<string, string> };
    assert.equal(json.configFile, configFile);
    assert.deepEqual(json.settings.server, ['127.0.0.1:1']);
    assert.equal(json.settings.orphanSweepInterval, '30s');
    assert.deepEqual([json.sources.token, json.sources.name], ['file', 'default']);
  });
});

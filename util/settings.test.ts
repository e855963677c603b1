import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from './duration.js';
import {
  BOOLEAN,
  commandType,
  ConfigError,
  durationType,
  enumType,
  formatDuration,
  listType,
  mapType,
  pathType,
  PORT,
  SettingsTable,
  stringType,
  type SettingSpec,
} from './settings.js';

interface Demo {
  dir: string;
  port: number;
  verbose: boolean;
  mode: string;
  peers: string[];
  tags: Record<string, string>;
  timeout: number;
  tool?: string;
  password?: string;
  apiKey?: string;
}

const SPECS: readonly SettingSpec<{ readonly dev: boolean }>[] = [
  { key: 'dir', flag: 'dir', env: 'DEMO_DIR', type: pathType('DIR'), computeDefault: ({ dev }) => (dev ? 'state' : '/var/lib/demo'), defaultText: 'dev `state`, else `/var/lib/demo`', description: 'state dir' },
  { key: 'port', flag: 'port', env: 'DEMO_PORT', type: PORT, default: 8080, description: 'port' },
  { key: 'verbose', flag: 'verbose', env: 'DEMO_VERBOSE', type: BOOLEAN, default: false, description: 'talk more' },
  { key: 'mode', flag: 'mode', env: 'DEMO_MODE', type: enumType(['fast', 'safe']), computeDefault: (_c, s) => (s.verbose === true ? 'safe' : 'fast'), defaultText: '`safe` when verbose, else `fast`', description: 'mode' },
  { key: 'peers', flag: 'peers', env: 'DEMO_PEERS', type: listType(), default: [], description: 'peers' },
  { key: 'tags', flag: 'tags', env: 'DEMO_TAGS', type: mapType((k) => (k.includes(' ') ? `"${k}" has a space` : undefined)), default: {}, description: 'tags' },
  { key: 'timeout', flag: 'timeout', env: 'DEMO_TIMEOUT', type: durationType('ms', 1000), default: 30_000, description: 'timeout' },
  { key: 'tool', flag: 'tool', env: 'DEMO_TOOL', type: commandType(), description: 'a program' },
  { key: 'password', flag: 'password', env: 'DEMO_PASSWORD', type: stringType(), secret: true, description: 'a secret' },
  { key: 'apiKey', env: 'DEMO_API_KEY', type: stringType(), secret: true, envOnly: true, defaultText: 'generated', description: 'environment only' },
];
const table = new SettingsTable<Demo, { readonly dev: boolean }>(SPECS);

void describe('SettingsTable', () => {
  void it('merges flags > environment > file > defaults and records where each value came from', () => {
    const file = table.parseFile('port: 1\nverbose: true\npeers: a, b\ntimeout: 90\n', '/etc/demo/demo.yaml');
    const env = table.fromEnv({ DEMO_PORT: '2', DEMO_PEERS: 'c', DEMO_TOOL: '' });
    const flags = table.fromFlags({ port: '3', tags: ['x=1', 'y=2'] });
    const { values, origins } = table.merge({ flags, env, file, configFile: '/etc/demo/demo.yaml', cwd: '/home/me', context: { dev: false } });
    assert.equal(values.port, 3);
    assert.deepEqual(values.peers, ['c']);
    assert.equal(values.verbose, true);
    assert.equal(values.mode, 'safe', 'a computed default sees the values given');
    assert.deepEqual(values.tags, { x: '1', y: '2' });
    assert.equal(values.timeout, 90_000, 'a bare number in the file is seconds');
    assert.equal(values.dir, '/var/lib/demo');
    assert.equal(values.tool, undefined);
    assert.deepEqual(
      Object.fromEntries(Object.entries(origins).map(([k, o]) => [k, o.where])),
      {
        dir: 'default',
        port: '--port',
        verbose: 'config file /etc/demo/demo.yaml',
        mode: 'default',
        peers: 'environment DEMO_PEERS',
        tags: '--tags',
        timeout: 'config file /etc/demo/demo.yaml',
        tool: 'default',
        password: 'default',
        apiKey: 'default',
      },
    );
  });

  void it('resolves relative paths from the file against its directory, others against the working directory', () => {
    const file = table.parseFile('dir: data\ntool: bin/tool\n', 'conf/demo.yaml');
    const fromFile = table.merge({ file, configFile: 'conf/demo.yaml', cwd: '/home/me', context: { dev: false } }).values;
    assert.equal(fromFile.dir, '/home/me/conf/data');
    assert.equal(fromFile.tool, '/home/me/conf/bin/tool');
    const fromFlags = table.merge({ flags: table.fromFlags({ dir: 'data', tool: 'tool' }), file, configFile: 'conf/demo.yaml', cwd: '/home/me', context: { dev: false } }).values;
    assert.equal(fromFlags.dir, '/home/me/data');
    assert.equal(fromFlags.tool, 'tool', 'a bare program name stays a PATH lookup');
    assert.equal(table.merge({ cwd: '/home/me', context: { dev: true } }).values.dir, '/home/me/state', 'relative defaults resolve against the working directory');
  });

  void it('refuses unknown keys listing the known ones, wrong types, bad values and environment-only keys, naming the key', () => {
    const bad = (text: string): string => {
      try {
        table.parseFile(text, 'd.yaml');
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.message;
      }
      return assert.fail(`accepted ${text}`);
    };
    assert.equal(bad('prot: 1\n'), 'config file d.yaml: unknown key "prot" (known keys: dir, port, verbose, mode, peers, tags, timeout, tool, password)');
    assert.equal(bad('port: x\n'), 'config file d.yaml: port: must be integer');
    assert.equal(bad('mode: slow\n'), 'config file d.yaml: mode: must be one of fast, safe');
    assert.equal(bad('timeout: soon\n'), 'config file d.yaml: timeout: must be a duration such as 30s or 2m (got "soon")');
    assert.equal(bad('timeout: 0.5\n'), 'config file d.yaml: timeout: must be at least 1s (got 0.5)');
    assert.equal(bad('timeout: [1]\n'), 'config file d.yaml: timeout: must be a duration such as "30s" or "24h", or a number of seconds');
    assert.equal(bad('peers: {a: 1}\n'), 'config file d.yaml: peers: must be a list of strings (or one comma-separated string)');
    assert.equal(bad('tags: {a: 1}\n'), 'config file d.yaml: tags.a: must be string');
    assert.equal(bad('tags: {"a b": c}\n'), 'config file d.yaml: tags: "a b" has a space (got {"a b":"c"})');
    assert.equal(bad('apiKey: k\n'), 'config file d.yaml: "apiKey" is not accepted in a config file; set DEMO_API_KEY in the environment');
    assert.match(bad('port: [1\n'), /^config file d\.yaml: not valid YAML\/JSON/);
    assert.deepEqual(table.parseFile('{"port": 1}', 'd.json'), { port: 1 });
  });

  void it('names the flag or variable of a bad value, or the flag name alone with naming: flag', () => {
    assert.throws(() => table.fromFlags({ port: 'x' }), /^ConfigError: --port: must be a port number from 0 to 65535 \(got "x"\)$/);
    assert.throws(() => table.fromEnv({ DEMO_VERBOSE: 'maybe' }), /^ConfigError: environment DEMO_VERBOSE: must be true or false/);
    assert.throws(() => table.fromFlags({ tags: 'novalue' }), /--tags: "novalue" is not key=value/);
    class DemoError extends ConfigError {}
    const byFlag = new SettingsTable<Demo, { readonly dev: boolean }>(SPECS, { naming: 'flag', error: (m) => new DemoError(m) });
    assert.throws(() => byFlag.fromEnv({ DEMO_TIMEOUT: '500ms' }), (err: unknown) => err instanceof DemoError && err.message === 'timeout: must be at least 1s (got "500ms")');
    const merged = byFlag.merge({ env: byFlag.fromEnv({ DEMO_PORT: '1' }), file: { mode: 'fast' }, configFile: 'd.yaml', cwd: '/', context: { dev: false } });
    assert.deepEqual([merged.label('port'), merged.label('mode'), merged.label('dir')], ['port', 'config file d.yaml: mode', 'dir']);
    const bySource = table.merge({ env: table.fromEnv({ DEMO_PORT: '1' }), cwd: '/', context: { dev: false } });
    assert.deepEqual([bySource.label('port'), bySource.label('dir')], ['environment DEMO_PORT', '--dir']);
  });

  void it('prints every key with its source, secrets masked, as YAML comments or a JSON sources map', () => {
    const effective = table.merge({
      flags: table.fromFlags({ password: 'hunter2hunter2' }),
      env: table.fromEnv({ DEMO_API_KEY: 'k'.repeat(20), DEMO_PORT: '9' }),
      cwd: '/w',
      context: { dev: false },
    });
    const yaml = table.print(effective, 'yaml', { title: 'demo' });
    assert.ok(!yaml.includes('hunter2') && !yaml.includes('kkkk'), yaml);
    assert.match(yaml, /^# demo\n/);
    assert.match(yaml, /^port: 9 +# environment DEMO_PORT$/m);
    assert.match(yaml, /^password: <redacted> +# --password$/m);
    assert.match(yaml, /^# apiKey: <redacted> +# environment DEMO_API_KEY$/m, 'environment-only keys are commented out');
    assert.match(yaml, /^# tool: \(not set\) +# default$/m);
    assert.match(yaml, /^timeout: 30s +# default$/m);
    const parsed = parseYaml(yaml) as Record<string, unknown>;
    assert.deepEqual(parsed.peers, []);
    assert.equal(parsed.port, 9);

    const json = JSON.parse(table.print(effective, 'json', { title: 'demo', shown: { apiKey: 'set (from environment)' } })) as {
      settings: Record<string, unknown>;
      sources: Record<string, string>;
    };
    assert.equal(json.settings.password, '<redacted>');
    assert.equal(json.settings.apiKey, 'set (from environment)');
    assert.equal(json.settings.tool, null);
    assert.deepEqual([json.sources.port, json.sources.password, json.sources.dir, json.sources.apiKey], ['env', 'flag', 'default', 'env']);
    assert.deepEqual(Object.keys(json.settings), SPECS.map((s) => s.key));
  });

  void it('renders a Markdown table of keys, flags, variables, defaults and meanings', () => {
    const md = table.markdown().split('\n');
    assert.equal(md[0], '| config key | flag | environment | default | meaning |');
    assert.equal(md.length, 2 + SPECS.length);
    assert.ok(md.includes('| `port` | `--port N` | `DEMO_PORT` | `8080` | port |'), md.join('\n'));
    assert.ok(md.includes('| `mode` | `--mode fast\\|safe` | `DEMO_MODE` | `safe` when verbose, else `fast` | mode |'), md.join('\n'));
    assert.ok(md.includes('| `timeout` | `--timeout DUR` | `DEMO_TIMEOUT` | `30s` | timeout |'));
    assert.ok(md.includes('| (environment only) |  | `DEMO_API_KEY` | generated | environment only (secret: `config print` masks it) |'));
  });

  void it('refuses a table with a key, flag or variable twice, or a computed default without its text', () => {
    const base = { type: PORT, description: 'd' };
    assert.throws(() => new SettingsTable([{ key: 'a', flag: 'x', ...base }, { key: 'b', flag: 'x', ...base }]), /flag x appears twice/);
    assert.throws(() => new SettingsTable([{ key: 'a', env: 'X', ...base }, { key: 'a', ...base }]), /key a appears twice/);
    assert.throws(() => new SettingsTable([{ key: 'a', computeDefault: () => 1, ...base }]), /computes its default but has no defaultText/);
  });
});

void describe('formatDuration', () => {
  void it('writes what parseDuration reads back', () => {
    for (const ms of [1, 500, 1000, 90_000, 3_600_000, 86_400_000, 7 * 86_400_000, 5_400_500]) {
      assert.equal(parseDuration(formatDuration(ms)), ms, formatDuration(ms));
    }
    assert.deepEqual([formatDuration(90_000), formatDuration(86_400_000), formatDuration(7 * 86_400_000), formatDuration(0)], ['1m30s', '24h', '7d', '0s']);
  });
});

// The systemd units and example configs under manifests/systemd/ cannot drift: the example configs
// go through the real `openscheduler config print` (the daemons' own loaders and checks), the units
// name those configs and the real subcommands, and `systemd-analyze verify` accepts the units.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, constants, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './harness/bin.js';
import { runOpenscheduler } from './harness/server.js';

const run = promisify(execFile);
const dir = join(repoRoot, 'manifests', 'systemd');
/** Where the units expect the binary and the configs on an installed host. */
const INSTALLED_BINARY = '/usr/local/bin/openscheduler';

interface Printed {
  readonly configFile?: string;
  readonly settings: Record<string, unknown>;
  readonly sources: Record<string, string>;
}

async function printConfig(command: 'server' | 'agent', file: string): Promise<Printed> {
  const result = await runOpenscheduler(['config', 'print', command, '--config', file, '-o', 'json'], { env: { HOME: tmpdir() } });
  assert.equal(result.code, 0, `${command} config ${file}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Printed;
}

/** `KEY=VALUE` lines of a unit's [Service] section (the last one wins, as in systemd). */
function serviceSettings(unit: string): Map<string, string> {
  const section = unit.split(/^\[/m).find((s) => s.startsWith('Service]')) ?? '';
  const settings = new Map<string, string>();
  for (const line of section.split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m) settings.set(m[1]!, m[2]!);
  }
  return settings;
}

async function systemdAnalyze(): Promise<string | undefined> {
  for (const candidate of ['/usr/bin/systemd-analyze', '/bin/systemd-analyze']) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

void describe('manifests/systemd', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'os-systemd-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  void it('server.yaml loads through the server config loader: every key from the file, an etcd cluster with TLS and a user, TLS and mTLS files', async () => {
    const printed = await printConfig('server', join(dir, 'server.yaml'));
    assert.equal(printed.configFile, join(dir, 'server.yaml'));
    for (const key of ['dataDir', 'etcdEndpoints', 'etcdCaFile', 'etcdCertFile', 'etcdKeyFile', 'etcdUsername', 'etcdPasswordFile', 'bindAddress', 'httpsPort', 'grpcPort', 'tlsCertFile', 'tlsPrivateKeyFile', 'grpcClientCaFile', 'auditLogPath']) {
      assert.equal(printed.sources[key], 'file', key);
    }
    assert.equal(printed.settings.store, 'etcd');
    assert.equal((printed.settings.etcdEndpoints as string[]).length, 3);
    assert.equal(printed.settings.dataDir, '/var/lib/openscheduler', 'the StateDirectory of the unit');
  });

  void it('agent.yaml loads through the agent config loader: several servers, mTLS, metrics with a token', async () => {
    const printed = await printConfig('agent', join(dir, 'agent.yaml'));
    for (const key of ['server', 'tokenFile', 'caFile', 'certFile', 'keyFile', 'labels', 'dataDir', 'drivers', 'metricsAddress', 'metricsTokenFile']) {
      assert.equal(printed.sources[key], 'file', key);
    }
    assert.ok((printed.settings.server as string[]).length >= 2, 'agents list every server');
    assert.equal(printed.settings.tls, true);
    assert.equal(printed.settings.dataDir, '/var/lib/openscheduler-agent', 'the StateDirectory of the unit');
  });

  void it('the units run the real subcommands with those configs, restart on failure, stop with SIGTERM then SIGKILL', async () => {
    const expectations = [
      { unit: 'openscheduler-server.service', command: 'server', config: 'server.yaml', stateDirectory: 'openscheduler' },
      { unit: 'openscheduler-agent.service', command: 'agent', config: 'agent.yaml', stateDirectory: 'openscheduler-agent' },
    ];
    for (const e of expectations) {
      const settings = serviceSettings(await readFile(join(dir, e.unit), 'utf8'));
      assert.equal(settings.get('ExecStart'), `${INSTALLED_BINARY} ${e.command} --config /etc/openscheduler/${e.config}`, e.unit);
      assert.equal(settings.get('Restart'), 'on-failure', e.unit);
      assert.equal(settings.get('KillMode'), 'mixed', e.unit);
      assert.equal(settings.get('KillSignal'), 'SIGTERM', e.unit);
      assert.equal(settings.get('StateDirectory'), e.stateDirectory, e.unit);
      assert.ok(settings.has('User'), `${e.unit}: User`);
      assert.match(settings.get('TimeoutStopSec') ?? '', /^\d+s$/, e.unit);
    }
    const server = serviceSettings(await readFile(join(dir, 'openscheduler-server.service'), 'utf8'));
    assert.equal(server.get('NoNewPrivileges'), 'yes');
    assert.equal(server.get('ProtectSystem'), 'strict');
    // The agent's stop covers the default killTimeoutSeconds (10 s) plus the 5 s report flush.
    const agent = serviceSettings(await readFile(join(dir, 'openscheduler-agent.service'), 'utf8'));
    assert.ok(Number.parseInt(agent.get('TimeoutStopSec') ?? '0', 10) >= 10 + 5 + 10);
  });

  void it('systemd-analyze verify accepts both units', async (t) => {
    const analyze = await systemdAnalyze();
    // The one check that needs systemd's tools: skipped only when systemd-analyze is not installed.
    if (analyze === undefined) {
      t.skip('systemd-analyze is not installed');
      return;
    }
    // verify checks that ExecStart's binary exists: point it at this checkout's launcher.
    const launcher = join(repoRoot, 'bin', 'openscheduler.js');
    for (const unit of ['openscheduler-server.service', 'openscheduler-agent.service']) {
      const text = (await readFile(join(dir, unit), 'utf8')).replaceAll(INSTALLED_BINARY, launcher);
      await writeFile(join(work, unit), text);
    }
    const files = ['openscheduler-server.service', 'openscheduler-agent.service'].map((u) => join(work, u));
    const result = await run(analyze, ['verify', ...files]).then(
      (r) => ({ ok: true, output: `${r.stdout}${r.stderr}` }),
      (err: { stdout?: string; stderr?: string; message: string }) => ({ ok: false, output: `${err.stdout ?? ''}${err.stderr ?? err.message}` }),
    );
    const complaints = result.output
      .split('\n')
      .filter((line) => line.includes('openscheduler-'))
      .join('\n');
    assert.ok(result.ok, result.output);
    assert.equal(complaints, '', 'systemd-analyze has nothing to say about our units');
  });
});

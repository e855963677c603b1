// `openscheduler config print` as a real process (run in the repository root, which it leaves untouched): file + environment + flags merged as the daemons
// merge them, each value with its source, secrets masked; a bad configuration exits 1 like the daemon.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../test/harness/bin.js';
import { runOpenscheduler } from '../test/harness/server.js';

interface Printed {
  readonly configFile?: string;
  readonly settings: Record<string, unknown>;
  readonly sources: Record<string, string>;
}

const JWT = 'j'.repeat(48);

/** The one error line of a failed run (and nothing on stdout, no stack trace). */
function errorLine(run: { stdout: string; stderr: string }): string {
  assert.equal(run.stdout, '');
  assert.doesNotMatch(run.stderr, /^\s+at /m);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  return lines[0]!;
}

void describe('openscheduler config print (process)', () => {
  let work: string;
  let env: Record<string, string>;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'os-config-print-'));
    env = { HOME: work, OSCTL_CONFIG: join(work, 'osctl.yaml') };
    await mkdir(join(work, 'etc'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  void it('server: flags > environment > file > defaults, with sources, file paths relative to the file, JWT_SECRET masked', async () => {
    const config = join(work, 'etc', 'server.yaml');
    await writeFile(config, 'httpPort: 1001\nhttpsPort: 2001\ngrpcPort: 3001\ntlsCertFile: tls/server.crt\ntlsPrivateKeyFile: tls/server.key\nlogLevel: debug\n');
    const run = await runOpenscheduler(['config', 'print', 'server', '--config', config, '--grpc-port', '3003', '--data-dir', 'state', '-o', 'json'], {
      env: { ...env, OPENSCHEDULER_HTTPS_PORT: '2002', OPENSCHEDULER_GRPC_PORT: '3002', JWT_SECRET: JWT },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes(JWT), 'the JWT secret is never printed');
    const printed = JSON.parse(run.stdout) as Printed;
    assert.equal(printed.configFile, config);
    const pick = (key: string): [unknown, string | undefined] => [printed.settings[key], printed.sources[key]];
    assert.deepEqual(pick('httpPort'), [1001, 'file']);
    assert.deepEqual(pick('httpsPort'), [2002, 'env']);
    assert.deepEqual(pick('grpcPort'), [3003, 'flag']);
    assert.deepEqual(pick('logLevel'), ['debug', 'file']);
    assert.deepEqual(pick('tlsCertFile'), [join(work, 'etc', 'tls', 'server.crt'), 'file']);
    assert.deepEqual(pick('dataDir'), [join(repoRoot, 'state'), 'flag'], 'a path from a flag is relative to the working directory');
    assert.deepEqual(pick('bindAddress'), ['0.0.0.0', 'default']);
    assert.deepEqual(pick('tokenTtlSeconds'), ['24h', 'default']);
    assert.deepEqual(pick('jwtSecret'), ['set (from environment)', 'env']);
    assert.deepEqual(pick('tlsSans'), [[], 'default']);
  });

  void it('prints YAML by default, for server unless told otherwise, with each source as a comment', async () => {
    const run = await runOpenscheduler(['config', 'print', '--http-port', '9090'], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^# openscheduler server: effective configuration/);
    assert.match(run.stdout, /^httpPort: 9090 +# --http-port$/m);
    assert.match(run.stdout, /^dataDir: \/var\/lib\/openscheduler +# default$/m);
    assert.match(run.stdout, /^# jwtSecret: generated file \/var\/lib\/openscheduler\/jwt-secret +# default/m);
    assert.equal((parseYaml(run.stdout) as Record<string, unknown>).httpPort, 9090);

    const dev = await runOpenscheduler(['config', 'print', 'dev', '--no-local-agent'], { env });
    assert.equal(dev.code, 0, dev.stderr);
    assert.match(dev.stdout, /^# openscheduler dev: /);
    assert.match(dev.stdout, new RegExp(`^dataDir: ${join(repoRoot, '.openscheduler').replace(/[.]/g, '\\.')} +# default$`, 'm'));
    assert.match(dev.stdout, /^logFormat: text +# default$/m);
  });

  void it('agent: reads OPENSCHEDULER_AGENT_CONFIG, masks the token and shows every source', async () => {
    const config = join(work, 'etc', 'agent.yaml');
    await writeFile(config, 'server: sched.example:50051\ncaFile: ca.crt\ntoken: file-token-secret\nname: from-file\nlabels: {disk: ssd}\norphanSweepInterval: 1m\n');
    const run = await runOpenscheduler(['config', 'print', 'agent', '--labels', 'zone=a', '-o', 'json'], {
      env: { ...env, OPENSCHEDULER_AGENT_CONFIG: config, OPENSCHEDULER_AGENT_NAME: 'from-env' },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes('file-token-secret'), 'the token is never printed');
    const printed = JSON.parse(run.stdout) as Printed;
    const pick = (key: string): [unknown, string | undefined] => [printed.settings[key], printed.sources[key]];
    assert.deepEqual(pick('token'), ['<redacted>', 'file']);
    assert.deepEqual(pick('name'), ['from-env', 'env']);
    assert.deepEqual(pick('labels'), [{ zone: 'a' }, 'flag']);
    assert.deepEqual(pick('caFile'), [join(work, 'etc', 'ca.crt'), 'file']);
    assert.deepEqual(pick('tls'), [true, 'default']);
    assert.deepEqual(pick('orphanSweepInterval'), ['1m', 'file']);
    assert.deepEqual(pick('shutdownMode'), ['stop', 'default']);
  });

  void it('exits 1 with the message the daemon gives for a bad key, value or combination', async () => {
    const bad = join(work, 'etc', 'bad.yaml');
    await writeFile(bad, 'httpPort: 1\nlistenAddress: 0.0.0.0\n');
    const badKey = await runOpenscheduler(['config', 'print', 'server', '--config', bad], { env });
    assert.equal(badKey.code, 1);
    const line = errorLine(badKey);
    assert.match(line, /^openscheduler: error: config file .*bad\.yaml: unknown key "listenAddress" \(known keys: dataDir, httpPort, /);
    const daemon = await runOpenscheduler(['server', '--config', bad], { env });
    assert.equal(daemon.code, 1);
    assert.equal(errorLine(daemon), line, 'the same check as the daemon');

    const badEnv = await runOpenscheduler(['config', 'print', 'dev'], { env: { ...env, OPENSCHEDULER_LOG_FORMAT: 'xml' } });
    assert.equal(badEnv.code, 1);
    assert.match(errorLine(badEnv), /^openscheduler: error: environment OPENSCHEDULER_LOG_FORMAT: must be json or text \(got "xml"\)$/);
    const open = await runOpenscheduler(['config', 'print', 'server', '--http-bind-address', '0.0.0.0'], { env });
    assert.equal(open.code, 1);
    assert.match(errorLine(open), /--http-bind-address: plain HTTP is for loopback only/);

    const agentBad = join(work, 'etc', 'agent-bad.yaml');
    await writeFile(agentBad, 'server: 127.0.0.1:50051\norphanSweepInterval: soon\n');
    const agentPrint = await runOpenscheduler(['config', 'print', 'agent', '--config', agentBad], { env });
    assert.equal(agentPrint.code, 1);
    const agentLine = errorLine(agentPrint);
    assert.match(agentLine, /^openscheduler: error: config file .*agent-bad\.yaml: orphanSweepInterval: must be a duration such as 30s or 2m \(got "soon"\)$/);
    const agentDaemon = await runOpenscheduler(['agent', '--config', agentBad], { env });
    assert.equal(agentDaemon.code, 1);
    assert.equal(errorLine(agentDaemon), agentLine);

    const missing = await runOpenscheduler(['config', 'print', 'agent', '--config', join(work, 'nope.yaml')], { env });
    assert.equal(missing.code, 1);
    assert.match(errorLine(missing), /config file .*nope\.yaml: ENOENT$/);
  });
});

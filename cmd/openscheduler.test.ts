// The daemon as a real process: `openscheduler dev|server|version`, signals, restarts, startup errors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { readOsctlConfig } from '../cli/config.js';
import { binArgs, repoRoot } from '../test/harness/bin.js';
import { childEnv, runOpenscheduler, startServerProcess, type ServerProcess } from '../test/harness/server.js';
import { readEndpoints, type Endpoints } from '../server/endpoints.js';

const JOBS = '/apis/openscheduler.io/v1/namespaces/default/jobs';

function httpsGet(url: string, ca: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function getStatus(url: string, token?: string): Promise<number> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  await res.arrayBuffer();
  return res.status;
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** A failed start: the last stderr line is the one error line, and there is no stack trace. */
function assertOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  const errors = lines.filter((l) => l.startsWith('openscheduler: '));
  assert.equal(errors.length, 1, `one error line expected, got:\n${stderr}`);
  assert.equal(lines[lines.length - 1], errors[0]);
  assert.match(errors[0]!, /^openscheduler: error: /);
  assert.match(errors[0]!, pattern);
  assert.doesNotMatch(stderr, /^\s+at /m);
}

void describe('openscheduler dev (process)', () => {
  let work: string;
  let dataDir: string;
  let first: ServerProcess;
  let firstSecrets: { jwt: string; password: string; ca: string; cert: string };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'os-cmd-'));
    dataDir = join(work, 'data');
    first = await startServerProcess({ dataDir });
    firstSecrets = {
      jwt: await readFile(join(dataDir, 'jwt-secret'), 'utf8'),
      password: (await readFile(first.adminPasswordPath, 'utf8')).trim(),
      ca: await readFile(first.caPath, 'utf8'),
      cert: await readFile(join(dataDir, 'tls', 'server.crt'), 'utf8'),
    };
  });
  after(async () => {
    await first.stop();
    await rm(work, { recursive: true, force: true });
  });

  void it('serves health without a token on HTTP and HTTPS, and nothing else without one', async () => {
    assert.match(first.httpUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await getStatus(`${first.httpUrl}/healthz`), 200);
    assert.deepEqual(await httpsGet(`${first.httpsUrl}/healthz`, firstSecrets.ca), { status: 200, body: 'ok' });
    assert.equal(await getStatus(`${first.httpUrl}${JOBS}`), 401);
  });

  void it('logs in with the generated admin password; the written configs carry a working token', async () => {
    assert.equal(await mode(first.adminPasswordPath), 0o600);
    assert.equal(await mode(join(dataDir, 'jwt-secret')), 0o600);
    assert.match(firstSecrets.password, /^[A-Za-z0-9_-]{24,}$/);
    const res = await fetch(`${first.httpUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: firstSecrets.password }),
    });
    assert.equal(res.status, 200);
    const { token } = (await res.json()) as { token: string };
    assert.equal(await getStatus(`${first.httpUrl}${JOBS}`, token), 200);

    const osctl = await readOsctlConfig(first.osctlConfigPath);
    assert.equal(osctl?.server, first.httpUrl);
    assert.equal(await mode(first.osctlConfigPath), 0o600);
    assert.equal(await getStatus(`${first.httpUrl}${JOBS}`, first.token), 200);

    assert.equal(first.kubeconfigPath, join(dataDir, 'kubeconfig.yaml'));
    assert.equal(await mode(first.kubeconfigPath), 0o600);
    const kube = parseYaml(await readFile(first.kubeconfigPath, 'utf8')) as {
      clusters: { cluster: Record<string, string> }[];
      users: { user: { token: string } }[];
      contexts: { name: string; context: { namespace: string } }[];
      'current-context': string;
    };
    assert.equal(kube.clusters[0]!.cluster.server, first.httpsUrl);
    assert.equal(Buffer.from(kube.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString(), firstSecrets.ca);
    assert.equal(kube.contexts[0]!.context.namespace, 'default');
    assert.equal(kube['current-context'], kube.contexts[0]!.name);
    assert.equal((await httpsGet(`${first.httpsUrl}${JOBS}`, firstSecrets.ca, kube.users[0]!.user.token)).status, 200);
    assert.match(first.output(), /admin password: in .*admin-password/);
    assert.ok(!first.output().includes(firstSecrets.password), 'the password is never printed');
  });

  void it('exits 0 promptly on SIGTERM, even with a watch open, and a restart reuses every secret', async () => {
    const watch = await fetch(`${first.httpUrl}${JOBS}?watch=true`, { headers: { authorization: `Bearer ${first.token}` } });
    assert.equal(watch.status, 200);
    const reading = watch.text().catch(() => '');
    const started = performance.now();
    const code = await first.stop();
    const ms = performance.now() - started;
    await reading;
    assert.equal(code, 0, first.output());
    assert.ok(ms < 5000, `stopping took ${ms} ms`);
    assert.doesNotMatch(first.output(), /handles still open/);
    assert.equal(await readEndpoints(dataDir), undefined, 'endpoints.json is removed on exit');

    const second = await startServerProcess({ dataDir });
    try {
      assert.equal(await readFile(join(dataDir, 'jwt-secret'), 'utf8'), firstSecrets.jwt);
      assert.equal((await readFile(second.adminPasswordPath, 'utf8')).trim(), firstSecrets.password);
      assert.equal(await readFile(second.caPath, 'utf8'), firstSecrets.ca);
      assert.equal(await readFile(join(dataDir, 'tls', 'server.crt'), 'utf8'), firstSecrets.cert);
      // a token issued by the first run is still valid
      assert.equal(await getStatus(`${second.httpUrl}${JOBS}`, first.token), 200);
      second.kill('SIGINT');
      assert.equal(await second.exited, 0, second.output());
    } finally {
      await second.stop();
    }
  });
});

void describe('openscheduler startup errors (process)', () => {
  let work: string;
  let env: Record<string, string>;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'os-cmd-err-'));
    env = { HOME: work, OSCTL_CONFIG: join(work, 'osctl.yaml') };
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  void it('exits 1 naming the key of a bad config file', async () => {
    const config = join(work, 'bad.yaml');
    await writeFile(config, 'httpPort: 0\nhttpsPort: 0\nlistenAddress: 0.0.0.0\n');
    const run = await runOpenscheduler(['dev', '--config', config, '--data-dir', join(work, 'd1')], { env });
    assert.equal(run.code, 1);
    assertOneLineError(run.stderr, /config file .*bad\.yaml: unknown key "listenAddress"/);

    await writeFile(config, '{"httpsPort": "high"}');
    const typed = await runOpenscheduler(['server', '--config', config, '--data-dir', join(work, 'd1')], { env });
    assert.equal(typed.code, 1);
    assertOneLineError(typed.stderr, /httpsPort: must be integer/);
  });

  void it('exits 1 with a clear message when a port is in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const run = await runOpenscheduler(['dev', '--data-dir', join(work, 'd2'), '--http-port', String(port), '--https-port', '0', '--grpc-port', '0'], { env });
      assert.equal(run.code, 1);
      assertOneLineError(run.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(--http-port\\): the address is already in use$`));
      assert.equal(await readEndpoints(join(work, 'd2')), undefined);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  void it('exits 1 on a short JWT_SECRET, plain HTTP off loopback, and bad flag values', async () => {
    const base = ['dev', '--data-dir', join(work, 'd3'), '--http-port', '0', '--https-port', '0', '--grpc-port', '0'];
    const short = await runOpenscheduler(base, { env: { ...env, JWT_SECRET: 'short' } });
    assert.equal(short.code, 1);
    assertOneLineError(short.stderr, /JWT_SECRET must be at least 32 bytes/);
    const open = await runOpenscheduler([...base, '--http-bind-address', '0.0.0.0'], { env });
    assert.equal(open.code, 1);
    assertOneLineError(open.stderr, /plain HTTP is for loopback only.*--insecure-http/);
    const badPort = await runOpenscheduler([...base, '--https-port', 'x'], { env });
    assert.equal(badPort.code, 1);
    assertOneLineError(badPort.stderr, /--https-port: must be a port number/);
    const badEnv = await runOpenscheduler(base, { env: { ...env, OPENSCHEDULER_LOG_FORMAT: 'xml' } });
    assert.equal(badEnv.code, 1);
    assertOneLineError(badEnv.stderr, /environment OPENSCHEDULER_LOG_FORMAT: must be json or text/);
    const mtls = await runOpenscheduler([...base, '--grpc-tls', '--grpc-client-ca-file', join(work, 'agents-ca.crt')], { env });
    assert.equal(mtls.code, 1);
    assertOneLineError(mtls.stderr, /grpc-client-ca-file: dev's local agent cannot connect.*--no-local-agent/);
    const unknown = await runOpenscheduler(['dev', '--no-such-flag'], { env });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown option '--no-such-flag'/);
  });

  void it('prints its version', async () => {
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const run = await runOpenscheduler(['version'], { env });
    assert.equal(run.code, 0);
    assert.equal(run.stdout, `openscheduler ${pkg.version}\n`);
  });
});

void describe('openscheduler server (process)', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'os-cmd-server-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  void it('logs JSON, serves HTTPS on the bind address and plain HTTP on loopback, and stops on SIGTERM', async () => {
    const dataDir = join(work, 'data');
    const child = spawn(
      process.execPath,
      binArgs('openscheduler', ['server', '--data-dir', dataDir, '--http-port', '0', '--https-port', '0', '--grpc-port', '0', '--bind-address', '127.0.0.1']),
      { cwd: repoRoot, env: childEnv({ HOME: work }), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    let stdout = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 30_000;
      let endpoints: Endpoints | undefined;
      for (;;) {
        endpoints = await readEndpoints(dataDir);
        if (endpoints !== undefined && endpoints.pid === child.pid) break;
        assert.ok(Date.now() < deadline && child.exitCode === null, `not ready:\n${stderr}`);
        await sleep(50);
      }
      assert.equal(endpoints.kubeconfigPath, undefined, '`server` writes no client configs');
      assert.equal(await getStatus(`${endpoints.httpUrl}/healthz`), 200);
      const ca = await readFile(endpoints.caPath!, 'utf8');
      assert.equal((await httpsGet(`${endpoints.httpsUrl}/readyz`, ca)).status, 200);
      for (const line of stderr.trim().split('\n')) {
        const entry = JSON.parse(line) as { level: string; message: string; timestamp: string };
        assert.ok(entry.level && entry.message && entry.timestamp, line);
      }
      assert.equal(stdout, '');
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    }
  });

  void it('a SIGTERM while dev is writing its configs exits 0 and leaves no endpoints file behind', async () => {
    // The window between "serving" and the endpoints file being written is a few milliseconds.
    for (const delayMs of [0, 1, 3, 6, 10]) {
      const dataDir = join(work, `early-${delayMs}`);
      const child = spawn(
        process.execPath,
        binArgs('openscheduler', ['dev', '--data-dir', dataDir, '--http-port', '0', '--https-port', '0', '--grpc-port', '0', '--bcrypt-cost', '10']),
        { cwd: repoRoot, env: childEnv({ HOME: work, OSCTL_CONFIG: join(dataDir, 'osctl.yaml') }), stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      const serving = new Promise<void>((resolve) => {
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
          if (/INFO +serving /.test(stderr)) resolve();
        });
      });
      try {
        await Promise.race([serving, exited]);
        await sleep(delayMs);
        child.kill('SIGTERM');
        assert.equal(await exited, 0, stderr);
        assert.equal(await readEndpoints(dataDir), undefined, `SIGTERM ${delayMs} ms after serving left endpoints.json:\n${stderr}`);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
        await exited;
      }
    }
  });
});

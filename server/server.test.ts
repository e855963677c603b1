// The server assembly in-process: real SQLite / real etcd, real HTTP and HTTPS on loopback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import winston from 'winston';
import { startEtcd, type EtcdProcess } from '../test/harness/etcd.js';
import { capturingLogger } from '../test/harness/logging.js';
import { resolveConfig, settingsFromFlags, type ServerOptions } from './config.js';
import { startServer, StartupError, type RunningServer } from './server.js';

const logger = winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });

function options(dataDir: string, flags: Record<string, unknown> = {}, jwtSecret?: string): ServerOptions {
  return resolveConfig({
    mode: 'dev',
    cwd: dataDir,
    jwtSecret,
    flags: settingsFromFlags({ dataDir, httpPort: '0', httpsPort: '0', grpcPort: '0', bcryptCost: '10', ...flags }),
  }).server;
}

function httpsGet(url: string, ca: string | undefined, token?: string): Promise<{ status: number; body: string }> {
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

async function joinTokenFile(path: string): Promise<{ data: string; mode: number }> {
  return { data: await readFile(path, 'utf8'), mode: (await stat(path)).mode & 0o777 };
}

async function loginToken(url: string, password: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { token: string }).token;
}

/** A TCP listener that accepts and never answers; close() also drops the accepted sockets. */
async function occupyPort(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

void describe('startServer (SQLite)', () => {
  let dir: string;
  let server: RunningServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-server-'));
    server = await startServer(options(join(dir, 'data')), { logger });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('serves health on HTTP and HTTPS and reports the real ports', async () => {
    assert.match(server.httpUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(server.httpsUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(server.httpUrl.split(':')[2], '0');
    const health = await fetch(`${server.httpUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), 'ok');
    assert.equal(server.caPath, join(dir, 'data', 'tls', 'ca.crt'));
    assert.deepEqual(await httpsGet(`${server.httpsUrl}/healthz`, server.caCert), { status: 200, body: 'ok' });
    await assert.rejects(httpsGet(`${server.httpsUrl}/healthz`, undefined), /self[- ]signed|unable to (get|verify)/i);
  });

  void it('requires a token except for health and login; the generated admin password logs in', async () => {
    const jobs = '/apis/openscheduler.io/v1/namespaces/default/jobs';
    assert.equal((await fetch(`${server.httpUrl}${jobs}`)).status, 401);
    assert.equal(server.adminPasswordPath, join(dir, 'data', 'admin-password'));
    assert.equal((await stat(server.adminPasswordPath)).mode & 0o777, 0o600);
    const token = await loginToken(server.httpUrl, (await readFile(server.adminPasswordPath, 'utf8')).trim());
    const list = await fetch(`${server.httpUrl}${jobs}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(list.status, 200);
    assert.equal(((await list.json()) as { kind: string }).kind, 'JobList');
    assert.equal((await httpsGet(`${server.httpsUrl}${jobs}`, server.caCert, token)).status, 200);
    const minted = await server.mintToken('admin', 120);
    assert.equal((await httpsGet(`${server.httpsUrl}${jobs}`, server.caCert, minted.token)).status, 200);
  });
});

void describe('startServer lifecycle', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-server-life-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('close() ends open watches and keep-alive connections promptly and frees the ports', async () => {
    const server = await startServer(options(join(dir, 'watch')), { logger });
    const token = (await server.mintToken('admin')).token;
    const watch = await fetch(`${server.httpUrl}/apis/openscheduler.io/v1/namespaces/default/jobs?watch=true`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(watch.status, 200);
    const reading = watch.text(); // ends when the server ends the stream
    await fetch(`${server.httpUrl}/healthz`, { keepalive: true }).then((r) => r.text());
    const started = performance.now();
    await server.close();
    await reading.catch(() => undefined);
    const ms = performance.now() - started;
    assert.ok(ms < 1500, `close took ${ms} ms`);
    await assert.rejects(fetch(`${server.httpUrl}/healthz`), /fetch failed/);
    await server.close(); // idempotent
  });

  void it('fails with a clear StartupError when a port is taken, and releases everything it opened', async () => {
    const blocker = await occupyPort();
    const { port } = blocker;
    const dataDir = join(dir, 'busy');
    try {
      await assert.rejects(startServer(options(dataDir, { httpsPort: String(port) }), { logger }), (err: unknown) => {
        assert.ok(err instanceof StartupError);
        assert.equal(err.message, `cannot listen on 127.0.0.1:${port} (--https-port): the address is already in use`);
        return true;
      });
    } finally {
      await blocker.close();
    }
    // the SQLite file is held exclusively while open: a second start works only if the first closed it
    const again = await startServer(options(dataDir), { logger });
    await again.close();
  });

  void it('fails quickly with a clear StartupError when the store cannot be reached', async () => {
    const blocker = await occupyPort(); // accepts TCP but never speaks etcd's protocol
    const { port } = blocker;
    const started = performance.now();
    try {
      await assert.rejects(
        startServer(options(join(dir, 'nostore'), { etcdEndpoints: [`127.0.0.1:${port}`], storeTimeout: '500ms' }), { logger }),
        (err: unknown) => {
          assert.ok(err instanceof StartupError);
          assert.match(err.message, new RegExp(`^cannot open the store \\(etcd 127\\.0\\.0\\.1:${port}\\): `));
          return true;
        },
      );
    } finally {
      await blocker.close();
    }
    assert.ok(performance.now() - started < 5000);
  });

  void it('names the data dir it cannot create', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, 'not a directory');
    const dataDir = join(file, 'data');
    await assert.rejects(startServer(options(dataDir), { logger }), (err: unknown) => {
      assert.ok(err instanceof StartupError);
      assert.equal(err.message, `cannot create data dir ${dataDir}: ENOTDIR: not a directory, mkdir '${dataDir}' (choose another with --data-dir)`);
      return true;
    });
  });
});

void describe('startServer on a shared etcd', () => {
  let etcd: EtcdProcess;
  let dir: string;
  before(async () => {
    etcd = await startEtcd();
    dir = await mkdtemp(join(tmpdir(), 'os-server-etcd-'));
  });
  after(async () => {
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  void it('two servers starting at once create one admin; with a shared JWT_SECRET each accepts the other\'s tokens', async () => {
    const secret = 'shared-secret-for-two-servers-0123456789';
    const flags = { etcdEndpoints: [etcd.endpoint], etcdPrefix: '/race' };
    const servers = await Promise.all([
      startServer(options(join(dir, 'a'), flags, secret), { logger }),
      startServer(options(join(dir, 'b'), flags, secret), { logger }),
    ]);
    try {
      const files = await Promise.all(servers.map((s) => readFile(s.adminPasswordPath, 'utf8').catch(() => undefined)));
      const written = files.filter((f): f is string => f !== undefined);
      assert.equal(written.length, 1, 'exactly one server created the admin and wrote its password');
      const [a, b] = servers as [RunningServer, RunningServer];
      const tokenFromA = await loginToken(a.httpUrl, written[0]!.trim());
      const jobs = '/apis/openscheduler.io/v1/jobs';
      const res = await fetch(`${b.httpUrl}${jobs}`, { headers: { authorization: `Bearer ${tokenFromA}` } });
      assert.equal(res.status, 200);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });

  void it('without JWT_SECRET, servers on one etcd share the generated secret through the store and accept each other\'s tokens', async () => {
    const flags = { etcdEndpoints: [etcd.endpoint], etcdPrefix: '/generated-secret' };
    const servers = await Promise.all([startServer(options(join(dir, 'c'), flags), { logger }), startServer(options(join(dir, 'd'), flags), { logger })]);
    try {
      const [c, d] = servers as [RunningServer, RunningServer];
      for (const s of [c, d]) await assert.rejects(stat(join(s.adminPasswordPath, '..', 'jwt-secret')), { code: 'ENOENT' });
      const tokenFromC = (await c.mintToken('admin')).token;
      const res = await fetch(`${d.httpUrl}/apis/openscheduler.io/v1/jobs`, { headers: { authorization: `Bearer ${tokenFromC}` } });
      assert.equal(res.status, 200);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });

  void it('two servers starting at once on one etcd end up with the same join token in their files (0600)', async () => {
    const flags = { etcdEndpoints: [etcd.endpoint], etcdPrefix: '/join-race' };
    const servers = await Promise.all([startServer(options(join(dir, 'e'), flags), { logger }), startServer(options(join(dir, 'f'), flags), { logger })]);
    try {
      const [e, f] = servers as [RunningServer, RunningServer];
      assert.equal(e.joinTokenPath, join(dir, 'e', 'join-token'));
      const files = await Promise.all(servers.map((s) => joinTokenFile(s.joinTokenPath)));
      assert.match(files[0]!.data, /^osj_[A-Za-z0-9_-]{43}\n$/);
      assert.deepEqual(files[1], files[0]);
      assert.equal(files[0]!.mode, 0o600);
      assert.notEqual(f.joinTokenPath, e.joinTokenPath);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });

  void it("the first server's existing join token file becomes the cluster's join token", async () => {
    const flags = { etcdEndpoints: [etcd.endpoint], etcdPrefix: '/join-seed' };
    const own = `osj_${'s'.repeat(43)}\n`;
    await mkdir(join(dir, 'g'), { mode: 0o700 });
    await writeFile(join(dir, 'g', 'join-token'), own, { mode: 0o600 });
    const g = await startServer(options(join(dir, 'g'), flags), { logger });
    try {
      const h = await startServer(options(join(dir, 'h'), flags), { logger });
      try {
        assert.deepEqual(await joinTokenFile(g.joinTokenPath), { data: own, mode: 0o600 });
        assert.deepEqual(await joinTokenFile(h.joinTokenPath), { data: own, mode: 0o600 });
      } finally {
        await h.close();
      }
    } finally {
      await g.close();
    }
  });

  void it("a server whose join token file differs adopts the store's token and warns, naming the file", async () => {
    const flags = { etcdEndpoints: [etcd.endpoint], etcdPrefix: '/join-adopt' };
    const i = await startServer(options(join(dir, 'i'), flags), { logger });
    try {
      const stale = `osj_${'x'.repeat(43)}\n`;
      const jDir = join(dir, 'j');
      await mkdir(jDir, { mode: 0o700 });
      await writeFile(join(jDir, 'join-token'), stale, { mode: 0o600 });
      const captured = capturingLogger();
      const j = await startServer(options(jDir, flags), { logger: captured.logger });
      try {
        const cluster = await joinTokenFile(i.joinTokenPath);
        assert.notEqual(cluster.data, stale);
        assert.deepEqual(await joinTokenFile(j.joinTokenPath), cluster);
        const warnings = captured
          .text()
          .split('\n')
          .filter((line) => line.includes('replaced the join token file'));
        assert.equal(warnings.length, 1, captured.text());
        const warning = JSON.parse(warnings[0]!) as { level: string; path: string };
        assert.equal(warning.level, 'warn');
        assert.equal(warning.path, j.joinTokenPath);
        assert.ok(!captured.text().includes(cluster.data.trim()) && !captured.text().includes(stale.trim()), 'the join token is never logged');
      } finally {
        await j.close();
      }
    } finally {
      await i.close();
    }
  });
});

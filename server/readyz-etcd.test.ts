// /readyz and /livez of servers on a real etcd: ready once the store answers, the caches synced and
// a leader is known (the standby too: it knows the leader); not ready within seconds of etcd
// dying while /livez stays 200; ready again once etcd is back.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import winston from 'winston';
import { startEtcd, type EtcdProcess } from '../test/harness/etcd.js';
import { scrape, value } from '../test/harness/prometheus.js';
import { resolveConfig, settingsFromFlags } from './config.js';
import { startServer, type RunningServer } from './server.js';

const logger = winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}

/** Polls GET `url` until it answers `status`; checks `/livez` answers 200 on every round. Returns the ms it took. */
async function untilStatus(server: RunningServer, path: string, status: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const res = await get(`${server.httpUrl}${path}`);
    assert.equal((await get(`${server.httpUrl}/livez`)).status, 200, '/livez stays 200 while the process runs');
    if (res.status === status) return performance.now() - started;
    if (performance.now() - started > timeoutMs) assert.fail(`${path} still answers ${res.status} (${res.text}) after ${timeoutMs} ms; want ${status}`);
    await sleep(100);
  }
}

void describe('readiness on etcd', { timeout: 120_000 }, () => {
  let etcd: EtcdProcess;
  let dir: string;
  const servers: RunningServer[] = [];

  before(async () => {
    etcd = await startEtcd();
    dir = await mkdtemp(join(tmpdir(), 'os-readyz-'));
    const secret = 'shared-secret-for-readiness-test-0123456789';
    for (const name of ['a', 'b']) {
      const options = resolveConfig({
        mode: 'dev',
        cwd: dir,
        jwtSecret: secret,
        flags: settingsFromFlags({
          dataDir: join(dir, name),
          httpPort: '0',
          httpsPort: '0',
          grpcPort: '0',
          bcryptCost: '10',
          etcdEndpoints: [etcd.endpoint],
          storeTimeout: '2s',
        }),
      }).server;
      servers.push(await startServer(options, { logger }));
    }
  });
  after(async () => {
    if (etcd.pid === undefined) await etcd.start().catch(() => undefined); // let the servers close cleanly
    await Promise.all(servers.map((s) => s.close()));
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  void it('both servers become ready: one leads, the other knows the leader', async () => {
    for (const server of servers) await untilStatus(server, '/readyz', 200, 20_000);
    for (const server of servers) {
      const verbose = await get(`${server.httpUrl}/readyz?verbose`);
      assert.equal(verbose.status, 200);
      assert.equal(verbose.text, '[+]store ok\n[+]informers ok\n[+]leader ok\nreadyz check passed\n');
      assert.deepEqual(await get(`${server.httpUrl}/readyz`), { status: 200, text: 'ok' });
    }
    const leaders = await Promise.all(
      servers.map(async (s) => value((await scrape(`${s.httpUrl}/metrics`, (await s.mintToken('admin')).token)).exposition, 'openscheduler_leader')),
    );
    assert.deepEqual(
      leaders.sort(),
      [0, 1],
      'exactly one process leads the controllers',
    );
  });

  void it('etcd killed: /readyz 503 within 5 s, /livez 200 throughout; etcd back: ready again', async () => {
    const [server] = servers as [RunningServer];
    await untilStatus(server, '/readyz', 200, 20_000);
    await etcd.kill('SIGKILL');
    const notReadyAfter = await untilStatus(server, '/readyz', 503, 5_000);
    assert.ok(notReadyAfter < 5_000, `${notReadyAfter} ms`);
    const verbose = await get(`${server.httpUrl}/readyz?verbose`);
    assert.equal(verbose.status, 503);
    assert.match(verbose.text, /^\[-\]store failed: (the store does not answer|no answer within 1000 ms)$/m);
    assert.match(verbose.text, /^\[\+\]informers ok$/m, 'the caches stay synced (they serve stale data)');
    assert.match(verbose.text, /^\[-\]leader failed: /m);
    assert.match(verbose.text, /readyz check failed\n$/);
    assert.doesNotMatch(verbose.text, /127\.0\.0\.1|ECONNREFUSED|etcd/i, 'no internal detail');
    assert.equal((await get(`${server.httpUrl}/healthz`)).status, 200);

    await etcd.start();
    for (const s of servers) await untilStatus(s, '/readyz', 200, 30_000);
  });
});

// The audit trail over real HTTP: the API server with real JWT authentication, a SQLite store
// and an AuditLog in a temporary directory; plus the hold-until-durable contract with a gated sink.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import winston from 'winston';
import { kinds } from '../api/v1/index.js';
import { ServerMetrics } from '../metrics/server-metrics.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { createApiServer, type ApiServer } from './api-server.js';
import { JOBS, StaticTokenAuthenticator, TEST_TOKEN, jobManifest } from './api-test-harness.js';
import { AuditLog, type AuditPage, type AuditQuery, type AuditRecord, type AuditSink } from './audit-log.js';
import { AUDIT_ID_HEADER, REQUEST_ID_HEADER } from './audit-middleware.js';
import { setUpAuth, type Auth } from './auth.js';
import { capturingLogger } from '../test/harness/logging.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Answer {
  readonly status: number;
  readonly auditId: string;
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
}

async function listen(api: ApiServer): Promise<{ http: Server; url: string }> {
  const http = createServer(api.app);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { http, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

async function stop(http: Server): Promise<void> {
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
}

void describe('audit middleware over HTTP', () => {
  let dir: string;
  let store: SqliteStore;
  let auth: Auth;
  let audit: AuditLog;
  let api: ApiServer;
  let http: Server;
  let url: string;
  let auditPath: string;
  const jwtSecret = randomBytes(36).toString('base64url');
  const viewerPassword = 'viewer-password-' + randomBytes(6).toString('hex');
  const wrongPassword = 'wrong-password-' + randomBytes(6).toString('hex');
  let adminPassword: string;
  let adminToken: string;
  let viewerToken: string;
  const secrets: string[] = [];

  async function call(method: string, path: string, options: { token?: string | null; body?: unknown; contentType?: string } = {}): Promise<Answer> {
    const headers: Record<string, string> = { 'user-agent': 'audit-test/1.0' };
    const token = options.token === undefined ? adminToken : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const res = await fetch(`${url}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
    const text = await res.text();
    const auditId = res.headers.get(AUDIT_ID_HEADER.toLowerCase()) ?? '';
    assert.match(auditId, UUID, `${method} ${path}: no Audit-Id`);
    assert.equal(res.headers.get(REQUEST_ID_HEADER.toLowerCase()), auditId);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, auditId, body };
  }

  async function records(): Promise<AuditRecord[]> {
    const text = await readFile(auditPath, 'utf8');
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as AuditRecord);
  }

  async function login(username: string, password: string): Promise<Answer> {
    return call('POST', '/api/v1/auth/login', { token: null, body: { username, password } });
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-audit-mw-'));
    const logger = winston.createLogger({ level: 'error', transports: [new winston.transports.Console({ silent: true })] });
    store = SqliteStore.open({ path: join(dir, 'store.db'), compactIntervalMs: 0 });
    auth = await setUpAuth({ store, dataDir: join(dir, 'data'), logger, jwtSecret, bcryptCost: 10 });
    adminPassword = (await readFile(auth.adminPasswordPath, 'utf8')).trim();
    await auth.users.create('val', 'viewer', viewerPassword);
    auditPath = join(dir, 'data', 'audit', 'audit.log');
    audit = await AuditLog.open({ path: auditPath, logger });
    api = createApiServer({ store, kinds, auth: auth.authenticator, logger, audit });
    ({ http, url } = await listen(api));
    const adminLogin = await login('admin', adminPassword);
    assert.equal(adminLogin.status, 200);
    adminToken = adminLogin.body.token;
    const viewerLogin = await login('val', viewerPassword);
    assert.equal(viewerLogin.status, 200);
    viewerToken = viewerLogin.body.token;
    secrets.push(jwtSecret, adminPassword, viewerPassword, wrongPassword, adminToken, viewerToken);
  });

  after(async () => {
    await stop(http);
    await api.close();
    await audit.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('records N mutating requests as exactly N records, each durable before its answer, joined by Audit-Id', async () => {
    const before = (await records()).length;
    const mutating: Answer[] = [];
    // sequential: the record is in the file the moment the answer arrives
    for (const name of ['seq-a', 'seq-b', 'seq-c']) {
      const res = await call('POST', `${JOBS}?fieldManager=audit-test`, { body: jobManifest(name) });
      assert.equal(res.status, 201);
      assert.ok(readFileSync(auditPath, 'utf8').includes(res.auditId), 'the record was not on disk when the answer came');
      mutating.push(res);
    }
    // concurrent creates, updates, patches, deletes, conflicts and not-founds
    mutating.push(...(await Promise.all(Array.from({ length: 20 }, (_, i) => call('POST', JOBS, { body: jobManifest(`par-${i}`) })))));
    mutating.push(await call('POST', JOBS, { body: jobManifest('seq-a') })); // 409
    const current = await call('GET', `${JOBS}/seq-b`);
    mutating.push(await call('PUT', `${JOBS}/seq-b`, { body: { ...current.body, metadata: { ...current.body.metadata, labels: { team: 'x' } } } }));
    mutating.push(await call('PATCH', `${JOBS}/seq-c`, { body: { metadata: { labels: { a: 'b' } } }, contentType: 'application/merge-patch+json' }));
    mutating.push(await call('DELETE', `${JOBS}/seq-a`));
    mutating.push(await call('DELETE', `${JOBS}/no-such-job`)); // 404
    const reads = [current, await call('GET', JOBS), await call('GET', `${JOBS}/par-1`), await call('HEAD', `${JOBS}/par-2`), await call('GET', '/apis')];
    assert.ok(reads.every((r) => r.status === 200));

    const all = await records();
    const added = all.slice(before);
    assert.equal(added.length, mutating.length, 'exactly one record per mutating request');
    for (const res of mutating) {
      const matching = all.filter((r) => r.requestId === res.auditId);
      assert.equal(matching.length, 1, `Audit-Id ${res.auditId}`);
      assert.equal(matching[0]!.code, res.status);
    }
    for (const res of reads) assert.ok(!all.some((r) => r.requestId === res.auditId), 'a read was recorded');
    assert.ok(mutating.some((r) => r.status === 409) && mutating.some((r) => r.status === 404));

    const created = all.find((r) => r.requestId === mutating[0]!.auditId)!;
    assert.deepEqual(
      { ...created, time: 'T', durationMs: 0, sourceAddress: created.sourceAddress.replace(/^::ffff:/, '') },
      {
        time: 'T',
        requestId: mutating[0]!.auditId,
        user: 'admin',
        role: 'admin',
        sourceAddress: '127.0.0.1',
        userAgent: 'audit-test/1.0',
        method: 'POST',
        path: '/apis/openscheduler.io/v1/namespaces/default/jobs',
        verb: 'create',
        apiGroup: 'openscheduler.io',
        resource: 'jobs',
        namespace: 'default',
        name: '',
        code: 201,
        durationMs: 0,
        event: 'request',
        authorizedBy: 'write-jobs',
      },
    );
    assert.match(created.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const deleted = all.find((r) => r.requestId === mutating.at(-2)!.auditId)!;
    assert.deepEqual([deleted.verb, deleted.resource, deleted.namespace, deleted.name, deleted.code], ['delete', 'jobs', 'default', 'seq-a', 200]);
  });

  void it('records 401s and 403s whatever the method, with the user when known', async () => {
    const noToken = await call('GET', JOBS, { token: null });
    const badToken = await call('POST', JOBS, { token: 'not-a-token', body: jobManifest('x') });
    const headNoToken = await call('HEAD', `${JOBS}/par-1`, { token: null });
    const forbidden = await call('POST', '/api/v1/nodetokens', { token: viewerToken, body: { nodeName: 'n1' } });
    const forbiddenRead = await call('GET', '/api/v1/nodetokens', { token: viewerToken });
    assert.deepEqual([noToken.status, badToken.status, headNoToken.status, forbidden.status, forbiddenRead.status], [401, 401, 401, 403, 403]);
    const all = await records();
    const one = (id: string): AuditRecord => {
      const found = all.filter((r) => r.requestId === id);
      assert.equal(found.length, 1, id);
      return found[0]!;
    };
    for (const res of [noToken, badToken, headNoToken]) {
      const r = one(res.auditId);
      assert.equal(r.event, 'authenticationFailure');
      assert.equal(r.user, null);
      assert.equal(r.code, 401);
      assert.equal(r.authorizedBy, null);
    }
    assert.equal(one(headNoToken.auditId).method, 'HEAD');
    for (const res of [forbidden, forbiddenRead]) {
      const r = one(res.auditId);
      assert.deepEqual([r.event, r.user, r.role, r.code, r.resource, r.authorizedBy], ['authorizationFailure', 'val', 'viewer', 403, 'nodetokens', null]);
    }
  });

  void it('records logins, failed ones with the attempted user name and never the password', async () => {
    const failed = await login('admin', wrongPassword);
    assert.equal(failed.status, 401);
    const unknown = await login('mallory', wrongPassword);
    assert.equal(unknown.status, 401);
    const ok = await login('val', viewerPassword);
    assert.equal(ok.status, 200);
    secrets.push(ok.body.token);
    const all = await records();
    const byId = (id: string): AuditRecord | undefined => all.find((r) => r.requestId === id);
    assert.deepEqual([byId(failed.auditId)?.event, byId(failed.auditId)?.user, byId(failed.auditId)?.code], ['login', 'admin', 401]);
    assert.deepEqual([byId(unknown.auditId)?.user, byId(unknown.auditId)?.code], ['mallory', 401]);
    assert.deepEqual([byId(ok.auditId)?.event, byId(ok.auditId)?.user, byId(ok.auditId)?.code], ['login', 'val', 200]);
    assert.equal(byId(ok.auditId)?.path, '/api/v1/auth/login');
  });

  void it('the log holds no password, token or secret', async () => {
    const issued = await call('POST', '/api/v1/nodetokens', { body: { nodeName: 'worker-1' } });
    assert.equal(issued.status, 201);
    const nodeToken = issued.body.token as string;
    secrets.push(nodeToken, nodeToken.split('.')[1]!);
    // a bearer token in a rejected request, and a query string, are not recorded either
    const leaked = `${JOBS}?labelSelector=${encodeURIComponent('secret=' + wrongPassword)}`;
    await call('POST', leaked, { token: `${nodeToken}x`, body: jobManifest('y') });
    const text = await readFile(auditPath, 'utf8');
    assert.ok(text.length > 0);
    for (const secret of secrets) assert.ok(!text.includes(secret), `the audit log contains a secret (${secret.slice(0, 4)}...)`);
    assert.ok(!text.includes('password'), 'a password field');
    assert.ok(!text.includes('labelSelector'), 'a query string');
  });

  void it('watch streams and GETs pass through untouched', async () => {
    const controller = new AbortController();
    const res = await fetch(`${url}${JOBS}?watch=true&resourceVersion=0`, { headers: { authorization: `Bearer ${adminToken}` }, signal: controller.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.ok(!first.done && new TextDecoder().decode(first.value).includes('"ADDED"'));
    controller.abort();
    await reader.cancel().catch(() => undefined);
  });

  void it('serves GET /api/v1/audit with filters', async () => {
    const res = await call('GET', '/api/v1/audit?user=val&event=login', {});
    assert.equal(res.status, 400);
    assert.equal(res.body.details.causes[0].field, 'event');
    const page = await call('GET', '/api/v1/audit?user=val&code=4xx&limit=2');
    assert.equal(page.status, 200);
    assert.equal(page.body.kind, 'AuditEventList');
    assert.equal(page.body.apiVersion, 'v1');
    assert.equal(page.body.items.length, 2);
    assert.ok(page.body.items.every((r: AuditRecord) => r.user === 'val' && r.code >= 400 && r.code < 500));
    assert.ok(typeof page.body.metadata.continue === 'string');
    const next = await call('GET', `/api/v1/audit?user=val&code=4xx&limit=2&continue=${encodeURIComponent(page.body.metadata.continue)}`);
    assert.equal(next.status, 200);
    assert.ok(!next.body.items.some((r: AuditRecord) => page.body.items.some((p: AuditRecord) => p.requestId === r.requestId)));
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=5001', 'limit'],
      ['code=4x', 'code'],
      ['since=yesterday', 'since'],
      ['until=2024-01-01', 'until'],
      ['continue=bogus', 'continue'],
      ['user=a&user=b', 'user'],
    ] as const) {
      const bad = await call('GET', `/api/v1/audit?${query}`);
      assert.equal(bad.status, 400, query);
      assert.equal(bad.body.details.causes[0].field, field, query);
      assert.match(bad.body.message, new RegExp(field));
    }
    const one = await call('GET', `/api/v1/audit?requestId=${page.body.items[0].requestId}`);
    assert.deepEqual(one.body.items, [page.body.items[0]]);
    assert.equal((await call('DELETE', '/api/v1/audit')).status, 405);
  });
});

void describe('audit middleware: held answers', () => {
  /** A sink whose appends wait for the test to open the gate (or fail). */
  class GatedSink implements AuditSink, AuditQuery {
    readonly appended: AuditRecord[] = [];
    private gates: { resolve: () => void; reject: (err: Error) => void }[] = [];
    append(record: AuditRecord): Promise<void> {
      this.appended.push(record);
      return new Promise<void>((resolve, reject) => this.gates.push({ resolve, reject }));
    }
    query(): Promise<AuditPage> {
      return Promise.resolve({ items: [] });
    }
    open(): void {
      for (const g of this.gates.splice(0)) g.resolve();
    }
    fail(): void {
      for (const g of this.gates.splice(0)) g.reject(new Error('ENOSPC: no space left on device'));
    }
  }

  let dir: string;
  let store: SqliteStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-audit-hold-'));
    store = SqliteStore.open({ path: join(dir, 'store.db'), compactIntervalMs: 0 });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function serve(sink: GatedSink, logger: winston.Logger, metrics?: ServerMetrics): Promise<{ url: string; close: () => Promise<void> }> {
    const api = createApiServer({ store, kinds, auth: new StaticTokenAuthenticator(TEST_TOKEN), logger, audit: sink, ...(metrics ? { metrics } : {}) });
    const { http, url } = await listen(api);
    return {
      url,
      close: async () => {
        await stop(http);
        await api.close();
      },
    };
  }

  const until = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(cond());
  };

  void it('the answer waits for the append, and the mutation happened already', async () => {
    const sink = new GatedSink();
    const server = await serve(sink, capturingLogger().logger);
    try {
      let answered = false;
      const pending = fetch(`${server.url}${JOBS}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(jobManifest('held')),
      }).then(async (res) => {
        answered = true;
        return { status: res.status, id: res.headers.get('audit-id'), body: await res.text() };
      });
      await until(() => sink.appended.length === 1);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(answered, false, 'answered before the record was durable');
      const meanwhile = await fetch(`${server.url}${JOBS}/held`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
      assert.equal(meanwhile.status, 200, 'the job exists while its answer is held');
      await meanwhile.text();
      sink.open();
      const res = await pending;
      assert.equal(res.status, 201);
      assert.equal(res.id, sink.appended[0]!.requestId);
      assert.equal(JSON.parse(res.body).metadata.name, 'held');
    } finally {
      await server.close();
    }
  });

  void it('a failed append is logged at error level, counted, and the answer still goes out', async () => {
    const sink = new GatedSink();
    const { logger, text } = capturingLogger();
    const metrics = new ServerMetrics({ processMetrics: false });
    const server = await serve(sink, logger, metrics);
    try {
      const pending = fetch(`${server.url}${JOBS}/nothing`, { method: 'DELETE', headers: { authorization: `Bearer ${TEST_TOKEN}` } });
      await until(() => sink.appended.length === 1);
      sink.fail();
      const res = await pending;
      assert.equal(res.status, 404);
      await res.text();
      assert.match(text(), /"level":"error".*audit log write failed/);
      assert.match(text(), /ENOSPC/);
      assert.match(await metrics.render(), /^openscheduler_audit_write_errors_total 1$/m);
    } finally {
      await server.close();
    }
  });
});

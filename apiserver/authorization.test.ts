// Authorization over real HTTP: a real API server (api-test-harness.ts) with the real JWT
// authenticator and three users (admin, operator, viewer), every route family × role with the
// answer each role really gets; the route coverage check (every route the express app serves is
// named by a rule of the table, public routes listed here); and the policy table itself.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import winston from 'winston';
import { FileLogStore } from '../logs/log-store.js';
import { newNodeLeaseInformer } from '../controllers/nodes/node-lifecycle.js';
import { NODES_PREFIX, newSchedulerInformers } from '../controllers/scheduler/scheduler.js';
import type { Informer } from '../controllers/runtime/informer.js';
import { ServerMetrics } from '../metrics/server-metrics.js';
import { JOBS, jobManifest, NODES, TestServer } from './api-test-harness.js';
import { AuditLog } from './audit-log.js';
import { JwtAuthenticator } from './auth.js';
import type { Principal } from './authn.js';
import { ADMIN_ALL_RULE, authorize, POLICY, ruleNamesRequest } from './authorization.js';
import { repoRoot } from '../test/harness/bin.js';
import { resolveRequestInfo } from './request-info.js';
import { ROLES, UserRegistry, type Role } from './users.js';

const FAST_COST = 10;
const PASSWORD: Record<Role, string> = { admin: 'admin-password-1', operator: 'operator-password-1', viewer: 'viewer-password-1' };
const logger = winston.createLogger({ level: 'error', transports: [new winston.transports.Console({ silent: true })] });

interface Row {
  readonly method: string;
  readonly path: string | ((role: Role) => string);
  readonly body?: unknown | ((role: Role) => unknown);
  readonly contentType?: string;
  /** Expected HTTP code for admin, operator, viewer. */
  readonly codes: readonly [number, number, number];
  /** Brings the state to the row's starting point before each role's request. */
  readonly setup?: () => Promise<void>;
}

void describe('authorization', () => {
  let dir: string;
  let server: TestServer;
  let users: UserRegistry;
  let authenticator: JwtAuthenticator;
  let logs: FileLogStore;
  let audit: AuditLog;
  /** The shared caches the dashboard answers from, run over the test server's store. */
  let informers: Informer<unknown>[] = [];
  let nodesCache: Informer<unknown> | undefined;
  const stopInformers = new AbortController();
  let informerRuns: Promise<void>[] = [];

  /** A fresh token (issued after any password change of the row before). */
  const tokenOf = (role: Role): string => authenticator.sign({ username: role, role }).token;

  /** Sends a request as `role` and returns the code; a streaming body (watch) is cancelled. */
  async function call(role: Role, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = { authorization: `Bearer ${tokenOf(role)}` };
    if (body !== undefined) headers['content-type'] = contentType;
    const controller = new AbortController();
    const res = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: controller.signal });
    if (path.includes('watch=true')) {
      controller.abort();
      return { status: res.status, text: '' };
    }
    return { status: res.status, text: await res.text() };
  }

  const asAdmin = (method: string, path: string, body?: unknown, contentType?: string) => call('admin', method, path, body, contentType);
  const ensureJob = async (name: string): Promise<void> => {
    const res = await asAdmin('POST', JOBS, jobManifest(name));
    assert.ok(res.status === 201 || res.status === 409, res.text);
  };
  const ensureFailedJob = async (name: string): Promise<void> => {
    await ensureJob(name);
    const res = await asAdmin('PATCH', `${JOBS}/${name}/status`, { status: { phase: 'Failed', reason: 'RetriesExhausted', attempts: 1 } }, 'application/merge-patch+json');
    assert.equal(res.status, 200, res.text);
  };
  const ensureNode = async (name: string): Promise<void> => {
    const res = await asAdmin('POST', NODES, { apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name }, spec: {} });
    assert.ok(res.status === 201 || res.status === 409, res.text);
  };
  /** Waits until the dashboard's node cache holds `name`. */
  const ensureNodeCached = async (name: string): Promise<void> => {
    await ensureNode(name);
    for (let i = 0; nodesCache?.getEntry(`${NODES_PREFIX}${name}`) === undefined; i++) {
      assert.ok(i < 500, `node ${name} never reached the cache`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const absent = (path: string) => async (): Promise<void> => {
    const res = await asAdmin('DELETE', path);
    assert.ok(res.status === 200 || res.status === 404, res.text);
  };
  const ensureUser = async (name: string, role: Role = 'viewer'): Promise<void> => {
    if ((await users.get(name)) === undefined) await users.create(name, role, `${name}-password`);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-authz-'));
    logs = new FileLogStore({ dir: join(dir, 'logs') });
    audit = await AuditLog.open({ path: join(dir, 'audit', 'audit.log'), logger });
    server = await TestServer.start({
      logs,
      deps: (store) => {
        users = new UserRegistry(store, { bcryptCost: FAST_COST });
        authenticator = new JwtAuthenticator({ users, secret: randomBytes(48), logger });
        const { jobs, nodes } = newSchedulerInformers(store);
        const leases = newNodeLeaseInformer(store);
        informers = [jobs, nodes, leases] as Informer<unknown>[];
        nodesCache = nodes as Informer<unknown>;
        return {
          auth: authenticator,
          users: { users, tokens: authenticator },
          audit,
          metrics: new ServerMetrics({ processMetrics: false }),
          dashboard: { caches: () => ({ jobs, nodes, leases }) },
        };
      },
    });
    informerRuns = informers.map((i) => i.run(stopInformers.signal));
    for (const role of ROLES) await users.create(role, role, PASSWORD[role]);
    await ensureJob('m');
    await ensureNode('n1');
  });

  after(async () => {
    stopInformers.abort();
    await Promise.all(informerRuns);
    await server?.close();
    await logs?.close();
    await audit?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const rows: Row[] = [
    // jobs: reads for everyone, writes for operators and admins
    { method: 'GET', path: JOBS, codes: [200, 200, 200] },
    { method: 'GET', path: `${JOBS}?watch=true`, codes: [200, 200, 200] },
    { method: 'GET', path: '/apis/openscheduler.io/v1/jobs', codes: [200, 200, 200] },
    { method: 'GET', path: '/apis/openscheduler.io/v1/jobs?watch=true', codes: [200, 200, 200] },
    { method: 'GET', path: `${JOBS}/m`, codes: [200, 200, 200], setup: () => ensureJob('m') },
    { method: 'GET', path: `${JOBS}/m/status`, codes: [200, 200, 200], setup: () => ensureJob('m') },
    { method: 'GET', path: `${JOBS}/m/log`, codes: [200, 200, 200], setup: () => ensureJob('m') },
    { method: 'POST', path: JOBS, body: jobManifest('made'), codes: [201, 201, 403], setup: absent(`${JOBS}/made`) },
    { method: 'PUT', path: `${JOBS}/m`, body: jobManifest('m', { labels: { put: 'yes' } }), codes: [200, 200, 403], setup: () => ensureJob('m') },
    {
      method: 'PATCH',
      path: `${JOBS}/m`,
      body: { metadata: { labels: { patched: 'yes' } } },
      contentType: 'application/merge-patch+json',
      codes: [200, 200, 403],
      setup: () => ensureJob('m'),
    },
    { method: 'DELETE', path: `${JOBS}/gone`, codes: [200, 200, 403], setup: () => ensureJob('gone') },
    { method: 'DELETE', path: `${JOBS}?labelSelector=matrix%3Dnothing`, codes: [200, 200, 403] },
    { method: 'POST', path: `${JOBS}/failed/retry`, codes: [200, 200, 403], setup: () => ensureFailedJob('failed') },
    // job status writes: admin only (agents report status over gRPC)
    {
      method: 'PATCH',
      path: `${JOBS}/m/status`,
      body: { status: { message: 'repaired' } },
      contentType: 'application/merge-patch+json',
      codes: [200, 403, 403],
      setup: () => ensureJob('m'),
    },
    { method: 'PUT', path: `${JOBS}/m/status`, body: { ...jobManifest('m'), status: { phase: 'Pending' } }, codes: [200, 403, 403], setup: () => ensureJob('m') },
    // nodes: reads for everyone, writes admin only
    { method: 'GET', path: NODES, codes: [200, 200, 200] },
    { method: 'GET', path: `${NODES}?watch=true`, codes: [200, 200, 200] },
    { method: 'GET', path: `${NODES}/n1`, codes: [200, 200, 200], setup: () => ensureNode('n1') },
    { method: 'GET', path: `${NODES}/n1/status`, codes: [200, 200, 200], setup: () => ensureNode('n1') },
    {
      method: 'POST',
      path: NODES,
      body: { apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name: 'n2' }, spec: {} },
      codes: [201, 403, 403],
      setup: absent(`${NODES}/n2`),
    },
    {
      method: 'PATCH',
      path: `${NODES}/n1`,
      body: { spec: { unschedulable: true } },
      contentType: 'application/merge-patch+json',
      codes: [200, 403, 403],
      setup: () => ensureNode('n1'),
    },
    {
      method: 'PATCH',
      path: `${NODES}/n1/status`,
      body: { status: { drivers: ['process'] } },
      contentType: 'application/merge-patch+json',
      codes: [200, 403, 403],
      setup: () => ensureNode('n1'),
    },
    { method: 'DELETE', path: `${NODES}/n3`, codes: [200, 403, 403], setup: () => ensureNode('n3') },
    // events: read only (the handler answers 405 to writes)
    { method: 'GET', path: '/api/v1/namespaces/default/events', codes: [200, 200, 200] },
    { method: 'GET', path: '/api/v1/events', codes: [200, 200, 200] },
    { method: 'GET', path: '/api/v1/namespaces/default/events?watch=true', codes: [200, 200, 200] },
    { method: 'GET', path: '/api/v1/namespaces/default/events/nope', codes: [404, 404, 404] },
    { method: 'POST', path: '/api/v1/namespaces/default/events', body: {}, codes: [405, 403, 403] },
    // node tokens: admin only
    { method: 'GET', path: '/api/v1/nodetokens', codes: [200, 403, 403] },
    { method: 'POST', path: '/api/v1/nodetokens', body: { nodeName: 'n1' }, codes: [201, 403, 403] },
    { method: 'DELETE', path: '/api/v1/nodetokens/nosuchtoken1', codes: [404, 403, 403] },
    // users: admin only, except reading oneself and changing one's own password
    { method: 'GET', path: '/api/v1/users', codes: [200, 403, 403] },
    {
      method: 'POST',
      path: '/api/v1/users',
      body: { name: 'made-user', role: 'viewer', password: 'made-user-password' },
      codes: [201, 403, 403],
      setup: async () => {
        if ((await users.get('made-user')) !== undefined) await users.delete('made-user');
      },
    },
    { method: 'GET', path: '/api/v1/users/operator', codes: [200, 200, 403] },
    { method: 'GET', path: '/api/v1/users/viewer', codes: [200, 403, 200] },
    { method: 'GET', path: (role) => `/api/v1/users/${role}`, codes: [200, 200, 200] },
    { method: 'PATCH', path: '/api/v1/users/target', body: { role: 'operator' }, codes: [200, 403, 403], setup: () => ensureUser('target') },
    { method: 'DELETE', path: '/api/v1/users/target', codes: [200, 403, 403], setup: () => ensureUser('target') },
    { method: 'PUT', path: '/api/v1/users/target/password', body: { password: 'target-password-2' }, codes: [200, 403, 403], setup: () => ensureUser('target') },
    {
      method: 'PUT',
      path: (role) => `/api/v1/users/${role}/password`,
      body: (role: Role) => ({ password: PASSWORD[role], currentPassword: PASSWORD[role] }),
      codes: [200, 200, 200],
    },
    { method: 'PUT', path: '/api/v1/users/admin/password', body: { password: 'stolen-password' }, codes: [400, 403, 403] },
    { method: 'POST', path: '/api/v1/users/viewer/token', body: { ttlSeconds: 3600 }, codes: [201, 403, 403] },
    { method: 'POST', path: (role) => `/api/v1/users/${role}/token`, body: {}, codes: [201, 403, 403] },
    { method: 'GET', path: '/api/v1/whoami', codes: [200, 200, 200] },
    // audit: admin only
    { method: 'GET', path: '/api/v1/audit', codes: [200, 403, 403] },
    { method: 'POST', path: '/api/v1/audit', body: {}, codes: [405, 403, 403] },
    // metrics, discovery, version, OpenAPI: everyone may read
    { method: 'GET', path: '/metrics', codes: [200, 200, 200] },
    { method: 'POST', path: '/metrics', body: {}, codes: [405, 403, 403] },
    { method: 'GET', path: '/api', codes: [200, 200, 200] },
    { method: 'GET', path: '/apis', codes: [200, 200, 200] },
    { method: 'GET', path: '/apis/openscheduler.io', codes: [200, 200, 200] },
    { method: 'GET', path: '/apis/openscheduler.io/v1', codes: [200, 200, 200] },
    { method: 'GET', path: '/version', codes: [200, 200, 200] },
    { method: 'GET', path: '/openapi/v2', codes: [200, 200, 200] },
    { method: 'POST', path: '/apis', body: {}, codes: [405, 403, 403] },
    // the dashboard: its read model for everyone (GET only); its static files are public (not built here: 404)
    { method: 'GET', path: '/dashboard/v1/summary', codes: [200, 200, 200] },
    { method: 'GET', path: '/dashboard/v1/jobs?phase=Pending&sort=name', codes: [200, 200, 200] },
    { method: 'GET', path: '/dashboard/v1/nodes', codes: [200, 200, 200] },
    { method: 'GET', path: '/dashboard/v1/nodes/n1', codes: [200, 200, 200], setup: () => ensureNodeCached('n1') },
    { method: 'GET', path: '/dashboard/v1/no-such-view', codes: [404, 404, 404] },
    { method: 'POST', path: '/dashboard/v1/summary', body: {}, codes: [405, 403, 403] },
    { method: 'GET', path: '/', codes: [404, 404, 404] },
    { method: 'GET', path: '/assets/app.js', codes: [404, 404, 404] },
    // what the server does not serve: admins reach the handler's 404, everyone else is refused (default deny)
    { method: 'GET', path: '/no-such-path', codes: [404, 403, 403] },
    { method: 'GET', path: '/api/v1/secrets', codes: [404, 403, 403] },
    { method: 'GET', path: '/apis/openscheduler.io/v1/namespaces/default/cronjobs', codes: [404, 403, 403] },
  ];

  void it('answers every route family × role as the policy says (the real codes, not just "not 403")', async () => {
    const failures: string[] = [];
    for (const row of rows) {
      for (const [i, role] of (['admin', 'operator', 'viewer'] as const).entries()) {
        await row.setup?.();
        const path = typeof row.path === 'function' ? row.path(role) : row.path;
        const body = typeof row.body === 'function' ? (row.body as (r: Role) => unknown)(role) : row.body;
        const res = await call(role, row.method, path, body, row.contentType);
        if (res.status !== row.codes[i]) failures.push(`${row.method} ${path} as ${role}: ${res.status}, expected ${row.codes[i]}: ${res.text.slice(0, 300)}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  void it('refuses with a Kubernetes Forbidden Status naming user, verb, resource, group and scope', async () => {
    await ensureJob('x');
    const del = await call('viewer', 'DELETE', `${JOBS}/x`);
    assert.equal(del.status, 403);
    const status = JSON.parse(del.text) as Record<string, unknown>;
    assert.deepEqual(status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'jobs.openscheduler.io "x" is forbidden: User "viewer" cannot delete resource "jobs" in API group "openscheduler.io" in the namespace "default"',
      reason: 'Forbidden',
      details: { group: 'openscheduler.io', kind: 'jobs', name: 'x' },
      code: 403,
    });

    const list = JSON.parse((await call('operator', 'GET', '/api/v1/nodetokens')).text) as { message: string; details: unknown };
    assert.equal(list.message, 'nodetokens is forbidden: User "operator" cannot list resource "nodetokens" in API group "" at the cluster scope');
    assert.deepEqual(list.details, { group: '', kind: 'nodetokens' });

    const retry = JSON.parse((await call('viewer', 'POST', `${JOBS}/x/retry`)).text) as { message: string };
    assert.equal(retry.message, 'jobs.openscheduler.io "x" is forbidden: User "viewer" cannot create resource "jobs/retry" in API group "openscheduler.io" in the namespace "default"');

    const path = JSON.parse((await call('viewer', 'GET', '/no-such-path')).text) as { message: string; reason: string };
    assert.equal(path.message, 'forbidden: User "viewer" cannot get path "/no-such-path"');
    assert.equal(path.reason, 'Forbidden');
  });

  void it('checks authentication first: no token is 401 whatever the path', async () => {
    for (const path of ['/api/v1/users', '/no-such-path', JOBS, '/dashboard/v1/summary']) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 401, path);
      await res.body?.cancel();
    }
  });

  void it('serves every route the app has to some role through a rule of the table (public routes listed)', () => {
    // Public routes, served before authentication: health probes, the login endpoint and the dashboard's static files.
    const PUBLIC = new Set(['/healthz', '/livez', '/health', '/readyz', '/api/v1/auth/login', '/', '/favicon.svg', '/assets{/*file}']);
    const SAMPLES: Record<string, readonly string[]> = {
      group: ['openscheduler.io'],
      version: ['v1'],
      namespace: ['default'],
      plural: ['jobs', 'nodes'],
      name: ['x'],
      subresource: ['status'],
      id: ['abcdefghijkl'],
    };
    const routes = collectRoutes(server.api.app.router as unknown as Layered);
    assert.ok(routes.length > 20, `too few routes found: ${routes.map((r) => r.path).join(' ')}`);
    const seen = new Set<string>();
    const uncovered: string[] = [];
    for (const route of routes) {
      if (PUBLIC.has(route.path)) {
        seen.add(route.path);
        continue;
      }
      for (const path of expand(route.path, SAMPLES)) {
        for (const method of route.methods) {
          const info = resolveRequestInfo(method, path);
          const decisions = ROLES.map((role) => authorize({ username: 'someone', role }, info));
          if (!decisions.some((d) => d.ruleId !== undefined)) uncovered.push(`${method} ${path}: no rule for any role`);
          // The admin catch-all matches anything: the route must be named by a rule of its own.
          const named = POLICY.filter((r) => r.id !== ADMIN_ALL_RULE && ruleNamesRequest(r, info));
          if (named.length === 0) uncovered.push(`${method} ${path} (route ${route.path}): no rule of the table names it`);
        }
      }
    }
    for (const publicPath of PUBLIC) assert.ok(seen.has(publicPath), `public route ${publicPath} is no longer served: update the list`);
    assert.deepEqual(uncovered, []);
  });
});

void describe('the policy table', () => {
  const p = (role: string, username = role): Principal => ({ username, role });

  void it('has unique ids, and every rule selects resources of a group or paths', () => {
    const ids = POLICY.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const rule of POLICY) {
      assert.ok(/^[a-z][a-z-]*$/.test(rule.id), rule.id);
      assert.ok(rule.resources !== undefined || rule.nonResourcePaths !== undefined, rule.id);
      if (rule.resources !== undefined) assert.ok(rule.apiGroup !== undefined, `${rule.id}: resources without apiGroup`);
    }
    assert.equal(POLICY[POLICY.length - 1]!.id, ADMIN_ALL_RULE, 'the admin catch-all comes last');
  });

  void it('denies by default: an unknown role gets nothing, admins get the catch-all only where no rule names the request', () => {
    const requests = [
      resolveRequestInfo('GET', '/apis/openscheduler.io/v1/jobs'),
      resolveRequestInfo('GET', '/metrics'),
      resolveRequestInfo('GET', '/api/v1/whoami'),
    ];
    for (const info of requests) assert.deepEqual(authorize(p('root'), info).allowed, false);
    const refused = authorize(p('viewer'), resolveRequestInfo('DELETE', '/apis/openscheduler.io/v1/namespaces/a/jobs/x'));
    assert.deepEqual(refused, { allowed: false, reason: 'no rule allows role "viewer" to delete jobs' });
    assert.equal(authorize(p('admin'), resolveRequestInfo('DELETE', '/apis/openscheduler.io/v1/namespaces/a/jobs/x')).ruleId, 'write-jobs');
    assert.equal(authorize(p('admin'), resolveRequestInfo('GET', '/nowhere')).ruleId, ADMIN_ALL_RULE);
    assert.equal(authorize(p('operator'), resolveRequestInfo('GET', '/nowhere')).allowed, false);
  });

  void it('lets every role read the dashboard\'s read model, and only read it', () => {
    for (const role of ROLES) {
      assert.equal(authorize(p(role), resolveRequestInfo('GET', '/dashboard/v1/jobs')).ruleId, 'read-dashboard');
      assert.equal(authorize(p(role), resolveRequestInfo('HEAD', '/dashboard/v1/nodes/n1')).ruleId, 'read-dashboard');
    }
    assert.equal(authorize(p('viewer'), resolveRequestInfo('POST', '/dashboard/v1/jobs')).allowed, false);
    assert.equal(authorize(p('viewer'), resolveRequestInfo('GET', '/dashboard/v2/jobs')).allowed, false);
  });

  void it('limits self rules to the principal\'s own name', () => {
    const own = resolveRequestInfo('PUT', '/api/v1/users/bob/password');
    const other = resolveRequestInfo('PUT', '/api/v1/users/alice/password');
    assert.equal(authorize(p('viewer', 'bob'), own).ruleId, 'self-password');
    assert.equal(authorize(p('viewer', 'bob'), other).allowed, false);
    assert.equal(authorize(p('operator', 'bob'), resolveRequestInfo('GET', '/api/v1/users/bob')).ruleId, 'self-read');
    assert.equal(authorize(p('operator', 'bob'), resolveRequestInfo('DELETE', '/api/v1/users/bob')).allowed, false);
    assert.equal(authorize(p('operator', 'bob'), resolveRequestInfo('GET', '/api/v1/users')).allowed, false);
  });

  void it('is listed in the README, rule by rule', async () => {
    const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
    const start = readme.indexOf('### Users and roles');
    assert.ok(start >= 0, 'README has a "Users and roles" section');
    const section = readme.slice(start, readme.indexOf('\n#', start + 5));
    for (const rule of POLICY) assert.ok(section.includes(`\`${rule.id}\``), `README "Users and roles" does not mention rule ${rule.id}`);
  });
});

// --- walking the express app (Express 5 / router 2) ---

interface RouteLayer {
  readonly route?: { readonly path: string | string[]; readonly methods: Record<string, boolean> };
  readonly handle?: { readonly stack?: RouteLayer[] };
  readonly rawPath?: string | string[];
}

interface Layered {
  readonly stack: RouteLayer[];
}

const ALL_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** Every route: its full path and its methods among GET, POST, PUT, PATCH, DELETE (router.all: the five). */
function collectRoutes(router: Layered, prefix = ''): { path: string; methods: string[] }[] {
  const out: { path: string; methods: string[] }[] = [];
  for (const layer of router.stack) {
    if (layer.route !== undefined) {
      // router.all sets `_all`; app.all registers every method node knows: both mean the five.
      const declared = Object.keys(layer.route.methods).map((m) => m.toUpperCase());
      const methods = layer.route.methods._all ? ALL_METHODS : ALL_METHODS.filter((m) => declared.includes(m));
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const path of paths) out.push({ path: prefix + path, methods });
    } else if (layer.handle?.stack !== undefined) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      out.push(...collectRoutes(layer.handle as Layered, prefix + mount));
    }
  }
  return out;
}

/** The path with each `:param` replaced by each of its sample values. */
function expand(path: string, samples: Readonly<Record<string, readonly string[]>>): string[] {
  const match = /:([A-Za-z]+)/.exec(path);
  if (match === null) return [path];
  const values = samples[match[1]!];
  if (values === undefined) throw new Error(`no sample value for :${match[1]} in ${path}`);
  return values.flatMap((v) => expand(path.replace(match[0], v), samples));
}

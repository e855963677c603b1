// The users API over real HTTP (a real API server with the real JWT authenticator and the SQLite
// store): create/list/get/delete, passwords (admin reset, own change with the current password,
// the throttle), roles, last-admin protection, minted tokens, and that every change voids the
// user's earlier tokens at once. Plus the registry's compare-and-swap under concurrent changes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import winston from 'winston';
import { SqliteStore } from '../store/sqlite-store.js';
import { TestServer, type TestResponse } from './api-test-harness.js';
import { JwtAuthenticator } from './auth.js';
import { MAX_USER_TOKEN_TTL_SECONDS } from './user-routes.js';
import { LastAdminError, UserRegistry, USERS_PREFIX, type Role } from './users.js';

const FAST_COST = 10;
const logger = winston.createLogger({ level: 'error', transports: [new winston.transports.Console({ silent: true })] });

void describe('users API', () => {
  let server: TestServer;
  let users: UserRegistry;
  let authenticator: JwtAuthenticator;

  const tokenOf = (username: string, role: Role = 'viewer'): string => authenticator.sign({ username, role }).token;
  const as = (username: string, method: string, path: string, body?: unknown, contentType?: string): Promise<TestResponse> =>
    server.request(method, path, { token: tokenOf(username), body, contentType });
  const admin = (method: string, path: string, body?: unknown): Promise<TestResponse> => as('admin', method, path, body);
  const withToken = (token: string, method: string, path: string, body?: unknown): Promise<TestResponse> =>
    server.request(method, path, { token, body });
  const login = (username: string, password: string): Promise<Response> =>
    fetch(`${server.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });

  before(async () => {
    server = await TestServer.start({
      deps: (store) => {
        users = new UserRegistry(store, { bcryptCost: FAST_COST });
        authenticator = new JwtAuthenticator({ users, secret: randomBytes(48), logger });
        return { auth: authenticator, users: { users, tokens: authenticator } };
      },
    });
    await users.create('admin', 'admin', 'admin-password-1');
  });
  after(async () => {
    await server?.close();
  });

  void it('creates users (201, no hash anywhere), lists and gets them, refuses duplicates with 409 AlreadyExists', async () => {
    const created = await admin('POST', '/api/v1/users', { name: 'carol', role: 'operator', password: 'carol-password' });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.headers.get('cache-control'), 'no-store');
    assert.equal(created.body.kind, 'User');
    assert.equal(created.body.name, 'carol');
    assert.equal(created.body.role, 'operator');
    assert.match(created.body.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(!created.text.includes('passwordHash') && !created.text.includes('$2'), created.text);

    const list = await admin('GET', '/api/v1/users');
    assert.equal(list.status, 200);
    assert.equal(list.body.kind, 'UserList');
    assert.deepEqual(
      list.body.items.map((u: { name: string; role: string }) => [u.name, u.role]).filter(([n]: string[]) => n === 'admin' || n === 'carol'),
      [['admin', 'admin'], ['carol', 'operator']],
    );
    assert.ok(!list.text.includes('passwordHash'));

    const one = await admin('GET', '/api/v1/users/carol');
    assert.equal(one.status, 200);
    assert.equal(one.body.name, 'carol');

    const dup = await admin('POST', '/api/v1/users', { name: 'carol', role: 'viewer', password: 'other-password' });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.reason, 'AlreadyExists');
    assert.equal(dup.body.message, 'users "carol" already exists');
    assert.equal((await users.get('carol'))!.role, 'operator', 'the existing user is untouched');

    const missing = await admin('GET', '/api/v1/users/nobody');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.message, 'users "nobody" not found');
  });

  void it('validates input and names the field: name, role, the 8-72 byte password rule, unknown fields', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ name: 'Bad_Name', role: 'viewer', password: 'password-ok' }, 'name', /name must match/],
      [{ name: 'dora', role: 'root', password: 'password-ok' }, 'role', /role must be one of admin, operator, viewer/],
      [{ name: 'dora', role: 'viewer', password: 'short' }, 'password', /password must be 8 to 72 bytes long/],
      [{ name: 'dora', role: 'viewer', password: 'é'.repeat(37) }, 'password', /password must be 8 to 72 bytes long/], // 74 bytes
      [{ name: 'dora', role: 'viewer', password: 'x'.repeat(73) }, 'password', /72 bytes/],
      [{ name: 'dora', role: 'viewer', password: 'password-ok', admin: true }, 'admin', /unknown field "admin"/],
      [{ role: 'viewer', password: 'password-ok' }, 'name', /name is required/],
    ];
    for (const [body, field, message] of cases) {
      const res = await admin('POST', '/api/v1/users', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.details.causes[0].field, field, res.text);
      assert.match(res.body.message, message);
    }
    assert.equal(await users.get('dora'), undefined);
    // exactly 72 bytes (36 two-byte characters) is accepted, and logs in
    const ok = await admin('POST', '/api/v1/users', { name: 'dora', role: 'viewer', password: 'é'.repeat(36) });
    assert.equal(ok.status, 201, ok.text);
    assert.equal((await login('dora', 'é'.repeat(36))).status, 200);

    const tooLongNew = await admin('PUT', '/api/v1/users/dora/password', { password: 'y'.repeat(73) });
    assert.equal(tooLongNew.status, 400);
    assert.equal(tooLongNew.body.details.causes[0].field, 'password');
  });

  void it('lets only admins manage users: a viewer cannot create, list, delete or reset others', async () => {
    await users.create('vic', 'viewer', 'vic-password');
    for (const [method, path, body] of [
      ['POST', '/api/v1/users', { name: 'evil', role: 'admin', password: 'evil-password' }],
      ['GET', '/api/v1/users', undefined],
      ['DELETE', '/api/v1/users/admin', undefined],
      ['PATCH', '/api/v1/users/vic', { role: 'admin' }],
      ['PUT', '/api/v1/users/admin/password', { password: 'owned-password' }],
      ['POST', '/api/v1/users/admin/token', {}],
    ] as const) {
      const res = await as('vic', method, path, body);
      assert.equal(res.status, 403, `${method} ${path}: ${res.text}`);
      assert.equal(res.body.reason, 'Forbidden');
    }
    assert.equal(await users.get('evil'), undefined);
    assert.equal((await users.get('vic'))!.role, 'viewer');
    const me = await as('vic', 'GET', '/api/v1/users/vic');
    assert.equal(me.status, 200);
    const whoami = await as('vic', 'GET', '/api/v1/whoami');
    assert.deepEqual(whoami.body, { username: 'vic', role: 'viewer' });
    assert.equal(whoami.headers.get('cache-control'), 'no-store');
  });

  void it('an admin reset voids the user\'s tokens at once; the new password logs in, the old does not', async () => {
    await users.create('erin', 'viewer', 'erin-password-1');
    const before = tokenOf('erin');
    assert.equal((await withToken(before, 'GET', '/api/v1/whoami')).status, 200, 'token valid (and cached)');
    const reset = await admin('PUT', '/api/v1/users/erin/password', { password: 'erin-password-2' });
    assert.equal(reset.status, 200, reset.text);
    assert.match(reset.body.passwordChangedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(reset.body.updatedAt, reset.body.passwordChangedAt);
    assert.equal((await withToken(before, 'GET', '/api/v1/whoami')).status, 401, 'the earlier token is void');
    assert.equal((await withToken(tokenOf('erin'), 'GET', '/api/v1/whoami')).status, 200, 'a token issued after the change works at once');
    assert.equal((await login('erin', 'erin-password-1')).status, 401);
    const fresh = await login('erin', 'erin-password-2');
    assert.equal(fresh.status, 200);
    const { token } = (await fresh.json()) as { token: string };
    assert.equal((await withToken(token, 'GET', '/api/v1/whoami')).status, 200);
  });

  void it('changing one\'s own password needs the current one: missing 400, wrong 403 (throttled like logins, then 429)', async () => {
    await users.create('fred', 'operator', 'fred-password-1');
    const path = '/api/v1/users/fred/password';
    const missing = await as('fred', 'PUT', path, { password: 'fred-password-2' });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.details.causes[0].field, 'currentPassword');

    const wrong = await as('fred', 'PUT', path, { password: 'fred-password-2', currentPassword: 'not-my-password' });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.body.details.causes[0].field, 'currentPassword');
    assert.equal(wrong.body.message, 'currentPassword is not the current password of user "fred"');

    const good = await as('fred', 'PUT', path, { password: 'fred-password-2', currentPassword: 'fred-password-1' });
    assert.equal(good.status, 200, good.text);
    assert.equal((await login('fred', 'fred-password-2')).status, 200);

    // four more failures reach the throttle's five per name; then even the right password waits
    for (let i = 0; i < 5; i++) {
      const res = await as('fred', 'PUT', path, { password: 'fred-password-3', currentPassword: `wrong-${i}-password` });
      assert.equal(res.status, 403);
    }
    const throttled = await as('fred', 'PUT', path, { password: 'fred-password-3', currentPassword: 'fred-password-2' });
    assert.equal(throttled.status, 429, throttled.text);
    assert.ok(Number(throttled.headers.get('retry-after')) > 0);
    assert.equal((await login('fred', 'fred-password-2')).status, 429, 'the same throttle as logins');
  });

  void it('a role change voids earlier tokens and takes effect; an unchanged role writes nothing', async () => {
    await users.create('gina', 'viewer', 'gina-password');
    const before = tokenOf('gina');
    const patched = await admin('PATCH', '/api/v1/users/gina', { role: 'operator' });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.role, 'operator');
    assert.ok(patched.body.updatedAt);
    assert.equal(patched.body.passwordChangedAt, undefined);
    assert.equal((await withToken(before, 'GET', '/api/v1/whoami')).status, 401);
    assert.deepEqual((await as('gina', 'GET', '/api/v1/whoami')).body, { username: 'gina', role: 'operator' });

    const revision = (await server.store.get(`${USERS_PREFIX}gina`))!.modRevision;
    const same = await server.request('PATCH', '/api/v1/users/gina', { token: tokenOf('admin'), body: { role: 'operator' }, contentType: 'application/merge-patch+json' });
    assert.equal(same.status, 200);
    assert.equal((await server.store.get(`${USERS_PREFIX}gina`))!.modRevision, revision);

    const bad = await admin('PATCH', '/api/v1/users/gina', { role: 'superuser' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.details.causes[0].field, 'role');
    const other = await admin('PATCH', '/api/v1/users/gina', { password: 'x-password' });
    assert.equal(other.status, 400);
    assert.equal(other.body.details.causes[0].field, 'password');
  });

  void it('deletes users and voids their tokens at once; the last admin can be neither deleted nor demoted', async () => {
    await users.create('hank', 'viewer', 'hank-password');
    const token = tokenOf('hank');
    assert.equal((await withToken(token, 'GET', '/api/v1/whoami')).status, 200);
    const deleted = await admin('DELETE', '/api/v1/users/hank');
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(deleted.body.status, 'Success');
    assert.equal((await withToken(token, 'GET', '/api/v1/whoami')).status, 401, 'the cache entry was dropped');
    assert.equal((await admin('DELETE', '/api/v1/users/hank')).status, 404);

    const last = await admin('DELETE', '/api/v1/users/admin');
    assert.equal(last.status, 409);
    assert.equal(last.body.reason, 'Conflict');
    assert.equal(last.body.message, 'cannot delete user "admin": it is the last admin; create or promote another admin first');
    const demote = await admin('PATCH', '/api/v1/users/admin', { role: 'operator' });
    assert.equal(demote.status, 409);
    assert.match(demote.body.message, /cannot demote user "admin": it is the last admin/);

    // with a second admin, an admin may delete themselves; the remaining one is then the last
    assert.equal((await admin('POST', '/api/v1/users', { name: 'ivy', role: 'admin', password: 'ivy-password' })).status, 201);
    assert.equal((await admin('DELETE', '/api/v1/users/admin')).status, 200);
    assert.equal((await as('ivy', 'DELETE', '/api/v1/users/ivy')).status, 409);
    // restore the admin the other tests use
    await users.create('admin', 'admin', 'admin-password-1');
  });

  void it('mints tokens for users (at most a year), e.g. a viewer token for scraping', async () => {
    await users.create('prom', 'viewer', 'prom-password');
    const minted = await admin('POST', '/api/v1/users/prom/token', { ttlSeconds: 3600 });
    assert.equal(minted.status, 201, minted.text);
    assert.equal(minted.body.username, 'prom');
    assert.equal(minted.body.role, 'viewer');
    const hours = (Date.parse(minted.body.expiresAt) - Date.now()) / 3_600_000;
    assert.ok(hours > 0.9 && hours <= 1.01, String(hours));
    assert.deepEqual((await withToken(minted.body.token, 'GET', '/api/v1/whoami')).body, { username: 'prom', role: 'viewer' });

    const noBody = await server.request('POST', '/api/v1/users/prom/token', { token: tokenOf('admin') });
    assert.equal(noBody.status, 201, 'the body is optional (default lifetime)');

    for (const ttlSeconds of [0, -1, 1.5, MAX_USER_TOKEN_TTL_SECONDS + 1, '3600']) {
      const res = await admin('POST', '/api/v1/users/prom/token', { ttlSeconds });
      assert.equal(res.status, 400, String(ttlSeconds));
      assert.equal(res.body.details.causes[0].field, 'ttlSeconds');
    }
    assert.equal((await admin('POST', '/api/v1/users/ghost/token', { ttlSeconds: 60 })).status, 404);
  });

  void it('answers 405 to other methods and 400 to malformed names', async () => {
    assert.equal((await admin('PUT', '/api/v1/users')).status, 405);
    assert.equal((await admin('POST', '/api/v1/users/admin')).status, 405);
    assert.equal((await admin('GET', '/api/v1/users/admin/password')).status, 405);
    assert.equal((await admin('POST', '/api/v1/whoami')).status, 405);
    const bad = await admin('GET', '/api/v1/users/Not_Valid');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.details.causes[0].field, 'name');
  });
});

void describe('token invalidation to the millisecond', () => {
  let dir: string;
  let store: SqliteStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-user-tokens-'));
    store = SqliteStore.open({ path: join(dir, 'state.db') });
  });
  after(async () => {
    await store?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  void it('refuses a token issued earlier in the same second as a password change, accepts one issued after', async () => {
    const second = Math.floor(Date.now() / 1000) * 1000;
    let now = second + 100;
    const users = new UserRegistry(store, { bcryptCost: FAST_COST, now: () => now });
    const auth = new JwtAuthenticator({ users, secret: randomBytes(48), logger, now: () => now });
    await users.create('jo', 'viewer', 'jo-password-1');
    const request = (token: string) => ({ headers: { authorization: `Bearer ${token}` } }) as Parameters<JwtAuthenticator['authenticate']>[0];

    const early = auth.sign({ username: 'jo', role: 'viewer' }).token;
    assert.deepEqual(await auth.authenticate(request(early)), { username: 'jo', role: 'viewer' });
    now = second + 200;
    await users.setPassword('jo', 'jo-password-2');
    now = second + 300;
    const late = auth.sign({ username: 'jo', role: 'viewer' }).token;
    assert.equal(await auth.authenticate(request(early)), undefined, 'issued at .100, before the change at .200');
    assert.deepEqual(await auth.authenticate(request(late)), { username: 'jo', role: 'viewer' }, 'issued at .300, after it');
  });
});

void describe('UserRegistry under concurrent changes', () => {
  let dir: string;
  let store: SqliteStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-user-cas-'));
    store = SqliteStore.open({ path: join(dir, 'state.db') });
  });
  after(async () => {
    await store?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  void it('loses no update when a password and a role change race', async () => {
    const users = new UserRegistry(store, { bcryptCost: FAST_COST });
    await users.create('kim', 'viewer', 'kim-password-1');
    await Promise.all([users.setPassword('kim', 'kim-password-2'), users.setRole('kim', 'operator')]);
    const kim = (await users.get('kim'))!;
    assert.equal(kim.role, 'operator');
    assert.ok(await users.verify('kim', 'kim-password-2'));
  });

  void it('never removes the last admin, even when two registries (servers) each demote "the other" admin at once', async () => {
    const a = new UserRegistry(store, { bcryptCost: FAST_COST });
    const b = new UserRegistry(store, { bcryptCost: FAST_COST });
    for (let round = 0; round < 5; round++) {
      await a.create(`a${round}`, 'admin', 'admin-password');
      await a.create(`b${round}`, 'admin', 'admin-password');
      const results = await Promise.allSettled([a.setRole(`a${round}`, 'viewer'), b.delete(`b${round}`)]);
      const remaining = (await a.list()).filter((u) => u.role === 'admin');
      assert.ok(remaining.length >= 1, `round ${round}: no admin left`);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof LastAdminError, String(r.reason));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}: exactly one change wins`);
      // start the next round without admins (written directly: the registry would refuse)
      for (const u of remaining) await store.put(`${USERS_PREFIX}${u.name}`, JSON.stringify({ ...u, role: 'viewer' }));
    }
  });
});

// Authentication against a real SQLite store and a real express app over loopback HTTP.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import express, { type Request } from 'express';
import jwt from 'jsonwebtoken';
import { SqliteStore } from '../store/sqlite-store.js';
import {
  JWT_AUDIENCE,
  JWT_ISSUER,
  JwtAuthenticator,
  JWT_SECRET_KEY,
  loadJwtSecret,
  setUpAuth,
  type Auth,
} from './auth.js';
import { InvalidFieldError, UserExistsError, UserRegistry, USERS_PREFIX } from './users.js';
import { capturingLogger } from '../test/harness/logging.js';

const FAST_COST = 10;

/** A logger whose output the test can read. */
async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

function fakeRequest(authorization?: string): Request {
  return { headers: authorization === undefined ? {} : { authorization } } as Request;
}

/** An HS256-style token signed by hand (to build tokens jsonwebtoken would refuse to make). */
function handMadeToken(header: object, payload: object, secret: Buffer | undefined): string {
  const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const signingInput = `${enc(header)}.${enc(payload)}`;
  const sig = secret ? createHmac('sha256', secret).update(signingInput).digest('base64url') : '';
  return `${signingInput}.${sig}`;
}

interface TestApp {
  url: string;
  close(): Promise<void>;
}

/** The auth routes and one protected endpoint, as the API server mounts them. */
async function serve(auth: JwtAuthenticator): Promise<TestApp> {
  const app = express();
  app.use('/api/v1/auth', auth.routes);
  app.get('/whoami', async (req, res) => {
    const principal = await auth.authenticate(req);
    if (!principal) {
      res.status(401).json({ kind: 'Status', code: 401, reason: 'Unauthorized' });
      return;
    }
    res.json(principal);
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function login(url: string, body: unknown, contentType = 'application/json'): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

async function whoami(url: string, token: string | undefined): Promise<number> {
  const res = await fetch(`${url}/whoami`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

void describe('authentication', () => {
  let dir: string;
  let store: SqliteStore;
  let auth: Auth;
  let logs: ReturnType<typeof capturingLogger>;
  let app: TestApp;
  let adminPassword: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-auth-'));
    store = SqliteStore.open({ path: join(dir, 'state.db') });
    logs = capturingLogger();
    auth = await setUpAuth({ store, dataDir: join(dir, 'data'), logger: logs.logger, bcryptCost: FAST_COST });
    adminPassword = (await readFile(auth.adminPasswordPath, 'utf8')).trim();
    app = await serve(auth.authenticator);
  });
  after(async () => {
    await app.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('bootstraps an admin with a random password and a JWT secret in 0600 files, logging only where they are', async () => {
    assert.equal(auth.adminCreated, true);
    assert.equal(auth.adminPasswordPath, join(dir, 'data', 'admin-password'));
    assert.match(adminPassword, /^[A-Za-z0-9_-]{24,}$/);
    assert.equal(await mode(auth.adminPasswordPath), 0o600);
    assert.equal(auth.jwtSecretPath, join(dir, 'data', 'jwt-secret'));
    assert.equal(await mode(auth.jwtSecretPath!), 0o600);
    const secret = (await readFile(auth.jwtSecretPath!, 'utf8')).trim();
    assert.ok(Buffer.byteLength(secret) >= 32);

    const stored = JSON.parse((await store.get(`${USERS_PREFIX}admin`))!.value) as Record<string, unknown>;
    assert.deepEqual(Object.keys(stored).sort(), ['createdAt', 'name', 'passwordHash', 'role']);
    assert.equal(stored.role, 'admin');
    assert.ok(await bcrypt.compare(adminPassword, stored.passwordHash as string));

    const text = logs.text();
    assert.ok(text.includes(auth.adminPasswordPath), 'the log names the password file');
    assert.ok(text.includes(auth.jwtSecretPath!), 'the log names the secret file');
    assert.ok(!text.includes(adminPassword), 'the log never shows the password');
    assert.ok(!text.includes(secret), 'the log never shows the secret');
  });

  void it('logs in with the generated password and accepts the token', async () => {
    const res = await login(app.url, { username: 'admin', password: adminPassword });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.json.username, 'admin');
    assert.equal(res.json.role, 'admin');
    assert.match(res.json.expiresAt as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const hours = (Date.parse(res.json.expiresAt as string) - Date.now()) / 3_600_000;
    assert.ok(hours > 23.9 && hours <= 24, `default lifetime 24 h, got ${hours}`);
    const token = res.json.token as string;
    const claims = jwt.decode(token, { complete: true })!;
    assert.equal(claims.header.alg, 'HS256');
    assert.deepEqual(
      { iss: (claims.payload as jwt.JwtPayload).iss, aud: (claims.payload as jwt.JwtPayload).aud, sub: (claims.payload as jwt.JwtPayload).sub, role: (claims.payload as Record<string, unknown>).role },
      { iss: JWT_ISSUER, aud: JWT_AUDIENCE, sub: 'admin', role: 'admin' },
    );
    assert.equal(await whoami(app.url, token), 200);
    assert.deepEqual(await auth.authenticator.authenticate(fakeRequest(`Bearer ${token}`)), { username: 'admin', role: 'admin' });
  });

  void it('answers a wrong password and an unknown user with the same 401 in about the same time', async () => {
    const timed = async (body: unknown): Promise<{ ms: number; res: Awaited<ReturnType<typeof login>> }> => {
      const t = performance.now();
      const res = await login(app.url, body);
      return { ms: performance.now() - t, res };
    };
    const wrong: Awaited<ReturnType<typeof timed>>[] = [];
    const unknown: Awaited<ReturnType<typeof timed>>[] = [];
    for (let i = 0; i < 3; i++) {
      wrong.push(await timed({ username: 'admin', password: 'not-the-password' }));
      unknown.push(await timed({ username: 'nobody', password: 'not-the-password' }));
    }
    for (const { res } of [...wrong, ...unknown]) {
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.deepEqual(res.json, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'invalid username or password',
        reason: 'Unauthorized',
        code: 401,
      });
    }
    // Both run one bcrypt comparison: the unknown user must not answer markedly faster. The
    // fastest of a few tries is compared, as other work on the machine only ever adds time.
    const fastest = (runs: { ms: number }[]): number => Math.min(...runs.map((r) => r.ms));
    assert.ok(fastest(unknown) > fastest(wrong) * 0.5, `unknown user ${fastest(unknown)} ms vs wrong password ${fastest(wrong)} ms`);
  });

  void it('rate-limits repeated failed logins for a name with 429 and Retry-After, known or unknown alike', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await login(app.url, { username: 'throttled', password: 'not-the-password' })).status, 401);
    const locked = await login(app.url, { username: 'throttled', password: 'not-the-password' });
    assert.equal(locked.status, 429);
    assert.equal(locked.json.reason, 'TooManyRequests');
    const retryAfter = Number(locked.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 15 * 60, `Retry-After ${retryAfter}`);
    assert.equal(locked.headers.get('cache-control'), 'no-store');
    // another name from the same address is not locked by this one
    assert.equal((await login(app.url, { username: 'admin', password: adminPassword })).status, 200);
  });

  void it('answers a bad login body with 400 naming the field', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ password: 'whatever-password' }, 'username', /username is required/],
      [{ username: 'admin' }, 'password', /password is required/],
      [{ username: 'admin', password: 12345678 }, 'password', /password is required \(a string\)/],
      [{ username: 'Admin!', password: 'whatever-password' }, 'username', /username must match/],
      [{ username: 'admin', password: 'x'.repeat(73) }, 'password', /8 to 72 bytes/],
      [{ username: 'admin', password: 'short' }, 'password', /8 to 72 bytes/],
      [['admin', 'pw'], 'body', /JSON object/],
    ];
    for (const [body, field, message] of cases) {
      const res = await login(app.url, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.reason, 'BadRequest');
      assert.match(res.json.message as string, message);
      assert.equal((res.json.details as { causes: { field: string }[] }).causes[0]!.field, field);
    }
    const malformed = await login(app.url, '{"username": "admin", ');
    assert.equal(malformed.status, 400);
    assert.match(malformed.json.message as string, /not valid JSON/);
    const notJson = await login(app.url, 'username=admin&password=x', 'application/x-www-form-urlencoded');
    assert.equal(notJson.status, 400);
    assert.match(notJson.json.message as string, /Content-Type: application\/json/);
    const huge = await login(app.url, { username: 'admin', password: 'p'.repeat(20_000) });
    assert.equal(huge.status, 413);
    const get = await fetch(`${app.url}/api/v1/auth/login`);
    assert.equal(get.status, 405);
    assert.equal(((await get.json()) as { reason: string }).reason, 'MethodNotAllowed');
  });

  void it('rejects missing, malformed, tampered, none-alg, wrong-secret, wrong-algorithm, public-key-HMAC, expired, not-yet-valid and wrong-audience tokens', async () => {
    const { token } = auth.authenticator.sign({ username: 'admin', role: 'admin' });
    const secret = Buffer.from((await readFile(auth.jwtSecretPath!, 'utf8')).trim());
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'admin', role: 'admin', iss: JWT_ISSUER, aud: JWT_AUDIENCE, iat: now, exp: now + 3600 };
    const [h, p, s] = token.split('.') as [string, string, string];
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    const tamperedPayload = Buffer.from(JSON.stringify({ ...claims, sub: 'admin', role: 'admin', exp: now + 999_999 })).toString('base64url');
    const bad: [string, string | undefined][] = [
      ['no header', undefined],
      ['not bearer', `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}`],
      ['garbage', 'Bearer not-a-token'],
      ['tampered payload', `Bearer ${h}.${tamperedPayload}.${s}`],
      ['tampered signature', `Bearer ${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`],
      ['alg none', `Bearer ${handMadeToken({ alg: 'none', typ: 'JWT' }, claims, undefined)}`],
      ['wrong secret', `Bearer ${jwt.sign(claims, 'another-secret-that-is-long-enough-0123456789', { algorithm: 'HS256' })}`],
      ['HS512 with the right secret', `Bearer ${jwt.sign(claims, secret, { algorithm: 'HS512' })}`],
      ['wrong audience', `Bearer ${jwt.sign({ ...claims, aud: 'someone-else' }, secret, { algorithm: 'HS256' })}`],
      ['wrong issuer', `Bearer ${jwt.sign({ ...claims, iss: 'someone-else' }, secret, { algorithm: 'HS256' })}`],
      ['unknown user', `Bearer ${jwt.sign({ ...claims, sub: 'ghost' }, secret, { algorithm: 'HS256' })}`],
      ['HS256 keyed with a public key (algorithm confusion)', `Bearer ${handMadeToken({ alg: 'HS256', typ: 'JWT' }, claims, Buffer.from(rsa.publicKey))}`],
      ['RS256 signed with a private key', `Bearer ${jwt.sign(claims, rsa.privateKey, { algorithm: 'RS256' })}`],
      ['expired', `Bearer ${jwt.sign({ ...claims, iat: now - 7200, exp: now - 3600 }, secret, { algorithm: 'HS256' })}`],
      ['not yet valid (nbf)', `Bearer ${jwt.sign({ ...claims, nbf: now + 3600 }, secret, { algorithm: 'HS256' })}`],
      ['no expiry', `Bearer ${handMadeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'admin', role: 'admin', iss: JWT_ISSUER, aud: JWT_AUDIENCE, iat: now }, secret)}`],
    ];
    // the hand-made HS256 token with the real secret is accepted, so the rejections above are meaningful
    assert.ok(await auth.authenticator.authenticate(fakeRequest(`Bearer ${handMadeToken({ alg: 'HS256', typ: 'JWT' }, claims, secret)}`)));
    for (const [what, header] of bad) {
      assert.equal(await auth.authenticator.authenticate(fakeRequest(header)), undefined, what);
    }
    assert.equal(await whoami(app.url, undefined), 401);
    assert.equal(await whoami(app.url, `${h}.${tamperedPayload}.${s}`), 401);
  });

  void it('rejects an expired token, and the token of a deleted or re-created user', async () => {
    const users = new UserRegistry(store, { bcryptCost: FAST_COST });
    const secret = Buffer.from((await readFile(auth.jwtSecretPath!, 'utf8')).trim());
    let now = Date.now();
    const clocked = new JwtAuthenticator({ users, secret, logger: logs.logger, tokenTtlSeconds: 60, now: () => now });
    await users.create('alice', 'viewer', 'alice-password');
    now = Date.now(); // after the creation: a token issued before the user existed is refused (to the second)
    const { token } = clocked.sign({ username: 'alice', role: 'viewer' });
    assert.deepEqual(await clocked.authenticate(fakeRequest(`Bearer ${token}`)), { username: 'alice', role: 'viewer' });
    now += 61_000;
    assert.equal(await clocked.authenticate(fakeRequest(`Bearer ${token}`)), undefined, 'expired');

    now = Date.now();
    const fresh = clocked.sign({ username: 'alice', role: 'viewer' }, 3600).token;
    await store.delete(`${USERS_PREFIX}alice`);
    now += 6000; // past the user cache
    assert.equal(await clocked.authenticate(fakeRequest(`Bearer ${fresh}`)), undefined, 'deleted user');
    // re-created later under the same name: tokens issued before belong to the old user
    const later = new UserRegistry(store, { bcryptCost: FAST_COST, now: () => Date.now() + 10_000 });
    await later.create('alice', 'admin', 'alice-password-2');
    now += 6000;
    assert.equal(await clocked.authenticate(fakeRequest(`Bearer ${fresh}`)), undefined, 're-created user');
  });

  void it('mints tokens with a chosen lifetime for existing users only', async () => {
    const minted = await auth.authenticator.mintToken('admin', 7 * 24 * 3600);
    const days = (Date.parse(minted.expiresAt) - Date.now()) / 86_400_000;
    assert.ok(days > 6.99 && days <= 7, `${days}`);
    assert.equal(await whoami(app.url, minted.token), 200);
    await assert.rejects(auth.authenticator.mintToken('ghost'), /user "ghost" does not exist/);
  });

  void it('reuses the secret and the admin on restart; tokens stay valid', async () => {
    const before = await readFile(auth.jwtSecretPath!, 'utf8');
    const { token } = auth.authenticator.sign({ username: 'admin', role: 'admin' });
    const restarted = await setUpAuth({ store, dataDir: join(dir, 'data'), logger: logs.logger, bcryptCost: FAST_COST });
    assert.equal(restarted.adminCreated, false);
    assert.equal(await readFile(auth.jwtSecretPath!, 'utf8'), before);
    assert.equal((await readFile(auth.adminPasswordPath, 'utf8')).trim(), adminPassword);
    assert.deepEqual(await restarted.authenticator.authenticate(fakeRequest(`Bearer ${token}`)), { username: 'admin', role: 'admin' });
  });
});

void describe('JWT secret', () => {
  const { logger } = capturingLogger();
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-secret-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('refuses a JWT_SECRET shorter than 32 bytes, naming it', async () => {
    await assert.rejects(loadJwtSecret({ dataDir: dir, jwtSecret: 'too-short', logger }), (err: unknown) => {
      assert.ok(err instanceof InvalidFieldError);
      assert.equal(err.field, 'JWT_SECRET');
      assert.match(err.message, /JWT_SECRET must be at least 32 bytes \(got 9\)/);
      return true;
    });
  });

  void it('uses a long enough JWT_SECRET as is and writes no secret file', async () => {
    const given = 'x'.repeat(32);
    const { secret, path } = await loadJwtSecret({ dataDir: dir, jwtSecret: given, logger });
    assert.equal(secret.toString(), given);
    assert.equal(path, undefined);
    await assert.rejects(stat(join(dir, 'jwt-secret')), { code: 'ENOENT' });
  });

  void it('creates the secret file once even when several starts race', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => loadJwtSecret({ dataDir: dir, logger })));
    const secrets = new Set(results.map((r) => r.secret.toString('hex')));
    assert.equal(secrets.size, 1);
    assert.equal(await mode(join(dir, 'jwt-secret')), 0o600);
  });
});

void describe('admin bootstrap race', () => {
  let dir: string;
  let store: SqliteStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-race-'));
    store = SqliteStore.open({ path: join(dir, 'state.db') });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('creates exactly one admin when several servers start at once on one store', async () => {
    const { logger } = capturingLogger();
    const starts = await Promise.all(
      Array.from({ length: 4 }, (_v, i) => setUpAuth({ store, dataDir: join(dir, `server-${i}`), logger, bcryptCost: FAST_COST })),
    );
    const winners = starts.filter((s) => s.adminCreated);
    assert.equal(winners.length, 1);
    const files = await Promise.all(starts.map((s) => readFile(s.adminPasswordPath, 'utf8').catch(() => undefined)));
    assert.equal(files.filter((f) => f !== undefined).length, 1, 'only the winner writes a password file');
    const password = (await readFile(winners[0]!.adminPasswordPath, 'utf8')).trim();
    // the stored admin is the winner's: every server accepts its password
    for (const s of starts) assert.ok(await s.users.verify('admin', password));
    assert.equal((await store.list(USERS_PREFIX)).items.length, 1);
  });
});

void describe('users', () => {
  let dir: string;
  let store: SqliteStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-users-'));
    store = SqliteStore.open({ path: join(dir, 'state.db') });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('hashes with bcrypt cost 12 by default, and a check takes a noticeable time', async () => {
    const users = new UserRegistry(store);
    const record = await users.create('carol', 'operator', 'carol-password');
    assert.match(record.passwordHash, /^\$2[aby]\$12\$/);
    const t = performance.now();
    assert.ok(await users.verify('carol', 'carol-password'));
    const ms = performance.now() - t;
    assert.ok(ms > 50, `a cost-12 check took only ${ms} ms`);
    assert.equal(await users.verify('carol', 'wrong-password'), undefined);
    assert.throws(() => new UserRegistry(store, { bcryptCost: 8 }), /from 10 to 31/);
  });

  void it('validates names, roles and password length in bytes, and never overwrites a user', async () => {
    const users = new UserRegistry(store, { bcryptCost: FAST_COST });
    await assert.rejects(users.create('dave', 'viewer', 'seven77'), (e: unknown) => e instanceof InvalidFieldError && e.field === 'password');
    // 24 three-byte characters: 72 bytes is the most bcrypt reads
    await users.create('dave', 'viewer', '€'.repeat(24));
    await assert.rejects(users.create('erin', 'viewer', '€'.repeat(25)), /8 to 72 bytes/);
    await assert.rejects(users.create('dave', 'admin', 'another-password'), UserExistsError);
    assert.equal((await users.get('dave'))!.role, 'viewer');
    await assert.rejects(users.create('Bad/Name', 'viewer', 'password-ok'), /username must match/);
    await assert.rejects(users.create('frank', 'root' as 'admin', 'password-ok'), /role must be one of admin, operator, viewer/);
  });
});

void describe('JWT secret shared through the store', () => {
  let dir: string;
  let store: SqliteStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-shared-secret-'));
    store = SqliteStore.open({ path: join(dir, 'state.db') });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('creates one secret in the store when several servers start at once, and writes no file', async () => {
    const { logger } = capturingLogger();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => loadJwtSecret({ dataDir: join(dir, `server-${i}`), logger, store })),
    );
    assert.equal(new Set(results.map((r) => r.secret.toString('hex'))).size, 1);
    assert.ok(results.every((r) => r.path === undefined));
    const kv = await store.get(JWT_SECRET_KEY);
    assert.equal(kv?.value, results[0]!.secret.toString('utf8'));
    assert.ok(results[0]!.secret.length >= 32);
    await assert.rejects(stat(join(dir, 'server-0', 'jwt-secret')), { code: 'ENOENT' });
    // a later start reads the same secret
    const again = await loadJwtSecret({ dataDir: join(dir, 'server-9'), logger, store });
    assert.deepEqual(again.secret, results[0]!.secret);
  });

  void it('refuses a stored secret that is too short, naming the key', async () => {
    const { logger } = capturingLogger();
    await store.put(JWT_SECRET_KEY, 'short');
    await assert.rejects(loadJwtSecret({ dataDir: dir, logger, store }), new RegExp(JWT_SECRET_KEY));
    await store.delete(JWT_SECRET_KEY);
  });

  void it('prefers JWT_SECRET over the store', async () => {
    const { logger } = capturingLogger();
    const jwtSecret = 'x'.repeat(40);
    assert.equal((await loadJwtSecret({ dataDir: dir, logger, store, jwtSecret })).secret.toString(), jwtSecret);
  });
});

// Authentication: password login that issues JWTs (HS256), bearer-token checks, and the first-start
// bootstrap of the admin user and the JWT secret. Implements the Authenticator of authn.ts.
//
// Token revocation: a token is refused when it was issued before its user's createdAt (an earlier
// user of that name) or before the user's last password or role change (UserRecord.updatedAt and
// passwordChangedAt, stamped in ms). `iat` counts whole seconds, so a token issued in the same
// second as a change could be from before or after it; tokens therefore also carry `iat_ms`, the
// issue time in ms, and are compared to the change to the millisecond: a token minted right after
// a change (e.g. the login that follows a password change) works at once, one minted before it is
// void. A login's issue time is taken BEFORE its password check, so a login that checked the old
// password and signed after the change is void too. A token without `iat_ms` counts as issued at
// the start of its second (so one from the same second as a change is refused).
// Servers cache user records for USER_CACHE_TTL_MS: a change made through this process's
// UserRegistry drops its entry at once; other servers sharing the store notice within 5 s.
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import jwt from 'jsonwebtoken';
import type { Logger } from 'winston';
import type { Status, StatusReason } from '../api/meta.js';
import { ConflictError, StoreUnavailableError, type Store } from '../store/store.js';
import { ATTEMPTED_USERNAME } from './audit-middleware.js';
import type { Authenticator, Principal } from './authn.js';
import { LoginThrottle } from './login-throttle.js';
import { createSecretFile, readSecretFile, writeSecretFile } from './secret-file.js';
import { failureStatus } from './status.js';
import {
  credentialsChangedAtMs,
  InvalidFieldError,
  UserExistsError,
  UserRegistry,
  validatePassword,
  validateUsername,
  type UserRecord,
} from './users.js';

export const JWT_ISSUER = 'openscheduler';
export const JWT_AUDIENCE = 'openscheduler-api';
const JWT_ALGORITHM = 'HS256';
/** Default token lifetime: 24 hours. */
export const DEFAULT_TOKEN_TTL_SECONDS = 24 * 60 * 60;
/** HS256 needs a key of at least the hash size. */
export const MIN_JWT_SECRET_BYTES = 32;
export const JWT_SECRET_FILE = 'jwt-secret';
export const ADMIN_PASSWORD_FILE = 'admin-password';
export const ADMIN_USERNAME = 'admin';
/**
 * How long authenticate() trusts a user lookup: a user deleted or changed through another server
 * sharing the store loses access (or old tokens) within this time.
 */
export const USER_CACHE_TTL_MS = 5000;
/** The private claim holding the issue time in ms (see the header). */
const ISSUED_AT_MS_CLAIM = 'iat_ms';
const USER_CACHE_MAX = 1000;
const LOGIN_BODY_LIMIT = '16kb';

/** A signed token and when it expires. */
export interface IssuedToken {
  readonly token: string;
  /** RFC 3339, no fractional seconds. */
  readonly expiresAt: string;
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function status(code: number, reason: StatusReason, message: string, field?: string): Status {
  return failureStatus(
    code,
    reason,
    message,
    field === undefined ? undefined : { causes: [{ reason: 'FieldValueInvalid', message, field }] },
  );
}

export interface JwtAuthenticatorOptions {
  readonly users: UserRegistry;
  /** The HMAC key, at least MIN_JWT_SECRET_BYTES bytes. */
  readonly secret: Buffer;
  /** Lifetime of tokens issued by login; default DEFAULT_TOKEN_TTL_SECONDS. */
  readonly tokenTtlSeconds?: number;
  readonly logger: Logger;
  /** Wall clock in ms since the epoch (tests move it). */
  readonly now?: () => number;
  /** Failed-login limits; default: 5 per user name and 20 per address in 15 minutes. */
  readonly loginThrottle?: LoginThrottle;
}

interface CachedUser {
  readonly user: UserRecord | undefined;
  readonly until: number;
}

/** The outcome of checking a user's current password (see verifyCurrentPassword). */
export type PasswordCheck = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds?: number };

/** When a token was issued, in ms: its iat_ms claim when consistent with iat, else the start of its iat second. */
function issuedAtMs(claims: jwt.JwtPayload): number {
  const iat = claims.iat!;
  const ms: unknown = claims[ISSUED_AT_MS_CLAIM];
  if (typeof ms === 'number' && Number.isFinite(ms) && Math.floor(ms / 1000) === iat) return ms;
  return iat * 1000;
}

/** Issues and checks HS256 JWTs (iss openscheduler, aud openscheduler-api, sub = user name, role claim). */
export class JwtAuthenticator implements Authenticator {
  readonly routes: Router;
  private readonly users: UserRegistry;
  /** The HMAC key as a KeyObject: with a raw Buffer jsonwebtoken first tries (and fails) to parse it as a public key on every verify. */
  private readonly secret: KeyObject;
  private readonly ttlSeconds: number;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly throttle: LoginThrottle;
  private readonly cache = new Map<string, CachedUser>();
  /** Bumped whenever an entry is dropped, so that a lookup begun before cannot re-cache a stale record. */
  private cacheEpoch = 0;

  constructor(options: JwtAuthenticatorOptions) {
    if (options.secret.length < MIN_JWT_SECRET_BYTES) {
      throw new RangeError(`JWT secret must be at least ${MIN_JWT_SECRET_BYTES} bytes`);
    }
    const ttl = options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
    if (!Number.isInteger(ttl) || ttl <= 0) throw new RangeError(`token lifetime must be a positive number of seconds`);
    this.users = options.users;
    this.secret = createSecretKey(options.secret);
    this.ttlSeconds = ttl;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.throttle = options.loginThrottle ?? new LoginThrottle({ now: this.now });
    this.users.onChange((name) => this.forgetUser(name));
    this.routes = this.buildRoutes();
  }

  /**
   * Signs a token for a principal, valid for `ttlSeconds` (default: the configured lifetime) from
   * `issuedAt` (ms; default now). Pass the time the user's credentials were checked as `issuedAt`.
   */
  sign(principal: Principal, ttlSeconds = this.ttlSeconds, issuedAt = this.now()): IssuedToken {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) throw new RangeError('token lifetime must be a positive number of seconds');
    const iat = Math.floor(issuedAt / 1000);
    const exp = iat + ttlSeconds;
    const token = jwt.sign({ role: principal.role, iat, exp, [ISSUED_AT_MS_CLAIM]: Math.floor(issuedAt) }, this.secret, {
      algorithm: JWT_ALGORITHM,
      issuer: JWT_ISSUER,
      audience: JWT_AUDIENCE,
      subject: principal.username,
    });
    return { token, expiresAt: rfc3339(exp * 1000) };
  }

  /** Mints a token for an existing user (e.g. for the config files `dev` writes). Throws if the user is unknown. */
  async mintToken(username: string, ttlSeconds = this.ttlSeconds): Promise<IssuedToken> {
    const readAt = this.now();
    const user = await this.users.get(username);
    if (!user) throw new Error(`cannot mint a token: user "${username}" does not exist`);
    return this.sign({ username: user.name, role: user.role }, ttlSeconds, readAt);
  }

  /**
   * Checks that `password` is `username`'s current one (e.g. before a user changes their own
   * password). Failures count towards the login throttle of the name and address, and a throttled
   * check fails with retryAfterSeconds without looking at the password.
   */
  async verifyCurrentPassword(username: string, password: string, address: string): Promise<PasswordCheck> {
    const wait = this.throttle.retryAfterSeconds(username, address);
    if (wait > 0) return { ok: false, retryAfterSeconds: wait };
    const user = await this.users.verify(username, password);
    if (!user) {
      this.throttle.recordFailure(username, address);
      this.logger.info('current password check failed', { username, address });
      return { ok: false };
    }
    this.throttle.recordSuccess(username);
    return { ok: true };
  }

  /** Drops the cached record of a user (called when the user changes in this process). */
  forgetUser(username: string): void {
    this.cacheEpoch++;
    this.cache.delete(username);
  }

  /**
   * The principal of a valid, unexpired token whose user still exists (and was created before the
   * token was issued); undefined otherwise. Store errors propagate (the API answers 503).
   */
  async authenticate(req: Request): Promise<Principal | undefined> {
    const header = req.headers.authorization;
    if (typeof header !== 'string') return undefined;
    const match = /^Bearer +([A-Za-z0-9_.-]+=*) *$/i.exec(header);
    if (!match) return undefined;
    let claims: jwt.JwtPayload;
    try {
      const decoded = jwt.verify(match[1]!, this.secret, {
        algorithms: [JWT_ALGORITHM],
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
        clockTimestamp: Math.floor(this.now() / 1000),
      });
      if (typeof decoded === 'string') return undefined;
      claims = decoded;
    } catch {
      return undefined;
    }
    if (typeof claims.sub !== 'string' || typeof claims.iat !== 'number' || typeof claims.exp !== 'number') return undefined;
    const user = await this.lookup(claims.sub);
    if (!user) return undefined;
    // A token from before the user was (re)created belongs to an earlier user of that name.
    if (claims.iat < Math.floor(Date.parse(user.createdAt) / 1000)) return undefined;
    // A password or role change voids the tokens issued before it (see the header).
    const changedAt = credentialsChangedAtMs(user);
    if (changedAt !== undefined && issuedAtMs(claims) < changedAt) return undefined;
    return { username: user.name, role: user.role };
  }

  private async lookup(name: string): Promise<UserRecord | undefined> {
    const t = this.now();
    const hit = this.cache.get(name);
    if (hit && hit.until > t) return hit.user;
    const epoch = this.cacheEpoch;
    const user = await this.users.get(name);
    if (epoch !== this.cacheEpoch) return user;
    if (this.cache.size >= USER_CACHE_MAX) this.cache.clear();
    this.cache.set(name, { user, until: t + USER_CACHE_TTL_MS });
    return user;
  }

  private buildRoutes(): Router {
    const router = express.Router();
    router.use((_req, res, next) => {
      res.set('Cache-Control', 'no-store');
      next();
    });
    router.post('/login', express.json({ limit: LOGIN_BODY_LIMIT, strict: true }), async (req, res) => {
      const body: unknown = req.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new InvalidFieldError('body', 'request body must be a JSON object {"username": ..., "password": ...} sent with Content-Type: application/json');
      }
      const { username, password } = body as Record<string, unknown>;
      validateUsername(username);
      res.locals[ATTEMPTED_USERNAME] = username; // the audit record's user (never the password)
      validatePassword(password);
      const address = req.socket.remoteAddress ?? 'unknown';
      const wait = this.throttle.retryAfterSeconds(username, address);
      if (wait > 0) {
        this.logger.warn('login refused: too many failed attempts', { username, address, retryAfterSeconds: wait });
        res.set('Retry-After', String(wait));
        res.status(429).json(status(429, 'TooManyRequests', `too many failed logins; try again in ${wait} s`));
        return;
      }
      const checkedAt = this.now();
      const user = await this.users.verify(username, password);
      if (!user) {
        this.throttle.recordFailure(username, address);
        this.logger.info('login failed', { username, address });
        res.status(401).json(status(401, 'Unauthorized', 'invalid username or password'));
        return;
      }
      this.throttle.recordSuccess(username);
      const issued = this.sign({ username: user.name, role: user.role }, this.ttlSeconds, checkedAt);
      this.logger.info('login', { username: user.name });
      res.status(200).json({ token: issued.token, expiresAt: issued.expiresAt, username: user.name, role: user.role });
    });
    router.all('/login', (req, res) => {
      res.set('Allow', 'POST');
      res.status(405).json(status(405, 'MethodNotAllowed', `${req.method} is not allowed on /api/v1/auth/login; use POST`));
    });
    router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
      if (res.headersSent) {
        next(err);
        return;
      }
      const [code, body] = this.errorStatus(err);
      res.status(code).json(body);
    });
    return router;
  }

  private errorStatus(err: unknown): [number, Status] {
    if (err instanceof InvalidFieldError) return [400, status(400, 'BadRequest', err.message, err.field)];
    if (err instanceof StoreUnavailableError) return [503, status(503, 'ServiceUnavailable', 'the store is unavailable; try again')];
    const parserType = (err as { type?: unknown } | null)?.type;
    if (typeof parserType === 'string') {
      // body-parser errors carry a type and a 4xx status
      if (parserType === 'entity.too.large') {
        return [413, status(413, 'RequestEntityTooLarge', `request body exceeds ${LOGIN_BODY_LIMIT}`)];
      }
      if (parserType === 'entity.parse.failed') {
        return [400, status(400, 'BadRequest', `request body is not valid JSON: ${(err as Error).message}`, 'body')];
      }
      const code = (err as { status?: unknown }).status;
      if (typeof code === 'number' && code >= 400 && code < 500) {
        return [code, status(code, code === 415 ? 'UnsupportedMediaType' : 'BadRequest', (err as Error).message)];
      }
    }
    this.logger.error('login failed with an internal error', { error: err instanceof Error ? err.message : String(err) });
    return [500, status(500, 'InternalError', 'internal error')];
  }
}

/** Where servers sharing one store (etcd) keep the generated JWT secret. */
export const JWT_SECRET_KEY = '/registry/secrets/jwt-secret';

/**
 * Resolves the JWT secret: the given one (JWT_SECRET); else, with `store` (several servers on one
 * etcd), the secret kept in the store under JWT_SECRET_KEY, created once by whichever server comes
 * first; else `<dataDir>/jwt-secret` (mode 0600), created once.
 */
export async function loadJwtSecret(options: {
  readonly dataDir: string;
  readonly jwtSecret?: string;
  readonly logger: Logger;
  /** Share a generated secret through this store instead of a file in the data dir. */
  readonly store?: Store;
}): Promise<{ secret: Buffer; path?: string }> {
  if (options.jwtSecret !== undefined) {
    const secret = Buffer.from(options.jwtSecret, 'utf8');
    if (secret.length < MIN_JWT_SECRET_BYTES) {
      throw new InvalidFieldError(
        'JWT_SECRET',
        `JWT_SECRET must be at least ${MIN_JWT_SECRET_BYTES} bytes (got ${secret.length}); generate one with: openssl rand -base64 48`,
      );
    }
    options.logger.info('using the JWT secret from JWT_SECRET');
    return { secret };
  }
  if (options.store !== undefined) return { secret: await sharedJwtSecret(options.store, options.logger) };
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const path = join(options.dataDir, JWT_SECRET_FILE);
  if (await createSecretFile(path, randomBytes(48).toString('base64url') + '\n')) {
    options.logger.info('generated a JWT secret', { path });
  }
  const file = await readSecretFile(path);
  if (!file) throw new Error(`JWT secret file ${path} vanished while starting`);
  const secret = Buffer.from(file.data.trim(), 'utf8');
  if (secret.length < MIN_JWT_SECRET_BYTES) {
    throw new Error(`JWT secret file ${path} holds fewer than ${MIN_JWT_SECRET_BYTES} bytes; delete it to generate a new secret`);
  }
  if (file.mode & 0o077) {
    options.logger.warn('JWT secret file is readable by others; it should have mode 0600', { path, mode: file.mode.toString(8) });
  }
  options.logger.info('JWT secret loaded', { path });
  return { secret, path };
}

/** The secret under JWT_SECRET_KEY; the first server to start creates it (ifAbsent), the others read it. */
async function sharedJwtSecret(store: Store, logger: Logger): Promise<Buffer> {
  const read = async (): Promise<Buffer | undefined> => {
    const kv = await store.get(JWT_SECRET_KEY);
    if (kv === undefined) return undefined;
    const secret = Buffer.from(kv.value.trim(), 'utf8');
    if (secret.length < MIN_JWT_SECRET_BYTES) {
      throw new Error(`the JWT secret in the store (${JWT_SECRET_KEY}) holds fewer than ${MIN_JWT_SECRET_BYTES} bytes; delete the key to generate a new one`);
    }
    return secret;
  };
  const existing = await read();
  if (existing !== undefined) {
    logger.info('JWT secret loaded from the store', { key: JWT_SECRET_KEY });
    return existing;
  }
  const generated = randomBytes(48).toString('base64url');
  try {
    await store.put(JWT_SECRET_KEY, generated, { ifAbsent: true });
    logger.info('generated a JWT secret and stored it for every server on this store', { key: JWT_SECRET_KEY });
    return Buffer.from(generated, 'utf8');
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    const raced = await read(); // another server created it first
    if (raced === undefined) throw new Error(`the JWT secret key ${JWT_SECRET_KEY} was created and deleted while starting`, { cause: err });
    return raced;
  }
}

/**
 * Creates the `admin` user with a random password unless an admin user exists. Several servers
 * sharing one store may race: exactly one creates it and only that one writes the password to
 * `<dataDir>/admin-password` (mode 0600). Returns whether this call created the user.
 */
export async function bootstrapAdmin(options: {
  readonly users: UserRegistry;
  readonly dataDir: string;
  readonly logger: Logger;
}): Promise<{ created: boolean; passwordPath: string }> {
  const { users, logger } = options;
  const passwordPath = join(options.dataDir, ADMIN_PASSWORD_FILE);
  const admins = (await users.list()).filter((u) => u.role === 'admin');
  if (admins.length > 0) {
    logger.info('admin user exists', { users: admins.map((u) => u.name), initialPasswordFile: passwordPath });
    return { created: false, passwordPath };
  }
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const password = randomBytes(24).toString('base64url'); // 32 characters
  // The password is on disk before the user exists, so a crash in between cannot lose it.
  const pendingPath = `${passwordPath}.pending-${randomBytes(6).toString('hex')}`;
  await writeSecretFile(pendingPath, password + '\n');
  try {
    await users.create(ADMIN_USERNAME, 'admin', password);
  } catch (err) {
    await unlink(pendingPath).catch(() => undefined);
    if (err instanceof UserExistsError) {
      logger.info('admin user was created by another server', { initialPasswordFile: passwordPath });
      return { created: false, passwordPath };
    }
    throw err;
  }
  await rename(pendingPath, passwordPath);
  logger.info('created user "admin"; its password is in the file named here', { passwordFile: passwordPath });
  return { created: true, passwordPath };
}

export interface AuthOptions {
  readonly store: Store;
  readonly dataDir: string;
  readonly logger: Logger;
  /** JWT_SECRET from the environment (the composition root passes it); else a generated file. */
  readonly jwtSecret?: string;
  readonly tokenTtlSeconds?: number;
  readonly bcryptCost?: number;
  readonly now?: () => number;
  /** Keep a generated JWT secret in the store (servers sharing one etcd) rather than in the data dir. */
  readonly shareSecretThroughStore?: boolean;
}

export interface Auth {
  readonly authenticator: JwtAuthenticator;
  readonly users: UserRegistry;
  readonly adminPasswordPath: string;
  readonly adminCreated: boolean;
  /** Where the JWT secret is kept; undefined when it came from JWT_SECRET. */
  readonly jwtSecretPath?: string;
}

/** Loads the JWT secret, bootstraps the admin user and returns a ready authenticator. */
export async function setUpAuth(options: AuthOptions): Promise<Auth> {
  const { secret, path } = await loadJwtSecret({
    dataDir: options.dataDir,
    jwtSecret: options.jwtSecret,
    logger: options.logger,
    store: options.shareSecretThroughStore === true ? options.store : undefined,
  });
  const users = new UserRegistry(options.store, { bcryptCost: options.bcryptCost, now: options.now });
  const admin = await bootstrapAdmin({ users, dataDir: options.dataDir, logger: options.logger });
  await users.prepare();
  const authenticator = new JwtAuthenticator({
    users,
    secret,
    tokenTtlSeconds: options.tokenTtlSeconds,
    logger: options.logger,
    now: options.now,
  });
  return {
    authenticator,
    users,
    adminPasswordPath: admin.passwordPath,
    adminCreated: admin.created,
    jwtSecretPath: path,
  };
}

// REST routes of users (mounted behind authentication and authorization; the policy table of
// authorization.ts decides who may call which: admins all of them, every user GET of their own
// record and PUT of their own password, and everyone /api/v1/whoami):
//   GET    /api/v1/users                    -> {kind: UserList, items} (never password hashes)
//   POST   /api/v1/users {name, role, password}            -> 201 User | 409 AlreadyExists
//   GET    /api/v1/users/{name}             -> User | 404
//   PATCH  /api/v1/users/{name} {role}      -> User (updatedAt stamped; 409 when it would demote the last admin)
//   DELETE /api/v1/users/{name}             -> Status Success (409 for the last admin)
//   PUT    /api/v1/users/{name}/password {password, currentPassword?} -> User
//          Changing one's OWN password needs currentPassword (wrong: 403; its failures count
//          towards the login throttle, 429 when throttled). An admin setting another user's
//          password gives the new one only (a currentPassword is then ignored).
//   POST   /api/v1/users/{name}/token {ttlSeconds?}        -> 201 {token, expiresAt, username, role}
//          (default: the login token lifetime; at most MAX_USER_TOKEN_TTL_SECONDS)
//   GET    /api/v1/whoami                   -> {username, role}
// A password change, role change or delete voids the user's earlier tokens (auth.ts). Bodies are
// JSON (PATCH also takes application/merge-patch+json) with no unknown fields; errors are Status
// objects naming the field. Every answer carries `Cache-Control: no-store`.
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Status } from '../api/meta.js';
import type { IssuedToken, PasswordCheck } from './auth.js';
import { principalOf } from './authn.js';
import { hasBody, readObjectBody, requestMediaType } from './request-body.js';
import { alreadyExists, ApiError, badField, failureStatus, methodNotAllowed, notFound, unsupportedMediaType, type ResourceRef } from './status.js';
import {
  InvalidFieldError,
  LastAdminError,
  UserChangeBusyError,
  UserExistsError,
  UserNotFoundError,
  validatePassword,
  validateRole,
  validateUsername,
  type UserRecord,
  type UserRegistry,
} from './users.js';

export const USERS_PATH = '/api/v1/users';
export const WHOAMI_PATH = '/api/v1/whoami';
export const USER_RESOURCE: ResourceRef = { group: '', plural: 'users', kind: 'User' };
/** Longest lifetime of a token minted for a user (e.g. a viewer token for Prometheus): one year. */
export const MAX_USER_TOKEN_TTL_SECONDS = 365 * 24 * 60 * 60;
const BODY_LIMIT_BYTES = 16 * 1024;
const MERGE_PATCH = 'application/merge-patch+json';

/** What the routes need of the authenticator (auth.ts JwtAuthenticator provides it). */
export interface UserTokens {
  /** A token for an existing user, valid for `ttlSeconds`. */
  mintToken(username: string, ttlSeconds?: number): Promise<IssuedToken>;
  /** Checks a user's current password, throttled like logins. */
  verifyCurrentPassword(username: string, password: string, address: string): Promise<PasswordCheck>;
}

export interface UserRoutesDeps {
  readonly users: UserRegistry;
  readonly tokens: UserTokens;
}

/** A user as the API shows it: never the password hash. */
export interface UserView {
  readonly name: string;
  readonly role: string;
  readonly createdAt: string;
  readonly passwordChangedAt?: string;
  readonly updatedAt?: string;
}

export function userView(record: UserRecord): UserView {
  const { passwordHash: _hash, ...view } = record;
  return view;
}

/** The JSON object body with only `fields`; with `optional`, an absent body is `{}`. */
async function jsonBody(
  req: Request,
  fields: readonly string[],
  options: { mediaTypes?: readonly string[]; optional?: boolean } = {},
): Promise<Record<string, unknown>> {
  if (options.optional === true && !hasBody(req)) return {};
  const mediaTypes = options.mediaTypes ?? ['application/json'];
  const mediaType = requestMediaType(req) ?? 'application/json';
  if (!mediaTypes.includes(mediaType)) {
    throw unsupportedMediaType(`the body must be ${mediaTypes.join(' or ')}, not ${mediaType}`);
  }
  const body = await readObjectBody(req, 'json', BODY_LIMIT_BYTES);
  for (const key of Object.keys(body)) {
    if (!fields.includes(key)) {
      throw badField(key, `unknown field "${key}": expected ${fields.join(', ')}`, 'FieldValueNotSupported');
    }
  }
  return body;
}

/** Maps the registry's errors to Status errors; anything else passes unchanged. */
function apiErrorOf(err: unknown, name: string): unknown {
  if (err instanceof InvalidFieldError) return badField(err.field, err.message);
  if (err instanceof UserExistsError) return alreadyExists(USER_RESOURCE, err.username);
  if (err instanceof UserNotFoundError) return notFound(USER_RESOURCE, err.username);
  if (err instanceof LastAdminError || err instanceof UserChangeBusyError) {
    return new ApiError(failureStatus(409, 'Conflict', err.message, { name, group: '', kind: USER_RESOURCE.plural }));
  }
  return err;
}

type Handler = (req: Request, res: Response, name: string) => Promise<void>;

/** Runs a handler for /users/:name[...] with the name validated and registry errors mapped. */
function named(handler: Handler) {
  return async (req: Request, res: Response): Promise<void> => {
    const name = String(req.params.name);
    try {
      validateUsername(name, 'name');
      await handler(req, res, name);
    } catch (err) {
      throw apiErrorOf(err, name);
    }
  };
}

function successStatus(name: string): Status & { details: { name: string; group: string; kind: string } } {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200, details: { name, group: '', kind: USER_RESOURCE.plural } };
}

/** The user routes, relative to the app root. */
export function userRoutes(deps: UserRoutesDeps): Router {
  const { users, tokens } = deps;
  const router = express.Router();
  router.use(USERS_PATH, (_req: Request, res: Response, next: NextFunction) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  router.get(USERS_PATH, async (_req, res) => {
    const items = (await users.list()).map(userView);
    res.status(200).json({ kind: 'UserList', apiVersion: 'v1', items });
  });
  router.post(USERS_PATH, async (req, res) => {
    const { name, role, password } = await jsonBody(req, ['name', 'role', 'password']);
    try {
      validateUsername(name, 'name');
      validateRole(role);
      validatePassword(password);
      const created = await users.create(name, role, password);
      res.status(201).json({ kind: 'User', apiVersion: 'v1', ...userView(created) });
    } catch (err) {
      throw apiErrorOf(err, typeof name === 'string' ? name : '');
    }
  });
  router.all(USERS_PATH, (req) => {
    throw methodNotAllowed(req.method);
  });

  const one = `${USERS_PATH}/:name`;
  router.get(
    one,
    named(async (_req, res, name) => {
      const user = await users.get(name);
      if (user === undefined) throw new UserNotFoundError(name);
      res.status(200).json({ kind: 'User', apiVersion: 'v1', ...userView(user) });
    }),
  );
  router.patch(
    one,
    named(async (req, res, name) => {
      const { role } = await jsonBody(req, ['role'], { mediaTypes: ['application/json', MERGE_PATCH] });
      if (role === undefined) throw badField('role', 'role is required: the only field a user PATCH changes', 'FieldValueRequired');
      validateRole(role);
      const updated = await users.setRole(name, role);
      res.status(200).json({ kind: 'User', apiVersion: 'v1', ...userView(updated) });
    }),
  );
  router.delete(
    one,
    named(async (_req, res, name) => {
      await users.delete(name);
      res.status(200).json(successStatus(name));
    }),
  );
  router.all(one, (req) => {
    throw methodNotAllowed(req.method);
  });

  router.put(
    `${one}/password`,
    named(async (req, res, name) => {
      const principal = principalOf(res);
      const { password, currentPassword } = await jsonBody(req, ['password', 'currentPassword']);
      validatePassword(password);
      if (principal.username === name) {
        if (currentPassword === undefined) {
          throw badField('currentPassword', 'currentPassword is required to change your own password', 'FieldValueRequired');
        }
        if (typeof currentPassword !== 'string') throw badField('currentPassword', 'currentPassword must be a string');
        const check = await tokens.verifyCurrentPassword(name, currentPassword, req.socket.remoteAddress ?? 'unknown');
        if (!check.ok && check.retryAfterSeconds !== undefined) {
          res.set('Retry-After', String(check.retryAfterSeconds));
          throw new ApiError(
            failureStatus(429, 'TooManyRequests', `too many failed password checks; try again in ${check.retryAfterSeconds} s`, {
              retryAfterSeconds: check.retryAfterSeconds,
            }),
          );
        }
        if (!check.ok) {
          const message = `currentPassword is not the current password of user "${name}"`;
          throw new ApiError(
            failureStatus(403, 'Forbidden', message, { name, group: '', kind: USER_RESOURCE.plural, causes: [{ reason: 'FieldValueInvalid', message, field: 'currentPassword' }] }),
          );
        }
      }
      const updated = await users.setPassword(name, password);
      res.status(200).json({ kind: 'User', apiVersion: 'v1', ...userView(updated) });
    }),
  );
  router.all(`${one}/password`, (req) => {
    throw methodNotAllowed(req.method);
  });

  router.post(
    `${one}/token`,
    named(async (req, res, name) => {
      const { ttlSeconds } = await jsonBody(req, ['ttlSeconds'], { optional: true });
      if (
        ttlSeconds !== undefined &&
        (typeof ttlSeconds !== 'number' || !Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_USER_TOKEN_TTL_SECONDS)
      ) {
        throw badField('ttlSeconds', `ttlSeconds must be an integer from 1 to ${MAX_USER_TOKEN_TTL_SECONDS} (one year)`);
      }
      const user = await users.get(name);
      if (user === undefined) throw new UserNotFoundError(name);
      const issued = await tokens.mintToken(name, ttlSeconds);
      res.status(201).json({ token: issued.token, expiresAt: issued.expiresAt, username: user.name, role: user.role });
    }),
  );
  router.all(`${one}/token`, (req) => {
    throw methodNotAllowed(req.method);
  });
  return router;
}

/** GET /api/v1/whoami: the caller's user name and role (served whether or not user management is). */
export function whoAmIRoutes(): Router {
  const router = express.Router();
  router.get(WHOAMI_PATH, (_req, res) => {
    const { username, role } = principalOf(res);
    res.set('Cache-Control', 'no-store');
    res.status(200).json({ username, role });
  });
  router.all(WHOAMI_PATH, (req) => {
    throw methodNotAllowed(req.method);
  });
  return router;
}

// Kubernetes Status objects for every error the API returns, and the one place where
// store errors become HTTP statuses.
import {
  CompactedError,
  ConflictError,
  FutureRevisionError,
  StoreClosedError,
  StoreUnavailableError,
} from '../store/store.js';
import type { Status, StatusCause, StatusDetails, StatusReason } from '../api/meta.js';

/** What a resource error message needs to name its resource (a ResourceKind satisfies it). */
export interface ResourceRef {
  readonly group: string;
  readonly plural: string;
  readonly kind: string;
}

/** An error that carries the Status the client receives. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(readonly status: Status) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
  }
}

export function failureStatus(
  code: number,
  reason: StatusReason,
  message: string,
  details?: StatusDetails,
): Status {
  const status: Status = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
  if (details !== undefined) status.details = details;
  return status;
}

function apiError(code: number, reason: StatusReason, message: string, details?: StatusDetails): ApiError {
  return new ApiError(failureStatus(code, reason, message, details));
}

/** `jobs.openscheduler.io` */
export function qualifiedResource(resource: ResourceRef): string {
  return resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`;
}

export const badRequest = (message: string): ApiError => apiError(400, 'BadRequest', message);

/** 400 BadRequest whose single cause names the field. */
export const badField = (field: string, message: string, reason = 'FieldValueInvalid'): ApiError =>
  apiError(400, 'BadRequest', message, { causes: [{ reason, message, field }] });

export const unauthorized = (): ApiError => apiError(401, 'Unauthorized', 'Unauthorized');

export const notFound = (resource: ResourceRef, name: string): ApiError =>
  apiError(404, 'NotFound', `${qualifiedResource(resource)} "${name}" not found`, {
    name,
    group: resource.group,
    kind: resource.plural,
  });

export const routeNotFound = (): ApiError =>
  apiError(404, 'NotFound', 'the server could not find the requested resource');

export const methodNotAllowed = (method: string): ApiError =>
  apiError(405, 'MethodNotAllowed', `the server does not allow method ${method} on the requested resource`);

export const alreadyExists = (resource: ResourceRef, name: string): ApiError =>
  apiError(409, 'AlreadyExists', `${qualifiedResource(resource)} "${name}" already exists`, {
    name,
    group: resource.group,
    kind: resource.plural,
  });

export const conflict = (resource: ResourceRef, name: string, why: string): ApiError =>
  apiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(resource)} "${name}": ${why}`, {
    name,
    group: resource.group,
    kind: resource.plural,
  });

/** 409 Conflict listing the fields in conflict (server-side apply). */
export const conflictWithCauses = (resource: ResourceRef, name: string, message: string, causes: StatusCause[]): ApiError =>
  apiError(409, 'Conflict', message, { name, group: resource.group, kind: resource.plural, causes });

export const STALE_OBJECT_MESSAGE =
  'the object has been modified; please apply your changes to the latest version and try again';

/** 422: `Job.openscheduler.io "NAME" is invalid: field: msg[, field: msg]`. */
export function invalid(resource: ResourceRef, name: string, causes: StatusCause[]): ApiError {
  const summary = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ');
  const qualifiedKind = resource.group === '' ? resource.kind : `${resource.kind}.${resource.group}`;
  return apiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${summary}`, {
    name,
    group: resource.group,
    kind: resource.kind,
    causes,
  });
}

export const expired = (message: string): ApiError => apiError(410, 'Expired', message);

export const requestEntityTooLarge = (limitBytes: number): ApiError =>
  apiError(413, 'RequestEntityTooLarge', `the request body exceeds the limit of ${limitBytes} bytes`);

export const unsupportedMediaType = (message: string): ApiError =>
  apiError(415, 'UnsupportedMediaType', message);

export const serviceUnavailable = (message: string): ApiError =>
  apiError(503, 'ServiceUnavailable', message);

export const internalError = (): ApiError =>
  apiError(500, 'InternalError', 'an internal error occurred; see the server log');

/** One HTTP code and Status reason the API answers with, and the cases that produce it. */
export interface ApiErrorCase {
  readonly code: number;
  readonly reason: StatusReason;
  readonly cases: readonly string[];
}

/**
 * Every (code, reason) pair of the Status objects the HTTP API answers with. docs/api-reference.md
 * is generated from this list (hack/gen-api-docs.ts), and hack/gen-api-docs.test.ts fails when a
 * handler answers a pair that is missing here, or when a pair here is answered nowhere.
 */
export const API_ERRORS: readonly ApiErrorCase[] = [
  {
    code: 400,
    reason: 'BadRequest',
    cases: [
      'a body that does not decode: JSON or YAML syntax, YAML aliases over the cap, nesting too deep, `__proto__` keys, not an object, an invalid JSON patch',
      'a bad query parameter (the message starts with its name): labelSelector, fieldSelector, continue, dryRun, fieldManager, watch, the log and audit parameters',
      'a namespace in the path that is not a DNS-1123 label; a name or namespace in the body that differs from the URL\'s',
      'resourceVersion newer than the current revision of the store',
      'login or user body missing a field or of the wrong type (details.causes[].field)',
    ],
  },
  {
    code: 401,
    reason: 'Unauthorized',
    cases: [
      'no `Authorization: Bearer` header, or a token that is malformed, expired, signed with another secret, or voided by a password or role change',
      'login with an unknown user or a wrong password (the same answer for both)',
    ],
  },
  {
    code: 403,
    reason: 'Forbidden',
    cases: [
      'no rule of the authorization table allows this role the verb on the resource (the message names user, verb, resource and namespace)',
      'a wrong `currentPassword` when changing one\'s own password (counts towards the login throttle)',
    ],
  },
  {
    code: 404,
    reason: 'NotFound',
    cases: [
      'the object does not exist (details name it)',
      'no route: an unknown path, resource, subresource, or a cluster-scoped path for a namespaced kind',
      'a log attempt that does not exist (`?attempt=N`)',
      'GET /api/v1/audit on a server started with `--audit-log-path off`',
    ],
  },
  {
    code: 405,
    reason: 'MethodNotAllowed',
    cases: ['a method the path does not serve (e.g. POST on the all-namespaces list, PUT on /api/v1/auth/login)'],
  },
  {
    code: 409,
    reason: 'AlreadyExists',
    cases: ['create (POST) of a name that exists, also a user name'],
  },
  {
    code: 409,
    reason: 'Conflict',
    cases: [
      'stale `metadata.resourceVersion` on PUT, PATCH or DELETE precondition (re-read and retry)',
      'server-side apply touching fields owned by another field manager (details.causes[] lists them; `?force=true` takes them over)',
      'POST .../retry of a job that is not in the dead-letter queue',
      'deleting or demoting the last admin',
    ],
  },
  {
    code: 410,
    reason: 'Expired',
    cases: [
      'a `continue` token or watch `resourceVersion` older than the store\'s compaction (list again; also sent as a watch ERROR event)',
      'an audit `continue` token whose file has been rotated away',
    ],
  },
  {
    code: 413,
    reason: 'RequestEntityTooLarge',
    cases: ['a body over 3 MiB (16 KiB on /api/v1/auth/login)'],
  },
  {
    code: 415,
    reason: 'UnsupportedMediaType',
    cases: ['a body whose Content-Type the path does not take (JSON or YAML for writes; PATCH needs merge-patch, json-patch or apply-patch+yaml), or a charset other than utf-8'],
  },
  {
    code: 422,
    reason: 'Invalid',
    cases: ['the object fails validation: details.causes[] has one entry per bad field (`field`, `reason`, `message`)'],
  },
  {
    code: 429,
    reason: 'TooManyRequests',
    cases: [
      'logins throttled: 5 failures for a name or 20 from an address within 15 minutes (the `Retry-After` header says when to try again)',
      'too many failed current-password checks when changing a password',
    ],
  },
  {
    code: 500,
    reason: 'InternalError',
    cases: ['a bug: the server logs the cause; the answer reveals nothing'],
  },
  {
    code: 503,
    reason: 'ServiceUnavailable',
    cases: ['the store does not answer within `--store-timeout` (etcd down, no quorum, network partition); retry later'],
  },
];

/** Which operation failed, so that a store error can be phrased for the client. */
export interface ErrorContext {
  readonly resource?: ResourceRef;
  readonly name?: string;
  /** 'create' turns a store ConflictError into AlreadyExists. */
  readonly verb?: string;
}

/**
 * The one mapping from any thrown value to the ApiError the client gets.
 * `unexpected` is true when the server should log the cause (store down, bugs).
 */
export function toApiError(err: unknown, context: ErrorContext = {}): { error: ApiError; unexpected: boolean } {
  if (err instanceof ApiError) return { error: err, unexpected: false };
  if (err instanceof ConflictError) {
    const { resource, name = '' } = context;
    if (resource === undefined) return { error: apiError(409, 'Conflict', err.message), unexpected: false };
    const error =
      context.verb === 'create' ? alreadyExists(resource, name) : conflict(resource, name, STALE_OBJECT_MESSAGE);
    return { error, unexpected: false };
  }
  if (err instanceof CompactedError) {
    return {
      error: expired(
        `too old resource version: ${err.requestedRevision} (${err.compactRevision}); start again from a fresh list`,
      ),
      unexpected: false,
    };
  }
  if (err instanceof FutureRevisionError) {
    return { error: apiError(400, 'BadRequest', 'resourceVersion is newer than the current revision of the store'), unexpected: false };
  }
  if (err instanceof StoreUnavailableError || err instanceof StoreClosedError) {
    return { error: serviceUnavailable('the storage backend is unavailable; retry later'), unexpected: true };
  }
  return { error: internalError(), unexpected: true };
}

/** An error as a log field: winston renders a bare Error as {}. */
export function errorForLog(err: unknown): { name: string; message: string; stack?: string } | string {
  return err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err);
}

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

// Kubernetes-style object metadata, list metadata and Status, shared by every kind.

export const GROUP = 'openscheduler.io';
export const VERSION = 'v1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  /** Opaque to clients; the store's modRevision of the object, as a decimal string. */
  resourceVersion?: string;
  /** Incremented by the server on every spec change. */
  generation?: number;
  /** RFC 3339, no fractional seconds. */
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface TypeMeta {
  apiVersion: string;
  kind: string;
}

/** Any stored object: type meta, metadata, and kind-specific spec/status. */
export interface ApiObject extends TypeMeta {
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
}

export interface ListMeta {
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface ObjectList<T extends ApiObject = ApiObject> extends TypeMeta {
  metadata: ListMeta;
  items: T[];
}

/** One bad field of an Invalid Status. `field` is a dotted path, e.g. `spec.env[2].name`. */
export interface StatusCause {
  reason: string;
  message: string;
  field: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** Kubernetes `Status` (apiVersion v1), the body of every error. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never> | { resourceVersion?: string };
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** Machine-readable Status reasons (metav1.StatusReason). */
export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Invalid'
  | 'Expired'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

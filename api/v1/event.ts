// The core/v1 Event kind (as Kubernetes serves it under /api/v1), so that `kubectl describe` and
// `osctl describe` show what happened to an object. Events are written only by the system
// (controllers/runtime/event-recorder.ts) and read through GET /api/v1/[namespaces/NS/]events.
//
// Storage: /registry/events/<namespace>/<name>. Events about cluster-scoped objects (Nodes) are
// stored in the namespace EVENT_NAMESPACE_FOR_CLUSTER_SCOPED ("default"), as Kubernetes does;
// their involvedObject.namespace stays "".
import type { ObjectMeta } from '../meta.js';

export const EVENT_API_VERSION = 'v1';
export const EVENTS_PREFIX = '/registry/events/';
/** Namespace that holds the events of cluster-scoped objects. */
export const EVENT_NAMESPACE_FOR_CLUSTER_SCOPED = 'default';

export type EventType = 'Normal' | 'Warning';

export interface ObjectReference {
  apiVersion: string;
  kind: string;
  name: string;
  /** "" for cluster-scoped objects. */
  namespace: string;
  uid: string;
}

export interface Event {
  apiVersion: 'v1';
  kind: 'Event';
  metadata: ObjectMeta;
  involvedObject: ObjectReference;
  /** UpperCamelCase machine-readable cause, e.g. `Scheduled`, `BackoffWaiting`. */
  reason: string;
  message: string;
  type: EventType;
  /** How many times this event happened (deduplicated occurrences). */
  count: number;
  /** RFC 3339, no fractional seconds. */
  firstTimestamp: string;
  lastTimestamp: string;
  source: { component: string };
}

export interface EventList {
  apiVersion: 'v1';
  kind: 'EventList';
  metadata: { resourceVersion: string; continue?: string };
  items: Event[];
}

/** Field selector keys GET .../events supports (what kubectl describe sends, plus a few of kube's). */
export const EVENT_FIELD_SELECTORS: Readonly<Record<string, (e: Event) => string | undefined>> = {
  'metadata.name': (e) => e.metadata.name,
  'metadata.namespace': (e) => e.metadata.namespace,
  'involvedObject.name': (e) => e.involvedObject.name,
  'involvedObject.namespace': (e) => e.involvedObject.namespace,
  'involvedObject.kind': (e) => e.involvedObject.kind,
  'involvedObject.uid': (e) => e.involvedObject.uid,
  'involvedObject.apiVersion': (e) => e.involvedObject.apiVersion,
  reason: (e) => e.reason,
  type: (e) => e.type,
  'source.component': (e) => e.source.component,
};

/** The namespace an event about an object with namespace `involvedNamespace` is stored in. */
export function eventNamespace(involvedNamespace: string): string {
  return involvedNamespace === '' ? EVENT_NAMESPACE_FOR_CLUSTER_SCOPED : involvedNamespace;
}

/** `/registry/events/<namespace>/` (every namespace when undefined). */
export function eventCollectionPrefix(namespace?: string): string {
  return namespace === undefined ? EVENTS_PREFIX : `${EVENTS_PREFIX}${namespace}/`;
}

export function eventKey(namespace: string, name: string): string {
  return `${EVENTS_PREFIX}${namespace}/${name}`;
}

/** RFC 3339 without fractional seconds. */
export function eventTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function isEvent(value: unknown): value is Event {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Partial<Event>;
  return e.kind === 'Event' && typeof e.metadata?.name === 'string' && typeof e.involvedObject === 'object' && e.involvedObject !== null;
}

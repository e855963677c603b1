// Read-only REST access to Events (core/v1, api/v1/event.ts), as kubectl describe requests them:
//   GET /api/v1/namespaces/{ns}/events[/{name}]   GET /api/v1/events
// Lists take fieldSelector (involvedObject.name|namespace|kind|uid|apiVersion, reason, type,
// source.component, metadata.name|namespace), limit and continue, and answer an EventList.
// `?watch=true` streams them like every other collection (watch.ts: resourceVersion,
// timeoutSeconds, allowWatchBookmarks, the same fieldSelector; 410 for a compacted version);
// on a named event it watches that one event. labelSelector is 400 (events carry no labels).
// Events are written only by the system (controllers/runtime/event-recorder.ts): other methods
// answer 405. The `v1` group version is deliberately not advertised in GET /api (KUBECTL.md §2.1).
import express, { type Request, type Response, type Router } from 'express';
import {
  EVENT_API_VERSION,
  EVENT_FIELD_SELECTORS,
  eventCollectionPrefix,
  eventKey,
  isEvent,
  type Event,
  type EventList,
} from '../api/v1/event.js';
import type { ApiObject } from '../api/meta.js';
import type { KeyValue, Store } from '../store/store.js';
import { readPage } from './list-reader.js';
import { ObjectStorage } from './object-storage.js';
import { matchesFields, parseFieldSelector, type FieldRequirement } from './selectors.js';
import { booleanParam, limitParam, queryParam, timeoutSecondsParam } from './resource-handlers.js';
import { badRequest, methodNotAllowed, notFound, type ResourceRef } from './status.js';
import type { WatchCollection, WatchHub } from './watch.js';

export const EVENTS_RESOURCE: ResourceRef = { group: '', plural: 'events', kind: 'Event' };

export interface EventRoutesDeps {
  readonly store: Store;
  /** Serves the watches (the API server's hub, so that its close() ends them). */
  readonly watches: WatchHub;
}

export function eventRoutes(deps: EventRoutesDeps): Router {
  const router = express.Router();
  const { store, watches } = deps;
  // Every events watch shares one watch cache (watch.ts) through this one collection.
  const watched: WatchCollection = {
    store,
    resource: EVENTS_RESOURCE,
    apiVersion: EVENT_API_VERSION,
    prefix: eventCollectionPrefix(),
    decode: decodeEvent,
  };
  const readOnly = (req: Request): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method);
  };
  const collection = async (req: Request, res: Response, namespace: string | undefined): Promise<void> => {
    readOnly(req);
    const fields = eventFieldSelection(req);
    if (booleanParam(req, 'watch')) {
      await watchEvents(watches, watched, req, res, { prefix: eventCollectionPrefix(namespace), fields, path: `namespace "${namespace}"` });
      return;
    }
    res.status(200).json(await listEvents(store, namespace, req, fields));
  };
  router.all('/api/v1/events', (req, res) => collection(req, res, undefined));
  router.all('/api/v1/namespaces/:namespace/events', (req, res) => collection(req, res, String(req.params.namespace)));
  router.all('/api/v1/namespaces/:namespace/events/:name', async (req, res) => {
    readOnly(req);
    const namespace = String(req.params.namespace);
    const name = String(req.params.name);
    const key = eventKey(namespace, name);
    if (booleanParam(req, 'watch')) {
      // The legacy single-object watch: metadata.name=<name> (the key is also a prefix of longer names).
      const fields: FieldRequirement[] = [...eventFieldSelection(req), { field: 'metadata.name', operator: 'equals', value: name }];
      await watchEvents(watches, watched, req, res, { prefix: key, fields, path: `namespace "${namespace}", name "${name}"` });
      return;
    }
    const kv = ObjectStorage.storableKey(key) ? await store.get(key) : undefined;
    const event = kv === undefined ? undefined : decodeEvent(kv);
    if (event === undefined) throw notFound(EVENTS_RESOURCE, name);
    res.status(200).json(event);
  });
  return router;
}

/** The stored event with resourceVersion = the key's modRevision; undefined if unreadable. */
function decodeEvent(kv: KeyValue): Event | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(kv.value);
  } catch {
    return undefined;
  }
  if (!isEvent(parsed)) return undefined;
  const { name, namespace, uid, resourceVersion: _old, ...rest } = parsed.metadata;
  return { ...parsed, metadata: { name, namespace, uid, resourceVersion: String(kv.modRevision), ...rest } };
}

const extractors = EVENT_FIELD_SELECTORS as unknown as Readonly<Record<string, (obj: ApiObject) => string | undefined>>;

/** The fieldSelector of an events request (400 for unsupported fields, and for any labelSelector). */
function eventFieldSelection(req: Request): FieldRequirement[] {
  const labelSelector = queryParam(req, 'labelSelector');
  if (labelSelector !== undefined && labelSelector.trim() !== '') {
    throw badRequest('labelSelector: events carry no labels; use fieldSelector on involvedObject.* instead');
  }
  return parseFieldSelector(queryParam(req, 'fieldSelector') ?? '', new Set(Object.keys(EVENT_FIELD_SELECTORS)));
}

function matchesEvent(fields: readonly FieldRequirement[], event: ApiObject): boolean {
  return fields.length === 0 || matchesFields(fields, event, extractors);
}

/** One page of matching events: consistent at the first page's revision, as list-reader.ts. */
async function listEvents(store: Store, namespace: string | undefined, req: Request, fields: readonly FieldRequirement[]): Promise<EventList> {
  const prefix = eventCollectionPrefix(namespace);
  if (!ObjectStorage.storableKey(prefix)) return list(await store.currentRevision(), [], undefined);
  const token = queryParam(req, 'continue');
  const page = await readPage<Event>(
    {
      list: (p, options) => store.list(p, options),
      decode: decodeEvent,
      accept: fields.length === 0 ? undefined : (event) => matchesEvent(fields, event),
    },
    { prefix, limit: limitParam(req), continueToken: token === '' ? undefined : token },
  );
  return list(page.revision, page.items, page.continue);
}

interface EventWatch {
  /** A collection's prefix, or one event's key. */
  readonly prefix: string;
  readonly fields: readonly FieldRequirement[];
  /** The path parameters that gave `prefix`, for the error when no key can start with it. */
  readonly path: string;
}

/** Streams the matching events under `watch.prefix` through the hub. */
async function watchEvents(watches: WatchHub, collection: WatchCollection, req: Request, res: Response, watch: EventWatch): Promise<void> {
  const { prefix, fields } = watch;
  if (!ObjectStorage.storableKey(prefix)) throw badRequest(`${watch.path}: invalid value: no event can be stored under it`);
  await watches.serve(res, {
    source: {
      collection,
      matches: (event) => matchesEvent(fields, event),
    },
    prefix,
    resourceVersion: queryParam(req, 'resourceVersion'),
    timeoutSeconds: timeoutSecondsParam(req),
    allowBookmarks: booleanParam(req, 'allowWatchBookmarks'),
  });
}

function list(revision: number, items: Event[], continueToken: string | undefined): EventList {
  const metadata: EventList['metadata'] = { resourceVersion: String(revision) };
  if (continueToken !== undefined) metadata.continue = continueToken;
  return { apiVersion: 'v1', kind: 'EventList', metadata, items };
}

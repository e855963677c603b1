// Read-only REST access to Events (core/v1, api/v1/event.ts), as kubectl describe requests them:
//   GET /api/v1/namespaces/{ns}/events[/{name}]   GET /api/v1/events
// Lists take fieldSelector (involvedObject.name|namespace|kind|uid|apiVersion, reason, type,
// source.component, metadata.name|namespace), limit and continue, and answer an EventList.
// Events are written only by the system (controllers/runtime/event-recorder.ts): other methods
// answer 405. The `v1` group version is deliberately not advertised in GET /api (KUBECTL.md §2.1).
import express, { type Request, type Router } from 'express';
import {
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
import { limitParam, queryParam } from './resource-handlers.js';
import { badRequest, methodNotAllowed, notFound, type ResourceRef } from './status.js';

export const EVENTS_RESOURCE: ResourceRef = { group: '', plural: 'events', kind: 'Event' };

export interface EventRoutesDeps {
  readonly store: Store;
}

export function eventRoutes(deps: EventRoutesDeps): Router {
  const router = express.Router();
  const { store } = deps;
  const readOnly = (req: Request): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method);
  };
  router.all('/api/v1/events', async (req, res) => {
    readOnly(req);
    res.status(200).json(await listEvents(store, undefined, req));
  });
  router.all('/api/v1/namespaces/:namespace/events', async (req, res) => {
    readOnly(req);
    res.status(200).json(await listEvents(store, String(req.params.namespace), req));
  });
  router.all('/api/v1/namespaces/:namespace/events/:name', async (req, res) => {
    readOnly(req);
    const name = String(req.params.name);
    const key = eventKey(String(req.params.namespace), name);
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

/** One page of matching events: consistent at the first page's revision, as list-reader.ts. */
async function listEvents(store: Store, namespace: string | undefined, req: Request): Promise<EventList> {
  if (queryParam(req, 'watch') === 'true' || queryParam(req, 'watch') === '1') {
    throw methodNotAllowed('WATCH');
  }
  const labelSelector = queryParam(req, 'labelSelector');
  if (labelSelector !== undefined && labelSelector.trim() !== '') {
    throw badRequest('labelSelector: events carry no labels; use fieldSelector on involvedObject.* instead');
  }
  const fields: FieldRequirement[] = parseFieldSelector(queryParam(req, 'fieldSelector') ?? '', new Set(Object.keys(EVENT_FIELD_SELECTORS)));
  const prefix = eventCollectionPrefix(namespace);
  if (!ObjectStorage.storableKey(prefix)) return list(await store.currentRevision(), [], undefined);
  const token = queryParam(req, 'continue');
  const page = await readPage<Event>(
    {
      list: (p, options) => store.list(p, options),
      decode: decodeEvent,
      accept: fields.length === 0 ? undefined : (event) => matchesFields(fields, event as unknown as ApiObject, extractors),
    },
    { prefix, limit: limitParam(req), continueToken: token === '' ? undefined : token },
  );
  return list(page.revision, page.items, page.continue);
}

function list(revision: number, items: Event[], continueToken: string | undefined): EventList {
  const metadata: EventList['metadata'] = { resourceVersion: String(revision) };
  if (continueToken !== undefined) metadata.continue = continueToken;
  return { apiVersion: 'v1', kind: 'EventList', metadata, items };
}

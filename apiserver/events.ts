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
import { CompactedError } from '../store/store.js';
import { decodeContinue, encodeContinue } from './list-reader.js';
import { ObjectStorage } from './object-storage.js';
import { matchesFields, parseFieldSelector, type FieldRequirement } from './selectors.js';
import { badRequest, expired, methodNotAllowed, notFound, type ResourceRef } from './status.js';

export const EVENTS_RESOURCE: ResourceRef = { group: '', plural: 'events', kind: 'Event' };
/** Store page size while filtering. */
const CHUNK = 500;

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

function queryParam(req: Request, name: string): string | undefined {
  const value = (req.query as Record<string, unknown>)[name];
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  throw badRequest(`${name}: expected a single string value`);
}

function limitParam(req: Request): number | undefined {
  const value = queryParam(req, 'limit');
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,9}$/.test(value)) throw badRequest(`limit: invalid value "${value}": must be a non-negative integer`);
  const limit = Number(value);
  return limit === 0 ? undefined : limit;
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
  const limit = limitParam(req);
  const prefix = eventCollectionPrefix(namespace);
  if (!ObjectStorage.storableKey(prefix)) return { apiVersion: 'v1', kind: 'EventList', metadata: { resourceVersion: String(await store.currentRevision()) }, items: [] };
  const token = queryParam(req, 'continue');
  const state = token === undefined || token === '' ? undefined : decodeContinue(token, prefix);
  const items: Event[] = [];
  let revision = state?.revision;
  let after = state?.key;
  try {
    for (;;) {
      const page = await store.list(prefix, { limit: CHUNK, after, revision });
      revision = page.revision;
      for (const kv of page.items) {
        after = kv.key;
        const event = decodeEvent(kv);
        if (event === undefined || !matchesFields(fields, event as unknown as ApiObject, extractors)) continue;
        items.push(event);
        if (limit !== undefined && items.length >= limit) {
          const more = page.more || kv !== page.items[page.items.length - 1];
          return list(revision, items, more ? encodeContinue({ revision, key: kv.key }) : undefined);
        }
      }
      if (!page.more || page.items.length === 0) return list(revision, items, undefined);
    }
  } catch (err) {
    if (err instanceof CompactedError && state !== undefined) {
      throw expired(
        'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
      );
    }
    throw err;
  }
}

function list(revision: number, items: Event[], continueToken: string | undefined): EventList {
  const metadata: EventList['metadata'] = { resourceVersion: String(revision) };
  if (continueToken !== undefined) metadata.continue = continueToken;
  return { apiVersion: 'v1', kind: 'EventList', metadata, items };
}

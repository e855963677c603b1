// Consistent, paged lists with selectors.
//
// Every page of a paged list is read at the revision of the first page, so a client that
// follows `continue` sees each object that existed at that revision exactly once, whatever
// is written meanwhile. The continue token is opaque to clients: base64url of
// {"v":1,"rv":<revision>,"key":<last key examined>}.
import type { ApiObject } from '../api/meta.js';
import type { ResourceKind } from '../api/kind.js';
import { CompactedError, type KeyValue, type ListResult } from '../store/store.js';
import { ObjectStorage, type StoredObject } from './object-storage.js';
import {
  COMMON_FIELD_SELECTORS,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  type FieldRequirement,
  type LabelRequirement,
} from './selectors.js';
import { badRequest, expired } from './status.js';

/** Store page size when reading a whole collection. */
const CHUNK = 1000;
/** With selectors, one request examines at most this many objects before it answers with `continue`. */
export const MAX_EXAMINED_PER_PAGE = 20_000;

export interface Selection {
  readonly labels: readonly LabelRequirement[];
  readonly fields: readonly FieldRequirement[];
  /** Field values by selector key (the kind's plus metadata.name/namespace). */
  readonly extractors: FieldExtractors;
}

export type FieldExtractors = Readonly<Record<string, (obj: ApiObject) => string | undefined>>;

export function fieldExtractors(kind: ResourceKind): FieldExtractors {
  return { ...COMMON_FIELD_SELECTORS, ...kind.fieldSelectors };
}

/** Parses the labelSelector and fieldSelector query values (400 on errors). */
export function parseSelection(kind: ResourceKind, labelSelector?: string, fieldSelector?: string): Selection {
  const extractors = fieldExtractors(kind);
  return {
    labels: parseLabelSelector(labelSelector ?? ''),
    fields: parseFieldSelector(fieldSelector ?? '', new Set(Object.keys(extractors))),
    extractors,
  };
}

export function isEmptySelection(selection: Selection): boolean {
  return selection.labels.length === 0 && selection.fields.length === 0;
}

export function matches(selection: Selection, obj: ApiObject): boolean {
  return matchesLabels(selection.labels, obj.metadata.labels) && matchesFields(selection.fields, obj, selection.extractors);
}

/**
 * The narrowest key prefix that can hold matches: an equality on metadata.name (or on
 * metadata.namespace across namespaces) narrows the scan without changing the result.
 */
export function scanPrefix(storage: ObjectStorage, namespace: string | undefined, selection: Selection): string {
  const equal = (field: string): string | undefined =>
    selection.fields.find((f) => f.field === field && f.operator === 'equals')?.value;
  const ns = storage.kind.namespaced ? (namespace ?? equal('metadata.namespace')) : undefined;
  const name = equal('metadata.name');
  const valid = (s: string | undefined): s is string => s !== undefined && s !== '' && !s.includes('/');
  // A value no key can hold (NUL, too long) matches nothing: scan the collection, which the selection then filters.
  const storable = (key: string): string | undefined => (ObjectStorage.storableKey(key) ? key : undefined);
  if (name !== undefined && valid(name) && (!storage.kind.namespaced || valid(ns))) {
    const key = storable(storage.key(ns, name));
    if (key !== undefined) return key;
  }
  if (storage.kind.namespaced && valid(ns)) {
    const prefix = storable(storage.collectionPrefix(ns));
    if (prefix !== undefined) return prefix;
  }
  return storage.collectionPrefix(namespace);
}

interface ContinueState {
  readonly revision: number;
  readonly key: string;
}

export function encodeContinue(state: ContinueState): string {
  return Buffer.from(JSON.stringify({ v: 1, rv: state.revision, key: state.key })).toString('base64url');
}

export function decodeContinue(token: string, prefix: string): ContinueState {
  const invalidToken = (): Error => badRequest('continue: invalid continue token; start a new list without it');
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalidToken();
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidToken();
  }
  const { v, rv, key } = (parsed ?? {}) as { v?: unknown; rv?: unknown; key?: unknown };
  if (v !== 1 || !Number.isSafeInteger(rv) || (rv as number) < 1 || typeof key !== 'string' || !key.startsWith(prefix) || !ObjectStorage.storableKey(key)) {
    throw invalidToken();
  }
  return { revision: rv as number, key };
}

export interface ListPage<T = StoredObject> {
  readonly items: T[];
  /** The revision every item was read at. */
  readonly revision: number;
  readonly continue?: string;
}

export interface PageRequest {
  readonly prefix: string;
  /** At most this many items; undefined: all. */
  readonly limit?: number;
  readonly continueToken?: string;
  /** Read at this revision (only without continueToken); default: current. */
  readonly revision?: number;
}

export interface ListRequest extends PageRequest {
  readonly selection: Selection;
}

/** Where a paged read gets its items: store pages, decoded and filtered. */
export interface PageSource<T> {
  list(prefix: string, options: { limit?: number; after?: string; revision?: number }): Promise<ListResult>;
  /** The item of one key, or undefined to skip the key. */
  decode(kv: KeyValue): T | undefined;
  /** Absent: every decoded item matches. */
  readonly accept?: (item: T) => boolean;
}

/** One page of matching objects (all of them when no limit is given). */
export function readListPage(storage: ObjectStorage, request: ListRequest): Promise<ListPage> {
  const { selection } = request;
  return readPage(
    {
      list: (prefix, options) => storage.list(prefix, options),
      decode: (kv) => storage.decode(kv),
      accept: isEmptySelection(selection) ? undefined : (obj) => matches(selection, obj),
    },
    request,
  );
}

/**
 * One page of matching items, read at one revision (the continue token's, else `revision`, else
 * the current one). With a filter, at most MAX_EXAMINED_PER_PAGE keys are examined before it
 * answers with `continue`. A continue token whose revision was compacted gives 410 Expired.
 */
export async function readPage<T>(source: PageSource<T>, request: PageRequest): Promise<ListPage<T>> {
  const { prefix, limit } = request;
  const { accept } = source;
  const state = request.continueToken === undefined ? undefined : decodeContinue(request.continueToken, prefix);
  const items: T[] = [];
  let revision = state?.revision ?? request.revision;
  let after = state?.key;
  let examined = 0;
  try {
    for (;;) {
      const wanted = limit === undefined ? CHUNK : limit - items.length;
      const pageSize = accept ? Math.max(wanted, Math.min(CHUNK, 500)) : wanted;
      const page = await source.list(prefix, { limit: pageSize, after, revision });
      revision = page.revision;
      let stoppedEarly = false;
      for (const kv of page.items) {
        examined++;
        after = kv.key;
        const item = source.decode(kv);
        if (item !== undefined && (!accept || accept(item))) items.push(item);
        if (limit !== undefined && items.length >= limit) {
          stoppedEarly = kv !== page.items[page.items.length - 1];
          break;
        }
      }
      const more = stoppedEarly || page.more;
      const full = limit !== undefined && items.length >= limit;
      const budgetSpent = limit !== undefined && examined >= MAX_EXAMINED_PER_PAGE;
      if (!more || page.items.length === 0) return { items, revision };
      if (full || budgetSpent) return { items, revision, continue: encodeContinue({ revision, key: after! }) };
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

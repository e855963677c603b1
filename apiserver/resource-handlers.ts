// HTTP handlers of the resource API, written once for every ResourceKind:
//   /apis/<group>/<version>/namespaces/<ns>/<plural>[/<name>[/status]]
//   /apis/<group>/<version>/<plural>[/<name>[/status]]   (cluster-scoped kinds, or every namespace)
import express, { type Request, type Response, type Router } from 'express';
import type { ResourceKind } from '../api/kind.js';
import type { Store } from '../store/store.js';
import { isJsonObject, type JsonObject } from './json-value.js';
import { matches, parseSelection, readListPage, scanPrefix, type Selection } from './list-reader.js';
import { ObjectStorage, type StoredObject } from './object-storage.js';
import { applyJsonPatch, applyMergePatch, parseJsonPatch, PatchError, type JsonPatchOperation } from './patch.js';
import {
  bodyFormat,
  describeJsonType,
  hasBody,
  parseBody,
  readObjectBody,
  readRawBody,
  requestMediaType,
  type BodyFormat,
} from './request-body.js';
import { ResourceWriter, type DeletePreconditions } from './resource-writer.js';
import { ApiError, badRequest, invalid, methodNotAllowed, notFound, routeNotFound, unsupportedMediaType, type ErrorContext } from './status.js';
import { tableRequest, toTable } from './table.js';
import type { WatchCollection, WatchHub, WatchSource } from './watch.js';

/** Media types of POST/PUT bodies. */
const OBJECT_MEDIA_TYPES: Readonly<Record<string, BodyFormat>> = {
  'application/json': 'json',
  'application/yaml': 'yaml',
  'application/x-yaml': 'yaml',
  'text/yaml': 'yaml',
};

const MERGE_PATCH = 'application/merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';
const APPLY_PATCH = 'application/apply-patch+yaml';
const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
const PATCH_MEDIA_TYPES = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH];

const NAMESPACE_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export interface ResourceRoutesDeps {
  readonly store: Store;
  readonly kinds: readonly ResourceKind[];
  readonly now: () => Date;
  readonly watches: WatchHub;
}

interface Resource {
  readonly kind: ResourceKind;
  readonly storage: ObjectStorage;
  readonly writer: ResourceWriter;
  /** The kind's watches share one watch cache (watch.ts) through this one collection. */
  readonly watched: WatchCollection;
}

/** The resolved target of a request. */
interface Target extends Resource {
  /** The namespace from the path (undefined for cluster-scoped kinds and all-namespace lists). */
  readonly namespace: string | undefined;
  readonly name?: string;
}

/** Where the error handler finds what a failed request was about (status.ts ErrorContext). */
export const ERROR_CONTEXT = 'errorContext';

export function resourceRoutes(deps: ResourceRoutesDeps): Router {
  const router = express.Router();
  const resources = new Map<string, Resource>();
  for (const kind of deps.kinds) {
    const storage = new ObjectStorage(deps.store, kind);
    const watched: WatchCollection = {
      store: storage.store,
      resource: kind,
      apiVersion: apiVersionOf(kind),
      prefix: storage.collectionPrefix(undefined),
      decode: (kv) => storage.decode(kv),
    };
    resources.set(`${kind.group}/${kind.version}/${kind.plural}`, { kind, storage, writer: new ResourceWriter(storage, deps.now), watched });
  }
  const handlers = new Handlers(deps);

  /** Resolves the kind and namespace; unknown or mis-scoped resources are 404. */
  const target = (req: Request, res: Response, namespaced: boolean): Target => {
    const params = req.params as Record<string, string | undefined>;
    const resource = resources.get(`${params.group}/${params.version}/${params.plural}`);
    if (resource === undefined) throw routeNotFound();
    if (namespaced && !resource.kind.namespaced) throw routeNotFound();
    const namespace = namespaced ? params.namespace : undefined;
    if (namespace !== undefined && (namespace.length > 63 || !NAMESPACE_PATTERN.test(namespace))) {
      throw badRequest(`namespace "${namespace}" is invalid: must be a DNS-1123 label`);
    }
    const name = params.name;
    const context: ErrorContext = { resource: resource.kind, name, verb: verbOf(req.method, name) };
    res.locals[ERROR_CONTEXT] = context;
    return { ...resource, namespace, name };
  };

  for (const namespaced of [true, false]) {
    const base = namespaced ? '/apis/:group/:version/namespaces/:namespace/:plural' : '/apis/:group/:version/:plural';
    router.all(base, async (req, res) => {
      const t = target(req, res, namespaced);
      // A namespaced kind without a namespace in the path: read-only view of every namespace.
      const allNamespaces = t.kind.namespaced && !namespaced;
      switch (req.method) {
        case 'GET':
        case 'HEAD':
          return handlers.list(req, res, t);
        case 'POST':
          if (allNamespaces) throw methodNotAllowed(req.method);
          return handlers.create(req, res, t);
        case 'DELETE':
          if (allNamespaces) throw methodNotAllowed(req.method);
          return handlers.deleteCollection(req, res, t);
        default:
          throw methodNotAllowed(req.method);
      }
    });
    router.all(`${base}/:name`, async (req, res) => {
      const t = target(req, res, namespaced);
      if (t.kind.namespaced && !namespaced) throw routeNotFound();
      switch (req.method) {
        case 'GET':
        case 'HEAD':
          return handlers.get(req, res, t);
        case 'PUT':
          return handlers.replace(req, res, t);
        case 'PATCH':
          return handlers.patch(req, res, t, false);
        case 'DELETE':
          return handlers.delete(req, res, t);
        default:
          throw methodNotAllowed(req.method);
      }
    });
    router.all(`${base}/:name/:subresource`, async (req, res) => {
      const t = target(req, res, namespaced);
      if ((t.kind.namespaced && !namespaced) || req.params.subresource !== 'status' || !t.kind.hasStatus) {
        throw routeNotFound();
      }
      switch (req.method) {
        case 'GET':
        case 'HEAD':
          return handlers.get(req, res, t);
        case 'PUT':
          return handlers.replaceStatus(req, res, t);
        case 'PATCH':
          return handlers.patch(req, res, t, true);
        default:
          throw methodNotAllowed(req.method);
      }
    });
  }
  return router;
}

function verbOf(method: string, name: string | undefined): string {
  switch (method) {
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return name === undefined ? 'deletecollection' : 'delete';
    default:
      return name === undefined ? 'list' : 'get';
  }
}

class Handlers {
  constructor(private readonly deps: ResourceRoutesDeps) {}

  async list(req: Request, res: Response, t: Target): Promise<void> {
    const table = tableRequest(req.headers, queryParam(req, 'includeObject'));
    const selection = parseSelection(t.kind, queryParam(req, 'labelSelector'), queryParam(req, 'fieldSelector'));
    const prefix = scanPrefix(t.storage, t.namespace, selection);
    if (booleanParam(req, 'watch')) {
      await this.watch(req, res, t, prefix, selection);
      return;
    }
    const page = await readListPage(t.storage, {
      prefix,
      selection,
      limit: limitParam(req),
      continueToken: queryParam(req, 'continue') || undefined,
    });
    const metadata: { resourceVersion: string; continue?: string } = { resourceVersion: String(page.revision) };
    if (page.continue !== undefined) metadata.continue = page.continue;
    if (table !== undefined) {
      res.json(toTable(t.kind, page.items, table, this.deps.now(), metadata));
      return;
    }
    res.json({ kind: t.kind.listKind, apiVersion: apiVersionOf(t.kind), metadata, items: page.items });
  }

  private async watch(req: Request, res: Response, t: Target, prefix: string, selection: Selection): Promise<void> {
    const table = tableRequest(req.headers, queryParam(req, 'includeObject'));
    const { kind } = t;
    const source: WatchSource = {
      collection: t.watched,
      matches: (obj) => matches(selection, obj),
      render:
        table === undefined
          ? undefined
          : (obj) => toTable(kind, [obj], table, this.deps.now(), { resourceVersion: obj.metadata.resourceVersion }),
    };
    await this.deps.watches.serve(res, {
      source,
      prefix,
      resourceVersion: queryParam(req, 'resourceVersion'),
      timeoutSeconds: timeoutSecondsParam(req),
      allowBookmarks: booleanParam(req, 'allowWatchBookmarks'),
    });
  }

  async get(req: Request, res: Response, t: Target): Promise<void> {
    const name = t.name!;
    if (booleanParam(req, 'watch')) {
      // The legacy single-object watch: a watch with fieldSelector metadata.name=<name>.
      const selection = parseSelection(t.kind, queryParam(req, 'labelSelector'), `metadata.name=${escapeField(name)}`);
      await this.watch(req, res, t, scanPrefix(t.storage, t.namespace, selection), selection);
      return;
    }
    const found = await t.storage.get(t.namespace, name);
    if (found === undefined) throw notFound(t.kind, name);
    this.sendObject(req, res, t, 200, found.object);
  }

  async create(req: Request, res: Response, t: Target): Promise<void> {
    const dryRun = dryRunParam(req);
    const body = await readObjectBody(req, objectBodyFormat(req));
    const created = await t.writer.create(body, t.namespace, dryRun);
    this.sendObject(req, res, t, 201, created);
  }

  async replace(req: Request, res: Response, t: Target): Promise<void> {
    const dryRun = dryRunParam(req);
    const body = await readObjectBody(req, objectBodyFormat(req));
    const { object } = await t.writer.replace(t.namespace, t.name!, body, dryRun);
    this.sendObject(req, res, t, 200, object);
  }

  async replaceStatus(req: Request, res: Response, t: Target): Promise<void> {
    const dryRun = dryRunParam(req);
    const body = await readObjectBody(req, objectBodyFormat(req));
    const { object } = await t.writer.replaceStatus(t.namespace, t.name!, body, dryRun);
    this.sendObject(req, res, t, 200, object);
  }

  async patch(req: Request, res: Response, t: Target, status: boolean): Promise<void> {
    const dryRun = dryRunParam(req);
    const name = t.name!;
    const mediaType = requestMediaType(req);
    if (mediaType === APPLY_PATCH && !status) {
      const manager = queryParam(req, 'fieldManager');
      if (manager === undefined || manager === '') {
        throw badRequest('fieldManager: Required value: is required for apply patch');
      }
      if (manager.length > 128) throw badRequest('fieldManager: Too long: may not be more than 128 characters');
      const config = await readObjectBody(req, 'yaml');
      const result = await t.writer.apply(t.namespace, name, config, { manager, force: booleanParam(req, 'force') }, dryRun);
      this.sendObject(req, res, t, result.created ? 201 : 200, result.object);
      return;
    }
    let patch: (current: StoredObject) => unknown;
    if (mediaType === MERGE_PATCH) {
      const doc = parseBody((await readRawBody(req)).toString('utf8'), 'json');
      if (!isJsonObject(doc)) throw badRequest(`a merge patch must be a JSON object, not ${describeJsonType(doc)}`);
      patch = (current) => applyMergePatch(current, doc);
    } else if (mediaType === JSON_PATCH) {
      const operations = jsonPatchOperations(parseBody((await readRawBody(req)).toString('utf8'), 'json'));
      patch = (current) => patchOrInvalid(t.kind, name, () => applyJsonPatch(current, operations));
    } else if (mediaType === STRATEGIC_MERGE_PATCH) {
      throw unsupportedMediaType(
        `strategic merge patch is not supported for ${t.kind.plural}.${t.kind.group}; use a merge patch (kubectl patch --type merge) or a JSON patch (--type json); accepted media types include: ${PATCH_MEDIA_TYPES.join(', ')}`,
      );
    } else {
      const accepted = status ? [JSON_PATCH, MERGE_PATCH] : PATCH_MEDIA_TYPES;
      throw unsupportedMediaType(
        `the body of the request was in an unknown format (${mediaType ?? 'none'}); accepted media types include: ${accepted.join(', ')}`,
      );
    }
    const { object } = status
      ? await t.writer.patchStatus(t.namespace, name, patch, dryRun)
      : await t.writer.patch(t.namespace, name, patch, dryRun);
    this.sendObject(req, res, t, 200, object);
  }

  async delete(req: Request, res: Response, t: Target): Promise<void> {
    const options = await deleteOptions(req);
    const deleted = await t.writer.delete(t.namespace, t.name!, options.preconditions, options.dryRun || dryRunParam(req));
    res.status(200).json(deleted);
  }

  /** Deletes every matching object (read at one revision); answers with the list of deleted objects. */
  async deleteCollection(req: Request, res: Response, t: Target): Promise<void> {
    const options = await deleteOptions(req);
    const dryRun = options.dryRun || dryRunParam(req);
    const selection = parseSelection(t.kind, queryParam(req, 'labelSelector'), queryParam(req, 'fieldSelector'));
    const page = await readListPage(t.storage, { prefix: scanPrefix(t.storage, t.namespace, selection), selection });
    const deleted: StoredObject[] = [];
    for (const obj of page.items) {
      try {
        deleted.push(await t.writer.delete(obj.metadata.namespace, obj.metadata.name, { uid: obj.metadata.uid }, dryRun));
      } catch (err) {
        // Deleted or replaced meanwhile: not part of this collection's snapshot any more.
        if (!(err instanceof ApiError) || ![404, 409].includes(err.status.code)) throw err;
      }
    }
    res.status(200).json({
      kind: t.kind.listKind,
      apiVersion: apiVersionOf(t.kind),
      metadata: { resourceVersion: String(page.revision) },
      items: deleted,
    });
  }

  private sendObject(req: Request, res: Response, t: Target, code: number, obj: StoredObject): void {
    const table = req.method === 'GET' ? tableRequest(req.headers, queryParam(req, 'includeObject')) : undefined;
    if (table !== undefined) {
      res.status(code).json(toTable(t.kind, [obj], table, this.deps.now(), { resourceVersion: obj.metadata.resourceVersion }));
      return;
    }
    res.status(code).json(obj);
  }
}

function apiVersionOf(kind: ResourceKind): string {
  return `${kind.group}/${kind.version}`;
}

function escapeField(value: string): string {
  return value.replace(/[\\,=]/g, (c) => `\\${c}`);
}

function objectBodyFormat(req: Request): BodyFormat {
  return bodyFormat(requestMediaType(req) ?? 'application/json', OBJECT_MEDIA_TYPES);
}

function jsonPatchOperations(doc: unknown): JsonPatchOperation[] {
  try {
    return parseJsonPatch(doc);
  } catch (err) {
    if (err instanceof PatchError) throw badRequest(`invalid JSON patch: ${err.message}`);
    throw err;
  }
}

/** A JSON patch that fails on the current object is 422 Invalid naming the path. */
function patchOrInvalid(kind: ResourceKind, name: string, apply: () => unknown): unknown {
  try {
    return apply();
  } catch (err) {
    if (!(err instanceof PatchError)) throw err;
    const field = (err.pointer ?? '')
      .split('/')
      .slice(1)
      .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((path, token) => (/^\d+$/.test(token) ? `${path}[${token}]` : path === '' ? token : `${path}.${token}`), '');
    throw invalid(kind, name, [{ reason: 'FieldValueInvalid', field, message: `Invalid value: JSON patch failed: ${err.message}` }]);
  }
}

/** One query value (the first when repeated). */
/** A single-valued query parameter (400 when repeated with non-string values). */
export function queryParam(req: Request, name: string): string | undefined {
  const value = (req.query as Record<string, unknown>)[name];
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  throw badRequest(`${name}: expected a single string value`);
}

/** A boolean query parameter: true|1, false|0|empty|absent; anything else is 400. */
export function booleanParam(req: Request, name: string): boolean {
  const value = queryParam(req, name);
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw badRequest(`${name}: invalid value "${value}": must be true or false`);
}

/** `?dryRun=All` (repeatable); any other value is 400. */
export function dryRunParam(req: Request): boolean {
  const value = (req.query as Record<string, unknown>).dryRun;
  if (value === undefined) return false;
  const values = Array.isArray(value) ? value : [value];
  for (const v of values) {
    if (v !== 'All') throw badRequest(`dryRun: Unsupported value: ${JSON.stringify(v)}: supported values: "All"`);
  }
  return true;
}

/** `limit`: a non-negative integer; 0 or absent means no limit. */
export function limitParam(req: Request): number | undefined {
  const value = queryParam(req, 'limit');
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,9}$/.test(value)) throw badRequest(`limit: invalid value "${value}": must be a non-negative integer`);
  const limit = Number(value);
  return limit === 0 ? undefined : limit;
}

/** `timeoutSeconds` of a watch: a non-negative integer; absent: no timeout. */
export function timeoutSecondsParam(req: Request): number | undefined {
  const value = queryParam(req, 'timeoutSeconds');
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,9}$/.test(value)) throw badRequest(`timeoutSeconds: invalid value "${value}": must be a non-negative integer`);
  return Number(value);
}

/** DeleteOptions from the body (optional): preconditions and dryRun; other fields are accepted and ignored. */
async function deleteOptions(req: Request): Promise<{ preconditions: DeletePreconditions; dryRun: boolean }> {
  if (!hasBody(req)) return { preconditions: {}, dryRun: false };
  const raw = await readRawBody(req);
  if (raw.length === 0) return { preconditions: {}, dryRun: false };
  const body: JsonObject | unknown = parseBody(raw.toString('utf8'), objectBodyFormat(req));
  if (!isJsonObject(body)) throw badRequest(`DeleteOptions must be an object, not ${describeJsonType(body)}`);
  const preconditions: { uid?: string; resourceVersion?: string } = {};
  const given = body.preconditions;
  if (given !== undefined && given !== null) {
    if (!isJsonObject(given)) throw badRequest('preconditions: must be an object');
    for (const field of ['uid', 'resourceVersion'] as const) {
      const value = given[field];
      if (value === undefined || value === null) continue;
      if (typeof value !== 'string') throw badRequest(`preconditions.${field}: must be a string`);
      preconditions[field] = value;
    }
  }
  const dryRun = body.dryRun;
  if (dryRun !== undefined && dryRun !== null) {
    if (!Array.isArray(dryRun) || dryRun.some((v) => v !== 'All')) {
      throw badRequest('dryRun: Unsupported value: supported values: ["All"]');
    }
  }
  return { preconditions, dryRun: Array.isArray(dryRun) && dryRun.length > 0 };
}

// Server-side Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), as kubectl uses it.
import type { IncomingHttpHeaders } from 'node:http';
import type { ApiObject } from '../api/meta.js';
import type { ResourceKind } from '../api/kind.js';
import { humanDuration } from '../util/duration.js';
import { badRequest } from './status.js';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableRequest {
  /** The Table apiVersion the client asked for (meta.k8s.io/v1 or v1beta1). */
  readonly apiVersion: string;
  readonly includeObject: IncludeObject;
}

/**
 * The Table the client wants, or undefined for plain JSON. The first acceptable media
 * range of the Accept header wins, as in kube-apiserver.
 */
export function tableRequest(headers: IncomingHttpHeaders, includeObjectParam: unknown): TableRequest | undefined {
  const accept = headers.accept ?? '';
  let apiVersion: string | undefined;
  for (const range of accept.split(',')) {
    const [type = '', ...paramList] = range.split(';').map((s) => s.trim());
    const params = new Map(
      paramList.map((p) => {
        const [k = '', v = ''] = p.split('=');
        return [k.trim(), v.trim()] as const;
      }),
    );
    if (params.get('as') === 'Table' && params.get('g') === 'meta.k8s.io' && ['application/json', '*/*'].includes(type)) {
      const version = params.get('v') ?? 'v1';
      if (version === 'v1' || version === 'v1beta1') {
        apiVersion = `meta.k8s.io/${version}`;
        break;
      }
      continue;
    }
    if (!params.has('as')) break; // a plain media range comes first: no Table.
  }
  if (apiVersion === undefined) return undefined;
  const includeObject = includeObjectParam ?? 'Metadata';
  if (includeObject !== 'None' && includeObject !== 'Metadata' && includeObject !== 'Object') {
    throw badRequest(`includeObject must be None, Metadata or Object, not ${JSON.stringify(includeObject)}`);
  }
  return { apiVersion, includeObject };
}

export interface TableColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface TableRow {
  cells: (string | number)[];
  object?: unknown;
}

export interface Table {
  kind: 'Table';
  apiVersion: string;
  metadata: { resourceVersion?: string; continue?: string };
  columnDefinitions: TableColumnDefinition[];
  rows: TableRow[];
}

export function columnDefinitions(kind: ResourceKind): TableColumnDefinition[] {
  return [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    ...kind.columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: '',
      description: c.description,
      priority: c.priority,
    })),
    { name: 'Age', type: 'date', format: '', description: 'Time since the object was created.', priority: 0 },
  ];
}

function rowObject(obj: ApiObject, includeObject: IncludeObject, metaApiVersion: string): unknown {
  if (includeObject === 'Object') return obj;
  const { managedFields: _managedFields, ...metadata } = obj.metadata as ApiObject['metadata'] & {
    managedFields?: unknown;
  };
  return { kind: 'PartialObjectMetadata', apiVersion: metaApiVersion, metadata };
}

export function tableRow(kind: ResourceKind, obj: ApiObject, request: TableRequest, now: Date): TableRow {
  const created = Date.parse(obj.metadata.creationTimestamp ?? '');
  const age = Number.isNaN(created) ? '<unknown>' : humanDuration(now.getTime() - created);
  const cells: (string | number)[] = [obj.metadata.name, ...kind.columns.map((c) => c.cell(obj)), age];
  const row: TableRow = { cells };
  if (request.includeObject !== 'None') row.object = rowObject(obj, request.includeObject, request.apiVersion);
  return row;
}

export function toTable(
  kind: ResourceKind,
  objects: readonly ApiObject[],
  request: TableRequest,
  now: Date,
  listMeta: { resourceVersion?: string; continue?: string },
): Table {
  return {
    kind: 'Table',
    apiVersion: request.apiVersion,
    metadata: listMeta,
    columnDefinitions: columnDefinitions(kind),
    rows: objects.map((obj) => tableRow(kind, obj, request, now)),
  };
}

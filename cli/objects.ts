// Reading fields of API objects whose exact shape the CLI does not depend on (it prints what is there).
import type { ApiObject } from '../api/meta.js';

export type Json = Record<string, unknown>;

export function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at a dotted path (`status.phase`), or undefined. */
export function field(obj: unknown, path: string): unknown {
  let current: unknown = obj;
  for (const key of path.split('.')) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}

/** A scalar field as text ('' when absent); arrays of scalars are joined with commas. */
export function text(obj: unknown, path: string): string {
  return scalarText(field(obj, path));
}

export function scalarText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map(scalarText).join(',');
  if (isRecord(value)) return JSON.stringify(value);
  return String(value);
}

/** `namespace/name` or `name`, the identity of an object in messages and caches. */
export function objectKey(obj: ApiObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

const SERVER_METADATA = ['resourceVersion', 'managedFields', 'generation', 'creationTimestamp', 'uid', 'selfLink'];

/**
 * A copy of an object without what the server manages (status, resourceVersion, generation,
 * managedFields, uid, timestamps): what `diff` shows and what decides "unchanged" in a dry run.
 */
export function withoutServerFields(obj: unknown): Json | undefined {
  if (!isRecord(obj)) return undefined;
  const copy: Json = structuredClone(obj);
  delete copy.status;
  const metadata = copy.metadata;
  if (isRecord(metadata)) {
    for (const key of SERVER_METADATA) delete metadata[key];
  }
  return copy;
}

/** Deep equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && jsonEqual(a[k], b[k]));
  }
  return false;
}

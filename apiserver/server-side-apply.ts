// Server-side apply (PATCH application/apply-patch+yaml), with field ownership in
// metadata.managedFields entries in the Kubernetes format:
//   {manager, operation: 'Apply', apiVersion, time, fieldsType: 'FieldsV1',
//    fieldsV1: {"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {"f:driver": {}, ...}}}
//
// Simplifications (documented contract of this server):
// - Only Apply operations record ownership; other writes (PUT, merge/JSON patch) do not, and
//   apply never removes a field it did not apply itself.
// - Owned fields are the leaves of the applied manifest under metadata.labels,
//   metadata.annotations and spec (plus status for kinds without a status subresource).
//   Arrays are atomic (owned as one leaf), as `+listType=atomic` in Kubernetes.
// - A `null` in the manifest removes the field and is not owned.
// - Conflicts are checked against other Apply managers only: a field another manager applied
//   with a different value is a 409 Conflict unless `force=true`, which transfers ownership.
import type { StatusCause } from '../api/meta.js';
import { cloneJson, isJsonObject, jsonEqual, setOwn, type JsonObject } from './json-value.js';
import type { ManagedFieldsEntry, StoredObject } from './object-storage.js';

export type FieldPath = readonly string[];

export class ApplyConflictError extends Error {
  override readonly name = 'ApplyConflictError';
  constructor(readonly causes: StatusCause[]) {
    super(
      `Apply failed with ${causes.length} conflict${causes.length === 1 ? '' : 's'}: ${causes
        .map((c) => `${c.message}: ${c.field}`)
        .join(', ')}`,
    );
  }
}

/** The leaves a manifest applies (see the header comment). */
export function appliedFieldPaths(config: JsonObject, includeStatus: boolean): FieldPath[] {
  const paths: FieldPath[] = [];
  const metadata = config.metadata;
  if (isJsonObject(metadata)) {
    for (const section of ['labels', 'annotations']) {
      const map = metadata[section];
      if (isJsonObject(map)) {
        for (const [key, value] of Object.entries(map)) if (value !== null) paths.push(['metadata', section, key]);
      }
    }
  }
  const roots = includeStatus ? ['spec', 'status'] : ['spec'];
  for (const root of roots) {
    if (Object.hasOwn(config, root) && config[root] !== null) collectLeaves(config[root], [root], paths);
  }
  return paths;
}

function collectLeaves(value: unknown, path: string[], out: FieldPath[]): void {
  if (isJsonObject(value) && Object.keys(value).length > 0) {
    for (const [key, child] of Object.entries(value)) {
      if (child !== null) collectLeaves(child, [...path, key], out);
    }
  } else {
    out.push(path);
  }
}

/** Encodes paths as FieldsV1 (`{"f:spec": {"f:driver": {}}}`). */
export function pathsToFieldsV1(paths: readonly FieldPath[]): Record<string, unknown> {
  const root: JsonObject = {};
  for (const path of paths) {
    let node = root;
    for (const part of path) {
      const key = `f:${part}`;
      if (!isJsonObject(node[key])) setOwn(node, key, {});
      node = node[key] as JsonObject;
    }
  }
  return root;
}

/** Decodes FieldsV1 into leaf paths; keys other than `f:` (e.g. ".") are ignored. */
export function fieldsV1ToPaths(fields: unknown): FieldPath[] {
  const out: FieldPath[] = [];
  const walk = (node: unknown, path: string[]): void => {
    const children = isJsonObject(node) ? Object.entries(node).filter(([k]) => k.startsWith('f:')) : [];
    if (children.length === 0) {
      if (path.length > 0) out.push(path);
      return;
    }
    for (const [key, child] of children) walk(child, [...path, key.slice(2)]);
  };
  walk(fields, []);
  return out;
}

const samePath = (a: FieldPath, b: FieldPath): boolean => a.length === b.length && a.every((p, i) => p === b[i]);

/** One path is a prefix of the other: the two describe overlapping parts of the object. */
const overlaps = (a: FieldPath, b: FieldPath): boolean => {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
};

export function valueAt(obj: unknown, path: FieldPath): unknown {
  let node = obj;
  for (const part of path) {
    if (!isJsonObject(node) || !Object.hasOwn(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

function setAt(obj: JsonObject, path: FieldPath, value: unknown): void {
  let node = obj;
  for (const part of path.slice(0, -1)) {
    if (!isJsonObject(node[part])) setOwn(node, part, {});
    node = node[part] as JsonObject;
  }
  setOwn(node, path[path.length - 1]!, cloneJson(value));
}

/** Removes the field and any parents it leaves empty (never the top-level sections). */
function removeAt(obj: JsonObject, path: FieldPath): void {
  const parents: JsonObject[] = [];
  let node: unknown = obj;
  for (const part of path.slice(0, -1)) {
    if (!isJsonObject(node)) return;
    parents.push(node);
    node = node[part];
  }
  if (!isJsonObject(node)) return;
  delete node[path[path.length - 1]!];
  for (let depth = path.length - 2; depth >= 1; depth--) {
    const child = valueAt(obj, path.slice(0, depth + 1));
    if (isJsonObject(child) && Object.keys(child).length === 0) delete parents[depth]![path[depth]!];
    else break;
  }
}

function nullLeaves(config: JsonObject, includeStatus: boolean): FieldPath[] {
  const out: FieldPath[] = [];
  const walk = (value: unknown, path: string[]): void => {
    if (!isJsonObject(value)) return;
    for (const [key, child] of Object.entries(value)) {
      if (child === null) out.push([...path, key]);
      else walk(child, [...path, key]);
    }
  };
  const metadata = config.metadata;
  if (isJsonObject(metadata)) {
    walk(metadata.labels, ['metadata', 'labels']);
    walk(metadata.annotations, ['metadata', 'annotations']);
  }
  walk(config.spec, ['spec']);
  if (includeStatus) walk(config.status, ['status']);
  return out;
}

/**
 * The manifest an apply creates an object from: its nulls (removals when the object exists)
 * dropped, so that creating and updating accept the same manifests.
 */
export function withoutAppliedNulls(config: JsonObject, includeStatus: boolean): JsonObject {
  const out = cloneJson(config);
  for (const path of nullLeaves(out, includeStatus)) removeAt(out, path);
  const metadata = out.metadata;
  if (isJsonObject(metadata)) {
    for (const section of ['labels', 'annotations']) if (metadata[section] === null) delete metadata[section];
  }
  return out;
}

export interface ApplyOptions {
  readonly manager: string;
  readonly force: boolean;
  /** apiVersion recorded in the entry. */
  readonly apiVersion: string;
  /** RFC 3339 time recorded when this manager's field set changes. */
  readonly now: string;
  /** Whether status is applied through the main resource (kinds without a status subresource). */
  readonly includeStatus: boolean;
}

export function applyEntry(paths: readonly FieldPath[], options: ApplyOptions): ManagedFieldsEntry {
  return {
    manager: options.manager,
    operation: 'Apply',
    apiVersion: options.apiVersion,
    time: options.now,
    fieldsType: 'FieldsV1',
    fieldsV1: pathsToFieldsV1(paths),
  };
}

/**
 * The object after applying `config` on `current` for `options.manager`, with updated
 * managedFields. Throws ApplyConflictError on conflicts with other Apply managers (unless forced).
 * Re-applying the same manifest returns an object equal to `current`.
 */
export function mergeApplied(current: StoredObject, config: JsonObject, options: ApplyOptions): StoredObject {
  const applied = appliedFieldPaths(config, options.includeStatus);
  const entries = current.metadata.managedFields ?? [];
  const mine = entries.find((e) => e.manager === options.manager && e.operation === 'Apply');
  const previous = mine === undefined ? [] : fieldsV1ToPaths(mine.fieldsV1);
  const others = entries
    .filter((e) => e !== mine && e.operation === 'Apply')
    .map((entry) => ({ entry, paths: fieldsV1ToPaths(entry.fieldsV1) }));

  const conflicts: StatusCause[] = [];
  for (const path of applied) {
    if (jsonEqual(valueAt(current, path), valueAt(config, path))) continue;
    for (const other of others) {
      if (other.paths.some((owned) => overlaps(owned, path))) {
        conflicts.push({
          reason: 'FieldManagerConflict',
          message: `conflict with "${other.entry.manager}"`,
          field: `.${path.join('.')}`,
        });
        if (options.force) other.paths = other.paths.filter((owned) => !overlaps(owned, path));
      }
    }
  }
  if (conflicts.length > 0 && !options.force) throw new ApplyConflictError(conflicts);

  const merged = cloneJson(current) as StoredObject & JsonObject;
  for (const path of previous) {
    const stillApplied = applied.some((p) => overlaps(p, path));
    const ownedByOther = others.some((o) => o.paths.some((owned) => overlaps(owned, path)));
    if (!stillApplied && !ownedByOther) removeAt(merged, path);
  }
  for (const path of nullLeaves(config, options.includeStatus)) removeAt(merged, path);
  for (const path of applied) setAt(merged, path, valueAt(config, path));
  for (const section of ['labels', 'annotations'] as const) {
    const map = merged.metadata[section];
    if (map !== undefined && Object.keys(map).length === 0) delete merged.metadata[section];
  }

  const unchanged = samePathSet(previous, applied) && mine !== undefined;
  const nextEntries: ManagedFieldsEntry[] = [];
  let placedMine = false;
  for (const entry of entries) {
    if (entry === mine) {
      placedMine = true;
      if (applied.length > 0) nextEntries.push(unchanged ? entry : applyEntry(applied, options));
      continue;
    }
    const other = others.find((o) => o.entry === entry);
    if (other === undefined) {
      nextEntries.push(entry);
    } else if (other.paths.length > 0) {
      const changed = !samePathSet(other.paths, fieldsV1ToPaths(entry.fieldsV1));
      nextEntries.push(changed ? { ...entry, time: options.now, fieldsV1: pathsToFieldsV1(other.paths) } : entry);
    }
  }
  if (!placedMine && applied.length > 0) nextEntries.push(applyEntry(applied, options));
  if (nextEntries.length > 0) merged.metadata.managedFields = nextEntries;
  else delete merged.metadata.managedFields;
  return merged;
}

function samePathSet(a: readonly FieldPath[], b: readonly FieldPath[]): boolean {
  return a.length === b.length && a.every((p) => b.some((q) => samePath(p, q)));
}

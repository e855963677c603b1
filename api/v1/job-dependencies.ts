// Admission of spec.dependsOn: reject a job whose dependencies would close a cycle.
import type { ObjectLookup } from '../kind.js';
import type { ApiObject, StatusCause } from '../meta.js';
import { isPlainObject } from '../define-kind.js';
import { invalid } from '../validation.js';

/** At most this many jobs are looked up while searching for a cycle. */
export const MAX_DEPENDENCY_WALK = 10000;
/** Lookups in flight at once during the walk. */
const LOOKUP_CONCURRENCY = 32;

/** The names a job depends on (only well-formed string entries). */
export function dependsOnOf(obj: unknown): string[] {
  if (!isPlainObject(obj) || !isPlainObject(obj.spec) || !Array.isArray(obj.spec.dependsOn)) return [];
  return obj.spec.dependsOn.filter((d): d is string => typeof d === 'string');
}

export type CycleSearch =
  | { readonly kind: 'none' }
  | { readonly kind: 'cycle'; readonly path: readonly string[] }
  | { readonly kind: 'too-large'; readonly visited: number };

/**
 * Breadth-first walk from `name` along dependsOn (the job's own edges are `deps`, the rest come
 * from `lookup` in `namespace`). Finds the shortest cycle back to `name`, e.g.
 * ['a', 'b', 'c', 'a']. Missing jobs end a branch (they may be created later). Gives up after
 * `limit` lookups. Throws whatever `lookup` throws.
 */
export async function findDependencyCycle(
  namespace: string | undefined,
  name: string,
  deps: readonly string[],
  lookup: ObjectLookup,
  limit = MAX_DEPENDENCY_WALK,
): Promise<CycleSearch> {
  const parent = new Map<string, string>(); // job -> the job that depends on it (first seen)
  const pathTo = (job: string): string[] => {
    const path = [job];
    for (let j = parent.get(job); j !== undefined; j = parent.get(j)) path.unshift(j);
    return path;
  };
  let frontier: string[] = [];
  for (const d of new Set(deps)) {
    if (d === name) return { kind: 'cycle', path: [name, name] };
    parent.set(d, name);
    frontier.push(d);
  }
  let visited = 0;
  while (frontier.length > 0) {
    const next: string[] = [];
    for (let i = 0; i < frontier.length; i += LOOKUP_CONCURRENCY) {
      const batch = frontier.slice(i, i + LOOKUP_CONCURRENCY);
      if (visited + batch.length > limit) return { kind: 'too-large', visited };
      visited += batch.length;
      const objects = await Promise.all(batch.map((job) => lookup(namespace, job)));
      for (let k = 0; k < batch.length; k++) {
        const job = batch[k] as string;
        for (const d of dependsOnOf(objects[k])) {
          if (d === name) return { kind: 'cycle', path: [...pathTo(job), name] };
          if (parent.has(d)) continue;
          parent.set(d, job);
          next.push(d);
        }
      }
    }
    frontier = next;
  }
  return { kind: 'none' };
}

/** Admission causes for a Job's dependsOn: a cycle, or a dependency graph too large to check. */
export async function admitDependencies(obj: ApiObject, lookup: ObjectLookup, limit = MAX_DEPENDENCY_WALK): Promise<StatusCause[]> {
  const deps = dependsOnOf(obj);
  const name = obj.metadata?.name;
  if (deps.length === 0 || typeof name !== 'string') return [];
  const found = await findDependencyCycle(obj.metadata.namespace, name, deps, lookup, limit);
  switch (found.kind) {
    case 'none':
      return [];
    case 'cycle':
      return [invalid('spec.dependsOn', deps, `dependency cycle: ${found.path.join(' -> ')}`)];
    case 'too-large':
      return [
        invalid(
          'spec.dependsOn',
          deps,
          `the dependency graph reachable from this job has more than ${limit} jobs; cycles cannot be checked`,
        ),
      ];
  }
}

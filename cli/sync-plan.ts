// The pure part of `osctl sync`: what the sync's objects should look like (label, source
// annotation, hashes) and the plan that turns the server's owned objects into the desired set,
// with the prune-safety rules. No I/O here.
import { createHash } from 'node:crypto';
import type { ApiObject } from '../api/meta.js';
import { isRecord, jsonEqual } from './objects.js';

/** Label naming the sync that owns an object: the inventory is "every object with this label". */
export const SYNC_LABEL = 'openscheduler.io/sync';
/** Annotation: the manifest file (relative to DIR, `/`-separated) the object comes from. */
export const SOURCE_ANNOTATION = 'openscheduler.io/sync-source';
/** Annotation: hash of the manifest's spec; a change on a finished Job means "run again". */
export const SPEC_HASH_ANNOTATION = 'openscheduler.io/spec-hash';
/** Annotation: hash of the whole object the sync applies (decides "unchanged" without a write). */
export const SYNC_HASH_ANNOTATION = 'openscheduler.io/sync-hash';
export const DEFAULT_SYNC_NAME = 'default';
export const DEFAULT_MAX_PRUNE_FRACTION = 0.5;

const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Checks --name: it becomes a label value (<= 63 chars, alphanumerics and `-_.`, alphanumeric at both ends). */
export function validateSyncName(name: string): void {
  if (!LABEL_VALUE.test(name)) {
    throw new Error(`--name: "${name}" is not a valid label value: at most 63 characters, letters, digits, "-", "_" or ".", starting and ending with a letter or digit`);
  }
}

/** The identity of an object across kinds and namespaces: `Kind/namespace/name`. */
export function objectIdentity(kind: string, namespace: string | undefined, name: string): string {
  return `${kind}/${namespace ?? ''}/${name}`;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = canonical(value[key]);
    return out;
  }
  return value;
}

/** sha256 (hex, first 32 chars) of a JSON value with sorted keys. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(canonical(value ?? null))).digest('hex').slice(0, 32);
}

/**
 * The object the sync applies for a manifest: the manifest plus the sync label, the source
 * annotation and both hashes. `manifest` is not modified.
 */
export function syncedObject(manifest: ApiObject, syncName: string, source: string): ApiObject {
  const metadata = manifest.metadata;
  const labels = { ...(metadata.labels ?? {}), [SYNC_LABEL]: syncName };
  const annotations: Record<string, string> = {
    ...(metadata.annotations ?? {}),
    [SOURCE_ANNOTATION]: source,
    [SPEC_HASH_ANNOTATION]: contentHash((manifest as { spec?: unknown }).spec),
  };
  delete annotations[SYNC_HASH_ANNOTATION];
  const object = { ...manifest, metadata: { ...metadata, labels, annotations } } as ApiObject;
  annotations[SYNC_HASH_ANNOTATION] = contentHash(object);
  return object;
}

/** True when every field of `desired` is in `live` with the same value (objects compared key by key, arrays whole). */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (isRecord(desired)) {
    return isRecord(live) && Object.keys(desired).every((key) => isSubset(desired[key], live[key]));
  }
  return jsonEqual(desired, live);
}

/** One object the directory declares. */
export interface DesiredObject {
  readonly identity: string;
  /** `job.openscheduler.io/NAME`. */
  readonly display: string;
  /** The object to apply (from syncedObject). */
  readonly object: ApiObject;
}

/** One object on the server carrying this sync's label. */
export interface OwnedObject {
  readonly identity: string;
  readonly display: string;
  readonly object: ApiObject;
}

export type PlanAction = 'create' | 'update' | 'unchanged' | 'recreate' | 'prune';

export interface PlanStep {
  readonly action: PlanAction;
  readonly identity: string;
  readonly display: string;
  /** What to apply (all but prune). */
  readonly desired?: ApiObject;
  /** What is on the server (all but create). */
  readonly live?: ApiObject;
}

export interface PlanInput {
  readonly desired: readonly DesiredObject[];
  /** Objects with this sync's label. */
  readonly owned: readonly OwnedObject[];
  /** Source files (relative) that could not be read or parsed now: their objects are never pruned. */
  readonly failedSources: ReadonlySet<string>;
  readonly prune: boolean;
  readonly force: boolean;
  /** Largest share of the inventory one pass may delete without --force (0..1). */
  readonly maxPruneFraction: number;
}

export interface Plan {
  readonly steps: PlanStep[];
  /** Why pruning was refused (then the plan holds no prune steps), for the user. */
  readonly pruneRefused?: string;
}

const FINISHED_PHASES = new Set(['Succeeded', 'Failed']);

function phaseOf(obj: ApiObject): string | undefined {
  const status = (obj as { status?: unknown }).status;
  return isRecord(status) && typeof status.phase === 'string' ? status.phase : undefined;
}

function annotation(obj: ApiObject, key: string): string | undefined {
  return obj.metadata.annotations?.[key];
}

/** What to do with one desired object given what the server has under this sync's label. */
function stepFor(desired: DesiredObject, live: ApiObject | undefined): PlanStep {
  const base = { identity: desired.identity, display: desired.display, desired: desired.object };
  if (!live) return { ...base, action: 'create' };
  const wantedSpecHash = annotation(desired.object, SPEC_HASH_ANNOTATION);
  const liveSpecHash = annotation(live, SPEC_HASH_ANNOTATION);
  // A finished run-once Job whose manifest spec changed runs again: delete and create anew.
  if (desired.object.kind === 'Job' && liveSpecHash !== undefined && liveSpecHash !== wantedSpecHash && FINISHED_PHASES.has(phaseOf(live) ?? '')) {
    return { ...base, live, action: 'recreate' };
  }
  // Same manifest as last applied and no drift in the fields it sets: nothing to write.
  const sameHash = annotation(live, SYNC_HASH_ANNOTATION) === annotation(desired.object, SYNC_HASH_ANNOTATION);
  if (sameHash && isSubset(desired.object, live)) return { ...base, live, action: 'unchanged' };
  return { ...base, live, action: 'update' };
}

/**
 * The plan of one pass: create/update/unchanged/recreate for every desired object, then prune
 * steps for owned objects no longer declared, unless a safety rule refuses pruning:
 * - objects whose source file currently fails to read or parse are never pruned;
 * - an empty source (no desired objects, no failed files) prunes nothing without `force`;
 * - more than `maxPruneFraction` of the inventory at once prunes nothing without `force`.
 * Objects without the sync's label never reach the plan: the caller lists by label.
 */
export function planSync(input: PlanInput): Plan {
  const live = new Map(input.owned.map((o) => [o.identity, o]));
  const steps: PlanStep[] = input.desired.map((d) => stepFor(d, live.get(d.identity)?.object));
  if (!input.prune) return { steps };
  const wanted = new Set(input.desired.map((d) => d.identity));
  const doomed = input.owned.filter((o) => {
    if (wanted.has(o.identity)) return false;
    const source = annotation(o.object, SOURCE_ANNOTATION);
    return source === undefined || !input.failedSources.has(source);
  });
  if (doomed.length === 0) return { steps };
  if (!input.force) {
    if (input.desired.length === 0 && input.failedSources.size === 0) {
      return {
        steps,
        pruneRefused: `refusing to prune: the source holds no manifests, which would delete all ${doomed.length} object(s) of this sync; pass --force to prune anyway`,
      };
    }
    if (doomed.length > input.maxPruneFraction * input.owned.length) {
      return {
        steps,
        pruneRefused: `refusing to prune ${doomed.length} of ${input.owned.length} owned object(s): more than --max-prune-fraction ${input.maxPruneFraction}; pass --force to prune anyway`,
      };
    }
  }
  for (const o of doomed) steps.push({ action: 'prune', identity: o.identity, display: o.display, live: o.object });
  return { steps };
}

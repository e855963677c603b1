// The kinds osctl knows, how users name them (job, jobs, osj, job/NAME) and where they live in the REST API.
import { API_VERSION, GROUP, VERSION } from '../api/meta.js';

export interface CliResource {
  readonly kind: string; // 'Job'
  readonly singular: string; // 'job'
  readonly plural: string; // 'jobs'
  readonly shortNames: readonly string[];
  readonly namespaced: boolean;
}

export const JOB: CliResource = { kind: 'Job', singular: 'job', plural: 'jobs', shortNames: ['osj'], namespaced: true };
export const NODE: CliResource = { kind: 'Node', singular: 'node', plural: 'nodes', shortNames: ['osn'], namespaced: false };
export const RESOURCES: readonly CliResource[] = [JOB, NODE];

const API_ROOT = `/apis/${GROUP}/${VERSION}`;

/** Thrown for a resource or kind osctl does not know; the message lists the known ones. */
export class UnknownResourceError extends Error {
  override readonly name = 'UnknownResourceError';
}

function knownNames(): string {
  return RESOURCES.map((r) => [r.singular, r.plural, ...r.shortNames].join('|')).join(', ');
}

/**
 * Resolves a resource name as typed on the command line: singular, plural, short name, or
 * the qualified forms `jobs.openscheduler.io` / `job.openscheduler.io` (case-insensitive).
 */
export function resolveResource(name: string): CliResource {
  const lower = name.toLowerCase();
  const bare = lower.endsWith(`.${GROUP}`) ? lower.slice(0, -GROUP.length - 1) : lower;
  const found = RESOURCES.find((r) => r.singular === bare || r.plural === bare || r.shortNames.includes(bare));
  if (!found) throw new UnknownResourceError(`unknown resource type "${name}": expected one of ${knownNames()}`);
  return found;
}

/** The resource for a manifest's apiVersion and kind. */
export function resourceForKind(apiVersion: unknown, kind: unknown): CliResource {
  const found = RESOURCES.find((r) => r.kind === kind);
  if (!found || apiVersion !== API_VERSION) {
    const known = RESOURCES.map((r) => `${API_VERSION} ${r.kind}`).join(', ');
    throw new UnknownResourceError(
      `unknown kind "${String(kind)}" with apiVersion "${String(apiVersion)}": osctl handles ${known}`,
    );
  }
  return found;
}

export interface ResourceArgs {
  readonly resource: CliResource;
  /** Names given (possibly empty, meaning "all"). */
  readonly names: readonly string[];
}

/**
 * Parses kubectl-style resource arguments: `TYPE [NAME...]` or `TYPE/NAME [TYPE/NAME...]`
 * (all of one type). Throws an Error explaining the accepted forms.
 */
export function parseResourceArgs(args: readonly string[]): ResourceArgs {
  const [first, ...rest] = args;
  if (first === undefined || first === '') {
    throw new Error(`a resource type is required: expected one of ${knownNames()} (or TYPE/NAME)`);
  }
  if (first.includes('/')) {
    let resource: CliResource | undefined;
    const names: string[] = [];
    for (const arg of args) {
      const slash = arg.indexOf('/');
      if (slash <= 0 || slash === arg.length - 1) {
        throw new Error(`"${arg}": when one argument is TYPE/NAME, every argument must be TYPE/NAME`);
      }
      const r = resolveResource(arg.slice(0, slash));
      if (resource && r !== resource) throw new Error(`"${arg}": all arguments must be of one resource type`);
      resource = r;
      names.push(arg.slice(slash + 1));
    }
    return { resource: resource ?? JOB, names };
  }
  for (const name of rest) {
    if (name.includes('/')) throw new Error(`"${name}": there is no need to specify a resource type as TYPE/NAME after "${first}"`);
  }
  return { resource: resolveResource(first), names: rest };
}

/** Parses exactly one `TYPE/NAME` (or `TYPE NAME` given as two args) for commands on one object. */
export function parseSingleObjectArgs(args: readonly string[]): { resource: CliResource; name: string } {
  const { resource, names } = parseResourceArgs(args);
  const [name] = names;
  if (names.length !== 1 || name === undefined) {
    throw new Error(`exactly one object is required, as TYPE/NAME or TYPE NAME (got ${args.join(' ') || 'nothing'})`);
  }
  return { resource, name };
}

/** The collection path: namespaced kinds in `namespace`, or across all namespaces when it is undefined. */
export function collectionPath(resource: CliResource, namespace: string | undefined): string {
  if (resource.namespaced && namespace !== undefined) {
    return `${API_ROOT}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}`;
  }
  return `${API_ROOT}/${resource.plural}`;
}

/** The path of one object. */
export function objectPath(resource: CliResource, namespace: string, name: string): string {
  return `${collectionPath(resource, resource.namespaced ? namespace : undefined)}/${encodeURIComponent(name)}`;
}

/** `job.openscheduler.io/NAME`, as printed by apply and `-o name`. */
export function qualifiedName(resource: CliResource, name: string): string {
  return `${resource.singular}.${GROUP}/${name}`;
}

/** `job.openscheduler.io "NAME"`, as in kubectl's `deleted` message. */
export function quotedName(resource: CliResource, name: string): string {
  return `${resource.singular}.${GROUP} "${name}"`;
}

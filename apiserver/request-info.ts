// What a request is about, decided from its method, path and query alone (as Kubernetes'
// RequestInfoResolver does), before any handler runs. Authorization, the audit log and the API
// metrics all read this one description, so they agree on what a request did.
//
// Resource paths:
//   /apis/{group}/{version}[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]
//   /api/v1[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]     (core: events, nodetokens, users, audit)
// Verbs: GET/HEAD -> get (named) | list | watch (?watch=true|1); POST -> create; PUT -> update;
// PATCH -> patch; DELETE -> delete (named) | deletecollection. Anything else is a non-resource
// request whose verb is the lower-case method and whose path is kept.

export type ResourceVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface ResourceRequestInfo {
  readonly isResourceRequest: true;
  readonly verb: ResourceVerb;
  /** '' for the core group (/api/v1). */
  readonly apiGroup: string;
  readonly apiVersion: string;
  readonly resource: string;
  /** '' when none. */
  readonly subresource: string;
  /** '' for cluster-scoped paths and all-namespace lists. */
  readonly namespace: string;
  /** '' for collections. */
  readonly name: string;
  readonly path: string;
}

export interface NonResourceRequestInfo {
  readonly isResourceRequest: false;
  /** The lower-case HTTP method (head is reported as get). */
  readonly verb: string;
  readonly path: string;
}

export type RequestInfo = ResourceRequestInfo | NonResourceRequestInfo;

/** res.locals key of the request's RequestInfo, set by the API server before any other middleware. */
export const REQUEST_INFO = 'requestInfo';

/** Path segments longer than this are never taken as names (they cannot be stored anyway). */
const MAX_SEGMENT = 253;
const MUTATING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Whether an HTTP method changes state (the audit log records these). */
export function isMutatingMethod(method: string): boolean {
  return MUTATING_METHODS.has(method.toUpperCase());
}

function isWatch(query: Readonly<Record<string, unknown>>): boolean {
  const value = query.watch;
  const text = Array.isArray(value) ? value[0] : value;
  return text === 'true' || text === '1';
}

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * Describes a request. `path` is the URL path without the query (express `req.path`); `query`
 * the parsed query (express `req.query`). Never throws.
 */
export function resolveRequestInfo(method: string, path: string, query: Readonly<Record<string, unknown>> = {}): RequestInfo {
  const upper = method.toUpperCase();
  const nonResource: NonResourceRequestInfo = {
    isResourceRequest: false,
    verb: upper === 'HEAD' ? 'get' : method.toLowerCase(),
    path,
  };
  const raw = path.split('/').filter((s) => s.length > 0);
  const parts: string[] = [];
  for (const s of raw) {
    const d = decode(s);
    if (d === undefined || d.length > MAX_SEGMENT || d.includes('/')) return nonResource;
    parts.push(d);
  }

  let apiGroup: string;
  let apiVersion: string;
  let rest: string[];
  if (parts[0] === 'apis' && parts.length >= 4) {
    apiGroup = parts[1]!;
    apiVersion = parts[2]!;
    rest = parts.slice(3);
  } else if (parts[0] === 'api' && parts[1] === 'v1' && parts.length >= 3) {
    apiGroup = '';
    apiVersion = 'v1';
    rest = parts.slice(2);
  } else {
    return nonResource;
  }
  // /api/v1/auth/... is the login endpoint, not a resource
  if (apiGroup === '' && rest[0] === 'auth') return nonResource;

  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1]!;
    rest = rest.slice(2);
  } else if (rest[0] === 'namespaces') {
    // /namespaces or /namespaces/{ns}: the namespaces resource itself
    namespace = '';
  }
  if (rest.length === 0 || rest.length > 3) return nonResource;
  const [resource, name = '', subresource = ''] = rest as [string, string?, string?];

  let verb: ResourceVerb | undefined;
  switch (upper) {
    case 'GET':
    case 'HEAD':
      verb = isWatch(query) ? 'watch' : name === '' ? 'list' : 'get';
      break;
    case 'POST':
      verb = 'create';
      break;
    case 'PUT':
      verb = 'update';
      break;
    case 'PATCH':
      verb = 'patch';
      break;
    case 'DELETE':
      verb = name === '' ? 'deletecollection' : 'delete';
      break;
    default:
      return nonResource;
  }
  return { isResourceRequest: true, verb, apiGroup, apiVersion, resource, subresource, namespace, name, path };
}

/** `jobs`, `jobs/log`: the resource with its subresource, for rules and metric labels. */
export function resourceWithSubresource(info: ResourceRequestInfo): string {
  return info.subresource === '' ? info.resource : `${info.resource}/${info.subresource}`;
}

// Authorization: ONE policy table over RequestInfo (request-info.ts) and the Principal, default deny.
//
// Contract:
// - A request is allowed when some rule of POLICY matches it; the first matching rule names the
//   decision (ruleId, which the audit log may record). No match: refused (403), for every role.
// - A rule matches when the principal's role is in `roles`, the verb is in `verbs` ('*': any) and
//   either the request is a resource request whose apiGroup is `apiGroup` and whose
//   `resource[/subresource]` is in `resources` ('*': any), or a non-resource request whose path is
//   in `nonResourcePaths` (exact, or a prefix ending in '*'). With `self: true` the resource's
//   name must also be the principal's user name (a user reading or changing themselves).
// - Admins go through the table too: specific rules first (so the decision names what was done),
//   and ADMIN_ALL_RULE last, so an admin's request for an unknown path reaches the handler's 404
//   while every other role gets 403.
// The middleware answers a refusal with a Kubernetes Status (reason Forbidden) phrased as the
// Kubernetes API server does.
import type { NextFunction, Request, Response } from 'express';
import type { Principal } from './authn.js';
import { PRINCIPAL } from './authn.js';
import { REQUEST_INFO, resolveRequestInfo, resourceWithSubresource, type RequestInfo, type ResourceVerb } from './request-info.js';
import { ApiError, failureStatus, unauthorized } from './status.js';
import type { Role } from './users.js';

export const API_GROUP = 'openscheduler.io';
const CORE_GROUP = '';
const READ_VERBS: readonly ResourceVerb[] = ['get', 'list', 'watch'];
const WRITE_VERBS: readonly ResourceVerb[] = ['create', 'update', 'patch', 'delete', 'deletecollection'];
const ALL_ROLES: readonly Role[] = ['admin', 'operator', 'viewer'];

/** One allow rule. A rule has `resources` (with `apiGroup`), `nonResourcePaths`, or both. */
export interface PolicyRule {
  /** Stable, kebab-case: it appears in the audit log and the README. */
  readonly id: string;
  /** One line: what the rule allows, for people (README, logs). */
  readonly description: string;
  readonly roles: readonly Role[];
  /** Resource verbs (request-info.ts) or lower-case HTTP methods for paths ('get' includes HEAD); '*' any. */
  readonly verbs: readonly string[];
  /** The API group of `resources`: '' is the core group (/api/v1); '*' any. */
  readonly apiGroup?: string;
  /** `resource` or `resource/subresource`; '*' any. */
  readonly resources?: readonly string[];
  /** Only the resource whose name is the principal's user name. */
  readonly self?: true;
  /** Exact paths, or prefixes ending in '*' ('*' alone: every path), of non-resource requests. */
  readonly nonResourcePaths?: readonly string[];
}

/** The rule that lets admins do everything no earlier rule names (its decisions reach the handlers, e.g. their 404). */
export const ADMIN_ALL_RULE = 'admin-all';

/** The policy, in match order. */
export const POLICY: readonly PolicyRule[] = [
  {
    id: 'read-workloads',
    description: 'read jobs (with their status and logs) and nodes: get, list, watch',
    roles: ALL_ROLES,
    verbs: READ_VERBS,
    apiGroup: API_GROUP,
    resources: ['jobs', 'jobs/status', 'jobs/log', 'nodes', 'nodes/status'],
  },
  {
    id: 'read-events',
    description: 'read events: get, list, watch',
    roles: ALL_ROLES,
    verbs: READ_VERBS,
    apiGroup: CORE_GROUP,
    resources: ['events'],
  },
  {
    id: 'read-dashboard',
    description: 'the web dashboard\'s read model (summary, job search, nodes): GET /dashboard/v1/*',
    roles: ALL_ROLES,
    verbs: ['get'],
    nonResourcePaths: ['/dashboard/v1/*'],
  },
  {
    id: 'discovery',
    description: 'API discovery, /version and the OpenAPI document (GET)',
    roles: ALL_ROLES,
    verbs: ['get'],
    nonResourcePaths: ['/api', '/api/*', '/apis', '/apis/*', '/version', '/openapi/v2'],
  },
  {
    id: 'metrics',
    description: 'Prometheus metrics: GET /metrics',
    roles: ALL_ROLES,
    verbs: ['get'],
    nonResourcePaths: ['/metrics'],
  },
  {
    id: 'whoami',
    description: 'GET /api/v1/whoami: one\'s own user name and role',
    roles: ALL_ROLES,
    verbs: ['get', 'list'],
    apiGroup: CORE_GROUP,
    resources: ['whoami'],
  },
  {
    id: 'self-read',
    description: 'read one\'s own user record',
    roles: ALL_ROLES,
    verbs: ['get'],
    apiGroup: CORE_GROUP,
    resources: ['users'],
    self: true,
  },
  {
    id: 'self-password',
    description: 'change one\'s own password (the current one is required)',
    roles: ALL_ROLES,
    verbs: ['update'],
    apiGroup: CORE_GROUP,
    resources: ['users/password'],
    self: true,
  },
  {
    id: 'write-jobs',
    description: 'create, update, patch and delete jobs (one or a collection)',
    roles: ['admin', 'operator'],
    verbs: WRITE_VERBS,
    apiGroup: API_GROUP,
    resources: ['jobs'],
  },
  {
    id: 'retry-jobs',
    description: 'retry failed jobs (take them out of the dead-letter queue)',
    roles: ['admin', 'operator'],
    verbs: ['create'],
    apiGroup: API_GROUP,
    resources: ['jobs/retry'],
  },
  {
    id: 'job-status-write',
    description: 'write job status (agents report it over gRPC; REST writes are for repairs)',
    roles: ['admin'],
    verbs: ['*'],
    apiGroup: API_GROUP,
    resources: ['jobs/status'],
  },
  {
    id: 'nodes-write',
    description: 'create, change and delete nodes (agents register them over gRPC)',
    roles: ['admin'],
    verbs: ['*'],
    apiGroup: API_GROUP,
    resources: ['nodes', 'nodes/status'],
  },
  {
    id: 'node-tokens',
    description: 'issue, list and revoke node tokens',
    roles: ['admin'],
    verbs: ['*'],
    apiGroup: CORE_GROUP,
    resources: ['nodetokens'],
  },
  {
    id: 'users',
    description: 'manage users: create, list, delete, set passwords and roles, mint tokens',
    roles: ['admin'],
    verbs: ['*'],
    apiGroup: CORE_GROUP,
    resources: ['users', 'users/password', 'users/token'],
  },
  {
    id: 'audit',
    description: 'read the audit log',
    roles: ['admin'],
    verbs: ['*'],
    apiGroup: CORE_GROUP,
    resources: ['audit'],
  },
  {
    id: 'events-write',
    description: 'events are written by the system only; other methods answer 405',
    roles: ['admin'],
    verbs: ['*'],
    apiGroup: CORE_GROUP,
    resources: ['events'],
  },
  {
    id: ADMIN_ALL_RULE,
    description: 'everything else, including paths the server does not serve (404)',
    roles: ['admin'],
    verbs: ['*'],
    nonResourcePaths: ['*'],
    apiGroup: '*',
    resources: ['*'],
  },
];

export interface Decision {
  readonly allowed: boolean;
  /** The rule that allowed the request; undefined when refused. */
  readonly ruleId?: string;
  /** Why, in words (for logs). */
  readonly reason: string;
}

/** res.locals key of the allowing rule's id (string), set by the authorization middleware. */
export const AUTHORIZATION_RULE_ID = 'authorizationRuleId';

function pathMatches(patterns: readonly string[], path: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? path.startsWith(p.slice(0, -1)) : path === p));
}

/**
 * Whether the rule's selector (group and resource, or path) covers the request, whatever the
 * role, verb and name. The route coverage test uses it to check that every route is in the table.
 */
export function ruleNamesRequest(rule: PolicyRule, info: RequestInfo): boolean {
  if (info.isResourceRequest) {
    const { apiGroup, resources } = rule;
    if (apiGroup === undefined || resources === undefined) return false;
    const resource = resourceWithSubresource(info);
    return (apiGroup === '*' || apiGroup === info.apiGroup) && (resources.includes('*') || resources.includes(resource));
  }
  return rule.nonResourcePaths !== undefined && pathMatches(rule.nonResourcePaths, info.path);
}

/** Whether `rule` allows `principal` to make the request. */
export function ruleAllows(rule: PolicyRule, principal: Principal, info: RequestInfo): boolean {
  if (!(rule.roles as readonly string[]).includes(principal.role)) return false;
  if (!rule.verbs.includes('*') && !rule.verbs.includes(info.verb)) return false;
  if (!ruleNamesRequest(rule, info)) return false;
  if (rule.self === true && (!info.isResourceRequest || info.name !== principal.username)) return false;
  return true;
}

/** The decision of the table (default: POLICY) for a request; refused when no rule allows it. */
export function authorize(principal: Principal, info: RequestInfo, policy: readonly PolicyRule[] = POLICY): Decision {
  const rule = policy.find((r) => ruleAllows(r, principal, info));
  if (rule !== undefined) return { allowed: true, ruleId: rule.id, reason: `allowed by rule "${rule.id}"` };
  const what = info.isResourceRequest ? `${info.verb} ${resourceWithSubresource(info)}` : `${info.verb} ${info.path}`;
  return { allowed: false, reason: `no rule allows role "${principal.role}" to ${what}` };
}

/** 403 Forbidden phrased as Kubernetes does, e.g. `jobs.openscheduler.io "x" is forbidden: User "bob" cannot delete ...`. */
export function forbidden(principal: Principal, info: RequestInfo): ApiError {
  const user = `User ${JSON.stringify(principal.username)}`;
  if (!info.isResourceRequest) {
    return new ApiError(failureStatus(403, 'Forbidden', `forbidden: ${user} cannot ${info.verb} path ${JSON.stringify(info.path)}`, {}));
  }
  const qualified = info.apiGroup === '' ? info.resource : `${info.resource}.${info.apiGroup}`;
  const subject = info.name === '' ? qualified : `${qualified} ${JSON.stringify(info.name)}`;
  const scope = info.namespace === '' ? 'at the cluster scope' : `in the namespace ${JSON.stringify(info.namespace)}`;
  const message =
    `${subject} is forbidden: ${user} cannot ${info.verb} resource ${JSON.stringify(resourceWithSubresource(info))} ` +
    `in API group ${JSON.stringify(info.apiGroup)} ${scope}`;
  const details = { group: info.apiGroup, kind: info.resource, ...(info.name === '' ? {} : { name: info.name }) };
  return new ApiError(failureStatus(403, 'Forbidden', message, details));
}

/**
 * Express middleware: mount right after authentication. Refuses (403 Status) what the table does
 * not allow and records the allowing rule's id in res.locals[AUTHORIZATION_RULE_ID].
 */
export function authorization(policy: readonly PolicyRule[] = POLICY) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const principal = res.locals[PRINCIPAL] as Principal | undefined;
    if (principal === undefined) throw unauthorized();
    const info =
      (res.locals[REQUEST_INFO] as RequestInfo | undefined) ??
      resolveRequestInfo(req.method, req.path, req.query as Record<string, unknown>);
    const decision = authorize(principal, info, policy);
    res.locals[AUTHORIZATION_RULE_ID] = decision.ruleId;
    if (!decision.allowed) throw forbidden(principal, info);
    next();
  };
}

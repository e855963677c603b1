// The `paths` of the OpenAPI v2 document: every route of the HTTP API with its verbs, path and
// query parameters, request content types and responses. openApiV2Json (api/openapi.ts) holds the
// kinds' definitions only; withPaths adds these paths and the Status definition, and
// docs/api-reference.md is generated from the result (hack/gen-api-docs.ts). The routing test in
// hack/gen-api-docs.test.ts sends every operation listed here to a real server and fails when the
// server has no route for it, so a path cannot be documented without existing.
import type { ResourceKind } from './kind.js';
import { definitionName } from './openapi.js';

type Json = Record<string, unknown>;

/** Kubernetes' name for the Status definition, the body of every error. */
export const STATUS_DEFINITION = 'io.k8s.apimachinery.pkg.apis.meta.v1.Status';

const statusRef = { $ref: `#/definitions/${STATUS_DEFINITION}` };
const objectSchema = { type: 'object' };

/** The Status definition (apiserver/status.ts builds its instances). */
export const STATUS_SCHEMA: Json = {
  type: 'object',
  description: 'The body of every error answer (and of some successful deletes). `code` equals the HTTP status.',
  required: ['kind', 'apiVersion', 'status', 'code'],
  properties: {
    kind: { type: 'string', enum: ['Status'] },
    apiVersion: { type: 'string', enum: ['v1'] },
    metadata: objectSchema,
    status: { type: 'string', enum: ['Success', 'Failure'] },
    message: { type: 'string', description: 'Human-readable; for Invalid: `Kind "name" is invalid: field: message, ...`.' },
    reason: { type: 'string', description: 'Machine-readable reason, see the error table.' },
    code: { type: 'integer', description: 'The HTTP status code.' },
    details: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        group: { type: 'string' },
        kind: { type: 'string' },
        retryAfterSeconds: { type: 'integer' },
        causes: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              field: { type: 'string', description: 'Dotted path of the bad field, e.g. `spec.env[2].name`, or the query parameter.' },
              reason: { type: 'string', description: 'e.g. FieldValueInvalid, FieldValueRequired, FieldValueNotSupported, FieldValueTooLong.' },
              message: { type: 'string' },
            },
          },
        },
      },
    },
  },
};

function param(name: string, location: 'path' | 'query' | 'body', description: string, extra: Json = {}): Json {
  return { name, in: location, description, ...(location === 'path' ? { required: true } : {}), type: 'string', ...extra };
}
const pathParam = (name: string, description: string): Json => param(name, 'path', description);
const query = (name: string, description: string, type = 'string'): Json => param(name, 'query', description, { type });
const body = (description: string, schema: Json = objectSchema, required = true): Json => {
  const { type: _ignored, ...rest } = param('body', 'body', description, { required, schema });
  return rest;
};

const SELECTOR_PARAMS = [
  query('labelSelector', 'Kubernetes label selector, e.g. `team=data,tier in (a,b),!legacy`.'),
  query('fieldSelector', 'Field selector; see the fields each kind supports in the README (e.g. `status.phase=Failed`).'),
];
const LIST_PARAMS = [
  ...SELECTOR_PARAMS,
  query('limit', 'Page size (0 or absent: everything). A page is read at the revision of the first page.', 'integer'),
  query('continue', 'The token from the previous page\'s `metadata.continue` (410 Expired once compacted).'),
  query('watch', 'Stream newline-delimited JSON events (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`) instead of a list.', 'boolean'),
  query('resourceVersion', 'With watch: the revision to start after (`0`: the current objects first, as ADDED). 410 Expired when compacted.'),
  query('allowWatchBookmarks', 'With watch: send BOOKMARK events carrying the current revision.', 'boolean'),
  query('timeoutSeconds', 'With watch: end the stream after this many seconds.', 'integer'),
  query('includeObject', 'With `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`: `None`, `Object` or `Metadata` in each row.'),
];
const DRY_RUN = query('dryRun', '`All`: validate and answer as if written, change nothing.');
const WRITE_CONSUMES = ['application/json', 'application/yaml'];
const PATCH_CONSUMES = ['application/merge-patch+json', 'application/json-patch+json', 'application/apply-patch+yaml'];
const PATCH_PARAMS = [
  DRY_RUN,
  query('fieldManager', 'Required with `application/apply-patch+yaml` (server-side apply); at most 128 characters.'),
  query('force', 'Server-side apply: take over fields owned by other managers instead of answering 409.', 'boolean'),
];

function ok(description: string, schema?: Json): Json {
  return schema === undefined ? { description } : { description, schema };
}

function operation(operationId: string, summary: string, parameters: Json[], responses: Json, extra: Json = {}): Json {
  return { operationId, summary, ...extra, parameters, responses: { ...responses, default: { description: 'a Status (see the error table)', schema: statusRef } } };
}

/** The path items of one kind: collection, all namespaces (namespaced kinds), item and status. */
function kindPaths(kind: ResourceKind): Record<string, Json> {
  const prefix = `/apis/${kind.group}/${kind.version}`;
  const ref = { $ref: `#/definitions/${definitionName(kind.group, kind.version, kind.kind)}` };
  const listRef = { $ref: `#/definitions/${definitionName(kind.group, kind.version, kind.listKind)}` };
  const ns = kind.namespaced ? [pathParam('namespace', 'The namespace (a DNS-1123 label).')] : [];
  const collection = kind.namespaced ? `${prefix}/namespaces/{namespace}/${kind.plural}` : `${prefix}/${kind.plural}`;
  const name = pathParam('name', `The ${kind.singular}'s name.`);
  const id = (verb: string, suffix = ''): string => `${verb}${kind.kind}${suffix}`;
  const paths: Record<string, Json> = {
    [collection]: {
      get: operation(id('list'), `List or watch ${kind.plural}.`, [...ns, ...LIST_PARAMS], { 200: ok(`a ${kind.listKind}, or with watch=true a stream of events`, listRef) }),
      post: operation(id('create'), `Create a ${kind.singular}.`, [...ns, DRY_RUN, body(`The ${kind.kind} (JSON or YAML).`, ref)], { 201: ok('created', ref) }, { consumes: WRITE_CONSUMES }),
      delete: operation(id('deleteCollection'), `Delete the ${kind.plural} matching the selectors.`, [...ns, ...SELECTOR_PARAMS, DRY_RUN], { 200: ok(`the deleted objects, as a ${kind.listKind}`, listRef) }),
    },
  };
  if (kind.namespaced) {
    paths[`${prefix}/${kind.plural}`] = {
      get: operation(id('list', 'ForAllNamespaces'), `List or watch ${kind.plural} of every namespace.`, LIST_PARAMS, { 200: ok(`a ${kind.listKind}`, listRef) }),
    };
  }
  paths[`${collection}/{name}`] = {
    get: operation(id('read'), `Read a ${kind.singular}.`, [...ns, name], { 200: ok('the object', ref) }),
    put: operation(id('replace'), `Replace a ${kind.singular} (409 when metadata.resourceVersion is stale; status is kept).`, [...ns, name, DRY_RUN, body('The whole object.', ref)], { 200: ok('replaced', ref) }, { consumes: WRITE_CONSUMES }),
    patch: operation(id('patch'), `Patch a ${kind.singular}: merge patch, JSON patch or server-side apply.`, [...ns, name, ...PATCH_PARAMS, body('The patch.')], { 200: ok('patched', ref), 201: ok('created by server-side apply', ref) }, { consumes: PATCH_CONSUMES }),
    delete: operation(id('delete'), `Delete a ${kind.singular}.`, [...ns, name, DRY_RUN, body('Optional DeleteOptions: `preconditions.uid`, `preconditions.resourceVersion`, `dryRun`.', objectSchema, false)], { 200: ok('the deleted object', ref) }),
  };
  if (kind.hasStatus) {
    paths[`${collection}/{name}/status`] = {
      get: operation(id('read', 'Status'), `Read a ${kind.singular} with its status.`, [...ns, name], { 200: ok('the object', ref) }),
      put: operation(id('replace', 'Status'), `Replace the status (spec is kept).`, [...ns, name, DRY_RUN, body('The object with its status.', ref)], { 200: ok('replaced', ref) }, { consumes: WRITE_CONSUMES }),
      patch: operation(id('patch', 'Status'), `Patch the status (spec is kept).`, [...ns, name, ...PATCH_PARAMS, body('The patch.')], { 200: ok('patched', ref) }, { consumes: PATCH_CONSUMES }),
    };
  }
  return paths;
}

/** Routes of the Job kind beyond CRUD: its log and the dead-letter retry. */
function jobPaths(job: ResourceKind): Record<string, Json> {
  const item = `/apis/${job.group}/${job.version}/namespaces/{namespace}/${job.plural}/{name}`;
  const ns = pathParam('namespace', 'The namespace.');
  const name = pathParam('name', 'The job\'s name.');
  const ref = { $ref: `#/definitions/${definitionName(job.group, job.version, job.kind)}` };
  return {
    [`${item}/log`]: {
      get: operation(
        'readJobLog',
        'The output of an attempt (text/plain), kept after the job, its retries and its node are gone.',
        [
          ns,
          name,
          query('attempt', 'The attempt (1, 2, ...); default the latest.', 'integer'),
          query('allAttempts', 'Every attempt, each after a header line; excludes attempt.', 'boolean'),
          query('follow', 'Keep streaming while the attempt runs.', 'boolean'),
          query('stream', '`stdout` or `stderr`; default both, interleaved.'),
          query('tailLines', 'Only the last N lines.', 'integer'),
          query('limitBytes', 'Stop after this many bytes.', 'integer'),
        ],
        { 200: ok('the output, text/plain') },
        { produces: ['text/plain'] },
      ),
    },
    [`${item}/retry`]: {
      post: operation('retryJob', 'Start a fresh attempt series for a Failed job (the dead-letter queue); 409 for any other phase.', [ns, name, DRY_RUN, body('Empty, or a JSON object.', objectSchema, false)], { 200: ok('the job, back to Pending', ref) }),
    },
  };
}

/** Everything outside the kinds: auth, users, node tokens, events, audit, discovery, health, metrics. */
function corePaths(): Record<string, Json> {
  const text = { produces: ['text/plain'] };
  const userName = pathParam('name', 'The user name.');
  const ns = pathParam('namespace', 'The namespace.');
  const eventList = [query('fieldSelector', '`involvedObject.kind`, `involvedObject.name`, `involvedObject.namespace`, `involvedObject.uid`, `reason`, `type`.'), query('watch', 'Follow the events.', 'boolean'), query('resourceVersion', 'With watch: start after this revision.'), query('limit', 'Page size.', 'integer'), query('continue', 'Next page token.')];
  return {
    '/api/v1/auth/login': {
      post: operation('login', 'Exchange `{username, password}` for `{token, expiresAt}` (a JWT). No token needed. 401 on a bad pair, 429 with Retry-After when throttled.', [body('`{"username": "...", "password": "..."}`')], { 200: ok('`{token, expiresAt}`') }),
    },
    '/api/v1/whoami': { get: operation('whoAmI', 'The caller: `{username, role}`.', [], { 200: ok('the caller') }) },
    '/api/v1/users': {
      get: operation('listUsers', 'List users (admin).', [], { 200: ok('`{kind: UserList, items}`') }),
      post: operation('createUser', 'Create a user: `{name, role, password}`, password 8-72 bytes (admin).', [body('The user.')], { 201: ok('the user') }),
    },
    '/api/v1/users/{name}': {
      get: operation('readUser', 'Read a user (admin, or the user).', [userName], { 200: ok('the user') }),
      patch: operation('patchUser', 'Change the role: `{role}` (admin; the last admin cannot be demoted).', [userName, body('`{"role": "viewer"}`')], { 200: ok('the user') }),
      delete: operation('deleteUser', 'Delete a user (admin; not the last admin).', [userName], { 200: ok('a Status') }),
    },
    '/api/v1/users/{name}/password': {
      put: operation('setUserPassword', 'Set the password: `{password, currentPassword}` (currentPassword when changing one\'s own). Voids earlier tokens.', [userName, body('The passwords.')], { 200: ok('the user') }),
    },
    '/api/v1/users/{name}/token': {
      post: operation('createUserToken', 'Issue a token for the user: `{ttlSeconds}` (at most a year; admin).', [userName, body('`{"ttlSeconds": 2592000}`')], { 201: ok('`{token, expiresAt, username, role}`') }),
    },
    '/api/v1/nodetokens': {
      get: operation('listNodeTokens', 'List per-node agent tokens (admin; secrets are never shown again).', [], { 200: ok('the tokens') }),
      post: operation('createNodeToken', 'Create a per-node agent token: `{nodeName, ttlSeconds, description}` (admin). The secret is in this answer only.', [body('The token request.')], { 201: ok('the token with its secret') }),
    },
    '/api/v1/nodetokens/{id}': {
      delete: operation('revokeNodeToken', 'Revoke a node token (admin).', [pathParam('id', 'The token id.')], { 200: ok('a Status') }),
    },
    '/api/v1/events': { get: operation('listEventsForAllNamespaces', 'List or watch Events of every namespace.', eventList, { 200: ok('an EventList') }) },
    '/api/v1/namespaces/{namespace}/events': { get: operation('listEvents', 'List or watch Events (kept 1 h by default, `--event-ttl`, at most 100 per object).', [ns, ...eventList], { 200: ok('an EventList') }) },
    '/api/v1/namespaces/{namespace}/events/{name}': { get: operation('readEvent', 'Read an Event.', [ns, pathParam('name', 'The event name.')], { 200: ok('the Event') }) },
    '/api/v1/audit': {
      get: operation(
        'listAudit',
        'Audit records, newest first, across rotated files (admin).',
        [
          query('user', 'User name.'),
          query('verb', 'e.g. create, delete, login.'),
          query('resource', 'e.g. jobs (also matches jobs/retry).'),
          query('namespace', 'Namespace.'),
          query('name', 'Object name.'),
          query('requestId', 'The Audit-Id of a request.'),
          query('code', 'An HTTP code (403) or a class (4xx).'),
          query('since', 'RFC 3339; since <= time.'),
          query('until', 'RFC 3339; time < until.'),
          query('limit', 'Default 500, at most 5000.', 'integer'),
          query('continue', 'Next page token (410 once its file is rotated away).'),
        ],
        { 200: ok('`{kind: AuditEventList, apiVersion: v1, metadata: {continue}, items}`') },
      ),
    },
    '/api': { get: operation('getCoreApiVersions', 'Discovery: the core API versions.', [], { 200: ok('APIVersions') }) },
    '/apis': { get: operation('getApiGroups', 'Discovery: the API groups.', [], { 200: ok('APIGroupList') }) },
    '/apis/{group}': { get: operation('getApiGroup', 'Discovery: one API group.', [pathParam('group', 'e.g. openscheduler.io.')], { 200: ok('APIGroup') }) },
    '/apis/{group}/{version}': { get: operation('getApiResources', 'Discovery: the resources of a group version.', [pathParam('group', 'e.g. openscheduler.io.'), pathParam('version', 'e.g. v1.')], { 200: ok('APIResourceList') }) },
    '/version': { get: operation('getVersion', 'The server version.', [], { 200: ok('version info') }) },
    '/openapi/v2': { get: operation('getOpenApi', 'This document\'s definitions (JSON, or the gnostic protobuf kubectl asks for).', [], { 200: ok('the OpenAPI v2 document') }) },
    '/metrics': { get: operation('getMetrics', 'Prometheus text format (any role).', [], { 200: ok('metrics') }, text) },
    '/healthz': { get: operation('getHealthz', 'Liveness: 200 `ok` while the process runs. No token.', [], { 200: ok('ok') }, { ...text, security: [] }) },
    '/livez': { get: operation('getLivez', 'The same as /healthz. No token.', [], { 200: ok('ok') }, { ...text, security: [] }) },
    '/readyz': {
      get: operation(
        'getReadyz',
        'Readiness: 200 when the store answers within 1 s, the caches synced and a leader is known; else 503 (text, not a Status). No token.',
        [query('verbose', 'One line per check: `[+]store ok`, `[-]leader failed: ...`.')],
        { 200: ok('ok'), 503: ok('not ready (text/plain)') },
        { ...text, security: [] },
      ),
    },
  };
}

/** All paths of the API for `kinds` (the Job kind adds its log and retry routes). */
export function openApiV2Paths(kinds: readonly ResourceKind[]): Record<string, Json> {
  const paths: Record<string, Json> = {};
  for (const kind of kinds) Object.assign(paths, kindPaths(kind));
  const job = kinds.find((k) => k.kind === 'Job');
  if (job !== undefined) Object.assign(paths, jobPaths(job));
  Object.assign(paths, corePaths());
  return paths;
}

/** `doc` (from openApiV2Json) with the API's paths, the Status definition and bearer security. */
export function withPaths(doc: Json, kinds: readonly ResourceKind[]): Json {
  return {
    ...doc,
    securityDefinitions: { BearerToken: { type: 'apiKey', in: 'header', name: 'Authorization', description: '`Bearer <token>` from POST /api/v1/auth/login, `osctl user token` or a kubeconfig.' } },
    security: [{ BearerToken: [] }],
    paths: openApiV2Paths(kinds),
    definitions: { ...(doc.definitions as Json), [STATUS_DEFINITION]: STATUS_SCHEMA },
  };
}

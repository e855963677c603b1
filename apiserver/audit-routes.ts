// GET /api/v1/audit: the audit log, newest first, filtered (mounted behind authentication; the
// authorization table makes it admin only).
//   ?user= &verb= &resource= &namespace= &name= &requestId=   exact matches (resource=jobs also
//                                                            matches its subresources, jobs/retry)
//   ?code=403 | 4xx      a code or a class
//   ?since= &until=      RFC 3339 times: since <= time < until
//   ?limit= (default 500, at most 5000) &continue= (metadata.continue of the previous page)
// -> {kind: AuditEventList, apiVersion: v1, metadata: {continue?}, items: [records]}; a bad
// parameter -> 400 naming it; a continue token whose file was rotated away -> 410 Expired.
import express, { type Request, type Router } from 'express';
import {
  ExpiredContinueError,
  InvalidContinueError,
  InvalidFilterError,
  MAX_QUERY_LIMIT,
  parseCodeFilter,
  type AuditFilter,
  type AuditQuery,
} from './audit-log.js';
import { ApiError, expired, failureStatus, methodNotAllowed } from './status.js';

export const AUDIT_PATH = '/api/v1/audit';

const TEXT_PARAMETERS = ['user', 'verb', 'resource', 'namespace', 'name', 'requestId', 'continue'] as const;
const PARAMETERS: ReadonlySet<string> = new Set([...TEXT_PARAMETERS, 'code', 'since', 'until', 'limit']);
/** RFC 3339 with a zone (Z or ±hh:mm), optional fractional seconds. */
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

function badParameter(name: string, message: string): ApiError {
  return new ApiError(failureStatus(400, 'BadRequest', message, { causes: [{ reason: 'FieldValueInvalid', message, field: name }] }));
}

function parseTime(name: string, text: string): number {
  const ms = RFC3339.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) throw badParameter(name, `${name} must be an RFC 3339 time such as 2024-05-01T12:00:00Z (got "${text}")`);
  return ms;
}

/** The filter of a request's query; throws a 400 ApiError naming the bad parameter. */
export function auditFilterFromQuery(query: Readonly<Record<string, unknown>>): AuditFilter {
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(query)) {
    if (!PARAMETERS.has(name)) throw badParameter(name, `unknown parameter "${name}": expected ${[...PARAMETERS].join(', ')}`);
    if (typeof value !== 'string') throw badParameter(name, `${name} must be given once, as text`);
    values[name] = value;
  }
  const filter: { -readonly [K in keyof AuditFilter]: AuditFilter[K] } = {};
  for (const name of TEXT_PARAMETERS) {
    const value = values[name];
    if (value !== undefined && value !== '') filter[name] = value;
  }
  if (values.code !== undefined && values.code !== '') {
    try {
      parseCodeFilter(values.code);
    } catch (err) {
      throw badParameter('code', (err as Error).message);
    }
    filter.code = values.code;
  }
  if (values.since !== undefined && values.since !== '') filter.since = parseTime('since', values.since);
  if (values.until !== undefined && values.until !== '') filter.until = parseTime('until', values.until);
  if (values.limit !== undefined && values.limit !== '') {
    const limit = /^\d+$/.test(values.limit) ? Number(values.limit) : Number.NaN;
    if (!(limit >= 1 && limit <= MAX_QUERY_LIMIT)) throw badParameter('limit', `limit must be an integer from 1 to ${MAX_QUERY_LIMIT} (got "${values.limit}")`);
    filter.limit = limit;
  }
  return filter;
}

/** The audit routes, relative to the app root; without a log (audit disabled) they answer 404. */
export function auditRoutes(log: AuditQuery | undefined): Router {
  const router = express.Router();
  router.get(AUDIT_PATH, async (req: Request, res) => {
    res.set('Cache-Control', 'no-store');
    if (log === undefined) {
      throw new ApiError(failureStatus(404, 'NotFound', 'the audit log is disabled on this server (--audit-log-path off)'));
    }
    const filter = auditFilterFromQuery(req.query as Record<string, unknown>);
    let page;
    try {
      page = await log.query(filter);
    } catch (err) {
      if (err instanceof InvalidFilterError) throw badParameter(err.field, err.message);
      if (err instanceof InvalidContinueError) throw badParameter('continue', err.message);
      if (err instanceof ExpiredContinueError) throw expired(err.message);
      throw err;
    }
    res.status(200).json({
      kind: 'AuditEventList',
      apiVersion: 'v1',
      metadata: page.continue === undefined ? {} : { continue: page.continue },
      items: page.items,
    });
  });
  router.all(AUDIT_PATH, (req) => {
    throw methodNotAllowed(req.method);
  });
  return router;
}

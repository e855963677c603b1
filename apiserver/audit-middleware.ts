// Request ids and the audit trail of the REST API. Mounted right after the RequestInfo
// middleware, before everything that can answer (login, CORS, authentication).
//
// Every request gets a random id, sent back as `Audit-Id` and `X-Request-Id` and kept in
// res.locals[REQUEST_ID]. Audited (one record each): every mutating request (POST, PUT, PATCH,
// DELETE) with its final code, every 401 and 403 whatever the method, and every login.
// The record is durable before the client sees a byte: the first write()/end()/flushHeaders()
// of an audited response is held (in call order) until the audit log's append() resolved. When
// the append fails (e.g. disk full) the failure is logged at error level and the response still
// goes out: the request has already taken effect.
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'winston';
import type { AuditEvent, AuditRecord, AuditSink } from './audit-log.js';
import { PRINCIPAL, type Principal } from './authn.js';
import { AUTHORIZATION_RULE_ID } from './authorization.js';
import { isMutatingMethod, REQUEST_INFO, resourceWithSubresource, type RequestInfo } from './request-info.js';

/** res.locals key of the request id (a UUID). */
export const REQUEST_ID = 'requestId';
/** res.locals key of the user name a login attempt named (set by the login route once validated). */
export const ATTEMPTED_USERNAME = 'attemptedUsername';
export const AUDIT_ID_HEADER = 'Audit-Id';
export const REQUEST_ID_HEADER = 'X-Request-Id';
/** Longer User-Agent headers are cut to this many characters in records. */
export const MAX_USER_AGENT_CHARS = 256;
const LOGIN_PATH = '/api/v1/auth/login';

export interface AuditMiddlewareDeps {
  /** Where records go; undefined: request ids only, no audit trail. */
  readonly sink?: AuditSink;
  readonly logger: Logger;
  /** Clock of the record times; default the system clock. */
  readonly now?: () => Date;
  /** Called when a record could not be written (e.g. to count it in a metric). */
  readonly onAppendError?: (err: unknown) => void;
}

/** Which audit event a finished request is, or undefined when it is not audited. */
export function auditEventOf(method: string, path: string, code: number): AuditEvent | undefined {
  const upper = method.toUpperCase();
  // express routes case-insensitively and ignores a trailing slash
  if (upper === 'POST' && path.toLowerCase().replace(/\/+$/, '') === LOGIN_PATH) return 'login';
  if (code === 401) return 'authenticationFailure';
  if (code === 403) return 'authorizationFailure';
  if (isMutatingMethod(upper)) return 'request';
  return undefined;
}

function resourceFields(info: RequestInfo | undefined, method: string): Pick<AuditRecord, 'verb' | 'apiGroup' | 'resource' | 'namespace' | 'name'> {
  if (info === undefined) return { verb: method.toLowerCase(), apiGroup: '', resource: '', namespace: '', name: '' };
  if (!info.isResourceRequest) return { verb: info.verb, apiGroup: '', resource: '', namespace: '', name: '' };
  return { verb: info.verb, apiGroup: info.apiGroup, resource: resourceWithSubresource(info), namespace: info.namespace, name: info.name };
}

type AnyCall = (...args: unknown[]) => unknown;

export function auditMiddleware(deps: AuditMiddlewareDeps): RequestHandler {
  const { sink, logger } = deps;
  const now = deps.now ?? ((): Date => new Date());
  return (req: Request, res: Response, next: NextFunction): void => {
    const requestId = randomUUID();
    res.locals[REQUEST_ID] = requestId;
    res.setHeader(AUDIT_ID_HEADER, requestId);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    if (sink === undefined) {
      next();
      return;
    }
    const received = now();
    const started = performance.now();
    const { method, path } = req; // at the app level: the whole path, without the query string

    const original = { write: res.write, end: res.end, flushHeaders: res.flushHeaders };
    let phase: 'undecided' | 'holding' | 'released' = 'undecided';
    const held: (() => void)[] = [];
    const restore = (): void => {
      res.write = original.write;
      res.end = original.end;
      res.flushHeaders = original.flushHeaders;
    };
    const release = (): void => {
      phase = 'released';
      restore();
      for (const call of held.splice(0)) {
        try {
          call();
        } catch (err) {
          logger.warn('writing a held response failed', { requestId, error: (err as Error).message ?? String(err) });
        }
      }
    };

    const record = (event: AuditEvent): AuditRecord => {
      const principal = res.locals[PRINCIPAL] as Principal | undefined;
      const attempted = res.locals[ATTEMPTED_USERNAME] as unknown;
      const userAgent = req.headers['user-agent'] ?? '';
      return {
        time: received.toISOString(),
        requestId,
        user: principal?.username ?? (typeof attempted === 'string' ? attempted : null),
        role: principal?.role ?? null,
        sourceAddress: req.socket.remoteAddress ?? '',
        userAgent: userAgent.slice(0, MAX_USER_AGENT_CHARS),
        method,
        path,
        ...resourceFields(res.locals[REQUEST_INFO] as RequestInfo | undefined, method),
        code: res.statusCode,
        durationMs: Math.round(performance.now() - started),
        event,
        authorizedBy: typeof res.locals[AUTHORIZATION_RULE_ID] === 'string' ? (res.locals[AUTHORIZATION_RULE_ID] as string) : null,
      };
    };

    /** At the first byte: whether to hold the response until its record is durable. */
    const decide = (): boolean => {
      const event = auditEventOf(method, path, res.statusCode);
      if (event === undefined) {
        phase = 'released';
        restore();
        return false;
      }
      phase = 'holding';
      void sink.append(record(event)).then(release, (err: unknown) => {
        logger.error('audit log write failed; answering anyway', { requestId, method, path, error: (err as Error).message ?? String(err) });
        deps.onAppendError?.(err);
        release();
      });
      return true;
    };

    /** Replaces a response method: calls pass through, or queue while the record is written. */
    const intercept = (fn: AnyCall, resultWhileHeld: (self: Response) => unknown): AnyCall =>
      function (this: unknown, ...args: unknown[]): unknown {
        if (phase === 'released' || (phase === 'undecided' && !decide())) return fn.apply(res, args);
        held.push(() => {
          fn.apply(res, args);
        });
        return resultWhileHeld(res);
      };
    res.write = intercept(original.write as AnyCall, () => true) as Response['write'];
    res.end = intercept(original.end as AnyCall, (self) => self) as Response['end'];
    res.flushHeaders = intercept(original.flushHeaders as AnyCall, () => undefined) as Response['flushHeaders'];
    next();
  };
}

// The REST API as an express application: health, authentication, discovery, OpenAPI and the
// resource routes of every kind. The composition root wraps `app` in its http/https servers.
import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { corsMiddleware } from './cors.js';
import type winston from 'winston';
import type { ResourceKind } from '../api/kind.js';
import { openApiV2Json, openApiV2Protobuf } from '../api/openapi.js';
import { withPaths } from '../api/openapi-paths.js';
import type { LogStore } from '../logs/log-store.js';
import type { Store } from '../store/store.js';
import { PRINCIPAL, type Authenticator } from './authn.js';
import { apiGroupDocument, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.js';
import { jobLogRoutes, type JobLogRoutes } from './job-log-routes.js';
import { jobRetryRoutes } from './job-retry.js';
import { eventRoutes } from './events.js';
import { nodeTokenRoutes } from './node-token-routes.js';
import { NodeTokenRegistry } from './node-tokens.js';
import { ERROR_CONTEXT, resourceRoutes } from './resource-handlers.js';
import {
  ApiError,
  errorForLog,
  failureStatus,
  methodNotAllowed,
  routeNotFound,
  toApiError,
  unauthorized,
  type ErrorContext,
} from './status.js';
import { WatchHub, type WatchLimits } from './watch.js';
import { REQUEST_INFO, resolveRequestInfo } from './request-info.js';
import type { AuditQuery, AuditSink } from './audit-log.js';
import { auditMiddleware } from './audit-middleware.js';
import { auditRoutes } from './audit-routes.js';
import { apiMetricsMiddleware, CORE_RESOURCES, type ApiServerMetrics } from './api-metrics.js';
import { readinessHandler, ReadinessError, type ReadinessCheck } from './readiness.js';
import { authorization } from './authorization.js';
import { userRoutes, whoAmIRoutes, type UserRoutesDeps } from './user-routes.js';
import { dashboardRoutes, type DashboardCaches } from './dashboard-routes.js';
import { dashboardStaticRoutes } from './dashboard-static.js';

export interface ApiServerDeps {
  readonly store: Store;
  readonly kinds: readonly ResourceKind[];
  readonly auth: Authenticator;
  readonly logger: winston.Logger;
  /** Clock for timestamps and ages. Default: the system clock. */
  readonly now?: () => Date;
  /** How often watches with allowWatchBookmarks=true get a BOOKMARK. Default 60 s. */
  readonly watchBookmarkIntervalMs?: number;
  /** Watch cache size and per-watch queue limits (watch.ts). Default: the defaults there. */
  readonly watchLimits?: WatchLimits;
  /** Node tokens served under /api/v1/nodetokens. Default: a registry on `store` with `now`. */
  readonly nodeTokens?: NodeTokenRegistry;
  /** Job logs served under .../jobs/{name}/log. Default: no /log route. */
  readonly logs?: LogStore;
  /** Origins a browser may call the API from (checked with checkAllowedOrigins). Default none. */
  readonly allowedOrigins?: readonly string[];
  /** The audit log: records written by the audit middleware, served at /api/v1/audit. Default: no audit trail (request ids only). */
  readonly audit?: AuditSink & AuditQuery;
  /** Request metrics (every request, 401s included) and the /metrics exposition (authenticated). Default: no /metrics. */
  readonly metrics?: ApiServerMetrics;
  /** /readyz checks besides `store` (e.g. caches synced, leader known). Default none. */
  readonly readinessChecks?: readonly ReadinessCheck[];
  /** User management under /api/v1/users. Default: not served (/api/v1/whoami always is). */
  readonly users?: UserRoutesDeps;
  /**
   * The web dashboard: its built files (`dir`, served publicly at `/` and `/assets/*`; undefined:
   * `/` answers "not built") and the shared caches its /dashboard/v1 read model answers from
   * (undefined, or a getter returning undefined: 503). Default: neither.
   */
  readonly dashboard?: { readonly dir?: string; readonly caches?: () => DashboardCaches | undefined };
}

export interface ApiServer {
  readonly app: express.Express;
  /** Ends every open watch and log follow stream and timer; resolves when they have stopped. Idempotent. */
  close(): Promise<void>;
}

/** /readyz answers 503 when the store (or any other check) does not answer within this time. */
export const READINESS_TIMEOUT_MS = 1000;
export const DEFAULT_WATCH_BOOKMARK_INTERVAL_MS = 60_000;

export function createApiServer(deps: ApiServerDeps): ApiServer {
  const { store, kinds, auth, logger } = deps;
  const now = deps.now ?? ((): Date => new Date());
  const watches = new WatchHub({
    bookmarkIntervalMs: deps.watchBookmarkIntervalMs ?? DEFAULT_WATCH_BOOKMARK_INTERVAL_MS,
    logger,
    ...deps.watchLimits,
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(helmet());
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.locals[REQUEST_INFO] = resolveRequestInfo(req.method, req.path, req.query as Record<string, unknown>);
    next();
  });
  const metricsForAudit = deps.metrics;
  app.use(
    auditMiddleware({
      sink: deps.audit,
      logger,
      now,
      ...(metricsForAudit !== undefined ? { onAppendError: () => metricsForAudit.auditWriteFailed() } : {}),
    }),
  );
  if (deps.metrics !== undefined) {
    app.use(apiMetricsMiddleware(deps.metrics, new Set([...kinds.map((k) => k.plural), ...CORE_RESOURCES])));
  }
  app.use(requestLog(logger));
  app.use(corsMiddleware(deps.allowedOrigins ?? []));

  // Health: no authentication, and nothing revealed beyond the answer.
  const ok = (_req: Request, res: Response): void => {
    res.status(200).type('text/plain').send('ok');
  };
  app.get(['/healthz', '/livez', '/health'], ok);
  const storeCheck: ReadinessCheck = {
    name: 'store',
    check: () =>
      store.currentRevision().then(
        () => undefined,
        () => Promise.reject(new ReadinessError('the store does not answer')),
      ),
  };
  app.get('/readyz', readinessHandler([storeCheck, ...(deps.readinessChecks ?? [])], READINESS_TIMEOUT_MS));
  // The dashboard's static files are public too (the app signs in itself).
  app.use(dashboardStaticRoutes(deps.dashboard?.dir));

  app.use('/api/v1/auth', auth.routes);
  app.use(async (req: Request, res: Response, next: NextFunction) => {
    const principal = await auth.authenticate(req);
    if (principal === undefined) throw unauthorized();
    res.locals[PRINCIPAL] = principal;
    next();
  });
  app.use(authorization());

  const getOnly =
    (body: (req: Request) => unknown) =>
    (req: Request, res: Response): void => {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method);
      const document = body(req);
      if (document === undefined) throw routeNotFound();
      res.status(200).json(document);
    };
  app.all('/api', getOnly(() => apiVersions()));
  app.all('/apis', getOnly(() => apiGroupList(kinds)));
  app.all('/apis/:group', getOnly((req) => apiGroupDocument(kinds, String(req.params.group))));
  app.all(
    '/apis/:group/:version',
    getOnly((req) => apiResourceList(kinds, String(req.params.group), String(req.params.version))),
  );
  app.all('/version', getOnly(() => versionInfo()));
  app.all('/openapi/v2', openApiHandler(kinds));
  const metrics = deps.metrics;
  if (metrics !== undefined) {
    app.all('/metrics', async (req: Request, res: Response) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method);
      const text = await metrics.render();
      res.status(200).type(metrics.contentType).send(text);
    });
  }

  app.use(eventRoutes({ store, watches }));
  app.use(auditRoutes(deps.audit));
  app.use(nodeTokenRoutes(deps.nodeTokens ?? new NodeTokenRegistry(store, { now: () => now().getTime() })));
  app.use(whoAmIRoutes());
  const dashboardCaches = deps.dashboard?.caches;
  app.use(dashboardRoutes({ caches: () => dashboardCaches?.() }));
  if (deps.users !== undefined) app.use(userRoutes(deps.users));
  const jobKind = kinds.find((k) => k.kind === 'Job' && k.group === 'openscheduler.io');
  if (jobKind !== undefined) app.use(jobRetryRoutes({ store, jobKind, now, logger }));
  let logRoutes: JobLogRoutes | undefined;
  if (jobKind !== undefined && deps.logs !== undefined) {
    logRoutes = jobLogRoutes({ store, jobKind, logs: deps.logs, logger });
    app.use(logRoutes.router);
  }
  app.use(resourceRoutes({ store, kinds, now, watches }));

  app.use(() => {
    throw routeNotFound();
  });
  app.use(errorHandler(logger));

  return {
    app,
    close: async () => {
      await Promise.all([watches.close(), logRoutes?.close()]);
    },
  };
}

function requestLog(logger: winston.Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!logger.isDebugEnabled()) {
      next();
      return;
    }
    const started = performance.now();
    const { method, path } = req;
    res.on('close', () => {
      logger.debug('request', { method, path, code: res.statusCode, ms: Math.round(performance.now() - started) });
    });
    next();
  };
}

/** /openapi/v2: protobuf (application/octet-stream) when the Accept mentions protobuf, else JSON; with an ETag. */
function openApiHandler(kinds: readonly ResourceKind[]) {
  let documents: { json: Buffer; protobuf: Buffer; jsonTag: string; protobufTag: string } | undefined;
  const load = (): NonNullable<typeof documents> => {
    if (documents === undefined) {
      const json = Buffer.from(JSON.stringify(withPaths(openApiV2Json(kinds), kinds))); // paths: JSON only (kubectl's protobuf ignores them)
      const protobuf = openApiV2Protobuf(kinds);
      const tag = (b: Buffer): string => `"${createHash('sha256').update(b).digest('hex').slice(0, 32)}"`;
      documents = { json, protobuf, jsonTag: tag(json), protobufTag: tag(protobuf) };
    }
    return documents;
  };
  return (req: Request, res: Response): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method);
    const docs = load();
    const protobuf = (req.headers.accept ?? '').includes('protobuf');
    const etag = protobuf ? docs.protobufTag : docs.jsonTag;
    res.setHeader('ETag', etag);
    res.setHeader('Vary', 'Accept');
    if (req.headers['if-none-match'] === etag) {
      res.status(304).end();
      return;
    }
    res
      .status(200)
      .type(protobuf ? 'application/octet-stream' : 'application/json')
      .send(protobuf ? docs.protobuf : docs.json);
  };
}

/** Errors from express itself and third-party middleware (http-errors): 4xx with their message. */
function httpError(err: unknown): ApiError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { status, statusCode, expose, message } = err as {
    status?: unknown;
    statusCode?: unknown;
    expose?: unknown;
    message?: unknown;
  };
  const code = typeof status === 'number' ? status : statusCode;
  if (typeof code !== 'number' || code < 400 || code > 499) return undefined;
  const reasons: Record<number, 'BadRequest' | 'RequestEntityTooLarge' | 'UnsupportedMediaType' | 'NotFound'> = {
    400: 'BadRequest',
    404: 'NotFound',
    413: 'RequestEntityTooLarge',
    415: 'UnsupportedMediaType',
  };
  const text = expose === true && typeof message === 'string' ? message : 'the request could not be processed';
  return new ApiError(failureStatus(code, reasons[code] ?? 'BadRequest', text));
}

function errorHandler(logger: winston.Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let error = httpError(err);
    if (error === undefined) {
      const context = res.locals[ERROR_CONTEXT] as ErrorContext | undefined;
      const mapped = toApiError(err, context);
      error = mapped.error;
      if (mapped.unexpected) {
        const level = error.status.code === 503 ? 'warn' : 'error';
        logger.log(level, 'request failed', { method: req.method, path: req.path, code: error.status.code, error: errorForLog(err) });
      }
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(error.status.code).json(error.status);
  };
}

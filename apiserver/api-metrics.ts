// API request metrics: the middleware that reports every request (401s and 404s included) to an
// ApiRequestMetrics hook, and the bounded labels it uses. The hook and the exposition are
// interfaces: the API server imports no metrics library (metrics/server-metrics.ts implements them).
//
// Labels:
// - route: for resource requests `resource[/subresource]` (from RequestInfo) when both are known
//   to this server, else `other`; for non-resource requests one of NON_RESOURCE_ROUTES (discovery
//   paths as templates `/apis/{group}[/{version}]`, the dashboard's `/dashboard/v1/nodes/{name}`
//   and `/assets/{file}`), else `other`. Never a name or namespace.
// - verb: the RequestInfo verb (get|list|watch|create|update|patch|delete|deletecollection), or
//   for non-resource requests the lower-case method when it is a usual one, else `other`.
// - code: the HTTP status code.
// Long-running requests (verb watch, and log follows: .../log?follow=true) are counted but their
// duration is not observed: it measures the client's patience, not the server.
import type { NextFunction, Request, Response } from 'express';
import { REQUEST_INFO, resourceWithSubresource, type RequestInfo } from './request-info.js';

export interface ApiRequestMetrics {
  /** One request ended with `code`; `seconds` is undefined for long-running requests. */
  observeRequest(route: string, verb: string, code: number, seconds: number | undefined): void;
  /** An audit record could not be written (the request was answered anyway). */
  auditWriteFailed(): void;
}

/** The Prometheus exposition served at /metrics. */
export interface MetricsExposition {
  readonly contentType: string;
  render(): Promise<string>;
}

export type ApiServerMetrics = ApiRequestMetrics & MetricsExposition;

/** Non-resource paths reported as themselves. */
export const NON_RESOURCE_ROUTES: ReadonlySet<string> = new Set([
  '/healthz',
  '/livez',
  '/readyz',
  '/health',
  '/metrics',
  '/api',
  '/api/v1',
  '/apis',
  '/version',
  '/openapi/v2',
  '/api/v1/auth/login',
  '/dashboard/v1/summary',
  '/dashboard/v1/jobs',
  '/dashboard/v1/nodes',
  '/',
]);

/** Core (/api/v1) resources the server serves, besides the kinds' plurals. */
export const CORE_RESOURCES: readonly string[] = ['events', 'nodetokens', 'users', 'audit', 'whoami'];
/** Subresources the server serves. */
export const SUBRESOURCES: ReadonlySet<string> = new Set(['status', 'log', 'retry', 'password', 'token']);

const NON_RESOURCE_VERBS: ReadonlySet<string> = new Set(['get', 'post', 'put', 'patch', 'delete', 'options']);
const DISCOVERY_GROUP = /^\/apis\/[^/]+$/;
const DISCOVERY_VERSION = /^\/apis\/[^/]+\/[^/]+$/;
const DASHBOARD_NODE = /^\/dashboard\/v1\/nodes\/[^/]+$/;
const DASHBOARD_ASSET = /^\/assets\/[^/]+$/;

/** The bounded route label of a request (see the file comment). */
export function routeLabel(info: RequestInfo, knownResources: ReadonlySet<string>): string {
  if (info.isResourceRequest) {
    if (!knownResources.has(info.resource)) return 'other';
    if (info.subresource !== '' && !SUBRESOURCES.has(info.subresource)) return 'other';
    return resourceWithSubresource(info);
  }
  if (NON_RESOURCE_ROUTES.has(info.path)) return info.path;
  if (DISCOVERY_GROUP.test(info.path)) return '/apis/{group}';
  if (DISCOVERY_VERSION.test(info.path)) return '/apis/{group}/{version}';
  if (DASHBOARD_NODE.test(info.path)) return '/dashboard/v1/nodes/{name}';
  if (DASHBOARD_ASSET.test(info.path)) return '/assets/{file}';
  return 'other';
}

/** The bounded verb label of a request. */
export function verbLabel(info: RequestInfo): string {
  if (info.isResourceRequest) return info.verb;
  return NON_RESOURCE_VERBS.has(info.verb) ? info.verb : 'other';
}

/** Watches and log follows: their duration is not observed. */
export function isLongRunning(info: RequestInfo, query: Readonly<Record<string, unknown>>): boolean {
  if (!info.isResourceRequest) return false;
  if (info.verb === 'watch') return true;
  const follow = Array.isArray(query.follow) ? (query.follow as unknown[])[0] : query.follow;
  return info.subresource === 'log' && (follow === 'true' || follow === '1');
}

/**
 * Reports each request when its response ends (or its connection closes). Mount it after the
 * middleware that sets res.locals[REQUEST_INFO] and before authentication.
 */
export function apiMetricsMiddleware(metrics: ApiRequestMetrics, knownResources: ReadonlySet<string>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const info = res.locals[REQUEST_INFO] as RequestInfo | undefined;
    if (info === undefined) {
      next();
      return;
    }
    const started = performance.now();
    const route = routeLabel(info, knownResources);
    const verb = verbLabel(info);
    const longRunning = isLongRunning(info, req.query as Record<string, unknown>);
    res.once('close', () => {
      metrics.observeRequest(route, verb, res.statusCode, longRunning ? undefined : (performance.now() - started) / 1000);
    });
    next();
  };
}

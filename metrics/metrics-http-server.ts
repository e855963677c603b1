// A small HTTP listener for a daemon without an API server of its own (the node agent):
//   GET /metrics   the exposition; with a token, only for `Authorization: Bearer <token>` (401
//                  otherwise; compared in constant time)
//   GET /healthz   200 "ok" while the process runs (also /livez); never authenticated
//   GET /readyz    200 "ok" when ready() says so, else 503 "not ready"; never authenticated
// Anything else is 404, other methods 405. Without a token it listens on loopback only: every
// endpoint but health is authenticated off the machine. close() ends every connection and
// resolves once the listener is closed.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import type { MetricsExposition } from '../apiserver/api-metrics.js';

export interface MetricsHttpServerOptions {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  readonly metrics: MetricsExposition;
  /** Whether /readyz answers 200. */
  readonly ready: () => boolean;
  /** Bearer token /metrics requires; required unless `host` is a loopback address. */
  readonly token?: string;
  readonly logger?: { warn(message: string, meta?: Record<string, unknown>): void };
}

export interface RunningMetricsHttpServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** http://HOST:PORT */
  readonly url: string;
  /** Stops listening and ends every connection. Idempotent. */
  close(): Promise<void>;
}

/** A bad option: names the field and the rule. */
export class MetricsServerOptionsError extends Error {
  override readonly name = 'MetricsServerOptionsError';
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  if (h.startsWith('::ffff:')) return isLoopbackHost(h.slice('::ffff:'.length));
  return isIP(h) === 4 && h.startsWith('127.');
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Constant-time check of `Authorization: Bearer <token>` (digests make the lengths equal). */
function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (\S+)$/.exec(header ?? '');
  return timingSafeEqual(digest(match?.[1] ?? ''), digest(token)) && match !== null;
}

export async function startMetricsHttpServer(options: MetricsHttpServerOptions): Promise<RunningMetricsHttpServer> {
  const { metrics, ready, token } = options;
  if (token !== undefined && (token === '' || /\s/.test(token))) throw new MetricsServerOptionsError('token: must be a non-empty string without whitespace');
  if (token === undefined && !isLoopbackHost(options.host)) {
    throw new MetricsServerOptionsError(`host: ${options.host} is not a loopback address; /metrics off the machine needs a bearer token`);
  }
  const text = (res: ServerResponse, code: number, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(body);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    const known = path === '/metrics' || path === '/healthz' || path === '/livez' || path === '/readyz';
    if (!known) return text(res, 404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    if (path === '/healthz' || path === '/livez') return text(res, 200, 'ok');
    if (path === '/readyz') return ready() ? text(res, 200, 'ok') : text(res, 503, 'not ready');
    if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
      return text(res, 401, 'unauthorized\n', { 'www-authenticate': 'Bearer' });
    }
    const body = await metrics.render();
    res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(body);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.logger?.warn('metrics endpoint: request failed', { error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) text(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = isIP(options.host) === 6 ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${host}:${port}`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

// CORS for the REST API (issue 5): only the exact origins the operator lists (ALLOWED_ORIGINS /
// --allowed-origins) may read answers from a browser. Contract:
// - An allowed origin is a serialised origin `scheme://host[:port]` (http or https), compared
//   exactly; `*`, `null` and anything with a path, query or credentials are refused at start.
// - Every answer carries `Vary: Origin` (caches must not serve one origin's answer to another).
// - A request whose Origin is allowed gets `Access-Control-Allow-Origin: <that origin>` and
//   `Access-Control-Allow-Credentials: true` — never a wildcard; other origins (including
//   `null` and look-alikes such as `https://allowed.example.evil`) get no CORS header at all.
// - A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here, before
//   authentication: 204 with the allowed methods and headers for an allowed origin, 403 without
//   any CORS header otherwise (the browser then refuses the real request).
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export const CORS_ALLOWED_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Accept'];
/** How long a browser may cache a preflight answer, in seconds. */
export const CORS_MAX_AGE_SECONDS = 600;

export class InvalidOriginError extends Error {}

/** The origins, checked; throws InvalidOriginError naming `allowedOrigins[i]` and the rule. */
export function checkAllowedOrigins(origins: readonly string[]): string[] {
  return origins.map((origin, i) => {
    const bad = (rule: string): never => {
      throw new InvalidOriginError(`allowedOrigins[${i}]: ${JSON.stringify(origin)} ${rule}`);
    };
    if (origin === '*') bad('is not allowed: list exact origins (a wildcard would let every site use a logged-in browser)');
    if (origin === 'null') bad('is not allowed: "null" is the origin of sandboxed frames and local files, shared by any of them');
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return bad('is not an origin: use scheme://host[:port], e.g. https://dashboard.example.com');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') bad('must use http or https');
    if (url.origin !== origin) bad(`is not a serialised origin (no path, query, user or trailing slash; lower-case): write ${JSON.stringify(url.origin)}`);
    return origin;
  });
}

/** The CORS middleware for `allowedOrigins` (already checked). Mount it before authentication. */
export function corsMiddleware(allowedOrigins: readonly string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  return (req: Request, res: Response, next: NextFunction): void => {
    res.vary('Origin');
    const origin = req.headers.origin;
    const isAllowed = typeof origin === 'string' && allowed.has(origin);
    const isPreflight = req.method === 'OPTIONS' && typeof origin === 'string' && req.headers['access-control-request-method'] !== undefined;
    if (isPreflight) {
      res.vary('Access-Control-Request-Method').vary('Access-Control-Request-Headers');
      if (!isAllowed) {
        res.status(403).type('text/plain').send('CORS preflight refused: origin not allowed');
        return;
      }
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', CORS_ALLOWED_METHODS.join(', '));
      res.setHeader('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS.join(', '));
      res.setHeader('Access-Control-Max-Age', String(CORS_MAX_AGE_SECONDS));
      res.status(204).end();
      return;
    }
    if (isAllowed) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    next();
  };
}

// The dashboard's static files (the single-page app esbuild writes to dashboard/build/), served
// before authentication: the app itself holds no data; it signs in and calls the API.
//
// Contract:
// - GET|HEAD `/` answers `<dir>/index.html` (text/html, Cache-Control: no-cache); when it is
//   missing (or no dir is configured): 404 text/plain "the dashboard is not built: run `npm run build`".
// - GET|HEAD `/assets/<file>` answers `<dir>/assets/<file>` with an immutable cache header (the
//   names carry content hashes), `/favicon.svg` answers `<dir>/favicon.svg` if present. A file
//   name is the raw (undecoded) path segment and must match SAFE_FILE_NAME and a known extension;
//   anything else, a missing file or a directory is 404. No listings, no traversal.
// - Other methods: 405. Every other header (helmet's CSP included) is left as the app sets it.
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import express, { type Request, type Response, type Router } from 'express';
import { methodNotAllowed, routeNotFound } from './status.js';

/** The answer of `/` when there is no built index.html. */
export const DASHBOARD_NOT_BUILT = 'the dashboard is not built: run `npm run build`';

/** Asset file names: letters, digits, '.', '_' and '-' (no leading dot: no '.', '..' or dot files). */
const SAFE_FILE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Content types of the files the build produces; other extensions are not served. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';
const ASSETS_PREFIX = '/assets/';

/** The content of a regular file, or undefined when it is missing, not a file or unreadable. */
async function readRegularFile(path: string): Promise<Buffer | undefined> {
  try {
    if (!(await stat(path)).isFile()) return undefined;
    return await readFile(path);
  } catch {
    return undefined;
  }
}

function checkMethod(req: Request): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method);
}

function send(res: Response, body: Buffer, contentType: string, cacheControl: string): void {
  res.status(200).setHeader('Content-Type', contentType);
  res.setHeader('Cache-Control', cacheControl);
  res.send(body);
}

/** The router of `/`, `/favicon.svg` and `/assets/*`; `dir` is the build dir (undefined: not built). */
export function dashboardStaticRoutes(dir: string | undefined): Router {
  const router = express.Router();

  router.all('/', async (req: Request, res: Response) => {
    checkMethod(req);
    const body = dir === undefined ? undefined : await readRegularFile(join(dir, 'index.html'));
    if (body === undefined) {
      res.status(404).type('text/plain').send(DASHBOARD_NOT_BUILT);
      return;
    }
    send(res, body, 'text/html; charset=utf-8', REVALIDATE);
  });

  router.all('/favicon.svg', async (req: Request, res: Response) => {
    checkMethod(req);
    const body = dir === undefined ? undefined : await readRegularFile(join(dir, 'favicon.svg'));
    if (body === undefined) throw routeNotFound();
    send(res, body, CONTENT_TYPES['.svg']!, REVALIDATE);
  });

  // Every path under /assets answers here (never reaching authentication), so that a traversal
  // attempt is a plain 404 for everyone. req.path is not percent-decoded: `%2F` stays unsafe.
  router.all('/assets{/*file}', async (req: Request, res: Response) => {
    checkMethod(req);
    const name = req.path.startsWith(ASSETS_PREFIX) ? req.path.slice(ASSETS_PREFIX.length) : '';
    const contentType = CONTENT_TYPES[extname(name).toLowerCase()];
    if (dir === undefined || !SAFE_FILE_NAME.test(name) || contentType === undefined) throw routeNotFound();
    const body = await readRegularFile(join(dir, 'assets', name));
    if (body === undefined) throw routeNotFound();
    send(res, body, contentType, IMMUTABLE);
  });

  return router;
}

/**
 * The nearest directory at or above `start` holding a package.json whose name is `packageName`
 * (`<root>/server` under tsx, `<root>/dist/server` compiled), or undefined.
 */
export async function findPackageRoot(start: string, packageName: string): Promise<string | undefined> {
  let dir = start;
  for (;;) {
    try {
      const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === packageName) return dir;
    } catch {
      // no (readable) package.json here: keep looking upwards
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

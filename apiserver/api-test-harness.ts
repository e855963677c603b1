// Test support for the API server suites: an in-process server on 127.0.0.1 with a SQLite
// store in a temporary directory and a static-token Authenticator.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type Request } from 'express';
import winston from 'winston';
import { kinds } from '../api/v1/index.js';
import type { ResourceKind } from '../api/kind.js';
import type { LogStore } from '../logs/log-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { createApiServer, type ApiServer, type ApiServerDeps } from './api-server.js';
import type { Authenticator, Principal } from './authn.js';

export const TEST_TOKEN = 'test-token-0123456789';

/** Accepts exactly `Authorization: Bearer <token>`. */
export class StaticTokenAuthenticator implements Authenticator {
  readonly routes = express.Router();
  constructor(private readonly token: string) {
    this.routes.post('/login', (_req, res) => {
      res.json({ token: this.token });
    });
  }
  authenticate(req: Request): Promise<Principal | undefined> {
    const ok = req.headers.authorization === `Bearer ${this.token}`;
    return Promise.resolve(ok ? { username: 'admin', role: 'admin' } : undefined);
  }
}

export interface TestServerOptions {
  /** Wraps the SQLite store (e.g. to inject failures). */
  readonly wrapStore?: (store: SqliteStore) => Store;
  readonly now?: () => Date;
  readonly watchBookmarkIntervalMs?: number;
  readonly kinds?: readonly ResourceKind[];
  /** Serves job logs (the /log route) from this store. */
  readonly logs?: LogStore;
  readonly allowedOrigins?: readonly string[];
  /** More or other dependencies of the API server (e.g. a real authenticator and user management), built on the store. */
  readonly deps?: (store: Store) => Partial<ApiServerDeps>;
}

export interface TestResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The parsed JSON body (undefined when not JSON). */
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
}

export interface RequestOptions {
  readonly body?: unknown;
  /** Sent verbatim instead of JSON.stringify(body). */
  readonly raw?: string | Buffer;
  readonly contentType?: string;
  readonly accept?: string;
  /** Default: the valid test token; null: no Authorization header. */
  readonly token?: string | null;
  readonly headers?: Record<string, string>;
}

export class TestServer {
  private constructor(
    readonly dir: string,
    readonly sqlite: SqliteStore,
    readonly store: Store,
    readonly api: ApiServer,
    readonly http: Server,
    readonly url: string,
  ) {}

  static async start(options: TestServerOptions = {}): Promise<TestServer> {
    const dir = await mkdtemp(join(tmpdir(), 'os-apiserver-'));
    const sqlite = SqliteStore.open({ path: join(dir, 'store.db'), compactIntervalMs: 0 });
    const store = options.wrapStore?.(sqlite) ?? sqlite;
    const logger = winston.createLogger({ level: 'error', transports: [new winston.transports.Console({ silent: true })] });
    const api = createApiServer({
      store,
      kinds: options.kinds ?? kinds,
      auth: new StaticTokenAuthenticator(TEST_TOKEN),
      logger,
      now: options.now,
      watchBookmarkIntervalMs: options.watchBookmarkIntervalMs,
      logs: options.logs,
      allowedOrigins: options.allowedOrigins,
      ...options.deps?.(store),
    });
    const http = createServer(api.app);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    return new TestServer(dir, sqlite, store, api, http, `http://127.0.0.1:${port}`);
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<TestResponse> {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? TEST_TOKEN : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (options.accept !== undefined) headers.accept = options.accept;
    let body: string | Buffer | undefined = options.raw;
    if (body === undefined && options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const response = await fetch(`${this.url}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, text, body: parsed };
  }

  /** Stops the HTTP server, the API (watches) and the store, and removes the directory. */
  async close(): Promise<void> {
    await this.api.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    await this.sqlite.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export const JOBS = '/apis/openscheduler.io/v1/namespaces/default/jobs';
export const NODES = '/apis/openscheduler.io/v1/nodes';

/** A valid Job manifest. */
export function jobManifest(name: string, extra: { labels?: Record<string, string>; spec?: Record<string, unknown> } = {}) {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: { driver: 'process', command: ['/bin/echo'], args: ['hello'], ...extra.spec },
  };
}

/** Reads NDJSON watch events from a streaming fetch response. */
export class WatchReader {
  private buffer = '';
  private readonly decoder = new TextDecoder();
  readonly events: { type: string; object: any }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  private ended = false;

  private constructor(
    readonly response: Response,
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly controller: AbortController,
  ) {}

  static async open(server: TestServer, path: string, accept?: string): Promise<WatchReader> {
    const controller = new AbortController();
    const headers: Record<string, string> = { authorization: `Bearer ${TEST_TOKEN}` };
    if (accept !== undefined) headers.accept = accept;
    const response = await fetch(`${server.url}${path}`, { headers, signal: controller.signal });
    if (response.body === null) throw new Error('watch response without a body');
    return new WatchReader(response, response.body.getReader(), controller);
  }

  /** Waits until at least `count` events arrived (or the stream ended); throws on timeout. */
  async waitFor(count: number, timeoutMs = 5000): Promise<{ type: string; object: any }[]> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < count && !this.ended) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for ${count} events; got ${JSON.stringify(this.events.map((e) => e.type))}`);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), remaining);
      });
      const next = await Promise.race([this.pending ?? (this.pending = this.reader.read()), timeout]);
      clearTimeout(timer);
      if (next === 'timeout') continue;
      this.pending = undefined;
      if (next.done) {
        this.ended = true;
        break;
      }
      this.buffer += this.decoder.decode(next.value, { stream: true });
      let newline: number;
      while ((newline = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        if (line.trim() !== '') this.events.push(JSON.parse(line));
      }
    }
    return this.events;
  }

  private pending: ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]> | undefined;

  /** Resolves true when the server ends the stream within `timeoutMs`. */
  async waitForEnd(timeoutMs = 5000): Promise<boolean> {
    try {
      await this.waitFor(Number.MAX_SAFE_INTEGER, timeoutMs);
    } catch {
      return false;
    }
    return this.ended;
  }

  close(): void {
    this.pending?.catch(() => undefined);
    this.controller.abort();
    this.reader.cancel().catch(() => undefined);
  }
}

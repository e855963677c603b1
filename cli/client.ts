// A small REST client for the Open Scheduler API over node:http / node:https (so a custom CA
// works without extra packages), with typed errors, paged lists and streaming watches.
import http from 'node:http';
import https from 'node:https';
import type { ApiObject, ObjectList, Status } from '../api/meta.js';

export interface ApiClientOptions {
  /** Base URL, http:// or https://. */
  readonly server: string;
  readonly token?: string;
  /** PEM of the CA that signed the server certificate (https). */
  readonly ca?: string;
  readonly insecureSkipTlsVerify?: boolean;
  /** Deadline for one non-streaming request, in ms (default 30 s). Watches have none. */
  readonly timeoutMs?: number;
}

export type Query = Readonly<Record<string, string | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  readonly body?: string;
  readonly contentType?: string;
  readonly accept?: string;
  readonly signal?: AbortSignal;
}

export interface ApiResponse<T> {
  readonly statusCode: number;
  readonly body: T;
}

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  readonly object: ApiObject;
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** The server answered with an error; `status` is its Status (synthesised when the body was not one). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(readonly status: Status) {
    super(status.message || `the server responded with HTTP ${status.code}`);
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string | undefined {
    return this.status.reason;
  }
}

/** The server could not be reached, timed out, or sent something unreadable. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
}

function isStatus(value: unknown): value is Status {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Status';
}

/** The Status of an error response (the body if it is one, else made from the code and text). */
export function statusFromResponse(statusCode: number, text: string): Status {
  try {
    const parsed: unknown = JSON.parse(text);
    if (isStatus(parsed)) return { ...parsed, code: typeof parsed.code === 'number' ? parsed.code : statusCode };
  } catch {
    // not JSON: fall through
  }
  const snippet = text.trim().slice(0, 500);
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    code: statusCode,
    reason: REASONS[statusCode] ?? 'Unknown',
    message: snippet || `the server responded with HTTP ${statusCode} ${http.STATUS_CODES[statusCode] ?? ''}`.trim(),
  };
}

export class ApiClient {
  readonly server: URL;
  private readonly agent: http.Agent;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  /** Throws TransportError when `server` is not an http(s) URL. */
  constructor(options: ApiClientOptions) {
    let url: URL;
    try {
      url = new URL(options.server);
    } catch {
      throw new TransportError(`invalid server URL "${options.server}": expected http://HOST:PORT or https://HOST:PORT`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TransportError(`invalid server URL "${options.server}": the scheme must be http or https`);
    }
    this.server = url;
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.agent =
      url.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ca: options.ca, rejectUnauthorized: !options.insecureSkipTlsVerify })
        : new http.Agent({ keepAlive: true });
  }

  /** Releases pooled connections. */
  close(): void {
    this.agent.destroy();
  }

  private url(path: string, query: Query | undefined): URL {
    const base = this.server.pathname.replace(/\/+$/, '');
    const url = new URL(base + path, this.server);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(key, value);
    }
    return url;
  }

  /** Opens a request and resolves with the response once its headers arrive. */
  private open(method: string, path: string, options: RequestOptions, timeoutMs: number | undefined): Promise<http.IncomingMessage> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = { Accept: options.accept ?? 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(options.body));
    }
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { method, headers, agent: this.agent, signal: options.signal }, resolve);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.name === 'AbortError') reject(err);
        else if (err instanceof TransportError) reject(err);
        else reject(new TransportError(`cannot reach the server at ${this.server.origin}: ${err.message}`, { cause: err }));
      });
      if (timeoutMs !== undefined) {
        req.setTimeout(timeoutMs, () => {
          req.destroy(new TransportError(`no answer from ${this.server.origin} within ${timeoutMs / 1000}s (${method} ${url.pathname})`));
        });
      }
      req.end(options.body);
    });
  }

  private static async readText(res: http.IncomingMessage): Promise<string> {
    res.setEncoding('utf8');
    let text = '';
    for await (const chunk of res) text += chunk as string;
    return text;
  }

  /**
   * Sends a request and parses the JSON answer. Throws ApiError for HTTP >= 400 and
   * TransportError for network failures, timeouts and unparsable bodies.
   */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const res = await this.open(method, path, options, this.timeoutMs);
    let text: string;
    try {
      text = await ApiClient.readText(res);
    } catch (err) {
      if (err instanceof TransportError || (err as Error).name === 'AbortError') throw err;
      throw new TransportError(`reading the answer to ${method} ${path} failed: ${(err as Error).message}`, { cause: err });
    }
    const statusCode = res.statusCode ?? 0;
    if (statusCode >= 400) throw new ApiError(statusFromResponse(statusCode, text));
    if (text.trim() === '') return { statusCode, body: undefined as T };
    try {
      return { statusCode, body: JSON.parse(text) as T };
    } catch {
      throw new TransportError(`the server sent a response that is not JSON for ${method} ${path} (HTTP ${statusCode})`);
    }
  }

  async get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return (await this.request<T>('GET', path, { query, signal })).body;
  }

  /** The object at `path`, or undefined on 404 NotFound. */
  async getIfExists<T>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  /**
   * Pages of a list, fetched `pageSize` items at a time with continue tokens, so a large
   * list never needs one large response.
   */
  async *listPages<T extends ApiObject = ApiObject>(path: string, query: Query = {}, pageSize = 500): AsyncGenerator<ObjectList<T>> {
    let token: string | undefined;
    do {
      const page = await this.get<ObjectList<T>>(path, { ...query, limit: String(pageSize), continue: token });
      yield page;
      token = page.metadata?.continue || undefined;
    } while (token);
  }

  /**
   * The body of a GET chunk by chunk as it arrives (e.g. a job's log). Throws ApiError on an
   * error answer and TransportError on a broken stream; ends quietly when `signal` aborts.
   * `idleTimeout` applies the request deadline to silences in the stream (off for follows).
   */
  async *stream(path: string, query: Query, options: { signal?: AbortSignal; accept?: string; idleTimeout?: boolean } = {}): AsyncGenerator<Buffer> {
    const { signal } = options;
    let res: http.IncomingMessage;
    try {
      res = await this.open('GET', path, { query, signal, accept: options.accept }, options.idleTimeout ? this.timeoutMs : undefined);
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
    try {
      const statusCode = res.statusCode ?? 0;
      if (statusCode >= 400) throw new ApiError(statusFromResponse(statusCode, await ApiClient.readText(res)));
      for await (const chunk of res) yield chunk as Buffer;
    } catch (err) {
      if (signal?.aborted) return;
      if (err instanceof ApiError || err instanceof TransportError) throw err;
      throw new TransportError(`the response to GET ${path} broke off: ${(err as Error).message}`, { cause: err });
    } finally {
      res.destroy();
    }
  }

  /**
   * Watch events of a collection from `resourceVersion` (exclusive), until the server ends
   * the stream or `signal` aborts (then the iteration just ends). Throws ApiError on an
   * error answer or an ERROR event (code 410 means: relist), TransportError on a broken stream.
   */
  async *watch(path: string, query: Query, signal?: AbortSignal): AsyncGenerator<WatchEvent> {
    let res: http.IncomingMessage;
    try {
      res = await this.open('GET', path, { query: { ...query, watch: 'true' }, signal }, undefined);
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
    try {
      const statusCode = res.statusCode ?? 0;
      if (statusCode >= 400) throw new ApiError(statusFromResponse(statusCode, await ApiClient.readText(res)));
      res.setEncoding('utf8');
      let buffer = '';
      for await (const chunk of res) {
        buffer += chunk as string;
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (line === '') continue;
          let event: { type?: unknown; object?: unknown };
          try {
            event = JSON.parse(line) as typeof event;
          } catch {
            throw new TransportError(`the watch stream of ${path} sent a line that is not JSON: ${line.slice(0, 200)}`);
          }
          if (event.type === 'ERROR') {
            throw new ApiError(isStatus(event.object) ? event.object : statusFromResponse(500, JSON.stringify(event.object)));
          }
          yield event as WatchEvent;
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      if (err instanceof ApiError || err instanceof TransportError) throw err;
      throw new TransportError(`the watch stream of ${path} broke: ${(err as Error).message}`, { cause: err });
    } finally {
      res.destroy();
    }
  }
}

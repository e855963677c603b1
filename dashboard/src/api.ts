// The dashboard's only way to the server: the REST API with the session's bearer token.
//
// Contract:
// - get() answers the parsed JSON body, or throws ApiError carrying the Kubernetes Status
//   message; a 401 ends the session (onUnauthorized) before throwing.
// - watch() follows the ordinary watch API from a resourceVersion: each event is delivered once,
//   in order; a dropped stream is resumed from the last seen resourceVersion; a 410 (the
//   revision was compacted) calls onExpired — the caller re-reads and starts a new watch; a
//   refusal (other 4xx) calls onFailed and is not retried.
// - streamText() delivers a text/plain body as it arrives (job logs with follow=true).
// Everything stops when the given AbortSignal aborts.
import type { Session } from './session.js';

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface WatchEvent<T> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: T;
}

export interface WatchOptions<T> {
  readonly signal: AbortSignal;
  readonly onEvent: (event: WatchEvent<T>) => void;
  /** The resourceVersion is gone (compacted): re-read, then watch again. */
  readonly onExpired: () => void;
  /** The server refused the watch for good (a 4xx other than 410 and 429): it is not retried. */
  readonly onFailed?: (error: ApiError) => void;
}

export interface LoginAnswer {
  readonly token: string;
  readonly expiresAt: string;
  readonly username: string;
  readonly role: string;
}

/** A dropped watch is resumed after this delay, doubled per failure in a row up to the maximum. */
const RECONNECT_DELAY_MS = 1000;
const MAX_RECONNECT_DELAY_MS = 30_000;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text === '' ? path : `${path}?${text}`;
}

async function errorOf(response: Response): Promise<ApiError> {
  let reason = response.statusText;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { reason?: unknown; message?: unknown };
    if (typeof body.reason === 'string') reason = body.reason;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // not a Status body: keep the HTTP status line
  }
  return new ApiError(response.status, reason, message);
}

export async function login(username: string, password: string): Promise<LoginAnswer> {
  const response = await fetch('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as LoginAnswer;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export class Api {
  constructor(
    private readonly session: Session,
    private readonly onUnauthorized: () => void,
  ) {}

  private async request(path: string, signal?: AbortSignal, accept = 'application/json'): Promise<Response> {
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${this.session.token}`, Accept: accept },
      ...(signal !== undefined ? { signal } : {}),
    });
    if (response.status === 401) this.onUnauthorized();
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    const response = await this.request(withQuery(path, query), signal);
    return (await response.json()) as T;
  }

  /** Streams `path` as text; resolves when the server ends the body. */
  async streamText(path: string, query: Query, onText: (text: string) => void, signal: AbortSignal): Promise<void> {
    const response = await this.request(withQuery(path, query), signal, 'text/plain');
    if (response.body === null) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      onText(value);
    }
  }

  /**
   * Watches a collection from `resourceVersion` until `options.signal` aborts (never rejects).
   * A stream that ends or breaks is resumed from the last version seen (backing off while it
   * keeps failing); 410 calls onExpired; 401 (the session ended) and other 4xx stop it.
   */
  async watch<T extends { metadata?: { resourceVersion?: string } }>(path: string, query: Query, resourceVersion: string, options: WatchOptions<T>): Promise<void> {
    const { signal } = options;
    let from = resourceVersion;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const response = await this.request(withQuery(path, { ...query, watch: 'true', allowWatchBookmarks: 'true', resourceVersion: from }), signal);
        if (response.body === null) throw new Error('watch: no body');
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffered = '';
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          failures = 0;
          buffered += value;
          let newline: number;
          while ((newline = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            if (line === '') continue;
            const event = JSON.parse(line) as WatchEvent<T>;
            if (event.type === 'ERROR') {
              const status = event.object as { code?: number; reason?: string; message?: string };
              throw new ApiError(status.code ?? 500, status.reason ?? 'WatchError', status.message ?? 'watch error');
            }
            const version = event.object.metadata?.resourceVersion;
            if (version !== undefined) from = version;
            if (event.type !== 'BOOKMARK') options.onEvent(event);
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiError && err.code === 410) {
          options.onExpired();
          return;
        }
        if (err instanceof ApiError && err.code >= 400 && err.code < 500 && err.code !== 429) {
          options.onFailed?.(err);
          return;
        }
        failures++;
      }
      await sleep(Math.min(MAX_RECONNECT_DELAY_MS, RECONNECT_DELAY_MS * 2 ** Math.max(0, failures - 1)), signal);
    }
  }
}

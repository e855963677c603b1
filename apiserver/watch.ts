// Watch streams: newline-delimited JSON events {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}.
//
// resourceVersion N: only changes after N (store watch from N+1); a compacted N is 410 before
// the stream starts, or an ERROR event with a 410 Status when compaction is found later.
// resourceVersion 0 or absent: a synthetic ADDED for every current match (read at revision R),
// then the changes from R+1, so nothing is missed or repeated. Selectors are applied to the
// old and new state of each change, as kube-apiserver does: an object that starts matching is
// ADDED, one that stops matching is DELETED (carrying its last matching state).
//
// What is watched is a WatchSource (how stored values decode, which match, how they are sent),
// so resource kinds (resource-handlers.ts) and Events (events.ts) share this one streaming loop.
import type { Response } from 'express';
import type winston from 'winston';
import type { ApiObject } from '../api/meta.js';
import type { KeyValue, Store, WatchEvent } from '../store/store.js';
import { readPage } from './list-reader.js';
import { withResourceVersion } from './object-storage.js';
import { badRequest, errorForLog, expired, serviceUnavailable, toApiError, type ResourceRef } from './status.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** What a watch streams. */
export interface WatchSource {
  readonly store: Store;
  /** Names the kind in BOOKMARK objects and in error Statuses. */
  readonly resource: ResourceRef;
  /** apiVersion of BOOKMARK objects ("group/version"; "v1" for the core group). */
  readonly apiVersion: string;
  /** The object of a stored value, resourceVersion = kv.modRevision; undefined: not one (skipped). */
  decode(kv: KeyValue): ApiObject | undefined;
  /** The client's selection; applied to the old and the new state of each change. */
  matches(obj: ApiObject): boolean;
  /** What is sent for an object (e.g. a one-row Table). Default: the object itself. */
  render?(obj: ApiObject): unknown;
}

export interface WatchRequest {
  readonly source: WatchSource;
  /** Key prefix to watch (a collection, possibly narrowed by the selection). */
  readonly prefix: string;
  /** The client's resourceVersion parameter. */
  readonly resourceVersion?: string;
  /** End the stream after this many seconds (normal end, no error). */
  readonly timeoutSeconds?: number;
  readonly allowBookmarks: boolean;
}

export interface WatchHubOptions {
  /** How often a BOOKMARK is sent to clients that allow them. */
  readonly bookmarkIntervalMs: number;
  readonly logger: winston.Logger;
}

/** Serves watch streams and ends all of them on close(). */
export class WatchHub {
  private readonly active = new Map<AbortController, Promise<void>>();
  private closed = false;

  constructor(private readonly options: WatchHubOptions) {}

  /** Number of open streams. */
  get size(): number {
    return this.active.size;
  }

  /**
   * Streams events to `res` until the client goes away, the timeout passes or close() is called.
   * Errors found before the first byte (bad resourceVersion, 410, store down) are thrown.
   */
  async serve(res: Response, request: WatchRequest): Promise<void> {
    if (this.closed) throw serviceUnavailable('the server is shutting down');
    const { source } = request;
    const { store } = source;
    const rv = request.resourceVersion;
    let initial: ApiObject[] = [];
    let fromRevision: number;
    if (rv === undefined || rv === '' || rv === '0') {
      const page = await readPage(
        { list: (prefix, options) => store.list(prefix, options), decode: (kv) => source.decode(kv), accept: (obj) => source.matches(obj) },
        { prefix: request.prefix },
      );
      initial = page.items;
      fromRevision = page.revision + 1;
    } else {
      if (!/^\d{1,15}$/.test(rv)) throw badRequest(`resourceVersion: invalid value "${rv}": must be a decimal revision`);
      const requested = Number(rv);
      const oldest = await store.compactedRevision();
      if (requested + 1 < oldest) {
        throw expired(`too old resource version: ${requested} (${oldest}); start again from a fresh list`);
      }
      // Like kube-apiserver's "Too large resource version": a watch from the future would sit silent.
      const current = await store.currentRevision();
      if (requested > current) {
        throw badRequest(`resourceVersion: ${requested} is newer than the current revision ${current}; start from a fresh list`);
      }
      fromRevision = requested + 1;
    }
    if (this.closed) throw serviceUnavailable('the server is shutting down');

    const controller = new AbortController();
    const done = this.stream(res, request, controller, initial, fromRevision);
    this.active.set(controller, done);
    try {
      await done;
    } finally {
      this.active.delete(controller);
    }
  }

  /** Ends every open stream and waits until they have finished. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const controller of this.active.keys()) controller.abort();
    await Promise.allSettled([...this.active.values()]);
  }

  private async stream(
    res: Response,
    request: WatchRequest,
    controller: AbortController,
    initial: ApiObject[],
    fromRevision: number,
  ): Promise<void> {
    const { source } = request;
    const { signal } = controller;
    const abort = (): void => controller.abort();
    res.on('close', abort);
    const timers: NodeJS.Timeout[] = [];
    if (request.timeoutSeconds !== undefined && request.timeoutSeconds > 0) {
      timers.push(setTimeout(abort, request.timeoutSeconds * 1000));
    }
    let lastRevision = fromRevision - 1;

    const writable = (): boolean => !signal.aborted && !res.destroyed && !res.writableEnded;
    const send = async (type: WatchEventType, object: unknown): Promise<void> => {
      if (!writable()) return;
      if (!res.write(`${JSON.stringify({ type, object })}\n`)) await drained(res, signal);
    };
    const render = (obj: ApiObject): unknown => (source.render === undefined ? obj : source.render(obj));

    res.status(200);
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-cache, private');
    res.flushHeaders();

    // A bookmark carries the list revision: sending one before every initial ADDED is out would
    // let a client resume past objects it never received.
    let initialSent = false;
    if (request.allowBookmarks) {
      const bookmark = (): void => {
        if (!initialSent) return;
        void send('BOOKMARK', {
          kind: source.resource.kind,
          apiVersion: source.apiVersion,
          metadata: { resourceVersion: String(lastRevision) },
        });
      };
      timers.push(setInterval(bookmark, this.options.bookmarkIntervalMs));
    }

    try {
      for (const obj of initial) await send('ADDED', render(obj));
      initialSent = true;
      for await (const batch of source.store.watch(request.prefix, { fromRevision, signal })) {
        for (const event of batch) {
          const out = translate(source, event);
          if (out !== undefined) await send(out.type, render(out.object));
          lastRevision = event.kv.modRevision;
        }
        if (signal.aborted) break;
      }
    } catch (err) {
      if (!signal.aborted) {
        const { error, unexpected } = toApiError(err, { resource: source.resource });
        if (unexpected) this.options.logger.error('watch failed', { prefix: request.prefix, error: errorForLog(err) });
        await send('ERROR', error.status);
      }
    } finally {
      for (const timer of timers) clearTimeout(timer);
      res.off('close', abort);
      if (!res.writableEnded) res.end();
    }
  }
}

function translate(source: WatchSource, event: WatchEvent): { type: WatchEventType; object: ApiObject } | undefined {
  const previous = event.prevKv === undefined ? undefined : source.decode(event.prevKv);
  const matchedBefore = previous !== undefined && source.matches(previous);
  if (event.type === 'put') {
    const current = source.decode(event.kv);
    if (current !== undefined && source.matches(current)) return { type: matchedBefore ? 'MODIFIED' : 'ADDED', object: current };
  }
  if (matchedBefore) return { type: 'DELETED', object: withResourceVersion(previous, event.kv.modRevision) };
  return undefined;
}

/** Resolves when `res` can take more data again, or it closed, or `signal` aborted. */
export function drained(res: Response, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
    signal.addEventListener('abort', done);
  });
}

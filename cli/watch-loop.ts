// Following a collection's watch: resume from the last resourceVersion when the server ends the
// stream, relist on 410 Gone, back off (never spin) on empty streams and network failures.
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, type ApiClient, type Query, TransportError, type WatchEvent } from './client.js';

/** Exponential backoff between retries: initial, doubled per failure up to max; reset on success. */
export class Backoff {
  private current: number;

  constructor(
    private readonly initialMs = 250,
    private readonly maxMs = 5000,
  ) {
    this.current = initialMs;
  }

  reset(): void {
    this.current = this.initialMs;
  }

  /** Waits the current delay (resolves early, without throwing, when `signal` aborts) and grows it. */
  async wait(signal: AbortSignal): Promise<void> {
    const ms = this.current;
    this.current = Math.min(this.maxMs, this.current * 2);
    await sleep(ms, undefined, { signal }).catch(() => undefined);
  }
}

export interface FollowOptions {
  readonly client: ApiClient;
  /** The collection path (e.g. …/namespaces/default/jobs). */
  readonly path: string;
  /** Selectors passed with every watch request. */
  readonly query: Query;
  /** Ends the loop (followWatch then returns). */
  readonly signal: AbortSignal;
  /** The resourceVersion of the list the caller already has. */
  readonly resourceVersion: string;
  /** Lists afresh after 410 Gone; returns the new list's resourceVersion and whether to stop. */
  relist(): Promise<{ resourceVersion: string; done: boolean }>;
  /** Handles one event (BOOKMARKs are not passed); returns true to stop following. */
  onEvent(event: WatchEvent): boolean;
  /** Told about each network failure before the retry (for a warning). */
  onRetry?(err: TransportError): void;
}

/** Follows the watch until `signal` aborts or a callback says done. Throws other API errors. */
export async function followWatch(options: FollowOptions): Promise<void> {
  const { client, signal } = options;
  const backoff = new Backoff();
  let resourceVersion = options.resourceVersion;
  let relistNeeded = false;
  while (!signal.aborted) {
    let received = false;
    try {
      if (relistNeeded) {
        const relisted = await options.relist();
        if (relisted.done) return;
        resourceVersion = relisted.resourceVersion;
        relistNeeded = false;
      }
      for await (const event of client.watch(options.path, { ...options.query, resourceVersion }, signal)) {
        received = true;
        backoff.reset();
        const eventVersion = event.object?.metadata?.resourceVersion;
        if (eventVersion) resourceVersion = eventVersion;
        if (event.type !== 'BOOKMARK' && options.onEvent(event)) return;
      }
      // The server ended the stream: resume from the last version seen, after a pause if it was empty.
      if (!received) await backoff.wait(signal);
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.code === 410) {
        // Gone: relist; a relist that itself got 410 (expired continue token) is retried after a pause.
        if (relistNeeded) await backoff.wait(signal);
        relistNeeded = true;
      } else if (err instanceof TransportError) {
        options.onRetry?.(err);
        await backoff.wait(signal);
      } else {
        throw err;
      }
    }
  }
}

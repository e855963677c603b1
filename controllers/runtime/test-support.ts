// Helpers for the controller runtime's tests: a temporary SqliteStore, a Store wrapper that
// can hold or fail watches, and polling for an asynchronous condition.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SqliteStore } from '../../store/sqlite-store.js';
import { ForwardingStore } from '../../store/forwarding-store.js';
import type { Store, WatchEvent, WatchOptions } from '../../store/store.js';

export interface TempStore {
  readonly store: SqliteStore;
  /** Closes the store and removes its directory. */
  cleanup(): Promise<void>;
}

/** A SqliteStore in a fresh temporary directory, automatic compaction off. */
export async function openTempStore(leaseCheckIntervalMs = 50): Promise<TempStore> {
  const dir = await mkdtemp(join(tmpdir(), 'os-runtime-'));
  const store = SqliteStore.open({ path: join(dir, 'store.db'), compactIntervalMs: 0, leaseCheckIntervalMs });
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `condition` every few ms until true; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/**
 * Delegates to `inner`, except that watch() calls wait while the gate is closed and the next
 * `failWatches` calls throw `failWith` instead of watching.
 */
export class ControlledStore extends ForwardingStore {
  watchCalls = 0;
  /** Watches started and not yet ended. */
  activeWatches = 0;
  failWatches = 0;
  failWith: Error = new Error('injected watch failure');
  private gate: Promise<void> = Promise.resolve();
  private openGate: () => void = () => undefined;

  constructor(inner: Store) {
    super(inner);
  }

  /** Holds every watch started from now on until open(). */
  holdWatches(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  open(): void {
    this.openGate();
  }

  override watch(prefix: string, options?: WatchOptions): AsyncIterable<WatchEvent[]> {
    this.watchCalls++;
    const fail = this.failWatches > 0;
    if (fail) this.failWatches--;
    const gate = this.gate;
    const inner = this.inner;
    const error = this.failWith;
    const counter = { enter: () => this.activeWatches++, leave: () => this.activeWatches-- };
    return {
      async *[Symbol.asyncIterator]() {
        counter.enter();
        try {
          yield* watched();
        } finally {
          counter.leave();
        }
      },
    };
    async function* watched(): AsyncGenerator<WatchEvent[]> {
      const signal = options?.signal;
      await Promise.race([gate, new Promise((resolve) => signal?.addEventListener('abort', resolve, { once: true }))]);
      if (signal?.aborted) return;
      if (fail) throw error;
      yield* inner.watch(prefix, options);
    }
  }
}

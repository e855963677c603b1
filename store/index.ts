// The store package: the Store contract, both implementations, and openStore, which the
// composition root uses to pick one by flag.
import { EtcdStore } from './etcd-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { StoreLogger } from './store-logger.js';
import type { Store } from './store.js';

export * from './store.js';
export { EtcdStore, type EtcdStoreOptions } from './etcd-store.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export type { StoreLogger } from './store-logger.js';

/** Which store: the embedded SQLite file, or an etcd cluster. */
export type StoreSpec =
  | { readonly type: 'sqlite'; readonly path: string }
  | {
      readonly type: 'etcd';
      readonly endpoints: readonly string[];
      /** Key prefix; absent or '' means the default '/openscheduler'. */
      readonly prefix?: string;
    };

/** Options common to both stores; each is defaulted by the store itself. */
export interface OpenStoreOptions {
  /** Deadline of every store call (default DEFAULT_STORE_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  /** Automatic compaction interval (defaults: SQLite 60 s, etcd 5 min; 0 turns it off). */
  readonly compactIntervalMs?: number;
  readonly logger?: StoreLogger;
}

/**
 * Opens the store `spec` names: SQLite creates the file (and its directory) when missing and
 * fails if another process holds it; etcd is checked to answer within the timeout. Failures are
 * StoreUnavailableError (or RangeError/TypeError for bad options) with a message naming the store.
 */
export async function openStore(spec: StoreSpec & OpenStoreOptions, options: OpenStoreOptions = {}): Promise<Store> {
  const common = {
    timeoutMs: options.timeoutMs ?? spec.timeoutMs,
    compactIntervalMs: options.compactIntervalMs ?? spec.compactIntervalMs,
    logger: options.logger ?? spec.logger,
  };
  switch (spec.type) {
    case 'sqlite':
      return SqliteStore.open({ path: spec.path, ...common });
    case 'etcd':
      return EtcdStore.open({ endpoints: spec.endpoints, prefix: spec.prefix || undefined, ...common });
    default:
      throw new TypeError(`openStore: spec.type must be 'sqlite' or 'etcd'`);
  }
}

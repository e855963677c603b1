// The store package: the Store contract, both implementations, and openStore, which the
// composition root uses to pick one by flag.
import { EtcdStore, type EtcdAuthOptions, type EtcdTlsOptions } from './etcd-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { StoreLogger } from './store-logger.js';
import type { Store } from './store.js';

export * from './store.js';
export { EtcdStore, type EtcdAuthOptions, type EtcdStoreOptions, type EtcdTlsOptions } from './etcd-store.js';
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
      /** TLS to etcd (PEM material, not paths); absent: plain unless an endpoint is https://. */
      readonly tls?: EtcdTlsOptions;
      /** etcd's user/password auth. */
      readonly auth?: EtcdAuthOptions;
    };

/** Options common to both stores; each is defaulted by the store itself. */
export interface OpenStoreOptions {
  /** Deadline of every store call (default DEFAULT_STORE_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  /** Automatic compaction interval (defaults: SQLite the history window up to 60 s, etcd the history window; 0 turns it off). */
  readonly compactIntervalMs?: number;
  /**
   * History window (default DEFAULT_STORE_HISTORY_MS): revisions at least this recent stay
   * readable. SQLite: its retainMs. etcd: its compaction interval (compacting to the revision of
   * the previous tick keeps one to two windows), unless compactIntervalMs is given.
   */
  readonly historyMs?: number;
  readonly logger?: StoreLogger;
}

/**
 * Opens the store `spec` names: SQLite creates the file (and its directory) when missing and
 * fails if another process holds it; etcd is checked to answer within the timeout. Failures are
 * StoreUnavailableError (or RangeError/TypeError for bad options) with a message naming the store;
 * StoreError when etcd refuses the credentials or access to the prefix (see EtcdStore.open).
 */
export async function openStore(spec: StoreSpec & OpenStoreOptions, options: OpenStoreOptions = {}): Promise<Store> {
  const common = {
    timeoutMs: options.timeoutMs ?? spec.timeoutMs,
    compactIntervalMs: options.compactIntervalMs ?? spec.compactIntervalMs,
    logger: options.logger ?? spec.logger,
  };
  const historyMs = options.historyMs ?? spec.historyMs;
  switch (spec.type) {
    case 'sqlite':
      return SqliteStore.open({ path: spec.path, ...common, retainMs: historyMs });
    case 'etcd':
      return EtcdStore.open({
        endpoints: spec.endpoints,
        prefix: spec.prefix || undefined,
        ...(spec.tls !== undefined ? { tls: spec.tls } : {}),
        ...(spec.auth !== undefined ? { auth: spec.auth } : {}),
        ...common,
        compactIntervalMs: common.compactIntervalMs ?? historyMs,
      });
    default:
      throw new TypeError(`openStore: spec.type must be 'sqlite' or 'etcd'`);
  }
}

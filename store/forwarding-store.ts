// A Store that forwards every call to another: the base of decorators that change a few calls
// (FencedStore, test wrappers) and must pass everything else through unchanged.
import type {
  DeleteOptions,
  DeleteResult,
  KeyValue,
  LeaseId,
  ListOptions,
  ListResult,
  PutOptions,
  PutResult,
  Store,
  WatchEvent,
  WatchOptions,
} from './store.js';

export class ForwardingStore implements Store {
  constructor(protected readonly inner: Store) {}

  get(key: string): Promise<KeyValue | undefined> {
    return this.inner.get(key);
  }
  list(prefix: string, options?: ListOptions): Promise<ListResult> {
    return this.inner.list(prefix, options);
  }
  put(key: string, value: string, options?: PutOptions): Promise<PutResult> {
    return this.inner.put(key, value, options);
  }
  delete(key: string, options?: DeleteOptions): Promise<DeleteResult | undefined> {
    return this.inner.delete(key, options);
  }
  watch(prefix: string, options?: WatchOptions): AsyncIterable<WatchEvent[]> {
    return this.inner.watch(prefix, options);
  }
  grantLease(ttlSeconds: number): Promise<LeaseId> {
    return this.inner.grantLease(ttlSeconds);
  }
  keepAlive(lease: LeaseId): Promise<void> {
    return this.inner.keepAlive(lease);
  }
  revokeLease(lease: LeaseId): Promise<void> {
    return this.inner.revokeLease(lease);
  }
  currentRevision(): Promise<number> {
    return this.inner.currentRevision();
  }
  compact(revision: number): Promise<void> {
    return this.inner.compact(revision);
  }
  compactedRevision(): Promise<number> {
    return this.inner.compactedRevision();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

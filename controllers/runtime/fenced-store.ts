// A Store decorator for everything the leader-only controllers write: every put and delete
// carries the current leadership term's fence as a store guard (store.ts, "Fencing").
//
// Contract:
// - put/delete: with a term, the inner write gets `guard: fence` (a guard given by the caller is
//   replaced); the store rejects it with FencedError once the term is over, however late the
//   write arrives (a leader paused past its lease TTL). Without a term: NotLeaderError at once,
//   nothing is sent.
// - Every other call (reads, watches, leases, compaction, close) is delegated unchanged.
// - The first rejection of a term (FencedError or NotLeaderError) is logged at warn, once per
//   term; the error is thrown to the caller, which handles it as any failed write (a controller
//   retries the key with backoff; its run ends with the term anyway).
import { ForwardingStore } from '../../store/forwarding-store.js';
import { FencedError, type DeleteOptions, type DeleteResult, type PutOptions, type PutResult, type Store, type WriteGuard } from '../../store/store.js';
import { silentLogger, type Logger } from './logger.js';

/** The current term's fence; undefined when this process does not lead (LeaderElector.fence). */
export type FenceSource = () => WriteGuard | undefined;

/** A write refused before reaching the store: this process holds no leadership term. */
export class NotLeaderError extends FencedError {
  override readonly name: string = 'NotLeaderError';
  constructor(key: string, guardKey: string) {
    super(key, guardKey, `write to ${key} refused: this process is not the leader (${guardKey})`);
  }
}

export interface FencedStoreOptions {
  /** The election key, named in NotLeaderError when there is no term. */
  readonly electionKey: string;
  readonly logger?: Logger;
}

export class FencedStore extends ForwardingStore {
  private readonly electionKey: string;
  private readonly logger: Logger;
  /** createRevision of the last term seen (the term a NotLeaderError belongs to); 0 before any. */
  private lastTerm = 0;
  /** The term whose first rejection was logged. */
  private loggedTerm: number | undefined;

  constructor(
    inner: Store,
    private readonly fence: FenceSource,
    options: FencedStoreOptions,
  ) {
    super(inner);
    this.electionKey = options.electionKey;
    this.logger = options.logger ?? silentLogger;
  }

  override put(key: string, value: string, options: PutOptions = {}): Promise<PutResult> {
    return this.fenced(key, (guard) => this.inner.put(key, value, { ...options, guard }));
  }

  override delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult | undefined> {
    return this.fenced(key, (guard) => this.inner.delete(key, { ...options, guard }));
  }

  private async fenced<T>(key: string, write: (guard: WriteGuard) => Promise<T>): Promise<T> {
    const guard = this.fence();
    if (guard === undefined) {
      const err = new NotLeaderError(key, this.electionKey);
      this.logRejection(this.lastTerm, err);
      throw err;
    }
    this.lastTerm = guard.createRevision;
    try {
      return await write(guard);
    } catch (err) {
      if (err instanceof FencedError) this.logRejection(guard.createRevision, err);
      throw err;
    }
  }

  private logRejection(term: number, err: FencedError): void {
    if (this.loggedTerm === term) return;
    this.loggedTerm = term;
    this.logger.warn('write rejected: no longer the leader', {
      key: err.key,
      electionKey: err.guardKey,
      termRevision: term,
      error: err.message,
    });
  }
}

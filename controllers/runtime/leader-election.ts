// Leader election through a store lease: the leader holds the key `/leases/<name>`, written
// ifAbsent and attached to a lease of `ttlSeconds` that it renews every ttl/3. Leadership is
// lost when a renewal finds the lease gone, when no renewal succeeded for a whole TTL, or
// when the key is deleted or overwritten. A standby watches the key and campaigns again
// (ifAbsent) as soon as it is deleted, so at most one process holds the key at any revision.
//
// Fencing: fence() is the current term's guard (the key and the createRevision of the put that
// won it), for writes that must land only while this term lasts (see FencedStore). A leader
// paused past its TTL still believes it leads when it resumes, but the store rejects its guarded
// writes: the key is gone or belongs to another term.
import { CompactedError, ConflictError, LeaseNotFoundError, type LeaseId, type Store, type WriteGuard } from '../../store/store.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { errorMessage, silentLogger, type Logger } from './logger.js';

export interface LeaderElectionOptions {
  readonly store: Store;
  /** Election name: the key is `/leases/<name>`. */
  readonly name: string;
  /** This process, as written into the key (e.g. `host-pid-random`). */
  readonly identity: string;
  /** Lease TTL in whole seconds. Default DEFAULT_LEADER_LEASE_TTL_SECONDS. */
  readonly ttlSeconds?: number;
  /** Pause before campaigning again after a store error. Default 1 s. */
  readonly retryMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** Default TTL of the leader lease (as kube-controller-manager's 15 s lease duration). */
export const DEFAULT_LEADER_LEASE_TTL_SECONDS = 15;

/** Runs while this process leads; must resolve soon after `signal` aborts (leadership lost or shutdown). */
export type LeaderWork = (signal: AbortSignal) => Promise<void>;

export class LeaderElector {
  readonly key: string;
  private readonly store: Store;
  private readonly identity: string;
  private readonly ttlSeconds: number;
  private readonly retryMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private leading = false;
  private termFence: WriteGuard | undefined;

  constructor(options: LeaderElectionOptions) {
    if (typeof options.name !== 'string' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(options.name)) {
      throw new TypeError(`LeaderElector: option name must be a DNS-1123 name, got ${JSON.stringify(options.name)}`);
    }
    if (typeof options.identity !== 'string' || options.identity === '') {
      throw new TypeError('LeaderElector: option identity must be a non-empty string');
    }
    const ttl = options.ttlSeconds ?? DEFAULT_LEADER_LEASE_TTL_SECONDS;
    if (!Number.isSafeInteger(ttl) || ttl < 1) throw new RangeError(`LeaderElector: option ttlSeconds must be an integer >= 1, got ${String(ttl)}`);
    const retryMs = options.retryMs ?? 1000;
    if (!Number.isFinite(retryMs) || retryMs < 0) throw new RangeError(`LeaderElector: option retryMs must be a number >= 0, got ${String(retryMs)}`);
    this.key = `/leases/${options.name}`;
    this.store = options.store;
    this.identity = options.identity;
    this.ttlSeconds = ttl;
    this.retryMs = retryMs;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  /** True while this process holds the lease and its leader work runs. */
  isLeader(): boolean {
    return this.leading;
  }

  /**
   * The current term's fence: the leader key and the createRevision of the put that won it.
   * Set before the leader work starts; undefined when not leading (cleared as the term ends).
   */
  fence(): WriteGuard | undefined {
    return this.termFence;
  }

  /**
   * The identity written in the leader key, read from the store now; undefined when no process
   * holds it (the key lives on a lease, so an expired leader's key is gone). Store errors propagate.
   */
  async currentLeader(): Promise<string | undefined> {
    return (await this.store.get(this.key))?.value;
  }

  /**
   * Campaigns until `signal` aborts; each time leadership is won, runs `work` with a signal that
   * aborts when it is lost. Resolves after the work has finished and the lease was released.
   */
  async run(signal: AbortSignal, work: LeaderWork): Promise<void> {
    while (!signal.aborted) {
      let lease: LeaseId | undefined;
      try {
        const held = await this.campaign(signal);
        if (held === undefined) break;
        lease = held.lease;
        // Won while shutting down: give the lease back (finally) rather than lead with an aborted signal.
        if (signal.aborted) break;
        await this.lead(signal, held.lease, held.revision, work);
      } catch (err) {
        if (signal.aborted) break;
        this.logger.warn('leader election: store error; campaigning again', { key: this.key, error: errorMessage(err) });
        await sleep(this.clock, this.retryMs, signal);
      } finally {
        if (lease !== undefined) await this.release(lease);
      }
    }
  }

  /** Waits until the key is absent and writes it; undefined when aborted. */
  private async campaign(signal: AbortSignal): Promise<{ lease: LeaseId; revision: number } | undefined> {
    while (!signal.aborted) {
      const current = await this.store.get(this.key);
      if (current) {
        await this.waitForDelete(current.modRevision + 1, signal);
        continue;
      }
      const lease = await this.store.grantLease(this.ttlSeconds);
      try {
        const { revision } = await this.store.put(this.key, this.identity, { ifAbsent: true, lease });
        return { lease, revision };
      } catch (err) {
        await this.release(lease);
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    return undefined;
  }

  /** Resolves when the key is deleted at or after `fromRevision`, on abort, or on compaction (the caller re-reads). */
  private async waitForDelete(fromRevision: number, signal: AbortSignal): Promise<void> {
    try {
      for await (const events of this.store.watch(this.key, { fromRevision, signal })) {
        if (events.some((e) => e.kv.key === this.key && e.type === 'delete')) return;
      }
    } catch (err) {
      if (!(err instanceof CompactedError)) throw err;
    }
  }

  /** Holds leadership: runs `work`, renews the lease and watches the key until something ends the term. */
  private async lead(signal: AbortSignal, lease: LeaseId, revision: number, work: LeaderWork): Promise<void> {
    const term = new AbortController();
    const endTerm = (): void => term.abort();
    signal.addEventListener('abort', endTerm, { once: true });
    // The put that won the term created the key (ifAbsent): its revision is the createRevision.
    this.termFence = { key: this.key, createRevision: revision };
    term.signal.addEventListener('abort', () => (this.termFence = undefined), { once: true });
    this.leading = true;
    this.logger.info('leader election: became leader', { key: this.key, identity: this.identity });
    const workDone = (async () => {
      try {
        await work(term.signal);
      } catch (err) {
        this.logger.error('leader work failed; giving up leadership', { key: this.key, error: errorMessage(err) });
      } finally {
        term.abort();
      }
    })();
    try {
      await Promise.all([this.renew(lease, term), this.watchHeldKey(revision, term), workDone]);
    } finally {
      term.abort();
      await workDone;
      this.termFence = undefined;
      this.leading = false;
      signal.removeEventListener('abort', endTerm);
      this.logger.info('leader election: stopped leading', { key: this.key, identity: this.identity });
    }
  }

  /** Renews every ttl/3; ends the term when the lease is gone or no renewal succeeded within the TTL. */
  private async renew(lease: LeaseId, term: AbortController): Promise<void> {
    const ttlMs = this.ttlSeconds * 1000;
    let lastRenewal = this.clock.now();
    while (await sleep(this.clock, ttlMs / 3, term.signal)) {
      try {
        await this.store.keepAlive(lease);
        lastRenewal = this.clock.now();
      } catch (err) {
        if (err instanceof LeaseNotFoundError || this.clock.now() - lastRenewal >= ttlMs - ttlMs / 3) {
          this.logger.warn('leader election: lease lost', { key: this.key, error: errorMessage(err) });
          term.abort();
          return;
        }
        this.logger.warn('leader election: renewal failed; retrying', { key: this.key, error: errorMessage(err) });
      }
    }
  }

  /**
   * Ends the term when the key changes (deleted or overwritten) after `createRevision`, the put that won it.
   * A compacted watch (it reconnected from a revision etcd no longer keeps) does not end the
   * term by itself: the key is read again, and if it is still this term's, watched from there.
   */
  private async watchHeldKey(createRevision: number, term: AbortController): Promise<void> {
    let from = createRevision + 1;
    try {
      while (!term.signal.aborted) {
        try {
          for await (const events of this.store.watch(this.key, { fromRevision: from, signal: term.signal })) {
            if (events.some((e) => e.kv.key === this.key)) {
              this.logger.warn('leader election: leader key changed; stepping down', { key: this.key });
              return;
            }
          }
          return;
        } catch (err) {
          if (!(err instanceof CompactedError) || term.signal.aborted) throw err;
          const heldAt = await this.termHeldAt(createRevision);
          if (heldAt === undefined) {
            this.logger.warn('leader election: leader key changed while its watch was compacted; stepping down', { key: this.key });
            return;
          }
          this.logger.info('leader election: watch of the leader key compacted; the key is unchanged, still leading', { key: this.key, revision: heldAt });
          from = heldAt + 1;
        }
      }
    } catch (err) {
      if (!term.signal.aborted) this.logger.warn('leader election: watch of the leader key failed; stepping down', { key: this.key, error: errorMessage(err) });
    } finally {
      term.abort();
    }
  }

  /** The revision at which the key was read still holding this term (same create, same identity); undefined if not. */
  private async termHeldAt(createRevision: number): Promise<number | undefined> {
    const { items, revision } = await this.store.list(this.key);
    const kv = items.find((item) => item.key === this.key);
    return kv !== undefined && kv.createRevision === createRevision && kv.value === this.identity ? revision : undefined;
  }

  /** Revokes the lease (deleting the key), best effort: an unreachable store lets it expire. */
  private async release(lease: LeaseId): Promise<void> {
    try {
      await this.store.revokeLease(lease);
    } catch (err) {
      this.logger.warn('leader election: cannot revoke lease; it will expire', { key: this.key, error: errorMessage(err) });
    }
  }
}

// The Store contract: a revisioned key-value store with etcd semantics.
//
// Every implementation (embedded SQLite, etcd) passes store/store-conformance.ts.
// Revisions are one global, strictly increasing counter per store: every successful
// put or delete gets a new revision, and a read at revision R sees exactly the writes
// with revision <= R. Values are opaque strings (the API server stores JSON).
//
// Fencing: a put or delete may carry a `guard` — another key that must exist with exactly a
// given createRevision when the write is applied, checked atomically with the write and its
// other preconditions (one etcd transaction; one SQLite transaction). A leader passes its
// election key and the revision that won it: once the key is deleted (lease expired or revoked)
// or re-created by another leader, every write of the old term fails with FencedError and
// writes nothing, however late it arrives.

/** Opaque lease identifier. */
export type LeaseId = string;

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /** Revision of the write that created the key (since its last deletion). */
  readonly createRevision: number;
  /** Revision of the last write to the key. */
  readonly modRevision: number;
  /** Number of writes since creation; 1 after the create. */
  readonly version: number;
  /** Lease the key is attached to, if any. */
  readonly lease?: LeaseId;
}

export interface ListOptions {
  /** At most this many items; 0 or absent means no limit. */
  readonly limit?: number;
  /** Only keys strictly greater than this one (the resumable cursor). */
  readonly after?: string;
  /**
   * Read at this revision (a snapshot). Absent: the current revision.
   * Throws CompactedError when the revision has been compacted away.
   */
  readonly revision?: number;
}

export interface ListResult {
  /** Live keys under the prefix, sorted by key (bytewise / UTF-16 code unit order of ASCII keys). */
  readonly items: KeyValue[];
  /** The revision the list was read at; pass it back with `after` to resume consistently. */
  readonly revision: number;
  /** True when more keys exist after the last returned item (at that revision). */
  readonly more: boolean;
}

/** A fencing precondition (see the file comment). */
export interface WriteGuard {
  /** The key that must exist (e.g. a leader election key). */
  readonly key: string;
  /** Its createRevision: a key deleted and re-created since has another one. */
  readonly createRevision: number;
}

export interface PutOptions {
  /** Fail with FencedError (checked before the other preconditions) unless the guard holds. */
  readonly guard?: WriteGuard;
  /** Fail with ConflictError if the key exists. */
  readonly ifAbsent?: boolean;
  /** Fail with ConflictError unless the key exists with exactly this modRevision. */
  readonly ifRevision?: number;
  /** Attach the key to this lease; the key is deleted when the lease expires or is revoked. */
  readonly lease?: LeaseId;
}

export interface PutResult {
  readonly revision: number;
}

export interface DeleteOptions {
  /** Fail with FencedError (checked before ifRevision) unless the guard holds. */
  readonly guard?: WriteGuard;
  /** Fail with ConflictError unless the key exists with exactly this modRevision. */
  readonly ifRevision?: number;
}

export interface DeleteResult {
  readonly revision: number;
  /** The value the key held when it was deleted. */
  readonly previous: KeyValue;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  /** For a put: the new value. For a delete: key with empty value, modRevision = the delete's revision. */
  readonly kv: KeyValue;
  /** For a delete: the value before deletion (always present). For a put: the previous value if any. */
  readonly prevKv?: KeyValue;
}

export interface WatchOptions {
  /**
   * Deliver events with revision >= fromRevision (inclusive, as etcd's start_revision).
   * Absent: only events after the current revision. A compacted fromRevision makes the
   * iterator throw CompactedError on its first next().
   */
  readonly fromRevision?: number;
  /** Aborting ends the iteration (the iterator returns done). */
  readonly signal?: AbortSignal;
}

export interface Store {
  /** The current value of a key, or undefined if absent. */
  get(key: string): Promise<KeyValue | undefined>;

  /** Live keys that start with `prefix`, in key order, at one revision. */
  list(prefix: string, options?: ListOptions): Promise<ListResult>;

  /**
   * Create or replace a key. Throws FencedError when the guard fails (whatever the other
   * preconditions), else ConflictError when a precondition fails; nothing is written then.
   */
  put(key: string, value: string, options?: PutOptions): Promise<PutResult>;

  /**
   * Delete a key. Returns undefined when the key is absent and no precondition was given;
   * throws ConflictError when a precondition fails (including absent key with ifRevision), and
   * FencedError when the guard fails (checked first; with a guard, even an absent key is checked).
   */
  delete(key: string, options?: DeleteOptions): Promise<DeleteResult | undefined>;

  /**
   * Ordered changes to keys under `prefix`, in revision order, each exactly once.
   * Throws CompactedError if fromRevision is compacted; the caller relists.
   * Throws StoreClosedError if the store is closed while iterating.
   * Implementations survive transient disconnects (etcd) without losing or repeating events.
   */
  watch(prefix: string, options?: WatchOptions): AsyncIterable<WatchEvent[]>;

  /** Grant a lease that expires `ttlSeconds` after the last keepAlive. */
  grantLease(ttlSeconds: number): Promise<LeaseId>;
  /** Extend a lease; throws LeaseNotFoundError if it expired or was revoked. */
  keepAlive(lease: LeaseId): Promise<void>;
  /** Revoke a lease and delete its keys (no error if already gone). */
  revokeLease(lease: LeaseId): Promise<void>;

  /** The store's current revision. */
  currentRevision(): Promise<number>;
  /** Discard history before `revision`; reads and watches below it then throw CompactedError. */
  compact(revision: number): Promise<void>;
  /** The oldest revision still readable (the last compaction revision). */
  compactedRevision(): Promise<number>;

  /** Stop every timer and watch and release the connection/file. Idempotent. */
  close(): Promise<void>;
}

/** Base of every error a Store throws; callers map these to HTTP codes in one place. */
export class StoreError extends Error {
  override readonly name: string = 'StoreError';
}

/** A put/delete precondition failed. */
export class ConflictError extends StoreError {
  override readonly name = 'ConflictError';
  constructor(
    readonly key: string,
    message = `precondition failed for ${key}`,
  ) {
    super(message);
  }
}

/**
 * A write's guard failed: the guard key is absent or has another createRevision (the writer's
 * leadership term is over). Not a ConflictError: re-reading the object cannot fix it.
 */
export class FencedError extends StoreError {
  override readonly name: string = 'FencedError';
  constructor(
    /** The key the write was for. */
    readonly key: string,
    /** The guard key that did not hold. */
    readonly guardKey: string,
    message = `write to ${key} fenced: guard key ${guardKey} does not hold`,
  ) {
    super(message);
  }
}

/** A read or watch asked for a revision older than the last compaction. */
export class CompactedError extends StoreError {
  override readonly name = 'CompactedError';
  constructor(
    readonly requestedRevision: number,
    readonly compactRevision: number,
  ) {
    super(`revision ${requestedRevision} has been compacted (oldest available: ${compactRevision})`);
  }
}

/** A read or compaction asked for a revision newer than the store's current revision. */
export class FutureRevisionError extends StoreError {
  override readonly name = 'FutureRevisionError';
}

/** The store did not answer in time or cannot be reached; maps to 503. */
export class StoreUnavailableError extends StoreError {
  override readonly name = 'StoreUnavailableError';
}

/** The lease is unknown (expired or revoked). */
export class LeaseNotFoundError extends StoreError {
  override readonly name = 'LeaseNotFoundError';
}

/** The store was closed. */
export class StoreClosedError extends StoreError {
  override readonly name = 'StoreClosedError';
}

/** Default deadline for one store call. */
export const DEFAULT_STORE_TIMEOUT_MS = 5000;

/**
 * Default history window: revisions at least this recent stay readable (watches and paged lists
 * resume from them); older ones are compacted away (CompactedError, 410 in the API).
 */
export const DEFAULT_STORE_HISTORY_MS = 300_000;

// The embedded Store: one SQLite file (better-sqlite3, WAL, synchronous=FULL), modelled on
// k3s's kine. Every write appends a row to an MVCC log (one row per revision); `kv_current`
// points at the live row of each key so that current reads are index lookups, and reads at an
// older revision take the newest row per key at or below it.
//
// One process owns the file: it is opened with locking_mode=EXCLUSIVE, so a second opener
// gets StoreUnavailableError instead of silently missing the first one's watch events.
//
// Compaction (automatic every `compactIntervalMs`, or `compact(R)`): revisions below R become
// unreadable, and rows no read at >= R and no watch from >= R can need are deleted — a row
// whose successor for the same key is below R, and tombstones below R. Policy of the timer:
// compact to the older of (current - retainRevisions + 1) and the revision that was current
// `retainMs` ago (the history window: the server's storeHistorySeconds), so that both the newest
// `retainRevisions` revisions and every revision of the last `retainMs` stay readable (whichever
// keeps more). The file does not grow without bound: under churn the log holds at most the
// retained window plus one row per live key.
//
// Shrinking: the file uses incremental auto-vacuum. After each compaction pass, free pages beyond
// a slack of half the used pages (so steady churn reuses its pages instead of shrinking and
// growing the file every pass) go back to the file system in steps of VACUUM_STEP_BYTES
// (`PRAGMA incremental_vacuum`, one short transaction each, yielding to the event loop between
// steps; measured 15 ms at most on an idle 2-core machine, up to 120 ms under load 6); then
// `wal_checkpoint(TRUNCATE)` truncates the file and empties the WAL (the WAL also after every pass
// that frees nothing). So after a burst the file shrinks to about 1.5 times its live data (at
// least 4 MB of slack) one pass after the burst's history has been compacted away. Each pass logs
// `store: returned free pages to the file system` with its figures.
// A file created without auto-vacuum (before this) is converted once when opened: a full VACUUM,
// which blocks the open (1.1 s for a 196 MB file here) and needs free disk space of the file's
// size (it passes through the WAL); if it fails the store still opens and works, and the file
// just never shrinks (logged; the next open tries again).
//
// Leases live in a table with their expiry; a timer deletes the keys of expired leases (normal
// delete events). As etcd does on a leader change, opening the store renews every lease's TTL,
// so downtime never expires a lease.
import Database from 'better-sqlite3';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { checkTimeoutMs, withDeadline } from './deadline.js';
import {
  checkDeleteOptions,
  checkKey,
  checkLeaseId,
  checkListOptions,
  checkPrefix,
  checkPutOptions,
  checkRevision,
  checkTtl,
  checkValue,
  fencedMessage,
  prefixEnd,
} from './store-args.js';
import { silentLogger, type StoreLogger } from './store-logger.js';
import {
  CompactedError,
  ConflictError,
  DEFAULT_STORE_HISTORY_MS,
  DEFAULT_STORE_TIMEOUT_MS,
  FencedError,
  LeaseNotFoundError,
  StoreClosedError,
  StoreError,
  StoreUnavailableError,
  FutureRevisionError,
  type DeleteOptions,
  type DeleteResult,
  type KeyValue,
  type LeaseId,
  type ListOptions,
  type ListResult,
  type PutOptions,
  type PutResult,
  type Store,
  type WatchEvent,
  type WatchOptions,
} from './store.js';

export interface SqliteStoreOptions {
  /** The database file. Its directory is created (mode 0700) when missing. */
  readonly path: string;
  /** Deadline of every call, and SQLite's busy timeout. Default DEFAULT_STORE_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** How often automatic compaction runs. Default retainMs, between 1 s and 60 s; 0 turns it off. */
  readonly compactIntervalMs?: number;
  /** Automatic compaction keeps at least this many newest revisions readable. Default 10,000. */
  readonly retainRevisions?: number;
  /** Automatic compaction keeps every revision of at least this long ago readable. Default DEFAULT_STORE_HISTORY_MS (5 min). */
  readonly retainMs?: number;
  /** How often expired leases are looked for. Default 500 ms (as etcd). */
  readonly leaseCheckIntervalMs?: number;
  readonly logger?: StoreLogger;
  /** Wall clock for lease expiry and retention. Default Date. */
  readonly clock?: { now(): number };
}

interface CompiledOptions {
  readonly path: string;
  readonly timeoutMs: number;
  readonly compactIntervalMs: number;
  readonly retainRevisions: number;
  readonly retainMs: number;
  readonly leaseCheckIntervalMs: number;
  readonly logger: StoreLogger;
  readonly clock: { now(): number };
}

function compileOptions(options: SqliteStoreOptions): CompiledOptions {
  if (typeof options.path !== 'string' || options.path === '') {
    throw new TypeError('SqliteStore: option path must be a non-empty string');
  }
  const nonNegative = (name: string, value: number | undefined, fallback: number, min = 0): number => {
    const v = value ?? fallback;
    if (!Number.isSafeInteger(v) || v < min) {
      throw new RangeError(`SqliteStore: option ${name} must be an integer >= ${min}, got ${String(v)}`);
    }
    return v;
  };
  const retainMs = nonNegative('retainMs', options.retainMs, DEFAULT_STORE_HISTORY_MS);
  return {
    path: options.path,
    timeoutMs: checkTimeoutMs(options.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS),
    // (a shorter window is compacted as often as it is long, so it keeps one to two windows)
    compactIntervalMs: nonNegative('compactIntervalMs', options.compactIntervalMs, Math.min(60_000, Math.max(1_000, retainMs))),
    retainRevisions: nonNegative('retainRevisions', options.retainRevisions, 10_000, 1),
    retainMs,
    leaseCheckIntervalMs: nonNegative('leaseCheckIntervalMs', options.leaseCheckIntervalMs, 500, 1),
    logger: options.logger ?? silentLogger,
    clock: options.clock ?? Date,
  };
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
-- One row per revision. A tombstone (deleted = 1) has an empty value and version 0.
-- prev_rev: the key's previous row (0 for a create), which is the event's prevKv.
CREATE TABLE IF NOT EXISTS kv_log (
  rev INTEGER PRIMARY KEY,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  create_rev INTEGER NOT NULL,
  prev_rev INTEGER NOT NULL,
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  lease INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_log_key_rev ON kv_log (key, rev);
-- The live row of every existing key.
CREATE TABLE IF NOT EXISTS kv_current (key TEXT PRIMARY KEY, rev INTEGER NOT NULL, lease INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_current_lease ON kv_current (lease) WHERE lease != 0;
CREATE TABLE IF NOT EXISTS leases (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ttl_ms INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_expires_at ON leases (expires_at);
`;

/** meta names */
const META_SCHEMA_VERSION = 'schema_version';
/** Reads below this revision throw CompactedError. */
const META_COMPACT_REV = 'compact_rev';
/** Rows below this revision have been physically compacted. */
const META_PHYSICAL_COMPACT_REV = 'physical_compact_rev';

/** A put waiting for its group commit. */
interface PendingPut {
  readonly key: string;
  readonly value: string;
  readonly options: PutOptions;
  resolve(result: PutResult): void;
  reject(error: unknown): void;
}

/** Revisions handled per compaction transaction, so that compaction never blocks for long. */
const COMPACT_CHUNK_REVISIONS = 5_000;
/** Bytes returned to the file system per incremental-vacuum step (one short transaction). */
const VACUUM_STEP_BYTES = 2 ** 20;
/** Free pages kept after a compaction pass, as a share of the used pages (reused by the next writes). */
const VACUUM_SLACK = 0.5;
/** Free pages below this many bytes are never worth a vacuum pass. */
const VACUUM_MIN_BYTES = 4 * 2 ** 20;
/** PRAGMA auto_vacuum values. */
const AUTO_VACUUM_INCREMENTAL = 2;
/** Events read per watch batch. */
const WATCH_BATCH = 1_000;

const KV_COLUMNS = 'l.rev, l.key, l.value, l.create_rev, l.version, l.lease';

interface KvRow {
  readonly rev: number;
  readonly key: string;
  readonly value: string;
  readonly create_rev: number;
  readonly version: number;
  readonly lease: number;
}

interface EventRow extends KvRow {
  readonly deleted: number;
  readonly p_rev: number | null;
  readonly p_value: string | null;
  readonly p_create_rev: number | null;
  readonly p_version: number | null;
  readonly p_lease: number | null;
}

interface LeaseRow {
  readonly id: number;
  readonly ttl_ms: number;
  readonly expires_at: number;
}

function toKeyValue(row: KvRow): KeyValue {
  const kv = {
    key: row.key,
    value: row.value,
    createRevision: row.create_rev,
    modRevision: row.rev,
    version: row.version,
  };
  return row.lease === 0 ? kv : { ...kv, lease: String(row.lease) };
}

function toWatchEvent(row: EventRow): WatchEvent {
  const prevKv =
    row.p_rev === null
      ? undefined
      : toKeyValue({
          rev: row.p_rev,
          key: row.key,
          value: row.p_value ?? '',
          create_rev: row.p_create_rev ?? 0,
          version: row.p_version ?? 0,
          lease: row.p_lease ?? 0,
        });
  if (row.deleted !== 0) {
    return {
      type: 'delete',
      kv: { key: row.key, value: '', createRevision: 0, modRevision: row.rev, version: 0 },
      ...(prevKv ? { prevKv } : {}),
    };
  }
  return { type: 'put', kv: toKeyValue(row), ...(prevKv ? { prevKv } : {}) };
}

/** The one mapping of SQLite failures to store errors. */
function toStoreError(err: unknown, operation: string): unknown {
  if (err instanceof StoreError || err instanceof RangeError || err instanceof TypeError) return err;
  if (err instanceof Database.SqliteError) {
    const message = `store ${operation}: ${err.message} (${err.code})`;
    if (/^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|PROTOCOL|NOLFS)/.test(err.code)) {
      return new StoreUnavailableError(message, { cause: err });
    }
    return new StoreError(message, { cause: err });
  }
  if (err instanceof Error && /database connection is not open/.test(err.message)) {
    return new StoreClosedError(`store ${operation}: the store is closed`, { cause: err });
  }
  return new StoreError(`store ${operation}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** Key range of a list or watch: lower bound (inclusive or exclusive) and optional upper bound. */
interface KeyRange {
  readonly lower: string;
  readonly lowerInclusive: boolean;
  readonly upper: string | undefined;
}

function keyRange(prefix: string, after?: string): KeyRange {
  const upper = prefixEnd(prefix);
  if (after !== undefined && after >= prefix) return { lower: after, lowerInclusive: false, upper };
  return { lower: prefix, lowerInclusive: true, upper };
}

function rangeSql(column: string, range: KeyRange): string {
  const lower = `${column} ${range.lowerInclusive ? '>=' : '>'} @lower`;
  return range.upper === undefined ? lower : `${lower} AND ${column} < @upper`;
}

function rangeParams(range: KeyRange): Record<string, string> {
  return range.upper === undefined ? { lower: range.lower } : { lower: range.lower, upper: range.upper };
}

export class SqliteStore implements Store {
  /** The newest revision (every write adds one). */
  private rev: number;
  private compactRev: number;
  private closed = false;
  /** Woken after every commit and on close; watchers re-read the log. */
  private readonly commitListeners = new Set<() => void>();
  /** (time, revision) samples for the time-based retention of automatic compaction. */
  private readonly revisionSamples: { at: number; rev: number }[] = [];
  private physicalCompaction: Promise<void> | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Prepared statements, by SQL text (list and watch statements come in a few shapes). */
  private readonly statements = new Map<string, Database.Statement>();
  /** Puts waiting for the next group commit (see put). */
  private pendingPuts: PendingPut[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  private readonly putBatchTxn: (batch: readonly PendingPut[]) => (PutResult | Error)[];

  private readonly putTxn: (key: string, value: string, options: PutOptions, rev: number) => void;
  private readonly deleteTxn: (key: string, options: DeleteOptions, rev: number) => KvRow | undefined;
  private readonly revokeTxn: (lease: number, firstRev: number) => number;

  /** Opens (creating if needed) the store file and starts its compaction and lease timers. */
  static open(options: SqliteStoreOptions): SqliteStore {
    const compiled = compileOptions(options);
    let db: Database.Database | undefined;
    try {
      mkdirSync(dirname(compiled.path), { recursive: true, mode: 0o700 });
      // The file holds every object (user password hashes too): only its owner may read it. SQLite
      // gives the -wal and -shm files the mode of the database file.
      closeSync(openSync(compiled.path, 'a', 0o600));
      db = new Database(compiled.path, { timeout: compiled.timeoutMs });
      db.pragma('locking_mode = EXCLUSIVE');
      // Takes effect on a new file only (before its first page is written, even the WAL switch's);
      // an older file is converted below.
      db.pragma(`auto_vacuum = ${AUTO_VACUUM_INCREMENTAL}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('journal_size_limit = 67108864');
      // Opening reads only the header and schema: find damaged pages now, not request by request.
      const check = String(db.pragma('quick_check(1)', { simple: true }));
      if (check !== 'ok') {
        throw new StoreError(`store open: ${compiled.path} is damaged (${check.replace(/\s*\n\s*/g, '; ')}); restore it from a backup`);
      }
      db.exec(SCHEMA);
      convertToIncrementalVacuum(db, compiled);
      return new SqliteStore(db, compiled);
    } catch (err) {
      db?.close();
      const mapped = toStoreError(err, 'open');
      if (mapped instanceof StoreUnavailableError) {
        throw new StoreUnavailableError(
          `store open: cannot open ${compiled.path} (is another process using it?): ${mapped.message}`,
          { cause: err },
        );
      }
      throw mapped;
    }
  }

  private constructor(
    private readonly db: Database.Database,
    private readonly options: CompiledOptions,
  ) {
    const schemaVersion = this.getMeta(META_SCHEMA_VERSION);
    if (schemaVersion === undefined) this.setMeta(META_SCHEMA_VERSION, SCHEMA_VERSION);
    else if (schemaVersion !== SCHEMA_VERSION) {
      throw new StoreError(`store open: ${options.path} has schema version ${schemaVersion}, this build reads ${SCHEMA_VERSION}`);
    }
    this.compactRev = this.getMeta(META_COMPACT_REV) ?? 0;
    const maxRev = (this.stmt('SELECT MAX(rev) AS rev FROM kv_log').get() as { rev: number | null }).rev ?? 0;
    this.rev = Math.max(maxRev, this.compactRev);
    this.stmt('UPDATE leases SET expires_at = @now + ttl_ms').run({ now: options.clock.now() });

    this.putTxn = db.transaction((key: string, value: string, opts: PutOptions, rev: number) => {
      this.checkGuard(key, opts);
      const current = this.currentRow(key);
      if (opts.ifAbsent === true && current) throw new ConflictError(key, `key ${key} already exists`);
      if (opts.ifRevision !== undefined && current?.rev !== opts.ifRevision) {
        throw new ConflictError(key, conflictMessage(key, opts.ifRevision, current));
      }
      const lease = opts.lease === undefined ? 0 : this.liveLease(opts.lease).id;
      this.stmt(
        'INSERT INTO kv_log (rev, key, value, create_rev, prev_rev, version, deleted, lease) VALUES (?, ?, ?, ?, ?, ?, 0, ?)',
      ).run(rev, key, value, current?.create_rev ?? rev, current?.rev ?? 0, (current?.version ?? 0) + 1, lease);
      this.stmt(
        'INSERT INTO kv_current (key, rev, lease) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET rev = excluded.rev, lease = excluded.lease',
      ).run(key, rev, lease);
    });
    // One transaction, hence one fsync, for a whole batch of puts; each put runs in its own
    // savepoint (putTxn nested), so a failed precondition fails that put only.
    this.putBatchTxn = db.transaction((batch: readonly PendingPut[]) => {
      let rev = this.rev;
      return batch.map((op): PutResult | Error => {
        try {
          this.putTxn(op.key, op.value, op.options, rev + 1);
          rev += 1;
          return { revision: rev };
        } catch (err) {
          if (err instanceof ConflictError || err instanceof FencedError || err instanceof LeaseNotFoundError) return err;
          throw err; // anything else (I/O, corruption) aborts the whole batch
        }
      });
    });
    this.deleteTxn = db.transaction((key: string, opts: DeleteOptions, rev: number) => {
      this.checkGuard(key, opts);
      const current = this.currentRow(key);
      if (opts.ifRevision !== undefined && current?.rev !== opts.ifRevision) {
        throw new ConflictError(key, conflictMessage(key, opts.ifRevision, current));
      }
      if (!current) return undefined;
      this.appendTombstone(key, current.rev, rev);
      return current;
    });
    this.revokeTxn = db.transaction((lease: number, firstRev: number) => {
      const keys = this.stmt('SELECT key, rev FROM kv_current WHERE lease = ? ORDER BY key').all(lease) as {
        key: string;
        rev: number;
      }[];
      keys.forEach(({ key, rev }, i) => this.appendTombstone(key, rev, firstRev + i));
      this.stmt('DELETE FROM leases WHERE id = ?').run(lease);
      return keys.length;
    });

    if (options.compactIntervalMs > 0) {
      this.timers.push(setInterval(() => this.autoCompact(), options.compactIntervalMs).unref());
    }
    this.timers.push(setInterval(() => this.expireLeases(), options.leaseCheckIntervalMs).unref());
    // Finish a physical compaction that a crash or close interrupted.
    if ((this.getMeta(META_PHYSICAL_COMPACT_REV) ?? 0) < this.compactRev) this.startPhysicalCompaction();
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.run('get', () => {
      checkKey('get', key);
      const row = this.currentRow(key);
      return row && toKeyValue(row);
    });
  }

  list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    return this.run('list', () => {
      checkPrefix('list', prefix);
      checkListOptions(options);
      const revision = options.revision ?? this.rev;
      if (revision > this.rev) {
        throw new FutureRevisionError(`store list: options.revision ${revision} is newer than the current revision ${this.rev}`);
      }
      if (revision < this.compactRev) throw new CompactedError(revision, this.compactRev);
      const range = keyRange(prefix, options.after);
      const limit = options.limit ? options.limit + 1 : -1;
      const rows = (
        revision === this.rev
          ? this.stmt(
              `SELECT ${KV_COLUMNS} FROM kv_current c JOIN kv_log l ON l.rev = c.rev
               WHERE ${rangeSql('c.key', range)} ORDER BY c.key LIMIT @limit`,
            ).all({ ...rangeParams(range), limit })
          : // Walks the (key, rev) index in key order, keeping each key's newest row at or below the revision.
            this.stmt(
              `SELECT ${KV_COLUMNS} FROM kv_log l
               WHERE ${rangeSql('l.key', range)} AND l.rev <= @revision
                 AND l.rev = (SELECT MAX(m.rev) FROM kv_log m WHERE m.key = l.key AND m.rev <= @revision)
                 AND l.deleted = 0
               ORDER BY l.key LIMIT @limit`,
            ).all({ ...rangeParams(range), limit, revision })
      ) as KvRow[];
      const more = options.limit ? rows.length > options.limit : false;
      if (more) rows.pop();
      return { items: rows.map(toKeyValue), revision, more };
    });
  }

  /**
   * Puts are group-committed: those issued before the event loop's next check phase share one
   * transaction and one fsync (a put is acknowledged only after its commit). Any other operation
   * first commits the waiting puts, so operations still take effect in the order they were issued.
   */
  put(key: string, value: string, options: PutOptions = {}): Promise<PutResult> {
    return this.run('put', () => {
      checkKey('put', key);
      checkValue('put', value);
      checkPutOptions(options);
      return new Promise<PutResult>((resolve, reject) => {
        this.pendingPuts.push({ key, value, options, resolve, reject });
        this.flushScheduled ??= setImmediate(() => this.flushPuts());
      });
    });
  }

  delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult | undefined> {
    return this.run('delete', () => {
      checkKey('delete', key);
      checkDeleteOptions(options);
      const rev = this.rev + 1;
      const previous = this.deleteTxn(key, options, rev);
      if (!previous) return undefined;
      this.committed(rev);
      return { revision: rev, previous: toKeyValue(previous) };
    });
  }

  watch(prefix: string, options: WatchOptions = {}): AsyncIterable<WatchEvent[]> {
    checkPrefix('watch', prefix);
    if (options.fromRevision !== undefined) checkRevision('watch', 'options.fromRevision', options.fromRevision);
    // Fixed now, so that writes made after watch() returns are seen even before the first next().
    const fromRevision = options.fromRevision ?? this.rev + 1;
    return { [Symbol.asyncIterator]: () => this.watchLog(prefix, fromRevision, options.signal) };
  }

  grantLease(ttlSeconds: number): Promise<LeaseId> {
    return this.run('grantLease', () => {
      checkTtl(ttlSeconds);
      const ttlMs = ttlSeconds * 1000;
      const result = this.stmt('INSERT INTO leases (ttl_ms, expires_at) VALUES (?, ?)').run(
        ttlMs,
        this.options.clock.now() + ttlMs,
      );
      return String(result.lastInsertRowid);
    });
  }

  keepAlive(lease: LeaseId): Promise<void> {
    return this.run('keepAlive', () => {
      checkLeaseId('keepAlive', lease);
      const row = this.liveLease(lease);
      this.stmt('UPDATE leases SET expires_at = ? WHERE id = ?').run(this.options.clock.now() + row.ttl_ms, row.id);
    });
  }

  revokeLease(lease: LeaseId): Promise<void> {
    return this.run('revokeLease', () => {
      checkLeaseId('revokeLease', lease);
      this.revoke(Number(lease));
    });
  }

  currentRevision(): Promise<number> {
    return this.run('currentRevision', () => this.rev);
  }

  /** Resolves after the discarded rows have been deleted from the file. */
  async compact(revision: number): Promise<void> {
    const advanced = await this.run('compact', () => {
      checkRevision('compact', 'revision', revision);
      if (revision > this.rev) {
        throw new FutureRevisionError(`store compact: revision ${revision} is newer than the current revision ${this.rev}`);
      }
      if (revision <= this.compactRev) return false;
      this.setMeta(META_COMPACT_REV, revision);
      this.compactRev = revision;
      return true;
    });
    if (advanced) this.startPhysicalCompaction();
    await this.physicalCompaction;
  }

  compactedRevision(): Promise<number> {
    return this.run('compactedRevision', () => this.compactRev);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flushPuts(); // acknowledged puts are never dropped; waiting ones are committed first
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    for (const wake of this.commitListeners) wake();
    await this.physicalCompaction;
    this.db.close();
  }

  // --- internals ---

  /** Throws FencedError unless the write's guard key exists with the guard's createRevision (inside the write's transaction). */
  private checkGuard(key: string, options: PutOptions | DeleteOptions): void {
    const guard = options.guard;
    if (guard === undefined) return;
    const held = this.currentRow(guard.key);
    if (held?.create_rev !== guard.createRevision) {
      throw new FencedError(key, guard.key, fencedMessage(key, guard.key, guard.createRevision, held?.create_rev));
    }
  }

  /** Commits the waiting puts in one transaction and settles their promises. */
  private flushPuts(): void {
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    const batch = this.pendingPuts;
    if (batch.length === 0) return;
    this.pendingPuts = [];
    if (this.closed) {
      for (const op of batch) op.reject(new StoreClosedError('store put: the store is closed'));
      return;
    }
    let results: (PutResult | Error)[];
    try {
      results = this.putBatchTxn(batch);
    } catch (err) {
      const error = toStoreError(err, 'put');
      for (const op of batch) op.reject(error);
      return;
    }
    const last = results.reduce((max, r) => (r instanceof Error ? max : Math.max(max, r.revision)), 0);
    if (last > 0) this.committed(last);
    results.forEach((result, i) => {
      const op = batch[i]!;
      if (result instanceof Error) op.reject(toStoreError(result, 'put'));
      else op.resolve(result);
    });
  }

  private run<T>(operation: string, body: () => T | Promise<T>): Promise<T> {
    return withDeadline(operation, this.options.timeoutMs, async () => {
      if (this.closed) throw new StoreClosedError(`store ${operation}: the store is closed`);
      if (operation !== 'put') this.flushPuts(); // keep the order of operations as issued
      try {
        return await body();
      } catch (err) {
        throw toStoreError(err, operation);
      }
    });
  }

  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private getMeta(name: string): number | undefined {
    const row = this.stmt('SELECT value FROM meta WHERE name = ?').get(name) as { value: number } | undefined;
    return row?.value;
  }

  private setMeta(name: string, value: number): void {
    this.stmt('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(
      name,
      value,
    );
  }

  private currentRow(key: string): KvRow | undefined {
    return this.stmt(`SELECT ${KV_COLUMNS} FROM kv_current c JOIN kv_log l ON l.rev = c.rev WHERE c.key = ?`).get(key) as
      | KvRow
      | undefined;
  }

  private appendTombstone(key: string, prevRev: number, rev: number): void {
    this.stmt(
      "INSERT INTO kv_log (rev, key, value, create_rev, prev_rev, version, deleted, lease) VALUES (?, ?, '', 0, ?, 0, 1, 0)",
    ).run(rev, key, prevRev);
    this.stmt('DELETE FROM kv_current WHERE key = ?').run(key);
  }

  /** The lease, if it exists and has not expired; else LeaseNotFoundError. */
  private liveLease(lease: LeaseId): LeaseRow {
    const row = this.stmt('SELECT id, ttl_ms, expires_at FROM leases WHERE id = ?').get(Number(lease)) as
      | LeaseRow
      | undefined;
    if (!row || row.expires_at <= this.options.clock.now()) {
      throw new LeaseNotFoundError(`lease ${lease} not found (expired or revoked)`);
    }
    return row;
  }

  /** Deletes the lease and its keys, one revision per key; no-op for an unknown lease. */
  private revoke(lease: number): void {
    const deleted = this.revokeTxn(lease, this.rev + 1);
    if (deleted > 0) this.committed(this.rev + deleted);
  }

  private committed(rev: number): void {
    this.rev = rev;
    for (const wake of this.commitListeners) wake();
  }

  private expireLeases(): void {
    if (this.closed) return;
    try {
      const expired = this.stmt('SELECT id FROM leases WHERE expires_at <= ? ORDER BY expires_at LIMIT 1000').all(
        this.options.clock.now(),
      ) as { id: number }[];
      for (const { id } of expired) this.revoke(id);
    } catch (err) {
      this.options.logger.error('store: expiring leases failed', { error: String(toStoreError(err, 'expireLeases')) });
    }
  }

  private autoCompact(): void {
    if (this.closed) return;
    const now = this.options.clock.now();
    const samples = this.revisionSamples;
    samples.push({ at: now, rev: this.rev });
    const horizon = now - this.options.retainMs;
    // Keep only the newest sample at or before the horizon, and everything after it.
    while (samples.length >= 2 && (samples[1]?.at ?? Infinity) <= horizon) samples.shift();
    const oldest = samples[0];
    if (!oldest || oldest.at > horizon) return; // history is younger than the window
    const target = Math.min(oldest.rev, this.rev - this.options.retainRevisions + 1);
    if (target <= this.compactRev) return;
    this.compact(target).catch((err: unknown) => {
      if (!this.closed) this.options.logger.warn('store: automatic compaction failed', { error: String(err) });
    });
  }

  private startPhysicalCompaction(): void {
    if (this.physicalCompaction) return;
    this.physicalCompaction = this.compactPhysically()
      .catch((err: unknown) => {
        this.options.logger.error('store: compaction failed', { error: String(toStoreError(err, 'compact')) });
      })
      .finally(() => {
        this.physicalCompaction = undefined;
      });
  }

  /**
   * Deletes, in short transactions, the rows below the compact revision that nothing can read;
   * then returns the excess free pages to the file system and empties the WAL.
   */
  private async compactPhysically(): Promise<void> {
    const deleteChunk = this.db.transaction((from: number, to: number) => {
      // A row whose successor is below the compact revision is neither visible at it nor a prevKv.
      this.stmt(
        'DELETE FROM kv_log WHERE rev IN (SELECT prev_rev FROM kv_log WHERE rev >= ? AND rev < ? AND prev_rev != 0)',
      ).run(from, to);
      this.stmt('DELETE FROM kv_log WHERE rev >= ? AND rev < ? AND deleted = 1').run(from, to);
      this.setMeta(META_PHYSICAL_COMPACT_REV, to);
    });
    let from = this.getMeta(META_PHYSICAL_COMPACT_REV) ?? 0;
    while (!this.closed && from < this.compactRev) {
      const to = Math.min(from + COMPACT_CHUNK_REVISIONS, this.compactRev);
      deleteChunk(from, to);
      from = to;
      await yieldToEventLoop();
    }
    if (!this.closed) await this.returnFreePages();
  }

  /**
   * Incremental vacuum down to the slack (see the header), in steps of VACUUM_STEP_BYTES with the
   * event loop served between them, then a TRUNCATE checkpoint (which also truncates the file).
   */
  private async returnFreePages(): Promise<void> {
    const pragma = (sql: string): number => Number(this.db.pragma(sql, { simple: true }));
    const pageSize = pragma('page_size');
    const pagesBefore = pragma('page_count');
    let free = pragma('freelist_count');
    const keep = Math.max(Math.ceil(VACUUM_MIN_BYTES / pageSize), Math.ceil((pagesBefore - free) * VACUUM_SLACK));
    const stepPages = Math.max(1, Math.floor(VACUUM_STEP_BYTES / pageSize));
    const started = performance.now();
    let steps = 0;
    let longestStepMs = 0;
    if (free > keep && pragma('auto_vacuum') === AUTO_VACUUM_INCREMENTAL) {
      while (!this.closed && free > keep) {
        const stepStarted = performance.now();
        this.db.pragma(`incremental_vacuum(${Math.min(stepPages, free - keep)})`);
        longestStepMs = Math.max(longestStepMs, performance.now() - stepStarted);
        const left = pragma('freelist_count');
        if (left >= free) break; // nothing more to give back
        steps += 1;
        free = left;
        await yieldToEventLoop();
      }
    }
    if (this.closed) return; // close() checkpoints and removes the WAL
    const checkpointStarted = performance.now();
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    const pagesAfter = pragma('page_count');
    if (pagesAfter < pagesBefore) {
      const mb = (pages: number): number => Math.round((pages * pageSize) / 2 ** 16) / 16;
      this.options.logger.info('store: returned free pages to the file system', {
        freedMb: mb(pagesBefore - pagesAfter),
        fileMb: mb(pagesAfter),
        steps,
        longestStepMs: Math.round(longestStepMs * 10) / 10,
        checkpointMs: Math.round((performance.now() - checkpointStarted) * 10) / 10,
        totalMs: Math.round(performance.now() - started),
      });
    }
  }

  private async *watchLog(prefix: string, fromRevision: number, signal: AbortSignal | undefined) {
    const range = keyRange(prefix);
    let nextRev = fromRevision;
    let pending = true; // the log may hold events not read yet
    let wake: (() => void) | undefined;
    const listener = (): void => {
      pending = true;
      wake?.();
    };
    this.commitListeners.add(listener);
    signal?.addEventListener('abort', listener);
    try {
      for (;;) {
        if (signal?.aborted) return;
        if (this.closed) throw new StoreClosedError('store watch: the store was closed');
        if (!pending) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        pending = false;
        if (nextRev < this.compactRev) throw new CompactedError(nextRev, this.compactRev);
        let rows: EventRow[];
        try {
          rows = this.stmt(
            `SELECT ${KV_COLUMNS}, l.deleted, p.rev AS p_rev, p.value AS p_value, p.create_rev AS p_create_rev,
                    p.version AS p_version, p.lease AS p_lease
             FROM kv_log l LEFT JOIN kv_log p ON p.rev = l.prev_rev
             WHERE l.rev >= @from AND ${rangeSql('+l.key', range)}
             ORDER BY l.rev LIMIT ${WATCH_BATCH}`,
          ).all({ ...rangeParams(range), from: nextRev }) as EventRow[];
        } catch (err) {
          throw toStoreError(err, 'watch');
        }
        const last = rows.at(-1);
        if (rows.length === WATCH_BATCH && last) {
          nextRev = last.rev + 1;
          pending = true;
        } else {
          nextRev = Math.max(nextRev, this.rev + 1); // everything up to the current revision was read
        }
        if (rows.length > 0) yield rows.map(toWatchEvent);
      }
    } finally {
      this.commitListeners.delete(listener);
      signal?.removeEventListener('abort', listener);
    }
  }
}

/**
 * Converts a file created without incremental auto-vacuum (by an earlier version) with one
 * VACUUM. On failure (e.g. no disk space for the copy) logs and leaves the file as it is.
 */
function convertToIncrementalVacuum(db: Database.Database, options: CompiledOptions): void {
  if (Number(db.pragma('auto_vacuum', { simple: true })) === AUTO_VACUUM_INCREMENTAL) return;
  const pages = Number(db.pragma('page_count', { simple: true }));
  const fileMb = Math.round((pages * Number(db.pragma('page_size', { simple: true }))) / 2 ** 20);
  options.logger.info('store: converting the file to incremental auto-vacuum (once; a full VACUUM)', { path: options.path, fileMb });
  const started = performance.now();
  try {
    db.exec('VACUUM');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } catch (err) {
    options.logger.warn('store: could not convert the file to incremental auto-vacuum; it works, but will not shrink', {
      path: options.path,
      error: String(toStoreError(err, 'open')),
    });
    return;
  }
  options.logger.info('store: converted the file to incremental auto-vacuum', {
    path: options.path,
    fileMb: Math.round((Number(db.pragma('page_count', { simple: true })) * Number(db.pragma('page_size', { simple: true }))) / 2 ** 20),
    ms: Math.round(performance.now() - started),
  });
}

function conflictMessage(key: string, expected: number, current: KvRow | undefined): string {
  return current
    ? `key ${key} is at revision ${current.rev}, not ${expected}`
    : `key ${key} does not exist (expected revision ${expected})`;
}

// Persistent per-attempt logs and attempt records on the server's disk (DESIGN 3: logs outlive
// the job and its node). Contract (shared with the agent endpoint and the job lifecycle):
//
// - append(job, chunk) stores the bytes of one output stream of one attempt. Idempotent by
//   offset: bytes below the stream's nextOffset are skipped; a chunk that starts past nextOffset
//   (a gap) stores nothing; data after the stream's EOF stores nothing. The returned StreamOffset
//   tells the agent where to resume. Appends of one attempt are serialised, and the answer comes
//   only after what it acknowledges is on disk (fdatasync; see "Durability" below).
// - Size cap per attempt (both streams together, default 10 MiB): bytes beyond it are counted,
//   not stored; readers then see one line `[openscheduler: N bytes dropped, log size cap of
//   10MiB reached]` after the stored output.
// - Both streams of an attempt live in one file of framed records (log-format.ts) so that a read
//   gives stdout and stderr interleaved in arrival order. Layout: log-paths.ts. A torn last
//   record (a crash mid-write) is truncated away when the attempt is next opened for writing.
// - recordAttempt(record) writes `<attempt>.json` atomically: a temporary file, fdatasync, rename.
//   The rename is not fsynced: a crash can lose the newest records (the job's status keeps its
//   recent attempts) but never leaves a partial one.
// - Reading: listAttempts, offsets, read (bytes from an offset, or the last N lines, of both
//   streams or one) and follow (the same, then new bytes as they are appended, woken in-process:
//   no polling; ends when the selected streams are complete, `until` resolves, the signal aborts
//   or the store closes). Memory stays bounded: output is streamed record by record.
// - Retention: run(signal) deletes, every sweep interval, attempts whose last write is older than
//   the retention (default 7 days) and the directories left empty. run() owns the store's
//   lifetime: when it ends (on abort) the open files are closed as by close().
//
// Parts: log-format.ts (the records), log-paths.ts (the layout), attempt-log.ts (one open file),
// log-reader.ts (reads and follows), log-retention.ts (the sweep), group-commit.ts (shared fsyncs).
//
// Durability: an append writes its records with one positional write, then waits for an
// fdatasync issued after that write. Syncs are group-committed per attempt file: a sync first
// lets the writes already queued finish and covers them too, and appends that a running sync
// does not cover share the next one. New directory entries are made durable by fsyncing the
// directories that changed, once, when the file is created; those fsyncs are group-committed
// per directory (group-commit.ts), so jobs created together in one namespace share its fsync.
// A small job therefore costs one fdatasync per append call that adds bytes (stdout and stderr
// arriving together share one); at creation, fsyncs of the namespace directory (shared), the
// job's name directory and its uid directory; and one fdatasync for its record.
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { sleep, systemClock, type Clock } from '../controllers/runtime/clock.js';
import { errorMessage, silentLogger, type Logger } from '../controllers/runtime/logger.js';
import type { AttemptRecord, AttemptSink } from '../controllers/jobs/job-transitions.js';
import { AttemptLog, emptyStreams, hasMagic, summarize, type FileSummary, type StreamStates } from './attempt-log.js';
import { asError, fsyncDir, isErrno, listDir, statIfExists, writeAll } from './files.js';
import { GroupCommit } from './group-commit.js';
import { encodeRecord, FILE_MAGIC, LOG_STREAMS, MAX_DROPPED_PER_RECORD, MAX_RECORD_DATA, RecordType, type LogStreamName } from './log-format.js';
import {
  attemptOfFile,
  checkAttempt,
  checkComponent,
  jobDirs,
  jobNameDir,
  LogInputError,
  logFileName,
  recordFileName,
} from './log-paths.js';
import { capMarker, LogReader, OutputFilter } from './log-reader.js';
import { sweepExpiredAttempts } from './log-retention.js';

export { LogInputError } from './log-paths.js';
export type { LogStreamName } from './log-format.js';
export { capMarker, formatSize } from './log-reader.js';
export type { AttemptRecord, AttemptSink } from '../controllers/jobs/job-transitions.js';

export interface JobRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export interface LogChunk {
  readonly attempt: number;
  readonly stream: LogStreamName;
  /** Offset of data[0] in the stream (bytes the task wrote to it before). */
  readonly offset: number;
  readonly data: Uint8Array;
  /** The stream ends after this chunk. */
  readonly eof: boolean;
}

export interface StreamOffset {
  readonly attempt: number;
  readonly stream: LogStreamName;
  /** The stream offset the next chunk should start at (stored plus dropped bytes). */
  readonly nextOffset: number;
  /** EOF was received: nothing more is stored for this stream. */
  readonly complete: boolean;
}

export interface StreamSummary extends StreamOffset {
  /** Bytes kept on disk. */
  readonly storedBytes: number;
  /** Bytes counted past the size cap. */
  readonly droppedBytes: number;
}

/** One attempt found on disk. */
export interface StoredAttempt {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly attempt: number;
  /** The finished attempt's record, when recordAttempt wrote one. */
  readonly record?: AttemptRecord;
  /** stdout then stderr. */
  readonly streams: readonly StreamSummary[];
  /** Output bytes stored (both streams). */
  readonly storedBytes: number;
  /** Output bytes dropped past the size cap (both streams). */
  readonly droppedBytes: number;
  /** Every stream received EOF. */
  readonly complete: boolean;
  /** The last write to the attempt's files. */
  readonly lastWrite: Date;
}

export interface ReadOptions {
  /** One stream only; default both, interleaved in arrival order. */
  readonly stream?: LogStreamName;
  /** Skip this many bytes of the selected output (not with tailLines). */
  readonly offset?: number;
  /** Only the last N lines of the output present when the read starts (not with offset). */
  readonly tailLines?: number;
  /** Stop after this many bytes (the cap marker is then left out). */
  readonly limitBytes?: number;
}

export interface FollowOptions extends ReadOptions {
  /** Stop following when this resolves (the cap marker, if any, is still sent). */
  readonly until?: Promise<unknown>;
  /** Stop at once when aborted. */
  readonly signal?: AbortSignal;
}

export interface LogStore extends AttemptSink {
  /** Stores one chunk (see the contract at the top of this file). Throws LogInputError on bad input. */
  append(job: JobRef, chunk: LogChunk): Promise<StreamOffset>;
  /** Where each stream of an attempt stands (stdout, stderr); zeros when nothing was stored. */
  offsets(job: JobRef, attempt: number): Promise<StreamOffset[]>;
  /**
   * The attempts on disk of the job (namespace, name), of every uid or of one: uids ordered by
   * their last write (oldest first), attempts ascending within a uid. Stream summaries come from
   * the record headers (a cheap scan that reads no output).
   */
  listAttempts(namespace: string, name: string, uid?: string): Promise<StoredAttempt[]>;
  /** The attempt's output stored so far, then the cap marker if bytes were dropped. */
  read(job: JobRef, attempt: number, options?: ReadOptions): AsyncIterable<Uint8Array>;
  /** Like read, then new output as it is appended, until the selected streams are complete. */
  follow(job: JobRef, attempt: number, options?: FollowOptions): AsyncIterable<Uint8Array>;
}

export interface FileLogStoreOptions {
  /** The log directory (the server passes `<data-dir>/logs`); created with mode 0700. */
  readonly dir: string;
  /** Output bytes kept per attempt (default 10 MiB). */
  readonly maxAttemptBytes?: number;
  /** Attempts not written for this long are deleted (default 7 days). */
  readonly retentionSeconds?: number;
  /** How often run() sweeps for expired attempts (default 1 hour). */
  readonly sweepIntervalMs?: number;
  /** Attempt files kept open for appending (least recently used ones are closed; default 256). */
  readonly maxOpenAttempts?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export const DEFAULT_MAX_ATTEMPT_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_RETENTION_SECONDS = 7 * 24 * 3600;
export const DEFAULT_SWEEP_INTERVAL_MS = 3600_000;
const DEFAULT_MAX_OPEN_ATTEMPTS = 256;
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
/** How many closed logs' summaries are remembered (a reopen then skips the scan). */
const KNOWN_CLOSED = 4096;
/** Tries to create an attempt's files when the retention sweep removes their directory meanwhile. */
const CREATE_ATTEMPTS = 3;

/** The store was closed. */
export class LogStoreClosedError extends Error {
  override readonly name = 'LogStoreClosedError';
  constructor() {
    super('the log store is closed');
  }
}

interface OpenEntry {
  readonly opening: Promise<AttemptLog>;
  /** Set once opened. */
  log: AttemptLog | undefined;
  /** Appends waiting for `opening` (not yet users: the log must not be evicted under them). */
  waiters: number;
}

/** Where a stream of an open log stands. */
function offsetOf(log: AttemptLog, attempt: number, stream: LogStreamName): StreamOffset {
  const s = log.streams[stream];
  return { attempt, stream, nextOffset: s.nextOffset, complete: s.complete };
}

export class FileLogStore implements LogStore {
  readonly dir: string;
  readonly maxAttemptBytes: number;
  private readonly retentionMs: number;
  private readonly sweepIntervalMs: number;
  private readonly maxOpenAttempts: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private rootReady: Promise<void> | undefined;
  /** Attempt logs being opened or open, by file path, least recently used first. */
  private readonly entries = new Map<string, OpenEntry>();
  /** What this process knew of logs it closed (most recent last, at most KNOWN_CLOSED): reopening them needs no scan. */
  private readonly closedSummaries = new Map<string, { readonly streams: StreamStates; readonly length: number }>();
  /** fsyncs of directories in progress, by path. */
  private readonly dirCommits = new Map<string, GroupCommit>();
  /** Wake-ups of followers, by file path. */
  private readonly listeners = new Map<string, Set<() => void>>();
  private closing: Promise<void> | undefined;

  constructor(options: FileLogStoreOptions) {
    this.dir = options.dir;
    this.maxAttemptBytes = positiveOption('maxAttemptBytes', options.maxAttemptBytes, DEFAULT_MAX_ATTEMPT_BYTES);
    this.retentionMs = positiveOption('retentionSeconds', options.retentionSeconds, DEFAULT_LOG_RETENTION_SECONDS) * 1000;
    this.sweepIntervalMs = positiveOption('sweepIntervalMs', options.sweepIntervalMs, DEFAULT_SWEEP_INTERVAL_MS);
    this.maxOpenAttempts = positiveOption('maxOpenAttempts', options.maxOpenAttempts, DEFAULT_MAX_OPEN_ATTEMPTS);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  // ---- writing ----

  async append(job: JobRef, chunk: LogChunk): Promise<StreamOffset> {
    const attempt = checkAttempt('chunk.attempt', chunk.attempt);
    const stream = checkStream('chunk.stream', chunk.stream);
    if (typeof chunk.offset !== 'number' || !Number.isSafeInteger(chunk.offset) || chunk.offset < 0) {
      throw new LogInputError('chunk.offset: must be an integer >= 0');
    }
    if (!(chunk.data instanceof Uint8Array)) throw new LogInputError('chunk.data: must be bytes');
    const path = this.logPath(job, attempt);
    const log = await this.acquire(job, attempt, path);
    try {
      const { ack, durableThrough } = await log.exclusive((n) => this.write(log, n, chunk, attempt, stream));
      await log.durable(durableThrough);
      return ack;
    } finally {
      this.release(log);
    }
  }

  /**
   * Task `n` of the log: writes what `chunk` adds. Returns the offset to acknowledge and the
   * task whose writes (and all before) must be on disk first.
   */
  private async write(
    log: AttemptLog,
    n: number,
    chunk: LogChunk,
    attempt: number,
    stream: LogStreamName,
  ): Promise<{ ack: StreamOffset; durableThrough: number }> {
    if (log.broken) throw log.broken;
    const state = log.streams[stream];
    const unchanged = { ack: offsetOf(log, attempt, stream), durableThrough: log.lastWriteTask };
    if (state.complete || chunk.offset > state.nextOffset) return unchanged;
    const data = Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength);
    const fresh = data.subarray(Math.min(state.nextOffset - chunk.offset, data.length));
    // An EOF counts only from a chunk that reaches the stream's end as stored.
    const eof = chunk.eof && chunk.offset + data.length >= state.nextOffset;
    if (fresh.length === 0 && !eof) return unchanged;
    const keep = fresh.subarray(0, Math.min(fresh.length, Math.max(0, this.maxAttemptBytes - log.storedTotal)));
    const dropped = fresh.length - keep.length;
    const now = this.clock.now();
    const records: Buffer[] = [];
    for (let at = 0; at < keep.length; at += MAX_RECORD_DATA) {
      records.push(encodeRecord(RecordType.Data, stream, now, keep.subarray(at, at + MAX_RECORD_DATA)));
    }
    for (let left = dropped; left > 0; left -= MAX_DROPPED_PER_RECORD) {
      records.push(encodeRecord(RecordType.Dropped, stream, now, Math.min(left, MAX_DROPPED_PER_RECORD)));
    }
    if (eof) records.push(encodeRecord(RecordType.Eof, stream, now, 0));
    const bytes = records.length === 1 ? (records[0] as Buffer) : Buffer.concat(records);
    try {
      await writeAll(log.file, bytes, log.length);
    } catch (err) {
      // The file may now hold part of a record: reopening (after release) truncates it away.
      log.broken = asError(err);
      throw err;
    }
    log.length += bytes.length;
    state.nextOffset += fresh.length;
    state.stored += keep.length;
    state.dropped += dropped;
    log.storedTotal += keep.length;
    if (eof) state.complete = true;
    log.lastWriteTask = n;
    this.notify(log.path);
    return { ack: offsetOf(log, attempt, stream), durableThrough: n };
  }

  async recordAttempt(record: AttemptRecord): Promise<void> {
    this.checkOpen();
    if (typeof record !== 'object' || record === null) throw new LogInputError('record: must be an object');
    const attempt = checkAttempt('record.attempt', record.attempt);
    const dirs = jobDirs(this.dir, record.namespace, record.name, record.jobUid);
    if (typeof record.endTime !== 'string') throw new LogInputError('record.endTime: must be an RFC 3339 string');
    if (typeof record.reason !== 'string') throw new LogInputError('record.reason: must be a string');
    const target = join(dirs.uidDir, recordFileName(attempt));
    const body = `${JSON.stringify(record)}\n`;
    for (let tries = 1; ; tries++) {
      await this.makeDirs(dirs.uidDir);
      const temporary = join(dirs.uidDir, `.${recordFileName(attempt)}.${randomUUID()}.tmp`);
      try {
        const file = await open(temporary, 'wx', FILE_MODE);
        try {
          await writeAll(file, Buffer.from(body), 0);
          await file.datasync();
        } finally {
          await file.close();
        }
        await rename(temporary, target);
        return;
      } catch (err) {
        await unlink(temporary).catch(() => undefined);
        if (!isErrno(err, 'ENOENT') || tries >= CREATE_ATTEMPTS) throw err;
      }
    }
  }

  /** The open log of an attempt, opened (and recovered) on first use; counted as in use until release(). */
  private async acquire(job: JobRef, attempt: number, path: string): Promise<AttemptLog> {
    for (;;) {
      this.checkOpen();
      let entry = this.entries.get(path);
      if (entry === undefined) {
        const opened: OpenEntry = { opening: this.openLog(job, attempt, path), log: undefined, waiters: 0 };
        opened.opening.then(
          (log) => (opened.log = log),
          () => {
            if (this.entries.get(path) === opened) this.entries.delete(path);
          },
        );
        entry = opened;
      } else {
        this.entries.delete(path); // re-inserted below: most recently used last
      }
      this.entries.set(path, entry);
      entry.waiters++;
      let log: AttemptLog;
      try {
        log = await entry.opening;
      } finally {
        entry.waiters--;
      }
      if (log.closed) continue;
      if (log.broken) {
        this.retire(log);
        continue;
      }
      log.users++;
      this.evictIdle();
      return log;
    }
  }

  private release(log: AttemptLog): void {
    log.users--;
    if (log.users === 0 && (log.complete || log.broken !== undefined)) this.retire(log);
  }

  /** Closes the least recently used idle logs beyond maxOpenAttempts. */
  private evictIdle(): void {
    let excess = this.entries.size - this.maxOpenAttempts;
    for (const { log, waiters } of this.entries.values()) {
      if (excess <= 0) break;
      if (log === undefined || log.users > 0 || waiters > 0) continue;
      this.retire(log);
      excess--;
    }
  }

  /** The open log of a path, if any (readers take its committed length). */
  private liveLog(path: string): AttemptLog | undefined {
    const log = this.entries.get(path)?.log;
    return log?.closed === false ? log : undefined;
  }

  private retire(log: AttemptLog): void {
    if (log.closed) return;
    if (this.entries.get(log.path)?.log === log) this.entries.delete(log.path);
    if (log.broken === undefined) {
      // Everything it acknowledged is on disk and nothing else writes the file.
      this.closedSummaries.delete(log.path);
      this.closedSummaries.set(log.path, { streams: structuredClone(log.streams), length: log.length });
      for (const path of this.closedSummaries.keys()) {
        if (this.closedSummaries.size <= KNOWN_CLOSED) break;
        this.closedSummaries.delete(path);
      }
    }
    void log.close().catch((err: unknown) => this.logger.warn('closing an attempt log failed', { path: log.path, error: errorMessage(err) }));
  }

  private async openLog(job: JobRef, attempt: number, path: string): Promise<AttemptLog> {
    const { uidDir } = jobDirs(this.dir, job.namespace, job.name, job.uid);
    let file: FileHandle | undefined;
    const createdIn = new Set<string>();
    for (let tries = 1; file === undefined; tries++) {
      for (const dir of await this.makeDirs(uidDir)) createdIn.add(dir);
      try {
        file = await open(path, 'r+');
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        try {
          file = await open(path, 'wx+', FILE_MODE);
        } catch (createErr) {
          // EEXIST: created meanwhile (open it on the next turn); ENOENT: the directory was swept away.
          if (!isErrno(createErr, 'EEXIST', 'ENOENT') || tries >= CREATE_ATTEMPTS) throw createErr;
        }
      }
    }
    try {
      const size = (await file.stat()).size;
      const known = this.closedSummaries.get(path);
      this.closedSummaries.delete(path);
      let summary: FileSummary;
      let durable: boolean;
      if (size < FILE_MAGIC.length) {
        // New (or created and never written before a crash).
        // The magic is made durable by the first append's sync; the directory entries now.
        await file.truncate(0);
        await writeAll(file, FILE_MAGIC, 0);
        await Promise.all([...createdIn, uidDir].map((d) => this.syncDir(d)));
        durable = false;
        summary = { streams: emptyStreams(), validEnd: FILE_MAGIC.length, torn: false };
      } else if (known !== undefined && known.length === size) {
        summary = { streams: known.streams, validEnd: size, torn: false };
        durable = true;
      } else {
        if (!(await hasMagic(file))) throw new Error(`${path} is not an Open Scheduler log file`);
        summary = await summarize(file, size);
        if (summary.torn) {
          this.logger.warn('truncating a torn log record', { path, from: summary.validEnd, size });
          await file.truncate(summary.validEnd);
        }
        // What an earlier process wrote may still be in the page cache only: offsets acknowledged from now on must be durable.
        await file.datasync();
        durable = true;
      }
      return new AttemptLog(path, file, summary.streams, summary.validEnd, durable);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** mkdir -p with mode 0700; returns the directories whose entries changed (to fsync once the caller's file exists). */
  private async makeDirs(dir: string): Promise<string[]> {
    await this.ensureRoot();
    const first = await mkdir(dir, { recursive: true, mode: DIR_MODE });
    if (first === undefined) return [];
    const created = relative(first, dir);
    const parents = [dirname(first)];
    let current = first;
    for (const part of created === '' ? [] : created.split(sep)) {
      parents.push(current);
      current = join(current, part);
    }
    return parents;
  }

  /** fsync of a directory; concurrent callers share one (a group commit per directory). */
  private syncDir(dir: string): Promise<void> {
    let commit = this.dirCommits.get(dir);
    if (commit === undefined) {
      commit = new GroupCommit(() => fsyncDir(dir));
      this.dirCommits.set(dir, commit);
    }
    const shared = commit;
    const synced = shared.sync();
    const forget = (): void => {
      if (this.dirCommits.get(dir) === shared && !shared.busy) this.dirCommits.delete(dir);
    };
    void synced.then(forget, forget);
    return synced;
  }

  private ensureRoot(): Promise<void> {
    this.rootReady ??= mkdir(this.dir, { recursive: true, mode: DIR_MODE }).then(
      () => undefined,
      (err: unknown) => {
        this.rootReady = undefined;
        throw err;
      },
    );
    return this.rootReady;
  }

  // ---- reading ----

  async offsets(job: JobRef, attempt: number): Promise<StreamOffset[]> {
    checkAttempt('attempt', attempt);
    const streams = await this.streamStates(this.logPath(job, attempt), true);
    return LOG_STREAMS.map((stream) => ({ attempt, stream, nextOffset: streams[stream].nextOffset, complete: streams[stream].complete }));
  }

  async listAttempts(namespace: string, name: string, uid?: string): Promise<StoredAttempt[]> {
    const nameDir = jobNameDir(this.dir, namespace, name);
    const uids = uid === undefined ? await listDir(nameDir) : [checkComponent('uid', uid)];
    const groups: { lastWrite: number; attempts: StoredAttempt[] }[] = [];
    for (const jobUid of uids) {
      const attempts = await this.attemptsOf({ namespace, name, uid: jobUid });
      if (attempts.length > 0) groups.push({ lastWrite: Math.max(...attempts.map((a) => a.lastWrite.getTime())), attempts });
    }
    groups.sort((a, b) => a.lastWrite - b.lastWrite);
    return groups.flatMap((g) => g.attempts);
  }

  private async attemptsOf(job: JobRef): Promise<StoredAttempt[]> {
    const { uidDir } = jobDirs(this.dir, job.namespace, job.name, job.uid);
    const numbers = new Set<number>();
    for (const file of await listDir(uidDir)) {
      const found = attemptOfFile(file);
      if (found !== undefined) numbers.add(found.attempt);
    }
    const attempts: StoredAttempt[] = [];
    for (const attempt of [...numbers].sort((a, b) => a - b)) {
      const logPath = join(uidDir, logFileName(attempt));
      const recordPath = join(uidDir, recordFileName(attempt));
      const [logStat, recordStat] = await Promise.all([statIfExists(logPath), statIfExists(recordPath)]);
      if (logStat === undefined && recordStat === undefined) continue;
      const record = recordStat === undefined ? undefined : await this.readRecord(recordPath);
      const streams = await this.streamStates(logPath, false);
      const summaries = LOG_STREAMS.map((stream) => ({
        attempt,
        stream,
        nextOffset: streams[stream].nextOffset,
        complete: streams[stream].complete,
        storedBytes: streams[stream].stored,
        droppedBytes: streams[stream].dropped,
      }));
      attempts.push({
        ...job,
        attempt,
        ...(record === undefined ? {} : { record }),
        streams: summaries,
        storedBytes: streams.stdout.stored + streams.stderr.stored,
        droppedBytes: streams.stdout.dropped + streams.stderr.dropped,
        complete: streams.stdout.complete && streams.stderr.complete,
        lastWrite: new Date(Math.max(logStat?.mtimeMs ?? 0, recordStat?.mtimeMs ?? 0)),
      });
    }
    return attempts;
  }

  private async readRecord(path: string): Promise<AttemptRecord | undefined> {
    try {
      const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as AttemptRecord;
      this.logger.warn('ignoring an attempt record that is not an object', { path });
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) this.logger.warn('ignoring an unreadable attempt record', { path, error: errorMessage(err) });
    }
    return undefined;
  }

  /** From the open log, else from the file (`verified`: with payloads and crc, as a writer recovering it would). */
  private async streamStates(path: string, verified: boolean): Promise<StreamStates> {
    const live = this.liveLog(path);
    if (live !== undefined) return structuredClone(live.streams);
    let file: FileHandle;
    try {
      file = await open(path, 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return emptyStreams();
      throw err;
    }
    try {
      if (!(await hasMagic(file))) return emptyStreams();
      return (await summarize(file, (await file.stat()).size, verified)).streams;
    } finally {
      await file.close();
    }
  }

  read(job: JobRef, attempt: number, options: ReadOptions = {}): AsyncIterable<Uint8Array> {
    return this.output(job, attempt, options, false);
  }

  follow(job: JobRef, attempt: number, options: FollowOptions = {}): AsyncIterable<Uint8Array> {
    return this.output(job, attempt, options, true);
  }

  private async *output(job: JobRef, attempt: number, options: FollowOptions, following: boolean): AsyncGenerator<Uint8Array> {
    checkAttempt('attempt', attempt);
    const path = this.logPath(job, attempt);
    const selected = options.stream === undefined ? LOG_STREAMS : [checkStream('stream', options.stream)];
    const offset = optionalCount('offset', options.offset);
    const tailLines = optionalCount('tailLines', options.tailLines);
    const limitBytes = optionalCount('limitBytes', options.limitBytes);
    if (offset !== undefined && tailLines !== undefined) throw new LogInputError('offset and tailLines: give at most one');

    // Subscribed before the first read, so no append between a read and a wait goes unnoticed.
    let woken: boolean;
    let stopped: 'until' | 'abort' | undefined;
    let wake: (() => void) | undefined;
    const onChange = (): void => {
      woken = true;
      wake?.();
    };
    const onAbort = (): void => {
      stopped = 'abort';
      onChange();
    };
    if (following) {
      if (options.signal?.aborted) return;
      this.subscribe(path, onChange);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      void options.until?.then(
        () => {
          stopped ??= 'until';
          onChange();
        },
        () => undefined,
      );
    }
    const filter = new OutputFilter(selected, offset ?? 0, limitBytes);
    const reader = new LogReader(path, () => this.liveLog(path)?.length);
    try {
      if (tailLines !== undefined) filter.skipLines = await reader.countLinesBeyond(selected, tailLines);
      for (;;) {
        woken = false;
        for await (const record of reader.records()) {
          const out = filter.take(record.type, record.stream, record.length, record.data);
          if (out !== undefined) yield out;
          if (filter.limitReached || stopped === 'abort') return;
        }
        if (!following || filter.complete || stopped !== undefined || this.closing !== undefined) break;
        if (!woken) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        if (stopped === 'abort') return;
      }
      if (filter.dropped > 0 && !filter.limitReached) yield Buffer.from(filter.markerPrefix() + capMarker(filter.dropped, this.maxAttemptBytes));
    } finally {
      if (following) {
        this.unsubscribe(path, onChange);
        options.signal?.removeEventListener('abort', onAbort);
      }
      await reader.close();
    }
  }

  private subscribe(path: string, listener: () => void): void {
    let set = this.listeners.get(path);
    if (set === undefined) this.listeners.set(path, (set = new Set()));
    set.add(listener);
  }

  private unsubscribe(path: string, listener: () => void): void {
    const set = this.listeners.get(path);
    set?.delete(listener);
    if (set?.size === 0) this.listeners.delete(path);
  }

  private notify(path: string): void {
    for (const listener of this.listeners.get(path) ?? []) listener();
  }

  // ---- retention and lifetime ----

  /**
   * Deletes attempts whose last write is older than the retention (skipping the ones open for
   * appending) and the directories left empty. Returns the number of attempts deleted.
   */
  sweepExpired(signal?: AbortSignal): Promise<number> {
    return sweepExpiredAttempts(this.dir, this.clock.now() - this.retentionMs, {
      isOpen: (logPath) => this.entries.has(logPath),
      logger: this.logger,
      signal,
    });
  }

  /** Sweeps now and then every sweep interval until `signal` aborts; then closes the store. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      while (!signal.aborted) {
        try {
          const deleted = await this.sweepExpired(signal);
          if (deleted > 0) this.logger.info('log retention deleted expired attempts', { attempts: deleted });
        } catch (err) {
          this.logger.warn('log retention sweep failed', { error: errorMessage(err) });
        }
        if (!(await sleep(this.clock, this.sweepIntervalMs, signal))) break;
      }
    } finally {
      await this.close();
    }
  }

  /** Ends every follower, waits for appends in progress, and closes the open files. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const set of this.listeners.values()) for (const listener of set) listener();
      const logs = await Promise.allSettled([...this.entries.values()].map((e) => e.opening));
      this.entries.clear();
      await Promise.allSettled(logs.map((l) => (l.status === 'fulfilled' ? l.value.close() : undefined)));
    })();
    return this.closing;
  }

  private checkOpen(): void {
    if (this.closing !== undefined) throw new LogStoreClosedError();
  }

  private logPath(job: JobRef, attempt: number): string {
    if (typeof job !== 'object' || job === null) throw new LogInputError('job: must be an object');
    return join(jobDirs(this.dir, job.namespace, job.name, job.uid).uidDir, logFileName(attempt));
  }
}

function checkStream(field: string, value: unknown): LogStreamName {
  if (value !== 'stdout' && value !== 'stderr') throw new LogInputError(`${field}: must be "stdout" or "stderr"`);
  return value;
}

function optionalCount(field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new LogInputError(`${field}: must be an integer >= 0`);
  return value;
}

function positiveOption(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new LogInputError(`${field}: must be a positive number`);
  return value;
}


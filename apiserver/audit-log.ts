// The audit log: one JSON line per audited request, appended to `<dataDir>/audit/audit.log`
// (directory 0700 when created here, files 0600), rotated by size, and queried newest first.
//
// Durability contract:
// - append() resolves only once its record is on disk (write + fdatasync). Records that arrive
//   while a write is in flight are group-committed: the next batch is one write() of whole
//   lines followed by one fdatasync, so the cost per record falls as the load rises.
// - Every batch is written with a single write() of complete, newline-terminated lines, so the
//   file holds only whole lines, except that a crash (power loss, or a kill -9 landing inside a
//   multi-page write(), which Linux may cut short at a page boundary) can leave an incomplete
//   last line. Such a line belongs to a batch whose append() never resolved, i.e. whose requests
//   were never answered; open() truncates the file back to its last newline (with a warning).
// - A failed write is rolled back (the file is truncated to its previous size), so a later batch
//   never lands after a partial line.
// - One writer per file: two processes must not share an audit log path.
//
// Rotation: before a write that would take the file past `maxBytes`, audit.log becomes
// audit.log.1 (audit.log.1 -> .2, ... keeping `maxFiles` rotated files; the oldest is dropped)
// and a new audit.log is started. A single record larger than `maxBytes` still gets written.
//
// Record shape (stable; new fields may be added, none renamed or removed):
//   {"time": RFC 3339 UTC with milliseconds, when the request arrived, "requestId": the Audit-Id,
//    "user": user name or null, "role": role or null, "sourceAddress", "userAgent" (<= 256 chars),
//    "method", "path" (no query string), "verb", "apiGroup", "resource" ("jobs", "jobs/retry"),
//    "namespace", "name" ("" when none), "code", "durationMs",
//    "event": "request" | "authenticationFailure" | "authorizationFailure" | "login",
//    "authorizedBy": the id of the authorization rule that allowed the request, or null (refused,
//    unauthenticated, or not subject to authorization, e.g. login)}
// Never request or response bodies, headers, query strings, passwords or tokens.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'winston';

export type AuditEvent = 'request' | 'authenticationFailure' | 'authorizationFailure' | 'login';

export const AUDIT_EVENTS: readonly AuditEvent[] = ['request', 'authenticationFailure', 'authorizationFailure', 'login'];

export interface AuditRecord {
  readonly time: string;
  readonly requestId: string;
  readonly user: string | null;
  readonly role: string | null;
  readonly sourceAddress: string;
  readonly userAgent: string;
  readonly method: string;
  readonly path: string;
  readonly verb: string;
  readonly apiGroup: string;
  readonly resource: string;
  readonly namespace: string;
  readonly name: string;
  readonly code: number;
  readonly durationMs: number;
  readonly event: AuditEvent;
  /** The authorization rule that allowed the request (apiserver/authorization.ts), or null. Absent in records written before it existed. */
  readonly authorizedBy?: string | null;
}

/** Where records go; the API server's middleware depends on this only. */
export interface AuditSink {
  /** Resolves once the record is durable; rejects when it could not be written. */
  append(record: AuditRecord): Promise<void>;
}

export interface AuditFilter {
  readonly user?: string;
  readonly verb?: string;
  /** `jobs` matches jobs and its subresources (`jobs/retry`); `jobs/retry` only that subresource. */
  readonly resource?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** An HTTP code (`403`) or a class (`4xx`); see parseCodeFilter. */
  readonly code?: string;
  /** Records whose time is at or after this (ms since the epoch). */
  readonly since?: number;
  /** Records whose time is before this (ms since the epoch). */
  readonly until?: number;
  readonly requestId?: string;
  /** Page size; default DEFAULT_QUERY_LIMIT, at most MAX_QUERY_LIMIT. */
  readonly limit?: number;
  /** The token of the previous page (use the same filters). */
  readonly continue?: string;
}

export interface AuditPage {
  /** Newest first. */
  readonly items: AuditRecord[];
  /** Present when more records may follow. */
  readonly continue?: string;
}

export interface AuditQuery {
  query(filter: AuditFilter): Promise<AuditPage>;
}

export const AUDIT_DIR = 'audit';
export const AUDIT_FILE = 'audit.log';
export const DEFAULT_AUDIT_MAX_BYTES = 100 * 1024 * 1024;
export const DEFAULT_AUDIT_MAX_FILES = 5;
export const DEFAULT_QUERY_LIMIT = 500;
export const MAX_QUERY_LIMIT = 5000;
/** A line longer than this is not a record (records are a few hundred bytes). */
const MAX_LINE_BYTES = 1024 * 1024;
const READ_CHUNK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

/** A continue token that is malformed or does not fit the log (400). */
export class InvalidContinueError extends Error {
  override readonly name = 'InvalidContinueError';
}

/** A continue token whose file has been rotated away (410: start again). */
export class ExpiredContinueError extends Error {
  override readonly name = 'ExpiredContinueError';
}

/** A filter value that breaks its rule; `field` names the filter. */
export class InvalidFilterError extends Error {
  override readonly name = 'InvalidFilterError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** `403` -> exact code; `4xx` -> the class. Throws InvalidFilterError naming `code`. */
export function parseCodeFilter(text: string): { exact?: number; class?: number } {
  if (/^[1-5]\d\d$/.test(text)) return { exact: Number(text) };
  if (/^[1-5]xx$/i.test(text)) return { class: Number(text[0]) };
  throw new InvalidFilterError('code', `code must be an HTTP status code such as 403 or a class such as 4xx (got "${text}")`);
}

function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_QUERY_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) {
    throw new InvalidFilterError('limit', `limit must be an integer from 1 to ${MAX_QUERY_LIMIT} (got ${limit})`);
  }
  return limit;
}

/** A predicate for records from a filter (limit and continue aside). */
function matcher(filter: AuditFilter): (r: AuditRecord) => boolean {
  const code = filter.code === undefined ? undefined : parseCodeFilter(filter.code);
  const resource = filter.resource;
  const resourcePrefix = resource !== undefined && !resource.includes('/') ? `${resource}/` : undefined;
  return (r) => {
    if (filter.user !== undefined && r.user !== filter.user) return false;
    if (filter.verb !== undefined && r.verb !== filter.verb) return false;
    if (resource !== undefined && r.resource !== resource && !(resourcePrefix !== undefined && r.resource.startsWith(resourcePrefix))) return false;
    if (filter.namespace !== undefined && r.namespace !== filter.namespace) return false;
    if (filter.name !== undefined && r.name !== filter.name) return false;
    if (filter.requestId !== undefined && r.requestId !== filter.requestId) return false;
    if (code?.exact !== undefined && r.code !== code.exact) return false;
    if (code?.class !== undefined && Math.floor(r.code / 100) !== code.class) return false;
    if (filter.since !== undefined || filter.until !== undefined) {
      const t = Date.parse(r.time);
      if (filter.since !== undefined && !(t >= filter.since)) return false;
      if (filter.until !== undefined && !(t < filter.until)) return false;
    }
    return true;
  };
}

interface ContinuePosition {
  /** Identity of the file: a hash of its first line (which holds a random request id), stable across the renames of rotation. */
  readonly file: string;
  /** Byte offset in that file: the next page holds the lines before it. */
  readonly offset: number;
}

function encodeContinue(position: ContinuePosition): string {
  return Buffer.from(JSON.stringify({ v: 1, file: position.file, off: position.offset })).toString('base64url');
}

function decodeContinue(token: string): ContinuePosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidContinueError('continue: not a token of this API (take it from metadata.continue of the previous page)');
  }
  const { v, file, off } = (parsed ?? {}) as { v?: unknown; file?: unknown; off?: unknown };
  if (v !== 1 || typeof file !== 'string' || !Number.isSafeInteger(off) || (off as number) < 0) {
    throw new InvalidContinueError('continue: not a token of this API (take it from metadata.continue of the previous page)');
  }
  return { file, offset: off as number };
}

interface Line {
  readonly text: string;
  /** Offset of the line's first byte in the file. */
  readonly start: number;
}

async function readAt(fh: FileHandle, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

/** The offset just after the last newline before `end` (0 when there is none). */
async function lastLineEnd(fh: FileHandle, end: number): Promise<number> {
  for (let stop = end; stop > 0; ) {
    const start = Math.max(0, stop - READ_CHUNK_BYTES);
    const chunk = await readAt(fh, stop - start, start);
    const newline = chunk.lastIndexOf(NEWLINE);
    if (newline >= 0) return start + newline + 1;
    stop = start;
  }
  return 0;
}

/**
 * The newline-terminated lines of `fh` that end at or before `end`, last first, read in chunks
 * (memory: one chunk plus one line). An unterminated tail (a write in progress) is skipped.
 */
async function* linesBackward(fh: FileHandle, end: number): AsyncGenerator<Line> {
  // [bufferStart, bufferStart + buffer.length) is unread by the caller and ends with a newline
  let bufferStart = await lastLineEnd(fh, end);
  let buffer: Buffer = Buffer.alloc(0);
  for (;;) {
    // the last line of `buffer` starts after the newline before its own
    const newline = buffer.length >= 2 ? buffer.lastIndexOf(NEWLINE, buffer.length - 2) : -1;
    if (newline < 0 && bufferStart > 0) {
      if (buffer.length > MAX_LINE_BYTES) throw new Error(`audit log line longer than ${MAX_LINE_BYTES} bytes before offset ${bufferStart + buffer.length}`);
      const size = Math.min(READ_CHUNK_BYTES, bufferStart);
      const chunk = await readAt(fh, size, bufferStart - size);
      if (chunk.length !== size) throw new Error('audit log file shrank while being read');
      bufferStart -= size;
      buffer = buffer.length === 0 ? chunk : Buffer.concat([chunk, buffer]);
      continue;
    }
    if (buffer.length === 0) return;
    const lineStart = newline + 1;
    const text = buffer.toString('utf8', lineStart, buffer.length - 1);
    buffer = buffer.subarray(0, lineStart);
    if (text.length > 0) yield { text, start: bufferStart + lineStart };
  }
}

/** A file's identity for continue tokens: a hash of its first line (an inode number may be reused after rotation). */
async function fileIdentity(fh: FileHandle, size: number): Promise<string> {
  const head = await readAt(fh, Math.min(size, READ_CHUNK_BYTES), 0);
  const newline = head.indexOf(NEWLINE);
  return createHash('sha256')
    .update(newline < 0 ? head : head.subarray(0, newline))
    .digest('base64url')
    .slice(0, 22);
}

function parseRecord(text: string): AuditRecord | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || typeof (value as { requestId?: unknown }).requestId !== 'string') return undefined;
    return value as AuditRecord;
  } catch {
    return undefined;
  }
}

/** fsync of a directory, so that the names created or renamed in it are durable. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * Cuts an incomplete last line (left by a crash in the middle of a write) so that the file ends
 * with a newline. Returns the file's size afterwards (0 when it does not exist).
 */
async function repairTail(path: string, logger: Logger): Promise<number> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r+');
  } catch (err) {
    if (isNotFound(err)) return 0;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    if (size === 0) return 0;
    const [last] = await readAt(fh, 1, size - 1);
    if (last === NEWLINE) return size;
    const keep = await lastLineEnd(fh, size);
    await fh.truncate(keep);
    await fh.sync();
    logger.warn('audit log: removed an incomplete last line (left by a crash during a write)', { path, removedBytes: size - keep });
    return keep;
  } finally {
    await fh.close();
  }
}

export interface AuditLogOptions {
  /** The current file, e.g. `<dataDir>/audit/audit.log`; rotated files get `.1`, `.2`, ... */
  readonly path: string;
  /** Rotate before a write would take the file past this size. Default DEFAULT_AUDIT_MAX_BYTES. */
  readonly maxBytes?: number;
  /** Rotated files kept besides the current one (at least 1). Default DEFAULT_AUDIT_MAX_FILES. */
  readonly maxFiles?: number;
  readonly logger: Logger;
}

interface Pending {
  readonly line: Buffer;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface SnapshotFile {
  readonly fh: FileHandle;
  /** See fileIdentity. */
  readonly id: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** The audit log file set (see the header for the durability contract). */
export class AuditLog implements AuditSink, AuditQuery {
  private pending: Pending[] = [];
  private draining: Promise<void> | undefined;
  /** Serializes rotation against queries opening their snapshot of the files. */
  private exclusive: Promise<unknown> = Promise.resolve();
  private closed = false;
  private batches = 0;

  private constructor(
    readonly path: string,
    readonly maxBytes: number,
    readonly maxFiles: number,
    private readonly logger: Logger,
    private fh: FileHandle | undefined,
    private size: number,
  ) {}

  /** Creates the directory (0700) and the file (0600) if needed, repairs a torn tail, opens for appending. */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    const maxBytes = options.maxBytes ?? DEFAULT_AUDIT_MAX_BYTES;
    const maxFiles = options.maxFiles ?? DEFAULT_AUDIT_MAX_FILES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new RangeError(`audit log maxBytes must be a positive integer (got ${maxBytes})`);
    if (!Number.isInteger(maxFiles) || maxFiles < 1) throw new RangeError(`audit log maxFiles must be an integer of at least 1 (got ${maxFiles})`);
    const dir = dirname(options.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const size = await repairTail(options.path, options.logger);
    const fh = await open(options.path, 'a', 0o600);
    try {
      const mode = (await fh.stat()).mode & 0o777;
      if (mode & 0o077) {
        await chmod(options.path, 0o600);
        options.logger.warn('audit log file was accessible to other users; set its mode to 0600', { path: options.path, mode: mode.toString(8) });
      }
      await syncDir(dir);
    } catch (err) {
      await fh.close();
      throw err;
    }
    return new AuditLog(options.path, maxBytes, maxFiles, options.logger, fh, size);
  }

  /** How many batches (write + fdatasync) have been written; for tests of the group commit. */
  get batchesWritten(): number {
    return this.batches;
  }

  append(record: AuditRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the audit log is closed'));
    const line = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ line, resolve, reject });
      this.draining ??= this.drain();
    });
  }

  /** Writes batches until none is pending. Never rejects: failures reject the batch's appends. */
  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.writeBatch(batch.map((p) => p.line));
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.draining = undefined;
  }

  private async writeBatch(lines: readonly Buffer[]): Promise<void> {
    let i = 0;
    while (i < lines.length) {
      // the lines that fit in the current file (at least one in an empty file)
      let bytes = 0;
      let j = i;
      while (j < lines.length && (this.size + bytes + lines[j]!.length <= this.maxBytes || (this.size === 0 && j === i))) {
        bytes += lines[j]!.length;
        j += 1;
      }
      if (j === i) {
        await this.serialized(() => this.rotate());
        continue;
      }
      await this.writeWhole(j - i === 1 ? lines[i]! : Buffer.concat(lines.slice(i, j), bytes));
      i = j;
    }
    await this.file().datasync();
    this.batches += 1;
  }

  private file(): FileHandle {
    if (this.fh === undefined) throw new Error(`the audit log ${this.path} is not open (an earlier rotation failed)`);
    return this.fh;
  }

  /** One write() of whole lines; on failure the file is cut back to its previous size. */
  private async writeWhole(buffer: Buffer): Promise<void> {
    const fh = this.file();
    const before = this.size;
    try {
      let done = 0;
      while (done < buffer.length) {
        const { bytesWritten } = await fh.write(buffer, done, buffer.length - done);
        done += bytesWritten;
      }
    } catch (err) {
      await fh.truncate(before).catch((cause: unknown) => {
        this.logger.error('audit log: could not cut a partly written batch; the file may end with an incomplete line', {
          path: this.path,
          error: (cause as Error).message,
        });
      });
      throw err;
    }
    this.size += buffer.length;
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(fn, fn);
    this.exclusive = run.catch(() => undefined);
    return run;
  }

  /** audit.log -> .1 -> .2 ... (the last one kept is replaced), then a new audit.log. */
  private async rotate(): Promise<void> {
    const fh = this.file();
    await fh.datasync();
    this.fh = undefined;
    await fh.close();
    try {
      for (let k = this.maxFiles - 1; k >= 1; k--) {
        await rename(`${this.path}.${k}`, `${this.path}.${k + 1}`).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      }
      await rename(this.path, `${this.path}.1`);
    } finally {
      // whatever happened, keep appending to a file named `path`
      this.fh = await open(this.path, 'a', 0o600);
      this.size = (await this.fh.stat()).size;
    }
    await syncDir(dirname(this.path));
    this.logger.info('audit log rotated', { path: this.path, keptFiles: this.maxFiles });
  }

  /** Opens the current and rotated files, newest first; the handles see them whatever rotation does next. */
  private async snapshot(): Promise<SnapshotFile[]> {
    const files: SnapshotFile[] = [];
    try {
      for (let k = 0; k <= this.maxFiles; k++) {
        const name = k === 0 ? this.path : `${this.path}.${k}`;
        let fh: FileHandle;
        try {
          fh = await open(name, 'r');
        } catch (err) {
          if (isNotFound(err)) continue;
          throw err;
        }
        try {
          const info = await fh.stat();
          // the current file: only what the writer finished (a write may be in flight)
          const size = k === 0 ? Math.min(info.size, this.size) : info.size;
          files.push({ fh, id: await fileIdentity(fh, size), size, mtimeMs: info.mtimeMs });
        } catch (err) {
          await fh.close();
          throw err;
        }
      }
    } catch (err) {
      await Promise.all(files.map((f) => f.fh.close()));
      throw err;
    }
    return files;
  }

  /**
   * Records matching `filter`, newest first, at most `limit`, reading the files backwards line by
   * line. Throws InvalidFilterError, InvalidContinueError or ExpiredContinueError.
   */
  async query(filter: AuditFilter): Promise<AuditPage> {
    if (this.closed) throw new Error('the audit log is closed');
    const limit = checkLimit(filter.limit);
    const matches = matcher(filter);
    const position = filter.continue === undefined || filter.continue === '' ? undefined : decodeContinue(filter.continue);
    const files = await this.serialized(() => this.snapshot());
    try {
      let first = 0;
      let end = files[0]?.size ?? 0;
      if (position !== undefined) {
        first = files.findIndex((f) => f.size > 0 && f.id === position.file);
        if (first < 0) throw new ExpiredContinueError('continue: the page it points to has been rotated out of the audit log; start again without continue');
        if (position.offset > files[first]!.size) throw new InvalidContinueError('continue: the token does not fit the audit log');
        end = position.offset;
      }
      const items: AuditRecord[] = [];
      for (let i = first; i < files.length; i++) {
        const file = files[i]!;
        // records are stamped before they are written, so a file last written before `since` holds none
        if (filter.since !== undefined && file.mtimeMs < filter.since) continue;
        for await (const line of linesBackward(file.fh, i === first ? end : file.size)) {
          const record = parseRecord(line.text);
          if (record === undefined || !matches(record)) continue;
          items.push(record);
          if (items.length === limit) {
            const more = line.start > 0 || i < files.length - 1;
            return more ? { items, continue: encodeContinue({ file: file.id, offset: line.start }) } : { items };
          }
        }
      }
      return { items };
    } finally {
      await Promise.all(files.map((f) => f.fh.close()));
    }
  }

  /** Writes what is pending, then closes the file; later appends reject. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.draining !== undefined) await this.draining;
    await this.exclusive;
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}

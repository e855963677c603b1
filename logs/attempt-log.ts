// One attempt's log file open for appending (its streams' state, the serialised tasks that
// write it, and group-committed fdatasyncs), and the scan that rebuilds that state from a file.
import type { FileHandle } from 'node:fs/promises';
import { asError } from './files.js';
import { FILE_MAGIC, RecordScanner, RecordType, type LogStreamName } from './log-format.js';

export interface StreamState {
  nextOffset: number;
  stored: number;
  dropped: number;
  complete: boolean;
}

export type StreamStates = Record<LogStreamName, StreamState>;

export const emptyStreams = (): StreamStates => ({
  stdout: { nextOffset: 0, stored: 0, dropped: 0, complete: false },
  stderr: { nextOffset: 0, stored: 0, dropped: 0, complete: false },
});

/** What a scan of a log file found: the streams and where the last whole record ends. */
export interface FileSummary {
  readonly streams: StreamStates;
  readonly validEnd: number;
  readonly torn: boolean;
}

export function applyRecord(streams: StreamStates, type: RecordType, stream: LogStreamName, length: number): void {
  const s = streams[stream];
  if (type === RecordType.Data) {
    s.nextOffset += length;
    s.stored += length;
  } else if (type === RecordType.Dropped) {
    s.nextOffset += length;
    s.dropped += length;
  } else {
    s.complete = true;
  }
}

/** The streams of a log file; `payloads: false` reads headers only (see RecordScanner). */
export async function summarize(file: FileHandle, end: number, payloads = true): Promise<FileSummary> {
  const streams = emptyStreams();
  const scanner = new RecordScanner(file, FILE_MAGIC.length, payloads);
  for (let record = await scanner.next(end); record !== undefined; record = await scanner.next(end)) {
    applyRecord(streams, record.type, record.stream, record.length);
  }
  return { streams, validEnd: scanner.position, torn: scanner.stopped !== 'end' };
}

export async function hasMagic(file: FileHandle): Promise<boolean> {
  const head = Buffer.alloc(FILE_MAGIC.length);
  const { bytesRead } = await file.read(head, 0, head.length, 0);
  return bytesRead === head.length && head.equals(FILE_MAGIC);
}

/** One attempt's log file, open for appending. */
export class AttemptLog {
  /** Bytes of whole records in the file. */
  length: number;
  storedTotal: number;
  users = 0;
  closed = false;
  broken: Error | undefined;
  /** The number of the last task that wrote (a task that wrote nothing acknowledges up to it). */
  lastWriteTask = 0;
  /** Tasks queued so far; each gets the next number. */
  private queued = 0;
  /** The writes of every task numbered up to this are on disk. */
  private durableThrough: number;
  private flushing: { readonly covers: number; readonly done: Promise<void> } | undefined;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    readonly file: FileHandle,
    readonly streams: StreamStates,
    length: number,
    /** False for a new file: its magic is not on disk yet. */
    durable: boolean,
  ) {
    this.length = length;
    this.durableThrough = durable ? 0 : -1;
    this.storedTotal = streams.stdout.stored + streams.stderr.stored;
  }

  /** Runs `task` (with its number) after every task queued before it. */
  exclusive<T>(task: (n: number) => Promise<T>): Promise<T> {
    const n = ++this.queued;
    const result = this.tail.then(() => task(n));
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * Resolves once the writes of every task numbered up to `n` are on disk. Group commit: a
   * flush covers every task queued when it starts (it lets them finish first), and callers
   * that a running flush does not cover share the next one.
   */
  async durable(n: number): Promise<void> {
    while (this.durableThrough < n) {
      const running = this.flushing ?? (this.flushing = this.flush());
      if (running.covers >= n) await running.done;
      else await running.done.catch(() => undefined);
    }
  }

  private flush(): { covers: number; done: Promise<void> } {
    const covers = this.queued;
    const queuedWrites = this.tail;
    const flush = { covers, done: Promise.resolve() };
    flush.done = (async () => {
      try {
        await queuedWrites;
        await this.file.datasync();
        this.durableThrough = Math.max(this.durableThrough, covers);
      } catch (err) {
        this.broken = asError(err);
        throw err;
      } finally {
        if (this.flushing === flush) this.flushing = undefined;
      }
    })();
    return flush;
  }

  get complete(): boolean {
    return this.streams.stdout.complete && this.streams.stderr.complete;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
    await this.flushing?.done.catch(() => undefined);
    await this.file.close();
  }
}

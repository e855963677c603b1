// Reading an attempt's log: records up to the committed end (resuming where the last pass
// stopped, for follows), and the filter that turns them into the bytes a reader asked for.
import { open, type FileHandle } from 'node:fs/promises';
import { hasMagic } from './attempt-log.js';
import { isErrno } from './files.js';
import { FILE_MAGIC, RecordScanner, RecordType, type LogStreamName } from './log-format.js';

/** `10MiB`, `512KiB`, `1000 bytes`. */
export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024}KiB`;
  return `${bytes} bytes`;
}

/** The line readers see after an attempt's output when bytes were dropped past the cap. */
export function capMarker(droppedBytes: number, capBytes: number): string {
  return `[openscheduler: ${droppedBytes} bytes dropped, log size cap of ${formatSize(capBytes)} reached]\n`;
}

/** Reads the whole records of one attempt file, up to its committed length, resuming where it stopped. */
export class LogReader {
  private file: FileHandle | undefined;
  private scanner: RecordScanner | undefined;

  constructor(
    private readonly path: string,
    /** The length of the file's whole records while a writer has it open (else the file's size counts). */
    private readonly openLength: () => number | undefined,
  ) {}

  /** Records from where the last call stopped to the current end (nothing when there is no file yet). */
  async *records(): AsyncGenerator<{ type: RecordType; stream: LogStreamName; length: number; data?: Buffer }> {
    if (!(await this.openFile())) return;
    const scanner = this.scanner as RecordScanner;
    const end = await this.committedLength();
    for (let record = await scanner.next(end); record !== undefined; record = await scanner.next(end)) yield record;
  }

  /** How many lines of the selected output precede its last `lines` lines (the output present now). */
  async countLinesBeyond(selected: readonly LogStreamName[], lines: number): Promise<number> {
    if (!(await this.openFile())) return 0;
    const scanner = new RecordScanner(this.file as FileHandle, FILE_MAGIC.length);
    const end = await this.committedLength();
    let newlines = 0;
    let last: number | undefined;
    for (let record = await scanner.next(end); record !== undefined; record = await scanner.next(end)) {
      if (record.data === undefined || record.length === 0 || !selected.includes(record.stream)) continue;
      for (let at = record.data.indexOf(10); at >= 0; at = record.data.indexOf(10, at + 1)) newlines++;
      last = record.data[record.length - 1];
    }
    const total = newlines + (last !== undefined && last !== 10 ? 1 : 0);
    return Math.max(0, total - lines);
  }

  private async openFile(): Promise<boolean> {
    if (this.file !== undefined) return true;
    let file: FileHandle;
    try {
      file = await open(this.path, 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
    if (!(await hasMagic(file))) {
      // Not written yet (a writer creating it right now) or not a log file: read nothing, for now.
      await file.close();
      return false;
    }
    this.file = file;
    this.scanner = new RecordScanner(file, FILE_MAGIC.length);
    return true;
  }

  private async committedLength(): Promise<number> {
    return this.openLength() ?? (await (this.file as FileHandle).stat()).size;
  }

  async close(): Promise<void> {
    await this.file?.close();
    this.file = undefined;
  }
}

/** Turns records into the bytes a reader asked for: which streams, from which byte or line, how many. */
export class OutputFilter {
  skipLines = 0;
  dropped = 0;
  limitReached = false;
  private emitted = 0;
  private lastByte: number | undefined;
  private readonly completed = new Set<LogStreamName>();

  constructor(
    private readonly selected: readonly LogStreamName[],
    private skipBytes: number,
    private readonly limitBytes: number | undefined,
  ) {}

  get complete(): boolean {
    return this.selected.every((s) => this.completed.has(s));
  }

  /** The bytes of a record to emit (a copy), or undefined. */
  take(type: RecordType, stream: LogStreamName, length: number, data: Buffer | undefined): Buffer | undefined {
    if (!this.selected.includes(stream)) return undefined;
    if (type === RecordType.Eof) this.completed.add(stream);
    if (type === RecordType.Dropped) this.dropped += length;
    if (type !== RecordType.Data || data === undefined) return undefined;
    let out = data;
    if (this.skipBytes > 0) {
      const skip = Math.min(this.skipBytes, out.length);
      this.skipBytes -= skip;
      out = out.subarray(skip);
    }
    while (this.skipLines > 0 && out.length > 0) {
      const newline = out.indexOf(10);
      if (newline < 0) return undefined;
      out = out.subarray(newline + 1);
      this.skipLines--;
    }
    if (this.limitBytes !== undefined) {
      const room = this.limitBytes - this.emitted;
      if (out.length >= room) {
        out = out.subarray(0, room);
        this.limitReached = true;
      }
    }
    if (out.length === 0) return undefined;
    this.emitted += out.length;
    this.lastByte = out[out.length - 1];
    return Buffer.from(out);
  }

  /** A newline when the output so far does not end with one. */
  markerPrefix(): string {
    return this.lastByte !== undefined && this.lastByte !== 10 ? '\n' : '';
  }
}

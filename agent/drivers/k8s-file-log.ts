// Reader of podman's `k8s-file` log format (the CRI log format), written by conmon: one record
// per line, `<RFC3339Nano> <stdout|stderr> <tag> <content>\n`, where the tag is `F` (a full
// line: the content plus the newline that ended it) or `P` (a partial line: the content
// without a newline, continued by the next record of the stream). Content never holds a
// newline; any other byte is kept as is.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { TaskLogSink } from './task-driver.js';

export type LogStream = 'stdout' | 'stderr';

export interface K8sLogRecord {
  stream: LogStream;
  /** true for a `P` record: the content is not followed by a newline. */
  partial: boolean;
  content: Buffer;
}

const SPACE = 0x20;
const NEWLINE = 0x0a;
const NEWLINE_BUFFER = Buffer.from('\n');
const READ_CHUNK = 64 * 1024;

/**
 * One record, from a line without its trailing newline; undefined for a line that is not a
 * record of a known stream (skipped by readers).
 */
export function parseK8sLogLine(line: Buffer): K8sLogRecord | undefined {
  const afterTime = line.indexOf(SPACE);
  if (afterTime <= 0) return undefined;
  const afterStream = line.indexOf(SPACE, afterTime + 1);
  if (afterStream < 0) return undefined;
  const streamName = line.toString('latin1', afterTime + 1, afterStream);
  if (streamName !== 'stdout' && streamName !== 'stderr') return undefined;
  let afterTag = line.indexOf(SPACE, afterStream + 1);
  if (afterTag < 0) afterTag = line.length; // an empty content may come without its separator
  const tag = line.toString('latin1', afterStream + 1, afterTag);
  // CRI tags may carry more, colon-separated; the first one says partial or full.
  const first = tag.split(':')[0];
  if (first !== 'P' && first !== 'F') return undefined;
  const content = afterTag < line.length ? line.subarray(afterTag + 1) : Buffer.alloc(0);
  return { stream: streamName, partial: first === 'P', content };
}

/** The bytes a record stands for in its stream. */
export function recordBytes(record: K8sLogRecord): Buffer {
  return record.partial ? record.content : Buffer.concat([record.content, NEWLINE_BUFFER]);
}

export interface StreamOffsets {
  stdout: number;
  stderr: number;
}

/**
 * Follows a k8s-file log as it grows and hands each stream's bytes to a sink, in order. Keeps
 * the byte position of each stream, so that a later reader given those positions as `skip`
 * delivers exactly what follows (the file is re-read from its start, which is cheap next to
 * what conmon wrote).
 */
export class K8sFileLogReader {
  private fileOffset = 0;
  /** The start of a line whose end has not been written yet. */
  private pendingLine: Buffer = Buffer.alloc(0);
  private readonly positions: StreamOffsets = { stdout: 0, stderr: 0 };

  constructor(
    private readonly path: string,
    private readonly sink: TaskLogSink | undefined,
    private readonly skip: StreamOffsets = { stdout: 0, stderr: 0 },
  ) {}

  /** Bytes of each stream read so far, including skipped ones. */
  get position(): StreamOffsets {
    return { ...this.positions };
  }

  /** Delivers what was appended since the last call (at most about `maxBytes`); true when the file grew. */
  drain(maxBytes = Number.POSITIVE_INFINITY): boolean {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return false; // not created yet (or removed): nothing to deliver
    }
    let grew = false;
    try {
      if (fstatSync(fd).size < this.fileOffset) {
        // Truncated (conmon's log_size_max): what follows starts at the beginning again.
        this.fileOffset = 0;
        this.pendingLine = Buffer.alloc(0);
      }
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      for (let read = 0; read < maxBytes; ) {
        const n = readSync(fd, buf, 0, buf.length, this.fileOffset);
        if (n <= 0) break;
        read += n;
        grew = true;
        this.fileOffset += n;
        this.consume(buf.subarray(0, n));
      }
    } catch {
      // An unreadable file: what was read is delivered, the rest is tried again later.
    } finally {
      closeSync(fd);
    }
    return grew;
  }

  private consume(chunk: Buffer): void {
    let data = this.pendingLine.length > 0 ? Buffer.concat([this.pendingLine, chunk]) : chunk;
    let batchStream: LogStream | undefined;
    let batch: Buffer[] = [];
    const flush = (): void => {
      if (batchStream && batch.length > 0) this.emit(batchStream, batch.length === 1 ? batch[0]! : Buffer.concat(batch));
      batch = [];
    };
    let start = 0;
    for (;;) {
      const end = data.indexOf(NEWLINE, start);
      if (end < 0) break;
      const record = parseK8sLogLine(data.subarray(start, end));
      start = end + 1;
      if (!record) continue;
      const bytes = this.unskipped(record.stream, recordBytes(record));
      if (bytes.length === 0) continue;
      if (record.stream !== batchStream) {
        flush();
        batchStream = record.stream;
      }
      batch.push(bytes);
    }
    flush();
    data = data.subarray(start);
    // Copied: `chunk` is the caller's reusable read buffer.
    this.pendingLine = Buffer.from(data);
  }

  /** Counts `bytes` into the stream's position and returns the part past the skip offset. */
  private unskipped(stream: LogStream, bytes: Buffer): Buffer {
    const before = this.positions[stream];
    this.positions[stream] = before + bytes.length;
    const skip = this.skip[stream];
    if (before >= skip) return bytes;
    return bytes.subarray(Math.min(bytes.length, skip - before));
  }

  private emit(stream: LogStream, bytes: Buffer): void {
    if (!this.sink) return;
    // A copy: the sink may keep it, and `bytes` may share memory with the read buffer.
    const copy = Buffer.from(bytes);
    try {
      if (stream === 'stdout') this.sink.onStdout(copy);
      else this.sink.onStderr(copy);
    } catch {
      // A failing sink loses that chunk, not the rest of the log.
    }
  }
}

/** The first `maxBytes` of one stream of a k8s-file log (for error messages). */
export function readK8sLogHead(path: string, stream: LogStream, maxBytes: number): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  const collect = (chunk: Buffer): void => {
    if (size >= maxBytes) return;
    parts.push(chunk.subarray(0, maxBytes - size));
    size += Math.min(chunk.length, maxBytes - size);
  };
  const reader = new K8sFileLogReader(path, {
    onStdout: (c) => (stream === 'stdout' ? collect(c) : undefined),
    onStderr: (c) => (stream === 'stderr' ? collect(c) : undefined),
  });
  // Records are small next to this: the head of a stream lies in the first bytes of the file.
  reader.drain(maxBytes * 4 + READ_CHUNK);
  return Buffer.concat(parts);
}

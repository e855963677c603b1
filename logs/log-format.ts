// The on-disk format of one attempt's log file: both output streams in one file, as framed
// records in arrival order, so that a reader replays stdout and stderr interleaved as they came.
//
//   file   = FILE_MAGIC record*
//   record = crc32:u32 type:u8 stream:u8 reserved:u16 timeMs:f64 length:u32 payload
//            (little-endian; crc32 covers everything after itself, payload included)
//   type   = DATA (payload: `length` bytes of output, at most MAX_RECORD_DATA)
//          | EOF (the stream is complete; no payload, length 0)
//          | DROPPED (`length` bytes past the size cap were counted, not stored; no payload)
//
// A crash can leave a torn last record; it fails the length or crc check, and the writer
// truncates the file back to the last whole record when it reopens the attempt. Readers stop at
// the first record that is not whole and valid (see RecordScanner).
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

export type LogStreamName = 'stdout' | 'stderr';
export const LOG_STREAMS: readonly LogStreamName[] = ['stdout', 'stderr'];

export const FILE_MAGIC = Buffer.from('OSLOG01\n', 'latin1');
export const HEADER_SIZE = 20;
/** Output is split into records of at most this many bytes, so a reader never buffers more. */
export const MAX_RECORD_DATA = 64 * 1024;
/** The largest count one DROPPED record carries (the length field is a u32). */
export const MAX_DROPPED_PER_RECORD = 0xffff_ffff;

export const RecordType = { Data: 1, Eof: 2, Dropped: 3 } as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export interface LogRecord {
  readonly type: RecordType;
  readonly stream: LogStreamName;
  readonly timeMs: number;
  /** DATA: the payload length; DROPPED: the bytes counted; EOF: 0. */
  readonly length: number;
  /** DATA only: the payload (a view into the scanner's buffer, valid until its next call). */
  readonly data?: Buffer;
  /** File position of the record and of the byte after it. */
  readonly start: number;
  readonly end: number;
}

const streamCode = (stream: LogStreamName): number => (stream === 'stdout' ? 0 : 1);

/** One framed record. */
export function encodeRecord(type: RecordType, stream: LogStreamName, timeMs: number, payloadOrCount: Uint8Array | number): Buffer {
  const payload = typeof payloadOrCount === 'number' ? undefined : payloadOrCount;
  const length = payload === undefined ? (payloadOrCount as number) : payload.length;
  const record = Buffer.alloc(HEADER_SIZE + (payload?.length ?? 0));
  record.writeUInt8(type, 4);
  record.writeUInt8(streamCode(stream), 5);
  record.writeDoubleLE(timeMs, 8);
  record.writeUInt32LE(length, 16);
  if (payload !== undefined) record.set(payload, HEADER_SIZE);
  record.writeUInt32LE(crc32(record.subarray(4)), 0);
  return record;
}

/** Why a scan stopped before `end`. */
export type ScanStop = 'end' | 'incomplete' | 'corrupt';

/** Read-ahead of a headers-only scan: many small records per read, little waste on large ones. */
const HEADERS_ONLY_READ_AHEAD = 4096;

/**
 * Reads records forward from a file position through a bounded buffer (at most one header
 * plus MAX_RECORD_DATA at a time). next() returns undefined at `end` or at the first record that
 * is not whole and valid; `stopped` then says which.
 *
 * A headers-only scanner (`payloads: false`) reads no payloads and checks no crc (only the
 * header's fields and the record's length against `end`): a cheap summary for listings. Writers
 * recovering a file and readers of output use full scans.
 */
export class RecordScanner {
  private readonly buffer: Buffer;
  private bufferStart = 0;
  private bufferLength = 0;
  stopped: ScanStop = 'end';

  constructor(
    private readonly file: FileHandle,
    /** Position of the next record. */
    public position: number,
    private readonly payloads = true,
  ) {
    this.buffer = Buffer.alloc(payloads ? HEADER_SIZE + MAX_RECORD_DATA : HEADERS_ONLY_READ_AHEAD);
  }

  /** The next whole, valid record before `end`, or undefined (see `stopped`). */
  async next(end: number): Promise<LogRecord | undefined> {
    const start = this.position;
    if (start >= end) {
      this.stopped = 'end';
      return undefined;
    }
    if (start + HEADER_SIZE > end) return this.stop('incomplete');
    const header = await this.view(start, HEADER_SIZE, end);
    const type = header.readUInt8(4) as RecordType;
    const code = header.readUInt8(5);
    const length = header.readUInt32LE(16);
    const validType = type === RecordType.Data || type === RecordType.Eof || type === RecordType.Dropped;
    if (!validType || code > 1 || header.readUInt16LE(6) !== 0) return this.stop('corrupt');
    if ((type === RecordType.Data && length > MAX_RECORD_DATA) || (type === RecordType.Eof && length !== 0)) return this.stop('corrupt');
    const payloadLength = type === RecordType.Data ? length : 0;
    const recordEnd = start + HEADER_SIZE + payloadLength;
    if (recordEnd > end) return this.stop('incomplete');
    if (!this.payloads) {
      this.position = recordEnd;
      const timeMs = header.readDoubleLE(8);
      return { type, stream: code === 0 ? 'stdout' : 'stderr', timeMs, length, start, end: recordEnd };
    }
    const whole = await this.view(start, HEADER_SIZE + payloadLength, end);
    if (crc32(whole.subarray(4)) !== whole.readUInt32LE(0)) return this.stop('corrupt');
    this.position = recordEnd;
    return {
      type,
      stream: code === 0 ? 'stdout' : 'stderr',
      timeMs: whole.readDoubleLE(8),
      length,
      data: type === RecordType.Data ? whole.subarray(HEADER_SIZE) : undefined,
      start,
      end: recordEnd,
    };
  }

  private stop(why: ScanStop): undefined {
    this.stopped = why;
    return undefined;
  }

  /** `length` bytes from `position` (all before `end`), reading ahead up to the buffer's size. */
  private async view(position: number, length: number, end: number): Promise<Buffer> {
    const offset = position - this.bufferStart;
    if (offset >= 0 && offset + length <= this.bufferLength) return this.buffer.subarray(offset, offset + length);
    const want = Math.min(this.buffer.length, end - position);
    let filled = 0;
    while (filled < want) {
      const { bytesRead } = await this.file.read(this.buffer, filled, want - filled, position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.bufferStart = position;
    this.bufferLength = filled;
    // A file shorter than its committed length (removed, truncated) reads as zeros: the crc then fails.
    if (filled < length) this.buffer.fill(0, filled, length);
    return this.buffer.subarray(0, length);
  }
}

// Ships the output of the agent's tasks to the control plane with StreamLogs.
//
// Per attempt and stream the shipper tracks three offsets: `received` (bytes the driver handed
// to the sink), `acked` (the offset the server expects next, from the last LogAck) and the
// buffer of bytes in between. A flush (every flushIntervalMs while anything is unsent, at once
// when a stream has flushBytes unsent or has ended) makes one StreamLogs call per attempt with
// the bytes from `acked` on, in chunks of at most maxChunkBytes and at most maxCallBytes per
// call; the ack moves `acked` (possibly backwards: the bytes are resent) and frees the buffer
// below it. Failed calls are retried with backoff; an attempt whose calls fail
// maxFailures times in a row for a reason retrying cannot fix (PERMISSION_DENIED, ...) or
// that make no progress is abandoned, with a warning.
//
// Memory per attempt is bounded by maxBufferedBytesPerTask. Past it, a stream whose driver
// keeps its output in a file (setFiles) is "spilled": its buffer is dropped and later sends
// read the file from `acked` on. A stream without a file is truncated instead: later bytes
// are counted but not kept, and its eof is sent at the truncation offset (a warning says so).
// When the task ended (finish) the last chunk of each stream carries eof; an attempt is done
// once the server says both streams are complete, or once it is abandoned.
import { setMaxListeners } from 'node:events';
import { closeSync, openSync, readSync } from 'node:fs';
import type { LogAck, LogChunk } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { LogStream } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { type Clock, type Timer } from '../controllers/runtime/clock.js';
import { errorMessage, type Logger } from '../controllers/runtime/logger.js';
import { Backoff } from './backoff.js';
import { grpcCode, isTransient } from './control-plane-client.js';
import type { TaskLogSink } from './drivers/task-driver.js';
import type { StreamProgress } from './state-dir.js';
import { status } from '@grpc/grpc-js';

export type StreamName = 'stdout' | 'stderr';
const STREAMS: readonly StreamName[] = ['stdout', 'stderr'];
const PROTO_STREAM: Record<StreamName, LogStream> = { stdout: LogStream.STDOUT, stderr: LogStream.STDERR };

export interface LogShipperOptions {
  /** One StreamLogs call. */
  send(chunks: LogChunk[], signal: AbortSignal): Promise<LogAck>;
  /** Called after every ack that moved an attempt's progress (the agent persists it). */
  onProgress(taskId: string, progress: Record<StreamName, StreamProgress>): void;
  /** Called once an attempt's logs are delivered or abandoned. */
  onDone?(taskId: string): void;
  clock: Clock;
  logger: Logger;
  /** Default 200 ms. */
  flushIntervalMs?: number;
  /** A stream with this many unsent bytes is flushed at once. Default 256 KiB. */
  flushBytes?: number;
  /** Default 64 KiB. */
  maxChunkBytes?: number;
  /** Per attempt and stream per call. Default 1 MiB. */
  maxCallBytes?: number;
  /** Default 4 MiB. */
  maxBufferedBytesPerTask?: number;
  /** Consecutive hopeless failures before an attempt's logs are abandoned. Default 3. */
  maxFailures?: number;
  random?: () => number;
}

class StreamState {
  received: number;
  acked: number;
  complete: boolean;
  /** Offset of the first buffered byte. */
  bufferStart: number;
  chunks: Buffer[] = [];
  bufferedBytes = 0;
  ended = false;
  spilled = false;
  truncatedAt: number | undefined;
  file: string | undefined;
  /** The highest offset ever acknowledged (bytes below it count as shipped once). */
  highestAcked: number;

  constructor(progress: StreamProgress) {
    this.received = progress.acked;
    this.acked = progress.acked;
    this.highestAcked = progress.acked;
    this.bufferStart = progress.acked;
    this.complete = progress.complete;
  }

  /** The offset the stream ends at as far as the server will get it. */
  get end(): number {
    return this.truncatedAt ?? this.received;
  }

  get needsSend(): boolean {
    return !this.complete && (this.acked < this.end || this.ended);
  }

  /** Drops buffered bytes below `offset`. */
  trimTo(offset: number): number {
    let freed = 0;
    while (this.chunks.length > 0 && this.bufferStart < offset) {
      const first = this.chunks[0] as Buffer;
      const drop = Math.min(first.length, offset - this.bufferStart);
      if (drop === first.length) this.chunks.shift();
      else this.chunks[0] = first.subarray(drop);
      this.bufferStart += drop;
      this.bufferedBytes -= drop;
      freed += drop;
    }
    return freed;
  }

  dropBuffer(): number {
    const freed = this.bufferedBytes;
    this.chunks = [];
    this.bufferedBytes = 0;
    this.bufferStart = this.received;
    return freed;
  }

  progress(): StreamProgress {
    return { acked: this.acked, complete: this.complete };
  }
}

class AttemptLogs {
  readonly streams: Record<StreamName, StreamState>;
  bufferedBytes = 0;
  abandoned = false;
  failures = 0;
  waiters = new Set<() => void>();
  warnedTruncation = false;
  /** setFiles was called (with or without files). */
  filesKnown = false;
  notified = false;

  constructor(
    readonly taskId: string,
    readonly jobUid: string,
    readonly attempt: number,
    progress: Record<StreamName, StreamProgress>,
  ) {
    this.streams = { stdout: new StreamState(progress.stdout), stderr: new StreamState(progress.stderr) };
  }

  get done(): boolean {
    return this.abandoned || (this.streams.stdout.complete && this.streams.stderr.complete);
  }

  get needsSend(): boolean {
    return !this.abandoned && (this.streams.stdout.needsSend || this.streams.stderr.needsSend);
  }

}

/** A hopeless (non-retryable) failure of one attempt's StreamLogs call. */
class NoProgressError extends Error {}

export class LogShipper {
  private readonly attempts = new Map<string, AttemptLogs>();
  private readonly flushIntervalMs: number;
  private readonly flushBytes: number;
  private readonly maxChunkBytes: number;
  private readonly maxCallBytes: number;
  private readonly maxBuffered: number;
  private readonly maxFailures: number;
  private readonly backoff: Backoff;
  private timer: Timer | undefined;
  private timerDueAt = 0;
  private retryAt = 0;
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** Log bytes the server acknowledged (new bytes only: a resend after an ack moved back counts once). */
  private shippedBytes = 0;
  /** Every task waiting for its logs listens to it: as many listeners as tasks, by design. */
  private readonly lifetime = unlimitedListeners(new AbortController());

  constructor(private readonly options: LogShipperOptions) {
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.flushBytes = options.flushBytes ?? 256 * 1024;
    this.maxChunkBytes = options.maxChunkBytes ?? 64 * 1024;
    this.maxCallBytes = options.maxCallBytes ?? 1024 * 1024;
    this.maxBuffered = options.maxBufferedBytesPerTask ?? 4 * 1024 * 1024;
    this.maxFailures = options.maxFailures ?? 3;
    this.backoff = new Backoff({ initialMs: 500, maxMs: 10_000, ...(options.random ? { random: options.random } : {}) });
  }

  /**
   * Starts tracking an attempt whose streams the server has up to `progress`, and returns the
   * sink to hand to the driver (which must deliver bytes from those offsets on).
   */
  open(taskId: string, jobUid: string, attempt: number, progress: Record<StreamName, StreamProgress>): TaskLogSink {
    let logs = this.attempts.get(taskId);
    if (!logs) {
      logs = new AttemptLogs(taskId, jobUid, attempt, progress);
      this.attempts.set(taskId, logs);
    }
    const target = logs;
    return {
      onStdout: (chunk) => this.accept(target, 'stdout', chunk),
      onStderr: (chunk) => this.accept(target, 'stderr', chunk),
    };
  }

  /** The files in which the driver keeps the attempt's output, for spilling. */
  setFiles(taskId: string, files: Partial<Record<StreamName, string>>): void {
    const logs = this.attempts.get(taskId);
    if (!logs) return;
    for (const name of STREAMS) logs.streams[name].file = files[name];
    logs.filesKnown = true;
    // Output that arrived before (during start) may have gone past the bound.
    if (logs.bufferedBytes > this.maxBuffered) {
      for (const name of STREAMS) {
        const s = logs.streams[name];
        if (s.file !== undefined) this.spill(logs, s);
        else if (s.truncatedAt === undefined && !s.complete) this.truncate(logs, name, s, s.received);
      }
    }
  }

  /** The task ended and the driver delivered all its output: send the rest and eof. */
  finish(taskId: string): void {
    const logs = this.attempts.get(taskId);
    if (!logs) return;
    for (const name of STREAMS) logs.streams[name].ended = true;
    this.notify(logs);
    this.schedule(0);
  }

  /** Gives up on an attempt's logs (they are not shipped any further). */
  abandon(taskId: string, why: string): void {
    const logs = this.attempts.get(taskId);
    if (!logs || logs.abandoned) return;
    this.options.logger.warn('abandoning the logs of an attempt', { taskId, why });
    logs.abandoned = true;
    for (const name of STREAMS) logs.bufferedBytes -= logs.streams[name].dropBuffer();
    this.notify(logs);
  }

  /** Log bytes the control plane has acknowledged since this shipper was made (for metrics). */
  bytesShipped(): number {
    return this.shippedBytes;
  }

  /** True once the attempt's logs are delivered (or abandoned), or when it is unknown. */
  isDone(taskId: string): boolean {
    return this.attempts.get(taskId)?.done ?? true;
  }

  /** Resolves true once isDone(taskId), false when `timeoutMs` passed or the shipper closed first. */
  waitDone(taskId: string, timeoutMs: number): Promise<boolean> {
    const logs = this.attempts.get(taskId);
    if (!logs || logs.done) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (value: boolean): void => {
        timer.cancel();
        logs.waiters.delete(onDone);
        this.lifetime.signal.removeEventListener('abort', onClose);
        resolve(value);
      };
      const onDone = (): void => finish(true);
      const onClose = (): void => finish(false);
      const timer = this.options.clock.setTimeout(() => finish(false), timeoutMs);
      logs.waiters.add(onDone);
      this.lifetime.signal.addEventListener('abort', onClose, { once: true });
    });
  }

  /** Forgets an attempt. */
  remove(taskId: string): void {
    const logs = this.attempts.get(taskId);
    if (!logs) return;
    this.attempts.delete(taskId);
    for (const w of logs.waiters) w();
    logs.waiters.clear();
  }

  /** Stops flushing, cancels a call in flight and waits for it to end. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.lifetime.abort();
    await this.flushing;
  }

  private notify(logs: AttemptLogs): void {
    if (!logs.done || logs.notified || this.attempts.get(logs.taskId) !== logs) return;
    logs.notified = true;
    for (const w of logs.waiters) w();
    logs.waiters.clear();
    this.options.onDone?.(logs.taskId);
  }

  private accept(logs: AttemptLogs, name: StreamName, chunk: Buffer): void {
    const s = logs.streams[name];
    if (chunk.length === 0 || s.ended) return;
    const start = s.received;
    s.received += chunk.length;
    if (logs.abandoned || s.complete || s.spilled || s.truncatedAt !== undefined) {
      if (s.spilled || s.truncatedAt !== undefined) this.scheduleFor(s);
      return;
    }
    // Until setFiles says whether the driver keeps files (right after start), buffer anyway.
    if (logs.filesKnown && logs.bufferedBytes + chunk.length > this.maxBuffered) {
      for (const n of STREAMS) if (logs.streams[n].file !== undefined) this.spill(logs, logs.streams[n]);
      if (s.spilled) {
        this.scheduleFor(s);
        return;
      }
      if (logs.bufferedBytes + chunk.length > this.maxBuffered) {
        this.truncate(logs, name, s, start);
        this.scheduleFor(s);
        return;
      }
    }
    s.chunks.push(chunk);
    s.bufferedBytes += chunk.length;
    logs.bufferedBytes += chunk.length;
    // Bytes the server already has (an earlier agent sent them) need no buffer.
    if (s.bufferStart < s.acked) logs.bufferedBytes -= s.trimTo(s.acked);
    this.scheduleFor(s);
  }

  /** Drops a stream's buffer: later sends read the driver's file. */
  private spill(logs: AttemptLogs, s: StreamState): void {
    if (s.spilled) return;
    logs.bufferedBytes -= s.dropBuffer();
    s.spilled = true;
  }

  /** Keeps no bytes of a stream from `offset` on; its eof goes out at `offset`. */
  private truncate(logs: AttemptLogs, name: StreamName, s: StreamState, offset: number): void {
    s.truncatedAt = offset;
    if (logs.warnedTruncation) return;
    logs.warnedTruncation = true;
    this.options.logger.warn('log buffer full and the driver keeps no file to re-read: output is truncated', {
      taskId: logs.taskId,
      stream: name,
      offset,
      maxBufferedBytes: this.maxBuffered,
    });
  }

  private scheduleFor(s: StreamState): void {
    this.schedule(this.delayFor(s));
  }

  /** How soon a stream wants a flush: at once when it ended or has a large backlog. */
  private delayFor(s: StreamState): number {
    return s.ended || s.end - s.acked >= this.flushBytes ? 0 : this.flushIntervalMs;
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.flushing) return; // a running flush reschedules when it ends
    const now = this.options.clock.now();
    const dueAt = Math.max(now + delayMs, this.retryAt);
    if (this.timer && this.timerDueAt <= dueAt) return;
    this.timer?.cancel();
    this.timerDueAt = dueAt;
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flush().finally(() => {
        this.flushing = undefined;
        let delay: number | undefined;
        for (const a of this.attempts.values()) {
          if (!a.needsSend) continue;
          for (const name of STREAMS) if (a.streams[name].needsSend) delay = Math.min(delay ?? Infinity, this.delayFor(a.streams[name]));
        }
        if (delay !== undefined) this.schedule(delay);
      });
    }, dueAt - now);
  }

  private async flush(): Promise<void> {
    const work = [...this.attempts.values()].filter((a) => a.needsSend);
    const results = await Promise.all(work.map((a) => this.flushAttempt(a)));
    if (results.some((ok) => !ok)) this.retryAt = this.options.clock.now() + this.backoff.next();
    else {
      this.backoff.reset();
      this.retryAt = 0;
    }
  }

  /** One StreamLogs call for one attempt; true when it made progress. Never throws. */
  private async flushAttempt(logs: AttemptLogs): Promise<boolean> {
    let chunks: LogChunk[];
    try {
      chunks = this.collect(logs);
    } catch (err) {
      this.abandon(logs.taskId, errorMessage(err));
      return true;
    }
    if (chunks.length === 0) return true;
    try {
      const ack = await this.options.send(chunks, this.lifetime.signal);
      const moved = this.applyAck(logs, ack);
      if (!moved) throw new NoProgressError('the server acknowledged nothing of the chunks sent');
      logs.failures = 0;
      return true;
    } catch (err) {
      if (this.closed) return true;
      const code = grpcCode(err);
      const hopeless = err instanceof NoProgressError || !(isTransient(code) || code === status.NOT_FOUND || code === status.UNAUTHENTICATED);
      if (hopeless && ++logs.failures >= this.maxFailures) this.abandon(logs.taskId, `StreamLogs failed ${logs.failures} times: ${errorMessage(err)}`);
      else this.options.logger.debug('StreamLogs failed; will retry', { taskId: logs.taskId, error: errorMessage(err) });
      return false;
    }
  }

  /** The chunks that bring the server up to date with `logs`. */
  private collect(logs: AttemptLogs): LogChunk[] {
    const out: LogChunk[] = [];
    for (const name of STREAMS) {
      const s = logs.streams[name];
      if (!s.needsSend) continue;
      const from = s.acked;
      const until = Math.min(s.end, from + this.maxCallBytes);
      let data: Buffer = Buffer.alloc(0);
      if (from < until) data = this.read(logs, name, s, from, until);
      const reachesEnd = from + data.length >= s.end;
      const base = { jobUid: logs.jobUid, attempt: logs.attempt, stream: PROTO_STREAM[name] };
      if (data.length === 0) {
        if (s.ended && reachesEnd) out.push({ ...base, offset: from, data, eof: true });
        continue;
      }
      for (let at = 0; at < data.length; at += this.maxChunkBytes) {
        const piece = data.subarray(at, Math.min(data.length, at + this.maxChunkBytes));
        const last = at + piece.length >= data.length;
        out.push({ ...base, offset: from + at, data: Buffer.from(piece), eof: last && s.ended && reachesEnd });
      }
    }
    return out;
  }

  /** Bytes [from, until) of a stream, from the buffer or the driver's file. */
  private read(logs: AttemptLogs, name: StreamName, s: StreamState, from: number, until: number): Buffer {
    if (!s.spilled && from < s.bufferStart) {
      if (s.file === undefined) throw new Error(`${name}: bytes from ${from} on are no longer buffered and the driver keeps no file`);
      this.spill(logs, s);
    }
    if (s.spilled) return readFileRange(s.file as string, from, until);
    const parts: Buffer[] = [];
    let offset = s.bufferStart;
    for (const chunk of s.chunks) {
      const chunkEnd = offset + chunk.length;
      if (chunkEnd > from && offset < until) parts.push(chunk.subarray(Math.max(0, from - offset), Math.min(chunk.length, until - offset)));
      offset = chunkEnd;
      if (offset >= until) break;
    }
    return Buffer.concat(parts);
  }

  /** Applies an ack; true when any stream of `logs` moved forward or completed. */
  private applyAck(logs: AttemptLogs, ack: LogAck): boolean {
    if (!this.attempts.has(logs.taskId)) return true;
    let moved = false;
    for (const name of STREAMS) {
      const s = logs.streams[name];
      const entry = ack.offsets.find((o) => o.jobUid === logs.jobUid && o.attempt === logs.attempt && o.stream === PROTO_STREAM[name]);
      if (!entry) continue;
      if (entry.nextOffset > s.acked || (entry.complete && !s.complete)) moved = true;
      if (entry.nextOffset > s.highestAcked) {
        this.shippedBytes += entry.nextOffset - s.highestAcked;
        s.highestAcked = entry.nextOffset;
      }
      s.acked = entry.nextOffset;
      s.complete = entry.complete;
      logs.bufferedBytes -= s.complete ? s.dropBuffer() : s.trimTo(s.acked);
    }
    if (moved) this.options.onProgress(logs.taskId, { stdout: logs.streams.stdout.progress(), stderr: logs.streams.stderr.progress() });
    this.notify(logs);
    return moved;
  }
}

function readFileRange(path: string, from: number, until: number): Buffer {
  const buf = Buffer.alloc(until - from);
  const fd = openSync(path, 'r');
  let filled = 0;
  try {
    while (filled < buf.length) {
      const n = readSync(fd, buf, filled, buf.length - filled, from + filled);
      if (n <= 0) break;
      filled += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf.subarray(0, filled);
}

function unlimitedListeners(controller: AbortController): AbortController {
  setMaxListeners(0, controller.signal);
  return controller;
}

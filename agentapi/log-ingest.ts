// StreamLogs: the chunks of one client-streaming call appended, in order, to the log store.
//
// Contract:
// - Chunks are validated (INVALID_ARGUMENT ends the call naming the field) and appended one at a
//   time in arrival order; while `maxQueued` chunks wait the call is paused (HTTP/2 flow control
//   holds the agent back).
// - Attribution (per (job uid, attempt), decided once per call): the job is found through the
//   hub, live or recently deleted (logs may arrive after the job is gone); the attempt must have
//   run on the caller's node (recentAttempts[attempt].nodeName, else status.nodeName for the
//   current attempt) — another node -> PERMISSION_DENIED. When the server cannot attribute the
//   chunk (job unknown after waiting `unknownJobWaitMs`, or the attempt no longer recorded), the
//   chunk is dropped and its stream acked as complete at offset + len(data): the agent forgets
//   bytes the server will never take instead of resending them forever.
// - The ack, sent when the agent half-closes the call, has one LogOffset per (uid, attempt,
//   stream) seen, with the log store's nextOffset and complete. A log store failure ends the call
//   with UNAVAILABLE (or INVALID_ARGUMENT for input it refuses): nothing is acked, the agent
//   resends from its previous ack, and the store skips what it already has.
import type * as grpc from '@grpc/grpc-js';
import { LogStream, type LogAck, type LogChunk, type LogOffset } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { sleep, type Clock } from '../controllers/runtime/clock.js';
import { errorMessage, type Logger } from '../controllers/runtime/logger.js';
import { LogInputError, type LogStore } from '../logs/log-store.js';
import type { AgentCaller } from './agent-auth.js';
import type { AssignmentHub } from './assignment-hub.js';
import { AgentApiError, invalidArgument, permissionDenied, toServiceError } from './errors.js';
import { checkAttempt, checkJobUid, checkLogData, checkLogOffset } from './request-validation.js';
import { attemptNode } from './status-reports.js';

export type LogAppender = Pick<LogStore, 'append'>;
export type LogsCall = grpc.ServerReadableStream<LogChunk, LogAck>;

export interface LogIngestOptions {
  readonly hub: AssignmentHub;
  readonly logs: LogAppender;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long an unknown job uid is looked for. Default 2000 ms. */
  readonly unknownJobWaitMs?: number;
  /** Chunks buffered before the call is paused. Default 8. */
  readonly maxQueued?: number;
}

type Target = { kind: 'store'; job: { namespace: string; name: string; uid: string } } | { kind: 'drop'; why: string };

const POLL_MS = 25;

/** Handles one StreamLogs call; resolves when the call is answered (or abandoned). */
export function ingestLogs(
  options: LogIngestOptions,
  caller: Extract<AgentCaller, { kind: 'node' }>,
  call: LogsCall,
  respond: grpc.sendUnaryData<LogAck>,
  signal: AbortSignal,
): Promise<void> {
  const maxQueued = options.maxQueued ?? 8;
  const unknownJobWaitMs = options.unknownJobWaitMs ?? 2000;
  const queue: LogChunk[] = [];
  const offsets = new Map<string, LogOffset>();
  const targets = new Map<string, Target>();
  let ended = false; // the client half-closed
  let answered = false;
  let wake: (() => void) | undefined;

  const answer = (error: Partial<grpc.StatusObject> | null, ack?: LogAck): void => {
    if (answered) return;
    answered = true;
    queue.length = 0;
    if (error !== null) respond(error);
    else respond(null, ack);
  };
  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  call.on('data', (chunk: LogChunk) => {
    if (answered) return;
    queue.push(chunk);
    if (queue.length >= maxQueued) call.pause();
    poke();
  });
  call.on('end', () => {
    ended = true;
    poke();
  });
  call.on('error', () => poke());
  signal.addEventListener('abort', poke, { once: true });

  const target = async (uid: string, attempt: number): Promise<Target> => {
    const cacheKey = `${uid}\u0000${attempt}`;
    const cached = targets.get(cacheKey);
    if (cached !== undefined) return cached;
    const deadline = options.clock.now() + unknownJobWaitMs;
    let known = options.hub.lookup(uid);
    while (known === undefined && options.clock.now() < deadline && (await sleep(options.clock, POLL_MS, signal))) known = options.hub.lookup(uid);
    let decided: Target;
    if (known === undefined) {
      decided = { kind: 'drop', why: 'job unknown to the server (deleted long ago, or never existed)' };
    } else {
      const ranOn = attemptNode(known.job, attempt);
      const ref = `job ${known.job.metadata.namespace ?? 'default'}/${known.job.metadata.name}`;
      if (ranOn !== undefined && ranOn !== caller.nodeName) throw permissionDenied(`attempt ${attempt} of ${ref} was not assigned to node ${caller.nodeName}`);
      decided =
        ranOn === undefined
          ? { kind: 'drop', why: `${ref} no longer records attempt ${attempt}` }
          : { kind: 'store', job: { namespace: known.job.metadata.namespace ?? 'default', name: known.job.metadata.name, uid } };
    }
    targets.set(cacheKey, decided);
    if (decided.kind === 'drop') options.logger.info('agent endpoint: log chunks dropped', { node: caller.nodeName, uid, attempt, why: decided.why });
    return decided;
  };

  const handle = async (chunk: LogChunk): Promise<void> => {
    const uid = checkJobUid(chunk.jobUid);
    const attempt = checkAttempt(chunk.attempt);
    if (chunk.stream !== LogStream.STDOUT && chunk.stream !== LogStream.STDERR) throw invalidArgument('stream must be STDOUT or STDERR');
    checkLogData(chunk.data);
    const offset = checkLogOffset(chunk.offset, chunk.data.length);
    const key = `${uid}\u0000${attempt}\u0000${chunk.stream}`;
    const where = await target(uid, attempt);
    if (where.kind === 'drop') {
      const previous = offsets.get(key)?.nextOffset ?? 0;
      offsets.set(key, { jobUid: uid, attempt, stream: chunk.stream, nextOffset: Math.max(previous, offset + chunk.data.length), complete: true });
      return;
    }
    const stored = await options.logs.append(where.job, {
      attempt,
      stream: chunk.stream === LogStream.STDOUT ? 'stdout' : 'stderr',
      offset,
      data: chunk.data,
      eof: chunk.eof,
    });
    offsets.set(key, { jobUid: uid, attempt, stream: chunk.stream, nextOffset: stored.nextOffset, complete: stored.complete });
  };

  return (async () => {
    try {
      for (;;) {
        if (answered || signal.aborted || call.cancelled) return;
        const chunk = queue.shift();
        if (chunk !== undefined) {
          if (queue.length < maxQueued && call.isPaused()) call.resume();
          await handle(chunk);
          continue;
        }
        if (ended) {
          answer(null, { offsets: [...offsets.values()] });
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } catch (err) {
      if (err instanceof LogInputError) {
        answer({ code: invalidArgument(err.message).code, details: `the log store refused the chunk: ${err.message}` });
        return;
      }
      const { error, unexpected } = toServiceError(err);
      if (unexpected || !(err instanceof AgentApiError)) {
        options.logger.warn('agent endpoint: log chunks not stored', { node: caller.nodeName, error: errorMessage(err) });
      }
      answer(error);
    } finally {
      queue.length = 0;
    }
  })();
}

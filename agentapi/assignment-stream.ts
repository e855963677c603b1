// One WatchAssignments call: writes the hub's events for one node to the agent in order,
// respecting backpressure, and sends BOOKMARKs while idle.
//
// Contract:
// - Events are written in the order given (initial events, then live ones); stream.write()
//   returning false stops writing until 'drain'. Events wait in this stream's own queue.
// - More than `maxBacklog` live events waiting (the agent reads too slowly) ends the call with
//   UNAVAILABLE: the agent resumes from the last revision it processed (or takes a snapshot when
//   the hub's history no longer reaches back that far). Memory per call stays bounded.
// - Every `bookmarkIntervalMs` with nothing queued or written meanwhile, a BOOKMARK at the hub's
//   revision is sent when that revision is newer than the last event sent (revisions never go
//   back). On the same tick `check` runs (the endpoint re-verifies the node token): an error it
//   returns ends the call.
// - end(error) ends the call with that status (after the few messages already handed to gRPC);
//   the call ending for any reason (client cancel, network loss, end) unsubscribes from the hub
//   and cancels the timer. `done` resolves then.
import type * as grpc from '@grpc/grpc-js';
import { EventType, type AssignmentEvent, type WatchAssignmentsRequest } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import type { Clock, Timer } from '../controllers/runtime/clock.js';
import { errorMessage, type Logger } from '../controllers/runtime/logger.js';
import type { AssignmentSubscriber } from './assignment-hub.js';
import { unavailable, type AgentApiError } from './errors.js';

export type WatchCall = grpc.ServerWritableStream<WatchAssignmentsRequest, AssignmentEvent>;

export interface AssignmentStreamOptions {
  readonly call: WatchCall;
  readonly nodeName: string;
  /** The hub's current revision, for BOOKMARKs. */
  readonly revision: () => number;
  readonly bookmarkIntervalMs: number;
  readonly maxBacklog: number;
  readonly clock: Clock;
  /** Runs on every bookmark tick; an error it resolves to ends the call. */
  readonly check?: () => Promise<AgentApiError | undefined>;
  /** Registers background work with the owner (so that close() can wait for it). */
  readonly track: (work: Promise<unknown>) => void;
  readonly logger: Logger;
}

export class AssignmentStream implements AssignmentSubscriber {
  private readonly call: WatchCall;
  private readonly options: AssignmentStreamOptions;
  private queue: AssignmentEvent[] = [];
  private head = 0;
  /** Initial (snapshot or replay) events still queued; they do not count as backlog. */
  private initialQueued = 0;
  private lastQueuedRevision = 0;
  private lastActivityMs: number;
  private waitingForDrain = false;
  private ended = false;
  private finished = false;
  private timer: Timer | undefined;
  private unsubscribe: (() => void) | undefined;
  private resolveDone: () => void = () => undefined;
  /** Resolves once the call is over and everything is released. */
  readonly done: Promise<void>;

  constructor(options: AssignmentStreamOptions) {
    this.options = options;
    this.call = options.call;
    this.lastActivityMs = options.clock.now();
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.call.on('close', () => this.finish());
    this.call.on('cancelled', () => this.finish());
  }

  /** True once the call is over (the client may have cancelled before start). */
  isFinished(): boolean {
    return this.finished;
  }

  /** Starts writing: `initial` events first, then whatever deliver() passes. */
  start(initial: readonly AssignmentEvent[], unsubscribe: () => void): void {
    this.unsubscribe = unsubscribe;
    if (this.finished) {
      unsubscribe();
      return;
    }
    for (const event of initial) this.enqueue(event);
    this.initialQueued = initial.length;
    this.pump();
    this.schedule();
  }

  deliver(event: AssignmentEvent): void {
    if (this.ended) return;
    if (this.queue.length - this.head - this.initialQueued >= this.options.maxBacklog) {
      this.end(unavailable(`the agent reads its assignments too slowly (more than ${this.options.maxBacklog} events waiting); resume from the last revision processed`));
      return;
    }
    this.enqueue(event);
    this.pump();
  }

  end(error: AgentApiError): void {
    if (this.ended) return;
    this.ended = true;
    this.release();
    if (this.finished || this.call.destroyed) return;
    this.options.logger.debug('agent endpoint: ending an assignment watch', { node: this.options.nodeName, code: error.code, error: error.message });
    // grpc-js turns an 'error' event into the call's status (sent after messages already written).
    this.call.emit('error', { code: error.code, details: error.message });
  }

  private enqueue(event: AssignmentEvent): void {
    this.queue.push(event);
    this.lastQueuedRevision = Math.max(this.lastQueuedRevision, event.revision);
    this.lastActivityMs = this.options.clock.now();
  }

  private pump(): void {
    while (!this.ended && !this.waitingForDrain && this.head < this.queue.length) {
      if (this.call.destroyed || this.call.writableEnded) return;
      const event = this.queue[this.head]!;
      this.head++;
      if (this.initialQueued > 0) this.initialQueued--;
      const more = this.call.write(event);
      if (!more) {
        this.waitingForDrain = true;
        this.call.once('drain', () => {
          this.waitingForDrain = false;
          this.pump();
        });
      }
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private schedule(): void {
    if (this.ended) return;
    this.timer = this.options.clock.setTimeout(() => this.tick(), this.options.bookmarkIntervalMs);
  }

  private tick(): void {
    this.timer = undefined;
    if (this.ended) return;
    const now = this.options.clock.now();
    const idle = this.head === this.queue.length && !this.waitingForDrain;
    if (idle && now - this.lastActivityMs >= this.options.bookmarkIntervalMs) {
      const revision = this.options.revision();
      if (revision > this.lastQueuedRevision) {
        this.enqueue({ type: EventType.BOOKMARK, revision });
        this.pump();
      }
    }
    const check = this.options.check;
    if (check !== undefined) {
      this.options.track(
        check().then(
          (error) => {
            if (error !== undefined) this.end(error);
          },
          (err: unknown) => this.options.logger.warn('agent endpoint: watch check failed', { node: this.options.nodeName, error: errorMessage(err) }),
        ),
      );
    }
    this.schedule();
  }

  private release(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.queue = [];
    this.head = 0;
    this.initialQueued = 0;
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    unsubscribe?.();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.ended = true;
    this.release();
    this.resolveDone();
  }
}

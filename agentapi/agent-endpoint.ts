// The agent endpoint: the gRPC server of agent.proto (AgentService) in the control plane.
// One per server process; it runs on every process (not only the leader).
//
// Contract:
// - Authentication and authorization: agent-auth.ts (node tokens; the join token for Register
//   only; with mTLS, the client certificate must name the node). Every node name and job attempt
//   a request names must be the caller's.
// - Register / Heartbeat: node-registration.ts. A heartbeat listing running attempts that are
//   not assigned to the node for longer than `strayGraceMs` makes the node's agent take a fresh
//   snapshot (the hub ends its watch with OUT_OF_RANGE): the snapshot does not hold those
//   attempts, so the agent stops them (never two live attempts after a node comes back).
// - WatchAssignments: the AssignmentHub (assignment-hub.ts, fed by the shared job Informer,
//   which its owner runs) and one AssignmentStream per call. A from_revision newer than the
//   hub's view is waited for up to `catchUpTimeoutMs`, then OUT_OF_RANGE. Watches wait for the
//   informer's first list. The node token is re-verified on every bookmark tick.
// - ReportStatus: status-reports.ts. StreamLogs: log-ingest.ts.
// - listen(host, port) binds (port 0: any free port) and returns the port; close() ends every
//   watch with UNAVAILABLE, refuses new calls, waits up to `shutdownTimeoutMs` for the running
//   ones (tryShutdown), then cancels what is left (forceShutdown), and resolves once every
//   handler has finished. The endpoint never closes the store, the informer or the log store.
import * as grpc from '@grpc/grpc-js';
import type { Job } from '../api/v1/index.js';
import {
  AgentServiceService,
  type AgentServiceServer,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type LogAck,
  type LogChunk,
  type RegisterRequest,
  type RegisterResponse,
  type StatusAck,
  type StatusReport,
  type WatchAssignmentsRequest,
  type AssignmentEvent,
} from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import type { NodeTokenRegistry } from '../apiserver/node-tokens.js';
import { sleep, systemClock, type Clock } from '../controllers/runtime/clock.js';
import type { EventRecorder } from '../controllers/runtime/event-recorder.js';
import type { Informer } from '../controllers/runtime/informer.js';
import { errorMessage, silentLogger, type Logger } from '../controllers/runtime/logger.js';
import type { LogStore } from '../logs/log-store.js';
import type { Store } from '../store/store.js';
import { AgentAuthenticator, requireCertificateFor, requireNode, type AgentCaller } from './agent-auth.js';
import { AssignmentHub } from './assignment-hub.js';
import { AssignmentStream } from './assignment-stream.js';
import { AgentApiError, outOfRange, toServiceError, unauthenticated, unavailable } from './errors.js';
import { ingestLogs } from './log-ingest.js';
import { NodeRegistration } from './node-registration.js';
import { checkNodeName, checkRevision, MAX_LOG_CHUNK_BYTES } from './request-validation.js';
import { StatusReports } from './status-reports.js';

export interface AgentEndpointOptions {
  readonly store: Store;
  /** The shared informer over every Job; its owner runs it. */
  readonly jobs: Informer<Job>;
  readonly nodeTokens: NodeTokenRegistry;
  /** The cluster join token (accepted by Register only). */
  readonly joinToken?: string;
  /** Log chunks and finished-attempt records. */
  readonly logs: Pick<LogStore, 'append' | 'recordAttempt'>;
  readonly recorder: EventRecorder;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Node lease TTL given to agents. Default 30. */
  readonly leaseTtlSeconds?: number;
  /** How often agents heartbeat. Default 10. */
  readonly heartbeatIntervalSeconds?: number;
  /**
   * Default: insecure (tests, loopback). With credentials that require client certificates
   * (mTLS), every call's certificate must name the caller's node (agent-auth.ts).
   */
  readonly credentials?: grpc.ServerCredentials;
  /** BOOKMARK (and token re-check) interval of idle watches. Default 30 s. */
  readonly bookmarkIntervalMs?: number;
  /** Events kept per node for resuming watches. Default 1024. */
  readonly historyPerNode?: number;
  /** Live events queued for one watch before it is ended as too slow. Default 1024. */
  readonly maxWatchBacklog?: number;
  /** How long a watch from a revision newer than this server's view waits. Default 5 s. */
  readonly catchUpTimeoutMs?: number;
  /** How long a job uid this server does not know is looked for (reports, logs). Default 2 s. */
  readonly unknownJobWaitMs?: number;
  /** Node status is rewritten by heartbeats at least this often. Default 60 s. */
  readonly heartbeatWriteIntervalMs?: number;
  /** How long a heartbeat may list an attempt not assigned to the node before a resync. Default 60 s. */
  readonly strayGraceMs?: number;
  /** close(): how long running calls may finish. Default 5 s. */
  readonly shutdownTimeoutMs?: number;
}

/** Extra room over the largest log chunk for the rest of the message. */
const MESSAGE_OVERHEAD = 64 * 1024;
/** Largest message sent (an Assignment carries a whole job spec, bounded by the API's object size). */
const MAX_SEND_MESSAGE_BYTES = 16 * 1024 * 1024;

export class AgentEndpoint {
  /** The assignments of every node (exposed for tests and metrics). */
  readonly hub: AssignmentHub;
  private readonly options: AgentEndpointOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly auth: AgentAuthenticator;
  private readonly nodes: NodeRegistration;
  private readonly reports: StatusReports;
  private readonly leaseTtlSeconds: number;
  private readonly heartbeatIntervalSeconds: number;
  private readonly bookmarkIntervalMs: number;
  private readonly maxWatchBacklog: number;
  private readonly catchUpTimeoutMs: number;
  private readonly strayGraceMs: number;
  private readonly shutdownTimeoutMs: number;
  private readonly server: grpc.Server;
  /** Aborted by close(): every waiting handler gives up. */
  private readonly closing = new AbortController();
  private readonly inflight = new Set<Promise<unknown>>();
  /** node -> "uid/attempt" -> when first seen running without being assigned. */
  private readonly strays = new Map<string, Map<string, number>>();
  /** node -> how many of its assignment watches are open (subscribed, not yet ended). */
  private readonly openWatches = new Map<string, number>();
  private listening = false;
  private closed: Promise<void> | undefined;

  constructor(options: AgentEndpointOptions) {
    const integer = (name: string, value: number, min: number): number => {
      if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`AgentEndpoint: option ${name} must be an integer >= ${min}, got ${String(value)}`);
      return value;
    };
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.leaseTtlSeconds = integer('leaseTtlSeconds', options.leaseTtlSeconds ?? 30, 1);
    this.heartbeatIntervalSeconds = integer('heartbeatIntervalSeconds', options.heartbeatIntervalSeconds ?? 10, 1);
    if (this.heartbeatIntervalSeconds >= this.leaseTtlSeconds) {
      throw new RangeError(`AgentEndpoint: option heartbeatIntervalSeconds (${this.heartbeatIntervalSeconds}) must be less than leaseTtlSeconds (${this.leaseTtlSeconds})`);
    }
    this.bookmarkIntervalMs = integer('bookmarkIntervalMs', options.bookmarkIntervalMs ?? 30_000, 1);
    this.maxWatchBacklog = integer('maxWatchBacklog', options.maxWatchBacklog ?? 1024, 1);
    this.catchUpTimeoutMs = integer('catchUpTimeoutMs', options.catchUpTimeoutMs ?? 5000, 0);
    this.strayGraceMs = integer('strayGraceMs', options.strayGraceMs ?? 60_000, 0);
    this.shutdownTimeoutMs = integer('shutdownTimeoutMs', options.shutdownTimeoutMs ?? 5000, 0);
    const unknownJobWaitMs = integer('unknownJobWaitMs', options.unknownJobWaitMs ?? 2000, 0);

    this.auth = new AgentAuthenticator(options.nodeTokens, options.joinToken);
    this.hub = new AssignmentHub({ jobs: options.jobs, historyPerNode: options.historyPerNode, logger: this.logger });
    this.nodes = new NodeRegistration({
      store: options.store,
      nodeTokens: options.nodeTokens,
      leaseTtlSeconds: this.leaseTtlSeconds,
      heartbeatWriteIntervalMs: options.heartbeatWriteIntervalMs,
      clock: this.clock,
      logger: this.logger,
    });
    this.reports = new StatusReports({
      store: options.store,
      hub: this.hub,
      recorder: options.recorder,
      attempts: options.logs,
      clock: this.clock,
      logger: this.logger,
      unknownJobWaitMs,
    });
    this.server = new grpc.Server({
      // The server pings every connection every 30 s and drops it when no answer comes within
      // 10 s: the calls of a dead agent are cancelled and its watch released. (A grpc-js server
      // enforces no ping policy, so agents may send keepalive pings of their own at any rate.)
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.max_receive_message_length': MAX_LOG_CHUNK_BYTES + MESSAGE_OVERHEAD,
      'grpc.max_send_message_length': MAX_SEND_MESSAGE_BYTES,
    });
    const service: AgentServiceServer = {
      register: this.unary('Register', (call) => this.register(call)),
      heartbeat: this.unary('Heartbeat', (call) => this.heartbeat(call)),
      reportStatus: this.unary('ReportStatus', (call, signal) => this.reportStatus(call, signal)),
      watchAssignments: (call) => this.track(this.watchAssignments(call)),
      streamLogs: (call, respond) => this.track(this.streamLogs(call, respond)),
    };
    this.server.addService(AgentServiceService, service);
  }

  /** Binds the server; resolves to the bound port (useful with port 0). */
  async listen(host: string, port: number): Promise<number> {
    if (this.closed !== undefined) throw new Error('AgentEndpoint: listen() after close()');
    if (this.listening) throw new Error('AgentEndpoint: already listening');
    if (!Number.isSafeInteger(port) || port < 0 || port > 65535) throw new RangeError(`AgentEndpoint: port must be 0..65535, got ${String(port)}`);
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    const credentials = this.options.credentials ?? grpc.ServerCredentials.createInsecure();
    const bound = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, credentials, (err, boundPort) => (err ? reject(err) : resolve(boundPort)));
    });
    this.listening = true;
    return bound;
  }

  /** How many distinct nodes have an assignment watch open on this server now (for metrics). */
  connectedAgents(): number {
    return this.openWatches.size;
  }

  /** Ends every call and stops the server; resolves when every handler is done. Idempotent. */
  close(): Promise<void> {
    return (this.closed ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    this.closing.abort();
    this.hub.close();
    if (this.listening) {
      const graceful = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.shutdownTimeoutMs)));
      const outcome = await Promise.race([graceful, timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.logger.warn('agent endpoint: calls still running at shutdown; cancelling them', { timeoutMs: this.shutdownTimeoutMs });
        this.server.forceShutdown();
      }
    } else {
      this.server.forceShutdown();
    }
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Registers background work so that close() waits for it; a rejection is logged. */
  private track(work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      (err: unknown) => this.logger.error('agent endpoint: background work failed', { error: errorMessage(err) }),
    );
    this.inflight.add(settled);
    void settled.then(() => this.inflight.delete(settled));
  }

  /** An AbortSignal that fires when the call is cancelled or the endpoint closes. */
  private callSignal(call: { on(event: 'cancelled', listener: () => void): unknown }): AbortSignal {
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    return AbortSignal.any([controller.signal, this.closing.signal]);
  }

  private unary<Req, Res>(
    method: string,
    handler: (call: grpc.ServerUnaryCall<Req, Res>, signal: AbortSignal) => Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, respond) => {
      this.track(
        (async () => {
          try {
            if (this.closing.signal.aborted) throw unavailable('the agent endpoint is shutting down');
            respond(null, await handler(call, this.callSignal(call)));
          } catch (err) {
            respond(this.failure(method, err));
          }
        })(),
      );
    };
  }

  private failure(method: string, err: unknown): Partial<grpc.StatusObject> {
    const { error, unexpected } = toServiceError(err);
    if (unexpected) this.logger.error('agent endpoint: call failed', { method, error: errorMessage(err) });
    else if (error.code === grpc.status.UNAVAILABLE) this.logger.warn('agent endpoint: call failed', { method, error: errorMessage(err) });
    return error;
  }

  private async register(call: grpc.ServerUnaryCall<RegisterRequest, RegisterResponse>): Promise<RegisterResponse> {
    const caller = await this.auth.authenticate(call);
    requireCertificateFor(caller, call.request.nodeName);
    const registered = await this.nodes.register(caller, call.request);
    this.strays.delete(call.request.nodeName);
    return {
      nodeUid: registered.nodeUid,
      heartbeatIntervalSeconds: this.heartbeatIntervalSeconds,
      leaseTtlSeconds: this.leaseTtlSeconds,
      nodeToken: registered.nodeToken ?? '',
    };
  }

  private async heartbeat(call: grpc.ServerUnaryCall<HeartbeatRequest, HeartbeatResponse>): Promise<HeartbeatResponse> {
    const caller = await this.auth.authenticateNode(call);
    await this.nodes.heartbeat(caller, call.request);
    this.checkStrays(caller.nodeName, call.request);
    return {};
  }

  /** Requests a resync when the agent keeps running attempts that are not assigned to it. */
  private checkStrays(nodeName: string, request: HeartbeatRequest): void {
    const now = this.clock.now();
    const previous = this.strays.get(nodeName);
    const current = new Map<string, number>();
    for (const { jobUid, attempt } of request.runningAttempts) {
      if (this.hub.assignedAttempt(nodeName, jobUid) === attempt) continue;
      const key = `${jobUid}/${attempt}`;
      current.set(key, previous?.get(key) ?? now);
    }
    if (current.size === 0) {
      this.strays.delete(nodeName);
      return;
    }
    const overdue = [...current].filter(([, since]) => now - since >= this.strayGraceMs).map(([key]) => key);
    if (overdue.length > 0) {
      this.logger.warn('agent endpoint: agent runs attempts not assigned to it; requesting a fresh snapshot', { node: nodeName, attempts: overdue.slice(0, 10) });
      this.hub.requestResync(nodeName, `the agent runs attempts that are not assigned to node ${nodeName} (${overdue.slice(0, 3).join(', ')})`);
      for (const key of overdue) current.delete(key);
    }
    if (current.size > 0) this.strays.set(nodeName, current);
    else this.strays.delete(nodeName);
  }

  private async reportStatus(call: grpc.ServerUnaryCall<StatusReport, StatusAck>, signal: AbortSignal): Promise<StatusAck> {
    const caller = await this.auth.authenticateNode(call);
    await this.waitForHub(signal);
    return this.reports.report(caller, call.request, signal);
  }

  private async waitForHub(signal: AbortSignal): Promise<void> {
    if (this.hub.hasSynced()) return;
    if (!(await this.hub.waitForSync(signal))) throw unavailable('the agent endpoint is not ready (job cache not loaded yet); retry');
  }

  private async watchAssignments(call: grpc.ServerWritableStream<WatchAssignmentsRequest, AssignmentEvent>): Promise<void> {
    const signal = this.callSignal(call);
    let stream: AssignmentStream | undefined;
    let subscribedNode: string | undefined;
    try {
      if (signal.aborted) throw unavailable('the agent endpoint is shutting down');
      const caller = await this.auth.authenticateNode(call);
      const nodeName = checkNodeName(call.request.nodeName);
      requireNode(caller, nodeName);
      const fromRevision = checkRevision(call.request.fromRevision);
      await this.waitForHub(signal);
      const watch = new AssignmentStream({
        call,
        nodeName,
        revision: () => this.hub.revision(),
        bookmarkIntervalMs: this.bookmarkIntervalMs,
        maxBacklog: this.maxWatchBacklog,
        clock: this.clock,
        check: () => this.recheck(caller),
        track: (work) => this.track(work),
        logger: this.logger,
      });
      stream = watch;
      const deadline = this.clock.now() + this.catchUpTimeoutMs;
      for (;;) {
        if (watch.isFinished() || signal.aborted) return;
        const result = this.hub.subscribe(nodeName, fromRevision, watch);
        if (result.kind === 'subscribed') {
          watch.start(result.initial, result.unsubscribe);
          this.openWatches.set(nodeName, (this.openWatches.get(nodeName) ?? 0) + 1);
          subscribedNode = nodeName;
          break;
        }
        if (this.clock.now() >= deadline || !(await sleep(this.clock, 25, signal))) {
          throw outOfRange(`from_revision ${fromRevision} is newer than this server's view of the jobs (revision ${result.hubRevision}); watch again from 0`);
        }
      }
      await watch.done;
    } catch (err) {
      const error = this.failure('WatchAssignments', err);
      if (stream !== undefined) stream.end(new AgentApiError(error.code ?? grpc.status.INTERNAL, error.details ?? 'internal error'));
      else if (!call.destroyed) call.emit('error', error);
    } finally {
      if (subscribedNode !== undefined) {
        const left = (this.openWatches.get(subscribedNode) ?? 1) - 1;
        if (left > 0) this.openWatches.set(subscribedNode, left);
        else this.openWatches.delete(subscribedNode);
      }
    }
  }

  /** Whether a watch may go on: the node token must still verify. */
  private async recheck(caller: Extract<AgentCaller, { kind: 'node' }>): Promise<AgentApiError | undefined> {
    return (await this.auth.stillValid(caller)) ? undefined : unauthenticated('the node token was revoked or has expired');
  }

  private async streamLogs(call: grpc.ServerReadableStream<LogChunk, LogAck>, respond: grpc.sendUnaryData<LogAck>): Promise<void> {
    const signal = this.callSignal(call);
    let caller: Extract<AgentCaller, { kind: 'node' }>;
    try {
      if (signal.aborted) throw unavailable('the agent endpoint is shutting down');
      caller = await this.auth.authenticateNode(call);
      await this.waitForHub(signal);
    } catch (err) {
      respond(this.failure('StreamLogs', err));
      return;
    }
    await ingestLogs({ hub: this.hub, logs: this.options.logs, clock: this.clock, logger: this.logger, unknownJobWaitMs: this.options.unknownJobWaitMs }, caller, call, respond, signal);
  }
}

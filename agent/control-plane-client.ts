// The agent's gRPC client of the control plane's AgentService. It owns one channel per server
// address and fails over to the next address (in turn, wrapping around) when a call finds the
// current one unavailable. Every call carries `authorization: Bearer <token>` with the token the
// caller's TokenSource holds at that moment, a deadline (unary and log calls), and is cancelled
// when the caller's AbortSignal aborts. Channels use keepalive pings, so that a dead server or
// connection is noticed within keepaliveTimeMs + keepaliveTimeoutMs rather than minutes.
import { type ChannelCredentials, type ClientOptions, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import {
  AgentServiceClient,
  type AssignmentEvent,
  type HeartbeatRequest,
  type LogAck,
  type LogChunk,
  type RegisterRequest,
  type RegisterResponse,
  type StatusAck,
  type StatusReport,
  type WatchAssignmentsRequest,
} from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';

export interface ControlPlaneClientOptions {
  /** `host:port` of each server, tried in turn. Non-empty. */
  addresses: string[];
  credentials: ChannelCredentials;
  /** The token to send; read on every call (it changes when a join token is traded in). */
  token: () => string;
  /** TLS: the name to verify the server's certificate against instead of the host. */
  tlsServerName?: string;
  /** Deadline of unary calls and of one StreamLogs call, in ms. Default 10000. */
  callTimeoutMs?: number;
  /** Keepalive ping period, in ms. Default 10000. */
  keepaliveTimeMs?: number;
  /** How long a ping may go unanswered before the connection is dropped, in ms. Default 5000. */
  keepaliveTimeoutMs?: number;
}

/** A gRPC status code from any thrown value; UNKNOWN when it carries none. */
export function grpcCode(err: unknown): status {
  const code = (err as Partial<ServiceError> | null)?.code;
  return typeof code === 'number' ? code : status.UNKNOWN;
}

/** Codes after which the same call may succeed later (or against another server). */
export function isTransient(code: status): boolean {
  return (
    code === status.UNAVAILABLE ||
    code === status.DEADLINE_EXCEEDED ||
    code === status.RESOURCE_EXHAUSTED ||
    code === status.ABORTED ||
    code === status.INTERNAL ||
    code === status.UNKNOWN ||
    code === status.CANCELLED
  );
}

/** Thrown by calls made after close(). */
export class ClientClosedError extends Error {
  constructor() {
    super('control plane client is closed');
    this.name = 'ClientClosedError';
  }
}

export class ControlPlaneClient {
  private readonly clients: (AgentServiceClient | undefined)[];
  private current = 0;
  private closed = false;
  private readonly callTimeoutMs: number;
  private readonly channelOptions: Partial<ClientOptions>;

  constructor(private readonly options: ControlPlaneClientOptions) {
    if (options.addresses.length === 0) throw new Error('addresses: must name at least one server');
    this.clients = options.addresses.map(() => undefined);
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.channelOptions = {
      'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 10_000,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      // The channel's own reconnect backoff: short, since the agent backs off itself.
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 5_000,
      ...(options.tlsServerName ? { 'grpc.ssl_target_name_override': options.tlsServerName, 'grpc.default_authority': options.tlsServerName } : {}),
    };
  }

  /** The address calls currently go to. */
  get address(): string {
    return this.options.addresses[this.current] as string;
  }

  register(request: RegisterRequest, signal?: AbortSignal): Promise<RegisterResponse> {
    return this.unary((c, md, o, cb) => c.register(request, md, o, cb), signal);
  }

  heartbeat(request: HeartbeatRequest, signal?: AbortSignal): Promise<void> {
    return this.unary<unknown>((c, md, o, cb) => c.heartbeat(request, md, o, cb), signal).then(() => undefined);
  }

  reportStatus(request: StatusReport, signal?: AbortSignal): Promise<StatusAck> {
    return this.unary((c, md, o, cb) => c.reportStatus(request, md, o, cb), signal);
  }

  /**
   * Opens the assignment stream and yields its events until the server ends it; throws the
   * stream's error (a ServiceError) otherwise, CANCELLED once `signal` aborts.
   */
  async *watchAssignments(request: WatchAssignmentsRequest, signal: AbortSignal): AsyncGenerator<AssignmentEvent> {
    const index = this.current;
    const client = this.client(index);
    const stream = client.watchAssignments(request, this.metadata());
    const onAbort = (): void => stream.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const event of stream as AsyncIterable<AssignmentEvent>) yield event;
    } catch (err) {
      this.noteFailure(index, err);
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      stream.cancel(); // no-op once ended; ends the call when the consumer stops early
    }
  }

  /** Sends `chunks` in one StreamLogs call and returns the server's ack. */
  async streamLogs(chunks: LogChunk[], signal?: AbortSignal): Promise<LogAck> {
    const index = this.current;
    const client = this.client(index);
    signal?.throwIfAborted();
    try {
      return await new Promise<LogAck>((resolve, reject) => {
        const call = client.streamLogs(this.metadata(), { deadline: Date.now() + this.callTimeoutMs }, (err, ack) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(ack);
        });
        const onAbort = (): void => call.cancel();
        signal?.addEventListener('abort', onAbort, { once: true });
        // Batches are bounded by the caller, so write without waiting for drain: grpc-js buffers.
        for (const chunk of chunks) call.write(chunk);
        call.end();
      });
    } catch (err) {
      this.noteFailure(index, err);
      throw err;
    }
  }

  /** Closes every channel; later calls throw ClientClosedError. Idempotent. */
  close(): void {
    this.closed = true;
    for (const c of this.clients) c?.close();
    this.clients.fill(undefined);
  }

  private async unary<T>(
    invoke: (
      client: AgentServiceClient,
      md: Metadata,
      options: { deadline: number },
      callback: (err: ServiceError | null, response: T) => void,
    ) => { cancel(): void },
    signal?: AbortSignal,
  ): Promise<T> {
    const index = this.current;
    const client = this.client(index);
    signal?.throwIfAborted();
    try {
      return await new Promise<T>((resolve, reject) => {
        const call = invoke(client, this.metadata(), { deadline: Date.now() + this.callTimeoutMs }, (err, response) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(response);
        });
        const onAbort = (): void => call.cancel();
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    } catch (err) {
      this.noteFailure(index, err);
      throw err;
    }
  }

  private metadata(): Metadata {
    const md = new Metadata();
    md.set('authorization', `Bearer ${this.options.token()}`);
    return md;
  }

  private client(index: number): AgentServiceClient {
    if (this.closed) throw new ClientClosedError();
    let client = this.clients[index];
    if (!client) {
      client = new AgentServiceClient(this.options.addresses[index] as string, this.options.credentials, this.channelOptions);
      this.clients[index] = client;
    }
    return client;
  }

  /** After a failed call on the channel at `index`: move on to the next address if it was unreachable. */
  private noteFailure(index: number, err: unknown): void {
    const code = grpcCode(err);
    if ((code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED) && index === this.current && this.options.addresses.length > 1) {
      this.current = (this.current + 1) % this.options.addresses.length;
    }
  }
}

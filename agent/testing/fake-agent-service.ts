// An in-process fake of the control plane's AgentService for agent tests: real gRPC on
// 127.0.0.1 (port 0), recording every call, with the assignments driven by the test.
//
// - Tokens: `nodeToken` is accepted on every call; `joinToken` (when set) only on Register,
//   whose response then carries `issuedNodeToken`. Anything else is UNAUTHENTICATED.
// - Assignments: assign()/stop()/unassign() change the fake's set and emit ADDED, MODIFIED
//   (desired STOP) and DELETED events with increasing revisions (starting above 100, so that a
//   resume revision is never confused with "from 0"). WatchAssignments from 0 sends the set as
//   ADDED plus a BOOKMARK; from N it replays the events after N (OUT_OF_RANGE when N is below
//   compact()'s revision), then streams live ones. breakWatches() ends every open watch.
// - Reports: recorded; accepted=false for attempts in `rejectAttempts`; duplicate when the
//   sequence is not above the last one seen for the attempt. `failHeartbeats` (a status code)
//   makes heartbeats fail.
// - Logs: stored per (uid, attempt, stream) by offset, as the real log store does (bytes kept
//   once, a chunk past the end is a gap and not stored), acked with the next offset.
import {
  Metadata,
  Server,
  ServerCredentials,
  type ServerWritableStream,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import {
  type AgentServiceServer,
  AgentServiceService,
  type Assignment,
  type AssignmentEvent,
  DesiredState,
  EventType,
  type HeartbeatRequest,
  type LogOffset,
  LogStream,
  type RegisterRequest,
  type StatusReport,
  type WatchAssignmentsRequest,
} from '../../api/proto/gen/openscheduler/agent/v1/agent.generated.js';

export interface FakeAgentServiceOptions {
  nodeToken?: string;
  joinToken?: string;
  issuedNodeToken?: string;
  heartbeatIntervalSeconds?: number;
  leaseTtlSeconds?: number;
}

export interface Recorded<T> {
  request: T;
  token: string;
}

interface StoredStream {
  data: Buffer;
  complete: boolean;
}

function serviceError(code: status, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}

function tokenOf(md: Metadata): string {
  const value = String(md.get('authorization')[0] ?? '');
  return value.startsWith('Bearer ') ? value.slice('Bearer '.length) : '';
}

/** A plain assignment with everything but what a test cares about defaulted. */
export function makeAssignment(a: Partial<Assignment> & Pick<Assignment, 'uid' | 'command'>): Assignment {
  return {
    namespace: 'default',
    name: `job-${a.uid}`,
    attempt: 1,
    generation: 1,
    driver: 'process',
    workloadType: 'native',
    image: '',
    args: [],
    env: [],
    workingDir: '',
    volumes: [],
    network: '',
    killTimeoutSeconds: 1,
    desiredState: DesiredState.RUN,
    ...a,
  };
}

export class FakeAgentService {
  readonly registers: Recorded<RegisterRequest>[] = [];
  readonly heartbeats: Recorded<HeartbeatRequest>[] = [];
  readonly watches: Recorded<WatchAssignmentsRequest>[] = [];
  readonly reports: StatusReport[] = [];
  readonly rejectAttempts = new Set<string>();
  failHeartbeats: status | undefined;
  /** When set, new watches fail with this code (existing ones are left alone). */
  refuseWatches: status | undefined;
  /** When set, StreamLogs calls fail with this code (nothing is stored). */
  failLogs: status | undefined;
  /** When set, heartbeats and watches fail with NOT_FOUND until the next Register. */
  nodeUnknown = false;

  private readonly server = new Server();
  private readonly options: Required<Omit<FakeAgentServiceOptions, 'joinToken'>> & { joinToken?: string };
  private revision = 100;
  private compactedRevision = 0;
  private readonly assignments = new Map<string, { assignment: Assignment; revision: number }>();
  private readonly history: AssignmentEvent[] = [];
  private readonly openWatches = new Set<ServerWritableStream<WatchAssignmentsRequest, AssignmentEvent>>();
  private readonly lastSequence = new Map<string, number>();
  private readonly logs = new Map<string, StoredStream>();

  constructor(options: FakeAgentServiceOptions = {}) {
    this.options = {
      nodeToken: options.nodeToken ?? 'node-token',
      issuedNodeToken: options.issuedNodeToken ?? 'issued-node-token',
      heartbeatIntervalSeconds: options.heartbeatIntervalSeconds ?? 1,
      leaseTtlSeconds: options.leaseTtlSeconds ?? 30,
      ...(options.joinToken ? { joinToken: options.joinToken } : {}),
    };
    const impl: AgentServiceServer = {
      register: (call, callback) => {
        const token = tokenOf(call.metadata);
        this.registers.push({ request: call.request, token });
        const viaJoin = this.options.joinToken !== undefined && token === this.options.joinToken;
        if (!viaJoin && token !== this.options.nodeToken) return callback(serviceError(status.UNAUTHENTICATED, 'unknown token'));
        this.nodeUnknown = false;
        callback(null, {
          nodeUid: `uid-${call.request.nodeName}`,
          heartbeatIntervalSeconds: this.options.heartbeatIntervalSeconds,
          leaseTtlSeconds: this.options.leaseTtlSeconds,
          nodeToken: viaJoin ? this.options.issuedNodeToken : '',
        });
      },
      heartbeat: (call, callback) => {
        const token = tokenOf(call.metadata);
        this.heartbeats.push({ request: call.request, token });
        if (token !== this.options.nodeToken) return callback(serviceError(status.UNAUTHENTICATED, 'unknown token'));
        if (this.nodeUnknown) return callback(serviceError(status.NOT_FOUND, 'node is not registered'));
        if (this.failHeartbeats !== undefined) return callback(serviceError(this.failHeartbeats, 'heartbeats fail (test)'));
        callback(null, {});
      },
      watchAssignments: (call) => this.watch(call),
      reportStatus: (call, callback) => {
        if (tokenOf(call.metadata) !== this.options.nodeToken) return callback(serviceError(status.UNAUTHENTICATED, 'unknown token'));
        const r = call.request;
        this.reports.push(r);
        const key = `${r.jobUid}.${r.attempt}`;
        if (this.rejectAttempts.has(key)) return callback(null, { accepted: false, duplicate: false });
        const last = this.lastSequence.get(key) ?? 0;
        if (r.sequence <= last) return callback(null, { accepted: true, duplicate: true });
        this.lastSequence.set(key, r.sequence);
        callback(null, { accepted: true, duplicate: false });
      },
      streamLogs: (call, callback) => {
        if (tokenOf(call.metadata) !== this.options.nodeToken) {
          callback(serviceError(status.UNAUTHENTICATED, 'unknown token'));
          return;
        }
        if (this.failLogs !== undefined) {
          call.on('data', () => undefined);
          call.on('error', () => undefined);
          call.on('end', () => callback(serviceError(this.failLogs ?? status.UNAVAILABLE, 'logs fail (test)')));
          return;
        }
        const seen = new Map<string, LogOffset>();
        call.on('data', (chunk: { jobUid: string; attempt: number; stream: LogStream; offset: number; data: Buffer; eof: boolean }) => {
          const key = `${chunk.jobUid}.${chunk.attempt}.${chunk.stream}`;
          const stored = this.logs.get(key) ?? { data: Buffer.alloc(0), complete: false };
          this.logs.set(key, stored);
          const end = chunk.offset + chunk.data.length;
          if (chunk.offset <= stored.data.length && !stored.complete) {
            if (end > stored.data.length) stored.data = Buffer.concat([stored.data, chunk.data.subarray(stored.data.length - chunk.offset)]);
            if (chunk.eof && end <= stored.data.length) stored.complete = true;
          }
          seen.set(key, { jobUid: chunk.jobUid, attempt: chunk.attempt, stream: chunk.stream, nextOffset: stored.data.length, complete: stored.complete });
        });
        call.on('end', () => callback(null, { offsets: [...seen.values()] }));
        call.on('error', () => undefined);
      },
    };
    this.server.addService(AgentServiceService, impl);
  }

  /** Binds 127.0.0.1 on a free port (plain text unless `credentials` say TLS); returns `host:port`. */
  listen(credentials: ServerCredentials = ServerCredentials.createInsecure()): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync('127.0.0.1:0', credentials, (err, port) => {
        if (err) reject(err);
        else resolve(`127.0.0.1:${port}`);
      });
    });
  }

  /** Assigns (or re-assigns, with a new attempt) a job to the node: ADDED. */
  assign(a: Assignment): number {
    this.assignments.set(a.uid, { assignment: a, revision: ++this.revision });
    this.emit({ type: EventType.ADDED, revision: this.revision, job: a });
    return this.revision;
  }

  /** Desired state STOP for the job's attempt: MODIFIED. */
  stop(uid: string): number {
    const current = this.required(uid);
    const a = { ...current.assignment, desiredState: DesiredState.STOP };
    this.assignments.set(uid, { assignment: a, revision: ++this.revision });
    this.emit({ type: EventType.MODIFIED, revision: this.revision, job: a });
    return this.revision;
  }

  /** The job leaves the node: DELETED. */
  unassign(uid: string): number {
    const current = this.required(uid);
    this.assignments.delete(uid);
    this.emit({ type: EventType.DELETED, revision: ++this.revision, job: current.assignment });
    return this.revision;
  }

  /** Forgets history up to now: a watch from an older revision fails with OUT_OF_RANGE. */
  compact(): void {
    this.compactedRevision = this.revision;
    this.history.length = 0;
  }

  /** Ends every open watch with `code`. */
  breakWatches(code: status = status.UNAVAILABLE): void {
    for (const call of this.openWatches) call.emit('error', serviceError(code, 'watch broken (test)'));
    this.openWatches.clear();
  }

  get openWatchCount(): number {
    return this.openWatches.size;
  }

  get currentRevision(): number {
    return this.revision;
  }

  reportsOf(uid: string, attempt = 1): StatusReport[] {
    return this.reports.filter((r) => r.jobUid === uid && r.attempt === attempt);
  }

  /** What the fake's log store holds for a stream. */
  logOf(uid: string, attempt: number, stream: 'stdout' | 'stderr'): { text: string; complete: boolean } {
    const s = this.logs.get(`${uid}.${attempt}.${stream === 'stdout' ? LogStream.STDOUT : LogStream.STDERR}`);
    return { text: s?.data.toString('utf8') ?? '', complete: s?.complete ?? false };
  }

  async close(): Promise<void> {
    this.breakWatches(status.UNAVAILABLE);
    this.server.forceShutdown();
  }

  private watch(call: ServerWritableStream<WatchAssignmentsRequest, AssignmentEvent>): void {
    const token = tokenOf(call.metadata);
    this.watches.push({ request: call.request, token });
    if (token !== this.options.nodeToken) return void call.emit('error', serviceError(status.UNAUTHENTICATED, 'unknown token'));
    if (this.nodeUnknown) return void call.emit('error', serviceError(status.NOT_FOUND, 'node is not registered'));
    if (this.refuseWatches !== undefined) return void call.emit('error', serviceError(this.refuseWatches, 'watches refused (test)'));
    const from = call.request.fromRevision;
    if (from === 0) {
      for (const { assignment, revision } of this.assignments.values()) call.write({ type: EventType.ADDED, revision, job: assignment });
      call.write({ type: EventType.BOOKMARK, revision: this.revision });
    } else if (from < this.compactedRevision) {
      return void call.emit('error', serviceError(status.OUT_OF_RANGE, `revision ${from} is compacted`));
    } else {
      for (const event of this.history) if (event.revision > from) call.write(event);
    }
    this.openWatches.add(call);
    call.on('cancelled', () => this.openWatches.delete(call));
    call.on('error', () => this.openWatches.delete(call));
    call.on('close', () => this.openWatches.delete(call));
  }

  private emit(event: AssignmentEvent): void {
    this.history.push(event);
    for (const call of this.openWatches) call.write(event);
  }

  private required(uid: string): { assignment: Assignment; revision: number } {
    const current = this.assignments.get(uid);
    if (!current) throw new Error(`no assignment for ${uid}`);
    return current;
  }
}

// The node agent: registers its Node with the control plane, keeps the node's lease by
// heartbeat, runs the job attempts assigned to it with its task drivers, reports what happens
// to them and ships their output. Protocol: api/proto/openscheduler/agent/v1/agent.proto.
//
// Contract (DESIGN 2.4 and 3, issue 3 contracts):
// - run(signal) registers (retrying with exponential backoff and full jitter), then heartbeats
//   every heartbeat_interval_seconds and watches its assignments, resuming a broken watch from
//   the revision of the last event it processed (from 0 after OUT_OF_RANGE: the snapshot then
//   replaces what the agent runs, attempts missing from it are stopped). NOT_FOUND from any
//   session call means the node is not registered: the agent registers again. A RegisterResponse
//   carrying node_token (join-token registration) is stored at <stateDir>/node-token (0600) and
//   used from then on.
// - Never two live attempts of one job: a newer attempt first stops the older one. Each job's
//   operations (start, stop) run one at a time, in the order the events came.
// - An attempt is started with the healthy driver its assignment names (FAILED_TO_START when
//   there is none or start throws). RUNNING, then EXITED (or LOST) are reported with sequences
//   that increase across agent restarts: each report is written to the state dir (with the next
//   sequence) before it is sent, and resent until acknowledged, in order per attempt. A
//   rejected report (accepted=false) means the attempt is no longer this node's: the task is
//   stopped and its reports dropped.
// - timeout_seconds is enforced here: stop with grace kill_timeout_seconds, reason
//   DeadlineExceeded. DELETED or desired STOP: stop with that grace, reason Stopped. A task that
//   ended is destroyed (driver state removed) once its final report is acknowledged and its
//   logs are delivered; its logs are shipped before that final report is sent (for a bounded
//   time), so that a finished job's logs are complete when it is seen finished.
// - Self-fencing: with no successful heartbeat (or registration) for lease_ttl_seconds, every
//   task is stopped (reason NodeLost): the control plane re-queues a lost node's jobs after the
//   lease TTL plus a grace period, and two copies of an attempt must never run.
// - Reason NodeLost (the control plane re-queues the job without using a retry) is also what
//   an attempt ends with when the agent stops it for its own shutdown (shutdownMode stop), or
//   when a restarted agent finds an attempt it was starting that no driver knows.
// - Restart: every attempt in the state dir is re-adopted with driver.recover (logs resume from
//   the offsets the server acknowledged); exits that happened while no agent ran are reported
//   with their real exit status.
// - Orphan sweep: after the restart's re-adoption, then every orphanSweepIntervalMs (one sweep
//   at a time), each healthy driver lists the tasks marked as its own (`listOwned`); those no
//   attempt of this agent tracks (from before driver.start until its state is removed) are
//   killed and removed (`removeOwned`), each in its job's chain of operations so that a start of
//   the same task cannot interleave. Nothing the driver does not mark as ours is touched.
// - Shutdown when `signal` aborts: 'stop' stops every task (grace), delivers final reports and
//   logs for at most shutdownFlushTimeoutMs, destroys what was delivered, then sweeps orphans
//   once more (tasks whose reports are still undelivered are kept for the next start);
//   'detach' leaves tasks running for the next agent to re-adopt and sweeps nothing. Either
//   way no timer, stream, call or child of the agent's own is left when run() resolves.
import { type ChannelCredentials, credentials as grpcCredentials, status } from '@grpc/grpc-js';
import { isAbsolute, join } from 'node:path';
import { readFileSync } from 'node:fs';
import {
  type Assignment,
  type AssignmentEvent,
  type AttemptRef,
  DesiredState,
  type DriverInfo,
  EventType,
  type HeartbeatRequest,
  type Resources,
} from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { type Clock, sleep, systemClock, type Timer } from '../controllers/runtime/clock.js';
import { errorMessage, type Logger, silentLogger } from '../controllers/runtime/logger.js';
import {
  exitReport,
  failedToStartReport,
  REASON_DEADLINE_EXCEEDED,
  REASON_DRIVER_UNAVAILABLE,
  REASON_INVALID_TASK_CONFIG,
  REASON_LOST,
  REASON_NODE_LOST,
  REASON_START_FAILED,
  REASON_STOPPED,
  type ReportBody,
  taskConfigOf,
  toStatusReport,
} from './attempt-reports.js';
import { Backoff } from './backoff.js';
import { ControlPlaneClient, grpcCode, isTransient } from './control-plane-client.js';
import {
  type ExitResult,
  InvalidTaskConfigError,
  type OwnedTask,
  type TaskDriver,
  type TaskHandle,
  TaskNotFoundError,
  taskIdOf,
} from './drivers/task-driver.js';
import { ProcessDriver } from './drivers/process-driver.js';
import { LogShipper } from './log-shipper.js';
import { advertisedDrivers, detectCapacity, type DriverFingerprint, fingerprintChanges, fingerprintDrivers } from './node-info.js';
import { AgentStateDir, type AttemptState } from './state-dir.js';

export type ShutdownMode = 'stop' | 'detach';

export interface AgentOptions {
  /** Control plane gRPC addresses, `host:port`; several are tried in turn. */
  servers: string[];
  /** The node token (or the cluster's join token). Either this or tokenFile, unless <stateDir>/node-token exists. */
  token?: string;
  /** A file holding the token. */
  tokenFile?: string;
  /** The Node's name: a DNS-1123 label. */
  nodeName: string;
  labels?: Record<string, string>;
  /** Default: detected (os.cpus(), os.totalmem()). */
  capacity?: { cpuMillis: number; memoryBytes: number };
  drivers: TaskDriver[];
  /** The agent's own state (absolute path; created 0700). */
  stateDir: string;
  /** fsync every state write (default true); false only for benchmarks with simulated agents. */
  stateFsync?: boolean;
  /** Default: insecure. For TLS, grpc.credentials.createSsl(ca, key, cert). */
  credentials?: ChannelCredentials;
  /** TLS: the server name to verify the certificate against, instead of the address's host. */
  tlsServerName?: string;
  shutdownMode?: ShutdownMode;
  clock?: Clock;
  logger?: Logger;
  agentVersion?: string;
  /** The lease TTL assumed for self-fencing until the server tells it. Default 30. */
  leaseTtlSeconds?: number;
  /** How often drivers are fingerprinted again. Default 60000. */
  fingerprintIntervalMs?: number;
  /** The reconcile period: how often orphaned tasks (marked as ours, tracked by no attempt) are removed. Default 30000. */
  orphanSweepIntervalMs?: number;
  /** How long a 'stop' shutdown keeps delivering final reports and logs. Default 5000. */
  shutdownFlushTimeoutMs?: number;
  /** How long a finished attempt's final report waits for its logs to be delivered. Default 5000. */
  finalLogsTimeoutMs?: number;
  /** Deadline of each unary call and StreamLogs call. Default 10000. */
  callTimeoutMs?: number;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** Register/watch/report retry backoff bounds. Defaults 500 and 30000 ms. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  logs?: { flushIntervalMs?: number; flushBytes?: number; maxBufferedBytesPerTask?: number };
  /** Uniform random in [0, 1) for jitter. Default Math.random. */
  random?: () => number;
}

/** What the agent's metrics and health endpoints read (Agent.status()); a snapshot. */
export interface AgentStatus {
  /** A registration succeeded and the session it began runs (false again while registering anew). */
  readonly registered: boolean;
  /** Registered, and the last heartbeat (or the registration) succeeded. */
  readonly connected: boolean;
  /** Tasks running or being stopped, per configured driver name (every driver listed, 0 included). */
  readonly tasksRunning: Readonly<Record<string, number>>;
  /** Task starts since the agent was made, per driver name (configured ones; else "other") and result. */
  readonly taskStarts: readonly { readonly driver: string; readonly result: 'started' | 'failed'; readonly count: number }[];
  /** The last fingerprint of every configured driver (unhealthy until the first one). */
  readonly drivers: readonly { readonly name: string; readonly healthy: boolean }[];
  /** Log bytes the control plane has acknowledged. */
  readonly logBytesShipped: number;
}

/** A bad option: names the field and the rule. */
export class AgentOptionsError extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`invalid agent options: ${field}: ${rule}`);
    this.name = 'AgentOptionsError';
  }
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;
const JOB_UID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const DEFAULT_HEARTBEAT_SECONDS = 10;
const DEFAULT_LEASE_TTL_SECONDS = 30;
const DEFAULT_ORPHAN_SWEEP_INTERVAL_MS = 30_000;
/** How long a shutting-down agent waits for the control plane to mark its node not Ready. */
const SHUTDOWN_ANNOUNCE_TIMEOUT_MS = 3_000;
/** How many finished attempts (per job uid: the highest) are remembered, to ignore late events for them. */
const MAX_FINISHED_REMEMBERED = 10_000;

function validateOptions(o: AgentOptions): void {
  const bad = (field: string, rule: string): never => {
    throw new AgentOptionsError(field, rule);
  };
  if (typeof o !== 'object' || o === null) bad('options', 'must be an object');
  if (!Array.isArray(o.servers) || o.servers.length === 0) bad('servers', 'must name at least one server');
  o.servers.forEach((s, i) => {
    const m = typeof s === 'string' ? ADDRESS.exec(s) : null;
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) bad(`servers[${i}]`, 'must be host:port with a port in 1..65535');
  });
  if (o.token !== undefined && (typeof o.token !== 'string' || o.token.trim() === '' || /\s/.test(o.token)))
    bad('token', 'must be a non-empty string without whitespace');
  if (o.tokenFile !== undefined && (typeof o.tokenFile !== 'string' || o.tokenFile === '')) bad('tokenFile', 'must be a path');
  if (typeof o.nodeName !== 'string' || o.nodeName.length > 63 || !DNS1123_LABEL.test(o.nodeName))
    bad('nodeName', 'must be a DNS-1123 label (lower-case letters, digits, "-"; at most 63 characters)');
  for (const [k, v] of Object.entries(o.labels ?? {})) {
    if (k === '' || k.length > 317) bad(`labels[${JSON.stringify(k)}]`, 'key must be 1..317 characters');
    if (typeof v !== 'string' || v.length > 2048) bad(`labels.${k}`, 'must be a string of at most 2048 characters');
  }
  if (o.capacity !== undefined) {
    if (!Number.isSafeInteger(o.capacity.cpuMillis) || o.capacity.cpuMillis <= 0) bad('capacity.cpuMillis', 'must be a positive integer');
    if (!Number.isSafeInteger(o.capacity.memoryBytes) || o.capacity.memoryBytes <= 0) bad('capacity.memoryBytes', 'must be a positive integer');
  }
  if (!Array.isArray(o.drivers) || o.drivers.length === 0) bad('drivers', 'must hold at least one task driver');
  const names = new Set<string>();
  o.drivers.forEach((d, i) => {
    if (typeof d?.name !== 'string' || d.name === '') bad(`drivers[${i}].name`, 'must be a non-empty string');
    if (names.has(d.name)) bad(`drivers[${i}].name`, `must be unique ("${d.name}" is given twice)`);
    names.add(d.name);
  });
  if (typeof o.stateDir !== 'string' || !isAbsolute(o.stateDir)) bad('stateDir', 'must be an absolute path');
  if (o.shutdownMode !== undefined && o.shutdownMode !== 'stop' && o.shutdownMode !== 'detach') bad('shutdownMode', 'must be "stop" or "detach"');
  for (const field of ['leaseTtlSeconds', 'fingerprintIntervalMs', 'orphanSweepIntervalMs', 'shutdownFlushTimeoutMs', 'finalLogsTimeoutMs', 'callTimeoutMs'] as const) {
    const v = o[field];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) bad(field, 'must be a positive number');
  }
}

type Phase = 'starting' | 'running' | 'stopping' | 'ended';

/** One attempt the agent owns, from its assignment until it is destroyed. */
class Attempt {
  phase: Phase = 'starting';
  driver: TaskDriver | undefined;
  timeoutTimer: Timer | undefined;
  reportInFlight = false;
  /** The server no longer assigns it to this node. */
  dropped = false;
  finalizing = false;
  /** Settles once the task's exit was handled (its final report queued): see ensureRunning. */
  exitHandled: Promise<void> | undefined;

  constructor(
    readonly taskId: string,
    readonly state: AttemptState,
  ) {}

  get uid(): string {
    return this.state.assignment.uid;
  }

  get number(): number {
    return this.state.assignment.attempt;
  }

  get live(): boolean {
    return this.phase !== 'ended';
  }
}

export class Agent {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly shutdownMode: ShutdownMode;
  private readonly state: AgentStateDir;
  private readonly capacity: Resources;
  private readonly client: ControlPlaneClient;
  private readonly logs: LogShipper;
  private readonly attempts = new Map<string, Attempt>();
  /** Per job uid: the highest attempt that ended here (late events for it are ignored). */
  private readonly finished = new Map<string, number>();
  /** Per job uid: the tail of its chain of operations. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly lifetime = new AbortController();
  private fingerprints: DriverFingerprint[] = [];
  private nextFingerprintAt = 0;
  private token = '';
  private usingStoredToken = false;
  private lastRevision = 0;
  private leaseTtlMs: number;
  private lastContact = 0;
  private fenceTimer: Timer | undefined;
  private fenced = false;
  private reportBackoff: Backoff;
  private reportRetryAt = 0;
  private reportTimer: Timer | undefined;
  private sweepTimer: Timer | undefined;
  /**
   * While a sweep runs: the tasks whose attempts were removed since it began. A task listed
   * while its attempt was being finalized is not an orphan even if its attempt is gone by the
   * time the listing is read.
   */
  private untrackedDuringSweep: Set<string> | undefined;
  private started = false;
  private closing = false;
  private detaching = false;
  private registered = false;
  /** Some registration succeeded in this process (the node exists on the control plane). */
  private everRegistered = false;
  /** The last register or heartbeat call succeeded. */
  private contactOk = false;
  /** "driver/result" -> count. */
  private readonly taskStarts = new Map<string, number>();

  constructor(private readonly options: AgentOptions) {
    validateOptions(options);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.shutdownMode = options.shutdownMode ?? 'stop';
    this.state = new AgentStateDir(options.stateDir, { fsync: options.stateFsync ?? true });
    this.capacity = options.capacity ? { ...options.capacity } : detectCapacity();
    this.leaseTtlMs = (options.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS) * 1000;
    this.reportBackoff = this.newBackoff();
    this.client = new ControlPlaneClient({
      addresses: options.servers,
      credentials: options.credentials ?? grpcCredentials.createInsecure(),
      token: () => this.token,
      ...(options.tlsServerName ? { tlsServerName: options.tlsServerName } : {}),
      ...(options.callTimeoutMs ? { callTimeoutMs: options.callTimeoutMs } : {}),
      ...(options.keepaliveTimeMs ? { keepaliveTimeMs: options.keepaliveTimeMs } : {}),
      ...(options.keepaliveTimeoutMs ? { keepaliveTimeoutMs: options.keepaliveTimeoutMs } : {}),
    });
    this.logs = new LogShipper({
      send: (chunks, signal) => this.client.streamLogs(chunks, signal),
      onProgress: (taskId, progress) => {
        const attempt = this.attempts.get(taskId);
        if (!attempt) return;
        attempt.state.logs = progress;
        this.persist(attempt);
      },
      onDone: (taskId) => {
        const attempt = this.attempts.get(taskId);
        if (attempt) this.maybeFinalize(attempt);
      },
      clock: this.clock,
      logger: this.logger,
      ...options.logs,
      ...(options.random ? { random: options.random } : {}),
    });
  }

  /** The attempts this agent has a live task for (what heartbeats report). */
  runningAttempts(): AttemptRef[] {
    return [...this.attempts.values()].filter((a) => a.live).map((a) => ({ jobUid: a.uid, attempt: a.number }));
  }

  /** A snapshot of the agent's state for its metrics and health endpoints. */
  status(): AgentStatus {
    const names = this.options.drivers.map((d) => d.name);
    const tasksRunning: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
    for (const a of this.attempts.values()) {
      if ((a.phase === 'running' || a.phase === 'stopping') && a.driver !== undefined) tasksRunning[a.driver.name] = (tasksRunning[a.driver.name] ?? 0) + 1;
    }
    const health = new Map(this.fingerprints.map((f) => [f.info.name, f.info.healthy]));
    return {
      registered: this.registered,
      connected: this.registered && this.contactOk && !this.closing,
      tasksRunning,
      taskStarts: [...this.taskStarts].map(([key, count]) => {
        const slash = key.lastIndexOf('/');
        return { driver: key.slice(0, slash), result: key.slice(slash + 1) as 'started' | 'failed', count };
      }),
      drivers: names.map((name) => ({ name, healthy: health.get(name) === true })),
      logBytesShipped: this.logs.bytesShipped(),
    };
  }

  /** Runs until `signal` aborts, then shuts down per shutdownMode. Call once. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.started) throw new Error('Agent.run may be called only once');
    this.started = true;
    try {
      this.state.ensure();
      this.loadToken();
      this.lastContact = this.clock.now();
      await this.refreshFingerprints();
      await this.recoverAttempts();
      this.armFence();
      this.pumpReports();
      this.runPeriodicSweep();
      while (!signal.aborted) {
        const heartbeatMs = await this.register(signal);
        if (heartbeatMs === undefined) break;
        this.registered = true;
        this.everRegistered = true;
        try {
          await this.runSession(heartbeatMs, signal);
        } finally {
          this.registered = false;
        }
      }
    } finally {
      await this.shutdown();
    }
  }

  // ---- registration, heartbeats, fencing -------------------------------------------------

  private loadToken(): void {
    const stored = this.state.readNodeToken();
    const configured = this.configuredToken();
    if (stored !== undefined) {
      this.token = stored;
      this.usingStoredToken = true;
    } else if (configured !== undefined) {
      this.token = configured;
    } else {
      throw new AgentOptionsError('token', `required: give token or tokenFile (no node token stored at ${this.state.nodeTokenPath})`);
    }
  }

  private configuredToken(): string | undefined {
    if (this.options.token !== undefined) return this.options.token;
    if (this.options.tokenFile === undefined) return undefined;
    let text: string;
    try {
      text = readFileSync(this.options.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new AgentOptionsError('tokenFile', `must be a readable file: ${errorMessage(err)}`);
    }
    if (text === '' || /\s/.test(text)) throw new AgentOptionsError('tokenFile', 'must hold one token without whitespace');
    return text;
  }

  /** Registers, retrying until it succeeds; the heartbeat interval in ms, or undefined once aborted. */
  private async register(signal: AbortSignal): Promise<number | undefined> {
    const backoff = this.newBackoff();
    for (;;) {
      if (signal.aborted) return undefined;
      try {
        const response = await this.client.register(
          {
            nodeName: this.options.nodeName,
            labels: { ...(this.options.labels ?? {}) },
            capacity: this.capacity,
            drivers: this.advertised(),
            agentVersion: this.options.agentVersion ?? 'openscheduler-agent',
          },
          signal,
        );
        if (response.nodeToken !== '') {
          this.state.writeNodeToken(response.nodeToken);
          this.token = response.nodeToken;
          this.usingStoredToken = true;
          this.logger.info('registered with the join token; stored the node token', { path: this.state.nodeTokenPath });
        }
        if (response.leaseTtlSeconds > 0) this.leaseTtlMs = response.leaseTtlSeconds * 1000;
        this.noteContact();
        this.logger.info('registered node', { node: this.options.nodeName, nodeUid: response.nodeUid, server: this.client.address });
        return (response.heartbeatIntervalSeconds > 0 ? response.heartbeatIntervalSeconds : DEFAULT_HEARTBEAT_SECONDS) * 1000;
      } catch (err) {
        if (signal.aborted) return undefined;
        const code = grpcCode(err);
        const configured = code === status.UNAUTHENTICATED && this.usingStoredToken ? this.safeConfiguredToken() : undefined;
        if (configured !== undefined && configured !== this.token) {
          this.logger.warn('the stored node token was rejected; trying the configured token', { path: this.state.nodeTokenPath });
          this.token = configured;
          this.usingStoredToken = false;
          continue;
        }
        const log = isTransient(code) ? this.logger.warn : this.logger.error;
        log.call(this.logger, 'register failed; retrying', { server: this.client.address, code: status[code], error: errorMessage(err) });
      }
      if (!(await sleep(this.clock, backoff.next(), signal))) return undefined;
    }
  }

  private safeConfiguredToken(): string | undefined {
    try {
      return this.configuredToken();
    } catch {
      return undefined;
    }
  }

  /** Heartbeats and the assignment watch, until `signal` aborts or the node must register again. */
  private async runSession(heartbeatMs: number, signal: AbortSignal): Promise<void> {
    const session = new AbortController();
    const onAbort = (): void => session.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const registerAgain = (): void => session.abort();
    try {
      await Promise.all([this.heartbeatLoop(heartbeatMs, session.signal, registerAgain), this.watchLoop(session.signal, registerAgain)]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async heartbeatLoop(intervalMs: number, signal: AbortSignal, registerAgain: () => void): Promise<void> {
    let failures = 0;
    for (;;) {
      if (signal.aborted) return;
      if (this.clock.now() >= this.nextFingerprintAt) await this.refreshFingerprints();
      try {
        await this.client.heartbeat(this.heartbeatRequest(), signal);
        if (failures > 0) this.logger.info('heartbeats succeed again', { server: this.client.address, failures });
        failures = 0;
        this.noteContact();
      } catch (err) {
        if (signal.aborted) return;
        const code = grpcCode(err);
        if (code === status.NOT_FOUND) {
          this.logger.warn('the control plane does not know this node; registering again', { node: this.options.nodeName });
          registerAgain();
          return;
        }
        failures++;
        this.contactOk = false;
        this.logger.warn('heartbeat failed', { server: this.client.address, code: status[code], error: errorMessage(err), failures });
      }
      if (!(await sleep(this.clock, intervalMs, signal))) return;
    }
  }

  /** shuttingDown from the moment shutdown() begins, so that no heartbeat makes the node Ready again. */
  private heartbeatRequest(): HeartbeatRequest {
    return {
      nodeName: this.options.nodeName,
      allocatable: this.capacity,
      drivers: this.advertised(),
      runningAttempts: this.runningAttempts(),
      shuttingDown: this.closing && this.shutdownMode === 'stop',
    };
  }

  /**
   * Tells the control plane, before the tasks are stopped, that this node goes away (Ready=False),
   * so that the jobs re-queued by the stops are not placed here again. Best effort, bounded.
   */
  private async announceShutdown(): Promise<void> {
    if (!this.everRegistered || this.fenced) return; // fenced: no server answers; do not wait for one
    const timeout = AbortSignal.timeout(SHUTDOWN_ANNOUNCE_TIMEOUT_MS);
    try {
      await this.client.heartbeat(this.heartbeatRequest(), timeout);
    } catch (err) {
      this.logger.warn('could not mark the node not Ready before stopping its tasks; they may be placed here again until the node is lost', { error: errorMessage(err) });
    }
  }

  private noteContact(): void {
    this.contactOk = true;
    this.lastContact = this.clock.now();
    if (this.fenced) this.logger.info('contact with the control plane restored after self-fencing');
    this.fenced = false;
    this.armFence();
  }

  private armFence(): void {
    this.fenceTimer?.cancel();
    if (this.closing) return;
    const due = this.lastContact + this.leaseTtlMs - this.clock.now();
    this.fenceTimer = this.clock.setTimeout(() => this.fence(), due);
  }

  /** No contact for the lease TTL: the control plane may already run these jobs elsewhere. */
  private fence(): void {
    this.fenceTimer = undefined;
    if (this.closing || this.fenced) return;
    this.fenced = true;
    const live = [...this.attempts.values()].filter((a) => a.live);
    const silentForS = Math.round((this.clock.now() - this.lastContact) / 1000);
    this.logger.error('no successful heartbeat for the lease TTL: stopping every task (self-fencing)', {
      silentForSeconds: silentForS,
      leaseTtlSeconds: this.leaseTtlMs / 1000,
      tasks: live.map((a) => a.taskId),
    });
    const message = `the agent lost contact with the control plane for ${silentForS}s (lease TTL ${this.leaseTtlMs / 1000}s) and stopped the task`;
    for (const a of live) this.requestStop(a.uid, a.taskId, REASON_NODE_LOST, message);
  }

  private async refreshFingerprints(): Promise<void> {
    const before = this.fingerprints;
    this.fingerprints = await fingerprintDrivers(this.options.drivers);
    this.nextFingerprintAt = this.clock.now() + (this.options.fingerprintIntervalMs ?? 60_000);
    for (const f of fingerprintChanges(before, this.fingerprints)) {
      const log = f.info.healthy ? this.logger.info : this.logger.warn;
      log.call(this.logger, f.info.healthy ? 'driver is healthy' : 'driver is unhealthy; not advertised', { driver: f.info.name, detail: f.info.detail });
    }
  }

  private advertised(): DriverInfo[] {
    return advertisedDrivers(this.fingerprints);
  }

  private healthyDriver(name: string): TaskDriver | undefined {
    return this.fingerprints.find((f) => f.info.name === name && f.info.healthy)?.driver;
  }

  // ---- assignments ---------------------------------------------------------------------

  private async watchLoop(signal: AbortSignal, registerAgain: () => void): Promise<void> {
    const backoff = this.newBackoff();
    for (;;) {
      if (signal.aborted) return;
      const fromRevision = this.lastRevision;
      // From 0 the server first sends a snapshot; it is complete at the first BOOKMARK.
      let snapshot: Set<string> | undefined = fromRevision === 0 ? new Set() : undefined;
      try {
        for await (const event of this.client.watchAssignments({ nodeName: this.options.nodeName, fromRevision }, signal)) {
          backoff.reset();
          snapshot = this.onAssignmentEvent(event, snapshot);
        }
        this.logger.debug('the assignment stream ended; watching again', { fromRevision: this.lastRevision });
      } catch (err) {
        if (signal.aborted) return;
        const code = grpcCode(err);
        if (code === status.OUT_OF_RANGE) {
          this.logger.info('assignment revision compacted; watching from a fresh snapshot', { fromRevision });
          this.lastRevision = 0;
          continue;
        }
        if (code === status.NOT_FOUND) {
          this.logger.warn('the control plane does not know this node; registering again', { node: this.options.nodeName });
          registerAgain();
          return;
        }
        this.logger.warn('assignment watch failed; retrying', { server: this.client.address, code: status[code], error: errorMessage(err) });
      }
      if (!(await sleep(this.clock, backoff.next(), signal))) return;
    }
  }

  /** Dispatches one event; returns the snapshot still being collected, if any. */
  private onAssignmentEvent(event: AssignmentEvent, snapshot: Set<string> | undefined): Set<string> | undefined {
    if (event.type === EventType.BOOKMARK) {
      if (snapshot) this.reconcileSnapshot(snapshot);
      this.lastRevision = event.revision;
      return undefined;
    }
    const a = event.job;
    const problem = a ? assignmentProblem(a) : 'job: must be set';
    if (problem !== undefined || !a) {
      this.logger.warn('ignoring a malformed assignment event', { type: event.type, revision: event.revision, problem });
    } else {
      const taskId = taskIdOf({ jobUid: a.uid, attempt: a.attempt });
      if (event.type === EventType.ADDED || event.type === EventType.MODIFIED) {
        snapshot?.add(taskId);
        if (a.desiredState === DesiredState.STOP) this.requestStop(a.uid, taskId, REASON_STOPPED, 'the control plane asked to stop the attempt');
        else this.requestRun(a);
      } else if (event.type === EventType.DELETED) {
        this.requestStop(a.uid, taskId, REASON_STOPPED, 'the attempt is no longer assigned to this node');
      } else {
        this.logger.warn('ignoring an assignment event of unknown type', { type: event.type, revision: event.revision });
      }
    }
    // Inside a snapshot the events' revisions are not a resume point: only its BOOKMARK is.
    if (!snapshot) this.lastRevision = event.revision;
    return snapshot;
  }

  /** A complete snapshot: what the agent runs beyond it is no longer assigned. */
  private reconcileSnapshot(assigned: Set<string>): void {
    for (const a of this.attempts.values()) {
      if (a.live && !assigned.has(a.taskId)) this.requestStop(a.uid, a.taskId, REASON_STOPPED, 'the attempt is no longer assigned to this node');
    }
  }

  private requestRun(a: Assignment): void {
    void this.serialize(a.uid, () => this.ensureRunning(a)); // tracked; never rejects
  }

  private requestStop(uid: string, taskId: string, reason: string, message: string): void {
    void this.serialize(uid, () => this.stopAttempt(taskId, reason, message)); // tracked; never rejects
  }

  /** Runs `op` after every earlier operation on the same job; errors are logged. */
  private serialize(uid: string, op: () => Promise<void>): Promise<void> {
    const tail = (this.chains.get(uid) ?? Promise.resolve())
      .then(op)
      .catch((err: unknown) => this.logger.error('job operation failed', { jobUid: uid, error: errorMessage(err) }));
    this.chains.set(uid, tail);
    this.track(
      tail.then(() => {
        if (this.chains.get(uid) === tail) this.chains.delete(uid);
      }),
    );
    return tail;
  }

  private async ensureRunning(a: Assignment): Promise<void> {
    if (this.closing) return;
    const taskId = taskIdOf({ jobUid: a.uid, attempt: a.attempt });
    if (this.attempts.has(taskId)) return;
    if ((this.finished.get(a.uid) ?? -1) >= a.attempt) return; // a late event for an attempt that already ended here
    const others = [...this.attempts.values()].filter((o) => o.uid === a.uid);
    const newer = others.find((o) => o.number > a.attempt);
    if (newer) {
      this.logger.warn('ignoring an assignment older than an attempt already run', { taskId, running: newer.taskId });
      return;
    }
    for (const older of others) {
      await this.stopAttempt(older.taskId, REASON_STOPPED, `superseded by attempt ${a.attempt}`);
      await older.exitHandled; // the older attempt's end is reported before the newer one starts
    }
    await this.startAttempt(a, taskId);
  }

  private async startAttempt(a: Assignment, taskId: string): Promise<void> {
    const attempt = new Attempt(taskId, {
      version: 1,
      assignment: a,
      nextSequence: 1,
      pendingReports: [],
      runningReported: false,
      endReported: false,
      logs: { stdout: { acked: 0, complete: false }, stderr: { acked: 0, complete: false } },
    });
    this.attempts.set(taskId, attempt);
    this.persist(attempt); // before the task exists: a crash during start leaves a trace to clean up
    const driver = this.healthyDriver(a.driver);
    if (!driver) {
      const have = this.advertised().map((d) => d.name);
      this.countStart(a.driver, 'failed');
      this.failStart(attempt, REASON_DRIVER_UNAVAILABLE, `no healthy driver "${a.driver}" on this node (healthy: ${have.join(', ') || 'none'})`);
      return;
    }
    const sink = this.logs.open(taskId, a.uid, a.attempt, attempt.state.logs);
    let handle: TaskHandle;
    try {
      handle = await driver.start(taskConfigOf(a, sink));
    } catch (err) {
      this.logs.remove(taskId);
      const reason = err instanceof InvalidTaskConfigError ? REASON_INVALID_TASK_CONFIG : REASON_START_FAILED;
      this.logger.warn('task failed to start', { taskId, driver: driver.name, error: errorMessage(err) });
      this.countStart(driver.name, 'failed');
      this.failStart(attempt, reason, errorMessage(err));
      return;
    }
    this.countStart(driver.name, 'started');
    attempt.driver = driver;
    attempt.phase = 'running';
    attempt.state.handle = handle;
    this.enqueueReport(attempt, { state: 'RUNNING', reason: 'Started', message: '', startedAt: handle.startedAt });
    this.logger.info('started task', { taskId, job: `${a.namespace}/${a.name}`, driver: driver.name });
    await this.adoptRunning(attempt);
  }

  /** Timeout, log files and exit watching of a task that runs (started or recovered). */
  private async adoptRunning(attempt: Attempt): Promise<void> {
    const driver = attempt.driver as TaskDriver;
    try {
      const details = (await driver.inspect(attempt.taskId)).details;
      this.logs.setFiles(attempt.taskId, {
        ...(typeof details.stdoutPath === 'string' ? { stdout: details.stdoutPath } : {}),
        ...(typeof details.stderrPath === 'string' ? { stderr: details.stderrPath } : {}),
      });
    } catch {
      this.logs.setFiles(attempt.taskId, {}); // no files to re-read: the log buffer truncates instead of spilling
    }
    this.armTimeout(attempt);
    attempt.exitHandled = this.awaitExit(attempt);
    this.track(attempt.exitHandled);
  }

  private armTimeout(attempt: Attempt): void {
    const seconds = attempt.state.assignment.timeoutSeconds;
    if (seconds === undefined || seconds <= 0 || !attempt.state.handle) return;
    const startedAt = Date.parse(attempt.state.handle.startedAt);
    const elapsed = Number.isNaN(startedAt) ? 0 : Math.max(0, this.clock.now() - startedAt);
    attempt.timeoutTimer = this.clock.setTimeout(() => {
      attempt.timeoutTimer = undefined;
      this.requestStop(attempt.uid, attempt.taskId, REASON_DEADLINE_EXCEEDED, `the attempt ran longer than its timeoutSeconds (${seconds}s)`);
    }, seconds * 1000 - elapsed);
  }

  /** Stops a live task with its kill timeout as grace; resolves once it ended. */
  private async stopAttempt(taskId: string, reason: string, message: string): Promise<void> {
    const attempt = this.attempts.get(taskId);
    if (!attempt || attempt.phase !== 'running' || !attempt.driver) return;
    if (!attempt.state.stopReason) {
      attempt.state.stopReason = { reason, message };
      this.persist(attempt);
    }
    attempt.phase = 'stopping';
    const graceMs = Math.max(0, attempt.state.assignment.killTimeoutSeconds) * 1000;
    this.logger.info('stopping task', { taskId, reason, graceMs });
    try {
      await attempt.driver.stop(taskId, graceMs);
    } catch (err) {
      if (!(err instanceof TaskNotFoundError)) this.logger.warn('stopping the task failed', { taskId, error: errorMessage(err) });
    }
  }

  private async awaitExit(attempt: Attempt): Promise<void> {
    const driver = attempt.driver as TaskDriver;
    let exit: ExitResult;
    try {
      exit = await driver.wait(attempt.taskId, this.lifetime.signal);
    } catch (err) {
      if (this.lifetime.signal.aborted) return; // detached: the next agent re-adopts it
      exit = { exitCode: -1, reason: 'Lost', message: `waiting for the task failed: ${errorMessage(err)}`, finishedAt: new Date(this.clock.now()).toISOString() };
    }
    attempt.timeoutTimer?.cancel();
    attempt.timeoutTimer = undefined;
    attempt.phase = 'ended';
    this.markFinished(attempt);
    this.logs.finish(attempt.taskId);
    this.logger.info('task ended', { taskId: attempt.taskId, exitCode: exit.exitCode, reason: exit.reason, signal: exit.signal });
    if (!attempt.state.endReported && !attempt.dropped) {
      // Logs first, so that whoever sees the job finished finds its output complete.
      await this.logs.waitDone(attempt.taskId, this.options.finalLogsTimeoutMs ?? 5_000);
      if (!attempt.state.endReported && !attempt.dropped) this.enqueueReport(attempt, exitReport(exit, attempt.state.handle?.startedAt, attempt.state.stopReason));
    }
    this.maybeFinalize(attempt);
  }

  /** Counts a start for status(); a driver this agent does not have is counted as "other" (bounded labels). */
  private countStart(driver: string, result: 'started' | 'failed'): void {
    const name = this.options.drivers.some((d) => d.name === driver) ? driver : 'other';
    const key = `${name}/${result}`;
    this.taskStarts.set(key, (this.taskStarts.get(key) ?? 0) + 1);
  }

  private failStart(attempt: Attempt, reason: string, message: string): void {
    attempt.phase = 'ended';
    this.markFinished(attempt);
    this.enqueueReport(attempt, failedToStartReport(reason, message, new Date(this.clock.now()).toISOString()));
    this.maybeFinalize(attempt);
  }

  private markFinished(attempt: Attempt): void {
    const previous = this.finished.get(attempt.uid) ?? -1;
    this.finished.delete(attempt.uid); // re-insert: Map order is then least recently finished first
    this.finished.set(attempt.uid, Math.max(previous, attempt.number));
    if (this.finished.size > MAX_FINISHED_REMEMBERED) this.finished.delete(this.finished.keys().next().value as string);
  }

  /** Destroys an ended attempt once its final report is acknowledged and its logs delivered. */
  private maybeFinalize(attempt: Attempt): void {
    if (attempt.phase !== 'ended' || attempt.finalizing || this.detaching) return;
    if (!(attempt.state.endReported || attempt.dropped) || attempt.state.pendingReports.length > 0) return;
    if (!this.logs.isDone(attempt.taskId)) return;
    attempt.finalizing = true;
    this.track(
      (async () => {
        if (attempt.driver && attempt.state.handle) {
          try {
            await attempt.driver.destroy(attempt.taskId);
          } catch (err) {
            if (!(err instanceof TaskNotFoundError)) this.logger.warn('destroying the task failed', { taskId: attempt.taskId, error: errorMessage(err) });
          }
        }
        this.removeState(attempt);
        this.attempts.delete(attempt.taskId);
        this.untrackedDuringSweep?.add(attempt.taskId);
        this.logs.remove(attempt.taskId);
      })(),
    );
  }

  // ---- reports --------------------------------------------------------------------------

  /** Writes a report down (with the next sequence) and sends it when its turn comes. */
  private enqueueReport(attempt: Attempt, body: ReportBody): void {
    const s = attempt.state;
    s.pendingReports.push({ sequence: s.nextSequence, ...body });
    s.nextSequence++;
    if (body.state === 'RUNNING') s.runningReported = true;
    else s.endReported = true;
    this.persist(attempt);
    this.pumpReports();
  }

  /** Sends the oldest unsent report of every attempt that has one and none in flight. */
  private pumpReports(): void {
    if (this.lifetime.signal.aborted) return;
    const wait = this.reportRetryAt - this.clock.now();
    if (wait > 0) {
      this.reportTimer ??= this.clock.setTimeout(() => {
        this.reportTimer = undefined;
        this.pumpReports();
      }, wait);
      return;
    }
    for (const attempt of this.attempts.values()) {
      if (attempt.reportInFlight || attempt.state.pendingReports.length === 0) continue;
      attempt.reportInFlight = true;
      this.track(this.sendReport(attempt));
    }
  }

  private async sendReport(attempt: Attempt): Promise<void> {
    const head = attempt.state.pendingReports[0];
    if (!head) {
      attempt.reportInFlight = false;
      return;
    }
    try {
      const ack = await this.client.reportStatus(toStatusReport(this.options.nodeName, attempt.state.assignment, head), this.lifetime.signal);
      this.reportBackoff.reset();
      this.reportRetryAt = 0;
      if (ack.accepted) {
        if (attempt.state.pendingReports[0] === head) attempt.state.pendingReports.shift();
        this.persist(attempt);
      } else {
        this.dropAttempt(attempt, 'the control plane rejected its report: the attempt is no longer assigned to this node');
      }
    } catch (err) {
      if (this.lifetime.signal.aborted) return;
      const code = grpcCode(err);
      if (code === status.PERMISSION_DENIED) {
        this.dropAttempt(attempt, `the control plane denied its report: ${errorMessage(err)}`);
      } else if (code === status.INVALID_ARGUMENT) {
        this.logger.error('the control plane refused a report as invalid; dropping that report', { taskId: attempt.taskId, sequence: head.sequence, error: errorMessage(err) });
        if (attempt.state.pendingReports[0] === head) attempt.state.pendingReports.shift();
        this.persist(attempt);
      } else {
        if (this.clock.now() >= this.reportRetryAt) this.reportRetryAt = this.clock.now() + this.reportBackoff.next();
        this.logger.debug('report failed; will retry', { taskId: attempt.taskId, sequence: head.sequence, code: status[code], error: errorMessage(err) });
      }
    } finally {
      attempt.reportInFlight = false;
    }
    this.pumpReports();
    this.maybeFinalize(attempt);
  }

  /** The attempt is not this node's any more: stop it, report nothing more, ship no more logs. */
  private dropAttempt(attempt: Attempt, why: string): void {
    if (attempt.dropped) return;
    attempt.dropped = true;
    this.logger.warn('dropping attempt', { taskId: attempt.taskId, why });
    attempt.state.pendingReports = [];
    attempt.state.endReported = true;
    this.persist(attempt);
    this.markFinished(attempt);
    this.logs.abandon(attempt.taskId, why);
    if (attempt.live) this.requestStop(attempt.uid, attempt.taskId, REASON_STOPPED, why);
  }

  // ---- restart and shutdown -------------------------------------------------------------

  /** Re-adopts every attempt an earlier agent process left in the state dir. */
  private async recoverAttempts(): Promise<void> {
    const { attempts, broken } = this.state.loadAttempts();
    for (const b of broken) this.logger.error('ignoring an unreadable attempt state file', b);
    for (const [taskId, state] of attempts) {
      const attempt = new Attempt(taskId, state);
      this.attempts.set(taskId, attempt);
      if (!state.handle && state.endReported) {
        attempt.phase = 'ended'; // e.g. FAILED_TO_START, still to be delivered (or delivered, not yet removed)
        this.maybeFinalize(attempt);
        continue;
      }
      // Without a handle the agent stopped while starting it: the driver may still know it.
      const handle: TaskHandle = state.handle ?? {
        version: 1,
        driver: state.assignment.driver,
        taskId,
        startedAt: new Date(this.clock.now()).toISOString(),
        driverState: {},
      };
      const driver = this.options.drivers.find((d) => d.name === handle.driver);
      if (!driver) {
        this.endLost(attempt, `driver "${handle.driver}" is not configured on this agent any more`);
        continue;
      }
      const sink = this.logs.open(taskId, attempt.uid, attempt.number, state.logs);
      try {
        await driver.recover(handle, { logs: sink, stdoutOffset: state.logs.stdout.acked, stderrOffset: state.logs.stderr.acked });
      } catch (err) {
        this.logs.remove(taskId);
        if (state.handle) this.endLost(attempt, `could not re-adopt the task after an agent restart: ${errorMessage(err)}`);
        // Not the job's fault: re-queued like a lost node's attempt, without using a retry.
        else this.failStart(attempt, REASON_NODE_LOST, 'the agent stopped while starting the task (it was restarted) and no driver knows the task');
        continue;
      }
      attempt.driver = driver;
      attempt.phase = 'running';
      if (!state.handle) state.handle = handle;
      if (!state.runningReported && !state.endReported) this.enqueueReport(attempt, { state: 'RUNNING', reason: 'Started', message: '', startedAt: handle.startedAt });
      this.logger.info('re-adopted task', { taskId, driver: driver.name });
      await this.adoptRunning(attempt);
      // A stop that an earlier agent began is finished, with the reason it had.
      if (state.stopReason) this.requestStop(attempt.uid, taskId, state.stopReason.reason, state.stopReason.message);
    }
  }

  private endLost(attempt: Attempt, message: string): void {
    attempt.phase = 'ended';
    this.markFinished(attempt);
    this.logger.warn('lost track of a task', { taskId: attempt.taskId, message });
    if (!attempt.state.endReported) this.enqueueReport(attempt, { state: 'LOST', reason: REASON_LOST, message, finishedAt: new Date(this.clock.now()).toISOString() });
    this.maybeFinalize(attempt);
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.fenceTimer?.cancel();
    this.fenceTimer = undefined;
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
    if (this.shutdownMode === 'stop') {
      await this.announceShutdown();
      const uids = new Set([...this.attempts.values()].map((a) => a.uid).concat([...this.chains.keys()]));
      await Promise.all(
        [...uids].map((uid) =>
          this.serialize(uid, async () => {
            const live = [...this.attempts.values()].filter((a) => a.uid === uid && a.live);
            // Not the job's fault: the control plane re-queues it like a lost node's attempt.
            await Promise.all(live.map((a) => this.stopAttempt(a.taskId, REASON_NODE_LOST, 'the agent is shutting down and stopped the task')));
          }),
        ),
      );
      const deadline = this.clock.now() + (this.options.shutdownFlushTimeoutMs ?? 5_000);
      const never = new AbortController().signal;
      while (this.attempts.size > 0 && this.clock.now() < deadline) await sleep(this.clock, 20, never);
      if (this.attempts.size > 0)
        this.logger.warn('shutting down with undelivered reports or logs; the next agent start delivers them', { attempts: [...this.attempts.keys()] });
    } else {
      this.detaching = true;
      this.logger.info('detaching from running tasks; the next agent start re-adopts them', { attempts: [...this.attempts.keys()] });
    }
    for (const a of this.attempts.values()) a.timeoutTimer?.cancel();
    this.lifetime.abort();
    this.reportTimer?.cancel();
    this.reportTimer = undefined;
    await this.logs.close();
    await this.settleBackground();
    if (this.shutdownMode === 'stop') {
      await this.sweepOrphans(true); // nothing of ours survives a clean stop
      await this.settleBackground();
    }
    for (const driver of this.options.drivers) {
      try {
        await driver.close();
      } catch (err) {
        this.logger.warn('closing a driver failed', { driver: driver.name, error: errorMessage(err) });
      }
    }
    this.client.close();
  }

  // ---- orphan sweep ----------------------------------------------------------------------

  /** Sweeps now, then again one interval after each sweep ended (so sweeps never overlap). */
  private runPeriodicSweep(): void {
    this.sweepTimer = undefined;
    if (this.closing) return;
    this.track(
      this.sweepOrphans(false).finally(() => {
        if (this.closing) return;
        this.sweepTimer = this.clock.setTimeout(() => this.runPeriodicSweep(), this.options.orphanSweepIntervalMs ?? DEFAULT_ORPHAN_SWEEP_INTERVAL_MS);
      }),
    );
  }

  /**
   * Removes, with every healthy driver, the tasks marked as ours that no attempt tracks. Never
   * rejects. `final`: the sweep of a 'stop' shutdown, which runs while the agent is closing.
   */
  private async sweepOrphans(final: boolean): Promise<void> {
    this.untrackedDuringSweep = new Set();
    try {
      for (const { driver, info } of this.fingerprints) {
        if (!info.healthy) continue;
        if (this.closing && !final) return;
        await this.sweepDriver(driver, final);
      }
    } finally {
      this.untrackedDuringSweep = undefined;
    }
  }

  private async sweepDriver(driver: TaskDriver, final: boolean): Promise<void> {
    let owned: OwnedTask[];
    try {
      owned = await driver.listOwned();
    } catch (err) {
      this.logger.warn('listing the tasks marked as ours failed; skipping this sweep for the driver', { driver: driver.name, error: errorMessage(err) });
      return;
    }
    const orphans = owned.filter((task) => this.isOrphan(task.taskId));
    await Promise.all(
      orphans.map((task) =>
        // In the job's chain: a start of the same task runs before or after, never during.
        this.serialize(task.jobUid, async () => {
          if (!this.isOrphan(task.taskId) || (this.closing && !final)) return;
          this.logger.warn('removing an orphaned task: marked as ours, but no attempt of this agent owns it', {
            taskId: task.taskId,
            ref: task.ref,
            driver: driver.name,
            running: task.running,
          });
          try {
            await driver.removeOwned(task);
          } catch (err) {
            this.logger.error('removing an orphaned task failed; the next sweep tries again', { taskId: task.taskId, ref: task.ref, driver: driver.name, error: errorMessage(err) });
          }
        }),
      ),
    );
  }

  private isOrphan(taskId: string): boolean {
    return !this.attempts.has(taskId) && !(this.untrackedDuringSweep?.has(taskId) ?? false);
  }

  // ---- helpers ---------------------------------------------------------------------------

  private async settleBackground(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  private persist(attempt: Attempt): void {
    if (attempt.finalizing) return;
    try {
      this.state.saveAttempt(attempt.taskId, attempt.state);
    } catch (err) {
      this.logger.error('could not save attempt state', { taskId: attempt.taskId, error: errorMessage(err) });
    }
  }

  private removeState(attempt: Attempt): void {
    try {
      this.state.removeAttempt(attempt.taskId);
    } catch (err) {
      this.logger.error('could not remove attempt state', { taskId: attempt.taskId, error: errorMessage(err) });
    }
  }

  private track(p: Promise<unknown>): void {
    this.background.add(p);
    void p.finally(() => this.background.delete(p)).catch(() => undefined);
  }

  private newBackoff(): Backoff {
    return new Backoff({
      initialMs: this.options.backoffInitialMs ?? 500,
      maxMs: this.options.backoffMaxMs ?? 30_000,
      ...(this.options.random ? { random: this.options.random } : {}),
    });
  }
}

/** Why an assignment cannot be acted on, or undefined. */
function assignmentProblem(a: Assignment): string | undefined {
  if (!JOB_UID.test(a.uid)) return 'job.uid: must match [A-Za-z0-9][A-Za-z0-9._-]* (at most 128 characters)';
  if (!Number.isSafeInteger(a.attempt) || a.attempt < 0) return 'job.attempt: must be an integer >= 0';
  return undefined;
}

/**
 * An Agent; without `drivers`, one ProcessDriver keeping its tasks under
 * <stateDir>/drivers/process (the state dir is 0700, so they are private too).
 */
export function createAgent(options: Omit<AgentOptions, 'drivers'> & { drivers?: TaskDriver[] }): Agent {
  if (typeof options?.stateDir !== 'string' || !isAbsolute(options.stateDir)) throw new AgentOptionsError('stateDir', 'must be an absolute path');
  const drivers = options.drivers ?? [new ProcessDriver({ stateDir: join(options.stateDir, 'drivers', 'process') })];
  return new Agent({ ...options, drivers });
}

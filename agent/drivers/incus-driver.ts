// The incus driver: one Incus (or LXD) instance per attempt, driven over the REST API on the
// daemon's unix socket (incus-client.ts; no incus CLI).
//
// An attempt is: create the instance from a local image (`type: container`, or
// `virtual-machine` for workloadType 'vm') with our `user.openscheduler.*` keys, resource
// limits and volumes as `disk` devices, started at once; then one `exec` with recorded output
// running the task through a fixed /bin/sh wrapper (`taskExecCommand`): the user's argv is
// only ever "$@", run as a foreground command (default signal dispositions), through an inner
// shell that first writes its pid to /.openscheduler/pid and then execs it; the wrapper writes
// the exit status to /.openscheduler/exit. The image must therefore have /bin/sh.
//
// Watching: the exec operation is long-polled (`/wait`) for its `return` (the exit status);
// incusd forgets a finished operation after ~5 s, so a task that ended unobserved (agent down)
// is read back from /.openscheduler/exit. Output: incusd writes stdout/stderr to files readable
// during the run; tasks with a sink have them read from byte offsets (HTTP Range) by one
// shared timer (less often while a task is quiet), which also gives exact resume in `recover`.
//
// Stop: `kill -s SIG <pid>` by a second exec (shell builtins only), then after the grace period
// a forced stop of the instance (SIGKILL to all of it: 137). Exit codes 129..192 read as a
// signal. OOM: an exit of 137 of a task with a memory limit whose instance's peak memory use
// (`usage_peak` of GET state) reached the limit is OOMKilled — see `wasOomKilled`.
// destroy = forced stop + delete; close() leaves instances alone.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { errorMessage, type Logger, silentLogger } from '../../controllers/runtime/logger.js';
import {
  IncusClient,
  IncusError,
  type IncusExecRequest,
  type IncusInstance,
  IncusNotFoundError,
  type IncusServerInfo,
} from './incus-client.js';
import {
  type DriverCapabilities,
  DriverError,
  type ExitResult,
  type Fingerprint,
  InvalidTaskConfigError,
  type OwnedTask,
  type RecoverOptions,
  TaskAlreadyExistsError,
  type TaskConfig,
  type TaskDriver,
  type TaskHandle,
  type TaskLogSink,
  TaskNotFoundError,
  TaskNotRunningError,
  TaskRecoveryError,
  TaskStartError,
  type TaskStats,
  type TaskStatus,
  type TaskVolume,
  taskIdOf,
  untilAborted,
} from './task-driver.js';
import { checkCommonTaskFields } from './task-config-checks.js';
import { checkTaskVolumes } from './task-volumes.js';

export interface IncusDriverOptions {
  /** Written into every instance's user.* keys; `listOwned` lists only this node's instances. */
  nodeName: string;
  /**
   * The daemon's unix socket. Default: $INCUS_SOCKET, else the first existing of
   * `INCUS_SOCKET_CANDIDATES` (LXD speaks the same API).
   */
  socketPath?: string;
  /** Incus project of the instances. Default 'default'. */
  project?: string;
  /** Storage pool of the instances' root disk. Default: the default profile's root disk. */
  storagePool?: string;
  /** Host directories volumes may come from (see checkTaskVolumes). Default: none. */
  volumeRoots?: string[];
  /** How often new output is looked for, in ms. Default 100. */
  pollIntervalMs?: number;
  logger?: Logger;
}

/** The `user.*` config keys that mark an instance as ours. */
export const INCUS_CONFIG_KEYS = {
  managed: 'user.openscheduler.managed',
  node: 'user.openscheduler.node',
  taskId: 'user.openscheduler.task-id',
  jobUid: 'user.openscheduler.job-uid',
  attempt: 'user.openscheduler.attempt',
  namespace: 'user.openscheduler.namespace',
  job: 'user.openscheduler.job',
} as const;

/** Where the daemon's socket is looked for, in order, when neither option nor $INCUS_SOCKET names one. */
export const INCUS_SOCKET_CANDIDATES = ['/var/lib/incus/unix.socket', '/var/snap/lxd/common/lxd/unix.socket', '/var/lib/lxd/unix.socket'];

/** The directory inside the instance where the wrapper keeps the task's pid and exit status. */
export const TASK_STATE_DIR = '/.openscheduler';
const PID_FILE = `${TASK_STATE_DIR}/pid`;
const EXIT_FILE = `${TASK_STATE_DIR}/exit`;
const ERROR_FILE = `${TASK_STATE_DIR}/error`;

/** Used when a task's env has no PATH. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Variables that incusd (HOME, USER, LANG), LXC (container) or the wrapper's shells (PWD,
 * OLDPWD, SHLVL) add to a task's environment: unset before the exec unless the task sets them.
 * (A SHLVL the task sets reaches it incremented by the two shells.)
 */
const ADDED_ENV_NAMES = ['HOME', 'USER', 'LANG', 'container', 'PWD', 'OLDPWD', 'SHLVL'] as const;

const FINGERPRINT_TIMEOUT_MS = 5_000;
/** How long `start` waits for the task's pid file. */
const START_TIMEOUT_MS = 30_000;
/** How long to wait for the exec operation to end after the instance was force-stopped. */
const KILL_SETTLE_MS = 10_000;
/** One long poll of an operation, in seconds. */
const OPERATION_WAIT_SECONDS = 30;
/** The most bytes of output read by one request. */
const OUTPUT_CHUNK_BYTES = 1024 * 1024;
/** Peak memory use at or above this fraction of the limit, with exit 137, reads as an OOM kill. */
const OOM_PEAK_FRACTION = 0.98;

const taskIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.\d+$/;
/** Env names the wrapper's /bin/sh passes on (others it drops silently). */
const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;
const instanceNamePattern = /^[a-z][a-z0-9-]{0,62}$/;

/** Signal names by number (the first name of a number: SIGABRT, not SIGIOT). */
const signalNames = new Map<number, NodeJS.Signals>();
for (const [name, number] of Object.entries(osConstants.signals)) {
  if (!signalNames.has(number)) signalNames.set(number, name as NodeJS.Signals);
}

/**
 * The inner shell: `$1` is the working directory, then the argv. It checks both (a launch
 * problem goes to /.openscheduler/error, status 126/127), writes its pid, and execs the argv.
 * `%UNSET%` is replaced by names from ADDED_ENV_NAMES only — never by anything of the task.
 */
const INNER_SCRIPT = [
  'shift',
  `if ! cd "$1" 2>/dev/null; then printf 'working directory %s does not exist in the instance (or is not a directory)\\n' "$1" >${ERROR_FILE}; exit 126; fi`,
  'shift',
  `if ! command -v "$1" >/dev/null 2>&1; then printf '%s: not found in the instance (PATH=%s)\\n' "$1" "$PATH" >${ERROR_FILE}; exit 127; fi`,
  '%UNSET%',
  `echo $$ >${PID_FILE}`,
  'exec "$@"',
].join('\n');

/**
 * The outer shell: runs the inner one (its script is `$1`) in the foreground — so the task
 * keeps default signal dispositions — and records its status. It assigns no variable before
 * the task ends: the task's environment reaches the inner shell untouched.
 */
const OUTER_SCRIPT = ['/bin/sh -c "$1" openscheduler-exec "$@"', 's=$?', `echo "$s" >${EXIT_FILE}`, 'exit "$s"'].join('\n');

/** Sends signal `$1` to the task (its pid file), unless it has ended. Shell builtins only. */
const SIGNAL_SCRIPT = `[ -e ${EXIT_FILE} ] || { read p <${PID_FILE} && kill -s "$1" "$p"; }`;
/** Succeeds while the task's process lives. Shell builtins only. */
const ALIVE_SCRIPT = `[ ! -e ${EXIT_FILE} ] && read p <${PID_FILE} && kill -0 "$p"`;

/**
 * The exec argv of a task: `/bin/sh -c OUTER openscheduler-task INNER workingDir argv...`.
 * `unset` lists the names of ADDED_ENV_NAMES to remove from the task's environment.
 */
export function taskExecCommand(argv: readonly string[], workingDir: string, unset: readonly string[]): string[] {
  for (const name of unset) {
    if (!(ADDED_ENV_NAMES as readonly string[]).includes(name)) throw new DriverError(`refusing to unset ${JSON.stringify(name)}`);
  }
  const inner = INNER_SCRIPT.replace('%UNSET%', unset.length > 0 ? `unset ${unset.join(' ')}` : ':');
  return ['/bin/sh', '-c', OUTER_SCRIPT, 'openscheduler-task', inner, workingDir, ...argv];
}

/**
 * The instance name of a task: `os-<taskId>` with `.` as `-` when the task id is lower case
 * letters, digits and `-` (plus the attempt's dot); otherwise sanitised to [a-z0-9-] and
 * suffixed with `-h<hash of the task id>` (never a digits-only suffix, so the two forms never
 * collide). At most 63 characters, starting with a letter.
 */
export function instanceNameOf(taskId: string): string {
  const dot = taskId.lastIndexOf('.');
  const jobUid = taskId.slice(0, dot);
  const attempt = taskId.slice(dot + 1);
  const plain = `os-${jobUid}-${attempt}`;
  if (dot > 0 && /^[a-z0-9-]+$/.test(jobUid) && /^\d+$/.test(attempt) && plain.length <= 63) return plain;
  const hash = `-h${createHash('sha256').update(taskId).digest('hex').slice(0, 12)}`;
  const sanitised = taskId
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63 - 'os-'.length - hash.length);
  return `os-${sanitised}${hash}`;
}

/** The socket to use: $INCUS_SOCKET, else the first existing candidate; undefined when none exists. */
export function findIncusSocket(env: NodeJS.ProcessEnv = process.env, exists: (path: string) => boolean = existsSync): string | undefined {
  if (env.INCUS_SOCKET) return env.INCUS_SOCKET;
  const candidates = env.INCUS_DIR ? [join(env.INCUS_DIR, 'unix.socket'), ...INCUS_SOCKET_CANDIDATES] : INCUS_SOCKET_CANDIDATES;
  return candidates.find((path) => exists(path));
}

/** Checks a TaskConfig for this driver; the volumes, normalised. Throws InvalidTaskConfigError. */
export function validateIncusTask(task: TaskConfig, volumeRoots: readonly string[]): TaskVolume[] {
  const bad = (field: string, rule: string): never => {
    throw new InvalidTaskConfigError(field, rule);
  };
  checkCommonTaskFields(task, {
    commandRequired: true,
    envName: { pattern: envNamePattern, rule: 'name must match [A-Za-z_][A-Za-z0-9_]* (the incus driver starts tasks through /bin/sh, which drops other names)' },
  });
  if (task.image === undefined || task.image === '') bad('image', 'is required by the incus driver: an image alias or fingerprint on this node’s incus server');
  if (typeof task.image !== 'string' || task.image.length > 255 || hasControlOrSpace(task.image))
    bad('image', 'must be an image alias or fingerprint: at most 255 characters, no whitespace or control characters');
  if ((task.image as string).includes(':'))
    bad('image', 'must be an alias or fingerprint on the local incus server: "remote:alias" is not supported (this driver pulls nothing; import the image first)');
  if (task.workloadType !== undefined && task.workloadType !== 'container' && task.workloadType !== 'vm')
    bad('workloadType', "must be 'container' (the default) or 'vm' for the incus driver");
  if (task.network !== undefined) bad('network', 'is not supported by the incus driver: instances get no network device');
  return checkTaskVolumes(task.volumes, volumeRoots);
}

/** Whether `s` has whitespace or a control character. */
function hasControlOrSpace(s: string): boolean {
  return [...s].some((c) => c.trim() === '' || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** What incus said, for messages: its own error text when there is one. */
function incusText(err: unknown): string {
  if (err instanceof IncusError) return err.incusError;
  return errorMessage(err);
}

interface TrackedTask {
  taskId: string;
  instance: string;
  operationId: string;
  startedAt: string;
  memoryBytes: number | undefined;
  logs: TaskLogSink | undefined;
  offsets: { stdout: number; stderr: number };
  exit: ExitResult | undefined;
  exited: Promise<ExitResult>;
  resolveExit: (exit: ExitResult) => void;
  rejectExit: (err: Error) => void;
  /** When the wrapper recorded the exit, if read from its file. */
  endedAt: string | undefined;
  /** Set once the end is being recorded (output drained, OOM looked at). */
  concluding: boolean;
  /** Why incus could not run the wrapper at all (exec operation failed). */
  launchFailure: string | undefined;
  stopRequested: boolean;
  /** The instance was (or is being) force-stopped by this driver: the task was SIGKILLed. */
  forceStopped: boolean;
  forceStop: Promise<void> | undefined;
  /** This driver stopped the instance (it is not restarted). */
  instanceStopped: boolean;
  /** Aborts this task's requests when it is no longer tracked. */
  abort: AbortController;
  draining: Promise<boolean> | undefined;
  pollEveryMs: number;
  nextPollAt: number;
}

export class IncusDriver implements TaskDriver {
  readonly name = 'incus';
  readonly capabilities: DriverCapabilities = {
    sendSignals: true,
    memoryLimit: 'cgroup',
    cpuLimit: 'cgroup',
    fsIsolation: 'image',
    recover: true,
    stats: true,
  };

  private readonly nodeName: string;
  private readonly project: string;
  private readonly storagePool: string | undefined;
  /** The default profile's root-disk pool, read at each fingerprint (or at the first start before one). */
  private profilePool: string | undefined;
  private readonly volumeRoots: string[];
  private readonly pollIntervalMs: number;
  private readonly maxIdlePollMs: number;
  private readonly logger: Logger;
  private readonly configuredSocket: string | undefined;
  private client: IncusClient | undefined;
  private serverInfo: Promise<IncusServerInfo> | undefined;
  private vmUnavailable: Promise<string> | undefined;
  private readonly tasks = new Map<string, TrackedTask>();
  /** Task ids being started or recovered. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private ticker: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: IncusDriverOptions) {
    if (typeof options.nodeName !== 'string' || options.nodeName === '') throw new DriverError('nodeName: must be a non-empty string');
    if (options.socketPath !== undefined && !isAbsolute(options.socketPath)) throw new DriverError('socketPath: must be an absolute path');
    this.nodeName = options.nodeName;
    this.project = options.project ?? 'default';
    this.storagePool = options.storagePool;
    this.volumeRoots = [...(options.volumeRoots ?? [])];
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.maxIdlePollMs = Math.max(this.pollIntervalMs, 1_000);
    this.logger = options.logger ?? silentLogger;
    this.configuredSocket = options.socketPath;
  }

  async fingerprint(): Promise<Fingerprint> {
    const attributes: Record<string, string> = { 'driver.incus.project': this.project };
    const socketPath = this.socketPath();
    if (socketPath === undefined)
      return { healthy: false, detail: `no incus socket found ($INCUS_SOCKET unset; tried ${INCUS_SOCKET_CANDIDATES.join(', ')})`, attributes };
    attributes['driver.incus.socket'] = socketPath;
    if (!existsSync(socketPath)) return { healthy: false, detail: `no incus socket at ${socketPath}`, attributes };
    try {
      const client = this.api();
      const info = await client.serverInfo(FINGERPRINT_TIMEOUT_MS);
      this.serverInfo = Promise.resolve(info);
      const env = info.environment ?? {};
      attributes['driver.incus.server'] = env.server ?? 'unknown';
      attributes['driver.incus.version'] = env.server_version ?? 'unknown';
      attributes['driver.incus.instanceDrivers'] = env.driver ?? '';
      attributes['driver.incus.vmSupported'] = String(vmSupported(info));
      if (info.auth !== 'trusted') return { healthy: false, detail: `incusd does not trust this client (auth: ${info.auth}); the agent needs the socket's admin access`, attributes };
      if (!info.api_extensions.includes('container_exec_recording'))
        return { healthy: false, detail: 'the server lacks the API extension container_exec_recording (exec with recorded output)', attributes };
      if (this.storagePool === undefined) this.profilePool = await this.defaultProfilePool(client);
      const pool = this.storagePool ?? this.profilePool;
      if (pool === undefined) return { healthy: false, detail: `the default profile of project ${this.project} has no root disk and no storagePool is configured`, attributes };
      attributes['driver.incus.storagePool'] = pool;
      return { healthy: true, detail: `${env.server ?? 'incus'} ${env.server_version ?? ''} ready`.replace(/\s+/g, ' '), attributes };
    } catch (err) {
      return { healthy: false, detail: `incus at ${socketPath} unusable: ${incusText(err)}`, attributes };
    }
  }

  async start(config: TaskConfig): Promise<TaskHandle> {
    if (this.closed) throw new DriverError('the incus driver is closed');
    const volumes = validateIncusTask(config, this.volumeRoots);
    const taskId = taskIdOf(config);
    if (this.tasks.has(taskId) || this.pending.has(taskId)) throw new TaskAlreadyExistsError(taskId);
    const launching = this.launch(config, taskId, volumes);
    this.pending.set(taskId, launching);
    try {
      return await launching;
    } finally {
      this.pending.delete(taskId);
    }
  }

  async recover(handle: TaskHandle, options: RecoverOptions = {}): Promise<void> {
    if (this.closed) throw new DriverError('the incus driver is closed');
    if (handle?.driver !== this.name) throw new TaskRecoveryError(`handle is for driver ${String(handle?.driver)}, not ${this.name}`);
    const taskId = handle.taskId;
    if (typeof taskId !== 'string' || !taskIdPattern.test(taskId)) throw new TaskRecoveryError(`handle.taskId ${JSON.stringify(taskId)} is not a task id`);
    const state = handle.driverState ?? {};
    const instance = state.instance;
    const operationId = state.operationId;
    if (typeof instance !== 'string' || !instanceNamePattern.test(instance)) throw new TaskRecoveryError(`task ${taskId}: the handle names no instance`);
    if (typeof operationId !== 'string' || operationId === '') throw new TaskRecoveryError(`task ${taskId}: the handle names no exec operation`);
    if (state.project !== undefined && state.project !== this.project)
      throw new TaskRecoveryError(`task ${taskId}: its instance is in project ${String(state.project)}, this driver uses ${this.project}`);
    if (this.tasks.has(taskId)) return;
    const inFlight = this.pending.get(taskId);
    if (inFlight) {
      await inFlight.catch(() => undefined);
      if (this.tasks.has(taskId)) return;
    }
    const recovering = (async () => {
      let found: IncusInstance;
      try {
        found = await this.api().instance(instance);
      } catch (err) {
        if (err instanceof IncusNotFoundError) throw new TaskRecoveryError(`task ${taskId}: instance ${instance} is gone`);
        throw new TaskRecoveryError(`task ${taskId}: cannot read instance ${instance}: ${incusText(err)}`, { cause: err });
      }
      if (found.config[INCUS_CONFIG_KEYS.taskId] !== taskId || found.config[INCUS_CONFIG_KEYS.managed] !== 'true')
        throw new TaskRecoveryError(`task ${taskId}: instance ${instance} is not this task's (its ${INCUS_CONFIG_KEYS.taskId} is ${JSON.stringify(found.config[INCUS_CONFIG_KEYS.taskId])})`);
      if (this.tasks.has(taskId) || this.closed) return;
      const limit = Number(found.config['limits.memory']);
      this.track({
        taskId,
        instance,
        operationId,
        startedAt: typeof handle.startedAt === 'string' ? handle.startedAt : found.created_at,
        memoryBytes: Number.isSafeInteger(limit) && limit > 0 ? limit : undefined,
        logs: options.logs,
        offsets: { stdout: options.stdoutOffset ?? 0, stderr: options.stderrOffset ?? 0 },
      });
    })();
    this.pending.set(taskId, recovering);
    try {
      await recovering;
    } finally {
      if (this.pending.get(taskId) === recovering) this.pending.delete(taskId);
    }
  }

  async wait(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
    return untilAborted(this.get(taskId).exited, signal);
  }

  async stop(taskId: string, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitResult> {
    const task = this.get(taskId);
    if (task.exit || task.concluding) return task.exited;
    const signalName = signal.replace(/^SIG/, '');
    if (!(`SIG${signalName}` in osConstants.signals)) throw new DriverError(`stop: unknown signal ${JSON.stringify(signal)}`);
    task.stopRequested = true;
    if (signal !== 'SIGKILL') {
      try {
        await this.signal(task, signalName);
      } catch (err) {
        // The grace period still applies; the forced stop below ends the task anyway.
        this.logger.warn('incus: signalling a task failed', { taskId, signal, error: incusText(err) });
      }
      const first = await this.exitWithin(task, Math.max(0, graceMs));
      if (first) return first;
    }
    return this.kill(task);
  }

  async destroy(taskId: string): Promise<void> {
    const task = this.get(taskId);
    if (task.concluding && !task.exit) await task.exited.catch(() => undefined);
    if (!task.exit) {
      task.stopRequested = true;
      await this.kill(task);
    } else {
      await this.forceStop(task);
    }
    try {
      await this.api().deleteInstance(task.instance);
    } catch (err) {
      if (!(err instanceof IncusNotFoundError)) throw new DriverError(`task ${taskId}: cannot delete instance ${task.instance}: ${incusText(err)}`, { cause: err });
    }
    this.untrack(task);
  }

  async inspect(taskId: string): Promise<TaskStatus> {
    const task = this.get(taskId);
    return {
      taskId,
      state: task.exit ? 'exited' : 'running',
      startedAt: task.startedAt,
      ...(task.exit ? { exit: task.exit } : {}),
      details: {
        instance: task.instance,
        project: this.project,
        operationId: task.operationId,
        stdoutOffset: task.offsets.stdout,
        stderrOffset: task.offsets.stderr,
      },
    };
  }

  async stats(taskId: string): Promise<TaskStats> {
    const task = this.get(taskId);
    if (task.exit) throw new TaskNotRunningError(taskId);
    const state = await this.api().instanceState(task.instance);
    if (task.exit || state.status !== 'Running') throw new TaskNotRunningError(taskId);
    return { memoryRssBytes: state.memory.usage, cpuTimeMillis: Math.round(state.cpu.usage / 1e6) };
  }

  async listOwned(): Promise<OwnedTask[]> {
    const client = this.api();
    const instances = await client.instances();
    const owned: OwnedTask[] = [];
    await Promise.all(
      instances.map(async (instance) => {
        const config = instance.config ?? {};
        if (config[INCUS_CONFIG_KEYS.managed] !== 'true' || config[INCUS_CONFIG_KEYS.node] !== this.nodeName) return;
        const taskId = config[INCUS_CONFIG_KEYS.taskId];
        const jobUid = config[INCUS_CONFIG_KEYS.jobUid];
        const attempt = Number(config[INCUS_CONFIG_KEYS.attempt]);
        if (typeof taskId !== 'string' || typeof jobUid !== 'string' || !Number.isSafeInteger(attempt) || taskId !== `${jobUid}.${attempt}`) {
          this.logger.warn('incus: an instance carries our marks but no valid task id; skipped', { instance: instance.name });
          return;
        }
        // Running: the instance runs and the wrapper has not recorded an exit.
        let running = instance.status === 'Running';
        if (running) running = (await this.readExitFile(instance.name).catch(() => undefined)) === undefined;
        owned.push({ taskId, jobUid, attempt, running, ref: instance.name });
      }),
    );
    return owned.sort((a, b) => a.ref.localeCompare(b.ref));
  }

  async removeOwned(task: OwnedTask): Promise<void> {
    const tracked = this.tasks.get(task.taskId);
    if (tracked && tracked.instance === task.ref) return this.destroy(task.taskId);
    const client = this.api();
    let instance: IncusInstance;
    try {
      instance = await client.instance(task.ref);
    } catch (err) {
      if (err instanceof IncusNotFoundError) return;
      throw new DriverError(`cannot read instance ${task.ref}: ${incusText(err)}`, { cause: err });
    }
    if (instance.config[INCUS_CONFIG_KEYS.managed] !== 'true' || instance.config[INCUS_CONFIG_KEYS.node] !== this.nodeName)
      throw new DriverError(`instance ${task.ref} is not marked as this node's (${this.nodeName}); not touching it`);
    await this.removeInstance(task.ref);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    for (const task of this.tasks.values()) {
      task.abort.abort(new DriverError('the incus driver is closed'));
      if (!task.exit) task.rejectExit(new DriverError(`driver closed while waiting for task ${task.taskId}`));
    }
    this.tasks.clear();
    this.client?.close();
    this.client = undefined;
  }

  // ---- start ----

  private async launch(config: TaskConfig, taskId: string, volumes: TaskVolume[]): Promise<TaskHandle> {
    const image = config.image as string;
    const vm = config.workloadType === 'vm';
    let client: IncusClient;
    let info: IncusServerInfo;
    try {
      client = this.api();
      info = await this.server();
    } catch (err) {
      throw new TaskStartError(`task ${taskId}: incus is not available: ${incusText(err)}`, { cause: err });
    }
    if (vm && !vmSupported(info)) {
      const reason = await this.vmUnavailableReason().catch((err: unknown) => `the server lists no VM driver (${incusText(err)})`);
      throw new TaskStartError(`task ${taskId}: VMs are not available on this node: ${reason}`);
    }
    const name = instanceNameOf(taskId);
    const createStart = info.api_extensions.includes('instance_create_start');
    let source: Record<string, string>;
    try {
      source = await this.imageSource(image);
    } catch (err) {
      throw new TaskStartError(`task ${taskId}: cannot look up image ${JSON.stringify(image)}: ${incusText(err)}`, { cause: err });
    }
    // No profile: an instance inherits nothing (a profile's NIC would give the task a network);
    // its only devices are its root disk and its volumes.
    this.profilePool ??= this.storagePool === undefined ? await this.defaultProfilePool(client).catch(() => undefined) : undefined;
    const pool = this.storagePool ?? this.profilePool;
    if (pool === undefined) throw new TaskStartError(`task ${taskId}: no storage pool: the default profile has no root disk; give the agent --incus-storage-pool`);
    const body = {
      name,
      type: vm ? 'virtual-machine' : 'container',
      source,
      profiles: [],
      config: this.instanceConfig(config, taskId),
      devices: this.instanceDevices(pool, volumes),
      ...(createStart ? { start: true } : {}),
    };
    try {
      await client.createInstance(body);
    } catch (err) {
      throw await this.createFailure(err, taskId, name, image, vm);
    }
    try {
      if (!createStart) await client.changeState(name, { action: 'start' });
      await client.writeFile(name, TASK_STATE_DIR, { type: 'directory' }, '0700');
      const env = { ...config.env };
      if (env.PATH === undefined) env.PATH = DEFAULT_PATH;
      const unset = ADDED_ENV_NAMES.filter((n) => !(n in config.env));
      const exec: IncusExecRequest = {
        command: taskExecCommand([...config.command, ...config.args], config.workingDir ?? '/', unset),
        environment: env,
        cwd: '/',
        'wait-for-websocket': false,
        interactive: false,
        'record-output': true,
      };
      const operationId = await client.exec(name, exec);
      const task = this.track({
        taskId,
        instance: name,
        operationId,
        startedAt: new Date().toISOString(),
        memoryBytes: config.resources?.memoryBytes,
        logs: config.logs,
        offsets: { stdout: 0, stderr: 0 },
      });
      try {
        await this.untilStarted(task);
      } catch (err) {
        this.untrack(task);
        throw err;
      }
      return this.handleOf(task);
    } catch (err) {
      await this.removeInstance(name).catch((cleanupErr: unknown) =>
        this.logger.warn('incus: removing the instance of a failed start failed', { instance: name, error: incusText(cleanupErr) }),
      );
      if (err instanceof DriverError) throw err;
      throw new TaskStartError(`task ${taskId}: cannot start it in instance ${name}: ${incusText(err)}`, { cause: err });
    }
  }

  private instanceConfig(config: TaskConfig, taskId: string): Record<string, string> {
    const keys: Record<string, string> = {
      [INCUS_CONFIG_KEYS.managed]: 'true',
      [INCUS_CONFIG_KEYS.node]: this.nodeName,
      [INCUS_CONFIG_KEYS.taskId]: taskId,
      [INCUS_CONFIG_KEYS.jobUid]: config.jobUid,
      [INCUS_CONFIG_KEYS.attempt]: String(config.attempt),
      [INCUS_CONFIG_KEYS.namespace]: config.namespace,
      [INCUS_CONFIG_KEYS.job]: config.name,
      'security.privileged': 'false',
      // After a host reboot the instance stays down (its task cannot resume): recover reports it Lost.
      'boot.autostart': 'false',
    };
    const { memoryBytes, cpuMillis } = config.resources ?? {};
    if (memoryBytes !== undefined) keys['limits.memory'] = String(memoryBytes);
    if (cpuMillis !== undefined) {
      keys['limits.cpu'] = String(Math.max(1, Math.ceil(cpuMillis / 1000)));
      keys['limits.cpu.allowance'] = `${Math.max(1, Math.ceil(cpuMillis / 10))}ms/100ms`;
    }
    return keys;
  }

  private instanceDevices(pool: string, volumes: TaskVolume[]): Record<string, Record<string, string>> {
    const devices: Record<string, Record<string, string>> = { root: { type: 'disk', path: '/', pool } };
    volumes.forEach((v, i) => {
      devices[`os-volume-${i}`] = { type: 'disk', source: v.hostPath, path: v.mountPath, readonly: String(v.readOnly) };
    });
    return devices;
  }

  /** The create request's source: an alias, or a fingerprint (hex that is no alias). */
  private async imageSource(image: string): Promise<Record<string, string>> {
    if (/^[0-9a-f]{12,64}$/.test(image)) {
      try {
        await this.api().get(`/1.0/images/aliases/${encodeURIComponent(image)}`);
      } catch (err) {
        if (err instanceof IncusNotFoundError) return { type: 'image', fingerprint: image };
        throw err;
      }
    }
    return { type: 'image', alias: image };
  }

  /** The error to throw for a failed create. */
  private async createFailure(err: unknown, taskId: string, name: string, image: string, vm: boolean): Promise<DriverError> {
    const text = incusText(err);
    if (/already exists|UNIQUE constraint/i.test(text)) return new TaskAlreadyExistsError(taskId);
    const client = this.api();
    const isFingerprint = /^[0-9a-f]{12,64}$/.test(image);
    const found = await client
      .get<{ type?: string }>(isFingerprint ? `/1.0/images/${image}` : `/1.0/images/aliases/${encodeURIComponent(image)}`)
      .catch((lookupErr: unknown): { type?: string } | undefined => (lookupErr instanceof IncusNotFoundError ? undefined : {}));
    if (found === undefined)
      return new TaskStartError(
        `task ${taskId}: image ${JSON.stringify(image)} is not on this node's incus server (project ${this.project}); this driver pulls nothing: import or copy it there first`,
        { cause: err },
      );
    const kind = vm ? 'virtual-machine' : 'container';
    if (found.type !== undefined && found.type !== kind)
      return new TaskStartError(`task ${taskId}: image ${JSON.stringify(image)} is a ${found.type} image, not a ${kind} image: ${text}`, { cause: err });
    return new TaskStartError(`task ${taskId}: incus could not create instance ${name}: ${text}`, { cause: err });
  }

  /** incusd's own reason why it cannot create a VM (it refuses before creating anything). */
  private vmUnavailableReason(): Promise<string> {
    this.vmUnavailable ??= (async () => {
      const probe = `os-vm-probe-${createHash('sha256').update(`${process.pid}-${Date.now()}-${Math.random()}`).digest('hex').slice(0, 12)}`;
      const client = this.api();
      const drivers = (await this.server()).environment?.driver ?? 'unknown';
      try {
        await client.createInstance({ name: probe, type: 'virtual-machine', source: { type: 'none' } });
      } catch (err) {
        return `${incusText(err)} (instance drivers: ${drivers})`;
      }
      await this.removeInstance(probe).catch(() => undefined);
      return `the server lists no VM driver (instance drivers: ${drivers})`;
    })();
    return this.vmUnavailable;
  }

  /** Resolves once the task's pid file exists (it runs) or it ended normally; throws TaskStartError otherwise. */
  private async untilStarted(task: TrackedTask): Promise<void> {
    const client = this.api();
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (let pauseMs = 2; ; pauseMs = Math.min(pauseMs * 2, 50)) {
      const ended = task.exit !== undefined || task.concluding;
      if (ended) await task.exited.catch(() => undefined);
      if (task.launchFailure !== undefined)
        throw new TaskStartError(`task ${task.taskId}: incus cannot run it (the image must provide /bin/sh): ${task.launchFailure}`);
      const pid = await client.readFile(task.instance, PID_FILE).catch((err: unknown) => {
        if (err instanceof IncusNotFoundError) return undefined;
        throw err;
      });
      if (pid !== undefined && pid.content.length > 0) return;
      if (ended) {
        const problem = await client.readFile(task.instance, ERROR_FILE).catch(() => undefined);
        const text = problem?.content.toString('utf8').trim();
        throw new TaskStartError(`task ${task.taskId}: cannot start: ${text || `it ended before it ran (${task.exit?.message ?? task.exit?.exitCode})`}`);
      }
      if (Date.now() > deadline) throw new TaskStartError(`task ${task.taskId}: did not start within ${START_TIMEOUT_MS} ms`);
      await delay(pauseMs);
    }
  }

  // ---- watching ----

  private track(options: Pick<TrackedTask, 'taskId' | 'instance' | 'operationId' | 'startedAt' | 'memoryBytes' | 'logs' | 'offsets'>): TrackedTask {
    let resolveExit!: (exit: ExitResult) => void;
    let rejectExit!: (err: Error) => void;
    const exited = new Promise<ExitResult>((resolve, reject) => {
      resolveExit = resolve;
      rejectExit = reject;
    });
    exited.catch(() => {}); // a rejection (driver closed) is only for those who wait
    const task: TrackedTask = {
      ...options,
      offsets: { ...options.offsets },
      exit: undefined,
      exited,
      resolveExit,
      rejectExit,
      endedAt: undefined,
      concluding: false,
      launchFailure: undefined,
      stopRequested: false,
      forceStopped: false,
      forceStop: undefined,
      instanceStopped: false,
      abort: new AbortController(),
      draining: undefined,
      pollEveryMs: this.pollIntervalMs,
      nextPollAt: 0,
    };
    this.tasks.set(task.taskId, task);
    void this.watch(task).catch((err: unknown) => {
      if (this.live(task)) this.logger.error('incus: watching a task failed', { taskId: task.taskId, error: incusText(err) });
    });
    if (task.logs && !this.ticker) this.ticker = setInterval(() => this.tick(), this.pollIntervalMs);
    return task;
  }

  private untrack(task: TrackedTask): void {
    task.abort.abort(new DriverError(`task ${task.taskId} is no longer tracked`));
    if (this.tasks.get(task.taskId) === task) this.tasks.delete(task.taskId);
  }

  private live(task: TrackedTask): boolean {
    return !this.closed && !task.abort.signal.aborted && task.exit === undefined;
  }

  /** Long-polls the exec operation until the task ended; falls back to the exit file. */
  private async watch(task: TrackedTask): Promise<void> {
    let failures = 0;
    while (this.live(task) && !task.concluding) {
      try {
        const op = await this.api().waitOperation(task.operationId, OPERATION_WAIT_SECONDS, task.abort.signal);
        failures = 0;
        if (op.status_code === 103 || op.status_code < 200) continue; // still running
        const code = op.metadata?.return;
        if (typeof code === 'number') await this.conclude(task, code);
        else await this.settleWithoutOperation(task);
        return;
      } catch (err) {
        if (!this.live(task)) return;
        if (err instanceof IncusNotFoundError) {
          // incusd forgot the operation (it ended a while ago, or incusd restarted).
          await this.settleWithoutOperation(task);
          return;
        }
        if (err instanceof IncusError) {
          // incusd fails the operation of a command that exits 126 or 127 ("Command not
          // executable", "Command not found"): the wrapper's record tells a task's own status
          // from a wrapper that could not run at all.
          const recorded = await this.readExitFile(task.instance, task).catch(() => undefined);
          if (recorded !== undefined) {
            await this.conclude(task, recorded);
            return;
          }
          task.launchFailure = err.incusError;
          await this.conclude(task, undefined, `incus could not run the task: ${err.incusError}`);
          return;
        }
        failures++;
        this.logger.warn('incus: waiting for a task failed; retrying', { taskId: task.taskId, error: incusText(err) });
        await delay(Math.min(250 * 2 ** failures, 5_000), task.abort.signal);
      }
    }
  }

  /** The task's end without its operation: the exit file, else whether its process still lives. */
  private async settleWithoutOperation(task: TrackedTask): Promise<void> {
    const client = this.api();
    while (this.live(task) && !task.concluding) {
      try {
        const recorded = await this.readExitFile(task.instance, task);
        if (recorded !== undefined) return await this.conclude(task, recorded);
        const state = await client.instanceState(task.instance);
        if (state.status !== 'Running') {
          const again = await this.readExitFile(task.instance, task);
          if (again !== undefined) return await this.conclude(task, again);
          return await this.conclude(task, task.forceStopped ? 137 : undefined, `instance ${task.instance} is ${state.status} and holds no exit status`);
        }
        if (!(await this.taskAlive(task))) {
          const late = await this.readExitFile(task.instance, task);
          return await this.conclude(task, late, late === undefined ? 'the task ended without recording its exit status' : undefined);
        }
      } catch (err) {
        if (!this.live(task)) return;
        if (err instanceof IncusNotFoundError) return await this.conclude(task, undefined, `instance ${task.instance} is gone: ${err.incusError}`);
        this.logger.warn('incus: looking for the end of a task failed; retrying', { taskId: task.taskId, error: incusText(err) });
      }
      await delay(this.maxIdlePollMs, task.abort.signal);
    }
  }

  /** Whether the task's process lives (an exec of ALIVE_SCRIPT in the instance). */
  private async taskAlive(task: TrackedTask): Promise<boolean> {
    const client = this.api();
    const id = await client.exec(task.instance, helperExec([SIGNAL_HELPER_SHELL, '-c', ALIVE_SCRIPT, 'openscheduler-alive']));
    const op = await client.waitOperation(id, 30, task.abort.signal);
    return op.metadata?.return === 0;
  }

  /** The exit status the wrapper recorded; undefined when there is none (yet). */
  private async readExitFile(instance: string, task?: TrackedTask): Promise<number | undefined> {
    try {
      const { content, modifiedAt } = await this.api().readFile(instance, EXIT_FILE);
      const text = content.toString('utf8').trim();
      if (!/^\d+$/.test(text)) return undefined;
      if (task && modifiedAt) task.endedAt = modifiedAt.toISOString();
      return Number(text);
    } catch (err) {
      if (err instanceof IncusNotFoundError && !/instance/i.test(err.incusError)) return undefined;
      throw err;
    }
  }

  /** Records the task's end: output drained, OOM looked at. `code` undefined: unknown (Lost). */
  private async conclude(task: TrackedTask, code: number | undefined, message?: string): Promise<void> {
    if (task.exit || task.concluding) return;
    task.concluding = true;
    try {
      await this.drainAll(task);
    } catch (err) {
      this.logger.warn('incus: reading the last output of a task failed', { taskId: task.taskId, error: incusText(err) });
    }
    let oom: { peak: number } | undefined;
    if (code === 137 && task.memoryBytes !== undefined && !task.forceStopped) oom = await this.wasOomKilled(task).catch(() => undefined);
    this.finish(task, this.exitOf(task, code, oom, message));
  }

  private exitOf(task: TrackedTask, code: number | undefined, oom: { peak: number } | undefined, message: string | undefined): ExitResult {
    const finishedAt = task.endedAt ?? new Date().toISOString();
    if (code === undefined) return { exitCode: -1, reason: 'Lost', message: message ?? 'the exit status is unknown', finishedAt };
    const signal = code > 128 ? signalNames.get(code - 128) : undefined;
    const reason: ExitResult['reason'] = oom ? 'OOMKilled' : task.stopRequested ? 'Stopped' : signal ? 'Signaled' : code === 0 ? 'Completed' : 'Error';
    const detail = oom ? `memory use reached the limit of ${task.memoryBytes} bytes (peak ${oom.peak} bytes)` : message;
    return {
      exitCode: code,
      ...(signal ? { signal } : {}),
      ...(oom ? { oomKilled: true } : {}),
      reason,
      ...(detail ? { message: detail } : {}),
      finishedAt,
    };
  }

  /**
   * Whether a SIGKILLed task was killed for its memory: its instance's peak memory use reached
   * the limit (the kernel kills only at the limit). Misreads a task that touched its limit
   * (page cache counts) and was then SIGKILLed by someone else; misses nothing while the
   * instance has not been restarted.
   */
  private async wasOomKilled(task: TrackedTask): Promise<{ peak: number } | undefined> {
    const limit = task.memoryBytes;
    if (limit === undefined) return undefined;
    const state = await this.api().instanceState(task.instance);
    const peak = state.memory?.usage_peak ?? 0;
    return peak >= limit * OOM_PEAK_FRACTION ? { peak } : undefined;
  }

  private finish(task: TrackedTask, exit: ExitResult): void {
    if (task.exit) return;
    task.exit = exit;
    task.resolveExit(exit);
  }

  /** The shared timer: reads new output of tasks with a sink that are due. */
  private tick(): void {
    const now = Date.now();
    let watching = 0;
    for (const task of this.tasks.values()) {
      if (!task.logs || !this.live(task)) continue;
      watching++;
      if (now < task.nextPollAt || task.draining) continue;
      void this.drain(task).then(
        (grew) => {
          task.pollEveryMs = grew ? this.pollIntervalMs : Math.min(task.pollEveryMs * 2, this.maxIdlePollMs);
          task.nextPollAt = Date.now() + task.pollEveryMs;
        },
        (err: unknown) => {
          task.nextPollAt = Date.now() + this.maxIdlePollMs;
          if (this.live(task)) this.logger.debug('incus: reading task output failed', { taskId: task.taskId, error: incusText(err) });
        },
      );
    }
    if (watching === 0 && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /** Delivers what is new in both outputs; true when there was anything. One at a time per task. */
  private drain(task: TrackedTask): Promise<boolean> {
    if (!task.logs) return Promise.resolve(false);
    task.draining ??= (async () => {
      try {
        const out = await this.drainStream(task, 'stdout');
        const err = await this.drainStream(task, 'stderr');
        return out || err;
      } finally {
        task.draining = undefined;
      }
    })();
    return task.draining;
  }

  /** Everything written so far (waits for a drain in progress first). */
  private async drainAll(task: TrackedTask): Promise<void> {
    if (!task.logs) return;
    while (task.draining) await task.draining.catch(() => false);
    await this.drain(task);
  }

  private async drainStream(task: TrackedTask, stream: 'stdout' | 'stderr'): Promise<boolean> {
    const logs = task.logs;
    if (!logs) return false;
    const file = `exec_${task.operationId}.${stream}`;
    let grew = false;
    for (;;) {
      const chunk = await this.api().readExecOutput(task.instance, file, task.offsets[stream], OUTPUT_CHUNK_BYTES, task.abort.signal);
      if (chunk.length === 0) break;
      task.offsets[stream] += chunk.length;
      grew = true;
      try {
        if (stream === 'stdout') logs.onStdout(chunk);
        else logs.onStderr(chunk);
      } catch (err) {
        this.logger.warn('incus: a log sink threw', { taskId: task.taskId, error: errorMessage(err) });
      }
      if (chunk.length < OUTPUT_CHUNK_BYTES) break;
    }
    return grew;
  }

  // ---- stopping ----

  /** Sends a signal (name without SIG) to the task's process by a helper exec. */
  private async signal(task: TrackedTask, signalName: string): Promise<void> {
    const client = this.api();
    const id = await client.exec(task.instance, helperExec([SIGNAL_HELPER_SHELL, '-c', SIGNAL_SCRIPT, 'openscheduler-stop', signalName]));
    const op = await client.waitOperation(id, 30, task.abort.signal);
    const code = op.metadata?.return;
    if (code !== 0 && !task.exit) this.logger.debug('incus: the signal helper found no task to signal', { taskId: task.taskId, return: code ?? null });
  }

  /** Force-stops the instance (SIGKILL to all of it) and resolves with the task's end. */
  private async kill(task: TrackedTask): Promise<ExitResult> {
    if (task.exit) return task.exit;
    await this.forceStop(task);
    const exit = await this.exitWithin(task, KILL_SETTLE_MS);
    if (exit) return exit;
    await this.conclude(task, 137);
    return task.exited;
  }

  /** Force-stops the task's instance; resolves also when it was not running. */
  private forceStop(task: TrackedTask): Promise<void> {
    if (task.instanceStopped) return Promise.resolve();
    if (!task.exit) task.forceStopped = true;
    task.forceStop ??= this.stopInstance(task.instance)
      .then(() => {
        task.instanceStopped = true;
      })
      .finally(() => {
        task.forceStop = undefined;
      });
    return task.forceStop;
  }

  private async stopInstance(name: string): Promise<void> {
    const client = this.api();
    try {
      await client.changeState(name, { action: 'stop', force: true });
    } catch (err) {
      if (err instanceof IncusNotFoundError) return;
      const state = await client.instanceState(name).catch(() => undefined);
      if (state && state.status === 'Stopped') return;
      throw new DriverError(`cannot stop instance ${name}: ${incusText(err)}`, { cause: err });
    }
  }

  /** Force-stops and deletes an instance; resolves if it is gone. */
  private async removeInstance(name: string): Promise<void> {
    await this.stopInstance(name);
    try {
      await this.api().deleteInstance(name);
    } catch (err) {
      if (err instanceof IncusNotFoundError) return;
      throw new DriverError(`cannot delete instance ${name}: ${incusText(err)}`, { cause: err });
    }
  }

  /** The task's exit if it comes within `ms`; undefined otherwise. */
  private async exitWithin(task: TrackedTask, ms: number): Promise<ExitResult | undefined> {
    if (task.exit) return task.exit;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    return Promise.race([task.exited, timeout]).finally(() => clearTimeout(timer));
  }

  // ---- plumbing ----

  private get(taskId: string): TrackedTask {
    const task = this.tasks.get(taskId);
    if (!task) throw new TaskNotFoundError(taskId);
    return task;
  }

  private handleOf(task: TrackedTask): TaskHandle {
    return {
      version: 1,
      driver: this.name,
      taskId: task.taskId,
      startedAt: task.startedAt,
      driverState: { instance: task.instance, project: this.project, operationId: task.operationId },
    };
  }

  private socketPath(): string | undefined {
    return this.configuredSocket ?? findIncusSocket();
  }

  /** The API client; a TaskStartError-worthy DriverError when no socket is known. */
  private api(): IncusClient {
    if (this.closed) throw new DriverError('the incus driver is closed');
    if (this.client) return this.client;
    const socketPath = this.socketPath();
    if (socketPath === undefined) throw new DriverError(`no incus socket found ($INCUS_SOCKET unset; tried ${INCUS_SOCKET_CANDIDATES.join(', ')})`);
    this.client = new IncusClient({ socketPath, project: this.project });
    return this.client;
  }

  /** GET /1.0, once (again after a failure). */
  private server(): Promise<IncusServerInfo> {
    if (!this.serverInfo) {
      const asking = this.api().serverInfo(FINGERPRINT_TIMEOUT_MS);
      this.serverInfo = asking;
      asking.catch(() => {
        if (this.serverInfo === asking) this.serverInfo = undefined;
      });
    }
    return this.serverInfo;
  }

  private async defaultProfilePool(client: IncusClient): Promise<string | undefined> {
    const profile = await client.profile('default');
    const root = Object.values(profile.devices ?? {}).find((d) => d.type === 'disk' && d.path === '/');
    return root?.pool;
  }
}

/** The shell of the signal and liveness helpers (builtins only). */
const SIGNAL_HELPER_SHELL = '/bin/sh';

function helperExec(command: string[]): IncusExecRequest {
  return { command, environment: { PATH: DEFAULT_PATH }, cwd: '/', 'wait-for-websocket': false, interactive: false, 'record-output': false };
}

/** Whether the server can run VMs: its instance drivers include qemu. */
function vmSupported(info: IncusServerInfo): boolean {
  return /\bqemu\b/.test(info.environment?.driver ?? '');
}

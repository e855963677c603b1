// The podman driver: runs a task as a podman container, through the podman CLI (no REST
// socket, no daemon of ours: conmon is each container's parent, so containers outlive the
// agent). Modelled on Nomad's podman and docker drivers.
//
// What is enforced: the image's filesystem; `--network none` unless the task names a network
// the operator allowed; no privileges beyond podman's default capability set
// (`--security-opt no-new-privileges`, never --privileged / --cap-add / host namespaces); memory
// by the cgroup, without swap (`--memory B --memory-swap B`); CPU by the cgroup quota
// (`--cpus`); bind mounts only from the operator's volume roots. The task's argv is passed as
// a JSON `--entrypoint` plus literal arguments after the image; catatonit (`--init`) is PID 1,
// so the task gets SIGTERM with default dispositions. The environment is the image's plus the
// task's (as with any container runtime). Output goes to a k8s-file log in the task's
// directory, which this driver parses and streams.
//
// The environment never appears on a command line: single-line values go through an env file
// (mode 0600, deleted once podman has read it); a value podman's env-file format cannot carry
// (a line break, or longer than ~60 KB) goes through podman's own environment (`--env NAME`),
// which is refused for names the podman process itself would obey (LD_*, GO*, PATH, ...).
//
// Exit detection: one shared `podman events` stream of this node's `died` events, plus a watch
// of conmon's exit-file directory (an optional accelerator: it sees an exit within a few ms,
// the event file is polled by podman every 250 ms), plus a slow `podman ps` poll as a safety
// net. The exit is read as podman itself reads it: conmon's exit file `<exitsDir>/<id>` (the
// exit code; its mtime is the finish time; OOM from conmon's `oom` file in the container's
// bundle dir). podman's cleanup deletes that file within tens of ms, so it is read at once
// when the watch fires; when it is gone, `podman container inspect` is asked instead. On
// cgroup v1 hosts conmon may not record OOM kills; then an exit by SIGKILL of a task with a
// memory limit is checked against the kernel log (/dev/kmsg, which names the container's
// memory cgroup). Removals (destroy, removeOwned) asked for close together share one `podman rm`.
import { type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  constants as fsConstants,
  fstatSync,
  type FSWatcher,
  openSync,
  readdirSync,
  readSync,
  unlinkSync,
  watch,
} from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { type Logger, silentLogger } from '../../controllers/runtime/logger.js';
import { K8sFileLogReader, readK8sLogHead } from './k8s-file-log.js';
import { ContainerRemover, isNoSuchContainer, PodmanCli, PodmanCommandError, podmanErrorText } from './podman-cli.js';
import {
  type DriverCapabilities,
  DriverError,
  type ExitResult,
  type Fingerprint,
  InvalidTaskConfigError,
  type JsonValue,
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

export interface PodmanDriverOptions {
  /** Written into every container's labels; only containers labelled with it are this driver's. */
  nodeName: string;
  /** The driver's own dir (per-task log files under `<stateDir>/tasks/<taskId>/`). */
  stateDir: string;
  /** Default 'podman', looked up in PATH. */
  podmanPath?: string;
  /** When set, CONTAINERS_CONF for every podman invocation (default: the agent's own, if any). */
  containersConf?: string;
  /** Names a task may join with `TaskConfig.network`. Default none. */
  allowedNetworks?: string[];
  /** Host directories volumes may come from. Default none. */
  volumeRoots?: string[];
  /** How often new output is read, in ms (idle tasks less often, down to 1 s). Default 100. */
  pollIntervalMs?: number;
  /** The safety-net `podman ps` poll for exits, in ms. Default 3000. */
  reconcileIntervalMs?: number;
  /** Time limit of one podman call, in ms. Default 30000. */
  commandTimeoutMs?: number;
  /** Time limit of `podman run` (it may pull the image), in ms. Default 300000. */
  startTimeoutMs?: number;
  /**
   * conmon's exit-file directory, watched to notice exits at once and read for their exit code
   * (saving a `podman inspect`); '' disables both. Default /run/libpod/exits (rootful podman's
   * default). A wrong or missing dir only makes exits take the slower paths.
   */
  exitsDir?: string;
  /** Whether the kernel log shows an OOM kill in a container's cgroup. Default: reads /dev/kmsg. */
  kernelOomKillCheck?: (containerId: string) => boolean;
  logger?: Logger;
}

/** The label keys of every container this driver starts. */
export const PODMAN_LABELS = {
  managed: 'io.openscheduler.managed',
  node: 'io.openscheduler.node',
  taskId: 'io.openscheduler.task-id',
  jobUid: 'io.openscheduler.job-uid',
  attempt: 'io.openscheduler.attempt',
  namespace: 'io.openscheduler.namespace',
  job: 'io.openscheduler.job',
} as const;

const taskIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.\d+$/;
const containerIdPattern = /^[0-9a-f]{64}$/;
/** podman network names; also excludes modes such as host, container:<id>, ns:<path>. */
const networkNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const forbiddenNetworks = new Set(['host', 'none', 'private', 'container', 'ns', 'slirp4netns', 'pasta']);
/** No whitespace (podman trims it), no '=', NUL or '*' (a prefix glob), no leading '#' (a comment). */
const envNamePattern = /^[^=\s\0*#][^=\s\0*]*$/;
/** A name passed through podman's own environment must also be a plain shell name. */
const plainEnvNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Names (and prefixes) the podman process, its libraries or the dynamic loader would obey. */
const podmanEnvNames = new Set([
  'PATH',
  'HOME',
  'TMPDIR',
  'TZDIR',
  'LOCPATH',
  'NLSPATH',
  'HOSTALIASES',
  'LOCALDOMAIN',
  'RES_OPTIONS',
  'RESOLV_HOST_CONF',
  'NIS_PATH',
  'GETCONF_DIR',
  'NOTIFY_SOCKET',
  'REGISTRY_AUTH_FILE',
  'GNUPGHOME',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
]);
const podmanEnvPrefixes = /^(LD_|GCONV|GLIBC_|MALLOC_|GO|CGO_|CONTAINER|_CONTAINERS|STORAGE_|XDG_|DOCKER|BUILDAH|PODMAN|SYSTEMD_|LISTEN_|DBUS_)/;
/** podman's env-file lines are read with a 64 KiB limit. */
const MAX_ENV_FILE_LINE = 60_000;
/** podman's smallest memory limit. */
const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
/** The kernel's smallest CFS quota (1 ms per 100 ms period). */
const MIN_CPU_MILLIS = 10;
const MAX_IDLE_POLL_MS = 1_000;
const RECENT_DIED_MS = 60_000;

/** Signal names by number (the first name of a number: SIGABRT, not SIGIOT). */
const signalNames = new Map<number, NodeJS.Signals>();
for (const [name, number] of Object.entries(osConstants.signals)) {
  if (!signalNames.has(number)) signalNames.set(number, name as NodeJS.Signals);
}

/** The part of `podman container inspect` this driver reads. */
interface InspectedContainer {
  Id: string;
  Name?: string;
  ImageName?: string;
  State: {
    Status: string;
    Running: boolean;
    ExitCode: number;
    OOMKilled: boolean;
    Error?: string;
    StartedAt?: string;
    FinishedAt?: string;
  };
  Config?: { Labels?: Record<string, string> | null };
  HostConfig?: { Memory?: number };
}

/** What ended a container, as podman records it (from inspect or from conmon's files). */
interface ContainerEnd {
  exitCode: number;
  oomKilled: boolean;
  error?: string;
  finishedAt?: string;
}

/** conmon's record of a container's exit: the exit file's content and mtime. */
export interface ConmonExitRecord {
  exitCode: number;
  /** RFC 3339. */
  finishedAt: string;
}

/** The part of `podman ps --format json` this driver reads. */
interface ListedContainer {
  Id: string;
  State: string;
  Labels?: Record<string, string> | null;
}

interface TrackedTask {
  taskId: string;
  containerId: string;
  containerName: string;
  image: string;
  dir: string;
  logPath: string;
  startedAt: string;
  memoryLimited: boolean;
  reader: K8sFileLogReader | undefined;
  exit: ExitResult | undefined;
  exited: Promise<ExitResult>;
  resolveExit: (exit: ExitResult) => void;
  rejectExit: (err: Error) => void;
  stopRequested: boolean;
  pollEveryMs: number;
  nextPollAt: number;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}


function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The container name of a task: `os-<taskId>`, restricted to podman's name characters. */
export function containerNameOf(taskId: string): string {
  return `os-${taskId.replace(/[^a-zA-Z0-9_.-]/g, '_')}`;
}

/** Whether a task's variable may go through podman's own environment (see the file comment). */
function podmanMayCarry(name: string): boolean {
  return plainEnvNamePattern.test(name) && !podmanEnvNames.has(name) && !podmanEnvPrefixes.test(name) && !/_proxy$/i.test(name);
}

/** A task's environment split by how it reaches podman. */
interface EnvTransport {
  /** Lines of the env file (without newlines). */
  fileLines: string[];
  /** Variables podman reads from its own environment (`--env NAME`). */
  viaPodmanEnv: Record<string, string>;
}

function envTransport(env: Record<string, string>): EnvTransport {
  const fileLines: string[] = [];
  const viaPodmanEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const line = `${name}=${value}`;
    if (!/[\r\n]/.test(value) && Buffer.byteLength(line) <= MAX_ENV_FILE_LINE) {
      fileLines.push(line);
      continue;
    }
    if (!podmanMayCarry(name)) {
      throw new InvalidTaskConfigError(
        `env.${name}`,
        'a value with a line break (or longer than 60000 bytes) needs a plain name ([A-Za-z_][A-Za-z0-9_]*) that podman itself does not read (not PATH, HOME, TMPDIR, LD_*, GO*, CONTAINERS_*, XDG_*, *_proxy, ...)',
      );
    }
    viaPodmanEnv[name] = value;
  }
  return { fileLines, viaPodmanEnv };
}

/** Checks a TaskConfig for this driver; throws InvalidTaskConfigError naming the first bad field. */
export function validatePodmanTask(
  task: TaskConfig,
  policy: { allowedNetworks: readonly string[]; volumeRoots: readonly string[] },
): { volumes: TaskVolume[]; env: EnvTransport } {
  const bad = (field: string, rule: string): never => {
    throw new InvalidTaskConfigError(field, rule);
  };
  // An empty command runs the image's own ENTRYPOINT (and CMD, unless args are given), as Kubernetes does.
  checkCommonTaskFields(task, {
    commandRequired: false,
    envName: { pattern: envNamePattern, rule: "name must be non-empty, without whitespace, '=', '*' or NUL, and not start with '#'" },
  });
  const resources = task.resources ?? {};
  if (resources.memoryBytes !== undefined) {
    if (resources.memoryBytes < MIN_MEMORY_BYTES) bad('resources.memoryBytes', `must be at least ${MIN_MEMORY_BYTES} (6 MiB, podman's minimum)`);
  }
  if (resources.cpuMillis !== undefined && (typeof resources.cpuMillis !== 'number' || !Number.isFinite(resources.cpuMillis) || resources.cpuMillis <= 0))
    bad('resources.cpuMillis', 'must be a positive number');
  if (task.image === undefined) bad('image', 'is required by the podman driver');
  if (typeof task.image !== 'string' || !/^[^\s\0-][^\s\0]*$/.test(task.image))
    bad('image', "must be an image reference: non-empty, without whitespace or NUL, not starting with '-'");
  if (task.workloadType !== undefined && task.workloadType !== 'container')
    bad('workloadType', `the podman driver runs only 'container' workloads, not ${JSON.stringify(task.workloadType)}`);
  if (task.network !== undefined) {
    if (typeof task.network !== 'string' || !policy.allowedNetworks.includes(task.network)) {
      const allowed = policy.allowedNetworks.length === 0 ? 'this node allows none (tasks run without a network)' : `this node allows only: ${policy.allowedNetworks.join(', ')}`;
      bad('network', `must be a network the operator allowed; ${allowed}`);
    }
  }
  const volumes = checkTaskVolumes(task.volumes, policy.volumeRoots);
  const env = envTransport(task.env);
  return { volumes, env };
}

/** The `podman run` argv of a task (validated), its env file at `envFile` when it has one. */
export function podmanRunArgs(
  task: TaskConfig,
  prepared: { volumes: TaskVolume[]; env: EnvTransport },
  where: { nodeName: string; containerName: string; logPath: string; envFile: string },
): string[] {
  const labels: Array<[string, string]> = [
    [PODMAN_LABELS.managed, 'true'],
    [PODMAN_LABELS.node, where.nodeName],
    [PODMAN_LABELS.taskId, taskIdOf(task)],
    [PODMAN_LABELS.jobUid, task.jobUid],
    [PODMAN_LABELS.attempt, String(task.attempt)],
    [PODMAN_LABELS.namespace, task.namespace],
    [PODMAN_LABELS.job, task.name],
  ];
  const memory = task.resources?.memoryBytes;
  const cpuMillis = task.resources?.cpuMillis;
  return [
    'run',
    '--detach',
    '--init',
    '--name',
    where.containerName,
    ...labels.flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    '--network',
    task.network ?? 'none',
    '--security-opt',
    'no-new-privileges',
    ...(memory !== undefined ? ['--memory', String(memory), '--memory-swap', String(memory)] : []),
    // Below the kernel's smallest quota the task gets that smallest quota.
    ...(cpuMillis !== undefined ? ['--cpus', (Math.max(MIN_CPU_MILLIS, cpuMillis) / 1000).toFixed(3)] : []),
    ...(task.workingDir !== undefined ? ['--workdir', task.workingDir] : []),
    ...(prepared.env.fileLines.length > 0 ? ['--env-file', where.envFile] : []),
    ...Object.keys(prepared.env.viaPodmanEnv).flatMap((name) => ['--env', name]),
    ...prepared.volumes.flatMap((v) => ['--mount', `type=bind,source=${v.hostPath},target=${v.mountPath}${v.readOnly ? ',ro=true' : ''}`]),
    '--log-driver',
    'k8s-file',
    '--log-opt',
    `path=${where.logPath}`,
    ...(task.command.length > 0 ? ['--entrypoint', JSON.stringify(task.command)] : []),
    task.image as string,
    ...task.args,
  ];
}

/**
 * conmon's exit file `<exitsDir>/<containerId>` (content: the exit code; mtime: when the
 * container ended); undefined when it is absent (not ended yet, or podman's cleanup deleted it)
 * or unreadable.
 */
export function readConmonExitFile(exitsDir: string, containerId: string): ConmonExitRecord | undefined {
  let fd: number;
  try {
    fd = openSync(join(exitsDir, containerId), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size > 32) return undefined;
    const buf = Buffer.alloc(32);
    const text = buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0)).trim();
    if (!/^-?\d{1,10}$/.test(text)) return undefined;
    return { exitCode: Number(text), finishedAt: stat.mtime.toISOString() };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Whether the kernel log (/dev/kmsg) records an OOM kill in the memory cgroup of `containerId`. */
export function kernelLogsOomKill(containerId: string, kmsgPath = '/dev/kmsg'): boolean {
  let fd: number;
  try {
    fd = openSync(kmsgPath, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    const buf = Buffer.alloc(8192);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EPIPE') continue; // records overwritten meanwhile
        break; // EAGAIN: the end of the log
      }
      if (n <= 0) break;
      const record = buf.toString('utf8', 0, n);
      const message = record.slice(record.indexOf(';') + 1);
      if (message.startsWith('oom-kill:') && message.includes(containerId)) return true;
    }
  } finally {
    closeSync(fd);
  }
  return false;
}

function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

function rfc3339(value: string | undefined): string {
  const ms = value === undefined ? Number.NaN : Date.parse(value);
  return Number.isNaN(ms) || ms <= 0 ? new Date().toISOString() : new Date(ms).toISOString();
}

/** One shared `podman events` stream of this node's `died` events; restarted when it ends. */
class DiedEventStream {
  private child: ChildProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private backoffMs = 500;
  private referenced = true;
  private closed = false;
  /** Events since this time are asked for at the next (re)start. */
  private coveredSince = Date.now();

  constructor(
    private readonly cli: PodmanCli,
    private readonly nodeName: string,
    private readonly onDied: (containerId: string) => void,
    private readonly logger: Logger,
  ) {}

  /** Starts the stream unless it runs (or waits to be restarted). */
  start(): void {
    if (this.closed || this.child || this.restartTimer) return;
    // A few seconds back: an exit between the previous stream's end (or this call) and the
    // moment podman tails the event file is not missed. Repeats are harmless.
    const since = new Date(this.coveredSince - 5_000).toISOString();
    const child = this.cli.spawn(['events', '--format', 'json', '--filter', `label=${PODMAN_LABELS.node}=${this.nodeName}`, '--filter', 'event=died', '--since', since]);
    this.child = child;
    let pending = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      pending += chunk;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const event = parseJson<{ ID?: unknown }>(line);
        if (event && typeof event.ID === 'string') {
          this.backoffMs = 500;
          this.onDied(event.ID);
        }
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.on('error', () => {}); // 'exit' or 'close' follows; a missing binary is reported by fingerprint
    child.once('close', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.coveredSince = Date.now();
      if (this.closed) return;
      this.logger.warn('podman events stream ended; restarting', { code, signal, stderr: podmanErrorText(stderr), retryInMs: this.backoffMs });
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        this.start();
      }, this.backoffMs);
      if (!this.referenced) this.restartTimer.unref();
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    });
    this.applyRef();
  }

  /** Whether the stream keeps the agent's event loop alive (only while tasks are watched). */
  setRef(referenced: boolean): void {
    this.referenced = referenced;
    this.applyRef();
  }

  close(): void {
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }

  private applyRef(): void {
    const child = this.child;
    if (child) {
      for (const stream of [child.stdout, child.stderr]) {
        if (stream instanceof Socket) {
          if (this.referenced) stream.ref();
          else stream.unref();
        }
      }
      if (this.referenced) child.ref();
      else child.unref();
    }
    if (this.restartTimer) {
      if (this.referenced) this.restartTimer.ref();
      else this.restartTimer.unref();
    }
  }
}

export class PodmanDriver implements TaskDriver {
  readonly name = 'podman';
  readonly capabilities: DriverCapabilities = {
    sendSignals: true,
    memoryLimit: 'cgroup',
    cpuLimit: 'cgroup',
    fsIsolation: 'image',
    recover: true,
    stats: true,
  };

  private readonly nodeName: string;
  private readonly tasksDir: string;
  private readonly cli: PodmanCli;
  private readonly allowedNetworks: string[];
  private readonly volumeRoots: string[];
  private readonly pollIntervalMs: number;
  private readonly reconcileIntervalMs: number;
  private readonly startTimeoutMs: number;
  private readonly exitsDir: string;
  private readonly kernelOomKillCheck: (containerId: string) => boolean;
  private readonly logger: Logger;

  private readonly tasks = new Map<string, TrackedTask>();
  /** Task ids being started (not tracked yet). */
  private readonly starting = new Set<string>();
  /** Tracked tasks that have not ended: what the timers look at. */
  private readonly live = new Set<TrackedTask>();
  private readonly byContainer = new Map<string, TrackedTask>();
  /** Containers reported dead before they were tracked (start races): when, and conmon's record if it was read. */
  private readonly recentDied = new Map<string, { at: number; exit: ConmonExitRecord | undefined }>();
  private readonly remover: ContainerRemover;
  /** containers/storage's root and driver: where conmon's `oom` file of a container is. */
  private storage: { graphRoot: string; driver: string } | undefined;
  private storageAsked = false;
  private readonly events: DiedEventStream;
  private exitsWatcher: FSWatcher | undefined;
  private exitsWatchTried = false;
  private ticker: NodeJS.Timeout | undefined;
  private reconciler: NodeJS.Timeout | undefined;
  private reconciling = false;
  /** Tasks whose container is to be inspected at the next check. */
  private readonly pendingChecks = new Set<TrackedTask>();
  private checkScheduled = false;
  private checkRunning = false;
  private closed = false;

  constructor(options: PodmanDriverOptions) {
    if (typeof options.nodeName !== 'string' || options.nodeName === '' || /[\s\0=]/.test(options.nodeName))
      throw new DriverError('nodeName: must be a non-empty string without whitespace, "=" or NUL');
    if (typeof options.stateDir !== 'string' || !isAbsolute(options.stateDir) || /[,\0]/.test(options.stateDir))
      throw new DriverError('stateDir: must be an absolute path without "," or NUL (it becomes a podman --log-opt)');
    for (const network of options.allowedNetworks ?? []) {
      if (!networkNamePattern.test(network) || forbiddenNetworks.has(network))
        throw new DriverError(`allowedNetworks: ${JSON.stringify(network)} is not a podman network name (modes such as host or container:<id> are never allowed)`);
    }
    this.nodeName = options.nodeName;
    this.tasksDir = join(options.stateDir, 'tasks');
    this.cli = new PodmanCli({
      podmanPath: options.podmanPath ?? 'podman',
      containersConf: options.containersConf ?? process.env.CONTAINERS_CONF,
      timeoutMs: options.commandTimeoutMs ?? 30_000,
    });
    this.allowedNetworks = [...(options.allowedNetworks ?? [])];
    this.volumeRoots = [...(options.volumeRoots ?? [])];
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.reconcileIntervalMs = options.reconcileIntervalMs ?? 3_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 300_000;
    this.exitsDir = options.exitsDir ?? '/run/libpod/exits';
    this.kernelOomKillCheck = options.kernelOomKillCheck ?? ((id) => kernelLogsOomKill(id));
    this.logger = options.logger ?? silentLogger;
    this.events = new DiedEventStream(this.cli, this.nodeName, (id) => this.onDied(id, undefined), this.logger);
    this.remover = new ContainerRemover(this.cli);
  }

  async fingerprint(): Promise<Fingerprint> {
    const attributes: Record<string, string> = { 'driver.podman.networks': this.allowedNetworks.join(',') };
    try {
      await mkdir(this.tasksDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      return { healthy: false, detail: `state directory unusable: ${errorText(err)}`, attributes };
    }
    try {
      const version = parseJson<{ Client?: { Version?: string; APIVersion?: string } }>(await this.cli.run(['version', '--format', 'json'], { timeoutMs: 10_000 }));
      const info = parseJson<{
        host?: {
          ociRuntime?: { name?: string };
          cgroupVersion?: string;
          cgroupManager?: string;
          cgroupControllers?: string[];
          eventLogger?: string;
          security?: { rootless?: boolean };
        };
        store?: { graphDriverName?: string; graphRoot?: string };
      }>(await this.cli.run(['info', '--format', 'json'], { timeoutMs: 10_000 }));
      if (!version?.Client?.Version || !info?.host) return { healthy: false, detail: 'podman version/info gave no usable answer', attributes };
      this.setStorage(info.store?.graphRoot, info.store?.graphDriverName);
      const host = info.host;
      attributes['driver.podman.version'] = version.Client.Version;
      attributes['driver.podman.apiVersion'] = version.Client.APIVersion ?? '';
      attributes['driver.podman.runtime'] = host.ociRuntime?.name ?? '';
      attributes['driver.podman.cgroupVersion'] = host.cgroupVersion ?? '';
      attributes['driver.podman.cgroupManager'] = host.cgroupManager ?? '';
      attributes['driver.podman.eventLogger'] = host.eventLogger ?? '';
      attributes['driver.podman.rootless'] = String(host.security?.rootless ?? false);
      attributes['driver.podman.storageDriver'] = info.store?.graphDriverName ?? '';
      if (host.cgroupControllers && !host.cgroupControllers.includes('memory'))
        return { healthy: false, detail: 'the memory cgroup controller is not available to podman: memory limits cannot be enforced', attributes };
      return { healthy: true, detail: 'ready', attributes };
    } catch (err) {
      return { healthy: false, detail: `podman is not usable: ${errorText(err)}`, attributes };
    }
  }

  async start(config: TaskConfig): Promise<TaskHandle> {
    this.checkOpen();
    const prepared = validatePodmanTask(config, { allowedNetworks: this.allowedNetworks, volumeRoots: this.volumeRoots });
    const taskId = taskIdOf(config);
    if (this.tasks.has(taskId) || this.starting.has(taskId)) throw new TaskAlreadyExistsError(taskId);
    this.starting.add(taskId);
    try {
      return await this.startContainer(config, taskId, prepared);
    } finally {
      this.starting.delete(taskId);
    }
  }

  private async startContainer(config: TaskConfig, taskId: string, prepared: { volumes: TaskVolume[]; env: EnvTransport }): Promise<TaskHandle> {
    const dir = join(this.tasksDir, taskId);
    await mkdir(dir, { mode: 0o700 }).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') throw new TaskAlreadyExistsError(taskId);
      if (err.code !== 'ENOENT') throw err;
      await mkdir(this.tasksDir, { recursive: true, mode: 0o700 });
      await mkdir(dir, { mode: 0o700 });
    });
    const containerName = containerNameOf(taskId);
    const logPath = join(dir, 'ctr.log');
    const envFile = join(dir, 'env');
    const args = podmanRunArgs(config, prepared, { nodeName: this.nodeName, containerName, logPath, envFile });
    const startedAt = new Date().toISOString();
    // Watching first: a task may end before `podman run` returns.
    this.startWatching();
    let stdout: string;
    const runAt = Date.now();
    try {
      if (prepared.env.fileLines.length > 0) await writeFile(envFile, prepared.env.fileLines.map((l) => `${l}\n`).join(''), { mode: 0o600, flag: 'wx' });
      // In the task's dir: conmon keeps podman's working directory and, on cgroup v1, writes its
      // `oom` marker there when the kernel OOM-kills the container (podman 4.3 looks elsewhere).
      stdout = await this.cli.run(args, { timeoutMs: this.startTimeoutMs, extraEnv: prepared.env.viaPodmanEnv, cwd: dir });
    } catch (err) {
      const inUse = err instanceof PodmanCommandError && /already in use/i.test(err.stderr);
      if (!inUse) await this.removeHalfMade(containerName, runAt);
      await rm(dir, { recursive: true, force: true });
      if (inUse) throw new TaskAlreadyExistsError(taskId);
      throw new TaskStartError(`task ${taskId}: ${errorText(err)}`);
    } finally {
      try {
        unlinkSync(envFile); // podman has read it: the values live on only in the container
      } catch {
        // There was none.
      }
    }
    const containerId = stdout.trim().split('\n').pop()?.trim() ?? '';
    if (!containerIdPattern.test(containerId)) {
      await this.removeHalfMade(containerName, runAt);
      await rm(dir, { recursive: true, force: true });
      throw new TaskStartError(`task ${taskId}: podman run printed no container id: ${JSON.stringify(stdout.slice(0, 200))}`);
    }
    const task = this.track({
      taskId,
      containerId,
      containerName,
      image: config.image as string,
      startedAt,
      memoryLimited: config.resources?.memoryBytes !== undefined,
      logs: config.logs,
      stdoutOffset: 0,
      stderrOffset: 0,
    });
    if (this.closed) throw new DriverError('driver closed while starting the task');
    return this.handleOf(task);
  }

  /**
   * Removes the container a failed (or timed-out) `podman run` may have left: only one of that
   * name created since `runAt` — a container of that name that existed before is not ours to remove.
   */
  private async removeHalfMade(containerName: string, runAt: number): Promise<void> {
    try {
      const created = (await this.cli.run(['container', 'inspect', '--format', '{{.Created.UnixMilli}}', containerName])).trim();
      if (Number(created) >= runAt) await this.cli.run(['rm', '--force', '--time', '0', containerName]);
    } catch {
      // None was made (or it cannot be told): nothing to remove.
    }
  }

  async recover(handle: TaskHandle, options: RecoverOptions = {}): Promise<void> {
    this.checkOpen();
    if (handle?.driver !== this.name) throw new TaskRecoveryError(`handle is for driver ${String(handle?.driver)}, not ${this.name}`);
    if (typeof handle.taskId !== 'string' || !taskIdPattern.test(handle.taskId))
      throw new TaskRecoveryError(`handle.taskId ${JSON.stringify(handle.taskId)} is not a task id`);
    if (this.tasks.has(handle.taskId)) return;
    const containerId = handle.driverState?.containerId;
    if (typeof containerId !== 'string' || !containerIdPattern.test(containerId))
      throw new TaskRecoveryError(`task ${handle.taskId}: the handle names no container id`);
    this.startWatching();
    let inspected: InspectedContainer | undefined;
    try {
      inspected = (await this.inspectContainers([containerId])).get(containerId);
    } catch (err) {
      throw new TaskRecoveryError(`task ${handle.taskId}: cannot inspect container ${containerId}: ${errorText(err)}`);
    }
    if (!inspected) throw new TaskRecoveryError(`task ${handle.taskId}: container ${containerId} is gone`);
    const labels = inspected.Config?.Labels ?? {};
    if (labels[PODMAN_LABELS.managed] !== 'true' || labels[PODMAN_LABELS.node] !== this.nodeName || labels[PODMAN_LABELS.taskId] !== handle.taskId)
      throw new TaskRecoveryError(`task ${handle.taskId}: container ${containerId} is not this node's container of that task`);
    if (this.tasks.has(handle.taskId)) return;
    const task = this.track({
      taskId: handle.taskId,
      containerId,
      containerName: (inspected.Name ?? containerNameOf(handle.taskId)).replace(/^\//, ''),
      image: inspected.ImageName ?? (typeof handle.driverState.image === 'string' ? handle.driverState.image : ''),
      startedAt: typeof handle.startedAt === 'string' ? handle.startedAt : rfc3339(inspected.State.StartedAt),
      memoryLimited: (inspected.HostConfig?.Memory ?? 0) > 0,
      logs: options.logs,
      stdoutOffset: options.stdoutOffset ?? 0,
      stderrOffset: options.stderrOffset ?? 0,
    });
    this.applyInspection(task, inspected);
  }

  async wait(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
    const task = this.get(taskId);
    return untilAborted(task.exited, signal);
  }

  async stop(taskId: string, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitResult> {
    const task = this.get(taskId);
    if (task.exit) return task.exit;
    if (osConstants.signals[signal] === undefined) throw new DriverError(`stop: unknown signal ${String(signal)}`);
    task.stopRequested = true;
    if (signal !== 'SIGKILL') {
      await this.kill(task, signal);
      const first = await this.exitWithin(task, Math.max(0, graceMs));
      if (first) return first;
    }
    // SIGKILL (to PID 1, catatonit: the whole container ends) until the exit is seen; each
    // round also asks podman directly, in case no event comes.
    let failures = 0;
    for (let pauseMs = 200; ; pauseMs = Math.min(pauseMs * 2, 2_000)) {
      if (!(await this.kill(task, 'SIGKILL'))) failures++;
      else failures = 0;
      const exit = await this.exitWithin(task, pauseMs);
      if (exit) return exit;
      if (failures >= 5) throw new DriverError(`task ${taskId}: cannot stop its container ${task.containerId}: podman kill keeps failing`);
      this.checkSoon(task);
    }
  }

  async destroy(taskId: string): Promise<void> {
    const task = this.get(taskId);
    if (!task.exit) await this.stop(taskId, 0, 'SIGKILL');
    try {
      await this.remover.remove(task.containerId);
    } catch (err) {
      if (!isNoSuchContainer(err)) throw new DriverError(`task ${taskId}: cannot remove container ${task.containerId}: ${errorText(err)}`);
    }
    this.untrack(task);
    await rm(task.dir, { recursive: true, force: true });
  }

  async inspect(taskId: string): Promise<TaskStatus> {
    const task = this.get(taskId);
    if (!task.exit) task.reader?.drain();
    return {
      taskId,
      state: task.exit ? 'exited' : 'running',
      startedAt: task.startedAt,
      ...(task.exit ? { exit: task.exit } : {}),
      details: {
        containerId: task.containerId,
        containerName: task.containerName,
        image: task.image,
      },
    };
  }

  async stats(taskId: string): Promise<TaskStats> {
    const task = this.get(taskId);
    if (task.exit) throw new TaskNotRunningError(taskId);
    let stdout: string;
    try {
      stdout = await this.cli.run(['stats', '--no-stream', '--format', '{{json .ContainerStats}}', task.containerId]);
    } catch (err) {
      this.checkSoon(task);
      if (isNoSuchContainer(err) || (err instanceof PodmanCommandError && /not running|stopped|exited|improper/i.test(err.stderr)))
        throw new TaskNotRunningError(taskId);
      throw new DriverError(`task ${taskId}: ${errorText(err)}`);
    }
    const stats = parseJson<{ MemUsage?: number; CPUNano?: number }>(stdout.trim().split('\n')[0] ?? '');
    if (!stats || typeof stats.MemUsage !== 'number' || typeof stats.CPUNano !== 'number')
      throw new DriverError(`task ${taskId}: podman stats gave no usable answer: ${JSON.stringify(stdout.slice(0, 200))}`);
    return { memoryRssBytes: stats.MemUsage, cpuTimeMillis: Math.round(stats.CPUNano / 1e6) };
  }

  async listOwned(): Promise<OwnedTask[]> {
    const containers = await this.listNodeContainers();
    const owned: OwnedTask[] = [];
    const listedTaskIds = new Set<string>();
    for (const c of containers) {
      const labels = c.Labels ?? {};
      const taskId = labels[PODMAN_LABELS.taskId];
      const jobUid = labels[PODMAN_LABELS.jobUid];
      const attempt = Number(labels[PODMAN_LABELS.attempt]);
      if (labels[PODMAN_LABELS.managed] !== 'true' || labels[PODMAN_LABELS.node] !== this.nodeName) continue;
      if (typeof taskId !== 'string' || !taskIdPattern.test(taskId) || typeof jobUid !== 'string' || !Number.isSafeInteger(attempt)) continue;
      if (!containerIdPattern.test(c.Id)) continue;
      listedTaskIds.add(taskId);
      owned.push({ taskId, jobUid, attempt, running: c.State === 'running' || c.State === 'paused', ref: c.Id });
    }
    // Task dirs without a container: left by an agent that ended between creating the dir and
    // removing it (never one this instance is starting or tracks).
    let dirs: string[];
    try {
      dirs = readdirSync(this.tasksDir);
    } catch {
      dirs = [];
    }
    for (const taskId of dirs) {
      if (!taskIdPattern.test(taskId) || listedTaskIds.has(taskId) || this.tasks.has(taskId) || this.starting.has(taskId)) continue;
      const dot = taskId.lastIndexOf('.');
      owned.push({ taskId, jobUid: taskId.slice(0, dot), attempt: Number(taskId.slice(dot + 1)), running: false, ref: join(this.tasksDir, taskId) });
    }
    return owned;
  }

  async removeOwned(owned: OwnedTask): Promise<void> {
    if (typeof owned?.ref !== 'string') throw new DriverError('removeOwned: the task has no ref');
    const taskDirOf = (taskId: unknown): string | undefined =>
      typeof taskId === 'string' && taskIdPattern.test(taskId) && !this.tasks.has(taskId) && !this.starting.has(taskId) ? join(this.tasksDir, taskId) : undefined;
    if (!containerIdPattern.test(owned.ref)) {
      // A task dir without a container.
      const dir = taskDirOf(owned.taskId);
      if (dir === undefined || owned.ref !== dir) throw new DriverError(`removeOwned: ${JSON.stringify(owned.ref)} is neither a container id nor a task dir of this driver`);
      await rm(dir, { recursive: true, force: true });
      return;
    }
    if (typeof owned.taskId === 'string' && this.starting.has(owned.taskId))
      throw new DriverError(`removeOwned: task ${owned.taskId} is being started by this driver; destroy it once started`);
    const tracked = this.byContainer.get(owned.ref);
    if (tracked) {
      await this.destroy(tracked.taskId);
      return;
    }
    const inspected = (await this.inspectContainers([owned.ref])).get(owned.ref);
    if (inspected) {
      const labels = inspected.Config?.Labels ?? {};
      if (labels[PODMAN_LABELS.managed] !== 'true' || labels[PODMAN_LABELS.node] !== this.nodeName)
        throw new DriverError(`removeOwned: container ${owned.ref} does not carry this node's labels; left alone`);
      try {
        await this.remover.remove(owned.ref);
      } catch (err) {
        if (!isNoSuchContainer(err)) throw new DriverError(`removeOwned: cannot remove container ${owned.ref}: ${errorText(err)}`);
      }
      const dir = taskDirOf(labels[PODMAN_LABELS.taskId]);
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      return;
    }
    const dir = taskDirOf(owned.taskId);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    if (this.reconciler) clearInterval(this.reconciler);
    this.reconciler = undefined;
    this.events.close();
    this.exitsWatcher?.close();
    this.exitsWatcher = undefined;
    for (const task of this.tasks.values()) {
      if (!task.exit) task.rejectExit(new DriverError(`driver closed while waiting for task ${task.taskId}`));
    }
    this.tasks.clear();
    this.live.clear();
    this.byContainer.clear();
    this.pendingChecks.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw new DriverError('the podman driver is closed');
  }

  private get(taskId: string): TrackedTask {
    const task = this.tasks.get(taskId);
    if (!task) throw new TaskNotFoundError(taskId);
    return task;
  }

  private handleOf(task: TrackedTask): TaskHandle {
    const driverState: { [key: string]: JsonValue } = {
      containerId: task.containerId,
      containerName: task.containerName,
      image: task.image,
    };
    return { version: 1, driver: this.name, taskId: task.taskId, startedAt: task.startedAt, driverState };
  }

  private track(options: {
    taskId: string;
    containerId: string;
    containerName: string;
    image: string;
    startedAt: string;
    memoryLimited: boolean;
    logs: TaskLogSink | undefined;
    stdoutOffset: number;
    stderrOffset: number;
  }): TrackedTask {
    const dir = join(this.tasksDir, options.taskId);
    const logPath = join(dir, 'ctr.log');
    let resolveExit!: (exit: ExitResult) => void;
    let rejectExit!: (err: Error) => void;
    const exited = new Promise<ExitResult>((resolve, reject) => {
      resolveExit = resolve;
      rejectExit = reject;
    });
    exited.catch(() => {}); // a rejection (driver closed) is only for those who wait
    const task: TrackedTask = {
      taskId: options.taskId,
      containerId: options.containerId,
      containerName: options.containerName,
      image: options.image,
      dir,
      logPath,
      startedAt: options.startedAt,
      memoryLimited: options.memoryLimited,
      reader: options.logs ? new K8sFileLogReader(logPath, options.logs, { stdout: options.stdoutOffset, stderr: options.stderrOffset }) : undefined,
      exit: undefined,
      exited,
      resolveExit,
      rejectExit,
      stopRequested: false,
      pollEveryMs: this.pollIntervalMs,
      nextPollAt: 0,
    };
    this.tasks.set(task.taskId, task);
    this.byContainer.set(task.containerId, task);
    this.live.add(task);
    this.updateTimers();
    if (task.memoryLimited) this.learnStorage();
    const died = this.recentDied.get(task.containerId);
    if (died) {
      this.recentDied.delete(task.containerId);
      if (!died.exit || !this.finishFromExitFile(task, died.exit)) this.checkSoon(task);
    }
    return task;
  }

  private untrack(task: TrackedTask): void {
    if (this.tasks.get(task.taskId) === task) this.tasks.delete(task.taskId);
    if (this.byContainer.get(task.containerId) === task) this.byContainer.delete(task.containerId);
    this.live.delete(task);
    this.pendingChecks.delete(task);
    this.updateTimers();
  }

  /** Starts the event sources (once); they are cheap to keep while the driver is open. */
  private startWatching(): void {
    if (this.closed) return;
    this.events.start();
    if (!this.exitsWatchTried && this.exitsDir !== '') {
      this.exitsWatchTried = true;
      try {
        const watcher = watch(this.exitsDir, { persistent: true }, (_event, filename) => {
          if (typeof filename === 'string' && containerIdPattern.test(filename)) this.onExitFile(filename);
        });
        watcher.on('error', (err) => {
          this.logger.debug('watch of the exits directory ended', { dir: this.exitsDir, error: errorText(err) });
          watcher.close();
          if (this.exitsWatcher === watcher) this.exitsWatcher = undefined;
        });
        this.exitsWatcher = watcher;
      } catch (err) {
        this.logger.debug('no watch of the exits directory: exits are seen through podman events', { dir: this.exitsDir, error: errorText(err) });
      }
    }
    this.updateTimers();
  }

  /** Timers and event sources keep the process alive only while tasks are watched. */
  private updateTimers(): void {
    const active = this.live.size > 0 && !this.closed;
    if (active) {
      this.ticker ??= setInterval(() => this.tick(), this.pollIntervalMs);
      this.reconciler ??= setInterval(() => void this.reconcile(), this.reconcileIntervalMs);
    } else {
      if (this.ticker) clearInterval(this.ticker);
      if (this.reconciler) clearInterval(this.reconciler);
      this.ticker = undefined;
      this.reconciler = undefined;
    }
    this.events.setRef(active);
    if (active) this.exitsWatcher?.ref();
    else this.exitsWatcher?.unref();
  }

  /**
   * conmon wrote (or podman's cleanup deleted) the exit file of `containerId`: read at once,
   * before the cleanup deletes it.
   */
  private onExitFile(containerId: string): void {
    const task = this.byContainer.get(containerId);
    if (task?.exit) return;
    const record = readConmonExitFile(this.exitsDir, containerId);
    if (task && record && this.finishFromExitFile(task, record)) return;
    this.onDied(containerId, record);
  }

  /** `containerId` ended (`record`: conmon's record of it, when read). */
  private onDied(containerId: string, record: ConmonExitRecord | undefined): void {
    const task = this.byContainer.get(containerId);
    if (task) {
      this.checkSoon(task);
      return;
    }
    const now = Date.now();
    const known = this.recentDied.get(containerId);
    if (known) known.exit ??= record;
    else this.recentDied.set(containerId, { at: now, exit: record });
    for (const [id, { at }] of this.recentDied) {
      if (at > now - RECENT_DIED_MS) break;
      this.recentDied.delete(id);
    }
  }

  /**
   * Finishes the task from conmon's exit record, as podman would record it; false when that
   * cannot be done faithfully (the task has a memory limit and conmon's `oom` file cannot be
   * looked at): then podman is asked.
   */
  private finishFromExitFile(task: TrackedTask, record: ConmonExitRecord): boolean {
    if (task.exit || !this.live.has(task)) return true;
    let oomKilled = false;
    if (task.memoryLimited) {
      const bundleDir = this.bundleDirOf(task.containerId);
      if (bundleDir === undefined) return false;
      oomKilled = existsSync(join(bundleDir, 'oom'));
    }
    this.finish(task, this.exitOf(task, { exitCode: record.exitCode, oomKilled, finishedAt: record.finishedAt }));
    return true;
  }

  /** The container's bundle dir (conmon writes `oom` there), when known and present. */
  private bundleDirOf(containerId: string): string | undefined {
    if (!this.storage) {
      this.learnStorage();
      return undefined;
    }
    const dir = join(this.storage.graphRoot, `${this.storage.driver}-containers`, containerId, 'userdata');
    return existsSync(join(dir, 'config.json')) ? dir : undefined;
  }

  /** Asks podman (once, in the background) where containers/storage keeps containers. */
  private learnStorage(): void {
    if (this.storage || this.storageAsked || this.exitsDir === '' || this.closed) return;
    this.storageAsked = true;
    this.cli.run(['info', '--format', '{{.Store.GraphRoot}}\t{{.Store.GraphDriverName}}'], { timeoutMs: 10_000 }).then(
      (stdout) => {
        const [graphRoot, driver] = stdout.trim().split('\t');
        this.setStorage(graphRoot, driver);
      },
      (err: unknown) => {
        this.storageAsked = false; // asked again for the next task with a memory limit
        this.logger.debug('podman info failed; exits of tasks with a memory limit are read with podman inspect', { error: errorText(err) });
      },
    );
  }

  private setStorage(graphRoot: string | undefined, driver: string | undefined): void {
    if (typeof graphRoot === 'string' && isAbsolute(graphRoot) && typeof driver === 'string' && /^[a-z0-9_]+$/.test(driver)) this.storage = { graphRoot, driver };
  }

  /** Reads new output of due tasks; a task whose output does not grow is looked at less often. */
  private tick(): void {
    const now = Date.now();
    for (const task of this.live) {
      if (!task.reader || now < task.nextPollAt) continue;
      const grew = task.reader.drain();
      task.pollEveryMs = grew ? this.pollIntervalMs : Math.min(task.pollEveryMs * 2, MAX_IDLE_POLL_MS);
      task.nextPollAt = now + task.pollEveryMs;
    }
  }

  /** The safety net: one `podman ps` for every container of this node; ended ones are inspected. */
  private async reconcile(): Promise<void> {
    if (this.reconciling || this.live.size === 0) return;
    this.reconciling = true;
    try {
      const listed = new Map((await this.listNodeContainers()).map((c) => [c.Id, c]));
      for (const task of this.live) {
        const c = listed.get(task.containerId);
        if (!c || c.State === 'exited' || c.State === 'stopped') this.checkSoon(task);
      }
    } catch (err) {
      this.logger.warn('podman ps failed; exits may be seen late', { error: errorText(err) });
    } finally {
      this.reconciling = false;
    }
  }

  private async listNodeContainers(): Promise<ListedContainer[]> {
    const stdout = await this.cli.run(['ps', '--all', '--filter', `label=${PODMAN_LABELS.managed}=true`, '--filter', `label=${PODMAN_LABELS.node}=${this.nodeName}`, '--format', 'json']);
    const list = parseJson<ListedContainer[]>(stdout.trim() === '' ? '[]' : stdout);
    if (!Array.isArray(list)) throw new DriverError(`podman ps gave no usable answer: ${JSON.stringify(stdout.slice(0, 200))}`);
    return list.filter((c) => isPlainObject(c) && typeof c.Id === 'string');
  }

  /**
   * `podman container inspect` of `ids`; a missing container is absent from the result. Rejects
   * when podman could not be asked (then nothing is known about any of them).
   */
  private async inspectContainers(ids: readonly string[]): Promise<Map<string, InspectedContainer>> {
    let stdout: string;
    let failure: PodmanCommandError | undefined;
    try {
      stdout = await this.cli.run(['container', 'inspect', '--format', 'json', ...ids]);
    } catch (err) {
      // Missing ones make podman fail, but it still prints the others.
      if (!isNoSuchContainer(err) || !(err instanceof PodmanCommandError)) throw err;
      failure = err;
      stdout = err.stdout;
    }
    const list = parseJson<InspectedContainer[]>(stdout.trim() === '' ? '[]' : stdout);
    if (!Array.isArray(list)) throw failure ?? new DriverError(`podman inspect gave no usable answer: ${JSON.stringify(stdout.slice(0, 200))}`);
    return new Map(list.filter((c) => isPlainObject(c) && typeof c.Id === 'string' && isPlainObject(c.State)).map((c) => [c.Id, c]));
  }

  /** Inspects the task's container soon, together with any others asked for meanwhile. */
  private checkSoon(task: TrackedTask): void {
    if (task.exit || !this.live.has(task)) return;
    this.pendingChecks.add(task);
    if (this.checkScheduled || this.checkRunning) return;
    this.checkScheduled = true;
    setImmediate(() => void this.runChecks());
  }

  private async runChecks(): Promise<void> {
    this.checkScheduled = false;
    if (this.checkRunning) return;
    this.checkRunning = true;
    try {
      while (this.pendingChecks.size > 0 && !this.closed) {
        const pending = [...this.pendingChecks].filter((t) => !t.exit && this.live.has(t));
        this.pendingChecks.clear();
        // An exit conmon has recorded (and podman's cleanup not yet deleted) needs no podman call.
        const batch =
          this.exitsDir === ''
            ? pending
            : pending.filter((t) => {
                const record = readConmonExitFile(this.exitsDir, t.containerId);
                return !record || !this.finishFromExitFile(t, record);
              });
        if (batch.length === 0) break;
        let inspected: Map<string, InspectedContainer>;
        try {
          inspected = await this.inspectContainers(batch.map((t) => t.containerId));
        } catch (err) {
          this.logger.warn('podman inspect failed; trying again at the next poll', { error: errorText(err) });
          break;
        }
        for (const task of batch) {
          const c = inspected.get(task.containerId);
          try {
            if (c) this.applyInspection(task, c);
            else this.finish(task, { exitCode: -1, reason: 'Lost', message: `container ${task.containerId} was removed by someone else`, finishedAt: new Date().toISOString() });
          } catch (err) {
            // Not expected (files are read defensively); the task must not hang.
            this.finish(task, { exitCode: -1, reason: 'Lost', message: `reading the exit failed: ${errorText(err)}`, finishedAt: new Date().toISOString() });
          }
        }
      }
    } finally {
      this.checkRunning = false;
    }
  }

  /** Finishes the task if its inspected container has ended. */
  private applyInspection(task: TrackedTask, c: InspectedContainer): void {
    if (task.exit || !this.live.has(task)) return;
    const status = c.State.Status;
    if (c.State.Running || (status !== 'exited' && status !== 'stopped')) return;
    this.finish(
      task,
      this.exitOf(task, { exitCode: c.State.ExitCode, oomKilled: c.State.OOMKilled === true, error: c.State.Error, finishedAt: c.State.FinishedAt }),
    );
  }

  private exitOf(task: TrackedTask, end: ContainerEnd): ExitResult {
    const code = Number.isSafeInteger(end.exitCode) ? end.exitCode : -1;
    const signal = code > 128 ? signalNames.get(code - 128) : undefined;
    // conmon misses OOM kills on some cgroup v1 hosts; the kernel's log names the container's cgroup.
    const oomKilled =
      end.oomKilled ||
      (task.memoryLimited && existsSync(join(task.dir, 'oom'))) ||
      (signal === 'SIGKILL' && task.memoryLimited && !task.stopRequested && this.kernelOomKillCheck(task.containerId));
    let message: string | undefined;
    let reason: ExitResult['reason'];
    if (oomKilled && signal === 'SIGKILL') {
      reason = 'OOMKilled';
      message = 'killed for exceeding its memory limit';
    } else if (task.stopRequested) {
      reason = 'Stopped';
    } else if (signal) {
      reason = 'Signaled';
    } else {
      reason = code === 0 ? 'Completed' : 'Error';
    }
    if (reason === 'Error' && code === 1) {
      // catatonit (PID 1) could not exec the task's program.
      const head = readK8sLogHead(task.logPath, 'stderr', 1024).toString('utf8');
      const failed = /^ERROR \(catatonit:\d+\): failed to exec pid1: (.*)$/m.exec(head);
      if (failed) message = `cannot start the command: ${failed[1]}`;
    }
    if (!message && oomKilled) message = 'a process of the task was killed for exceeding the memory limit';
    if (!message && end.error) message = end.error;
    return {
      exitCode: code,
      ...(signal ? { signal } : {}),
      ...(oomKilled ? { oomKilled: true } : {}),
      reason,
      ...(message ? { message } : {}),
      finishedAt: rfc3339(end.finishedAt),
    };
  }

  /** Records the exit after delivering all output (conmon wrote it before the exit file). */
  private finish(task: TrackedTask, exit: ExitResult): void {
    if (task.exit || this.closed || !this.live.has(task)) return;
    task.reader?.drain();
    task.exit = exit;
    this.live.delete(task);
    this.pendingChecks.delete(task);
    this.updateTimers();
    task.resolveExit(exit);
  }

  /** Sends a signal to the container; false when podman failed for another reason than the container having ended. */
  private async kill(task: TrackedTask, signal: NodeJS.Signals): Promise<boolean> {
    try {
      await this.cli.run(['kill', '--signal', signal, task.containerId]);
      return true;
    } catch (err) {
      // Ended already (or removed): the check reports it.
      this.checkSoon(task);
      if (isNoSuchContainer(err) || (err instanceof PodmanCommandError && /can only kill running containers|state improper/i.test(err.stderr))) return true;
      this.logger.warn('podman kill failed', { taskId: task.taskId, signal, error: errorText(err) });
      return false;
    }
  }

  /** The task's exit if it comes within `ms`; undefined otherwise. Rejects as `exited` does. */
  private async exitWithin(task: TrackedTask, ms: number): Promise<ExitResult | undefined> {
    if (task.exit) return task.exit;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    return Promise.race([task.exited, timeout]).finally(() => clearTimeout(timer));
  }
}

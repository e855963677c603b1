// The process driver: runs a task's argv directly on the host, one detached supervisor per
// task (process-supervisor.ts) so that tasks survive an agent restart and their exit status
// is recorded even while no agent is watching.
//
// What is enforced: argv without a shell; the environment exactly as given (plus a minimal
// PATH when none is); workingDir; a process group per task, so that signals reach every
// process of it and nothing of it survives its main process. Memory: the RSS of the whole
// group is sampled every `memoryPollMs` and the group is SIGKILLed (reason OOMKilled) when
// above `resources.memoryBytes`; a spike shorter than one sample can pass. CPU is not
// limited (cpuMillis is for placement only). No filesystem or user isolation.
import { spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { release } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isProcessAlive, processGroupUsage, signalProcessGroup } from './process-group.js';
import { type ExitRecord, type PidRecord, type SupervisorSpec, readRecord, taskFiles } from './process-task-files.js';
import {
  type DriverCapabilities,
  DriverError,
  type ExitResult,
  type Fingerprint,
  InvalidTaskConfigError,
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
  taskIdOf,
} from './task-driver.js';

export interface ProcessDriverOptions {
  /** Directory the driver owns; tasks live under `<stateDir>/tasks/<taskId>/`. */
  stateDir: string;
  /** How often task exits and new output are looked for, in ms. Default 100. */
  pollIntervalMs?: number;
  /** Memory watchdog sampling period, in ms. Default 100. */
  memoryPollMs?: number;
  /** How long `start` waits for the supervisor to report the task running. Default 10000. */
  startTimeoutMs?: number;
  /** Working directory of tasks that name none. Default: the task's own state directory. */
  defaultWorkingDir?: string;
}

/** Used when a task's env has no PATH. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const taskIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const jobUidPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const envNamePattern = /^[^=\0]+$/;

interface TrackedTask {
  taskId: string;
  dir: string;
  files: ReturnType<typeof taskFiles>;
  startedAt: string;
  supervisor: PidRecord | undefined;
  task: PidRecord | undefined;
  exit: ExitResult | undefined;
  exited: Promise<ExitResult>;
  resolveExit: (exit: ExitResult) => void;
  rejectExit: (err: Error) => void;
  stopRequested: boolean;
  tailers: LogTailer[];
  timer: NodeJS.Timeout | undefined;
}

/** Streams what is appended to a file, from a byte offset on. */
class LogTailer {
  constructor(
    private readonly path: string,
    private offset: number,
    private readonly emit: (chunk: Buffer) => void,
  ) {}

  /** Emits everything appended since the last call. */
  drain(): void {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.allocUnsafe(64 * 1024);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.emit(Buffer.from(buf.subarray(0, n)));
      }
    } finally {
      closeSync(fd);
    }
  }
}

/** The command line that runs the supervisor: compiled JS, or the TS source through tsx. */
function supervisorArgs(): string[] {
  const js = fileURLToPath(new URL('./process-supervisor.js', import.meta.url));
  if (existsSync(js)) return [js];
  const ts = fileURLToPath(new URL('./process-supervisor.ts', import.meta.url));
  return ['--import', import.meta.resolve('tsx'), ts];
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function hasNul(s: string): boolean {
  return s.includes('\0');
}

/** Checks a TaskConfig; throws InvalidTaskConfigError naming the first bad field. */
export function validateProcessTask(task: TaskConfig): void {
  const bad = (field: string, rule: string): never => {
    throw new InvalidTaskConfigError(field, rule);
  };
  if (typeof task.jobUid !== 'string' || !jobUidPattern.test(task.jobUid))
    bad('jobUid', 'must match [A-Za-z0-9][A-Za-z0-9._-]* and be at most 128 characters');
  if (typeof task.namespace !== 'string' || task.namespace === '') bad('namespace', 'must be a non-empty string');
  if (typeof task.name !== 'string' || task.name === '') bad('name', 'must be a non-empty string');
  if (!Number.isSafeInteger(task.attempt) || task.attempt < 0) bad('attempt', 'must be an integer >= 0');
  if (!Array.isArray(task.command) || task.command.length === 0) bad('command', 'must be a non-empty array of strings');
  task.command.forEach((arg, i) => {
    if (typeof arg !== 'string' || hasNul(arg)) bad(`command[${i}]`, 'must be a string without NUL');
  });
  if (task.command[0] === '') bad('command[0]', 'must not be empty');
  if (!Array.isArray(task.args)) bad('args', 'must be an array of strings');
  task.args.forEach((arg, i) => {
    if (typeof arg !== 'string' || hasNul(arg)) bad(`args[${i}]`, 'must be a string without NUL');
  });
  if (typeof task.env !== 'object' || task.env === null || Array.isArray(task.env)) bad('env', 'must be an object of strings');
  for (const [k, v] of Object.entries(task.env)) {
    if (!envNamePattern.test(k)) bad(`env[${JSON.stringify(k)}]`, 'name must be non-empty without "=" or NUL');
    if (typeof v !== 'string' || hasNul(v)) bad(`env.${k}`, 'must be a string without NUL');
  }
  if (task.workingDir !== undefined) {
    if (typeof task.workingDir !== 'string' || !isAbsolute(task.workingDir) || hasNul(task.workingDir))
      bad('workingDir', 'must be an absolute path without NUL');
    let isDir: boolean;
    try {
      isDir = statSync(task.workingDir).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) bad('workingDir', 'must be an existing directory');
  }
  const resources = task.resources ?? {};
  if (resources.memoryBytes !== undefined && (!Number.isSafeInteger(resources.memoryBytes) || resources.memoryBytes <= 0))
    bad('resources.memoryBytes', 'must be a positive integer');
  if (resources.cpuMillis !== undefined && (!Number.isFinite(resources.cpuMillis) || resources.cpuMillis <= 0))
    bad('resources.cpuMillis', 'must be a positive number');
  if (task.image !== undefined) bad('image', 'is not supported by the process driver');
}

export class ProcessDriver implements TaskDriver {
  readonly name = 'process';
  readonly capabilities: DriverCapabilities = {
    sendSignals: true,
    memoryLimit: 'rss-watchdog',
    cpuLimit: 'none',
    fsIsolation: 'none',
    recover: true,
    stats: true,
  };

  private readonly stateDir: string;
  private readonly tasksDir: string;
  private readonly pollIntervalMs: number;
  private readonly memoryPollMs: number;
  private readonly startTimeoutMs: number;
  private readonly defaultWorkingDir: string | undefined;
  private readonly tasks = new Map<string, TrackedTask>();

  constructor(options: ProcessDriverOptions) {
    this.stateDir = options.stateDir;
    this.tasksDir = join(options.stateDir, 'tasks');
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.memoryPollMs = options.memoryPollMs ?? 100;
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.defaultWorkingDir = options.defaultWorkingDir;
  }

  async fingerprint(): Promise<Fingerprint> {
    const attributes: Record<string, string> = {
      'driver.process.memoryLimit': this.capabilities.memoryLimit,
      'kernel.release': release(),
      'node.version': process.version,
    };
    if (process.platform !== 'linux') return { healthy: false, detail: `unsupported platform ${process.platform}`, attributes };
    try {
      mkdirSync(this.tasksDir, { recursive: true });
      accessSync(this.tasksDir, fsConstants.W_OK);
      accessSync('/proc/self/stat', fsConstants.R_OK);
    } catch (err) {
      return { healthy: false, detail: `state directory unusable: ${(err as Error).message}`, attributes };
    }
    return { healthy: true, detail: 'ready', attributes };
  }

  async start(config: TaskConfig): Promise<TaskHandle> {
    validateProcessTask(config);
    const taskId = taskIdOf(config);
    if (this.tasks.has(taskId)) throw new TaskAlreadyExistsError(taskId);
    mkdirSync(this.tasksDir, { recursive: true });
    const dir = join(this.tasksDir, taskId);
    try {
      mkdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new TaskAlreadyExistsError(taskId);
      throw err;
    }
    const files = taskFiles(dir);
    const env = { ...config.env };
    if (env.PATH === undefined) env.PATH = DEFAULT_PATH;
    const spec: SupervisorSpec = {
      argv: [...config.command, ...config.args],
      env,
      cwd: config.workingDir ?? this.defaultWorkingDir ?? dir,
      memoryPollMs: this.memoryPollMs,
      ...(config.resources?.memoryBytes !== undefined ? { memoryBytes: config.resources.memoryBytes } : {}),
    };
    writeFileSync(files.spec, JSON.stringify(spec));
    writeFileSync(files.stdout, '');
    writeFileSync(files.stderr, '');

    const startedAt = new Date().toISOString();
    const supervisor = spawn(process.execPath, [...supervisorArgs(), dir], {
      cwd: dir,
      detached: true, // not in the agent's process group: survives the agent and its terminal
      stdio: 'ignore',
      env: {},
    });
    supervisor.on('error', () => {}); // reported through the missing pid records below
    supervisor.unref();

    const deadline = Date.now() + this.startTimeoutMs;
    let supervisorGone = false;
    supervisor.once('exit', () => {
      supervisorGone = true;
    });
    for (;;) {
      const exit = readRecord<ExitRecord>(files.exit);
      if (exit?.startFailed) {
        rmSync(dir, { recursive: true, force: true });
        throw new TaskStartError(`task ${taskId}: ${exit.message ?? 'could not start'}`);
      }
      if (exit || existsSync(files.task)) break;
      if (supervisorGone || Date.now() > deadline) {
        if (supervisor.pid !== undefined) signalProcessGroup(supervisor.pid, 'SIGKILL');
        const task = readRecord<PidRecord>(files.task);
        if (task) signalProcessGroup(task.pid, 'SIGKILL');
        rmSync(dir, { recursive: true, force: true });
        throw new TaskStartError(`task ${taskId}: supervisor ${supervisorGone ? 'exited' : 'timed out'} before starting it`);
      }
      await delay(5);
    }

    const tracked = this.track(taskId, dir, startedAt, config.logs, 0, 0);
    supervisor.once('exit', () => this.poll(tracked));
    return this.handleOf(tracked);
  }

  async recover(handle: TaskHandle, options: RecoverOptions = {}): Promise<void> {
    if (handle?.driver !== this.name) throw new TaskRecoveryError(`handle is for driver ${String(handle?.driver)}, not ${this.name}`);
    if (typeof handle.taskId !== 'string' || !taskIdPattern.test(handle.taskId))
      throw new TaskRecoveryError(`handle.taskId ${JSON.stringify(handle.taskId)} is not a task id`);
    if (this.tasks.has(handle.taskId)) return;
    const dir = join(this.tasksDir, handle.taskId);
    const files = taskFiles(dir);
    if (!existsSync(files.spec)) throw new TaskRecoveryError(`task ${handle.taskId}: no state under ${dir}`);
    if (!existsSync(files.task) && !existsSync(files.exit))
      throw new TaskRecoveryError(`task ${handle.taskId}: it never started`);
    this.track(handle.taskId, dir, handle.startedAt, options.logs, options.stdoutOffset ?? 0, options.stderrOffset ?? 0);
  }

  async wait(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
    const task = this.get(taskId);
    if (!signal) return task.exited;
    signal.throwIfAborted();
    return new Promise<ExitResult>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      task.exited.then(
        (exit) => {
          signal.removeEventListener('abort', onAbort);
          resolve(exit);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  async stop(taskId: string, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitResult> {
    const task = this.get(taskId);
    this.poll(task);
    if (task.exit) return task.exit;
    task.stopRequested = true;
    if (task.task) signalProcessGroup(task.task.pid, signal);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      timer = setTimeout(() => resolve('grace-over'), Math.max(0, graceMs));
    });
    const first = await Promise.race([task.exited, graceOver]);
    clearTimeout(timer);
    if (first !== 'grace-over') return first;
    if (task.task) signalProcessGroup(task.task.pid, 'SIGKILL');
    return task.exited;
  }

  async destroy(taskId: string): Promise<void> {
    const task = this.get(taskId);
    if (!task.exit) await this.stop(taskId, 0, 'SIGKILL');
    if (task.timer) clearInterval(task.timer);
    this.tasks.delete(taskId);
    rmSync(task.dir, { recursive: true, force: true });
  }

  async inspect(taskId: string): Promise<TaskStatus> {
    const task = this.get(taskId);
    this.poll(task);
    return {
      taskId,
      state: task.exit ? 'exited' : 'running',
      startedAt: task.startedAt,
      ...(task.exit ? { exit: task.exit } : {}),
      details: {
        taskDir: task.dir,
        pid: task.task?.pid ?? null,
        supervisorPid: task.supervisor?.pid ?? null,
        stdoutPath: task.files.stdout,
        stderrPath: task.files.stderr,
      },
    };
  }

  async stats(taskId: string): Promise<TaskStats> {
    const task = this.get(taskId);
    this.poll(task);
    if (task.exit || !task.task) throw new TaskNotRunningError(taskId);
    const usage = processGroupUsage(task.task.pid);
    return { memoryRssBytes: usage.rssBytes, cpuTimeMillis: usage.cpuMillis };
  }

  async close(): Promise<void> {
    for (const task of this.tasks.values()) {
      if (task.timer) clearInterval(task.timer);
      if (!task.exit) task.rejectExit(new DriverError(`driver closed while waiting for task ${task.taskId}`));
    }
    this.tasks.clear();
  }

  /** The task ids whose state is on disk (started by this or an earlier instance). */
  listTaskIds(): string[] {
    if (!existsSync(this.tasksDir)) return [];
    return readdirSync(this.tasksDir).filter((id) => taskIdPattern.test(id));
  }

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
      driverState: {
        taskDir: task.dir,
        pid: task.task?.pid ?? null,
        pidStartTime: task.task?.startTime ?? null,
        supervisorPid: task.supervisor?.pid ?? null,
      },
    };
  }

  private track(taskId: string, dir: string, startedAt: string, logs: TaskLogSink | undefined, stdoutOffset: number, stderrOffset: number): TrackedTask {
    const files = taskFiles(dir);
    let resolveExit!: (exit: ExitResult) => void;
    let rejectExit!: (err: Error) => void;
    const exited = new Promise<ExitResult>((resolve, reject) => {
      resolveExit = resolve;
      rejectExit = reject;
    });
    exited.catch(() => {}); // a rejection (driver closed) is only for those who wait
    const tailers = logs
      ? [
          new LogTailer(files.stdout, stdoutOffset, (c) => logs.onStdout(c)),
          new LogTailer(files.stderr, stderrOffset, (c) => logs.onStderr(c)),
        ]
      : [];
    const task: TrackedTask = {
      taskId,
      dir,
      files,
      startedAt,
      supervisor: readRecord<PidRecord>(files.supervisor),
      task: readRecord<PidRecord>(files.task),
      exit: undefined,
      exited,
      resolveExit,
      rejectExit,
      stopRequested: false,
      tailers,
      timer: undefined,
    };
    this.tasks.set(taskId, task);
    task.timer = setInterval(() => this.poll(task), this.pollIntervalMs);
    this.poll(task);
    return task;
  }

  /** Streams new output and notices the task's end. Idempotent. */
  private poll(task: TrackedTask): void {
    if (task.exit || this.tasks.get(task.taskId) !== task) return; // ended, or detached by close/destroy
    for (const t of task.tailers) t.drain();
    task.supervisor ??= readRecord<PidRecord>(task.files.supervisor);
    task.task ??= readRecord<PidRecord>(task.files.task);
    let record = readRecord<ExitRecord>(task.files.exit);
    if (!record) {
      const supervisorAlive = task.supervisor !== undefined && isProcessAlive(task.supervisor.pid, task.supervisor.startTime);
      if (supervisorAlive) return;
      // The supervisor may have written the record just before exiting.
      record = readRecord<ExitRecord>(task.files.exit);
      if (!record) {
        // Supervisor gone without a record (killed): the exit status is unknowable; the task is
        // over once nothing of its group is left.
        if (task.task && isProcessAlive(task.task.pid, task.task.startTime)) return;
        record = { exitCode: -1, reason: 'Error', message: 'supervisor ended without recording the exit status', finishedAt: new Date().toISOString() };
        this.finish(task, { ...this.toExit(task, record), reason: 'Lost' });
        return;
      }
    }
    this.finish(task, this.toExit(task, record));
  }

  private toExit(task: TrackedTask, record: ExitRecord): ExitResult {
    const reason = task.stopRequested && record.reason !== 'OOMKilled' ? 'Stopped' : record.reason;
    return {
      exitCode: record.exitCode,
      ...(record.signal ? { signal: record.signal } : {}),
      ...(record.oomKilled ? { oomKilled: true } : {}),
      reason,
      ...(record.message ? { message: record.message } : {}),
      finishedAt: record.finishedAt,
    };
  }

  private finish(task: TrackedTask, exit: ExitResult): void {
    for (const t of task.tailers) t.drain();
    if (task.timer) clearInterval(task.timer);
    task.timer = undefined;
    task.exit = exit;
    task.resolveExit(exit);
  }
}

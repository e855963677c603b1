// The process driver: runs a task's argv directly on the host. Each task has a supervisor — a
// small /bin/sh running a fixed script (process-supervisor.ts), leader of a session and process
// group of its own — that is the task's parent for its whole life: the task survives the agent
// (also a kill -9 of it), and its exit status is recorded even while no agent watches.
//
// What is enforced: argv executed without a shell interpreting it; the environment exactly as
// given (plus a minimal PATH when none is); workingDir; a process group and session per task
// (led by its supervisor), so that signals reach every process of it and nothing of it
// survives its main process (a process that makes a group of its own escapes, as everywhere);
// stop = the signal to the group, SIGKILL after the grace period. CPU is not limited (cpuMillis
// is for placement only). No filesystem or user isolation. An exit code of 129..192 reads as a
// signal; a task that SIGKILLs its own process group ends as Lost (see process-supervisor.ts).
//
// Memory (`resources.memoryBytes`) is enforced by this driver, in the agent's process: one
// shared timer samples the RSS of every limited task's process group, all of them in one pass
// over /proc, and SIGKILLs a group above its limit (reason OOMKilled). A spike shorter than a
// sample can pass, and the period grows when /proc is large (a pass takes at most ~5% of the
// time). WHILE NO AGENT RUNS — between an agent's end and its successor's `recover` — THE
// LIMIT IS NOT ENFORCED. (RLIMIT_AS would be, but breaks many programs; Linux ignores RLIMIT_RSS.)
//
// Cost per task: one fork+exec of /bin/sh by the agent, a fork by it and the exec of the program
// (plus one of env(1) for an environment the shell cannot pass on, or a program named without
// a path), a few small files. Watching costs no timer per task: the end of a task started by
// this instance is its supervisor's 'exit' event; one shared timer reads new output (a task
// whose output did not grow is looked at less and less often, down to every `maxIdlePollMs`)
// and notices the end of re-adopted tasks, which are not our children, by their exit record.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { constants as osConstants, release } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isProcessAlive, killTaskGroup, processGroupUsage, scanTaskGroups, signalProcesses, signalProcessGroup, taskGroupAlive } from './process-group.js';
import {
  findExecutable,
  findTool,
  launchCommand,
  launchFailure,
  launchModeOf,
  type LaunchTools,
  MAX_ENV_VARIABLES,
  SUPERVISOR_NAME,
  supervisorCommand,
} from './process-supervisor.js';
import { type ExitRecord, type OomRecord, readRecord, recordText, type TaskRecord, taskFiles } from './process-task-files.js';
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
  taskIdOf,
  untilAborted,
} from './task-driver.js';
import { checkCommonTaskFields } from './task-config-checks.js';

export interface ProcessDriverOptions {
  /** Directory the driver owns; tasks live under `<stateDir>/tasks/<taskId>/`. */
  stateDir: string;
  /** How often new output (and the end of re-adopted tasks) is looked for, in ms. Default 100. */
  pollIntervalMs?: number;
  /** The longest pause between two looks at a task whose output does not grow, in ms. Default 1000. */
  maxIdlePollMs?: number;
  /** Memory watchdog sampling period, in ms. Default 100. */
  memoryPollMs?: number;
  /**
   * How long to wait for a supervisor to be ready, at start, or for its first record, when a
   * task is re-adopted right after it was spawned. Default 10000.
   */
  startTimeoutMs?: number;
  /** Working directory of tasks that name none. Default: the task's own state directory. */
  defaultWorkingDir?: string;
  /** Absolute paths of the launch tools. Default: /bin/sh, and env from /usr/bin or /bin. */
  tools?: Partial<LaunchTools>;
}

/** Used when a task's env has no PATH. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `taskIdOf` of a valid task: `<jobUid>.<attempt>`. */
const taskIdPattern = /^([A-Za-z0-9][A-Za-z0-9._-]{0,127})\.(0|[1-9][0-9]{0,15})$/;
const envNamePattern = /^[^=\0]+$/;

/** Signal names by number (the first name of a number: SIGABRT, not SIGIOT). */
const signalNames = new Map<number, NodeJS.Signals>();
for (const [name, number] of Object.entries(osConstants.signals)) {
  if (!signalNames.has(number)) signalNames.set(number, name as NodeJS.Signals);
}

interface TrackedTask {
  taskId: string;
  dir: string;
  files: ReturnType<typeof taskFiles>;
  startedAt: string;
  memoryBytes: number | undefined;
  /** The supervisor's pid: the task's process group (and session) id. */
  group: number | undefined;
  /** The supervisor's record, once written: it traps signals from then on. */
  supervisor: TaskRecord | undefined;
  /** The supervisor while it is this instance's child and has not exited. */
  child: ChildProcess | undefined;
  onChildExit: (() => void) | undefined;
  /** The supervisor was this instance's child and has exited. */
  supervisorGone: boolean;
  exit: ExitResult | undefined;
  exited: Promise<ExitResult>;
  resolveExit: (exit: ExitResult) => void;
  rejectExit: (err: Error) => void;
  stopRequested: boolean;
  oomKilled: boolean;
  tailers: LogTailer[];
  /** Current pause between looks by the shared timer, and the time of the next look. */
  pollEveryMs: number;
  nextPollAt: number;
}

/** Streams what is appended to a file, from a byte offset on. */
class LogTailer {
  constructor(
    private readonly path: string,
    private offset: number,
    private readonly emit: (chunk: Buffer) => void,
  ) {}

  /** Emits everything appended since the last call; true when there was anything. */
  drain(): boolean {
    let fd: number;
    try {
      const size = statSync(this.path, { throwIfNoEntry: false })?.size;
      if (size === undefined || size <= this.offset) return false;
      fd = openSync(this.path, 'r');
    } catch {
      return false;
    }
    try {
      const buf = Buffer.allocUnsafe(64 * 1024);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.emit(Buffer.from(buf.subarray(0, n)));
      }
    } catch {
      // An unreadable file: what was read is delivered, the rest is tried again later.
    } finally {
      closeSync(fd);
    }
    return true;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}


function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Removes a task's directory: the driver's files at once, the directory (slow on some file
 * systems: it waits for the journal) off the event loop, and what the task wrote into it
 * (its default working directory) if anything.
 */
async function removeTaskDir(task: { dir: string; files: ReturnType<typeof taskFiles> }): Promise<void> {
  for (const file of new Set(Object.values(task.files))) {
    try {
      unlinkSync(file);
    } catch {
      // Absent, or removed with the rest below.
    }
  }
  try {
    await rmdir(task.dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') await rm(task.dir, { recursive: true, force: true });
  }
}

/** Reads a task record; undefined when it is missing, incomplete or damaged. */
function readTaskRecord(path: string): TaskRecord | undefined {
  try {
    const record = readRecord<TaskRecord>(path);
    return record && Number.isSafeInteger(record.pid) && record.pid > 0 ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Checks a TaskConfig; throws InvalidTaskConfigError naming the first bad field. */
export function validateProcessTask(task: TaskConfig): void {
  const bad = (field: string, rule: string): never => {
    throw new InvalidTaskConfigError(field, rule);
  };
  checkCommonTaskFields(task, {
    commandRequired: true,
    envName: { pattern: envNamePattern, rule: 'name must be non-empty without "=" or NUL' },
    maxEnvVariables: MAX_ENV_VARIABLES,
  });
  if (task.workingDir !== undefined) {
    let isDir: boolean;
    try {
      isDir = statSync(task.workingDir).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) bad('workingDir', 'must be an existing directory');
  }
  if (task.image !== undefined) bad('image', 'is not supported by the process driver');
  if (task.workloadType !== undefined && task.workloadType !== 'native') bad('workloadType', "must be 'native' (or absent) for the process driver");
  if (task.volumes !== undefined && (!Array.isArray(task.volumes) || task.volumes.length > 0))
    bad('volumes', 'are not supported by the process driver (no filesystem isolation: tasks see the host as it is)');
  if (task.network !== undefined) bad('network', 'is not supported by the process driver (tasks use the host network)');
}

/** jobUid and attempt of a task id; undefined when it is none (see `taskIdOf`). */
function parseTaskId(taskId: string): { jobUid: string; attempt: number } | undefined {
  const match = taskIdPattern.exec(taskId);
  const attempt = Number(match?.[2]);
  if (!match || !Number.isSafeInteger(attempt)) return undefined;
  return { jobUid: match[1] as string, attempt };
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

  private readonly tasksDir: string;
  private readonly pollIntervalMs: number;
  private readonly maxIdlePollMs: number;
  private readonly memoryPollMs: number;
  private readonly startTimeoutMs: number;
  private readonly defaultWorkingDir: string | undefined;
  private readonly tools: { shell: string; env: string | undefined };
  private readonly tasks = new Map<string, TrackedTask>();
  /** Tracked tasks that have not ended: what the shared timer looks at. */
  private readonly live = new Set<TrackedTask>();
  private ticker: NodeJS.Timeout | undefined;
  private nextMemoryCheckAt = 0;
  /** Groups whose members (all but the supervisor) get a signal at the next `flushKills`. */
  private readonly pendingKills = new Map<number, NodeJS.Signals>();
  private killFlush: NodeJS.Immediate | undefined;
  private launchCheck: Promise<string | undefined> | undefined;

  constructor(options: ProcessDriverOptions) {
    this.tasksDir = join(options.stateDir, 'tasks');
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.maxIdlePollMs = Math.max(this.pollIntervalMs, options.maxIdlePollMs ?? 1000);
    this.memoryPollMs = options.memoryPollMs ?? 100;
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.defaultWorkingDir = options.defaultWorkingDir;
    for (const [name, path] of Object.entries(options.tools ?? {})) {
      if (path !== undefined && (typeof path !== 'string' || !isAbsolute(path))) throw new DriverError(`tools.${name}: must be an absolute path`);
    }
    this.tools = { shell: options.tools?.shell ?? '/bin/sh', env: options.tools?.env ?? findTool('env') };
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
      return { healthy: false, detail: `state directory unusable: ${errorText(err)}`, attributes };
    }
    this.launchCheck ??= this.checkLaunchTools();
    const problem = await this.launchCheck;
    if (problem !== undefined) return { healthy: false, detail: problem, attributes };
    return { healthy: true, detail: 'ready', attributes };
  }

  async start(config: TaskConfig): Promise<TaskHandle> {
    validateProcessTask(config);
    const taskId = taskIdOf(config);
    if (this.tasks.has(taskId)) throw new TaskAlreadyExistsError(taskId);
    const tools = this.launchTools();
    const env = { ...config.env };
    if (env.PATH === undefined) env.PATH = DEFAULT_PATH;
    const argv = [...config.command, ...config.args];
    const mode = launchModeOf(argv, env);
    if (mode === undefined)
      throw new InvalidTaskConfigError('command[0]', 'must not contain "=" unless it is a path (with a "/") and every env name is a plain shell variable name');
    const dir = join(this.tasksDir, taskId);
    // Off the event loop: creating a directory waits for the file system's journal.
    await mkdir(dir).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') throw new TaskAlreadyExistsError(taskId);
      if (err.code !== 'ENOENT') throw err;
      await mkdir(this.tasksDir, { recursive: true });
      await mkdir(dir);
    });
    const startedAt = new Date().toISOString();
    const memoryBytes = config.resources?.memoryBytes;
    let child: ChildProcess;
    try {
      const cwd = config.workingDir ?? this.defaultWorkingDir ?? dir;
      const program = argv[0] as string;
      const found = findExecutable(program, env.PATH, cwd);
      if ('problem' in found) throw new TaskStartError(`task ${taskId}: cannot start ${JSON.stringify(program)}: ${found.problem}`);
      const record: Record<string, number> = memoryBytes !== undefined ? { memoryBytes } : {};
      const command = supervisorCommand(mode, tools, dir, record, argv, env);
      const spawned = spawn(command.file, command.args, {
        cwd,
        env: command.env,
        detached: true, // a session and process group of its own: survives the agent and its terminal
        stdio: 'ignore',
      });
      child = spawned;
      spawned.on('error', () => {}); // a failed spawn is reported below; nothing else is expected
      await new Promise<void>((resolve, reject) => {
        spawned.once('spawn', resolve);
        spawned.once('error', reject);
      }).catch((err: unknown) => {
        throw new TaskStartError(`task ${taskId}: cannot start its supervisor ${tools.shell}: ${errorText(err)}`);
      });
      spawned.unref();
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const task = this.track({ taskId, dir, startedAt, memoryBytes, logs: config.logs, stdoutOffset: 0, stderrOffset: 0, child, group: child.pid });
    return this.handleOf(task);
  }

  async recover(handle: TaskHandle, options: RecoverOptions = {}): Promise<void> {
    if (handle?.driver !== this.name) throw new TaskRecoveryError(`handle is for driver ${String(handle?.driver)}, not ${this.name}`);
    if (typeof handle.taskId !== 'string' || !taskIdPattern.test(handle.taskId))
      throw new TaskRecoveryError(`handle.taskId ${JSON.stringify(handle.taskId)} is not a task id`);
    if (this.tasks.has(handle.taskId)) return;
    const dir = join(this.tasksDir, handle.taskId);
    const files = taskFiles(dir);
    let createdAt: number;
    try {
      createdAt = statSync(dir).mtimeMs;
    } catch (err) {
      throw new TaskRecoveryError(`task ${handle.taskId}: no state under ${dir}: ${errorText(err)}`);
    }
    // A supervisor spawned just before the previous instance went away may not have written
    // its record yet.
    let supervisor = readTaskRecord(files.task);
    while (!supervisor && !existsSync(files.exit)) {
      if (Date.now() > createdAt + this.startTimeoutMs) throw new TaskRecoveryError(`task ${handle.taskId}: it never started`);
      await delay(10);
      supervisor = readTaskRecord(files.task);
    }
    if (this.tasks.has(handle.taskId)) return;
    this.track({
      taskId: handle.taskId,
      dir,
      startedAt: typeof handle.startedAt === 'string' ? handle.startedAt : new Date(createdAt).toISOString(),
      memoryBytes: supervisor?.memoryBytes,
      logs: options.logs,
      stdoutOffset: options.stdoutOffset ?? 0,
      stderrOffset: options.stderrOffset ?? 0,
      group: supervisor?.pid,
      supervisor,
    });
  }

  async wait(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
    const task = this.get(taskId);
    return untilAborted(task.exited, signal);
  }

  async stop(taskId: string, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitResult> {
    const task = this.get(taskId);
    this.refresh(task);
    if (task.exit) return task.exit;
    task.stopRequested = true;
    if (signal !== 'SIGKILL') {
      await this.signal(task, signal);
      const first = await this.exitWithin(task, Math.max(0, graceMs));
      if (first) return first;
    }
    // SIGKILL again (less and less often) until the task ended: a process forked after a pass
    // over the group escapes it (the supervisor kills those once the task's main process is
    // gone), and one in uninterruptible sleep ends only when it wakes up.
    for (let pauseMs = 100; ; pauseMs = Math.min(pauseMs * 2, 2_000)) {
      await this.signal(task, 'SIGKILL');
      const exit = await this.exitWithin(task, pauseMs);
      if (exit) return exit;
    }
  }

  /** The task's exit if it comes within `ms`; undefined otherwise. Rejects as `exited` does. */
  private async exitWithin(task: TrackedTask, ms: number): Promise<ExitResult | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    return Promise.race([task.exited, timeout]).finally(() => clearTimeout(timer));
  }

  async destroy(taskId: string): Promise<void> {
    const task = this.get(taskId);
    if (!task.exit) await this.stop(taskId, 0, 'SIGKILL');
    this.untrack(task);
    await removeTaskDir(task);
  }

  async inspect(taskId: string): Promise<TaskStatus> {
    const task = this.get(taskId);
    this.refresh(task);
    return {
      taskId,
      state: task.exit ? 'exited' : 'running',
      startedAt: task.startedAt,
      ...(task.exit ? { exit: task.exit } : {}),
      details: {
        taskDir: task.dir,
        // The task's process group (and session) id: its supervisor's pid.
        pid: task.group ?? null,
        supervisorPid: task.group ?? null,
        stdoutPath: task.files.stdout,
        stderrPath: task.files.stderr,
      },
    };
  }

  async stats(taskId: string): Promise<TaskStats> {
    const task = this.get(taskId);
    this.refresh(task);
    const group = task.group;
    if (task.exit || group === undefined) throw new TaskNotRunningError(taskId);
    // A task being launched (not forked yet, or between fork and exec) has no resident memory
    // yet, which says nothing about the task: wait (briefly) for its program to be in place.
    const deadline = Date.now() + 1_000;
    let usage = processGroupUsage(group);
    while (usage.rssBytes === 0 && !task.exit && Date.now() < deadline) {
      await delay(5);
      usage = processGroupUsage(group);
    }
    return { memoryRssBytes: usage.rssBytes, cpuTimeMillis: usage.cpuMillis };
  }

  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    if (this.killFlush) clearImmediate(this.killFlush);
    this.killFlush = undefined;
    this.pendingKills.clear();
    for (const task of this.tasks.values()) {
      this.detachChild(task);
      if (!task.exit) task.rejectExit(new DriverError(`driver closed while waiting for task ${task.taskId}`));
    }
    this.tasks.clear();
    this.live.clear();
  }

  /**
   * The task dirs under `<stateDir>/tasks/` (ours by construction; nothing else is looked at),
   * started by this instance or an earlier one. A task runs while it has no exit record and its
   * supervisor, or anything of its process group, lives; one whose supervisor has not written
   * its record yet counts as running for `startTimeoutMs` after its dir was made.
   */
  async listOwned(): Promise<OwnedTask[]> {
    let names: string[];
    try {
      names = (await readdir(this.tasksDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new DriverError(`cannot list ${this.tasksDir}: ${errorText(err)}`);
    }
    const owned: OwnedTask[] = [];
    for (const taskId of names) {
      const parsed = parseTaskId(taskId);
      if (!parsed) continue; // not a task dir (this driver makes no others)
      const dir = join(this.tasksDir, taskId);
      owned.push({ taskId, ...parsed, running: this.runsOnDisk(taskId, dir), ref: dir });
    }
    return owned;
  }

  /**
   * SIGKILLs what is left of the task's process group (never a process that merely reuses
   * the recorded pid: see killTaskGroup), waits until it is gone, and removes the task dir.
   * A task this instance tracks is destroyed instead. `task.ref` must be the task's dir.
   */
  async removeOwned(task: OwnedTask): Promise<void> {
    const dir = join(this.tasksDir, String(task?.taskId));
    if (!parseTaskId(String(task?.taskId)) || task.ref !== dir)
      throw new DriverError(`removeOwned: ${JSON.stringify(task?.ref)} is not the dir of task ${JSON.stringify(task?.taskId)} under ${this.tasksDir}`);
    if (this.tasks.has(task.taskId)) return this.destroy(task.taskId);
    const files = taskFiles(dir);
    let createdAt: number;
    try {
      createdAt = statSync(dir).mtimeMs;
    } catch {
      return; // already gone
    }
    // A supervisor spawned a moment ago (by an agent that went away at once) writes its record
    // soon: kill it then, so that its task does not start once its dir is gone.
    let supervisor = readTaskRecord(files.task);
    while (!supervisor && !existsSync(files.exit) && existsSync(dir) && Date.now() < createdAt + this.startTimeoutMs) {
      await delay(10);
      supervisor = readTaskRecord(files.task);
    }
    if (supervisor) {
      killTaskGroup(supervisor);
      // Dying takes a moment; a process in uninterruptible sleep dies when it wakes up.
      const deadline = Date.now() + this.startTimeoutMs;
      while (taskGroupAlive(supervisor) && Date.now() < deadline) {
        await delay(10);
        killTaskGroup(supervisor); // also what was forked between the passes
      }
    }
    await rm(dir, { recursive: true, force: true });
  }

  /** Whether an untracked task dir holds a running task (see listOwned); a tracked task's own state otherwise. */
  private runsOnDisk(taskId: string, dir: string): boolean {
    const tracked = this.tasks.get(taskId);
    if (tracked) {
      this.refresh(tracked);
      return tracked.exit === undefined;
    }
    const files = taskFiles(dir);
    try {
      if (readRecord<ExitRecord>(files.exit) !== undefined) return false;
    } catch {
      // A damaged exit record: whether anything still runs decides.
    }
    const supervisor = readTaskRecord(files.task);
    if (supervisor) return taskGroupAlive(supervisor);
    try {
      return Date.now() < statSync(dir).mtimeMs + this.startTimeoutMs;
    } catch {
      return false; // removed meanwhile
    }
  }

  private get(taskId: string): TrackedTask {
    const task = this.tasks.get(taskId);
    if (!task) throw new TaskNotFoundError(taskId);
    return task;
  }

  private launchTools(): LaunchTools {
    const { shell, env } = this.tools;
    if (env === undefined) throw new TaskStartError('env (GNU coreutils) was not found in /usr/bin or /bin');
    return { shell, env };
  }

  /** Runs env(1) the way a launch does; the problem, or undefined when it works. */
  private async checkLaunchTools(): Promise<string | undefined> {
    let tools: LaunchTools;
    try {
      tools = this.launchTools();
    } catch (err) {
      return errorText(err);
    }
    // A name no shell passes on, through the environment as tasks get it, run by the shell as
    // supervisors run tasks.
    const { launch, env } = launchCommand('env', tools, [tools.env], { 'A-B': 'ok' });
    return new Promise((resolve) => {
      execFile(tools.shell, ['-c', 'exec "$@"', SUPERVISOR_NAME, ...launch], { env, timeout: 5_000 }, (err, stdout) => {
        if (err) resolve(`${tools.shell} and ${tools.env} cannot launch tasks: ${err.message}`);
        else if (stdout !== 'A-B=ok\n') resolve(`${tools.env} does not set the environment with -S (GNU coreutils >= 8.30 is needed)`);
        else resolve(undefined);
      });
    });
  }

  private handleOf(task: TrackedTask): TaskHandle {
    return {
      version: 1,
      driver: this.name,
      taskId: task.taskId,
      startedAt: task.startedAt,
      driverState: {
        taskDir: task.dir,
        supervisorPid: task.group ?? null,
      },
    };
  }

  private track(options: {
    taskId: string;
    dir: string;
    startedAt: string;
    memoryBytes: number | undefined;
    logs: TaskLogSink | undefined;
    stdoutOffset: number;
    stderrOffset: number;
    group: number | undefined;
    /** The supervisor's record, when written. */
    supervisor?: TaskRecord;
    /** The supervisor, when this instance spawned it. */
    child?: ChildProcess;
  }): TrackedTask {
    const { taskId, dir, startedAt, memoryBytes, logs, stdoutOffset, stderrOffset, child } = options;
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
      memoryBytes,
      group: options.group,
      supervisor: options.supervisor,
      child: undefined,
      onChildExit: undefined,
      supervisorGone: false,
      exit: undefined,
      exited,
      resolveExit,
      rejectExit,
      stopRequested: false,
      oomKilled: false,
      tailers,
      pollEveryMs: this.pollIntervalMs,
      nextPollAt: 0,
    };
    this.tasks.set(taskId, task);
    this.live.add(task);
    if (child && child.exitCode === null && child.signalCode === null) {
      task.child = child;
      task.onChildExit = () => {
        task.child = undefined;
        task.onChildExit = undefined;
        task.supervisorGone = true;
        this.lookNow(task);
      };
      child.once('exit', task.onChildExit);
    } else if (child) {
      task.supervisorGone = true;
    }
    this.lookNow(task);
    if (!this.ticker) this.ticker = setInterval(() => this.tick(), Math.min(this.pollIntervalMs, this.memoryPollMs));
    return task;
  }

  private detachChild(task: TrackedTask): void {
    if (task.child && task.onChildExit) task.child.removeListener('exit', task.onChildExit);
    task.child = undefined;
    task.onChildExit = undefined;
  }

  private untrack(task: TrackedTask): void {
    this.detachChild(task);
    if (this.tasks.get(task.taskId) === task) this.tasks.delete(task.taskId);
    this.live.delete(task);
  }

  /** The shared timer: output and ends of due tasks, then the memory watchdog. */
  private tick(): void {
    const now = Date.now();
    for (const task of this.live) {
      if (now >= task.nextPollAt) this.look(task, now);
    }
    if (now >= this.nextMemoryCheckAt) this.checkMemory(now);
    if (this.live.size === 0 && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /** Looks at a task now and restarts its polling at the fastest pace. */
  private lookNow(task: TrackedTask): void {
    task.pollEveryMs = this.pollIntervalMs;
    this.look(task, Date.now());
  }

  /** One look at a task by the timer; the pause before the next grows while nothing happens. */
  private look(task: TrackedTask, now: number): void {
    let busy: boolean;
    try {
      busy = this.refresh(task);
    } catch (err) {
      // Not expected (records and files are read defensively); the task must not hang.
      busy = false;
      this.finish(task, { exitCode: -1, reason: 'Lost', message: `watching the task failed: ${errorText(err)}`, finishedAt: new Date().toISOString() });
    }
    task.pollEveryMs = busy ? this.pollIntervalMs : Math.min(task.pollEveryMs * 2, this.maxIdlePollMs);
    task.nextPollAt = now + task.pollEveryMs;
  }

  /**
   * Streams new output and notices the task's end. Idempotent. True when there was output or
   * the end is imminent (worth looking again soon).
   */
  private refresh(task: TrackedTask): boolean {
    if (task.exit || !this.live.has(task)) return false; // ended, or detached by close/destroy
    let grew = false;
    for (const t of task.tailers) grew = t.drain() || grew;
    return this.checkEnded(task) || grew;
  }

  /** Finishes the task when it ended; true when its end is imminent. */
  private checkEnded(task: TrackedTask): boolean {
    if (task.exit || task.child) return false; // a child supervisor's end comes as an event
    const record = this.readExit(task);
    if (record === 'damaged') return false;
    const supervisorAlive = this.supervisorAlive(task);
    if (record) {
      // The supervisor kills its group right after writing the record; then nothing of the
      // task is left.
      if (supervisorAlive) return true;
      this.finish(task, this.exitOf(task, record));
      return false;
    }
    if (supervisorAlive) return false;
    // The supervisor may have written the record just before it ended.
    const late = this.readExit(task);
    if (late === 'damaged') return false;
    if (late) {
      this.finish(task, this.exitOf(task, late));
      return false;
    }
    // The supervisor is gone without a record (killed): the exit status is unknowable; the
    // task is over once nothing is left of its group.
    if (task.group !== undefined && processGroupUsage(task.group).processes > 0) return false;
    this.finish(task, { exitCode: -1, reason: 'Lost', message: 'the supervisor ended without recording the exit status', finishedAt: new Date().toISOString() });
    return false;
  }

  /** The exit record; 'damaged' after finishing the task as Lost because it cannot be read. */
  private readExit(task: TrackedTask): ExitRecord | undefined | 'damaged' {
    let record: ExitRecord | undefined;
    try {
      record = readRecord<ExitRecord>(task.files.exit);
    } catch (err) {
      this.finish(task, { exitCode: -1, reason: 'Lost', message: `cannot read the exit status: ${errorText(err)}`, finishedAt: new Date().toISOString() });
      return 'damaged';
    }
    if (record && !Number.isSafeInteger(record.status)) {
      this.finish(task, { exitCode: -1, reason: 'Lost', message: `the exit record holds no status: ${JSON.stringify(record)}`, finishedAt: new Date().toISOString() });
      return 'damaged';
    }
    return record;
  }

  private supervisorAlive(task: TrackedTask): boolean {
    if (task.child) return true;
    if (task.supervisorGone) return false;
    task.supervisor ??= readTaskRecord(task.files.task);
    return task.supervisor !== undefined && isProcessAlive(task.supervisor.pid, task.supervisor.startTime);
  }

  private exitOf(task: TrackedTask, record: ExitRecord): ExitResult {
    const status = record.status;
    let finishedAt: string;
    try {
      finishedAt = statSync(task.files.exit).mtime.toISOString();
    } catch {
      finishedAt = new Date().toISOString();
    }
    const signal = status > 128 ? signalNames.get(status - 128) : undefined;
    const oom = signal === 'SIGKILL' && (task.oomKilled || existsSync(task.files.oom));
    const launchProblem = signal ? undefined : launchFailure(status, task.files.stderr);
    let message: string | undefined;
    if (oom) {
      let detail: OomRecord | undefined;
      try {
        detail = readRecord<OomRecord>(task.files.oom);
      } catch {
        detail = undefined;
      }
      message = detail
        ? `memory above the limit of ${detail.limitBytes} bytes (${detail.rssBytes} bytes resident)`
        : `memory above the limit of ${task.memoryBytes ?? '?'} bytes`;
    } else if (launchProblem) {
      message = `cannot start: ${launchProblem}`;
    }
    const reason: ExitResult['reason'] = oom
      ? 'OOMKilled'
      : task.stopRequested
        ? 'Stopped'
        : launchProblem
          ? 'Error'
          : signal
            ? 'Signaled'
            : status === 0
              ? 'Completed'
              : 'Error';
    return {
      exitCode: status,
      ...(signal ? { signal } : {}),
      ...(oom ? { oomKilled: true } : {}),
      reason,
      ...(message ? { message } : {}),
      finishedAt,
    };
  }

  private finish(task: TrackedTask, exit: ExitResult): void {
    if (task.exit) return;
    for (const t of task.tailers) t.drain();
    task.exit = exit;
    this.live.delete(task);
    task.resolveExit(exit);
  }

  /**
   * Signals the task: its process group, which its supervisor leads and survives (it traps
   * every signal it can, once ready: a supervisor spawned a moment ago is waited for). SIGKILL
   * and SIGSTOP cannot be trapped: they go to every member but the supervisor, all groups of a
   * turn of the event loop in one pass over /proc.
   */
  private async signal(task: TrackedTask, signal: NodeJS.Signals): Promise<void> {
    const group = task.group;
    if (group === undefined) return;
    const deadline = Date.now() + this.startTimeoutMs;
    while (!this.supervisorReady(task) && this.supervisorAlive(task) && !task.exit && Date.now() < deadline) await delay(2);
    if (task.exit) return;
    // A supervisor that is gone, or never got ready, has nothing to spare.
    if ((signal !== 'SIGKILL' && signal !== 'SIGSTOP') || !this.supervisorReady(task) || !this.supervisorAlive(task)) {
      signalProcessGroup(group, signal);
      return;
    }
    this.pendingKills.set(group, signal);
    this.killFlush ??= setImmediate(() => this.flushKills());
  }

  private supervisorReady(task: TrackedTask): boolean {
    task.supervisor ??= readTaskRecord(task.files.task);
    return task.supervisor !== undefined;
  }

  private flushKills(): void {
    this.killFlush = undefined;
    const kills = new Map(this.pendingKills);
    this.pendingKills.clear();
    const groups = scanTaskGroups(new Set(kills.keys()));
    for (const [group, signal] of kills) signalProcesses(groups.get(group)?.pids ?? [], signal);
  }

  /** The memory watchdog: one pass over /proc for every live task with a limit. */
  private checkMemory(now: number): void {
    this.nextMemoryCheckAt = now + this.memoryPollMs;
    const limited = new Map<number, TrackedTask>();
    for (const task of this.live) {
      if (task.memoryBytes !== undefined && task.group !== undefined) limited.set(task.group, task);
    }
    if (limited.size === 0) return;
    const t0 = performance.now();
    const groups = scanTaskGroups(new Set(limited.keys()));
    for (const [group, task] of limited) {
      const usage = groups.get(group);
      const limit = task.memoryBytes as number;
      if (!usage || usage.rssBytes <= limit) continue;
      if (!task.oomKilled) {
        task.oomKilled = true;
        try {
          writeFileSync(task.files.oom, recordText({ limitBytes: limit, rssBytes: usage.rssBytes } satisfies OomRecord));
        } catch {
          // The reason is still known to this instance.
        }
      }
      signalProcesses(usage.pids, 'SIGKILL');
    }
    const took = performance.now() - t0;
    this.nextMemoryCheckAt = Date.now() + Math.max(this.memoryPollMs, took * 20);
  }
}

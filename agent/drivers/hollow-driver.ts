// The hollow driver: a TaskDriver that "runs" a task by completing it, without spawning
// anything, for benchmarks and tests that simulate many agents in one process. It takes any
// name (default 'process', so that it stands in for the real process driver).
//
// Behaviour: start() validates the basics (jobUid, attempt, command) and resolves at once; the
// task then "runs" for `durationMs` (default 0) on the injected clock, writes `outputLine`
// (when given; a function may derive it from the task) plus "\n" to the sink's stdout, and
// exits 0 (reason Completed). stop() ends a running task at once with SIGTERM semantics
// (exit code 143, signal SIGTERM, reason Stopped). Nothing is kept beyond memory: recover()
// knows only tasks of this instance, and close() forgets everything (waiters reject).
// listOwned() lists this instance's tasks (ref = task id); removeOwned() ends a running one
// as SIGKILLed (137, reason Stopped) and forgets it.
import { type Clock, systemClock, type Timer } from '../../controllers/runtime/clock.js';
import {
  type DriverCapabilities,
  DriverError,
  type ExitResult,
  type Fingerprint,
  InvalidTaskConfigError,
  type OwnedTask,
  TaskAlreadyExistsError,
  type TaskConfig,
  type TaskDriver,
  type TaskHandle,
  type TaskLogSink,
  TaskNotFoundError,
  TaskNotRunningError,
  TaskRecoveryError,
  type TaskStats,
  type TaskStatus,
  taskIdOf,
  untilAborted,
} from './task-driver.js';

export interface HollowDriverOptions {
  /** The driver name jobs use. Default 'process'. */
  name?: string;
  /** How long each task "runs", in ms. Default 0. */
  durationMs?: number;
  /** A line written to stdout before the task exits. */
  outputLine?: string | ((task: TaskConfig) => string);
  clock?: Clock;
}

interface HollowTask {
  taskId: string;
  jobUid: string;
  attempt: number;
  startedAt: string;
  exit: ExitResult | undefined;
  exited: Promise<ExitResult>;
  resolve: (exit: ExitResult) => void;
  reject: (err: Error) => void;
  timer: Timer | undefined;
}

const jobUidPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class HollowDriver implements TaskDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities = {
    sendSignals: false,
    memoryLimit: 'none',
    cpuLimit: 'none',
    fsIsolation: 'none',
    recover: false,
    stats: true,
  };

  private readonly durationMs: number;
  private readonly clock: Clock;
  private readonly tasks = new Map<string, HollowTask>();

  constructor(private readonly options: HollowDriverOptions = {}) {
    this.name = options.name ?? 'process';
    this.durationMs = options.durationMs ?? 0;
    this.clock = options.clock ?? systemClock;
    if (typeof this.name !== 'string' || this.name === '') throw new Error('HollowDriver options: name: must be a non-empty string');
    if (!Number.isFinite(this.durationMs) || this.durationMs < 0) throw new Error('HollowDriver options: durationMs: must be a number >= 0');
  }

  async fingerprint(): Promise<Fingerprint> {
    return { healthy: true, detail: 'hollow: tasks complete without running', attributes: { 'driver.hollow': 'true' } };
  }

  async start(task: TaskConfig): Promise<TaskHandle> {
    if (typeof task.jobUid !== 'string' || !jobUidPattern.test(task.jobUid))
      throw new InvalidTaskConfigError('jobUid', 'must match [A-Za-z0-9][A-Za-z0-9._-]* and be at most 128 characters');
    if (!Number.isSafeInteger(task.attempt) || task.attempt < 0) throw new InvalidTaskConfigError('attempt', 'must be an integer >= 0');
    if (!Array.isArray(task.command) || task.command.length === 0) throw new InvalidTaskConfigError('command', 'must be a non-empty array of strings');
    const taskId = taskIdOf(task);
    if (this.tasks.has(taskId)) throw new TaskAlreadyExistsError(taskId);
    let resolve!: (exit: ExitResult) => void;
    let reject!: (err: Error) => void;
    const exited = new Promise<ExitResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    exited.catch(() => {}); // rejected only by close(), for those who wait
    const hollow: HollowTask = { taskId, jobUid: task.jobUid, attempt: task.attempt, startedAt: this.nowIso(), exit: undefined, exited, resolve, reject, timer: undefined };
    this.tasks.set(taskId, hollow);
    hollow.timer = this.clock.setTimeout(() => {
      hollow.timer = undefined;
      const line = typeof this.options.outputLine === 'function' ? this.options.outputLine(task) : this.options.outputLine;
      if (line !== undefined) deliver(task.logs, `${line}\n`);
      this.finish(hollow, { exitCode: 0, reason: 'Completed', finishedAt: this.nowIso() });
    }, this.durationMs);
    return { version: 1, driver: this.name, taskId, startedAt: hollow.startedAt, driverState: {} };
  }

  async recover(handle: TaskHandle): Promise<void> {
    if (handle?.driver !== this.name) throw new TaskRecoveryError(`handle is for driver ${String(handle?.driver)}, not ${this.name}`);
    if (!this.tasks.has(handle.taskId)) throw new TaskRecoveryError(`task ${handle.taskId}: hollow tasks do not survive their driver`);
  }

  async wait(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
    const task = this.get(taskId);
    return untilAborted(task.exited, signal);
  }

  async stop(taskId: string): Promise<ExitResult> {
    const task = this.get(taskId);
    if (!task.exit) this.finish(task, { exitCode: 143, signal: 'SIGTERM', reason: 'Stopped', finishedAt: this.nowIso() });
    return task.exited;
  }

  async destroy(taskId: string): Promise<void> {
    const task = this.get(taskId);
    if (!task.exit) await this.stop(taskId);
    this.tasks.delete(taskId);
  }

  async inspect(taskId: string): Promise<TaskStatus> {
    const task = this.get(taskId);
    return {
      taskId,
      state: task.exit ? 'exited' : 'running',
      startedAt: task.startedAt,
      ...(task.exit ? { exit: task.exit } : {}),
      details: { hollow: true },
    };
  }

  async stats(taskId: string): Promise<TaskStats> {
    const task = this.get(taskId);
    if (task.exit) throw new TaskNotRunningError(taskId);
    return { memoryRssBytes: 0, cpuTimeMillis: 0 };
  }

  async listOwned(): Promise<OwnedTask[]> {
    return [...this.tasks.values()].map((t) => ({ taskId: t.taskId, jobUid: t.jobUid, attempt: t.attempt, running: t.exit === undefined, ref: t.taskId }));
  }

  async removeOwned(owned: OwnedTask): Promise<void> {
    const task = this.tasks.get(owned.taskId);
    if (!task) return;
    if (!task.exit) this.finish(task, { exitCode: 137, signal: 'SIGKILL', reason: 'Stopped', finishedAt: this.nowIso() });
    this.tasks.delete(owned.taskId);
  }

  async close(): Promise<void> {
    for (const task of this.tasks.values()) {
      task.timer?.cancel();
      if (!task.exit) task.reject(new DriverError(`driver closed while waiting for task ${task.taskId}`));
    }
    this.tasks.clear();
  }

  private finish(task: HollowTask, exit: ExitResult): void {
    task.timer?.cancel();
    task.timer = undefined;
    task.exit = exit;
    task.resolve(exit);
  }

  private get(taskId: string): HollowTask {
    const task = this.tasks.get(taskId);
    if (!task) throw new TaskNotFoundError(taskId);
    return task;
  }

  private nowIso(): string {
    return new Date(this.clock.now()).toISOString();
  }
}

function deliver(logs: TaskLogSink | undefined, text: string): void {
  logs?.onStdout(Buffer.from(text, 'utf8'));
}

// The task driver contract: the one interface through which the agent runs a job attempt
// (process, podman, incus). Modelled on hashicorp/nomad plugins/drivers/driver.go.

/** Receives a task's output as it is produced. Chunks are raw bytes, in order per stream. */
export interface TaskLogSink {
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
}

/** Resource limits of one attempt. Absent means unlimited. */
export interface TaskResources {
  /** CPU in millicores (500 = half a core). */
  cpuMillis?: number;
  /** Memory in bytes. How strictly it is enforced is in `DriverCapabilities.memoryLimit`. */
  memoryBytes?: number;
}

/** What to run: one attempt of one job. */
export interface TaskConfig {
  /** The Job's metadata.uid: `[A-Za-z0-9][A-Za-z0-9._-]*`, at most 128 chars. */
  jobUid: string;
  namespace: string;
  name: string;
  /** Attempt number, an integer >= 0. (jobUid, attempt) identifies the task: see `taskIdOf`. */
  attempt: number;
  /** argv[0..]: executed directly, never through a shell. Non-empty, except for podman: empty runs the image's ENTRYPOINT. */
  command: string[];
  /** Appended to `command`, passed literally. */
  args: string[];
  /** The task's environment, exactly (drivers add only a minimal PATH when none is given). */
  env: Record<string, string>;
  /** Absolute working directory; the driver's default when absent. */
  workingDir?: string;
  resources: TaskResources;
  /** Container image, for drivers that need one; drivers that run no image reject it. */
  image?: string;
  /** incus: 'container' (default) or 'vm'; podman: 'container'; process: 'native'. Others reject what they cannot run. */
  workloadType?: WorkloadType;
  /**
   * Host directories bind-mounted into the task (podman, incus). Drivers without filesystem
   * isolation reject them. Drivers re-check the rules (absolute paths, no `..`, no NUL, no `,`
   * or `:` in paths, unique mountPath) even though admission already did.
   */
  volumes?: TaskVolume[];
  /**
   * podman: a named network to join; absent means no network at all (`--network none`). A
   * driver allows only the names its operator listed (`InvalidTaskConfigError` otherwise);
   * drivers without networks reject it.
   */
  network?: string;
  /** Output sink; output is also kept by the driver until `destroy`. */
  logs?: TaskLogSink;
}

export type WorkloadType = 'native' | 'container' | 'vm';

/** One bind mount. */
export interface TaskVolume {
  /** Absolute path on the node. */
  hostPath: string;
  /** Absolute path inside the task. */
  mountPath: string;
  readOnly: boolean;
}

/** JSON-serialisable value, for the driver state the agent persists. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Returned by `start`. The agent persists it (JSON) and hands it back to `recover` after a
 * restart. `driverState` is opaque to the agent.
 */
export interface TaskHandle {
  version: 1;
  driver: string;
  taskId: string;
  /** RFC 3339. */
  startedAt: string;
  driverState: { [key: string]: JsonValue };
}

/** Why a task ended. */
export type ExitReason =
  | 'Completed' // exit code 0
  | 'Error' // non-zero exit code
  | 'Signaled' // killed by a signal nobody here sent
  | 'Stopped' // ended after `stop` (or `destroy`) was called
  | 'OOMKilled' // killed for exceeding its memory limit
  | 'Lost'; // ended while unobserved, exit status unknown (exitCode -1)

export interface ExitResult {
  /** Exit code; 128+N when killed by signal N (137 for SIGKILL); -1 when unknown. */
  exitCode: number;
  signal?: NodeJS.Signals;
  oomKilled?: boolean;
  reason: ExitReason;
  /** Human-readable detail, when there is any. */
  message?: string;
  /** RFC 3339. */
  finishedAt: string;
}

export interface TaskStatus {
  taskId: string;
  state: 'running' | 'exited';
  startedAt: string;
  /** Present once `state` is 'exited'. */
  exit?: ExitResult;
  /** Driver-specific facts (pid, container id, ...), for humans and debugging. */
  details: { [key: string]: JsonValue };
}

export interface TaskStats {
  /** Resident memory of the whole task (all its processes). */
  memoryRssBytes: number;
  /** CPU time consumed so far, user + system, in milliseconds. */
  cpuTimeMillis: number;
}

export interface Fingerprint {
  /** false: the node must not advertise this driver. */
  healthy: boolean;
  detail: string;
  attributes: Record<string, string>;
}

/** Optional features, declared so that the agent and scheduler need not guess. */
export interface DriverCapabilities {
  /** Arbitrary signals can be sent (stop with a custom signal). */
  sendSignals: boolean;
  /** How `resources.memoryBytes` is enforced. */
  memoryLimit: 'none' | 'rss-watchdog' | 'cgroup';
  cpuLimit: 'none' | 'cgroup';
  /** Filesystem isolation of the task. */
  fsIsolation: 'none' | 'image';
  /** `recover` can re-attach to tasks started by an earlier agent process. */
  recover: boolean;
  stats: boolean;
}

/**
 * A task driver. Every method may be called concurrently for different tasks. A task is known
 * to a driver instance from `start` or `recover` until `destroy`; methods given an unknown
 * taskId reject with `TaskNotFoundError`.
 */
export interface TaskDriver {
  /** The name jobs use in `spec.driver`. */
  readonly name: string;
  readonly capabilities: DriverCapabilities;

  /** Whether this driver can run tasks on this node now. Never throws. */
  fingerprint(): Promise<Fingerprint>;

  /**
   * Starts the task and resolves once it is running. Rejects with `InvalidTaskConfigError`
   * (naming the field and the rule), `TaskAlreadyExistsError` when the taskId is in use,
   * `TaskStartError` when the program could not be started (e.g. not found).
   */
  start(task: TaskConfig): Promise<TaskHandle>;

  /**
   * Re-attaches to a task started by an earlier instance of this driver (agent restart),
   * whether it is still running or ended meanwhile — its real exit status is then reported
   * by `wait`. Output is streamed to `logs` from the given byte offsets (default 0).
   * A no-op for a task already known. Rejects with `TaskRecoveryError` if the task is gone.
   */
  recover(handle: TaskHandle, options?: RecoverOptions): Promise<void>;

  /**
   * Resolves when the task has ended, after its output was delivered to the sink. Resolves
   * at once for an ended task. Rejects with the signal's reason when `signal` aborts.
   */
  wait(taskId: string, signal?: AbortSignal): Promise<ExitResult>;

  /**
   * Sends `signal` (default SIGTERM) to the whole task, then SIGKILL if it has not ended
   * after `graceMs`. Resolves with the exit once the task ended; at once if it already had.
   */
  stop(taskId: string, graceMs: number, signal?: NodeJS.Signals): Promise<ExitResult>;

  /** Kills the task if still running and removes everything the driver keeps for it. */
  destroy(taskId: string): Promise<void>;

  inspect(taskId: string): Promise<TaskStatus>;

  /** Current resource usage; rejects with `TaskNotRunningError` once the task ended. */
  stats(taskId: string): Promise<TaskStats>;

  /**
   * Every task on this node that carries this driver's ownership marks (labels / `user.*` keys
   * naming this node, or a task dir under the driver's state dir), running or ended, known to
   * this driver instance or not: what an earlier agent process may have left. Never lists
   * anything not marked as ours. Rejects when the runtime cannot be asked (the agent then skips
   * this sweep).
   */
  listOwned(): Promise<OwnedTask[]>;

  /**
   * Stops (SIGKILL, no grace: nobody owns it) and removes an owned task that no live attempt
   * owns, with everything the driver keeps for it. Resolves if it is already gone. The agent
   * calls it only for tasks it does not track; a task this driver instance tracks is destroyed.
   */
  removeOwned(task: OwnedTask): Promise<void>;

  /** Detaches from every task without stopping them (they can be recovered later). */
  close(): Promise<void>;
}

/** A task found by `listOwned`. */
export interface OwnedTask {
  /** `taskIdOf` of the attempt, read back from the marks. */
  taskId: string;
  jobUid: string;
  attempt: number;
  running: boolean;
  /** The driver's own reference (container id, instance name, task dir), for `removeOwned` and for logs. */
  ref: string;
}

export interface RecoverOptions {
  logs?: TaskLogSink;
  stdoutOffset?: number;
  stderrOffset?: number;
}

/** The task id of an attempt: `<jobUid>.<attempt>`, safe as a file or container name. */
export function taskIdOf(task: Pick<TaskConfig, 'jobUid' | 'attempt'>): string {
  return `${task.jobUid}.${task.attempt}`;
}

/** Base class of every error a driver throws on purpose. */
export class DriverError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class TaskNotFoundError extends DriverError {
  constructor(readonly taskId: string) {
    super(`task ${taskId} not found`);
  }
}

export class TaskAlreadyExistsError extends DriverError {
  constructor(readonly taskId: string) {
    super(`task ${taskId} already exists`);
  }
}

export class TaskNotRunningError extends DriverError {
  constructor(readonly taskId: string) {
    super(`task ${taskId} is not running`);
  }
}

/** A TaskConfig field breaks a rule. */
export class InvalidTaskConfigError extends DriverError {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`invalid task config: ${field}: ${rule}`);
  }
}

export class TaskStartError extends DriverError {}

export class TaskRecoveryError extends DriverError {}

/**
 * `promise`, or a rejection with `signal.reason` as soon as `signal` aborts (the promise itself
 * goes on): how `TaskDriver.wait` honours its signal.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

// Runs the podman CLI: argv only (never a shell), a minimal environment, a bounded time.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { DriverError } from './task-driver.js';

/** PATH for podman when the agent has none. */
const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export interface PodmanCliOptions {
  /** The podman binary: a path, or a name looked up in PATH. */
  podmanPath: string;
  /** CONTAINERS_CONF for every invocation, when set. */
  containersConf?: string;
  /** Default time limit of one invocation, in ms. */
  timeoutMs: number;
}

export interface PodmanRunOptions {
  timeoutMs?: number;
  /** Added to podman's environment (values podman reads for `--env NAME`). */
  extraEnv?: Record<string, string>;
  /** podman's working directory (conmon inherits it: on cgroup v1 it writes its `oom` marker there). */
  cwd?: string;
}

/** A podman invocation that failed: not found, timed out, or a non-zero exit. */
export class PodmanCommandError extends DriverError {
  constructor(
    readonly args: readonly string[],
    /** podman's exit code; undefined when it did not exit by itself (not found, timeout). */
    readonly exitCode: number | undefined,
    readonly stdout: string,
    readonly stderr: string,
    readonly causeCode: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** The container does not exist (any more). */
export function isNoSuchContainer(err: unknown): boolean {
  return err instanceof PodmanCommandError && /no such container|no container with (name or )?id/i.test(err.stderr);
}

/** The last meaningful line of podman's stderr (its "Error: ..." line), for messages. */
export function podmanErrorText(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const error = [...lines].reverse().find((l) => l.startsWith('Error:'));
  return (error ?? lines[lines.length - 1] ?? '').slice(0, 2000);
}

export class PodmanCli {
  constructor(private readonly options: PodmanCliOptions) {}

  get podmanPath(): string {
    return this.options.podmanPath;
  }

  /** podman's environment: PATH, HOME, CONTAINERS_CONF, and `extra`. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? FALLBACK_PATH };
    if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
    if (this.options.containersConf !== undefined) env.CONTAINERS_CONF = this.options.containersConf;
    return { ...env, ...extra };
  }

  /** Runs `podman <args>`; resolves with its stdout, rejects with PodmanCommandError. */
  run(args: readonly string[], options: PodmanRunOptions = {}): Promise<string> {
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    return new Promise((resolve, reject) => {
      execFile(
        this.options.podmanPath,
        args,
        {
          env: this.env(options.extraEnv),
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: MAX_OUTPUT_BYTES,
          encoding: 'utf8',
          ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
        },
        (err, stdout, stderr) => {
          if (!err) {
            resolve(stdout);
            return;
          }
          const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean; signal?: string };
          const exitCode = typeof e.code === 'number' ? e.code : undefined;
          const causeCode = typeof e.code === 'string' ? e.code : undefined;
          const what = `podman ${args[0] ?? ''}`;
          const message =
            causeCode === 'ENOENT'
              ? `${this.options.podmanPath} not found`
              : e.killed || e.signal
                ? `${what} did not finish within ${timeoutMs} ms`
                : exitCode !== undefined
                  ? `${what} failed (exit ${exitCode}): ${podmanErrorText(stderr)}`
                  : `${what} failed: ${e.message}`;
          reject(new PodmanCommandError(args, exitCode, stdout, stderr, causeCode, message));
        },
      );
    });
  }

  /** Starts a long-running `podman <args>` (e.g. `events`) with piped stdout and stderr. */
  spawn(args: readonly string[]): ChildProcess {
    return spawn(this.options.podmanPath, args, { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
  }
}

interface PendingRemoval {
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * `podman rm --force --time 0` of containers, coalesced: removals asked for in the same turn of
 * the event loop, or while `maxInFlight` calls run, go into one call. Each caller learns the
 * fate of its own container: resolved once it is removed or was already gone, rejected with the
 * PodmanCommandError otherwise. (Every podman call costs tens of ms of CPU.)
 */
export class ContainerRemover {
  private queue = new Map<string, PendingRemoval[]>();
  private scheduled = false;
  private running = 0;

  constructor(
    private readonly cli: PodmanCli,
    /** More calls at once than this and removals wait to share the next call. */
    private readonly maxInFlight = 2,
  ) {}

  remove(containerId: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiting = this.queue.get(containerId);
      if (waiting) waiting.push({ resolve, reject });
      else this.queue.set(containerId, [{ resolve, reject }]);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.maxInFlight || this.queue.size === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.running >= this.maxInFlight || this.queue.size === 0) return;
    this.running++;
    const batch = this.queue;
    this.queue = new Map();
    try {
      const ids = [...batch.keys()];
      let removed: Set<string>;
      let failure: PodmanCommandError | undefined;
      try {
        removed = idLines(await this.cli.run(['rm', '--force', '--time', '0', ...ids]));
      } catch (err) {
        if (!(err instanceof PodmanCommandError)) throw err;
        failure = err;
        removed = idLines(err.stdout);
      }
      if (ids.length === 1 && failure) {
        // The call was about this container alone: its error is the answer.
        settle(batch.get(ids[0]!)!, isNoSuchContainer(failure) ? undefined : failure);
        return;
      }
      // podman 4 removes none of the listed containers when one of them is missing (and exits 0):
      // the ones it did not name as removed are removed again, one call each.
      await Promise.all(
        ids.map(async (id) => {
          const waiting = batch.get(id)!;
          if (removed.has(id) || ids.length === 1) {
            settle(waiting, undefined);
            return;
          }
          if (failure && failure.exitCode === undefined) {
            settle(waiting, failure); // podman not found or timed out: once is enough
            return;
          }
          try {
            await this.cli.run(['rm', '--force', '--time', '0', id]);
            settle(waiting, undefined);
          } catch (err) {
            settle(waiting, isNoSuchContainer(err) ? undefined : err instanceof Error ? err : new Error(String(err)));
          }
        }),
      );
    } catch (err) {
      for (const waiting of batch.values()) settle(waiting, err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.running--;
      this.schedule();
    }
  }
}

function idLines(stdout: string): Set<string> {
  return new Set(
    stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== ''),
  );
}

function settle(waiting: readonly PendingRemoval[], err: Error | undefined): void {
  for (const w of waiting) {
    if (err) w.reject(err);
    else w.resolve();
  }
}

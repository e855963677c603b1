// The agent's state directory: everything an agent needs to pick up where an earlier agent
// process on this node left off. The directory is 0700 and every file 0600; every write is
// atomic (temporary file, fsync, rename), so a crash leaves either the old or the new content.
//
// Layout:
//   <stateDir>/node-token                 the per-node token from a join-token Register
//   <stateDir>/attempts/<taskId>.json     one AttemptState per attempt the agent still owns
//   <stateDir>/drivers/<name>/            where createAgent's default driver keeps its tasks
// An attempt's file exists from just before its task is started until its final report was
// acknowledged and its logs were delivered.
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Assignment } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import type { TaskHandle } from './drivers/task-driver.js';

export type ReportState = 'RUNNING' | 'EXITED' | 'FAILED_TO_START' | 'LOST';

/** A status report written down before it is sent, resent until acknowledged. */
export interface PendingReport {
  sequence: number;
  state: ReportState;
  exitCode?: number;
  signal?: string;
  reason: string;
  message: string;
  /** RFC 3339. */
  startedAt?: string;
  finishedAt?: string;
}

/** How far the server has one output stream of an attempt. */
export interface StreamProgress {
  /** The offset the server expects next. */
  acked: number;
  /** The server has the whole stream (eof stored). */
  complete: boolean;
}

/** What the agent remembers about one attempt (JSON, one file per attempt). */
export interface AttemptState {
  version: 1;
  assignment: Assignment;
  /** Set once the driver started the task. */
  handle?: TaskHandle;
  /** The sequence the next report of this attempt gets; persisted before that report is sent. */
  nextSequence: number;
  /** Reports not yet acknowledged, oldest first. */
  pendingReports: PendingReport[];
  /** RUNNING was written down (maybe not yet acknowledged). */
  runningReported: boolean;
  /** The final report (EXITED, FAILED_TO_START or LOST) was written down, or dropped on purpose. */
  endReported: boolean;
  /** Why the agent stopped the task, so that a restarted agent reports the right reason. */
  stopReason?: { reason: string; message: string };
  logs: { stdout: StreamProgress; stderr: StreamProgress };
}

const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/** Writes `content` to `path` atomically with mode 0600 (fsync'ed first unless `fsync` is false). */
export function writeFileAtomic0600(path: string, content: string, fsync = true): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, content);
    if (fsync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600); // the umask may have narrowed it, never widened; make it exact
  renameSync(tmp, path);
}

export class AgentStateDir {
  readonly attemptsDir: string;
  readonly nodeTokenPath: string;

  /**
   * `fsync: false` trades durability across a machine crash (not an agent crash: writes are
   * still atomic) for speed, e.g. for benchmarks with many simulated agents. Default true.
   */
  constructor(
    readonly path: string,
    private readonly options: { fsync?: boolean } = {},
  ) {
    this.attemptsDir = join(path, 'attempts');
    this.nodeTokenPath = join(path, 'node-token');
  }

  /** Creates the directories (0700) if needed and tightens their modes. */
  ensure(): void {
    for (const dir of [this.path, this.attemptsDir]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
    }
  }

  readNodeToken(): string | undefined {
    let text: string;
    try {
      text = readFileSync(this.nodeTokenPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const token = text.trim();
    return token === '' ? undefined : token;
  }

  writeNodeToken(token: string): void {
    writeFileAtomic0600(this.nodeTokenPath, `${token}\n`);
  }

  saveAttempt(taskId: string, state: AttemptState): void {
    writeFileAtomic0600(this.attemptFile(taskId), JSON.stringify(state), this.options.fsync ?? true);
  }

  removeAttempt(taskId: string): void {
    rmSync(this.attemptFile(taskId), { force: true });
  }

  /**
   * Every saved attempt. A file that cannot be read or parsed is returned as `broken` (with the
   * reason) rather than thrown, so that one bad file does not keep the agent from starting.
   */
  loadAttempts(): { attempts: Map<string, AttemptState>; broken: { file: string; error: string }[] } {
    const attempts = new Map<string, AttemptState>();
    const broken: { file: string; error: string }[] = [];
    let names: string[];
    try {
      names = readdirSync(this.attemptsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { attempts, broken };
      throw err;
    }
    for (const name of names) {
      const file = join(this.attemptsDir, name);
      if (name.includes('.tmp-')) {
        rmSync(file, { force: true }); // a write interrupted by a crash
        continue;
      }
      if (!name.endsWith('.json')) continue;
      const taskId = name.slice(0, -'.json'.length);
      try {
        const state = JSON.parse(readFileSync(file, 'utf8')) as AttemptState;
        const problem = checkAttemptState(state);
        if (problem) throw new Error(problem);
        attempts.set(taskId, state);
      } catch (err) {
        broken.push({ file, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return { attempts, broken };
  }

  private attemptFile(taskId: string): string {
    if (!TASK_ID.test(taskId)) throw new Error(`taskId ${JSON.stringify(taskId)}: must match ${TASK_ID.source}`);
    return join(this.attemptsDir, `${taskId}.json`);
  }
}

/** Why a parsed attempt file is unusable, or undefined when it is fine. */
function checkAttemptState(s: AttemptState): string | undefined {
  if (typeof s !== 'object' || s === null) return 'not an object';
  if (s.version !== 1) return `version: must be 1, got ${JSON.stringify(s.version)}`;
  if (typeof s.assignment?.uid !== 'string' || !Number.isSafeInteger(s.assignment?.attempt)) return 'assignment: must name uid and attempt';
  if (!Number.isSafeInteger(s.nextSequence) || s.nextSequence < 1) return 'nextSequence: must be an integer >= 1';
  if (!Array.isArray(s.pendingReports)) return 'pendingReports: must be an array';
  if (typeof s.logs?.stdout?.acked !== 'number' || typeof s.logs?.stderr?.acked !== 'number') return 'logs: must hold stdout and stderr progress';
  return undefined;
}

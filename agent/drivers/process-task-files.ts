// The on-disk layout of one process-driver task, shared by the driver and its supervisor script
// (process-supervisor.ts). <stateDir>/tasks/<taskId>/ holds:
//   task.json        TaskRecord: the supervisor's pid (the task's process group and session id)
//                    and what a driver re-adopting the task needs; written by the supervisor's
//                    child just before it execs the task
//   exit.json        ExitRecord, written once by the supervisor when the task ended
//   oom.json         OomRecord, written by the driver just before it kills the task for its memory
//   stdout.log, stderr.log  the task's output, written by the task itself
// The supervisor is a shell, which cannot rename a file into place: every record is one line
// of JSON ending in a newline, written with a single write(2), and a reader takes a file
// without its final newline (being written, or cut short) as not written yet.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PidRecord {
  pid: number;
  /** Start time in clock ticks since boot (0 when unknown): with the pid, identifies the process. */
  startTime: number;
}

/** The supervisor of a task, which leads the task's process group. */
export interface TaskRecord extends PidRecord {
  /** RSS limit of the task's process group; absent: unlimited. */
  memoryBytes?: number;
}

/** The end of the task as the supervisor saw it. */
export interface ExitRecord {
  /** The shell's `$?` for the task: the exit code, or 128+N when killed by signal N. */
  status: number;
}

export interface OomRecord {
  limitBytes: number;
  rssBytes: number;
}

export function taskFiles(taskDir: string) {
  return {
    task: join(taskDir, 'task.json'),
    /** The same record: the supervisor's pid is the task's process group id. */
    supervisor: join(taskDir, 'task.json'),
    exit: join(taskDir, 'exit.json'),
    oom: join(taskDir, 'oom.json'),
    stdout: join(taskDir, 'stdout.log'),
    stderr: join(taskDir, 'stderr.log'),
  };
}

/** A record as written to disk: one line of JSON. */
export function recordText(record: object): string {
  return `${JSON.stringify(record)}\n`;
}

/**
 * Reads a record; undefined when the file does not exist or is not completely written yet.
 * Throws when a complete record is not JSON (the file was damaged).
 */
export function readRecord<T>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (!text.endsWith('\n')) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${path} is damaged: ${JSON.stringify(text.slice(0, 200))}`);
  }
}

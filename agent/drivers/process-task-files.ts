// The on-disk layout of one process-driver task, shared by the driver and the supervisor.
// <stateDir>/tasks/<taskId>/ holds:
//   spec.json        SupervisorSpec, written by the driver before the supervisor starts
//   supervisor.json  PidRecord of the supervisor, written by the supervisor first thing
//   task.json        PidRecord of the task (its pid is also its process group id)
//   exit.json        ExitRecord, written once by the supervisor when the task ended
//   stdout.log, stderr.log  the task's output, written by the task itself
// Records are written atomically (tmp + rename), so a reader sees all or nothing.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

export interface SupervisorSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** RSS limit of the whole process group; absent: unlimited. */
  memoryBytes?: number;
  /** How often the memory watchdog samples, in ms. */
  memoryPollMs: number;
}

export interface PidRecord {
  pid: number;
  startTime: number;
}

export interface ExitRecord {
  exitCode: number;
  signal?: NodeJS.Signals;
  oomKilled?: boolean;
  reason: 'Completed' | 'Error' | 'Signaled' | 'OOMKilled';
  /** The program could not be started at all (not found, not executable, ...). */
  startFailed?: boolean;
  message?: string;
  finishedAt: string;
}

export function taskFiles(taskDir: string) {
  return {
    spec: join(taskDir, 'spec.json'),
    supervisor: join(taskDir, 'supervisor.json'),
    task: join(taskDir, 'task.json'),
    exit: join(taskDir, 'exit.json'),
    stdout: join(taskDir, 'stdout.log'),
    stderr: join(taskDir, 'stderr.log'),
  };
}

/** Reads a JSON record; undefined when the file does not exist (yet). */
export function readRecord<T>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}

// The per-task supervisor of the process driver: `node process-supervisor.js TASK_DIR`.
// It runs detached from the agent, so that a task outlives an agent restart. It spawns the
// task's argv directly (no shell) in a new process group with stdout/stderr going straight
// to files, records the task's pid, enforces the memory limit by sampling the group's RSS
// (SIGKILL to the group when above it), and when the task's main process ends it kills
// whatever is left of the group and records the exit status. Layout: process-task-files.ts.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { constants } from 'node:os';
import { isProcessAlive, processGroupUsage, readProcStat, signalProcessGroup, writeFileAtomic } from './process-group.js';
import { type ExitRecord, type SupervisorSpec, readRecord, taskFiles } from './process-task-files.js';

function supervise(taskDir: string): void {
  const files = taskFiles(taskDir);
  const self = readProcStat(process.pid);
  writeFileAtomic(files.supervisor, JSON.stringify({ pid: process.pid, startTime: self?.startTime ?? 0 }));
  const spec = readRecord<SupervisorSpec>(files.spec);
  if (!spec) throw new Error(`missing ${files.spec}`);
  const finish = (record: Omit<ExitRecord, 'finishedAt'>): void => {
    writeFileAtomic(files.exit, JSON.stringify({ ...record, finishedAt: new Date().toISOString() }));
    process.exit(0);
  };

  const stdout = openSync(files.stdout, 'a');
  const stderr = openSync(files.stderr, 'a');
  const [file, ...args] = spec.argv as [string, ...string[]];
  const child = spawn(file, args, {
    cwd: spec.cwd,
    env: spec.env,
    detached: true, // its own process group: stop and kill reach its children
    stdio: ['ignore', stdout, stderr],
  });
  closeSync(stdout);
  closeSync(stderr);

  let oomKilled = false;
  let watchdog: NodeJS.Timeout | undefined;
  child.once('spawn', () => {
    const pid = child.pid as number;
    const stat = readProcStat(pid);
    writeFileAtomic(files.task, JSON.stringify({ pid, startTime: stat?.startTime ?? 0 }));
    const limit = spec.memoryBytes;
    if (limit !== undefined) {
      watchdog = setInterval(() => {
        if (processGroupUsage(pid).rssBytes > limit) {
          oomKilled = true;
          signalProcessGroup(pid, 'SIGKILL');
        }
      }, spec.memoryPollMs);
    }
  });
  child.once('error', (err: NodeJS.ErrnoException) => {
    if (child.pid !== undefined && isProcessAlive(child.pid)) return; // not a start failure
    finish({
      exitCode: err.code === 'ENOENT' ? 127 : 126,
      reason: 'Error',
      startFailed: true,
      message: `cannot start ${JSON.stringify(file)}: ${err.message}`,
    });
  });
  child.once('exit', (code, signal) => {
    if (watchdog) clearInterval(watchdog);
    const pgid = child.pid as number;
    // The task is its main process: whatever it left behind in its group goes with it.
    signalProcessGroup(pgid, 'SIGKILL');
    if (signal !== null) {
      const signo = constants.signals[signal] ?? 0;
      finish({
        exitCode: 128 + signo,
        signal,
        ...(oomKilled ? { oomKilled: true } : {}),
        reason: oomKilled ? 'OOMKilled' : 'Signaled',
        ...(oomKilled ? { message: `memory above the limit of ${spec.memoryBytes} bytes` } : {}),
      });
    } else {
      finish({ exitCode: code ?? -1, reason: code === 0 ? 'Completed' : 'Error' });
    }
  });
}

// A hang-up of the terminal the agent ran in must not end the tasks.
process.on('SIGHUP', () => {});
const taskDir = process.argv[2];
if (!taskDir) {
  console.error('usage: process-supervisor TASK_DIR');
  process.exit(2);
}
supervise(taskDir);

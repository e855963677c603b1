// How the process driver launches a task: one small POSIX shell per task — the supervisor —
// running the fixed script SUPERVISOR_SCRIPT, the parent of the task for its whole life.
//
// The driver spawns `/bin/sh -c SUPERVISOR_SCRIPT openscheduler-supervisor TASK_DIR EXTRA LAUNCH...`
// detached, i.e. as the leader of a new session and process group (an agent that dies, even by
// SIGKILL, or a terminal hang-up leaves it and the task running), in the task's working
// directory, with stdin, stdout and stderr on /dev/null. The script traps every signal that
// could end it and forks a subshell, with stdout and stderr appended to the task's log files,
// that writes task.json (the supervisor's pid, and EXTRA: JSON members from the driver; records:
// process-task-files.ts) and execs LAUNCH. The supervisor waits for it as a foreground command,
// records `$?` (exit.json) and SIGKILLs its process group, itself included: nothing the task
// left behind survives it. A signal that ends a process and reaches the supervisor before the
// fork ends the task before it starts, with that signal's status.
//
// The task is thus in the supervisor's process group and session; the group's id is the
// supervisor's pid, known from the spawn on. Signals for the task go to that group: the
// supervisor has trapped them (it would act on them only after the foreground command ended,
// i.e. never), and the subshell has reset the traps to the default actions before it writes
// task.json — so once that record exists, a signal to the group reaches the task and spares the
// supervisor (the driver waits for it before signalling). SIGKILL cannot be trapped, so the
// driver sends it to every member of the group but the supervisor (see process-group.ts). A
// task that SIGKILLs its own group (`kill -9 0`) kills its supervisor too: its exit status is
// then unknown (Lost).
//
// Why this shape: a shell gives the task's exit status only to its parent, and only `$!` of a
// background job names a child — but a background job starts with SIGINT and SIGQUIT ignored,
// which only an exec of another program (env --default-signal) could undo, and a group of its
// own would need setsid(1): two more execs per task, each as costly as the task's own. A
// foreground child in the supervisor's own group needs none.
//
// User data never becomes shell code: LAUNCH reaches the script only as positional parameters,
// run as "$@", and a command word that comes from an expansion is never a keyword or an
// assignment. LAUNCH is, in the common case ("direct"), the task's argv itself: the supervisor
// then runs with exactly the task's environment, which the shell passes on unchanged when every
// name is a plain shell variable name other than those it manages (SHELL_MANAGED_VARIABLES),
// and the program is named by a path (with a '/': the shell looks up no builtin or function
// then, and execs it directly). Otherwise LAUNCH is `env -i -S '-- ${N0}=${V0} ...' ARGV...`:
// the supervisor's environment holds the task's as N<i> (name) and V<i> (value) pairs, which
// env(1) expands from its own environment, so that names that are no shell identifiers, IFS,
// PWD and the like reach the task unchanged, and no value appears in a command line (`ps` shows
// command lines to every user; environments it does not). env(1) also looks the program up in
// the task's PATH, as execvp does, leaving argv[0] as given.
//
// Exit status: the shell reports 128+N both for a task killed by signal N and for one that
// exited with that code itself; the driver reads 129..192 as a signal, as shells do.
// `findExecutable` checks before the spawn (through the task's PATH, from its working
// directory) that the program exists and is executable, so that the usual start failures are
// reported by `start`. What it cannot see (a missing script interpreter, a race) ends the task
// with 126 or 127 and the shell's or env's message as the first line of its stderr, which
// `launchFailure` recognises. (A file without a #! line is run by the shell, as execvp does.)
import { accessSync, closeSync, constants as fsConstants, openSync, readSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/** `$0` of every supervisor, for people reading `ps` (and in the shell's error messages). */
export const SUPERVISOR_NAME = 'openscheduler-supervisor';

/**
 * Signals the supervisor traps: all but SIGKILL (9), SIGCHLD (17), SIGCONT (18) and SIGSTOP
 * (19), which cannot be trapped or do not end a process, up to the last real-time signal (64).
 * Those that end a process by default and arrive before the task is forked end the task before
 * it starts, as if it had been killed by them; the others (SIGTSTP, SIGTTIN, SIGTTOU, SIGURG,
 * SIGWINCH) are just ignored by the supervisor.
 */
const TRAPPED_SIGNALS = Array.from({ length: 64 }, (_, i) => i + 1).filter((n) => ![9, 17, 18, 19].includes(n));
const NOT_ENDING_SIGNALS = [20, 21, 22, 23, 28];

/**
 * The supervisor. Positional parameters: $1 the task dir, $2 EXTRA (JSON members, each with
 * a leading comma, for task.json), $3... LAUNCH.
 */
export const SUPERVISOR_SCRIPT = [
  '__os_sig=',
  `trap : ${NOT_ENDING_SIGNALS.join(' ')}`,
  TRAPPED_SIGNALS.filter((n) => !NOT_ENDING_SIGNALS.includes(n))
    .map((n) => `trap '__os_sig=${n}' ${n}`)
    .join('; '),
  'set -f',
  '__os_dir=$1',
  '__os_extra=$2',
  'shift 2',
  '__os_line=',
  'read -r __os_line <"/proc/$$/stat"',
  '__os_fields() { __os_pgrp=$5 __os_start=${22:-0}; }',
  '__os_fields - - ${__os_line##*) }',
  'case $__os_start in *[!0-9]*) __os_start=0 ;; esac',
  '# Kills the process group, this shell included, if it leads it (it always should).',
  '__os_end() { [ "$__os_pgrp" != $$ ] || kill -s KILL 0; exit 0; }',
  'unset PWD',
  '[ -z "$__os_sig" ] || { printf \'{"status":%s}\\n\' $((128 + __os_sig)) >"$__os_dir/exit.json"; __os_end; }',
  '(',
  '\tprintf \'{"pid":%s,"startTime":%s%s}\\n\' $$ "$__os_start" "$__os_extra" >"$__os_dir/task.json"',
  '\texec "$@"',
  ') >>"$__os_dir/stdout.log" 2>>"$__os_dir/stderr.log"',
  'printf \'{"status":%s}\\n\' $? >"$__os_dir/exit.json"',
  '__os_end',
  '',
].join('\n');

/**
 * Variables the shell sets or resets itself (or might): a task environment with any of them is
 * passed through env(1). So is one with the shell's own variables (`__os_...`) or with
 * variables that change how the supervisor itself runs (the dynamic loader's `LD_...`,
 * `GLIBC_TUNABLES`, `MALLOC_...`): the supervisor must not depend on the task's environment.
 */
export const SHELL_MANAGED_VARIABLES: ReadonlySet<string> = new Set(['CDPATH', 'ENV', 'IFS', 'LINENO', 'OLDPWD', 'OPTARG', 'OPTIND', 'PPID', 'PS1', 'PS2', 'PS4', 'PWD']);
const plainVariableName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const supervisorAffectingVariable = /^(__os_|LD_|GLIBC_|MALLOC_)/;

/** The programs a launch needs, as absolute paths. */
export interface LaunchTools {
  shell: string;
  env: string;
}

/** At most this many environment variables (env(1) -S takes one argument of at most 128 KiB). */
export const MAX_ENV_VARIABLES = 4096;

/** The first executable `name` among `dirs`, or undefined. */
export function findTool(name: string, dirs: readonly string[] = ['/usr/bin', '/bin', '/usr/sbin', '/sbin']): string | undefined {
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    if (isExecutableFile(path)) return path;
  }
  return undefined;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A command: `file` with `args` in environment `env`. */
export interface Command {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/** How LAUNCH runs `argv` (see the file comment). */
export type LaunchMode = 'direct' | 'env';

/** The launch mode of a task; undefined when its program name cannot be passed to env(1). */
export function launchModeOf(argv: readonly string[], taskEnv: Readonly<Record<string, string>>): LaunchMode | undefined {
  const program = argv[0] ?? '';
  const plainEnv = Object.keys(taskEnv).every(
    (name) => plainVariableName.test(name) && !SHELL_MANAGED_VARIABLES.has(name) && !supervisorAffectingVariable.test(name),
  );
  if (plainEnv && program.includes('/')) return 'direct';
  // env(1) takes every operand with a "=" before the program for an assignment.
  return program.includes('=') ? undefined : 'env';
}

/** LAUNCH and the supervisor's environment, in `mode`. */
export function launchCommand(mode: LaunchMode, tools: LaunchTools, argv: readonly string[], taskEnv: Readonly<Record<string, string>>): { launch: string[]; env: Record<string, string> } {
  if (mode === 'direct') return { launch: [...argv], env: { ...taskEnv } };
  const env: Record<string, string> = {};
  const assignments: string[] = ['--'];
  Object.entries(taskEnv).forEach(([name, value], i) => {
    env[`N${i}`] = name;
    env[`V${i}`] = value;
    assignments.push(`\${N${i}}=\${V${i}}`);
  });
  const split = assignments.length > 1 ? ['-S', assignments.join(' ')] : ['--'];
  return { launch: [tools.env, '-i', ...split, ...argv], env };
}

/**
 * The supervisor of one task: the shell running SUPERVISOR_SCRIPT, which runs LAUNCH. `record`
 * goes into task.json besides the supervisor's pid: the members of a JSON object.
 */
export function supervisorCommand(
  mode: LaunchMode,
  tools: LaunchTools,
  taskDir: string,
  record: Record<string, number | string>,
  argv: readonly string[],
  taskEnv: Readonly<Record<string, string>>,
): Command {
  const { launch, env } = launchCommand(mode, tools, argv, taskEnv);
  const extra = Object.entries(record)
    .map(([key, value]) => `,${JSON.stringify(key)}:${JSON.stringify(value)}`)
    .join('');
  return { file: tools.shell, args: ['-c', SUPERVISOR_SCRIPT, SUPERVISOR_NAME, taskDir, extra, ...launch], env };
}

/**
 * Where execvp would find `file`, run from `cwd` with `pathVariable` as PATH: the path, or why
 * it cannot be executed.
 */
export function findExecutable(file: string, pathVariable: string, cwd: string): { path: string } | { problem: string } {
  const candidates = file.includes('/') ? [resolve(cwd, file)] : pathVariable.split(':').map((dir) => resolve(cwd, dir === '' ? '.' : dir, file));
  let notExecutable: string | undefined;
  for (const candidate of candidates) {
    let isFile: boolean;
    try {
      isFile = statSync(candidate).isFile();
    } catch {
      continue; // missing, or a path component is no directory: execvp looks further
    }
    if (isFile && isExecutableFile(candidate)) return { path: candidate };
    notExecutable ??= candidate;
  }
  if (notExecutable !== undefined) return { problem: `${notExecutable} is not an executable file` };
  if (file.includes('/')) return { problem: `${isAbsolute(file) ? file : resolve(cwd, file)} does not exist` };
  return { problem: `not found in PATH ${JSON.stringify(pathVariable)}` };
}

/**
 * The message of a launch that failed after the fork (see the file comment): when `status` is
 * 126 or 127 and the first line of the task's stderr is the shell's or env's complaint.
 */
export function launchFailure(status: number, stderrPath: string): string | undefined {
  if (status !== 126 && status !== 127) return undefined;
  const head = Buffer.alloc(1024);
  let length: number;
  try {
    const fd = openSync(stderrPath, 'r');
    try {
      length = readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const line = head.subarray(0, length).toString('utf8').split('\n')[0] ?? '';
  return line.startsWith(`${SUPERVISOR_NAME}: `) || /^(\S*\/)?env: /.test(line) ? line : undefined;
}

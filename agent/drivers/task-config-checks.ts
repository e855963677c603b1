// The checks of a TaskConfig that every driver makes the same way: identity (jobUid,
// namespace, name, attempt), argv, env, workingDir and resources. Each driver adds its own rules
// (image, workloadType, network, volumes, env names its launcher can pass). Throws
// InvalidTaskConfigError naming the first bad field and the rule.
import { InvalidTaskConfigError, type TaskConfig } from './task-driver.js';

/** A Job uid as drivers use it in task ids, file and container names. */
export const JOB_UID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface CommonTaskChecks {
  /** false: an empty command is allowed (the image's entrypoint runs). */
  commandRequired: boolean;
  /** Env names the driver can pass on, and the rule to state when one cannot. */
  envName: { pattern: RegExp; rule: string };
  /** At most this many env variables. Default unlimited. */
  maxEnvVariables?: number;
}

function hasNul(s: string): boolean {
  return s.includes('\0');
}

export function checkCommonTaskFields(task: TaskConfig, checks: CommonTaskChecks): void {
  const bad = (field: string, rule: string): never => {
    throw new InvalidTaskConfigError(field, rule);
  };
  if (typeof task.jobUid !== 'string' || !JOB_UID_PATTERN.test(task.jobUid))
    bad('jobUid', 'must match [A-Za-z0-9][A-Za-z0-9._-]* and be at most 128 characters');
  if (typeof task.namespace !== 'string' || task.namespace === '' || hasNul(task.namespace)) bad('namespace', 'must be a non-empty string without NUL');
  if (typeof task.name !== 'string' || task.name === '' || hasNul(task.name)) bad('name', 'must be a non-empty string without NUL');
  if (!Number.isSafeInteger(task.attempt) || task.attempt < 0) bad('attempt', 'must be an integer >= 0');
  if (!Array.isArray(task.command)) bad('command', 'must be an array of strings');
  if (checks.commandRequired && task.command.length === 0) bad('command', 'must be a non-empty array of strings');
  task.command.forEach((arg, i) => {
    if (typeof arg !== 'string' || hasNul(arg)) bad(`command[${i}]`, 'must be a string without NUL');
  });
  if (task.command.length > 0 && task.command[0] === '') bad('command[0]', 'must not be empty');
  if (!Array.isArray(task.args)) bad('args', 'must be an array of strings');
  task.args.forEach((arg, i) => {
    if (typeof arg !== 'string' || hasNul(arg)) bad(`args[${i}]`, 'must be a string without NUL');
  });
  if (typeof task.env !== 'object' || task.env === null || Array.isArray(task.env)) bad('env', 'must be an object of strings');
  const env = Object.entries(task.env);
  if (checks.maxEnvVariables !== undefined && env.length > checks.maxEnvVariables) bad('env', `must have at most ${checks.maxEnvVariables} variables`);
  for (const [k, v] of env) {
    if (!checks.envName.pattern.test(k)) bad(`env[${JSON.stringify(k)}]`, checks.envName.rule);
    if (typeof v !== 'string' || hasNul(v)) bad(`env.${k}`, 'must be a string without NUL');
  }
  if (task.workingDir !== undefined && (typeof task.workingDir !== 'string' || !task.workingDir.startsWith('/') || hasNul(task.workingDir)))
    bad('workingDir', 'must be an absolute path without NUL');
  const resources = task.resources ?? {};
  if (resources.memoryBytes !== undefined && (!Number.isSafeInteger(resources.memoryBytes) || resources.memoryBytes <= 0))
    bad('resources.memoryBytes', 'must be a positive integer');
  if (resources.cpuMillis !== undefined && (typeof resources.cpuMillis !== 'number' || !Number.isFinite(resources.cpuMillis) || resources.cpuMillis <= 0))
    bad('resources.cpuMillis', 'must be a positive number');
}

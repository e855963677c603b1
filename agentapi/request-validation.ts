// Validation of agent requests: each check throws INVALID_ARGUMENT with a message naming the
// proto field (snake_case, as in agent.proto) and the rule it broke. Bounds keep one agent from
// making the server store or hold absurd amounts of data.
import { DNS1123_LABEL } from '../api/schema.js';
import { FieldErrors, validateLabelMap } from '../api/validation.js';
import { validateNodeName } from '../apiserver/node-tokens.js';
import { InvalidFieldError } from '../apiserver/users.js';
import type { AttemptRef, DriverInfo, Resources } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { invalidArgument } from './errors.js';

/** Largest log chunk accepted (LogChunk.data). */
export const MAX_LOG_CHUNK_BYTES = 1024 * 1024;
export const MAX_DRIVERS = 16;
export const MAX_DRIVER_DETAIL_LENGTH = 1024;
export const MAX_AGENT_VERSION_LENGTH = 64;
export const MAX_RUNNING_ATTEMPTS = 10_000;
export const MAX_JOB_UID_LENGTH = 128;
/** 10,000 cores. */
export const MAX_CPU_MILLIS = 10_000_000;
/** 1 PiB. */
export const MAX_MEMORY_BYTES = 2 ** 50;
export const MAX_REASON_LENGTH = 256;
export const MAX_MESSAGE_LENGTH = 32 * 1024;
const MAX_INT32 = 2 ** 31 - 1;

const DRIVER_NAME = new RegExp(DNS1123_LABEL);
const JOB_UID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

/** node_name: a DNS-1123 subdomain (as Node names and node tokens), at most 253 characters. */
export function checkNodeName(value: unknown, field = 'node_name'): string {
  try {
    validateNodeName(value, field);
  } catch (err) {
    if (err instanceof InvalidFieldError) throw invalidArgument(err.message);
    throw err;
  }
  return value;
}

export function checkJobUid(value: unknown, field = 'job_uid'): string {
  if (typeof value !== 'string' || value === '') throw invalidArgument(`${field} is required`);
  if (value.length > MAX_JOB_UID_LENGTH || !JOB_UID.test(value)) {
    throw invalidArgument(`${field} must be a job uid: at most ${MAX_JOB_UID_LENGTH} letters, digits, '.', '_' or '-'`);
  }
  return value;
}

export function checkAttempt(value: unknown, field = 'attempt'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_INT32) {
    throw invalidArgument(`${field} must be an attempt number >= 1`);
  }
  return value;
}

export function checkSequence(value: unknown, field = 'sequence'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidArgument(`${field} must be an integer >= 1 (the first report of an attempt has sequence 1)`);
  }
  return value;
}

export function checkRevision(value: unknown, field = 'from_revision'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(`${field} must be an integer >= 0 (0: a snapshot)`);
  }
  return value;
}

export function checkResources(value: Resources | undefined, field: string, required: boolean): Resources | undefined {
  if (value === undefined) {
    if (required) throw invalidArgument(`${field} is required`);
    return undefined;
  }
  const { cpuMillis, memoryBytes } = value;
  if (!Number.isSafeInteger(cpuMillis) || cpuMillis < 0 || cpuMillis > MAX_CPU_MILLIS) {
    throw invalidArgument(`${field}.cpu_millis must be an integer from 0 to ${MAX_CPU_MILLIS}`);
  }
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes < 0 || memoryBytes > MAX_MEMORY_BYTES) {
    throw invalidArgument(`${field}.memory_bytes must be an integer from 0 to ${MAX_MEMORY_BYTES} (1 PiB)`);
  }
  return value;
}

export function checkDrivers(drivers: readonly DriverInfo[], field = 'drivers'): void {
  if (drivers.length > MAX_DRIVERS) throw invalidArgument(`${field} must have at most ${MAX_DRIVERS} entries`);
  const seen = new Set<string>();
  drivers.forEach((d, i) => {
    if (typeof d.name !== 'string' || d.name.length === 0 || d.name.length > 63 || !DRIVER_NAME.test(d.name)) {
      throw invalidArgument(`${field}[${i}].name must be a DNS-1123 label of at most 63 characters (e.g. process, podman, incus)`);
    }
    if (seen.has(d.name)) throw invalidArgument(`${field}[${i}].name "${d.name}" is given twice; driver names must be unique`);
    seen.add(d.name);
    if (typeof d.detail !== 'string' || d.detail.length > MAX_DRIVER_DETAIL_LENGTH || CONTROL.test(d.detail)) {
      throw invalidArgument(`${field}[${i}].detail must be at most ${MAX_DRIVER_DETAIL_LENGTH} characters without control characters`);
    }
  });
}

export function checkLabels(labels: Readonly<Record<string, string>>, field = 'labels'): void {
  const errors = new FieldErrors();
  validateLabelMap(labels, field, errors);
  const first = errors.list()[0];
  if (first !== undefined) throw invalidArgument(`${first.field}: ${first.message}`);
}

export function checkAgentVersion(value: string, field = 'agent_version'): void {
  if (value.length > MAX_AGENT_VERSION_LENGTH || CONTROL.test(value)) {
    throw invalidArgument(`${field} must be at most ${MAX_AGENT_VERSION_LENGTH} characters without control characters`);
  }
}

export function checkRunningAttempts(attempts: readonly AttemptRef[], field = 'running_attempts'): void {
  if (attempts.length > MAX_RUNNING_ATTEMPTS) throw invalidArgument(`${field} must have at most ${MAX_RUNNING_ATTEMPTS} entries`);
  attempts.forEach((a, i) => {
    checkJobUid(a.jobUid, `${field}[${i}].job_uid`);
    checkAttempt(a.attempt, `${field}[${i}].attempt`);
  });
}

/** An optional short machine-readable word (StatusReport.reason, .signal): '' means unset. */
export function checkWord(value: string, field: string, pattern: RegExp, rule: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > MAX_REASON_LENGTH || !pattern.test(value)) throw invalidArgument(`${field} must be ${rule}`);
  return value;
}

export function checkMessage(value: string, field = 'message'): string | undefined {
  if (value === '') return undefined;
  if (value.length > MAX_MESSAGE_LENGTH) throw invalidArgument(`${field} must be at most ${MAX_MESSAGE_LENGTH} characters`);
  if (value.includes('\u0000')) throw invalidArgument(`${field} must not contain NUL characters`);
  return value;
}

/** An optional timestamp as RFC 3339; throws for an unrepresentable time. */
export function checkTime(value: Date | undefined, field: string): string | undefined {
  if (value === undefined) return undefined;
  const ms = value.getTime();
  if (!Number.isFinite(ms) || ms < 0 || ms > Date.parse('9999-12-31T23:59:59Z')) {
    throw invalidArgument(`${field} must be a time between 1970 and 9999`);
  }
  return value.toISOString();
}

export function checkLogOffset(value: unknown, length: number, field = 'offset'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || !Number.isSafeInteger(value + length)) {
    throw invalidArgument(`${field} must be an integer >= 0 (and offset + len(data) a safe integer)`);
  }
  return value;
}

export function checkLogData(data: Uint8Array, field = 'data'): void {
  if (data.length > MAX_LOG_CHUNK_BYTES) throw invalidArgument(`${field} must be at most ${MAX_LOG_CHUNK_BYTES} bytes (1 MiB) per chunk`);
}

// Where logs and attempt records live under the log directory, keyed so that they outlive the
// job and are found by its name:
//
//   <root>/<namespace>/<name>/<uid>/<attempt>.log    both streams of one attempt (log-format.ts)
//   <root>/<namespace>/<name>/<uid>/<attempt>.json   the finished attempt's AttemptRecord
//
// Names come from validated DNS-1123 names and uids already; as a second line of defence a path
// component is refused when it is empty, `.`/`..`, contains `/`, `\`, `..` or NUL, or is too long.
import { dirname, join } from 'node:path';

/** A bad argument to the log store; the message names the field and the rule. */
export class LogInputError extends Error {
  override readonly name = 'LogInputError';
}

const MAX_COMPONENT_LENGTH = 253;

/** Throws LogInputError unless `value` is safe as one path component. */
export function checkComponent(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new LogInputError(`${field}: must be a non-empty string`);
  if (value.length > MAX_COMPONENT_LENGTH) throw new LogInputError(`${field}: must be at most ${MAX_COMPONENT_LENGTH} characters`);
  if (value.includes('/') || value.includes('\\') || value.includes('\0') || value.includes('..') || value === '.') {
    throw new LogInputError(`${field}: must not contain "/", "\\", ".." or NUL`);
  }
  return value;
}

/** Throws LogInputError unless `value` is an attempt number (an integer from 1). */
export function checkAttempt(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new LogInputError(`${field}: must be an integer >= 1`);
  return value;
}

export interface JobDirs {
  readonly namespaceDir: string;
  readonly nameDir: string;
  readonly uidDir: string;
}

/** `<root>/<namespace>/<name>`: every uid the name has had. */
export function jobNameDir(root: string, namespace: string, name: string): string {
  return join(root, checkComponent('namespace', namespace), checkComponent('name', name));
}

export function jobDirs(root: string, namespace: string, name: string, uid: string): JobDirs {
  const nameDir = jobNameDir(root, namespace, name);
  return { namespaceDir: dirname(nameDir), nameDir, uidDir: join(nameDir, checkComponent('uid', uid)) };
}

export const LOG_SUFFIX = '.log';
export const RECORD_SUFFIX = '.json';

export const logFileName = (attempt: number): string => `${attempt}${LOG_SUFFIX}`;
export const recordFileName = (attempt: number): string => `${attempt}${RECORD_SUFFIX}`;

/** The attempt a file in a uid directory belongs to (`3.log`, `3.json`), or undefined. */
export function attemptOfFile(file: string): { attempt: number; kind: 'log' | 'record' } | undefined {
  const match = /^([1-9]\d{0,14})\.(log|json)$/.exec(file);
  if (match === null) return undefined;
  return { attempt: Number(match[1]), kind: match[2] === 'log' ? 'log' : 'record' };
}

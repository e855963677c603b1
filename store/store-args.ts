// Argument checks shared by every Store implementation, so that both reject the same bad
// input with the same message: a TypeError or RangeError naming the argument and the rule.
import type { DeleteOptions, ListOptions, PutOptions, WriteGuard } from './store.js';

/** Keys: non-empty strings without NUL, at most this many UTF-16 code units. */
export const MAX_KEY_LENGTH = 4096;

export function checkKey(operation: string, key: unknown, name = 'key'): asserts key is string {
  if (typeof key !== 'string') throw new TypeError(`store ${operation}: ${name} must be a string`);
  if (key.length === 0) throw new RangeError(`store ${operation}: ${name} must not be empty`);
  checkKeyText(operation, key, name);
}

/** A prefix may be empty (every key). */
export function checkPrefix(operation: string, prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string') throw new TypeError(`store ${operation}: prefix must be a string`);
  checkKeyText(operation, prefix, 'prefix');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True for a key every store accepts: non-empty, at most MAX_KEY_LENGTH, no NUL, well-formed Unicode. */
export function isStorableKey(key: string): boolean {
  return key.length > 0 && key.length <= MAX_KEY_LENGTH && !key.includes('\0') && !LONE_SURROGATE.test(key);
}

function checkKeyText(operation: string, text: string, name: string): void {
  if (text.length > MAX_KEY_LENGTH) {
    throw new RangeError(`store ${operation}: ${name} must be at most ${MAX_KEY_LENGTH} characters`);
  }
  if (text.includes('\0')) throw new RangeError(`store ${operation}: ${name} must not contain NUL`);
  if (LONE_SURROGATE.test(text)) throw new RangeError(`store ${operation}: ${name} must be well-formed Unicode`);
}

export function checkValue(operation: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`store ${operation}: value must be a string`);
}

/** A revision argument: an integer >= min. */
export function checkRevision(operation: string, name: string, value: unknown, min = 1): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`store ${operation}: ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
}

export function checkListOptions(options: ListOptions): void {
  const { limit, after, revision } = options;
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0)) {
    throw new RangeError(`store list: options.limit must be an integer >= 0, got ${String(limit)}`);
  }
  if (after !== undefined) checkKey('list', after, 'options.after');
  if (revision !== undefined) checkRevision('list', 'options.revision', revision);
}

export function checkPutOptions(options: PutOptions): void {
  if (options.guard !== undefined) checkGuard('put', options.guard);
  if (options.ifRevision !== undefined) checkRevision('put', 'options.ifRevision', options.ifRevision);
  if (options.ifAbsent !== undefined && typeof options.ifAbsent !== 'boolean') {
    throw new TypeError('store put: options.ifAbsent must be a boolean');
  }
  if (options.ifAbsent === true && options.ifRevision !== undefined) {
    throw new RangeError('store put: options.ifAbsent and options.ifRevision cannot be combined');
  }
  if (options.lease !== undefined) checkLeaseId('put', options.lease, 'options.lease');
}

export function checkDeleteOptions(options: DeleteOptions): void {
  if (options.guard !== undefined) checkGuard('delete', options.guard);
  if (options.ifRevision !== undefined) checkRevision('delete', 'options.ifRevision', options.ifRevision);
}

/** A write guard: a storable key and a createRevision >= 1. */
function checkGuard(operation: string, guard: WriteGuard): void {
  if (typeof guard !== 'object' || guard === null) throw new TypeError(`store ${operation}: options.guard must be an object { key, createRevision }`);
  checkKey(operation, guard.key, 'options.guard.key');
  checkRevision(operation, 'options.guard.createRevision', guard.createRevision);
}

/** The message of a FencedError, the same in both stores. */
export function fencedMessage(key: string, guardKey: string, expected: number, actual: number | undefined): string {
  return actual === undefined
    ? `write to ${key} fenced: guard key ${guardKey} does not exist (expected createRevision ${expected})`
    : `write to ${key} fenced: guard key ${guardKey} has createRevision ${actual}, not ${expected}`;
}

/** Lease ids are decimal strings of positive integers. */
export function checkLeaseId(operation: string, lease: unknown, name = 'lease'): asserts lease is string {
  if (typeof lease !== 'string' || !/^[1-9][0-9]{0,18}$/.test(lease)) {
    throw new RangeError(`store ${operation}: ${name} must be a lease id (a decimal integer string), got ${String(lease)}`);
  }
}

/** Lease TTLs: whole seconds from 1 to MAX_LEASE_TTL_SECONDS. */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;

export function checkTtl(ttlSeconds: unknown): asserts ttlSeconds is number {
  if (typeof ttlSeconds !== 'number' || !Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_LEASE_TTL_SECONDS) {
    throw new RangeError(
      `store grantLease: ttlSeconds must be an integer from 1 to ${MAX_LEASE_TTL_SECONDS}, got ${String(ttlSeconds)}`,
    );
  }
}

/**
 * The smallest string greater than every string that starts with `prefix`, in code point order
 * (which is also UTF-8 byte order); undefined when there is none (the empty prefix).
 */
export function prefixEnd(prefix: string): string | undefined {
  const codePoints = Array.from(prefix, (c) => c.codePointAt(0) ?? 0);
  while (codePoints.length > 0) {
    const last = codePoints.pop() ?? 0;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return String.fromCodePoint(...codePoints, next);
    }
  }
  return undefined;
}

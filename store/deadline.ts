// Deadlines for store calls: the one place where a slow or unreachable backend becomes
// StoreUnavailableError. Both store implementations run every call through withDeadline.
import { StoreUnavailableError } from './store.js';

/** What a call under a deadline may use to stop its own backend work in time. */
export interface Deadline {
  /** Aborted when the deadline passes. */
  readonly signal: AbortSignal;
  /** The deadline as epoch milliseconds (e.g. for gRPC call options). */
  readonly at: number;
}

/**
 * Runs `call` with a deadline of `timeoutMs` milliseconds. Settles as the call does when it
 * settles first; otherwise rejects with StoreUnavailableError naming the operation and aborts
 * `deadline.signal`. The call's late outcome is ignored.
 */
export async function withDeadline<T>(
  operation: string,
  timeoutMs: number,
  call: (deadline: Deadline) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const at = Date.now() + timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new StoreUnavailableError(`store ${operation}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([call({ signal: controller.signal, at }), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Checks a configured timeout: a positive integer number of milliseconds. */
export function checkTimeoutMs(timeoutMs: number): number {
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`store option timeoutMs must be a positive integer of milliseconds, got ${String(timeoutMs)}`);
  }
  return timeoutMs;
}

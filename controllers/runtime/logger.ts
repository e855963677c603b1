// The narrow logger the controller runtime needs (winston's Logger satisfies it).

import type { StoreLogger } from '../../store/store-logger.js';

/** The store's logger plus debug. */
export interface Logger extends StoreLogger {
  debug(message: string, meta?: Record<string, unknown>): void;
}

/** Discards everything; the default when no logger is given. */
export const silentLogger: Logger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});

/** The message of any thrown value, for log metadata. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

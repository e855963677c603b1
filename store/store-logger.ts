// The narrow logger a store needs (winston's Logger satisfies it).

export interface StoreLogger {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

/** Discards everything; the default when no logger is given. */
export const silentLogger: StoreLogger = Object.freeze({
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});

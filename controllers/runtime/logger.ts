// The narrow logger the controller runtime needs (winston's Logger satisfies it).

export interface Logger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
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

// How osctl reports failures: the server's Status as kubectl prints it, other errors as `error: ...`.
import { ApiError } from './client.js';

/** An error that ends the command with a given exit code (default 1) and prints `error: message`. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    optionsOrExitCode: number | { cause?: unknown; exitCode?: number } = 1,
  ) {
    const options = typeof optionsOrExitCode === 'number' ? { exitCode: optionsOrExitCode } : optionsOrExitCode;
    super(message, { cause: options.cause });
    this.exitCode = options.exitCode ?? 1;
  }

  readonly exitCode: number;
}

/**
 * The text for an ApiError, kubectl style: `Error from server (NotFound): ...`; for 422 Invalid
 * `The Job "x" is invalid:` followed by one `* field: message` line per cause.
 */
export function formatApiError(err: ApiError): string {
  const { status } = err;
  const causes = status.details?.causes ?? [];
  if (status.code === 422 && causes.length > 0) {
    const kind = status.details?.kind ?? 'object';
    const name = status.details?.name ?? '';
    const lines = causes.map((c) => `* ${c.field ? `${c.field}: ` : ''}${c.message}`);
    return `The ${kind} "${name}" is invalid:\n${lines.join('\n')}`;
  }
  if (status.code === 401) {
    return `error: You must be logged in to the server (Unauthorized): ${status.message ?? ''}\nhint: run "osctl login --server URL" or pass --token`;
  }
  return `Error from server${status.reason ? ` (${status.reason})` : ''}: ${status.message ?? `HTTP ${status.code}`}`;
}

/** One error as printed on stderr (no trailing newline). */
export function formatError(err: unknown): string {
  if (err instanceof ApiError) return formatApiError(err);
  if (err instanceof Error) return `error: ${err.message}`;
  return `error: ${String(err)}`;
}

// /readyz as Kubernetes answers it: named checks, all run at once, each within a deadline.
//   200 "ok" when every check passes; 503 "not ready" otherwise.
//   ?verbose: one line per check, `[+]store ok` or `[-]leader failed: <reason>`, then
//   `readyz check passed` or `readyz check failed`.
// Reasons are fixed texts written by the checks (never an internal error message): /readyz is
// not authenticated and reveals nothing beyond what is ready.
import type { Request, Response } from 'express';

export interface ReadinessCheck {
  /** Short name shown by ?verbose, e.g. `store`. */
  readonly name: string;
  /** Resolves when ready; rejects with a ReadinessError whose message is the public reason. */
  check(): Promise<void>;
}

/** A failed check; its message is shown by /readyz?verbose. */
export class ReadinessError extends Error {
  override readonly name = 'ReadinessError';
}

export interface CheckOutcome {
  readonly name: string;
  /** undefined when the check passed. */
  readonly failure?: string;
}

/** Runs every check at once; one that does not settle within `timeoutMs` fails. No timer outlives it. */
export async function runReadinessChecks(checks: readonly ReadinessCheck[], timeoutMs: number): Promise<CheckOutcome[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    return await Promise.all(
      checks.map(async (c): Promise<CheckOutcome> => {
        const outcome = await Promise.race([
          c.check().then(
            () => 'ok' as const,
            (err: unknown) => (err instanceof ReadinessError ? err.message : 'check failed'),
          ),
          timeout,
        ]);
        if (outcome === 'ok') return { name: c.name };
        return { name: c.name, failure: outcome === 'timeout' ? `no answer within ${timeoutMs} ms` : outcome };
      }),
    );
  } finally {
    clearTimeout(timer);
  }
}

/** The GET /readyz handler over `checks`. */
export function readinessHandler(checks: readonly ReadinessCheck[], timeoutMs: number) {
  return async (req: Request, res: Response): Promise<void> => {
    const outcomes = await runReadinessChecks(checks, timeoutMs);
    const ready = outcomes.every((o) => o.failure === undefined);
    res.status(ready ? 200 : 503).type('text/plain');
    if (!('verbose' in (req.query as Record<string, unknown>))) {
      res.send(ready ? 'ok' : 'not ready');
      return;
    }
    const lines = outcomes.map((o) => (o.failure === undefined ? `[+]${o.name} ok` : `[-]${o.name} failed: ${o.failure}`));
    lines.push(ready ? 'readyz check passed' : 'readyz check failed');
    res.send(lines.join('\n') + '\n');
  };
}

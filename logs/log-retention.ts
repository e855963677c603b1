// Log retention: deletes the attempts (log and record files) whose last write is older than a
// cutoff, temporary record files a crash left behind, and the directories left empty.
import { join } from 'node:path';
import type { Logger } from '../controllers/runtime/logger.js';
import { listDir, removeIfEmpty, statIfExists, unlinkIfExists } from './files.js';
import { attemptOfFile, logFileName } from './log-paths.js';

export interface SweepOptions {
  /** Attempts whose log file is open for appending are kept whatever their age. */
  readonly isOpen: (logPath: string) => boolean;
  readonly logger: Logger;
  /** Stops the sweep between job directories. */
  readonly signal?: AbortSignal;
}

/** Sweeps `root` (layout: log-paths.ts); returns the number of attempts deleted. */
export async function sweepExpiredAttempts(root: string, cutoffMs: number, options: SweepOptions): Promise<number> {
  let deleted = 0;
  for (const namespace of await listDir(root)) {
    const namespaceDir = join(root, namespace);
    for (const name of await listDir(namespaceDir)) {
      const nameDir = join(namespaceDir, name);
      for (const uid of await listDir(nameDir)) {
        if (options.signal?.aborted) return deleted;
        deleted += await sweepUidDir(join(nameDir, uid), cutoffMs, options);
      }
      await removeIfEmpty(nameDir);
    }
    await removeIfEmpty(namespaceDir);
  }
  return deleted;
}

async function sweepUidDir(uidDir: string, cutoffMs: number, options: SweepOptions): Promise<number> {
  const files = new Map<number, string[]>();
  for (const file of await listDir(uidDir)) {
    const found = attemptOfFile(file);
    if (found !== undefined) {
      files.set(found.attempt, [...(files.get(found.attempt) ?? []), file]);
    } else if (file.endsWith('.tmp')) {
      // A temporary record file left by a crash.
      const path = join(uidDir, file);
      const info = await statIfExists(path);
      if (info !== undefined && info.mtimeMs < cutoffMs) await unlinkIfExists(path);
    }
  }
  let deleted = 0;
  for (const [attempt, names] of files) {
    if (options.isOpen(join(uidDir, logFileName(attempt)))) continue;
    const paths = names.map((n) => join(uidDir, n));
    const stats = await Promise.all(paths.map(statIfExists));
    const lastWrite = Math.max(...stats.map((s) => s?.mtimeMs ?? 0));
    if (lastWrite >= cutoffMs) continue;
    await Promise.all(paths.map(unlinkIfExists));
    options.logger.debug('deleted expired attempt logs', { dir: uidDir, attempt });
    deleted++;
  }
  await removeIfEmpty(uidDir);
  return deleted;
}

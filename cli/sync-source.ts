// Reading the sync's directory into desired objects, file by file, keeping the last good
// version of every file that is now half-written or invalid (so it is neither applied nor pruned).
import { readFile } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import type { Session } from './context.js';
import { documentError } from './apply-command.js';
import { manifestTarget } from './manifest-target.js';
import { manifestFiles, parseManifestText } from './manifests.js';
import { type DesiredObject, objectIdentity, syncedObject } from './sync-plan.js';

/** The directory itself could not be listed: the whole pass stops (nothing applied, nothing pruned). */
export class SourceUnreadableError extends Error {
  override readonly name = 'SourceUnreadableError';
}

export interface SourceSnapshot {
  /** Objects to apply: every good file's, plus the last good objects of failed files. */
  readonly desired: DesiredObject[];
  /** Relative paths of files that failed this time. */
  readonly failedSources: Set<string>;
  /** One message per problem, each starting with `error: FILE...` and its line. */
  readonly errors: string[];
  /** Notes that are not failures (an empty file whose last good version is kept). */
  readonly warnings: string[];
}

/**
 * Reads DIR recursively (.yaml/.yml/.json). Remembers, per relative path, the objects of the
 * last read that was good throughout (parsed and every document resolvable); a file that fails
 * contributes those instead, so an editor's half-written save changes nothing on the server.
 */
export class SyncSource {
  private readonly lastGood = new Map<string, DesiredObject[]>();

  constructor(
    private readonly dir: string,
    private readonly syncName: string,
  ) {}

  async read(session: Session): Promise<SourceSnapshot> {
    let files: string[];
    try {
      files = await manifestFiles(this.dir, true);
    } catch (err) {
      throw new SourceUnreadableError(`cannot read the sync directory "${this.dir}": ${(err as Error).message}; nothing applied or pruned`);
    }
    const desired: DesiredObject[] = [];
    const failedSources = new Set<string>();
    const errors: string[] = [];
    const warnings: string[] = [];
    const seen = new Map<string, string>();
    const present = new Set<string>();
    for (const file of files) {
      const source = relative(this.dir, file).split(sep).join('/');
      present.add(source);
      const fileErrors: string[] = [];
      const objects: DesiredObject[] = [];
      let text: string | undefined;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        // Gone between listing and reading (a rename in progress) or unreadable.
        fileErrors.push(`error: ${file}: ${(err as Error).message}`);
      }
      if (text === '') {
        // Zero bytes: most likely a save in progress (truncate, then write). Keep the last good version.
        warnings.push(`warning: ${file}: the file is empty: keeping its last good version (delete the file to remove its objects)`);
        failedSources.add(source);
        for (const obj of this.lastGood.get(source) ?? []) {
          if (!desired.some((d) => d.identity === obj.identity)) desired.push(obj);
        }
        continue;
      }
      if (text !== undefined) {
        const parsed = parseManifestText(text, file);
        for (const problem of parsed.problems) fileErrors.push(`error: ${problem.message}`);
        for (const doc of parsed.documents) {
          try {
            const target = manifestTarget(doc, session);
            const identity = objectIdentity(target.resource.kind, target.namespace, target.name);
            const first = seen.get(identity);
            if (first !== undefined) throw new Error(`${target.display} is declared twice: first in ${first}`);
            seen.set(identity, doc.where);
            objects.push({ identity, display: target.display, object: syncedObject(target.object, this.syncName, source) });
          } catch (err) {
            fileErrors.push(documentError(doc, err));
          }
        }
      }
      if (fileErrors.length === 0) {
        this.lastGood.set(source, objects);
        desired.push(...objects);
        continue;
      }
      errors.push(...fileErrors);
      failedSources.add(source);
      for (const obj of this.lastGood.get(source) ?? []) {
        if (!desired.some((d) => d.identity === obj.identity)) desired.push(obj);
      }
    }
    for (const source of [...this.lastGood.keys()]) if (!present.has(source)) this.lastGood.delete(source);
    return { desired, failedSources, errors, warnings };
  }
}

// `osctl apply -f FILE|DIR|- [-R] [--dry-run=server]`: server-side apply of every document,
// reporting created / configured / unchanged per object and every failure with its location.
import { Command } from 'commander';
import type { ApiObject } from '../api/meta.js';
import { ApiError, TransportError } from './client.js';
import type { CommandEnv, Session } from './context.js';
import { CliError, formatError } from './errors.js';
import { type ManifestTarget, manifestTarget } from './manifest-target.js';
import { type ManifestDocument, readManifests } from './manifests.js';
import { jsonEqual, withoutServerFields } from './objects.js';

export const FIELD_MANAGER = 'osctl';
export const APPLY_PATCH_CONTENT_TYPE = 'application/apply-patch+yaml';

interface ApplyOptions {
  filename: string[];
  recursive?: boolean;
  dryRun?: string;
  fieldManager: string;
  forceConflicts?: boolean;
}

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

/** Collects repeated `-f` values. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Parses --dry-run: only `server` (and `none`) are supported. */
export function parseDryRun(value: string | undefined): boolean {
  if (value === undefined || value === 'none') return false;
  if (value === 'server') return true;
  throw new CliError(`--dry-run: unsupported value "${value}": only "server" (or "none") is supported; client-side dry run does not exist in osctl`);
}

/**
 * Applies one object with server-side apply (PATCH application/apply-patch+yaml) and tells
 * what happened: created when it did not exist; otherwise unchanged when the object, without
 * status and server-managed metadata, is the same before and after.
 */
export async function applyObject(
  session: Session,
  target: ManifestTarget,
  options: { dryRun: boolean; fieldManager: string; force: boolean },
): Promise<{ outcome: ApplyOutcome; object: ApiObject }> {
  const { client } = session;
  const before = await client.getIfExists<ApiObject>(target.path);
  const res = await client.request<ApiObject>('PATCH', target.path, {
    query: {
      fieldManager: options.fieldManager,
      dryRun: options.dryRun ? 'All' : undefined,
      force: options.force ? 'true' : undefined,
    },
    body: JSON.stringify(target.object),
    contentType: APPLY_PATCH_CONTENT_TYPE,
  });
  const after = res.body;
  let outcome: ApplyOutcome;
  // Compare content, not resourceVersion: a controller writing status between the GET and the
  // apply moves the resourceVersion although the apply changed nothing.
  if (!before || res.statusCode === 201) outcome = 'created';
  else outcome = jsonEqual(withoutServerFields(before), withoutServerFields(after)) ? 'unchanged' : 'configured';
  return { outcome, object: after };
}

/** Errors that no other document can escape: no server, or bad credentials. */
export function isFatal(err: unknown): boolean {
  return err instanceof TransportError || (err instanceof ApiError && err.code === 401);
}

/** `FILE (document N, line L): ` followed by the error, indented when it spans lines. */
export function documentError(doc: ManifestDocument, err: unknown): string {
  const text = formatError(err).replace(/^error: /, '');
  return `error: ${doc.where}: ${text.replace(/\n/g, '\n  ')}`;
}

export function applyCommand(env: CommandEnv): Command {
  return new Command('apply')
    .description('create or update objects from manifests (server-side apply)')
    .requiredOption('-f, --filename <path>', 'file, directory or - for stdin (repeatable)', collect)
    .option('-R, --recursive', 'descend into subdirectories of directories given with -f')
    .option('--dry-run <strategy>', '"server": validate and show the outcome without persisting')
    .option('--field-manager <name>', 'the field manager of server-side apply', FIELD_MANAGER)
    .option('--force-conflicts', 'take ownership of fields owned by another field manager')
    .action(async (options: ApplyOptions) => {
      const { deps } = env;
      const dryRun = parseDryRun(options.dryRun);
      const { documents, problems } = await readManifests(options.filename, {
        recursive: options.recursive === true,
        readStdin: () => deps.stdin.readAll(),
      });
      for (const problem of problems) deps.stderr.write(`error: ${problem.message}\n`);
      if (documents.length === 0 && problems.length === 0) throw new CliError('no objects passed to apply');
      let failed = problems.length > 0;
      if (documents.length > 0) {
        const session = await env.session();
        for (const doc of documents) {
          try {
            const target = manifestTarget(doc, session);
            const { outcome } = await applyObject(session, target, {
              dryRun,
              fieldManager: options.fieldManager,
              force: options.forceConflicts === true,
            });
            deps.stdout.write(`${target.display} ${outcome}${dryRun ? ' (server dry run)' : ''}\n`);
          } catch (err) {
            // The server is unreachable or rejects the credentials: every other document would fail alike.
            if (isFatal(err)) throw err;
            failed = true;
            deps.stderr.write(`${documentError(doc, err)}\n`);
          }
        }
      }
      if (failed) env.setExitCode(1);
    });
}

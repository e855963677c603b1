// `osctl delete TYPE NAME... | TYPE/NAME... | -f FILE|DIR [-R] [--ignore-not-found]`.
import { Command } from 'commander';
import { ApiError } from './client.js';
import { collect, documentError, isFatal } from './apply-command.js';
import type { CommandEnv, Session } from './context.js';
import { CliError, formatError } from './errors.js';
import { manifestTarget } from './manifest-target.js';
import { readManifests } from './manifests.js';
import { type CliResource, objectPath, parseResourceArgs, quotedName } from './resources.js';

interface DeleteOptions {
  filename?: string[];
  recursive?: boolean;
  ignoreNotFound?: boolean;
}

/** Deletes one object; true when deleted, false when absent and `ignoreNotFound`. Throws ApiError otherwise. */
async function deleteObject(session: Session, resource: CliResource, path: string, ignoreNotFound: boolean): Promise<boolean> {
  try {
    await session.client.request('DELETE', path);
    return true;
  } catch (err) {
    if (ignoreNotFound && err instanceof ApiError && err.code === 404) return false;
    throw err;
  }
}

export function deleteCommand(env: CommandEnv): Command {
  return new Command('delete')
    .description('delete objects by name or by the manifests that declare them')
    .argument('[type-and-names...]', 'job|node NAME..., or TYPE/NAME...')
    .option('-f, --filename <path>', 'delete the objects in these manifests (repeatable; - for stdin)', collect)
    .option('-R, --recursive', 'descend into subdirectories of directories given with -f')
    .option('--ignore-not-found', 'treat objects that do not exist as deleted, without an error')
    .action(async (args: string[], options: DeleteOptions) => {
      const { deps } = env;
      const ignoreNotFound = options.ignoreNotFound === true;
      const files = options.filename ?? [];
      if (files.length > 0 && args.length > 0) throw new CliError('give either TYPE NAME... or -f FILE, not both');
      if (files.length === 0 && args.length === 0) throw new CliError('nothing to delete: give TYPE NAME..., TYPE/NAME... or -f FILE');
      let failed = false;
      const targets: { resource: CliResource; name: string; path: string; where?: string }[] = [];
      if (files.length > 0) {
        const { documents, problems } = await readManifests(files, {
          recursive: options.recursive === true,
          readStdin: () => deps.stdin.readAll(),
        });
        for (const problem of problems) deps.stderr.write(`error: ${problem.message}\n`);
        failed = problems.length > 0;
        if (documents.length === 0 && problems.length === 0) throw new CliError('no objects passed to delete');
        if (documents.length > 0) {
          const session = await env.session();
          for (const doc of documents) {
            try {
              const t = manifestTarget(doc, session);
              targets.push({ resource: t.resource, name: t.name, path: t.path, where: doc.where });
            } catch (err) {
              failed = true;
              deps.stderr.write(`${documentError(doc, err)}\n`);
            }
          }
        }
      } else {
        const { resource, names } = parseResourceArgs(args);
        if (names.length === 0) throw new CliError(`a name is required: osctl delete ${resource.singular} NAME`);
        const session = await env.session();
        for (const name of names) targets.push({ resource, name, path: objectPath(resource, session.namespace, name) });
      }
      if (targets.length > 0) {
        const session = await env.session();
        for (const t of targets) {
          try {
            if (await deleteObject(session, t.resource, t.path, ignoreNotFound)) {
              deps.stdout.write(`${quotedName(t.resource, t.name)} deleted\n`);
            }
          } catch (err) {
            if (isFatal(err)) throw err;
            failed = true;
            deps.stderr.write(`${t.where ? `error: ${t.where}: ` : ''}${formatError(err)}\n`);
          }
        }
      }
      if (failed) env.setExitCode(1);
    });
}

// `osctl diff -f FILE|DIR [-R]`: what apply would change, as a unified diff of the live object
// and the server's dry-run result. Exit 0: no differences, 1: differences, 2: an error (as kubectl diff).
import { Command } from 'commander';
import { stringify } from 'yaml';
import type { ApiObject } from '../api/meta.js';
import { APPLY_PATCH_CONTENT_TYPE, FIELD_MANAGER, collect, documentError, isFatal } from './apply-command.js';
import type { CommandEnv } from './context.js';
import { CliError, formatError } from './errors.js';
import { unifiedDiff } from './diff.js';
import { manifestTarget } from './manifest-target.js';
import { readManifests } from './manifests.js';
import { YAML_OPTIONS } from './printers.js';
import { withoutServerFields } from './objects.js';

interface DiffOptions {
  filename: string[];
  recursive?: boolean;
  fieldManager: string;
}

export const DIFF_ERROR_EXIT = 2;

function asYaml(obj: unknown): string {
  const stripped = withoutServerFields(obj);
  return stripped ? stringify(stripped, YAML_OPTIONS) : '';
}

export function diffCommand(env: CommandEnv): Command {
  return new Command('diff')
    .description('show what apply would change (exit 0: none, 1: differences, 2: error)')
    .requiredOption('-f, --filename <path>', 'file, directory or - for stdin (repeatable)', collect)
    .option('-R, --recursive', 'descend into subdirectories of directories given with -f')
    .option('--field-manager <name>', 'the field manager of server-side apply', FIELD_MANAGER)
    .action(async (options: DiffOptions) => {
      try {
        await runDiff(env, options);
      } catch (err) {
        // kubectl diff semantics: 1 means "differences", so every error exits 2.
        env.deps.stderr.write(`${formatError(err)}\n`);
        env.setExitCode(DIFF_ERROR_EXIT);
      }
    });
}

async function runDiff(env: CommandEnv, options: DiffOptions): Promise<void> {
  const { deps } = env;
  const { documents, problems } = await readManifests(options.filename, {
    recursive: options.recursive === true,
    readStdin: () => deps.stdin.readAll(),
  });
  for (const problem of problems) deps.stderr.write(`error: ${problem.message}\n`);
  if (documents.length === 0 && problems.length === 0) throw new CliError('no objects passed to diff', DIFF_ERROR_EXIT);
  let failed = problems.length > 0;
  let differs = false;
  if (documents.length > 0) {
    const session = await env.session();
    for (const doc of documents) {
      try {
        const target = manifestTarget(doc, session);
        const live = await session.client.getIfExists<ApiObject>(target.path);
        const merged = await session.client.request<ApiObject>('PATCH', target.path, {
          query: { fieldManager: options.fieldManager, dryRun: 'All' },
          body: JSON.stringify(target.object),
          contentType: APPLY_PATCH_CONTENT_TYPE,
        });
        const id = `${target.object.apiVersion.replace('/', '.')}.${target.object.kind}.${target.namespace ? `${target.namespace}.` : ''}${target.name}`;
        const text = unifiedDiff(asYaml(live), asYaml(merged.body), `live/${id}`, `merged/${id}`);
        if (text !== '') {
          differs = true;
          deps.stdout.write(text);
        }
      } catch (err) {
        if (isFatal(err)) throw err;
        failed = true;
        deps.stderr.write(`${documentError(doc, err)}\n`);
      }
    }
  }
  env.setExitCode(failed ? DIFF_ERROR_EXIT : differs ? 1 : 0);
}

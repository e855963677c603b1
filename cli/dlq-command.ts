// `osctl dlq list [-n NS|-A] [-o wide|yaml|json|name]`: the jobs in the dead-letter queue, i.e.
// every Job whose status.phase is Failed (DESIGN 2.2), listed page by page like `osctl get`.
import { Command } from 'commander';
import type { ApiObject } from '../api/meta.js';
import { age } from '../util/duration.js';
import type { CommandEnv } from './context.js';
import { CliError } from './errors.js';
import { text } from './objects.js';
import {
  type Column,
  ListWriter,
  type OutputFormat,
  TableWriter,
  formatNames,
  formatObject,
  parseOutputFormat,
  tableRows,
} from './printers.js';
import { JOB, collectionPath } from './resources.js';

/** The field selector of the dead-letter queue. */
export const DEAD_LETTER_SELECTOR = 'status.phase=Failed';

const orNone = (value: string): string => (value === '' ? '<none>' : value);

/** Columns of `dlq list`: NAMESPACE (with -A), NAME, REASON, ATTEMPTS, FAILED, MESSAGE; -o wide adds more. */
export function deadLetterColumns(options: { wide: boolean; allNamespaces: boolean }): Column[] {
  const columns: Column[] = [];
  if (options.allNamespaces) columns.push({ header: 'NAMESPACE', cell: (o) => o.metadata.namespace ?? '' });
  columns.push(
    { header: 'NAME', cell: (o) => o.metadata.name },
    { header: 'REASON', cell: (o) => orNone(text(o, 'status.reason')) },
    { header: 'ATTEMPTS', cell: (o) => text(o, 'status.attempts') || '0' },
    { header: 'FAILED', cell: (o, now) => age(text(o, 'status.completionTime') || undefined, now) },
  );
  if (options.wide) {
    columns.push(
      { header: 'EXIT CODE', cell: (o) => orNone(text(o, 'status.exitCode')) },
      { header: 'NODE', cell: (o) => orNone(text(o, 'status.nodeName')) },
      { header: 'RETRY SERIES', cell: (o) => text(o, 'status.retrySeries') || '0' },
    );
  }
  // Last, unpadded; one line per job whatever the message holds.
  columns.push({ header: 'MESSAGE', cell: (o) => orNone(text(o, 'status.message').replace(/\s*\n\s*/g, ' ')) });
  return columns;
}

interface DlqListOptions {
  allNamespaces?: boolean;
  output?: string;
  chunkSize: string;
}

function parseChunkSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new CliError(`--chunk-size: "${value}" must be an integer from 1 to 10000`);
  return n;
}

function outputFormat(value: string | undefined): OutputFormat {
  try {
    return parseOutputFormat(value);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

export function dlqCommand(env: CommandEnv): Command {
  const list = new Command('list')
    .description('list the jobs in the dead-letter queue (phase Failed)')
    .option('-A, --all-namespaces', 'list across all namespaces')
    .option('-o, --output <format>', 'wide|yaml|json|name')
    .option('--chunk-size <n>', 'page size of list requests', '500')
    .action(async (options: DlqListOptions) => {
      const { deps } = env;
      const format = outputFormat(options.output);
      const pageSize = parseChunkSize(options.chunkSize);
      const allNamespaces = options.allNamespaces === true;
      const session = await env.session();
      const namespace = allNamespaces ? undefined : session.namespace;
      const columns = deadLetterColumns({ wide: format === 'wide', allNamespaces });
      const table = format === 'table' || format === 'wide' ? new TableWriter(deps.stdout, columns.map((c) => c.header)) : undefined;
      const listWriter = format === 'json' || format === 'yaml' ? new ListWriter(deps.stdout, format) : undefined;
      let printed = 0;
      const print = (objects: readonly ApiObject[]): void => {
        if (objects.length === 0) return;
        if (table) table.write(tableRows(columns, objects, deps.now()));
        else if (listWriter) for (const obj of objects) listWriter.add(obj);
        else if (format === 'name') deps.stdout.write(formatNames(JOB, objects));
        else for (const obj of objects) deps.stdout.write(formatObject(obj, 'json'));
        printed += objects.length;
      };
      for await (const page of session.client.listPages(collectionPath(JOB, namespace), { fieldSelector: DEAD_LETTER_SELECTOR }, pageSize)) {
        print(page.items ?? []);
      }
      listWriter?.end();
      if (printed === 0 && !listWriter) {
        deps.stderr.write(namespace ? `No resources found in ${namespace} namespace.\n` : 'No resources found\n');
      }
    });
  return new Command('dlq')
    .description('the dead-letter queue: jobs that failed for good (retry them with "osctl retry job/NAME")')
    .addCommand(
      // addCommand does not pass output settings down, so the nested command gets them here.
      list
        .exitOverride()
        .configureOutput({ writeOut: (s) => env.deps.stdout.write(s), writeErr: (s) => env.deps.stderr.write(s) })
        .showHelpAfterError('(run with --help for usage)'),
    );
}

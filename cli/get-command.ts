// `osctl get TYPE [NAME...] [-n NS|-A] [-l SEL] [--field-selector SEL] [-o FORMAT] [-w]`:
// tables like kubectl's, paged lists (printed page by page), and -w following the watch.
import { Command } from 'commander';
import type { ApiObject } from '../api/meta.js';
import { ApiError, type Query } from './client.js';
import type { CommandEnv } from './context.js';
import { CliError, formatError } from './errors.js';
import { objectKey } from './objects.js';
import {
  type Column,
  ListWriter,
  type OutputFormat,
  TableWriter,
  type TextSink,
  formatNames,
  formatObject,
  parseOutputFormat,
  tableColumns,
  tableRows,
} from './printers.js';
import { type CliResource, collectionPath, objectPath, parseResourceArgs } from './resources.js';
import { followWatch } from './watch-loop.js';

interface GetOptions {
  allNamespaces?: boolean;
  selector?: string;
  fieldSelector?: string;
  output?: string;
  watch?: boolean;
  chunkSize: string;
}

/**
 * Prints the objects of one `get`: as table rows, names, or JSON/YAML (one List document
 * in `list` mode, separate documents in `objects` mode, used for one object and for watches).
 */
export class GetPrinter {
  private readonly table: TableWriter | undefined;
  private readonly columns: Column[];
  private readonly list: ListWriter | undefined;
  private count = 0;

  constructor(
    private readonly out: TextSink,
    private readonly resource: CliResource,
    private readonly format: OutputFormat,
    options: { allNamespaces: boolean; mode: 'list' | 'objects' },
    private readonly now: () => number,
  ) {
    this.columns = tableColumns(resource, { wide: format === 'wide', allNamespaces: options.allNamespaces });
    if (format === 'table' || format === 'wide') this.table = new TableWriter(out, this.columns.map((c) => c.header));
    if ((format === 'json' || format === 'yaml') && options.mode === 'list') this.list = new ListWriter(out, format);
  }

  /** Objects printed so far. */
  get printed(): number {
    return this.count;
  }

  print(objects: readonly ApiObject[]): void {
    if (objects.length === 0) return;
    if (this.table) {
      this.table.write(tableRows(this.columns, objects, this.now()));
    } else if (this.format === 'name') {
      this.out.write(formatNames(this.resource, objects));
    } else if (this.list) {
      for (const obj of objects) this.list.add(obj);
    } else if (this.format === 'json' || this.format === 'yaml') {
      for (const [i, obj] of objects.entries()) {
        const separator = this.format === 'yaml' && this.count + i > 0 ? '---\n' : '';
        this.out.write(separator + formatObject(obj, this.format));
      }
    }
    this.count += objects.length;
  }

  /** Ends a List document (no-op otherwise). */
  end(): void {
    this.list?.end();
  }
}

function joinSelectors(...selectors: (string | undefined)[]): string | undefined {
  const parts = selectors.filter((s): s is string => Boolean(s));
  return parts.length > 0 ? parts.join(',') : undefined;
}

function parseChunkSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new CliError(`--chunk-size: "${value}" must be an integer from 1 to 10000`);
  return n;
}

export function getCommand(env: CommandEnv): Command {
  return new Command('get')
    .description('list objects or show some by name (jobs, nodes)')
    .argument('<type-and-names...>', 'job|jobs|osj|node|nodes|osn [NAME...], or TYPE/NAME...')
    .option('-A, --all-namespaces', 'list across all namespaces')
    .option('-l, --selector <selector>', 'label selector, e.g. team=data,tier!=web')
    .option('--field-selector <selector>', 'field selector, e.g. status.phase=Pending')
    .option('-o, --output <format>', 'wide|yaml|json|name')
    .option('-w, --watch', 'after listing, print changes as they happen (until interrupted)')
    .option('--chunk-size <n>', 'page size of list requests', '500')
    .action(async (args: string[], options: GetOptions) => {
      const { deps } = env;
      const { resource, names } = parseResourceArgs(args);
      const format = parseOutputFormat(options.output);
      const pageSize = parseChunkSize(options.chunkSize);
      const allNamespaces = options.allNamespaces === true && resource.namespaced;
      if (names.length > 0 && allNamespaces) throw new CliError('a resource cannot be retrieved by name across all namespaces (drop -A)');
      if (names.length > 1 && options.watch) throw new CliError('--watch works on one named object or a whole collection, not on several names');
      const session = await env.session();
      const { client } = session;
      const namespace = resource.namespaced && !allNamespaces ? session.namespace : undefined;
      const path = collectionPath(resource, namespace);
      const mode = options.watch || names.length === 1 ? 'objects' : 'list';
      const printer = new GetPrinter(deps.stdout, resource, format, { allNamespaces, mode }, deps.now);
      // The last resourceVersion printed per object, so a relist after 410 prints only changes.
      const printed = new Map<string, string | undefined>();
      const show = (objects: readonly ApiObject[]): void => {
        printer.print(objects);
        if (options.watch) for (const obj of objects) printed.set(objectKey(obj), obj.metadata.resourceVersion);
      };

      let resourceVersion: string;
      let watchQuery: Query;
      if (names.length > 0) {
        const found: ApiObject[] = [];
        const errors: string[] = [];
        for (const name of names) {
          try {
            found.push(await client.get<ApiObject>(objectPath(resource, session.namespace, name)));
          } catch (err) {
            if (!(err instanceof ApiError && err.code === 404)) throw err;
            errors.push(formatError(err));
          }
        }
        show(found);
        printer.end();
        for (const line of errors) deps.stderr.write(`${line}\n`);
        if (errors.length > 0) {
          env.setExitCode(1);
          return;
        }
        resourceVersion = found[0]?.metadata.resourceVersion ?? '0';
        watchQuery = { fieldSelector: joinSelectors(`metadata.name=${names[0] ?? ''}`, options.fieldSelector), labelSelector: options.selector };
      } else {
        watchQuery = { labelSelector: options.selector, fieldSelector: options.fieldSelector };
        resourceVersion = '';
        for await (const page of client.listPages(path, watchQuery, pageSize)) {
          resourceVersion ||= page.metadata?.resourceVersion ?? '';
          show(page.items ?? []);
        }
        printer.end();
        if (printer.printed === 0 && !options.watch && (format === 'table' || format === 'wide' || format === 'name')) {
          deps.stderr.write(namespace ? `No resources found in ${namespace} namespace.\n` : 'No resources found\n');
        }
      }
      if (!options.watch) return;

      await followWatch({
        client,
        path,
        query: watchQuery,
        signal: deps.signal,
        resourceVersion,
        relist: async () => {
          let listVersion = '';
          const seen = new Set<string>();
          for await (const page of client.listPages(path, watchQuery, pageSize)) {
            listVersion ||= page.metadata?.resourceVersion ?? '';
            const changed = (page.items ?? []).filter((obj) => {
              seen.add(objectKey(obj));
              return printed.get(objectKey(obj)) !== obj.metadata.resourceVersion;
            });
            show(changed);
          }
          for (const key of [...printed.keys()]) if (!seen.has(key)) printed.delete(key);
          return { resourceVersion: listVersion, done: false };
        },
        onEvent: (event) => {
          if (!event.object?.metadata) return false;
          show([event.object]);
          if (event.type === 'DELETED') printed.delete(objectKey(event.object));
          return false;
        },
        onRetry: (err) => deps.stderr.write(`warning: ${err.message}; retrying\n`),
      });
    });
}

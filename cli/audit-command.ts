// `osctl audit [--user U] [--since 1h|TIME] [--until 10m|TIME] [--verb V] [--resource R] [-n NS]
// [--name N] [--code 4xx|403] [--request-id ID] [--limit N] [-o table|json]`: the audit log, newest
// first (GET /api/v1/audit, page by page with continue tokens; admins only).
// Table columns: TIME USER VERB RESOURCE NAMESPACE/NAME CODE SOURCE REQUEST-ID.
import type { AuditRecord } from '../apiserver/audit-log.js';
import { Command } from 'commander';
import { parseDuration } from '../util/duration.js';
import type { CommandEnv } from './context.js';
import { CliError } from './errors.js';
import { TableWriter, type TextSink } from './printers.js';

export const AUDIT_PATH = '/api/v1/audit';
/** Records fetched per request. */
const PAGE_SIZE = 500;
const DEFAULT_LIMIT = 500;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

interface AuditList {
  readonly items?: AuditRecord[];
  readonly metadata?: { readonly continue?: string };
}

interface AuditOptions {
  user?: string;
  since?: string;
  until?: string;
  verb?: string;
  resource?: string;
  name?: string;
  code?: string;
  requestId?: string;
  limit: string;
  output: string;
}

/** `--since`/`--until`: a duration back from now (1h, 30m) or an RFC 3339 time; the RFC 3339 text the API takes. */
export function parseTimeFlag(text: string, flag: string, nowMs: number): string {
  const value = text.trim();
  if (RFC3339.test(value) && !Number.isNaN(Date.parse(value))) return new Date(Date.parse(value)).toISOString();
  let ms: number;
  try {
    ms = parseDuration(value, flag);
  } catch {
    throw new CliError(`invalid ${flag} "${text}": expected a duration back from now (30s, 1h, 7d) or an RFC 3339 time (2024-05-01T12:00:00Z)`);
  }
  return new Date(nowMs - ms).toISOString();
}

function parseLimit(text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError(`invalid --limit "${text}": expected a positive integer`);
  return n;
}

function parseCode(text: string): string {
  if (!/^[1-5](\d\d|xx)$/i.test(text.trim())) throw new CliError(`invalid --code "${text}": expected an HTTP code such as 403 or a class such as 4xx`);
  return text.trim().toLowerCase();
}

const orNone = (value: string | null): string => (value === null || value === '' ? '<none>' : value);

/** The row of one record: the path stands in for the resource of non-resource requests (login). */
export function auditRow(r: AuditRecord): string[] {
  const target = r.namespace !== '' && r.name !== '' ? `${r.namespace}/${r.name}` : r.name !== '' ? r.name : r.namespace !== '' ? `${r.namespace}/` : '<none>';
  return [r.time, orNone(r.user), r.verb, r.resource !== '' ? r.resource : r.path, target, String(r.code), orNone(r.sourceAddress), r.requestId];
}

export const AUDIT_COLUMNS = ['TIME', 'USER', 'VERB', 'RESOURCE', 'NAMESPACE/NAME', 'CODE', 'SOURCE', 'REQUEST-ID'] as const;

/** Streams `{kind: AuditEventList, apiVersion: v1, items: [...]}` as records arrive. */
class JsonListWriter {
  private count = 0;
  constructor(private readonly out: TextSink) {}
  add(record: AuditRecord): void {
    const body = JSON.stringify(record, null, 4).replace(/\n/g, '\n        ');
    this.out.write(`${this.count === 0 ? '{\n    "kind": "AuditEventList",\n    "apiVersion": "v1",\n    "items": [\n' : ',\n'}        ${body}`);
    this.count += 1;
  }
  end(): void {
    this.out.write(this.count === 0 ? '{\n    "kind": "AuditEventList",\n    "apiVersion": "v1",\n    "items": []\n}\n' : '\n    ]\n}\n');
  }
}

export function auditCommand(env: CommandEnv): Command {
  return new Command('audit')
    .description('show the audit log, newest first (admins only); -n NS filters by namespace')
    .option('--user <name>', 'only requests by this user')
    .option('--since <when>', 'only records at or after this: a duration back from now (1h) or an RFC 3339 time')
    .option('--until <when>', 'only records before this: a duration back from now or an RFC 3339 time')
    .option('--verb <verb>', 'only this verb (create, update, patch, delete, ...)')
    .option('--resource <resource>', 'only this resource (jobs also matches jobs/retry)')
    .option('--name <name>', 'only requests about an object of this name')
    .option('--code <code>', 'only this HTTP code (403) or class (4xx)')
    .option('--request-id <id>', 'only the record of this request (the Audit-Id response header)')
    .option('--limit <n>', 'show at most this many records', String(DEFAULT_LIMIT))
    .option('-o, --output <format>', 'table|json', 'table')
    .action(async (options: AuditOptions) => {
      const { deps } = env;
      if (options.output !== 'table' && options.output !== 'json') {
        throw new CliError(`invalid -o "${options.output}": expected table or json`);
      }
      const limit = parseLimit(options.limit);
      const now = deps.now();
      const query: Record<string, string | undefined> = {
        user: options.user,
        verb: options.verb,
        resource: options.resource,
        name: options.name,
        requestId: options.requestId,
        code: options.code === undefined ? undefined : parseCode(options.code),
        since: options.since === undefined ? undefined : parseTimeFlag(options.since, '--since', now),
        until: options.until === undefined ? undefined : parseTimeFlag(options.until, '--until', now),
      };
      const session = await env.session();
      if (session.explicitNamespace) query.namespace = session.namespace;

      const table = options.output === 'table' ? new TableWriter(deps.stdout, AUDIT_COLUMNS) : undefined;
      const json = options.output === 'json' ? new JsonListWriter(deps.stdout) : undefined;
      let shown = 0;
      let token: string | undefined;
      do {
        const page = await session.client.get<AuditList>(AUDIT_PATH, { ...query, limit: String(Math.min(PAGE_SIZE, limit - shown)), continue: token });
        const items = page.items ?? [];
        if (table && items.length > 0) table.write(items.map(auditRow));
        else for (const item of items) json?.add(item);
        shown += items.length;
        token = page.metadata?.continue || undefined;
      } while (token !== undefined && shown < limit);
      json?.end();
      if (shown === 0 && table) deps.stderr.write('No audit records found.\n');
    });
}

// Output of `get`: aligned tables (kubectl style), `-o name`, and `-o json|yaml` for objects and
// lists (a list is printed as `{apiVersion: v1, kind: List, items}`, streamed item by item).
import { stringify } from 'yaml';
import type { ApiObject } from '../api/meta.js';
import { age } from '../util/duration.js';
import { field, isRecord, scalarText, text } from './objects.js';
import { type CliResource, NODE, qualifiedName } from './resources.js';

/** Where output goes (stdout or stderr, or a buffer in tests). */
export interface TextSink {
  write(chunk: string): void;
}

/** YAML as kubectl prints it: no line folding, sequences not indented under their key. */
export const YAML_OPTIONS = { lineWidth: 0, indentSeq: false } as const;

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml' | 'name';

export const OUTPUT_FORMATS: readonly OutputFormat[] = ['wide', 'json', 'yaml', 'name'];

/** Parses `-o`; throws naming the flag and the accepted values. */
export function parseOutputFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === '') return 'table';
  if ((OUTPUT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
  throw new Error(`--output: unsupported format "${value}": expected one of ${OUTPUT_FORMATS.join(', ')}`);
}

export interface Column {
  readonly header: string;
  cell(obj: ApiObject, nowMs: number): string;
}

const NONE = '<none>';
const orNone = (value: string): string => (value === '' ? NONE : value);

function nodeStatus(obj: ApiObject): string {
  const conditions = field(obj, 'status.conditions');
  const ready = Array.isArray(conditions) ? conditions.find((c) => isRecord(c) && c.type === 'Ready') : undefined;
  let status = 'Unknown';
  if (isRecord(ready)) status = ready.status === 'True' ? 'Ready' : ready.status === 'False' ? 'NotReady' : 'Unknown';
  return field(obj, 'spec.unschedulable') === true ? `${status},SchedulingDisabled` : status;
}

function nodeDrivers(obj: ApiObject): string {
  const drivers = field(obj, 'status.drivers');
  if (Array.isArray(drivers)) {
    return drivers.map((d) => (isRecord(d) ? scalarText(d.name) : scalarText(d))).filter((d) => d !== '').join(',');
  }
  if (isRecord(drivers)) return Object.keys(drivers).join(',');
  return scalarText(drivers);
}

function nodeResource(obj: ApiObject, name: string): string {
  return text(obj, `status.allocatable.${name}`) || text(obj, `status.capacity.${name}`);
}

/** The `get` columns of a kind: default ones, `-o wide` extras, NAMESPACE first with `-A`. */
export function tableColumns(resource: CliResource, options: { wide: boolean; allNamespaces: boolean }): Column[] {
  const columns: Column[] = [];
  if (options.allNamespaces && resource.namespaced) columns.push({ header: 'NAMESPACE', cell: (o) => o.metadata.namespace ?? '' });
  columns.push({ header: 'NAME', cell: (o) => o.metadata.name });
  const ageColumn: Column = { header: 'AGE', cell: (o, now) => age(o.metadata.creationTimestamp, now) };
  if (resource === NODE) {
    columns.push({ header: 'STATUS', cell: nodeStatus }, { header: 'DRIVERS', cell: (o) => orNone(nodeDrivers(o)) }, ageColumn);
    if (options.wide) {
      columns.push({ header: 'CPU', cell: (o) => orNone(nodeResource(o, 'cpu')) }, { header: 'MEMORY', cell: (o) => orNone(nodeResource(o, 'memory')) });
    }
    return columns;
  }
  columns.push(
    { header: 'PHASE', cell: (o) => orNone(text(o, 'status.phase')) },
    { header: 'REASON', cell: (o) => orNone(text(o, 'status.reason')) },
    { header: 'DRIVER', cell: (o) => orNone(text(o, 'spec.driver')) },
    { header: 'ATTEMPTS', cell: (o) => text(o, 'status.attempts') || '0' },
    ageColumn,
  );
  if (options.wide) {
    columns.push({ header: 'NODE', cell: (o) => orNone(text(o, 'status.nodeName')) }, { header: 'PRIORITY', cell: (o) => text(o, 'spec.priority') || '0' });
  }
  return columns;
}

/**
 * Prints rows in aligned columns separated by three spaces, header first. Rows may come in
 * batches (pages, watch events): each batch is aligned with everything printed before, and
 * column widths only grow, so a short list is aligned exactly like kubectl's.
 */
export class TableWriter {
  private readonly widths: number[];
  private headerPending = true;

  constructor(
    private readonly out: TextSink,
    private readonly headers: readonly string[],
  ) {
    this.widths = headers.map((h) => h.length);
  }

  write(rows: readonly (readonly string[])[]): void {
    const batch = this.headerPending ? [this.headers, ...rows] : rows;
    if (batch.length === 0) return;
    for (const row of batch) {
      row.forEach((cell, i) => {
        this.widths[i] = Math.max(this.widths[i] ?? 0, cell.length);
      });
    }
    const last = this.headers.length - 1;
    const lines = batch.map((row) =>
      row.map((cell, i) => (i === last ? cell : cell.padEnd((this.widths[i] ?? 0) + 3))).join('').trimEnd(),
    );
    this.out.write(`${lines.join('\n')}\n`);
    this.headerPending = false;
  }
}

/** Rows for objects with the given columns. */
export function tableRows(columns: readonly Column[], objects: readonly ApiObject[], nowMs: number): string[][] {
  return objects.map((obj) => columns.map((c) => c.cell(obj, nowMs)));
}

/** One object as JSON (4-space indent, like kubectl) or YAML. */
export function formatObject(obj: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(obj, null, 4)}\n` : stringify(obj, YAML_OPTIONS);
}

/**
 * Streams a `{apiVersion: v1, kind: List, items}` document as items arrive, so that a large
 * list is never held in memory at once. Call add() per item, then end() once.
 */
export class ListWriter {
  private count = 0;

  constructor(
    private readonly out: TextSink,
    private readonly format: 'json' | 'yaml',
  ) {}

  add(obj: ApiObject): void {
    if (this.format === 'json') {
      const body = JSON.stringify(obj, null, 4).replace(/\n/g, '\n        ');
      this.out.write(`${this.count === 0 ? '{\n    "apiVersion": "v1",\n    "items": [\n' : ',\n'}        ${body}`);
    } else {
      this.out.write(`${this.count === 0 ? 'apiVersion: v1\nitems:\n' : ''}${stringify([obj], YAML_OPTIONS)}`);
    }
    this.count += 1;
  }

  end(): void {
    if (this.format === 'json') {
      const head = this.count === 0 ? '{\n    "apiVersion": "v1",\n    "items": [],\n' : '\n    ],\n';
      this.out.write(`${head}    "kind": "List",\n    "metadata": {\n        "resourceVersion": ""\n    }\n}\n`);
    } else {
      this.out.write(`${this.count === 0 ? 'apiVersion: v1\nitems: []\n' : ''}kind: List\nmetadata:\n  resourceVersion: ""\n`);
    }
  }
}

/** `job.openscheduler.io/NAME` lines for `-o name`. */
export function formatNames(resource: CliResource, objects: readonly ApiObject[]): string {
  return objects.map((o) => `${qualifiedName(resource, o.metadata.name)}\n`).join('');
}

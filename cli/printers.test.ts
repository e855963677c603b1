import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import type { ApiObject } from '../api/meta.js';
import { GetPrinter } from './get-command.js';
import { ListWriter, TableWriter, formatNames, formatObject, parseOutputFormat, tableColumns, tableRows } from './printers.js';
import { JOB, NODE } from './resources.js';

const NOW = Date.parse('2025-03-01T12:00:00Z');

function sink(): { write(s: string): void; text: string } {
  return {
    text: '',
    write(s: string) {
      this.text += s;
    },
  };
}

function job(name: string, extra: { ns?: string; phase?: string; reason?: string; attempts?: number; node?: string; priority?: number; created?: string } = {}): ApiObject {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: extra.ns ?? 'default', resourceVersion: '7', creationTimestamp: extra.created ?? '2025-03-01T11:55:00Z' },
    spec: { driver: 'process', command: ['/bin/true'], ...(extra.priority !== undefined ? { priority: extra.priority } : {}) },
    status: {
      phase: extra.phase ?? 'Pending',
      ...(extra.reason ? { reason: extra.reason } : {}),
      ...(extra.attempts !== undefined ? { attempts: extra.attempts } : {}),
      ...(extra.node ? { nodeName: extra.node } : {}),
    },
  };
}

void test('job table: kubectl columns, aligned with three spaces, <none> for empty cells', () => {
  const out = sink();
  const columns = tableColumns(JOB, { wide: false, allNamespaces: false });
  new TableWriter(out, columns.map((c) => c.header)).write(
    tableRows(columns, [job('build'), job('nightly-report', { phase: 'Failed', reason: 'RetriesExhausted', attempts: 4, created: '2025-02-27T12:00:00Z' })], NOW),
  );
  assert.equal(
    out.text,
    [
      'NAME             PHASE     REASON             DRIVER    ATTEMPTS   AGE',
      'build            Pending   <none>             process   0          5m',
      'nightly-report   Failed    RetriesExhausted   process   4          2d',
      '',
    ].join('\n'),
  );
});

void test('job table with -A and -o wide adds NAMESPACE first and NODE, PRIORITY last', () => {
  const columns = tableColumns(JOB, { wide: true, allNamespaces: true });
  assert.deepEqual(columns.map((c) => c.header), ['NAMESPACE', 'NAME', 'PHASE', 'REASON', 'DRIVER', 'ATTEMPTS', 'AGE', 'NODE', 'PRIORITY']);
  assert.deepEqual(tableRows(columns, [job('a', { ns: 'team', node: 'node-1', priority: 5, phase: 'Running' })], NOW), [
    ['team', 'a', 'Running', '<none>', 'process', '0', '5m', 'node-1', '5'],
  ]);
});

void test('node table: STATUS from the Ready condition and unschedulable, DRIVERS, wide CPU and MEMORY', () => {
  const node: ApiObject = {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Node',
    metadata: { name: 'node-1', creationTimestamp: '2025-03-01T09:00:00Z' },
    spec: { unschedulable: true },
    status: { drivers: ['process', 'podman'], conditions: [{ type: 'Ready', status: 'True' }], capacity: { cpu: '4', memory: '8Gi' }, allocatable: { cpu: '3500m', memory: '7Gi' } },
  };
  const bare: ApiObject = { apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name: 'node-2' } };
  const columns = tableColumns(NODE, { wide: true, allNamespaces: true });
  assert.deepEqual(columns.map((c) => c.header), ['NAME', 'STATUS', 'DRIVERS', 'AGE', 'CPU', 'MEMORY']);
  assert.deepEqual(tableRows(columns, [node, bare], NOW), [
    ['node-1', 'Ready,SchedulingDisabled', 'process,podman', '3h', '3500m', '7Gi'],
    ['node-2', 'Unknown', '<none>', '<unknown>', '<none>', '<none>'],
  ]);
});

void test('rows printed in batches keep the header once and widths never shrink', () => {
  const out = sink();
  const table = new TableWriter(out, ['NAME', 'X']);
  table.write([['a-long-name', '1']]);
  table.write([['b', '2']]);
  table.write([]);
  assert.equal(out.text, 'NAME          X\na-long-name   1\nb             2\n');
});

void test('-o name prints qualified names', () => {
  assert.equal(formatNames(JOB, [job('a'), job('b')]), 'job.openscheduler.io/a\njob.openscheduler.io/b\n');
});

void test('-o json and -o yaml of a list: a v1 List, streamed item by item, that parses back', () => {
  for (const format of ['json', 'yaml'] as const) {
    const out = sink();
    const list = new ListWriter(out, format);
    list.add(job('a'));
    list.add(job('b'));
    list.end();
    const parsed = (format === 'json' ? JSON.parse(out.text) : parse(out.text)) as { apiVersion: string; kind: string; items: ApiObject[] };
    assert.equal(parsed.apiVersion, 'v1', format);
    assert.equal(parsed.kind, 'List', format);
    assert.deepEqual(parsed.items, [job('a'), job('b')], format);
    const empty = sink();
    const none = new ListWriter(empty, format);
    none.end();
    const parsedEmpty = (format === 'json' ? JSON.parse(empty.text) : parse(empty.text)) as { items: unknown[]; kind: string };
    assert.deepEqual(parsedEmpty.items, [], format);
    assert.equal(parsedEmpty.kind, 'List');
  }
});

void test('one object as JSON (4-space indent) or YAML', () => {
  const obj = job('a');
  assert.equal(formatObject(obj, 'json'), `${JSON.stringify(obj, null, 4)}\n`);
  assert.deepEqual(parse(formatObject(obj, 'yaml')), obj);
});

void test('GetPrinter: objects mode prints separate YAML documents (for one object and for watches)', () => {
  const out = sink();
  const printer = new GetPrinter(out, JOB, 'yaml', { allNamespaces: false, mode: 'objects' }, () => NOW);
  printer.print([job('a')]);
  printer.print([job('b')]);
  printer.end();
  assert.equal(printer.printed, 2);
  assert.deepEqual(
    parseAllDocuments(out.text).map((d) => (d.toJS() as ApiObject).metadata.name),
    ['a', 'b'],
  );
});

void test('-o accepts wide|yaml|json|name and names the flag otherwise', () => {
  assert.equal(parseOutputFormat(undefined), 'table');
  assert.equal(parseOutputFormat('wide'), 'wide');
  assert.throws(() => parseOutputFormat('jsonpath={.x}'), /--output: unsupported format "jsonpath=\{\.x\}": expected one of wide, json, yaml, name/);
});

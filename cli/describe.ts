// `osctl describe` text: metadata, spec as a titled tree, status with conditions and attempts
// as tables, then events. Pure functions of the object, the events and the clock.
import type { ApiObject } from '../api/meta.js';
import { age } from '../util/duration.js';
import { type Json, field, isRecord, scalarText } from './objects.js';
import { type CliResource, JOB } from './resources.js';

const NONE = '<none>';
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** An event about an object (the Kubernetes core/v1 Event fields osctl shows). */
export interface DescribedEvent {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  source?: { component?: string };
  metadata?: { creationTimestamp?: string };
}

/** `fooBarBaz` -> `Foo Bar Baz`. */
export function titleCase(key: string): string {
  const spaced = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2');
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

function timeWithAge(value: unknown, nowMs: number): string {
  const t = scalarText(value);
  return t ? `${t} (${age(t, nowMs)} ago)` : NONE;
}

/** Aligned `Key:  value` lines: values start two spaces after the longest key. */
function keyValues(pairs: readonly [string, string][], indent: string): string[] {
  const width = Math.max(0, ...pairs.map(([k]) => k.length + 1));
  return pairs.map(([k, v]) => `${indent}${`${k}:`.padEnd(width + 2)}${v}`.trimEnd());
}

/** A table with a dashed underline, columns two spaces apart. */
function table(headers: readonly string[], rows: readonly (readonly string[])[], indent: string): string[] {
  const all = [headers, headers.map((h) => '-'.repeat(h.length)), ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((row) => `${indent}${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 2))).join('')}`.trimEnd());
}

function mapLines(map: unknown, hide: readonly string[] = []): string[] {
  if (!isRecord(map)) return [];
  return Object.entries(map)
    .filter(([k]) => !hide.includes(k))
    .map(([k, v]) => `${k}=${scalarText(v)}`);
}

/** `Label:` followed by the first item on the same line and the rest aligned under it. */
function listField(label: string, items: readonly string[], width: number): string[] {
  const head = `${label}:`.padEnd(width);
  if (items.length === 0) return [`${head}${NONE}`];
  return items.map((item, i) => (i === 0 ? head : ' '.repeat(width)) + item);
}

/** Keys whose values are maps of user data: printed as `key=value`, not as titled fields. */
const USER_MAPS = new Set(['nodeSelector', 'labels', 'annotations']);

/** A generic titled tree of a value (as kubectl's generic describer), `indent` per level. */
export function renderTree(value: Json, indent: string): string[] {
  const lines: string[] = [];
  const scalars: [string, string][] = [];
  const flush = (): void => {
    lines.push(...keyValues(scalars, indent));
    scalars.length = 0;
  };
  for (const [key, v] of Object.entries(value)) {
    const title = titleCase(key);
    if (USER_MAPS.has(key) && isRecord(v)) {
      flush();
      const entries = mapLines(v);
      if (entries.length === 0) lines.push(`${indent}${title}:  ${NONE}`);
      else lines.push(`${indent}${title}:`, ...entries.map((e) => `${indent}  ${e}`));
    } else if (isRecord(v)) {
      flush();
      lines.push(`${indent}${title}:`, ...renderTree(v, `${indent}  `));
    } else if (Array.isArray(v)) {
      flush();
      if (v.length === 0) {
        lines.push(`${indent}${title}:  ${NONE}`);
        continue;
      }
      lines.push(`${indent}${title}:`);
      for (const item of v) {
        if (isRecord(item)) {
          const sub = renderTree(item, `${indent}    `);
          lines.push(...sub.map((l, i) => (i === 0 ? `${indent}  - ${l.slice(indent.length + 4)}` : l)));
        } else {
          lines.push(`${indent}  ${scalarText(item)}`);
        }
      }
    } else {
      scalars.push([title, scalarText(v) || (v === '' ? '""' : NONE)]);
    }
  }
  flush();
  return lines;
}

function metadataLines(obj: ApiObject, nowMs: number, namespaced: boolean): string[] {
  const width = 14;
  const md = obj.metadata;
  const lines = [`${'Name:'.padEnd(width)}${md.name}`];
  if (namespaced) lines.push(`${'Namespace:'.padEnd(width)}${md.namespace ?? NONE}`);
  lines.push(...listField('Labels', mapLines(md.labels), width));
  lines.push(...listField('Annotations', mapLines(md.annotations, [LAST_APPLIED_ANNOTATION]), width));
  lines.push(
    `${'API Version:'.padEnd(width)}${obj.apiVersion}`,
    `${'Kind:'.padEnd(width)}${obj.kind}`,
    `${'Created:'.padEnd(width)}${timeWithAge(md.creationTimestamp, nowMs)}`,
    `${'UID:'.padEnd(width)}${md.uid ?? NONE}`,
    `${'Version:'.padEnd(width)}${md.resourceVersion ?? NONE}${md.generation !== undefined ? ` (generation ${md.generation})` : ''}`,
  );
  return lines;
}

function conditionsTable(conditions: unknown, nowMs: number, indent: string): string[] {
  if (!Array.isArray(conditions) || conditions.length === 0) return [`${indent}Conditions:  ${NONE}`];
  const rows = conditions.filter(isRecord).map((c) => [
    scalarText(c.type),
    scalarText(c.status),
    scalarText(c.reason) || NONE,
    c.lastTransitionTime ? `${age(scalarText(c.lastTransitionTime), nowMs)} ago` : NONE,
    scalarText(c.message),
  ]);
  return [`${indent}Conditions:`, ...table(['Type', 'Status', 'Reason', 'Last Transition', 'Message'], rows, `${indent}  `)];
}

function attemptsTable(list: unknown[], nowMs: number, indent: string): string[] {
  const rows = list.filter(isRecord).map((a) => [
    scalarText(a.attempt),
    scalarText(a.nodeName) || NONE,
    a.startTime ? `${age(scalarText(a.startTime), nowMs)} ago` : NONE,
    a.endTime ? `${age(scalarText(a.endTime), nowMs)} ago` : NONE,
    scalarText(a.exitCode) || NONE,
    scalarText(a.reason) || NONE,
    scalarText(a.message),
  ]);
  return [`${indent}Recent Attempts:`, ...table(['Attempt', 'Node', 'Started', 'Ended', 'Exit Code', 'Reason', 'Message'], rows, `${indent}  `)];
}

function jobStatusLines(status: Json, nowMs: number): string[] {
  const known: [string, string][] = [
    ['Phase', scalarText(status.phase) || NONE],
    ['Reason', scalarText(status.reason) || NONE],
    ['Message', scalarText(status.message) || NONE],
    ['Node', scalarText(status.nodeName) || NONE],
    ['Attempts', scalarText(status.attempts) || '0'],
    ['Start Time', timeWithAge(status.startTime, nowMs)],
    ['Completion Time', timeWithAge(status.completionTime, nowMs)],
    ['Exit Code', scalarText(status.exitCode) || NONE],
    ['Next Retry At', timeWithAge(status.nextRetryAt, nowMs)],
    ['Observed Generation', scalarText(status.observedGeneration) || NONE],
  ];
  const shown = new Set(['phase', 'reason', 'message', 'nodeName', 'attempts', 'startTime', 'completionTime', 'exitCode', 'nextRetryAt', 'observedGeneration', 'conditions']);
  const lines = ['Status:', ...keyValues(known, '  '), ...conditionsTable(status.conditions, nowMs, '  ')];
  shown.add('recentAttempts');
  if (Array.isArray(status.recentAttempts) && status.recentAttempts.length > 0) {
    lines.push(...attemptsTable(status.recentAttempts, nowMs, '  '));
  } else {
    lines.push(`  Recent Attempts:  ${NONE}`);
  }
  const rest = Object.fromEntries(Object.entries(status).filter(([k]) => !shown.has(k)));
  lines.push(...renderTree(rest, '  '));
  return lines;
}

function nodeStatusLines(status: Json, nowMs: number): string[] {
  const lines = ['Status:'];
  lines.push(...keyValues([['Last Heartbeat', timeWithAge(status.lastHeartbeatTime, nowMs)]], '  '));
  lines.push(...conditionsTable(status.conditions, nowMs, '  '));
  const rest = Object.fromEntries(Object.entries(status).filter(([k]) => k !== 'conditions' && k !== 'lastHeartbeatTime'));
  lines.push(...renderTree(rest, '  '));
  return lines;
}

function eventLines(events: readonly DescribedEvent[] | undefined, nowMs: number): string[] {
  if (!events || events.length === 0) return [`Events:  ${NONE}`];
  const rows = events.map((e) => {
    const when = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
    const count = e.count && e.count > 1 ? ` (x${e.count})` : '';
    return [e.type ?? '', e.reason ?? '', when ? `${age(when, nowMs)}${count}` : NONE, e.source?.component ?? '', e.message ?? ''];
  });
  return ['Events:', ...table(['Type', 'Reason', 'Age', 'From', 'Message'], rows, '  ')];
}

/** The describe text of a Job or Node (ends with a newline). */
export function describeObject(resource: CliResource, obj: ApiObject, events: readonly DescribedEvent[] | undefined, nowMs: number): string {
  const lines = metadataLines(obj, nowMs, resource.namespaced);
  const spec = field(obj, 'spec');
  lines.push(...(isRecord(spec) && Object.keys(spec).length > 0 ? ['Spec:', ...renderTree(spec, '  ')] : [`Spec:  ${NONE}`]));
  const status = field(obj, 'status');
  if (isRecord(status)) lines.push(...(resource === JOB ? jobStatusLines(status, nowMs) : nodeStatusLines(status, nowMs)));
  else lines.push(`Status:  ${NONE}`);
  lines.push(...eventLines(events, nowMs));
  return `${lines.join('\n')}\n`;
}

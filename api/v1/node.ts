// The Node kind (cluster-scoped): rules beyond node-schema.ts, field selectors and columns.
import type { ApiObject } from '../meta.js';
import { defineKind, fieldString, isPlainObject, type PlainObject, type PrintColumn } from '../define-kind.js';
import { formatCpuMillis, formatMemoryBytes, parseCpuMillis, parseMemoryBytes, QUANTITY_HINT } from '../quantity.js';
import { duplicate, FieldErrors, invalid } from '../validation.js';
import { nodeSchema } from './node-schema.js';

function validateResources(value: unknown, field: string, errors: FieldErrors): void {
  if (!isPlainObject(value)) return;
  const checks = [
    ['cpu', parseCpuMillis],
    ['memory', parseMemoryBytes],
  ] as const;
  for (const [key, parse] of checks) {
    const q = value[key];
    if (typeof q !== 'string' && typeof q !== 'number') continue;
    const parsed = parse(q);
    if (parsed === undefined) errors.add(invalid(`${field}.${key}`, q, `must be ${QUANTITY_HINT}`));
    else if (parsed < 0) errors.add(invalid(`${field}.${key}`, q, 'must not be negative'));
  }
}

function validateNodeStatus(status: PlainObject, errors: FieldErrors): void {
  validateResources(status.capacity, 'status.capacity', errors);
  validateResources(status.allocatable, 'status.allocatable', errors);
  const drivers = status.drivers;
  if (Array.isArray(drivers)) {
    const seen = new Set<unknown>();
    drivers.forEach((d: unknown, i) => {
      if (seen.has(d)) errors.add(duplicate(`status.drivers[${i}]`, d));
      seen.add(d);
    });
  }
}

/** The Ready condition's status ('True' | 'False' | 'Unknown'), or undefined when not reported. */
export function nodeReadyStatus(node: unknown): string | undefined {
  if (!isPlainObject(node) || !isPlainObject(node.status) || !Array.isArray(node.status.conditions)) return undefined;
  const ready: unknown = node.status.conditions.find((c: unknown) => isPlainObject(c) && c.type === 'Ready');
  return isPlainObject(ready) && typeof ready.status === 'string' ? ready.status : undefined;
}

/** kubectl's node STATUS: Ready | NotReady | Unknown, plus ",SchedulingDisabled" when cordoned. */
export function nodeStatusText(node: ApiObject): string {
  const ready = nodeReadyStatus(node);
  const base = ready === 'True' ? 'Ready' : ready === 'False' ? 'NotReady' : 'Unknown';
  return fieldString(node, 'spec', 'unschedulable') === 'true' ? `${base},SchedulingDisabled` : base;
}

function resourceCell(node: ApiObject, key: 'cpu' | 'memory'): string {
  const q = isPlainObject(node.status) && isPlainObject(node.status.capacity) ? node.status.capacity[key] : undefined;
  if (typeof q !== 'string' && typeof q !== 'number') return '';
  const parsed = key === 'cpu' ? parseCpuMillis(q) : parseMemoryBytes(q);
  if (parsed === undefined) return String(q);
  return key === 'cpu' ? formatCpuMillis(parsed) : formatMemoryBytes(parsed);
}

const nodeColumns: readonly PrintColumn[] = [
  { name: 'Status', type: 'string', description: 'Ready, NotReady or Unknown; SchedulingDisabled when unschedulable.', priority: 0, cell: nodeStatusText },
  {
    name: 'Drivers',
    type: 'string',
    description: 'Task drivers available on the node.',
    priority: 0,
    cell: (o) => (isPlainObject(o.status) && Array.isArray(o.status.drivers) ? o.status.drivers.map(String).join(',') : ''),
  },
  { name: 'CPU', type: 'string', description: 'CPU capacity.', priority: 1, jsonPath: '.status.capacity.cpu', cell: (o) => resourceCell(o, 'cpu') },
  {
    name: 'Memory',
    type: 'string',
    description: 'Memory capacity.',
    priority: 1,
    jsonPath: '.status.capacity.memory',
    cell: (o) => resourceCell(o, 'memory'),
  },
  {
    name: 'Version',
    type: 'string',
    description: 'Agent version.',
    priority: 1,
    jsonPath: '.status.agentVersion',
    cell: (o) => fieldString(o, 'status', 'agentVersion') ?? '',
  },
];

export const nodeKind = defineKind({
  kind: 'Node',
  plural: 'nodes',
  singular: 'node',
  shortNames: ['osn'],
  namespaced: false,
  schema: nodeSchema,
  initialStatus: () => ({}),
  validateStatusObject: validateNodeStatus,
  fieldSelectors: {
    'metadata.name': (o) => o.metadata.name,
    'spec.unschedulable': (o) => fieldString(o, 'spec', 'unschedulable') ?? 'false',
  },
  columns: nodeColumns,
});

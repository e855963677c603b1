// The Job kind: defaulting, the rules beyond the schema (job-schema.ts), admission of
// dependsOn cycles, field selectors and table columns.
import type { ApiObject } from '../meta.js';
import { defineKind, fieldString, isPlainObject, type PlainObject, type PrintColumn } from '../define-kind.js';
import { incusImageError, ociReferenceError } from '../image-reference.js';
import { parseCpuMillis, parseMemoryBytes, QUANTITY_HINT } from '../quantity.js';
import {
  absolutePathError,
  duplicate,
  FieldErrors,
  forbidden,
  invalid,
  required,
  validateLabelMap,
  validateNoNul,
} from '../validation.js';
import { admitDependencies } from './job-dependencies.js';
import { DEFAULT_BACKOFF_SECONDS, DEFAULT_MAX_BACKOFF_SECONDS, jobSchema, type DRIVERS } from './job-schema.js';

type Driver = (typeof DRIVERS)[number];

/** The workload types each driver can run; the first is the default. */
export const DRIVER_WORKLOAD_TYPES: Readonly<Record<Driver, readonly string[]>> = {
  process: ['native'],
  podman: ['container'],
  incus: ['container', 'vm'],
};

export const MIN_CPU_MILLIS = 1;
export const MAX_CPU_MILLIS = 1024 * 1000;
export const MIN_MEMORY_BYTES = 2 ** 20;
export const MAX_MEMORY_BYTES = 16 * 2 ** 40;

function driverOf(spec: PlainObject): Driver | undefined {
  const d = spec.driver;
  return typeof d === 'string' && Object.hasOwn(DRIVER_WORKLOAD_TYPES, d) ? (d as Driver) : undefined;
}

function deriveJobDefaults(spec: PlainObject): void {
  const driver = driverOf(spec);
  if (driver && spec.workloadType === undefined) spec.workloadType = DRIVER_WORKLOAD_TYPES[driver][0];
  const retry = spec.retryPolicy;
  if (isPlainObject(retry) && retry.maxBackoffSeconds === undefined) {
    const backoff = typeof retry.backoffSeconds === 'number' ? retry.backoffSeconds : DEFAULT_BACKOFF_SECONDS;
    retry.maxBackoffSeconds = Math.max(DEFAULT_MAX_BACKOFF_SECONDS, backoff);
  } else if (retry === undefined) {
    // Schema defaults fill the rest of {} (retryPolicy defaults to {}).
    spec.retryPolicy = { maxBackoffSeconds: DEFAULT_MAX_BACKOFF_SECONDS };
  }
}

function validateDriver(spec: PlainObject, errors: FieldErrors): void {
  const driver = driverOf(spec);
  if (!driver) return;
  const workloadType = spec.workloadType;
  const allowed = DRIVER_WORKLOAD_TYPES[driver];
  if (typeof workloadType === 'string' && !allowed.includes(workloadType)) {
    const list = allowed.map((t) => JSON.stringify(t)).join(' or ');
    errors.add(invalid('spec.workloadType', workloadType, `must be ${list} with driver ${JSON.stringify(driver)}`));
  }
  const image = spec.image;
  if (driver === 'process') {
    if (image !== undefined) errors.add(forbidden('spec.image', 'not allowed with driver "process" (it runs a host command)'));
    if (spec.volumes !== undefined) {
      errors.add(forbidden('spec.volumes', 'not supported with driver "process" (the process sees the host filesystem)'));
    }
    if (spec.network !== undefined) errors.add(forbidden('spec.network', 'not supported with driver "process" (the process shares the host network)'));
    const command = spec.command;
    if (command === undefined || (Array.isArray(command) && command.length === 0)) {
      errors.add(required('spec.command', 'driver "process" needs a command to run'));
    }
    return;
  }
  if (image === undefined || image === '') {
    errors.add(required('spec.image', `driver ${JSON.stringify(driver)} needs an image`));
  } else if (typeof image === 'string') {
    const e = driver === 'podman' ? ociReferenceError(image) : incusImageError(image);
    if (e) errors.add(invalid('spec.image', image, e));
  }
  if (driver === 'incus' && (spec.command === undefined || (Array.isArray(spec.command) && spec.command.length === 0))) {
    errors.add(required('spec.command', 'driver "incus" needs a command to run (a system container has no entrypoint)'));
  }
  if (driver === 'incus' && spec.network !== undefined) {
    errors.add(forbidden('spec.network', 'not supported with driver "incus" (instances get no network device)'));
  } else if (typeof spec.network === 'string' && PODMAN_NETWORK_MODES.includes(spec.network)) {
    errors.add(invalid('spec.network', spec.network, 'must name a podman network, not a network mode (no host namespaces; omit the field for no network)'));
  }
}

/** `--network` values that are modes, not network names: never accepted as spec.network. */
const PODMAN_NETWORK_MODES = ['host', 'none', 'private', 'bridge', 'slirp4netns', 'pasta', 'default'];

function validateArgv(value: unknown, field: string, errors: FieldErrors): void {
  if (!Array.isArray(value) || errors.hasSchemaError(field)) return;
  value.forEach((arg: unknown, i) => validateNoNul(arg, `${field}[${i}]`, errors));
  if (field === 'spec.command' && value[0] === '') errors.add(invalid(`${field}[0]`, '', 'the program must not be empty'));
}

function validateEnv(env: unknown, errors: FieldErrors): void {
  if (!Array.isArray(env) || errors.hasSchemaError('spec.env')) return;
  const seen = new Set<string>();
  env.forEach((entry: unknown, i) => {
    if (!isPlainObject(entry)) return;
    const field = `spec.env[${i}]`;
    if (typeof entry.name === 'string') {
      if (seen.has(entry.name)) errors.add(duplicate(`${field}.name`, entry.name));
      seen.add(entry.name);
    }
    validateNoNul(entry.value, `${field}.value`, errors);
  });
}

function validateQuantity(
  value: unknown,
  field: string,
  errors: FieldErrors,
  parse: (q: string | number) => number | undefined,
  bounds: { min: number; minText: string; max: number; maxText: string },
): void {
  if (typeof value !== 'string' && typeof value !== 'number') return;
  const parsed = parse(value);
  if (parsed === undefined) {
    errors.add(invalid(field, value, `must be ${QUANTITY_HINT}`));
  } else if (parsed < bounds.min) {
    errors.add(invalid(field, value, `must be ${bounds.minText}`));
  } else if (parsed > bounds.max) {
    errors.add(invalid(field, value, `must be ${bounds.maxText}`));
  }
}

function validateResources(resources: unknown, errors: FieldErrors): void {
  if (!isPlainObject(resources)) return;
  validateQuantity(resources.cpu, 'spec.resources.cpu', errors, parseCpuMillis, {
    min: MIN_CPU_MILLIS,
    minText: 'greater than 0',
    max: MAX_CPU_MILLIS,
    maxText: 'at most 1024 cores',
  });
  validateQuantity(resources.memory, 'spec.resources.memory', errors, parseMemoryBytes, {
    min: MIN_MEMORY_BYTES,
    minText: 'at least 1Mi',
    max: MAX_MEMORY_BYTES,
    maxText: 'at most 16Ti',
  });
}

/** Characters that separate podman/incus mount options; never valid in a mount path here. */
const MOUNT_SEPARATOR_RE = /[:,]/;

function validateVolumes(volumes: unknown, errors: FieldErrors): void {
  if (!Array.isArray(volumes) || errors.hasSchemaError('spec.volumes')) return;
  const mountPaths = new Set<string>();
  volumes.forEach((v: unknown, i) => {
    if (!isPlainObject(v)) return;
    for (const key of ['hostPath', 'mountPath'] as const) {
      const path = v[key];
      if (typeof path !== 'string') continue;
      const field = `spec.volumes[${i}].${key}`;
      const e = absolutePathError(path);
      if (e) errors.add(invalid(field, path, e));
      else if (MOUNT_SEPARATOR_RE.test(path)) errors.add(invalid(field, path, "must not contain ':' or ','"));
      else if (key === 'mountPath' && path.replace(/\/+$/, '') === '') {
        errors.add(invalid(field, path, 'must not be the root directory'));
      }
    }
    if (typeof v.mountPath === 'string') {
      const normalized = v.mountPath.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
      if (mountPaths.has(normalized)) errors.add(duplicate(`spec.volumes[${i}].mountPath`, v.mountPath));
      mountPaths.add(normalized);
    }
  });
}

function validateRetryPolicy(retry: unknown, errors: FieldErrors): void {
  if (!isPlainObject(retry)) return;
  const { backoffSeconds, maxBackoffSeconds } = retry;
  if (typeof backoffSeconds === 'number' && typeof maxBackoffSeconds === 'number' && maxBackoffSeconds < backoffSeconds) {
    errors.add(
      invalid(
        'spec.retryPolicy.maxBackoffSeconds',
        maxBackoffSeconds,
        `must be greater than or equal to backoffSeconds (${backoffSeconds})`,
      ),
    );
  }
}

function validateDependsOn(deps: unknown, name: unknown, errors: FieldErrors): void {
  if (!Array.isArray(deps) || errors.hasSchemaError('spec.dependsOn')) return;
  const seen = new Set<string>();
  deps.forEach((d: unknown, i) => {
    if (typeof d !== 'string') return;
    const field = `spec.dependsOn[${i}]`;
    if (d === name) errors.add(invalid(field, d, 'a job cannot depend on itself'));
    else if (seen.has(d)) errors.add(duplicate(field, d));
    seen.add(d);
  });
}

function validateJob(obj: PlainObject, errors: FieldErrors): void {
  const spec = obj.spec;
  if (!isPlainObject(spec) || errors.hasSchemaError('spec')) return;
  const name = isPlainObject(obj.metadata) ? obj.metadata.name : undefined;
  validateDriver(spec, errors);
  validateArgv(spec.command, 'spec.command', errors);
  validateArgv(spec.args, 'spec.args', errors);
  validateEnv(spec.env, errors);
  if (typeof spec.workingDir === 'string') {
    const e = absolutePathError(spec.workingDir);
    if (e) errors.add(invalid('spec.workingDir', spec.workingDir, e));
  }
  validateResources(spec.resources, errors);
  validateVolumes(spec.volumes, errors);
  validateRetryPolicy(spec.retryPolicy, errors);
  validateDependsOn(spec.dependsOn, name, errors);
  validateLabelMap(spec.nodeSelector, 'spec.nodeSelector', errors, 'entries');
}

function validateJobStatus(status: PlainObject, errors: FieldErrors): void {
  const attempts = status.recentAttempts;
  if (!Array.isArray(attempts)) return;
  const seen = new Set<number>();
  attempts.forEach((a: unknown, i) => {
    if (!isPlainObject(a) || typeof a.attempt !== 'number') return;
    if (seen.has(a.attempt)) errors.add(duplicate(`status.recentAttempts[${i}].attempt`, a.attempt));
    seen.add(a.attempt);
  });
}

const phase = (obj: ApiObject): string | undefined => fieldString(obj, 'status', 'phase');
const nodeName = (obj: ApiObject): string | undefined => fieldString(obj, 'status', 'nodeName');

const programOf = (obj: ApiObject): string => {
  const spec = obj.spec;
  return isPlainObject(spec) && Array.isArray(spec.command) ? spec.command.map(String).join(' ') : '';
};

const jobColumns: readonly PrintColumn[] = [
  { name: 'Phase', type: 'string', description: 'Lifecycle phase of the job.', priority: 0, jsonPath: '.status.phase', cell: (o) => phase(o) ?? '' },
  {
    name: 'Reason',
    type: 'string',
    description: 'Why the job is in its phase.',
    priority: 0,
    jsonPath: '.status.reason',
    cell: (o) => fieldString(o, 'status', 'reason') ?? '',
  },
  {
    name: 'Driver',
    type: 'string',
    description: 'Task driver.',
    priority: 0,
    jsonPath: '.spec.driver',
    cell: (o) => fieldString(o, 'spec', 'driver') ?? '',
  },
  {
    name: 'Attempts',
    type: 'integer',
    description: 'Attempts started so far.',
    priority: 0,
    jsonPath: '.status.attempts',
    cell: (o) => Number(fieldString(o, 'status', 'attempts') ?? 0),
  },
  {
    name: 'Node',
    type: 'string',
    description: 'Node the job is placed on.',
    priority: 1,
    jsonPath: '.status.nodeName',
    cell: (o) => nodeName(o) ?? '<none>',
  },
  {
    name: 'Priority',
    type: 'integer',
    description: 'Scheduling priority.',
    priority: 1,
    jsonPath: '.spec.priority',
    cell: (o) => Number(fieldString(o, 'spec', 'priority') ?? 0),
  },
  {
    name: 'Image',
    type: 'string',
    description: 'Image (podman, incus) or program (process).',
    priority: 1,
    cell: (o) => fieldString(o, 'spec', 'image') ?? programOf(o),
  },
];

export const jobKind = defineKind({
  kind: 'Job',
  plural: 'jobs',
  singular: 'job',
  shortNames: ['osj'],
  namespaced: true,
  schema: jobSchema,
  initialStatus: () => ({ phase: 'Pending', attempts: 0 }),
  deriveDefaults: deriveJobDefaults,
  validateObject: validateJob,
  validateStatusObject: validateJobStatus,
  admit: admitDependencies,
  fieldSelectors: {
    'metadata.name': (o) => o.metadata.name,
    'metadata.namespace': (o) => o.metadata.namespace,
    'status.phase': phase,
    'spec.driver': (o) => fieldString(o, 'spec', 'driver'),
    // Where the job is placed; an alias of status.nodeName (as pods' spec.nodeName selector).
    'spec.nodeName': nodeName,
    'status.nodeName': nodeName,
    'status.reason': (o) => fieldString(o, 'status', 'reason'),
  },
  columns: jobColumns,
});

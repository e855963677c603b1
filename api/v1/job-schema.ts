// The Job schema (openscheduler.io/v1), written once. The TypeScript types
// (types.generated.ts), validation, defaulting, manifests/jobs.openscheduler.io.yaml and the
// OpenAPI document derive from it. Rules that a schema cannot express (driver/image/workloadType
// agreement, quantities, paths, uniqueness, label keys) are in job.ts.
import {
  conditionSchema,
  DNS1123_LABEL,
  DNS1123_SUBDOMAIN,
  ENV_VAR_NAME,
  quantitySchema,
  stringMapSchema,
  timestampSchema,
  type JSONSchemaProps,
} from '../schema.js';

/** 30 days: the upper bound of per-attempt and per-job durations. */
export const MAX_DURATION_SECONDS = 30 * 24 * 3600;
/** At most this many attempts are kept in status.recentAttempts (older ones are in the history store). */
export const MAX_RECENT_ATTEMPTS = 10;

export const DRIVERS = ['process', 'podman', 'incus'] as const;
export const WORKLOAD_TYPES = ['native', 'container', 'vm'] as const;
export const JOB_PHASES = ['Pending', 'Scheduled', 'Running', 'Succeeded', 'Failed'] as const;

export const DEFAULT_KILL_TIMEOUT_SECONDS = 10;
export const DEFAULT_MAX_RETRIES = 0;
export const DEFAULT_BACKOFF_SECONDS = 10;
export const DEFAULT_BACKOFF_FACTOR = 2;
export const DEFAULT_MAX_BACKOFF_SECONDS = 300;

const seconds = (description: string, minimum: number, maximum = MAX_DURATION_SECONDS): JSONSchemaProps => ({
  type: 'integer',
  minimum,
  maximum,
  description,
});

const argvSchema = (description: string): JSONSchemaProps => ({
  type: 'array',
  maxItems: 1024,
  description,
  items: { type: 'string', maxLength: 65536 },
});

export const jobSpecSchema: JSONSchemaProps = {
  type: 'object',
  title: 'JobSpec',
  description: 'Desired state of the job: what to run, where, and how to retry it.',
  required: ['driver'],
  properties: {
    driver: {
      type: 'string',
      title: 'Driver',
      enum: [...DRIVERS],
      description: 'Task driver that runs the job: process (a host process), podman (an OCI container) or incus (a system container or VM).',
    },
    workloadType: {
      type: 'string',
      title: 'WorkloadType',
      enum: [...WORKLOAD_TYPES],
      description:
        'Kind of workload. Defaulted from driver (process: native, podman: container, incus: container) and must agree with it (incus also allows vm).',
    },
    image: {
      type: 'string',
      maxLength: 512,
      description:
        'Image to run: an OCI reference ([registry/]path[:tag][@digest]) for podman, an image alias or fingerprint ([remote:]name) for incus. Required for podman and incus; not allowed for process.',
    },
    command: argvSchema(
      'Entrypoint argv, executed directly (never through an implicit shell). Required for drivers process and incus; podman defaults to the image ENTRYPOINT (and args replace its CMD).',
    ),
    args: argvSchema('Arguments appended to command.'),
    env: {
      type: 'array',
      maxItems: 1000,
      description: 'Environment variables of the task; names are unique.',
      items: {
        type: 'object',
        title: 'EnvVar',
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 256, pattern: ENV_VAR_NAME, description: 'Variable name.' },
          value: { type: 'string', maxLength: 65536, description: 'Variable value (default empty).' },
        },
      },
    },
    workingDir: {
      type: 'string',
      maxLength: 4096,
      description: "Working directory of the task: an absolute path without '..'.",
    },
    resources: {
      type: 'object',
      title: 'ResourceRequirements',
      description: 'Resources the job needs; used for placement and enforced by drivers.',
      properties: {
        cpu: quantitySchema('CPU, a quantity in cores ("500m", "2"); more than 0 and at most 1024.'),
        memory: quantitySchema('Memory, a quantity in bytes ("128Mi", "1G"); at least 1Mi and at most 16Ti.'),
      },
    },
    volumes: {
      type: 'array',
      maxItems: 100,
      description: 'Host directories bind-mounted into the container (podman, incus); mountPath values are unique.',
      items: {
        type: 'object',
        title: 'Volume',
        required: ['hostPath', 'mountPath'],
        properties: {
          hostPath: { type: 'string', maxLength: 4096, description: "Absolute path on the node, without '..'." },
          mountPath: { type: 'string', maxLength: 4096, description: "Absolute path in the container, without '..'." },
          readOnly: { type: 'boolean', default: false, description: 'Mount read-only (default false).' },
        },
      },
    },
    network: {
      type: 'string',
      maxLength: 63,
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
      description:
        'podman only: a named podman network the container joins. Absent means no network at all. The node runs the job only if its operator allowed that network (agent --podman-networks); "host" is never allowed.',
    },
    timeoutSeconds: seconds(
      'Per-attempt time limit: the task gets SIGTERM, then SIGKILL after killTimeoutSeconds. Unlimited when absent.',
      1,
    ),
    killTimeoutSeconds: {
      ...seconds('Grace period between SIGTERM and SIGKILL when a task is stopped (default 10).', 0, 3600),
      default: DEFAULT_KILL_TIMEOUT_SECONDS,
    },
    activeDeadlineSeconds: seconds('Time limit of the whole job across all attempts, from its first start.', 1),
    ttlSecondsAfterFinished: seconds('Delete the job this long after it finished (Succeeded or Failed).', 0, 365 * 24 * 3600),
    retryPolicy: {
      type: 'object',
      title: 'RetryPolicy',
      default: {},
      description: 'How failed attempts are retried. Delay before retry n (1-based): min(backoffSeconds * backoffFactor^(n-1), maxBackoffSeconds).',
      properties: {
        maxRetries: {
          type: 'integer',
          minimum: 0,
          maximum: 100,
          default: DEFAULT_MAX_RETRIES,
          description: 'Retries after the first attempt fails (default 0: a failed job is not re-run unless asked for).',
        },
        backoffSeconds: {
          type: 'integer',
          minimum: 0,
          maximum: 86400,
          default: DEFAULT_BACKOFF_SECONDS,
          description: 'Delay before the first retry (default 10).',
        },
        backoffFactor: {
          type: 'number',
          minimum: 1,
          maximum: 10,
          default: DEFAULT_BACKOFF_FACTOR,
          description: 'Multiplier of the delay for each further retry (default 2).',
        },
        maxBackoffSeconds: {
          type: 'integer',
          minimum: 0,
          maximum: 86400,
          description: 'Upper bound of the delay; at least backoffSeconds (default 300, or backoffSeconds if larger).',
        },
      },
    },
    dependsOn: {
      type: 'array',
      maxItems: 100,
      description:
        'Names of Jobs in the same namespace that must succeed before this one starts. Unique, not the job itself; cycles are rejected. Missing jobs are waited for.',
      items: { type: 'string', maxLength: 63, pattern: DNS1123_LABEL },
    },
    nodeSelector: stringMapSchema('Labels a node must carry to run the job (keys and values as labels).'),
    priority: {
      type: 'integer',
      minimum: -1000000,
      maximum: 1000000,
      default: 0,
      description: 'Scheduling priority; higher runs first (default 0).',
    },
  },
};

export const jobAttemptSchema: JSONSchemaProps = {
  type: 'object',
  title: 'JobAttempt',
  description: 'One attempt of the job.',
  required: ['attempt'],
  properties: {
    attempt: { type: 'integer', minimum: 1, description: 'Attempt number, from 1.' },
    nodeName: { type: 'string', maxLength: 253, pattern: DNS1123_SUBDOMAIN, description: 'Node that ran the attempt.' },
    startTime: timestampSchema('When the attempt started.'),
    endTime: timestampSchema('When the attempt ended.'),
    exitCode: { type: 'integer', minimum: -2147483648, maximum: 2147483647, description: 'Exit code of the task.' },
    reason: { type: 'string', maxLength: 256, description: 'Why the attempt ended, e.g. Completed, Error, Timeout, NodeLost.' },
    message: { type: 'string', maxLength: 32768, description: 'Details about the end of the attempt.' },
    lastReportSequence: {
      type: 'integer',
      minimum: 0,
      description: "Sequence of the last agent status report applied to this attempt (reports with a lower or equal sequence are duplicates).",
    },
  },
};

export const jobStatusSchema: JSONSchemaProps = {
  type: 'object',
  title: 'JobStatus',
  description: 'Observed state of the job; written by the system only (status subresource).',
  properties: {
    phase: {
      type: 'string',
      title: 'JobPhase',
      enum: [...JOB_PHASES],
      description: 'Lifecycle phase: Pending, Scheduled, Running, Succeeded or Failed.',
    },
    reason: {
      type: 'string',
      maxLength: 256,
      description:
        'Machine-readable why, e.g. WaitingForDependencies, Unschedulable, BackoffWaiting, DeadlineExceeded, RetriesExhausted, DependencyFailed, NodeLost.',
    },
    message: { type: 'string', maxLength: 32768, description: 'Human-readable details.' },
    nodeName: { type: 'string', maxLength: 253, pattern: DNS1123_SUBDOMAIN, description: 'Node the job is placed on.' },
    attempts: {
      type: 'integer',
      minimum: 0,
      description: 'Attempts made so far, over the whole life of the job: attempt numbers are never reused, also not after a retry from the dead-letter queue.',
    },
    seriesStartAttempt: {
      type: 'integer',
      minimum: 0,
      description:
        'Attempts made before the current attempt series began (0 until the first retry from the dead-letter queue); retries used in the series = attempts - seriesStartAttempt - 1.',
    },
    nodeLostRequeues: {
      type: 'integer',
      minimum: 0,
      description:
        "Times the job was re-queued with reason NodeLost: its node was lost, or its agent ended the attempt for reasons of its own (lost the control plane, shut down, restarted while starting it). Counted apart from the user's retries; after 5 the next loss fails the job.",
    },
    retrySeries: {
      type: 'integer',
      minimum: 0,
      description:
        'Times the job was taken out of the dead-letter queue by a retry (POST .../retry); each retry starts a fresh attempt series (see seriesStartAttempt) with the full retry budget.',
    },
    recentAttempts: {
      type: 'array',
      maxItems: MAX_RECENT_ATTEMPTS,
      description: `The most recent attempts (at most ${MAX_RECENT_ATTEMPTS}), oldest first.`,
      items: jobAttemptSchema,
    },
    startTime: timestampSchema('When the first attempt started.'),
    completionTime: timestampSchema('When the job reached Succeeded or Failed.'),
    exitCode: { type: 'integer', minimum: -2147483648, maximum: 2147483647, description: 'Exit code of the last attempt.' },
    nextRetryAt: timestampSchema('When the next attempt may start (while reason is BackoffWaiting).'),
    observedGeneration: { type: 'integer', minimum: 0, description: 'metadata.generation this status reflects.' },
    conditions: { type: 'array', maxItems: 32, description: 'Current conditions.', items: conditionSchema },
  },
};

/** The whole Job object, as published in the CRD (metadata is validated by api/schema.ts objectMetaSchema). */
export const jobSchema: JSONSchemaProps = {
  type: 'object',
  title: 'Job',
  description: 'A batch job: runs a command (process) or an image (podman, incus) to completion, with retries and dependencies.',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { type: 'string', description: 'openscheduler.io/v1' },
    kind: { type: 'string', description: 'Job' },
    metadata: { type: 'object', description: 'Standard object metadata.' },
    spec: jobSpecSchema,
    status: jobStatusSchema,
  },
};

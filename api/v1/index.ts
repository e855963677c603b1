// openscheduler.io/v1: the Job and Node kinds and their generated types.
import type { ResourceKind } from '../kind.js';
import { jobKind } from './job.js';
import { nodeKind } from './node.js';

export * from './types.generated.js';
export { jobKind, DRIVER_WORKLOAD_TYPES, MAX_CPU_MILLIS, MAX_MEMORY_BYTES, MIN_CPU_MILLIS, MIN_MEMORY_BYTES } from './job.js';
export { nodeKind, nodeReadyStatus, nodeStatusText } from './node.js';
export {
  DEFAULT_BACKOFF_FACTOR,
  DEFAULT_BACKOFF_SECONDS,
  DEFAULT_KILL_TIMEOUT_SECONDS,
  DEFAULT_MAX_BACKOFF_SECONDS,
  DEFAULT_MAX_RETRIES,
  DRIVERS,
  JOB_PHASES,
  MAX_RECENT_ATTEMPTS,
  WORKLOAD_TYPES,
} from './job-schema.js';
export { findDependencyCycle, MAX_DEPENDENCY_WALK } from './job-dependencies.js';
export { DEPENDENCIES_READY_CONDITION, SCHEDULED_CONDITION } from './job-conditions.js';

/** Every kind served under openscheduler.io/v1. */
export const kinds: readonly ResourceKind[] = [jobKind, nodeKind];

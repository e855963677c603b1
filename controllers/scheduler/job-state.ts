// What a Job's status means to the scheduler: whether it waits to be placed (isRunnable), and
// the status reason the scheduler writes when no node fits. Shared by the scheduler and its
// cache (kept apart so that neither imports the other).
import { DEPENDENCIES_READY_CONDITION, type Job } from '../../api/v1/index.js';

/** Status reasons set by the job lifecycle controller under which a Pending job must not be placed. */
const NOT_RUNNABLE_REASONS: ReadonlySet<string> = new Set(['WaitingForDependencies', 'BackoffWaiting']);

export const UNSCHEDULABLE_REASON = 'Unschedulable';

/**
 * True when the scheduler should place `job`: phase Pending (an absent status counts as the
 * initial Pending), no nodeName, not held back by the lifecycle controller, and, when it has
 * spec.dependsOn, admitted by the dependency controller (condition DependenciesReady=True) —
 * so a freshly created job is never bound before its dependencies were checked.
 */
export function isRunnable(job: Job): boolean {
  const status = job.status ?? {};
  return (
    (status.phase ?? 'Pending') === 'Pending' &&
    status.nodeName === undefined &&
    !(status.reason !== undefined && NOT_RUNNABLE_REASONS.has(status.reason)) &&
    ((job.spec.dependsOn ?? []).length === 0 ||
      (status.conditions ?? []).some((c) => c.type === DEPENDENCIES_READY_CONDITION && c.status === 'True'))
  );
}

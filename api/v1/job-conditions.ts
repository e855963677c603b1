// Condition types of a Job's status.conditions: part of the API contract, shared by the
// controllers that set them and the API server that clears them on retry.

/** True once the scheduler has bound the job to status.nodeName. */
export const SCHEDULED_CONDITION = 'Scheduled';
/** True once every job in spec.dependsOn has Succeeded (set by the dependency controller). */
export const DEPENDENCIES_READY_CONDITION = 'DependenciesReady';

// What a Job means to the node it is placed on: whether it is assigned there, and the
// Assignment message (agent.proto) the agent's driver runs it from.
//
// Contract:
// - A job is assigned to node N (desired state RUN) while status.nodeName == N and status.phase is
//   Scheduled or Running; leaving that set is a DELETED event for N (the agent stops the task).
// - The attempt is status.attempts (created by the scheduler's bind); a bound job without it
//   (written before attempts were counted) is attempt 1.
// - Resources carry only what the job declares (0 = not requested: no limit is enforced), parsed
//   with api/quantity.ts; killTimeoutSeconds defaults to DEFAULT_KILL_TIMEOUT_SECONDS.
import { parseCpuMillis, parseMemoryBytes } from '../api/quantity.js';
import { DEFAULT_KILL_TIMEOUT_SECONDS, DRIVER_WORKLOAD_TYPES, type Job } from '../api/v1/index.js';
import { DesiredState, type Assignment } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';

/** The node a job is assigned to (Scheduled or Running with a nodeName), or undefined. */
export function assignedNode(job: Job): string | undefined {
  const phase = job.status?.phase;
  const nodeName = job.status?.nodeName;
  return (phase === 'Scheduled' || phase === 'Running') && nodeName !== undefined && nodeName !== '' ? nodeName : undefined;
}

/** The current attempt number of a bound job (status.attempts, at least 1). */
export function currentAttempt(job: Job): number {
  const attempts = job.status?.attempts ?? 0;
  return Number.isSafeInteger(attempts) && attempts >= 1 ? attempts : 1;
}

/** The Assignment message of a job's current attempt (desired state RUN). */
export function assignmentOf(job: Job): Assignment {
  const spec = job.spec;
  const cpu = spec.resources?.cpu;
  const memory = spec.resources?.memory;
  const cpuMillis = cpu === undefined ? 0 : (parseCpuMillis(cpu) ?? 0);
  const memoryBytes = memory === undefined ? 0 : (parseMemoryBytes(memory) ?? 0);
  return {
    uid: job.metadata.uid ?? '',
    namespace: job.metadata.namespace ?? 'default',
    name: job.metadata.name,
    attempt: currentAttempt(job),
    generation: job.metadata.generation ?? 0,
    driver: spec.driver,
    workloadType: spec.workloadType ?? defaultWorkloadType(spec.driver),
    image: spec.image ?? '',
    command: [...(spec.command ?? [])],
    args: [...(spec.args ?? [])],
    env: (spec.env ?? []).map((e) => ({ name: e.name, value: e.value ?? '' })),
    workingDir: spec.workingDir ?? '',
    resources: cpu === undefined && memory === undefined ? undefined : { cpuMillis, memoryBytes },
    volumes: (spec.volumes ?? []).map((v) => ({ hostPath: v.hostPath, mountPath: v.mountPath, readOnly: v.readOnly === true })),
    network: spec.network ?? '',
    timeoutSeconds: spec.timeoutSeconds,
    killTimeoutSeconds: spec.killTimeoutSeconds ?? DEFAULT_KILL_TIMEOUT_SECONDS,
    desiredState: DesiredState.RUN,
  };
}

function defaultWorkloadType(driver: string): string {
  const allowed = (DRIVER_WORKLOAD_TYPES as Readonly<Record<string, readonly string[] | undefined>>)[driver];
  return allowed?.[0] ?? 'native';
}

/** True when two assignments would tell the agent the same thing. */
export function sameAssignment(a: Assignment, b: Assignment): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Pure translations between the agent protocol and the task driver contract: an Assignment
// becomes a TaskConfig, a driver's ExitResult (or a start failure) becomes the attempt's final
// report, and a written-down PendingReport becomes the StatusReport that is sent.
import {
  type Assignment,
  AttemptState,
  type StatusReport,
} from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { type ExitResult, InvalidTaskConfigError, type TaskConfig, type TaskLogSink } from './drivers/task-driver.js';
import type { PendingReport, ReportState } from './state-dir.js';

/** Reasons the agent itself puts on reports (the driver's ExitReason values pass through). */
export const REASON_DEADLINE_EXCEEDED = 'DeadlineExceeded';
export const REASON_STOPPED = 'Stopped';
export const REASON_NODE_LOST = 'NodeLost';
export const REASON_DRIVER_UNAVAILABLE = 'DriverUnavailable';
export const REASON_INVALID_TASK_CONFIG = 'InvalidTaskConfig';
export const REASON_START_FAILED = 'StartFailed';
export const REASON_LOST = 'Lost';

export type ReportBody = Omit<PendingReport, 'sequence'>;

/** The TaskConfig of an assignment; throws InvalidTaskConfigError for what no driver supports. */
export function taskConfigOf(a: Assignment, logs: TaskLogSink): TaskConfig {
  const env: Record<string, string> = {};
  a.env.forEach((e, i) => {
    if (Object.hasOwn(env, e.name)) throw new InvalidTaskConfigError(`env[${i}].name`, `${JSON.stringify(e.name)} is given twice`);
    env[e.name] = e.value;
  });
  const resources: TaskConfig['resources'] = {};
  if (a.resources && a.resources.cpuMillis > 0) resources.cpuMillis = a.resources.cpuMillis;
  if (a.resources && a.resources.memoryBytes > 0) resources.memoryBytes = a.resources.memoryBytes;
  return {
    jobUid: a.uid,
    namespace: a.namespace,
    name: a.name,
    attempt: a.attempt,
    command: [...a.command],
    args: [...a.args],
    env,
    ...(a.workingDir !== '' ? { workingDir: a.workingDir } : {}),
    resources,
    ...(a.image !== '' ? { image: a.image } : {}),
    ...(a.workloadType === 'native' || a.workloadType === 'container' || a.workloadType === 'vm' ? { workloadType: a.workloadType } : {}),
    ...(a.volumes.length > 0 ? { volumes: a.volumes.map((v) => ({ hostPath: v.hostPath, mountPath: v.mountPath, readOnly: v.readOnly })) } : {}),
    ...(a.network ? { network: a.network } : {}),
    logs,
  };
}

/**
 * The final report of a task that ended. `stopReason` is why the agent stopped it, if it did:
 * it replaces the driver's 'Stopped' (or, after an agent restart, 'Signaled': the new driver
 * instance did not send the signal) but never a real outcome such as OOMKilled or an exit the
 * task made by itself.
 */
export function exitReport(exit: ExitResult, startedAt: string | undefined, stopReason?: { reason: string; message: string }): ReportBody {
  const times = { ...(startedAt ? { startedAt } : {}), finishedAt: exit.finishedAt };
  if (exit.reason === 'Lost') {
    return { state: 'LOST', reason: REASON_LOST, message: exit.message ?? 'the task ended while unobserved; its exit status is unknown', ...times };
  }
  const stoppedByUs = stopReason !== undefined && (exit.reason === 'Stopped' || exit.reason === 'Signaled');
  const reason = stoppedByUs ? stopReason.reason : exit.reason;
  // EXITED names how: the signal, or else the exit code (-1 when the driver does not know it).
  const how = exit.signal ? { signal: exit.signal } : { exitCode: exit.exitCode };
  const message = stoppedByUs ? stopReason.message : (exit.message ?? describeExit(exit));
  return { state: 'EXITED', reason, message, ...how, ...times };
}

function describeExit(exit: ExitResult): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exited with code ${exit.exitCode}`;
}

/** The report of a task that could not be started. */
export function failedToStartReport(reason: string, message: string, at: string): ReportBody {
  return { state: 'FAILED_TO_START', reason, message, finishedAt: at };
}

const PROTO_STATE: Record<ReportState, AttemptState> = {
  RUNNING: AttemptState.RUNNING,
  EXITED: AttemptState.EXITED,
  FAILED_TO_START: AttemptState.FAILED_TO_START,
  LOST: AttemptState.LOST,
};

export function toStatusReport(nodeName: string, a: Pick<Assignment, 'uid' | 'attempt'>, r: PendingReport): StatusReport {
  return {
    nodeName,
    jobUid: a.uid,
    attempt: a.attempt,
    sequence: r.sequence,
    state: PROTO_STATE[r.state],
    ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
    signal: r.signal ?? '',
    reason: r.reason,
    message: clip(r.message),
    ...(r.startedAt ? { startedAt: new Date(r.startedAt) } : {}),
    ...(r.finishedAt ? { finishedAt: new Date(r.finishedAt) } : {}),
  };
}

/** Report messages are for humans: at most MAX_REPORT_MESSAGE characters, no NUL. */
export const MAX_REPORT_MESSAGE = 4096;

function clip(message: string): string {
  const clean = message.replaceAll('\0', ' ');
  return clean.length <= MAX_REPORT_MESSAGE ? clean : `${clean.slice(0, MAX_REPORT_MESSAGE - 1)}…`;
}

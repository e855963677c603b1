// The dead-letter queue's way out: POST /apis/openscheduler.io/v1/namespaces/{ns}/jobs/{name}/retry.
//
// Contract (DESIGN 2.2): every Job whose status.phase is Failed is in the dead-letter queue until
// it is retried or deleted. A retry starts a fresh attempt series by rewriting the status only
// (never spec, never metadata.generation), with a revision precondition (ResourceWriter's status
// read-modify-write, retried from fresh state on conflict):
//   phase Pending, reason Retried, message `retried by USER at TIME`, seriesStartAttempt =
//   attempts (attempt numbers are never reused: logs and history stay per attempt),
//   nodeLostRequeues 0, retrySeries + 1; nodeName, exitCode, startTime, completionTime and
//   nextRetryAt removed; recentAttempts kept (history); the Scheduled and DependenciesReady
//   conditions removed, so the dependency controller re-checks and the scheduler binds anew.
// The job lifecycle counts retries from seriesStartAttempt, so the new series has the whole
// retry budget again.
//
// Answers: 200 with the updated Job; 404 when absent; 409 Conflict when the job is not Failed;
// `?dryRun=All` computes and returns the result without writing. The body is optional: empty,
// or a JSON object (its content is ignored).
import express, { type Request, type Response, type Router } from 'express';
import type winston from 'winston';
import type { ResourceKind } from '../api/kind.js';
import type { Condition, JobStatus } from '../api/v1/index.js';
import { DEPENDENCIES_READY_CONDITION, SCHEDULED_CONDITION } from '../api/v1/job-conditions.js';
import type { Store } from '../store/store.js';
import { principalOf } from './authn.js';
import { isJsonObject } from './json-value.js';
import { ObjectStorage, type StoredObject } from './object-storage.js';
import { describeJsonType, hasBody, parseJson, readRawBody } from './request-body.js';
import { dryRunParam, ERROR_CONTEXT } from './resource-handlers.js';
import { ResourceWriter } from './resource-writer.js';
import { ApiError, badRequest, failureStatus, methodNotAllowed, type ErrorContext } from './status.js';

/** status.reason of a job taken out of the dead-letter queue. */
export const RETRIED_REASON = 'Retried';
/** The phase that puts a job in the dead-letter queue. */
export const DEAD_LETTER_PHASE = 'Failed';
/** Conditions a retry removes: scheduling and dependency readiness are decided again. */
export const CONDITIONS_CLEARED_BY_RETRY: readonly string[] = [SCHEDULED_CONDITION, DEPENDENCIES_READY_CONDITION];

const NAMESPACE_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Whether a job's status puts it in the dead-letter queue. */
export function inDeadLetterQueue(status: JobStatus | undefined): boolean {
  return status?.phase === DEAD_LETTER_PHASE;
}

/** RFC 3339 without fractional seconds, as every status timestamp. */
function rfc3339(at: Date): string {
  return at.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** The status of a retried job (see the contract at the top of this file). Does not modify `status`. */
export function retriedJobStatus(status: JobStatus, user: string, at: Date): JobStatus {
  const {
    nodeName: _nodeName,
    exitCode: _exitCode,
    startTime: _startTime,
    completionTime: _completionTime,
    nextRetryAt: _nextRetryAt,
    conditions,
    ...kept
  } = structuredClone(status);
  const next: JobStatus = {
    ...kept,
    phase: 'Pending',
    reason: RETRIED_REASON,
    message: `retried by ${user} at ${rfc3339(at)}`,
    attempts: status.attempts ?? 0,
    seriesStartAttempt: status.attempts ?? 0,
    nodeLostRequeues: 0,
    retrySeries: (status.retrySeries ?? 0) + 1,
  };
  const remaining: Condition[] = (conditions ?? []).filter((c) => !CONDITIONS_CLEARED_BY_RETRY.includes(c.type));
  if (remaining.length > 0) next.conditions = remaining;
  return next;
}

/** 409: the job is not in the dead-letter queue. */
export function notInDeadLetterQueue(kind: ResourceKind, name: string, phase: string | undefined): ApiError {
  return new ApiError(
    failureStatus(409, 'Conflict', `job ${name} is not in the dead-letter queue (phase ${phase ?? 'unknown'})`, {
      name,
      group: kind.group,
      kind: kind.plural,
    }),
  );
}

export interface JobRetryRoutesDeps {
  readonly store: Store;
  /** The Job kind (its group, version and plural make the path). */
  readonly jobKind: ResourceKind;
  readonly now: () => Date;
  /** Each retry is logged at info level with the user (the audit trail until an audit log exists). */
  readonly logger: winston.Logger;
}

/**
 * The /retry subresource of Jobs. Mount after authentication: the principal is read from
 * `res.locals.principal`.
 */
export function jobRetryRoutes(deps: JobRetryRoutesDeps): Router {
  const { jobKind, now, logger } = deps;
  const writer = new ResourceWriter(new ObjectStorage(deps.store, jobKind), now);
  const router = express.Router();
  router.all(`/apis/${jobKind.group}/${jobKind.version}/namespaces/:namespace/${jobKind.plural}/:name/retry`, async (req: Request, res: Response) => {
    const namespace = String(req.params.namespace);
    const name = String(req.params.name);
    const context: ErrorContext = { resource: jobKind, name, verb: 'update' };
    res.locals[ERROR_CONTEXT] = context;
    if (req.method !== 'POST') throw methodNotAllowed(req.method);
    if (namespace.length > 63 || !NAMESPACE_PATTERN.test(namespace)) {
      throw badRequest(`namespace "${namespace}" is invalid: must be a DNS-1123 label`);
    }
    const principal = principalOf(res);
    const dryRun = dryRunParam(req);
    await readOptionalBody(req);
    const at = now();
    const { object } = await writer.patchStatus(
      namespace,
      name,
      (current: StoredObject) => {
        const status = (current.status ?? {}) as JobStatus;
        if (!inDeadLetterQueue(status)) throw notInDeadLetterQueue(jobKind, name, status.phase);
        return { ...current, status: retriedJobStatus(status, principal.username, at) };
      },
      dryRun,
    );
    if (!dryRun) {
      const status = object.status as JobStatus | undefined;
      logger.info('job retried', { namespace, name, user: principal.username, retrySeries: status?.retrySeries });
    }
    res.status(200).json(object);
  });
  return router;
}

/** Accepts no body, an empty one, or a JSON object; anything else is 400. */
async function readOptionalBody(req: Request): Promise<void> {
  if (!hasBody(req)) return;
  const text = (await readRawBody(req)).toString('utf8');
  if (text.trim() === '') return;
  const body = parseJson(text);
  if (!isJsonObject(body)) throw badRequest(`the body of a retry must be empty or a JSON object, not ${describeJsonType(body)}`);
}

// The history of a fault test and the invariants checked over it afterwards.
//
// Contract (stable; other fault tests import it):
// - A test makes one History and records into it every client operation it issues: `call()`
//   wraps a REST call (create | update | delete | get | list) and classifies its outcome;
//   `watchEvent()` records one event a watcher received; `sampleTasks()` records which task
//   processes were alive at one instant. Outcomes: ok (2xx; a GET 404 is an ok read of "absent"),
//   failed (definite: 4xx other than 408, or the connection was refused before anything was
//   sent), unknown (timeout, reset, 5xx, 408: the write may or may not have happened).
//   `exchange()` is `call()` that also returns the recorded operation.
// - After recovery the test reads the final state (FinalState: every job it may have created)
//   and runs the checkers. Each returns a list of Violations, empty when the invariant holds,
//   each naming the invariant, the object key, and the operations or status that prove it.
//   `checkAll` runs them all; `assertNoViolations` fails the test printing them.
// - Keys are "namespace/name". Times are milliseconds on one monotonic-ish clock (Date.now of
//   the test process). Revisions are the store's global revision as the API's resourceVersion.
import type { Job, JobAttempt } from '../../api/v1/index.js';

export type Outcome = 'ok' | 'failed' | 'unknown';
export type OperationKind = 'create' | 'update' | 'delete' | 'get' | 'list' | 'watch-event';

export interface Operation {
  /** Order of recording, from 1. */
  readonly id: number;
  /** Who issued it: a load client, a watcher, the test itself. */
  readonly client: string;
  readonly kind: OperationKind;
  /** "namespace/name" of the object; for a list, the collection path. */
  readonly key: string;
  readonly outcome: Outcome;
  readonly startedAt: number;
  readonly endedAt: number;
  /** HTTP status, when an answer came. */
  readonly status?: number;
  /** Why it failed or is unknown (error text, Status message). */
  readonly error?: string;
  /** For an ok answer: the object's resourceVersion (a list's: the collection's). */
  readonly resourceVersion?: string;
  /** For an ok answer carrying an object: its metadata.uid. */
  readonly uid?: string;
  /** For an ok get: whether the object existed (false on 404). */
  readonly exists?: boolean;
  /** For a watch event: ADDED | MODIFIED | DELETED | BOOKMARK | ERROR. */
  readonly eventType?: string;
  /** For a watch event: the watch connection it came on (one per (re)connect). */
  readonly stream?: string;
}

/** The answer of a REST call, as test/harness/e2e.ts `api()` returns it. */
export interface HttpReply {
  readonly status: number;
  readonly body?: unknown;
  readonly text?: string;
}

/** Task processes alive at one instant: key of the job → ids (PIDs, container ids) of its tasks. */
export interface TaskSample {
  readonly at: number;
  readonly tasks: ReadonlyMap<string, readonly string[]>;
}

export interface Violation {
  /** Which invariant broke, e.g. "lost-acknowledged-write". */
  readonly invariant: string;
  /** The object concerned, if any. */
  readonly key?: string;
  readonly message: string;
  /** What proves it: the operations, statuses or samples concerned. */
  readonly evidence: readonly unknown[];
}

/** What the test read after recovery: every job of the namespaces it wrote to. */
export interface FinalState {
  readonly jobs: readonly Job[];
}

/** Something a test started that outlived recovery: a process, a container, an incus instance. */
export interface Orphan {
  readonly kind: 'process' | 'container' | 'instance';
  readonly id: string;
  readonly description: string;
}

export function jobKey(job: Pick<Job, 'metadata'>): string {
  return `${job.metadata.namespace ?? 'default'}/${job.metadata.name}`;
}

/** The outcome of an HTTP answer (see the contract above). */
export function outcomeOfStatus(status: number): Outcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status >= 500) return 'unknown';
  return 'failed';
}

/** The outcome of a request that got no answer: refused before sending is failed, the rest unknown. */
export function outcomeOfError(err: unknown): Outcome {
  const codes: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    for (const inner of ((e as { errors?: unknown }).errors as unknown[] | undefined) ?? []) {
      const innerCode = (inner as { code?: unknown }).code;
      if (typeof innerCode === 'string') codes.push(innerCode);
    }
    e = (e as { cause?: unknown }).cause;
  }
  return codes.length > 0 && codes.every((c) => c === 'ECONNREFUSED') ? 'failed' : 'unknown';
}

function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    parts.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(' <- ');
}

interface ObjectMetaLike {
  readonly metadata?: { readonly resourceVersion?: string; readonly uid?: string };
}

export class History {
  private readonly ops: Operation[] = [];
  private readonly samples: TaskSample[] = [];
  private nextStream = 1;

  constructor(private readonly now: () => number = Date.now) {}

  get operations(): readonly Operation[] {
    return this.ops;
  }

  get taskSamples(): readonly TaskSample[] {
    return this.samples;
  }

  record(op: Omit<Operation, 'id'>): Operation {
    const recorded: Operation = { id: this.ops.length + 1, ...op };
    this.ops.push(recorded);
    return recorded;
  }

  /**
   * Runs `send` (one REST call), records it with its outcome, and returns the answer (undefined
   * when no answer came). The answer's body, when it is an object, gives resourceVersion and uid.
   */
  async call<R extends HttpReply>(client: string, kind: Exclude<OperationKind, 'watch-event'>, key: string, send: () => Promise<R>): Promise<R | undefined> {
    return (await this.exchange(client, kind, key, send)).reply;
  }

  /** As call(), and also returns the operation recorded. */
  async exchange<R extends HttpReply>(client: string, kind: Exclude<OperationKind, 'watch-event'>, key: string, send: () => Promise<R>): Promise<{ readonly reply?: R; readonly operation: Operation }> {
    const startedAt = this.now();
    try {
      const reply = await send();
      const endedAt = this.now();
      const absent = reply.status === 404 && kind === 'get';
      const outcome: Outcome = absent ? 'ok' : outcomeOfStatus(reply.status);
      const meta = (reply.body as ObjectMetaLike | undefined)?.metadata;
      const operation = this.record({
        client,
        kind,
        key,
        outcome,
        startedAt,
        endedAt,
        status: reply.status,
        ...(outcome !== 'ok' ? { error: (reply.body as { message?: string } | undefined)?.message ?? reply.text?.slice(0, 300) ?? '' } : {}),
        ...(outcome === 'ok' && !absent && kind !== 'delete' && meta?.resourceVersion !== undefined ? { resourceVersion: meta.resourceVersion } : {}),
        ...(outcome === 'ok' && !absent && meta?.uid !== undefined ? { uid: meta.uid } : {}),
        ...(kind === 'get' && outcome === 'ok' ? { exists: !absent } : {}),
      });
      return { reply, operation };
    } catch (err) {
      return { operation: this.record({ client, kind, key, outcome: outcomeOfError(err), startedAt, endedAt: this.now(), error: errorText(err) }) };
    }
  }

  /** A fresh id for one watch connection. */
  newStream(client: string): string {
    return `${client}#${this.nextStream++}`;
  }

  /** Records one event received on watch connection `stream`. */
  watchEvent(client: string, stream: string, event: { readonly type: string; readonly object?: unknown }): Operation {
    const at = this.now();
    const object = event.object as (ObjectMetaLike & { metadata?: { name?: string; namespace?: string } }) | undefined;
    const meta = object?.metadata;
    const key = meta?.name !== undefined ? `${meta.namespace ?? 'default'}/${meta.name}` : '';
    return this.record({
      client,
      kind: 'watch-event',
      key,
      outcome: event.type === 'ERROR' ? 'failed' : 'ok',
      startedAt: at,
      endedAt: at,
      eventType: event.type,
      stream,
      ...(meta?.resourceVersion !== undefined ? { resourceVersion: meta.resourceVersion } : {}),
      ...(meta?.uid !== undefined ? { uid: meta.uid } : {}),
    });
  }

  sampleTasks(tasks: ReadonlyMap<string, readonly string[]>, at: number = this.now()): void {
    this.samples.push({ at, tasks });
  }
}

const rv = (value: string | undefined): bigint | undefined => (value !== undefined && /^\d+$/.test(value) ? BigInt(value) : undefined);
const brief = (job: Job): unknown => ({ key: jobKey(job), uid: job.metadata.uid, resourceVersion: job.metadata.resourceVersion, status: job.status });

function byKey(ops: readonly Operation[]): Map<string, Operation[]> {
  const map = new Map<string, Operation[]>();
  for (const op of ops) {
    const list = map.get(op.key);
    if (list) list.push(op);
    else map.set(op.key, [op]);
  }
  return map;
}

/**
 * No acknowledged write lost: a key whose create was acknowledged exists afterwards (with the
 * acknowledged uid) unless a delete or another create may have come after it; an acknowledged
 * delete stays deleted unless a create may have come after it; the final object's
 * resourceVersion is not below any acknowledged write of the same incarnation (no rollback).
 */
export function checkNoLostWrites(history: History, final: FinalState): Violation[] {
  const violations: Violation[] = [];
  const finalByKey = new Map(final.jobs.map((j) => [jobKey(j), j]));
  for (const [key, ops] of byKey(history.operations)) {
    const writes = ops.filter((o) => o.kind === 'create' || o.kind === 'update' || o.kind === 'delete');
    const maybeApplied = (o: Operation): boolean => o.outcome !== 'failed';
    const job = finalByKey.get(key);
    for (const w of writes.filter((o) => o.outcome === 'ok')) {
      // writes that may have taken effect after w (their interval ends after w started)
      const later = writes.filter((o) => o !== w && maybeApplied(o) && o.endedAt > w.startedAt);
      if (w.kind === 'create') {
        const replaced = later.some((o) => o.kind === 'delete') || later.some((o) => o.kind === 'create');
        if (job === undefined && !replaced) {
          violations.push({ invariant: 'lost-acknowledged-write', key, message: `create of ${key} was acknowledged but the object is gone`, evidence: [w, ...later] });
        } else if (job !== undefined && !replaced && w.uid !== undefined && job.metadata.uid !== w.uid) {
          violations.push({ invariant: 'lost-acknowledged-write', key, message: `create of ${key} was acknowledged with uid ${w.uid} but the object now has uid ${String(job.metadata.uid)}`, evidence: [w, brief(job)] });
        }
      }
      if (w.kind === 'delete' && job !== undefined && !later.some((o) => o.kind === 'create')) {
        violations.push({ invariant: 'lost-acknowledged-write', key, message: `delete of ${key} was acknowledged but the object exists`, evidence: [w, brief(job)] });
      }
      const written = rv(w.resourceVersion);
      const now = rv(job?.metadata.resourceVersion);
      if (job !== undefined && written !== undefined && now !== undefined && now < written && (w.uid === undefined || w.uid === job.metadata.uid)) {
        violations.push({
          invariant: 'lost-acknowledged-write',
          key,
          message: `${w.kind} of ${key} was acknowledged at resourceVersion ${String(written)} but the object is back at ${String(now)}`,
          evidence: [w, brief(job)],
        });
      }
    }
  }
  return violations;
}

/**
 * No phantom object: every job in the final state whose key `owned` accepts was created by a
 * create the history holds that may have taken effect (ok or unknown) — and, when every such
 * create was acknowledged, with one of their uids.
 */
export function checkNoPhantoms(history: History, final: FinalState, owned: (key: string) => boolean = () => true): Violation[] {
  const violations: Violation[] = [];
  const creates = byKey(history.operations.filter((o) => o.kind === 'create'));
  for (const job of final.jobs) {
    const key = jobKey(job);
    if (!owned(key)) continue;
    const ops = creates.get(key) ?? [];
    const possible = ops.filter((o) => o.outcome !== 'failed');
    if (possible.length === 0) {
      violations.push({ invariant: 'phantom-object', key, message: `${key} exists but no create of it may have succeeded`, evidence: [...ops, brief(job)] });
      continue;
    }
    const onlyAcknowledged = possible.every((o) => o.outcome === 'ok' && o.uid !== undefined);
    if (onlyAcknowledged && !possible.some((o) => o.uid === job.metadata.uid)) {
      violations.push({ invariant: 'phantom-object', key, message: `${key} has uid ${String(job.metadata.uid)}, which no create returned`, evidence: [...possible, brief(job)] });
    }
  }
  return violations;
}

/**
 * Revisions never go backwards: (1) per object, an ok read or write that started after another
 * ok operation on it ended sees a resourceVersion at least as high; (2) a list that started after
 * any ok operation ended has a resourceVersion at least as high (revisions are global); (3) on one
 * watch connection, object events come with strictly increasing resourceVersions (bookmarks:
 * non-decreasing). Watch events are delivered late by nature, so they are only ever the earlier
 * operation of a pair in (1) and (2).
 */
export function checkRevisionsMonotonic(history: History): Violation[] {
  const violations: Violation[] = [];
  const withRv = history.operations.filter((o) => o.outcome === 'ok' && rv(o.resourceVersion) !== undefined);
  // (1) per object
  for (const [key, ops] of byKey(withRv.filter((o) => o.kind !== 'list'))) {
    const byEnd = [...ops].sort((a, b) => a.endedAt - b.endedAt);
    for (const b of ops) {
      if (b.kind === 'watch-event') continue;
      let floor: Operation | undefined;
      for (const a of byEnd) {
        if (a.endedAt >= b.startedAt) break;
        if (floor === undefined || rv(a.resourceVersion)! > rv(floor.resourceVersion)!) floor = a;
      }
      if (floor !== undefined && rv(b.resourceVersion)! < rv(floor.resourceVersion)!) {
        violations.push({ invariant: 'revision-went-backwards', key, message: `${b.kind} of ${key} saw resourceVersion ${b.resourceVersion} after ${floor.kind} saw ${floor.resourceVersion}`, evidence: [floor, b] });
      }
    }
  }
  // (2) lists against everything that ended before them
  const byEnd = [...withRv].sort((a, b) => a.endedAt - b.endedAt);
  for (const list of withRv.filter((o) => o.kind === 'list')) {
    let floor: Operation | undefined;
    for (const a of byEnd) {
      if (a.endedAt >= list.startedAt) break;
      if (floor === undefined || rv(a.resourceVersion)! > rv(floor.resourceVersion)!) floor = a;
    }
    if (floor !== undefined && rv(list.resourceVersion)! < rv(floor.resourceVersion)!) {
      violations.push({ invariant: 'revision-went-backwards', key: list.key, message: `list ${list.key} was read at resourceVersion ${list.resourceVersion} after ${floor.kind} of ${floor.key} saw ${floor.resourceVersion}`, evidence: [floor, list] });
    }
  }
  // (3) per watch connection
  const streams = new Map<string, Operation[]>();
  for (const op of withRv.filter((o) => o.kind === 'watch-event' && o.stream !== undefined)) {
    const list = streams.get(op.stream!);
    if (list) list.push(op);
    else streams.set(op.stream!, [op]);
  }
  for (const [stream, events] of streams) {
    for (let i = 1; i < events.length; i++) {
      const prev = events[i - 1]!;
      const cur = events[i]!;
      const p = rv(prev.resourceVersion)!;
      const c = rv(cur.resourceVersion)!;
      const backwards = cur.eventType === 'BOOKMARK' ? c < p : c <= p;
      if (backwards) {
        violations.push({ invariant: 'revision-went-backwards', key: cur.key, message: `watch ${stream}: ${String(cur.eventType)} at resourceVersion ${cur.resourceVersion} after ${String(prev.eventType)} at ${prev.resourceVersion}`, evidence: [prev, cur] });
      }
    }
  }
  return violations;
}

export interface JobAccounting {
  /** Jobs that exist because of this history: acknowledged creates, plus unknown ones that took effect. */
  readonly submitted: number;
  readonly succeeded: number;
  /** Failed for a reason other than exhausted retries (e.g. DeadlineExceeded, DependencyFailed). */
  readonly failed: number;
  /** Failed with reason RetriesExhausted: in the dead-letter queue. */
  readonly deadLettered: number;
  /** Submitted jobs that did not end (or are missing). */
  readonly unfinished: readonly string[];
}

/** The keys this history submitted: created with an ok create, or with an unknown one and present at the end. */
function submittedKeys(history: History, final: FinalState): string[] {
  const present = new Set(final.jobs.map(jobKey));
  const keys: string[] = [];
  for (const [key, ops] of byKey(history.operations.filter((o) => o.kind === 'create'))) {
    const deletedMaybe = history.operations.some((o) => o.key === key && o.kind === 'delete' && o.outcome !== 'failed');
    if (deletedMaybe) continue; // a test that deletes its jobs accounts for them itself
    if (ops.some((o) => o.outcome === 'ok') || (present.has(key) && ops.some((o) => o.outcome === 'unknown'))) keys.push(key);
  }
  return keys;
}

export function jobAccounting(history: History, final: FinalState): JobAccounting {
  const finalByKey = new Map(final.jobs.map((j) => [jobKey(j), j]));
  let succeeded = 0;
  let failed = 0;
  let deadLettered = 0;
  const unfinished: string[] = [];
  const submitted = submittedKeys(history, final);
  for (const key of submitted) {
    const job = finalByKey.get(key);
    if (job?.status?.phase === 'Succeeded') succeeded++;
    else if (job?.status?.phase === 'Failed' && job.status.reason === 'RetriesExhausted') deadLettered++;
    else if (job?.status?.phase === 'Failed') failed++;
    else unfinished.push(key);
  }
  return { submitted: submitted.length, succeeded, failed, deadLettered, unfinished };
}

/** Every job ends (Succeeded, Failed, dead-lettered) and submitted = succeeded + failed + dead-lettered. */
export function checkJobsFinished(history: History, final: FinalState): Violation[] {
  const finalByKey = new Map(final.jobs.map((j) => [jobKey(j), j]));
  const accounting = jobAccounting(history, final);
  const violations: Violation[] = accounting.unfinished.map((key) => {
    const job = finalByKey.get(key);
    return {
      invariant: 'job-not-finished',
      key,
      message: job ? `${key} is ${String(job.status?.phase)} (${String(job.status?.reason)}), not finished` : `${key} was submitted but is missing`,
      evidence: job ? [brief(job)] : history.operations.filter((o) => o.key === key),
    };
  });
  const { submitted, succeeded, failed, deadLettered } = accounting;
  if (submitted !== succeeded + failed + deadLettered) {
    violations.push({ invariant: 'job-accounting', message: `submitted ${submitted} != succeeded ${succeeded} + failed ${failed} + dead-lettered ${deadLettered}`, evidence: [accounting] });
  }
  return violations;
}

const time = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
};

/**
 * No job with two live attempts at once, from status.recentAttempts: the intervals
 * [startTime, endTime) of two attempts of one job never overlap (an attempt without endTime is
 * live until now). Attempts that never started (no startTime) are ignored.
 */
export function checkNoOverlappingAttempts(final: FinalState): Violation[] {
  const violations: Violation[] = [];
  for (const job of final.jobs) {
    const attempts = (job.status?.recentAttempts ?? []).filter((a) => time(a.startTime) !== undefined);
    const span = (a: JobAttempt): [number, number] => [time(a.startTime)!, time(a.endTime) ?? Number.POSITIVE_INFINITY];
    for (let i = 0; i < attempts.length; i++) {
      for (let j = i + 1; j < attempts.length; j++) {
        const [s1, e1] = span(attempts[i]!);
        const [s2, e2] = span(attempts[j]!);
        if (s1 < e2 && s2 < e1) {
          violations.push({
            invariant: 'overlapping-attempts',
            key: jobKey(job),
            message: `${jobKey(job)}: attempts ${attempts[i]!.attempt} and ${attempts[j]!.attempt} were live at the same time`,
            evidence: [attempts[i], attempts[j]],
          });
        }
      }
    }
  }
  return violations;
}

/** No job had two task processes alive at one sampled instant (samples from History.sampleTasks). */
export function checkNoConcurrentTasks(history: History, during: (at: number) => boolean = () => true): Violation[] {
  const violations: Violation[] = [];
  const reported = new Set<string>();
  for (const sample of history.taskSamples) {
    if (!during(sample.at)) continue;
    for (const [key, ids] of sample.tasks) {
      if (ids.length > 1 && !reported.has(key)) {
        reported.add(key);
        violations.push({ invariant: 'concurrent-tasks', key, message: `${key} had ${ids.length} tasks alive at once (${ids.join(', ')})`, evidence: [{ at: new Date(sample.at).toISOString(), ids }] });
      }
    }
  }
  return violations;
}

/** No orphan one reconcile period after recovery (the test looked them up: processes by marker, containers by label). */
export function checkNoOrphans(orphans: readonly Orphan[]): Violation[] {
  return orphans.map((o) => ({ invariant: 'orphan', message: `${o.kind} ${o.id} outlived recovery: ${o.description}`, evidence: [o] }));
}

export interface CheckAllOptions {
  /** Keys the test owns, for the phantom check (default: every job in the final state). */
  readonly owned?: (key: string) => boolean;
  /** What the test found left over after recovery (default: none looked up). */
  readonly orphans?: readonly Orphan[];
  /** Skip the "every job ends" check (tests that do not wait for their jobs). */
  readonly jobsNeedNotFinish?: boolean;
  /** Which task samples count for checkNoConcurrentTasks (default all). */
  readonly tasksExclusiveDuring?: (at: number) => boolean;
}

export function checkAll(history: History, final: FinalState, options: CheckAllOptions = {}): Violation[] {
  return [
    ...checkNoLostWrites(history, final),
    ...checkNoPhantoms(history, final, options.owned),
    ...checkRevisionsMonotonic(history),
    ...(options.jobsNeedNotFinish === true ? [] : checkJobsFinished(history, final)),
    ...checkNoOverlappingAttempts(final),
    ...checkNoConcurrentTasks(history, options.tasksExclusiveDuring),
    ...checkNoOrphans(options.orphans ?? []),
  ];
}

/** One line per violation, then its evidence as JSON. */
export function formatViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `[${v.invariant}] ${v.message}\n${v.evidence.map((e) => `    ${JSON.stringify(e)}`).join('\n')}`).join('\n');
}

/** Throws with every violation printed when there is any. */
export function assertNoViolations(violations: readonly Violation[]): void {
  if (violations.length > 0) throw new Error(`${violations.length} invariant violation(s):\n${formatViolations(violations)}`);
}

/** A one-line summary of a history, for test output. */
export function summarize(history: History, final: FinalState): string {
  const counts = new Map<string, number>();
  for (const op of history.operations) counts.set(`${op.kind}:${op.outcome}`, (counts.get(`${op.kind}:${op.outcome}`) ?? 0) + 1);
  const a = jobAccounting(history, final);
  const ops = [...counts].sort().map(([k, n]) => `${k}=${n}`).join(' ');
  return `operations ${ops}; jobs submitted=${a.submitted} succeeded=${a.succeeded} failed=${a.failed} dead-lettered=${a.deadLettered} unfinished=${a.unfinished.length}`;
}

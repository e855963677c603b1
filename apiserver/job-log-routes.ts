// The /log subresource of Jobs: GET /apis/openscheduler.io/v1/namespaces/{ns}/jobs/{name}/log.
//
// Query: attempt=N (default: the job's latest attempt; when the job is deleted, the latest
// attempt on disk of its latest uid), allAttempts=true (every attempt, each after a header line
// `==> attempt N (node X, exit C, REASON) <==`), follow=true (stream bytes as they arrive),
// stream=stdout|stderr (default both, interleaved in arrival order), limitBytes=N (the response
// stops after N bytes), tailLines=N (the last N lines of each attempt printed).
//
// A follow ends when the attempt's selected streams are complete (the agent sent EOF), when the
// attempt is over (the job finished, moved past the attempt, was deleted or replaced) and no new
// bytes came for FOLLOW_IDLE_MS, when the client disconnects, or when close() is called. The job
// is watched through the store for that. A follow of a job that has no attempt yet waits for its
// first one.
//
// Answers text/plain (bytes as the task wrote them). Errors are Status objects: 400 naming the
// bad query parameter, 404 when neither the job nor any logs of that name exist, or when the
// asked attempt has neither happened nor left logs.
import express, { type Request, type Response, type Router } from 'express';
import type winston from 'winston';
import type { ResourceKind } from '../api/kind.js';
import type { Job, JobAttempt } from '../api/v1/index.js';
import type { JobRef, LogStore, LogStreamName, StoredAttempt } from '../logs/log-store.js';
import type { Store } from '../store/store.js';
import { ObjectStorage } from './object-storage.js';
import { ERROR_CONTEXT, queryParam } from './resource-handlers.js';
import { ApiError, badRequest, errorForLog, failureStatus, methodNotAllowed, notFound, serviceUnavailable, type ErrorContext } from './status.js';
import { drained } from './watch.js';

/** A finished attempt's follow ends after this long without new bytes. */
export const FOLLOW_IDLE_MS = 2000;

const NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const TERMINAL_PHASES: ReadonlySet<string> = new Set(['Succeeded', 'Failed']);

export interface JobLogRoutesDeps {
  readonly store: Store;
  /** The Job kind (its group, version and plural make the path). */
  readonly jobKind: ResourceKind;
  readonly logs: LogStore;
  readonly logger: winston.Logger;
  /** Default FOLLOW_IDLE_MS. */
  readonly followIdleMs?: number;
}

export interface JobLogRoutes {
  /** Mount after authentication. */
  readonly router: Router;
  /** Ends every follow stream; resolves when they have ended. Idempotent. */
  close(): Promise<void>;
}

interface LogQuery {
  readonly attempt?: number;
  readonly allAttempts: boolean;
  readonly follow: boolean;
  readonly stream?: LogStreamName;
  readonly limitBytes?: number;
  readonly tailLines?: number;
}

/** Parses the query; 400 naming the parameter and the rule. */
export function parseLogQuery(req: Request): LogQuery {
  const attempt = integerParam(req, 'attempt', 1);
  const allAttempts = booleanParam(req, 'allAttempts');
  if (attempt !== undefined && allAttempts) throw badRequest('attempt: cannot be combined with allAttempts=true');
  const stream = queryParam(req, 'stream');
  if (stream !== undefined && stream !== '' && stream !== 'stdout' && stream !== 'stderr') {
    throw badRequest(`stream: invalid value "${stream}": must be stdout or stderr`);
  }
  return {
    attempt,
    allAttempts,
    follow: booleanParam(req, 'follow'),
    stream: stream === 'stdout' || stream === 'stderr' ? stream : undefined,
    limitBytes: integerParam(req, 'limitBytes', 1),
    tailLines: integerParam(req, 'tailLines', 0),
  };
}

function integerParam(req: Request, name: string, min: number): number | undefined {
  const value = queryParam(req, name);
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!/^\d{1,15}$/.test(value) || n < min) throw badRequest(`${name}: invalid value "${value}": must be an integer >= ${min}`);
  return n;
}

function booleanParam(req: Request, name: string): boolean {
  const value = queryParam(req, name);
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw badRequest(`${name}: invalid value "${value}": must be true or false`);
}

/** The header line before each attempt with allAttempts=true. */
export function attemptHeader(attempt: number, info: { nodeName?: string; exitCode?: number; signal?: string; reason?: string }): string {
  const parts: string[] = [];
  if (info.nodeName) parts.push(`node ${info.nodeName}`);
  if (info.exitCode !== undefined) parts.push(`exit ${info.exitCode}`);
  else if (info.signal) parts.push(`signal ${info.signal}`);
  if (info.reason) parts.push(info.reason);
  return `==> attempt ${attempt}${parts.length > 0 ? ` (${parts.join(', ')})` : ''} <==\n`;
}

/** What the request reads: whose logs, which attempts. */
interface Plan {
  readonly ref: JobRef;
  /** Attempts printed in full before the last one, with allAttempts. */
  readonly earlier: readonly number[];
  /** The attempt printed (and followed) last; undefined: the job has none yet. */
  readonly last: number | undefined;
  readonly job: Job | undefined;
  /** The job's modRevision (to watch from). */
  readonly revision: number | undefined;
  readonly onDisk: readonly StoredAttempt[];
}

export function jobLogRoutes(deps: JobLogRoutesDeps): JobLogRoutes {
  const { jobKind, logs, logger } = deps;
  const storage = new ObjectStorage(deps.store, jobKind);
  const idleMs = deps.followIdleMs ?? FOLLOW_IDLE_MS;
  const follows = new Map<AbortController, Promise<void>>();
  let closed = false;

  async function plan(namespace: string, name: string, query: LogQuery): Promise<Plan> {
    const found = await storage.get(namespace, name);
    const job = found?.object as Job | undefined;
    const uid = job?.metadata.uid;
    if (job !== undefined && uid !== undefined) {
      const onDisk = await logs.listAttempts(namespace, name, uid);
      const attempts = job.status?.attempts ?? 0;
      const latest = Math.max(attempts, ...onDisk.map((a) => a.attempt));
      const ref = { namespace, name, uid };
      if (query.attempt !== undefined && query.attempt > latest) throw noAttempt(name, query.attempt, latest);
      const last = query.attempt ?? (latest > 0 ? latest : undefined);
      const earlier = query.allAttempts && last !== undefined ? onDisk.map((a) => a.attempt).filter((a) => a < last) : [];
      return { ref, earlier, last, job, revision: found?.kv.modRevision, onDisk };
    }
    // Deleted (or never existed): the logs of the latest uid on disk.
    const all = await logs.listAttempts(namespace, name);
    const newest = all.at(-1);
    if (newest === undefined) throw notFound(jobKind, name);
    const onDisk = all.filter((a) => a.uid === newest.uid);
    const numbers = onDisk.map((a) => a.attempt);
    if (query.attempt !== undefined && !numbers.includes(query.attempt)) throw noAttempt(name, query.attempt, Math.max(...numbers));
    const last = query.attempt ?? Math.max(...numbers);
    const earlier = query.allAttempts ? numbers.filter((a) => a < last) : [];
    return { ref: { namespace, name, uid: newest.uid }, earlier, last, job: undefined, revision: undefined, onDisk };
  }

  function noAttempt(name: string, attempt: number, latest: number): ApiError {
    return new ApiError(
      failureStatus(404, 'NotFound', `job ${name} has no attempt ${attempt} (attempts so far: ${latest})`, {
        name,
        group: jobKind.group,
        kind: jobKind.plural,
      }),
    );
  }

  function header(p: Plan, attempt: number, job: Job | undefined): string {
    const record = p.onDisk.find((a) => a.attempt === attempt)?.record;
    const recent: JobAttempt | undefined = job?.status?.recentAttempts?.find((a) => a.attempt === attempt);
    const current = job !== undefined && (job.status?.attempts ?? 0) === attempt && recent?.endTime === undefined;
    return attemptHeader(attempt, {
      nodeName: record?.nodeName ?? recent?.nodeName,
      exitCode: record?.exitCode ?? recent?.exitCode,
      signal: record?.signal,
      reason: record?.reason ?? recent?.reason ?? (current ? job?.status?.phase : undefined),
    });
  }

  const router = express.Router();
  router.all(`/apis/${jobKind.group}/${jobKind.version}/namespaces/:namespace/${jobKind.plural}/:name/log`, async (req: Request, res: Response) => {
    const namespace = String(req.params.namespace);
    const name = String(req.params.name);
    const context: ErrorContext = { resource: jobKind, name, verb: 'get' };
    res.locals[ERROR_CONTEXT] = context;
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method);
    if (namespace.length > 63 || !NAME_PATTERN.test(namespace)) {
      throw badRequest(`namespace "${namespace}" is invalid: must be a DNS-1123 label`);
    }
    const query = parseLogQuery(req);
    if (name.length > 253 || !NAME_PATTERN.test(name)) throw notFound(jobKind, name);
    if (closed) throw serviceUnavailable('the server is shutting down');
    const p = await plan(namespace, name, query);

    res.status(200);
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, private');
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const controller = new AbortController();
    const done = serve(res, p, query, controller.signal);
    follows.set(controller, done);
    try {
      await done;
    } finally {
      follows.delete(controller);
    }
  });

  async function serve(res: Response, p: Plan, query: LogQuery, signal: AbortSignal): Promise<void> {
    const out = new ResponseWriter(res, signal, query.limitBytes);
    const abortOnClose = (): void => out.abort();
    res.on('close', abortOnClose);
    try {
      if (query.follow) res.flushHeaders();
      for (const attempt of p.earlier) {
        if (!(await out.write(Buffer.from(header(p, attempt, p.job))))) return;
        if (!(await out.writeAll(logs.read(p.ref, attempt, { stream: query.stream, tailLines: query.tailLines })))) return;
      }
      if (query.follow) {
        await follow(out, p, query);
      } else if (p.last !== undefined) {
        if (query.allAttempts && !(await out.write(Buffer.from(header(p, p.last, p.job))))) return;
        await out.writeAll(logs.read(p.ref, p.last, { stream: query.stream, tailLines: query.tailLines }));
      }
    } catch (err) {
      if (!out.aborted) logger.error('serving job logs failed', { namespace: p.ref.namespace, name: p.ref.name, error: errorForLog(err) });
    } finally {
      res.off('close', abortOnClose);
      if (!res.writableEnded) res.end();
    }
  }

  async function follow(out: ResponseWriter, p: Plan, query: LogQuery): Promise<void> {
    const tracker = new JobTracker(p.job, p.ref.uid);
    const watching = new AbortController();
    const stopWatching = (): void => watching.abort();
    out.signal.addEventListener('abort', stopWatching);
    const watched =
      p.job === undefined || p.revision === undefined
        ? Promise.resolve()
        : tracker.watch(storage, storage.key(p.ref.namespace, p.ref.name), p.revision + 1, watching.signal).catch((err: unknown) => {
            logger.warn('watching a followed job failed; the follow ends when its output goes idle', { name: p.ref.name, error: errorForLog(err) });
            tracker.lost();
          });
    let timer: NodeJS.Timeout | undefined;
    try {
      const attempt = p.last ?? (await tracker.firstAttempt(out.signal));
      if (attempt === undefined) return;
      if (query.allAttempts && !(await out.write(Buffer.from(header(p, attempt, tracker.job ?? p.job))))) return;
      let endFollow!: () => void;
      const until = new Promise<void>((resolve) => (endFollow = resolve));
      const armIdle = (): void => {
        clearTimeout(timer);
        timer = setTimeout(endFollow, idleMs);
      };
      // The idle clock runs once the attempt is over; every byte restarts it.
      const checkOver = (): void => {
        if (timer === undefined && tracker.attemptOver(attempt)) armIdle();
      };
      tracker.onChange = checkOver;
      checkOver();
      for await (const chunk of logs.follow(p.ref, attempt, { stream: query.stream, tailLines: query.tailLines, until, signal: out.signal })) {
        if (timer !== undefined) armIdle();
        if (!(await out.write(chunk))) return;
      }
    } finally {
      clearTimeout(timer);
      tracker.onChange = undefined;
      out.signal.removeEventListener('abort', stopWatching);
      watching.abort();
      await watched;
    }
  }

  return {
    router,
    close: async () => {
      closed = true;
      for (const controller of follows.keys()) controller.abort();
      await Promise.allSettled([...follows.values()]);
    },
  };
}

/** The followed job as the store's watch shows it. */
class JobTracker {
  job: Job | undefined;
  /** Deleted, replaced by another job of the same name, or the watch failed. */
  private gone: boolean;
  onChange: (() => void) | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    job: Job | undefined,
    private readonly uid: string,
  ) {
    this.job = job;
    this.gone = job === undefined;
  }

  /** Watches the job's key from `fromRevision` until `signal` aborts. */
  async watch(storage: ObjectStorage, key: string, fromRevision: number, signal: AbortSignal): Promise<void> {
    for await (const batch of storage.store.watch(key, { fromRevision, signal })) {
      for (const event of batch) {
        if (event.kv.key !== key) continue; // the prefix also matches longer names
        const job = event.type === 'put' ? (storage.decode(event.kv) as Job) : undefined;
        if (job === undefined || job.metadata.uid !== this.uid) this.lost();
        else this.update(job);
      }
    }
  }

  lost(): void {
    this.gone = true;
    this.update(this.job);
  }

  private update(job: Job | undefined): void {
    this.job = job;
    for (const wake of this.waiters) wake();
    this.onChange?.();
  }

  /** Whether `attempt` can get no more output of its own accord (its end is then a matter of idleness). */
  attemptOver(attempt: number): boolean {
    const status = this.job?.status;
    if (this.gone || status === undefined) return this.gone;
    if (TERMINAL_PHASES.has(status.phase ?? '')) return true;
    if ((status.attempts ?? 0) > attempt) return true;
    return status.recentAttempts?.some((a) => a.attempt === attempt && a.endTime !== undefined) === true;
  }

  /** Waits until the job has an attempt; undefined when it finishes or goes away without one, or on abort. */
  async firstAttempt(signal: AbortSignal): Promise<number | undefined> {
    for (;;) {
      const attempts = this.job?.status?.attempts ?? 0;
      if (attempts > 0) return attempts;
      if (this.gone || signal.aborted || TERMINAL_PHASES.has(this.job?.status?.phase ?? '')) return undefined;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.waiters.delete(wake);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.waiters.add(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
  }
}

/** Writes to the response with backpressure and a byte budget; false once the client is gone or the budget is spent. */
class ResponseWriter {
  private readonly controller = new AbortController();
  private remaining: number;

  constructor(
    private readonly res: Response,
    outer: AbortSignal,
    limitBytes: number | undefined,
  ) {
    this.remaining = limitBytes ?? Number.POSITIVE_INFINITY;
    if (outer.aborted) this.controller.abort();
    else outer.addEventListener('abort', () => this.controller.abort(), { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  abort(): void {
    this.controller.abort();
  }

  async write(chunk: Uint8Array): Promise<boolean> {
    if (this.aborted || this.res.destroyed || this.res.writableEnded) return false;
    let data = chunk;
    if (data.length >= this.remaining) data = data.subarray(0, this.remaining);
    this.remaining -= data.length;
    if (data.length > 0 && !this.res.write(data)) await drained(this.res, this.signal);
    if (this.remaining <= 0) this.abort();
    return !this.aborted && !this.res.destroyed;
  }

  /** Copies an iterable of chunks; false when it stopped early. */
  async writeAll(chunks: AsyncIterable<Uint8Array>): Promise<boolean> {
    for await (const chunk of chunks) if (!(await this.write(chunk))) return false;
    return true;
  }
}

// Shared pieces of the network-fault tests (network-*.test.ts): a REST watcher that behaves like
// a Kubernetes reflector (resumes from the last resourceVersion it saw whenever its stream ends
// or fails, relists on 410) and records every event into the test's History, a check that it
// never saw one change twice across resumptions, a timed probe of one API call, node condition
// reads, and task sampling (for checkNoConcurrentTasks) and orphan lookup by marker.
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job } from '../../api/v1/index.js';
import { api, JOBS_API, listJobs, processesWith, type Target } from '../harness/e2e.js';
import type { History, Orphan } from './history.js';

export interface SeenEvent {
  readonly type: string;
  readonly name: string;
  readonly resourceVersion: number;
  readonly phase: string | undefined;
}

export interface RestWatcher {
  /** Every ADDED/MODIFIED/DELETED event, in the order received. */
  readonly events: readonly SeenEvent[];
  /** How many times the watch was opened (1 + resumptions) and how many of them were 410 relists. */
  readonly opens: number;
  readonly relists: number;
  /** Stops watching and waits for the loop to end. */
  stop(): Promise<void>;
}

/**
 * Watches the jobs of `namespace` from `resourceVersion` until stop(): on a stream that ends or
 * errors it waits 200 ms and resumes from the last resourceVersion it saw (not from scratch), as
 * client-go's reflector does. A 410 makes it relist and carry on from the list's version.
 */
export function watchJobs(target: Target, resourceVersion: string, history: History, namespace = 'default'): RestWatcher {
  const controller = new AbortController();
  const events: SeenEvent[] = [];
  let rv = resourceVersion;
  let opens = 0;
  let relists = 0;
  const once = async (): Promise<void> => {
    opens++;
    const stream = history.newStream('watcher');
    const res = await fetch(`${target.httpUrl}${JOBS_API}/namespaces/${namespace}/jobs?watch=true&allowWatchBookmarks=true&resourceVersion=${rv}`, {
      headers: { Authorization: `Bearer ${target.token}` },
      signal: controller.signal,
    });
    if (res.status === 410) {
      relists++;
      const list = await api(target, 'GET', `${JOBS_API}/namespaces/${namespace}/jobs?limit=1`);
      if (list.status === 200) rv = String(list.body.metadata.resourceVersion);
      return;
    }
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel();
      return;
    }
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const bytes of res.body) {
      buffered += decoder.decode(bytes as Uint8Array, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim() === '') continue;
        const event = JSON.parse(line) as { type: string; object: Job & { code?: number } };
        history.watchEvent('watcher', stream, event);
        if (event.type === 'ERROR') {
          if (event.object.code === 410) relists++;
          return; // resume (or relist) from what we have
        }
        const objectRv = event.object.metadata?.resourceVersion ?? '';
        if (event.type !== 'BOOKMARK') {
          events.push({ type: event.type, name: event.object.metadata.name, resourceVersion: Number(objectRv), phase: event.object.status?.phase });
        }
        if (objectRv !== '') rv = objectRv;
      }
    }
  };
  const loop = (async () => {
    while (!controller.signal.aborted) {
      try {
        await once();
      } catch {
        // the stream broke (reset, server 5xx, ...): resume below
      }
      if (!controller.signal.aborted) await sleep(200).catch(() => undefined);
    }
  })();
  return {
    events,
    get opens() {
      return opens;
    },
    get relists() {
      return relists;
    },
    stop: async () => {
      controller.abort();
      await loop;
    },
  };
}

/**
 * What a watcher must never do: see one change twice or see versions go backwards. Returns the
 * violations, each with its evidence (empty when none).
 */
export function watchViolations(events: readonly SeenEvent[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  let last = 0;
  for (const [i, e] of events.entries()) {
    const key = `${e.type} ${e.name} @${e.resourceVersion}`;
    if (seen.has(key)) problems.push(`event #${i} seen twice: ${key}`);
    seen.add(key);
    if (!(e.resourceVersion > last)) problems.push(`event #${i} (${key}) does not come after version ${last}`);
    last = Math.max(last, e.resourceVersion);
  }
  return problems;
}

export interface Probe {
  readonly status: number | 'error';
  readonly ms: number;
  readonly detail: string;
}

/** Runs one call, never longer than `limitMs` (then 'error'), and times it. */
export async function probe(call: (signal: AbortSignal) => Promise<{ status: number; text: string }>, limitMs: number): Promise<Probe> {
  const started = performance.now();
  try {
    const res = await call(AbortSignal.timeout(limitMs));
    return { status: res.status, ms: performance.now() - started, detail: res.text.slice(0, 200) };
  } catch (err) {
    return { status: 'error', ms: performance.now() - started, detail: err instanceof Error ? err.message : String(err) };
  }
}

/** A request with the admin token and a caller's AbortSignal (api() of the harness has none). */
export async function request(
  target: Target,
  method: string,
  path: string,
  signal: AbortSignal,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${target.httpUrl}${path}`, {
    method,
    signal,
    headers: { Authorization: `Bearer ${target.token}`, ...(body !== undefined ? { 'Content-Type': contentType } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

/** The node's Ready condition ('True', 'False' with its reason, ...), or undefined when not found. */
export async function nodeReady(target: Target, name: string): Promise<{ status: string; reason: string } | undefined> {
  const res = await api(target, 'GET', `/apis/openscheduler.io/v1/nodes/${name}`);
  if (res.status !== 200) return undefined;
  const ready = ((res.body?.status?.conditions ?? []) as { type: string; status: string; reason?: string }[]).find((c) => c.type === 'Ready');
  return ready ? { status: ready.status, reason: ready.reason ?? '' } : undefined;
}

/** Jobs whose names start with `prefix` that have not ended (neither Succeeded nor Failed). */
export async function unfinished(target: Target, prefix: string): Promise<Job[]> {
  return (await listJobs(target)).filter((j) => j.metadata.name.startsWith(prefix) && j.status?.phase !== 'Succeeded' && j.status?.phase !== 'Failed');
}

/**
 * Live tasks per marker argument: the live (non-zombie) processes with an argument that starts
 * with `marker`, counted by that argument as distinct process groups (the process driver's
 * supervisor shell carries the task's argv too, in the task's group: one group is one attempt).
 * Jobs put `${marker}-${jobName}` in their argv.
 */
export async function liveTasks(marker: string): Promise<Map<string, Set<string>>> {
  const groups = new Map<string, Set<string>>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const arg = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').find((a) => a.startsWith(marker));
      if (arg === undefined) continue;
      const [state, , processGroup] = (await readFile(`/proc/${entry}/stat`, 'utf8')).replace(/^.*\) /s, '').split(' ');
      if (state === 'Z' || processGroup === undefined) continue;
      groups.set(arg, (groups.get(arg) ?? new Set()).add(processGroup));
    } catch {
      // gone meanwhile
    }
  }
  return groups;
}

/**
 * Samples the live tasks of jobs whose argv holds `${marker}-${name}` every 200 ms until stop(),
 * into `history` (key default/NAME, one id per process group) for checkNoConcurrentTasks.
 */
export function recordTasks(marker: string, history: History): { stop(): Promise<void> } {
  const controller = new AbortController();
  const loop = (async () => {
    while (!controller.signal.aborted) {
      const at = Date.now();
      const tasks = new Map<string, string[]>();
      for (const [arg, groups] of await liveTasks(marker)) tasks.set(`default/${arg.slice(marker.length + 1)}`, [...groups].map((g) => `pgid ${g}`));
      history.sampleTasks(tasks, at);
      await sleep(200);
    }
  })();
  return {
    stop: async () => {
      controller.abort();
      await loop;
    },
  };
}

/** Processes still carrying `marker` once every job ended (waits up to 30 s for them to go), as orphans for checkNoOrphans. */
export async function orphansWith(marker: string): Promise<Orphan[]> {
  const deadline = Date.now() + 30_000;
  let pids = await processesWith(marker);
  while (pids.length > 0 && Date.now() < deadline) {
    await sleep(500);
    pids = await processesWith(marker);
  }
  return pids.map((pid) => ({ kind: 'process', id: String(pid), description: `pid ${pid} still carries ${marker} after every job ended` }));
}

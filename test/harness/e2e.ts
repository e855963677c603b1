// Helpers of the end-to-end tests: REST calls with the admin token, job manifests, polling with
// a deadline, and a look at /proc for processes a test started (to prove none is left behind).
import { spawn } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job } from '../../api/v1/index.js';
import { binArgs, repoRoot } from './bin.js';
import { childEnv } from './server.js';

export const JOBS_API = '/apis/openscheduler.io/v1';

export interface Target {
  readonly httpUrl: string;
  readonly token: string;
}

export interface ApiReply {
  readonly status: number;
  readonly text: string;
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
}

/** One REST request; its body parsed as JSON when it is JSON. `timeoutMs`: a deadline (rejects with a TimeoutError). */
export async function api(target: Target, method: string, path: string, body?: unknown, contentType = 'application/json', timeoutMs?: number): Promise<ApiReply> {
  const res = await fetch(`${target.httpUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${target.token}`, ...(body !== undefined ? { 'Content-Type': contentType } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    ...(timeoutMs !== undefined ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, text, body: parsed };
}

export function jobPath(name: string, namespace = 'default'): string {
  return `${JOBS_API}/namespaces/${namespace}/jobs/${name}`;
}

/** A process-driver Job manifest running `argv` directly. */
export function processJob(name: string, argv: readonly string[], spec: Record<string, unknown> = {}, namespace = 'default'): Record<string, unknown> {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace },
    spec: { driver: 'process', command: [...argv], ...spec },
  };
}

export async function createJob(target: Target, manifest: Record<string, unknown>): Promise<ApiReply> {
  const namespace = (manifest.metadata as { namespace?: string }).namespace ?? 'default';
  return api(target, 'POST', `${JOBS_API}/namespaces/${namespace}/jobs`, manifest);
}

export async function getJob(target: Target, name: string, namespace = 'default'): Promise<Job | undefined> {
  const res = await api(target, 'GET', jobPath(name, namespace));
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`GET job ${name}: ${res.status} ${res.text}`);
  return res.body as Job;
}

/** Polls `probe` until it returns a value other than undefined; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(intervalMs);
  }
}

/** Waits until the job's phase is one of `phases`; returns the job. */
export function waitForPhase(target: Target, name: string, phases: readonly string[], timeoutMs = 60_000): Promise<Job> {
  return waitFor(
    `job ${name} to reach ${phases.join('|')}`,
    async () => {
      const job = await getJob(target, name);
      return job && phases.includes(job.status?.phase ?? '') ? job : undefined;
    },
    timeoutMs,
  );
}

/** Every job of a namespace (all pages). */
export async function listJobs(target: Target, namespace = 'default'): Promise<Job[]> {
  const jobs: Job[] = [];
  let token = '';
  do {
    const res = await api(target, 'GET', `${JOBS_API}/namespaces/${namespace}/jobs?limit=500${token ? `&continue=${encodeURIComponent(token)}` : ''}`);
    if (res.status !== 200) throw new Error(`list jobs: ${res.status} ${res.text}`);
    jobs.push(...(res.body.items as Job[]));
    token = (res.body.metadata?.continue as string | undefined) ?? '';
  } while (token);
  return jobs;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** PIDs of live processes whose command line contains `marker` (an argument the test chose). */
export async function processesWith(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.split('\0').some((arg) => arg.includes(marker))) continue;
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue; // a zombie is dead already
      pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The working directory of a process, or undefined when it is gone. */
export async function cwdOf(pid: number): Promise<string | undefined> {
  return readlink(`/proc/${pid}/cwd`).catch(() => undefined);
}

/** Kills (SIGKILL) every process with `marker` in its command line: test clean-up only. */
export async function killProcessesWith(marker: string): Promise<void> {
  for (const pid of await processesWith(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real osctl binary with the given config file; `stdin` is written to it (default: nothing). */
export function osctl(
  args: readonly string[],
  env: { OSCTL_CONFIG: string; HOME: string },
  options: { readonly timeoutMs?: number; readonly stdin?: string } = {},
): Promise<CliRun> {
  const child = spawn(process.execPath, binArgs('osctl', args), { cwd: repoRoot, env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => undefined); // osctl may exit before reading its input
  child.stdin.end(options.stdin ?? '');
  const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  return new Promise<CliRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(killer);
      resolve({ code: code ?? 137, stdout, stderr });
    });
  });
}

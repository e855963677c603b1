// What the fault tests share: a load generator (clients creating jobs through the REST API,
// each request recorded in a History), a watcher recording every event it gets, a sampler of the
// task processes alive, a server that can be killed and restarted on the same ports and data
// dir, the final state, and the orphan look-up (processes by marker, containers by label).
// Every loop here is stopped by its owner (stop()); nothing outlives the test.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Job } from '../../api/v1/index.js';
import { startAgentProcess, type AgentProcess } from '../harness/agent.js';
import { api, JOBS_API, listJobs, processJob, waitFor, type Target } from '../harness/e2e.js';
import { startServerProcess, type ServerProcess, type ServerProcessOptions } from '../harness/server.js';
import { History, jobKey, type FinalState, type HttpReply, type Orphan } from './history.js';

const run = promisify(execFile);

/** Short node timings so that a lost node is noticed within seconds (server flags). */
export const FAST_NODE_ARGS = ['--node-lease-ttl', '3s', '--node-grace-period', '3s'] as const;
/** The agents' reconcile period in these tests: how often they remove tasks nobody owns. */
export const RECONCILE_PERIOD_MS = 2_000;
/** Agent flags matching RECONCILE_PERIOD_MS. */
export const FAST_AGENT_ARGS = ['--orphan-sweep-interval', `${RECONCILE_PERIOD_MS}ms`] as const;

/** One REST request with a deadline; its body parsed as JSON when it is JSON. Throws on no answer. */
export async function request(target: Target, method: string, path: string, body: unknown, timeoutMs: number): Promise<HttpReply> {
  const res = await fetch(`${target.httpUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${target.token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
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

/**
 * A job whose task is a shell sleeping `seconds` then exiting 0. Its command line carries
 * `MARKER=NAME`, which the task sampler and the orphan check look for.
 */
export function markedJob(name: string, marker: string, seconds: number, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return processJob(name, ['/bin/sh', '-c', `sleep ${seconds}; echo done`, `${marker}=${name}`], spec);
}

/** Like markedJob, but the task runs until the file `gate` exists (the test decides when tasks may end). */
export function gatedJob(name: string, marker: string, gate: string, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return processJob(name, ['/bin/sh', '-c', `while [ ! -e '${gate}' ]; do sleep 0.2; done; echo done`, `${marker}=${name}`], spec);
}

export interface LoadOptions {
  readonly history: History;
  /** The servers to spread the requests over (read before every request: they may change). */
  readonly targets: () => readonly Target[];
  /** Names of the jobs to create, in order (namespace default). */
  readonly names: readonly string[];
  readonly manifest: (name: string) => Record<string, unknown>;
  readonly clients: number;
  /** Per request; default 10 s. A timed-out request is recorded unknown. */
  readonly requestTimeoutMs?: number;
  /** A name whose create failed with no answer or 5xx is sent again (same name) until this long has passed; default 120 s. */
  readonly retryForMs?: number;
}

export interface Load {
  /** Resolves when every name got a definite answer (or its retries ran out). */
  readonly done: Promise<void>;
  /** Creates acknowledged so far. */
  acknowledged(): number;
  /** Ends the load early (the requests in flight finish). */
  stop(): Promise<void>;
}

/**
 * Starts `clients` clients that create the jobs `names` through POST, each recorded in the
 * history. A create without a definite answer (refused, timeout, reset, 5xx) is retried with the
 * same name after a pause; a 409 on a retry means an earlier unknown attempt took effect.
 */
export function startLoad(options: LoadOptions): Load {
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const retryForMs = options.retryForMs ?? 120_000;
  let next = 0;
  let acknowledged = 0;
  let stopped = false;
  let turn = 0;
  const createOne = async (client: string, name: string): Promise<void> => {
    const deadline = Date.now() + retryForMs;
    for (;;) {
      const targets = options.targets();
      const target = targets[turn++ % targets.length]!;
      const manifest = options.manifest(name);
      const { reply, operation } = await options.history.exchange(client, 'create', `default/${name}`, () => request(target, 'POST', `${JOBS_API}/namespaces/default/jobs`, manifest, timeoutMs));
      if (operation.outcome === 'ok') acknowledged++;
      // ok, or a definite answer (4xx): done with this name; no answer, refused, 5xx: send it again
      const definite = operation.outcome === 'ok' || (operation.outcome === 'failed' && reply !== undefined);
      if (definite || stopped || Date.now() > deadline) return;
      await sleep(250);
    }
  };
  const client = async (id: string): Promise<void> => {
    while (!stopped && next < options.names.length) {
      const name = options.names[next++]!;
      await createOne(id, name);
    }
  };
  const done = Promise.all(Array.from({ length: options.clients }, (_, i) => client(`load-${i}`))).then(() => undefined);
  return {
    done,
    acknowledged: () => acknowledged,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

export interface Watcher {
  /** Events received so far. */
  events(): number;
  stop(): Promise<void>;
}

/**
 * Watches `collectionPath` (e.g. the jobs of a namespace) through the REST API and records every
 * event; on a broken connection it watches again from the last resourceVersion it saw, on 410
 * Gone it relists. Each connection is one stream in the history.
 */
export function startWatcher(history: History, target: () => Target, collectionPath: string, client = 'watcher'): Watcher {
  const abort = new AbortController();
  let received = 0;
  let resourceVersion: string | undefined;
  const once = async (): Promise<void> => {
    if (resourceVersion === undefined) {
      const listed = await history.call(client, 'list', collectionPath, () => request(target(), 'GET', collectionPath, undefined, 10_000));
      const rv = (listed?.body as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion;
      if (listed?.status !== 200 || rv === undefined) return;
      resourceVersion = rv;
    }
    const t = target();
    const res = await fetch(`${t.httpUrl}${collectionPath}?watch=true&allowWatchBookmarks=true&resourceVersion=${resourceVersion}`, {
      headers: { Authorization: `Bearer ${t.token}` },
      signal: abort.signal,
    });
    if (res.status === 410) {
      resourceVersion = undefined;
      await res.body?.cancel();
      return;
    }
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel();
      return;
    }
    const stream = history.newStream(client);
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of res.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line === '') continue;
        const event = JSON.parse(line) as { type: string; object?: { code?: number; metadata?: { resourceVersion?: string } } };
        history.watchEvent(client, stream, event);
        received++;
        if (event.type === 'ERROR') {
          if (event.object?.code === 410) resourceVersion = undefined;
          return;
        }
        resourceVersion = event.object?.metadata?.resourceVersion ?? resourceVersion;
      }
    }
  };
  const loop = (async () => {
    while (!abort.signal.aborted) {
      try {
        await once();
      } catch {
        // the server went away or we are stopping: try again
      }
      if (!abort.signal.aborted) await sleep(200);
    }
  })();
  return {
    events: () => received,
    stop: async () => {
      abort.abort();
      await loop;
    },
  };
}

/**
 * Live tasks of this test: job key → their process group ids (one group per task: the process
 * driver's supervisor and the task share one), from the `MARKER=NAME` argument of markedJob.
 */
export async function liveTasks(marker: string): Promise<Map<string, string[]>> {
  const tasks = new Map<string, string[]>();
  const prefix = `${marker}=`;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const arg = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').find((a) => a.startsWith(prefix));
      if (arg === undefined) continue;
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const [state, , processGroup] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || processGroup === undefined) continue; // dead already
      const key = `default/${arg.slice(prefix.length)}`;
      const groups = tasks.get(key) ?? [];
      if (!groups.includes(processGroup)) groups.push(processGroup);
      tasks.set(key, groups);
    } catch {
      // gone meanwhile
    }
  }
  return tasks;
}

/** Records into the history, every `intervalMs`, which task processes are alive (see checkNoConcurrentTasks). */
export function startTaskSampler(history: History, marker: string, intervalMs = 250): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      history.sampleTasks(await liveTasks(marker), at);
      await sleep(intervalMs);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** Every job of the namespace, retried until the API answers (bounded). */
export async function readFinalState(target: () => Target, namespace = 'default'): Promise<FinalState> {
  const jobs = await waitFor('the final list of jobs', async () => listJobs(target(), namespace), 60_000, 500);
  return { jobs };
}

const ended = (job: Job): boolean => job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed';

/**
 * Waits until every job the history may have created has ended, up to `timeoutMs`, and returns
 * the final state either way (the checker then names the jobs that did not end).
 */
export async function settle(history: History, target: () => Target, timeoutMs: number): Promise<FinalState> {
  const created = new Set(history.operations.filter((o) => o.kind === 'create' && o.outcome !== 'failed').map((o) => o.key));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const final = await readFinalState(target);
    const byKey = new Map(final.jobs.map((j) => [jobKey(j), j]));
    const pending = [...created].filter((k) => {
      const job = byKey.get(k);
      const acknowledged = history.operations.some((o) => o.key === k && o.kind === 'create' && o.outcome === 'ok');
      return job ? !ended(job) : acknowledged;
    });
    if (pending.length === 0 || Date.now() > deadline) return final;
    await sleep(1_000);
  }
}

export interface OrphanQuery {
  /** Processes whose command line has an argument containing this marker. */
  readonly marker: string;
  /** podman containers labelled io.openscheduler.node=NODE for these nodes (only when a test uses podman). */
  readonly podmanNodes?: readonly string[];
  /** incus instances with user.openscheduler.node=NODE for these nodes (only when a test uses incus). */
  readonly incusNodes?: readonly string[];
}

/** What of the test is still alive: processes by marker, running containers and instances by node label. */
export async function findOrphans(query: OrphanQuery): Promise<Orphan[]> {
  const orphans: Orphan[] = [];
  for (const [key, groups] of await liveTasks(query.marker)) {
    for (const group of groups) orphans.push({ kind: 'process', id: group, description: `process group of a task of ${key}` });
  }
  for (const node of query.podmanNodes ?? []) {
    const { stdout } = await run('podman', ['ps', '--no-trunc', '--filter', `label=io.openscheduler.node=${node}`, '--format', '{{.ID}} {{.Names}} {{.State}}']);
    for (const line of stdout.split('\n').filter((l) => l.trim() !== '')) {
      const [id = '', ...rest] = line.trim().split(' ');
      orphans.push({ kind: 'container', id, description: `podman container of node ${node}: ${rest.join(' ')}` });
    }
  }
  for (const node of query.incusNodes ?? []) {
    const { stdout } = await run('incus', ['list', `user.openscheduler.node=${node}`, '--format', 'csv', '--columns', 'ns']);
    for (const line of stdout.split('\n').filter((l) => l.trim() !== '')) {
      const [name = '', state = ''] = line.split(',');
      if (state.toUpperCase() === 'RUNNING') orphans.push({ kind: 'instance', id: name, description: `incus instance of node ${node}` });
    }
  }
  return orphans;
}

/**
 * The orphans left one reconcile period after recovery: waits up to the period plus a generous
 * margin (the machine is shared) for them to go, and returns those still there.
 */
export async function orphansAfterRecovery(query: OrphanQuery, marginMs = 30_000): Promise<Orphan[]> {
  const deadline = Date.now() + RECONCILE_PERIOD_MS + marginMs;
  for (;;) {
    const orphans = await findOrphans(query);
    if (orphans.length === 0 || Date.now() > deadline) return orphans;
    await sleep(500);
  }
}

/** A server that can be killed and started again on the same ports, data dir and store. */
export interface RestartableServer {
  /** The running server (the last one started). */
  current(): ServerProcess;
  /** Its REST endpoint and admin token, for clients. */
  target(): Target;
  /** kill -9; waits until it is gone. */
  kill9(): Promise<void>;
  /** Starts it again (after kill9) on the same ports and data dir. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const portOf = (address: string): string => address.slice(address.lastIndexOf(':') + 1).replace(/\/.*$/, '');

export async function startRestartableServer(dataDir: string, options: Omit<ServerProcessOptions, 'dataDir'> = {}): Promise<RestartableServer> {
  let server = await startServerProcess({ ...options, dataDir });
  const fixedPorts = [
    '--http-port',
    portOf(new URL(server.httpUrl).host),
    '--https-port',
    portOf(new URL(server.httpsUrl).host),
    '--grpc-port',
    portOf(server.grpcAddress),
  ];
  return {
    current: () => server,
    target: () => ({ httpUrl: server.httpUrl, token: server.token }),
    kill9: async () => {
      server.kill('SIGKILL');
      await server.exited;
      await server.stop(); // dead already: removes its temporary HOME only (the data dir is ours)
    },
    restart: async () => {
      server = await startServerProcess({ ...options, dataDir, extraArgs: [...(options.extraArgs ?? []), ...fixedPorts] });
    },
    stop: async () => {
      await server.stop();
    },
  };
}

/** Starts an agent against `server` with the fault suite's timings; `dataDir` keeps its node token across restarts. */
export function startFaultAgent(server: ServerProcess, nodeName: string, dataDir: string): Promise<AgentProcess> {
  return startAgentProcess({ grpcAddress: server.grpcAddress, tokenFile: server.joinTokenPath, nodeName, dataDir, extraArgs: ['--labels', `node=${nodeName}`, ...FAST_AGENT_ARGS] });
}

/** Waits until the node reports Ready. */
export function nodeReady(target: () => Target, name: string, timeoutMs = 60_000): Promise<true> {
  return waitFor(
    `node ${name} Ready`,
    async () => {
      const res = await api(target(), 'GET', `/apis/openscheduler.io/v1/nodes/${name}`);
      const ready = (res.body?.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
      return res.status === 200 && ready ? true : undefined;
    },
    timeoutMs,
  );
}

/** Reads each job once more through GET (recorded), so the history holds reads after recovery. */
export async function readBack(history: History, target: () => Target, final: FinalState): Promise<void> {
  for (const job of final.jobs) {
    await history.call('reader', 'get', jobKey(job), () => request(target(), 'GET', `${JOBS_API}/namespaces/${job.metadata.namespace ?? 'default'}/jobs/${job.metadata.name}`, undefined, 10_000));
  }
}

// What the fault tests share: a load generator (clients creating jobs through the REST API,
// each request recorded in a History), a watcher recording every event it gets, a sampler of the
// task processes alive, a server that can be killed and restarted on the same ports and data
// dir, the final state, the orphan look-up (processes by marker, containers by label), and the
// fixture that puts them together (startFaultRun, startFaultCluster: see the end of the file).
// Every loop here is stopped by its owner (stop()); nothing outlives the test.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Job } from '../../api/v1/index.js';
import { startAgentProcess, type AgentProcess } from '../harness/agent.js';
import { api, JOBS_API, killProcessesWith, listJobs, processJob, waitFor, type Target } from '../harness/e2e.js';
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd-cluster.js';
import { startEtcd, type EtcdProcess } from '../harness/etcd.js';
import { containersConf } from '../harness/runtimes.js';
import { startServerProcess, type ServerProcess, type ServerProcessOptions } from '../harness/server.js';
import { checkAll, History, jobKey, summarize, type FinalState, type HttpReply, type Orphan, type Violation } from './history.js';

const run = promisify(execFile);

/** Short node timings so that a lost node is noticed within seconds (server flags). */
export const FAST_NODE_ARGS = ['--node-lease-ttl', '3s', '--node-grace-period', '3s'] as const;
/** The agents' reconcile period in these tests: how often they remove tasks nobody owns. */
export const RECONCILE_PERIOD_MS = 2_000;
/** Agent flags matching RECONCILE_PERIOD_MS. */
export const FAST_AGENT_ARGS = ['--orphan-sweep-interval', `${RECONCILE_PERIOD_MS}ms`] as const;

/** One REST request with a deadline; its body parsed as JSON when it is JSON. Throws on no answer. */
export function request(target: Target, method: string, path: string, body: unknown, timeoutMs: number): Promise<HttpReply> {
  return api(target, method, path, body, 'application/json', timeoutMs);
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
  /** Each client pauses this long after each name it is done with (paces a load that must span several faults); default 0. */
  readonly pauseMs?: number;
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
      if ((options.pauseMs ?? 0) > 0 && !stopped) await sleep(options.pauseMs!);
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

/** Running podman containers of `nodes` (by the driver's labels): job key → container ids. */
export async function liveContainers(nodes: readonly string[]): Promise<Map<string, string[]>> {
  const tasks = new Map<string, string[]>();
  for (const node of nodes) {
    const { stdout } = await run('podman', ['ps', '--no-trunc', '--filter', `label=io.openscheduler.node=${node}`, '--format', 'json'], { env: PODMAN_ENV });
    for (const c of JSON.parse(stdout || '[]') as { Id: string; Labels?: Record<string, string> }[]) {
      const key = `${c.Labels?.['io.openscheduler.namespace'] ?? '?'}/${c.Labels?.['io.openscheduler.job'] ?? '?'}`;
      tasks.set(key, [...(tasks.get(key) ?? []), c.Id.slice(0, 12)]);
    }
  }
  return tasks;
}

/** Running incus instances of `nodes` (by the driver's user keys): job key → instance names. */
export async function liveInstances(nodes: readonly string[]): Promise<Map<string, string[]>> {
  const tasks = new Map<string, string[]>();
  for (const node of nodes) {
    for (const i of await incusInstancesOf(node)) {
      if (i.status.toUpperCase() !== 'RUNNING') continue;
      const key = `${i.config?.['user.openscheduler.namespace'] ?? '?'}/${i.config?.['user.openscheduler.job'] ?? '?'}`;
      tasks.set(key, [...(tasks.get(key) ?? []), i.name]);
    }
  }
  return tasks;
}

/**
 * Records into the history, every `intervalMs`, which tasks are alive (see checkNoConcurrentTasks):
 * the processes carrying `marker` (liveTasks), or what `source` returns (e.g. liveContainers).
 */
export function startTaskSampler(history: History, source: string | (() => Promise<Map<string, string[]>>), intervalMs = 250): { stop(): Promise<void> } {
  const sample = typeof source === 'string' ? () => liveTasks(source) : source;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      try {
        history.sampleTasks(await sample(), at);
      } catch {
        // the runtime's CLI failed this once (e.g. an instance changing under it): no sample at this instant
      }
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

/** podman as the agents run it: with the project's containers.conf. */
const PODMAN_ENV = { ...process.env, CONTAINERS_CONF: containersConf() };

interface IncusInstance {
  readonly name: string;
  readonly status: string;
  /** null while an instance is being created */
  readonly config: Readonly<Record<string, string>> | null;
}

/** `incus ARGS` with stdin closed (incus reads a config from a non-terminal stdin). */
function incus(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('incus', args, { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`incus ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
    child.stdin?.end();
  });
}

/** Every incus instance (any state) whose user.openscheduler.node is `node`. */
async function incusInstancesOf(node: string): Promise<IncusInstance[]> {
  return (JSON.parse(await incus(['list', '--format', 'json'])) as IncusInstance[]).filter((i) => i.config?.['user.openscheduler.node'] === node);
}

/**
 * What of the test is still there: processes by marker, and containers and instances labelled
 * for its nodes in any state (the agent removes a task's container once it reported it: one left
 * behind, even exited, is a leak).
 */
export async function findOrphans(query: OrphanQuery): Promise<Orphan[]> {
  const orphans: Orphan[] = [];
  for (const [key, groups] of await liveTasks(query.marker)) {
    for (const group of groups) orphans.push({ kind: 'process', id: group, description: `process group of a task of ${key}` });
  }
  for (const node of query.podmanNodes ?? []) {
    const { stdout } = await run('podman', ['ps', '--all', '--no-trunc', '--filter', `label=io.openscheduler.node=${node}`, '--format', '{{.ID}} {{.Names}} {{.State}}'], { env: PODMAN_ENV });
    for (const line of stdout.split('\n').filter((l) => l.trim() !== '')) {
      const [id = '', ...rest] = line.trim().split(' ');
      orphans.push({ kind: 'container', id, description: `podman container of node ${node}: ${rest.join(' ')}` });
    }
  }
  for (const node of query.incusNodes ?? []) {
    for (const i of await incusInstancesOf(node)) orphans.push({ kind: 'instance', id: i.name, description: `incus instance of node ${node}: ${i.status}` });
  }
  return orphans;
}

/** Test clean-up only: removes every container and instance labelled for `query`'s nodes. */
export async function removeContainersOf(query: Omit<OrphanQuery, 'marker'>): Promise<void> {
  for (const node of query.podmanNodes ?? []) {
    const { stdout } = await run('podman', ['ps', '--all', '--quiet', '--filter', `label=io.openscheduler.node=${node}`], { env: PODMAN_ENV }).catch(() => ({ stdout: '' }));
    // one id per call: podman 4.3 removes nothing when one of several is gone meanwhile
    for (const id of stdout.split('\n').filter((l) => l.trim() !== '')) await run('podman', ['rm', '--force', '--time', '0', id.trim()], { env: PODMAN_ENV }).catch(() => undefined);
  }
  for (const node of query.incusNodes ?? []) {
    for (const i of await incusInstancesOf(node).catch(() => [])) await incus(['delete', '--force', i.name]).catch(() => undefined);
  }
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

// ---- the fixture of the kill tests ----------------------------------------------------------
// startFaultRun: the book-keeping every fault test repeats (temporary dir, task marker, history,
// recorders, the final check, clean-up). startFaultCluster adds what the kill tests run on: a
// store (SQLite, one etcd, or a 3-member etcd cluster), one restartable server and agents.

export interface FaultRunOptions {
  /** Short id of the test (e.g. `ks-sqlite`): names its temporary dir, task marker and etcd prefix. */
  readonly name: string;
  /** Nodes whose podman containers belong to the test: orphans when left after recovery, removed at dispose. */
  readonly podmanNodes?: readonly string[];
  /** The same for incus instances. */
  readonly incusNodes?: readonly string[];
}

export interface VerifyOptions {
  /** The server the final state is read from. */
  readonly target: () => Target;
  /** The jobs the test owns (for the phantom check), by key `default/NAME`. */
  readonly owned: (key: string) => boolean;
  /** How long the jobs may take to end. */
  readonly settleMs: number;
  /** Which task samples count for checkNoConcurrentTasks (default all). */
  readonly tasksExclusiveDuring?: (at: number) => boolean;
  /** Runs once the recorders stopped, before the final read (e.g. waits for servers to converge). */
  readonly beforeFinalRead?: () => Promise<void>;
  /** Where each job is read back once more (recorded); default `target`. */
  readonly readBackFrom?: () => Target;
}

export interface Verification {
  readonly final: FinalState;
  readonly orphans: readonly Orphan[];
  /** summarize() of the run, with the watcher's event count when there is one. */
  readonly summary: string;
  /** checkAll over the history, the final state and the orphans: assertNoViolations fails on any. */
  readonly violations: readonly Violation[];
  /** From verify() until every job had ended (or settleMs ran out). */
  readonly settledMs: number;
}

export interface FaultRun {
  readonly work: string;
  /** Every task carries the argument `MARKER=NAME` (markedJob, gatedJob): the sampler and the orphan check look for it. */
  readonly marker: string;
  readonly history: History;
  /** Samples the live tasks into the history until verify/dispose: processes by marker, or `source`; every 250 ms unless told. */
  sampleTasks(source?: () => Promise<Map<string, string[]>>, intervalMs?: number): void;
  /** Records a watcher of the default namespace's jobs until verify/dispose. */
  watch(target: () => Target): Watcher;
  /** startLoad into this history, stopped at verify/dispose. */
  load(options: Omit<LoadOptions, 'history'>): Load;
  /** Runs `cleanup` at dispose (last registered first), after the recorders stopped. */
  defer(cleanup: () => Promise<unknown>): void;
  /**
   * After recovery: waits for the jobs to end, looks for orphans (one reconcile period plus a
   * margin), stops the recorders, reads the final state and reads each job back, runs checkAll.
   */
  verify(options: VerifyOptions): Promise<Verification>;
  /** Stops everything (recorders, then the deferred clean-ups), kills what carries the marker, removes the test's containers and dir. Idempotent. */
  dispose(): Promise<void>;
}

export async function startFaultRun(options: FaultRunOptions): Promise<FaultRun> {
  const work = await mkdtemp(join(tmpdir(), `os-faults-${options.name}-`));
  const marker = `os-faults-${options.name}-${process.pid}`;
  const history = new History();
  const recorders: Array<{ stop(): Promise<void> }> = [];
  const cleanups: Array<() => Promise<unknown>> = [];
  let watcher: Watcher | undefined;
  /** Stops every recorder, even when one fails; then throws the first failure. */
  const stopRecorders = async (): Promise<void> => {
    const results = await Promise.allSettled(recorders.splice(0).map((r) => r.stop()));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  const track = <T extends { stop(): Promise<void> }>(recorder: T): T => {
    recorders.push(recorder);
    return recorder;
  };
  let disposing: Promise<void> | undefined;
  return {
    work,
    marker,
    history,
    sampleTasks: (source, intervalMs) => void track(startTaskSampler(history, source ?? marker, intervalMs)),
    watch: (target) => (watcher = track(startWatcher(history, target, `${JOBS_API}/namespaces/default/jobs`))),
    load: (load) => track(startLoad({ ...load, history })),
    defer: (cleanup) => void cleanups.push(cleanup),
    verify: async (verify) => {
      const started = Date.now();
      await settle(history, verify.target, verify.settleMs);
      const settledMs = Date.now() - started;
      const orphans = await orphansAfterRecovery({ marker, podmanNodes: options.podmanNodes, incusNodes: options.incusNodes });
      await stopRecorders();
      await verify.beforeFinalRead?.();
      const final = await readFinalState(verify.target);
      await readBack(history, verify.readBackFrom ?? verify.target, final);
      const violations = checkAll(history, final, { orphans, owned: verify.owned, tasksExclusiveDuring: verify.tasksExclusiveDuring });
      const summary = `${summarize(history, final)}${watcher ? `; watch events ${watcher.events()}` : ''}`;
      return { final, orphans, summary, violations, settledMs };
    },
    dispose: () =>
      (disposing ??= (async () => {
        // every step runs even when an earlier one failed; the first failure is thrown at the end
        const failures: unknown[] = [];
        const step = async (fn: () => Promise<unknown>): Promise<void> => {
          try {
            await fn();
          } catch (err) {
            failures.push(err);
          }
        };
        await step(stopRecorders);
        for (const cleanup of cleanups.splice(0).reverse()) await step(cleanup);
        await step(() => killProcessesWith(marker));
        await step(() => removeContainersOf(options));
        await step(() => rm(work, { recursive: true, force: true }));
        if (failures.length > 0) throw failures[0];
      })()),
  };
}

export interface FaultClusterOptions extends FaultRunOptions {
  /** `sqlite`: the server's embedded store; `etcd`: one etcd; `etcd-cluster`: a 3-member etcd cluster. */
  readonly store: 'sqlite' | 'etcd' | 'etcd-cluster';
  /** Agents (node names) started, and Ready, before startFaultCluster resolves; more with startAgent. */
  readonly agents?: readonly string[];
  /** More flags of every agent, after the suite's (label node=NAME, FAST_AGENT_ARGS). */
  readonly agentArgs?: readonly string[];
  /** More environment of every agent. */
  readonly agentEnv?: Readonly<Record<string, string>>;
  /** Record a watcher of the jobs (default true). */
  readonly watch?: boolean;
  /** Sample the live tasks: by marker (true, the default), with a source of one's own (e.g. liveContainers), or not at all. */
  readonly sampleTasks?: boolean | (() => Promise<Map<string, string[]>>);
  /** How often; default 250 ms. */
  readonly sampleIntervalMs?: number;
}

export interface FaultCluster extends Omit<FaultRun, 'verify'> {
  readonly server: RestartableServer;
  /** With `store: 'etcd'`. */
  readonly etcd: EtcdProcess | undefined;
  /** With `store: 'etcd-cluster'`. */
  readonly etcdCluster: EtcdCluster | undefined;
  /** The server's REST endpoint and admin token (the same across its restarts). */
  readonly target: () => Target;
  /** The current process of the agent of `node`. */
  agent(node: string): AgentProcess;
  /** Starts the agent of `node` (again, on its data dir: it keeps its node token); waits until Ready unless waitReady is false. */
  startAgent(node: string, options?: { readonly waitReady?: boolean; readonly extraArgs?: readonly string[] }): Promise<AgentProcess>;
  /** FaultRun.verify, reading from the server by default. */
  verify(options: Omit<VerifyOptions, 'target'> & { readonly target?: () => Target }): Promise<Verification>;
}

/** A store, one restartable server (FAST_NODE_ARGS), agents, the recorders: see FaultClusterOptions. dispose() ends all of it. */
export async function startFaultCluster(options: FaultClusterOptions): Promise<FaultCluster> {
  const faultRun = await startFaultRun(options);
  const { work, defer } = faultRun;
  try {
    let etcd: EtcdProcess | undefined;
    let etcdCluster: EtcdCluster | undefined;
    if (options.store === 'etcd') {
      const e = (etcd = await startEtcd());
      defer(() => e.stop());
    } else if (options.store === 'etcd-cluster') {
      const c = (etcdCluster = await startEtcdCluster({ members: 3 }));
      defer(() => c.stop());
    }
    const endpoints = etcd ? [etcd.endpoint] : etcdCluster?.endpoints;
    const server = await startRestartableServer(join(work, 'server'), {
      ...(endpoints ? { store: { etcdEndpoints: endpoints, etcdPrefix: `/faults-${options.name}-${process.pid}` } } : {}),
      extraArgs: FAST_NODE_ARGS,
    });
    defer(() => server.stop());
    const target = (): Target => server.target();
    const agents = new Map<string, AgentProcess>();
    defer(async () => {
      for (const agent of agents.values()) {
        agent.kill('SIGCONT'); // in case the test paused it
        await agent.stop();
      }
    });
    const startAgent: FaultCluster['startAgent'] = async (node, agentOptions = {}) => {
      const agent = await startAgentProcess({
        grpcAddress: server.current().grpcAddress,
        tokenFile: server.current().joinTokenPath,
        nodeName: node,
        dataDir: join(work, `agent-${node}`),
        extraArgs: ['--labels', `node=${node}`, ...FAST_AGENT_ARGS, ...(options.agentArgs ?? []), ...(agentOptions.extraArgs ?? [])],
        ...(options.agentEnv ? { env: options.agentEnv } : {}),
      });
      agents.set(node, agent);
      if (agentOptions.waitReady !== false) await nodeReady(target, node);
      return agent;
    };
    for (const node of options.agents ?? []) await startAgent(node);
    if (options.sampleTasks !== false) faultRun.sampleTasks(typeof options.sampleTasks === 'function' ? options.sampleTasks : undefined, options.sampleIntervalMs);
    if (options.watch !== false) faultRun.watch(target);
    return {
      ...faultRun,
      server,
      etcd,
      etcdCluster,
      target,
      agent: (node) => {
        const agent = agents.get(node);
        if (agent === undefined) throw new Error(`no agent ${node} was started`);
        return agent;
      },
      startAgent,
      verify: (verify) => faultRun.verify({ ...verify, target: verify.target ?? target }),
    };
  } catch (err) {
    await faultRun.dispose();
    throw err;
  }
}

/**
 * The jobs (named `prefix`...) that did not succeed, described: none may. The fault tests' jobs
 * all exit 0 and allow no retry, so a fault that failed or dead-lettered one (instead of
 * re-queueing it as NodeLost) shows here.
 */
export function jobsNotSucceeded(final: FinalState, prefix: string): string[] {
  return final.jobs
    .filter((job) => job.metadata.name.startsWith(prefix) && job.status?.phase !== 'Succeeded')
    .map((job) => `${job.metadata.name}: ${String(job.status?.phase)} ${String(job.status?.reason)}: ${String(job.status?.message)} ${JSON.stringify(job.status?.recentAttempts)}`);
}

// High-availability end-to-end tests start several real `openscheduler server` processes (the
// production mode, not `dev`) on one etcd with this: each its own temporary data dir and HOME,
// loopback listeners (plain gRPC, as loopback allows), free ports. They share what a real
// deployment shares: the store, and through it the JWT secret, the users, node tokens and the
// join token (the first server generates it; every server writes it to its `<data-dir>/join-token`),
// so that an agent joins through any of them. The first server creates the admin user; the cluster
// logs in as admin.
// A server can be killed (kill -9, -STOP) and started again on the same data dir and ports, so
// that agents find it at the address they were given. stop() ends every process by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readEndpoints } from '../../server/endpoints.js';
import { binArgs, repoRoot } from './bin.js';
import type { Target } from './e2e.js';
import { childEnv } from './server.js';

export interface StartServerClusterOptions {
  /** How many server processes; default 3. */
  readonly count?: number;
  /** etcd client URLs given to every server (--etcd-endpoints). */
  readonly etcdEndpoints: readonly string[];
  /** Key prefix in etcd; default a fresh one per cluster. */
  readonly etcdPrefix?: string;
  /** More flags for every server (e.g. short node lease timings). */
  readonly extraArgs?: readonly string[];
  /** Extra environment of every server (e.g. OPENSCHEDULER_ETCD_PASSWORD). */
  readonly env?: Readonly<Record<string, string>>;
  /** How long one server may take to become ready; default 60 s. */
  readonly readyTimeoutMs?: number;
}

export interface ClusterServer {
  /** `s0`, `s1`, ... */
  readonly name: string;
  readonly dataDir: string;
  /** Stable across restarts (the same ports are reused). */
  readonly httpUrl: string;
  /** host:port of the agent endpoint; stable across restarts. */
  readonly grpcAddress: string;
  /** PID of the running process; undefined while it is not running. */
  readonly pid: number | undefined;
  /** What the current (or last) process wrote to stdout and stderr. */
  output(): string;
  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT, ...); for a terminating one, resolves once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on its data dir and ports; resolves once it serves. */
  start(): Promise<void>;
  /** Whether this process runs the controllers now (its `openscheduler_leader` gauge); false when it does not answer. */
  isLeader(token: string): Promise<boolean>;
  /** Its `openscheduler_connected_agents` gauge; undefined when it does not answer. */
  connectedAgents(token: string): Promise<number | undefined>;
}

export interface ServerCluster {
  readonly servers: readonly ClusterServer[];
  /** The admin's token: valid on every server (one JWT secret, shared through the store). */
  readonly token: string;
  /** The first server's join token file, for agents: every server's holds the same token (shared through the store). */
  readonly joinTokenPath: string;
  /** Every server's agent endpoint, comma-separated: an agent's --server list. */
  readonly grpcAddresses: string;
  /** REST target of server i (its URL with the admin token). */
  target(i: number): Target;
  /** The servers whose leader gauge is 1 now (exactly one once the election settled). */
  leaders(): Promise<ClusterServer[]>;
  /** SIGTERM then SIGKILL for every running server; removes every temporary dir. Idempotent. */
  stop(): Promise<void>;
}

const MAX_OUTPUT = 256 * 1024;

async function gauge(httpUrl: string, token: string, name: string): Promise<number | undefined> {
  try {
    const res = await fetch(`${httpUrl}/metrics`, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(3_000) });
    if (res.status !== 200) return undefined;
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(await res.text());
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

class ServerProc implements ClusterServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private out = '';
  private ports: { http: number; https: number; grpc: number } = { http: 0, https: 0, grpc: 0 };
  httpUrl = '';
  grpcAddress = '';

  constructor(
    readonly name: string,
    readonly dataDir: string,
    private readonly home: string,
    private readonly baseArgs: readonly string[],
    private readonly readyTimeoutMs: number,
    private readonly env: Readonly<Record<string, string>> = {},
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  output(): string {
    return this.out;
  }

  async start(): Promise<void> {
    if (this.child) throw new Error(`server ${this.name}: already running (pid ${String(this.child.pid)})`);
    const args = [
      'server',
      '--data-dir',
      this.dataDir,
      '--bind-address',
      '127.0.0.1',
      '--http-port',
      String(this.ports.http),
      '--https-port',
      String(this.ports.https),
      '--grpc-port',
      String(this.ports.grpc),
      '--log-format',
      'text',
      ...this.baseArgs,
    ];
    const child = spawn(process.execPath, binArgs('openscheduler', args), {
      cwd: repoRoot,
      env: childEnv({ ...this.env, HOME: this.home }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.out = '';
    const append = (d: string): void => {
      this.out = (this.out + d).slice(-MAX_OUTPUT);
    };
    child.stdout!.setEncoding('utf8').on('data', append);
    child.stderr!.setEncoding('utf8').on('data', append);
    // never leave a server behind when the test process exits without stop()
    const killOnExit = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    this.exited = new Promise<void>((resolve) => {
      child.once('close', () => {
        process.off('exit', killOnExit);
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    const pid = child.pid;
    const deadline = Date.now() + this.readyTimeoutMs;
    for (;;) {
      if (this.child !== child) throw new Error(`server ${this.name} exited before it was ready:\n${this.out}`);
      const endpoints = await readEndpoints(this.dataDir);
      if (endpoints !== undefined && endpoints.pid === pid && endpoints.grpcAddress !== undefined) {
        this.httpUrl = endpoints.httpUrl;
        this.grpcAddress = endpoints.grpcAddress;
        this.ports = { http: portOf(endpoints.httpUrl), https: portOf(endpoints.httpsUrl), grpc: portOf(`tcp://${endpoints.grpcAddress}`) };
        return;
      }
      if (Date.now() > deadline) {
        await this.kill('SIGKILL');
        throw new Error(`server ${this.name} was not ready within ${this.readyTimeoutMs} ms:\n${this.out}`);
      }
      await sleep(50);
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child?.pid === undefined) return;
    process.kill(child.pid, signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') await this.exited;
  }

  /** SIGTERM, SIGKILL after graceMs. */
  async terminate(graceMs: number): Promise<void> {
    const child = this.child;
    if (child?.pid === undefined) return;
    try {
      process.kill(child.pid, 'SIGCONT'); // in case a test paused it
    } catch {
      // gone
    }
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async isLeader(token: string): Promise<boolean> {
    return this.child !== undefined && (await gauge(this.httpUrl, token, 'openscheduler_leader')) === 1;
  }

  async connectedAgents(token: string): Promise<number | undefined> {
    return this.child === undefined ? undefined : gauge(this.httpUrl, token, 'openscheduler_connected_agents');
  }
}

function portOf(url: string): number {
  const port = Number(new URL(url).port);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in ${url}`);
  return port;
}

async function login(httpUrl: string, password: string): Promise<string> {
  const res = await fetch(`${httpUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  const body = (await res.json()) as { token?: string };
  if (res.status !== 200 || typeof body.token !== 'string') throw new Error(`admin login on ${httpUrl}: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

/** Starts `count` servers on one etcd (the first alone, so that it creates the admin), then logs in. */
export async function startServerCluster(opts: StartServerClusterOptions): Promise<ServerCluster> {
  const count = opts.count ?? 3;
  const dir = await mkdtemp(join(tmpdir(), 'os-servers-'));
  const prefix = opts.etcdPrefix ?? `/ha-${process.pid}-${randomBytes(3).toString('hex')}`;
  const baseArgs = ['--etcd-endpoints', opts.etcdEndpoints.join(','), '--etcd-prefix', prefix, ...(opts.extraArgs ?? [])];
  const servers: ServerProc[] = [];
  for (let i = 0; i < count; i++) {
    const dataDir = join(dir, `s${i}`, 'data');
    const home = join(dir, `s${i}`, 'home');
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await mkdir(home, { recursive: true, mode: 0o700 });
    servers.push(new ServerProc(`s${i}`, dataDir, home, baseArgs, opts.readyTimeoutMs ?? 60_000, opts.env));
  }
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all(servers.map((s) => s.terminate(10_000)));
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    await servers[0]!.start();
    await Promise.all(servers.slice(1).map((s) => s.start()));
    const password = (await readFile(join(servers[0]!.dataDir, 'admin-password'), 'utf8')).trim();
    const token = await login(servers[0]!.httpUrl, password);
    return {
      servers,
      token,
      joinTokenPath: join(servers[0]!.dataDir, 'join-token'),
      grpcAddresses: servers.map((s) => s.grpcAddress).join(','),
      target: (i) => {
        const server = servers[i];
        if (server === undefined) throw new RangeError(`no server ${i} (there are ${servers.length})`);
        return { httpUrl: server.httpUrl, token };
      },
      leaders: async () => {
        const leading = await Promise.all(servers.map((s) => s.isLeader(token)));
        return servers.filter((_s, i) => leading[i]);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

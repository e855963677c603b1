// Starts a real etcd (Debian's etcd-server, 3.4) for tests: free 127.0.0.1 client and peer
// ports, a temporary data dir, waits until healthy; stopped by PID. Throws — never skips — when
// etcd is not installed. etcd's own auto compaction stays off (the store compacts itself).
// With `tls`, clients talk https (etcd's --cert-file/--key-file), and with clientCertAuth need a
// client certificate (--client-cert-auth --trusted-ca-file); the harness's health check uses the
// CA and that certificate.
import { Etcd3 } from 'etcd3';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StartEtcdOptions {
  /** The etcd binary. Default /usr/bin/etcd, else `etcd` on PATH. */
  readonly executable?: string;
  /** How long to wait for a healthy etcd. Default 20 s. */
  readonly startTimeoutMs?: number;
  /** Serve clients over TLS (an https:// client URL). */
  readonly tls?: EtcdTlsServing;
  /** More etcd flags, e.g. `--auth-token-ttl=1`. */
  readonly extraArgs?: readonly string[];
}

/** etcd's client-side TLS (PEM files). */
export interface EtcdTlsServing {
  /** etcd's serving certificate and key. */
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA of the serving certificate (the health check trusts it) and etcd's --trusted-ca-file. */
  readonly caFile: string;
  /** etcd --client-cert-auth: clients need a certificate signed by caFile; the health check presents this one. */
  readonly clientCertAuth?: { readonly certFile: string; readonly keyFile: string };
}

/** How one process serves clients: TLS and extra flags. */
export interface EtcdServing {
  readonly tls?: EtcdTlsServing;
  readonly extraArgs?: readonly string[];
}

export interface EtcdProcess {
  /** Client URL, e.g. http://127.0.0.1:40123 (https:// with tls). */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** etcd's data dir (inside a temporary dir that stop() removes). */
  readonly dataDir: string;
  /** PID of the running etcd; undefined while it is not running. */
  readonly pid: number | undefined;
  /** Sends `signal` (default SIGKILL); for a terminating signal, waits until the process exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts etcd again on the same ports and data dir and waits until it is healthy. */
  start(): Promise<void>;
  /** kill(signal) then start(). */
  restart(signal?: NodeJS.Signals): Promise<void>;
  /** Kills etcd by PID and removes the temporary dir. Idempotent. */
  stop(): Promise<void>;
}

const TERMINATING: ReadonlySet<string> = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT']);
const STDERR_TAIL_BYTES = 16 * 1024;

/** The etcd binary, or an error saying how to install it. */
export function findEtcd(executable?: string): string {
  const candidates = executable ? [executable] : ['/usr/bin/etcd'];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  if (!executable) {
    const onPath = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).stdout.trim();
    if (onPath) return onPath;
  }
  throw new Error(
    `etcd is not installed (looked for ${executable ?? '/usr/bin/etcd and etcd on PATH'}); ` +
      'install the Debian package etcd-server (apt-get install etcd-server)',
  );
}

/** A port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not get a free port');
  return address.port;
}

/** Waits until the process is stopped (or, with stopped=false, running again), as /proc shows it. */
async function waitForState(pid: number, stopped: boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (stat === '' || (state === 'T') === stopped) return;
    await sleep(10);
  }
  throw new Error(`etcd (pid ${pid}) did not ${stopped ? 'stop' : 'continue'} within 5 s`);
}

/** How one member joins its cluster (etcd's --name, --initial-cluster, timings). */
export interface EtcdMemberConfig {
  readonly name: string;
  /** etcd's --initial-cluster: `name=peerUrl,...` of every member, this one included. */
  readonly initialCluster: string;
  readonly clusterToken: string;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
}

/** One etcd process; a single-member cluster unless given a member config (etcd-cluster.ts). */
export class EtcdTestProcess implements EtcdProcess {
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderrTail = '';
  private stopped = false;

  constructor(
    private readonly executable: string,
    private readonly tempDir: string,
    readonly clientPort: number,
    readonly peerPort: number,
    private readonly startTimeoutMs: number,
    private readonly member?: EtcdMemberConfig,
    private readonly serving: EtcdServing = {},
  ) {
    this.endpoint = `${serving.tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
    this.peerUrl = `http://127.0.0.1:${peerPort}`;
    this.dataDir = join(tempDir, 'data');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    await this.waitUntilHealthy(this.launch());
  }

  /**
   * Spawns etcd without waiting for it to be healthy (a cluster member is healthy only once a
   * quorum runs, so a cluster launches every member first); pass the child to waitUntilHealthy.
   */
  launch(): ChildProcess {
    if (this.stopped) throw new Error('etcd test process: start() after stop()');
    if (this.child) throw new Error(`etcd test process: already running (pid ${String(this.child.pid)})`);
    const peerUrl = this.peerUrl;
    // Single member: fast elections (no peer can miss a heartbeat); min lease TTL ~1 s.
    const member = this.member ?? { name: 'test', initialCluster: `test=${peerUrl}`, clusterToken: 'openscheduler-test', heartbeatIntervalMs: 50, electionTimeoutMs: 500 };
    const { tls, extraArgs = [] } = this.serving;
    const tlsArgs = tls
      ? [`--cert-file=${tls.certFile}`, `--key-file=${tls.keyFile}`, `--trusted-ca-file=${tls.caFile}`, ...(tls.clientCertAuth ? ['--client-cert-auth'] : [])]
      : [];
    const child = spawn(
      this.executable,
      [
        `--name=${member.name}`,
        `--data-dir=${this.dataDir}`,
        `--listen-client-urls=${this.endpoint}`,
        `--advertise-client-urls=${this.endpoint}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${member.initialCluster}`,
        '--initial-cluster-state=new', // ignored when the data dir already holds a member
        `--initial-cluster-token=${member.clusterToken}`,
        `--heartbeat-interval=${member.heartbeatIntervalMs}`,
        `--election-timeout=${member.electionTimeoutMs}`,
        '--logger=zap',
        '--log-outputs=stderr',
        '--log-level=warn',
        ...tlsArgs,
        ...extraArgs,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    this.stderrTail = '';
    // Never leave an etcd behind when the test process exits without calling stop().
    const killOnExit = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        process.off('exit', killOnExit);
        if (this.child === child) this.child = undefined;
        resolve();
      });
      child.once('error', () => {
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    return child;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    process.kill(child.pid, signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      await waitForState(child.pid, signal === 'SIGSTOP');
      return;
    }
    if (!TERMINATING.has(signal)) return;
    const escalate = setTimeout(() => {
      if (this.child === child && child.pid) process.kill(child.pid, 'SIGKILL');
    }, 10_000);
    try {
      await this.exited;
    } finally {
      clearTimeout(escalate);
    }
  }

  async restart(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.kill(signal);
    await this.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const pid = this.child?.pid;
    if (pid) {
      try {
        process.kill(pid, 'SIGCONT'); // in case a test paused it
      } catch {
        // already gone
      }
      await this.kill('SIGKILL');
    }
    await rm(this.tempDir, { recursive: true, force: true });
  }

  /** Waits until `child` (from launch()) answers /health with true; kills it and throws after the start timeout. */
  async waitUntilHealthy(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs;
    let lastError = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.child !== child) {
        throw new Error(`etcd exited during startup (exit code ${String(child.exitCode)}): ${this.stderrTail}`);
      }
      try {
        const body = await this.health();
        if (body.health === 'true') return;
        lastError = JSON.stringify(body);
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      await sleep(50);
    }
    await this.kill('SIGKILL');
    throw new Error(`etcd did not become healthy within ${this.startTimeoutMs} ms (${lastError}): ${this.stderrTail}`);
  }

  /** GET /health with a 1 s timeout (over TLS: trusting the CA, presenting the client certificate). */
  private async health(): Promise<{ health?: string }> {
    const tls = this.serving.tls;
    if (!tls) return (await (await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1_000) })).json()) as { health?: string };
    const [ca, cert, key] = await Promise.all([
      readFile(tls.caFile),
      tls.clientCertAuth && readFile(tls.clientCertAuth.certFile),
      tls.clientCertAuth && readFile(tls.clientCertAuth.keyFile),
    ]);
    return new Promise((resolve, reject) => {
      const req = httpsGet(`${this.endpoint}/health`, { ca, ...(cert && key ? { cert, key } : {}), timeout: 1_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(text) as { health?: string });
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 1 s')));
      req.on('error', reject);
    });
  }
}

/** Starts etcd on free loopback ports with a fresh temporary data dir; see EtcdProcess. */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdProcess> {
  const executable = findEtcd(options.executable);
  let lastError: unknown;
  // A free port can be taken by someone else before etcd binds it: try a few times.
  for (let attempt = 0; attempt < 3; attempt++) {
    const tempDir = await mkdtemp(join(tmpdir(), 'etcd-test-'));
    const clientPort = await freePort();
    let peerPort = await freePort();
    while (peerPort === clientPort) peerPort = await freePort();
    const etcd = new EtcdTestProcess(executable, tempDir, clientPort, peerPort, options.startTimeoutMs ?? 20_000, undefined, {
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.extraArgs ? { extraArgs: options.extraArgs } : {}),
    });
    try {
      await etcd.start();
      return etcd;
    } catch (err) {
      lastError = err;
      await etcd.stop();
    }
  }
  throw lastError;
}

/** A user enableEtcdAuth creates: its own role, with readwrite on every key starting with `prefix`. */
export interface EtcdTestUser {
  readonly name: string;
  readonly password: string;
  readonly prefix: string;
}

/**
 * Turns on etcd's authentication (as `etcdctl user add root; user grant-role root root; auth
 * enable` would): the root user with `rootPassword`, then `users`, each with a role of its name.
 * `tls`: PEM material to reach an etcd with client TLS (a client certificate whose CN is `root`
 * makes the calls as root where etcd has --client-cert-auth; before auth is on it does not matter).
 */
export async function enableEtcdAuth(
  endpoint: string,
  options: { readonly rootPassword: string; readonly users: readonly EtcdTestUser[]; readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer } },
): Promise<void> {
  const { tls } = options;
  const client = new Etcd3({
    hosts: endpoint,
    ...(tls ? { credentials: { rootCertificate: tls.ca, ...(tls.cert ? { certChain: tls.cert } : {}), ...(tls.key ? { privateKey: tls.key } : {}) } } : {}),
  });
  try {
    await client.role('root').create();
    await client.user('root').create(options.rootPassword);
    await client.user('root').addRole('root');
    for (const user of options.users) {
      await client.role(user.name).create();
      await client.role(user.name).grant({ permission: 'Readwrite', range: client.range({ prefix: user.prefix }) });
      await client.user(user.name).create(user.password);
      await client.user(user.name).addRole(user.name);
    }
    await client.auth.authEnable({ deadline: Date.now() + 10_000 });
  } finally {
    client.close();
  }
}

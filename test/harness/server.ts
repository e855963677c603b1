// End-to-end tests start the real daemon with this: `openscheduler dev` in a temporary data dir
// and HOME, on free ports (--http-port 0 --https-port 0; the daemon reports the ports it got in
// <data-dir>/endpoints.json once it is ready), stopped by PID (SIGTERM, then SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readOsctlConfig } from '../../cli/config.js';
import { readEndpoints, type Endpoints } from '../../server/endpoints.js';
import { binArgs, repoRoot } from './bin.js';

export interface ServerProcessOptions {
  /** Default 'sqlite' (the embedded store under the data dir). */
  readonly store?: 'sqlite' | { readonly etcdEndpoints: readonly string[]; readonly etcdPrefix?: string };
  /** More arguments after `dev ...`. */
  readonly extraArgs?: readonly string[];
  /** Extra environment (the child otherwise gets no OPENSCHEDULER_* or JWT_SECRET from the parent). */
  readonly env?: Readonly<Record<string, string>>;
  /** Reuse a data dir (e.g. to restart a server); it is then left in place by stop(). */
  readonly dataDir?: string;
  /** Run dev's local agent (default false: tests start their own agents or none). */
  readonly localAgent?: boolean;
  /** How long to wait for readiness; default 30 s. */
  readonly readyTimeoutMs?: number;
}

export interface ServerProcess {
  readonly httpUrl: string;
  readonly httpsUrl: string;
  readonly dataDir: string;
  readonly kubeconfigPath: string;
  readonly osctlConfigPath: string;
  /** CA of the HTTPS listener. */
  readonly caPath: string;
  readonly adminPasswordPath: string;
  /** host:port of the agent gRPC endpoint (plaintext: dev binds loopback). */
  readonly grpcAddress: string;
  /** The server's join token file, for agents. */
  readonly joinTokenPath: string;
  /** The admin token `dev` wrote into the osctl config. */
  readonly token: string;
  /** The temporary HOME of the process (holds nothing else of interest). */
  readonly home: string;
  readonly pid: number;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /**
   * SIGTERM, then SIGKILL after `graceMs` (default 10 s); resolves with the exit code (128 + signal
   * number when killed by a signal). Removes the temporary directories it made. Idempotent.
   */
  stop(graceMs?: number): Promise<number>;
  /** Sends a signal (e.g. to test a second SIGINT or a crash); does not clean up. */
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number>;
}

const MAX_OUTPUT = 256 * 1024;

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? constants.signals[signal] : 0);
}

/** The environment of a child: the parent's minus the daemon's own settings, plus `extra`. */
export function childEnv(extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('OPENSCHEDULER_') || k === 'JWT_SECRET' || k === 'ALLOWED_ORIGINS' || k === 'OSCTL_CONFIG') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `openscheduler ARGS` to completion (e.g. to check a startup error); kills it after timeoutMs. */
export async function runOpenscheduler(
  args: readonly string[],
  options: { env?: Readonly<Record<string, string>>; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  const child = spawn(process.execPath, binArgs('openscheduler', args), {
    cwd: options.cwd ?? repoRoot,
    env: childEnv(options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, s) => resolve(exitCode(c, s)));
    });
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** Starts `openscheduler dev` and waits until it serves and has written its config files. */
export async function startServerProcess(opts: ServerProcessOptions = {}): Promise<ServerProcess> {
  const home = await mkdtemp(join(tmpdir(), 'os-home-'));
  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? join(home, 'data');
  const osctlConfigPath = join(home, 'osctl', 'config.yaml');
  const storeArgs =
    opts.store === undefined || opts.store === 'sqlite'
      ? []
      : ['--etcd-endpoints', opts.store.etcdEndpoints.join(','), ...(opts.store.etcdPrefix ? ['--etcd-prefix', opts.store.etcdPrefix] : [])];
  const args = ['dev', '--data-dir', dataDir, '--http-port', '0', '--https-port', '0', '--grpc-port', '0', ...(opts.localAgent === true ? [] : ['--no-local-agent']), ...storeArgs, ...(opts.extraArgs ?? [])];
  const child: ChildProcess = spawn(process.execPath, binArgs('openscheduler', args), {
    cwd: repoRoot, // `--import tsx` resolves from here
    env: childEnv({ HOME: home, OSCTL_CONFIG: osctlConfigPath, ...opts.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (d: string): void => {
    output = (output + d).slice(-MAX_OUTPUT);
  };
  child.stdout!.setEncoding('utf8').on('data', append);
  child.stderr!.setEncoding('utf8').on('data', append);
  let done = false;
  const exited = new Promise<number>((resolve) => {
    child.once('close', (code, signal) => {
      done = true;
      resolve(exitCode(code, signal));
    });
  });
  const cleanup = async (): Promise<void> => {
    await rm(home, { recursive: true, force: true });
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
  };
  let stopping: Promise<number> | undefined;
  const stop = (graceMs = 10_000): Promise<number> => {
    stopping ??= (async () => {
      if (!done) child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!done) child.kill('SIGKILL');
      }, graceMs);
      const code = await exited;
      clearTimeout(timer);
      await cleanup();
      return code;
    })();
    return stopping;
  };

  try {
    const pid = child.pid;
    if (pid === undefined) throw new Error('could not start openscheduler');
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
    let endpoints: Endpoints | undefined;
    for (;;) {
      if (done) throw new Error(`openscheduler dev exited with code ${await exited} before it was ready:\n${output}`);
      endpoints = await readEndpoints(dataDir);
      if (endpoints?.pid === pid) break;
      if (Date.now() > deadline) throw new Error(`openscheduler dev was not ready within the timeout:\n${output}`);
      await sleep(50);
    }
    const config = await readOsctlConfig(osctlConfigPath);
    if (!config?.token || !endpoints.kubeconfigPath || !endpoints.caPath) {
      throw new Error(`openscheduler dev did not write its configs:\n${output}`);
    }
    return {
      httpUrl: endpoints.httpUrl,
      httpsUrl: endpoints.httpsUrl,
      dataDir,
      kubeconfigPath: endpoints.kubeconfigPath,
      osctlConfigPath,
      caPath: endpoints.caPath,
      adminPasswordPath: endpoints.adminPasswordPath,
      grpcAddress: endpoints.grpcAddress ?? '',
      joinTokenPath: endpoints.joinTokenPath ?? '',
      token: config.token,
      home,
      pid,
      output: () => output,
      stop,
      kill: (signal) => {
        if (!done) child.kill(signal);
      },
      exited,
    };
  } catch (err) {
    if (!done) child.kill('SIGKILL');
    await exited;
    await cleanup();
    throw err;
  }
}

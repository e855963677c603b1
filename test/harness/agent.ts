// End-to-end tests start real node agents with this: `openscheduler agent` against a server
// started by startServerProcess, authenticated with the server's join token, its state in a
// temporary data dir; stopped by PID (SIGTERM, then SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binArgs, repoRoot } from './bin.js';
import { childEnv } from './server.js';

export interface AgentProcessOptions {
  /** host:port of the server's agent endpoint. */
  readonly grpcAddress: string;
  /** A file holding the token (the server's join token, or a per-node token). */
  readonly tokenFile: string;
  readonly nodeName: string;
  /** Reuse a data dir (e.g. to restart an agent); then left in place by stop(). */
  readonly dataDir?: string;
  readonly extraArgs?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export interface AgentProcess {
  readonly pid: number;
  readonly dataDir: string;
  output(): string;
  /** SIGTERM, then SIGKILL after graceMs (default 15 s); resolves with the exit code. Idempotent. */
  stop(graceMs?: number): Promise<number>;
  /** Sends a signal without waiting or cleaning up (kill -9, -STOP, -CONT). */
  kill(signal: NodeJS.Signals): void;
  readonly exited: Promise<number>;
}

const MAX_OUTPUT = 256 * 1024;

export async function startAgentProcess(opts: AgentProcessOptions): Promise<AgentProcess> {
  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'os-agent-')));
  const args = [
    'agent',
    '--server',
    opts.grpcAddress,
    '--token-file',
    opts.tokenFile,
    '--name',
    opts.nodeName,
    '--data-dir',
    dataDir,
    '--log-format',
    'text',
    // any free port, not the fixed default: several agents run on this host at once
    ...(opts.extraArgs?.includes('--metrics-address') ? [] : ['--metrics-address', '127.0.0.1:0']),
    ...(opts.extraArgs ?? []),
  ];
  const child: ChildProcess = spawn(process.execPath, binArgs('openscheduler', args), {
    cwd: repoRoot,
    env: childEnv({ ...opts.env }),
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
      resolve(code ?? (signal === 'SIGKILL' ? 137 : 143));
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start openscheduler agent');
  let stopping: Promise<number> | undefined;
  return {
    pid,
    dataDir,
    output: () => output,
    stop: (graceMs = 15_000) =>
      (stopping ??= (async () => {
        if (!done) child.kill('SIGTERM');
        const timer = setTimeout(() => {
          if (!done) child.kill('SIGKILL');
        }, graceMs);
        const code = await exited;
        clearTimeout(timer);
        if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
        return code;
      })()),
    kill: (signal) => {
      if (!done) child.kill(signal);
    },
    exited,
  };
}

// Child processes of the run-jobs benchmark (hack/bench-run-jobs.ts forks this with an IPC
// channel), so that the server's CPU and the simulated agents' CPU are each a process of their own.
//
// argv[2] is the role, argv[3] its settings as JSON:
//   server  the settings flags of `openscheduler server` (as bench-server-child.ts takes them):
//           startServer with them, then sends {type:'ready', httpUrl, token, grpcAddress, joinTokenPath};
//           answers {cmd:'heap'} with {type:'heap', heapUsed, rss} after a full GC (when run with --expose-gc).
//   agents  {grpcAddress, tokenFile, count, durationMs, stateRoot, namePrefix}: `count` real Agent
//           instances (HollowDriver named 'process', each task "running" durationMs), node names
//           <namePrefix>-NNN, state dirs under stateRoot (no fsync), then sends {type:'ready'}.
//           Each agent gets its own gRPC connection: grpc-js shares one connection between
//           channels with equal options, so every agent's keepalive time differs by a millisecond.
// Both: {cmd:'stop'} (or the parent going away) shuts everything down, removes what the child
// created (the agents' state root) and exits 0; a failure is printed and exits 1.
import { EventEmitter } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import winston from 'winston';
import { Agent, HollowDriver } from '../agent/index.js';
import type { Logger } from '../controllers/runtime/logger.js';
import { resolveConfig } from '../server/config.js';
import { startServer } from '../server/server.js';

export interface AgentsChildSettings {
  readonly grpcAddress: string;
  readonly tokenFile: string;
  readonly count: number;
  readonly durationMs: number;
  readonly stateRoot: string;
  readonly namePrefix: string;
}

/** Messages a child sends to its parent. */
export type ChildMessage =
  | { readonly type: 'ready'; readonly httpUrl?: string; readonly token?: string; readonly grpcAddress?: string; readonly joinTokenPath?: string }
  | { readonly type: 'failed'; readonly error: string }
  /** The answer to {cmd:'heap'} (server role). */
  | { readonly type: 'heap'; readonly heapUsed: number; readonly rss: number };

/**
 * At most `limit` warnings and errors of each message on stderr (100 agents reconnecting at once
 * would flood it), then a count.
 */
function cappedStderrLogger(prefix: string, limit = 5): Logger {
  const printed = new Map<string, number>();
  let dropped = 0;
  const print = (level: string, message: string, meta?: Record<string, unknown>): void => {
    const n = printed.get(message) ?? 0;
    if (n >= limit) {
      if (++dropped % 1000 === 1) process.stderr.write(`${prefix} ... ${dropped} more warnings/errors suppressed\n`);
      return;
    }
    printed.set(message, n + 1);
    process.stderr.write(`${prefix} ${level}: ${message}${meta ? ` ${JSON.stringify(meta)}` : ''}\n`);
  };
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: (message, meta) => print('warn', message, meta),
    error: (message, meta) => print('error', message, meta),
  };
}

function send(message: ChildMessage): void {
  process.send?.(message);
}

/** Runs `stop` once, on {cmd:'stop'} or when the parent goes away, then exits. */
function onStop(stop: () => Promise<void>): void {
  let stopping = false;
  const run = (): void => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`bench child: shutdown failed: ${err instanceof Error ? err.stack : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('message', (msg: { cmd?: string }) => {
    if (msg?.cmd === 'stop') run();
  });
  process.on('disconnect', run);
}

/** Answers {cmd:'heap'} with the heap after a full GC (the parent starts the server child with --expose-gc). */
function answerHeap(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (msg: { cmd?: string }) => {
    if (msg?.cmd !== 'heap') return;
    gc?.();
    gc?.();
    const { heapUsed, rss } = process.memoryUsage();
    send({ type: 'heap', heapUsed, rss });
  });
}

async function runServer(flags: Record<string, unknown>): Promise<void> {
  // Warnings and errors, and the store's own info lines (file conversion, vacuum passes: the soak reads them).
  const warnOrStore = winston.format((info) => (info.level !== 'info' || String(info.message).startsWith('store: ') ? info : false));
  const logger = winston.createLogger({ level: 'info', format: winston.format.combine(warnOrStore(), winston.format.json()), transports: [new winston.transports.Console()] });
  const config = resolveConfig({ mode: 'server', flags, cwd: process.cwd() });
  const server = await startServer(config.server, { logger });
  onStop(() => server.close());
  answerHeap();
  const { token } = await server.mintToken('admin', 24 * 3600);
  send({ type: 'ready', httpUrl: server.httpUrl, token, grpcAddress: server.grpcAddress, joinTokenPath: server.joinTokenPath });
}

function checkAgentsSettings(s: AgentsChildSettings): void {
  const bad = (field: string, rule: string): never => {
    throw new Error(`agents child settings: ${field}: ${rule}`);
  };
  if (typeof s.grpcAddress !== 'string' || s.grpcAddress === '') bad('grpcAddress', 'must be host:port');
  if (typeof s.tokenFile !== 'string' || s.tokenFile === '') bad('tokenFile', 'must be a path');
  if (!Number.isInteger(s.count) || s.count < 1 || s.count > 5000) bad('count', 'must be an integer in 1..5000');
  if (!Number.isFinite(s.durationMs) || s.durationMs < 0) bad('durationMs', 'must be a number >= 0');
  if (typeof s.stateRoot !== 'string' || !s.stateRoot.startsWith('/')) bad('stateRoot', 'must be an absolute path');
  if (typeof s.namePrefix !== 'string' || !/^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$/.test(s.namePrefix)) bad('namePrefix', 'must be a short DNS-1123 label');
}

async function runAgents(settings: AgentsChildSettings): Promise<void> {
  checkAgentsSettings(settings);
  // An agent waits on its one lifetime AbortSignal for every task it runs (LogShipper.waitDone):
  // with more than 10 tasks at once Node warns of a listener leak, once per agent. Not a leak here.
  EventEmitter.defaultMaxListeners = 10_000;
  await mkdir(settings.stateRoot, { recursive: true, mode: 0o700 });
  const abort = new AbortController();
  const logger = cappedStderrLogger('[bench agents]');
  const drivers: HollowDriver[] = [];
  const runs: Promise<void>[] = [];
  for (let i = 0; i < settings.count; i++) {
    const driver = new HollowDriver({ name: 'process', durationMs: settings.durationMs });
    drivers.push(driver);
    const agent = new Agent({
      servers: [settings.grpcAddress],
      tokenFile: settings.tokenFile,
      nodeName: `${settings.namePrefix}-${String(i).padStart(3, '0')}`,
      labels: { bench: 'hollow' },
      // room for every job at once: placement is not what is measured
      capacity: { cpuMillis: 1_000_000, memoryBytes: 2 ** 40 },
      drivers: [driver],
      stateDir: join(settings.stateRoot, `agent-${i}`),
      stateFsync: false,
      keepaliveTimeMs: 10_000 + i,
      logger,
    });
    runs.push(
      agent.run(abort.signal).catch((err: unknown) => {
        logger.error(`agent ${i} failed`, { error: err instanceof Error ? err.message : String(err) });
      }),
    );
  }
  onStop(async () => {
    abort.abort();
    await Promise.all(runs);
    await Promise.all(drivers.map((d) => d.close()));
    await rm(settings.stateRoot, { recursive: true, force: true });
  });
  send({ type: 'ready' });
}

const role = process.argv[2];
try {
  const settings = JSON.parse(process.argv[3] ?? '{}') as unknown;
  if (role === 'server') await runServer(settings as Record<string, unknown>);
  else if (role === 'agents') await runAgents(settings as AgentsChildSettings);
  else throw new Error(`bench child: role: must be "server" or "agents", got ${JSON.stringify(role)}`);
} catch (err) {
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`bench child (${String(role)}) failed: ${error}\n`);
  send({ type: 'failed', error });
  process.exit(1);
}

// Benchmark helper: runs the real API server in a child process (started by hack/bench.ts with
// --expose-gc and an IPC channel) so that the server's heap is measured apart from the load generator.
// argv[2]: JSON of the settings flags (e.g. {"store":"sqlite", "dataDir": "..."}).
// IPC: sends {ready, httpUrl, token}; answers {cmd:'heap'} with {heapUsed, rss} after a full GC; {cmd:'stop'} exits.
import winston from 'winston';
import { resolveConfig } from '../server/config.js';
import { startServer } from '../server/server.js';

const flags = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const logger = winston.createLogger({ level: 'warn', transports: [new winston.transports.Console()] });
const config = resolveConfig({ mode: 'server', flags, cwd: process.cwd() });
const server = await startServer(config.server, { logger });
const { token } = await server.mintToken('admin', 3600);

const gc = (globalThis as { gc?: () => void }).gc;
process.on('message', (msg: { cmd: string }) => {
  if (msg.cmd === 'heap') {
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    process.send?.({ heapUsed: m.heapUsed, rss: m.rss });
  } else if (msg.cmd === 'stop') {
    void server.close().then(() => process.exit(0));
  }
});
process.send?.({ ready: true, httpUrl: server.httpUrl, token });

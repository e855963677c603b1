// A TCP proxy for network-fault tests: listens on a free loopback port and forwards every
// connection to one target host:port, in a mode the test switches at run time:
// - pass():      forward both ways (the default).
// - blackhole(): accept connections and keep them open, but forward nothing in either direction,
//                existing connections too; bytes sent meanwhile wait (as TCP retransmits them
//                through a partition) and flow once the proxy passes again, unless an endpoint
//                gave up on its connection first. Ends and resets wait too.
// - reset():     RST every open connection (both sides) and answer new ones with an RST.
// - delay(ms):   forward both ways, each chunk held `ms` ms (order kept); from then on.
// The proxy counts connections; close() stops listening and destroys every connection.
import { createServer, connect, type Server, type Socket } from 'node:net';

export type FaultMode = 'pass' | 'blackhole' | 'reset' | 'delay';

export interface FaultProxyOptions {
  /** Where connections go: `host:port`, or `http://host:port` (the scheme is ignored). */
  readonly target: string;
  /** Address to listen on; loopback. Default 127.0.0.1. */
  readonly host?: string;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT` of the proxy: what clients connect to instead of the target. */
  readonly address: string;
  readonly port: number;
  readonly mode: FaultMode;
  /** Connections accepted so far (those reset on accept included). */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  pass(): void;
  blackhole(): void;
  reset(): void;
  /** Forwards with `ms` ms of latency per chunk, both ways (ms >= 0). */
  delay(ms: number): void;
  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void>;
}

type Item = { kind: 'data'; chunk: Buffer; at: number } | { kind: 'end'; at: number } | { kind: 'reset'; at: number };

/** One direction of one connection: reads `from`, queues, writes `to` when the mode allows. */
class Direction {
  private readonly queue: Item[] = [];
  private timer: NodeJS.Timeout | undefined;
  private waitingForDrain = false;
  private lastAt = 0;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly proxy: FaultProxyImpl,
  ) {
    from.on('data', (chunk: Buffer) => this.push({ kind: 'data', chunk, at: 0 }));
    from.on('end', () => this.push({ kind: 'end', at: 0 }));
    // An RST (or any socket error) from this side travels to the other side like data does.
    from.on('error', () => this.push({ kind: 'reset', at: 0 }));
    to.on('drain', () => {
      this.waitingForDrain = false;
      this.pump();
    });
  }

  private push(item: Item): void {
    // Never earlier than the item before it: order is kept when the delay shrinks.
    item.at = Math.max(Date.now() + this.proxy.delayMs, this.lastAt);
    this.lastAt = item.at;
    this.queue.push(item);
    this.pump();
  }

  /** Moves queued items on as far as the mode, their time and the receiver's buffer allow. */
  pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.proxy.mode === 'blackhole' || this.waitingForDrain) {
      this.from.pause();
      return;
    }
    if (!this.from.destroyed) this.from.resume();
    while (this.queue.length > 0) {
      const item = this.queue[0]!;
      const wait = item.at - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), wait);
        return;
      }
      this.queue.shift();
      if (this.to.destroyed) continue;
      if (item.kind === 'end') this.to.end();
      else if (item.kind === 'reset') this.to.resetAndDestroy();
      else if (!this.to.write(item.chunk)) {
        this.waitingForDrain = true;
        this.from.pause();
        return;
      }
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

class Connection {
  private readonly directions: Direction[];

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    proxy: FaultProxyImpl,
  ) {
    this.directions = [new Direction(client, upstream, proxy), new Direction(upstream, client, proxy)];
  }

  pump(): void {
    for (const d of this.directions) d.pump();
  }

  resetBoth(): void {
    for (const d of this.directions) d.stop();
    if (!this.client.destroyed) this.client.resetAndDestroy();
    if (!this.upstream.destroyed) this.upstream.resetAndDestroy();
  }

  destroy(): void {
    for (const d of this.directions) d.stop();
    this.client.destroy();
    this.upstream.destroy();
  }
}

class FaultProxyImpl implements FaultProxy {
  mode: FaultMode = 'pass';
  delayMs = 0;
  accepted = 0;
  private readonly connections = new Set<Connection>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly server: Server,
    readonly port: number,
    readonly host: string,
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get open(): number {
    return this.connections.size;
  }

  pass(): void {
    this.switchTo('pass', 0);
  }

  blackhole(): void {
    this.switchTo('blackhole', this.delayMs);
  }

  reset(): void {
    this.switchTo('reset', 0);
    for (const c of this.connections) c.resetBoth();
    this.connections.clear();
  }

  delay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay: ms must be a number >= 0, got ${String(ms)}`);
    this.switchTo('delay', ms);
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const c of this.connections) c.destroy();
      this.connections.clear();
    });
    return this.closing;
  }

  private switchTo(mode: FaultMode, delayMs: number): void {
    this.mode = mode;
    this.delayMs = delayMs;
    for (const c of this.connections) c.pump();
  }

  private accept(client: Socket): void {
    this.accepted++;
    if (this.mode === 'reset' || this.closing) {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const upstream = connect({ host: this.targetHost, port: this.targetPort, allowHalfOpen: true });
    upstream.setNoDelay(true);
    const connection = new Connection(client, upstream, this);
    this.connections.add(connection);
    let closed = 0;
    const onClose = (): void => {
      if (++closed === 2) this.connections.delete(connection);
    };
    client.once('close', onClose);
    upstream.once('close', onClose);
    connection.pump(); // pauses both sides at once when blackholed
  }
}

function parseTarget(target: string): { host: string; port: number } {
  const match = /^(?:[a-z]+:\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(target);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) throw new Error(`target: must be host:port (optionally with a scheme), got "${target}"`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Starts a proxy on a free port of `host` (default 127.0.0.1) in front of `target`, in pass mode. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const { host: targetHost, port: targetPort } = parseTarget(options.target);
  const host = options.host ?? '127.0.0.1';
  const server = createServer({ pauseOnConnect: true, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy: could not get a port');
  return new FaultProxyImpl(server, address.port, host, targetHost, targetPort);
}

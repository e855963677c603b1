// The fault proxy with plain sockets against a loopback echo server: each mode does what it says
// (pass forwards, blackhole holds existing and new connections and delivers after healing, reset
// sends RSTs, delay adds latency and keeps order), it counts connections, and close() ends all.
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

/** An echo server that also counts the bytes it received. */
interface Echo {
  readonly server: Server;
  readonly port: number;
  received: number;
}

async function startEcho(): Promise<Echo> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      echo.received += chunk.length;
      socket.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const echo: Echo = { server, port: address.port, received: 0 };
  return echo;
}

/** A client socket that collects what it reads and remembers how it ended. */
interface Client {
  readonly socket: Socket;
  text(): string;
  /** Resolves with the error code (e.g. ECONNRESET) or 'end'/'close' when the socket is done. */
  readonly ended: Promise<string>;
  /** Resolves once `text` has been read in full. */
  until(text: string): Promise<void>;
}

async function dial(port: number): Promise<Client> {
  const socket = connect({ host: '127.0.0.1', port });
  let data = '';
  const waiters: (() => void)[] = [];
  socket.setEncoding('utf8').on('data', (d: string) => {
    data += d;
    for (const w of waiters.splice(0)) w();
  });
  const ended = new Promise<string>((resolve) => {
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.once('end', () => resolve('end'));
    socket.once('close', () => resolve('close'));
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const until = async (text: string): Promise<void> => {
    while (!data.includes(text)) {
      await Promise.race([new Promise<void>((r) => waiters.push(r)), ended.then((how) => Promise.reject(new Error(`socket ended (${how}) before "${text}" came; got "${data}"`)))]);
    }
  };
  return { socket, text: () => data, ended, until };
}

/** How long to watch for something that must not happen (no timing is asserted by it). */
const QUIET_MS = 300;

void describe('fault proxy', { timeout: 30_000 }, () => {
  let echo: Echo;
  let proxy: FaultProxy;
  const clients: Client[] = [];
  const open = async (): Promise<Client> => {
    const c = await dial(proxy.port);
    clients.push(c);
    return c;
  };

  before(async () => {
    echo = await startEcho();
    proxy = await startFaultProxy({ target: `http://127.0.0.1:${echo.port}` });
  });
  after(async () => {
    for (const c of clients) c.socket.destroy();
    await proxy.close();
    await new Promise<void>((resolve) => echo.server.close(() => resolve()));
  });

  void it('rejects a bad target and a negative delay, naming the field', async () => {
    await assert.rejects(startFaultProxy({ target: 'no-port' }), /target: must be host:port/);
    assert.throws(() => proxy.delay(-1), /delay: ms must be a number >= 0/);
  });

  void it('pass: forwards both ways and counts connections', async () => {
    const before = proxy.accepted;
    const c = await open();
    c.socket.write('hello');
    await c.until('hello');
    assert.equal(proxy.address, `127.0.0.1:${proxy.port}`);
    assert.equal(proxy.mode, 'pass');
    assert.equal(proxy.accepted, before + 1);
    assert.ok(proxy.open >= 1);
    c.socket.end();
    assert.equal(await c.ended, 'end', 'a FIN travels through');
  });

  void it('blackhole: holds existing and new connections in both directions; healing delivers what waited', async () => {
    const existing = await open();
    existing.socket.write('a');
    await existing.until('a');
    proxy.blackhole();
    assert.equal(proxy.mode, 'blackhole');
    const receivedBefore = echo.received;
    existing.socket.write('held-1');
    const fresh = await open(); // accepted, and kept open
    fresh.socket.write('held-2');
    await sleep(QUIET_MS);
    assert.equal(echo.received, receivedBefore, 'nothing reached the target');
    assert.equal(existing.text(), 'a', 'nothing came back');
    assert.equal(fresh.text(), '');
    assert.equal(existing.socket.destroyed || fresh.socket.destroyed, false, 'connections stay open');

    // the other direction: bytes the target sends while blackholed are held too
    proxy.pass();
    await existing.until('held-1');
    await fresh.until('held-2');
    proxy.blackhole();
    const receivedNow = echo.received;
    existing.socket.write('x');
    await sleep(QUIET_MS);
    assert.equal(echo.received, receivedNow);
    proxy.pass();
    await existing.until('held-1x');
  });

  void it('reset: RSTs open connections and refuses new ones with an RST; pass heals', async () => {
    const c = await open();
    c.socket.write('r');
    await c.until('r');
    proxy.reset();
    assert.equal(await c.ended, 'ECONNRESET');
    const refused = await dial(proxy.port).then(
      (d) => {
        clients.push(d);
        return d.ended;
      },
      (err: NodeJS.ErrnoException) => err.code ?? err.message,
    );
    assert.equal(refused, 'ECONNRESET');
    assert.equal(proxy.open, 0);
    proxy.pass();
    const healed = await open();
    healed.socket.write('ok');
    await healed.until('ok');
  });

  void it('reset after blackhole: the held connections are reset too', async () => {
    const c = await open();
    proxy.blackhole();
    c.socket.write('never');
    proxy.reset();
    assert.equal(await c.ended, 'ECONNRESET');
    proxy.pass();
  });

  void it('delay: adds the latency to each chunk in both directions and keeps their order', async () => {
    const c = await open();
    c.socket.write('warm');
    await c.until('warm');
    proxy.delay(150);
    assert.equal(proxy.mode, 'delay');
    const started = performance.now();
    c.socket.write('slow');
    await c.until('slow');
    const roundTrip = performance.now() - started;
    assert.ok(roundTrip >= 280, `a round trip through two 150 ms delays took ${roundTrip.toFixed(0)} ms`);
    const words = Array.from({ length: 50 }, (_, i) => `<${i}>`);
    for (const w of words) c.socket.write(w);
    proxy.delay(0); // a shorter delay must not overtake what is already queued
    c.socket.write('<end>');
    await c.until('<end>');
    assert.equal(c.text(), `warmslow${words.join('')}<end>`);
    proxy.pass();
  });

  void it('a target that refuses: the client gets a reset', async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const port = (dead.address() as { port: number }).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const toNowhere = await startFaultProxy({ target: `127.0.0.1:${port}` });
    try {
      const c = await dial(toNowhere.port);
      clients.push(c);
      assert.equal(await c.ended, 'ECONNRESET');
    } finally {
      await toNowhere.close();
    }
  });

  void it('close: ends every connection and stops listening', async () => {
    const other = await startFaultProxy({ target: `127.0.0.1:${echo.port}` });
    const c = await dial(other.port);
    clients.push(c);
    c.socket.write('bye');
    await c.until('bye');
    await other.close();
    assert.notEqual(await c.ended, 'open');
    assert.equal(other.open, 0);
    await assert.rejects(dial(other.port), /ECONNREFUSED/);
  });
});

// The REST client and the watch loop against a scripted HTTP server on loopback: paging with
// continue tokens, Status errors, NDJSON watch streams, ERROR events, 410 relists, aborts.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { ApiClient, ApiError, TransportError } from './client.js';
import { followWatch } from './watch-loop.js';

type Handler = (req: http.IncomingMessage, url: URL, res: http.ServerResponse) => void;
let handler: Handler = (_req, _url, res) => res.end();
const requests: string[] = [];
let server: http.Server;
let base: string;

before(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    handler(req, url, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const job = (name: string, rv: string) => ({ apiVersion: 'openscheduler.io/v1', kind: 'Job', metadata: { name, namespace: 'default', resourceVersion: rv } });
const json = (res: http.ServerResponse, code: number, body: unknown): void => {
  res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
};

void test('requests carry the bearer token and Accept; Status errors become ApiError', async () => {
  let auth: string | undefined;
  handler = (req, _url, res) => {
    auth = req.headers.authorization;
    json(res, 404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 404, reason: 'NotFound', message: 'jobs.openscheduler.io "x" not found' });
  };
  const client = new ApiClient({ server: base, token: 'T0K' });
  try {
    await assert.rejects(client.get('/apis/openscheduler.io/v1/namespaces/default/jobs/x'), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.code, 404);
      assert.equal(err.reason, 'NotFound');
      assert.equal(err.message, 'jobs.openscheduler.io "x" not found');
      return true;
    });
    assert.equal(auth, 'Bearer T0K');
    assert.equal(await client.getIfExists('/x'), undefined);
  } finally {
    client.close();
  }
});

void test('unreachable servers, timeouts and bad URLs are TransportErrors with a clear message', async () => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const down = new ApiClient({ server: `http://127.0.0.1:${port}` });
  await assert.rejects(down.get('/apis'), (err: unknown) => err instanceof TransportError && /cannot reach the server at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/.test(err.message));
  down.close();
  handler = () => undefined; // never answers
  const slow = new ApiClient({ server: base, timeoutMs: 200 });
  await assert.rejects(slow.get('/apis'), (err: unknown) => err instanceof TransportError && /no answer from .* within 0\.2s \(GET \/apis\)/.test(err.message));
  slow.close();
  assert.throws(() => new ApiClient({ server: 'ftp://example' }), /the scheme must be http or https/);
  assert.throws(() => new ApiClient({ server: 'not a url' }), /invalid server URL "not a url"/);
});

void test('listPages follows continue tokens with limit=500', async () => {
  handler = (_req, url, res) => {
    const token = url.searchParams.get('continue');
    const page = token === null ? 0 : Number(token);
    json(res, 200, {
      kind: 'JobList',
      apiVersion: 'openscheduler.io/v1',
      metadata: { resourceVersion: '100', ...(page < 2 ? { continue: String(page + 1) } : {}) },
      items: [job(`j${page}`, String(page))],
    });
  };
  requests.length = 0;
  const client = new ApiClient({ server: base });
  const names: string[] = [];
  for await (const page of client.listPages('/jobs', { labelSelector: 'a=b' })) names.push(...page.items.map((i) => i.metadata.name));
  client.close();
  assert.deepEqual(names, ['j0', 'j1', 'j2']);
  assert.deepEqual(requests, ['GET /jobs?labelSelector=a%3Db&limit=500', 'GET /jobs?labelSelector=a%3Db&limit=500&continue=1', 'GET /jobs?labelSelector=a%3Db&limit=500&continue=2']);
});

void test('followWatch: events in order, resumes from the last resourceVersion, relists on 410, stops when asked', async () => {
  let watches = 0;
  handler = (_req, url, res) => {
    if (url.searchParams.get('watch') !== 'true') {
      json(res, 200, { kind: 'JobList', apiVersion: 'openscheduler.io/v1', metadata: { resourceVersion: '50' }, items: [] });
      return;
    }
    watches += 1;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    if (watches === 1) {
      // Two events split across writes, then the server ends the stream.
      res.write(`${JSON.stringify({ type: 'ADDED', object: job('a', '11') })}\n{"type":"MODI`);
      res.end(`FIED","object":${JSON.stringify(job('a', '12'))}}\n`);
    } else if (watches === 2) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 410, reason: 'Gone', message: 'too old' } })}\n`);
    } else {
      res.write(`${JSON.stringify({ type: 'BOOKMARK', object: job('', '60') })}\n`);
      res.write(`${JSON.stringify({ type: 'DELETED', object: job('a', '61') })}\n`);
    }
  };
  requests.length = 0;
  const client = new ApiClient({ server: base });
  const seen: string[] = [];
  let relists = 0;
  await followWatch({
    client,
    path: '/jobs',
    query: { labelSelector: 'x=y' },
    signal: new AbortController().signal,
    resourceVersion: '10',
    relist: async () => {
      relists += 1;
      const list = await client.get<{ metadata: { resourceVersion: string } }>('/jobs');
      return { resourceVersion: list.metadata.resourceVersion, done: false };
    },
    onEvent: (e) => {
      seen.push(`${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`);
      return e.type === 'DELETED';
    },
  });
  client.close();
  assert.deepEqual(seen, ['ADDED a 11', 'MODIFIED a 12', 'DELETED a 61']);
  assert.equal(relists, 1);
  assert.deepEqual(requests, [
    'GET /jobs?labelSelector=x%3Dy&resourceVersion=10&watch=true',
    'GET /jobs?labelSelector=x%3Dy&resourceVersion=12&watch=true',
    'GET /jobs',
    'GET /jobs?labelSelector=x%3Dy&resourceVersion=50&watch=true',
  ]);
});

void test('a watch answered with 410 is an ApiError; aborting an open watch ends it quietly', async () => {
  handler = (_req, url, res) => {
    if (url.searchParams.get('resourceVersion') === '1') {
      json(res, 410, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 410, reason: 'Gone', message: 'too old resource version: 1' });
    } else {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: job('a', '5') })}\n`);
    }
  };
  const client = new ApiClient({ server: base });
  await assert.rejects(
    (async () => {
      for await (const _ of client.watch('/jobs', { resourceVersion: '1' })) assert.fail('no events expected');
    })(),
    (err: unknown) => err instanceof ApiError && err.code === 410,
  );
  const controller = new AbortController();
  const events: string[] = [];
  const started = Date.now();
  for await (const e of client.watch('/jobs', { resourceVersion: '2' }, controller.signal)) {
    events.push(e.object.metadata.name);
    setTimeout(() => controller.abort(), 50);
  }
  client.close();
  assert.deepEqual(events, ['a']);
  assert.ok(Date.now() - started < 2000);
});

// The HTTP surface around the resources: authentication, health, discovery, OpenAPI, body
// limits and parsing errors, store failures and Table output.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { StoreUnavailableError, type Store } from '../store/store.js';
import { JOBS, NODES, TestServer, jobManifest } from './api-test-harness.js';

const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

const BOMB = [
  'apiVersion: openscheduler.io/v1',
  'kind: Job',
  'metadata: {name: bomb}',
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
  'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
  'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
  'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
  'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
  'h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]',
  'i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]',
  'spec: {driver: process, command: [*i]}',
  '',
].join('\n');

void describe('API server', () => {
  let s: TestServer;
  let clock = new Date('2030-01-01T00:00:00Z');
  before(async () => {
    s = await TestServer.start({ now: () => clock });
  });
  after(async () => {
    await s.close();
  });

  void it('serves health without authentication, revealing nothing', async () => {
    for (const path of ['/healthz', '/livez', '/health', '/readyz']) {
      const res = await s.request('GET', path, { token: null });
      assert.equal(res.status, 200, path);
      assert.equal(res.text, 'ok');
    }
  });

  void it('answers 401 Unauthorized without a token or with a bad one, on every route family', async () => {
    const routes: [string, string][] = [
      ['GET', '/api'],
      ['GET', '/apis'],
      ['GET', '/apis/openscheduler.io'],
      ['GET', '/apis/openscheduler.io/v1'],
      ['GET', '/version'],
      ['GET', '/openapi/v2'],
      ['GET', JOBS],
      ['GET', `${JOBS}?watch=true`],
      ['GET', '/apis/openscheduler.io/v1/jobs'],
      ['POST', JOBS],
      ['GET', `${JOBS}/x`],
      ['PUT', `${JOBS}/x`],
      ['PATCH', `${JOBS}/x`],
      ['DELETE', `${JOBS}/x`],
      ['GET', `${JOBS}/x/status`],
      ['GET', NODES],
      ['GET', '/api/v1/namespaces/default/events'],
      ['GET', '/no/such/route'],
    ];
    for (const token of [null, 'wrong-token']) {
      for (const [method, path] of routes) {
        const res = await s.request(method, path, { token, ...(method === 'GET' ? {} : { body: jobManifest('x') }) });
        assert.equal(res.status, 401, `${method} ${path} with ${token}`);
        assert.equal(res.body.kind, 'Status');
        assert.equal(res.body.reason, 'Unauthorized');
      }
    }
    const login = await s.request('POST', '/api/v1/auth/login', { token: null, body: {} });
    assert.equal(login.status, 200, 'auth routes are mounted before the token check');
  });

  void it('serves discovery as kubectl needs it', async () => {
    const api = await s.request('GET', '/api');
    assert.deepEqual(api.body, { kind: 'APIVersions', versions: [], serverAddressByClientCIDRs: [] });
    const apis = await s.request('GET', '/apis');
    assert.equal(apis.body.kind, 'APIGroupList');
    assert.deepEqual(apis.body.groups, [
      {
        name: 'openscheduler.io',
        versions: [{ groupVersion: 'openscheduler.io/v1', version: 'v1' }],
        preferredVersion: { groupVersion: 'openscheduler.io/v1', version: 'v1' },
      },
    ]);
    assert.equal((await s.request('GET', '/apis/openscheduler.io')).body.kind, 'APIGroup');
    const resources = await s.request('GET', '/apis/openscheduler.io/v1');
    assert.equal(resources.body.kind, 'APIResourceList');
    assert.equal(resources.body.groupVersion, 'openscheduler.io/v1');
    const jobs = resources.body.resources.find((r: { name: string }) => r.name === 'jobs');
    assert.deepEqual(
      { ...jobs, verbs: [...jobs.verbs].sort() },
      {
        name: 'jobs',
        singularName: 'job',
        namespaced: true,
        kind: 'Job',
        shortNames: ['osj'],
        verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      },
    );
    const nodes = resources.body.resources.find((r: { name: string }) => r.name === 'nodes');
    assert.equal(nodes.namespaced, false);
    assert.deepEqual(nodes.shortNames, ['osn']);
    assert.ok(resources.body.resources.some((r: { name: string }) => r.name === 'jobs/status'));
    assert.equal((await s.request('GET', '/apis/other.io/v1')).status, 404);
    assert.equal((await s.request('GET', '/version')).body.major, '1');
    assert.equal((await s.request('POST', '/apis', { body: {} })).status, 405);
    assert.equal((await s.request('GET', '/openapi/v3')).status, 404);
  });

  void it('serves /openapi/v2 as protobuf or JSON with an ETag', async () => {
    const proto = await fetch(`${s.url}/openapi/v2?timeout=32s`, {
      headers: { authorization: 'Bearer test-token-0123456789', accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' },
    });
    assert.equal(proto.status, 200);
    assert.equal(proto.headers.get('content-type'), 'application/octet-stream');
    const bytes = Buffer.from(await proto.arrayBuffer());
    assert.ok(bytes.length > 100);
    assert.ok(bytes.includes(Buffer.from('x-kubernetes-group-version-kind')));
    const etag = proto.headers.get('etag');
    assert.ok(etag);
    const cached = await s.request('GET', '/openapi/v2', { headers: { 'if-none-match': etag, accept: 'application/x-protobuf' } });
    assert.equal(cached.status, 304);
    const json = await s.request('GET', '/openapi/v2', { accept: 'application/json' });
    assert.equal(json.status, 200);
    assert.equal(json.body.swagger, '2.0');
  });

  void it('sets security headers with helmet and JSON content types', async () => {
    const res = await s.request('GET', '/apis');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('x-powered-by'), null);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const error = await s.request('GET', `${JOBS}/missing`);
    assert.match(error.headers.get('content-type') ?? '', /^application\/json/);
  });

  void it('answers 413 to bodies over 3 MiB, with or without Content-Length', async () => {
    const big = jobManifest('big');
    const huge = { ...big, metadata: { name: 'big', annotations: { blob: 'x'.repeat(3.2 * 1024 * 1024) } } };
    const res = await s.request('POST', JOBS, { body: huge });
    assert.equal(res.status, 413);
    assert.equal(res.body.reason, 'RequestEntityTooLarge');

    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${s.url}${JOBS}`, {
        method: 'POST',
        headers: { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (response) => {
        let body = '';
        response.on('data', (c: Buffer) => (body += c.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(256 * 1024, 'a');
      for (let i = 0; i < 16; i++) req.write(chunk);
      req.end();
    });
    assert.equal(chunked.status, 413);
    assert.equal(JSON.parse(chunked.body).reason, 'RequestEntityTooLarge');
    assert.equal((await s.request('GET', '/healthz')).status, 200, 'server still fine');
  });

  void it('rejects a YAML "billion laughs" document with 400 in milliseconds', async () => {
    for (const [method, path, contentType] of [
      ['POST', JOBS, 'application/yaml'],
      ['PATCH', `${JOBS}/bomb?fieldManager=m`, 'application/apply-patch+yaml'],
    ] as const) {
      const started = performance.now();
      const res = await s.request(method, path, { raw: BOMB, contentType });
      const elapsed = performance.now() - started;
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.reason, 'BadRequest');
      assert.match(res.body.message, /alias/i);
      assert.ok(elapsed < 500, `took ${elapsed} ms`);
    }
  });

  void it('answers 400 with the parser message to malformed JSON and YAML, and to non-object bodies', async () => {
    const json = await s.request('POST', JOBS, { raw: '{"apiVersion": "openscheduler.io/v1",\n "kind": Job}' });
    assert.equal(json.status, 400);
    assert.equal(json.body.reason, 'BadRequest');
    assert.match(json.body.message, /JSON.*line 2, column 10/);
    const yaml = await s.request('POST', JOBS, { raw: 'metadata:\n  name: [a\nspec: {', contentType: 'application/yaml' });
    assert.equal(yaml.status, 400);
    assert.match(yaml.body.message, /YAML.*line \d+, column \d+/);
    const array = await s.request('POST', JOBS, { body: [jobManifest('arr')] });
    assert.equal(array.status, 400);
    assert.match(array.body.message, /must be an object/);
    const empty = await s.request('POST', JOBS, { raw: '' });
    assert.equal(empty.status, 400);
    const mergeText = await s.request('PATCH', `${JOBS}/x`, { raw: '{', contentType: 'application/merge-patch+json' });
    assert.equal(mergeText.status, 400);
  });

  void it('returns Tables with pre-formatted ages and honours includeObject', async () => {
    clock = new Date('2030-01-01T00:00:00Z');
    await s.request('POST', '/apis/openscheduler.io/v1/namespaces/tbl/jobs', { body: jobManifest('t1', { labels: { team: 'a' } }) });
    clock = new Date('2030-01-01T00:05:30Z');
    const list = await s.request('GET', '/apis/openscheduler.io/v1/namespaces/tbl/jobs?limit=500', { accept: TABLE });
    assert.equal(list.status, 200);
    assert.match(list.headers.get('content-type') ?? '', /^application\/json/);
    const table = list.body;
    assert.equal(table.kind, 'Table');
    assert.equal(table.apiVersion, 'meta.k8s.io/v1');
    assert.match(table.metadata.resourceVersion, /^\d+$/);
    const columns = table.columnDefinitions.map((c: { name: string }) => c.name);
    assert.equal(columns[0], 'Name');
    assert.equal(columns[columns.length - 1], 'Age');
    assert.ok(columns.includes('Phase'));
    for (const c of table.columnDefinitions) assert.deepEqual(Object.keys(c).sort(), ['description', 'format', 'name', 'priority', 'type']);
    assert.equal(table.rows.length, 1);
    const row = table.rows[0];
    assert.equal(row.cells.length, columns.length);
    assert.equal(row.cells[0], 't1');
    assert.equal(row.cells[columns.indexOf('Phase')], 'Pending');
    assert.equal(row.cells[columns.length - 1], '5m30s');
    assert.equal(row.object.kind, 'PartialObjectMetadata');
    assert.equal(row.object.apiVersion, 'meta.k8s.io/v1');
    assert.deepEqual(row.object.metadata.labels, { team: 'a' });
    assert.equal(row.object.metadata.namespace, 'tbl');
    assert.equal(row.object.spec, undefined);

    const full = await s.request('GET', '/apis/openscheduler.io/v1/namespaces/tbl/jobs?includeObject=Object', { accept: TABLE });
    assert.equal(full.body.rows[0].object.kind, 'Job');
    assert.equal(full.body.rows[0].object.spec.driver, 'process');
    const none = await s.request('GET', '/apis/openscheduler.io/v1/namespaces/tbl/jobs?includeObject=None', { accept: TABLE });
    assert.equal(none.body.rows[0].object, undefined);
    const single = await s.request('GET', '/apis/openscheduler.io/v1/namespaces/tbl/jobs/t1', { accept: TABLE });
    assert.equal(single.body.kind, 'Table');
    assert.equal(single.body.rows.length, 1);
    const plain = await s.request('GET', '/apis/openscheduler.io/v1/namespaces/tbl/jobs/t1', { accept: 'application/json' });
    assert.equal(plain.body.kind, 'Job');
  });
});

void describe('API server with a failing store', () => {
  void it('answers 503 ServiceUnavailable quickly when the store is down, and /readyz says so', async () => {
    let down = false;
    const flaky = (store: Store): Store =>
      new Proxy(store, {
        get(target, prop, receiver) {
          const value: unknown = Reflect.get(target, prop, receiver);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (down && prop !== 'close') return Promise.reject(new StoreUnavailableError('store: connection refused'));
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    const s = await TestServer.start({ wrapStore: flaky });
    try {
      assert.equal((await s.request('POST', JOBS, { body: jobManifest('before') })).status, 201);
      down = true;
      for (const [method, path, body] of [
        ['GET', JOBS, undefined],
        ['GET', `${JOBS}/before`, undefined],
        ['POST', JOBS, jobManifest('during')],
        ['DELETE', `${JOBS}/before`, undefined],
        ['GET', `${JOBS}?watch=true`, undefined],
      ] as const) {
        const started = performance.now();
        const res = await s.request(method, path, body === undefined ? {} : { body });
        assert.equal(res.status, 503, `${method} ${path}`);
        assert.equal(res.body.reason, 'ServiceUnavailable');
        assert.doesNotMatch(res.body.message, /connection refused/, 'no internal detail leaks');
        assert.ok(performance.now() - started < 1000);
      }
      const ready = await s.request('GET', '/readyz', { token: null });
      assert.equal(ready.status, 503);
      assert.equal((await s.request('GET', '/healthz', { token: null })).status, 200, 'liveness does not depend on the store');
      down = false;
      assert.equal((await s.request('GET', '/readyz', { token: null })).status, 200);
    } finally {
      await s.close();
    }
  });

  void it('/readyz answers 503 within about a second when the store hangs', async () => {
    let hang = false;
    const hanging = (store: Store): Store =>
      new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'currentRevision' && hang) return () => new Promise(() => undefined);
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const s = await TestServer.start({ wrapStore: hanging });
    try {
      hang = true;
      const started = performance.now();
      const res = await s.request('GET', '/readyz', { token: null });
      const elapsed = performance.now() - started;
      assert.equal(res.status, 503);
      assert.ok(elapsed >= 900 && elapsed < 2000, `${elapsed} ms`);
    } finally {
      await s.close();
    }
  });

  void it('answers 500 InternalError with a generic message to unexpected failures', async () => {
    const broken = (store: Store): Store =>
      new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'get') return () => Promise.reject(new TypeError('secret internal detail'));
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const s = await TestServer.start({ wrapStore: broken });
    try {
      const res = await s.request('GET', `${JOBS}/x`);
      assert.equal(res.status, 500);
      assert.equal(res.body.kind, 'Status');
      assert.equal(res.body.reason, 'InternalError');
      assert.doesNotMatch(res.text, /secret internal detail/);
    } finally {
      await s.close();
    }
  });

  void it('answers 503 when the store has been closed', async () => {
    const s = await TestServer.start();
    try {
      await s.sqlite.close();
      const res = await s.request('GET', JOBS);
      assert.equal(res.status, 503);
      assert.equal(res.body.reason, 'ServiceUnavailable');
    } finally {
      await s.close();
    }
  });
});

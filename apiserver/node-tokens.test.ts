// NodeTokenRegistry on a real SqliteStore, and its REST routes through the API test harness.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite-store.js';
import { TestServer } from './api-test-harness.js';
import { NODE_TOKENS_PREFIX, NodeTokenNotFoundError, NodeTokenRegistry } from './node-tokens.js';
import { InvalidFieldError } from './users.js';

const TOKEN_SHAPE = /^ost_([a-z2-7]{12})\.([A-Za-z0-9_-]{43})$/;

void describe('NodeTokenRegistry', () => {
  let dir: string;
  let store: SqliteStore;
  let clock = Date.parse('2026-01-01T00:00:00Z');
  let registry: NodeTokenRegistry;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-nodetokens-'));
    store = SqliteStore.open({ path: join(dir, 'store.db'), compactIntervalMs: 0 });
    registry = new NodeTokenRegistry(store, { now: () => clock });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('creates a token of the documented shape that verifies as its node', async () => {
    const issued = await registry.create('node-a.example', { description: 'rack 4', createdBy: 'admin' });
    const match = TOKEN_SHAPE.exec(issued.token);
    assert.ok(match, issued.token);
    assert.equal(match[1], issued.id);
    assert.equal(issued.nodeName, 'node-a.example');
    assert.equal(issued.createdAt, '2026-01-01T00:00:00Z');
    assert.equal(issued.expiresAt, undefined);
    assert.deepEqual(await registry.verify(issued.token), { id: issued.id, nodeName: 'node-a.example' });
  });

  void it('stores only the SHA-256 of the secret', async () => {
    const issued = await registry.create('node-s', { createdBy: 'root' });
    const secret = issued.token.split('.')[1]!;
    const kv = await store.get(NODE_TOKENS_PREFIX + issued.id);
    assert.ok(kv);
    assert.ok(!kv.value.includes(secret), 'the secret is stored');
    assert.ok(!kv.value.includes(issued.token));
    const record = JSON.parse(kv.value) as Record<string, unknown>;
    assert.deepEqual(Object.keys(record).sort(), ['createdAt', 'createdBy', 'id', 'nodeName', 'secretHash']);
    assert.equal(record.secretHash, createHash('sha256').update(secret).digest('hex'));
    assert.equal(record.createdBy, 'root');
  });

  void it('a token for node A verifies as node A only; each create gives a new id and secret', async () => {
    const a = await registry.create('node-a');
    const b = await registry.create('node-b');
    assert.notEqual(a.id, b.id);
    assert.notEqual(a.token.split('.')[1], b.token.split('.')[1]);
    assert.equal((await registry.verify(a.token))?.nodeName, 'node-a');
    assert.equal((await registry.verify(b.token))?.nodeName, 'node-b');
    // A's id with B's secret, and B's id with A's secret: neither verifies.
    assert.equal(await registry.verify(`ost_${a.id}.${b.token.split('.')[1]}`), undefined);
    assert.equal(await registry.verify(`ost_${b.id}.${a.token.split('.')[1]}`), undefined);
  });

  void it('rejects a wrong secret and a tampered id', async () => {
    const issued = await registry.create('node-w');
    const [head, secret] = issued.token.split('.') as [string, string];
    const flipped = (secret[0] === 'A' ? 'B' : 'A') + secret.slice(1);
    assert.equal(await registry.verify(`${head}.${flipped}`), undefined);
    const otherId = (issued.id[0] === 'a' ? 'b' : 'a') + issued.id.slice(1);
    assert.equal(await registry.verify(`ost_${otherId}.${secret}`), undefined);
  });

  void it('expired tokens stop verifying; ttl is recorded as expiresAt', async () => {
    const issued = await registry.create('node-e', { ttlSeconds: 60 });
    assert.equal(issued.expiresAt, '2026-01-01T00:01:00Z');
    clock += 59_000;
    assert.equal((await registry.verify(issued.token))?.nodeName, 'node-e');
    clock += 1_000;
    assert.equal(await registry.verify(issued.token), undefined);
    clock = Date.parse('2026-01-01T00:00:00Z');
  });

  void it('revoked tokens stop verifying; revoking an unknown id is NotFound', async () => {
    const issued = await registry.create('node-r');
    assert.ok(await registry.verify(issued.token));
    const revoked = await registry.revoke(issued.id);
    assert.equal(revoked.nodeName, 'node-r');
    assert.equal(await registry.verify(issued.token), undefined);
    await assert.rejects(registry.revoke(issued.id), NodeTokenNotFoundError);
    await assert.rejects(registry.revoke('not-an-id'), NodeTokenNotFoundError);
    await assert.rejects(registry.revoke('../users/admin'), NodeTokenNotFoundError);
  });

  void it('malformed tokens are undefined, never a throw', async () => {
    const issued = await registry.create('node-m');
    const bad: unknown[] = [
      '',
      'ost_',
      'no-dot-at-all',
      issued.token.replace('.', ''),
      issued.token.replace('ost_', 'osx_'),
      issued.token + 'x',
      issued.token.slice(0, -1),
      issued.token.toUpperCase(),
      `${issued.token.slice(0, -1)}é`,
      `ost_${'ä'.repeat(12)}.${'🙂'.repeat(22)}`,
      `${issued.token}\n`,
      'x'.repeat(1_000_000),
      `ost_${issued.id}.${'A'.repeat(100_000)}`,
      `ost_${issued.id}.`,
      `ost_.${issued.token.split('.')[1]}`,
      undefined,
      null,
      42,
      { token: issued.token },
    ];
    for (const token of bad) {
      assert.equal(await registry.verify(token), undefined, `verify(${JSON.stringify(token)?.slice(0, 40)})`);
    }
    assert.ok(await registry.verify(issued.token), 'the real token still verifies');
  });

  void it('list returns every token without secrets, oldest first', async () => {
    const list = await registry.list();
    assert.ok(list.length === 7, String(list.length));
    for (const item of list) {
      assert.equal('secretHash' in item, false);
      assert.equal('token' in item, false);
    }
    const text = JSON.stringify(list);
    assert.ok(!/[0-9a-f]{64}/.test(text), 'a hash leaked into the list');
    const withDescription = list.find((t) => t.nodeName === 'node-a.example');
    assert.equal(withDescription?.description, 'rack 4');
    assert.equal(withDescription?.createdBy, 'admin');
  });

  void it('validates nodeName, ttlSeconds and description, naming the field', async () => {
    const cases: [string, Parameters<NodeTokenRegistry['create']>[1], string][] = [
      ['', {}, 'nodeName'],
      ['Node_A', {}, 'nodeName'],
      ['-a', {}, 'nodeName'],
      ['a'.repeat(254), {}, 'nodeName'],
      ['nödé', {}, 'nodeName'],
      ['ok', { ttlSeconds: 0 }, 'ttlSeconds'],
      ['ok', { ttlSeconds: 1.5 }, 'ttlSeconds'],
      ['ok', { ttlSeconds: -5 }, 'ttlSeconds'],
      ['ok', { ttlSeconds: '60' as unknown as number }, 'ttlSeconds'],
      ['ok', { description: 'x'.repeat(257) }, 'description'],
      ['ok', { description: 'two\nlines' }, 'description'],
      ['ok', { description: 5 as unknown as string }, 'description'],
    ];
    for (const [name, options, field] of cases) {
      await assert.rejects(registry.create(name, options), (err: unknown) => {
        assert.ok(err instanceof InvalidFieldError, String(err));
        assert.equal(err.field, field);
        return true;
      });
    }
    const nameCount = (await registry.list()).filter((t) => t.nodeName === 'ok').length;
    assert.equal(nameCount, 0, 'nothing stored for invalid input');
  });
});

void describe('node token REST routes', () => {
  let server: TestServer;
  const PATH = '/api/v1/nodetokens';

  before(async () => {
    server = await TestServer.start();
  });
  after(async () => {
    await server.close();
  });

  void it('POST creates a token (201, no-store) that the registry verifies for that node', async () => {
    const res = await server.request('POST', PATH, { body: { nodeName: 'worker-1', ttlSeconds: 3600, description: 'first' } });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(res.body.token, TOKEN_SHAPE);
    assert.equal(res.body.nodeName, 'worker-1');
    assert.equal(res.body.description, 'first');
    assert.equal(res.body.createdBy, 'admin');
    assert.equal(typeof res.body.id, 'string');
    assert.equal(typeof res.body.createdAt, 'string');
    assert.equal(Date.parse(res.body.expiresAt) - Date.parse(res.body.createdAt), 3600_000);
    assert.equal(res.body.secretHash, undefined);
    const registry = new NodeTokenRegistry(server.store);
    assert.deepEqual(await registry.verify(res.body.token), { id: res.body.id, nodeName: 'worker-1' });
  });

  void it('GET lists tokens without secrets', async () => {
    const created = await server.request('POST', PATH, { body: { nodeName: 'worker-2' } });
    assert.equal(created.status, 201, created.text);
    const res = await server.request('GET', PATH);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const ids = (res.body.items as { id: string; nodeName: string }[]).map((t) => `${t.id}:${t.nodeName}`);
    assert.ok(ids.includes(`${created.body.id}:worker-2`), ids.join(','));
    assert.ok(!res.text.includes(created.body.token.split('.')[1]), 'the secret is listed');
    assert.ok(!res.text.includes('secretHash'));
  });

  void it('DELETE revokes (200) and then answers 404 Status', async () => {
    const created = await server.request('POST', PATH, { body: { nodeName: 'worker-3' } });
    const registry = new NodeTokenRegistry(server.store);
    assert.ok(await registry.verify(created.body.token));
    const res = await server.request('DELETE', `${PATH}/${created.body.id}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, 'Success');
    assert.equal(await registry.verify(created.body.token), undefined);
    const again = await server.request('DELETE', `${PATH}/${created.body.id}`);
    assert.equal(again.status, 404);
    assert.equal(again.body.kind, 'Status');
    assert.equal(again.body.reason, 'NotFound');
    assert.match(again.body.message, new RegExp(created.body.id));
    const list = await server.request('GET', PATH);
    assert.ok(!(list.body.items as { id: string }[]).some((t) => t.id === created.body.id));
  });

  void it('401 without a token, for every verb', async () => {
    for (const [method, path] of [['GET', PATH], ['POST', PATH], ['DELETE', `${PATH}/abcdefghijkl`]] as const) {
      const res = await server.request(method, path, { token: null, body: method === 'POST' ? { nodeName: 'x' } : undefined });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.body.kind, 'Status');
    }
    const list = await server.request('GET', PATH);
    assert.ok(!(list.body.items as { nodeName: string }[]).some((t) => t.nodeName === 'x'));
  });

  void it('bad input is a 400 Status naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ nodeName: 'Bad_Name' }, 'nodeName'],
      [{}, 'nodeName'],
      [{ nodeName: 7 }, 'nodeName'],
      [{ nodeName: 'ok', ttlSeconds: 0 }, 'ttlSeconds'],
      [{ nodeName: 'ok', ttlSeconds: 'soon' }, 'ttlSeconds'],
      [{ nodeName: 'ok', description: ['x'] }, 'description'],
      [{ nodeName: 'ok', node: 'typo' }, 'node'],
    ];
    for (const [body, field] of cases) {
      const res = await server.request('POST', PATH, { body });
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.equal(res.body.kind, 'Status');
      assert.equal(res.body.details.causes[0].field, field, res.text);
      assert.match(res.body.message, new RegExp(field));
    }
    const notJson = await server.request('POST', PATH, { raw: '{"nodeName":', contentType: 'application/json' });
    assert.equal(notJson.status, 400);
    const array = await server.request('POST', PATH, { body: ['worker'] });
    assert.equal(array.status, 400);
    const yaml = await server.request('POST', PATH, { raw: 'nodeName: a', contentType: 'application/yaml' });
    assert.equal(yaml.status, 415);
    const put = await server.request('PUT', PATH, { body: { nodeName: 'a' } });
    assert.equal(put.status, 405);
  });
});

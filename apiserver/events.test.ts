import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventRecorder } from '../controllers/runtime/event-recorder.js';
import { JOBS, TestServer, jobManifest } from './api-test-harness.js';

void describe('GET /api/v1/[namespaces/NS/]events', () => {
  let server: TestServer;
  let uid: string;

  before(async () => {
    server = await TestServer.start();
    const created = await server.request('POST', JOBS, { body: jobManifest('ev-job') });
    assert.equal(created.status, 201, created.text);
    uid = created.body.metadata.uid;
    const recorder = new EventRecorder(server.store, { component: 'openscheduler' });
    recorder.record(created.body, 'Normal', 'Scheduled', 'assigned to node-1');
    recorder.record(created.body, 'Normal', 'Started', 'attempt 1 started');
    recorder.record({ ...created.body, metadata: { ...created.body.metadata, name: 'other-job', uid: 'u-other' } }, 'Warning', 'Failed', 'boom');
    recorder.record({ apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name: 'node-1', uid: 'u-node' } }, 'Normal', 'NodeReady', 'ready');
    await recorder.close();
  });
  after(async () => {
    await server?.close();
  });

  void it('lists with the exact fieldSelector kubectl describe sends', async () => {
    const selector = encodeURIComponent(`involvedObject.name=ev-job,involvedObject.namespace=default,involvedObject.kind=Job,involvedObject.uid=${uid}`);
    const res = await server.request('GET', `/api/v1/namespaces/default/events?fieldSelector=${selector}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.kind, 'EventList');
    assert.equal(res.body.apiVersion, 'v1');
    assert.match(res.body.metadata.resourceVersion, /^\d+$/);
    assert.deepEqual(res.body.items.map((e: { reason: string }) => e.reason).sort(), ['Scheduled', 'Started']);
    const [first] = res.body.items;
    assert.equal(first.kind, 'Event');
    assert.equal(first.involvedObject.uid, uid);
    assert.match(first.metadata.resourceVersion, /^\d+$/);
    assert.equal(first.source.component, 'openscheduler');

    const wrongUid = await server.request('GET', `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent('involvedObject.name=ev-job,involvedObject.uid=nope')}`);
    assert.equal(wrongUid.status, 200);
    assert.equal(wrongUid.body.items.length, 0);
  });

  void it('lists events of cluster-scoped objects across namespaces (involvedObject.namespace=)', async () => {
    const selector = encodeURIComponent('involvedObject.name=node-1,involvedObject.namespace=,involvedObject.kind=Node,involvedObject.uid=u-node');
    const res = await server.request('GET', `/api/v1/events?fieldSelector=${selector}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.items.length, 1);
    assert.equal(res.body.items[0].reason, 'NodeReady');
    const all = await server.request('GET', '/api/v1/events');
    assert.equal(all.body.items.length, 4);
  });

  void it('pages with limit and continue', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const res = await server.request('GET', `/api/v1/events?limit=3${token ? `&continue=${encodeURIComponent(token)}` : ''}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.body.items.length <= 3);
      seen.push(...res.body.items.map((e: { metadata: { name: string } }) => e.metadata.name));
      token = res.body.metadata.continue;
    } while (token);
    assert.equal(seen.length, 4);
    assert.equal(new Set(seen).size, 4);
  });

  void it('gets one event by name and 404s an unknown one', async () => {
    const list = await server.request('GET', '/api/v1/namespaces/default/events?limit=1');
    const name = list.body.items[0].metadata.name;
    const one = await server.request('GET', `/api/v1/namespaces/default/events/${name}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.metadata.name, name);
    const missing = await server.request('GET', '/api/v1/namespaces/default/events/nope.0');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.kind, 'Status');
    assert.match(missing.body.message, /events "nope.0" not found/);
  });

  void it('rejects bad input with a Status naming the problem', async () => {
    const field = await server.request('GET', '/api/v1/events?fieldSelector=spec.x%3Dy');
    assert.equal(field.status, 400);
    assert.match(field.body.message, /field label not supported: spec\.x/);
    const limit = await server.request('GET', '/api/v1/events?limit=-1');
    assert.equal(limit.status, 400);
    assert.match(limit.body.message, /^limit:/);
    const token = await server.request('GET', '/api/v1/events?continue=garbage!');
    assert.equal(token.status, 400);
    assert.match(token.body.message, /continue/);
    const label = await server.request('GET', '/api/v1/events?labelSelector=a%3Db');
    assert.equal(label.status, 400);
    assert.match(label.body.message, /labelSelector/);
  });

  void it('is read-only and needs authentication', async () => {
    const post = await server.request('POST', '/api/v1/namespaces/default/events', { body: { kind: 'Event' } });
    assert.equal(post.status, 405);
    assert.equal(post.body.reason, 'MethodNotAllowed');
    const anonymous = await server.request('GET', '/api/v1/events', { token: null });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.reason, 'Unauthorized');
  });

  void it('does not advertise v1 in GET /api', async () => {
    const res = await server.request('GET', '/api');
    assert.equal(res.status, 200);
    assert.ok(!JSON.stringify(res.body.versions ?? []).includes('"v1"'), res.text);
  });
});

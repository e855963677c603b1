// Names and selector values that no store key can hold (NUL, longer than the store's key
// limit) are ordinary client errors: 404, 422, 400 or an empty list, never a 500.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JOBS, NODES, TestServer, jobManifest } from './api-test-harness.js';

const LONG = 'a'.repeat(5000);

void describe('names the store cannot hold', () => {
  let s: TestServer;
  before(async () => {
    s = await TestServer.start();
    assert.equal((await s.request('POST', JOBS, { body: jobManifest('present') })).status, 201);
  });
  after(async () => {
    await s.close();
  });

  void it('answers 404 to reads, writes and deletes of such a name', async () => {
    for (const name of ['a%00b', LONG]) {
      for (const path of [`${JOBS}/${name}`, `${JOBS}/${name}/status`, `${NODES}/${name}`]) {
        const got = await s.request('GET', path);
        assert.equal(got.status, 404, `GET ${path.slice(0, 80)}: ${got.text.slice(0, 200)}`);
        assert.equal(got.body.kind, 'Status');
      }
      const put = await s.request('PUT', `${JOBS}/${name}`, { body: { ...jobManifest('x'), metadata: {} } });
      assert.equal(put.status, 404, put.text.slice(0, 200));
      const patch = await s.request('PATCH', `${JOBS}/${name}`, { raw: '{}', contentType: 'application/merge-patch+json' });
      assert.equal(patch.status, 404, patch.text.slice(0, 200));
      const del = await s.request('DELETE', `${JOBS}/${name}`);
      assert.equal(del.status, 404, del.text.slice(0, 200));
    }
  });

  void it('answers 422 to an apply that would create such a name', async () => {
    for (const name of ['a%00b', LONG]) {
      const applied = await s.request('PATCH', `${JOBS}/${name}?fieldManager=t`, {
        raw: JSON.stringify({ apiVersion: 'openscheduler.io/v1', kind: 'Job', spec: jobManifest('x').spec }),
        contentType: 'application/apply-patch+yaml',
      });
      assert.equal(applied.status, 422, applied.text.slice(0, 200));
      assert.equal(applied.body.details.causes[0].field, 'metadata.name');
    }
  });

  void it('lists and watches nothing for such a field selector value', async () => {
    const all = '/apis/openscheduler.io/v1/jobs';
    for (const path of [
      `${JOBS}?fieldSelector=metadata.name%3D${LONG}`,
      `${JOBS}?fieldSelector=metadata.name%3D${'b'.repeat(10_000)}`,
      `${JOBS}?fieldSelector=metadata.name%3Da%00b`,
      `${all}?fieldSelector=metadata.namespace%3Da%00b`,
      `${all}?fieldSelector=metadata.namespace%3D${LONG}`,
      `${all}?fieldSelector=metadata.namespace%3D${LONG},metadata.name%3Dpresent`,
    ]) {
      const list = await s.request('GET', path);
      assert.equal(list.status, 200, `${path.slice(0, 80)}: ${list.text.slice(0, 200)}`);
      assert.deepEqual(list.body.items, []);
    }
    const watch = await s.request('GET', `${JOBS}?watch=true&timeoutSeconds=1&fieldSelector=metadata.name%3Da%00b`);
    assert.equal(watch.status, 200, watch.text.slice(0, 200));
    assert.equal(watch.text, '');
  });

  void it('answers 400 to a forged continue token whose key the store cannot hold', async () => {
    const root = '/registry/openscheduler.io/jobs/default/';
    for (const key of [`${root}a\0`, `${root}${LONG}`, `${root}\ud800`]) {
      const token = Buffer.from(JSON.stringify({ v: 1, rv: 2, key })).toString('base64url');
      const list = await s.request('GET', `${JOBS}?limit=1&continue=${token}`);
      assert.equal(list.status, 400, list.text.slice(0, 200));
      assert.match(list.body.message, /continue/);
    }
  });
});

// CRUD, the status subresource, generation, optimistic concurrency, dryRun and validation,
// against an in-process API server on a real SQLite store.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JOBS, NODES, TestServer, jobManifest } from './api-test-harness.js';

void describe('resource CRUD', () => {
  let s: TestServer;
  before(async () => {
    s = await TestServer.start();
  });
  after(async () => {
    await s.close();
  });

  void it('creates, reads, replaces and deletes a job', async () => {
    const created = await s.request('POST', JOBS, { body: jobManifest('crud', { labels: { team: 'a' } }) });
    assert.equal(created.status, 201);
    assert.match(created.headers.get('content-type') ?? '', /^application\/json/);
    const meta = created.body.metadata;
    assert.equal(meta.namespace, 'default');
    assert.match(meta.uid, /^[0-9a-f-]{36}$/);
    assert.match(meta.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(meta.generation, 1);
    assert.match(meta.resourceVersion, /^\d+$/);
    assert.equal(created.body.spec.workloadType, 'native', 'spec defaulted');
    assert.deepEqual(created.body.status, { phase: 'Pending', attempts: 0 }, 'initial status');

    const got = await s.request('GET', `${JOBS}/crud`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, created.body);

    const stored = await s.store.get('/registry/openscheduler.io/jobs/default/crud');
    assert.ok(stored);
    assert.equal(JSON.parse(stored.value).metadata.resourceVersion, undefined, 'resourceVersion is not stored');
    assert.equal(String(stored.modRevision), meta.resourceVersion);

    const replaced = await s.request('PUT', `${JOBS}/crud`, {
      body: { ...jobManifest('crud', { labels: { team: 'b' }, spec: { args: ['changed'] } }), metadata: { name: 'crud', labels: { team: 'b' }, resourceVersion: meta.resourceVersion } },
    });
    assert.equal(replaced.status, 200);
    assert.deepEqual(replaced.body.metadata.labels, { team: 'b' });
    assert.deepEqual(replaced.body.spec.args, ['changed']);
    assert.equal(replaced.body.metadata.generation, 2);
    assert.equal(replaced.body.metadata.uid, meta.uid);
    assert.equal(replaced.body.metadata.creationTimestamp, meta.creationTimestamp);

    const deleted = await s.request('DELETE', `${JOBS}/crud`, { body: { propagationPolicy: 'Background' } });
    assert.equal(deleted.status, 200);
    assert.equal(deleted.body.metadata.uid, meta.uid);
    const gone = await s.request('GET', `${JOBS}/crud`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.kind, 'Status');
    assert.equal(gone.body.reason, 'NotFound');
    assert.equal(gone.body.message, 'jobs.openscheduler.io "crud" not found');
    assert.deepEqual(gone.body.details, { name: 'crud', group: 'openscheduler.io', kind: 'jobs' });
    const again = await s.request('DELETE', `${JOBS}/crud`);
    assert.equal(again.status, 404);
    assert.equal(again.body.reason, 'NotFound');
  });

  void it('treats null fields in POST and PUT bodies as unset, as Kubernetes does for CRDs', async () => {
    const manifest = jobManifest('nulls', { labels: { a: 'b' } });
    const body = { ...manifest, metadata: { ...manifest.metadata, annotations: null }, spec: { ...manifest.spec, timeoutSeconds: null } };
    const created = await s.request('POST', JOBS, { body });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.metadata.annotations, undefined);
    assert.equal(created.body.spec.timeoutSeconds, undefined);
    const replaced = await s.request('PUT', `${JOBS}/nulls`, { body: { ...body, metadata: { ...body.metadata, labels: null } } });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    assert.equal(replaced.body.metadata.labels, undefined);
  });

  void it('answers 409 AlreadyExists for a second create', async () => {
    assert.equal((await s.request('POST', JOBS, { body: jobManifest('dup') })).status, 201);
    const second = await s.request('POST', JOBS, { body: jobManifest('dup') });
    assert.equal(second.status, 409);
    assert.equal(second.body.reason, 'AlreadyExists');
    assert.equal(second.body.message, 'jobs.openscheduler.io "dup" already exists');
  });

  void it('takes the namespace from the path and rejects a different one', async () => {
    const other = '/apis/openscheduler.io/v1/namespaces/team-b/jobs';
    const ok = await s.request('POST', other, { body: jobManifest('ns-job') });
    assert.equal(ok.status, 201);
    assert.equal(ok.body.metadata.namespace, 'team-b');
    const bad = await s.request('POST', other, { body: { ...jobManifest('ns-job2'), metadata: { name: 'ns-job2', namespace: 'default' } } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /namespace/);
    const invalidNs = await s.request('GET', '/apis/openscheduler.io/v1/namespaces/Bad_NS/jobs');
    assert.equal(invalidNs.status, 400);
  });

  void it('ignores status on create and on main-resource writes; /status changes only status', async () => {
    const body = { ...jobManifest('st'), status: { phase: 'Succeeded' } };
    const created = await s.request('POST', JOBS, { body });
    assert.equal(created.body.status.phase, 'Pending');

    const put = await s.request('PUT', `${JOBS}/st`, { body: { ...jobManifest('st'), status: { phase: 'Failed' } } });
    assert.equal(put.status, 200);
    assert.equal(put.body.status.phase, 'Pending');
    assert.equal(put.body.metadata.resourceVersion, created.body.metadata.resourceVersion, 'nothing changed, nothing written');

    const statusPut = await s.request('PUT', `${JOBS}/st/status`, {
      body: { ...jobManifest('st', { spec: { args: ['ignored'] } }), status: { phase: 'Running', nodeName: 'node-1', attempts: 1 } },
    });
    assert.equal(statusPut.status, 200);
    assert.equal(statusPut.body.status.phase, 'Running');
    assert.deepEqual(statusPut.body.spec.args, ['hello'], 'status writes never change spec');
    assert.equal(statusPut.body.metadata.generation, 1, 'status writes do not bump generation');

    const statusPatch = await s.request('PATCH', `${JOBS}/st/status`, {
      body: { status: { reason: 'Working' }, spec: { args: ['ignored'] } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(statusPatch.status, 200);
    assert.equal(statusPatch.body.status.reason, 'Working');
    assert.equal(statusPatch.body.status.phase, 'Running');
    assert.deepEqual(statusPatch.body.spec.args, ['hello']);

    const mainPatch = await s.request('PATCH', `${JOBS}/st`, {
      body: { status: { phase: 'Failed' }, spec: { args: ['new'] } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(mainPatch.body.status.phase, 'Running', 'main resource writes never change status');
    assert.deepEqual(mainPatch.body.spec.args, ['new']);
    assert.equal(mainPatch.body.metadata.generation, 2);

    const badStatus = await s.request('PUT', `${JOBS}/st/status`, { body: { ...jobManifest('st'), status: { phase: 'Exploded' } } });
    assert.equal(badStatus.status, 422);
    assert.equal(badStatus.body.details.causes[0].field, 'status.phase');

    const getStatus = await s.request('GET', `${JOBS}/st/status`);
    assert.equal(getStatus.status, 200);
    assert.equal(getStatus.body.status.reason, 'Working');
  });

  void it('bumps generation on spec changes only', async () => {
    const created = await s.request('POST', JOBS, { body: jobManifest('gen') });
    assert.equal(created.body.metadata.generation, 1);
    const labelOnly = await s.request('PATCH', `${JOBS}/gen`, {
      body: { metadata: { labels: { x: 'y' } } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(labelOnly.body.metadata.generation, 1);
    const spec = await s.request('PATCH', `${JOBS}/gen`, { body: { spec: { priority: 5 } }, contentType: 'application/merge-patch+json' });
    assert.equal(spec.body.metadata.generation, 2);
    const specAgain = await s.request('PATCH', `${JOBS}/gen`, { body: { spec: { priority: 6 } }, contentType: 'application/merge-patch+json' });
    assert.equal(specAgain.body.metadata.generation, 3);
  });

  void it('answers 409 Conflict to a stale resourceVersion and writes unconditionally without one', async () => {
    const created = await s.request('POST', JOBS, { body: jobManifest('occ') });
    const rv = created.body.metadata.resourceVersion;
    const first = await s.request('PUT', `${JOBS}/occ`, {
      body: { ...jobManifest('occ', { spec: { args: ['one'] } }), metadata: { name: 'occ', resourceVersion: rv } },
    });
    assert.equal(first.status, 200);
    const stale = await s.request('PUT', `${JOBS}/occ`, {
      body: { ...jobManifest('occ', { spec: { args: ['two'] } }), metadata: { name: 'occ', resourceVersion: rv } },
    });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.reason, 'Conflict');
    assert.match(stale.body.message, /the object has been modified/);
    const stalePatch = await s.request('PATCH', `${JOBS}/occ`, {
      body: { metadata: { resourceVersion: rv }, spec: { args: ['three'] } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(stalePatch.status, 409);
    const unconditional = await s.request('PUT', `${JOBS}/occ`, { body: jobManifest('occ', { spec: { args: ['four'] } }) });
    assert.equal(unconditional.status, 200);
    assert.deepEqual(unconditional.body.spec.args, ['four']);
    const mismatch = await s.request('PUT', `${JOBS}/occ`, { body: jobManifest('other') });
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.body.message, /does not match the name on the URL/);
  });

  void it('concurrent merge patches all apply (retried from fresh state)', async () => {
    await s.request('POST', JOBS, { body: jobManifest('race') });
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        s.request('PATCH', `${JOBS}/race`, { body: { metadata: { labels: { [`k${i}`]: 'v' } } }, contentType: 'application/merge-patch+json' }),
      ),
    );
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200]);
    const final = await s.request('GET', `${JOBS}/race`);
    assert.deepEqual(Object.keys(final.body.metadata.labels).sort(), ['k0', 'k1', 'k2', 'k3']);
  });

  void it('does not write when a PUT or merge patch changes nothing', async () => {
    const created = await s.request('POST', JOBS, { body: jobManifest('noop', { labels: { a: 'b' } }) });
    const rv = created.body.metadata.resourceVersion;
    const put = await s.request('PUT', `${JOBS}/noop`, { body: jobManifest('noop', { labels: { a: 'b' } }) });
    assert.equal(put.body.metadata.resourceVersion, rv);
    const patch = await s.request('PATCH', `${JOBS}/noop`, { body: { metadata: { labels: { a: 'b' } } }, contentType: 'application/merge-patch+json' });
    assert.equal(patch.body.metadata.resourceVersion, rv);
    assert.equal((await s.store.get('/registry/openscheduler.io/jobs/default/noop'))?.modRevision, Number(rv));
  });

  void it('honours delete preconditions', async () => {
    const created = await s.request('POST', JOBS, { body: jobManifest('pre') });
    const wrongUid = await s.request('DELETE', `${JOBS}/pre`, { body: { preconditions: { uid: 'nope' } } });
    assert.equal(wrongUid.status, 409);
    assert.match(wrongUid.body.message, /Precondition failed: UID/);
    const wrongRv = await s.request('DELETE', `${JOBS}/pre`, { body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: '1' } } });
    assert.equal(wrongRv.status, 409);
    const ok = await s.request('DELETE', `${JOBS}/pre`, {
      body: { preconditions: { uid: created.body.metadata.uid, resourceVersion: created.body.metadata.resourceVersion } },
    });
    assert.equal(ok.status, 200);
  });

  void it('dryRun=All validates and answers as if done, writing nothing', async () => {
    const before = await s.store.currentRevision();
    const create = await s.request('POST', `${JOBS}?dryRun=All`, { body: jobManifest('dry') });
    assert.equal(create.status, 201);
    assert.equal(create.body.metadata.name, 'dry');
    assert.equal(create.body.spec.workloadType, 'native');
    const invalidCreate = await s.request('POST', `${JOBS}?dryRun=All`, { body: jobManifest('dry', { spec: { driver: 'nope' } }) });
    assert.equal(invalidCreate.status, 422);
    assert.equal((await s.request('GET', `${JOBS}/dry`)).status, 404);
    assert.equal(await s.store.currentRevision(), before);

    await s.request('POST', JOBS, { body: jobManifest('dry2') });
    const rev = await s.store.currentRevision();
    const put = await s.request('PUT', `${JOBS}/dry2?dryRun=All`, { body: jobManifest('dry2', { spec: { args: ['x'] } }) });
    assert.deepEqual(put.body.spec.args, ['x']);
    const patch = await s.request('PATCH', `${JOBS}/dry2?dryRun=All`, { body: { spec: { args: ['y'] } }, contentType: 'application/merge-patch+json' });
    assert.deepEqual(patch.body.spec.args, ['y']);
    const apply = await s.request('PATCH', `${JOBS}/dry2?dryRun=All&fieldManager=m`, {
      raw: 'apiVersion: openscheduler.io/v1\nkind: Job\nmetadata: {name: dry2}\nspec: {driver: process, command: [/bin/true]}\n',
      contentType: 'application/apply-patch+yaml',
    });
    assert.equal(apply.status, 200);
    const del = await s.request('DELETE', `${JOBS}/dry2?dryRun=All`);
    assert.equal(del.status, 200);
    assert.equal(await s.store.currentRevision(), rev, 'no write at all');
    assert.deepEqual((await s.request('GET', `${JOBS}/dry2`)).body.spec.args, ['hello']);
    assert.equal((await s.request('POST', `${JOBS}?dryRun=Some`, { body: jobManifest('dry3') })).status, 400);
  });

  void it('rejects unknown fields and invalid values with 422 naming each field', async () => {
    const unknown = await s.request('POST', JOBS, { body: { ...jobManifest('unk'), spec: { driver: 'process', command: ['/bin/true'], comand: ['x'] } } });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.body.reason, 'Invalid');
    assert.deepEqual(unknown.body.details.causes.map((c: { field: string }) => c.field), ['spec.comand']);
    assert.match(unknown.body.message, /^Job\.openscheduler\.io "unk" is invalid: spec\.comand: /);
    assert.equal(unknown.body.details.kind, 'Job');
    assert.equal(unknown.body.details.group, 'openscheduler.io');
    assert.equal(unknown.body.details.name, 'unk');

    const many = await s.request('POST', JOBS, {
      body: {
        apiVersion: 'openscheduler.io/v1',
        kind: 'Job',
        metadata: { name: 'Bad_Name' },
        spec: { driver: 'process', command: ['/bin/true'], image: 'busybox', timeoutSeconds: -1, env: [{ name: '1x' }] },
      },
    });
    assert.equal(many.status, 422);
    const fields = many.body.details.causes.map((c: { field: string }) => c.field);
    for (const f of ['metadata.name', 'spec.timeoutSeconds', 'spec.env[0].name', 'spec.image']) {
      assert.ok(fields.includes(f), `${f} in ${JSON.stringify(fields)}`);
    }

    const topLevel = await s.request('POST', JOBS, { body: { ...jobManifest('top'), extra: 1 } });
    assert.equal(topLevel.status, 422);
    assert.equal(topLevel.body.details.causes[0].field, 'extra');

    const wrongKind = await s.request('POST', JOBS, { body: { ...jobManifest('wk'), kind: 'Node' } });
    assert.equal(wrongKind.status, 422);
    assert.equal(wrongKind.body.details.causes[0].field, 'kind');
  });

  void it('rejects a dependency cycle at admission', async () => {
    assert.equal((await s.request('POST', JOBS, { body: jobManifest('cyc-a', { spec: { dependsOn: ['cyc-b'] } }) })).status, 201);
    const cycle = await s.request('POST', JOBS, { body: jobManifest('cyc-b', { spec: { dependsOn: ['cyc-a'] } }) });
    assert.equal(cycle.status, 422);
    assert.equal(cycle.body.details.causes[0].field, 'spec.dependsOn');
  });

  void it('serves cluster-scoped nodes without a namespace', async () => {
    const node = { apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name: 'node-1', labels: { disk: 'ssd' } }, spec: {} };
    const created = await s.request('POST', NODES, { body: node });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.metadata.namespace, undefined);
    assert.equal((await s.request('GET', `${NODES}/node-1`)).status, 200);
    assert.equal((await s.request('GET', '/apis/openscheduler.io/v1/namespaces/default/nodes')).status, 404);
    const list = await s.request('GET', NODES);
    assert.equal(list.body.kind, 'NodeList');
    assert.deepEqual(list.body.items.map((n: { metadata: { name: string } }) => n.metadata.name), ['node-1']);
    assert.equal(await s.store.get('/registry/openscheduler.io/nodes/node-1').then((kv) => kv !== undefined), true);
  });

  void it('accepts YAML bodies and generateName', async () => {
    const yaml = await s.request('POST', JOBS, {
      raw: 'apiVersion: openscheduler.io/v1\nkind: Job\nmetadata:\n  generateName: gen-\nspec:\n  driver: process\n  command: [/bin/true]\n',
      contentType: 'application/yaml',
    });
    assert.equal(yaml.status, 201);
    assert.match(yaml.body.metadata.name, /^gen-[a-z0-9]{5}$/);
  });

  void it('answers 404 for unknown resources and 405 for unsupported methods', async () => {
    const unknown = await s.request('GET', '/apis/openscheduler.io/v1/namespaces/default/widgets');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.reason, 'NotFound');
    assert.equal((await s.request('GET', '/nothing/here')).status, 404);
    assert.equal((await s.request('GET', `${JOBS}/x/log`)).status, 404);
    const post = await s.request('POST', `${JOBS}/x`, { body: {} });
    assert.equal(post.status, 405);
    assert.equal(post.body.reason, 'MethodNotAllowed');
    assert.equal((await s.request('POST', '/apis/openscheduler.io/v1/jobs', { body: jobManifest('all') })).status, 405);
  });

  void it('deletes a collection with a label selector', async () => {
    const ns = '/apis/openscheduler.io/v1/namespaces/dc/jobs';
    for (const [name, team] of [['dc1', 'x'], ['dc2', 'x'], ['dc3', 'y']] as const) {
      await s.request('POST', ns, { body: jobManifest(name, { labels: { team } }) });
    }
    const res = await s.request('DELETE', `${ns}?labelSelector=team%3Dx`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.items.map((j: { metadata: { name: string } }) => j.metadata.name).sort(), ['dc1', 'dc2']);
    const left = await s.request('GET', ns);
    assert.deepEqual(left.body.items.map((j: { metadata: { name: string } }) => j.metadata.name), ['dc3']);
  });
});

// PATCH: merge patch, JSON patch, strategic merge (415) and server-side apply.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JOBS, TestServer, jobManifest } from './api-test-harness.js';

const MERGE = 'application/merge-patch+json';
const APPLY = 'application/apply-patch+yaml';

void describe('PATCH', () => {
  let s: TestServer;
  before(async () => {
    s = await TestServer.start();
  });
  after(async () => {
    await s.close();
  });

  void it('merge patch merges maps and deletes with null', async () => {
    await s.request('POST', JOBS, { body: jobManifest('mp', { labels: { a: '1', b: '2' }, spec: { nodeSelector: { disk: 'ssd' } } }) });
    const res = await s.request('PATCH', `${JOBS}/mp`, {
      body: { metadata: { labels: { a: null, c: '3' }, annotations: { note: 'x' } }, spec: { nodeSelector: null, args: ['a', 'b'] } },
      contentType: MERGE,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.metadata.labels, { b: '2', c: '3' });
    assert.deepEqual(res.body.metadata.annotations, { note: 'x' });
    assert.equal(res.body.spec.nodeSelector, undefined);
    assert.deepEqual(res.body.spec.args, ['a', 'b']);
    const labelsGone = await s.request('PATCH', `${JOBS}/mp`, { body: { metadata: { labels: null } }, contentType: MERGE });
    assert.equal(labelsGone.body.metadata.labels, undefined);
    const missing = await s.request('PATCH', `${JOBS}/nope`, { body: { spec: {} }, contentType: MERGE });
    assert.equal(missing.status, 404);
    const invalid = await s.request('PATCH', `${JOBS}/mp`, { body: { spec: { driver: 'nope' } }, contentType: MERGE });
    assert.equal(invalid.status, 422);
    assert.equal(invalid.body.details.causes[0].field, 'spec.driver');
    const notObject = await s.request('PATCH', `${JOBS}/mp`, { body: ['x'], contentType: MERGE });
    assert.equal(notObject.status, 400);
  });

  void it('JSON patch applies operations and fails with 422 on a failed test', async () => {
    await s.request('POST', JOBS, { body: jobManifest('jp') });
    const res = await s.request('PATCH', `${JOBS}/jp`, {
      body: [
        { op: 'test', path: '/spec/args/0', value: 'hello' },
        { op: 'add', path: '/spec/args/-', value: 'world' },
        { op: 'replace', path: '/spec/priority', value: 7 },
        { op: 'add', path: '/metadata/labels', value: { x: 'y' } },
      ],
      contentType: 'application/json-patch+json',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.spec.args, ['hello', 'world']);
    assert.equal(res.body.spec.priority, 7);
    assert.deepEqual(res.body.metadata.labels, { x: 'y' });
    const failed = await s.request('PATCH', `${JOBS}/jp`, {
      body: [{ op: 'test', path: '/spec/args/0', value: 'nope' }, { op: 'remove', path: '/spec/args' }],
      contentType: 'application/json-patch+json',
    });
    assert.equal(failed.status, 422);
    assert.equal(failed.body.details.causes[0].field, 'spec.args[0]');
    const malformed = await s.request('PATCH', `${JOBS}/jp`, { body: [{ op: 'jump', path: '/x' }], contentType: 'application/json-patch+json' });
    assert.equal(malformed.status, 400);
    assert.match(malformed.body.message, /op/);
  });

  void it('answers 415 to strategic merge patch and unknown patch types', async () => {
    await s.request('POST', JOBS, { body: jobManifest('smp') });
    const strategic = await s.request('PATCH', `${JOBS}/smp`, { body: { spec: {} }, contentType: 'application/strategic-merge-patch+json' });
    assert.equal(strategic.status, 415);
    assert.equal(strategic.body.kind, 'Status');
    assert.equal(strategic.body.reason, 'UnsupportedMediaType');
    assert.match(strategic.body.message, /--type merge/);
    assert.equal((await s.request('PATCH', `${JOBS}/smp`, { body: {}, contentType: 'text/plain' })).status, 415);
    assert.equal((await s.request('POST', JOBS, { raw: 'a=b', contentType: 'application/x-www-form-urlencoded' })).status, 415);
  });

  void it('server-side apply creates (201), is idempotent, updates (200) and removes fields it no longer applies', async () => {
    const v1 = [
      'apiVersion: openscheduler.io/v1',
      'kind: Job',
      'metadata:',
      '  name: ssa',
      '  labels: {team: data, tier: gold}',
      'spec:',
      '  driver: process',
      '  command: [/bin/echo]',
      '  args: [one]',
      '  nodeSelector: {disk: ssd}',
      '',
    ].join('\n');
    const missingManager = await s.request('PATCH', `${JOBS}/ssa`, { raw: v1, contentType: APPLY });
    assert.equal(missingManager.status, 400);
    assert.match(missingManager.body.message, /fieldManager/);

    const created = await s.request('PATCH', `${JOBS}/ssa?fieldManager=ci`, { raw: v1, contentType: APPLY });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const rv = created.body.metadata.resourceVersion;
    const entry = created.body.metadata.managedFields[0];
    assert.equal(entry.manager, 'ci');
    assert.equal(entry.operation, 'Apply');
    assert.equal(entry.fieldsType, 'FieldsV1');
    assert.deepEqual(entry.fieldsV1['f:metadata'], { 'f:labels': { 'f:team': {}, 'f:tier': {} } });
    assert.deepEqual(Object.keys(entry.fieldsV1['f:spec']).sort(), ['f:args', 'f:command', 'f:driver', 'f:nodeSelector']);

    const revision = await s.store.currentRevision();
    const again = await s.request('PATCH', `${JOBS}/ssa?fieldManager=ci`, { raw: v1, contentType: APPLY });
    assert.equal(again.status, 200);
    assert.equal(again.body.metadata.resourceVersion, rv, 're-applying writes nothing');
    assert.equal(await s.store.currentRevision(), revision);

    // Someone else sets a field the manifest does not mention: apply keeps it.
    await s.request('PATCH', `${JOBS}/ssa`, { body: { metadata: { annotations: { owner: 'ops' } }, spec: { priority: 3 } }, contentType: MERGE });

    const v2 = v1.replace('  labels: {team: data, tier: gold}', '  labels: {team: data}').replace('  nodeSelector: {disk: ssd}\n', '').replace('[one]', '[two]');
    const updated = await s.request('PATCH', `${JOBS}/ssa?fieldManager=ci`, { raw: v2, contentType: APPLY });
    assert.equal(updated.status, 200);
    assert.deepEqual(updated.body.metadata.labels, { team: 'data' }, 'removed label removed');
    assert.equal(updated.body.spec.nodeSelector, undefined, 'removed field removed');
    assert.deepEqual(updated.body.spec.args, ['two']);
    assert.equal(updated.body.spec.priority, 3, 'fields set by others are kept');
    assert.deepEqual(updated.body.metadata.annotations, { owner: 'ops' });
    assert.equal(updated.body.metadata.generation, 3);
    assert.equal(updated.body.status.phase, 'Pending');
  });

  void it('server-side apply reports conflicts with another manager unless forced', async () => {
    const manifest = (args: string): string =>
      `apiVersion: openscheduler.io/v1\nkind: Job\nmetadata: {name: ssa2}\nspec: {driver: process, command: [/bin/echo], args: [${args}]}\n`;
    assert.equal((await s.request('PATCH', `${JOBS}/ssa2?fieldManager=a`, { raw: manifest('x'), contentType: APPLY })).status, 201);
    const same = await s.request('PATCH', `${JOBS}/ssa2?fieldManager=b`, { raw: manifest('x'), contentType: APPLY });
    assert.equal(same.status, 200, 'same values: shared ownership, no conflict');
    const conflict = await s.request('PATCH', `${JOBS}/ssa2?fieldManager=b`, { raw: manifest('y'), contentType: APPLY });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.reason, 'Conflict');
    assert.deepEqual(conflict.body.details.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "a"', field: '.spec.args' }]);
    const forced = await s.request('PATCH', `${JOBS}/ssa2?fieldManager=b&force=true`, { raw: manifest('y'), contentType: APPLY });
    assert.equal(forced.status, 200);
    assert.deepEqual(forced.body.spec.args, ['y']);
    const owners = forced.body.metadata.managedFields.map((e: { manager: string; fieldsV1: Record<string, Record<string, unknown>> }) => [
      e.manager,
      Object.keys(e.fieldsV1['f:spec'] ?? {}).sort(),
    ]);
    assert.deepEqual(owners, [
      ['a', ['f:command', 'f:driver']],
      ['b', ['f:args', 'f:command', 'f:driver']],
    ]);
  });

  void it('server-side apply validates like any write', async () => {
    const bad = 'apiVersion: openscheduler.io/v1\nkind: Job\nmetadata: {name: ssa3}\nspec: {driver: process, command: [/bin/echo], bogus: 1}\n';
    const res = await s.request('PATCH', `${JOBS}/ssa3?fieldManager=m`, { raw: bad, contentType: APPLY });
    assert.equal(res.status, 422);
    assert.equal(res.body.details.causes[0].field, 'spec.bogus');
    const otherName = await s.request('PATCH', `${JOBS}/ssa3?fieldManager=m`, { raw: bad.replace('ssa3', 'zzz'), contentType: APPLY });
    assert.equal(otherName.status, 400);
  });

  void it('server-side apply accepts the same nulls when it creates as when it updates', async () => {
    const manifest = (name: string): string =>
      `apiVersion: openscheduler.io/v1\nkind: Job\nmetadata:\n  name: ${name}\n  labels: {keep: "1", gone: null}\n  annotations:\n` +
      'spec: {driver: process, command: [/bin/echo], timeoutSeconds: null, retryPolicy: {maxRetries: null}}\n';
    const created = await s.request('PATCH', `${JOBS}/ssa-null?fieldManager=m`, { raw: manifest('ssa-null'), contentType: APPLY });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.body.metadata.labels, { keep: '1' });
    assert.equal(created.body.metadata.annotations, undefined);
    assert.equal(created.body.spec.timeoutSeconds, undefined);
    assert.equal(created.body.spec.retryPolicy.maxRetries, 0, 'defaulted');
    const again = await s.request('PATCH', `${JOBS}/ssa-null?fieldManager=m`, { raw: manifest('ssa-null'), contentType: APPLY });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.metadata.resourceVersion, created.body.metadata.resourceVersion, 'unchanged');
  });
});

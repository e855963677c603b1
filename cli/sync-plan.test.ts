// The planning logic of `osctl sync`: desired objects from files + owned objects from the server → plan,
// including the prune-safety rules.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiObject } from '../api/meta.js';
import {
  type DesiredObject,
  type OwnedObject,
  type PlanInput,
  SOURCE_ANNOTATION,
  SPEC_HASH_ANNOTATION,
  SYNC_HASH_ANNOTATION,
  SYNC_LABEL,
  contentHash,
  isSubset,
  objectIdentity,
  planSync,
  syncedObject,
  validateSyncName,
} from './sync-plan.js';

function manifest(name: string, args: string[] = ['hi']): ApiObject {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default' },
    spec: { driver: 'process', command: ['/bin/echo'], args },
  } as unknown as ApiObject;
}

function desired(name: string, args?: string[], source = `${name}.yaml`): DesiredObject {
  return { identity: objectIdentity('Job', 'default', name), display: `job.openscheduler.io/${name}`, object: syncedObject(manifest(name, args), 's', source) };
}

/** What the server would hold after applying `d`: defaults added, server metadata, a phase. */
function live(d: DesiredObject, phase = 'Running', edit?: (o: Record<string, any>) => void): OwnedObject { // eslint-disable-line @typescript-eslint/no-explicit-any -- test edits arbitrary fields
  const o = structuredClone(d.object) as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- as above
  o.metadata.uid = `uid-${d.identity}`;
  o.metadata.resourceVersion = '7';
  o.spec.workloadType = 'native';
  o.status = { phase };
  edit?.(o);
  return { identity: d.identity, display: d.display, object: o as unknown as ApiObject };
}

function plan(partial: Partial<PlanInput>): { action: string; identity: string }[] {
  const input: PlanInput = { desired: [], owned: [], failedSources: new Set(), prune: true, force: false, maxPruneFraction: 0.5, ...partial };
  const result = planSync(input);
  return result.steps.map((s) => ({ action: s.action, identity: s.identity.split('/').at(-1)! }));
}

void describe('syncedObject', () => {
  void it('adds the sync label, the source and both hashes without touching the manifest', () => {
    const m = manifest('a');
    const o = syncedObject(m, 'prod', 'dir/a.yaml');
    assert.equal(o.metadata.labels?.[SYNC_LABEL], 'prod');
    assert.equal(o.metadata.annotations?.[SOURCE_ANNOTATION], 'dir/a.yaml');
    assert.equal(o.metadata.annotations?.[SPEC_HASH_ANNOTATION], contentHash((m as unknown as { spec: unknown }).spec));
    assert.match(o.metadata.annotations?.[SYNC_HASH_ANNOTATION] ?? '', /^[0-9a-f]{32}$/);
    assert.equal(m.metadata.labels, undefined);
  });

  void it('hashes ignore key order; a moved file changes the sync hash but not the spec hash', () => {
    assert.equal(contentHash({ a: 1, b: [1, { c: 2, d: 3 }] }), contentHash({ b: [1, { d: 3, c: 2 }], a: 1 }));
    const one = syncedObject(manifest('a'), 's', 'a.yaml');
    const moved = syncedObject(manifest('a'), 's', 'sub/a.yaml');
    assert.equal(one.metadata.annotations?.[SPEC_HASH_ANNOTATION], moved.metadata.annotations?.[SPEC_HASH_ANNOTATION]);
    assert.notEqual(one.metadata.annotations?.[SYNC_HASH_ANNOTATION], moved.metadata.annotations?.[SYNC_HASH_ANNOTATION]);
  });

  void it('isSubset compares the fields the manifest sets', () => {
    assert.ok(isSubset({ a: { b: 1 } }, { a: { b: 1, c: 2 }, d: 3 }));
    assert.ok(!isSubset({ a: { b: 1 } }, { a: { b: 2 } }));
    assert.ok(!isSubset({ a: [1, 2] }, { a: [1, 2, 3] }));
  });

  void it('validateSyncName accepts label values only', () => {
    validateSyncName('default');
    validateSyncName('team-a.prod_1');
    assert.throws(() => validateSyncName('-bad'), /--name: "-bad" is not a valid label value/);
    assert.throws(() => validateSyncName('a'.repeat(64)), /--name/);
    assert.throws(() => validateSyncName(''), /--name/);
  });
});

void describe('planSync', () => {
  void it('creates what is missing, leaves what matches, updates what differs or drifted', () => {
    const a = desired('a');
    const b = desired('b');
    const c = desired('c', ['new']);
    const d = desired('d');
    const owned = [live(a), live(desired('c', ['old'])), live(d, 'Running', (o) => (o.spec.args = ['edited by hand']))];
    assert.deepEqual(plan({ desired: [a, b, c, d], owned }), [
      { action: 'unchanged', identity: 'a' },
      { action: 'create', identity: 'b' },
      { action: 'update', identity: 'c' },
      { action: 'update', identity: 'd' },
    ]);
  });

  void it('a finished Job whose spec changed is recreated; unchanged or running ones are not', () => {
    const changed = desired('a', ['v2']);
    const same = desired('b');
    const running = desired('c', ['v2']);
    const failed = desired('d', ['v2']);
    const owned = [live(desired('a', ['v1']), 'Succeeded'), live(same, 'Succeeded'), live(desired('c', ['v1']), 'Running'), live(desired('d', ['v1']), 'Failed')];
    assert.deepEqual(plan({ desired: [changed, same, running, failed], owned }), [
      { action: 'recreate', identity: 'a' },
      { action: 'unchanged', identity: 'b' },
      { action: 'update', identity: 'c' },
      { action: 'recreate', identity: 'd' },
    ]);
  });

  void it('a finished Job that only moved to another file is updated, not re-run', () => {
    const moved = desired('a', ['v1'], 'sub/a.yaml');
    assert.deepEqual(plan({ desired: [moved], owned: [live(desired('a', ['v1']), 'Succeeded')] }), [{ action: 'update', identity: 'a' }]);
  });

  void it('prunes owned objects that are no longer declared, only with prune', () => {
    const a = desired('a');
    const owned = [live(a), live(desired('gone'))];
    assert.deepEqual(plan({ desired: [a], owned }), [
      { action: 'unchanged', identity: 'a' },
      { action: 'prune', identity: 'gone' },
    ]);
    assert.deepEqual(plan({ desired: [a], owned, prune: false }), [{ action: 'unchanged', identity: 'a' }]);
  });

  void it('never prunes the objects of a file that fails to read or parse', () => {
    const a = desired('a');
    const broken = live(desired('b', undefined, 'broken.yaml'));
    const result = planSync({ desired: [a], owned: [live(a), broken, live(desired('c'))], failedSources: new Set(['broken.yaml']), prune: true, force: false, maxPruneFraction: 1 });
    assert.deepEqual(result.steps.map((s) => `${s.action} ${s.display}`), ['unchanged job.openscheduler.io/a', 'prune job.openscheduler.io/c']);
  });

  void it('an empty source prunes nothing without force', () => {
    const owned = [live(desired('a')), live(desired('b'))];
    const refused = planSync({ desired: [], owned, failedSources: new Set(), prune: true, force: false, maxPruneFraction: 1 });
    assert.deepEqual(refused.steps, []);
    assert.match(refused.pruneRefused ?? '', /the source holds no manifests, which would delete all 2 object\(s\).*--force/);
    assert.deepEqual(plan({ desired: [], owned, force: true }), [
      { action: 'prune', identity: 'a' },
      { action: 'prune', identity: 'b' },
    ]);
  });

  void it('a source whose only file is broken is not empty, and its objects stay', () => {
    const owned = [live(desired('a'))];
    const result = planSync({ desired: [], owned, failedSources: new Set(['a.yaml']), prune: true, force: false, maxPruneFraction: 1 });
    assert.deepEqual(result.steps, []);
    assert.equal(result.pruneRefused, undefined);
  });

  void it('refuses to prune more than the set share of the inventory at once without force', () => {
    const keep = desired('k');
    const owned = [live(keep), live(desired('x')), live(desired('y'))];
    const refused = planSync({ desired: [keep], owned, failedSources: new Set(), prune: true, force: false, maxPruneFraction: 0.5 });
    assert.deepEqual(refused.steps.map((s) => s.action), ['unchanged']);
    assert.match(refused.pruneRefused ?? '', /refusing to prune 2 of 3 owned object\(s\): more than --max-prune-fraction 0.5/);
    assert.deepEqual(plan({ desired: [keep], owned, maxPruneFraction: 0.7 }).map((s) => s.action), ['unchanged', 'prune', 'prune']);
    assert.deepEqual(plan({ desired: [keep], owned, force: true }).map((s) => s.action), ['unchanged', 'prune', 'prune']);
    // Exactly the share is allowed.
    assert.deepEqual(plan({ desired: [keep, desired('x')], owned: [...owned, live(desired('z'))], maxPruneFraction: 0.5 }).map((s) => s.action), ['unchanged', 'unchanged', 'prune', 'prune']);
  });

  void it('only objects in the owned list can be pruned (the caller lists by the sync label)', () => {
    const result = planSync({ desired: [desired('a')], owned: [], failedSources: new Set(), prune: true, force: true, maxPruneFraction: 1 });
    assert.deepEqual(result.steps.map((s) => s.action), ['create']);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonPatch, applyMergePatch, parseJsonPatch, PatchError } from './patch.js';

void describe('JSON merge patch (RFC 7386)', () => {
  void it('merges objects, deletes with null and replaces arrays and scalars', () => {
    const target = { a: 'b', c: { d: 'e', f: 'g' }, list: [1, 2] };
    assert.deepEqual(applyMergePatch(target, { a: 'z', c: { f: null, h: 1 }, list: [3] }), {
      a: 'z',
      c: { d: 'e', h: 1 },
      list: [3],
    });
    assert.deepEqual(target, { a: 'b', c: { d: 'e', f: 'g' }, list: [1, 2] }, 'input unchanged');
    assert.deepEqual(applyMergePatch({ a: 1 }, { b: { c: null } }), { a: 1, b: {} });
    assert.deepEqual(applyMergePatch({ a: 1 }, ['x']), ['x']);
  });
});

void describe('JSON patch (RFC 6902)', () => {
  const doc = { spec: { args: ['a', 'b'], env: { x: 1 } } };

  void it('applies add, remove, replace, move, copy and test', () => {
    const ops = parseJsonPatch([
      { op: 'test', path: '/spec/args/0', value: 'a' },
      { op: 'add', path: '/spec/args/1', value: 'inserted' },
      { op: 'add', path: '/spec/args/-', value: 'last' },
      { op: 'replace', path: '/spec/env/x', value: 2 },
      { op: 'copy', from: '/spec/env', path: '/spec/env2' },
      { op: 'move', from: '/spec/env2/x', path: '/spec/moved' },
      { op: 'remove', path: '/spec/args/0' },
      { op: 'add', path: '/spec/a~1b', value: true },
    ]);
    assert.deepEqual(applyJsonPatch(doc, ops), {
      spec: { args: ['inserted', 'b', 'last'], env: { x: 2 }, env2: {}, moved: 2, 'a/b': true },
    });
    assert.deepEqual(doc, { spec: { args: ['a', 'b'], env: { x: 1 } } }, 'input unchanged');
  });

  void it('fails atomically on a failed test or a missing path', () => {
    const failing = parseJsonPatch([
      { op: 'replace', path: '/spec/env/x', value: 5 },
      { op: 'test', path: '/spec/args/0', value: 'nope' },
    ]);
    assert.throws(() => applyJsonPatch(doc, failing), (e: unknown) => e instanceof PatchError && !e.malformed);
    assert.throws(() => applyJsonPatch(doc, parseJsonPatch([{ op: 'remove', path: '/spec/none' }])), PatchError);
    assert.throws(() => applyJsonPatch(doc, parseJsonPatch([{ op: 'add', path: '/spec/args/9', value: 1 }])), PatchError);
  });

  void it('rejects malformed patch documents', () => {
    for (const bad of [{}, [{ op: 'jump', path: '/a' }], [{ op: 'add', path: 'a', value: 1 }], [{ op: 'add', path: '/a' }], [{ op: 'move', path: '/a' }]]) {
      assert.throws(() => parseJsonPatch(bad), (e: unknown) => e instanceof PatchError && e.malformed, JSON.stringify(bad));
    }
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tableRequest } from './table.js';

void describe('table output', () => {
  void it('recognises the Table Accept header kubectl sends', () => {
    const kubectl = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
    assert.deepEqual(tableRequest({ accept: kubectl }, undefined), { apiVersion: 'meta.k8s.io/v1', includeObject: 'Metadata' });
    assert.deepEqual(tableRequest({ accept: kubectl }, 'Object'), { apiVersion: 'meta.k8s.io/v1', includeObject: 'Object' });
    assert.equal(tableRequest({ accept: 'application/json' }, undefined), undefined);
    assert.equal(tableRequest({ accept: 'application/json, application/json;as=Table;v=v1;g=meta.k8s.io' }, undefined), undefined);
    assert.throws(() => tableRequest({ accept: kubectl }, 'All'), /includeObject/);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { humanDuration, tableRequest } from './table.js';

void describe('table output', () => {
  void it('formats ages as kubectl HumanDuration does', () => {
    const s = 1000;
    const cases: [number, string][] = [
      [-5 * s, '<invalid>'],
      [0, '0s'],
      [45 * s, '45s'],
      [119 * s, '119s'],
      [330 * s, '5m30s'],
      [600 * s, '10m'],
      [179 * 60 * s, '179m'],
      [3 * 3600 * s, '3h'],
      [(3 * 3600 + 20 * 60) * s, '3h20m'],
      [30 * 3600 * s, '30h'],
      [2 * 86400 * s, '2d'],
      [(3 * 86400 + 5 * 3600) * s, '3d5h'],
      [100 * 86400 * s, '100d'],
      [(3 * 365 + 10) * 86400 * s, '3y10d'],
      [10 * 365 * 86400 * s, '10y'],
    ];
    for (const [ms, expected] of cases) assert.equal(humanDuration(ms), expected, `${ms} ms`);
  });

  void it('recognises the Table Accept header kubectl sends', () => {
    const kubectl = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
    assert.deepEqual(tableRequest({ accept: kubectl }, undefined), { apiVersion: 'meta.k8s.io/v1', includeObject: 'Metadata' });
    assert.deepEqual(tableRequest({ accept: kubectl }, 'Object'), { apiVersion: 'meta.k8s.io/v1', includeObject: 'Object' });
    assert.equal(tableRequest({ accept: 'application/json' }, undefined), undefined);
    assert.equal(tableRequest({ accept: 'application/json, application/json;as=Table;v=v1;g=meta.k8s.io' }, undefined), undefined);
    assert.throws(() => tableRequest({ accept: kubectl }, 'All'), /includeObject/);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiObject } from '../api/meta.js';
import { ApiError } from './status.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';

const labelsMatch = (selector: string, labels?: Record<string, string>): boolean =>
  matchesLabels(parseLabelSelector(selector), labels);

function badRequestMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected ApiError, got ${String(err)}`);
    assert.equal(err.status.code, 400);
    return err.status.message ?? '';
  }
  assert.fail('expected a 400');
}

void describe('label selectors', () => {
  void it('supports every operator', () => {
    const l = { team: 'data', tier: 'gold', n: '5' };
    assert.equal(labelsMatch('', l), true);
    assert.equal(labelsMatch('team=data', l), true);
    assert.equal(labelsMatch('team==data', l), true);
    assert.equal(labelsMatch('team=web', l), false);
    assert.equal(labelsMatch('team!=web', l), true);
    assert.equal(labelsMatch('missing!=x', l), true, '!= matches when the label is absent');
    assert.equal(labelsMatch('team in (web, data)', l), true);
    assert.equal(labelsMatch('team in (web)', l), false);
    assert.equal(labelsMatch('team notin (web)', l), true);
    assert.equal(labelsMatch('missing notin (web)', l), true);
    assert.equal(labelsMatch('team', l), true);
    assert.equal(labelsMatch('!team', l), false);
    assert.equal(labelsMatch('!missing', l), true);
    assert.equal(labelsMatch('n>4,n<6', l), true);
    assert.equal(labelsMatch('team=data, tier=silver', l), false, 'requirements are ANDed');
    assert.equal(labelsMatch('example.com/app=x', { 'example.com/app': 'x' }), true);
    assert.equal(labelsMatch('team=', { team: '' }), true);
    assert.equal(labelsMatch('team', undefined), false);
  });

  void it('rejects malformed selectors naming the selector', () => {
    for (const bad of ['team in (a', 'team in a', '=x', 'team=a=b', 'team in ()', 'Bad Key=x', 'a>b', 'team ~ x', 'a,,b']) {
      const message = badRequestMessage(() => parseLabelSelector(bad));
      assert.match(message, /labelSelector/, bad);
      assert.ok(message.includes(bad), `message names the selector: ${message}`);
    }
  });
});

void describe('field selectors', () => {
  const supported = new Set(['metadata.name', 'status.phase']);
  const obj = { apiVersion: 'v', kind: 'K', metadata: { name: 'a,b' }, status: { phase: 'Running' } } as ApiObject;
  const extractors = {
    'metadata.name': (o: ApiObject) => o.metadata.name,
    'status.phase': (o: ApiObject) => (o.status as { phase?: string }).phase,
  };

  void it('parses =, == and != with escapes', () => {
    assert.deepEqual(parseFieldSelector('metadata.name=a\\,b,status.phase!=Failed', supported), [
      { field: 'metadata.name', operator: 'equals', value: 'a,b' },
      { field: 'status.phase', operator: 'notEquals', value: 'Failed' },
    ]);
    assert.equal(matchesFields(parseFieldSelector('metadata.name==a\\,b', supported), obj, extractors), true);
    assert.equal(matchesFields(parseFieldSelector('status.phase=Pending', supported), obj, extractors), false);
    assert.equal(matchesFields(parseFieldSelector('status.phase!=Pending', supported), obj, extractors), true);
  });

  void it('rejects unknown fields and malformed terms', () => {
    assert.equal(badRequestMessage(() => parseFieldSelector('spec.foo=x', supported)), 'field label not supported: spec.foo');
    assert.match(badRequestMessage(() => parseFieldSelector('metadata.name', supported)), /fieldSelector/);
  });
});

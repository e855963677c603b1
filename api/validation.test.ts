import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isRfc3339 } from './schema-validator.js';
import {
  absolutePathError,
  FieldErrors,
  formatValue,
  invalid,
  labelValueError,
  MAX_CAUSES,
  parentField,
  qualifiedNameError,
  required,
} from './validation.js';

void describe('validation helpers', () => {
  void it('walks field paths up to the root', () => {
    assert.equal(parentField('spec.env[1].name'), 'spec.env[1]');
    assert.equal(parentField('spec.env[1]'), 'spec.env');
    assert.equal(parentField('spec.env'), 'spec');
    assert.equal(parentField('spec'), '');
  });

  void it('keeps a schema cause and drops semantic causes on the same field or below it', () => {
    const errors = new FieldErrors();
    errors.addSchema(invalid('spec.env[1]', 5, 'must be of type object'));
    errors.add(invalid('spec.env[1].name', 'x', 'duplicate'));
    errors.add(invalid('spec.env[1]', 5, 'other'));
    errors.add(required('spec.image'));
    errors.add(required('spec.image'));
    assert.deepEqual(
      errors.list().map((c) => c.field),
      ['spec.env[1]', 'spec.image'],
    );
  });

  void it('caps the causes it returns', () => {
    const errors = new FieldErrors();
    for (let i = 0; i < MAX_CAUSES + 5; i++) errors.add(required(`spec.f${i}`));
    const list = errors.list();
    assert.equal(list.length, MAX_CAUSES + 1);
    assert.equal(list[MAX_CAUSES]?.reason, 'FieldValueTooMany');
  });

  void it('formats values as kubectl shows them', () => {
    assert.equal(formatValue('a'), '"a"');
    assert.equal(formatValue(5), '5');
    assert.equal(formatValue(null), 'null');
    assert.equal(formatValue(['a']), '["a"]');
    assert.equal(formatValue('x'.repeat(500)).length, 125);
  });

  void it('checks qualified names and label values as Kubernetes does', () => {
    for (const ok of ['app', 'app.kubernetes.io/name', 'a_b.c-d', 'example.com/A1', 'x'.repeat(63)]) assert.equal(qualifiedNameError(ok), undefined, ok);
    for (const bad of ['', '-a', 'a-', 'a b', '/a', 'a/', 'A.com/x', 'a/b/c', 'x'.repeat(64), `${'a'.repeat(254)}/x`]) {
      assert.notEqual(qualifiedNameError(bad), undefined, bad);
    }
    for (const ok of ['', 'v1', 'A.b_c-1']) assert.equal(labelValueError(ok), undefined, ok);
    for (const bad of ['a b', '-a', 'a/b', 'x'.repeat(2049)]) assert.notEqual(labelValueError(bad), undefined, bad);
  });

  void it('checks absolute paths', () => {
    assert.equal(absolutePathError('/srv/data'), undefined);
    assert.equal(absolutePathError('/srv/..data'), undefined);
    assert.match(absolutePathError('srv') ?? '', /absolute/);
    assert.match(absolutePathError('/srv/../etc') ?? '', /'\.\.'/);
    assert.match(absolutePathError('/..') ?? '', /'\.\.'/);
    assert.match(absolutePathError('/a\u0000') ?? '', /NUL/);
  });

  void it('accepts RFC 3339 timestamps only', () => {
    for (const ok of ['2024-01-02T15:04:05Z', '2024-01-02T15:04:05.123456789Z', '2024-01-02t15:04:05+02:00']) assert.ok(isRfc3339(ok), ok);
    for (const bad of ['2024-01-02', '2024-01-02 15:04:05Z', '2024-13-02T15:04:05Z', 'yesterday', '2024-01-02T15:04:05']) assert.ok(!isRfc3339(bad), bad);
  });
});

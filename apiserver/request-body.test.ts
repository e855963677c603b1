import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from './status.js';
import { locateJsonError, parseJson, parseYaml } from './request-body.js';

function status(fn: () => unknown): { code: number; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApiError);
    return { code: err.status.code, message: err.status.message ?? '' };
  }
  assert.fail('expected an error');
}

void describe('request bodies', () => {
  void it('locates JSON syntax errors by line and column', () => {
    assert.deepEqual(locateJsonError('{"a":}'), { offset: 5, message: 'unexpected character "}" looking for the beginning of a value' });
    assert.equal(locateJsonError('[1,2').message, 'unexpected end of input');
    assert.equal(locateJsonError('{"a" 1}').offset, 5);
    const e = status(() => parseJson('{\n  "a": 1,\n  "b": x\n}'));
    assert.equal(e.code, 400);
    assert.match(e.message, /line 3, column 8/);
  });

  void it('parses YAML with line numbers in errors and a small alias budget', () => {
    assert.deepEqual(parseYaml('a: 1\nb: [x, y]\n'), { a: 1, b: ['x', 'y'] });
    const bad = status(() => parseYaml('a: 1\nb: [1, 2\nc: 3'));
    assert.equal(bad.code, 400);
    assert.match(bad.message, /line \d+, column \d+/);
    assert.match(status(() => parseYaml('a: 1\n---\nb: 2')).message, /multiple documents/);
    assert.match(status(() => parseYaml('a: 1\na: 2')).message, /unique/);
  });

  void it('rejects __proto__ keys and deep nesting', () => {
    assert.match(status(() => parseJson('{"metadata":{"__proto__":{"x":1}}}')).message, /__proto__/);
    assert.match(status(() => parseJson('['.repeat(100) + ']'.repeat(100))).message, /nests deeper/);
  });
});

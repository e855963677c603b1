import assert from 'node:assert/strict';
import { test } from 'node:test';
import { age, humanDuration, parseDuration } from './duration.js';

void test('parseDuration accepts Go-style durations and bare seconds', () => {
  assert.equal(parseDuration('60s'), 60_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('1d'), 86_400_000);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('45'), 45_000);
});

void test('parseDuration rejects bad input naming the flag and the rule', () => {
  for (const bad of ['', 'abc', '-5s', '5x', '1m30', 's', '5s ms']) {
    assert.throws(() => parseDuration(bad, '--timeout'), (err: Error) => {
      assert.match(err.message, /^invalid --timeout ".*": expected a non-negative duration such as 30s/);
      return true;
    });
  }
});

void test('humanDuration prints ages as kubectl does', () => {
  const s = 1000;
  const cases: [number, string][] = [
    [-5 * s, '<invalid>'],
    [-500, '0s'],
    [0, '0s'],
    [45 * s, '45s'],
    [119 * s, '119s'],
    [120 * s, '2m'],
    [330 * s, '5m30s'],
    [15 * 60 * s, '15m'],
    [179 * 60 * s, '179m'],
    [3 * 3600 * s, '3h'],
    [(5 * 3600 + 20 * 60) * s, '5h20m'],
    [30 * 3600 * s, '30h'],
    [2 * 86400 * s, '2d'],
    [(3 * 86400 + 4 * 3600) * s, '3d4h'],
    [100 * 86400 * s, '100d'],
    [(3 * 365 + 10) * 86400 * s, '3y10d'],
    [9 * 365 * 86400 * s, '9y'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms} ms`);
});

void test('age of a timestamp relative to now', () => {
  const now = Date.parse('2025-01-01T12:00:00Z');
  assert.equal(age('2025-01-01T11:55:00Z', now), '5m');
  assert.equal(age(undefined, now), '<unknown>');
  assert.equal(age('yesterday', now), '<unknown>');
});

void test('formats ages as kubectl HumanDuration does', () => {
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


import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatCpuMillis,
  formatMemoryBytes,
  parseCpuMillis,
  parseMemoryBytes,
  parseQuantity,
} from './quantity.js';

void describe('quantity', () => {
  void it('parses CPU quantities into millicores (rounded up)', () => {
    const cases: Array<[string | number, number]> = [
      ['500m', 500],
      ['2', 2000],
      ['0.5', 500],
      ['.5', 500],
      ['1.', 1000],
      ['0.1', 100],
      ['0.0001', 1],
      ['1e3', 1000000],
      ['1E3', 1000000],
      ['1e-3', 1],
      ['+2', 2000],
      ['1k', 1000000],
      ['100u', 1],
      ['100n', 1],
      [2, 2000],
      [0.25, 250],
    ];
    for (const [input, millis] of cases) assert.equal(parseCpuMillis(input), millis, `cpu ${String(input)}`);
  });

  void it('parses memory quantities into bytes', () => {
    const cases: Array<[string | number, number]> = [
      ['128Mi', 128 * 2 ** 20],
      ['1Ki', 1024],
      ['1Gi', 2 ** 30],
      ['1.5Gi', 1.5 * 2 ** 30],
      ['16Ti', 16 * 2 ** 40],
      ['1G', 1e9],
      ['1M', 1e6],
      ['1k', 1000],
      ['1e3', 1000],
      ['1E', 1e18],
      ['123', 123],
      ['0.5', 1],
      [134217728, 134217728],
    ];
    for (const [input, bytes] of cases) assert.equal(parseMemoryBytes(input), bytes, `memory ${String(input)}`);
  });

  void it('is exact for decimal fractions', () => {
    assert.deepEqual(parseQuantity('0.1'), { numerator: 1n, denominator: 10n });
    assert.deepEqual(parseQuantity('-1.5Ki'), { numerator: -15n * 1024n, denominator: 10n });
    assert.equal(parseCpuMillis('-1'), -1000);
  });

  void it('rejects garbage without throwing', () => {
    const garbage = ['', 'abc', '1.2.3', '1KiB', '1ki', '1mi', '- 1', '1 ', ' 1', 'e3', '1e', '1e3.5', '0x10', '1_000', 'Infinity', 'NaN', '1e31', '1e-31', '1'.repeat(65)];
    for (const g of garbage) assert.equal(parseQuantity(g), undefined, JSON.stringify(g));
    assert.equal(parseQuantity(Number.NaN), undefined);
    assert.equal(parseQuantity(Number.POSITIVE_INFINITY), undefined);
    assert.equal(parseQuantity({} as unknown as string), undefined);
  });

  void it('treats a bare E as exa and E<n> as an exponent', () => {
    assert.equal(parseMemoryBytes('2E'), 2e18);
    assert.equal(parseMemoryBytes('2E2'), 200);
  });

  void it('formats canonical values', () => {
    assert.equal(formatCpuMillis(500), '500m');
    assert.equal(formatCpuMillis(2000), '2');
    assert.equal(formatMemoryBytes(128 * 2 ** 20), '128Mi');
    assert.equal(formatMemoryBytes(2 ** 30), '1Gi');
    assert.equal(formatMemoryBytes(1500), '1500');
    assert.equal(formatMemoryBytes(0), '0');
  });
});

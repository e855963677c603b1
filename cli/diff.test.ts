import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffLines, unifiedDiff } from './diff.js';

void test('equal texts give no diff', () => {
  assert.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y'), '');
  assert.equal(unifiedDiff('', '', 'x', 'y'), '');
});

void test('a changed line in the middle, with three lines of context', () => {
  const from = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].join('\n') + '\n';
  const to = ['1', '2', '3', '4', 'five', '6', '7', '8', '9'].join('\n') + '\n';
  assert.equal(
    unifiedDiff(from, to, 'live/job', 'merged/job'),
    ['--- live/job', '+++ merged/job', '@@ -2,7 +2,7 @@', ' 2', ' 3', ' 4', '-5', '+five', ' 6', ' 7', ' 8', ''].join('\n'),
  );
});

void test('creation from nothing and deletion to nothing', () => {
  assert.equal(unifiedDiff('', 'a\nb\n', 'x', 'y'), '--- x\n+++ y\n@@ -0,0 +1,2 @@\n+a\n+b\n');
  assert.equal(unifiedDiff('a\n', '', 'x', 'y'), '--- x\n+++ y\n@@ -1 +0,0 @@\n-a\n');
});

void test('distant changes make separate hunks; close ones merge', () => {
  const lines = Array.from({ length: 30 }, (_, i) => `l${i + 1}`);
  const changed = [...lines];
  changed[1] = 'X2';
  changed[25] = 'X26';
  const out = unifiedDiff(lines.join('\n'), changed.join('\n'), 'a', 'b');
  assert.deepEqual(
    out.split('\n').filter((l) => l.startsWith('@@')),
    ['@@ -1,5 +1,5 @@', '@@ -23,7 +23,7 @@'],
  );
  const near = [...lines];
  near[1] = 'X2';
  near[8] = 'X9';
  assert.deepEqual(
    unifiedDiff(lines.join('\n'), near.join('\n'), 'a', 'b').split('\n').filter((l) => l.startsWith('@@')),
    ['@@ -1,12 +1,12 @@'],
  );
});

void test('the edit script is a longest common subsequence (insertions and deletions only where needed)', () => {
  const ops = diffLines(['a', 'b', 'c', 'd'], ['a', 'c', 'd', 'e']);
  assert.deepEqual(
    ops.map((o) => `${o.kind}${o.line}`),
    [' a', '-b', ' c', ' d', '+e'],
  );
  const swapped = diffLines(['x', 'y'], ['y', 'x']);
  assert.equal(swapped.filter((o) => o.kind === ' ').length, 1);
  // Applying the script to the old text yields the new one.
  const a = ['p', 'q', 'r', 's', 't', 'u'];
  const b = ['q', 'r', 'X', 't', 'u', 'v', 'p'];
  const script = diffLines(a, b);
  assert.deepEqual(script.filter((o) => o.kind !== '+').map((o) => o.line), a);
  assert.deepEqual(script.filter((o) => o.kind !== '-').map((o) => o.line), b);
});

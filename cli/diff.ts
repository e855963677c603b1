// A small line diff (longest common subsequence) printed in unified format, for `osctl diff`.

type Op = { kind: ' ' | '-' | '+'; line: string };

/** Above this many cells the LCS table is not built; the changed middle is shown as replaced. */
const MAX_LCS_CELLS = 4_000_000;

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** The edit script turning `a` into `b`: common prefix/suffix trimmed, LCS on the middle. */
export function diffLines(a: readonly string[], b: readonly string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA -= 1;
    endB -= 1;
  }
  const ops: Op[] = a.slice(0, start).map((line) => ({ kind: ' ', line }));
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  const n = midA.length;
  const m = midB.length;
  if (n * m > MAX_LCS_CELLS) {
    ops.push(...midA.map((line): Op => ({ kind: '-', line })), ...midB.map((line): Op => ({ kind: '+', line })));
  } else {
    // lcs[i][j]: length of the LCS of midA[i..] and midB[j..], as one flat array.
    const width = m + 1;
    const lcs = new Uint32Array((n + 1) * width);
    for (let i = n - 1; i >= 0; i -= 1) {
      for (let j = m - 1; j >= 0; j -= 1) {
        lcs[i * width + j] =
          midA[i] === midB[j]
            ? (lcs[(i + 1) * width + j + 1] ?? 0) + 1
            : Math.max(lcs[(i + 1) * width + j] ?? 0, lcs[i * width + j + 1] ?? 0);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && midA[i] === midB[j]) {
        ops.push({ kind: ' ', line: midA[i] ?? '' });
        i += 1;
        j += 1;
      } else if (i < n && (j === m || (lcs[(i + 1) * width + j] ?? 0) >= (lcs[i * width + j + 1] ?? 0))) {
        // Deletions before insertions, as diff -u prints them.
        ops.push({ kind: '-', line: midA[i] ?? '' });
        i += 1;
      } else {
        ops.push({ kind: '+', line: midB[j] ?? '' });
        j += 1;
      }
    }
  }
  ops.push(...a.slice(endA).map((line): Op => ({ kind: ' ', line })));
  return ops;
}

function range(start: number, count: number): string {
  // Unified format: an empty range is shown at the line before it.
  if (count === 0) return `${start},0`;
  return count === 1 ? `${start}` : `${start},${count}`;
}

/**
 * A unified diff of two texts with `context` lines around each change (default 3),
 * headed `--- fromName` / `+++ toName`; the empty string when the texts are equal.
 */
export function unifiedDiff(from: string, to: string, fromName: string, toName: string, context = 3): string {
  const ops = diffLines(splitLines(from), splitLines(to));
  const changed = ops.map((op, index) => (op.kind === ' ' ? -1 : index)).filter((index) => index >= 0);
  if (changed.length === 0) return '';
  const out: string[] = [`--- ${fromName}`, `+++ ${toName}`];
  // Group changes whose context windows touch into hunks.
  let hunkStart = 0;
  while (hunkStart < changed.length) {
    let hunkEnd = hunkStart;
    while (hunkEnd + 1 < changed.length && (changed[hunkEnd + 1] ?? 0) - (changed[hunkEnd] ?? 0) <= 2 * context + 1) {
      hunkEnd += 1;
    }
    const first = Math.max(0, (changed[hunkStart] ?? 0) - context);
    const last = Math.min(ops.length - 1, (changed[hunkEnd] ?? 0) + context);
    // Line numbers in a and b where the hunk starts.
    let lineA = 1;
    let lineB = 1;
    for (let k = 0; k < first; k += 1) {
      const kind = ops[k]?.kind;
      if (kind !== '+') lineA += 1;
      if (kind !== '-') lineB += 1;
    }
    const body = ops.slice(first, last + 1);
    const countA = body.filter((op) => op.kind !== '+').length;
    const countB = body.filter((op) => op.kind !== '-').length;
    out.push(`@@ -${range(countA === 0 ? lineA - 1 : lineA, countA)} +${range(countB === 0 ? lineB - 1 : lineB, countB)} @@`);
    for (const op of body) out.push(`${op.kind}${op.line}`);
    hunkStart = hunkEnd + 1;
  }
  return `${out.join('\n')}\n`;
}

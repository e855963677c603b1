// Pure layout of a small DAG, left to right: layer = longest path from a root, order within a
// layer by name, then barycenter sweeps to reduce crossings. No DOM; deterministic.

/** An edge `from` → `to`: `from` must finish before `to` (to dependsOn from). */
export interface DagEdge {
  readonly from: string;
  readonly to: string;
}

export interface DagMetrics {
  readonly boxWidth: number;
  readonly boxHeight: number;
  /** Horizontal space between layers (where the edges run). */
  readonly layerGap: number;
  /** Vertical space between boxes of one layer. */
  readonly rowGap: number;
  readonly margin: number;
}

export const DEFAULT_DAG_METRICS: DagMetrics = { boxWidth: 190, boxHeight: 44, layerGap: 64, rowGap: 14, margin: 8 };

export interface PlacedBox {
  readonly id: string;
  readonly layer: number;
  /** Top-left corner. */
  readonly x: number;
  readonly y: number;
}

export interface PlacedEdge extends DagEdge {
  /** SVG path data: a smooth curve from the right middle of `from` to the left middle of `to`. */
  readonly path: string;
}

export interface DagLayout {
  readonly boxes: readonly PlacedBox[];
  readonly edges: readonly PlacedEdge[];
  readonly width: number;
  readonly height: number;
}

const SWEEPS = 2;

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Lays out `ids` and the `edges` between them (edges naming unknown ids, self-loops and
 * duplicates are ignored; a cycle, which admission rejects anyway, is broken where found).
 */
export function layoutDag(ids: readonly string[], edges: readonly DagEdge[], metrics: DagMetrics = DEFAULT_DAG_METRICS): DagLayout {
  const known = new Set(ids);
  const preds = new Map<string, string[]>();
  const succs = new Map<string, string[]>();
  for (const id of known) {
    preds.set(id, []);
    succs.set(id, []);
  }
  const kept: DagEdge[] = [];
  const seen = new Set<string>();
  for (const edge of edges) {
    const key = `${edge.from}\u0000${edge.to}`;
    if (!known.has(edge.from) || !known.has(edge.to) || edge.from === edge.to || seen.has(key)) continue;
    seen.add(key);
    kept.push(edge);
    preds.get(edge.to)?.push(edge.from);
    succs.get(edge.from)?.push(edge.to);
  }

  // Layer: longest path from a root (memoized DFS over predecessors; a back edge counts as none).
  const layerOf = new Map<string, number>();
  const visiting = new Set<string>();
  const layer = (id: string): number => {
    const done = layerOf.get(id);
    if (done !== undefined) return done;
    if (visiting.has(id)) return -1;
    visiting.add(id);
    let value = 0;
    for (const p of preds.get(id) ?? []) value = Math.max(value, layer(p) + 1);
    visiting.delete(id);
    layerOf.set(id, value);
    return value;
  };
  const sortedIds = [...known].sort(byName);
  for (const id of sortedIds) layer(id);

  const layers: string[][] = [];
  for (const id of sortedIds) {
    const l = layerOf.get(id) ?? 0;
    while (layers.length <= l) layers.push([]);
    layers[l]?.push(id);
  }

  // Barycenter sweeps: order each layer by the mean position of its neighbours already placed.
  const position = new Map<string, number>();
  const remember = (row: readonly string[]): void => row.forEach((id, i) => position.set(id, i));
  layers.forEach(remember);
  const reorder = (row: string[], neighbours: Map<string, string[]>): void => {
    const key = new Map<string, number>();
    row.forEach((id, i) => {
      const around = (neighbours.get(id) ?? []).map((n) => position.get(n) ?? 0);
      key.set(id, around.length === 0 ? i : around.reduce((a, b) => a + b, 0) / around.length);
    });
    row.sort((a, b) => (key.get(a) ?? 0) - (key.get(b) ?? 0) || byName(a, b));
    remember(row);
  };
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    for (let l = 1; l < layers.length; l++) reorder(layers[l] ?? [], preds);
    for (let l = layers.length - 2; l >= 0; l--) reorder(layers[l] ?? [], succs);
  }

  const { boxWidth, boxHeight, layerGap, rowGap, margin } = metrics;
  const columnHeight = (count: number): number => count * boxHeight + Math.max(0, count - 1) * rowGap;
  const tallest = Math.max(0, ...layers.map((row) => columnHeight(row.length)));
  const boxes: PlacedBox[] = [];
  const at = new Map<string, PlacedBox>();
  layers.forEach((row, l) => {
    const top = margin + (tallest - columnHeight(row.length)) / 2;
    row.forEach((id, i) => {
      const box = { id, layer: l, x: margin + l * (boxWidth + layerGap), y: top + i * (boxHeight + rowGap) };
      boxes.push(box);
      at.set(id, box);
    });
  });

  const placedEdges: PlacedEdge[] = [];
  for (const edge of kept) {
    const a = at.get(edge.from);
    const b = at.get(edge.to);
    if (a === undefined || b === undefined) continue;
    const x1 = a.x + boxWidth;
    const y1 = a.y + boxHeight / 2;
    const x2 = b.x;
    const y2 = b.y + boxHeight / 2;
    const bend = Math.max(24, Math.abs(x2 - x1) / 2);
    placedEdges.push({ ...edge, path: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}` });
  }

  const width = layers.length === 0 ? 0 : 2 * margin + layers.length * boxWidth + (layers.length - 1) * layerGap;
  return { boxes, edges: placedEdges, width, height: layers.length === 0 ? 0 : 2 * margin + tallest };
}

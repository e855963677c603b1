// Reading a Prometheus text exposition in tests: parse-prometheus-text-format parses it (and
// rejects malformed lines) for counters and gauges; it merges labelled histogram series into
// one, so histograms are read from their `_count` and `_sum` lines here instead.
import assert from 'node:assert/strict';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';

export interface Exposition {
  readonly text: string;
  readonly families: ReadonlyMap<string, ParsedFamily>;
}

export interface HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly count: number;
  readonly sum: number;
}

export function parseExposition(text: string): Exposition {
  const families = new Map<string, ParsedFamily>();
  for (const family of parsePrometheusTextFormat(text)) families.set(family.name, family);
  return { text, families };
}

/** GET `url` (with a bearer token if given); the exposition when it answers 200. */
export async function scrape(url: string, token?: string): Promise<{ status: number; contentType: string; exposition: Exposition }> {
  const res = await fetch(url, { headers: token !== undefined ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', exposition: parseExposition(res.status === 200 ? text : '') };
}

export function family(exposition: Exposition, name: string): ParsedFamily {
  const found = exposition.families.get(name);
  assert.ok(found, `family ${name} is exposed`);
  return found;
}

function matches(labels: Readonly<Record<string, string>> | undefined, wanted: Readonly<Record<string, string>>): boolean {
  return Object.entries(wanted).every(([k, v]) => labels?.[k] === v);
}

/** The value of the one counter/gauge sample of `name` whose labels include `labels`. */
export function value(exposition: Exposition, name: string, labels: Readonly<Record<string, string>> = {}): number {
  const samples = family(exposition, name).metrics;
  const found = samples.filter((m) => matches(m.labels, labels));
  assert.equal(found.length, 1, `one ${name} sample with ${JSON.stringify(labels)}; have ${JSON.stringify(samples.map((m) => m.labels ?? {}))}`);
  return Number(found[0]!.value);
}

/** Every series of histogram `name`, from its _count and _sum lines. */
export function histogram(exposition: Exposition, name: string): HistogramSeries[] {
  assert.equal(family(exposition, name).type, 'HISTOGRAM', `${name} is a histogram`);
  const series = new Map<string, { labels: Record<string, string>; count: number; sum: number }>();
  const line = new RegExp(`^${name}_(count|sum)(?:\\{(.*)\\})? (\\S+)$`);
  for (const text of exposition.text.split('\n')) {
    const m = line.exec(text);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const key = JSON.stringify(Object.entries(labels).sort());
    const entry = series.get(key) ?? { labels, count: 0, sum: 0 };
    entry[m[1] as 'count' | 'sum'] = Number(m[3]);
    series.set(key, entry);
  }
  return [...series.values()];
}

/** The one series of histogram `name` whose labels include `labels`. */
export function histogramSeries(exposition: Exposition, name: string, labels: Readonly<Record<string, string>> = {}): HistogramSeries {
  const all = histogram(exposition, name);
  const found = all.filter((s) => matches(s.labels, labels));
  assert.equal(found.length, 1, `one ${name} series with ${JSON.stringify(labels)}; have ${JSON.stringify(all.map((s) => s.labels))}`);
  return found[0]!;
}

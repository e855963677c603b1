// Raw Store figures, the ceiling the API server is measured against (hack/bench.ts prints them):
// the put rate of ifAbsent creates of ~1.5 KB JSON values with `concurrency` in flight, and the
// latency of listing pages of `pageSize` keys over the `n` keys written (p50/p99).
// Writes `n` keys under a fresh prefix and leaves them (bench against a throwaway store).
import { randomUUID } from 'node:crypto';
import type { Store } from '../store/store.js';
import { percentile } from './bench-stats.js';

export interface RawStoreBenchOptions {
  /** Keys to create. Default 10,000. */
  readonly n?: number;
  /** Puts in flight. Default 32. */
  readonly concurrency?: number;
  /** Keys per list page. Default 500. */
  readonly pageSize?: number;
  /** Pages to time at least (the whole key set is paged through repeatedly). Default 100. */
  readonly minPages?: number;
}

export interface RawStoreFigures {
  readonly puts: number;
  readonly putSeconds: number;
  readonly putsPerSec: number;
  readonly valueBytes: number;
  readonly pageSize: number;
  readonly pages: number;
  readonly listP50Ms: number;
  readonly listP99Ms: number;
}

/** A value shaped like a stored Job, padded to about 1.5 KB. */
function jobLikeValue(i: number): string {
  const job = {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: {
      name: `bench-${i}`,
      namespace: 'default',
      uid: randomUUID(),
      generation: 1,
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      labels: { team: 'bench', index: String(i) },
    },
    spec: {
      driver: 'process',
      workloadType: 'native',
      command: ['/bin/sh', '-c'],
      args: ['echo hello from a benchmark job'],
      env: [{ name: 'GREETING', value: 'hi' }],
      resources: { cpu: '500m', memory: '128Mi' },
      retryPolicy: { maxRetries: 3, backoffSeconds: 10, backoffFactor: 2, maxBackoffSeconds: 300 },
      priority: 0,
    },
    status: { phase: 'Pending', reason: 'WaitingForNode', message: '' },
  };
  const text = JSON.stringify(job);
  job.status.message = 'x'.repeat(Math.max(0, 1536 - text.length));
  return JSON.stringify(job);
}

export async function benchRawStore(store: Store, options: RawStoreBenchOptions = {}): Promise<RawStoreFigures> {
  const { n = 10_000, concurrency = 32, pageSize = 500, minPages = 100 } = options;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`benchRawStore: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`benchRawStore: concurrency must be a positive integer, got ${concurrency}`);
  }
  const prefix = `/bench/raw-${randomUUID()}/`;
  const key = (i: number): string => `${prefix}${String(i).padStart(8, '0')}`;
  const values = Array.from({ length: n }, (_, i) => jobLikeValue(i));

  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        const i = next++;
        await store.put(key(i), values[i] ?? '', { ifAbsent: true });
      }
    }),
  );
  const putSeconds = Number(process.hrtime.bigint() - started) / 1e9;

  const latencies: number[] = [];
  while (latencies.length < minPages) {
    let after: string | undefined;
    let revision: number | undefined;
    for (;;) {
      const t0 = process.hrtime.bigint();
      const page = await store.list(prefix, { limit: pageSize, after, revision });
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      revision = page.revision;
      if (!page.more) break;
      after = page.items.at(-1)?.key;
    }
  }
  latencies.sort((a, b) => a - b);
  return {
    puts: n,
    putSeconds,
    putsPerSec: n / putSeconds,
    valueBytes: values[0]?.length ?? 0,
    pageSize,
    pages: latencies.length,
    listP50Ms: percentile(latencies, 50),
    listP99Ms: percentile(latencies, 99),
  };
}

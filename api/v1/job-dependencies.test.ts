import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ObjectLookup } from '../kind.js';
import type { ApiObject } from '../meta.js';
import { findDependencyCycle, jobKind } from './index.js';

function job(name: string, dependsOn: string[] = [], namespace = 'default'): ApiObject {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace },
    spec: { driver: 'process', command: ['/bin/true'], dependsOn },
  };
}

/** A lookup over stored jobs (namespace/name), counting calls. */
function store(jobs: ApiObject[]): { lookup: ObjectLookup; calls: () => number; namespaces: Set<string | undefined> } {
  const byKey = new Map(jobs.map((j) => [`${j.metadata.namespace}/${j.metadata.name}`, j]));
  let calls = 0;
  const namespaces = new Set<string | undefined>();
  const lookup: ObjectLookup = async (ns, name) => {
    calls++;
    namespaces.add(ns);
    await Promise.resolve();
    return byKey.get(`${ns}/${name}`);
  };
  return { lookup, calls: () => calls, namespaces };
}

async function admit(obj: ApiObject, stored: ApiObject[]) {
  assert.ok(jobKind.admit, 'Job has admission');
  return jobKind.admit(obj, store(stored).lookup);
}

void describe('Job admission: dependsOn cycles', () => {
  void it('admits a job without dependencies or with missing ones', async () => {
    assert.deepEqual(await admit(job('a'), []), []);
    assert.deepEqual(await admit(job('a', ['not-yet-created', 'b']), [job('b', ['also-missing'])]), []);
  });

  void it('rejects a job that depends on itself', async () => {
    const causes = await admit(job('a', ['a']), []);
    assert.equal(causes.length, 1);
    assert.equal(causes[0]?.field, 'spec.dependsOn');
    assert.equal(causes[0]?.reason, 'FieldValueInvalid');
    assert.match(causes[0]?.message ?? '', /dependency cycle: a -> a$/);
  });

  void it('rejects a 2-cycle', async () => {
    const causes = await admit(job('a', ['b']), [job('b', ['a'])]);
    assert.equal(causes.length, 1);
    assert.match(causes[0]?.message ?? '', /dependency cycle: a -> b -> a$/);
  });

  void it('rejects a 3-cycle and names it', async () => {
    const causes = await admit(job('a', ['x', 'b']), [job('b', ['c']), job('c', ['a']), job('x')]);
    assert.deepEqual(causes, [
      { reason: 'FieldValueInvalid', field: 'spec.dependsOn', message: 'Invalid value: ["x","b"]: dependency cycle: a -> b -> c -> a' },
    ]);
  });

  void it('reports the shortest cycle when there are several', async () => {
    const stored = [job('b', ['c']), job('c', ['d']), job('d', ['a']), job('e', ['a'])];
    const causes = await admit(job('a', ['b', 'e']), stored);
    assert.match(causes[0]?.message ?? '', /a -> e -> a$/);
  });

  void it('admits a diamond DAG (no false positive on shared dependencies)', async () => {
    // a -> b -> d, a -> c -> d, d -> e
    const stored = [job('b', ['d']), job('c', ['d']), job('d', ['e']), job('e')];
    const s = store(stored);
    assert.deepEqual(await jobKind.admit?.(job('a', ['b', 'c']), s.lookup), []);
    assert.equal(s.calls(), 4, 'each job is looked up once');
  });

  void it('walks from the new object, never from its stored version', async () => {
    const stored = [job('a', ['b']), job('b', ['c']), job('c')];
    const asked: string[] = [];
    const s = store(stored);
    const lookup: ObjectLookup = (ns, name) => {
      asked.push(name);
      return s.lookup(ns, name);
    };
    assert.deepEqual(await jobKind.admit?.(job('a', ['c']), lookup), []);
    assert.deepEqual(asked, ['c']);
  });

  void it('looks up only the job namespace', async () => {
    const s = store([job('b', ['a'], 'other'), job('b', [], 'team')]);
    assert.deepEqual(await jobKind.admit?.(job('a', ['b'], 'team'), s.lookup), []);
    assert.deepEqual([...s.namespaces], ['team']);
  });

  void it('bounds the walk on a huge graph', async () => {
    const n = 20000;
    const chain = Array.from({ length: n }, (_, i) => job(`j${i}`, i + 1 < n ? [`j${i + 1}`] : []));
    const s = store(chain);
    const start = performance.now();
    const causes = await jobKind.admit?.(job('root', ['j0']), s.lookup);
    assert.ok(performance.now() - start < 5000);
    assert.equal(causes?.length, 1);
    assert.match(causes?.[0]?.message ?? '', /more than 10000 jobs/);
    assert.ok(s.calls() <= 10000);

    const small = await findDependencyCycle('default', 'root', ['j0'], store(chain.slice(0, 50)).lookup, 100);
    assert.deepEqual(small, { kind: 'none' });
    const limited = await findDependencyCycle('default', 'root', ['j0'], store(chain).lookup, 100);
    assert.equal(limited.kind, 'too-large');
  });

  void it('propagates lookup failures', async () => {
    const failing: ObjectLookup = () => Promise.reject(new Error('store unavailable'));
    await assert.rejects(jobKind.admit?.(job('a', ['b']), failing) ?? Promise.resolve(), /store unavailable/);
  });
});

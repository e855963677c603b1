// The one conformance suite every Store implementation passes (store/store.ts is the contract).
// A test file calls storeConformanceSuite(name, harness) with a harness for its backend.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CompactedError,
  ConflictError,
  FencedError,
  LeaseNotFoundError,
  StoreClosedError,
  StoreUnavailableError,
  FutureRevisionError,
  type KeyValue,
  type Store,
  type WatchEvent,
  type WatchOptions,
} from './store.js';

export interface StoreHarness {
  /** A new store, isolated from every other store the harness made (empty key space). */
  create(options?: { timeoutMs?: number }): Promise<Store>;
  /**
   * Restarts the backend process behind `store` — SQLite: close and reopen the same file;
   * etcd: kill -9 etcd and start it again on the same data dir and ports — and resolves to the
   * store to use afterwards (the same object when storeSurvivesRestart).
   */
  restart(store: Store): Promise<Store>;
  /** True when a store object, and its open watches, live on across restart() (etcd). */
  readonly storeSurvivesRestart: boolean;
  /**
   * Makes the backend unavailable — 'down': not running; 'hung': accepts connections but never
   * answers — and resolves to a function that brings it back. Absent when the backend has no such
   * state (SQLite runs in-process).
   */
  outage?(kind: 'down' | 'hung'): Promise<() => Promise<void>>;
  /** Closes every store the harness made. */
  dispose(): Promise<void>;
}

/** Runs `fn(i)` for i in [0, n) with at most `concurrency` calls in flight; results in index order. */
export async function inParallel<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      results[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return results;
}

const pad = (i: number): string => String(i).padStart(5, '0');

function summary(events: readonly WatchEvent[]): string {
  return events.map((e) => `${e.type}:${e.kv.key}@${e.kv.modRevision}`).join(' ');
}

/**
 * Watches `prefix` until `until(events)` holds; fails the test if that does not happen within
 * `timeoutMs`. Stops the watch when done.
 */
async function watchUntil(
  store: Store,
  prefix: string,
  options: Omit<WatchOptions, 'signal'>,
  until: (events: readonly WatchEvent[]) => boolean,
  timeoutMs = 15_000,
): Promise<WatchEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: WatchEvent[] = [];
  try {
    for await (const batch of store.watch(prefix, { ...options, signal: controller.signal })) {
      assert.ok(batch.length > 0, 'a watch batch is never empty');
      events.push(...batch);
      if (until(events)) return events;
    }
  } finally {
    clearTimeout(timer);
  }
  return assert.fail(`watch of ${prefix} ended before the expected events (after ${timeoutMs} ms): ${summary(events)}`);
}

const reached =
  (revision: number) =>
  (events: readonly WatchEvent[]): boolean =>
    events.some((e) => e.kv.modRevision >= revision);

function assertStrictlyIncreasing(revisions: readonly number[]): void {
  for (let i = 1; i < revisions.length; i++) {
    assert.ok(
      (revisions[i] ?? 0) > (revisions[i - 1] ?? 0),
      `revisions must strictly increase: ${revisions.join(',')}`,
    );
  }
}

function withoutLease(kv: KeyValue | undefined): Omit<KeyValue, 'lease'> | undefined {
  if (!kv) return undefined;
  const { key, value, createRevision, modRevision, version } = kv;
  return { key, value, createRevision, modRevision, version };
}

export function storeConformanceSuite(name: string, harness: StoreHarness): void {
  void describe(`Store conformance: ${name}`, () => {
    after(() => harness.dispose());

    void describe('get, put, delete and revisions', () => {
      void it('put and get: revisions are global and increasing; createRevision, modRevision, version', async () => {
        const store = await harness.create();
        assert.equal(await store.get('a'), undefined);
        const r1 = (await store.put('a', 'one')).revision;
        assert.deepEqual(withoutLease(await store.get('a')), {
          key: 'a',
          value: 'one',
          createRevision: r1,
          modRevision: r1,
          version: 1,
        });
        const r2 = (await store.put('a', 'two')).revision;
        const r3 = (await store.put('b', 'bee')).revision;
        assertStrictlyIncreasing([r1, r2, r3]);
        assert.deepEqual(withoutLease(await store.get('a')), {
          key: 'a',
          value: 'two',
          createRevision: r1,
          modRevision: r2,
          version: 2,
        });
        assert.equal((await store.get('b'))?.createRevision, r3);
        assert.ok((await store.currentRevision()) >= r3);
        assert.equal((await store.get('a'))?.lease, undefined);
      });

      void it('values round-trip exactly: empty, unicode, 256 KiB', async () => {
        const store = await harness.create();
        const values = ['', 'ünïcödé ✓ 𝄞 日本', JSON.stringify({ a: [1, 2, { b: 'c' }] }), 'x'.repeat(256 * 1024)];
        for (const [i, value] of values.entries()) await store.put(`v/${i}`, value);
        for (const [i, value] of values.entries()) assert.equal((await store.get(`v/${i}`))?.value, value);
        await store.put('ключ/日本', 'unicode key');
        assert.equal((await store.get('ключ/日本'))?.value, 'unicode key');
      });

      void it('delete returns the previous value at a new revision; a missing key gives undefined', async () => {
        const store = await harness.create();
        const created = (await store.put('k', 'v1')).revision;
        const updated = (await store.put('k', 'v2')).revision;
        const deleted = await store.delete('k');
        assert.ok(deleted);
        assert.ok(deleted.revision > updated);
        assert.deepEqual(withoutLease(deleted.previous), {
          key: 'k',
          value: 'v2',
          createRevision: created,
          modRevision: updated,
          version: 2,
        });
        assert.equal(await store.get('k'), undefined);
        assert.equal(await store.delete('k'), undefined);
        const recreated = (await store.put('k', 'v3')).revision;
        assert.ok(recreated > deleted.revision);
        const kv = await store.get('k');
        assert.equal(kv?.createRevision, recreated);
        assert.equal(kv?.version, 1);
      });

      void it('put ifAbsent creates once, then throws ConflictError; works again after a delete', async () => {
        const store = await harness.create();
        const first = await store.put('x', '1', { ifAbsent: true });
        await assert.rejects(store.put('x', '2', { ifAbsent: true }), (err: unknown) => {
          assert.ok(err instanceof ConflictError);
          assert.equal(err.key, 'x');
          return true;
        });
        assert.equal((await store.get('x'))?.value, '1');
        assert.equal((await store.get('x'))?.modRevision, first.revision);
        await store.delete('x');
        await store.put('x', '3', { ifAbsent: true });
        assert.equal((await store.get('x'))?.value, '3');
      });

      void it('put ifRevision succeeds at the current modRevision only; absent key conflicts', async () => {
        const store = await harness.create();
        await assert.rejects(store.put('y', 'v', { ifRevision: 1 }), ConflictError);
        const r1 = (await store.put('y', 'v1')).revision;
        const r2 = (await store.put('y', 'v2', { ifRevision: r1 })).revision;
        await assert.rejects(store.put('y', 'stale', { ifRevision: r1 }), ConflictError);
        assert.equal((await store.get('y'))?.value, 'v2');
        await store.put('y', 'v3', { ifRevision: r2 });
        assert.equal((await store.get('y'))?.value, 'v3');
        assert.equal((await store.get('y'))?.version, 3);
      });

      void it('delete ifRevision: ConflictError on a stale revision or an absent key; deletes at the current one', async () => {
        const store = await harness.create();
        await assert.rejects(store.delete('z', { ifRevision: 1 }), ConflictError);
        const r1 = (await store.put('z', 'v1')).revision;
        const r2 = (await store.put('z', 'v2')).revision;
        await assert.rejects(store.delete('z', { ifRevision: r1 }), ConflictError);
        assert.equal((await store.get('z'))?.value, 'v2');
        const deleted = await store.delete('z', { ifRevision: r2 });
        assert.equal(deleted?.previous.value, 'v2');
        assert.equal(await store.get('z'), undefined);
      });

      void it('20 concurrent writers racing with ifRevision on one key: exactly one wins', async () => {
        const store = await harness.create();
        const base = (await store.put('race', 'base')).revision;
        const outcomes = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => store.put('race', `writer-${i}`, { ifRevision: base })),
        );
        const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
        assert.equal(winners.length, 1, 'exactly one writer wins');
        for (const o of outcomes) {
          if (o.status === 'rejected') assert.ok(o.reason instanceof ConflictError, `loser got ${String(o.reason)}`);
        }
        const kv = await store.get('race');
        assert.equal(kv?.value, `writer-${winners[0]}`);
        assert.equal(kv?.version, 2);

        const creators = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => store.put('race-create', `creator-${i}`, { ifAbsent: true })),
        );
        assert.equal(creators.filter((o) => o.status === 'fulfilled').length, 1, 'exactly one creator wins');
        assert.ok(creators.every((o) => o.status === 'fulfilled' || o.reason instanceof ConflictError));
      });

      void it('guard held: put and delete happen; combined with ifAbsent and ifRevision as without a guard', async () => {
        const store = await harness.create();
        const term = (await store.put('g/leader', 'me', { ifAbsent: true })).revision;
        const guard = { key: 'g/leader', createRevision: term };
        const created = (await store.put('g/obj', 'v1', { guard, ifAbsent: true })).revision;
        const updated = (await store.put('g/obj', 'v2', { guard, ifRevision: created })).revision;
        await store.put('g/leader', 'me, renewed'); // a new modRevision does not end the term
        const plain = (await store.put('g/obj', 'v3', { guard })).revision;
        assert.equal((await store.get('g/obj'))?.value, 'v3');
        await assert.rejects(store.put('g/obj', 'stale', { guard, ifRevision: updated }), (err: unknown) => {
          assert.ok(err instanceof ConflictError, `an object conflict under a held guard is a ConflictError, got ${String(err)}`);
          assert.ok(!(err instanceof FencedError));
          return true;
        });
        await assert.rejects(store.put('g/obj', 'again', { guard, ifAbsent: true }), ConflictError);
        await assert.rejects(store.delete('g/obj', { guard, ifRevision: updated }), ConflictError);
        const deleted = await store.delete('g/obj', { guard, ifRevision: plain });
        assert.equal(deleted?.previous.value, 'v3');
        assert.equal(await store.delete('g/obj', { guard }), undefined, 'deleting an absent key under a held guard');
      });

      void it('guard key deleted or re-created: FencedError, nothing written, even when the object precondition holds', async () => {
        const store = await harness.create();
        const term = (await store.put('f/leader', 'old', { ifAbsent: true })).revision;
        const guard = { key: 'f/leader', createRevision: term };
        const objRev = (await store.put('f/obj', 'v1', { guard })).revision;
        await store.delete('f/leader');
        const isFenced = (err: unknown): boolean => {
          assert.ok(err instanceof FencedError, `expected FencedError, got ${String(err)}`);
          assert.ok(!(err instanceof ConflictError), 'a FencedError is not a ConflictError');
          assert.equal(err.key, 'f/obj');
          assert.equal(err.guardKey, 'f/leader');
          assert.match(err.message, /f\/leader/);
          return true;
        };
        const before = await store.currentRevision();
        await assert.rejects(store.put('f/obj', 'late', { guard }), isFenced);
        await assert.rejects(store.put('f/obj', 'late', { guard, ifRevision: objRev }), isFenced);
        await assert.rejects(store.put('f/new', 'late', { guard, ifAbsent: true }), (err: unknown) => {
          assert.ok(err instanceof FencedError);
          return true;
        });
        await assert.rejects(store.delete('f/obj', { guard }), isFenced);
        await assert.rejects(store.delete('f/obj', { guard, ifRevision: objRev }), isFenced);
        assert.equal(await store.currentRevision(), before, 'a fenced write adds no revision');

        const next = (await store.put('f/leader', 'new', { ifAbsent: true })).revision; // another term
        await assert.rejects(store.put('f/obj', 'late', { guard, ifRevision: objRev }), isFenced);
        await assert.rejects(store.delete('f/obj', { guard }), isFenced);
        // a fenced write with a stale object revision too: fencing is reported first
        await assert.rejects(store.put('f/obj', 'late', { guard, ifRevision: objRev + 1000 }), isFenced);
        assert.deepEqual(
          { value: (await store.get('f/obj'))?.value, modRevision: (await store.get('f/obj'))?.modRevision },
          { value: 'v1', modRevision: objRev },
        );
        assert.equal(await store.get('f/new'), undefined);
        await store.put('f/obj', 'v2', { guard: { key: 'f/leader', createRevision: next }, ifRevision: objRev });
        assert.equal((await store.get('f/obj'))?.value, 'v2');
      });

      void it('concurrent guarded puts racing a term change: each lands only if applied before the guard key was deleted', async () => {
        const store = await harness.create();
        const term = (await store.put('r/leader', 'x', { ifAbsent: true })).revision;
        const guard = { key: 'r/leader', createRevision: term };
        const writes = Array.from({ length: 20 }, (_, i) => store.put(`r/obj/${pad(i)}`, 'v', { guard }));
        const ended = store.delete('r/leader');
        const outcomes = await Promise.allSettled(writes);
        const endRevision = (await ended)?.revision;
        assert.ok(endRevision !== undefined);
        for (const [i, outcome] of outcomes.entries()) {
          const stored = await store.get(`r/obj/${pad(i)}`);
          if (outcome.status === 'fulfilled') {
            assert.ok(outcome.value.revision < endRevision, 'an accepted write came before the term ended');
            assert.equal(stored?.modRevision, outcome.value.revision);
          } else {
            assert.ok(outcome.reason instanceof FencedError, `rejected with ${String(outcome.reason)}`);
            assert.equal(stored, undefined, 'a fenced put wrote nothing');
          }
        }
      });

      void it('bad arguments are rejected with an error naming the argument and the rule', async () => {
        const store = await harness.create();
        await assert.rejects(store.put('', 'v'), /key must not be empty/);
        await assert.rejects(store.put('a\0b', 'v'), /key must not contain NUL/);
        await assert.rejects(store.put('k', 'v', { ifRevision: 0 }), /options\.ifRevision must be an integer >= 1/);
        await assert.rejects(store.put('k', 'v', { lease: 'abc' }), /options\.lease must be a lease id/);
        await assert.rejects(store.delete('k', { ifRevision: -3 }), /options\.ifRevision/);
        await assert.rejects(store.put('k', 'v', { guard: { key: '', createRevision: 1 } }), /options\.guard\.key must not be empty/);
        await assert.rejects(store.delete('k', { guard: { key: 'g', createRevision: 0 } }), /options\.guard\.createRevision must be an integer >= 1/);
        await assert.rejects(store.list('', { limit: -1 }), /options\.limit must be an integer >= 0/);
        await assert.rejects(store.list('', { revision: 1.5 }), /options\.revision must be an integer/);
        await assert.rejects(store.grantLease(0), /ttlSeconds must be an integer/);
        await assert.rejects(store.keepAlive('nope'), /lease must be a lease id/);
        await assert.rejects(store.compact(0), /revision must be an integer >= 1/);
        const current = await store.currentRevision();
        await assert.rejects(store.list('', { revision: current + 1000 }), FutureRevisionError);
        assert.throws(() => store.watch('', { fromRevision: 0 }), /options\.fromRevision must be an integer >= 1/);
      });
    });

    void describe('list', () => {
      void it('lists by prefix in key order; a/b/ does not include a/bc/', async () => {
        const store = await harness.create();
        for (const key of ['a/bc/1', 'a/b/2', 'a/b', 'a/b/1', 'a/c', 'b/1', 'a/b/10']) await store.put(key, key);
        const keys = async (prefix: string): Promise<string[]> => (await store.list(prefix)).items.map((kv) => kv.key);
        assert.deepEqual(await keys('a/b/'), ['a/b/1', 'a/b/10', 'a/b/2']);
        assert.deepEqual(await keys('a/bc/'), ['a/bc/1']);
        assert.deepEqual(await keys('a/b'), ['a/b', 'a/b/1', 'a/b/10', 'a/b/2', 'a/bc/1']);
        assert.deepEqual(await keys(''), ['a/b', 'a/b/1', 'a/b/10', 'a/b/2', 'a/bc/1', 'a/c', 'b/1']);
        assert.deepEqual(await keys('c/'), []);
        const listed = await store.list('a/b/');
        assert.equal(listed.more, false);
        assert.equal(listed.revision, await store.currentRevision());
        assert.equal(listed.items[0]?.value, 'a/b/1');
      });

      void it('limit + after pages over 1000 keys: each key once, in order', async () => {
        const store = await harness.create();
        const written = await inParallel(1000, 32, (i) => store.put(`p/${pad(i)}`, `value-${i}`));
        await store.put('q/outside', 'not listed');
        const seen: string[] = [];
        let after: string | undefined;
        let revision: number | undefined;
        let pages = 0;
        for (;;) {
          const page = await store.list('p/', { limit: 73, after, revision });
          pages++;
          revision ??= page.revision;
          assert.equal(page.revision, revision);
          seen.push(...page.items.map((kv) => kv.key));
          assert.ok(page.items.length <= 73);
          if (!page.more) break;
          assert.equal(page.items.length, 73);
          after = page.items.at(-1)?.key;
        }
        assert.equal(pages, Math.ceil(1000 / 73));
        assert.deepEqual(
          seen,
          written.map((_, i) => `p/${pad(i)}`),
        );
        const exact = await store.list('p/', { limit: 1000 });
        assert.equal(exact.items.length, 1000);
        assert.equal(exact.more, false);
        assert.equal((await store.list('p/', { after: 'p/00997' })).items.length, 2);
        assert.equal((await store.list('p/', { after: 'a' })).items.length, 1000);
        assert.equal((await store.list('p/', { after: 'z' })).items.length, 0);
      });

      void it('paging at a revision is a consistent snapshot while keys are added, changed and deleted', async () => {
        const store = await harness.create();
        await inParallel(300, 32, (i) => store.put(`s/${pad(i * 2)}`, `v0-${i}`));
        const snapshot = await store.list('s/');
        const atR = snapshot.revision;
        let mutations = 0;
        const mutate = (async () => {
          for (let i = 0; i < 150; i++) {
            if (i % 3 === 0) await store.delete(`s/${pad(i * 4)}`);
            else if (i % 3 === 1) await store.put(`s/${pad(i * 2 + 1)}`, `new-${i}`);
            else await store.put(`s/${pad(i * 2)}`, `v1-${i}`);
            mutations++;
          }
        })();
        const paged: KeyValue[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.list('s/', { limit: 25, after, revision: atR });
          assert.equal(page.revision, atR);
          paged.push(...page.items);
          if (!page.more) break;
          after = page.items.at(-1)?.key;
          await sleep(1);
        }
        await mutate;
        assert.ok(mutations === 150);
        assert.deepEqual(paged.map(withoutLease), snapshot.items.map(withoutLease));
        const again = await store.list('s/', { revision: atR });
        assert.deepEqual(again.items.map(withoutLease), snapshot.items.map(withoutLease));
        const now = await store.list('s/');
        assert.notDeepEqual(
          now.items.map((kv) => kv.key),
          snapshot.items.map((kv) => kv.key),
        );
        assert.equal(now.items.length, 300 - 50 + 50);
      });

      void it('list at an old revision shows the keys and values as they were', async () => {
        const store = await harness.create();
        await store.put('h0', 'outside the prefix');
        const r1 = (await store.put('h/a', 'a1')).revision;
        const r2 = (await store.put('h/a', 'a2')).revision;
        const r3 = (await store.put('h/b', 'b1')).revision;
        const r4 = (await store.delete('h/a'))?.revision ?? 0;
        const at = async (revision: number): Promise<string[]> =>
          (await store.list('h/', { revision })).items.map((kv) => `${kv.key}=${kv.value}@${kv.modRevision}`);
        assert.deepEqual(await at(r1), [`h/a=a1@${r1}`]);
        assert.deepEqual(await at(r2), [`h/a=a2@${r2}`]);
        assert.deepEqual(await at(r3), [`h/a=a2@${r2}`, `h/b=b1@${r3}`]);
        assert.deepEqual(await at(r4), [`h/b=b1@${r3}`]);
        assert.deepEqual((await store.list('h/', { revision: r1 - 1 })).items, []);
      });
    });

    void describe('compaction', () => {
      void it('reads and watches below the compact revision throw CompactedError; at and above it they work', async () => {
        const store = await harness.create();
        const old = (await store.put('c/a', 'old')).revision;
        await store.put('c/a', 'newer');
        await store.delete('c/a');
        const kept = (await store.put('c/b', 'kept')).revision;
        const tail = (await store.put('c/c', 'tail')).revision;
        await store.compact(kept);
        assert.equal(await store.compactedRevision(), kept);
        await assert.rejects(store.list('c/', { revision: old }), (err: unknown) => {
          assert.ok(err instanceof CompactedError, String(err));
          assert.equal(err.requestedRevision, old);
          assert.ok(err.compactRevision >= kept);
          return true;
        });
        const watchOld = store.watch('c/', { fromRevision: old })[Symbol.asyncIterator]();
        await assert.rejects(watchOld.next(), CompactedError);
        assert.deepEqual(
          (await store.list('c/', { revision: kept })).items.map((kv) => `${kv.key}=${kv.value}`),
          ['c/b=kept'],
        );
        const events = await watchUntil(store, 'c/', { fromRevision: kept }, reached(tail));
        assert.deepEqual(
          events.map((e) => [e.type, e.kv.key, e.kv.modRevision]),
          [
            ['put', 'c/b', kept],
            ['put', 'c/c', tail],
          ],
        );
        await store.compact(old); // older than the last compaction: nothing to do
        assert.equal(await store.compactedRevision(), kept);
        assert.equal((await store.get('c/b'))?.value, 'kept');
        await assert.rejects(store.compact((await store.currentRevision()) + 100), FutureRevisionError);
      });
    });

    void describe('watch', () => {
      void it('delivers puts and deletes in revision order, with prevKv', async () => {
        const store = await harness.create();
        const from = (await store.currentRevision()) + 1;
        const r1 = (await store.put('w/a', '1')).revision;
        const r2 = (await store.put('w/a', '2')).revision;
        const r3 = (await store.delete('w/a'))?.revision ?? 0;
        const r4 = (await store.put('w/b', 'b')).revision;
        const events = await watchUntil(store, 'w/', { fromRevision: from }, reached(r4));
        assert.deepEqual(
          events.map((e) => [e.type, e.kv.key, e.kv.value, e.kv.modRevision]),
          [
            ['put', 'w/a', '1', r1],
            ['put', 'w/a', '2', r2],
            ['delete', 'w/a', '', r3],
            ['put', 'w/b', 'b', r4],
          ],
        );
        const [create, update, remove, other] = events;
        assert.equal(create?.prevKv, undefined);
        assert.deepEqual(withoutLease(update?.prevKv), {
          key: 'w/a',
          value: '1',
          createRevision: r1,
          modRevision: r1,
          version: 1,
        });
        assert.equal(update?.kv.version, 2);
        assert.equal(update?.kv.createRevision, r1);
        assert.deepEqual(withoutLease(remove?.prevKv), {
          key: 'w/a',
          value: '2',
          createRevision: r1,
          modRevision: r2,
          version: 2,
        });
        assert.equal(other?.prevKv, undefined);
      });

      void it('filters by prefix: w/b/ does not see w/bc/', async () => {
        const store = await harness.create();
        const from = (await store.currentRevision()) + 1;
        await store.put('w/bc/1', 'no');
        await store.put('w/b', 'no');
        const r = (await store.put('w/b/1', 'yes')).revision;
        await store.put('w/bc/2', 'no');
        const last = (await store.put('w/b/2', 'yes')).revision;
        const events = await watchUntil(store, 'w/b/', { fromRevision: from }, reached(last));
        assert.deepEqual(
          events.map((e) => [e.kv.key, e.kv.modRevision]),
          [
            ['w/b/1', r],
            ['w/b/2', last],
          ],
        );
      });

      void it('replays from an old revision, then continues live without gap or duplicate', async () => {
        const store = await harness.create();
        const history = await inParallel(200, 8, (i) => store.put(`l/${pad(i % 50)}`, `h-${i}`));
        const from = Math.min(...history.map((r) => r.revision));
        // Writes that go on while the watch catches up and switches to live events.
        const live: number[] = [];
        const writer = (async () => {
          for (let i = 0; i < 200; i++) {
            const r =
              i % 10 === 9
                ? await store.delete(`l/${pad(i % 50)}`)
                : await store.put(`l/${pad(i % 50)}`, `live-${i}`);
            if (r) live.push(r.revision);
            if (i % 20 === 0) await sleep(1);
          }
          live.push((await store.put('l/zz-end', 'end')).revision);
        })();
        await sleep(5);
        const events = await watchUntil(store, 'l/', { fromRevision: from }, (evs) =>
          evs.some((e) => e.kv.key === 'l/zz-end'),
        );
        await writer;
        assert.ok(live.length > 150, `live writes: ${live.length}`);
        const revisions = events.map((e) => e.kv.modRevision);
        assertStrictlyIncreasing(revisions);
        const expected = [...history.map((r) => r.revision), ...live].sort((a, b) => a - b);
        assert.deepEqual(revisions, expected);
      });

      void it('without fromRevision delivers only later events', async () => {
        const store = await harness.create();
        await store.put('n/before', 'x');
        const controller = new AbortController();
        const iterator = store.watch('n/', { signal: controller.signal })[Symbol.asyncIterator]();
        const first = iterator.next();
        await sleep(200); // let a remote watch be established
        const r = (await store.put('n/after', 'y')).revision;
        const result = await first;
        assert.equal(result.done, false);
        assert.deepEqual(
          (result.value as WatchEvent[]).map((e) => [e.kv.key, e.kv.modRevision]),
          [['n/after', r]],
        );
        controller.abort();
        assert.equal((await iterator.next()).done, true);
      });

      void it('aborting the signal ends the iteration; breaking out of for-await stops the watch', async () => {
        const store = await harness.create();
        const controller = new AbortController();
        const iterator = store.watch('ab/', { signal: controller.signal })[Symbol.asyncIterator]();
        const pending = iterator.next();
        setTimeout(() => controller.abort(), 50);
        assert.equal((await pending).done, true);
        assert.equal((await iterator.next()).done, true);

        const aborted = new AbortController();
        aborted.abort();
        const none = store.watch('ab/', { signal: aborted.signal })[Symbol.asyncIterator]();
        assert.equal((await none.next()).done, true);

        const from = (await store.currentRevision()) + 1;
        await store.put('ab/1', '1');
        await store.put('ab/2', '2');
        let batches = 0;
        for await (const batch of store.watch('ab/', { fromRevision: from })) {
          batches++;
          assert.equal(batch[0]?.kv.key, 'ab/1');
          break;
        }
        assert.equal(batches, 1);
      });

      void it('close() ends open watch iterators with StoreClosedError, and later calls reject', async () => {
        const store = await harness.create();
        const iterator = store.watch('cl/')[Symbol.asyncIterator]();
        const pending = iterator.next();
        await sleep(50);
        await store.close();
        await assert.rejects(pending, StoreClosedError);
        await assert.rejects(store.get('cl/x'), StoreClosedError);
        await assert.rejects(store.put('cl/x', 'v'), StoreClosedError);
        await store.close(); // idempotent
      });
    });

    void describe('leases', () => {
      void it('a key with a lease is deleted when the lease expires (a delete event is seen)', async () => {
        const store = await harness.create();
        const lease = await store.grantLease(1);
        assert.match(lease, /^[1-9][0-9]*$/);
        const from = (await store.currentRevision()) + 1;
        await store.put('ls/a', 'held', { lease });
        await store.put('ls/b', 'not held');
        assert.equal((await store.get('ls/a'))?.lease, lease);
        const started = Date.now();
        const events = await watchUntil(store, 'ls/', { fromRevision: from }, (evs) =>
          evs.some((e) => e.type === 'delete'),
        );
        assert.ok(Date.now() - started < 6_000, 'deleted within a few seconds of the TTL');
        const deleted = events.find((e) => e.type === 'delete');
        assert.equal(deleted?.kv.key, 'ls/a');
        assert.equal(deleted?.prevKv?.value, 'held');
        assert.equal(await store.get('ls/a'), undefined);
        assert.equal((await store.get('ls/b'))?.value, 'not held');
        await assert.rejects(store.keepAlive(lease), LeaseNotFoundError);
        await assert.rejects(store.put('ls/c', 'v', { lease }), LeaseNotFoundError);
      });

      void it('keepAlive extends a lease; without it the lease expires', async () => {
        const store = await harness.create();
        const lease = await store.grantLease(2);
        await store.put('ka/a', 'v', { lease });
        const until = Date.now() + 4_000;
        while (Date.now() < until) {
          await store.keepAlive(lease);
          await sleep(500);
        }
        assert.equal((await store.get('ka/a'))?.value, 'v', 'still there after twice the TTL');
        const stopped = Date.now();
        while ((await store.get('ka/a')) !== undefined) {
          assert.ok(Date.now() - stopped < 8_000, 'expired within a few seconds after the last keepAlive');
          await sleep(100);
        }
        assert.ok(Date.now() - stopped >= 1_000, 'not before the TTL has passed');
      });

      void it('revokeLease deletes its keys; keepAlive on a revoked lease throws LeaseNotFoundError', async () => {
        const store = await harness.create();
        const lease = await store.grantLease(60);
        const other = await store.grantLease(60);
        await store.put('rv/a', 'a', { lease });
        await store.put('rv/b', 'b', { lease });
        await store.put('rv/c', 'c', { lease: other });
        await store.put('rv/b', 'b2', { lease }); // still attached after an update
        const from = (await store.currentRevision()) + 1;
        await store.revokeLease(lease);
        const events = await watchUntil(store, 'rv/', { fromRevision: from }, (evs) => evs.length >= 2);
        assert.deepEqual(events.map((e) => [e.type, e.kv.key]).sort(), [
          ['delete', 'rv/a'],
          ['delete', 'rv/b'],
        ]);
        assert.deepEqual(
          (await store.list('rv/')).items.map((kv) => kv.key),
          ['rv/c'],
        );
        await assert.rejects(store.keepAlive(lease), LeaseNotFoundError);
        await store.revokeLease(lease); // already gone: no error
        await store.keepAlive(other);
        await store.put('rv/c', 'detached'); // a put without a lease detaches the key
        await store.revokeLease(other);
        assert.equal((await store.get('rv/c'))?.value, 'detached');
      });
    });

    void describe('restart', () => {
      void it('a consumer resuming from N+1 after a restart gets every later event exactly once', async () => {
        let store = await harness.create();
        const before = await inParallel(10, 4, (i) => store.put(`rs/${pad(i)}`, `before-${i}`));
        const from = Math.min(...before.map((r) => r.revision));
        const lastBefore = Math.max(...before.map((r) => r.revision));
        const consumed = await watchUntil(store, 'rs/', { fromRevision: from }, reached(lastBefore));
        const n = consumed.at(-1)?.kv.modRevision ?? 0;
        assert.equal(n, lastBefore);

        // A watch left open across the restart (where the store object survives it).
        const acrossController = new AbortController();
        const acrossEvents: WatchEvent[] = [];
        const across = harness.storeSurvivesRestart
          ? (async () => {
              for await (const batch of store.watch('rs/', { fromRevision: n + 1, signal: acrossController.signal })) {
                acrossEvents.push(...batch);
              }
            })()
          : undefined;
        await sleep(100);

        store = await harness.restart(store);
        const after: number[] = [];
        for (let i = 0; i < 15; i++) {
          const r =
            i % 5 === 4 ? await store.delete(`rs/${pad(i - 4)}`) : await store.put(`rs/${pad(i)}`, `after-${i}`);
          assert.ok(r);
          after.push(r.revision);
        }
        const lastAfter = Math.max(...after);
        const resumed = await watchUntil(store, 'rs/', { fromRevision: n + 1 }, reached(lastAfter));
        assert.deepEqual(
          resumed.map((e) => e.kv.modRevision),
          after,
        );
        assert.deepEqual(
          resumed.filter((e) => e.type === 'delete').map((e) => e.kv.key),
          ['rs/00000', 'rs/00005', 'rs/00010'],
        );
        if (across) {
          const deadline = Date.now() + 15_000;
          while (!reached(lastAfter)(acrossEvents) && Date.now() < deadline) await sleep(50);
          acrossController.abort();
          await across;
          assert.deepEqual(
            acrossEvents.map((e) => e.kv.modRevision),
            after,
            'the watch open across the restart saw each later event once',
          );
        }
        assert.equal((await store.get('rs/00003'))?.value, 'after-3');
        assert.equal((await store.list('rs/')).items.length, 11);
      });
    });

    if (harness.outage) {
      const outage = harness.outage.bind(harness);
      void describe('deadlines', () => {
        for (const kind of ['down', 'hung'] as const) {
          void it(`with the backend ${kind}, get and put reject with StoreUnavailableError within the timeout`, async () => {
            const timeoutMs = 1_000;
            const store = await harness.create({ timeoutMs });
            await store.put('to/a', 'v');
            const restore = await outage(kind);
            try {
              for (const call of [() => store.get('to/a'), () => store.put('to/b', 'v'), () => store.list('to/')]) {
                const started = Date.now();
                await assert.rejects(call(), StoreUnavailableError);
                const took = Date.now() - started;
                assert.ok(took <= timeoutMs + 1_000, `rejected after ${took} ms`);
              }
              if (kind === 'down') {
                // Once the backend is known to be unreachable, callers are not each made to wait out the deadline.
                const started = Date.now();
                await assert.rejects(store.get('to/a'), StoreUnavailableError);
                const took = Date.now() - started;
                assert.ok(took < timeoutMs / 2, `a call to a store known to be down took ${took} ms`);
              }
            } finally {
              await restore();
            }
            assert.equal((await store.get('to/a'))?.value, 'v', 'works again once the backend is back');
          });
        }
      });
    }
  });
}

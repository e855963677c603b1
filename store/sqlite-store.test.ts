import assert from 'node:assert/strict';
import { mkdtemp, open as openFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
import { storeConformanceSuite } from './store-conformance.js';
import { CompactedError, StoreError, StoreUnavailableError, type Store } from './store.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sqlite-store-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileCount = 0;
const newPath = (): string => join(dir, `store-${++fileCount}`, 'state.db');

const open = new Map<Store, SqliteStoreOptions>();
function openStore(options: SqliteStoreOptions): SqliteStore {
  const store = SqliteStore.open(options);
  open.set(store, options);
  return store;
}

storeConformanceSuite('SqliteStore', {
  storeSurvivesRestart: false,
  async create(options) {
    return openStore({ path: newPath(), timeoutMs: options?.timeoutMs, leaseCheckIntervalMs: 100 });
  },
  async restart(store) {
    const options = open.get(store);
    assert.ok(options, 'restart of a store this harness made');
    await store.close();
    open.delete(store);
    return openStore(options);
  },
  async dispose() {
    await Promise.all([...open.keys()].map((store) => store.close()));
    open.clear();
  },
});

async function fileBytes(path: string): Promise<number> {
  let total = 0;
  for (const suffix of ['', '-wal']) {
    total += await stat(path + suffix).then(
      (s) => s.size,
      () => 0,
    );
  }
  return total;
}

void describe('SqliteStore', () => {
  void it('compaction keeps the file bounded under churn of one key', async () => {
    const path = newPath();
    const store = SqliteStore.open({ path, compactIntervalMs: 0 });
    try {
      const value = 'x'.repeat(1024);
      const churn = async (): Promise<number> => {
        let last = 0;
        for (let i = 0; i < 5_000; i++) last = (await store.put('churn/key', `${i}:${value}`)).revision;
        await store.put('churn/other', 'o');
        await store.compact(last);
        return last;
      };
      const firstLast = await churn();
      const afterFirst = await fileBytes(path);
      await churn();
      await churn();
      const afterThird = await fileBytes(path);
      assert.ok(afterThird <= afterFirst * 1.2, `file grew from ${afterFirst} to ${afterThird} bytes`);
      await store.close();

      const db = new Database(path, { readonly: true });
      try {
        const { rows } = db.prepare('SELECT COUNT(*) AS rows FROM kv_log').get() as { rows: number };
        // Per key: the row at the compact revision or the newest below it, and the prevKv of the next event.
        assert.ok(rows <= 4, `log rows after compaction: ${rows}`);
      } finally {
        db.close();
      }
      const reopened = SqliteStore.open({ path, compactIntervalMs: 0 });
      try {
        assert.match((await reopened.get('churn/key'))?.value ?? '', /^4999:/);
        assert.equal((await reopened.get('churn/key'))?.version, 15_000);
        await assert.rejects(reopened.list('churn/', { revision: firstLast - 1 }), CompactedError);
      } finally {
        await reopened.close();
      }
    } finally {
      await store.close();
    }
  });

  void it('group-commits concurrent puts: one fails alone, revisions stay contiguous, issue order is kept', async () => {
    const store = SqliteStore.open({ path: newPath() });
    try {
      const first = await store.put('g/taken', 'x');
      const writes = Array.from({ length: 50 }, (_, i) => store.put(`g/${i}`, String(i)));
      const conflicting = store.put('g/taken', 'y', { ifAbsent: true });
      const more = store.put('g/more', 'z');
      const deleted = store.delete('g/0'); // issued after the put of g/0: must see it
      const results = await Promise.all(writes);
      await assert.rejects(conflicting, (err: unknown) => err instanceof StoreError && /already exists/.test(err.message));
      const revisions = [...results.map((r) => r.revision), (await more).revision];
      assert.deepEqual(revisions, Array.from({ length: 51 }, (_, i) => first.revision + 1 + i));
      assert.equal((await deleted)?.previous.value, '0');
      assert.equal(await store.get('g/0'), undefined);
      assert.equal((await store.get('g/taken'))?.value, 'x');
      assert.equal((await store.list('g/')).items.length, 51);
    } finally {
      await store.close();
    }
  });

  void it('compacts automatically, keeping the newest retainRevisions revisions readable', async () => {
    const store = SqliteStore.open({ path: newPath(), compactIntervalMs: 50, retainRevisions: 100, retainMs: 0 });
    try {
      let last = 0;
      for (let i = 0; i < 500; i++) last = (await store.put(`auto/${i % 7}`, String(i))).revision;
      // (compaction may also run while the puts go on: wait for the pass after the last put)
      const deadline = Date.now() + 5_000;
      while ((await store.compactedRevision()) !== last - 99 && Date.now() < deadline) await sleep(20);
      assert.equal(await store.compactedRevision(), last - 99);
      assert.equal((await store.list('auto/', { revision: last - 99 })).items.length, 7);
      await assert.rejects(store.list('auto/', { revision: last - 100 }), CompactedError);
    } finally {
      await store.close();
    }
  });

  void it('time-based retention: nothing younger than retainMs is compacted', async () => {
    let now = 1_000_000;
    const clock = { now: () => now };
    const store = SqliteStore.open({ path: newPath(), compactIntervalMs: 20, retainRevisions: 1, retainMs: 60_000, clock });
    try {
      const first = (await store.put('t/a', '1')).revision;
      await sleep(100); // several ticks: all of this history is younger than a minute
      assert.equal(await store.compactedRevision(), 0);
      now += 61_000;
      const second = (await store.put('t/a', '2')).revision;
      const deadline = Date.now() + 5_000;
      while ((await store.compactedRevision()) === 0 && Date.now() < deadline) await sleep(20);
      const compacted = await store.compactedRevision();
      assert.ok(compacted >= first && compacted < second, `compacted to ${compacted}`);
    } finally {
      await store.close();
    }
  });

  void it('creates the file and its WAL readable by the owner only (mode 0600)', async () => {
    const path = newPath();
    const store = SqliteStore.open({ path });
    try {
      await store.put('k', 'v');
      // (exclusive locking mode keeps the WAL index in memory: there is no -shm file)
      for (const file of [path, `${path}-wal`]) {
        assert.equal((await stat(file)).mode & 0o777, 0o600, file);
      }
    } finally {
      await store.close();
    }
  });

  void it('a second process cannot open a file in use: StoreUnavailableError within the timeout', async () => {
    const path = newPath();
    const store = SqliteStore.open({ path });
    try {
      await store.put('k', 'v');
      const started = Date.now();
      assert.throws(() => SqliteStore.open({ path, timeoutMs: 500 }), (err: unknown) => {
        assert.ok(err instanceof StoreUnavailableError, String(err));
        assert.match(err.message, /another process/);
        return true;
      });
      assert.ok(Date.now() - started < 1_500);
      assert.equal((await store.get('k'))?.value, 'v');
    } finally {
      await store.close();
    }
  });

  void it('renews leases when reopened, so downtime does not expire them', async () => {
    let now = 5_000_000;
    const clock = { now: () => now };
    const path = newPath();
    const store = SqliteStore.open({ path, clock });
    const lease = await store.grantLease(10);
    await store.put('l/a', 'v', { lease });
    await store.close();
    now += 60_000; // down for a minute
    const reopened = SqliteStore.open({ path, clock, leaseCheckIntervalMs: 10 });
    try {
      await sleep(50);
      assert.equal((await reopened.get('l/a'))?.value, 'v');
      await reopened.keepAlive(lease);
      now += 11_000;
      const deadline = Date.now() + 2_000;
      while ((await reopened.get('l/a')) !== undefined && Date.now() < deadline) await sleep(10);
      assert.equal(await reopened.get('l/a'), undefined);
    } finally {
      await reopened.close();
    }
  });

  void it('refuses to open a file with damaged pages, with a one-line StoreError', async () => {
    const path = newPath();
    const store = SqliteStore.open({ path, compactIntervalMs: 0 });
    for (let i = 0; i < 2_000; i++) await store.put(`damaged/${String(i).padStart(5, '0')}`, 'v'.repeat(200));
    await store.close();
    assert.equal(await stat(`${path}-wal`).then(() => true, () => false), false, 'the WAL was checkpointed on close');
    // Overwrite pages in the middle of the file (not the header or schema, which open() reads anyway).
    const pageSize = 4096;
    const pages = Math.floor((await stat(path)).size / pageSize);
    const handle = await openFile(path, 'r+');
    try {
      await handle.write(Buffer.alloc(4 * pageSize, 0xab), 0, 4 * pageSize, Math.floor(pages / 2) * pageSize);
    } finally {
      await handle.close();
    }
    assert.throws(() => SqliteStore.open({ path, compactIntervalMs: 0 }), (err: unknown) => {
      assert.ok(err instanceof StoreError, String(err));
      assert.match(err.message, /is damaged/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  });

  void it('rejects bad options with the option name', () => {
    assert.throws(() => SqliteStore.open({ path: '' }), /option path/);
    assert.throws(() => SqliteStore.open({ path: newPath(), retainRevisions: 0 }), /option retainRevisions/);
    assert.throws(() => SqliteStore.open({ path: newPath(), timeoutMs: -1 }), /timeoutMs/);
  });
});

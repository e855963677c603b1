// The SQLite store's file size and history window (issue 7): the file shrinks after a burst once
// its history is compacted away (incremental auto-vacuum + WAL truncation), a file made without
// auto-vacuum is converted on open and keeps its data, and the history window (retainMs, the
// server's storeHistorySeconds) bounds how far back a watch can resume. Real SQLite files.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { SqliteStore } from './sqlite-store.js';
import type { StoreLogger } from './store-logger.js';
import { CompactedError, type Store, type WatchEvent } from './store.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sqlite-store-size-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileCount = 0;
const newPath = (): string => join(dir, `store-${++fileCount}`, 'state.db');

/** The database file plus its WAL. */
async function fileBytes(path: string): Promise<number> {
  let total = 0;
  for (const suffix of ['', '-wal']) total += await stat(path + suffix).then((s) => s.size, () => 0);
  return total;
}

interface Logged {
  readonly message: string;
  readonly meta: Record<string, unknown> | undefined;
}

function recordingLogger(): StoreLogger & { readonly lines: Logged[] } {
  const lines: Logged[] = [];
  const log = (message: string, meta?: Record<string, unknown>): void => {
    lines.push({ message, meta });
  };
  return { lines, info: log, warn: log, error: log };
}

const MB = 2 ** 20;

/** Puts `count` values of `bytes` each over `keys` keys, concurrently (group-committed); the last revision. */
async function burst(store: Store, prefix: string, count: number, keys: number, bytes: number): Promise<number> {
  let last = 0;
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, (_, j) =>
      store.put(`${prefix}${(i + j) % keys}`, `${i + j}:`.padEnd(bytes, 'x')),
    );
    for (const r of await Promise.all(batch)) last = Math.max(last, r.revision);
  }
  return last;
}

function autoVacuumOf(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return Number(db.pragma('auto_vacuum', { simple: true }));
  } finally {
    db.close();
  }
}

void describe('SqliteStore file size', () => {
  void it('shrinks the file (and empties the WAL) once a burst has been compacted away', async (t) => {
    const path = newPath();
    const logger = recordingLogger();
    const store = SqliteStore.open({ path, compactIntervalMs: 0, logger });
    try {
      for (let i = 0; i < 20; i++) await store.put(`live/${i}`, `v${i}`);
      await burst(store, 'burst/', 600, 60, 48 * 1024); // ~28 MB of history
      const peak = await fileBytes(path);
      assert.ok(peak > 20 * MB, `peak ${peak} bytes`);
      for (let i = 0; i < 60; i++) await store.delete(`burst/${i}`);
      await store.compact(await store.currentRevision());
      const shrunk = await fileBytes(path);
      t.diagnostic(`file + WAL: peak ${(peak / MB).toFixed(1)} MB, after compaction ${(shrunk / MB).toFixed(1)} MB`);
      assert.ok(shrunk < peak / 4, `file + WAL ${shrunk} bytes after compaction, peak ${peak}`);
      assert.equal(await stat(`${path}-wal`).then((s) => s.size), 0, 'the WAL was truncated');
      const pass = logger.lines.find((l) => l.message === 'store: returned free pages to the file system');
      assert.ok(pass, `no vacuum pass logged: ${JSON.stringify(logger.lines)}`);
      assert.ok(Number(pass.meta?.steps) > 1, 'returned in several steps');
      t.diagnostic(`vacuum pass: ${JSON.stringify(pass.meta)}`);
      // the live data is intact and the store keeps working
      assert.equal((await store.list('live/')).items.length, 20);
      assert.equal((await store.get('live/7'))?.value, 'v7');
      assert.equal((await store.list('burst/')).items.length, 0);
      await store.put('live/after', 'x');
      assert.equal((await store.get('live/after'))?.value, 'x');
    } finally {
      await store.close();
    }
    assert.equal(autoVacuumOf(path), 2, 'a new file uses incremental auto-vacuum');
  });

  void it('keeps free pages up to half the used ones: steady churn reuses them instead of shrinking', async () => {
    const path = newPath();
    const logger = recordingLogger();
    const store = SqliteStore.open({ path, compactIntervalMs: 0, logger });
    try {
      // ~12 MB live; each round rewrites 2 MB of it: the freed pages stay within the slack.
      await burst(store, 'big/', 240, 240, 48 * 1024);
      for (let round = 0; round < 3; round++) {
        const last = await burst(store, 'big/', 40, 240, 48 * 1024);
        await store.compact(last);
      }
      assert.deepEqual(logger.lines.filter((l) => l.message.startsWith('store: returned')), []);
    } finally {
      await store.close();
    }
  });

  void it('converts a file made without auto-vacuum when opening it, keeping its data', async () => {
    const path = newPath();
    const first = SqliteStore.open({ path, compactIntervalMs: 0 });
    let lastRev: number;
    let compacted: number;
    try {
      for (let i = 0; i < 50; i++) await first.put(`keep/${String(i).padStart(2, '0')}`, `value ${i}`);
      await first.delete('keep/00');
      compacted = (await first.put('keep/01', 'again')).revision;
      await first.compact(compacted);
      lastRev = await first.currentRevision();
    } finally {
      await first.close();
    }
    // As an earlier version left it: no auto-vacuum.
    const legacy = new Database(path);
    legacy.pragma('auto_vacuum = NONE');
    legacy.exec('VACUUM');
    legacy.close();
    assert.equal(autoVacuumOf(path), 0);

    const logger = recordingLogger();
    const store = SqliteStore.open({ path, compactIntervalMs: 0, logger });
    try {
      assert.ok(
        logger.lines.some((l) => l.message === 'store: converted the file to incremental auto-vacuum'),
        JSON.stringify(logger.lines),
      );
      assert.equal(await store.currentRevision(), lastRev);
      assert.equal(await store.compactedRevision(), compacted);
      const items = (await store.list('keep/')).items;
      assert.equal(items.length, 49);
      assert.equal(items[0]?.key, 'keep/01');
      assert.equal(items[0]?.value, 'again');
      assert.equal(items[0]?.version, 2);
      assert.equal((await store.get('keep/49'))?.value, 'value 49');
      // and now it shrinks
      await burst(store, 'burst/', 300, 30, 48 * 1024);
      const peak = await fileBytes(path);
      for (let i = 0; i < 30; i++) await store.delete(`burst/${i}`);
      await store.compact(await store.currentRevision());
      assert.ok((await fileBytes(path)) < peak / 4, `file + WAL ${await fileBytes(path)} bytes, peak ${peak}`);
    } finally {
      await store.close();
    }
    assert.equal(autoVacuumOf(path), 2);
    // converted once: the next open does not convert again
    const logger2 = recordingLogger();
    const reopened = SqliteStore.open({ path, compactIntervalMs: 0, logger: logger2 });
    try {
      assert.equal((await reopened.get('keep/49'))?.value, 'value 49');
      assert.deepEqual(logger2.lines.filter((l) => l.message.includes('auto-vacuum')), []);
    } finally {
      await reopened.close();
    }
  });

  void it('the history window bounds how far back a watch can resume (CompactedError beyond it)', async () => {
    let now = 2_000_000;
    const clock = { now: () => now };
    const store = SqliteStore.open({ path: newPath(), compactIntervalMs: 20, retainRevisions: 1, retainMs: 10_000, clock });
    try {
      const old = (await store.put('h/a', '1')).revision;
      const atHorizon = (await store.put('h/b', '2')).revision;
      await sleep(100); // several compaction ticks: nothing is older than the window yet
      assert.equal(await store.compactedRevision(), 0);
      now += 10_001; // the two puts are now older than the window
      const recent = (await store.put('h/c', '3')).revision;
      const deadline = Date.now() + 5_000;
      while ((await store.compactedRevision()) === 0 && Date.now() < deadline) await sleep(20);
      // compacted to the revision that was current when the window began, no further
      assert.equal(await store.compactedRevision(), atHorizon);

      const resume = async (fromRevision: number): Promise<WatchEvent[]> => {
        const abort = new AbortController();
        for await (const events of store.watch('h/', { fromRevision, signal: abort.signal })) {
          abort.abort();
          return events;
        }
        return [];
      };
      await assert.rejects(resume(old), (err: unknown) => err instanceof CompactedError);
      const events = await resume(atHorizon);
      assert.deepEqual(
        events.map((e) => [e.kv.key, e.kv.modRevision]),
        [
          ['h/b', atHorizon],
          ['h/c', recent],
        ],
      );
    } finally {
      await store.close();
    }
  });
});

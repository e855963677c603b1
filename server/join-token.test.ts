// The join token: file-only on its own; shared through a store (here a real SQLite store standing
// in for etcd, which server.test.ts covers end to end) by servers on one store.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../store/sqlite-store.js';
import { StoreUnavailableError, type Store } from '../store/store.js';
import { capturingLogger } from '../test/harness/logging.js';
import { ensureJoinToken, JOIN_TOKEN_KEY, loadJoinToken } from './join-token.js';

const OTHER_TOKEN = `osj_${'a'.repeat(43)}`;

async function fileOf(path: string): Promise<{ data: string; mode: number }> {
  return { data: await readFile(path, 'utf8'), mode: (await stat(path)).mode & 0o777 };
}

void describe('join token without a shared store', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-join-token-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('generates <data-dir>/join-token once (0600) and reads it afterwards', async () => {
    const { logger } = capturingLogger();
    const first = await loadJoinToken({ dataDir: dir, logger });
    assert.equal(first.path, join(dir, 'join-token'));
    assert.match(first.token, /^osj_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(await fileOf(first.path), { data: `${first.token}\n`, mode: 0o600 });
    assert.deepEqual(await loadJoinToken({ dataDir: dir, logger }), first);
    assert.deepEqual(await ensureJoinToken(dir), first);
  });

  void it('refuses a file that is not one long token, naming it', async () => {
    const dataDir = join(dir, 'bad');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'join-token'), 'short\n');
    await assert.rejects(ensureJoinToken(dataDir), new RegExp(`join token file ${join(dataDir, 'join-token')} must hold one token`));
  });
});

void describe('join token shared through the store', () => {
  let dir: string;
  let store: SqliteStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-join-token-shared-'));
    store = SqliteStore.open({ path: join(dir, 'state.db') });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('several servers starting at once store one token and each writes it to its file (0600), never logging it', async () => {
    await store.delete(JOIN_TOKEN_KEY).catch(() => undefined);
    const { logger, text } = capturingLogger();
    const dataDirs = Array.from({ length: 5 }, (_, i) => join(dir, `race-${i}`));
    for (const d of dataDirs) await mkdir(d);
    const results = await Promise.all(dataDirs.map((dataDir) => loadJoinToken({ dataDir, logger, store })));
    const token = results[0]!.token;
    assert.ok(results.every((r) => r.token === token));
    assert.equal((await store.get(JOIN_TOKEN_KEY))?.value, token);
    for (let i = 0; i < 5; i++) {
      assert.equal(results[i]!.path, join(dataDirs[i]!, 'join-token'));
      assert.deepEqual(await fileOf(results[i]!.path), { data: `${token}\n`, mode: 0o600 });
    }
    assert.equal(text().match(/generated a join token and stored it/g)?.length, 1);
    assert.doesNotMatch(text(), new RegExp(token));
  });

  void it("the first server's existing file becomes the cluster's token; a later server's different file is replaced with a warning", async () => {
    await store.delete(JOIN_TOKEN_KEY).catch(() => undefined);
    const first = join(dir, 'first');
    const later = join(dir, 'later');
    await mkdir(first);
    await mkdir(later);
    const own = `osj_${'b'.repeat(43)}`;
    await writeFile(join(first, 'join-token'), `${own}\n`, { mode: 0o600 });
    await writeFile(join(later, 'join-token'), `${OTHER_TOKEN}\n`, { mode: 0o600 });
    const { logger, text } = capturingLogger();
    assert.equal((await loadJoinToken({ dataDir: first, logger, store })).token, own);
    assert.equal((await store.get(JOIN_TOKEN_KEY))?.value, own);
    assert.match(text(), /stored this server's join token for every server/);
    assert.doesNotMatch(text(), /"level":"warn"/);
    assert.equal((await loadJoinToken({ dataDir: later, logger, store })).token, own);
    assert.deepEqual(await fileOf(join(later, 'join-token')), { data: `${own}\n`, mode: 0o600 });
    const warning = text()
      .split('\n')
      .find((l) => l.includes('"level":"warn"'));
    assert.ok(warning, text());
    assert.match(warning, /replaced the join token file/);
    assert.ok(warning.includes(JSON.stringify(join(later, 'join-token'))), warning);
    assert.doesNotMatch(text(), new RegExp(`${own}|${OTHER_TOKEN}`));
  });

  void it('replaces an invalid file when the store holds a token, and refuses one when it would seed the store', async () => {
    await store.delete(JOIN_TOKEN_KEY).catch(() => undefined);
    const dataDir = join(dir, 'invalid');
    await mkdir(dataDir);
    const path = join(dataDir, 'join-token');
    await writeFile(path, 'two tokens\n');
    const { logger } = capturingLogger();
    await assert.rejects(loadJoinToken({ dataDir, logger, store }), new RegExp(`join token file ${path} must hold one token`));
    assert.equal(await store.get(JOIN_TOKEN_KEY), undefined);
    await store.put(JOIN_TOKEN_KEY, OTHER_TOKEN);
    assert.equal((await loadJoinToken({ dataDir, logger, store })).token, OTHER_TOKEN);
    assert.equal(await readFile(path, 'utf8'), `${OTHER_TOKEN}\n`);
  });

  void it('warns when the file already holds the token but others may read it', async () => {
    await store.put(JOIN_TOKEN_KEY, OTHER_TOKEN);
    const dataDir = join(dir, 'lax');
    await mkdir(dataDir);
    const path = join(dataDir, 'join-token');
    await writeFile(path, `${OTHER_TOKEN}\n`);
    await chmod(path, 0o644);
    const { logger, text } = capturingLogger();
    assert.equal((await loadJoinToken({ dataDir, logger, store })).token, OTHER_TOKEN);
    assert.match(text(), /join token file is readable by others/);
  });

  void it('refuses a stored token that is not one long token, naming the key', async () => {
    await store.put(JOIN_TOKEN_KEY, 'short');
    const { logger } = capturingLogger();
    await assert.rejects(loadJoinToken({ dataDir: join(dir, 'stored-short'), logger, store }), (err: unknown) => {
      assert.match((err as Error).message, new RegExp(`the join token in the store \\(${JOIN_TOKEN_KEY}\\) must be one token`));
      return true;
    });
    await store.delete(JOIN_TOKEN_KEY);
  });
});

void describe('join token store errors', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-join-token-errors-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('names the key when the store cannot be read or written', async () => {
    const { logger } = capturingLogger();
    const unreadable = { get: () => Promise.reject(new StoreUnavailableError('etcd unreachable')) } as unknown as Store;
    await assert.rejects(
      loadJoinToken({ dataDir: dir, logger, store: unreadable }),
      new RegExp(`^Error: cannot read the join token from the store \\(${JOIN_TOKEN_KEY}\\): etcd unreachable$`),
    );
    const unwritable = {
      get: () => Promise.resolve(undefined),
      put: () => Promise.reject(new StoreUnavailableError('etcd unreachable')),
    } as unknown as Store;
    await assert.rejects(
      loadJoinToken({ dataDir: dir, logger, store: unwritable }),
      new RegExp(`^Error: cannot store the join token under ${JOIN_TOKEN_KEY}: etcd unreachable$`),
    );
    await assert.rejects(stat(join(dir, 'join-token')), { code: 'ENOENT' });
  });
});

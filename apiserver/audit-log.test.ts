// AuditLog on real files in a temporary directory: group commit, rotation, torn-tail repair,
// queries with filters and continue tokens across rotated files.
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditLog, ExpiredContinueError, InvalidContinueError, InvalidFilterError, type AuditRecord } from './audit-log.js';
import { capturingLogger } from '../test/harness/logging.js';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');

/** Record number `i` (requestId `req-<i>`), one second after the previous one. */
function rec(i: number, extra: Partial<AuditRecord> = {}): AuditRecord {
  return {
    time: new Date(T0 + i * 1000).toISOString(),
    requestId: `req-${i}`,
    user: 'alice',
    role: 'admin',
    sourceAddress: '127.0.0.1',
    userAgent: 'test',
    method: 'POST',
    path: '/apis/openscheduler.io/v1/namespaces/default/jobs',
    verb: 'create',
    apiGroup: 'openscheduler.io',
    resource: 'jobs',
    namespace: 'default',
    name: `job-${i}`,
    code: 201,
    durationMs: 3,
    event: 'request',
    ...extra,
  };
}

async function linesOf(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), `${path} does not end with a newline`);
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

const ids = (records: readonly AuditRecord[]): string[] => records.map((r) => r.requestId);

void describe('AuditLog', () => {
  let dir: string;
  let n = 0;
  const fresh = (): string => join(dir, `case-${++n}`, 'audit', 'audit.log');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-audit-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('creates the directory 0700 and the file 0600, and appends one JSON line per record', async () => {
    const path = fresh();
    const log = await AuditLog.open({ path, logger: capturingLogger().logger });
    await log.append(rec(1));
    // durable once append resolved: the line is in the file before close
    assert.deepEqual((await linesOf(path)).map((l) => JSON.parse(l) as AuditRecord), [rec(1)]);
    await log.close();
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(path, '..'))).mode & 0o777, 0o700);
    await assert.rejects(log.append(rec(2)), /closed/);
  });

  void it('group-commits records that arrive while a write is in flight', async () => {
    const path = fresh();
    const log = await AuditLog.open({ path, logger: capturingLogger().logger });
    const count = 300;
    await Promise.all(Array.from({ length: count }, (_, i) => log.append(rec(i))));
    const lines = await linesOf(path);
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as AuditRecord).requestId), Array.from({ length: count }, (_, i) => `req-${i}`));
    // the first record goes alone; everything that queued behind it shares the next writes
    assert.ok(log.batchesWritten >= 1 && log.batchesWritten <= 3, `batches: ${log.batchesWritten}`);
    await log.close();
  });

  void it('close() writes what is pending', async () => {
    const path = fresh();
    const log = await AuditLog.open({ path, logger: capturingLogger().logger });
    const appends = Array.from({ length: 50 }, (_, i) => log.append(rec(i)));
    await log.close();
    await Promise.all(appends);
    assert.equal((await linesOf(path)).length, 50);
  });

  void it('rotates by size, keeps maxFiles rotated files, and loses no record across rotations', async () => {
    const path = fresh();
    const lineBytes = Buffer.byteLength(JSON.stringify(rec(100)) + '\n');
    const maxBytes = lineBytes * 4 + 10; // four records per file
    const { logger, text } = capturingLogger();
    const log = await AuditLog.open({ path, maxBytes, maxFiles: 3, logger });
    // sequential and concurrent appends (batches that straddle a rotation)
    for (let i = 100; i < 110; i++) await log.append(rec(i));
    await Promise.all(Array.from({ length: 30 }, (_, k) => log.append(rec(110 + k))));
    await log.close();

    const names = (await readdir(join(path, '..'))).sort();
    assert.deepEqual(names, ['audit.log', 'audit.log.1', 'audit.log.2', 'audit.log.3']);
    const kept: AuditRecord[] = [];
    for (const name of ['audit.log.3', 'audit.log.2', 'audit.log.1', 'audit.log']) {
      const file = join(path, '..', name);
      assert.ok((await stat(file)).size <= maxBytes, `${name} is larger than maxBytes`);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      kept.push(...(await linesOf(file)).map((l) => JSON.parse(l) as AuditRecord));
    }
    // what is kept is the newest records, contiguous: only whole old files were dropped
    const numbers = kept.map((r) => Number(r.requestId.slice(4)));
    assert.equal(numbers.at(-1), 139);
    assert.deepEqual(numbers, Array.from({ length: numbers.length }, (_, k) => 140 - numbers.length + k));
    assert.ok(numbers.length >= 13, `kept ${numbers.length}`);
    assert.match(text(), /audit log rotated/);
  });

  void it('with enough rotated files, every record survives the rotations', async () => {
    const path = fresh();
    const lineBytes = Buffer.byteLength(JSON.stringify(rec(100)) + '\n');
    const log = await AuditLog.open({ path, maxBytes: lineBytes * 3, maxFiles: 100, logger: capturingLogger().logger });
    await Promise.all(Array.from({ length: 40 }, (_, k) => log.append(rec(100 + k))));
    for (let k = 40; k < 60; k++) await log.append(rec(100 + k));
    await log.close();
    const names = await readdir(join(path, '..'));
    const all: string[] = [];
    for (let k = names.length - 1; k >= 0; k--) {
      all.push(...(await linesOf(k === 0 ? path : `${path}.${k}`)).map((l) => (JSON.parse(l) as AuditRecord).requestId));
    }
    assert.deepEqual(all, Array.from({ length: 60 }, (_, k) => `req-${100 + k}`));
  });

  void it('a record larger than maxBytes is still written, in a file of its own', async () => {
    const path = fresh();
    const log = await AuditLog.open({ path, maxBytes: 100, maxFiles: 2, logger: capturingLogger().logger });
    await log.append(rec(1));
    await log.append(rec(2));
    await log.close();
    assert.deepEqual((await linesOf(path)).map((l) => (JSON.parse(l) as AuditRecord).requestId), ['req-2']);
    assert.deepEqual((await linesOf(`${path}.1`)).map((l) => (JSON.parse(l) as AuditRecord).requestId), ['req-1']);
  });

  void it('cuts an incomplete last line at open, with a warning, and appends after it', async () => {
    const path = fresh();
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, `${JSON.stringify(rec(1))}\n${JSON.stringify(rec(2))}\n{"time":"2026-03-01T10:00:03.000Z","requestId":"req-3","us`);
    const { logger, text } = capturingLogger();
    const log = await AuditLog.open({ path, logger });
    assert.match(text(), /incomplete last line/);
    await log.append(rec(4));
    await log.close();
    assert.deepEqual((await linesOf(path)).map((l) => (JSON.parse(l) as AuditRecord).requestId), ['req-1', 'req-2', 'req-4']);
  });

  void it('a file without any newline is cut to nothing; a whole file is left alone', async () => {
    const torn = fresh();
    await mkdir(join(torn, '..'), { recursive: true });
    await writeFile(torn, '{"time":"2026');
    await (await AuditLog.open({ path: torn, logger: capturingLogger().logger })).close();
    assert.equal((await stat(torn)).size, 0);

    const whole = fresh();
    await mkdir(join(whole, '..'), { recursive: true });
    await writeFile(whole, `${JSON.stringify(rec(1))}\n`, { mode: 0o600 });
    const { logger, text } = capturingLogger();
    await (await AuditLog.open({ path: whole, logger })).close();
    assert.equal(text(), '');
    assert.equal((await linesOf(whole)).length, 1);
  });

  void describe('query', () => {
    let log: AuditLog;
    let path: string;
    const records: AuditRecord[] = [];

    before(async () => {
      path = fresh();
      const lineBytes = Buffer.byteLength(JSON.stringify(rec(0, { userAgent: 'x'.repeat(40) })) + '\n');
      // about five records per file, so that pages cross rotated files
      log = await AuditLog.open({ path, maxBytes: lineBytes * 5, maxFiles: 20, logger: capturingLogger().logger });
      for (let i = 0; i < 60; i++) {
        const r = rec(i, {
          user: i % 3 === 0 ? 'bob' : 'alice',
          verb: ['create', 'update', 'delete'][i % 3]!,
          resource: i % 4 === 0 ? 'jobs/retry' : i % 4 === 1 ? 'nodes' : 'jobs',
          namespace: i % 4 === 1 ? '' : i % 2 === 0 ? 'default' : 'team-a',
          code: [201, 200, 403, 401, 409][i % 5]!,
          event: i % 5 === 2 ? 'authorizationFailure' : i % 5 === 3 ? 'authenticationFailure' : 'request',
        });
        records.push(r);
        await log.append(r);
      }
    });
    after(async () => {
      await log.close();
    });

    const expected = (pred: (r: AuditRecord) => boolean): string[] => ids(records.filter(pred).reverse());

    void it('returns everything newest first, across rotated files', async () => {
      assert.ok((await readdir(join(path, '..'))).length > 5);
      const page = await log.query({ limit: 1000 });
      assert.deepEqual(ids(page.items), expected(() => true));
      assert.equal(page.continue, undefined);
      assert.equal((await log.query({})).items.length, 60);
    });

    void it('filters by user, verb, namespace, name, requestId and code', async () => {
      assert.deepEqual(ids((await log.query({ user: 'bob' })).items), expected((r) => r.user === 'bob'));
      assert.deepEqual(ids((await log.query({ verb: 'delete' })).items), expected((r) => r.verb === 'delete'));
      assert.deepEqual(ids((await log.query({ namespace: 'team-a' })).items), expected((r) => r.namespace === 'team-a'));
      assert.deepEqual(ids((await log.query({ name: 'job-7' })).items), ['req-7']);
      assert.deepEqual(ids((await log.query({ requestId: 'req-42' })).items), ['req-42']);
      assert.deepEqual(ids((await log.query({ code: '403' })).items), expected((r) => r.code === 403));
      assert.deepEqual(ids((await log.query({ code: '4xx' })).items), expected((r) => r.code >= 400 && r.code < 500));
      assert.deepEqual(ids((await log.query({ code: '2XX', user: 'alice' })).items), expected((r) => r.code < 300 && r.user === 'alice'));
    });

    void it('resource=jobs matches its subresources; jobs/retry only that subresource', async () => {
      assert.deepEqual(ids((await log.query({ resource: 'jobs' })).items), expected((r) => r.resource === 'jobs' || r.resource === 'jobs/retry'));
      assert.deepEqual(ids((await log.query({ resource: 'jobs/retry' })).items), expected((r) => r.resource === 'jobs/retry'));
      assert.deepEqual(ids((await log.query({ resource: 'nodes' })).items), expected((r) => r.resource === 'nodes'));
    });

    void it('since is inclusive, until exclusive', async () => {
      const since = T0 + 10_000;
      const until = T0 + 20_000;
      assert.deepEqual(ids((await log.query({ since, until })).items), expected((r) => Date.parse(r.time) >= since && Date.parse(r.time) < until));
      assert.equal((await log.query({ since: T0 + 3_600_000 })).items.length, 0);
    });

    void it('pages with continue tokens, across files, without gaps or repeats', async () => {
      for (const filter of [{}, { user: 'alice' }, { code: '4xx' }]) {
        const seen: string[] = [];
        let token: string | undefined;
        let pages = 0;
        do {
          const page = await log.query({ ...filter, limit: 7, continue: token });
          assert.ok(page.items.length <= 7);
          seen.push(...ids(page.items));
          token = page.continue;
          pages += 1;
        } while (token !== undefined && pages < 100);
        assert.deepEqual(seen, (await log.query({ ...filter, limit: 1000 })).items.map((r) => r.requestId));
      }
    });

    void it('a token stays valid while new records are appended and files rotate', async () => {
      const first = await log.query({ limit: 10 });
      assert.deepEqual(ids(first.items), expected(() => true).slice(0, 10));
      const extra = Array.from({ length: 12 }, (_, k) => rec(1000 + k));
      for (const r of extra) await log.append(r);
      const second = await log.query({ limit: 10, continue: first.continue });
      assert.deepEqual(ids(second.items), expected(() => true).slice(10, 20));
      records.push(...extra);
    });

    void it('refuses bad limits, codes and tokens, naming them', async () => {
      await assert.rejects(log.query({ limit: 0 }), (err: unknown) => err instanceof InvalidFilterError && err.field === 'limit');
      await assert.rejects(log.query({ limit: 5001 }), (err: unknown) => err instanceof InvalidFilterError && err.field === 'limit');
      await assert.rejects(log.query({ code: '40' }), (err: unknown) => err instanceof InvalidFilterError && err.field === 'code');
      await assert.rejects(log.query({ continue: 'garbage' }), InvalidContinueError);
      const forged = Buffer.from(JSON.stringify({ v: 1, file: 'no-such-file', off: 0 })).toString('base64url');
      await assert.rejects(log.query({ continue: forged }), ExpiredContinueError);
    });

    void it('a token whose file was rotated away expires', async () => {
      const small = fresh();
      const lineBytes = Buffer.byteLength(JSON.stringify(rec(0)) + '\n');
      const short = await AuditLog.open({ path: small, maxBytes: lineBytes * 2, maxFiles: 1, logger: capturingLogger().logger });
      for (let i = 0; i < 4; i++) await short.append(rec(i));
      const page = await short.query({ limit: 1 });
      assert.ok(page.continue);
      for (let i = 4; i < 10; i++) await short.append(rec(i));
      await assert.rejects(short.query({ limit: 1, continue: page.continue }), ExpiredContinueError);
      await short.close();
    });

    void it('skips an unterminated tail (a write in progress) when reading', async () => {
      const other = fresh();
      const sideLog = await AuditLog.open({ path: other, logger: capturingLogger().logger });
      await sideLog.append(rec(1));
      await sideLog.append(rec(2));
      await appendFile(`${other}.1`, `${JSON.stringify(rec(0))}\n{"partial`);
      assert.deepEqual(ids((await sideLog.query({})).items), ['req-2', 'req-1', 'req-0']);
      await sideLog.close();
    });
  });
});

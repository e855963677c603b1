// FileLogStore on a real temporary directory: idempotent appends, interleaving, the size cap,
// torn-tail recovery, retention, follow, attempt records and reopening.
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FakeClock } from '../controllers/runtime/clock.js';
import type { AttemptRecord } from '../controllers/jobs/job-transitions.js';
import { capMarker, FileLogStore, formatSize, LogInputError, LogStoreClosedError, type JobRef, type LogStreamName } from './log-store.js';

const JOB: JobRef = { namespace: 'default', name: 'hello', uid: '6a1f0c1e-0000-4000-8000-000000000001' };
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

async function collect(iterable: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of iterable) parts.push(Buffer.from(part));
  return Buffer.concat(parts).toString('utf8');
}

/** Polls `condition` until it holds or the deadline passes. */
async function eventually(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function record(attempt: number, extra: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    namespace: JOB.namespace,
    name: JOB.name,
    jobUid: JOB.uid,
    attempt,
    retrySeries: 0,
    nodeName: 'node-1',
    endTime: '2030-01-01T00:00:10Z',
    exitCode: 0,
    reason: 'Completed',
    ...extra,
  };
}

void describe('FileLogStore', () => {
  let dir: string;
  let store: FileLogStore;
  const stores: FileLogStore[] = [];

  const open = (options: Partial<ConstructorParameters<typeof FileLogStore>[0]> = {}): FileLogStore => {
    const s = new FileLogStore({ dir: join(dir, 'logs'), ...options });
    stores.push(s);
    return s;
  };
  const put = (s: FileLogStore, stream: LogStreamName, offset: number, text: string, eof = false, attempt = 1) =>
    s.append(JOB, { attempt, stream, offset, data: bytes(text), eof });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-logs-'));
    store = open();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  });

  void it('creates the directories 0700 and the files 0600, keyed by namespace, name and uid', async () => {
    await put(store, 'stdout', 0, 'hi\n');
    await store.recordAttempt(record(1));
    assert.equal((await stat(join(dir, 'logs'))).mode & 0o777, 0o700);
    const uidDir = join(dir, 'logs', 'default', 'hello', JOB.uid);
    assert.equal((await stat(uidDir)).mode & 0o777, 0o700);
    assert.deepEqual((await readdir(uidDir)).sort(), ['1.json', '1.log']);
    assert.equal((await stat(join(uidDir, '1.log'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(uidDir, '1.json'))).mode & 0o777, 0o600);
  });

  void it('interleaves stdout and stderr in arrival order; one stream can be read alone', async () => {
    await put(store, 'stdout', 0, 'out 1\n');
    await put(store, 'stderr', 0, 'err 1\n');
    await put(store, 'stdout', 6, 'out 2\n');
    await put(store, 'stderr', 6, 'err 2\n', true);
    await put(store, 'stdout', 12, 'out 3\n', true);
    assert.equal(await collect(store.read(JOB, 1)), 'out 1\nerr 1\nout 2\nerr 2\nout 3\n');
    assert.equal(await collect(store.read(JOB, 1, { stream: 'stdout' })), 'out 1\nout 2\nout 3\n');
    assert.equal(await collect(store.read(JOB, 1, { stream: 'stderr' })), 'err 1\nerr 2\n');
    assert.deepEqual(await store.offsets(JOB, 1), [
      { attempt: 1, stream: 'stdout', nextOffset: 18, complete: true },
      { attempt: 1, stream: 'stderr', nextOffset: 12, complete: true },
    ]);
    assert.equal(await collect(store.read(JOB, 2)), '', 'an attempt without logs reads as empty');
  });

  void it('is idempotent by offset: resent bytes are skipped, an overlap stores only the new part', async () => {
    assert.deepEqual(await put(store, 'stdout', 0, 'abc'), { attempt: 1, stream: 'stdout', nextOffset: 3, complete: false });
    assert.deepEqual(await put(store, 'stdout', 0, 'abc'), { attempt: 1, stream: 'stdout', nextOffset: 3, complete: false });
    assert.deepEqual(await put(store, 'stdout', 1, 'bcdef'), { attempt: 1, stream: 'stdout', nextOffset: 6, complete: false });
    assert.deepEqual(await put(store, 'stdout', 6, '', true), { attempt: 1, stream: 'stdout', nextOffset: 6, complete: true });
    assert.deepEqual(await put(store, 'stdout', 3, 'def', true), { attempt: 1, stream: 'stdout', nextOffset: 6, complete: true });
    assert.deepEqual(await put(store, 'stdout', 6, 'after eof'), { attempt: 1, stream: 'stdout', nextOffset: 6, complete: true });
    assert.equal(await collect(store.read(JOB, 1)), 'abcdef');
  });

  void it('refuses a gap: nothing is stored and nextOffset says where to resume', async () => {
    await put(store, 'stderr', 0, '0123');
    assert.deepEqual(await put(store, 'stderr', 10, 'later'), { attempt: 1, stream: 'stderr', nextOffset: 4, complete: false });
    assert.deepEqual(await put(store, 'stderr', 4, '4567'), { attempt: 1, stream: 'stderr', nextOffset: 8, complete: false });
    assert.equal(await collect(store.read(JOB, 1)), '01234567');
  });

  void it('serialises concurrent appends of one attempt in call order', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => `line ${String(i).padStart(2, '0')}\n`);
    let offset = 0;
    const acks = await Promise.all(
      lines.map((line) => {
        const at = offset;
        offset += line.length;
        return put(store, 'stdout', at, line);
      }),
    );
    assert.equal(acks.at(-1)?.nextOffset, offset);
    assert.equal(await collect(store.read(JOB, 1)), lines.join(''));
  });

  void it('keeps at most maxOpenAttempts files open; an evicted attempt goes on where it stopped', async () => {
    const lru = open({ dir: join(dir, 'lru'), maxOpenAttempts: 1 });
    const openFiles = async (): Promise<number> => {
      let count = 0;
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
        if (target.startsWith(join(dir, 'lru'))) count++;
      }
      return count;
    };
    for (let round = 0; round < 3; round++) {
      for (let attempt = 1; attempt <= 3; attempt++) {
        const ack = await put(lru, 'stdout', round * 3, `${round}.${attempt}`, false, attempt);
        assert.equal(ack.nextOffset, (round + 1) * 3);
      }
    }
    for (let attempt = 1; attempt <= 3; attempt++) {
      assert.equal(await collect(lru.read(JOB, attempt)), `0.${attempt}1.${attempt}2.${attempt}`);
    }
    // Evicted files close in the background: poll until they have.
    const deadline = Date.now() + 10_000;
    let files = await openFiles();
    while (files > 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      files = await openFiles();
    }
    assert.ok(files <= 1, `${files} log files open`);
  });

  void it('an EOF counts only from a chunk that reaches the stored end', async () => {
    await put(store, 'stdout', 0, 'abcdef');
    assert.deepEqual(await put(store, 'stdout', 0, 'abc', true), { attempt: 1, stream: 'stdout', nextOffset: 6, complete: false });
    assert.deepEqual(await put(store, 'stdout', 3, 'def', true), { attempt: 1, stream: 'stdout', nextOffset: 6, complete: true });
  });

  void it('stores large chunks in bounded records and reads them back whole', async () => {
    const big = Buffer.alloc(300 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = 97 + (i % 26);
    const ack = await store.append(JOB, { attempt: 1, stream: 'stdout', offset: 0, data: big, eof: true });
    assert.equal(ack.nextOffset, big.length);
    const parts: Uint8Array[] = [];
    for await (const part of store.read(JOB, 1)) parts.push(part);
    assert.ok(parts.length >= 5, `read in bounded parts, got ${parts.length}`);
    assert.ok(Buffer.concat(parts).equals(big));
  });

  void it('counts bytes past the size cap, keeps offsets moving, and shows one marker line', async () => {
    const capped = open({ dir: join(dir, 'capped'), maxAttemptBytes: 10 });
    await put(capped, 'stdout', 0, 'abcdef');
    await put(capped, 'stderr', 0, 'ghijkl');
    assert.deepEqual(await put(capped, 'stdout', 6, 'mnop', true), { attempt: 1, stream: 'stdout', nextOffset: 10, complete: true });
    await put(capped, 'stderr', 6, 'q', true);
    const marker = '[openscheduler: 7 bytes dropped, log size cap of 10 bytes reached]\n';
    assert.equal(await collect(capped.read(JOB, 1)), `abcdefghij\n${marker}`);
    assert.equal(await collect(capped.read(JOB, 1, { stream: 'stdout' })), 'abcdef\n[openscheduler: 4 bytes dropped, log size cap of 10 bytes reached]\n');
    assert.equal(await collect(capped.read(JOB, 1, { limitBytes: 4 })), 'abcd', 'no marker when the limit cut the output');
    const [listed] = await capped.listAttempts('default', 'hello');
    assert.equal(listed?.storedBytes, 10);
    assert.equal(listed?.droppedBytes, 7);
    assert.equal(capMarker(5, 10 * 1024 * 1024), '[openscheduler: 5 bytes dropped, log size cap of 10MiB reached]\n');
    assert.equal(formatSize(512 * 1024), '512KiB');
  });

  void it('recovers after a crash: a torn last record is truncated away, offsets come from the file', async () => {
    await put(store, 'stdout', 0, 'kept 1\n');
    await put(store, 'stderr', 0, 'kept 2\n');
    await store.close();
    const file = join(dir, 'logs', 'default', 'hello', JOB.uid, '1.log');
    const before = (await stat(file)).size;
    await appendFile(file, Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 5, 0, 0, 0, 0x41, 0x42]));
    const reopened = open();
    assert.equal(await collect(reopened.read(JOB, 1)), 'kept 1\nkept 2\n', 'readers stop before the torn record');
    assert.deepEqual(await reopened.offsets(JOB, 1), [
      { attempt: 1, stream: 'stdout', nextOffset: 7, complete: false },
      { attempt: 1, stream: 'stderr', nextOffset: 7, complete: false },
    ]);
    await put(reopened, 'stdout', 7, 'next\n', true);
    assert.ok((await stat(file)).size > before);
    assert.equal(await collect(reopened.read(JOB, 1)), 'kept 1\nkept 2\nnext\n');
    await reopened.close();
    // And once more from a third instance: nothing of the garbage is left.
    assert.equal(await collect(open().read(JOB, 1, { stream: 'stdout' })), 'kept 1\nnext\n');
  });

  void it('survives reopening: content, offsets, completeness and records', async () => {
    await put(store, 'stdout', 0, 'one\n', true);
    await put(store, 'stderr', 0, 'two\n');
    await store.recordAttempt(record(1, { exitCode: 3, reason: 'Error' }));
    await store.close();
    await assert.rejects(put(store, 'stderr', 4, 'x'), LogStoreClosedError);
    const reopened = open();
    assert.equal(await collect(reopened.read(JOB, 1)), 'one\ntwo\n');
    assert.deepEqual(await put(reopened, 'stderr', 0, 'two\n', true), { attempt: 1, stream: 'stderr', nextOffset: 4, complete: true });
    const [listed] = await reopened.listAttempts('default', 'hello');
    assert.equal(listed?.complete, true);
    assert.equal(listed?.record?.reason, 'Error');
    assert.equal(listed?.record?.exitCode, 3);
  });

  void it('refuses names that could leave the log directory, naming the field', async () => {
    const bad: [JobRef, RegExp][] = [
      [{ ...JOB, namespace: '..' }, /^namespace: /],
      [{ ...JOB, name: 'a/b' }, /^name: must not contain/],
      [{ ...JOB, uid: 'x\0y' }, /^uid: must not contain/],
      [{ ...JOB, uid: '' }, /^uid: must be a non-empty string/],
    ];
    for (const [job, message] of bad) {
      await assert.rejects(store.append(job, { attempt: 1, stream: 'stdout', offset: 0, data: bytes('x'), eof: false }), (err: Error) => {
        assert.ok(err instanceof LogInputError);
        assert.match(err.message, message);
        return true;
      });
    }
    await assert.rejects(store.append(JOB, { attempt: 0, stream: 'stdout', offset: 0, data: bytes('x'), eof: false }), /chunk.attempt: must be an integer >= 1/);
    await assert.rejects(store.append(JOB, { attempt: 1, stream: 'stdin' as LogStreamName, offset: 0, data: bytes('x'), eof: false }), /chunk.stream: must be "stdout" or "stderr"/);
    await assert.rejects(store.append(JOB, { attempt: 1, stream: 'stdout', offset: -1, data: bytes('x'), eof: false }), /chunk.offset: must be an integer >= 0/);
    await assert.rejects(store.recordAttempt(record(1, { name: '../etc' })), /name: must not contain/);
    await assert.rejects(collect(store.read(JOB, 1, { offset: 1, tailLines: 1 })), /offset and tailLines/);
    assert.deepEqual(await readdir(dir), [], 'nothing was created');
  });

  void it('reads from an offset, a byte limit, or the last lines', async () => {
    await put(store, 'stdout', 0, 'a1\na2\n');
    await put(store, 'stderr', 0, 'b1\n');
    await put(store, 'stdout', 6, 'a3\na4', true);
    assert.equal(await collect(store.read(JOB, 1, { offset: 4 })), '2\nb1\na3\na4');
    assert.equal(await collect(store.read(JOB, 1, { stream: 'stdout', offset: 6, limitBytes: 3 })), 'a3\n');
    assert.equal(await collect(store.read(JOB, 1, { tailLines: 2 })), 'a3\na4');
    assert.equal(await collect(store.read(JOB, 1, { tailLines: 3, stream: 'stdout' })), 'a2\na3\na4');
    assert.equal(await collect(store.read(JOB, 1, { tailLines: 100 })), 'a1\na2\nb1\na3\na4');
    assert.equal(await collect(store.read(JOB, 1, { tailLines: 0 })), '');
  });

  void it('follow yields bytes appended later and ends when every stream is complete', async () => {
    await put(store, 'stdout', 0, 'before\n');
    const received: string[] = [];
    const following = (async () => {
      for await (const part of store.follow(JOB, 1)) received.push(Buffer.from(part).toString());
    })();
    await eventually(() => received.join('') === 'before\n', 'the stored bytes');
    await put(store, 'stderr', 0, 'later\n');
    await eventually(() => received.join('') === 'before\nlater\n', 'the appended bytes');
    await put(store, 'stdout', 7, '', true);
    await put(store, 'stderr', 6, 'last\n', true);
    await following;
    assert.equal(received.join(''), 'before\nlater\nlast\n');
  });

  void it('follow of one stream ends at its EOF; follow waits for an attempt that has no file yet', async () => {
    const following = collect(store.follow(JOB, 2, { stream: 'stderr' }));
    await put(store, 'stdout', 0, 'not this\n', false, 2);
    await put(store, 'stderr', 0, 'this\n', true, 2);
    assert.equal(await following, 'this\n');
  });

  void it('follow ends on abort (no marker) and when `until` resolves (with the marker)', async () => {
    const controller = new AbortController();
    const aborted = collect(store.follow(JOB, 1, { signal: controller.signal }));
    await put(store, 'stdout', 0, 'x\n');
    controller.abort();
    assert.equal(await aborted, 'x\n');

    const capped = open({ dir: join(dir, 'capped'), maxAttemptBytes: 2 });
    let stop!: () => void;
    const until = new Promise<void>((resolve) => (stop = resolve));
    const received: string[] = [];
    const following = (async () => {
      for await (const part of capped.follow(JOB, 1, { until })) received.push(Buffer.from(part).toString());
    })();
    await put(capped, 'stdout', 0, 'abcd');
    await eventually(() => received.join('') === 'ab', 'the stored bytes');
    stop();
    await following;
    assert.equal(received.join(''), 'ab\n[openscheduler: 2 bytes dropped, log size cap of 2 bytes reached]\n');

    const already = new AbortController();
    already.abort();
    assert.equal(await collect(store.follow(JOB, 1, { signal: already.signal })), '');
  });

  void it('closing the store ends followers', async () => {
    const following = collect(store.follow(JOB, 1));
    await put(store, 'stdout', 0, 'x');
    await store.close();
    assert.equal(await following, 'x');
  });

  void it('writes attempt records atomically and lists attempts by uid, latest uid last', async () => {
    const older: JobRef = { ...JOB, uid: 'uid-older' };
    await store.append(older, { attempt: 1, stream: 'stdout', offset: 0, data: bytes('old'), eof: true });
    await store.recordAttempt({ ...record(1), jobUid: 'uid-older' });
    const oldTime = new Date(Date.now() - 3600_000);
    for (const f of ['1.log', '1.json']) await utimes(join(dir, 'logs', 'default', 'hello', 'uid-older', f), oldTime, oldTime);
    await put(store, 'stdout', 0, 'new 1', true);
    await put(store, 'stdout', 0, 'new 2', false, 2);
    await store.recordAttempt(record(1));
    await store.recordAttempt(record(1, { reason: 'Error', exitCode: 2 }));

    const all = await store.listAttempts('default', 'hello');
    assert.deepEqual(
      all.map((a) => [a.uid, a.attempt, a.record?.reason, a.storedBytes]),
      [
        ['uid-older', 1, 'Completed', 3],
        [JOB.uid, 1, 'Error', 5],
        [JOB.uid, 2, undefined, 5],
      ],
    );
    assert.deepEqual((await store.listAttempts('default', 'hello', 'uid-older')).map((a) => a.attempt), [1]);
    assert.deepEqual(await store.listAttempts('default', 'nobody'), []);
    const files = await readdir(join(dir, 'logs', 'default', 'hello', JOB.uid));
    assert.deepEqual(files.sort(), ['1.json', '1.log', '2.log'], 'no temporary files are left');
  });

  void it('retention deletes attempts not written for the retention period, and empty directories', async () => {
    const clock = new FakeClock(Date.now());
    const retained = open({ dir: join(dir, 'r'), retentionSeconds: 3600, clock });
    const old: JobRef = { namespace: 'team', name: 'old', uid: 'u1' };
    await retained.append(old, { attempt: 1, stream: 'stdout', offset: 0, data: bytes('x'), eof: true });
    await retained.append(old, { attempt: 1, stream: 'stderr', offset: 0, data: bytes(''), eof: true });
    await retained.recordAttempt({ ...record(1), namespace: 'team', name: 'old', jobUid: 'u1' });
    await retained.append(JOB, { attempt: 1, stream: 'stdout', offset: 0, data: bytes('recent'), eof: true });
    await retained.append(JOB, { attempt: 1, stream: 'stderr', offset: 0, data: bytes(''), eof: true });
    await retained.append(JOB, { attempt: 2, stream: 'stdout', offset: 0, data: bytes('old attempt'), eof: true });
    await retained.append(JOB, { attempt: 2, stream: 'stderr', offset: 0, data: bytes(''), eof: true });
    const twoHoursAgo = new Date(clock.now() - 7200_000);
    for (const f of ['1.log', '1.json']) await utimes(join(dir, 'r', 'team', 'old', 'u1', f), twoHoursAgo, twoHoursAgo);
    await utimes(join(dir, 'r', 'default', 'hello', JOB.uid, '2.log'), twoHoursAgo, twoHoursAgo);
    await writeFile(join(dir, 'r', 'default', 'hello', JOB.uid, '.1.json.crash.tmp'), 'partial');
    await utimes(join(dir, 'r', 'default', 'hello', JOB.uid, '.1.json.crash.tmp'), twoHoursAgo, twoHoursAgo);

    const controller = new AbortController();
    const running = retained.run(controller.signal);
    await eventually(() => clock.pendingTimers() === 1, 'the first sweep to finish');
    assert.deepEqual(await readdir(join(dir, 'r')), ['default'], 'the old job and its namespace are gone');
    assert.deepEqual(await readdir(join(dir, 'r', 'default', 'hello', JOB.uid)), ['1.log'], 'the expired attempt and the stray temporary file are gone');
    assert.equal(await collect(retained.read(JOB, 1)), 'recent');

    clock.advance(3 * 3600_000);
    await eventually(() => clock.pendingTimers() === 1, 'the next sweep to finish');
    assert.deepEqual(await readdir(join(dir, 'r')), [], 'everything expired on the later sweep');

    controller.abort();
    await running;
    assert.equal(clock.pendingTimers(), 0, 'no timer is left');
    await assert.rejects(retained.append(JOB, { attempt: 1, stream: 'stdout', offset: 0, data: bytes('x'), eof: false }), LogStoreClosedError);
  });
});

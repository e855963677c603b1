// End-to-end: the audit log of the real `openscheduler dev` process survives `kill -9` in the
// middle of a stream of concurrent mutating requests: every line in the file is whole JSON, and
// every request answered 2xx before the kill has its record (joined by the Audit-Id header).
// After a restart on the same data dir the log is appended to where it stopped.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '../apiserver/audit-log.js';
import { startServerProcess, type ServerProcess } from './harness/server.js';

const WORKERS = 16;
/** Answers (2xx) to collect before the kill; the workers keep firing while it lands. */
const ANSWERS_BEFORE_KILL = 300;

function jobManifest(name: string): string {
  return JSON.stringify({
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name },
    spec: { driver: 'process', command: ['/bin/true'] },
  });
}

/** The file's whole lines, parsed (throws on a line that is not JSON), and its unterminated tail. */
function parseLog(text: string): { records: AuditRecord[]; tail: string } {
  const end = text.lastIndexOf('\n') + 1;
  const records = text
    .slice(0, end)
    .split('\n')
    .filter((l) => l !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as AuditRecord;
      } catch {
        throw new Error(`line ${i + 1} of the audit log is not JSON: ${l.slice(0, 200)}`);
      }
    });
  return { records, tail: text.slice(end) };
}

void describe('audit log survives kill -9 (e2e)', () => {
  let dataDir: string;
  let server: ServerProcess | undefined;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'os-audit-e2e-'));
  });
  after(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  void it('keeps a record of every answered request and no torn line', async () => {
    server = await startServerProcess({ dataDir });
    const { httpUrl, token } = server;
    const auditPath = join(dataDir, 'audit', 'audit.log');
    assert.equal((await stat(auditPath)).mode & 0o777, 0o600);

    const answered: { id: string; status: number; name: string }[] = [];
    let killed = false;
    let next = 0;
    let resolveEnough: () => void = () => undefined;
    const enough = new Promise<void>((resolve) => (resolveEnough = resolve));
    const worker = async (): Promise<void> => {
      while (!killed) {
        const name = `burst-${next++}`;
        try {
          const res = await fetch(`${httpUrl}/apis/openscheduler.io/v1/namespaces/default/jobs`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: jobManifest(name),
          });
          await res.text();
          answered.push({ id: res.headers.get('audit-id') ?? '', status: res.status, name });
          if (answered.length >= ANSWERS_BEFORE_KILL) resolveEnough();
        } catch {
          // the connection died with the server
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, () => worker());
    await enough;
    server.kill('SIGKILL');
    const code = await server.exited;
    killed = true;
    await Promise.all(workers);
    assert.equal(code, 128 + 9);
    await server.stop(); // removes its temporary HOME; the data dir is ours

    const { records, tail } = parseLog(await readFile(auditPath, 'utf8'));
    // A kill -9 can cut only a write whose batch was never acknowledged; none was seen here in practice,
    // and the next start removes it (checked below).
    if (tail !== '') process.stderr.write(`note: the kill left an unterminated tail of ${tail.length} bytes\n`);
    assert.ok(answered.every((a) => /^[0-9a-f-]{36}$/.test(a.id)), 'an answer without an Audit-Id');
    const ok = answered.filter((a) => a.status >= 200 && a.status < 300);
    assert.ok(ok.length >= ANSWERS_BEFORE_KILL, `only ${ok.length} answers`);
    const counts = new Map<string, number>();
    for (const r of records) counts.set(r.requestId, (counts.get(r.requestId) ?? 0) + 1);
    for (const a of ok) assert.equal(counts.get(a.id), 1, `the answered request ${a.id} (${a.name}) has ${counts.get(a.id) ?? 0} records`);
    for (const r of records) {
      assert.equal(r.event, 'request');
      assert.equal(r.user, 'admin');
    }
    // requests cut off by the kill may or may not have a record, never more than one
    assert.ok([...counts.values()].every((n) => n === 1));
    assert.ok(records.length >= ok.length && records.length <= answered.length + WORKERS, `${records.length} records for ${answered.length} answers`);

    // restart on the same data dir: the log is repaired if needed and appended to
    server = await startServerProcess({ dataDir });
    const after = await fetch(`${server.httpUrl}/apis/openscheduler.io/v1/namespaces/default/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: jobManifest('after-restart'),
    });
    assert.equal(after.status, 201);
    const afterId = after.headers.get('audit-id');
    const again = parseLog(await readFile(auditPath, 'utf8'));
    assert.equal(again.tail, '');
    assert.deepEqual(
      again.records.slice(0, records.length).map((r) => r.requestId),
      records.map((r) => r.requestId),
    );
    assert.equal(again.records.at(-1)?.requestId, afterId);

    // and the API finds the answered requests by their Audit-Id
    const sample = ok[Math.floor(ok.length / 2)]!;
    const found = await fetch(`${server.httpUrl}/api/v1/audit?requestId=${sample.id}`, { headers: { authorization: `Bearer ${server.token}` } });
    assert.equal(found.status, 200);
    const body = (await found.json()) as { items: AuditRecord[] };
    assert.deepEqual(
      body.items.map((r) => [r.requestId, r.verb, r.resource, r.code]),
      [[sample.id, 'create', 'jobs', 201]],
    );
  });
});

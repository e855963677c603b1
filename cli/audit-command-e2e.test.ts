// End-to-end: `osctl audit` (the real osctl binary) against a real `openscheduler dev` process,
// with filters, paging (--limit) and both output formats.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '../apiserver/audit-log.js';
import { osctl as runOsctlBinary, type CliRun } from '../test/harness/e2e.js';
import { type ServerProcess, startServerProcess } from '../test/harness/server.js';

const HEADER = /^TIME\s+USER\s+VERB\s+RESOURCE\s+NAMESPACE\/NAME\s+CODE\s+SOURCE\s+REQUEST-ID$/;

void describe('osctl audit end to end', () => {
  let server: ServerProcess;
  let work: string;
  const ids: Record<string, string> = {};

  function osctl(args: readonly string[]): Promise<CliRun> {
    return runOsctlBinary(args, { OSCTL_CONFIG: server.osctlConfigPath, HOME: work }, { timeoutMs: 30_000 });
  }

  async function call(key: string, method: string, path: string, body?: unknown, token: string | null = server.token): Promise<number> {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${server.httpUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    await res.text();
    ids[key] = res.headers.get('audit-id') ?? '';
    return res.status;
  }

  const job = (name: string, namespace: string): unknown => ({
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace },
    spec: { driver: 'process', command: ['/bin/true'] },
  });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'osctl-audit-e2e-'));
    server = await startServerProcess();
    assert.equal(await call('createA', 'POST', '/apis/openscheduler.io/v1/namespaces/default/jobs', job('a1', 'default')), 201);
    assert.equal(await call('createB', 'POST', '/apis/openscheduler.io/v1/namespaces/team-a/jobs', job('b1', 'team-a')), 201);
    assert.equal(await call('deleteA', 'DELETE', '/apis/openscheduler.io/v1/namespaces/default/jobs/a1'), 200);
    assert.equal(await call('login', 'POST', '/api/v1/auth/login', { username: 'ghost', password: 'not-the-password' }, null), 401);
    assert.equal(await call('read', 'GET', '/apis/openscheduler.io/v1/namespaces/default/jobs'), 200);
  });

  after(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  void it('-o json lists the records newest first', async () => {
    const res = await osctl(['audit', '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    const list = JSON.parse(res.stdout) as { kind: string; apiVersion: string; items: AuditRecord[] };
    assert.equal(list.kind, 'AuditEventList');
    assert.deepEqual(
      list.items.map((r) => r.requestId),
      [ids.login, ids.deleteA, ids.createB, ids.createA],
    );
    assert.ok(!list.items.some((r) => r.requestId === ids.read));
  });

  void it('filters by verb, namespace, user, code and request id, in a table', async () => {
    const deletes = await osctl(['audit', '--verb', 'delete']);
    assert.equal(deletes.code, 0, deletes.stderr);
    const rows = deletes.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, HEADER);
    assert.equal(rows.length, 2);
    assert.match(rows[1]!, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+admin\\s+delete\\s+jobs\\s+default/a1\\s+200\\s+\\S+\\s+${ids.deleteA}$`));

    const team = await osctl(['audit', '-n', 'team-a', '-o', 'json']);
    assert.equal(team.code, 0, team.stderr);
    assert.deepEqual((JSON.parse(team.stdout) as { items: AuditRecord[] }).items.map((r) => r.requestId), [ids.createB]);

    const failedLogins = await osctl(['audit', '--user', 'ghost', '--code', '4xx']);
    assert.equal(failedLogins.code, 0, failedLogins.stderr);
    const loginRows = failedLogins.stdout.trimEnd().split('\n');
    assert.equal(loginRows.length, 2);
    assert.match(loginRows[1]!, new RegExp(`\\sghost\\s+post\\s+/api/v1/auth/login\\s+<none>\\s+401\\s+\\S+\\s+${ids.login}$`));

    const byId = await osctl(['audit', '--request-id', ids.createA!, '--resource', 'jobs', '--since', '1h']);
    assert.equal(byId.code, 0, byId.stderr);
    assert.match(byId.stdout, new RegExp(`\\screate\\s+jobs\\s+default/\\s+201\\s+\\S+\\s+${ids.createA}\\n$`));
  });

  void it('--limit caps the output; an empty result says so on stderr', async () => {
    const two = await osctl(['audit', '--limit', '2', '-o', 'json']);
    assert.equal(two.code, 0, two.stderr);
    assert.deepEqual((JSON.parse(two.stdout) as { items: AuditRecord[] }).items.map((r) => r.requestId), [ids.login, ids.deleteA]);

    const none = await osctl(['audit', '--since', '2099-01-01T00:00:00Z']);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /No audit records found/);

    const older = await osctl(['audit', '--until', '1h']);
    assert.equal(older.code, 0, older.stderr);
    assert.equal(older.stdout, '');
  });

  void it('bad flags exit 1 naming the flag', async () => {
    for (const [args, flag] of [
      [['--code', '4x'], '--code'],
      [['--since', 'yesterday'], '--since'],
      [['--limit', '0'], '--limit'],
      [['-o', 'yaml'], '-o'],
    ] as const) {
      const res = await osctl(['audit', ...args]);
      assert.equal(res.code, 1, args.join(' '));
      assert.ok(res.stderr.includes(flag), res.stderr);
    }
  });
});

// End-to-end: `osctl token create|list|revoke` (the real osctl binary) against a real
// `openscheduler dev` process, configured through the OSCTL_CONFIG that `dev` writes.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { osctl as runOsctlBinary, type CliRun } from '../test/harness/e2e.js';
import { type ServerProcess, startServerProcess } from '../test/harness/server.js';

const TOKEN_SHAPE = /^ost_([a-z2-7]{12})\.[A-Za-z0-9_-]{43}$/;

void describe('osctl token end to end', () => {
  let server: ServerProcess;
  let work: string;

  function osctl(args: readonly string[]): Promise<CliRun> {
    return runOsctlBinary(args, { OSCTL_CONFIG: server.osctlConfigPath, HOME: work }, { timeoutMs: 30_000 });
  }

  async function listTokens(): Promise<{ id: string; nodeName: string }[]> {
    const res = await fetch(`${server.httpUrl}/api/v1/nodetokens`, { headers: { Authorization: `Bearer ${server.token}` } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { items: { id: string; nodeName: string }[] }).items;
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'osctl-token-e2e-'));
    server = await startServerProcess();
  });

  after(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  void it('create prints the token alone on stdout, with a hint on stderr; list shows it; revoke removes it', async () => {
    const created = await osctl(['token', 'create', '--node', 'worker-1', '--ttl', '24h', '--description', 'rack four']);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    const match = TOKEN_SHAPE.exec(token);
    assert.ok(match, `stdout: ${created.stdout}`);
    assert.equal(created.stdout, `${token}\n`);
    assert.match(created.stderr, /openscheduler agent --server HOST:PORT --name worker-1 --token/);
    assert.ok(!created.stderr.includes(token), 'the token is printed once');
    const id = match[1]!;

    const second = await osctl(['token', 'create', '--node', 'worker-2']);
    assert.equal(second.code, 0, second.stderr);

    const list = await osctl(['token', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, /^ID\s+NODE\s+CREATED\s+EXPIRES\s+DESCRIPTION$/);
    const row = rows.find((r) => r.startsWith(id));
    assert.ok(row, list.stdout);
    assert.match(row, new RegExp(`^${id}\\s+worker-1\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+rack four$`));
    assert.ok(rows.some((r) => /\sworker-2\s.*<never>/.test(r)), list.stdout);
    assert.ok(!list.stdout.includes(token.split('.')[1]!), 'list shows a secret');

    const revoked = await osctl(['token', 'revoke', id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, `nodetoken "${id}" revoked\n`);
    assert.ok(!(await listTokens()).some((t) => t.id === id));

    const again = await osctl(['token', 'revoke', id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Error from server \(NotFound\): nodetokens ".*" not found/);
  });

  void it('bad input exits 1 with a message naming the flag or field', async () => {
    const badNode = await osctl(['token', 'create', '--node', 'Bad_Node']);
    assert.equal(badNode.code, 1);
    assert.match(badNode.stderr, /nodeName must be a DNS-1123 subdomain/);
    assert.equal(badNode.stdout, '');

    const badTtl = await osctl(['token', 'create', '--node', 'n1', '--ttl', 'soon']);
    assert.equal(badTtl.code, 1);
    assert.match(badTtl.stderr, /--ttl/);

    const noNode = await osctl(['token', 'create']);
    assert.equal(noNode.code, 1);
    assert.match(noNode.stderr, /--node/);

    const noId = await osctl(['token', 'revoke']);
    assert.equal(noId.code, 1);
    assert.ok(!(await listTokens()).some((t) => t.nodeName === 'n1' || t.nodeName === 'Bad_Node'));
  });

  void it('without credentials the server refuses: exit 1 with the login hint', async () => {
    const res = await osctl(['--token', 'wrong', 'token', 'list']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /Unauthorized/);
    assert.match(res.stderr, /osctl login/);
  });
});

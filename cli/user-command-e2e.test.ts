// End-to-end: `osctl user create|list|passwd|token|delete` and `osctl whoami` (the real osctl
// binary) against a real `openscheduler dev` process, as its admin (the OSCTL_CONFIG `dev` writes)
// and as the users the test creates (each logged in with its own config file). The terminal
// prompts are driven in-process through runOsctl with a scripted terminal, against the same server.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { osctl as runOsctlBinary, type CliRun } from '../test/harness/e2e.js';
import { type ServerProcess, startServerProcess } from '../test/harness/server.js';
import { runOsctl } from './osctl.js';

void describe('osctl user end to end', () => {
  let server: ServerProcess;
  let work: string;

  /** Runs the osctl binary; `config` defaults to the admin's config written by `dev`. */
  function osctl(args: readonly string[], opts: { stdin?: string; config?: string } = {}): Promise<CliRun> {
    return runOsctlBinary(args, { OSCTL_CONFIG: opts.config ?? server.osctlConfigPath, HOME: work }, { timeoutMs: 30_000, ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}) });
  }

  /** Logs `username` in with its own config file and returns the file's path. */
  async function loginAs(username: string, password: string): Promise<string> {
    const config = join(work, `${username}-${Date.now()}.yaml`);
    const res = await osctl(['--server', server.httpUrl, 'login', '--username', username, '--password-stdin'], { stdin: `${password}\n`, config });
    assert.equal(res.code, 0, res.stderr);
    return config;
  }

  const tokenIn = async (config: string): Promise<string> => (parse(await readFile(config, 'utf8')) as { token: string }).token;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'osctl-user-e2e-'));
    server = await startServerProcess();
  });
  after(async () => {
    await server?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  void it('creates users from stdin, lists them (table, json, yaml), and refuses bad input naming the flag or field', async () => {
    const created = await osctl(['user', 'create', 'carol', '--role', 'operator', '--password-stdin'], { stdin: 'carol-password-1\n' });
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stdout, 'user "carol" created (role operator)\n');

    const list = await osctl(['user', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, /^NAME\s+ROLE\s+CREATED\s+PASSWORD CHANGED$/);
    assert.ok(rows.some((r) => /^admin\s+admin\s+\d{4}-\S+Z\s+<never>$/.test(r)), list.stdout);
    assert.ok(rows.some((r) => /^carol\s+operator\s+/.test(r)), list.stdout);

    const json = await osctl(['user', 'list', '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { kind: string; items: { name: string; role: string }[] };
    assert.equal(parsed.kind, 'UserList');
    assert.ok(parsed.items.some((u) => u.name === 'carol' && u.role === 'operator'));
    assert.ok(!json.stdout.includes('passwordHash'));
    const yaml = parse((await osctl(['user', 'list', '-o', 'yaml'])).stdout) as { items: { name: string }[] };
    assert.ok(yaml.items.some((u) => u.name === 'carol'));

    const dup = await osctl(['user', 'create', 'carol', '--role', 'viewer', '--password-stdin'], { stdin: 'another-password\n' });
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /Error from server \(AlreadyExists\): users "carol" already exists/);

    const noTty = await osctl(['user', 'create', 'dan', '--role', 'viewer']);
    assert.equal(noTty.code, 1);
    assert.match(noTty.stderr, /stdin is not a terminal, so pass --password-stdin/);
    const both = await osctl(['user', 'create', 'dan', '--role', 'viewer', '--password', 'dan-password', '--password-stdin'], { stdin: 'x\n' });
    assert.equal(both.code, 1);
    assert.match(both.stderr, /mutually exclusive/);
    const badRole = await osctl(['user', 'create', 'dan', '--role', 'root', '--password-stdin'], { stdin: 'dan-password\n' });
    assert.equal(badRole.code, 1);
    assert.match(badRole.stderr, /--role/);
    const long = await osctl(['user', 'create', 'dan', '--role', 'viewer', '--password-stdin'], { stdin: `${'x'.repeat(73)}\n` });
    assert.equal(long.code, 1);
    assert.match(long.stderr, /password must be 8 to 72 bytes long/);
    const noRole = await osctl(['user', 'create', 'dan', '--password-stdin'], { stdin: 'dan-password\n' });
    assert.equal(noRole.code, 1);
    assert.match(noRole.stderr, /--role/);
    assert.ok(!(await osctl(['user', 'list'])).stdout.includes('dan'));

    // the documented --password form works too
    const withFlag = await osctl(['user', 'create', 'dan', '--role', 'viewer', '--password', 'dan-password']);
    assert.equal(withFlag.code, 0, withFlag.stderr);
  });

  void it('whoami, and passwd for oneself: current then new from stdin; the config gets a fresh token', async () => {
    await osctl(['user', 'create', 'erin', '--role', 'viewer', '--password-stdin'], { stdin: 'erin-password-1\n' });
    const config = await loginAs('erin', 'erin-password-1');
    const who = await osctl(['whoami'], { config });
    assert.equal(who.code, 0, who.stderr);
    assert.match(who.stdout, /^USERNAME\s+ROLE\nerin\s+viewer\n$/);
    assert.deepEqual(JSON.parse((await osctl(['whoami', '-o', 'json'], { config })).stdout), { username: 'erin', role: 'viewer' });

    const wrong = await osctl(['user', 'passwd', '--password-stdin'], { stdin: 'not-the-password\nerin-password-2\n', config });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /Error from server \(Forbidden\): currentPassword is not the current password of user "erin"/);
    const oneLine = await osctl(['user', 'passwd', '--password-stdin'], { stdin: 'erin-password-1\n', config });
    assert.equal(oneLine.code, 1);
    assert.match(oneLine.stderr, /the current password, then the new one/);

    const oldToken = await tokenIn(config);
    const changed = await osctl(['user', 'passwd', '--password-stdin'], { stdin: 'erin-password-1\nerin-password-2\n', config });
    assert.equal(changed.code, 0, changed.stderr);
    assert.equal(changed.stdout, 'password of user "erin" changed\n');
    assert.match(changed.stderr, /saved the new token/);
    assert.notEqual(await tokenIn(config), oldToken);
    assert.equal((await osctl(['whoami'], { config })).code, 0, 'the renewed token works');
    const old = await osctl(['--token', oldToken, 'whoami'], { config });
    assert.equal(old.code, 1, 'the token from before the change is void');
    assert.match(old.stderr, /Unauthorized/);
    await loginAs('erin', 'erin-password-2');

    // a viewer may not touch other users
    const other = await osctl(['user', 'passwd', 'carol', '--password-stdin'], { stdin: 'hijacked-password\n', config });
    assert.equal(other.code, 1);
    assert.match(other.stderr, /Error from server \(Forbidden\): users "carol" is forbidden: User "erin" cannot update resource "users\/password" in API group "" at the cluster scope/);
    const create = await osctl(['user', 'create', 'mallory', '--role', 'admin', '--password-stdin'], { stdin: 'mallory-password\n', config });
    assert.equal(create.code, 1);
    assert.match(create.stderr, /users is forbidden: User "erin" cannot create resource "users"/);
  });

  void it('passwd for another user as admin takes the new password only, and voids that user\'s tokens', async () => {
    await osctl(['user', 'create', 'fay', '--role', 'operator', '--password-stdin'], { stdin: 'fay-password-1\n' });
    const config = await loginAs('fay', 'fay-password-1');
    const adminToken = await tokenIn(server.osctlConfigPath);
    const reset = await osctl(['user', 'passwd', 'fay', '--password-stdin'], { stdin: 'fay-password-2\n' });
    assert.equal(reset.code, 0, reset.stderr);
    assert.equal(reset.stdout, 'password of user "fay" changed\n');
    assert.equal(await tokenIn(server.osctlConfigPath), adminToken, "the admin's own config is untouched");
    const stale = await osctl(['whoami'], { config });
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /Unauthorized/);
    await loginAs('fay', 'fay-password-2');
  });

  void it('token prints a minted token alone on stdout; the lifetime is checked', async () => {
    await osctl(['user', 'create', 'prom', '--role', 'viewer', '--password-stdin'], { stdin: 'prom-password\n' });
    const minted = await osctl(['user', 'token', 'prom', '--ttl', '1h']);
    assert.equal(minted.code, 0, minted.stderr);
    const token = minted.stdout.trim();
    assert.equal(minted.stdout, `${token}\n`);
    assert.match(minted.stderr, /token for user "prom" \(role viewer\), expires \d{4}-/);
    const who = await osctl(['--token', token, 'whoami', '-o', 'json']);
    assert.deepEqual(JSON.parse(who.stdout), { username: 'prom', role: 'viewer' });
    const metrics = await fetch(`${server.httpUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    await metrics.body?.cancel();
    assert.equal(metrics.status, 200, 'a viewer token may scrape /metrics');

    const tooLong = await osctl(['user', 'token', 'prom', '--ttl', '9000h']);
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.stderr, /ttlSeconds must be an integer from 1 to 31536000/);
    const ghost = await osctl(['user', 'token', 'ghost']);
    assert.equal(ghost.code, 1);
    assert.match(ghost.stderr, /users "ghost" not found/);
  });

  void it('delete removes users; the last admin stays', async () => {
    await osctl(['user', 'create', 'gone', '--role', 'viewer', '--password-stdin'], { stdin: 'gone-password\n' });
    const config = await loginAs('gone', 'gone-password');
    const deleted = await osctl(['user', 'delete', 'gone']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, 'user "gone" deleted\n');
    assert.equal((await osctl(['whoami'], { config })).code, 1, 'a deleted user is refused');
    const again = await osctl(['user', 'delete', 'gone']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Error from server \(NotFound\): users "gone" not found/);
    const last = await osctl(['user', 'delete', 'admin']);
    assert.equal(last.code, 1);
    assert.match(last.stderr, /cannot delete user "admin": it is the last admin/);
  });

  void it('prompts on a terminal, twice for a new password, and the current one first for one\'s own', async () => {
    const run = async (args: string[], answers: string[], config = server.osctlConfigPath): Promise<CliRun & { prompts: string[] }> => {
      let stdout = '';
      let stderr = '';
      const prompts: string[] = [];
      const code = await runOsctl(args, {
        configPath: config,
        stdout: { write: (s) => void (stdout += s) },
        stderr: { write: (s) => void (stderr += s) },
        stdin: {
          isTTY: true,
          readAll: () => Promise.reject(new Error('stdin is a terminal')),
          readPassword: (prompt) => {
            prompts.push(prompt);
            const answer = answers.shift();
            return answer === undefined ? Promise.reject(new Error('no more answers')) : Promise.resolve(answer);
          },
        },
        signal: new AbortController().signal,
        now: () => Date.now(),
      });
      return { code, stdout, stderr, prompts };
    };
    const created = await run(['user', 'create', 'pat', '--role', 'viewer'], ['pat-password-1', 'pat-password-1']);
    assert.equal(created.code, 0, created.stderr);
    assert.deepEqual(created.prompts, ['Password for pat: ', 'Retype it: ']);
    const mismatch = await run(['user', 'create', 'quinn', '--role', 'viewer'], ['quinn-password', 'quinn-passwort']);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /the passwords do not match/);

    const config = await loginAs('pat', 'pat-password-1');
    const own = await run(['user', 'passwd'], ['pat-password-1', 'pat-password-2', 'pat-password-2'], config);
    assert.equal(own.code, 0, own.stderr);
    assert.deepEqual(own.prompts, ['Current password: ', 'New password for pat: ', 'Retype it: ']);
    await loginAs('pat', 'pat-password-2');
    const reset = await run(['user', 'passwd', 'pat'], ['pat-password-3', 'pat-password-3']);
    assert.equal(reset.code, 0, reset.stderr);
    assert.deepEqual(reset.prompts, ['New password for pat: ', 'Retype it: ']);
  });
});

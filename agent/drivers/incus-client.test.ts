// IncusClient against the real incusd of this machine (image alias busybox-test). The one
// instance made here is named with process.pid and removed in after(), also on failure.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IncusClient, IncusConnectionError, IncusError, IncusNotFoundError } from './incus-client.js';
import { findIncusSocket } from './incus-driver.js';

const socketPath = findIncusSocket() ?? '/var/lib/incus/unix.socket';

void describe('IncusClient (real incusd)', () => {
  const name = `incus-client-test-${process.pid}`;
  let client: IncusClient;

  before(() => {
    client = new IncusClient({ socketPath });
  });

  after(async () => {
    try {
      await client.changeState(name, { action: 'stop', force: true }).catch(() => undefined);
      await client.deleteInstance(name).catch((err: unknown) => {
        if (!(err instanceof IncusNotFoundError)) throw err;
      });
    } finally {
      client.close();
    }
  });

  void it('GET /1.0: a trusted incus server with exec recording', async () => {
    const info = await client.serverInfo();
    assert.equal(info.auth, 'trusted');
    assert.ok(info.api_extensions.includes('container_exec_recording'));
    assert.match(info.environment?.server ?? '', /^(incus|lxd)$/);
  });

  void it('creates and starts an instance, execs with recorded output read by byte range, deletes it', async () => {
    await client.createInstance({ name, type: 'container', source: { type: 'image', alias: 'busybox-test' }, config: { 'user.test': 'yes' }, start: true });
    const instance = await client.instance(name);
    assert.equal(instance.status, 'Running');
    assert.equal(instance.config['user.test'], 'yes');

    await client.writeFile(name, '/probe', { type: 'directory' });
    await client.writeFile(name, '/probe/file', { type: 'file', content: 'content\n' }, '0644');
    assert.equal((await client.readFile(name, '/probe/file')).content.toString(), 'content\n');

    const id = await client.exec(name, {
      command: ['/bin/sh', '-c', 'printf "%s" "$1"; printf err >&2; exit 4', 'sh', 'hello world'],
      environment: { PATH: '/bin' },
      cwd: '/',
      'wait-for-websocket': false,
      interactive: false,
      'record-output': true,
    });
    const op = await client.waitOperation(id, 10);
    assert.equal(op.status_code, 200);
    assert.equal(op.metadata?.return, 4);
    const stdout = `exec_${id}.stdout`;
    assert.equal((await client.readExecOutput(name, stdout, 0, 1024)).toString(), 'hello world');
    assert.equal((await client.readExecOutput(name, stdout, 6, 1024)).toString(), 'world', 'from a byte offset');
    assert.equal((await client.readExecOutput(name, stdout, 6, 3)).toString(), 'wor', 'at most maxBytes');
    assert.equal((await client.readExecOutput(name, stdout, 11, 1024)).length, 0, 'nothing beyond the end');
    assert.equal((await client.readExecOutput(name, `exec_${id}.stderr`, 0, 1024)).toString(), 'err');

    // incusd fails the operation of a command that exits 127 (the driver relies on its own record then).
    const failing = await client.exec(name, {
      command: ['/bin/sh', '-c', 'exit 127'],
      environment: {},
      'wait-for-websocket': false,
      interactive: false,
      'record-output': false,
    });
    await assert.rejects(client.waitOperation(failing, 10), (err: unknown) => err instanceof IncusError && /Command not found/.test(err.incusError));

    await client.changeState(name, { action: 'stop', force: true });
    assert.equal((await client.instanceState(name)).status, 'Stopped');
    await client.deleteInstance(name);
    await assert.rejects(client.instance(name), IncusNotFoundError);
  });

  void it('maps a 404 to IncusNotFoundError carrying incusd’s text, and an absent socket to IncusConnectionError', async () => {
    await assert.rejects(client.instance(`no-such-instance-${process.pid}`), (err: unknown) => {
      assert.ok(err instanceof IncusNotFoundError, String(err));
      assert.equal(err.statusCode, 404);
      assert.match(err.incusError, /not found/i);
      return true;
    });
    await assert.rejects(client.getOperation('00000000-0000-0000-0000-000000000000'), IncusNotFoundError);
    const absent = new IncusClient({ socketPath: `/nonexistent-${process.pid}/unix.socket`, timeoutMs: 1_000 });
    try {
      await assert.rejects(absent.serverInfo(), (err: unknown) => err instanceof IncusConnectionError && /no socket at/.test(err.message));
    } finally {
      absent.close();
    }
  });
});

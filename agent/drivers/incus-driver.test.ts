// The incus driver against the real incusd of this machine (socket /var/lib/incus/unix.socket,
// image alias busybox-test). Every instance made here is named or marked with process.pid and
// removed in after() hooks, also when a check failed.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeDriverConformance, OutputCollector } from './driver-conformance.js';
import { IncusClient, IncusNotFoundError } from './incus-client.js';
import { findIncusSocket, INCUS_CONFIG_KEYS, IncusDriver, instanceNameOf, taskExecCommand } from './incus-driver.js';
import { type TaskConfig, TaskStartError } from './task-driver.js';

const IMAGE = 'busybox-test';
const socketPath = findIncusSocket() ?? '/var/lib/incus/unix.socket';
const conformanceNode = `conformance-incus-${process.pid}`;

/** Force-stops and deletes an instance; ignores one that is gone. */
async function removeInstance(client: IncusClient, name: string): Promise<void> {
  try {
    await client.changeState(name, { action: 'stop', force: true });
  } catch (err) {
    if (err instanceof IncusNotFoundError) return;
  }
  try {
    await client.deleteInstance(name);
  } catch (err) {
    if (!(err instanceof IncusNotFoundError)) throw err;
  }
}

/** Removes every instance marked with `nodeName` (and only those). */
async function removeNodeInstances(nodeName: string): Promise<void> {
  const client = new IncusClient({ socketPath });
  try {
    for (const instance of await client.instances()) {
      if (instance.config[INCUS_CONFIG_KEYS.node] === nodeName) await removeInstance(client, instance.name);
    }
  } finally {
    client.close();
  }
}

/** Creates (and starts) an instance of busybox-test with the given config. */
async function createInstance(client: IncusClient, name: string, config: Record<string, string>): Promise<void> {
  await client.createInstance({ name, type: 'container', source: { type: 'image', alias: IMAGE }, config, start: true });
}

describeDriverConformance({
  name: 'incus',
  newDriver: (stateDir) => new IncusDriver({ nodeName: conformanceNode, volumeRoots: [stateDir], pollIntervalMs: 50 }),
  newUnavailableDriver: () => new IncusDriver({ nodeName: `${conformanceNode}-absent`, socketPath: `/nonexistent-${process.pid}/incus.socket` }),
  baseTask: { image: IMAGE },
  supportsVolumes: true,
  newDecoy: async () => {
    const client = new IncusClient({ socketPath });
    const name = `decoy-${process.pid}`;
    await createInstance(client, name, { 'user.purpose': 'openscheduler conformance decoy' });
    return {
      stillThere: async () => (await client.instanceState(name)).status === 'Running',
      remove: async () => {
        try {
          await removeInstance(client, name);
        } finally {
          client.close();
        }
      },
    };
  },
  cleanup: () => removeNodeInstances(conformanceNode),
});

void describe('IncusDriver specifics', () => {
  const nodeName = `incus-specifics-${process.pid}`;
  let client: IncusClient;
  let driver: IncusDriver;
  let stateDir: string;
  let nextUid = 0;
  const task = (script: string, extra: Partial<TaskConfig> = {}): TaskConfig => ({
    jobUid: `incus-specifics-${process.pid}-${nextUid++}`,
    namespace: 'ns-a',
    name: 'job-a',
    attempt: 1,
    command: ['/bin/sh', '-c', script, 'task'],
    args: [],
    env: {},
    resources: {},
    image: IMAGE,
    ...extra,
  });

  before(async () => {
    client = new IncusClient({ socketPath });
    stateDir = await mkdtemp(join(tmpdir(), 'incus-driver-'));
    driver = new IncusDriver({ nodeName, pollIntervalMs: 50 });
  });

  after(async () => {
    await driver.close();
    await removeNodeInstances(nodeName);
    await removeInstance(client, `decoy-specifics-${process.pid}`);
    await removeInstance(client, `other-node-${process.pid}`);
    client.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  void it('names instances os-<task id>, hashing what is not [a-z0-9-] or too long', () => {
    assert.equal(instanceNameOf('job-1.0'), 'os-job-1-0');
    const upper = instanceNameOf('Job_A.b.3');
    assert.match(upper, /^os-job-a-b-3-h[0-9a-f]{12}$/);
    assert.notEqual(instanceNameOf('a.b.0'), instanceNameOf('a-b.0'));
    const long = instanceNameOf(`${'x'.repeat(128)}.12`);
    assert.ok(long.length <= 63, long);
    assert.match(long, /^[a-z][a-z0-9-]*$/);
    assert.notEqual(long, instanceNameOf(`${'x'.repeat(128)}.13`));
  });

  void it('passes the argv only as "$@" and unsets only known names', () => {
    const argv = ['/bin/echo', '$(id)', "'"];
    const cmd = taskExecCommand(argv, '/', ['HOME']);
    assert.deepEqual(cmd.slice(-3), argv);
    for (const part of cmd.slice(0, 5)) assert.ok(!part.includes('$(id)'));
    assert.throws(() => taskExecCommand(argv, '/', ['PATH; rm -rf /']));
  });

  void it('marks instances with user.* keys, applies limits, attaches no network', async () => {
    const logs = new OutputCollector();
    const config = task('ls /sys/class/net; echo "$HOME|$USER|$LANG|$container|$PWD"', {
      resources: { memoryBytes: 64 * 1024 * 1024, cpuMillis: 1500 },
      logs,
    });
    const h = await driver.start(config);
    assert.equal((await driver.wait(h.taskId)).exitCode, 0, logs.stderr);
    // Only the loopback device; the environment holds nothing the task did not set (its own sh sets PWD).
    assert.equal(logs.stdout, 'lo\n||||/\n');
    const instance = await client.instance(String(h.driverState.instance));
    assert.equal(instance.config[INCUS_CONFIG_KEYS.managed], 'true');
    assert.equal(instance.config[INCUS_CONFIG_KEYS.node], nodeName);
    assert.equal(instance.config[INCUS_CONFIG_KEYS.taskId], h.taskId);
    assert.equal(instance.config[INCUS_CONFIG_KEYS.jobUid], config.jobUid);
    assert.equal(instance.config[INCUS_CONFIG_KEYS.attempt], '1');
    assert.equal(instance.config[INCUS_CONFIG_KEYS.namespace], 'ns-a');
    assert.equal(instance.config[INCUS_CONFIG_KEYS.job], 'job-a');
    assert.equal(instance.config['limits.memory'], String(64 * 1024 * 1024));
    assert.equal(instance.config['limits.cpu'], '2');
    assert.equal(instance.config['limits.cpu.allowance'], '150ms/100ms');
    assert.equal(instance.config['security.privileged'], 'false');
    const nics = Object.values(instance.expanded_devices ?? {}).filter((d) => d.type === 'nic');
    assert.deepEqual(nics, []);
    await driver.destroy(h.taskId);
    await assert.rejects(client.instance(String(h.driverState.instance)), IncusNotFoundError);
  });

  void it('lists only instances marked with this node; never touches a decoy or another node', async () => {
    const decoy = `decoy-specifics-${process.pid}`;
    const otherNode = `other-node-${process.pid}`;
    await createInstance(client, decoy, {});
    await createInstance(client, otherNode, {
      [INCUS_CONFIG_KEYS.managed]: 'true',
      [INCUS_CONFIG_KEYS.node]: `someone-else-${process.pid}`,
      [INCUS_CONFIG_KEYS.taskId]: 'other.0',
      [INCUS_CONFIG_KEYS.jobUid]: 'other',
      [INCUS_CONFIG_KEYS.attempt]: '0',
    });
    const h = await driver.start(task('sleep 30'));
    const listed = await driver.listOwned();
    assert.deepEqual(
      listed.map((t) => t.ref),
      [String(h.driverState.instance)],
    );
    await assert.rejects(driver.removeOwned({ taskId: 'other.0', jobUid: 'other', attempt: 0, running: true, ref: otherNode }), /not marked as this node/);
    await assert.rejects(driver.removeOwned({ taskId: 'x.0', jobUid: 'x', attempt: 0, running: true, ref: decoy }), /not marked as this node/);
    assert.equal((await client.instanceState(decoy)).status, 'Running');
    assert.equal((await client.instanceState(otherNode)).status, 'Running');
    await driver.destroy(h.taskId);
  });

  void it("workloadType 'vm' fails with incus' reason why VMs are not available", async () => {
    const config = task('exit 0', { workloadType: 'vm' });
    await assert.rejects(driver.start(config), (err: unknown) => {
      assert.ok(err instanceof TaskStartError, String(err));
      assert.match(err.message, /VMs are not available on this node/);
      return true;
    });
    const fp = await driver.fingerprint();
    assert.equal(fp.attributes['driver.incus.vmSupported'], 'false');
    await assert.rejects(driver.inspect(`${config.jobUid}.1`));
  });

  void it('a missing program, working directory or image is a TaskStartError that leaves nothing behind', async () => {
    const cases: Array<[Partial<TaskConfig>, RegExp]> = [
      [{ command: ['/no/such/program'] }, /\/no\/such\/program: not found in the instance/],
      [{ workingDir: '/no/such/dir' }, /working directory \/no\/such\/dir does not exist/],
      [{ image: `no-such-image-${process.pid}` }, /is not on this node's incus server/],
    ];
    for (const [patch, message] of cases) {
      const config = task('exit 0', patch);
      await assert.rejects(driver.start(config), (err: unknown) => {
        assert.ok(err instanceof TaskStartError, String(err));
        assert.match(err.message, message);
        return true;
      });
      await assert.rejects(client.instance(instanceNameOf(`${config.jobUid}.1`)), IncusNotFoundError);
    }
  });

  void it('reports exit codes 126 and 127 of the task itself (incusd fails their exec operation)', async () => {
    const handles = await Promise.all([driver.start(task('exit 126')), driver.start(task('exit 127'))]);
    const exits = await Promise.all(handles.map((h) => driver.wait(h.taskId)));
    assert.deepEqual(
      exits.map((e) => [e.exitCode, e.reason]),
      [
        [126, 'Error'],
        [127, 'Error'],
      ],
    );
    for (const h of handles) await driver.destroy(h.taskId);
  });

  void it('recovers a task that ended after incusd forgot its operation, from the exit file, with output from the offsets', async () => {
    const first = new IncusDriver({ nodeName, pollIntervalMs: 50 });
    const logs = new OutputCollector();
    const h = await first.start(task('echo one; echo two; exit 9', { logs }));
    assert.equal((await first.wait(h.taskId)).exitCode, 9);
    const handle = JSON.parse(JSON.stringify(h)) as typeof h;
    await first.close();
    // incusd forgets a finished operation after ~5 s.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const gone = await client.getOperation(String(handle.driverState.operationId)).then(
        () => false,
        (err: unknown) => err instanceof IncusNotFoundError,
      );
      if (gone) break;
      assert.ok(Date.now() < deadline, 'incusd forgets the operation');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const second = new IncusDriver({ nodeName, pollIntervalMs: 50 });
    try {
      const logs2 = new OutputCollector();
      await second.recover(handle, { logs: logs2, stdoutOffset: 4 });
      const exit = await second.wait(h.taskId);
      assert.equal(exit.exitCode, 9);
      assert.equal(exit.reason, 'Error');
      assert.equal(logs2.stdout, 'two\n');
      await second.destroy(h.taskId);
    } finally {
      await second.close();
    }
  });

  void it('stats report the instance memory and CPU of a running task', async () => {
    const h = await driver.start(task('i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 30'));
    const stats = await driver.stats(h.taskId);
    assert.ok(stats.memoryRssBytes > 0);
    assert.ok(stats.cpuTimeMillis >= 0);
    await driver.destroy(h.taskId);
  });
});

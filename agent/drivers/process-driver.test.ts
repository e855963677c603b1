import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeDriverConformance, OutputCollector } from './driver-conformance.js';
import { isProcessAlive, readProcStat, signalProcessGroup } from './process-group.js';
import { DEFAULT_PATH, ProcessDriver } from './process-driver.js';
import { type PidRecord, readRecord, taskFiles } from './process-task-files.js';
import { type TaskConfig, TaskStartError } from './task-driver.js';

/** Kills, by recorded pid, every task group and supervisor left under a driver state dir. */
async function killLeftovers(stateDir: string): Promise<void> {
  const tasksDir = join(stateDir, 'tasks');
  if (!existsSync(tasksDir)) return;
  for (const id of readdirSync(tasksDir)) {
    const files = taskFiles(join(tasksDir, id));
    const task = readRecord<PidRecord>(files.task);
    if (task) signalProcessGroup(task.pid, 'SIGKILL');
    const supervisor = readRecord<PidRecord>(files.supervisor);
    if (supervisor && isProcessAlive(supervisor.pid, supervisor.startTime)) process.kill(supervisor.pid, 'SIGKILL');
  }
}

describeDriverConformance({
  name: 'process',
  newDriver: (stateDir) => new ProcessDriver({ stateDir, pollIntervalMs: 50, memoryPollMs: 50 }),
  cleanup: killLeftovers,
});

void describe('ProcessDriver specifics', () => {
  let stateDir = '';
  let driver: ProcessDriver;
  let n = 0;
  const task = (command: string[], extra: Partial<TaskConfig> = {}): TaskConfig => ({
    jobUid: `specific-${n++}`,
    namespace: 'default',
    name: 'specific',
    attempt: 0,
    command,
    args: [],
    env: {},
    resources: {},
    ...extra,
  });

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'process-driver-'));
    driver = new ProcessDriver({ stateDir, pollIntervalMs: 50 });
  });

  after(async () => {
    await driver.close();
    await killLeftovers(stateDir);
    await rm(stateDir, { recursive: true, force: true });
  });

  void it('gives the task exactly the env it was given, plus a default PATH only when none is', async () => {
    const logs = new OutputCollector();
    const h = await driver.start(task(['/usr/bin/env'], { env: { ONLY: 'this' }, logs }));
    await driver.wait(h.taskId);
    assert.deepEqual(logs.stdout.split('\n').filter(Boolean).sort(), ['ONLY=this', `PATH=${DEFAULT_PATH}`]);

    const logs2 = new OutputCollector();
    const h2 = await driver.start(task(['/usr/bin/env'], { env: { PATH: '/bin' }, logs: logs2 }));
    await driver.wait(h2.taskId);
    assert.equal(logs2.stdout, 'PATH=/bin\n');
  });

  void it('resolves the command through the task PATH and fails start when it is not found', async () => {
    const logs = new OutputCollector();
    const h = await driver.start(task(['echo', 'found'], { logs }));
    assert.equal((await driver.wait(h.taskId)).exitCode, 0);
    assert.equal(logs.stdout, 'found\n');
    await assert.rejects(driver.start(task(['no-such-program-xyz'])), (err: unknown) => {
      assert.ok(err instanceof TaskStartError);
      assert.match(err.message, /no-such-program-xyz/);
      return true;
    });
    await assert.rejects(driver.start(task(['/bin/true'], { image: 'busybox' })), /image: is not supported/);
  });

  void it('keeps output in files under the state dir and runs tasks in their own process group', async () => {
    const h = await driver.start(task(['/bin/sh', '-c', 'sleep 30 & echo $!; echo err >&2; exit 4']));
    const exit = await driver.wait(h.taskId);
    assert.equal(exit.exitCode, 4);
    const status = await driver.inspect(h.taskId);
    assert.equal(readFileSync(String(status.details.stderrPath), 'utf8'), 'err\n');
    const background = Number(readFileSync(String(status.details.stdoutPath), 'utf8').trim());
    assert.ok(background > 0);
    // The task's leftover child died with it (same group); give the kernel a moment to reap.
    for (let i = 0; i < 50 && isProcessAlive(background); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(isProcessAlive(background), false);
    assert.notEqual(readProcStat(process.pid)?.pgrp, status.details.pid, 'not in the agent process group');
  });

  void it('reports Lost when the supervisor was killed and the task then ended', async () => {
    const h = await driver.start(task(['/bin/sleep', '30']));
    const details = (await driver.inspect(h.taskId)).details;
    process.kill(Number(details.supervisorPid), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await driver.inspect(h.taskId)).state, 'running', 'the task outlives its supervisor');
    process.kill(Number(details.pid), 'SIGKILL');
    const exit = await driver.wait(h.taskId);
    assert.equal(exit.reason, 'Lost');
    assert.equal(exit.exitCode, -1);
  });

  void it('leaves no process of any task behind once tasks are destroyed', async () => {
    const h = await driver.start(task(['/bin/sh', '-c', 'sleep 30 & sleep 30']));
    const details = (await driver.inspect(h.taskId)).details;
    assert.ok(driver.listTaskIds().includes(h.taskId), 'found on disk, for orphan cleanup');
    await driver.destroy(h.taskId);
    assert.ok(!driver.listTaskIds().includes(h.taskId));
    for (let i = 0; i < 50 && isProcessAlive(Number(details.supervisorPid)); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(isProcessAlive(Number(details.pid)), false);
    assert.equal(isProcessAlive(Number(details.supervisorPid)), false);
    assert.equal(existsSync(String(details.taskDir)), false);
  });
});

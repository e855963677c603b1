import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { type ConformanceDecoy, describeDriverConformance, OutputCollector } from './driver-conformance.js';
import { isProcessAlive, killTaskGroup, readProcStat } from './process-group.js';
import { DEFAULT_PATH, ProcessDriver } from './process-driver.js';
import { findExecutable, launchModeOf } from './process-supervisor.js';
import { type PidRecord, readRecord, recordText, taskFiles } from './process-task-files.js';
import { DriverError, type TaskConfig, type TaskHandle, TaskNotFoundError, TaskStartError } from './task-driver.js';

/** Kills, by recorded pid and start time, every task group and supervisor left under a driver state dir. */
async function killLeftovers(stateDir: string): Promise<void> {
  const tasksDir = join(stateDir, 'tasks');
  if (!existsSync(tasksDir)) return;
  for (const entry of readdirSync(tasksDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    let supervisor: PidRecord | undefined;
    try {
      supervisor = readRecord<PidRecord>(taskFiles(join(tasksDir, entry.name)).task);
    } catch {
      continue; // damaged: nothing to go by
    }
    if (supervisor) killTaskGroup(supervisor);
  }
}

/** A detached `sleep` child of the test (a group leader, like a supervisor) and its pid record. */
async function spawnSleeper(seconds: number): Promise<PidRecord> {
  const child = spawn('/bin/sleep', [String(seconds)], { detached: true, stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  child.unref();
  const pid = child.pid as number;
  return { pid, startTime: readProcStat(pid)?.startTime ?? 0 };
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/**
 * A look-alike of a running process-driver task (task dir with task.json of a live process,
 * no exit record) OUTSIDE the driver's state dir: a driver that looked anywhere but its own
 * dir would list and kill it.
 */
async function newProcessDecoy(): Promise<ConformanceDecoy> {
  const root = await mkdtemp(join(tmpdir(), 'driver-conformance-decoy-'));
  const dir = join(root, 'tasks', `conformance-${process.pid}-decoy.0`);
  mkdirSync(dir, { recursive: true });
  const sleeper = await spawnSleeper(120);
  writeFileSync(taskFiles(dir).task, recordText(sleeper));
  return {
    stillThere: async () => isProcessAlive(sleeper.pid, sleeper.startTime) && existsSync(taskFiles(dir).task),
    remove: async () => {
      if (isProcessAlive(sleeper.pid, sleeper.startTime)) killQuietly(sleeper.pid);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The task ids a driver lists as its own. */
async function ownedIds(driver: ProcessDriver): Promise<string[]> {
  return (await driver.listOwned()).map((t) => t.taskId).sort();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The live processes of process group `pgid`. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z') members.push(stat.pid);
  }
  return members;
}

describeDriverConformance({
  name: 'process',
  newDriver: (stateDir) => new ProcessDriver({ stateDir, pollIntervalMs: 50, memoryPollMs: 50 }),
  newUnavailableDriver: (stateDir) => new ProcessDriver({ stateDir, tools: { shell: '/no/such/shell' } }),
  newDecoy: newProcessDecoy,
  cleanup: killLeftovers,
});

void describe('ProcessDriver specifics', () => {
  let root = '';
  let stateDir = '';
  let driver: ProcessDriver;
  const drivers: ProcessDriver[] = [];
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
  const newDriver = (options: Partial<ConstructorParameters<typeof ProcessDriver>[0]> = {}): ProcessDriver => {
    const d = new ProcessDriver({ stateDir, pollIntervalMs: 50, memoryPollMs: 50, ...options });
    drivers.push(d);
    return d;
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'process-driver-'));
    stateDir = join(root, 'state');
    driver = newDriver();
  });

  after(async () => {
    for (const d of drivers) await d.close();
    await killLeftovers(stateDir);
    await rm(root, { recursive: true, force: true });
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

    // Plain names (no env(1) in between): values reach the task byte for byte.
    const env = { PATH: '/bin', A: '$(id)', B: 'x\ny', C: '', D: "'\"\\`;|&*?[", _E: ' spaced ' };
    const logs3 = new OutputCollector();
    const h3 = await driver.start(task(['/usr/bin/env', '-0'], { env, logs: logs3 }));
    await driver.wait(h3.taskId);
    assert.deepEqual(logs3.stdout.split('\0').slice(0, -1).sort(), Object.entries(env).map(([k, v]) => `${k}=${v}`).sort());
  });

  void it('passes names no shell would pass on, and the shell\'s own variables, unchanged', async () => {
    const env: Record<string, string> = {
      'A-B': 'dash',
      '1X': 'digit first',
      'with space': 'x',
      '-u': 'looks like an option',
      'ünï': 'cöde',
      IFS: ':',
      PWD: '/nowhere',
      OLDPWD: '/before',
      PPID: '1',
      OPTIND: '7',
      LINENO: '99',
      PS4: '+> ',
      ENV: '/etc/passwd',
      N0: 'not the supervisor\'s',
      V0: '${N0}',
      dir: '/x',
      task: '$(id)',
      status: '`id`',
      __os_dir: '/not/the/task/dir',
      LD_LIBRARY_PATH: '/nonexistent',
      EMPTY: '',
      LINES: 'one\ntwo\n',
      PATH: '/usr/bin:/bin',
    };
    const logs = new OutputCollector();
    const h = await driver.start(task(['/usr/bin/env', '-0'], { env, logs }));
    assert.equal((await driver.wait(h.taskId)).exitCode, 0);
    const got = Object.fromEntries(
      logs.stdout
        .split('\0')
        .slice(0, -1)
        .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
    );
    assert.deepEqual(got, env);
  });

  void it('runs a program whose name and arguments hold shell syntax, literally', async () => {
    const bin = join(root, 'bin');
    mkdirSync(bin, { recursive: true });
    const marker = join(root, 'pwned');
    const name = '-prog; touch pwned $(touch pwned) `touch pwned`\nline2';
    writeFileSync(join(bin, name), '#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done\n');
    chmodSync(join(bin, name), 0o755);
    const hostile = ['; touch pwned', '$(touch pwned)', '`touch pwned`', 'a\nb', '-', '--', '-x', '*', '', ' '];
    for (const command of [[join(bin, name)], [name]]) {
      const logs = new OutputCollector();
      const h = await driver.start(task(command, { args: hostile, env: { PATH: `${bin}:/usr/bin:/bin` }, workingDir: root, logs }));
      const exit = await driver.wait(h.taskId);
      assert.equal(exit.exitCode, 0, logs.stderr);
      assert.deepEqual(logs.stdout.split('\0').slice(0, -1), hostile);
    }
    assert.equal(existsSync(marker), false, 'nothing was interpreted by a shell');
  });

  void it('runs tasks in a session and process group of their own (led by the supervisor), with default signal dispositions', async () => {
    const h = await driver.start(
      task(['/bin/sh', '-c', 'read -r l </proc/$$/stat; echo "$$ ${l##*) }"; exec grep -E "^Sig(Ign|Blk):" /proc/self/status']),
    );
    await driver.wait(h.taskId);
    const status = await driver.inspect(h.taskId);
    const text = readFileSync(String(status.details.stdoutPath), 'utf8');
    const [first, ...rest] = text.trim().split('\n');
    const [pid, , , pgrp, session] = (first ?? '').split(' ').map(Number);
    assert.equal(pgrp, status.details.pid, 'the task group');
    assert.equal(session, status.details.pid, 'the task session');
    assert.equal(status.details.pid, status.details.supervisorPid);
    assert.notEqual(pid, status.details.supervisorPid);
    assert.notEqual(readProcStat(process.pid)?.pgrp, pgrp, 'not in the agent process group');
    assert.deepEqual(rest, ['SigBlk:\t0000000000000000', 'SigIgn:\t0000000000000000']);
    await driver.destroy(h.taskId);
  });

  void it('keeps argv[0] as given, also when the program is found through PATH', async () => {
    for (const [command, env] of [
      [['cat', '/proc/self/cmdline'], {}],
      [['/bin/cat', '/proc/self/cmdline'], {}],
      [['cat', '/proc/self/cmdline'], { 'NOT-PLAIN': 'x' }],
      [['./cat', '/proc/self/cmdline'], { 'NOT-PLAIN': 'x' }],
    ] as const) {
      const logs = new OutputCollector();
      const h = await driver.start(task([...command], { env: { ...env }, workingDir: '/bin', logs }));
      assert.equal((await driver.wait(h.taskId)).exitCode, 0);
      assert.deepEqual(logs.stdout.split('\0').slice(0, -1), command);
      await driver.destroy(h.taskId);
    }
    await assert.rejects(driver.start(task(['a=b'], { env: { 'NOT-PLAIN': 'x' } })), /command\[0\]: must not contain "="/);
  });

  void it('survives a task that signals its own process group', async () => {
    const h = await driver.start(task(['/bin/sh', '-c', 'sleep 30 & kill -USR1 0; kill -TERM 0; sleep 30']));
    const exit = await driver.wait(h.taskId);
    assert.equal(exit.exitCode, 138);
    assert.equal(exit.signal, 'SIGUSR1');
    assert.equal(exit.reason, 'Signaled');
    await driver.destroy(h.taskId);
  });

  void it('resolves the command through the task PATH and fails start when it cannot be executed', async () => {
    const logs = new OutputCollector();
    const h = await driver.start(task(['echo', 'found'], { logs }));
    assert.equal((await driver.wait(h.taskId)).exitCode, 0);
    assert.equal(logs.stdout, 'found\n');

    const notExecutable = join(root, 'not-executable');
    writeFileSync(notExecutable, '#!/bin/sh\nexit 0\n');
    chmodSync(notExecutable, 0o644);
    const idsBefore = await ownedIds(driver);
    const cases: Array<[string[], RegExp]> = [
      [['no-such-program-xyz'], /no-such-program-xyz.*not found in PATH/],
      [['/no/such/program'], /\/no\/such\/program.*does not exist/],
      [[notExecutable], /not-executable.*is not an executable file/],
      [[root], /is not an executable file/],
    ];
    for (const [command, message] of cases) {
      await assert.rejects(driver.start(task(command)), (err: unknown) => {
        assert.ok(err instanceof TaskStartError, String(err));
        assert.match(err.message, message);
        return true;
      });
    }
    await assert.rejects(driver.start(task(['/bin/true'], { image: 'busybox' })), /image: is not supported/);
    assert.deepEqual(await ownedIds(driver), idsBefore, 'a failed start leaves nothing behind');
  });

  void it('copes with a supervisor that cannot be started, ends at once or never gets ready, and reports unusable tools', async () => {
    const missing = newDriver({ tools: { shell: '/no/such/shell' } });
    const idsBefore = await ownedIds(missing);
    await assert.rejects(missing.start(task(['/bin/true'])), (err: unknown) => {
      assert.ok(err instanceof TaskStartError, String(err));
      assert.match(err.message, /cannot start its supervisor \/no\/such\/shell/);
      return true;
    });
    assert.deepEqual(await ownedIds(missing), idsBefore, 'nothing left on disk');

    const exiting = join(root, 'exiting-sh');
    writeFileSync(exiting, '#!/bin/sh\nexit 3\n');
    chmodSync(exiting, 0o755);
    const exitingDriver = newDriver({ tools: { shell: exiting } });
    const ended = await exitingDriver.start(task(['/bin/true']));
    const endedExit = await exitingDriver.wait(ended.taskId);
    assert.equal(endedExit.reason, 'Lost');
    assert.match(endedExit.message ?? '', /supervisor ended without recording/);
    await exitingDriver.destroy(ended.taskId);

    const hanging = join(root, 'hanging-sh');
    writeFileSync(hanging, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(hanging, 0o755);
    const hangingDriver = newDriver({ tools: { shell: hanging }, startTimeoutMs: 300 });
    const stuck = await hangingDriver.start(task(['/bin/true']));
    const group = Number((await hangingDriver.inspect(stuck.taskId)).details.pid);
    const stuckExit = await hangingDriver.stop(stuck.taskId, 5_000);
    assert.equal(stuckExit.reason, 'Lost');
    assert.equal(isProcessAlive(group), false);
    await hangingDriver.destroy(stuck.taskId);

    const fp = await newDriver({ tools: { env: '/bin/false' } }).fingerprint();
    assert.equal(fp.healthy, false);
    assert.match(fp.detail, /cannot launch tasks/);
    const noShell = await missing.fingerprint();
    assert.equal(noShell.healthy, false);
    assert.match(noShell.detail, /\/no\/such\/shell.*cannot launch tasks/);
    assert.throws(() => new ProcessDriver({ stateDir, tools: { env: 'env' } }), /tools\.env: must be an absolute path/);
  });

  void it('reports a program that fails to exec after the fork (missing interpreter) as an Error naming the cause', async () => {
    const script = join(root, 'bad-interpreter');
    writeFileSync(script, '#!/no/such/interpreter\n');
    chmodSync(script, 0o755);
    for (const env of [{}, { 'NOT-PLAIN': 'x' }] as Array<Record<string, string>>) {
      const h = await driver.start(task([script], { env }));
      const exit = await driver.wait(h.taskId);
      assert.equal(exit.exitCode, 127);
      assert.equal(exit.reason, 'Error');
      assert.equal(exit.signal, undefined);
      assert.match(exit.message ?? '', /^cannot start: .*bad-interpreter/);
      await driver.destroy(h.taskId);
    }
  });

  void it('keeps output in files under the state dir; what the task leaves in its group dies with it', async () => {
    const h = await driver.start(task(['/bin/sh', '-c', 'sleep 30 & echo $!; echo err >&2; exit 4']));
    const exit = await driver.wait(h.taskId);
    assert.equal(exit.exitCode, 4);
    const status = await driver.inspect(h.taskId);
    assert.equal(readFileSync(String(status.details.stderrPath), 'utf8'), 'err\n');
    const background = Number(readFileSync(String(status.details.stdoutPath), 'utf8').trim());
    assert.ok(background > 0);
    await waitFor('the background process to die', () => !isProcessAlive(background));
    await driver.destroy(h.taskId);
  });

  void it('stop ends every process of a task that forked, also those that ignore SIGTERM', async () => {
    for (const [mainScript, expected] of [
      ['echo ready; wait', 143],
      ["trap '' TERM; echo ready; while :; do sleep 0.1; done", 137],
    ] as const) {
      const logs = new OutputCollector();
      const script = `sh -c "trap '' TERM; sleep 30; sleep 30" & sleep 30 & sh -c 'sleep 30 & sleep 30' & ${mainScript}`;
      const h = await driver.start(task(['/bin/sh', '-c', script], { logs }));
      await logs.waitForStdout('ready');
      const pid = Number((await driver.inspect(h.taskId)).details.pid);
      const members = await waitFor('the forked processes', () => {
        const m = groupMembers(pid);
        return m.length >= 8 && m; // the supervisor, the task and 6 processes it forked
      });
      const exit = await driver.stop(h.taskId, 500);
      assert.equal(exit.exitCode, expected);
      assert.equal(exit.reason, 'Stopped');
      await waitFor('every process of the group to be gone', () => members.every((p) => !isProcessAlive(p)));
      // also those forked after `members` was read (a SIGKILLed process takes a moment to exit)
      await waitFor('no process left in the group', () => groupMembers(pid).length === 0);
      await driver.destroy(h.taskId);
    }
  });

  void it('reports Lost when the supervisor was killed and the task then ended', async () => {
    const h = await driver.start(task(['/bin/sleep', '30']));
    const group = Number((await driver.inspect(h.taskId)).details.pid);
    const members = await waitFor('the task process', () => {
      const m = groupMembers(group).filter((p) => p !== group);
      return m.length > 0 && m;
    });
    process.kill(group, 'SIGKILL'); // the supervisor
    await waitFor('the supervisor to be gone', () => !isProcessAlive(group));
    await sleep(150);
    assert.equal((await driver.inspect(h.taskId)).state, 'running', 'the task outlives its supervisor');
    for (const pid of members) process.kill(pid, 'SIGKILL');
    const exit = await driver.wait(h.taskId);
    assert.equal(exit.reason, 'Lost');
    assert.equal(exit.exitCode, -1);
    await driver.destroy(h.taskId);
  });

  void it('tasks survive a kill -9 of the agent process; a new driver gets their real exits, also one from while none ran', async () => {
    // run from the TypeScript sources (tsx) or from dist (npm test): load the driver the same way
    const fromSource = import.meta.filename.endsWith('.ts');
    const driverModule = pathToFileURL(join(import.meta.dirname, fromSource ? 'process-driver.ts' : 'process-driver.js')).href;
    const agentScript = `
      const { ProcessDriver } = await import(${JSON.stringify(driverModule)});
      const driver = new ProcessDriver({ stateDir: ${JSON.stringify(stateDir)} });
      const task = (jobUid, script) => ({ jobUid, namespace: 'default', name: 'x', attempt: 0, command: ['/bin/sh', '-c', script], args: [], env: {}, resources: {} });
      const handles = [
        await driver.start(task('killed-agent-long', 'echo one; while [ ! -e go ]; do sleep 0.05; done; echo two; exit 9')),
        await driver.start(task('killed-agent-short', 'while [ ! -e go ]; do sleep 0.05; done; echo done; exit 4')),
      ];
      process.stdout.write(JSON.stringify(handles) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const agent = spawn(process.execPath, [...(fromSource ? ['--import', 'tsx'] : []), '--input-type=module', '-e', agentScript], {
      cwd: join(import.meta.dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    agent.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const handles = await waitFor('the agent to start its tasks', () => output.includes('\n') && (JSON.parse(output) as TaskHandle[]), 60_000);
    const [long, short] = handles as [TaskHandle, TaskHandle];
    const dirOf = (h: TaskHandle): string => join(stateDir, 'tasks', h.taskId);
    const supervisors = await waitFor('the supervisors\' records', () => {
      const records = handles.map((h) => readRecord<PidRecord>(taskFiles(dirOf(h)).task));
      return records.every((r) => r !== undefined) && (records as PidRecord[]);
    });
    assert.deepEqual(
      supervisors.map((r) => r.pid),
      handles.map((h) => h.driverState.supervisorPid),
    );

    const agentGone = new Promise((resolve) => agent.once('exit', resolve));
    agent.kill('SIGKILL');
    await agentGone;
    for (const s of supervisors) assert.ok(isProcessAlive(s.pid, s.startTime), 'the supervisor outlives the agent');

    // The short task ends while no driver instance exists: its supervisor records the exit.
    writeFileSync(join(dirOf(short), 'go'), '');
    await waitFor('the exit record of the short task', () => existsSync(taskFiles(dirOf(short)).exit));

    const successor = newDriver();
    const logs = new OutputCollector();
    await successor.recover(long, { logs });
    await successor.recover(short);
    const shortExit = await successor.wait(short.taskId);
    assert.equal(shortExit.exitCode, 4);
    assert.equal(shortExit.reason, 'Error');
    assert.equal((await successor.inspect(long.taskId)).state, 'running');
    writeFileSync(join(dirOf(long), 'go'), '');
    const longExit = await successor.wait(long.taskId);
    assert.equal(longExit.exitCode, 9);
    assert.equal(logs.stdout, 'one\ntwo\n');
    for (const h of handles) await successor.destroy(h.taskId);
    for (const s of supervisors) assert.equal(isProcessAlive(s.pid, s.startTime), false);
  });

  void it('keeps enforcing the memory limit of a re-adopted task', async () => {
    const first = newDriver();
    const logs = new OutputCollector();
    const h = await first.start(
      task(['/bin/sh', '-c', 'echo ready; while [ ! -e go ]; do sleep 0.05; done; x=$(head -c 400000000 /dev/zero | tr "\\0" a); echo survived'], {
        resources: { memoryBytes: 48 * 1024 * 1024 },
        logs,
      }),
    );
    await logs.waitForStdout('ready');
    await first.close();
    const second = newDriver();
    await second.recover(JSON.parse(JSON.stringify(h)) as TaskHandle);
    writeFileSync(join(String((await second.inspect(h.taskId)).details.taskDir), 'go'), '');
    const exit = await second.wait(h.taskId);
    assert.equal(exit.reason, 'OOMKilled');
    assert.equal(exit.oomKilled, true);
    assert.equal(exit.exitCode, 137);
    assert.match(exit.message ?? '', /memory above the limit of 50331648 bytes/);
    await second.destroy(h.taskId);
  });

  void it('watches any number of tasks with one timer', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const d = newDriver();
    const before = timers();
    const handles: TaskHandle[] = [];
    for (let i = 0; i < 20; i++) {
      handles.push(await d.start(task(['/bin/sleep', '30'], { logs: new OutputCollector(), resources: { memoryBytes: 1 << 30 } })));
    }
    assert.ok(timers() - before <= 1, `${timers() - before} timers for 20 tasks`);
    for (const h of handles) await d.destroy(h.taskId);
    await waitFor('the timer to stop with the last task', () => timers() <= before);
  });

  void it('leaves no process of any task behind once tasks are destroyed', async () => {
    const h = await driver.start(task(['/bin/sh', '-c', 'sleep 30 & sleep 30']));
    const details = (await driver.inspect(h.taskId)).details;
    assert.ok((await ownedIds(driver)).includes(h.taskId), 'found on disk, for orphan cleanup');
    await driver.destroy(h.taskId);
    assert.ok(!(await ownedIds(driver)).includes(h.taskId));
    assert.equal(isProcessAlive(Number(details.supervisorPid)), false, 'the supervisor is gone when destroy resolves');
    await waitFor('the task group to be gone', () => groupMembers(Number(details.pid)).length === 0);
    assert.equal(existsSync(String(details.taskDir)), false);

    // Also for a task that ended by itself, and for a re-adopted one.
    const ended = await driver.start(task(['/bin/true']));
    const endedSupervisor = Number((await driver.inspect(ended.taskId)).details.supervisorPid);
    await driver.wait(ended.taskId);
    await driver.destroy(ended.taskId);
    assert.equal(isProcessAlive(endedSupervisor), false);

    const first = newDriver();
    const adopted = await first.start(task(['/bin/sleep', '30']));
    await first.close();
    const second = newDriver();
    await second.recover(adopted);
    const adoptedDetails = (await second.inspect(adopted.taskId)).details;
    await second.destroy(adopted.taskId);
    assert.equal(isProcessAlive(Number(adoptedDetails.supervisorPid)), false);
    assert.equal(isProcessAlive(Number(adoptedDetails.pid)), false);
  });

  void it('removeOwned kills every process of an untracked task, also one whose supervisor was killed, and removes its dir', async () => {
    const first = newDriver();
    const logs = new OutputCollector();
    const forked = await first.start(task(['/bin/sh', '-c', 'sleep 30 & echo $!; sleep 30'], { logs }));
    await logs.waitForStdout('\n');
    const background = Number(logs.stdout.trim());
    const forkedGroup = Number((await first.inspect(forked.taskId)).details.pid);
    const orphaned = await first.start(task(['/bin/sleep', '30']));
    const orphanedGroup = Number((await first.inspect(orphaned.taskId)).details.pid);
    const orphanedMembers = await waitFor('the task process', () => {
      const m = groupMembers(orphanedGroup).filter((p) => p !== orphanedGroup);
      return m.length > 0 && m;
    });
    await first.close();
    process.kill(orphanedGroup, 'SIGKILL'); // its supervisor: the task lives on, Lost
    await waitFor('the supervisor to be gone', () => !isProcessAlive(orphanedGroup));

    const second = newDriver();
    const listed = await second.listOwned();
    const forkedOwned = listed.find((t) => t.taskId === forked.taskId);
    const orphanedOwned = listed.find((t) => t.taskId === orphaned.taskId);
    assert.equal(forkedOwned?.running, true);
    assert.equal(forkedOwned?.ref, join(stateDir, 'tasks', forked.taskId));
    assert.equal(orphanedOwned?.running, true, 'what is left of its group still runs');
    await second.removeOwned(forkedOwned);
    await second.removeOwned(orphanedOwned!);
    for (const pid of [forkedGroup, background, ...orphanedMembers]) assert.equal(isProcessAlive(pid), false, `process ${pid} is gone`);
    assert.deepEqual(groupMembers(forkedGroup), []);
    assert.deepEqual(groupMembers(orphanedGroup), []);
    assert.equal(existsSync(forkedOwned!.ref), false);
    assert.equal(existsSync(orphanedOwned!.ref), false);
  });

  void it('removeOwned never signals a recycled pid, refuses refs that are not its task dirs, and destroys a task it tracks', async () => {
    const d = newDriver({ startTimeoutMs: 300 });
    const tasksDir = join(stateDir, 'tasks');
    mkdirSync(tasksDir, { recursive: true });

    // task.json names a live process that started at another time: the pid was reused.
    const stranger = await spawnSleeper(30);
    const recycledDir = join(tasksDir, `recycled-${process.pid}.0`);
    mkdirSync(recycledDir);
    writeFileSync(taskFiles(recycledDir).task, recordText({ pid: stranger.pid, startTime: stranger.startTime + 1 }));
    // A dir whose supervisor has not written its record (yet): running while young.
    const unstartedDir = join(tasksDir, `unstarted-${process.pid}.1`);
    mkdirSync(unstartedDir);
    // Not task dirs: never listed.
    mkdirSync(join(tasksDir, 'not-a-task-id'));
    writeFileSync(join(tasksDir, `a-file-${process.pid}.0`), '');
    try {
      const listed = await d.listOwned();
      const recycled = listed.find((t) => t.taskId === `recycled-${process.pid}.0`);
      const unstarted = listed.find((t) => t.taskId === `unstarted-${process.pid}.1`);
      assert.deepEqual(recycled, { taskId: `recycled-${process.pid}.0`, jobUid: `recycled-${process.pid}`, attempt: 0, running: false, ref: recycledDir });
      assert.equal(unstarted?.running, true, 'being launched');
      assert.equal(listed.some((t) => t.taskId === 'not-a-task-id' || t.taskId.startsWith('a-file-')), false);
      await sleep(350);
      assert.equal((await d.listOwned()).find((t) => t.taskId === unstarted?.taskId)?.running, false, 'never started');

      await d.removeOwned(recycled!);
      assert.equal(isProcessAlive(stranger.pid, stranger.startTime), true, 'the stranger lives');
      assert.equal(existsSync(recycledDir), false);
      await d.removeOwned(unstarted!);
      assert.equal(existsSync(unstartedDir), false);

      for (const bad of [
        { taskId: 'x.0', jobUid: 'x', attempt: 0, running: true, ref: '/etc' },
        { taskId: 'x.0', jobUid: 'x', attempt: 0, running: true, ref: join(tasksDir, 'not-a-task-id') },
        { taskId: '../x.0', jobUid: '../x', attempt: 0, running: true, ref: join(tasksDir, '../x.0') },
      ]) {
        await assert.rejects(d.removeOwned(bad), DriverError);
      }
      assert.equal(existsSync(join(tasksDir, 'not-a-task-id')), true);
      assert.deepEqual(await newDriver({ stateDir: join(root, 'fresh-state') }).listOwned(), [], 'no tasks dir yet');

      const h = await d.start(task(['/bin/sleep', '30']));
      const waiting = d.wait(h.taskId);
      const tracked = (await d.listOwned()).find((t) => t.taskId === h.taskId);
      assert.equal(tracked?.running, true);
      await d.removeOwned(tracked);
      assert.equal((await waiting).exitCode, 137);
      await assert.rejects(d.inspect(h.taskId), TaskNotFoundError);
      assert.equal(existsSync(tracked.ref), false);
    } finally {
      killQuietly(stranger.pid);
    }
  });

  void it('launches without env(1) only when the shell passes the environment on unchanged and no PATH lookup is needed', () => {
    const plain = { PATH: '/bin', HOME: '/root', LANG: 'C.UTF-8', _x: '' };
    assert.equal(launchModeOf(['/bin/true'], plain), 'direct');
    assert.equal(launchModeOf(['./run'], plain), 'direct');
    assert.equal(launchModeOf(['true'], plain), 'env', 'a PATH lookup keeps argv[0] as given, and no shell builtin runs');
    for (const name of ['A-B', 'IFS', 'PWD', 'OPTIND', 'PPID', '__os_dir', 'LD_PRELOAD', 'GLIBC_TUNABLES', 'MALLOC_ARENA_MAX']) {
      assert.equal(launchModeOf(['/bin/true'], { ...plain, [name]: 'x' }), 'env', name);
    }
    assert.equal(launchModeOf(['/tmp/a=b'], plain), 'direct');
    assert.equal(launchModeOf(['/tmp/a=b'], { 'A-B': 'x' }), undefined, 'env(1) would take it for an assignment');
  });

  void it('finds executables as execvp does', () => {
    const dir = join(root, 'path-lookup');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'tool'), '#!/bin/sh\n');
    chmodSync(join(dir, 'sub', 'tool'), 0o755);
    writeFileSync(join(dir, 'plain'), '');
    assert.deepEqual(findExecutable('tool', '/nonexistent:sub', dir), { path: join(dir, 'sub', 'tool') }, 'relative PATH entries from the working dir');
    assert.deepEqual(findExecutable('sub/tool', '', dir), { path: join(dir, 'sub', 'tool') }, 'a relative path from the working dir');
    assert.deepEqual(findExecutable('tool', ':', join(dir, 'sub')), { path: join(dir, 'sub', 'tool') }, 'an empty PATH entry is the working dir');
    assert.match(JSON.stringify(findExecutable('plain', dir, '/')), /is not an executable file/);
    assert.match(JSON.stringify(findExecutable('tool', '/nonexistent', dir)), /not found in PATH/);
  });

  void it('reads records only once they are completely written', () => {
    const path = join(root, 'record.json');
    writeFileSync(path, '');
    assert.equal(readRecord(path), undefined);
    writeFileSync(path, '{"status":');
    assert.equal(readRecord(path), undefined);
    writeFileSync(path, '{"status":3}\n');
    assert.deepEqual(readRecord(path), { status: 3 });
    writeFileSync(path, 'garbage\n');
    assert.throws(() => readRecord(path), /damaged/);
    assert.equal(readRecord(join(root, 'absent.json')), undefined);
  });
});

// The TaskDriver conformance suite: the same checks for every driver (process, podman, incus).
// A driver's test file calls `describeDriverConformance({...})`. Tasks are /bin/sh scripts —
// the user's program — so the task's filesystem needs a POSIX shell with sleep, head and tr.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  InvalidTaskConfigError,
  TaskAlreadyExistsError,
  type TaskConfig,
  type TaskDriver,
  type TaskHandle,
  type TaskLogSink,
  TaskNotFoundError,
} from './task-driver.js';

export interface DriverConformanceOptions {
  /** Suite title. */
  name: string;
  /** A driver on `stateDir`; a second driver on the same dir simulates an agent restart. */
  newDriver(stateDir: string): TaskDriver | Promise<TaskDriver>;
  /** Fields every task gets (e.g. `image`). */
  baseTask?: Partial<TaskConfig>;
  /** The shell inside the task's filesystem. Default /bin/sh. */
  shell?: string;
  /** Check memory enforcement (the driver must end a task above its limit). Default true. */
  checksMemoryLimit?: boolean;
  /** Kills, by id, anything the driver under test left on `stateDir`; runs in after(). */
  cleanup?(stateDir: string): Promise<void>;
}

/** Collects a task's output and waits for text to appear in it. */
export class OutputCollector implements TaskLogSink {
  private readonly out: Buffer[] = [];
  private readonly err: Buffer[] = [];

  onStdout(chunk: Buffer): void {
    this.out.push(chunk);
  }

  onStderr(chunk: Buffer): void {
    this.err.push(chunk);
  }

  get stdout(): string {
    return Buffer.concat(this.out).toString('utf8');
  }

  get stderr(): string {
    return Buffer.concat(this.err).toString('utf8');
  }

  /** Resolves once stdout contains `text`; rejects after `timeoutMs`. */
  async waitForStdout(text: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.stdout.includes(text)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${JSON.stringify(text)} in stdout ${JSON.stringify(this.stdout)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function describeDriverConformance(options: DriverConformanceOptions): void {
  const shell = options.shell ?? '/bin/sh';
  let stateDir = '';
  let driver: TaskDriver;
  const drivers: TaskDriver[] = [];
  let nextUid = 0;

  const newDriver = async (): Promise<TaskDriver> => {
    const d = await options.newDriver(stateDir);
    drivers.push(d);
    return d;
  };
  /** A task running `script` under the shell; `$0` is "task", the rest of `args` are $1... */
  const task = (script: string, extra: Partial<TaskConfig> = {}): TaskConfig => ({
    jobUid: `conformance-${process.pid}-${nextUid++}`,
    namespace: 'default',
    name: 'conformance',
    attempt: 0,
    command: [shell, '-c', script, 'task'],
    args: [],
    env: {},
    resources: {},
    ...options.baseTask,
    ...extra,
  });

  void describe(`TaskDriver conformance: ${options.name}`, () => {
    before(async () => {
      stateDir = await mkdtemp(join(tmpdir(), 'driver-conformance-'));
      driver = await newDriver();
    });

    after(async () => {
      for (const d of drivers) await d.close();
      if (options.cleanup) await options.cleanup(stateDir);
      await rm(stateDir, { recursive: true, force: true });
    });

    void it('fingerprints healthy with string attributes', async () => {
      const fp = await driver.fingerprint();
      assert.equal(fp.healthy, true, fp.detail);
      assert.equal(typeof fp.detail, 'string');
      for (const value of Object.values(fp.attributes)) assert.equal(typeof value, 'string');
    });

    void it('reports exit codes 0, 3 and 137 (SIGKILL)', async () => {
      const cases: Array<[string, number, string]> = [
        ['exit 0', 0, 'Completed'],
        ['exit 3', 3, 'Error'],
        ['kill -9 $$', 137, 'Signaled'],
      ];
      const handles = await Promise.all(cases.map(([script]) => driver.start(task(script))));
      const exits = await Promise.all(handles.map((h) => driver.wait(h.taskId)));
      exits.forEach((exit, i) => {
        const [script, code, reason] = cases[i]!;
        assert.equal(exit.exitCode, code, script);
        assert.equal(exit.reason, reason, script);
      });
      assert.equal(exits[2]!.signal, 'SIGKILL');
      for (const h of handles) await driver.destroy(h.taskId);
    });

    void it('captures stdout and stderr in order, all of it delivered before wait resolves', async () => {
      const logs = new OutputCollector();
      const h = await driver.start(
        task('echo to-err >&2; i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done; printf "no-newline"', { logs }),
      );
      const exit = await driver.wait(h.taskId);
      assert.equal(exit.exitCode, 0);
      const expected = Array.from({ length: 3000 }, (_, i) => `line ${i}\n`).join('') + 'no-newline';
      assert.equal(logs.stdout, expected);
      assert.equal(logs.stderr, 'to-err\n');
      await driver.destroy(h.taskId);
    });

    void it('passes argv and env literally, never through a shell', async () => {
      const hostile = ['; rm -rf /', '$(id)', '`id`', 'a\nb', '--help', '*', "'quoted'", ' spaced '];
      const logs = new OutputCollector();
      const h = await driver.start(
        task('for a in "$@"; do printf "%s\\0" "$a"; done; printf "%s\\0" "$E1" "$E2" "$E3"', {
          args: hostile,
          env: { E1: '$(id)', E2: 'line1\nline2', E3: '; echo pwned' },
          logs,
        }),
      );
      assert.equal((await driver.wait(h.taskId)).exitCode, 0);
      const fields = logs.stdout.split('\0').slice(0, -1);
      assert.deepEqual(fields, [...hostile, '$(id)', 'line1\nline2', '; echo pwned']);
      await driver.destroy(h.taskId);
    });

    void it('runs in workingDir', async () => {
      const logs = new OutputCollector();
      const h = await driver.start(task('pwd', { workingDir: '/tmp', logs }));
      assert.equal((await driver.wait(h.taskId)).exitCode, 0);
      assert.equal(logs.stdout, '/tmp\n');
      await driver.destroy(h.taskId);
    });

    void it('inspects a running and an exited task', async () => {
      const h = await driver.start(task('sleep 30'));
      const running = await driver.inspect(h.taskId);
      assert.equal(running.state, 'running');
      assert.equal(running.taskId, h.taskId);
      assert.equal(running.exit, undefined);
      if (driver.capabilities.stats) {
        const stats = await driver.stats(h.taskId);
        assert.ok(stats.memoryRssBytes > 0);
        assert.ok(stats.cpuTimeMillis >= 0);
      }
      await driver.stop(h.taskId, 0, 'SIGKILL');
      const exited = await driver.inspect(h.taskId);
      assert.equal(exited.state, 'exited');
      assert.equal(exited.exit?.exitCode, 137);
      await driver.destroy(h.taskId);
    });

    void it('stop: SIGTERM ends a cooperative task within the grace period', async () => {
      const logs = new OutputCollector();
      const h = await driver.start(task("trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.1; done", { logs }));
      await logs.waitForStdout('ready');
      const t0 = Date.now();
      const exit = await driver.stop(h.taskId, 10_000);
      assert.ok(Date.now() - t0 < 5_000, 'ended well before the grace period');
      assert.equal(exit.exitCode, 0);
      assert.equal(exit.reason, 'Stopped');
      assert.match(logs.stdout, /got-term/);
      await driver.destroy(h.taskId);
    });

    void it('stop: a task that ignores SIGTERM is killed after the grace period', async () => {
      const logs = new OutputCollector();
      const h = await driver.start(task("trap '' TERM; echo ready; while :; do sleep 0.1; done", { logs }));
      await logs.waitForStdout('ready');
      const t0 = Date.now();
      const exit = await driver.stop(h.taskId, 700);
      const took = Date.now() - t0;
      assert.ok(took >= 650, `waited the grace period (${took} ms)`);
      assert.ok(took < 5_000, `then killed (${took} ms)`);
      assert.equal(exit.exitCode, 137);
      assert.equal(exit.signal, 'SIGKILL');
      assert.equal(exit.reason, 'Stopped');
      assert.deepEqual(await driver.wait(h.taskId), exit, 'wait reports the same exit');
      assert.deepEqual(await driver.stop(h.taskId, 0), exit, 'stopping an ended task is a no-op');
      await driver.destroy(h.taskId);
    });

    void it('stop with SIGINT ends a task by SIGINT: tasks start with default signal dispositions', async () => {
      const logs = new OutputCollector();
      const h = await driver.start(task('echo ready; while :; do sleep 0.1; done', { logs }));
      await logs.waitForStdout('ready');
      const exit = await driver.stop(h.taskId, 5_000, 'SIGINT');
      assert.equal(exit.exitCode, 130);
      assert.equal(exit.signal, 'SIGINT');
      assert.equal(exit.reason, 'Stopped');
      await driver.destroy(h.taskId);
    });

    void it('stop right after start ends the task', async () => {
      const handles = await Promise.all(Array.from({ length: 5 }, () => driver.start(task('sleep 30'))));
      const exits = await Promise.all(handles.map((h) => driver.stop(h.taskId, 5_000)));
      for (const exit of exits) {
        assert.equal(exit.reason, 'Stopped');
        assert.ok(exit.exitCode === 143 || exit.exitCode === 137, `ended by the stop (${exit.exitCode})`);
      }
      for (const h of handles) await driver.destroy(h.taskId);
    });

    void it('destroy kills a running task and forgets it', async () => {
      const h = await driver.start(task('sleep 30'));
      const waiting = driver.wait(h.taskId);
      await driver.destroy(h.taskId);
      assert.equal((await waiting).exitCode, 137);
      await assert.rejects(driver.inspect(h.taskId), TaskNotFoundError);
      await assert.rejects(driver.wait(h.taskId), TaskNotFoundError);
    });

    void it('wait honours an AbortSignal', async () => {
      const h = await driver.start(task('sleep 30'));
      const ac = new AbortController();
      const waiting = driver.wait(h.taskId, ac.signal);
      ac.abort(new Error('gave up'));
      await assert.rejects(waiting, /gave up/);
      assert.equal((await driver.inspect(h.taskId)).state, 'running');
      await driver.destroy(h.taskId);
    });

    void it('rejects unknown tasks, duplicate tasks and invalid configs with typed errors', async () => {
      await assert.rejects(driver.wait('no-such-task.0'), TaskNotFoundError);
      await assert.rejects(driver.inspect('no-such-task.0'), TaskNotFoundError);
      await assert.rejects(driver.stop('no-such-task.0', 0), TaskNotFoundError);
      await assert.rejects(driver.destroy('no-such-task.0'), TaskNotFoundError);

      const config = task('sleep 30');
      const h = await driver.start(config);
      await assert.rejects(driver.start(config), TaskAlreadyExistsError);
      await driver.destroy(h.taskId);

      const invalid: Array<[Partial<TaskConfig>, string]> = [
        [{ command: [] }, 'command'],
        [{ attempt: -1 }, 'attempt'],
        [{ jobUid: '../escape' }, 'jobUid'],
        [{ env: { 'A=B': 'x' } }, 'env["A=B"]'],
        [{ args: ['nul\0byte'] }, 'args[0]'],
        [{ workingDir: 'relative/dir' }, 'workingDir'],
        [{ resources: { memoryBytes: -5 } }, 'resources.memoryBytes'],
      ];
      for (const [patch, field] of invalid) {
        await assert.rejects(driver.start(task('exit 0', patch)), (err: unknown) => {
          assert.ok(err instanceof InvalidTaskConfigError, String(err));
          assert.equal(err.field, field);
          assert.ok(err.rule.length > 0);
          return true;
        });
      }
    });

    if (options.checksMemoryLimit ?? true) {
      void it('ends a task that allocates beyond its memory limit, as OOMKilled', async () => {
        const h = await driver.start(
          task('x=$(head -c 400000000 /dev/zero | tr "\\0" a); echo survived', { resources: { memoryBytes: 48 * 1024 * 1024 } }),
        );
        const exit = await driver.wait(h.taskId);
        assert.notEqual(exit.exitCode, 0);
        assert.equal(exit.reason, 'OOMKilled');
        assert.equal(exit.oomKilled, true);
        await driver.destroy(h.taskId);
      });
    }

    void it('recovers tasks after an agent restart, including exits that happened while down', async () => {
      const before = await newDriver();
      const logs = new OutputCollector();
      const running = await before.start(task('echo one; sleep 2.5; echo two; exit 5', { logs }));
      const exitsWhileDown = await before.start(task('sleep 0.2; exit 7'));
      const toStop = await before.start(task('echo up; sleep 30'));
      const handles: TaskHandle[] = JSON.parse(JSON.stringify([running, exitsWhileDown, toStop])) as TaskHandle[];
      await logs.waitForStdout('one');
      await before.close(); // the agent goes away; its tasks do not
      await sleep(800);

      const afterRestart = await newDriver();
      const logs2 = new OutputCollector();
      await afterRestart.recover(handles[0]!, { logs: logs2 });
      await afterRestart.recover(handles[1]!);
      await afterRestart.recover(handles[2]!);
      await afterRestart.recover(handles[2]!); // idempotent

      const down = await afterRestart.wait(exitsWhileDown.taskId);
      assert.equal(down.exitCode, 7);
      assert.equal(down.reason, 'Error');

      assert.equal((await afterRestart.inspect(running.taskId)).state, 'running');
      const exit = await afterRestart.wait(running.taskId);
      assert.equal(exit.exitCode, 5);
      assert.equal(logs2.stdout, 'one\ntwo\n', 'output kept across the restart');

      const stopped = await afterRestart.stop(toStop.taskId, 2_000);
      assert.equal(stopped.exitCode, 143);
      assert.equal(stopped.signal, 'SIGTERM');
      assert.equal(stopped.reason, 'Stopped');

      for (const h of handles) await afterRestart.destroy(h.taskId);
      await assert.rejects(afterRestart.recover(handles[0]!), (err: unknown) => err instanceof Error && !(err instanceof TaskNotFoundError));
    });
  });
}

// The TaskDriver conformance suite: the same checks for every driver (process, podman, incus).
// A driver's test file calls `describeDriverConformance({...})`. Tasks are /bin/sh scripts —
// the user's program — so the task's filesystem needs a POSIX shell with printf, sleep, head,
// tr and cat (busybox will do) and the directory /etc; nothing reads /proc. Timing assertions
// leave room for drivers that take a second to start or signal a task (podman, incus).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DriverError,
  InvalidTaskConfigError,
  type OwnedTask,
  TaskAlreadyExistsError,
  type TaskConfig,
  type TaskDriver,
  type TaskHandle,
  type TaskLogSink,
  TaskNotFoundError,
  taskIdOf,
  type WorkloadType,
} from './task-driver.js';

export interface DriverConformanceOptions {
  /** Suite title. */
  name: string;
  /**
   * A driver on `stateDir`; a second driver on the same dir simulates an agent restart (it
   * must then see the same tasks as its own: same node identity). Its ownership marks must be
   * its own (e.g. a node name holding process.pid): the suite checks that `listOwned` lists
   * only tasks the suite started, and removes every task listed. With `supportsVolumes`, the
   * driver must allow host volumes under `stateDir` and nowhere else the suite uses.
   */
  newDriver(stateDir: string): TaskDriver | Promise<TaskDriver>;
  /** Fields every task gets (e.g. `image`). */
  baseTask?: Partial<TaskConfig>;
  /** The shell inside the task's filesystem. Default /bin/sh. */
  shell?: string;
  /** Check memory enforcement (the driver must end a task above its limit). Default true. */
  checksMemoryLimit?: boolean;
  /**
   * The driver tells an out-of-memory kill from other ends (reason OOMKilled, oomKilled true).
   * Default true; false only where the runtime gives no way to infer it (the suite then checks
   * only that the task was ended).
   */
  reportsOomKilled?: boolean;
  /** An empty `command` runs the image's own entrypoint (podman); otherwise it is refused. Default false. */
  runsImageEntrypoint?: boolean;
  /**
   * A driver whose runtime is absent (a bad binary or socket path), on a fresh directory: its
   * fingerprint must resolve unhealthy with a detail, and its start reject with a DriverError.
   * Absent: not checked.
   */
  newUnavailableDriver?(stateDir: string): TaskDriver | Promise<TaskDriver>;
  /**
   * Something of the same runtime that is NOT marked as ours (a container or instance without
   * the driver's labels, a look-alike task dir outside the driver's dir): `listOwned` must never
   * list it, and it must survive `removeOwned` of everything listed. The suite removes it.
   */
  newDecoy?(): Promise<ConformanceDecoy>;
  /**
   * The driver bind-mounts `TaskConfig.volumes` (newDriver must then allow host paths under
   * `stateDir`). Default false: the suite checks that a task with volumes is rejected with an
   * InvalidTaskConfigError naming `volumes`.
   */
  supportsVolumes?: boolean;
  /** Kills, by id, anything the driver under test left on `stateDir`; runs in after(). */
  cleanup?(stateDir: string): Promise<void>;
}

/** See `DriverConformanceOptions.newDecoy`. */
export interface ConformanceDecoy {
  /** Whether it still exists, untouched. */
  stillThere(): Promise<boolean>;
  /** Removes it (the suite calls it also when a check failed). */
  remove(): Promise<void>;
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

/** Asserts that `promise` rejects with an InvalidTaskConfigError naming `field`. */
async function rejectsNaming(promise: Promise<unknown>, field: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof InvalidTaskConfigError, `expected InvalidTaskConfigError(${field}), got ${String(err)}`);
    assert.equal(err.field, field);
    assert.ok(err.rule.length > 0);
    return true;
  });
}

/** A copy of a handle as the agent keeps it (JSON). */
function persisted<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export function describeDriverConformance(options: DriverConformanceOptions): void {
  const shell = options.shell ?? '/bin/sh';
  let stateDir = '';
  let driver: TaskDriver;
  const drivers: TaskDriver[] = [];
  /** The task ids of every task config the suite made: all listOwned may ever list. */
  const suiteTaskIds = new Set<string>();
  let nextUid = 0;

  const newDriver = async (): Promise<TaskDriver> => {
    const d = await options.newDriver(stateDir);
    drivers.push(d);
    return d;
  };
  /** A task running `script` under the shell; `$0` is "task", the rest of `args` are $1... */
  const task = (script: string, extra: Partial<TaskConfig> = {}): TaskConfig => {
    const config: TaskConfig = {
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
    };
    suiteTaskIds.add(taskIdOf(config));
    return config;
  };

  void describe(`TaskDriver conformance: ${options.name}`, () => {
    before(async () => {
      stateDir = await mkdtemp(join(tmpdir(), 'driver-conformance-'));
      driver = await newDriver();
    });

    after(async () => {
      const failures: unknown[] = [];
      for (const d of drivers) await d.close().catch((err: unknown) => failures.push(err));
      if (options.cleanup) await options.cleanup(stateDir).catch((err: unknown) => failures.push(err));
      await rm(stateDir, { recursive: true, force: true });
      if (failures.length > 0) throw new AggregateError(failures, 'cleanup failed');
    });

    void it('fingerprints healthy with string attributes', async () => {
      const fp = await driver.fingerprint();
      assert.equal(fp.healthy, true, fp.detail);
      assert.equal(typeof fp.detail, 'string');
      for (const value of Object.values(fp.attributes)) assert.equal(typeof value, 'string');
    });

    if (options.newUnavailableDriver) {
      const newUnavailableDriver = options.newUnavailableDriver;
      void it('a driver whose runtime is absent fingerprints unhealthy, with a detail, and rejects start', async () => {
        const dir = join(stateDir, 'unavailable');
        await mkdir(dir);
        const unavailable = await newUnavailableDriver(dir);
        drivers.push(unavailable);
        const fp = await unavailable.fingerprint();
        assert.equal(fp.healthy, false, 'not advertised');
        assert.equal(typeof fp.detail, 'string');
        assert.ok(fp.detail.length > 0, 'says why');
        for (const value of Object.values(fp.attributes)) assert.equal(typeof value, 'string');
        const config = task('exit 0');
        await assert.rejects(unavailable.start(config), (err: unknown) => {
          assert.ok(err instanceof DriverError, `expected a DriverError, got ${String(err)}`);
          return true;
        });
        await assert.rejects(unavailable.inspect(taskIdOf(config)), TaskNotFoundError, 'a failed start leaves no task');
      });
    }

    void it('reports exit codes 0, 3 and 137 (SIGKILL)', async () => {
      // The killed shell is a child of the task's main process (which may be a container's
      // PID 1, immune to its own SIGKILL), whose status is then its child's: 128 + 9.
      const cases: Array<[string, number, string]> = [
        ['exit 0', 0, 'Completed'],
        ['exit 3', 3, 'Error'],
        [`${shell} -c 'kill -9 $$'; exit $?`, 137, 'Signaled'],
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

    void it('passes argv and env literally, never through a shell and never as a flag', async () => {
      const hostile = ['; rm -rf /', '$(id)', '`id`', 'a\nb', '--help', '-e', '--', '*', '', "'quoted'", ' spaced ', '"', '\\', 'x=y'];
      const env: Record<string, string> = {};
      hostile.forEach((value, i) => (env[`E${i}`] = value));
      const names = Object.keys(env);
      const logs = new OutputCollector();
      const h = await driver.start(
        task(`for a in "$@"; do printf '%s\\0' "$a"; done; printf '%s\\0' ${names.map((n) => `"$${n}"`).join(' ')}`, { args: hostile, env, logs }),
      );
      assert.equal((await driver.wait(h.taskId)).exitCode, 0, logs.stderr);
      const fields = logs.stdout.split('\0').slice(0, -1);
      assert.deepEqual(fields, [...hostile, ...hostile], 'argv, then the env values, exactly');
      await driver.destroy(h.taskId);
    });

    void it('runs in workingDir', async () => {
      const logs = new OutputCollector();
      const h = await driver.start(task('pwd', { workingDir: '/etc', logs }));
      assert.equal((await driver.wait(h.taskId)).exitCode, 0);
      assert.equal(logs.stdout, '/etc\n');
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

    // How the agent enforces timeoutSeconds: stop(taskId, killTimeout).
    for (const graceMs of [1_000, 0]) {
      void it(`stop(${graceMs} ms) of a task that ignores SIGTERM kills it within the grace period + 2 s (137, SIGKILL)`, async () => {
        const logs = new OutputCollector();
        const h = await driver.start(task("trap '' TERM; echo ready; while :; do sleep 0.1; done", { logs }));
        await logs.waitForStdout('ready');
        const t0 = Date.now();
        const exit = await driver.stop(h.taskId, graceMs);
        const took = Date.now() - t0;
        assert.ok(took >= graceMs - 50, `waited the grace period (${took} ms)`);
        assert.ok(took < graceMs + 2_000, `then killed (${took} ms)`);
        assert.equal(exit.exitCode, 137);
        assert.equal(exit.signal, 'SIGKILL');
        assert.equal(exit.reason, 'Stopped');
        assert.deepEqual(await driver.wait(h.taskId), exit, 'wait reports the same exit');
        assert.deepEqual(await driver.stop(h.taskId, 0), exit, 'stopping an ended task is a no-op');
        assert.deepEqual((await driver.inspect(h.taskId)).exit, exit);
        await driver.destroy(h.taskId);
      });
    }

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
        ...(options.runsImageEntrypoint === true ? [] : [[{ command: [] }, 'command'] as [Partial<TaskConfig>, string]]),
        [{ attempt: -1 }, 'attempt'],
        [{ jobUid: '../escape' }, 'jobUid'],
        [{ env: { 'A=B': 'x' } }, 'env["A=B"]'],
        [{ args: ['nul\0byte'] }, 'args[0]'],
        [{ workingDir: 'relative/dir' }, 'workingDir'],
        [{ resources: { memoryBytes: -5 } }, 'resources.memoryBytes'],
        [{ workloadType: 'bogus' as WorkloadType }, 'workloadType'],
        [{ network: `conformance-no-such-network-${process.pid}` }, 'network'],
      ];
      for (const [patch, field] of invalid) await rejectsNaming(driver.start(task('exit 0', patch)), field);
    });

    if (options.checksMemoryLimit ?? true) {
      const reportsOom = options.reportsOomKilled ?? true;
      void it(`ends a task that allocates beyond its memory limit${reportsOom ? ', as OOMKilled' : ''}`, async () => {
        const logs = new OutputCollector();
        const h = await driver.start(
          task('x=$(head -c 400000000 /dev/zero | tr "\\0" a); echo survived', { resources: { memoryBytes: 48 * 1024 * 1024 }, logs }),
        );
        const exit = await driver.wait(h.taskId);
        assert.notEqual(exit.exitCode, 0);
        assert.doesNotMatch(logs.stdout, /survived/);
        if (reportsOom) {
          assert.equal(exit.reason, 'OOMKilled');
          assert.equal(exit.oomKilled, true);
        }
        await driver.destroy(h.taskId);
      });
    }

    if (options.supportsVolumes ?? false) {
      void it('bind-mounts volumes: read-only refuses writes, read-write writes reach the host', async () => {
        const root = join(stateDir, `volumes-${process.pid}`);
        const ro = join(root, 'ro');
        const rw = join(root, 'rw');
        await mkdir(ro, { recursive: true });
        await mkdir(rw, { recursive: true });
        await writeFile(join(ro, 'in.txt'), 'from-host\n');
        // Writable for a task whose user the runtime maps to another host uid.
        await chmod(rw, 0o777);
        const logs = new OutputCollector();
        const h = await driver.start(
          task('cat /conformance-ro/in.txt; if (echo x >/conformance-ro/new) 2>/dev/null; then echo ro-writable; else echo ro-refused; fi; echo from-task >/conformance-rw/out.txt', {
            volumes: [
              { hostPath: ro, mountPath: '/conformance-ro', readOnly: true },
              { hostPath: rw, mountPath: '/conformance-rw', readOnly: false },
            ],
            logs,
          }),
        );
        assert.equal((await driver.wait(h.taskId)).exitCode, 0, logs.stderr);
        assert.equal(logs.stdout, 'from-host\nro-refused\n');
        assert.equal(existsSync(join(ro, 'new')), false);
        assert.equal(await readFile(join(rw, 'out.txt'), 'utf8'), 'from-task\n');
        await driver.destroy(h.taskId);
      });

      void it('refuses host paths outside the allowed roots, also through a symbolic link or ..', async () => {
        const outside = await mkdtemp(join(tmpdir(), 'driver-conformance-outside-'));
        try {
          const root = join(stateDir, `volumes-refused-${process.pid}`);
          await mkdir(root, { recursive: true });
          const link = join(root, 'escape');
          await symlink(outside, link);
          for (const hostPath of [outside, link, `${root}/../../${basename(outside)}`]) {
            await rejectsNaming(driver.start(task('exit 0', { volumes: [{ hostPath, mountPath: '/escaped', readOnly: true }] })), 'volumes[0].hostPath');
          }
        } finally {
          await rm(outside, { recursive: true, force: true });
        }
      });
    } else {
      void it('rejects volumes: the driver has no filesystem isolation', async () => {
        await rejectsNaming(driver.start(task('exit 0', { volumes: [{ hostPath: stateDir, mountPath: '/data', readOnly: true }] })), 'volumes');
      });
    }

    void it('recovers tasks after an agent restart, including exits that happened while down', async () => {
      const before = await newDriver();
      const logs = new OutputCollector();
      const exitsWhileDown = await before.start(task('sleep 0.2; exit 7'));
      const toStop = await before.start(task('echo up; sleep 30'));
      // Started last, so that it still runs after the restart also with a slow driver.
      const running = await before.start(task('echo one; sleep 4; echo two; exit 5', { logs }));
      const handles: TaskHandle[] = persisted([running, exitsWhileDown, toStop]);
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

    void it('listOwned lists what an earlier instance left, running or ended; removeOwned ends and removes it; nothing else is touched', async () => {
      const decoy = options.newDecoy ? await options.newDecoy() : undefined;
      try {
        const first = await newDriver();
        const logs = new OutputCollector();
        const runningConfig = task('echo up; sleep 60', { attempt: 2, logs });
        const endedConfig = task('exit 4');
        const running = await first.start(runningConfig);
        const ended = await first.start(endedConfig);
        await logs.waitForStdout('up');
        assert.equal((await first.wait(ended.taskId)).exitCode, 4);
        const handles = persisted([running, ended]);
        await first.close(); // the agent goes away; its tasks do not

        const second = await newDriver();
        const ownConfig = task('sleep 60');
        const own = await second.start(ownConfig);
        const listed = await second.listOwned();
        for (const t of listed) assert.ok(suiteTaskIds.has(t.taskId), `lists only what is marked as ours: ${JSON.stringify(t)}`);
        const find = (list: OwnedTask[], taskId: string): OwnedTask | undefined => list.find((t) => t.taskId === taskId);
        const expectListed = (config: TaskConfig, isRunning: boolean): OwnedTask => {
          const owned = find(listed, taskIdOf(config));
          assert.ok(owned, `${taskIdOf(config)} is listed: ${JSON.stringify(listed)}`);
          assert.deepEqual(
            { taskId: owned.taskId, jobUid: owned.jobUid, attempt: owned.attempt, running: owned.running },
            { taskId: taskIdOf(config), jobUid: config.jobUid, attempt: config.attempt, running: isRunning },
          );
          assert.equal(typeof owned.ref, 'string');
          assert.ok(owned.ref.length > 0);
          return owned;
        };
        const runningOwned = expectListed(runningConfig, true);
        const endedOwned = expectListed(endedConfig, false);
        expectListed(ownConfig, true); // known to this instance: listed too

        await second.removeOwned(runningOwned);
        await second.removeOwned(endedOwned);
        const afterRemoval = await second.listOwned();
        assert.equal(find(afterRemoval, running.taskId), undefined, 'the running task is gone');
        assert.equal(find(afterRemoval, ended.taskId), undefined, 'the ended task is gone');
        assert.ok(find(afterRemoval, own.taskId)?.running, 'the other task is untouched');
        for (const h of handles) {
          await assert.rejects(second.recover(h), (err: unknown) => err instanceof Error && !(err instanceof TaskNotFoundError), 'nothing left to recover');
        }
        await second.removeOwned(runningOwned); // already gone: resolves
        await second.removeOwned(endedOwned);

        await second.destroy(own.taskId);
        assert.equal(find(await second.listOwned(), own.taskId), undefined, 'destroy removes a task from the listing');

        // Whatever else of this suite is listed (leftovers of failed checks) goes too; the decoy stays.
        for (const t of await second.listOwned()) {
          assert.ok(suiteTaskIds.has(t.taskId), `lists only what is marked as ours: ${JSON.stringify(t)}`);
          await second.removeOwned(t);
        }
        assert.deepEqual(await second.listOwned(), []);
        if (decoy) assert.equal(await decoy.stillThere(), true, 'what is not marked as ours is never touched');
      } finally {
        await decoy?.remove();
      }
    });
  });
}

// The podman driver against the real podman of this machine (the project's config/podman/containers.conf,
// image localhost/busybox:test). Every container a test makes carries a node label holding
// process.pid; after() removes, by id, every container with those labels.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { containersConf } from '../../test/harness/runtimes.js';
import { describeDriverConformance, OutputCollector } from './driver-conformance.js';
import { ContainerRemover, PodmanCli } from './podman-cli.js';
import { containerNameOf, PODMAN_LABELS, PodmanDriver, type PodmanDriverOptions, podmanRunArgs, validatePodmanTask } from './podman-driver.js';
import { DriverError, InvalidTaskConfigError, type TaskConfig, TaskRecoveryError, TaskStartError, taskIdOf } from './task-driver.js';

const CONTAINERS_CONF = containersConf();
const IMAGE = 'localhost/busybox:test';
const cli = new PodmanCli({ podmanPath: 'podman', containersConf: CONTAINERS_CONF, timeoutMs: 60_000 });

/** Removes, by id, every container labelled with one of `nodes`. */
async function removeNodeContainers(...nodes: string[]): Promise<void> {
  for (const node of nodes) {
    const out = await cli.run(['ps', '--all', '--quiet', '--no-trunc', '--filter', `label=${PODMAN_LABELS.node}=${node}`]);
    const ids = out.split('\n').filter((id) => /^[0-9a-f]{64}$/.test(id));
    if (ids.length > 0) await cli.run(['rm', '--force', '--time', '0', ...ids]);
  }
}

async function inspectContainer(id: string): Promise<{
  State: { Running: boolean };
  StaticDir: string;
  Config: { Labels: Record<string, string> };
  HostConfig: { Memory: number; MemorySwap: number; NanoCpus: number; CpuQuota: number; CpuPeriod: number; Privileged: boolean; CapAdd: string[] | null };
}> {
  const list = JSON.parse(await cli.run(['container', 'inspect', '--format', 'json', id])) as unknown[];
  return list[0] as never;
}

/** Linux capability numbers (linux/capability.h). */
const CAPABILITY_BITS: Record<string, number> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
};

const conformanceNode = `conformance-podman-${process.pid}`;

describeDriverConformance({
  name: 'podman',
  runsImageEntrypoint: true,
  newDriver: (stateDir) =>
    new PodmanDriver({ nodeName: conformanceNode, stateDir, containersConf: CONTAINERS_CONF, volumeRoots: [stateDir], pollIntervalMs: 50, reconcileIntervalMs: 1_000 }),
  baseTask: { image: IMAGE },
  supportsVolumes: true,
  newUnavailableDriver: (stateDir) =>
    new PodmanDriver({ nodeName: `${conformanceNode}-unavailable`, stateDir, podmanPath: `/nonexistent-${process.pid}/podman`, containersConf: CONTAINERS_CONF }),
  newDecoy: async () => {
    // Labelled with the suite's node, but not as managed: not ours.
    const id = (
      await cli.run(['run', '--detach', '--name', `os-decoy-${process.pid}`, '--label', `${PODMAN_LABELS.node}=${conformanceNode}`, '--network', 'none', IMAGE, 'sleep', '600'])
    ).trim();
    return {
      stillThere: async () => (await inspectContainer(id)).State.Running,
      remove: async () => {
        await cli.run(['rm', '--force', '--time', '0', id]);
      },
    };
  },
  cleanup: () => removeNodeContainers(conformanceNode),
});

void describe('PodmanDriver specifics', () => {
  const nodeName = `specific-podman-${process.pid}`;
  const otherNode = `specific-podman-other-${process.pid}`;
  let stateDir = '';
  let driver: PodmanDriver;
  const drivers: PodmanDriver[] = [];
  let n = 0;
  const newDriver = (options: Partial<PodmanDriverOptions> = {}): PodmanDriver => {
    const d = new PodmanDriver({ nodeName, stateDir, containersConf: CONTAINERS_CONF, volumeRoots: [stateDir], pollIntervalMs: 50, ...options });
    drivers.push(d);
    return d;
  };
  const task = (script: string, extra: Partial<TaskConfig> = {}): TaskConfig => ({
    jobUid: `specific-${process.pid}-${n++}`,
    namespace: 'team-a',
    name: 'specific',
    attempt: 0,
    command: ['/bin/sh', '-c', script, 'task'],
    args: [],
    env: {},
    resources: {},
    image: IMAGE,
    ...extra,
  });

  /** A podman that appends its argv to a log (one line per call); `prelude` runs first. */
  const loggingPodman = async (name: string, prelude = ''): Promise<{ path: string; calls: () => Promise<string[]> }> => {
    const dir = join(stateDir, name);
    await mkdir(dir);
    const path = join(dir, 'podman');
    const log = join(dir, 'calls.log');
    await writeFile(path, `#!/bin/sh\necho "$*" >> '${log}'\n${prelude}\nexec podman "$@"\n`);
    await chmod(path, 0o755);
    return { path, calls: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '') };
  };

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'podman-driver-'));
    driver = newDriver();
  });

  after(async () => {
    for (const d of drivers) await d.close();
    await removeNodeContainers(nodeName, otherNode);
    await rm(stateDir, { recursive: true, force: true });
  });

  void it('labels the container, and isolates it: no network but lo, podman default capabilities, no new privileges, no mount', async () => {
    const info = JSON.parse(await cli.run(['info', '--format', 'json'])) as { host: { security: { capabilities: string } } };
    let expectedCaps = 0n;
    for (const cap of info.host.security.capabilities.split(',')) {
      assert.ok(cap in CAPABILITY_BITS, `known capability ${cap}`);
      expectedCaps |= 1n << BigInt(CAPABILITY_BITS[cap]!);
    }
    const logs = new OutputCollector();
    const config = task(
      'ls /sys/class/net; grep -E "^(CapEff|CapBnd|NoNewPrivs):" /proc/self/status; mkdir -p /m; if mount -t tmpfs none /m 2>/dev/null; then echo mounted; else echo mount-refused; fi',
      { logs },
    );
    const h = await driver.start(config);
    assert.equal((await driver.wait(h.taskId)).exitCode, 0, logs.stderr);
    const lines = logs.stdout.trim().split('\n');
    assert.deepEqual(lines[0], 'lo', `only lo: ${logs.stdout}`);
    const field = (name: string): string => lines.find((l) => l.startsWith(`${name}:`))?.split(/\s+/)[1] ?? '';
    assert.equal(BigInt(`0x${field('CapEff')}`), expectedCaps, 'CapEff is podman default set');
    assert.equal(BigInt(`0x${field('CapBnd')}`), expectedCaps, 'nothing more can be gained');
    assert.equal(field('NoNewPrivs'), '1');
    assert.equal(lines.at(-1), 'mount-refused');

    const details = (await driver.inspect(h.taskId)).details;
    assert.equal(details.containerName, containerNameOf(h.taskId));
    assert.equal(details.image, IMAGE);
    assert.equal(details.stdoutPath, undefined);
    const c = await inspectContainer(details.containerId as string);
    assert.deepEqual(
      Object.fromEntries(Object.entries(c.Config.Labels).filter(([k]) => k.startsWith('io.openscheduler.'))),
      {
        [PODMAN_LABELS.managed]: 'true',
        [PODMAN_LABELS.node]: nodeName,
        [PODMAN_LABELS.taskId]: taskIdOf(config),
        [PODMAN_LABELS.jobUid]: config.jobUid,
        [PODMAN_LABELS.attempt]: '0',
        [PODMAN_LABELS.namespace]: 'team-a',
        [PODMAN_LABELS.job]: 'specific',
      },
    );
    assert.equal(c.HostConfig.Privileged, false);
    assert.deepEqual(c.HostConfig.CapAdd ?? [], []);
    await driver.destroy(h.taskId);
  });

  void it('sets the memory limit without swap and the CPU quota', async () => {
    const h = await driver.start(task('sleep 30', { resources: { memoryBytes: 64 * 1024 * 1024, cpuMillis: 250 } }));
    const c = await inspectContainer((await driver.inspect(h.taskId)).details.containerId as string);
    assert.equal(c.HostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(c.HostConfig.MemorySwap, 64 * 1024 * 1024, 'no swap beyond the limit');
    assert.equal(c.HostConfig.CpuQuota / c.HostConfig.CpuPeriod, 0.25);
    await driver.destroy(h.taskId);
  });

  void it('refuses networks the operator did not allow; never host or container modes', async () => {
    await assert.rejects(driver.start(task('exit 0', { network: 'podman' })), (err: unknown) => err instanceof InvalidTaskConfigError && err.field === 'network');
    for (const network of ['host', 'container:abc', 'ns:/proc/1/ns/net', 'none']) {
      assert.throws(() => new PodmanDriver({ nodeName, stateDir, allowedNetworks: [network] }), DriverError, network);
    }
  });

  void it('rejects configs it cannot run safely, naming the field', () => {
    const policy = { allowedNetworks: [], volumeRoots: [] };
    const cases: Array<[Partial<TaskConfig>, string]> = [
      [{ image: undefined }, 'image'],
      [{ image: '--privileged' }, 'image'],
      [{ image: 'busybox latest' }, 'image'],
      [{ workloadType: 'vm' }, 'workloadType'],
      [{ workloadType: 'native' }, 'workloadType'],
      [{ resources: { memoryBytes: 1024 * 1024 } }, 'resources.memoryBytes'],
      [{ env: { 'A B': 'x' } }, 'env["A B"]'],
      [{ env: { 'PREFIX*': 'x' } }, 'env["PREFIX*"]'],
      [{ env: { '#C': 'x' } }, 'env["#C"]'],
      // Would reach the podman process's own environment: the dynamic loader would obey it.
      [{ env: { LD_PRELOAD: 'x\n/evil.so' } }, 'env.LD_PRELOAD'],
      [{ env: { PATH: 'a\nb' } }, 'env.PATH'],
      [{ env: { HTTPS_PROXY: 'a\rb' } }, 'env.HTTPS_PROXY'],
      [{ env: { 'A-B': 'multi\nline' } }, 'env.A-B'],
      [{ volumes: [{ hostPath: '/etc', mountPath: '/x', readOnly: true }] }, 'volumes[0].hostPath'],
    ];
    for (const [patch, field] of cases) {
      assert.throws(
        () => validatePodmanTask(task('exit 0', patch), policy),
        (err: unknown) => err instanceof InvalidTaskConfigError && err.field === field,
        JSON.stringify(patch),
      );
    }
  });

  void it('never puts env values on the command line; argv after the image is literal', () => {
    const config = task('exit 0', {
      env: { SECRET: 'single-line-secret', MULTI: 'line1\nline2-secret', LD_PRELOAD: '/evil.so' },
      args: ['--rm', '; rm -rf /', '--privileged'],
      resources: { memoryBytes: 32 * 1024 * 1024, cpuMillis: 1 },
    });
    const prepared = validatePodmanTask(config, { allowedNetworks: [], volumeRoots: [] });
    assert.deepEqual(prepared.env.viaPodmanEnv, { MULTI: 'line1\nline2-secret' });
    assert.deepEqual(prepared.env.fileLines, ['SECRET=single-line-secret', 'LD_PRELOAD=/evil.so']);
    const args = podmanRunArgs(config, prepared, { nodeName, containerName: 'os-x', logPath: '/state/ctr.log', envFile: '/state/env' });
    const joined = args.join('\u0001');
    assert.doesNotMatch(joined, /secret|evil/, 'no env value in argv');
    const imageAt = args.indexOf(IMAGE);
    assert.deepEqual(args.slice(imageAt + 1), ['--rm', '; rm -rf /', '--privileged'], 'task args only after the image');
    assert.equal(args.slice(0, imageAt).includes('--privileged'), false);
    assert.equal(args.slice(0, imageAt).includes('--cap-add'), false);
    assert.deepEqual(args.slice(args.indexOf('--network'), args.indexOf('--network') + 2), ['--network', 'none']);
    assert.deepEqual(args.slice(args.indexOf('--entrypoint'), args.indexOf('--entrypoint') + 2), ['--entrypoint', JSON.stringify(config.command)]);
    assert.deepEqual(args.slice(args.indexOf('--env-file'), args.indexOf('--env-file') + 2), ['--env-file', '/state/env']);
    assert.deepEqual(args.slice(args.indexOf('--env'), args.indexOf('--env') + 2), ['--env', 'MULTI']);
    assert.deepEqual(args.slice(args.indexOf('--cpus'), args.indexOf('--cpus') + 2), ['--cpus', '0.010'], 'at least the smallest quota');
  });

  void it('env values reach the task literally: line breaks, CR, blanks, $(id), 70000 bytes, loader variables', async () => {
    const long = 'L'.repeat(70_000);
    const env = { NL: 'a\nb\n', CR: 'c\rd\r', BLANKS: '  lead and trail \t', SUBST: '$(id) `id` ${HOME}', LONG: long, LD_PRELOAD: `/nonexistent-${process.pid}.so` };
    const logs = new OutputCollector();
    const h = await driver.start(task('printf "%s\\0" "$NL" "$CR" "$BLANKS" "$SUBST" "$LONG" "$LD_PRELOAD"', { env, logs }));
    assert.deepEqual(await readdir(join(stateDir, 'tasks', h.taskId)), ['ctr.log'], 'the env file is gone once podman read it');
    assert.equal((await driver.wait(h.taskId)).exitCode, 0, logs.stderr);
    assert.deepEqual(logs.stdout.split('\0').slice(0, -1), [env.NL, env.CR, env.BLANKS, env.SUBST, env.LONG, env.LD_PRELOAD]);
    await driver.destroy(h.taskId);
  });

  void it('a command that cannot be executed ends as Error, saying so', async () => {
    const h = await driver.start(task('', { command: ['/no/such/program'] }));
    const exit = await driver.wait(h.taskId);
    assert.equal(exit.reason, 'Error');
    assert.notEqual(exit.exitCode, 0);
    assert.match(exit.message ?? '', /cannot start the command/);
    await driver.destroy(h.taskId);
  });

  void it('a start that fails after podman made the container removes it, and nothing else', async () => {
    // runc cannot mount a file over a directory: the container exists, its start fails.
    await writeFile(join(stateDir, 'a-file'), 'x');
    const config = task('exit 0', { volumes: [{ hostPath: join(stateDir, 'a-file'), mountPath: '/etc', readOnly: true }] });
    await assert.rejects(driver.start(config), TaskStartError);
    assert.equal((await driver.listOwned()).some((t) => t.taskId === taskIdOf(config)), false, 'no container, no task dir');
    await assert.rejects(cli.run(['container', 'inspect', containerNameOf(taskIdOf(config))]), /no such container/);

    // A container of that name made before (not ours) stays when the start fails before podman
    // gets to the name (here: the image cannot be pulled).
    const other = task('exit 0', { image: `localhost/no-such-image-${process.pid}:none` });
    const name = containerNameOf(taskIdOf(other));
    const decoy = (await cli.run(['create', '--name', name, '--label', `${PODMAN_LABELS.node}=${nodeName}`, '--network', 'none', IMAGE, 'true'])).trim();
    await assert.rejects(driver.start(other), TaskStartError);
    assert.deepEqual(await readdir(join(stateDir, 'tasks')).then((ids) => ids.filter((id) => id === taskIdOf(other))), []);
    assert.equal((await inspectContainer(decoy)).State.Running, false, 'the earlier container is still there');
    await cli.run(['rm', '--force', decoy]);
  });

  void it('recovers from byte offsets: the output resumes exactly where the agent left it', async () => {
    const logs = new OutputCollector();
    const h = await driver.start(task('printf "abc\\n"; printf "err1\\n" >&2; printf def', { logs }));
    await driver.wait(h.taskId);
    assert.equal(logs.stdout, 'abc\ndef');
    const handle = JSON.parse(JSON.stringify(h)) as typeof h;
    const other = newDriver();
    const resumed = new OutputCollector();
    await other.recover(handle, { logs: resumed, stdoutOffset: 2, stderrOffset: 3 });
    const exit = await other.wait(h.taskId);
    assert.equal(exit.exitCode, 0);
    assert.equal(resumed.stdout, 'c\ndef');
    assert.equal(resumed.stderr, '1\n');
    await other.destroy(h.taskId);
    await driver.destroy(h.taskId).catch(() => undefined); // the container is gone already
  });

  void it("lists only this node's labelled containers; removeOwned and recover refuse another node's", async () => {
    const other = newDriver({ nodeName: otherNode, stateDir: join(stateDir, 'other') });
    const foreign = await other.start(task('sleep 60'));
    const ours = await driver.start(task('sleep 60'));
    const listed = await driver.listOwned();
    assert.ok(listed.some((t) => t.taskId === ours.taskId));
    assert.equal(listed.some((t) => t.taskId === foreign.taskId), false, 'the other node is not listed');
    const foreignOwned = (await other.listOwned()).find((t) => t.taskId === foreign.taskId)!;
    await assert.rejects(driver.removeOwned(foreignOwned), DriverError);
    await assert.rejects(driver.recover(JSON.parse(JSON.stringify(foreign)) as typeof foreign), TaskRecoveryError);
    assert.equal((await other.inspect(foreign.taskId)).state, 'running', 'untouched');
    await other.destroy(foreign.taskId);
    await driver.destroy(ours.taskId);
  });

  void it('sees exits without the exit-file watch (podman events), and without events (the podman ps poll)', async () => {
    const eventsOnly = newDriver({ exitsDir: '' });
    let t0 = Date.now();
    let h = await eventsOnly.start(task('exit 0'));
    assert.equal((await eventsOnly.wait(h.taskId)).exitCode, 0);
    const viaEvents = Date.now() - t0;
    await eventsOnly.destroy(h.taskId);

    // A podman whose `events` always fails.
    const bin = join(stateDir, 'bin');
    await mkdir(bin);
    const wrapper = join(bin, 'podman');
    await writeFile(wrapper, '#!/bin/sh\n[ "$1" = events ] && exit 3\nexec podman "$@"\n');
    await chmod(wrapper, 0o755);
    const pollOnly = newDriver({ exitsDir: '', podmanPath: wrapper, reconcileIntervalMs: 300 });
    t0 = Date.now();
    h = await pollOnly.start(task('exit 4'));
    assert.equal((await pollOnly.wait(h.taskId)).exitCode, 4);
    const viaPoll = Date.now() - t0;
    await pollOnly.destroy(h.taskId);
    assert.ok(viaEvents < 3_000, `events: ${viaEvents} ms`);
    assert.ok(viaPoll < 3_000, `poll: ${viaPoll} ms`);
  });

  void it("takes the exit from conmon's exit file (code, mtime, oom file, our stop signal) without podman inspect", async () => {
    // An exits dir of the test's own: the exit files in it are the test's, not conmon's; the
    // containers keep running, so what the driver reports can only have come from those files.
    // `podman kill` does nothing here, so that the stop below is seen only through the file.
    const exitsDir = join(stateDir, 'fake-exits');
    await mkdir(exitsDir);
    const podman = await loggingPodman('exit-file-bin', '[ "$1" = kill ] && exit 0');
    const d = newDriver({ exitsDir, podmanPath: podman.path, kernelOomKillCheck: () => false });
    await d.fingerprint(); // learns where containers/storage keeps conmon's oom files
    const writeExit = async (containerId: string, content: string, mtime: Date): Promise<void> => {
      const tmp = join(exitsDir, `${containerId}.tmp`);
      await writeFile(tmp, content);
      await utimes(tmp, mtime, mtime);
      await rename(tmp, join(exitsDir, containerId)); // as conmon does (g_file_set_contents)
    };
    const containerIdOf = async (taskId: string): Promise<string> => (await d.inspect(taskId)).details.containerId as string;

    const plain = await d.start(task('sleep 60'));
    const endedAt = new Date(Date.now() - 5_000);
    await writeExit(await containerIdOf(plain.taskId), '3', endedAt);
    assert.deepEqual(await d.wait(plain.taskId), { exitCode: 3, reason: 'Error', finishedAt: endedAt.toISOString() });

    const stopped = await d.start(task('sleep 60'));
    const stopping = d.stop(stopped.taskId, 30_000, 'SIGTERM');
    await writeExit(await containerIdOf(stopped.taskId), '143', new Date());
    const stopExit = await stopping;
    assert.equal(stopExit.reason, 'Stopped');
    assert.equal(stopExit.signal, 'SIGTERM');
    assert.equal(stopExit.exitCode, 143);

    // With a memory limit, conmon's `oom` file in the container's bundle dir counts, as for podman.
    const limited = await d.start(task('sleep 60', { resources: { memoryBytes: 64 * 1024 * 1024 } }));
    const limitedId = await containerIdOf(limited.taskId);
    const bundleDir = (await inspectContainer(limitedId)).StaticDir;
    assert.ok(typeof bundleDir === 'string' && bundleDir.startsWith('/'), `StaticDir ${String(bundleDir)}`);
    await writeFile(join(bundleDir, 'oom'), '');
    await writeExit(limitedId, '137', new Date());
    const oomExit = await d.wait(limited.taskId);
    assert.equal(oomExit.reason, 'OOMKilled');
    assert.equal(oomExit.oomKilled, true);

    assert.deepEqual(
      (await podman.calls()).filter((c) => c.startsWith('container inspect')),
      [],
      'no podman inspect',
    );
    await Promise.all([plain, stopped, limited].map((h) => d.destroy(h.taskId)));
    for (const id of [plain, stopped, limited].map((h) => h.driverState.containerId as string))
      await assert.rejects(cli.run(['container', 'inspect', id]), /no such container/);
  });

  void it('removes containers asked for together with one podman rm; each caller gets its own answer', async () => {
    const podman = await loggingPodman('rm-bin');
    const remover = new ContainerRemover(new PodmanCli({ podmanPath: podman.path, containersConf: CONTAINERS_CONF, timeoutMs: 60_000 }), 1);
    const create = async (): Promise<string> =>
      (await cli.run(['create', '--name', `os-rm-${process.pid}-${n++}`, '--label', `${PODMAN_LABELS.node}=${nodeName}`, '--network', 'none', IMAGE, 'true'])).trim();
    const ids = [await create(), await create(), await create()];
    await Promise.all(ids.map((id) => remover.remove(id)));
    assert.deepEqual(await podman.calls(), [`rm --force --time 0 ${ids.join(' ')}`], 'one call for all');
    for (const id of ids) await assert.rejects(cli.run(['container', 'inspect', id]), /no such container/);

    // podman 4 removes none of a list that names a missing container: each is then removed alone.
    const more = [await create(), await create()];
    const gone = await create();
    await cli.run(['rm', gone]);
    await Promise.all([...more, gone].map((id) => remover.remove(id)));
    for (const id of more) await assert.rejects(cli.run(['container', 'inspect', id]), /no such container/);
  });
});

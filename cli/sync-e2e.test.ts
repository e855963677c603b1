// End-to-end: `osctl sync DIR` (the real osctl binary) against a real `openscheduler dev` with its
// local agent (process driver), so jobs really run and finish. Each test uses its own sync name
// and job names, so the inventories do not mix.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, type CliRun, createJob, getJob, jobPath, osctl as runOsctlBinary, processJob, waitForPhase } from '../test/harness/e2e.js';
import { type ServerProcess, startServerProcess } from '../test/harness/server.js';

function jobYaml(name: string, args: readonly string[]): string {
  return [
    'apiVersion: openscheduler.io/v1',
    'kind: Job',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  driver: process',
    '  command: ["/bin/echo"]',
    `  args: ${JSON.stringify(args)}`,
    '',
  ].join('\n');
}

void describe('osctl sync end to end', () => {
  let server: ServerProcess;
  let work: string;

  function osctl(args: readonly string[]): Promise<CliRun> {
    return runOsctlBinary(args, { OSCTL_CONFIG: server.osctlConfigPath, HOME: work }, { timeoutMs: 60_000 });
  }

  async function dir(name: string, files: Record<string, string>): Promise<string> {
    const path = join(work, name);
    for (const [file, text] of Object.entries(files)) {
      await mkdir(join(path, file, '..'), { recursive: true });
      await writeFile(join(path, file), text);
    }
    await mkdir(path, { recursive: true });
    return path;
  }

  const lines = (run: CliRun): string[] => run.stdout.trimEnd().split('\n').filter(Boolean).sort();

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'osctl-sync-e2e-'));
    server = await startServerProcess({ localAgent: true });
  });

  after(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  void it('one-shot sync applies every file recursively with label and source; a restart applies nothing', async () => {
    const path = await dir('one', {
      'a.yaml': `${jobYaml('one-a', ['a'])}---\n${jobYaml('one-b', ['b'])}`,
      'sub/c.yml': jobYaml('one-c', ['c']),
      'sub/d.json': JSON.stringify(processJob('one-d', ['/bin/echo', 'd'])),
      'notes.txt': 'not a manifest',
    });
    const first = await osctl(['sync', path, '--name', 'one']);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(lines(first), ['a', 'b', 'c', 'd'].map((n) => `job.openscheduler.io/one-${n} created`));
    const c = await getJob(server, 'one-c');
    assert.equal(c?.metadata.labels?.['openscheduler.io/sync'], 'one');
    assert.equal(c?.metadata.annotations?.['openscheduler.io/sync-source'], 'sub/c.yml');
    await waitForPhase(server, 'one-a', ['Succeeded']);

    const again = await osctl(['sync', path, '--name', 'one', '--prune']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(lines(again), ['a', 'b', 'c', 'd'].map((n) => `job.openscheduler.io/one-${n} unchanged`));
    const a = await getJob(server, 'one-a');
    assert.equal(a?.status?.attempts, 1, 'the finished job did not run again');
  });

  void it('--dry-run prints the plan and changes nothing', async () => {
    const path = await dir('dry', { 'a.yaml': jobYaml('dry-a', ['a']), 'b.yaml': jobYaml('dry-b', ['b']), 'c.yaml': jobYaml('dry-c', ['c']) });
    assert.equal((await osctl(['sync', path, '--name', 'dry'])).code, 0);
    await waitForPhase(server, 'dry-a', ['Succeeded']);
    const before = await getJob(server, 'dry-a');
    await writeFile(join(path, 'a.yaml'), jobYaml('dry-a', ['changed']));
    await rm(join(path, 'b.yaml'));
    await writeFile(join(path, 'new.yaml'), jobYaml('dry-new', ['n']));
    const plan = await osctl(['sync', path, '--name', 'dry', '--prune', '--dry-run']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.deepEqual(lines(plan), [
      'job.openscheduler.io/dry-a recreate (dry run)',
      'job.openscheduler.io/dry-b delete (dry run)',
      'job.openscheduler.io/dry-c unchanged (dry run)',
      'job.openscheduler.io/dry-new create (dry run)',
    ]);
    assert.equal(await getJob(server, 'dry-new'), undefined);
    assert.ok(await getJob(server, 'dry-b'));
    const after = await getJob(server, 'dry-a');
    assert.equal(after?.metadata.uid, before?.metadata.uid);
    assert.equal(after?.metadata.resourceVersion, before?.metadata.resourceVersion);
  });

  void it('an emptied directory prunes nothing without --force; unowned jobs are never touched', async () => {
    const path = await dir('empty', { 'a.yaml': jobYaml('empty-a', ['a']), 'b.yaml': jobYaml('empty-b', ['b']) });
    assert.equal((await osctl(['sync', path, '--name', 'empty'])).code, 0);
    const unowned = await createJob(server, processJob('empty-unowned', ['/bin/echo', 'mine']));
    assert.equal(unowned.status, 201, unowned.text);
    await rm(join(path, 'a.yaml'));
    await rm(join(path, 'b.yaml'));

    const refused = await osctl(['sync', path, '--name', 'empty', '--prune']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refusing to prune: the source holds no manifests, which would delete all 2 object\(s\) of this sync; pass --force/);
    assert.ok(await getJob(server, 'empty-a'));
    assert.ok(await getJob(server, 'empty-b'));

    const forced = await osctl(['sync', path, '--name', 'empty', '--prune', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(lines(forced), ['job.openscheduler.io/empty-a pruned', 'job.openscheduler.io/empty-b pruned']);
    assert.equal(await getJob(server, 'empty-a'), undefined);
    assert.ok(await getJob(server, 'empty-unowned'), 'the unowned job survives');
  });

  void it('more than --max-prune-fraction at once is refused without --force', async () => {
    const path = await dir('frac', { 'a.yaml': jobYaml('frac-a', ['a']), 'b.yaml': jobYaml('frac-b', ['b']), 'c.yaml': jobYaml('frac-c', ['c']) });
    assert.equal((await osctl(['sync', path, '--name', 'frac'])).code, 0);
    await rm(join(path, 'a.yaml'));
    await rm(join(path, 'b.yaml'));
    const refused = await osctl(['sync', path, '--name', 'frac', '--prune']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refusing to prune 2 of 3 owned object\(s\): more than --max-prune-fraction 0.5/);
    assert.ok(await getJob(server, 'frac-a'));
    const allowed = await osctl(['sync', path, '--name', 'frac', '--prune', '--max-prune-fraction', '0.7']);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(await getJob(server, 'frac-a'), undefined);
  });

  void it('a bad file is reported with file and line, exits 1, and the valid files are applied; its objects are not pruned', async () => {
    const path = await dir('bad', { 'good.yaml': jobYaml('bad-good', ['g']), 'broken.yaml': jobYaml('bad-kept', ['k']) });
    assert.equal((await osctl(['sync', path, '--name', 'bad'])).code, 0);
    await writeFile(join(path, 'broken.yaml'), `${jobYaml('bad-kept', ['k'])}  nodeSelector: {disk: [ssd\n`);
    await writeFile(join(path, 'nokind.yaml'), 'apiVersion: openscheduler.io/v1\nmetadata: {name: bad-nokind}\n');
    await writeFile(join(path, 'new.yaml'), jobYaml('bad-new', ['n']));
    const run = await osctl(['sync', path, '--name', 'bad', '--prune', '--force']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`${join(path, 'broken.yaml')}:\\d+:\\d+: YAML syntax error`));
    assert.match(run.stderr, new RegExp(`${join(path, 'nokind.yaml')} \\(document 1, line 1\\): kind: Required value`));
    assert.deepEqual(lines(run), ['job.openscheduler.io/bad-good unchanged', 'job.openscheduler.io/bad-new created']);
    assert.ok(await getJob(server, 'bad-kept'), 'the object of the broken file is kept');
    assert.equal(await getJob(server, 'bad-nokind'), undefined);
  });

  void it('an object that exists without this sync\'s label is not taken over', async () => {
    assert.equal((await createJob(server, processJob('taken', ['/bin/echo', 'x']))).status, 201);
    const path = await dir('taken', { 'a.yaml': jobYaml('taken', ['y']) });
    const run = await osctl(['sync', path, '--name', 'taken']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /job\.openscheduler\.io\/taken .*exists and is not owned by this sync/);
    const job = await getJob(server, 'taken');
    assert.deepEqual(job?.spec.command, ['/bin/echo', 'x']);
  });

  void it('a finished Job: an unchanged manifest does not re-run it, a changed spec runs it anew', async () => {
    const path = await dir('fin', { 'job.yaml': jobYaml('fin-job', ['v1']) });
    assert.equal((await osctl(['sync', path, '--name', 'fin'])).code, 0);
    const first = await waitForPhase(server, 'fin-job', ['Succeeded']);

    const same = await osctl(['sync', path, '--name', 'fin']);
    assert.equal(same.stdout, 'job.openscheduler.io/fin-job unchanged\n');
    const still = await getJob(server, 'fin-job');
    assert.equal(still?.metadata.uid, first.metadata.uid);
    assert.equal(still?.status?.attempts, 1);

    await writeFile(join(path, 'job.yaml'), jobYaml('fin-job', ['v2']));
    const changed = await osctl(['sync', path, '--name', 'fin']);
    assert.equal(changed.code, 0, changed.stderr);
    assert.equal(changed.stdout, 'job.openscheduler.io/fin-job recreated\n');
    const rerun = await waitForPhase(server, 'fin-job', ['Succeeded']);
    assert.notEqual(rerun.metadata.uid, first.metadata.uid, 'a new run');
    assert.deepEqual(rerun.spec.args, ['v2']);
    const logs = await api(server, 'GET', `${jobPath('fin-job')}/log`);
    assert.equal(logs.status, 200, logs.text);
    assert.match(logs.text, /v2/);
  });
});

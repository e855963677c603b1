// End-to-end: the real kubectl on PATH against a real `openscheduler dev` process, through the
// kubeconfig that `dev` writes (HTTPS with the server's own CA and the admin token).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServerProcess, type ServerProcess } from './harness/server.js';

const execFileAsync = promisify(execFile);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const jobManifest = (name: string, labels: Record<string, string>, args: string[]): string =>
  JSON.stringify({
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, labels },
    spec: { driver: 'process', command: ['/bin/echo'], args },
  });

void describe('kubectl against the API (e2e)', () => {
  let server: ServerProcess;
  let work: string;
  let kubectlEnv: NodeJS.ProcessEnv;

  async function kubectl(args: string[], timeoutMs = 30_000): Promise<Run> {
    try {
      const { stdout, stderr } = await execFileAsync('kubectl', ['--kubeconfig', server.kubeconfigPath, ...args], {
        env: kubectlEnv,
        timeout: timeoutMs,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number | string; stdout?: string; stderr?: string; killed?: boolean };
      if (e.killed) throw new Error(`kubectl ${args.join(' ')} timed out after ${timeoutMs} ms`, { cause: err });
      if (typeof e.code !== 'number') throw err;
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'os-kubectl-'));
    // A fresh HOME keeps kubectl's discovery cache out of the user's home and out of other runs.
    kubectlEnv = { PATH: process.env.PATH, HOME: work };
    server = await startServerProcess();
  });

  after(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  void it('applies a manifest: created, then unchanged, then configured', async () => {
    const file = join(work, 'job.json');
    await writeFile(file, jobManifest('kube-hello', { team: 'a' }, ['hello']));
    const created = await kubectl(['apply', '-f', file]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /job\.openscheduler\.io\/kube-hello created/);

    const unchanged = await kubectl(['apply', '-f', file]);
    assert.equal(unchanged.code, 0, unchanged.stderr);
    assert.match(unchanged.stdout, /job\.openscheduler\.io\/kube-hello unchanged/);

    await writeFile(file, jobManifest('kube-hello', { team: 'b' }, ['hello', 'again']));
    const configured = await kubectl(['apply', '-f', file]);
    assert.equal(configured.code, 0, configured.stderr);
    assert.match(configured.stdout, /job\.openscheduler\.io\/kube-hello configured/);

    const yaml = await kubectl(['get', 'jobs.openscheduler.io', 'kube-hello', '-o', 'yaml']);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /team: b/);
    assert.match(yaml.stdout, /- again/);
  });

  void it('rejects an invalid manifest with the field path', async () => {
    const file = join(work, 'bad.json');
    await writeFile(
      file,
      JSON.stringify({
        apiVersion: 'openscheduler.io/v1',
        kind: 'Job',
        metadata: { name: 'kube-bad' },
        spec: { driver: 'process', command: ['/bin/true'], timeoutSeconds: -5 },
      }),
    );
    const res = await kubectl(['apply', '--validate=false', '-f', file]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /spec\.timeoutSeconds/);
  });

  void it('gets jobs as a table, as YAML and across namespaces', async () => {
    const table = await kubectl(['get', 'jobs.openscheduler.io']);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^NAME\s+/);
    assert.ok(lines.some((l) => l.startsWith('kube-hello ')), table.stdout);

    const short = await kubectl(['get', 'jobs']);
    assert.equal(short.code, 0, short.stderr);
    assert.match(short.stdout, /kube-hello/);

    const all = await kubectl(['get', 'jobs.openscheduler.io', '-A']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^NAMESPACE\s+NAME/);
    assert.match(all.stdout, /default\s+kube-hello/);

    const yaml = await kubectl(['get', 'jobs.openscheduler.io', '-o', 'yaml']);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /kind: Job\b/);
    assert.match(yaml.stdout, /name: kube-hello/);

    const labelled = await kubectl(['get', 'jobs.openscheduler.io', '-l', 'team=nobody']);
    assert.equal(labelled.code, 0, labelled.stderr);
    assert.doesNotMatch(labelled.stdout, /kube-hello/);
  });

  void it('watches: get -w prints a later change', async () => {
    const child = spawn('kubectl', ['--kubeconfig', server.kubeconfigPath, 'get', 'jobs.openscheduler.io', '-w'], {
      env: kubectlEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => /kube-hello/.test(out), 20_000, () => `initial list never printed: ${out}`);
      const file = join(work, 'watched.json');
      await writeFile(file, jobManifest('kube-watched', {}, ['w']));
      const applied = await kubectl(['apply', '-f', file]);
      assert.equal(applied.code, 0, applied.stderr);
      await waitFor(() => /kube-watched/.test(out), 20_000, () => `watch never showed the new job: ${out}`);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  void it('describes a job', async () => {
    const res = await kubectl(['describe', 'jobs.openscheduler.io', 'kube-hello']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /Name:\s+kube-hello/);
    assert.match(res.stdout, /Namespace:\s+default/);
    assert.match(res.stdout, /Kind:\s+Job/);
  });

  void it('deletes a job and does not hang waiting for it', async () => {
    const res = await kubectl(['delete', 'jobs.openscheduler.io', 'kube-hello'], 20_000);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /job\.openscheduler\.io "kube-hello" deleted/);
    const gone = await kubectl(['get', 'jobs.openscheduler.io', 'kube-hello']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /NotFound/);
    const again = await kubectl(['delete', 'jobs.openscheduler.io', 'kube-hello']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not found/);
  });

  void it('explains the schema from the OpenAPI document', async () => {
    const res = await kubectl(['explain', 'jobs.spec']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /driver/);
  });
});

async function waitFor(cond: () => boolean, timeoutMs: number, describeFailure: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(describeFailure());
    await new Promise((r) => setTimeout(r, 50));
  }
}

// `osctl logs` as a real process (bin/osctl through binArgs) against an in-process API server
// with a FileLogStore: bytes as written, attempt selection, -f, and errors.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { JOBS, jobManifest, TEST_TOKEN, TestServer } from '../apiserver/api-test-harness.js';
import { FileLogStore, type JobRef, type LogStreamName } from '../logs/log-store.js';
import { binArgs, repoRoot } from '../test/harness/bin.js';
import { childEnv } from '../test/harness/server.js';

interface Run {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: string;
}

interface Running {
  /** stdout so far. */
  stdout(): Buffer;
  readonly done: Promise<Run>;
}

void describe('osctl logs', () => {
  let work: string;
  let logs: FileLogStore;
  let server: TestServer;
  const offsets = new Map<string, number>();

  function start(args: readonly string[]): Running {
    const child = spawn(process.execPath, binArgs('osctl', ['--server', server.url, '--token', TEST_TOKEN, ...args]), {
      cwd: repoRoot,
      env: childEnv({ OSCTL_CONFIG: join(work, 'no-config.yaml'), HOME: work }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const done = new Promise<Run>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(killer);
        resolve({ code: code ?? 137, stdout: Buffer.concat(out), stderr });
      });
    });
    return { stdout: () => Buffer.concat(out), done };
  }
  const osctl = (args: readonly string[]): Promise<Run> => start(args).done;

  async function write(job: JobRef, attempt: number, stream: LogStreamName, data: Uint8Array | string, eof = false): Promise<void> {
    const key = `${job.uid}/${attempt}/${stream}`;
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const ack = await logs.append(job, { attempt, stream, offset: offsets.get(key) ?? 0, data: bytes, eof });
    offsets.set(key, ack.nextOffset);
  }

  async function job(name: string, attempts: number, phase: string): Promise<JobRef> {
    const created = await server.request('POST', JOBS, { body: jobManifest(name) });
    assert.equal(created.status, 201, created.text);
    const patched = await server.request('PATCH', `${JOBS}/${name}/status`, {
      body: { status: { phase, attempts } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(patched.status, 200, patched.text);
    return { namespace: 'default', name, uid: created.body.metadata.uid as string };
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'osctl-logs-'));
    logs = new FileLogStore({ dir: join(work, 'logs') });
    server = await TestServer.start({ logs });
  });
  after(async () => {
    await server?.close();
    await logs?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  void it('prints the latest attempt byte for byte, any attempt, or all with headers', async () => {
    const ref = await job('report', 2, 'Succeeded');
    await write(ref, 1, 'stdout', 'first\n', true);
    await write(ref, 1, 'stderr', '', true);
    const binary = Uint8Array.from([0x68, 0x69, 0xff, 0xfe, 0x0a]); // not UTF-8
    await write(ref, 2, 'stdout', binary, true);
    await write(ref, 2, 'stderr', 'to stderr\n', true);

    const latest = await osctl(['logs', 'job/report']);
    assert.equal(latest.code, 0, latest.stderr);
    assert.ok(latest.stdout.equals(Buffer.concat([binary, Buffer.from('to stderr\n')])), latest.stdout.toString('hex'));

    const first = await osctl(['logs', 'jobs/report', '--attempt', '1']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout.toString(), 'first\n');

    const all = await osctl(['logs', 'job', 'report', '--all-attempts', '--stream', 'stderr']);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout.toString(), '==> attempt 1 <==\n==> attempt 2 (Succeeded) <==\nto stderr\n');
  });

  void it('-f prints output as it arrives and exits 0 when the attempt is complete', async () => {
    const ref = await job('live', 1, 'Running');
    await write(ref, 1, 'stdout', 'one\n');
    const running = start(['logs', '-f', 'job/live']);
    const deadline = Date.now() + 30_000;
    while (running.stdout().toString() !== 'one\n') {
      assert.ok(Date.now() < deadline, `no output yet: ${JSON.stringify(running.stdout().toString())}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await write(ref, 1, 'stderr', 'two\n', true);
    await write(ref, 1, 'stdout', 'three\n', true);
    const run = await running.done;
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.toString(), 'one\ntwo\nthree\n');
  });

  void it('exits 1 with the server\'s message or a flag error', async () => {
    const absent = await osctl(['logs', 'job/nobody']);
    assert.equal(absent.code, 1);
    assert.equal(absent.stdout.length, 0);
    assert.equal(absent.stderr, 'Error from server (NotFound): jobs.openscheduler.io "nobody" not found\n');

    const otherNamespace = await osctl(['logs', 'job/report', '-n', 'team-b']);
    assert.equal(otherNamespace.code, 1);
    assert.match(otherNamespace.stderr, /NotFound/);

    const noAttempt = await osctl(['logs', 'job/report', '--attempt', '9']);
    assert.equal(noAttempt.code, 1);
    assert.match(noAttempt.stderr, /job report has no attempt 9/);

    const node = await osctl(['logs', 'node/n1']);
    assert.equal(node.code, 1);
    assert.match(node.stderr, /only jobs have logs, not nodes/);

    const badFlag = await osctl(['logs', 'job/report', '--attempt', '0']);
    assert.equal(badFlag.code, 1);
    assert.match(badFlag.stderr, /--attempt: "0" must be an integer >= 1/);
  });
});

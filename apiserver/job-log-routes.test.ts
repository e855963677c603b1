// GET .../jobs/NAME/log over real HTTP, with the embedded SQLite store and a FileLogStore in
// a temporary directory.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JobStatus } from '../api/v1/index.js';
import { FileLogStore, type JobRef, type LogStreamName } from '../logs/log-store.js';
import { JOBS, jobManifest, TEST_TOKEN, TestServer } from './api-test-harness.js';
import { attemptHeader } from './job-log-routes.js';

/** Reads a streaming response as text as it arrives. */
class StreamingText {
  text = '';
  ended = false;
  private readonly done: Promise<void>;

  private constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    const body = response.body;
    if (body === null) throw new Error('no body');
    const reader = body.getReader();
    const decoder = new TextDecoder();
    this.done = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          this.text += decoder.decode(value, { stream: true });
        }
        this.ended = true;
      } catch {
        // aborted by close()
      }
    })();
  }

  static async open(server: TestServer, path: string): Promise<StreamingText> {
    const controller = new AbortController();
    const response = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${TEST_TOKEN}` }, signal: controller.signal });
    return new StreamingText(response, controller);
  }

  async waitFor(condition: (text: string) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition(this.text)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.text)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Resolves when the server ended the response. */
  async end(timeoutMs = 10_000): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const result = await Promise.race([this.done.then(() => 'ended' as const), timeout]);
    clearTimeout(timer);
    if (result === 'timeout' || !this.ended) throw new Error(`the response did not end; got ${JSON.stringify(this.text)}`);
    return this.text;
  }

  close(): void {
    this.controller.abort();
  }
}

void describe('GET .../jobs/NAME/log', () => {
  let server: TestServer;
  let logs: FileLogStore;
  let dir: string;

  async function createJob(name: string): Promise<JobRef> {
    const created = await server.request('POST', JOBS, { body: jobManifest(name) });
    assert.equal(created.status, 201, created.text);
    return { namespace: 'default', name, uid: created.body.metadata.uid as string };
  }

  async function setStatus(name: string, status: JobStatus): Promise<void> {
    const res = await server.request('PATCH', `${JOBS}/${name}/status`, { body: { status }, contentType: 'application/merge-patch+json' });
    assert.equal(res.status, 200, res.text);
  }

  const offsets = new Map<string, number>();
  async function write(job: JobRef, attempt: number, stream: LogStreamName, text: string, eof = false): Promise<void> {
    const key = `${job.uid}/${attempt}/${stream}`;
    const offset = offsets.get(key) ?? 0;
    const data = new TextEncoder().encode(text);
    const ack = await logs.append(job, { attempt, stream, offset, data, eof });
    offsets.set(key, ack.nextOffset);
  }
  const finish = async (job: JobRef, attempt: number): Promise<void> => {
    await write(job, attempt, 'stdout', '', true);
    await write(job, attempt, 'stderr', '', true);
  };

  const log = (name: string, query = '') => server.request('GET', `${JOBS}/${name}/log${query}`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-log-routes-'));
    logs = new FileLogStore({ dir });
    server = await TestServer.start({ logs });
  });
  after(async () => {
    await server.close();
    await logs.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('serves the latest attempt by default, any attempt on request, one stream, a byte limit, the last lines', async () => {
    const job = await createJob('two-attempts');
    await write(job, 1, 'stdout', 'first try\n');
    await write(job, 1, 'stderr', 'boom\n');
    await finish(job, 1);
    await write(job, 2, 'stdout', 'second try\n');
    await write(job, 2, 'stderr', 'warning\n');
    await write(job, 2, 'stdout', 'done\n');
    await finish(job, 2);
    await setStatus('two-attempts', { phase: 'Succeeded', attempts: 2 });

    const latest = await log('two-attempts');
    assert.equal(latest.status, 200);
    assert.match(latest.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(latest.text, 'second try\nwarning\ndone\n');
    assert.equal((await log('two-attempts', '?attempt=1')).text, 'first try\nboom\n');
    assert.equal((await log('two-attempts', '?stream=stdout')).text, 'second try\ndone\n');
    assert.equal((await log('two-attempts', '?attempt=1&stream=stderr')).text, 'boom\n');
    assert.equal((await log('two-attempts', '?limitBytes=6')).text, 'second');
    assert.equal((await log('two-attempts', '?tailLines=2')).text, 'warning\ndone\n');
    const unauthenticated = await server.request('GET', `${JOBS}/two-attempts/log`, { token: null });
    assert.equal(unauthenticated.status, 401);
    assert.equal((await server.request('POST', `${JOBS}/two-attempts/log`)).status, 405);
  });

  void it('allAttempts prints every attempt after a header with node, exit and reason', async () => {
    const job = await createJob('retried');
    await write(job, 1, 'stdout', 'one\n');
    await finish(job, 1);
    await logs.recordAttempt({
      namespace: 'default',
      name: 'retried',
      jobUid: job.uid,
      attempt: 1,
      retrySeries: 0,
      nodeName: 'node-1',
      endTime: '2030-01-01T00:00:01Z',
      exitCode: 3,
      reason: 'Error',
    });
    await write(job, 2, 'stdout', 'two\n');
    await finish(job, 2);
    await write(job, 3, 'stdout', 'three\n');
    await setStatus('retried', {
      phase: 'Running',
      attempts: 3,
      nodeName: 'node-3',
      recentAttempts: [
        { attempt: 1, nodeName: 'node-1', exitCode: 3, reason: 'Error', endTime: '2030-01-01T00:00:01Z' },
        { attempt: 2, nodeName: 'node-2', exitCode: 0, reason: 'OOMKilled', endTime: '2030-01-01T00:00:02Z' },
        { attempt: 3, nodeName: 'node-3', startTime: '2030-01-01T00:00:03Z' },
      ],
    });
    const all = await log('retried', '?allAttempts=true');
    assert.equal(all.status, 200, all.text);
    assert.equal(
      all.text,
      '==> attempt 1 (node node-1, exit 3, Error) <==\none\n' +
        '==> attempt 2 (node node-2, exit 0, OOMKilled) <==\ntwo\n' +
        '==> attempt 3 (node node-3, Running) <==\nthree\n',
    );
    assert.equal(attemptHeader(4, {}), '==> attempt 4 <==\n');
    assert.equal(attemptHeader(5, { nodeName: 'n', signal: 'SIGKILL', reason: 'DeadlineExceeded' }), '==> attempt 5 (node n, signal SIGKILL, DeadlineExceeded) <==\n');
  });

  void it('follow streams bytes appended after the request started and ends when the streams are complete', async () => {
    const job = await createJob('follow-me');
    await setStatus('follow-me', { phase: 'Running', attempts: 1 });
    await write(job, 1, 'stdout', 'started\n');
    const stream = await StreamingText.open(server, `${JOBS}/follow-me/log?follow=true`);
    try {
      assert.equal(stream.response.status, 200);
      await stream.waitFor((t) => t === 'started\n', 'the stored output');
      await write(job, 1, 'stderr', 'progress\n');
      await stream.waitFor((t) => t === 'started\nprogress\n', 'output appended during the follow');
      await write(job, 1, 'stdout', 'bye\n', true);
      await write(job, 1, 'stderr', '', true);
      assert.equal(await stream.end(), 'started\nprogress\nbye\n');
    } finally {
      stream.close();
    }
  });

  void it('follow of a job without an attempt waits for the first; it ends after the job finished and the output went idle', async () => {
    const job = await createJob('not-yet');
    const stream = await StreamingText.open(server, `${JOBS}/not-yet/log?follow=true`);
    try {
      assert.equal(stream.response.status, 200);
      await setStatus('not-yet', { phase: 'Scheduled', attempts: 1, nodeName: 'node-1' });
      await write(job, 1, 'stdout', 'hello\n');
      await stream.waitFor((t) => t === 'hello\n', 'the first attempt\'s output');
      // No EOF ever comes (say the node was lost); the job finishes: the follow ends once output is idle.
      await setStatus('not-yet', { phase: 'Failed', reason: 'RetriesExhausted', attempts: 1 });
      assert.equal(await stream.end(), 'hello\n');
    } finally {
      stream.close();
    }
  });

  void it('a deleted job\'s logs stay readable: its latest uid and attempt on disk', async () => {
    const first = await createJob('gone');
    await write(first, 1, 'stdout', 'old 1\n');
    await finish(first, 1);
    await write(first, 2, 'stdout', 'old 2\n');
    await finish(first, 2);
    await setStatus('gone', { phase: 'Succeeded', attempts: 2 });
    assert.equal((await server.request('DELETE', `${JOBS}/gone`)).status, 200);

    assert.equal((await log('gone')).text, 'old 2\n');
    assert.equal((await log('gone', '?attempt=1')).text, 'old 1\n');
    assert.equal((await log('gone', '?allAttempts=true')).text, '==> attempt 1 <==\nold 1\n==> attempt 2 <==\nold 2\n');
    const followed = await StreamingText.open(server, `${JOBS}/gone/log?follow=true`);
    try {
      assert.equal(await followed.end(), 'old 2\n', 'a follow of a complete attempt ends at once');
    } finally {
      followed.close();
    }
    const missing = await log('gone', '?attempt=7');
    assert.equal(missing.status, 404);
    assert.match(missing.body.message, /job gone has no attempt 7/);

    // A new job of the same name: its (empty) logs, not the old uid's.
    await createJob('gone');
    const fresh = await log('gone');
    assert.equal(fresh.status, 200);
    assert.equal(fresh.text, '');
  });

  void it('answers 400 naming the bad query parameter and 404 when neither the job nor logs exist', async () => {
    await createJob('params');
    const cases: [string, RegExp][] = [
      ['?attempt=0', /^attempt: invalid value "0": must be an integer >= 1$/],
      ['?attempt=x', /^attempt: invalid value "x"/],
      ['?follow=maybe', /^follow: invalid value "maybe": must be true or false$/],
      ['?allAttempts=yes', /^allAttempts: invalid value "yes"/],
      ['?stream=stdin', /^stream: invalid value "stdin": must be stdout or stderr$/],
      ['?limitBytes=0', /^limitBytes: invalid value "0": must be an integer >= 1$/],
      ['?tailLines=-1', /^tailLines: invalid value "-1": must be an integer >= 0$/],
      ['?attempt=1&allAttempts=true', /^attempt: cannot be combined with allAttempts=true$/],
    ];
    for (const [query, message] of cases) {
      const res = await log('params', query);
      assert.equal(res.status, 400, `${query}: ${res.text}`);
      assert.equal(res.body.kind, 'Status');
      assert.equal(res.body.reason, 'BadRequest');
      assert.match(res.body.message, message, query);
    }
    const absent = await log('nobody');
    assert.equal(absent.status, 404);
    assert.equal(absent.body.kind, 'Status');
    assert.equal(absent.body.message, 'jobs.openscheduler.io "nobody" not found');
    const noAttempt = await log('params', '?attempt=2');
    assert.equal(noAttempt.status, 404);
    assert.match(noAttempt.body.message, /job params has no attempt 2 \(attempts so far: 0\)/);
    const empty = await log('params');
    assert.equal(empty.status, 200, 'a job without attempts has an empty log');
    assert.equal(empty.text, '');
    assert.equal((await server.request('GET', '/apis/openscheduler.io/v1/namespaces/Bad_NS/jobs/x/log')).status, 400);
  });
});

void describe('GET .../jobs/NAME/log?follow=true and shutdown', () => {
  void it('closing the API server ends an open follow', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'os-log-routes-'));
    const logs = new FileLogStore({ dir });
    const server = await TestServer.start({ logs });
    try {
      const created = await server.request('POST', JOBS, { body: jobManifest('endless') });
      const job: JobRef = { namespace: 'default', name: 'endless', uid: created.body.metadata.uid as string };
      await server.request('PATCH', `${JOBS}/endless/status`, { body: { status: { phase: 'Running', attempts: 1 } }, contentType: 'application/merge-patch+json' });
      await logs.append(job, { attempt: 1, stream: 'stdout', offset: 0, data: new TextEncoder().encode('tick\n'), eof: false });
      const stream = await StreamingText.open(server, `${JOBS}/endless/log?follow=true`);
      try {
        await stream.waitFor((t) => t === 'tick\n', 'the output');
        await server.api.close();
        assert.equal(await stream.end(), 'tick\n');
      } finally {
        stream.close();
      }
    } finally {
      await server.close();
      await logs.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

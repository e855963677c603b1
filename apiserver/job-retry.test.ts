// The /retry subresource of Jobs over real HTTP with the embedded SQLite store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JobStatus } from '../api/v1/index.js';
import { JOBS, jobManifest, TestServer } from './api-test-harness.js';
import { retriedJobStatus } from './job-retry.js';

const NOW = new Date('2030-01-02T03:04:05.678Z');

const failedStatus: JobStatus = {
  phase: 'Failed',
  reason: 'RetriesExhausted',
  message: 'exit code 3 after 4 attempts',
  nodeName: 'node-1',
  attempts: 4,
  nodeLostRequeues: 2,
  exitCode: 3,
  startTime: '2030-01-01T00:00:00Z',
  completionTime: '2030-01-01T00:05:00Z',
  nextRetryAt: '2030-01-01T00:04:00Z',
  observedGeneration: 1,
  recentAttempts: [
    { attempt: 3, nodeName: 'node-1', exitCode: 3, reason: 'Error' },
    { attempt: 4, nodeName: 'node-1', exitCode: 3, reason: 'Error' },
  ],
  conditions: [
    { type: 'DependenciesReady', status: 'True', reason: 'DependenciesSucceeded' },
    { type: 'Scheduled', status: 'True', reason: 'Bound' },
    { type: 'Custom', status: 'True', reason: 'Kept' },
  ],
};

void describe('retriedJobStatus', () => {
  void it('starts a fresh series, keeps history and unrelated conditions, and does not modify its input', () => {
    const input = structuredClone(failedStatus);
    const next = retriedJobStatus(input, 'alice', NOW);
    assert.deepEqual(next, {
      phase: 'Pending',
      reason: 'Retried',
      message: 'retried by alice at 2030-01-02T03:04:05Z',
      attempts: 4,
      seriesStartAttempt: 4,
      nodeLostRequeues: 0,
      retrySeries: 1,
      observedGeneration: 1,
      recentAttempts: failedStatus.recentAttempts,
      conditions: [{ type: 'Custom', status: 'True', reason: 'Kept' }],
    });
    assert.deepEqual(input, failedStatus);
    assert.equal(retriedJobStatus({ ...failedStatus, retrySeries: 4, conditions: [] }, 'bob', NOW).retrySeries, 5);
    assert.equal(retriedJobStatus({ phase: 'Failed', conditions: [{ type: 'Scheduled', status: 'True' }] }, 'bob', NOW).conditions, undefined);
  });
});

void describe('POST .../jobs/NAME/retry', () => {
  let server: TestServer;
  const retry = (name: string, query = '', options: Parameters<TestServer['request']>[2] = {}) =>
    server.request('POST', `${JOBS}/${name}/retry${query}`, options);

  async function failedJob(name: string): Promise<{ resourceVersion: string; spec: unknown; generation: number }> {
    const created = await server.request('POST', JOBS, { body: jobManifest(name) });
    assert.equal(created.status, 201, created.text);
    const failed = await server.request('PATCH', `${JOBS}/${name}/status`, {
      body: { status: failedStatus },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(failed.status, 200, failed.text);
    assert.equal(failed.body.status.phase, 'Failed');
    return { resourceVersion: failed.body.metadata.resourceVersion, spec: failed.body.spec, generation: failed.body.metadata.generation };
  }

  before(async () => {
    server = await TestServer.start({ now: () => NOW });
  });
  after(async () => {
    await server.close();
  });

  void it('retries a Failed job: Pending/Retried, attempts 0, retrySeries 1; spec and generation unchanged', async () => {
    const before = await failedJob('broken');
    const res = await retry('broken');
    assert.equal(res.status, 200, res.text);
    const job = res.body;
    assert.equal(job.kind, 'Job');
    assert.equal(job.status.phase, 'Pending');
    assert.equal(job.status.reason, 'Retried');
    assert.equal(job.status.message, 'retried by admin at 2030-01-02T03:04:05Z');
    assert.equal(job.status.attempts, failedStatus.attempts);
    assert.equal(job.status.seriesStartAttempt, failedStatus.attempts);
    assert.equal(job.status.retrySeries, 1);
    assert.equal(job.status.nodeLostRequeues, 0);
    for (const cleared of ['nodeName', 'exitCode', 'startTime', 'completionTime', 'nextRetryAt']) {
      assert.equal(cleared in job.status, false, `${cleared} cleared`);
    }
    assert.deepEqual(job.status.recentAttempts, failedStatus.recentAttempts);
    assert.deepEqual(job.status.conditions.map((c: { type: string }) => c.type), ['Custom']);
    assert.deepEqual(job.spec, before.spec);
    assert.equal(job.metadata.generation, before.generation);
    assert.notEqual(job.metadata.resourceVersion, before.resourceVersion);

    const stored = await server.request('GET', `${JOBS}/broken`);
    assert.deepEqual(stored.body, job);

    // Retried jobs have left the dead-letter queue: a second retry is a conflict.
    const again = await retry('broken');
    assert.equal(again.status, 409);
    assert.equal(again.body.message, 'job broken is not in the dead-letter queue (phase Pending)');
  });

  void it('counts retry series across repeated failures', async () => {
    await failedJob('flaky');
    assert.equal((await retry('flaky')).status, 200);
    const failedAgain = await server.request('PATCH', `${JOBS}/flaky/status`, {
      body: { status: { phase: 'Failed', reason: 'RetriesExhausted' } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(failedAgain.status, 200, failedAgain.text);
    const second = await retry('flaky', '', { body: {} });
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.status.retrySeries, 2);
  });

  void it('answers 409 Conflict for a job that is not Failed, and 404 for an absent one', async () => {
    const created = await server.request('POST', JOBS, { body: jobManifest('pending') });
    assert.equal(created.status, 201);
    const conflict = await retry('pending');
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.kind, 'Status');
    assert.equal(conflict.body.reason, 'Conflict');
    assert.equal(conflict.body.message, 'job pending is not in the dead-letter queue (phase Pending)');
    const unchanged = await server.request('GET', `${JOBS}/pending`);
    assert.equal(unchanged.body.metadata.resourceVersion, created.body.metadata.resourceVersion);

    const absent = await retry('absent');
    assert.equal(absent.status, 404);
    assert.equal(absent.body.reason, 'NotFound');
    assert.match(absent.body.message, /jobs.openscheduler.io "absent" not found/);
  });

  void it('dryRun=All answers with the retried job and writes nothing', async () => {
    const before = await failedJob('dry');
    const res = await retry('dry', '?dryRun=All');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status.phase, 'Pending');
    assert.equal(res.body.status.retrySeries, 1);
    const stored = await server.request('GET', `${JOBS}/dry`);
    assert.equal(stored.body.status.phase, 'Failed');
    assert.equal(stored.body.metadata.resourceVersion, before.resourceVersion);
    const bad = await retry('dry', '?dryRun=Some');
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /dryRun: Unsupported value/);
  });

  void it('requires a token, POST, and an empty or object body', async () => {
    await failedJob('guarded');
    const anonymous = await retry('guarded', '', { token: null });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.reason, 'Unauthorized');
    const get = await server.request('GET', `${JOBS}/guarded/retry`);
    assert.equal(get.status, 405);
    const array = await retry('guarded', '', { body: [] });
    assert.equal(array.status, 400);
    assert.match(array.body.message, /body of a retry must be empty or a JSON object, not an array/);
    const garbage = await retry('guarded', '', { raw: '{nope' });
    assert.equal(garbage.status, 400);
    assert.match(garbage.body.message, /error decoding JSON body/);
    const stored = await server.request('GET', `${JOBS}/guarded`);
    assert.equal(stored.body.status.phase, 'Failed');
  });
});

// The checker of the fault suite, on hand-made histories: each invariant is caught when broken
// and stays quiet when it holds. No processes, no network.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Job, JobAttempt } from '../../api/v1/index.js';
import {
  checkAll,
  checkJobsFinished,
  checkNoConcurrentTasks,
  checkNoLostWrites,
  checkNoOverlappingAttempts,
  checkNoPhantoms,
  checkRevisionsMonotonic,
  formatViolations,
  History,
  jobAccounting,
  outcomeOfError,
  outcomeOfStatus,
  type Operation,
} from './history.js';

function job(name: string, uid: string, resourceVersion: string, status: Job['status'] = { phase: 'Succeeded' }): Job {
  return { apiVersion: 'openscheduler.io/v1', kind: 'Job', metadata: { name, namespace: 'default', uid, resourceVersion }, spec: { driver: 'process', command: ['/bin/true'] }, status };
}

type Op = Omit<Operation, 'id' | 'client' | 'startedAt' | 'endedAt'> & { at: [number, number]; client?: string };
function historyOf(...ops: Op[]): History {
  const history = new History();
  for (const { at, client, ...op } of ops) history.record({ client: client ?? 'c1', startedAt: at[0], endedAt: at[1], ...op });
  return history;
}

void describe('fault history: outcomes', () => {
  void it('classifies answers: 2xx ok, 4xx failed, 408 and 5xx unknown', () => {
    assert.equal(outcomeOfStatus(201), 'ok');
    assert.equal(outcomeOfStatus(409), 'failed');
    assert.equal(outcomeOfStatus(422), 'failed');
    assert.equal(outcomeOfStatus(408), 'unknown');
    assert.equal(outcomeOfStatus(503), 'unknown');
  });

  void it('classifies errors: refused is failed, reset or timeout unknown', () => {
    assert.equal(outcomeOfError(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })), 'failed');
    assert.equal(outcomeOfError(new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) })), 'unknown');
    assert.equal(outcomeOfError(Object.assign(new Error('timeout'), { name: 'TimeoutError' })), 'unknown');
  });

  void it('records a call: GET 404 is an ok read of absence; a thrown request is recorded unknown', async () => {
    const history = new History();
    await history.call('c1', 'get', 'default/a', () => Promise.resolve({ status: 404, body: { message: 'not found' } }));
    await history.call('c1', 'create', 'default/a', () => Promise.resolve({ status: 201, body: { metadata: { uid: 'u1', resourceVersion: '7' } } }));
    const none = await history.call('c1', 'update', 'default/a', () => Promise.reject(new Error('socket hang up')));
    assert.equal(none, undefined);
    const [get, create, update] = history.operations;
    assert.deepEqual([get!.outcome, get!.exists], ['ok', false]);
    assert.deepEqual([create!.outcome, create!.uid, create!.resourceVersion], ['ok', 'u1', '7']);
    assert.equal(update!.outcome, 'unknown');
    assert.match(update!.error ?? '', /socket hang up/);
  });
});

void describe('fault history: the checker', () => {
  void it('catches a lost acknowledged create, and not one deleted afterwards', () => {
    const history = historyOf(
      { kind: 'create', key: 'default/a', outcome: 'ok', uid: 'u1', resourceVersion: '5', at: [0, 1] },
      { kind: 'create', key: 'default/b', outcome: 'ok', uid: 'u2', resourceVersion: '6', at: [0, 1] },
      { kind: 'delete', key: 'default/b', outcome: 'unknown', at: [2, 3] },
    );
    const violations = checkNoLostWrites(history, { jobs: [] });
    assert.deepEqual(violations.map((v) => [v.invariant, v.key]), [['lost-acknowledged-write', 'default/a']]);
    assert.match(formatViolations(violations), /create of default\/a was acknowledged but the object is gone\n.*"uid":"u1"/);
  });

  void it('catches an acknowledged write rolled back (final resourceVersion lower) and a replaced uid', () => {
    const history = historyOf(
      { kind: 'create', key: 'default/a', outcome: 'ok', uid: 'u1', resourceVersion: '5', at: [0, 1] },
      { kind: 'update', key: 'default/a', outcome: 'ok', uid: 'u1', resourceVersion: '9', at: [2, 3] },
      { kind: 'create', key: 'default/b', outcome: 'ok', uid: 'u2', resourceVersion: '6', at: [0, 1] },
    );
    const violations = checkNoLostWrites(history, { jobs: [job('a', 'u1', '5'), job('b', 'other', '6')] });
    assert.equal(violations.length, 2, formatViolations(violations));
    assert.match(violations[0]!.message, /update of default\/a was acknowledged at resourceVersion 9 but the object is back at 5/);
    assert.match(violations[1]!.message, /uid u2 but the object now has uid other/);
  });

  void it('catches an acknowledged delete undone', () => {
    const history = historyOf({ kind: 'create', key: 'default/a', outcome: 'ok', uid: 'u1', resourceVersion: '5', at: [0, 1] }, { kind: 'delete', key: 'default/a', outcome: 'ok', at: [2, 3] });
    assert.deepEqual(checkNoLostWrites(history, { jobs: [job('a', 'u1', '5')] }).map((v) => v.invariant), ['lost-acknowledged-write']);
    assert.deepEqual(checkNoLostWrites(history, { jobs: [] }), []);
  });

  void it('catches a phantom: an object whose creates all failed definitely, or that no one created', () => {
    const history = historyOf(
      { kind: 'create', key: 'default/a', outcome: 'failed', status: 422, at: [0, 1] },
      { kind: 'create', key: 'default/b', outcome: 'unknown', at: [0, 1] },
      { kind: 'create', key: 'default/c', outcome: 'ok', uid: 'u3', resourceVersion: '4', at: [0, 1] },
    );
    const final = { jobs: [job('a', 'u1', '3'), job('b', 'u2', '3'), job('c', 'u3', '4'), job('d', 'u4', '8'), job('theirs', 'u5', '9')] };
    const violations = checkNoPhantoms(history, final, (key) => key !== 'default/theirs');
    assert.deepEqual(violations.map((v) => v.key), ['default/a', 'default/d']);
  });

  void it('catches a revision going back: per object, across lists, and on one watch connection', () => {
    const history = historyOf(
      { kind: 'update', key: 'default/a', outcome: 'ok', resourceVersion: '10', at: [0, 1] },
      { kind: 'get', key: 'default/a', outcome: 'ok', exists: true, resourceVersion: '8', at: [2, 3] },
      { kind: 'list', key: 'jobs', outcome: 'ok', resourceVersion: '9', at: [4, 5] },
      { kind: 'watch-event', key: 'default/b', outcome: 'ok', eventType: 'MODIFIED', stream: 'w#1', resourceVersion: '12', at: [6, 6] },
      { kind: 'watch-event', key: 'default/c', outcome: 'ok', eventType: 'ADDED', stream: 'w#1', resourceVersion: '11', at: [7, 7] },
    );
    const violations = checkRevisionsMonotonic(history);
    assert.equal(violations.length, 3, formatViolations(violations));
    assert.match(violations[0]!.message, /get of default\/a saw resourceVersion 8 after update saw 10/);
    assert.match(violations[1]!.message, /list jobs was read at resourceVersion 9 after update of default\/a saw 10/);
    assert.match(violations[2]!.message, /watch w#1: ADDED at resourceVersion 11 after MODIFIED at 12/);
  });

  void it('lets concurrent operations and late watch events see older revisions', () => {
    const history = historyOf(
      { kind: 'update', key: 'default/a', outcome: 'ok', resourceVersion: '10', at: [0, 5] },
      { kind: 'get', key: 'default/a', outcome: 'ok', exists: true, resourceVersion: '8', at: [1, 2] },
      { kind: 'watch-event', key: 'default/a', outcome: 'ok', eventType: 'MODIFIED', stream: 'w#1', resourceVersion: '8', at: [9, 9] },
      { kind: 'watch-event', key: 'default/a', outcome: 'ok', eventType: 'MODIFIED', stream: 'w#2', resourceVersion: '8', at: [9, 9] },
    );
    assert.deepEqual(checkRevisionsMonotonic(history), []);
  });

  void it('checks that every job ends and counts them: submitted = succeeded + failed + dead-lettered', () => {
    const history = historyOf(
      { kind: 'create', key: 'default/ok', outcome: 'ok', uid: 'u1', at: [0, 1] },
      { kind: 'create', key: 'default/dl', outcome: 'ok', uid: 'u2', at: [0, 1] },
      { kind: 'create', key: 'default/deadline', outcome: 'unknown', at: [0, 1] },
      { kind: 'create', key: 'default/never', outcome: 'unknown', at: [0, 1] },
      { kind: 'create', key: 'default/stuck', outcome: 'ok', uid: 'u4', at: [0, 1] },
      { kind: 'create', key: 'default/lost', outcome: 'ok', uid: 'u5', at: [0, 1] },
    );
    const final = {
      jobs: [
        job('ok', 'u1', '1'),
        job('dl', 'u2', '1', { phase: 'Failed', reason: 'RetriesExhausted' }),
        job('deadline', 'u3', '1', { phase: 'Failed', reason: 'DeadlineExceeded' }),
        job('stuck', 'u4', '1', { phase: 'Running' }),
      ],
    };
    const accounting = jobAccounting(history, final);
    assert.deepEqual(accounting, { submitted: 5, succeeded: 1, failed: 1, deadLettered: 1, unfinished: ['default/stuck', 'default/lost'] });
    const violations = checkJobsFinished(history, final);
    assert.deepEqual(violations.map((v) => [v.invariant, v.key]), [['job-not-finished', 'default/stuck'], ['job-not-finished', 'default/lost'], ['job-accounting', undefined]]);
  });

  void it('catches two overlapping live attempts from status.recentAttempts, and not back-to-back ones', () => {
    const attempts = (list: JobAttempt[]): Job['status'] => ({ phase: 'Running', recentAttempts: list });
    const final = {
      jobs: [
        job('overlap', 'u1', '1', attempts([{ attempt: 1, nodeName: 'a', startTime: '2024-01-01T00:00:00Z', endTime: '2024-01-01T00:01:00Z' }, { attempt: 2, nodeName: 'b', startTime: '2024-01-01T00:00:30Z', endTime: '2024-01-01T00:02:00Z' }])),
        job('still-live', 'u2', '1', attempts([{ attempt: 1, nodeName: 'a', startTime: '2024-01-01T00:00:00Z' }, { attempt: 2, nodeName: 'b', startTime: '2024-01-01T00:05:00Z' }])),
        job('sequential', 'u3', '1', attempts([{ attempt: 1, nodeName: 'a', startTime: '2024-01-01T00:00:00Z', endTime: '2024-01-01T00:01:00Z', reason: 'NodeLost' }, { attempt: 2, nodeName: 'b', startTime: '2024-01-01T00:01:00Z' }, { attempt: 3 }])),
      ],
    };
    const violations = checkNoOverlappingAttempts(final);
    assert.deepEqual(violations.map((v) => v.key), ['default/overlap', 'default/still-live']);
    assert.match(violations[0]!.message, /attempts 1 and 2 were live at the same time/);
  });

  void it('catches two task processes of one job alive at one sampled instant', () => {
    const history = new History();
    history.sampleTasks(new Map([['default/a', ['100']]]), 1);
    history.sampleTasks(new Map([['default/a', ['100', '200']], ['default/b', ['300']]]), 2);
    history.sampleTasks(new Map([['default/a', ['200']]]), 3);
    assert.deepEqual(checkNoConcurrentTasks(history).map((v) => v.key), ['default/a']);
    assert.deepEqual(checkNoConcurrentTasks(history, (at) => at !== 2), []);
  });

  void it('checkAll is quiet over a clean history', () => {
    const history = historyOf(
      { kind: 'create', key: 'default/a', outcome: 'ok', uid: 'u1', resourceVersion: '5', at: [0, 1] },
      { kind: 'get', key: 'default/a', outcome: 'ok', exists: true, uid: 'u1', resourceVersion: '7', at: [2, 3] },
      { kind: 'list', key: 'jobs', outcome: 'ok', resourceVersion: '9', at: [4, 5] },
    );
    assert.deepEqual(checkAll(history, { jobs: [job('a', 'u1', '9')] }, { orphans: [] }), []);
    const orphaned = checkAll(history, { jobs: [job('a', 'u1', '9')] }, { orphans: [{ kind: 'process', id: '42', description: 'sleep 600' }] });
    assert.deepEqual(orphaned.map((v) => v.invariant), ['orphan']);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiObject } from '../api/meta.js';
import { JOB, NODE } from './resources.js';
import { evaluateWait, parseWaitFor } from './wait-command.js';

const D = 'job.openscheduler.io/j';
const job = (status: Record<string, unknown>): ApiObject => ({ apiVersion: 'openscheduler.io/v1', kind: 'Job', metadata: { name: 'j' }, status });

void test('--for forms, defaults and errors', () => {
  assert.deepEqual(parseWaitFor(undefined, JOB), { kind: 'finished' });
  assert.deepEqual(parseWaitFor('condition=Ready', NODE), { kind: 'condition', type: 'Ready', value: 'True' });
  assert.deepEqual(parseWaitFor('condition=Ready=false', NODE), { kind: 'condition', type: 'Ready', value: 'false' });
  assert.deepEqual(parseWaitFor('phase=Running', JOB), { kind: 'phase', phase: 'Running' });
  assert.deepEqual(parseWaitFor('delete', JOB), { kind: 'delete' });
  assert.deepEqual(parseWaitFor('create', JOB), { kind: 'create' });
  assert.throws(() => parseWaitFor(undefined, NODE), /--for is required for nodes/);
  assert.throws(() => parseWaitFor('jsonpath={.x}', JOB), /--for: unsupported value "jsonpath=\{\.x\}": expected condition=TYPE\[=VALUE\], phase=PHASE, create or delete/);
});

void test('default wait: Succeeded -> 0, Failed -> 1 with reason and message, otherwise keep waiting', () => {
  const finished = { kind: 'finished' } as const;
  assert.deepEqual(evaluateWait(finished, JOB, job({ phase: 'Running' }), true, D), { done: false });
  assert.deepEqual(evaluateWait(finished, JOB, job({ phase: 'Succeeded' }), true, D), { done: true, exitCode: 0, message: `${D} condition met` });
  assert.deepEqual(evaluateWait(finished, JOB, job({ phase: 'Failed', reason: 'RetriesExhausted', message: 'exit code 3' }), true, D), {
    done: true,
    exitCode: 1,
    message: `${D} failed: RetriesExhausted: exit code 3`,
  });
  // Absent and never seen: wait for it to appear; seen then deleted: fail.
  assert.deepEqual(evaluateWait(finished, JOB, undefined, false, D), { done: false });
  assert.deepEqual(evaluateWait(finished, JOB, undefined, true, D), { done: true, exitCode: 1, message: `${D} was deleted while waiting` });
});

void test('conditions, phases, create and delete', () => {
  const cond = parseWaitFor('condition=complete', JOB);
  assert.equal(evaluateWait(cond, JOB, job({ phase: 'Running', conditions: [{ type: 'Complete', status: 'True' }] }), true, D).done, true);
  assert.deepEqual(evaluateWait(cond, JOB, job({ phase: 'Running', conditions: [{ type: 'Complete', status: 'False' }] }), true, D), { done: false });
  assert.deepEqual(evaluateWait(cond, JOB, job({ phase: 'Succeeded' }), true, D), { done: true, exitCode: 1, message: `${D} ended Succeeded without meeting the condition` });
  const running = parseWaitFor('phase=Running', JOB);
  assert.equal(evaluateWait(running, JOB, job({ phase: 'Running' }), true, D).done, true);
  assert.deepEqual(evaluateWait(running, JOB, job({ phase: 'Failed', reason: 'DeadlineExceeded' }), true, D), { done: true, exitCode: 1, message: `${D} failed: DeadlineExceeded` });
  assert.deepEqual(evaluateWait({ kind: 'delete' }, JOB, job({}), true, D), { done: false });
  assert.deepEqual(evaluateWait({ kind: 'delete' }, JOB, undefined, true, D), { done: true, exitCode: 0, message: `${D} condition met` });
  assert.equal(evaluateWait({ kind: 'create' }, JOB, job({}), false, D).done, true);
  const ready = parseWaitFor('condition=Ready', NODE);
  const node = (status: string): ApiObject => ({ apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name: 'n' }, status: { conditions: [{ type: 'Ready', status }] } });
  assert.equal(evaluateWait(ready, NODE, node('True'), true, 'n').done, true);
  assert.equal(evaluateWait(ready, NODE, node('False'), true, 'n').done, false);
});

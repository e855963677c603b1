import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiObject } from '../api/meta.js';
import { LAST_APPLIED_ANNOTATION, describeObject, titleCase } from './describe.js';
import { JOB, NODE } from './resources.js';

const NOW = Date.parse('2025-03-01T12:00:00Z');

void test('titleCase turns field names into labels', () => {
  assert.equal(titleCase('workloadType'), 'Workload Type');
  assert.equal(titleCase('ttlSecondsAfterFinished'), 'Ttl Seconds After Finished');
  assert.equal(titleCase('driver'), 'Driver');
});

void test('describe job: metadata, spec tree, status, conditions, recent attempts, events', () => {
  const job: ApiObject = {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: {
      name: 'nightly',
      namespace: 'default',
      uid: 'u-1',
      resourceVersion: '42',
      generation: 2,
      creationTimestamp: '2025-03-01T11:00:00Z',
      labels: { team: 'data' },
      annotations: { [LAST_APPLIED_ANNOTATION]: '{"big":"json"}', note: 'hi' },
    },
    spec: {
      driver: 'process',
      command: ['/bin/sh', '-c'],
      args: ['echo hello'],
      env: [{ name: 'GREETING', value: 'hi' }],
      nodeSelector: { disk: 'ssd' },
      retryPolicy: { maxRetries: 3, backoffSeconds: 10 },
    },
    status: {
      phase: 'Failed',
      reason: 'RetriesExhausted',
      message: 'exit code 1',
      attempts: 2,
      nodeName: 'node-1',
      completionTime: '2025-03-01T11:59:00Z',
      conditions: [{ type: 'Complete', status: 'False', reason: 'Failed', lastTransitionTime: '2025-03-01T11:59:00Z', message: 'gave up' }],
      recentAttempts: [
        { attempt: 1, nodeName: 'node-1', startTime: '2025-03-01T11:50:00Z', endTime: '2025-03-01T11:51:00Z', exitCode: 1, reason: 'Error' },
        { attempt: 2, nodeName: 'node-1', startTime: '2025-03-01T11:58:00Z', endTime: '2025-03-01T11:59:00Z', exitCode: 1, reason: 'Error' },
      ],
    },
  };
  const text = describeObject(JOB, job, undefined, NOW);
  const lines = text.split('\n');
  assert.ok(lines.includes('Name:         nightly'), text);
  assert.ok(lines.includes('Namespace:    default'), text);
  assert.ok(lines.includes('Labels:       team=data'), text);
  assert.ok(lines.includes('Annotations:  note=hi'), text);
  assert.doesNotMatch(text, /last-applied/);
  assert.ok(lines.includes('Created:      2025-03-01T11:00:00Z (60m ago)'), text);
  assert.ok(lines.includes('Version:      42 (generation 2)'), text);
  assert.ok(lines.includes('Spec:'), text);
  assert.ok(lines.includes('  Driver:  process'), text);
  assert.ok(lines.includes('  Command:') && lines.includes('    /bin/sh') && lines.includes('    -c'), text);
  assert.ok(lines.includes('  Env:') && lines.includes('    - Name:   GREETING') && lines.includes('      Value:  hi'), text);
  assert.ok(lines.includes('  Node Selector:') && lines.includes('    disk=ssd'), text);
  assert.ok(lines.includes('  Retry Policy:') && lines.includes('    Max Retries:      3'), text);
  assert.ok(lines.includes('  Phase:                Failed'), text);
  assert.ok(lines.includes('  Reason:               RetriesExhausted'), text);
  assert.ok(lines.includes('  Node:                 node-1'), text);
  assert.ok(lines.includes('  Attempts:             2'), text);
  assert.ok(lines.includes('  Start Time:           <none>'), text);
  assert.ok(lines.includes('  Completion Time:      2025-03-01T11:59:00Z (60s ago)'), text);
  assert.match(text, /\n {2}Conditions:\n {4}Type +Status +Reason +Last Transition +Message\n {4}-+ +-+ .*\n {4}Complete +False +Failed +60s ago +gave up\n/);
  assert.match(text, /\n {2}Recent Attempts:\n {4}Attempt +Node +Started +Ended +Exit Code +Reason +Message\n.*\n {4}1 +node-1 +10m ago +9m ago +1 +Error\n {4}2 +node-1 +2m ago +60s ago +1 +Error\n/);
  assert.ok(text.endsWith('Events:  <none>\n'), text);
  const withEvents = describeObject(JOB, job, [{ type: 'Normal', reason: 'Scheduled', message: 'on node-1', lastTimestamp: '2025-03-01T11:50:00Z', source: { component: 'scheduler' } }], NOW);
  assert.match(withEvents, /\nEvents:\n {2}Type +Reason +Age +From +Message\n.*\n {2}Normal +Scheduled +10m +scheduler +on node-1\n$/);
});

void test('describe node: no namespace, conditions table, capacity tree', () => {
  const node: ApiObject = {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Node',
    metadata: { name: 'node-1', creationTimestamp: '2025-03-01T10:00:00Z' },
    spec: {},
    status: {
      capacity: { cpu: '4', memory: '8Gi' },
      drivers: ['process'],
      conditions: [{ type: 'Ready', status: 'True', reason: 'LeaseHeld' }],
      lastHeartbeatTime: '2025-03-01T11:59:50Z',
    },
  };
  const text = describeObject(NODE, node, undefined, NOW);
  assert.doesNotMatch(text, /Namespace:/);
  assert.match(text, /\nSpec: {2}<none>\n/);
  assert.match(text, /\n {2}Last Heartbeat: {2}2025-03-01T11:59:50Z \(10s ago\)\n/);
  assert.match(text, /\n {4}Ready +True +LeaseHeld +<none>\n/);
  assert.match(text, /\n {2}Capacity:\n {4}Cpu: {5}4\n {4}Memory: {2}8Gi\n {2}Drivers:\n {4}process\n/);
});

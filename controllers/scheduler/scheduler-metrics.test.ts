// The scheduler's metrics hook: scheduling latency runs from when the scheduler first saw a job
// runnable to its bind, on a fake clock; jobs never runnable are not observed. Real SQLite store.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Job, Node } from '../../api/v1/index.js';
import { FakeClock, Manager } from '../runtime/index.js';
import { openTempStore, waitFor, type TempStore } from '../runtime/test-support.js';
import { JOBS_PREFIX, NODES_PREFIX, newSchedulerController, newSchedulerInformers, type SchedulerMetrics } from './scheduler.js';

function node(name: string, cpu: string): Node {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Node',
    metadata: { name },
    spec: {},
    status: { allocatable: { cpu, memory: '8Gi' }, drivers: ['process'], conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function job(name: string, cpu: string, extra: Partial<Job['spec']> = {}): Job {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { driver: 'process', command: ['true'], resources: { cpu, memory: '64Mi' }, ...extra },
    status: { phase: 'Pending', attempts: 0 },
  };
}

void describe('Scheduler metrics hook', { timeout: 30_000 }, () => {
  let temp: TempStore;
  let manager: Manager | undefined;
  beforeEach(async () => {
    temp = await openTempStore();
  });
  afterEach(async () => {
    await manager?.stop();
    await temp.cleanup();
  });

  void it('observes the time from first seen runnable to bind, once per bind', async () => {
    const clock = new FakeClock();
    const latencies: number[] = [];
    const metrics: SchedulerMetrics = { observeSchedulingLatency: (s) => latencies.push(s) };
    await temp.store.put(`${NODES_PREFIX}small`, JSON.stringify(node('small', '1')));
    await temp.store.put(`${JOBS_PREFIX}default/fits`, JSON.stringify(job('fits', '500m')));
    await temp.store.put(`${JOBS_PREFIX}default/waits`, JSON.stringify(job('waits', '2')));
    await temp.store.put(`${JOBS_PREFIX}default/gated`, JSON.stringify(job('gated', '100m', { dependsOn: ['never'] })));

    const { jobs, nodes } = newSchedulerInformers(temp.store);
    const { controller } = newSchedulerController({ store: temp.store, jobs, nodes, clock, metrics, unschedulableRetryMs: 600_000 });
    manager = new Manager();
    manager.addInformer(jobs);
    manager.addInformer(nodes);
    manager.add(controller, { leaderOnly: true });
    await manager.start();

    const phase = async (name: string): Promise<Job['status']> =>
      (JSON.parse((await temp.store.get(`${JOBS_PREFIX}default/${name}`))?.value ?? '{}') as Job).status;
    await waitFor('fits bound', async () => (await phase('fits'))?.phase === 'Scheduled');
    await waitFor('waits marked Unschedulable', async () => (await phase('waits'))?.reason === 'Unschedulable');
    assert.deepEqual(latencies, [0], 'bound at once: no fake time passed');

    clock.advance(30_000);
    await temp.store.put(`${NODES_PREFIX}big`, JSON.stringify(node('big', '4')));
    await waitFor('waits bound', async () => (await phase('waits'))?.phase === 'Scheduled');
    assert.deepEqual(latencies, [0, 30], 'waited 30 s for capacity');
    assert.equal((await phase('gated'))?.phase, 'Pending', 'never runnable: never bound, never observed');
  });
});

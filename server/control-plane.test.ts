// The control plane's wiring of the Event TTL: every event recorder it makes puts its Events with a
// lease of `eventTtlSeconds` (plus the recorder's lease-reuse window). Real SQLite store, real
// controllers and a real gRPC endpoint on loopback.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ServerCredentials } from '@grpc/grpc-js';
import { EVENTS_PREFIX, type Event } from '../api/v1/event.js';
import type { Job } from '../api/v1/index.js';
import { NodeTokenRegistry } from '../apiserver/node-tokens.js';
import { silentLogger } from '../controllers/runtime/logger.js';
import { waitFor } from '../controllers/runtime/test-support.js';
import { JOBS_PREFIX } from '../controllers/scheduler/scheduler.js';
import { FileLogStore } from '../logs/log-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { LeaseId, Store } from '../store/store.js';
import { startControlPlane, type RunningControlPlane } from './control-plane.js';

/** `inner`, remembering the TTL of every lease granted through it. */
function leaseRecordingStore(inner: Store, granted: Map<LeaseId, number>): Store {
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'grantLease') {
        return async (ttlSeconds: number): Promise<LeaseId> => {
          const id = await target.grantLease(ttlSeconds);
          granted.set(id, ttlSeconds);
          return id;
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A job no node can run (there are no nodes): the scheduler records FailedScheduling about it. */
const unschedulableJob: Job = {
  apiVersion: 'openscheduler.io/v1',
  kind: 'Job',
  metadata: { name: 'ttl-probe', namespace: 'default', uid: 'uid-ttl-probe', creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { driver: 'process', command: ['true'], resources: { cpu: '100m', memory: '64Mi' } },
  status: { phase: 'Pending', attempts: 0 },
};

void describe('control plane event TTL', () => {
  let dir: string;
  let sqlite: SqliteStore;
  let logs: FileLogStore;
  let controlPlane: RunningControlPlane | undefined;
  const granted = new Map<LeaseId, number>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-control-plane-'));
    sqlite = SqliteStore.open({ path: join(dir, 'state.db'), compactIntervalMs: 0 });
    logs = new FileLogStore({ dir: join(dir, 'logs') });
  });

  after(async () => {
    await controlPlane?.close();
    await logs.close();
    await sqlite.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('puts the events of its recorders with a lease of eventTtlSeconds', async () => {
    const store = leaseRecordingStore(sqlite, granted);
    controlPlane = await startControlPlane({
      store,
      logger: silentLogger,
      nodeTokens: new NodeTokenRegistry(store),
      logs,
      grpc: { host: '127.0.0.1', port: 0, credentials: ServerCredentials.createInsecure() },
      leaderElection: false,
      eventTtlSeconds: 120,
    });
    await store.put(`${JOBS_PREFIX}default/ttl-probe`, JSON.stringify(unschedulableJob));

    let event: { lease?: string; event: Event } | undefined;
    await waitFor('a FailedScheduling event about the job', async () => {
      const { items } = await sqlite.list(EVENTS_PREFIX);
      event = items.map((kv) => ({ lease: kv.lease, event: JSON.parse(kv.value) as Event })).find((e) => e.event.reason === 'FailedScheduling');
      return event !== undefined;
    });
    assert.equal(event?.event.involvedObject.name, 'ttl-probe');
    assert.ok(event?.lease !== undefined, 'the event is put with a lease');
    // 120 s plus the recorder's lease-reuse window (a tenth of the TTL, at most 60 s)
    assert.equal(granted.get(event.lease), 132);
  });
});

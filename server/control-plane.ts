// The control plane behind the API: shared informers, the controllers (scheduler, dependencies,
// job lifecycle, node lifecycle) run by one Manager, and the agent gRPC endpoint.
//
// Contract:
// - Informers and the agent endpoint run on every server process; controllers run only on the
//   process holding the leader lease `/leases/openscheduler-controllers` (when `leaderElection`
//   is on, as with etcd; with the embedded store one process owns the store and always leads).
//   With leader election, everything the controllers and their event recorders write goes
//   through a FencedStore: a write of a term that has ended (a leader paused past its lease) is
//   rejected by the store. Informers and the agent endpoint (every server) use the store as is.
// - start() resolves once every cache has synced and the endpoint listens; close() stops the
//   endpoint first (agents reconnect elsewhere), then every loop, and resolves when all ended.
// - With `metrics`, the controllers and the scheduler report to it, and its scrape-time families
//   read the shared caches, the scheduler's allocations, the endpoint's open streams and the
//   leadership of this process until close().
// - controlPlaneReadinessChecks(): `informers` (every shared cache synced) and `leader` (with
//   leader election: some process holds the lease key; without: this process leads once started).
import type * as grpc from '@grpc/grpc-js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { AgentEndpoint } from '../agentapi/agent-endpoint.js';
import type { NodeTokenRegistry } from '../apiserver/node-tokens.js';
import { newDependencyController } from '../controllers/dependencies/dependency-controller.js';
import { newJobLifecycleController } from '../controllers/jobs/job-lifecycle.js';
import { newNodeLeaseInformer, newNodeLifecycleController } from '../controllers/nodes/node-lifecycle.js';
import { EventRecorder } from '../controllers/runtime/event-recorder.js';
import { FencedStore } from '../controllers/runtime/fenced-store.js';
import { LeaderElector, Manager, type Logger } from '../controllers/runtime/index.js';
import { newSchedulerController, newSchedulerInformers } from '../controllers/scheduler/scheduler.js';
import type { LogStore } from '../logs/log-store.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { Store } from '../store/store.js';
import { ReadinessError, type ReadinessCheck } from '../apiserver/readiness.js';
import type { DashboardCaches } from '../apiserver/dashboard-routes.js';

export const CONTROLLERS_ELECTION_NAME = 'openscheduler-controllers';

export interface ControlPlaneOptions {
  readonly store: Store;
  readonly logger: Logger;
  readonly nodeTokens: NodeTokenRegistry;
  /** Accepted by Register only (see agent.proto). */
  readonly joinToken?: string;
  readonly logs: LogStore;
  /** Where the agent endpoint listens. */
  readonly grpc: { readonly host: string; readonly port: number; readonly credentials: grpc.ServerCredentials };
  /** Elect a leader among the servers sharing the store (etcd). */
  readonly leaderElection: boolean;
  /** Node lease TTL given to agents. Default 30 s. */
  readonly nodeLeaseTtlSeconds?: number;
  /** How often agents heartbeat. Default a third of the lease TTL (10 s). */
  readonly heartbeatIntervalSeconds?: number;
  /** How long a node's lease may be gone before it is lost. Default 40 s. */
  readonly nodeGracePeriodMs?: number;
  /** Lifetime of every Event the controllers and the agent endpoint record (after its last update). Default 1 h. */
  readonly eventTtlSeconds?: number;
  /** TTL of the controllers' leader lease (with leaderElection). Default 15 s. */
  readonly leaderLeaseTtlSeconds?: number;
  /** How often an Unschedulable job is looked at again. Default 5 s. */
  readonly unschedulableRetryMs?: number;
  /** Reconcile, scheduling and cluster-state metrics. Default: none. */
  readonly metrics?: ServerMetrics;
}

export interface RunningControlPlane {
  readonly grpcPort: number;
  /** Every shared informer has applied its first list. */
  cachesSynced(): boolean;
  /** Some process runs the controllers (see the file comment); may read the store: the caller bounds it in time. */
  leaderKnown(): Promise<boolean>;
  /** Read-only views of the shared job, node and node-lease caches (the dashboard's read model). */
  dashboardCaches(): DashboardCaches;
  close(): Promise<void>;
}

/**
 * The /readyz checks `informers` and `leader` over a control plane that may not have started yet
 * (the API server is made first): until `current()` returns one, both fail.
 */
export function controlPlaneReadinessChecks(current: () => RunningControlPlane | undefined): ReadinessCheck[] {
  const running = (): RunningControlPlane => {
    const controlPlane = current();
    if (controlPlane === undefined) throw new ReadinessError('the control plane is not running');
    return controlPlane;
  };
  return [
    {
      name: 'informers',
      check: async () => {
        if (!running().cachesSynced()) throw new ReadinessError('the caches have not synced');
      },
    },
    {
      name: 'leader',
      check: async () => {
        const known = await running()
          .leaderKnown()
          .catch(() => Promise.reject(new ReadinessError('the leader lease cannot be read')));
        if (!known) throw new ReadinessError('no process holds the controllers leader lease');
      },
    },
  ];
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<RunningControlPlane> {
  const { store, logger } = options;
  const identity = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const elector = options.leaderElection ? new LeaderElector({ store, name: CONTROLLERS_ELECTION_NAME, identity, logger, ...(options.leaderLeaseTtlSeconds !== undefined ? { ttlSeconds: options.leaderLeaseTtlSeconds } : {}) }) : undefined;
  // What the leader-only controllers write with (see the file comment).
  const controllerStore: Store = elector !== undefined ? new FencedStore(store, () => elector.fence(), { electionKey: elector.key, logger }) : store;
  const manager = new Manager({
    logger,
    ...(elector !== undefined ? { leaderElector: elector } : {}),
  });
  const recorders: EventRecorder[] = [];
  const recorder = (component: string, writeStore: Store = controllerStore): EventRecorder => {
    const made = new EventRecorder(writeStore, {
      component,
      logger,
      maxPending: 20_000,
      ...(options.eventTtlSeconds !== undefined ? { ttlSeconds: options.eventTtlSeconds } : {}),
    });
    recorders.push(made);
    return made;
  };

  const { jobs, nodes } = newSchedulerInformers(store, { logger });
  const leases = newNodeLeaseInformer(store, { logger });
  manager.addInformer(jobs);
  manager.addInformer(nodes);
  manager.addInformer(leases);

  const scheduler = newSchedulerController({
    store: controllerStore,
    jobs,
    nodes,
    logger,
    recorder: recorder('scheduler'),
    ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
    ...(options.unschedulableRetryMs !== undefined ? { unschedulableRetryMs: options.unschedulableRetryMs } : {}),
  });
  const dependencies = newDependencyController({ store: controllerStore, jobs, logger, recorder: recorder('dependency-controller') });
  const lifecycle = newJobLifecycleController({
    store: controllerStore,
    jobs,
    recorder: recorder('job-controller'),
    attempts: options.logs,
    logger,
  });
  const nodeLifecycle = newNodeLifecycleController({
    store: controllerStore,
    nodes,
    jobs,
    leases,
    logger,
    recorder: recorder('node-lifecycle'),
    attempts: options.logs,
    ...(options.nodeGracePeriodMs !== undefined ? { gracePeriodMs: options.nodeGracePeriodMs } : {}),
  });
  for (const controller of [scheduler.controller, dependencies.controller, lifecycle.controller, nodeLifecycle.controller]) {
    controller.setMetrics(options.metrics);
    manager.add(controller, { leaderOnly: true, name: controller.name });
  }

  const endpoint = new AgentEndpoint({
    store,
    jobs,
    nodeTokens: options.nodeTokens,
    ...(options.joinToken !== undefined ? { joinToken: options.joinToken } : {}),
    logs: options.logs,
    recorder: recorder('agent-endpoint', store),
    logger,
    ...(options.nodeLeaseTtlSeconds !== undefined ? { leaseTtlSeconds: options.nodeLeaseTtlSeconds } : {}),
    heartbeatIntervalSeconds: options.heartbeatIntervalSeconds ?? Math.max(1, Math.floor((options.nodeLeaseTtlSeconds ?? 30) / 3)),
    credentials: options.grpc.credentials,
  });

  await manager.start();
  let grpcPort: number;
  try {
    grpcPort = await endpoint.listen(options.grpc.host, options.grpc.port);
  } catch (err) {
    await manager.stop();
    await Promise.all(recorders.map((r) => r.close()));
    throw err;
  }
  logger.info('agent endpoint listening', { host: options.grpc.host, port: grpcPort });
  options.metrics?.setClusterState({
    jobs: () => jobs.list(),
    nodes: () => nodes.list(),
    allocations: () => scheduler.scheduler.allocations(),
    connectedAgents: () => endpoint.connectedAgents(),
    isLeader: () => manager.isLeader(),
  });

  const informers = [jobs, nodes, leases];
  let closing: Promise<void> | undefined;
  return {
    grpcPort,
    cachesSynced: () => informers.every((i) => i.hasSynced()),
    leaderKnown: async () => (elector !== undefined ? (await elector.currentLeader()) !== undefined : manager.isLeader()),
    dashboardCaches: () => ({ jobs, nodes, leases }),
    close: () =>
      (closing ??= (async () => {
        options.metrics?.setClusterState(undefined);
        await endpoint.close();
        await manager.stop();
        await Promise.all(recorders.map((r) => r.close())); // writes what is queued
      })()),
  };
}

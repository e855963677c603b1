// The control plane behind the API: shared informers, the controllers (scheduler, dependencies,
// job lifecycle, node lifecycle) run by one Manager, and the agent gRPC endpoint.
//
// Contract:
// - Informers and the agent endpoint run on every server process; controllers run only on the
//   process holding the leader lease `/leases/openscheduler-controllers` (when `leaderElection`
//   is on, as with etcd; with the embedded store one process owns the store and always leads).
// - start() resolves once every cache has synced and the endpoint listens; close() stops the
//   endpoint first (agents reconnect elsewhere), then every loop, and resolves when all ended.
import type * as grpc from '@grpc/grpc-js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { AgentEndpoint } from '../agentapi/agent-endpoint.js';
import type { NodeTokenRegistry } from '../apiserver/node-tokens.js';
import { newDependencyController } from '../controllers/dependencies/dependency-controller.js';
import { newJobLifecycleController } from '../controllers/jobs/job-lifecycle.js';
import { newNodeLeaseInformer, newNodeLifecycleController } from '../controllers/nodes/node-lifecycle.js';
import { EventRecorder } from '../controllers/runtime/event-recorder.js';
import { LeaderElector, Manager, type Logger } from '../controllers/runtime/index.js';
import { newSchedulerController, newSchedulerInformers } from '../controllers/scheduler/scheduler.js';
import type { LogStore } from '../logs/log-store.js';
import type { Store } from '../store/store.js';

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
  /** How often an Unschedulable job is looked at again. Default 5 s. */
  readonly unschedulableRetryMs?: number;
}

export interface RunningControlPlane {
  readonly grpcPort: number;
  close(): Promise<void>;
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<RunningControlPlane> {
  const { store, logger } = options;
  const identity = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const manager = new Manager({
    logger,
    ...(options.leaderElection ? { leaderElector: new LeaderElector({ store, name: CONTROLLERS_ELECTION_NAME, identity, logger }) } : {}),
  });
  const recorders: EventRecorder[] = [];
  const recorder = (component: string): EventRecorder => {
    const made = new EventRecorder(store, { component, logger, maxPending: 20_000 });
    recorders.push(made);
    return made;
  };

  const { jobs, nodes } = newSchedulerInformers(store, { logger });
  const leases = newNodeLeaseInformer(store, { logger });
  manager.addInformer(jobs);
  manager.addInformer(nodes);
  manager.addInformer(leases);

  const scheduler = newSchedulerController({
    store,
    jobs,
    nodes,
    logger,
    recorder: recorder('scheduler'),
    ...(options.unschedulableRetryMs !== undefined ? { unschedulableRetryMs: options.unschedulableRetryMs } : {}),
  });
  const dependencies = newDependencyController({ store, jobs, logger, recorder: recorder('dependency-controller') });
  const lifecycle = newJobLifecycleController({ store, jobs, recorder: recorder('job-controller'), attempts: options.logs, logger });
  const nodeLifecycle = newNodeLifecycleController({
    store,
    nodes,
    jobs,
    leases,
    logger,
    recorder: recorder('node-lifecycle'),
    attempts: options.logs,
    ...(options.nodeGracePeriodMs !== undefined ? { gracePeriodMs: options.nodeGracePeriodMs } : {}),
  });
  for (const controller of [scheduler.controller, dependencies.controller, lifecycle.controller, nodeLifecycle.controller]) {
    manager.add(controller, { leaderOnly: true, name: controller.name });
  }

  const endpoint = new AgentEndpoint({
    store,
    jobs,
    nodeTokens: options.nodeTokens,
    ...(options.joinToken !== undefined ? { joinToken: options.joinToken } : {}),
    logs: options.logs,
    recorder: recorder('agent-endpoint'),
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

  let closing: Promise<void> | undefined;
  return {
    grpcPort,
    close: () =>
      (closing ??= (async () => {
        await endpoint.close();
        await manager.stop();
        await Promise.all(recorders.map((r) => r.close())); // writes what is queued
      })()),
  };
}

// The controller runtime shared by every controller: informer caches, the rate-limited work
// queue, the reconcile contract, leader election and the Manager that owns them all.
export { FakeClock, sleep, systemClock, type Clock, type Timer } from './clock.js';
export { deepFreeze, Informer, type CacheEntry, type Decoder, type InformerHandlers, type InformerOptions } from './informer.js';
export { LeaderElector, type LeaderElectionOptions, type LeaderWork } from './leader-election.js';
export { errorMessage, silentLogger, type Logger } from './logger.js';
export { Manager, type AddOptions, type ManagerOptions } from './manager.js';
export type { ControllerMetrics } from './metrics.js';
export {
  applyOutcome,
  Controller,
  TerminalError,
  type ControllerOptions,
  type KeyFunction,
  type OutcomeQueue,
  type QueueAction,
  type ReconcileOutcome,
  type Reconciler,
  type Result,
} from './reconciler.js';
export type { Runnable } from './runnable.js';
export { WorkQueue, type WorkQueueOptions } from './work-queue.js';

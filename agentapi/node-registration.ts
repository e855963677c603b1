// Register and Heartbeat: the Node object an agent keeps, and the store lease that says it is alive.
//
// Contract:
// - Register creates or updates the cluster-scoped Node (ObjectStorage with nodeKind), keeping
//   metadata.uid, spec (cordoning) and status.addresses; status.capacity and allocatable become
//   the capacity sent, status.drivers the healthy drivers sent, condition Ready=True (reason
//   AgentReady), lastHeartbeatTime and agentVersion are set. Labels sent are merged onto
//   metadata.labels: keys the agent sent last time and no longer sends are removed (the annotation
//   AGENT_LABELS_ANNOTATION lists them), labels set through the API are kept unless the agent
//   sends the same key. Every write carries ifRevision; a conflict re-reads and recomputes.
// - With the join token, Register first checks that the node has no active (unexpired) node
//   token (PERMISSION_DENIED otherwise), registers the node, then issues a node token for it.
//   Registrations of one node name are serialised within the process.
// - The lease: key nodeLeaseKey(name) (controllers/nodes/node-lifecycle.ts) attached to a store
//   lease of leaseTtlSeconds, value NodeLease JSON. Renewal finds the lease id from the key's
//   KeyValue.lease and keeps it alive; when the key or its lease is gone (expired, or another
//   server process held it) a new lease is granted and the key put on it (ifAbsent/ifRevision,
//   so concurrent renewals leave one lease).
// - A heartbeat with shuttingDown writes Ready=False, reason AgentShuttingDown (the scheduler
//   places nothing new there; the agent then stops its tasks, which end NodeLost and are
//   re-queued); the next Register makes it Ready again. The lease is kept as usual.
// - Heartbeat renews the lease and writes the Node status only when needed: the drivers or
//   allocatable changed, shuttingDown changed, Ready is not True, the lease had to be re-created, or lastHeartbeatTime
//   is older than heartbeatWriteIntervalMs (default 60 s). What was last written is remembered
//   per node in memory, so an unchanged heartbeat costs one store read (the lease key) and one
//   keepAlive, and no write. An empty drivers list or an absent allocatable leaves the stored
//   value unchanged. A heartbeat for a node without a Node object is NOT_FOUND (the agent
//   registers again).
import { randomUUID } from 'node:crypto';
import { formatCpuMillis, formatMemoryBytes } from '../api/quantity.js';
import { nodeKind, type Condition, type Node, type NodeResources, type NodeStatus } from '../api/v1/index.js';
import type { HeartbeatRequest, RegisterRequest, Resources } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import type { NodeTokenRegistry } from '../apiserver/node-tokens.js';
import { ObjectStorage, type StoredObject } from '../apiserver/object-storage.js';
import { rfc3339 } from '../controllers/jobs/job-transitions.js';
import { nodeLeaseKey, READY_CONDITION, type NodeLease } from '../controllers/nodes/node-lifecycle.js';
import type { Clock } from '../controllers/runtime/clock.js';
import type { Logger } from '../controllers/runtime/logger.js';
import { ConflictError, LeaseNotFoundError, type KeyValue, type Store } from '../store/store.js';
import { requireNode, type AgentCaller } from './agent-auth.js';
import { invalidArgument, notFound, permissionDenied, unavailable } from './errors.js';
import { checkAgentVersion, checkDrivers, checkLabels, checkNodeName, checkResources, checkRunningAttempts } from './request-validation.js';

/** Lists the label keys the agent set, comma-separated (so that keys it stops sending are removed). */
export const AGENT_LABELS_ANNOTATION = 'openscheduler.io/agent-labels';
export const AGENT_READY_REASON = 'AgentReady';
/** Ready=False written for a heartbeat with shuttingDown: nothing new is placed on the node until it registers again. */
export const AGENT_SHUTTING_DOWN_REASON = 'AgentShuttingDown';
export const DEFAULT_HEARTBEAT_WRITE_INTERVAL_MS = 60_000;
const CONFLICT_RETRIES = 5;

export interface NodeRegistrationOptions {
  readonly store: Store;
  readonly nodeTokens: NodeTokenRegistry;
  readonly leaseTtlSeconds: number;
  readonly heartbeatWriteIntervalMs?: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface Registered {
  readonly nodeUid: string;
  /** Set when the caller used the join token. */
  readonly nodeToken?: string;
}

export class NodeRegistration {
  private readonly store: Store;
  private readonly storage: ObjectStorage;
  private readonly nodeTokens: NodeTokenRegistry;
  private readonly leaseTtlSeconds: number;
  private readonly heartbeatWriteIntervalMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** What this process last wrote (or saw) of each node's heartbeat state. */
  private readonly written = new Map<string, { digest: string; atMs: number }>();
  /** Registrations in progress, by node name (serialised). */
  private readonly registering = new Map<string, Promise<unknown>>();

  constructor(options: NodeRegistrationOptions) {
    this.store = options.store;
    this.storage = new ObjectStorage(options.store, nodeKind);
    this.nodeTokens = options.nodeTokens;
    this.leaseTtlSeconds = options.leaseTtlSeconds;
    this.heartbeatWriteIntervalMs = options.heartbeatWriteIntervalMs ?? DEFAULT_HEARTBEAT_WRITE_INTERVAL_MS;
    this.clock = options.clock;
    this.logger = options.logger;
  }

  async register(caller: AgentCaller, request: RegisterRequest): Promise<Registered> {
    const name = checkNodeName(request.nodeName);
    if (caller.kind === 'node') requireNode(caller, name);
    checkLabels(request.labels);
    checkResources(request.capacity, 'capacity', true);
    checkDrivers(request.drivers);
    checkAgentVersion(request.agentVersion);
    return this.serialised(name, async () => {
      if (caller.kind === 'join' && (await this.hasActiveToken(name))) {
        throw permissionDenied(`node "${name}" already has a node token; the join token cannot act for it (use that node's token)`);
      }
      const node = await this.upsertNode(name, request);
      await this.holdLease(name);
      const registered: Registered = { nodeUid: node.metadata.uid ?? '' };
      if (caller.kind !== 'join') return registered;
      const issued = await this.nodeTokens.create(name, {
        createdBy: 'join-token',
        description: 'issued at registration to the agent that presented the join token',
      });
      this.logger.info('agent endpoint: node token issued to a node registered with the join token', { node: name, tokenId: issued.id });
      return { ...registered, nodeToken: issued.token };
    });
  }

  async heartbeat(caller: Extract<AgentCaller, { kind: 'node' }>, request: HeartbeatRequest): Promise<void> {
    const name = checkNodeName(request.nodeName);
    requireNode(caller, name);
    checkResources(request.allocatable, 'allocatable', false);
    checkDrivers(request.drivers);
    checkRunningAttempts(request.runningAttempts);
    const held = await this.renewLease(name);
    const digest = heartbeatDigest(request);
    const seen = this.written.get(name);
    const now = this.clock.now();
    if (!held || seen === undefined || seen.digest !== digest || now - seen.atMs >= this.heartbeatWriteIntervalMs) {
      await this.writeHeartbeat(name, request, digest);
    }
    if (!held) await this.holdLease(name);
  }

  private async serialised<T>(name: string, work: () => Promise<T>): Promise<T> {
    const before = this.registering.get(name) ?? Promise.resolve();
    const mine = before.then(work, work);
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    this.registering.set(name, settled);
    try {
      return await mine;
    } finally {
      if (this.registering.get(name) === settled) this.registering.delete(name);
    }
  }

  private async hasActiveToken(name: string): Promise<boolean> {
    const now = this.clock.now();
    const tokens = await this.nodeTokens.list();
    return tokens.some((t) => t.nodeName === name && (t.expiresAt === undefined || Date.parse(t.expiresAt) > now));
  }

  private async upsertNode(name: string, request: RegisterRequest): Promise<StoredObject> {
    for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
      const current = await this.storage.get(undefined, name);
      const now = this.clock.now();
      const next = current === undefined ? newNode(name, request, now) : registeredNode(current.object as unknown as Node, request, now);
      const causes = nodeKind.validate(next);
      if (causes.length > 0) throw invalidArgument(`the node would be invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join('; ')}`);
      try {
        const written =
          current === undefined
            ? await this.storage.create(next as unknown as StoredObject)
            : await this.storage.update(next as unknown as StoredObject, current.kv.modRevision);
        this.written.set(name, { digest: heartbeatDigest({ allocatable: request.capacity, drivers: request.drivers }), atMs: now });
        this.logger.info('agent endpoint: node registered', { node: name, created: current === undefined });
        return written;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    throw unavailable(`node "${name}" kept changing while it was being registered; retry`);
  }

  private async writeHeartbeat(name: string, request: HeartbeatRequest, digest: string): Promise<void> {
    for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
      const current = await this.storage.get(undefined, name);
      if (current === undefined) {
        this.written.delete(name);
        throw notFound(`node "${name}" is not registered; call Register`);
      }
      const node = current.object as unknown as Node;
      const now = this.clock.now();
      const status = heartbeatStatus(node.status, request, now);
      const lastBeat = Date.parse(node.status?.lastHeartbeatTime ?? '');
      const stale = Number.isNaN(lastBeat) || now - lastBeat >= this.heartbeatWriteIntervalMs;
      if (!stale && sameObservedState(node.status, status)) {
        this.written.set(name, { digest, atMs: lastBeat });
        return;
      }
      try {
        await this.storage.update({ ...(node as unknown as StoredObject), status }, current.kv.modRevision);
        this.written.set(name, { digest, atMs: now });
        return;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    throw unavailable(`node "${name}" kept changing while its heartbeat was being recorded; retry`);
  }

  /** Keeps the node's lease alive; false when the key or its lease is gone. */
  private async renewLease(name: string): Promise<boolean> {
    const kv = await this.store.get(nodeLeaseKey(name));
    return kv === undefined ? false : this.keepAlive(kv);
  }

  private async keepAlive(kv: KeyValue): Promise<boolean> {
    if (kv.lease === undefined) return false;
    try {
      await this.store.keepAlive(kv.lease);
      return true;
    } catch (err) {
      if (err instanceof LeaseNotFoundError) return false;
      throw err;
    }
  }

  /** Makes sure the lease key exists on a live lease (renewing it, or granting a new one). */
  private async holdLease(name: string): Promise<void> {
    const key = nodeLeaseKey(name);
    for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
      const kv = await this.store.get(key);
      if (kv !== undefined && (await this.keepAlive(kv))) return;
      const lease = await this.store.grantLease(this.leaseTtlSeconds);
      const value: NodeLease = { holderIdentity: name, renewTime: rfc3339(this.clock.now()) };
      try {
        await this.store.put(key, JSON.stringify(value), kv === undefined ? { lease, ifAbsent: true } : { lease, ifRevision: kv.modRevision });
        return;
      } catch (err) {
        await this.store.revokeLease(lease);
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    throw unavailable(`the lease of node "${name}" kept changing; retry`);
  }
}

function quantities(resources: Resources): NodeResources {
  return { cpu: formatCpuMillis(resources.cpuMillis), memory: formatMemoryBytes(resources.memoryBytes) };
}

function healthyDrivers(drivers: RegisterRequest['drivers']): string[] {
  return drivers.filter((d) => d.healthy).map((d) => d.name);
}

/** What a heartbeat reports that may need a write. */
function heartbeatDigest(request: Pick<HeartbeatRequest, 'allocatable' | 'drivers'> & { readonly shuttingDown?: boolean }): string {
  return JSON.stringify([request.allocatable ?? null, request.drivers.map((d) => [d.name, d.healthy]), request.shuttingDown === true]);
}

function readyCondition(previous: readonly Condition[] | undefined, now: string, shuttingDown = false): Condition[] {
  const old = previous?.find((c) => c.type === READY_CONDITION);
  const status = shuttingDown ? 'False' : 'True';
  const ready: Condition = {
    type: READY_CONDITION,
    status,
    reason: shuttingDown ? AGENT_SHUTTING_DOWN_REASON : AGENT_READY_REASON,
    message: shuttingDown ? 'the agent is shutting down; nothing new is placed here until it registers again' : 'the agent holds its lease and posts heartbeats',
    lastTransitionTime: old?.status === status && old.lastTransitionTime !== undefined ? old.lastTransitionTime : now,
    lastHeartbeatTime: now,
  };
  return [...(previous ?? []).filter((c) => c.type !== READY_CONDITION), ready];
}

function registeredStatus(previous: NodeStatus | undefined, request: RegisterRequest, nowMs: number): NodeStatus {
  const now = rfc3339(nowMs);
  const capacity = quantities(request.capacity!);
  const status: NodeStatus = {
    ...previous,
    capacity,
    allocatable: { ...capacity },
    drivers: healthyDrivers(request.drivers),
    conditions: readyCondition(previous?.conditions, now),
    lastHeartbeatTime: now,
  };
  if (request.agentVersion !== '') status.agentVersion = request.agentVersion;
  else delete status.agentVersion;
  return status;
}

function newNode(name: string, request: RegisterRequest, nowMs: number): Node {
  const node: Node = {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Node',
    metadata: { name, uid: randomUUID(), generation: 1, creationTimestamp: rfc3339(nowMs), ...agentLabels(undefined, undefined, request.labels) },
    spec: {},
    status: registeredStatus(undefined, request, nowMs),
  };
  nodeKind.applyDefaults(node);
  return node;
}

function registeredNode(current: Node, request: RegisterRequest, nowMs: number): Node {
  const next = structuredClone(current);
  const { labels, annotations } = agentLabels(current.metadata.labels, current.metadata.annotations, request.labels);
  if (labels !== undefined) next.metadata.labels = labels;
  else delete next.metadata.labels;
  if (annotations !== undefined) next.metadata.annotations = annotations;
  else delete next.metadata.annotations;
  next.status = registeredStatus(current.status, request, nowMs);
  return next;
}

/** Labels and annotations after merging the agent's labels (see the file comment). */
function agentLabels(
  labels: Readonly<Record<string, string>> | undefined,
  annotations: Readonly<Record<string, string>> | undefined,
  sent: Readonly<Record<string, string>>,
): { labels?: Record<string, string>; annotations?: Record<string, string> } {
  const mergedLabels: Record<string, string> = { ...labels };
  const mergedAnnotations: Record<string, string> = { ...annotations };
  const previousKeys = (mergedAnnotations[AGENT_LABELS_ANNOTATION] ?? '').split(',').filter((k) => k !== '');
  for (const key of previousKeys) if (!Object.hasOwn(sent, key)) delete mergedLabels[key];
  Object.assign(mergedLabels, sent);
  const sentKeys = Object.keys(sent).sort();
  if (sentKeys.length > 0) mergedAnnotations[AGENT_LABELS_ANNOTATION] = sentKeys.join(',');
  else delete mergedAnnotations[AGENT_LABELS_ANNOTATION];
  return {
    ...(Object.keys(mergedLabels).length > 0 ? { labels: mergedLabels } : {}),
    ...(Object.keys(mergedAnnotations).length > 0 ? { annotations: mergedAnnotations } : {}),
  };
}

function heartbeatStatus(previous: NodeStatus | undefined, request: HeartbeatRequest, nowMs: number): NodeStatus {
  const now = rfc3339(nowMs);
  const status: NodeStatus = { ...previous, conditions: readyCondition(previous?.conditions, now, request.shuttingDown), lastHeartbeatTime: now };
  if (request.allocatable !== undefined) status.allocatable = quantities(request.allocatable);
  if (request.drivers.length > 0) status.drivers = healthyDrivers(request.drivers);
  return status;
}

/** True when nothing but heartbeat times differs and the node is and stays Ready. */
function sameObservedState(before: NodeStatus | undefined, after: NodeStatus): boolean {
  const ready = before?.conditions?.find((c) => c.type === READY_CONDITION);
  const readyAfter = after.conditions?.find((c) => c.type === READY_CONDITION);
  return (
    ready?.status === 'True' &&
    readyAfter?.status === 'True' &&
    JSON.stringify(before?.allocatable ?? null) === JSON.stringify(after.allocatable ?? null) &&
    JSON.stringify(before?.drivers ?? []) === JSON.stringify(after.drivers ?? [])
  );
}

// The AssignmentHub: what every node is assigned, kept from the shared job Informer, with a
// bounded history of changes per node so that an agent's WatchAssignments stream can resume
// from a revision after a reconnect (agent.proto). One hub per server process.
//
// Contract:
// - Assignment (assignment.ts): a job is assigned to node N while status.nodeName == N and the
//   phase is Scheduled or Running. Per job change the hub emits, for the nodes concerned only
//   (O(1) in the number of nodes and jobs): ADDED when a job becomes assigned to a node,
//   MODIFIED when the Assignment message of an assigned job changes, DELETED (carrying the last
//   known assignment) when it stops being assigned there. A change that leaves the message
//   unchanged (Scheduled -> Running) emits nothing.
// - Every event carries the store revision of the change. A node's history keeps at least its
//   `historyPerNode` most recent events; history.floor is the revision after which the history
//   is complete. subscribe(node, N):
//     N = 0: every current assignment as ADDED, ascending by the revision of its last change,
//            then a BOOKMARK at the hub's revision (which may equal the last ADDED's revision);
//     N > 0: the history after N, then a BOOKMARK at the hub's revision when that is newer;
//            OUT_OF_RANGE when N < floor (or a resync was requested for the node); `ahead`
//            when N is newer than anything the hub has seen (the caller waits and retries).
//   Then live events, each with a revision greater than every event before it. The snapshot
//   or replay and the registration of the subscriber happen in one synchronous step, so no
//   change falls between them.
// - A list by the informer (its first list, or a relist after a compaction) collapses changes:
//   the hub then drops every node's history (floor = the list's revision) and ends every
//   subscriber with OUT_OF_RANGE, so their agents take a fresh snapshot.
// - lookup(uid) finds a job by metadata.uid: a live job from the informer cache, or one deleted
//   recently (the last `deletedMemory` deletions), so that late reports and logs of a deleted
//   job can still be attributed.
// - Everything is in memory and synchronous; the hub owns no timer. close() unregisters it
//   from the informer and ends every subscriber with UNAVAILABLE.
import type { Job } from '../api/v1/index.js';
import { EventType, type Assignment, type AssignmentEvent } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import type { Informer } from '../controllers/runtime/informer.js';
import { silentLogger, type Logger } from '../controllers/runtime/logger.js';
import { assignedNode, assignmentOf, sameAssignment } from './assignment.js';
import { outOfRange, unavailable, type AgentApiError } from './errors.js';

export const DEFAULT_HISTORY_PER_NODE = 1024;
export const DEFAULT_DELETED_MEMORY = 10_000;

/** One watcher of a node's assignments (a WatchAssignments stream). */
export interface AssignmentSubscriber {
  /** A live change of the node's assignments. */
  deliver(event: AssignmentEvent): void;
  /** The hub can no longer serve this subscriber; it must end its call with `error`. */
  end(error: AgentApiError): void;
}

export type SubscribeResult =
  | { readonly kind: 'subscribed'; readonly initial: AssignmentEvent[]; readonly unsubscribe: () => void }
  /** The requested revision is newer than the hub's: wait for the informer and try again. */
  | { readonly kind: 'ahead'; readonly hubRevision: number };

/** A job found by uid. */
export interface KnownJob {
  readonly key: string;
  readonly job: Job;
  /** modRevision of the cached object (for a deleted job: the revision of the delete). */
  readonly revision: number;
  readonly deleted: boolean;
}

export interface AssignmentHubOptions {
  /** The shared informer over every Job (run by its owner, not by the hub). */
  readonly jobs: Informer<Job>;
  /** Events kept per node for resuming watches. Default 1024. */
  readonly historyPerNode?: number;
  /** Deleted jobs remembered for late reports and logs. Default 10,000. */
  readonly deletedMemory?: number;
  readonly logger?: Logger;
}

interface AssignedEntry {
  readonly assignment: Assignment;
  /** Revision of the event that last changed the assignment. */
  readonly revision: number;
}

interface NodeState {
  /** uid -> assignment. */
  readonly current: Map<string, AssignedEntry>;
  /** Ascending by revision; complete after `floor`. */
  history: AssignmentEvent[];
  floor: number;
  readonly subscribers: Set<AssignmentSubscriber>;
  /** A resync was requested: resuming is refused until the next snapshot. */
  resyncRequired: string | undefined;
}

export class AssignmentHub {
  private readonly jobs: Informer<Job>;
  private readonly historyPerNode: number;
  private readonly deletedMemory: number;
  private readonly logger: Logger;
  private readonly nodes = new Map<string, NodeState>();
  /** uid -> store key, for every cached job. */
  private readonly keysByUid = new Map<string, string>();
  /** uid -> node the job is assigned to. */
  private readonly assignedByUid = new Map<string, string>();
  /** Recently deleted jobs by uid, oldest first. */
  private readonly deleted = new Map<string, KnownJob>();
  /** Changes at or below this revision were collapsed by a list: never served as history. */
  private floor: number;
  /** The newest revision any change was seen at. */
  private lastRevision = 0;
  private readonly removeHandlers: () => void;
  private closed = false;

  constructor(options: AssignmentHubOptions) {
    const positive = (name: string, value: number): number => {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`AssignmentHub: option ${name} must be an integer >= 1, got ${String(value)}`);
      return value;
    };
    this.jobs = options.jobs;
    this.historyPerNode = positive('historyPerNode', options.historyPerNode ?? DEFAULT_HISTORY_PER_NODE);
    this.deletedMemory = positive('deletedMemory', options.deletedMemory ?? DEFAULT_DELETED_MEMORY);
    this.logger = options.logger ?? silentLogger;
    // Registered after a list, the hub gets the cache replayed at the cache's revision: no history before it.
    this.floor = this.jobs.revision();
    this.removeHandlers = this.jobs.addHandlers({
      onResync: (revision) => this.resync(revision),
      onAdd: (key, job, revision) => this.observe(key, undefined, job, revision),
      onUpdate: (key, oldJob, newJob, revision) => this.observe(key, oldJob, newJob, revision),
      onDelete: (key, job, revision) => this.observe(key, job, undefined, revision),
    });
  }

  /** The revision up to which every change is reflected (the resume point a BOOKMARK gives). */
  revision(): number {
    return Math.max(this.lastRevision, this.jobs.revision());
  }

  /** True once the informer has listed every job. */
  hasSynced(): boolean {
    return this.jobs.hasSynced();
  }

  waitForSync(signal: AbortSignal): Promise<boolean> {
    return this.jobs.waitForSync(signal);
  }

  /** See the contract at the top of the file. Throws OUT_OF_RANGE or (after close) UNAVAILABLE. */
  subscribe(nodeName: string, fromRevision: number, subscriber: AssignmentSubscriber): SubscribeResult {
    if (this.closed) throw unavailable('the agent endpoint is shutting down');
    const node = this.nodeState(nodeName);
    const current = this.revision();
    let initial: AssignmentEvent[];
    if (fromRevision === 0) {
      initial = [...node.current.values()]
        .sort((a, b) => a.revision - b.revision)
        .map((entry) => ({ type: EventType.ADDED, revision: entry.revision, job: entry.assignment }));
      initial.push({ type: EventType.BOOKMARK, revision: current });
      node.resyncRequired = undefined;
    } else {
      if (node.resyncRequired !== undefined) throw outOfRange(`from_revision ${fromRevision} cannot be resumed: ${node.resyncRequired}; watch again from 0`);
      if (fromRevision < node.floor) {
        throw outOfRange(`from_revision ${fromRevision} is too old (this server keeps changes after revision ${node.floor}); watch again from 0`);
      }
      if (fromRevision > current) return { kind: 'ahead', hubRevision: current };
      initial = node.history.slice(firstAfter(node.history, fromRevision));
      const last = initial.at(-1)?.revision ?? fromRevision;
      if (current > last) initial.push({ type: EventType.BOOKMARK, revision: current });
    }
    node.subscribers.add(subscriber);
    return { kind: 'subscribed', initial, unsubscribe: () => node.subscribers.delete(subscriber) };
  }

  /** The job with metadata.uid `uid`, live or recently deleted. */
  lookup(uid: string): KnownJob | undefined {
    const key = this.keysByUid.get(uid);
    if (key !== undefined) {
      const entry = this.jobs.getEntry(key);
      if (entry !== undefined && entry.object.metadata.uid === uid) return { key, job: entry.object, revision: entry.revision, deleted: false };
    }
    return this.deleted.get(uid);
  }

  /** The attempt of job `uid` assigned to `nodeName`, or undefined when none is. */
  assignedAttempt(nodeName: string, uid: string): number | undefined {
    return this.nodes.get(nodeName)?.current.get(uid)?.assignment.attempt;
  }

  /** Number of jobs assigned to `nodeName`. */
  assignedCount(nodeName: string): number {
    return this.nodes.get(nodeName)?.current.size ?? 0;
  }

  /**
   * Makes the node's agent take a fresh snapshot: its streams end with OUT_OF_RANGE and resuming
   * is refused until it watches from 0 (used when the agent runs attempts it should not).
   */
  requestResync(nodeName: string, why: string): void {
    const node = this.nodeState(nodeName);
    node.resyncRequired = why;
    for (const subscriber of [...node.subscribers]) subscriber.end(outOfRange(`${why}; watch again from 0`));
    node.subscribers.clear();
  }

  /** Stops following the informer and ends every subscriber with UNAVAILABLE. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.removeHandlers();
    for (const node of this.nodes.values()) {
      for (const subscriber of [...node.subscribers]) subscriber.end(unavailable('the agent endpoint is shutting down; reconnect'));
      node.subscribers.clear();
    }
  }

  private nodeState(nodeName: string): NodeState {
    let node = this.nodes.get(nodeName);
    if (node === undefined) {
      // Created on the node's first change or watch: every change after the floor is in its (empty) history.
      node = { current: new Map(), history: [], floor: this.floor, subscribers: new Set(), resyncRequired: undefined };
      this.nodes.set(nodeName, node);
    }
    return node;
  }

  private resync(revision: number): void {
    this.floor = Math.max(this.floor, revision);
    this.lastRevision = Math.max(this.lastRevision, revision);
    for (const node of this.nodes.values()) {
      node.history = [];
      node.floor = this.floor;
      for (const subscriber of [...node.subscribers]) {
        subscriber.end(outOfRange(`this server re-read every job at revision ${revision} (its watch fell behind); watch again from 0`));
      }
      node.subscribers.clear();
    }
    this.logger.info('assignment hub: job list read; watch history starts here', { revision });
  }

  private observe(key: string, oldJob: Job | undefined, newJob: Job | undefined, revision: number): void {
    this.lastRevision = Math.max(this.lastRevision, revision);
    const oldUid = oldJob?.metadata.uid;
    const newUid = newJob?.metadata.uid;
    if (oldJob !== undefined && oldUid !== undefined && oldUid !== newUid) {
      if (this.keysByUid.get(oldUid) === key) this.keysByUid.delete(oldUid);
      this.rememberDeleted(oldUid, { key, job: oldJob, revision, deleted: true });
      this.place(oldUid, undefined, revision, revision);
    }
    if (newJob !== undefined && newUid !== undefined) {
      this.keysByUid.set(newUid, key);
      this.deleted.delete(newUid);
      this.place(newUid, newJob, revision, this.jobs.getEntry(key)?.revision ?? revision);
    }
  }

  /** Moves job `uid` to where `job` says it belongs (nowhere when undefined), emitting the events. */
  private place(uid: string, job: Job | undefined, revision: number, modRevision: number): void {
    const target = job === undefined ? undefined : assignedNode(job);
    const previous = this.assignedByUid.get(uid);
    if (previous !== undefined && previous !== target) {
      const node = this.nodeState(previous);
      const last = node.current.get(uid);
      node.current.delete(uid);
      this.assignedByUid.delete(uid);
      if (last !== undefined) this.publish(node, { type: EventType.DELETED, revision, job: last.assignment });
    }
    if (job === undefined || target === undefined) return;
    const node = this.nodeState(target);
    const assignment = assignmentOf(job);
    const existing = node.current.get(uid);
    if (existing !== undefined && sameAssignment(existing.assignment, assignment)) return;
    // A list passes its own revision; the object's modRevision keeps snapshot order strict.
    node.current.set(uid, { assignment, revision: revision > this.floor ? revision : modRevision });
    this.assignedByUid.set(uid, target);
    this.publish(node, { type: existing === undefined ? EventType.ADDED : EventType.MODIFIED, revision, job: assignment });
  }

  private publish(node: NodeState, event: AssignmentEvent): void {
    // Changes found by a list are part of the state (snapshots), never of the history.
    if (event.revision <= this.floor) return;
    node.history.push(event);
    if (node.history.length >= 2 * this.historyPerNode) {
      const dropped = node.history.splice(0, node.history.length - this.historyPerNode);
      node.floor = Math.max(node.floor, dropped.at(-1)?.revision ?? node.floor);
    }
    for (const subscriber of [...node.subscribers]) subscriber.deliver(event);
  }

  private rememberDeleted(uid: string, known: KnownJob): void {
    this.deleted.delete(uid);
    this.deleted.set(uid, known);
    while (this.deleted.size > this.deletedMemory) {
      const oldest = this.deleted.keys().next();
      if (oldest.done === true) break;
      this.deleted.delete(oldest.value);
    }
  }
}

/** Index of the first event with revision > `revision` in an ascending list. */
function firstAfter(events: readonly AssignmentEvent[], revision: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.revision <= revision) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// The API's object types, shared with the server (type-only: nothing of the server is bundled).
import type { Condition, Job, JobAttempt, JobPhase, JobSpec, JobStatus, Node, NodeStatus } from '../../api/v1/types.generated.js';

export type { Condition, Job, JobAttempt, JobPhase, JobSpec, JobStatus, Node, NodeStatus };

/** A Kubernetes Event as GET /api/v1/namespaces/{ns}/events answers it. */
export interface KubeEvent {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly resourceVersion?: string; readonly creationTimestamp?: string };
  readonly involvedObject: { readonly kind?: string; readonly name?: string; readonly namespace?: string; readonly uid?: string };
  readonly reason?: string;
  readonly message?: string;
  readonly type?: string;
  readonly count?: number;
  readonly firstTimestamp?: string;
  readonly lastTimestamp?: string;
  readonly source?: { readonly component?: string; readonly host?: string };
}

export interface List<T> {
  readonly metadata: { readonly resourceVersion?: string; readonly continue?: string };
  readonly items: T[];
}

/** CPU in millicores and memory in bytes, as /dashboard/v1/nodes answers them. */
export interface DashboardResources {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
}

/** One node of GET /dashboard/v1/nodes[/NAME]: the Node plus readiness, lease and what is allocated on it. */
export interface DashboardNode {
  readonly node: Node;
  readonly ready: boolean;
  readonly leaseHeld: boolean;
  readonly capacity: DashboardResources;
  /** status.allocatable, else status.capacity. */
  readonly allocatable: DashboardResources;
  /** Requests of the jobs bound to the node in phase Scheduled or Running. */
  readonly allocated: DashboardResources & { readonly jobs: number };
}

/** GET /dashboard/v1/nodes: every node, sorted by name. */
export interface DashboardNodeList {
  readonly resourceVersion: string;
  readonly items: DashboardNode[];
}

/** GET /dashboard/v1/summary: counts for the overview, and the versions to watch jobs and nodes from. */
export interface DashboardSummary {
  readonly jobsResourceVersion: string;
  readonly nodesResourceVersion: string;
  readonly jobs: { readonly total: number; readonly byPhase: Readonly<Record<JobPhase, number>> };
  /** Jobs in the dead-letter queue (phase Failed). */
  readonly deadLetter: number;
  readonly nodes: { readonly total: number; readonly ready: number; readonly notReady: number };
  /** At most 10 Failed jobs, the latest completion first. */
  readonly recentFailures: Job[];
}

/** GET /dashboard/v1/jobs: one page of the matching jobs, and the values seen across all jobs. */
export interface DashboardJobPage {
  readonly resourceVersion: string;
  /** How many jobs match (all pages). */
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
  readonly items: Job[];
  readonly facets: { readonly namespaces: string[]; readonly drivers: string[]; readonly nodes: string[] };
}

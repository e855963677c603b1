// Test support for the agent endpoint: a real endpoint on 127.0.0.1:0 over a real SQLite store,
// a real job Informer, node tokens, file log store and event recorder, plus a gRPC client and
// helpers to write jobs as the scheduler and lifecycle would.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { jobKind, type Job, type JobStatus } from '../api/v1/index.js';
import {
  AgentServiceClient,
  type AssignmentEvent,
  type HeartbeatRequest,
  type LogAck,
  type LogChunk,
  type RegisterRequest,
  type RegisterResponse,
  type StatusAck,
  type StatusReport,
} from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { NodeTokenRegistry } from '../apiserver/node-tokens.js';
import { ObjectStorage, type StoredObject } from '../apiserver/object-storage.js';
import { EventRecorder } from '../controllers/runtime/event-recorder.js';
import { Informer, Manager } from '../controllers/runtime/index.js';
import { waitFor } from '../controllers/runtime/test-support.js';
import { decodeJob, JOBS_PREFIX } from '../controllers/scheduler/scheduler.js';
import { FileLogStore } from '../logs/log-store.js';
import { openStore, type Store } from '../store/index.js';
import { AgentEndpoint, type AgentEndpointOptions } from './agent-endpoint.js';

export const JOIN_TOKEN = 'osj_test-join-token-0123456789abcdef';

export interface Harness {
  readonly store: Store;
  readonly jobs: Informer<Job>;
  readonly nodeTokens: NodeTokenRegistry;
  readonly logs: FileLogStore;
  readonly recorder: EventRecorder;
  readonly endpoint: AgentEndpoint;
  readonly client: AgentServiceClient;
  readonly jobStorage: ObjectStorage;
  /** A node token for `nodeName`. */
  token(nodeName: string): Promise<string>;
  close(): Promise<void>;
}

export type EndpointOverrides = Partial<Omit<AgentEndpointOptions, 'store' | 'jobs' | 'nodeTokens' | 'logs' | 'recorder'>>;

export async function startHarness(overrides: EndpointOverrides = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'os-agentapi-'));
  const store = await openStore({ type: 'sqlite', path: join(dir, 'store.db'), compactIntervalMs: 0 });
  const jobs = new Informer<Job>({ store, prefix: JOBS_PREFIX, decode: decodeJob, name: 'jobs' });
  const manager = new Manager();
  manager.addInformer(jobs);
  await manager.start();
  const nodeTokens = new NodeTokenRegistry(store);
  const logs = new FileLogStore({ dir: join(dir, 'logs') });
  const recorder = new EventRecorder(store, { component: 'agent-endpoint' });
  const endpoint = new AgentEndpoint({
    store,
    jobs,
    nodeTokens,
    joinToken: JOIN_TOKEN,
    logs,
    recorder,
    leaseTtlSeconds: 30,
    heartbeatIntervalSeconds: 10,
    bookmarkIntervalMs: 100,
    catchUpTimeoutMs: 300,
    unknownJobWaitMs: 200,
    ...overrides,
  });
  const port = await endpoint.listen('127.0.0.1', 0);
  const client = new AgentServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    store,
    jobs,
    nodeTokens,
    logs,
    recorder,
    endpoint,
    client,
    jobStorage: new ObjectStorage(store, jobKind),
    token: async (nodeName) => (await nodeTokens.create(nodeName)).token,
    async close() {
      client.close();
      await endpoint.close();
      await manager.stop();
      await recorder.close();
      await logs.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function auth(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return md;
}

type Unary<Req, Res> = (request: Req, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, response: Res) => void) => grpc.ClientUnaryCall;

function unary<Req, Res>(fn: Unary<Req, Res>, request: Req, metadata: grpc.Metadata): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(request, metadata, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

export const register = (h: Harness, token: string | undefined, request: Partial<RegisterRequest>): Promise<RegisterResponse> =>
  unary(h.client.register.bind(h.client) as Unary<RegisterRequest, RegisterResponse>, registerRequest(request), auth(token));

export const heartbeat = (h: Harness, token: string | undefined, request: Partial<HeartbeatRequest>): Promise<unknown> =>
  unary(h.client.heartbeat.bind(h.client) as Unary<HeartbeatRequest, unknown>, { nodeName: '', drivers: [], runningAttempts: [], shuttingDown: false, ...request }, auth(token));

export const reportStatus = (h: Harness, token: string | undefined, request: Partial<StatusReport>): Promise<StatusAck> =>
  unary(h.client.reportStatus.bind(h.client) as Unary<StatusReport, StatusAck>, { nodeName: '', jobUid: '', attempt: 0, sequence: 0, state: 0, signal: '', reason: '', message: '', ...request }, auth(token));

export function registerRequest(request: Partial<RegisterRequest>): RegisterRequest {
  return {
    nodeName: '',
    labels: {},
    capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 },
    drivers: [{ name: 'process', healthy: true, detail: 'test' }],
    agentVersion: 'test-1',
    ...request,
  };
}

/** Sends `chunks` on one StreamLogs call; resolves to the ack. */
export function streamLogs(h: Harness, token: string | undefined, chunks: readonly Partial<LogChunk>[]): Promise<LogAck> {
  return new Promise((resolve, reject) => {
    const call = h.client.streamLogs(auth(token), (error, ack) => (error ? reject(error) : resolve(ack)));
    for (const chunk of chunks) call.write({ jobUid: '', attempt: 0, stream: 0, offset: 0, data: Buffer.alloc(0), eof: false, ...chunk });
    call.end();
  });
}

/** The expected gRPC error: rejects unless `promise` fails with `code` (and a message matching `details`). */
export async function expectCode(promise: Promise<unknown>, code: grpc.status, details?: RegExp): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (e.code !== code) throw new Error(`expected ${grpc.status[code]}, got ${grpc.status[e.code] ?? String(e.code)}: ${e.details}`, { cause: err });
    if (details !== undefined && !details.test(e.details)) throw new Error(`expected details matching ${String(details)}, got: ${e.details}`, { cause: err });
    return e;
  }
  throw new Error(`expected ${grpc.status[code]}, but the call succeeded`);
}

/** One WatchAssignments call that collects its events. */
export class WatchClient {
  readonly events: AssignmentEvent[] = [];
  readonly ended: Promise<grpc.StatusObject>;
  private readonly call: grpc.ClientReadableStream<AssignmentEvent>;

  constructor(h: Harness, token: string | undefined, nodeName: string, fromRevision: number) {
    this.call = h.client.watchAssignments({ nodeName, fromRevision }, auth(token));
    this.call.on('data', (event: AssignmentEvent) => this.events.push(event));
    this.call.on('error', () => undefined); // the status below tells
    this.ended = new Promise((resolve) => this.call.on('status', resolve));
  }

  async waitFor(what: string, condition: (events: readonly AssignmentEvent[]) => boolean): Promise<void> {
    await waitFor(what, () => condition(this.events));
  }

  /** Events other than BOOKMARK. */
  changes(): AssignmentEvent[] {
    return this.events.filter((e) => e.job !== undefined);
  }

  lastRevision(): number {
    return this.events.at(-1)?.revision ?? 0;
  }

  async cancel(): Promise<void> {
    this.call.cancel();
    await this.ended;
  }
}

/** Creates a Pending job (as the API server would). */
export async function createJob(h: Harness, name: string, spec: Partial<Job['spec']> = {}): Promise<Job> {
  const job: Job = {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default', uid: randomUUID(), generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { driver: 'process', workloadType: 'native', command: ['/bin/true'], ...spec },
    status: { phase: 'Pending' },
  };
  return (await h.jobStorage.create(job as unknown as StoredObject)) as unknown as Job;
}

/** Rewrites a job's status with `change` (ifRevision, as every controller). */
export async function updateJob(h: Harness, name: string, change: (status: JobStatus) => JobStatus): Promise<Job> {
  const current = await h.jobStorage.get('default', name);
  if (current === undefined) throw new Error(`job ${name} not found`);
  const job = current.object as unknown as Job;
  return (await h.jobStorage.update({ ...(job as unknown as StoredObject), status: change(job.status ?? {}) }, current.kv.modRevision)) as unknown as Job;
}

/** Binds a job as the scheduler does: a new attempt on `nodeName`. */
export function bindJob(h: Harness, name: string, nodeName: string): Promise<Job> {
  return updateJob(h, name, (s) => {
    const attempt = (s.attempts ?? 0) + 1;
    return { ...s, phase: 'Scheduled', nodeName, attempts: attempt, recentAttempts: [...(s.recentAttempts ?? []), { attempt, nodeName }] };
  });
}

/** Waits until the endpoint's job informer has seen revision `revision` (a job's resourceVersion, or a delete's revision). */
export async function settle(h: Harness, revision: number | string | undefined): Promise<void> {
  const target = Number(revision);
  if (!Number.isSafeInteger(target)) throw new Error(`settle: not a revision: ${String(revision)}`);
  await waitFor(`the job informer to reach revision ${target}`, () => h.jobs.revision() >= target);
}

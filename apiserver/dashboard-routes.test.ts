// The dashboard's server side: the pure query logic of its read model (filters, sorts, paging,
// facets, summary, node allocation, 10,000 jobs), then over real HTTP: a real API server on a
// SQLite store with real informers over it, objects made through the API, the static files from a
// temp dir (headers, traversal), and the composition root (startServer) wiring it all.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import express, { type Request } from 'express';
import winston from 'winston';
import type { Job, JobPhase, Node } from '../api/v1/index.js';
import { newNodeLeaseInformer, nodeLeaseKey } from '../controllers/nodes/node-lifecycle.js';
import { deepFreeze, type CacheEntry, type Informer } from '../controllers/runtime/informer.js';
import { newSchedulerInformers } from '../controllers/scheduler/scheduler.js';
import { resolveConfig, settingsFromFlags } from '../server/config.js';
import { defaultDashboardDir, startServer, type RunningServer } from '../server/server.js';
import { repoRoot } from '../test/harness/bin.js';
import { JOBS, jobManifest, NODES, TEST_TOKEN, TestServer, WatchReader, type TestResponse } from './api-test-harness.js';
import type { Authenticator, Principal } from './authn.js';
import {
  DEFAULT_JOB_LIMIT,
  nodeItems,
  parseJobQuery,
  queryJobs,
  summarize,
  type DashboardCaches,
  type JobQuery,
  type Snapshot,
} from './dashboard-routes.js';
import { DASHBOARD_NOT_BUILT, findPackageRoot } from './dashboard-static.js';
import { ApiError } from './status.js';

// --- fixtures of the pure tests ---

interface JobFixture {
  readonly namespace?: string;
  readonly phase?: JobPhase;
  readonly driver?: 'process' | 'podman' | 'incus';
  readonly node?: string;
  readonly labels?: Record<string, string>;
  readonly created?: string;
  readonly completed?: string;
  readonly dependsOn?: string[];
  readonly cpu?: string;
  readonly memory?: string;
}

let nextRevision = 1;
function jobEntry(name: string, f: JobFixture = {}): CacheEntry<Job> {
  const job: Job = {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: f.namespace ?? 'default',
      uid: `uid-${name}`,
      creationTimestamp: f.created ?? '2024-01-01T00:00:00Z',
      ...(f.labels !== undefined ? { labels: f.labels } : {}),
    },
    spec: {
      driver: f.driver ?? 'process',
      command: ['/bin/true'],
      ...(f.dependsOn !== undefined ? { dependsOn: f.dependsOn } : {}),
      ...(f.cpu !== undefined || f.memory !== undefined ? { resources: { cpu: f.cpu, memory: f.memory } } : {}),
    },
    ...(f.phase !== undefined
      ? { status: { phase: f.phase, ...(f.node !== undefined ? { nodeName: f.node } : {}), ...(f.completed !== undefined ? { completionTime: f.completed } : {}) } }
      : {}),
  };
  return { object: deepFreeze(job), revision: nextRevision++ };
}

function nodeEntry(name: string, status: Node['status'] = undefined): CacheEntry<Node> {
  const node: Node = { apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name, uid: `uid-${name}` }, ...(status ? { status } : {}) };
  return { object: deepFreeze(node), revision: nextRevision++ };
}

function snapshot<T>(entries: CacheEntry<T>[], revision = 1000): Snapshot<T> {
  return { revision, entries };
}

const names = (items: readonly Job[]): string[] => items.map((j) => `${j.metadata.namespace}/${j.metadata.name}`);
const query = (q: Record<string, string> = {}): JobQuery => parseJobQuery(q);

/** Runs `fn` and returns the 400 it throws (field and message). */
function badRequestOf(fn: () => unknown): { field: string | undefined; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status.code, 400);
    return { field: err.status.details?.causes?.[0]?.field, message: err.status.message ?? '' };
  }
  assert.fail('no error thrown');
}

void describe('dashboard read model (query logic)', () => {
  const jobs = snapshot([
    jobEntry('alpha', { created: '2024-01-01T00:00:03Z', labels: { team: 'data' } }),
    jobEntry('beta', { phase: 'Running', node: 'n1', created: '2024-01-01T00:00:01Z', driver: 'podman', labels: { team: 'ml' } }),
    jobEntry('gamma', { phase: 'Scheduled', node: 'n2', created: '2024-01-01T00:00:02Z' }),
    jobEntry('Delta-Big', { phase: 'Succeeded', node: 'n1', created: '2024-01-01T00:00:02Z', dependsOn: ['alpha'] }),
    jobEntry('epsilon', { phase: 'Failed', created: '2024-01-01T00:00:05Z', completed: '2024-01-02T00:00:00Z', dependsOn: ['alpha', 'beta'] }),
    jobEntry('alpha', { namespace: 'team-a', phase: 'Failed', created: '2024-01-01T00:00:02Z', dependsOn: ['beta'] }),
    jobEntry('eta', { namespace: 'team-a', phase: 'Pending', created: '2024-01-01T00:00:04Z', driver: 'incus', dependsOn: ['alpha'] }),
  ]);

  void it('defaults: newest first, limit 50, offset 0; unknown parameters are ignored', () => {
    const q = query({ whatever: 'x' });
    assert.deepEqual({ sort: q.sort, limit: q.limit, offset: q.offset, labels: q.labels }, { sort: '-creationTimestamp', limit: DEFAULT_JOB_LIMIT, offset: 0, labels: [] });
    const page = queryJobs(jobs, q);
    assert.equal(page.total, 7);
    assert.equal(page.resourceVersion, '1000');
    assert.deepEqual(names(page.items), [
      'default/epsilon',
      'team-a/eta',
      'default/alpha',
      'team-a/alpha',
      'default/gamma',
      'default/Delta-Big',
      'default/beta',
    ]);
  });

  void it('filters by namespace, phase (no phase counts as Pending), driver, node, labels, name substring and dependsOn', () => {
    const of = (q: Record<string, string>): string[] => names(queryJobs(jobs, query(q)).items).sort();
    assert.deepEqual(of({ namespace: 'team-a' }), ['team-a/alpha', 'team-a/eta']);
    assert.deepEqual(of({ phase: 'Pending' }), ['default/alpha', 'team-a/eta']);
    assert.deepEqual(of({ phase: 'Failed', namespace: 'default' }), ['default/epsilon']);
    assert.deepEqual(of({ driver: 'podman' }), ['default/beta']);
    assert.deepEqual(of({ node: 'n1' }), ['default/Delta-Big', 'default/beta']);
    assert.deepEqual(of({ labelSelector: 'team in (data,ml),team!=ml' }), ['default/alpha']);
    assert.deepEqual(of({ labelSelector: '!team' }).length, 5);
    assert.deepEqual(of({ q: '  ALP ' }), ['default/alpha', 'team-a/alpha']);
    assert.deepEqual(of({ q: 'delta-b' }), ['default/Delta-Big']);
    assert.deepEqual(of({ dependsOn: 'alpha', namespace: 'default' }), ['default/Delta-Big', 'default/epsilon']);
    assert.deepEqual(of({ dependsOn: 'alpha', namespace: 'team-a' }), ['team-a/eta']);
    assert.deepEqual(of({ dependsOn: 'beta', namespace: 'team-a' }), ['team-a/alpha']);
    assert.deepEqual(of({ namespace: '', phase: '', q: '   ' }).length, 7, 'empty values filter nothing');
  });

  void it('sorts four ways, ties broken by namespace then name; a descending sort is the exact reverse of its ascending one', () => {
    const order = (sort: string): string[] => names(queryJobs(jobs, query({ sort })).items);
    assert.deepEqual(order('creationTimestamp'), [
      'default/beta',
      'default/Delta-Big',
      'default/gamma',
      'team-a/alpha',
      'default/alpha',
      'team-a/eta',
      'default/epsilon',
    ]);
    assert.deepEqual(order('-creationTimestamp'), order('creationTimestamp').reverse());
    assert.deepEqual(order('name'), ['default/Delta-Big', 'default/alpha', 'team-a/alpha', 'default/beta', 'default/epsilon', 'team-a/eta', 'default/gamma']);
    assert.deepEqual(order('-name'), ['default/gamma', 'team-a/eta', 'default/epsilon', 'default/beta', 'team-a/alpha', 'default/alpha', 'default/Delta-Big']);
  });

  void it('pages: offset and limit cut the sorted matches; an offset at or past the end is an empty page', () => {
    const page = queryJobs(jobs, query({ sort: 'name', limit: '3', offset: '5' }));
    assert.deepEqual({ total: page.total, offset: page.offset, limit: page.limit }, { total: 7, offset: 5, limit: 3 });
    assert.deepEqual(names(page.items), ['team-a/eta', 'default/gamma']);
    assert.deepEqual(queryJobs(jobs, query({ offset: '7' })).items, []);
    assert.deepEqual(queryJobs(jobs, query({ offset: '999999' })).items, []);
    assert.equal(queryJobs(jobs, query({ limit: '1' })).items.length, 1);
    assert.equal(queryJobs(jobs, query({ limit: '500' })).items.length, 7);
  });

  void it('lists facets over all jobs (not just the matches), distinct and sorted', () => {
    const page = queryJobs(jobs, query({ namespace: 'team-a', phase: 'Failed' }));
    assert.deepEqual(page.facets, { namespaces: ['default', 'team-a'], drivers: ['incus', 'podman', 'process'], nodes: ['n1', 'n2'] });
  });

  void it('answers items as GET does (resourceVersion from the cache entry) without touching the frozen cache', () => {
    const entry = jobs.entries[1]!;
    const [item] = queryJobs(jobs, query({ q: 'beta' })).items;
    assert.equal(item!.metadata.resourceVersion, String(entry.revision));
    assert.deepEqual(Object.keys(item!.metadata), ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp', 'labels']);
    assert.deepEqual(item!.status, entry.object.status);
    assert.equal(entry.object.metadata.resourceVersion, undefined, 'the cached object is unchanged');
  });

  void it('refuses bad parameters with 400s naming the parameter and the rule', () => {
    const phase = badRequestOf(() => query({ phase: 'Done' }));
    assert.equal(phase.field, 'phase');
    assert.match(phase.message, /^phase: Unsupported value: "Done": supported values: "Pending", "Scheduled", "Running", "Succeeded", "Failed"$/);
    const sort = badRequestOf(() => query({ sort: 'age' }));
    assert.equal(sort.field, 'sort');
    assert.match(sort.message, /"-creationTimestamp", "creationTimestamp", "name", "-name"/);
    for (const limit of ['0', '501', 'ten', '1.5', '-1']) {
      const bad = badRequestOf(() => query({ limit }));
      assert.equal(bad.field, 'limit');
      assert.match(bad.message, /must be an integer from 1 to 500/);
    }
    for (const offset of ['-1', 'x', '1e3']) {
      const bad = badRequestOf(() => query({ offset }));
      assert.equal(bad.field, 'offset');
      assert.match(bad.message, /must be an integer >= 0/);
    }
    const q = badRequestOf(() => query({ q: 'x'.repeat(254) }));
    assert.equal(q.field, 'q');
    assert.match(q.message, /253 characters/);
    const dependsOn = badRequestOf(() => query({ dependsOn: 'alpha' }));
    assert.equal(dependsOn.field, 'namespace');
    assert.match(dependsOn.message, /dependsOn/);
    assert.match(badRequestOf(() => query({ labelSelector: 'a in (' })).message, /labelSelector/);
    assert.equal(badRequestOf(() => parseJobQuery({ namespace: { a: 'b' } })).field, 'namespace');
    assert.deepEqual(parseJobQuery({ phase: ['Running', 'Failed'] }).phase, 'Running', 'a repeated parameter: the first');
  });

  void it('summarizes phases, the dead-letter queue, node readiness and the newest failures', () => {
    const failures = Array.from({ length: 12 }, (_, i) =>
      jobEntry(`f${String(i).padStart(2, '0')}`, { phase: 'Failed', completed: `2024-02-${String(i + 1).padStart(2, '0')}T00:00:00Z` }),
    );
    const noCompletion = jobEntry('f-late', { phase: 'Failed', created: '2024-02-10T12:00:00Z' });
    const all = snapshot([...jobs.entries, ...failures, noCompletion], 77);
    const nodes = snapshot(
      [
        nodeEntry('n1', { conditions: [{ type: 'Ready', status: 'True' }] }),
        nodeEntry('n2', { conditions: [{ type: 'Ready', status: 'Unknown' }] }),
        nodeEntry('n3'),
      ],
      55,
    );
    const summary = summarize(all, nodes);
    assert.equal(summary.jobsResourceVersion, '77');
    assert.equal(summary.nodesResourceVersion, '55');
    assert.deepEqual(summary.jobs, { total: 20, byPhase: { Pending: 2, Scheduled: 1, Running: 1, Succeeded: 1, Failed: 15 } });
    assert.equal(summary.deadLetter, 15);
    assert.deepEqual(summary.nodes, { total: 3, ready: 1, notReady: 2 });
    assert.deepEqual(
      summary.recentFailures.map((j) => j.metadata.name),
      ['f11', 'f10', 'f-late', 'f09', 'f08', 'f07', 'f06', 'f05', 'f04', 'f03'],
      'newest completionTime (else creationTimestamp) first, at most 10',
    );
    assert.ok(summary.recentFailures.every((j) => j.metadata.resourceVersion !== undefined));
  });

  void it('reports nodes by name with the scheduler\'s allocation arithmetic (Scheduled and Running jobs, default requests)', () => {
    const nodes = snapshot([
      nodeEntry('n2'),
      nodeEntry('n1', { capacity: { cpu: '4', memory: '8Gi' }, allocatable: { cpu: '3500m', memory: '7Gi' }, conditions: [{ type: 'Ready', status: 'True' }] }),
    ]);
    const bound = snapshot([
      jobEntry('a', { phase: 'Running', node: 'n1', cpu: '500m', memory: '128Mi' }),
      jobEntry('b', { phase: 'Scheduled', node: 'n1' }), // defaults: 100m, 64Mi
      jobEntry('c', { phase: 'Succeeded', node: 'n1', cpu: '2' }),
      jobEntry('d', { phase: 'Failed', node: 'n2', cpu: '1' }),
      jobEntry('e', { phase: 'Running', node: 'n2', cpu: '1', memory: '1Gi' }),
    ]);
    const page = nodeItems(nodes, bound, (name) => name === 'n1');
    assert.equal(page.resourceVersion, '1000');
    assert.deepEqual(
      page.items.map(({ node, ...rest }) => ({ name: node.metadata.name, rv: node.metadata.resourceVersion !== undefined, ...rest })),
      [
        {
          name: 'n1',
          rv: true,
          ready: true,
          leaseHeld: true,
          capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 },
          allocatable: { cpuMillis: 3500, memoryBytes: 7 * 2 ** 30 },
          allocated: { cpuMillis: 600, memoryBytes: 192 * 2 ** 20, jobs: 2 },
        },
        {
          name: 'n2',
          rv: true,
          ready: false,
          leaseHeld: false,
          capacity: { cpuMillis: 0, memoryBytes: 0 },
          allocatable: { cpuMillis: 0, memoryBytes: 0 },
          allocated: { cpuMillis: 1000, memoryBytes: 2 ** 30, jobs: 1 },
        },
      ],
    );
  });

  void it('pages 10,000 cached jobs exactly as a naive filter and sort would', () => {
    const phases: JobPhase[] = ['Pending', 'Scheduled', 'Running', 'Succeeded', 'Failed'];
    const drivers = ['process', 'podman', 'incus'] as const;
    const entries: CacheEntry<Job>[] = [];
    for (let i = 0; i < 10_000; i++) {
      const k = (i * 7919) % 10_000; // names in no particular order
      entries.push(
        jobEntry(`job-${String(k).padStart(5, '0')}`, {
          namespace: `ns-${i % 4}`,
          phase: phases[i % 5],
          driver: drivers[i % 3],
          node: i % 5 === 2 ? `node-${i % 7}` : undefined,
          labels: { shard: String(i % 10) },
          created: new Date(Date.UTC(2024, 0, 1) + (i % 997) * 1000).toISOString().replace(/\.\d+Z$/, 'Z'), // many ties
        }),
      );
    }
    const big = snapshot(entries, 424242);
    const key = (j: Job): [number, string, string] => [Date.parse(j.metadata.creationTimestamp!), j.metadata.namespace!, j.metadata.name];
    const naive = (filter: (j: Job) => boolean, sort: string): string[] => {
      const matches = entries.map((e) => e.object).filter(filter);
      matches.sort((a, b) => {
        const [ta, na, ma] = key(a);
        const [tb, nb, mb] = key(b);
        const primary = sort === '-creationTimestamp' ? tb - ta : sort === 'creationTimestamp' ? ta - tb : sort === 'name' ? (ma < mb ? -1 : ma > mb ? 1 : 0) : ma < mb ? 1 : ma > mb ? -1 : 0;
        const tie = (na < nb ? -1 : na > nb ? 1 : 0) || (ma < mb ? -1 : ma > mb ? 1 : 0);
        return primary || (sort.startsWith('-') ? -tie : tie);
      });
      return names(matches);
    };

    const all = naive(() => true, '-creationTimestamp');
    const first = queryJobs(big, query());
    assert.equal(first.total, 10_000);
    assert.equal(first.resourceVersion, '424242');
    assert.deepEqual(names(first.items), all.slice(0, 50));
    assert.deepEqual(first.facets.namespaces, ['ns-0', 'ns-1', 'ns-2', 'ns-3']);
    assert.equal(first.facets.nodes.length, 7);

    for (const sort of ['-creationTimestamp', 'creationTimestamp', 'name', '-name']) {
      const expected = naive((j) => j.status?.phase === 'Running' && j.metadata.labels?.shard !== '7', sort);
      const pages: string[] = [];
      for (let offset = 0; offset < expected.length + 500; offset += 500) {
        const page = queryJobs(big, query({ phase: 'Running', labelSelector: 'shard!=7', sort, limit: '500', offset: String(offset) }));
        assert.equal(page.total, expected.length);
        pages.push(...names(page.items));
      }
      assert.deepEqual(pages, expected, `paging through sort ${sort} gives every match once, in order`);
    }
    const narrow = queryJobs(big, query({ namespace: 'ns-2', driver: 'incus', q: 'JOB-0', sort: 'name', offset: '10', limit: '20' }));
    const expected = naive((j) => j.metadata.namespace === 'ns-2' && j.spec.driver === 'incus' && j.metadata.name.startsWith('job-0'), 'name');
    assert.equal(narrow.total, expected.length);
    assert.deepEqual(names(narrow.items), expected.slice(10, 30));
  });
});

// --- over HTTP ---

const VIEWER_TOKEN = 'viewer-token-0123456789';

/** TEST_TOKEN is an admin, VIEWER_TOKEN a viewer (authorization itself is the real table). */
class RoleTokenAuthenticator implements Authenticator {
  readonly routes = express.Router();
  private readonly principals = new Map<string, Principal>([
    [TEST_TOKEN, { username: 'admin', role: 'admin' }],
    [VIEWER_TOKEN, { username: 'watcher', role: 'viewer' }],
  ]);
  authenticate(req: Request): Promise<Principal | undefined> {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return Promise.resolve(match === null ? undefined : this.principals.get(match[1]!));
  }
}

/** The shared informers of a control plane, run over a test server's store. */
class RunningCaches {
  readonly jobs: Informer<Job>;
  readonly nodes: Informer<Node>;
  readonly leases: Informer<unknown>;
  private readonly stop = new AbortController();
  private runs: Promise<void>[] = [];

  constructor(store: Parameters<typeof newSchedulerInformers>[0]) {
    ({ jobs: this.jobs, nodes: this.nodes } = newSchedulerInformers(store));
    this.leases = newNodeLeaseInformer(store);
  }
  get caches(): DashboardCaches {
    return { jobs: this.jobs, nodes: this.nodes, leases: this.leases };
  }
  start(): void {
    this.runs = [this.jobs, this.nodes, this.leases].map((i) => i.run(this.stop.signal));
  }
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.all(this.runs);
  }
  /** Waits until every cache has applied the store's revision `revision` (or later) of its prefix. */
  async caughtUp(cache: 'jobs' | 'nodes' | 'leases', revision: number): Promise<void> {
    for (let i = 0; this[cache].revision() < revision; i++) {
      assert.ok(i < 500, `the ${cache} cache never reached revision ${revision}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** A request with a raw (not normalized) path, e.g. `/assets/../x`. */
function rawRequest(url: string, path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function assertStatus(res: TestResponse, code: number, reason: string): void {
  assert.equal(res.status, code, res.text);
  assert.equal(res.body?.kind, 'Status', res.text);
  assert.equal(res.body?.reason, reason, res.text);
}

void describe('dashboard over HTTP (real API server, SQLite store, informers)', () => {
  let server: TestServer;
  let caches: RunningCaches;
  let dashboardDir: string;
  const INDEX = '<!doctype html><title>Open Scheduler</title><script type="module" src="/assets/app-3F2A.js"></script>';
  const SCRIPT = 'console.log("dashboard");';

  const ok = (res: TestResponse, code = 200): TestResponse => {
    assert.equal(res.status, code, res.text);
    return res;
  };
  const createJob = async (namespace: string, name: string, extra: Parameters<typeof jobManifest>[1] = {}): Promise<number> => {
    const path = `/apis/openscheduler.io/v1/namespaces/${namespace}/jobs`;
    return Number(ok(await server.request('POST', path, { body: jobManifest(name, extra) }), 201).body.metadata.resourceVersion);
  };
  const patchStatus = async (path: string, status: Record<string, unknown>): Promise<number> =>
    Number(ok(await server.request('PATCH', `${path}/status`, { body: { status }, contentType: 'application/merge-patch+json' })).body.metadata.resourceVersion);

  before(async () => {
    dashboardDir = await mkdtemp(join(tmpdir(), 'os-dashboard-'));
    await mkdir(join(dashboardDir, 'assets', 'nested'), { recursive: true });
    await writeFile(join(dashboardDir, 'index.html'), INDEX);
    await writeFile(join(dashboardDir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await writeFile(join(dashboardDir, 'assets', 'app-3F2A.js'), SCRIPT);
    await writeFile(join(dashboardDir, 'assets', 'app-3F2A.css'), 'body{}');
    await writeFile(join(dashboardDir, 'assets', '.hidden.js'), 'secret');
    await writeFile(join(dashboardDir, 'assets', 'notes.txt'), 'not an asset type');
    await writeFile(join(dashboardDir, 'secret.js'), 'outside assets');
    server = await TestServer.start({
      deps: (store) => {
        caches = new RunningCaches(store);
        return { auth: new RoleTokenAuthenticator(), dashboard: { dir: dashboardDir, caches: () => caches.caches } };
      },
    });
    caches.start();

    await createJob('default', 'alpha', { labels: { team: 'data' } });
    await createJob('default', 'beta', { spec: { driver: 'podman', image: 'localhost/busybox:test', resources: { cpu: '500m', memory: '128Mi' } } });
    await createJob('default', 'gamma');
    await createJob('default', 'delta');
    await createJob('default', 'epsilon');
    await createJob('default', 'omega', { spec: { dependsOn: ['alpha'] } });
    await createJob('team-a', 'zeta');
    await createJob('team-a', 'eta', { labels: { team: 'ml' } });
    await patchStatus(`${JOBS}/beta`, { phase: 'Running', nodeName: 'n1' });
    await patchStatus(`${JOBS}/gamma`, { phase: 'Scheduled', nodeName: 'n1' });
    await patchStatus(`${JOBS}/delta`, { phase: 'Succeeded', nodeName: 'n1', completionTime: '2024-01-01T00:00:00Z' });
    await patchStatus(`${JOBS}/epsilon`, { phase: 'Failed', reason: 'RetriesExhausted', completionTime: '2024-01-02T00:00:00Z' });
    const jobsRevision = await patchStatus('/apis/openscheduler.io/v1/namespaces/team-a/jobs/zeta', {
      phase: 'Failed',
      reason: 'RetriesExhausted',
      completionTime: '2024-01-03T00:00:00Z',
    });
    for (const name of ['n1', 'n2']) ok(await server.request('POST', NODES, { body: { apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name }, spec: {} } }), 201);
    const nodesRevision = await patchStatus(`${NODES}/n1`, {
      capacity: { cpu: '4', memory: '8Gi' },
      allocatable: { cpu: '3500m', memory: '7Gi' },
      conditions: [{ type: 'Ready', status: 'True' }],
    });
    const lease = await server.store.put(nodeLeaseKey('n1'), JSON.stringify({ holderIdentity: 'n1', renewTime: new Date().toISOString() }));
    await caches.caughtUp('jobs', jobsRevision);
    await caches.caughtUp('nodes', nodesRevision);
    await caches.caughtUp('leases', lease.revision);
  });

  after(async () => {
    await caches?.close();
    await server?.close();
    await rm(dashboardDir, { recursive: true, force: true });
  });

  void it('summarizes the cluster for a viewer, with no-store', async () => {
    const res = ok(await server.request('GET', '/dashboard/v1/summary', { token: VIEWER_TOKEN }));
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const summary = res.body;
    assert.equal(summary.jobsResourceVersion, String(caches.jobs.revision()));
    assert.equal(summary.nodesResourceVersion, String(caches.nodes.revision()));
    assert.deepEqual(summary.jobs, { total: 8, byPhase: { Pending: 3, Scheduled: 1, Running: 1, Succeeded: 1, Failed: 2 } });
    assert.equal(summary.deadLetter, 2);
    assert.deepEqual(summary.nodes, { total: 2, ready: 1, notReady: 1 });
    assert.deepEqual(
      summary.recentFailures.map((j: Job) => `${j.metadata.namespace}/${j.metadata.name}`),
      ['team-a/zeta', 'default/epsilon'],
    );
  });

  void it('answers job items exactly as GET on each job does', async () => {
    const page = ok(await server.request('GET', '/dashboard/v1/jobs?limit=500', { token: VIEWER_TOKEN })).body;
    assert.equal(page.total, 8);
    assert.deepEqual(page.facets, { namespaces: ['default', 'team-a'], drivers: ['podman', 'process'], nodes: ['n1'] });
    for (const item of page.items as Job[]) {
      const got = ok(await server.request('GET', `/apis/openscheduler.io/v1/namespaces/${item.metadata.namespace}/jobs/${item.metadata.name}`)).body;
      assert.deepEqual(item, got, `${item.metadata.name} as GET answers it`);
    }
  });

  void it('filters, sorts and pages through the query parameters', async () => {
    const list = async (query: string): Promise<string[]> =>
      (ok(await server.request('GET', `/dashboard/v1/jobs?${query}`)).body.items as Job[]).map((j) => `${j.metadata.namespace}/${j.metadata.name}`);
    assert.deepEqual(await list('phase=Failed&sort=name'), ['default/epsilon', 'team-a/zeta']);
    assert.deepEqual(await list('namespace=team-a&sort=-name'), ['team-a/zeta', 'team-a/eta']);
    assert.deepEqual(await list('driver=podman'), ['default/beta']);
    assert.deepEqual(await list('node=n1&sort=name'), ['default/beta', 'default/delta', 'default/gamma']);
    assert.deepEqual(await list('labelSelector=team%3Dml'), ['team-a/eta']);
    assert.deepEqual(await list('q=ETA&sort=name'), ['default/beta', 'team-a/eta', 'team-a/zeta']);
    assert.deepEqual(await list('namespace=default&dependsOn=alpha'), ['default/omega']);
    assert.deepEqual(await list('sort=name&limit=2&offset=3'), ['default/epsilon', 'team-a/eta']);
    assert.deepEqual(await list('offset=8'), []);
  });

  void it('answers bad parameters with a 400 Status naming the parameter (no-store too)', async () => {
    const phase = await server.request('GET', '/dashboard/v1/jobs?phase=Done', { token: VIEWER_TOKEN });
    assertStatus(phase, 400, 'BadRequest');
    assert.equal(phase.body.details.causes[0].field, 'phase');
    assert.match(phase.body.message, /Pending.*Scheduled.*Running.*Succeeded.*Failed/);
    assert.equal(phase.headers.get('cache-control'), 'no-store');
    assert.equal((await server.request('GET', '/dashboard/v1/jobs?limit=501')).body.details.causes[0].field, 'limit');
    assert.equal((await server.request('GET', '/dashboard/v1/jobs?sort=size')).body.details.causes[0].field, 'sort');
    assert.equal((await server.request('GET', '/dashboard/v1/jobs?dependsOn=alpha')).body.details.causes[0].field, 'namespace');
    assertStatus(await server.request('GET', '/dashboard/v1/jobs?labelSelector=a%20in'), 400, 'BadRequest');
  });

  void it('reports nodes with readiness, lease, capacity and allocation; one node by name; 404 for none', async () => {
    const page = ok(await server.request('GET', '/dashboard/v1/nodes', { token: VIEWER_TOKEN })).body;
    assert.equal(page.resourceVersion, String(caches.nodes.revision()));
    assert.deepEqual(
      page.items.map((i: { node: Node }) => i.node.metadata.name),
      ['n1', 'n2'],
    );
    const n1 = page.items[0];
    assert.deepEqual(
      { ready: n1.ready, leaseHeld: n1.leaseHeld, capacity: n1.capacity, allocatable: n1.allocatable, allocated: n1.allocated },
      {
        ready: true,
        leaseHeld: true,
        capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 },
        allocatable: { cpuMillis: 3500, memoryBytes: 7 * 2 ** 30 },
        allocated: { cpuMillis: 600, memoryBytes: 192 * 2 ** 20, jobs: 2 },
      },
    );
    assert.deepEqual(n1.node, ok(await server.request('GET', `${NODES}/n1`)).body, 'the node as GET answers it');
    assert.deepEqual({ ready: page.items[1].ready, leaseHeld: page.items[1].leaseHeld, jobs: page.items[1].allocated.jobs }, { ready: false, leaseHeld: false, jobs: 0 });

    const one = ok(await server.request('GET', '/dashboard/v1/nodes/n1', { token: VIEWER_TOKEN }));
    assert.equal(one.headers.get('cache-control'), 'no-store');
    assert.deepEqual(one.body, n1);
    const missing = await server.request('GET', '/dashboard/v1/nodes/n9');
    assertStatus(missing, 404, 'NotFound');
    assert.equal(missing.body.message, 'nodes.openscheduler.io "n9" not found');
  });

  void it('gives a resourceVersion to watch from: the watch brings the next change and nothing before it', async () => {
    const { resourceVersion } = ok(await server.request('GET', '/dashboard/v1/jobs?limit=1')).body;
    const watch = await WatchReader.open(server, `/apis/openscheduler.io/v1/jobs?watch=true&resourceVersion=${resourceVersion}`);
    try {
      assert.equal(watch.response.status, 200);
      await createJob('default', 'late');
      const [event] = await watch.waitFor(1);
      assert.equal(event!.type, 'ADDED');
      assert.equal(event!.object.metadata.name, 'late');
    } finally {
      watch.close();
    }
  });

  void it('needs authentication, answers HEAD and refuses other methods', async () => {
    for (const path of ['/dashboard/v1/summary', '/dashboard/v1/jobs', '/dashboard/v1/nodes', '/dashboard/v1/nodes/n1']) {
      assertStatus(await server.request('GET', path, { token: null }), 401, 'Unauthorized');
      const head = await server.request('HEAD', path, { token: VIEWER_TOKEN });
      assert.equal(head.status, 200, path);
      assert.equal(head.text, '');
      assertStatus(await server.request('POST', path, { token: VIEWER_TOKEN, body: {} }), 403, 'Forbidden');
      assertStatus(await server.request('DELETE', path), 405, 'MethodNotAllowed');
    }
  });

  void it('serves index.html at / without authentication, with helmet\'s headers and no-cache', async () => {
    const res = await fetch(`${server.url}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), INDEX);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.ok(res.headers.get('strict-transport-security') !== null);
    const head = await fetch(`${server.url}/`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    const post = await fetch(`${server.url}/`, { method: 'POST' });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  });

  void it('serves assets with immutable caching and their content type; the favicon too', async () => {
    const js = await fetch(`${server.url}/assets/app-3F2A.js`);
    assert.equal(js.status, 200);
    assert.equal(await js.text(), SCRIPT);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.ok(js.headers.get('content-security-policy') !== null);
    const css = await fetch(`${server.url}/assets/app-3F2A.css`);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    await css.body?.cancel();
    const icon = await fetch(`${server.url}/favicon.svg`);
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get('content-type'), 'image/svg+xml');
    await icon.body?.cancel();
  });

  void it('answers 404 to traversal, listings, dot files, unknown types and missing files, for anyone', async () => {
    for (const path of [
      '/assets/..%2Fpackage.json',
      '/assets/../x',
      '/assets/../secret.js',
      '/assets/%2e%2e/secret.js',
      '/assets/..',
      '/assets/',
      '/assets',
      '/assets/nested',
      '/assets/nested/',
      '/assets/.hidden.js',
      '/assets/notes.txt',
      '/assets/missing.js',
      '/assets/app-3F2A.js%00.png',
    ]) {
      const res = await rawRequest(server.url, path);
      assert.equal(res.status, 404, `${path}: ${res.body}`);
      assert.ok(!res.body.includes('outside assets') && !res.body.includes('secret'), path);
    }
    assert.equal((await rawRequest(server.url, '/assets/app-3F2A.js', 'PUT')).status, 405);
  });
});

void describe('dashboard without a build or caches', () => {
  let bare: TestServer;
  let unsynced: TestServer;
  let emptyDir: string;

  before(async () => {
    emptyDir = await mkdtemp(join(tmpdir(), 'os-dashboard-empty-'));
    bare = await TestServer.start();
    unsynced = await TestServer.start({
      deps: (store) => {
        const { jobs, nodes } = newSchedulerInformers(store); // never run: never synced
        const leases = newNodeLeaseInformer(store);
        return { dashboard: { dir: emptyDir, caches: () => ({ jobs, nodes, leases }) } };
      },
    });
  });
  after(async () => {
    await bare?.close();
    await unsynced?.close();
    await rm(emptyDir, { recursive: true, force: true });
  });

  void it('answers / with 404 text/plain saying how to build it (no dir, or no index.html in it)', async () => {
    for (const server of [bare, unsynced]) {
      for (const method of ['GET', 'HEAD']) {
        const res = await fetch(`${server.url}/`, { method });
        assert.equal(res.status, 404);
        assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
        assert.equal(await res.text(), method === 'GET' ? DASHBOARD_NOT_BUILT : '');
      }
      assert.equal((await rawRequest(server.url, '/assets/app.js')).status, 404);
      assert.equal((await rawRequest(server.url, '/favicon.svg')).status, 404);
    }
  });

  void it('answers the read model with 503 until the caches exist and have synced', async () => {
    assertStatus(await bare.request('GET', '/dashboard/v1/summary'), 503, 'ServiceUnavailable');
    const res = await unsynced.request('GET', '/dashboard/v1/jobs');
    assertStatus(res, 503, 'ServiceUnavailable');
    assert.match(res.body.message, /not synced/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });
});

void describe('startServer serves the dashboard', () => {
  const logger = winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });
  let dir: string;
  let server: RunningServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-dashboard-server-'));
    const build = join(dir, 'build');
    await mkdir(join(build, 'assets'), { recursive: true });
    await writeFile(join(build, 'index.html'), '<!doctype html><title>built</title>');
    const dataDir = join(dir, 'data');
    const options = resolveConfig({
      mode: 'dev',
      cwd: dataDir,
      flags: settingsFromFlags({ dataDir, httpPort: '0', httpsPort: '0', grpcPort: '0', bcryptCost: '10' }),
    }).server;
    server = await startServer(options, { logger, dashboardDir: build });
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('serves the built app and answers the read model from the control plane\'s caches', async () => {
    const index = await fetch(`${server.httpUrl}/`);
    assert.equal(index.status, 200);
    assert.equal(await index.text(), '<!doctype html><title>built</title>');
    const { token } = await server.mintToken('admin');
    const headers = { authorization: `Bearer ${token}` };
    const created = await fetch(`${server.httpUrl}${JOBS}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(jobManifest('wired')) });
    assert.equal(created.status, 201, await created.text());
    let summary: { jobs: { total: number }; nodes: { total: number } } | undefined;
    for (let i = 0; summary?.jobs.total !== 1; i++) {
      assert.ok(i < 500, `the summary never counted the job: ${JSON.stringify(summary)}`);
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      const res = await fetch(`${server.httpUrl}/dashboard/v1/summary`, { headers });
      assert.equal(res.status, 200);
      summary = (await res.json()) as typeof summary;
    }
    assert.equal(summary.nodes.total, 0);
  });

  void it('finds this package\'s dashboard/build by default', async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    assert.equal(await findPackageRoot(here, 'openscheduler'), repoRoot);
    assert.equal(await findPackageRoot(here, 'no-such-package'), undefined);
    assert.equal(await defaultDashboardDir(), join(repoRoot, 'dashboard', 'build'));
    assert.equal(JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')).name, 'openscheduler');
  });
});

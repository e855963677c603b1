import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Job, JobPhase, Node } from '../../api/v1/index.js';
import {
  allocationsByNode,
  bestNode,
  candidateNode,
  DEFAULT_CPU_MILLIS,
  DEFAULT_MEMORY_BYTES,
  filterNodes,
  jobRequests,
  scoreNodes,
  unschedulableMessage,
  type Allocation,
  type RejectReason,
} from './placement.js';

interface NodeOpts {
  cpu?: string;
  memory?: string;
  drivers?: string[];
  labels?: Record<string, string>;
  ready?: 'True' | 'False' | 'none';
  unschedulable?: boolean;
  capacityOnly?: boolean;
}

function node(name: string, o: NodeOpts = {}): Node {
  const resources = { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi' };
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Node',
    metadata: { name, ...(o.labels ? { labels: o.labels } : {}) },
    spec: o.unschedulable === undefined ? {} : { unschedulable: o.unschedulable },
    status: {
      ...(o.capacityOnly ? { capacity: resources } : { allocatable: resources, capacity: { cpu: '64', memory: '64Gi' } }),
      drivers: o.drivers ?? ['process'],
      conditions: o.ready === 'none' ? [] : [{ type: 'Ready', status: o.ready ?? 'True' }],
    },
  };
}

interface JobOpts {
  driver?: 'process' | 'podman' | 'incus';
  cpu?: string;
  memory?: string;
  selector?: Record<string, string>;
  phase?: JobPhase;
  nodeName?: string;
}

function job(name: string, o: JobOpts = {}): Job {
  const resources: { cpu?: string; memory?: string } = {};
  if (o.cpu !== undefined) resources.cpu = o.cpu;
  if (o.memory !== undefined) resources.memory = o.memory;
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default' },
    spec: {
      driver: o.driver ?? 'process',
      command: ['true'],
      ...(Object.keys(resources).length > 0 ? { resources } : {}),
      ...(o.selector ? { nodeSelector: o.selector } : {}),
    },
    status: { phase: o.phase ?? 'Pending', ...(o.nodeName !== undefined ? { nodeName: o.nodeName } : {}) },
  };
}

/** The allocation sums placement takes, from the jobs placed (only those Scheduled or Running count). */
const placed = (...jobs: Job[]): Map<string, Allocation> => allocationsByNode(jobs);
const candidates = (...nodes: Node[]) => nodes.map(candidateNode);

void describe('jobRequests', () => {
  void it('uses declared quantities and defaults to 100m cpu / 64Mi memory', () => {
    assert.deepEqual(jobRequests(job('a', { cpu: '1.5', memory: '1Gi' })), { cpuMillis: 1500, memoryBytes: 2 ** 30 });
    assert.deepEqual(jobRequests(job('a')), { cpuMillis: DEFAULT_CPU_MILLIS, memoryBytes: DEFAULT_MEMORY_BYTES });
    assert.deepEqual(jobRequests(job('a', { cpu: '250m' })), { cpuMillis: 250, memoryBytes: 64 * 2 ** 20 });
  });
});

void describe('allocationsByNode', () => {
  void it('sums the requests and counts the jobs that hold resources, by node', () => {
    const sums = allocationsByNode([
      job('a', { cpu: '1', memory: '1Gi', phase: 'Running', nodeName: 'n1' }),
      job('b', { phase: 'Scheduled', nodeName: 'n1' }),
      job('c', { cpu: '2', phase: 'Succeeded', nodeName: 'n1' }),
      job('d', { cpu: '2', phase: 'Failed', nodeName: 'n2' }),
      job('e', { cpu: '2', phase: 'Pending' }),
      job('f', { cpu: '300m', phase: 'Running', nodeName: 'n3' }),
    ]);
    assert.deepEqual(
      sums,
      new Map([
        ['n1', { cpuMillis: 1100, memoryBytes: 2 ** 30 + DEFAULT_MEMORY_BYTES, jobCount: 2 }],
        ['n3', { cpuMillis: 300, memoryBytes: DEFAULT_MEMORY_BYTES, jobCount: 1 }],
      ]),
    );
  });
});

void describe('filterNodes', () => {
  const cases: { name: string; job: Job; node: Node; placed?: Job[]; want: RejectReason | 'feasible' }[] = [
    { name: 'ready node with driver', job: job('j'), node: node('n'), want: 'feasible' },
    { name: 'Ready=False', job: job('j'), node: node('n', { ready: 'False' }), want: { type: 'NotReady' } },
    { name: 'no Ready condition', job: job('j'), node: node('n', { ready: 'none' }), want: { type: 'NotReady' } },
    { name: 'cordoned', job: job('j'), node: node('n', { unschedulable: true }), want: { type: 'Unschedulable' } },
    { name: 'unschedulable false', job: job('j'), node: node('n', { unschedulable: false }), want: 'feasible' },
    {
      name: 'missing driver',
      job: job('j', { driver: 'podman' }),
      node: node('n', { drivers: ['process', 'incus'] }),
      want: { type: 'MissingDriver', driver: 'podman' },
    },
    {
      name: 'selector matches',
      job: job('j', { selector: { disk: 'ssd', zone: 'a' } }),
      node: node('n', { labels: { disk: 'ssd', zone: 'a', extra: 'x' } }),
      want: 'feasible',
    },
    {
      name: 'selector value differs (first failing key by name)',
      job: job('j', { selector: { zone: 'b', disk: 'ssd' } }),
      node: node('n', { labels: { disk: 'hdd', zone: 'a' } }),
      want: { type: 'NodeSelectorMismatch', key: 'disk' },
    },
    {
      name: 'selector key absent',
      job: job('j', { selector: { gpu: 'true' } }),
      node: node('n'),
      want: { type: 'NodeSelectorMismatch', key: 'gpu' },
    },
    {
      name: 'cpu exactly fits',
      job: job('j', { cpu: '1' }),
      node: node('n', { cpu: '2' }),
      placed: [job('p', { cpu: '1', phase: 'Running', nodeName: 'n' })],
      want: 'feasible',
    },
    {
      name: 'cpu taken by scheduled and running jobs',
      job: job('j', { cpu: '1' }),
      node: node('n', { cpu: '2' }),
      placed: [job('p', { cpu: '600m', phase: 'Running', nodeName: 'n' }), job('q', { cpu: '500m', phase: 'Scheduled', nodeName: 'n' })],
      want: { type: 'InsufficientCpu', requestedMillis: 1000, freeMillis: 900 },
    },
    {
      name: 'finished jobs free their resources',
      job: job('j', { cpu: '2' }),
      node: node('n', { cpu: '2' }),
      placed: [job('p', { cpu: '2', phase: 'Succeeded', nodeName: 'n' }), job('q', { cpu: '2', phase: 'Failed', nodeName: 'n' })],
      want: 'feasible',
    },
    {
      name: 'memory short (defaults count for placed jobs)',
      job: job('j', { memory: '100Mi' }),
      node: node('n', { memory: '128Mi' }),
      placed: [job('p', { phase: 'Running', nodeName: 'n' })],
      want: { type: 'InsufficientMemory', requestedBytes: 100 * 2 ** 20, freeBytes: 64 * 2 ** 20 },
    },
    {
      name: 'capacity used when allocatable is absent',
      job: job('j', { cpu: '3' }),
      node: node('n', { cpu: '2', capacityOnly: true }),
      want: { type: 'InsufficientCpu', requestedMillis: 3000, freeMillis: 2000 },
    },
    {
      name: 'not-ready wins over other failures',
      job: job('j', { driver: 'incus', cpu: '100' }),
      node: node('n', { ready: 'False', unschedulable: true }),
      want: { type: 'NotReady' },
    },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      const result = filterNodes(c.job, candidates(c.node), placed(...(c.placed ?? [])));
      if (c.want === 'feasible') {
        assert.equal(result.rejected.length, 0, JSON.stringify(result.rejected));
        assert.equal(result.feasible[0]?.node.metadata.name, 'n');
      } else {
        assert.equal(result.feasible.length, 0);
        assert.deepEqual(result.rejected, [{ nodeName: 'n', reason: c.want }]);
      }
    });
  }

  void it('reports used resources and job count of feasible nodes', () => {
    const result = filterNodes(job('j'), candidates(node('a'), node('b')), placed(job('p', { cpu: '1', memory: '1Gi', phase: 'Running', nodeName: 'a' })));
    assert.deepEqual(
      result.feasible.map((f) => [f.node.metadata.name, f.used, f.jobCount]),
      [
        ['a', { cpuMillis: 1000, memoryBytes: 2 ** 30 }, 1],
        ['b', { cpuMillis: 0, memoryBytes: 0 }, 0],
      ],
    );
  });
});

void describe('scoreNodes', () => {
  const order = (j: Job, nodes: Node[], p: Map<string, Allocation>): string[] => {
    const feasible = filterNodes(j, candidates(...nodes), p).feasible;
    const sorted = scoreNodes(j, feasible).map((f) => f.node.metadata.name);
    assert.equal(bestNode(j, feasible)?.node.metadata.name, sorted[0], 'bestNode picks what scoreNodes ranks first');
    return sorted;
  };

  void it('prefers the least allocated fraction, not the most free absolute capacity', () => {
    // big: 2/8 cpu used (25 %); small: 0/2 (0 %), so small first although big has more free cpu.
    const p = placed(job('x', { cpu: '2', memory: '2Gi', phase: 'Running', nodeName: 'big' }));
    assert.deepEqual(order(job('j'), [node('big', { cpu: '8', memory: '8Gi' }), node('small', { cpu: '2', memory: '2Gi' })], p), ['small', 'big']);
  });

  void it('has no best node when none is feasible', () => {
    assert.equal(bestNode(job('j'), []), undefined);
    assert.deepEqual(scoreNodes(job('j'), []), []);
  });

  void it('breaks ties by fewest jobs, then by name', () => {
    const nodes = [node('c'), node('b'), node('a')];
    assert.deepEqual(order(job('j'), nodes, new Map()), ['a', 'b', 'c']);
    // Same allocated fraction on a and b; a carries two jobs, b one.
    const p = placed(
      job('x', { cpu: '500m', memory: '512Mi', phase: 'Running', nodeName: 'a' }),
      job('y', { cpu: '500m', memory: '512Mi', phase: 'Scheduled', nodeName: 'a' }),
      job('z', { cpu: '1', memory: '1Gi', phase: 'Running', nodeName: 'b' }),
    );
    assert.deepEqual(order(job('j'), [node('a'), node('b')], p), ['b', 'a']);
  });

  void it('spreads a sequence of equal jobs round-robin over equal nodes', () => {
    const nodes = [node('n1'), node('n2'), node('n3')];
    const bound: Job[] = [];
    const picks: string[] = [];
    for (let i = 0; i < 6; i++) {
      const j = job(`j${i}`, { cpu: '500m' });
      const best = order(j, nodes, placed(...bound))[0] ?? '';
      picks.push(best);
      bound.push(job(`j${i}`, { cpu: '500m', phase: 'Scheduled', nodeName: best }));
    }
    assert.deepEqual(picks, ['n1', 'n2', 'n3', 'n1', 'n2', 'n3']);
  });
});

void describe('unschedulableMessage', () => {
  void it('counts nodes per reason like kube-scheduler', () => {
    assert.equal(
      unschedulableMessage([
        { nodeName: 'a', reason: { type: 'MissingDriver', driver: 'podman' } },
        { nodeName: 'b', reason: { type: 'NotReady' } },
        { nodeName: 'c', reason: { type: 'MissingDriver', driver: 'podman' } },
      ]),
      '0/3 nodes are available: 1 node(s) not ready, 2 node(s) missing driver "podman".',
    );
  });

  void it('names every kind of reason', () => {
    assert.equal(
      unschedulableMessage([
        { nodeName: 'a', reason: { type: 'Unschedulable' } },
        { nodeName: 'b', reason: { type: 'NodeSelectorMismatch', key: 'disk' } },
        { nodeName: 'c', reason: { type: 'InsufficientCpu', requestedMillis: 2000, freeMillis: 500 } },
        { nodeName: 'd', reason: { type: 'InsufficientMemory', requestedBytes: 2, freeBytes: 1 } },
      ]),
      '0/4 nodes are available: 1 node(s) didn\'t match node selector "disk", 1 node(s) had insufficient cpu, ' +
        '1 node(s) had insufficient memory, 1 node(s) were unschedulable.',
    );
  });

  void it('says so when there are no nodes', () => {
    assert.equal(unschedulableMessage([]), '0/0 nodes are available: no nodes registered.');
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiObject, StatusCause } from '../meta.js';
import { nodeKind, nodeStatusText } from './index.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test fixtures are mutated freely

function node(): Obj {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Node',
    metadata: { name: 'worker-1.example.com', labels: { disk: 'ssd' } },
    spec: { unschedulable: false },
    status: {
      capacity: { cpu: '4', memory: '16Gi' },
      allocatable: { cpu: '3500m', memory: 16 * 2 ** 30 },
      drivers: ['process', 'podman', 'incus'],
      conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', lastHeartbeatTime: '2024-01-01T00:00:00Z', lastTransitionTime: '2024-01-01T00:00:00Z' }],
      lastHeartbeatTime: '2024-01-01T00:00:10Z',
      addresses: [{ type: 'Hostname', address: 'worker-1' }],
      agentVersion: '0.1.0',
    },
  };
}

function check(obj: Obj): StatusCause[] {
  nodeKind.applyDefaults(obj as ApiObject);
  return nodeKind.validate(obj);
}

const cases: Array<{ name: string; mutate: (n: Obj) => void; field: string; reason: string; message: string }> = [
  { name: 'kind Job', mutate: (n) => (n.kind = 'Job'), field: 'kind', reason: 'FieldValueNotSupported', message: 'supported values: "Node"' },
  { name: 'name uppercase', mutate: (n) => (n.metadata.name = 'Worker'), field: 'metadata.name', reason: 'FieldValueInvalid', message: 'a DNS-1123 subdomain' },
  { name: 'name with empty label', mutate: (n) => (n.metadata.name = 'a..b'), field: 'metadata.name', reason: 'FieldValueInvalid', message: 'a DNS-1123 subdomain' },
  { name: 'name too long', mutate: (n) => (n.metadata.name = `${'a'.repeat(60)}.`.repeat(5).slice(0, 254)), field: 'metadata.name', reason: 'FieldValueTooLong', message: '253' },
  { name: 'label value invalid', mutate: (n) => (n.metadata.labels = { zone: 'eu west' }), field: 'metadata.labels', reason: 'FieldValueInvalid', message: 'value of "zone"' },
  { name: 'unschedulable a string', mutate: (n) => (n.spec.unschedulable = 'yes'), field: 'spec.unschedulable', reason: 'FieldValueInvalid', message: 'must be of type boolean' },
  { name: 'spec unknown field (taints are not supported yet)', mutate: (n) => (n.spec.taints = []), field: 'spec.taints', reason: 'FieldValueNotSupported', message: 'unknown field' },
  { name: 'capacity garbage', mutate: (n) => (n.status.capacity.memory = 'lots'), field: 'status.capacity.memory', reason: 'FieldValueInvalid', message: 'must be a quantity' },
  { name: 'allocatable negative', mutate: (n) => (n.status.allocatable.cpu = '-1'), field: 'status.allocatable.cpu', reason: 'FieldValueInvalid', message: 'must not be negative' },
  { name: 'driver duplicate', mutate: (n) => (n.status.drivers = ['process', 'process']), field: 'status.drivers[1]', reason: 'FieldValueDuplicate', message: 'Duplicate value: "process"' },
  { name: 'driver name invalid', mutate: (n) => (n.status.drivers = ['Pod Man']), field: 'status.drivers[0]', reason: 'FieldValueInvalid', message: 'a DNS-1123 label' },
  { name: 'condition status invalid', mutate: (n) => (n.status.conditions = [{ type: 'Ready', status: 'yes' }]), field: 'status.conditions[0].status', reason: 'FieldValueNotSupported', message: '"True", "False", "Unknown"' },
  { name: 'heartbeat not a time', mutate: (n) => (n.status.lastHeartbeatTime = 'now'), field: 'status.lastHeartbeatTime', reason: 'FieldValueInvalid', message: 'RFC 3339' },
  { name: 'address without type', mutate: (n) => (n.status.addresses = [{ address: '10.0.0.1' }]), field: 'status.addresses[0].type', reason: 'FieldValueRequired', message: 'Required value' },
];

void describe('Node validation', () => {
  void it('accepts a registered node, a bare node and a node without spec', () => {
    assert.deepEqual(check(node()), []);
    assert.deepEqual(check({ apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name: 'n1' } }), []);
    assert.deepEqual(check({ apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name: 'n1' }, spec: {} }), []);
  });

  for (const c of cases) {
    void it(`${c.field}: ${c.name}`, () => {
      const n = node();
      c.mutate(n);
      const causes = check(n);
      assert.equal(causes.length, 1, JSON.stringify(causes, null, 1));
      assert.equal(causes[0]?.field, c.field);
      assert.equal(causes[0]?.reason, c.reason);
      assert.ok(causes[0]?.message.includes(c.message), causes[0]?.message);
    });
  }

  void it('validateStatus checks a node status', () => {
    assert.deepEqual(nodeKind.validateStatus(node().status), []);
    assert.deepEqual(
      nodeKind.validateStatus({ capacity: { cpu: 'x' }, drivers: 'process' }).map((c) => c.field).sort(),
      ['status.capacity.cpu', 'status.drivers'],
    );
  });
});

void describe('Node defaults, selectors and columns', () => {
  void it('defaults spec to an empty object and leaves the rest alone', () => {
    const n: Obj = { apiVersion: 'openscheduler.io/v1', kind: 'Node', metadata: { name: 'n1' } };
    nodeKind.applyDefaults(n as ApiObject);
    assert.deepEqual(n.spec, {});
    assert.equal(n.status, undefined);
  });

  void it('answers field selectors', () => {
    const n = node() as ApiObject;
    assert.equal(nodeKind.fieldSelectors['metadata.name']?.(n), 'worker-1.example.com');
    assert.equal(nodeKind.fieldSelectors['spec.unschedulable']?.(n), 'false');
    (n.spec as Obj).unschedulable = true;
    assert.equal(nodeKind.fieldSelectors['spec.unschedulable']?.(n), 'true');
    assert.equal(nodeKind.fieldSelectors['spec.unschedulable']?.({ ...n, spec: {} }), 'false');
  });

  void it('shows Ready/NotReady/Unknown and SchedulingDisabled', () => {
    const n = node();
    assert.equal(nodeStatusText(n as ApiObject), 'Ready');
    n.status.conditions[0].status = 'False';
    assert.equal(nodeStatusText(n as ApiObject), 'NotReady');
    n.spec.unschedulable = true;
    assert.equal(nodeStatusText(n as ApiObject), 'NotReady,SchedulingDisabled');
    delete n.status.conditions;
    assert.equal(nodeStatusText(n as ApiObject), 'Unknown,SchedulingDisabled');
  });

  void it('renders table cells', () => {
    const cells = Object.fromEntries(nodeKind.columns.map((c) => [c.name, c.cell(node() as ApiObject)]));
    assert.deepEqual(cells, { Status: 'Ready', Drivers: 'process,podman,incus', CPU: '4', Memory: '16Gi', Version: '0.1.0' });
    assert.deepEqual(
      nodeKind.columns.filter((c) => c.priority === 1).map((c) => c.name),
      ['CPU', 'Memory', 'Version'],
    );
  });

  void it('describes the kind', () => {
    assert.equal(nodeKind.namespaced, false);
    assert.equal(nodeKind.plural, 'nodes');
    assert.equal(nodeKind.listKind, 'NodeList');
    assert.deepEqual(nodeKind.shortNames, ['osn']);
    assert.equal(nodeKind.admit, undefined);
  });
});

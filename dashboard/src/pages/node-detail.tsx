// One node: readiness, addresses, drivers, resources (capacity, allocatable, allocated), heartbeat,
// conditions, and the jobs placed on it (the jobs table fixed to node=NAME). Live like the nodes
// page: read once, then the node's watch and the watch of the jobs bound to it re-read it,
// throttled; a DELETED node keeps its last state under a banner.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { WatchEvent } from '../api.js';
import { Age } from '../components/age.js';
import { ConditionsTable } from '../components/conditions-table.js';
import { DEFAULT_COLUMNS, JobTable } from '../components/job-table.js';
import { useWatchFrom } from '../components/live.js';
import { CpuUsage, Heartbeat, MemoryUsage, ReadyBadge, readyCondition, Tags } from '../components/node-info.js';
import { formatBytes, formatCount, formatCpu, formatTime } from '../format.js';
import { useApi, useLoad, useThrottled, useWatch } from '../hooks.js';
import { href } from '../router.js';
import type { DashboardNode, DashboardNodeList, DashboardResources, Job, Node } from '../types.js';
import { JOBS_PATH, NODES_PATH, REREAD_THROTTLE_MS } from './nodes.js';
import { ErrorNote, LoadingOrError } from '../components/load-state.js';

/** The jobs table's columns here: the node column would repeat this node's name. */
const JOB_COLUMNS = DEFAULT_COLUMNS.filter((column) => column !== 'node');

export function NodeDetailPage({ name }: { name: string }) {
  // Keyed: another node is a fresh page (no state carried over).
  return <NodeDetail key={name} name={name} />;
}

function NodeDetail({ name }: { name: string }) {
  const api = useApi();
  // The list (few nodes) carries the cache's resourceVersion the watches start from; a node that
  // is not there is asked for by name for the server's own 404 Status.
  const loaded = useLoad(async (signal): Promise<{ item: DashboardNode; resourceVersion: string }> => {
    const list = await api.get<DashboardNodeList>('/dashboard/v1/nodes', undefined, signal);
    const item = list.items.find((i) => i.node.metadata.name === name) ?? (await api.get<DashboardNode>(`/dashboard/v1/nodes/${encodeURIComponent(name)}`, undefined, signal));
    return { item, resourceVersion: list.resourceVersion };
  }, name);
  const watch = useWatchFrom(loaded.data, (read) => read.resourceVersion);
  const [deleted, setDeleted] = useState(false);
  const refresh = useThrottled(loaded.reload, REREAD_THROTTLE_MS);
  const expired = (): void => {
    watch.expired();
    loaded.reload();
  };
  useWatch<Node>(
    NODES_PATH,
    { fieldSelector: `metadata.name=${name}` },
    watch.from,
    (event: WatchEvent<Node>) => {
      setDeleted(event.type === 'DELETED');
      if (event.type !== 'DELETED') refresh();
    },
    expired,
  );
  useWatch<Job>(JOBS_PATH, { fieldSelector: `status.nodeName=${name}` }, watch.from, refresh, expired);

  const item = loaded.data?.item;
  if (item === undefined) {
    return (
      <section data-testid="node-detail">
        <NodeTitle name={name} />
        <LoadingOrError error={loaded.error} />
      </section>
    );
  }
  const { node } = item;
  const status = node.status ?? {};
  const ready = readyCondition(node);
  return (
    <section data-testid="node-detail" class="node-detail">
      <div class="page-header">
        <NodeTitle name={name} />
        <ReadyBadge ready={item.ready && !deleted} node={node} testid="node-ready" />
        {node.spec?.unschedulable === true && <span class="tag cordoned">unschedulable</span>}
        {!deleted && watch.from !== undefined && <span class="live">live</span>}
      </div>
      {deleted && (
        <p class="deleted-banner" data-testid="node-deleted">
          This node was deleted. What follows is its last known state.
        </p>
      )}
      {loaded.error !== undefined && !deleted && (
        <ErrorNote error={loaded.error} />
      )}
      <div class="grid2">
        <div class="panel">
          <h3>Node</h3>
          <dl class="fields">
            <dt>Ready</dt>
            <dd>
              {ready === undefined ? <span class="muted">not reported</span> : `${ready.status}${ready.reason !== undefined ? ` · ${ready.reason}` : ''}`}
              {ready?.message !== undefined && <div class="muted">{ready.message}</div>}
            </dd>
            <dt>Heartbeat</dt>
            <dd>
              <Heartbeat node={node} leaseHeld={item.leaseHeld} />
            </dd>
            <dt>Addresses</dt>
            <dd>
              {(status.addresses ?? []).length === 0 ? (
                <span class="muted">—</span>
              ) : (
                (status.addresses ?? []).map((a) => (
                  <div key={`${a.type}/${a.address}`}>
                    <span class="muted">{a.type}</span> <span class="mono">{a.address}</span>
                  </div>
                ))
              )}
            </dd>
            <dt>Drivers</dt>
            <dd>
              <Tags values={status.drivers} />
            </dd>
            <dt>Agent version</dt>
            <dd class="mono">{status.agentVersion ?? <span class="muted">—</span>}</dd>
            <dt>Labels</dt>
            <dd>
              <Tags values={node.metadata.labels} />
            </dd>
            <dt>Registered</dt>
            <dd title={formatTime(node.metadata.creationTimestamp)}>
              <Age time={node.metadata.creationTimestamp} />
            </dd>
          </dl>
        </div>
        <div class="panel">
          <h3>Resources</h3>
          <table class="resources" data-testid="node-resources">
            <thead>
              <tr>
                <th />
                <th class="num">Capacity</th>
                <th class="num">Allocatable</th>
                <th class="num">Allocated</th>
                <th>Use of allocatable</th>
              </tr>
            </thead>
            <tbody>
              <ResourceRow resource="cpu" label="CPU (cores)" item={item} pick={(r) => r.cpuMillis} format={formatCpu} usage={(used, total) => <CpuUsage usedMillis={used} totalMillis={total} />} />
              <ResourceRow resource="memory" label="Memory" item={item} pick={(r) => r.memoryBytes} format={formatBytes} usage={(used, total) => <MemoryUsage usedBytes={used} totalBytes={total} />} />
            </tbody>
          </table>
          <p class="muted note" data-testid="node-allocated-jobs">
            {formatCount(item.allocated.jobs)} {item.allocated.jobs === 1 ? 'job' : 'jobs'} Scheduled or Running here.
          </p>
        </div>
      </div>
      <div class="panel">
        <h3>Conditions</h3>
        <ConditionsTable conditions={status.conditions} testid="node-conditions" />
      </div>
      <div class="panel">
        <h3>Jobs on this node</h3>
        <JobTable fixed={{ node: name }} columns={JOB_COLUMNS} testid="node-jobs" emptyText="No job has been placed on this node." />
      </div>
    </section>
  );
}

function NodeTitle({ name }: { name: string }) {
  return (
    <h2>
      <a class="muted" href={href(['nodes'])}>
        Nodes
      </a>
      <span class="muted"> / </span>
      {name}
    </h2>
  );
}

/** One resource's capacity, allocatable and allocated amounts, and the allocated share as a bar. */
function ResourceRow({
  resource,
  label,
  item,
  pick,
  format,
  usage,
}: {
  resource: 'cpu' | 'memory';
  label: string;
  item: DashboardNode;
  pick: (amounts: DashboardResources) => number;
  format: (amount: number) => string;
  usage: (used: number, total: number) => JSX.Element;
}) {
  return (
    <tr data-resource={resource}>
      <td>{label}</td>
      <td class="num" data-testid={`node-capacity-${resource}`}>
        {format(pick(item.capacity))}
      </td>
      <td class="num" data-testid={`node-allocatable-${resource}`}>
        {format(pick(item.allocatable))}
      </td>
      <td class="num" data-testid={`node-allocated-${resource}`}>
        {format(pick(item.allocated))}
      </td>
      <td>{usage(pick(item.allocated), pick(item.allocatable))}</td>
    </tr>
  );
}

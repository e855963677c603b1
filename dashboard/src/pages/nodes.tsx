// Every node: readiness, allocation against allocatable CPU and memory, jobs, drivers,
// heartbeat. Live: /dashboard/v1/nodes is read once; the node and job watches (from that
// answer's resourceVersion) keep running, and their events re-read it, throttled (allocations
// change when jobs bind or finish).
import { useWatchFrom } from '../components/live.js';
import { CpuUsage, Heartbeat, MemoryUsage, ReadyBadge, Tags } from '../components/node-info.js';
import { formatCount } from '../format.js';
import { useApi, useLoad, useThrottled, useWatch } from '../hooks.js';
import { href } from '../router.js';
import type { DashboardNodeList, Job, Node } from '../types.js';
import { ErrorNote, Loading } from '../components/load-state.js';

export const NODES_PATH = '/apis/openscheduler.io/v1/nodes';
export const JOBS_PATH = '/apis/openscheduler.io/v1/jobs';
/** Re-reads after watch events happen at most this often. */
export const REREAD_THROTTLE_MS = 500;
/** Only jobs bound to a node change allocations (a job that leaves a node arrives as DELETED). */
const BOUND_JOBS = { fieldSelector: 'status.nodeName!=' };

export function NodesPage() {
  const api = useApi();
  const loaded = useLoad((signal) => api.get<DashboardNodeList>('/dashboard/v1/nodes', undefined, signal), 'nodes');
  const watch = useWatchFrom(loaded.data, (list) => list.resourceVersion);
  const refresh = useThrottled(loaded.reload, REREAD_THROTTLE_MS);
  const expired = (): void => {
    watch.expired();
    loaded.reload();
  };
  useWatch<Node>(NODES_PATH, {}, watch.from, refresh, expired);
  useWatch<Job>(JOBS_PATH, BOUND_JOBS, watch.from, refresh, expired);

  const items = loaded.data?.items ?? [];
  const ready = items.filter((item) => item.ready).length;
  return (
    <section data-testid="nodes-page">
      <div class="page-header">
        <h2>Nodes</h2>
        {loaded.data !== undefined && (
          <span class="muted" data-testid="nodes-summary">
            {formatCount(items.length)} {items.length === 1 ? 'node' : 'nodes'} · {formatCount(ready)} ready
            {items.length - ready > 0 && <span class="bad-text"> · {formatCount(items.length - ready)} not ready</span>}
          </span>
        )}
        {watch.from !== undefined && <span class="live">live</span>}
      </div>
      {loaded.error !== undefined && (
        <ErrorNote error={loaded.error} />
      )}
      {loaded.data === undefined ? (
        loaded.error === undefined && (
          <Loading />
        )
      ) : (
        <div class="table-wrap">
          <table data-testid="nodes-table" class="nodes-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Status</th>
                <th>CPU allocated</th>
                <th>Memory allocated</th>
                <th class="num">Jobs</th>
                <th>Drivers</th>
                <th>Heartbeat</th>
                <th>Agent</th>
                <th>Labels</th>
              </tr>
            </thead>
            <tbody>
              {items.length === 0 ? (
                <tr>
                  <td colSpan={9} class="empty">
                    No nodes have registered yet. Start an agent: <code>openscheduler agent --server HOST:PORT --token TOKEN</code>
                  </td>
                </tr>
              ) : (
                items.map((item) => {
                  const { node } = item;
                  const name = node.metadata.name;
                  return (
                    <tr key={name} data-testid="node-row" data-name={name} data-ready={String(item.ready)}>
                      <td>
                        <a href={href(['nodes', name])}>{name}</a>
                      </td>
                      <td>
                        <ReadyBadge ready={item.ready} node={node} />
                        {node.spec?.unschedulable === true && <span class="tag cordoned">unschedulable</span>}
                      </td>
                      <td>
                        <CpuUsage usedMillis={item.allocated.cpuMillis} totalMillis={item.allocatable.cpuMillis} />
                      </td>
                      <td>
                        <MemoryUsage usedBytes={item.allocated.memoryBytes} totalBytes={item.allocatable.memoryBytes} />
                      </td>
                      <td class="num">{formatCount(item.allocated.jobs)}</td>
                      <td>
                        <Tags values={node.status?.drivers} />
                      </td>
                      <td>
                        <Heartbeat node={node} leaseHeld={item.leaseHeld} />
                      </td>
                      <td class="mono">{node.status?.agentVersion ?? <span class="muted">—</span>}</td>
                      <td>
                        <Tags values={node.metadata.labels} />
                      </td>
                    </tr>
                  );
                })
              )}
            </tbody>
          </table>
        </div>
      )}
      {loaded.data !== undefined && items.length > 0 && (
        <p class="muted note">
          Allocated: the resource requests of the jobs bound to a node (Scheduled or Running) against what the node offers to jobs (allocatable).
        </p>
      )}
    </section>
  );
}

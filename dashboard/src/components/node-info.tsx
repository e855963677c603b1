// Pieces shown by the nodes page and the node detail page: readiness, usage bars, heartbeat.
import { formatBytes, formatCpu } from '../format.js';
import type { Condition, Node } from '../types.js';
import { Age } from './age.js';

/** The node's Ready condition, if it reported one. */
export function readyCondition(node: Node): Condition | undefined {
  return node.status?.conditions?.find((c) => c.type === 'Ready');
}

/** "Ready" / "NotReady" as a badge; the condition's reason and message on hover. */
export function ReadyBadge({ ready, node, testid }: { ready: boolean; node: Node; testid?: string }) {
  const condition = readyCondition(node);
  const why = [condition?.reason, condition?.message].filter((s) => s !== undefined && s !== '').join(': ');
  return (
    <span class={`badge ${ready ? 'ready' : 'notready'}`} title={why === '' ? undefined : why} data-testid={testid}>
      {ready ? 'Ready' : 'NotReady'}
    </span>
  );
}

/** `used / total` as text and a bar (red when full or over). */
export function UsageBar({ used, total, format, unit = '' }: { used: number; total: number; format: (n: number) => string; unit?: string }) {
  const fraction = total > 0 ? used / total : used > 0 ? 1 : 0;
  const percent = Math.min(100, Math.round(fraction * 1000) / 10);
  return (
    <div class="usage" title={total > 0 ? `${percent}% allocated` : 'nothing allocatable'}>
      <span class="bar-label">
        {format(used)} / {format(total)}
        {unit}
      </span>
      <div class={`bar${fraction >= 1 && used > 0 ? ' full' : ''}`}>
        <span style={{ width: `${percent}%` }} />
      </div>
    </div>
  );
}

export function CpuUsage({ usedMillis, totalMillis }: { usedMillis: number; totalMillis: number }) {
  return <UsageBar used={usedMillis} total={totalMillis} format={formatCpu} unit={totalMillis === 1000 ? ' core' : ' cores'} />;
}

export function MemoryUsage({ usedBytes, totalBytes }: { usedBytes: number; totalBytes: number }) {
  return <UsageBar used={usedBytes} total={totalBytes} format={formatBytes} />;
}

/** Time since the agent's last heartbeat, ticking, and whether it holds its lease. */
export function Heartbeat({ node, leaseHeld }: { node: Node; leaseHeld: boolean }) {
  return (
    <span class="heartbeat">
      <Age time={node.status?.lastHeartbeatTime} />
      <span class={`lease ${leaseHeld ? 'held' : 'lost'}`}>{leaseHeld ? 'lease held' : 'no lease'}</span>
    </span>
  );
}

/** key=value tags; a muted dash when there are none. */
export function Tags({ values }: { values: Readonly<Record<string, string>> | readonly string[] | undefined }) {
  const items = values === undefined ? [] : Array.isArray(values) ? (values as readonly string[]) : Object.entries(values).map(([k, v]) => `${k}=${v}`);
  if (items.length === 0) return <span class="muted">—</span>;
  return (
    <span class="tags">
      {items.map((item) => (
        <span key={item} class="tag">
          {item}
        </span>
      ))}
    </span>
  );
}

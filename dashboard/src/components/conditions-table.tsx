// A table of an object's status.conditions (jobs and nodes).
import type { Condition } from '../types.js';
import { Age } from './age.js';

export function ConditionsTable({ conditions, testid }: { conditions: readonly Condition[] | undefined; testid?: string }) {
  const rows = conditions ?? [];
  return (
    <div class="table-wrap">
      <table data-testid={testid}>
        <thead>
          <tr>
            <th>Type</th>
            <th>Status</th>
            <th>Reason</th>
            <th>Message</th>
            <th>Last transition</th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={5} class="empty">
                No conditions reported
              </td>
            </tr>
          ) : (
            rows.map((c) => (
              <tr key={c.type} data-type={c.type}>
                <td>{c.type}</td>
                <td>
                  <span class={`cond cond-${c.status.toLowerCase()}`}>{c.status}</span>
                </td>
                <td>{c.reason ?? <span class="muted">—</span>}</td>
                <td class="message">{c.message ?? ''}</td>
                <td>
                  <Age time={c.lastTransitionTime} />
                </td>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}

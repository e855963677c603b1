// The events of a job (GET /api/v1/namespaces/NS/events narrowed to the job), newest first, live:
// the list is read once, then followed with the events watch from the list's resourceVersion,
// which patches the rows in place by event name (ADDED/MODIFIED replace or add, DELETED
// removes). A compacted version (410) re-reads the list and watches again from the new one.
import { useEffect, useState } from 'preact/hooks';
import type { Api, WatchEvent } from '../api.js';
import { useLoad, useWatch } from '../hooks.js';
import type { KubeEvent, List } from '../types.js';
import { Age } from './age.js';
import { useWatchFrom } from './live.js';
import { ErrorNote, LoadingOrError } from './load-state.js';

function lastSeen(event: KubeEvent): string {
  return event.lastTimestamp ?? event.firstTimestamp ?? event.metadata.creationTimestamp ?? '';
}

/** Newest first; the name breaks ties so the order is stable. */
function newestFirst(a: KubeEvent, b: KubeEvent): number {
  const at = Date.parse(lastSeen(a)) || 0;
  const bt = Date.parse(lastSeen(b)) || 0;
  return bt - at || (a.metadata.name < b.metadata.name ? 1 : a.metadata.name > b.metadata.name ? -1 : 0);
}

export interface JobEventsProps {
  readonly api: Api;
  readonly namespace: string;
  readonly name: string;
}

/** The rows after one watch event: upserted by event name, or removed when DELETED. */
function applied(rows: ReadonlyMap<string, KubeEvent>, event: WatchEvent<KubeEvent>): ReadonlyMap<string, KubeEvent> {
  const next = new Map(rows);
  if (event.type === 'DELETED') next.delete(event.object.metadata.name);
  else if (event.type === 'ADDED' || event.type === 'MODIFIED') next.set(event.object.metadata.name, event.object);
  return next;
}

export function JobEvents({ api, namespace, name }: JobEventsProps) {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
  const query = { fieldSelector: `involvedObject.name=${name},involvedObject.kind=Job` };
  const loaded = useLoad((signal) => api.get<List<KubeEvent>>(path, query, signal), `${namespace}/${name}`);
  const [events, setEvents] = useState<ReadonlyMap<string, KubeEvent> | undefined>(undefined);
  useEffect(() => {
    if (loaded.data !== undefined) setEvents(new Map(loaded.data.items.map((e) => [e.metadata.name, e])));
  }, [loaded.data]);
  const watch = useWatchFrom(loaded.data, (list) => list.metadata.resourceVersion);
  useWatch<KubeEvent>(
    path,
    query,
    watch.from,
    (event) => setEvents((current) => applied(current ?? new Map(), event)),
    () => {
      watch.expired();
      loaded.reload();
    },
  );

  if (events === undefined) {
    return <LoadingOrError error={loaded.error} />;
  }
  const rows = [...events.values()].sort(newestFirst);
  return (
    <div>
      {loaded.error !== undefined && (
        <ErrorNote error={loaded.error} />
      )}
      <div class="table-wrap">
        <table data-testid="events-table">
          <thead>
            <tr>
              <th>Type</th>
              <th>Reason</th>
              <th>Message</th>
              <th class="num">Count</th>
              <th>First seen</th>
              <th>Last seen</th>
              <th>Source</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 ? (
              <tr>
                <td colSpan={7} class="empty">
                  No events recorded for this job
                </td>
              </tr>
            ) : (
              rows.map((e) => (
                <tr key={e.metadata.name} data-testid="event-row" data-reason={e.reason}>
                  <td>
                    <span class={`event-type ${e.type === 'Warning' ? 'warning' : 'normal'}`}>{e.type ?? 'Normal'}</span>
                  </td>
                  <td>{e.reason ?? ''}</td>
                  <td class="message">{e.message ?? ''}</td>
                  <td class="num">{e.count ?? 1}</td>
                  <td>
                    <Age time={e.firstTimestamp ?? e.metadata.creationTimestamp} />
                  </td>
                  <td>
                    <Age time={e.lastTimestamp ?? e.firstTimestamp ?? e.metadata.creationTimestamp} />
                  </td>
                  <td class="mono">{[e.source?.component, e.source?.host].filter((s) => s !== undefined && s !== '').join(' on ') || '—'}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}

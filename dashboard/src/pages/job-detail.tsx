// One job: header (phase, reason, node, times, attempts), then tabs (overview, yaml, logs,
// events) chosen by `?tab=` in the hash. The job is read once (a list narrowed to its name,
// whose resourceVersion the watch starts from) and then followed with the watch API, so status
// changes appear without a reload; a DELETED event keeps the last state under a banner.
import { useEffect, useState } from 'preact/hooks';
import type { WatchEvent } from '../api.js';
import { Age } from '../components/age.js';
import { DependencyGraph } from '../components/dependency-graph.js';
import { JobEvents } from '../components/job-events.js';
import { JobLogs } from '../components/job-logs.js';
import { AttemptsTable, JobSpecPanel, JobStatusPanel, JobTimes } from '../components/job-overview.js';
import { useWatchFrom } from '../components/live.js';
import { PhaseBadge } from '../components/phase.js';
import { YamlView } from '../components/yaml-view.js';
import { useApi, useLoad, useWatch } from '../hooks.js';
import { href, navigate, useRoute } from '../router.js';
import type { Job, List } from '../types.js';
import { ErrorNote, LoadingOrError } from '../components/load-state.js';

const TABS = [
  { id: 'overview', label: 'Overview' },
  { id: 'yaml', label: 'YAML' },
  { id: 'logs', label: 'Logs' },
  { id: 'events', label: 'Events' },
] as const;
type Tab = (typeof TABS)[number]['id'];

function tabOf(value: string | null): Tab {
  return TABS.find((t) => t.id === value)?.id ?? 'overview';
}

/** A positive attempt number from the route, else undefined (the latest). */
function attemptOf(value: string | null): number | undefined {
  const n = value === null ? NaN : Number(value);
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}

export function JobDetailPage({ namespace, name }: { namespace: string; name: string }) {
  // Keyed: another job is a fresh page (no state carried over).
  return <JobDetail key={`${namespace}/${name}`} namespace={namespace} name={name} />;
}

interface Read {
  readonly job: Job;
  readonly resourceVersion: string | undefined;
}

function JobDetail({ namespace, name }: { namespace: string; name: string }) {
  const api = useApi();
  const route = useRoute();
  const collection = `/apis/openscheduler.io/v1/namespaces/${encodeURIComponent(namespace)}/jobs`;
  const selector = { fieldSelector: `metadata.name=${name}` };
  const loaded = useLoad<Read>(async (signal) => {
    const list = await api.get<List<Job>>(collection, selector, signal);
    // Not there: GET it for the server's own 404 Status message.
    const job = list.items.find((j) => j.metadata.name === name) ?? (await api.get<Job>(`${collection}/${encodeURIComponent(name)}`, undefined, signal));
    return { job, resourceVersion: list.metadata.resourceVersion };
  }, `${namespace}/${name}`);

  const [live, setLive] = useState<{ job: Job; deleted: boolean } | undefined>(undefined);
  useEffect(() => {
    if (loaded.data !== undefined) setLive({ job: loaded.data.job, deleted: false });
  }, [loaded.data]);
  const watch = useWatchFrom(loaded.data, (read) => read.resourceVersion);
  useWatch<Job>(
    collection,
    selector,
    watch.from,
    (event: WatchEvent<Job>) => {
      if (event.object.metadata.name !== name) return;
      setLive({ job: event.object, deleted: event.type === 'DELETED' });
    },
    () => {
      watch.expired();
      loaded.reload();
    },
  );

  const tab = tabOf(route.query.get('tab'));
  const attempt = attemptOf(route.query.get('attempt'));
  const go = (query: { tab: Tab; attempt?: number }): void => navigate(['jobs', namespace, name], { tab: query.tab === 'overview' ? undefined : query.tab, attempt: query.attempt }, true);

  const job = live?.job ?? loaded.data?.job;
  if (job === undefined) {
    return (
      <section data-testid="job-detail">
        <JobTitle namespace={namespace} name={name} />
        <LoadingOrError error={loaded.error} />
      </section>
    );
  }
  const deleted = live?.deleted ?? false;
  const status = job.status ?? {};
  return (
    <section data-testid="job-detail" class="job-detail">
      <div class="page-header">
        <JobTitle namespace={namespace} name={name} />
        <span data-testid="job-phase">
          <PhaseBadge phase={status.phase ?? 'Pending'} />
        </span>
        {!deleted && watch.from !== undefined && <span class="live">live</span>}
      </div>
      {deleted && (
        <p class="deleted-banner" data-testid="job-deleted">
          This job was deleted. What follows is its last known state.
        </p>
      )}
      {loaded.error !== undefined && (
        <ErrorNote error={loaded.error} />
      )}
      <div class="summary-strip">
        <div class="item">
          <span class="label">Reason</span>
          <span class="value" data-testid="job-reason">
            {status.reason ?? '—'}
          </span>
        </div>
        <div class="item">
          <span class="label">Node</span>
          <span class="value">
            {status.nodeName !== undefined ? (
              <a href={href(['nodes', status.nodeName])} data-testid="job-node">
                {status.nodeName}
              </a>
            ) : (
              <span class="muted" data-testid="job-node">
                —
              </span>
            )}
          </span>
        </div>
        <JobTimes job={job} />
        <div class="item">
          <span class="label">Attempts</span>
          <span class="value">{status.attempts ?? 0}</span>
        </div>
        <div class="item">
          <span class="label">Retry series</span>
          <span class="value" title="Times the job was retried from the dead-letter queue">
            {status.retrySeries ?? 0}
          </span>
        </div>
        {status.nextRetryAt !== undefined && status.phase === 'Pending' && (
          <div class="item">
            <span class="label">Next retry</span>
            <span class="value">
              <Age time={status.nextRetryAt} suffix="" />
            </span>
          </div>
        )}
      </div>
      {status.message !== undefined && status.message !== '' && <p class={`status-line${status.phase === 'Failed' ? ' bad' : ''}`}>{status.message}</p>}

      <nav class="tabs" role="tablist">
        {TABS.map((t) => (
          <button key={t.id} role="tab" aria-selected={tab === t.id} class={tab === t.id ? 'active' : ''} data-testid={`tab-${t.id}`} onClick={() => go({ tab: t.id })}>
            {t.label}
          </button>
        ))}
      </nav>

      {tab === 'overview' && (
        <div class="tab-overview">
          <div class="grid2">
            <JobStatusPanel job={job} />
            <JobSpecPanel job={job} />
          </div>
          <AttemptsTable job={job} />
          <div class="panel">
            <h3>Dependencies</h3>
            <DependencyGraph api={api} job={job} />
          </div>
        </div>
      )}
      {tab === 'yaml' && <YamlView object={job} testid="job-yaml" />}
      {tab === 'logs' && <JobLogs api={api} job={job} deleted={deleted} attempt={attempt} onAttempt={(n) => go({ tab: 'logs', attempt: n })} />}
      {tab === 'events' && <JobEvents api={api} namespace={namespace} name={name} />}
    </section>
  );
}

function JobTitle({ namespace, name }: { namespace: string; name: string }) {
  return (
    <h2 class="job-title">
      <a class="muted" href={href(['jobs'], { namespace })}>
        {namespace}
      </a>
      <span class="muted"> / </span>
      {name}
    </h2>
  );
}

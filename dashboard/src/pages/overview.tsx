// Overview: counts of jobs by phase, dead letters and nodes, and the latest failures.
// Live: the summary is read once; watches of jobs and nodes (from the summary's versions) trigger
// a throttled re-read of the summary. Re-reads never restart the watches (only a 410 does).
import { useEffect, useState } from 'preact/hooks';
import { formatAge, formatCount, formatTime } from '../format.js';
import { useApi, useLoad, useNow, useThrottled, useWatch } from '../hooks.js';
import { href } from '../router.js';
import { PHASES } from '../components/phase.js';
import type { DashboardSummary, Job, JobPhase, Node } from '../types.js';
import { ErrorNote, Loading } from '../components/load-state.js';

const REREAD_THROTTLE_MS = 500;
const NO_QUERY = {};

interface WatchVersions {
  readonly jobs: string;
  readonly nodes: string;
}

export function OverviewPage() {
  const api = useApi();
  const summary = useLoad((signal) => api.get<DashboardSummary>('/dashboard/v1/summary', undefined, signal), 'summary');
  const rereadSoon = useThrottled(summary.reload, REREAD_THROTTLE_MS);

  // The versions of the first answer (or the first after a 410): later re-reads leave the watches be.
  const [from, setFrom] = useState<WatchVersions | undefined>(undefined);
  const data = summary.data;
  useEffect(() => {
    if (data !== undefined) setFrom((current) => current ?? { jobs: data.jobsResourceVersion, nodes: data.nodesResourceVersion });
  }, [data]);
  const onExpired = (): void => {
    setFrom(undefined);
    summary.reload();
  };
  useWatch<Job>('/apis/openscheduler.io/v1/jobs', NO_QUERY, from?.jobs, rereadSoon, onExpired);
  useWatch<Node>('/apis/openscheduler.io/v1/nodes', NO_QUERY, from?.nodes, rereadSoon, onExpired);

  return (
    <section data-testid="overview">
      <header class="page-header">
        <h2>Overview</h2>
        {from !== undefined && <span class="live">live</span>}
      </header>
      {summary.error !== undefined && (
        <ErrorNote error={summary.error} />
      )}
      {data === undefined ? (
        summary.error === undefined && (
          <Loading />
        )
      ) : (
        <OverviewBody summary={data} />
      )}
    </section>
  );
}

function OverviewBody({ summary }: { summary: DashboardSummary }) {
  const { jobs, nodes } = summary;
  return (
    <>
      <h3 class="section-title">Jobs</h3>
      <div class="cards">
        <Card link={href(['jobs'])} label="Jobs" value={jobs.total} testid="jobs-total" />
        {PHASES.map((phase) => (
          <Card key={phase} link={href(['jobs'], { phase })} label={phase} value={jobs.byPhase[phase] ?? 0} testid={`phase-count-${phase}`} class={`phase-${phase.toLowerCase()}`} />
        ))}
        <Card link={href(['dlq'])} label="Dead letters" value={summary.deadLetter} testid="dlq-count" class={summary.deadLetter > 0 ? 'bad' : undefined} />
      </div>
      <PhaseBar total={jobs.total} byPhase={jobs.byPhase} />
      <h3 class="section-title">Nodes</h3>
      <div class="cards">
        <Card link={href(['nodes'])} label="Nodes" value={nodes.total} testid="nodes-total" />
        <Card link={href(['nodes'])} label="Ready" value={nodes.ready} testid="nodes-ready" class="phase-succeeded" />
        <Card link={href(['nodes'])} label="Not ready" value={nodes.notReady} testid="nodes-notready" class={nodes.notReady > 0 ? 'bad' : undefined} />
      </div>
      <RecentFailures jobs={summary.recentFailures} />
    </>
  );
}

interface CardProps {
  readonly link: string;
  readonly label: string;
  readonly value: number;
  readonly testid: string;
  readonly class?: string | undefined;
}

/** A count that links to the list behind it; the testid is on the number alone. */
function Card({ link, label, value, testid, class: extra }: CardProps) {
  return (
    <a class={`card${extra === undefined ? '' : ` ${extra}`}`} href={link}>
      <div class="value" data-testid={testid}>
        {formatCount(value)}
      </div>
      <div class="label">{label}</div>
    </a>
  );
}

/** The share of each phase, as one stacked bar (hidden while there are no jobs). */
function PhaseBar({ total, byPhase }: { total: number; byPhase: Readonly<Record<JobPhase, number>> }) {
  if (total === 0) return null;
  const described = PHASES.map((phase) => `${phase} ${formatCount(byPhase[phase] ?? 0)}`).join(', ');
  return (
    <div class="phase-bar" role="img" aria-label={`Jobs by phase: ${described}`}>
      {PHASES.map((phase) => {
        const count = byPhase[phase] ?? 0;
        if (count === 0) return null;
        return <span key={phase} class={`phase-${phase.toLowerCase()}`} style={{ width: `${(100 * count) / total}%` }} title={`${phase}: ${formatCount(count)}`} />;
      })}
    </div>
  );
}

function RecentFailures({ jobs }: { jobs: readonly Job[] }) {
  const now = useNow(1000);
  return (
    <div class="panel">
      <div class="panel-title">
        <h3>Recent failures</h3>
        <a href={href(['dlq'])}>All dead letters →</a>
      </div>
      <div class="table-wrap">
        <table data-testid="recent-failures">
          <thead>
            <tr>
              <th>Name</th>
              <th>Namespace</th>
              <th>Reason</th>
              <th>Message</th>
              <th>Completed</th>
              <th>Node</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => {
              const namespace = job.metadata.namespace ?? '';
              const { status } = job;
              return (
                <tr key={`${namespace}/${job.metadata.name}`} data-testid="job-row" data-name={job.metadata.name} data-namespace={namespace}>
                  <td class="job-name">
                    <a href={href(['jobs', namespace, job.metadata.name])}>{job.metadata.name}</a>
                  </td>
                  <td>{namespace}</td>
                  <td>{status?.reason ?? '—'}</td>
                  <td class="message" title={status?.message}>
                    {status?.message ?? ''}
                  </td>
                  <td class="nowrap" title={formatTime(status?.completionTime)}>
                    {status?.completionTime === undefined ? '—' : `${formatAge(status.completionTime, now)} ago`}
                  </td>
                  <td>{status?.nodeName !== undefined ? <a href={href(['nodes', status.nodeName])}>{status.nodeName}</a> : '—'}</td>
                </tr>
              );
            })}
            {jobs.length === 0 && (
              <tr>
                <td colSpan={6} class="empty">
                  No failed jobs. Jobs whose retries run out show up here.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}

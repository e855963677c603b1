// The overview tab of the job detail page: status, conditions, attempts and what the spec asks for.
import { formatDuration, formatTime } from '../format.js';
import { href } from '../router.js';
import type { Job, JobAttempt } from '../types.js';
import { Age, Elapsed } from './age.js';
import { ConditionsTable } from './conditions-table.js';
import { Tags } from './node-info.js';
import { PhaseBadge } from './phase.js';

const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** argv as a shell would read it back (single quotes where needed); display only, never run. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map((arg) => (SHELL_SAFE.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function seconds(value: number | undefined, none = 'none'): string {
  return value === undefined ? none : formatDuration(value * 1000);
}

function Dash() {
  return <span class="muted">—</span>;
}

/** Status fields and the conditions table (`job-conditions`). */
export function JobStatusPanel({ job }: { job: Job }) {
  const status = job.status ?? {};
  const namespace = job.metadata.namespace ?? 'default';
  return (
    <div class="panel">
      <h3>Status</h3>
      <dl class="fields">
        <dt>Phase</dt>
        <dd>
          <PhaseBadge phase={status.phase ?? 'Pending'} />
        </dd>
        <dt>Reason</dt>
        <dd>{status.reason ?? <Dash />}</dd>
        <dt>Message</dt>
        <dd class="status-message">{status.message ?? <Dash />}</dd>
        <dt>Node</dt>
        <dd>{status.nodeName !== undefined ? <a href={href(['nodes', status.nodeName])}>{status.nodeName}</a> : <Dash />}</dd>
        <dt>Exit code</dt>
        <dd class="mono">{status.exitCode ?? <Dash />}</dd>
        {status.nextRetryAt !== undefined && (
          <>
            <dt>Next retry</dt>
            <dd title={formatTime(status.nextRetryAt)}>{formatTime(status.nextRetryAt)}</dd>
          </>
        )}
        {(status.nodeLostRequeues ?? 0) > 0 && (
          <>
            <dt>Node-lost requeues</dt>
            <dd>{status.nodeLostRequeues}</dd>
          </>
        )}
        <dt>Generation</dt>
        <dd>
          {job.metadata.generation ?? 1}
          {status.observedGeneration !== undefined && status.observedGeneration !== job.metadata.generation && <span class="muted"> (status reflects {status.observedGeneration})</span>}
        </dd>
        {(job.spec.dependsOn ?? []).length > 0 && (
          <>
            <dt>Depends on</dt>
            <dd>
              {(job.spec.dependsOn ?? []).map((dep, i) => (
                <span key={dep}>
                  {i > 0 && ', '}
                  <a href={href(['jobs', namespace, dep])}>{dep}</a>
                </span>
              ))}
            </dd>
          </>
        )}
      </dl>
      <h3 class="subhead">Conditions</h3>
      <ConditionsTable conditions={status.conditions} testid="job-conditions" />
    </div>
  );
}

/** What the spec asks for, in a few lines (the YAML tab has everything). */
export function JobSpecPanel({ job }: { job: Job }) {
  const { spec, metadata } = job;
  const argv = [...(spec.command ?? []), ...(spec.args ?? [])];
  const retry = spec.retryPolicy;
  const maxRetries = retry?.maxRetries ?? 0;
  return (
    <div class="panel">
      <h3>Spec</h3>
      <dl class="fields">
        <dt>Driver</dt>
        <dd>
          <span class="tag">{spec.driver}</span>
          {spec.workloadType !== undefined && <span class="muted">{spec.workloadType}</span>}
        </dd>
        {spec.image !== undefined && (
          <>
            <dt>Image</dt>
            <dd class="mono">{spec.image}</dd>
          </>
        )}
        <dt>Command</dt>
        <dd>{argv.length > 0 ? <code class="command">{shellJoin(argv)}</code> : <span class="muted">the image's entrypoint</span>}</dd>
        {spec.workingDir !== undefined && (
          <>
            <dt>Working dir</dt>
            <dd class="mono">{spec.workingDir}</dd>
          </>
        )}
        <dt>Resources</dt>
        <dd>
          {spec.resources?.cpu === undefined && spec.resources?.memory === undefined ? (
            <span class="muted">none requested</span>
          ) : (
            <>
              {spec.resources.cpu !== undefined && <span class="tag">cpu {String(spec.resources.cpu)}</span>}
              {spec.resources.memory !== undefined && <span class="tag">memory {String(spec.resources.memory)}</span>}
            </>
          )}
        </dd>
        <dt>Timeout</dt>
        <dd>
          {spec.timeoutSeconds === undefined ? 'no limit per attempt' : `${seconds(spec.timeoutSeconds)} per attempt`}
          <span class="muted">
            {' '}
            · kill after {seconds(spec.killTimeoutSeconds ?? 10)} · {spec.activeDeadlineSeconds === undefined ? 'no job deadline' : `job deadline ${seconds(spec.activeDeadlineSeconds)}`}
          </span>
        </dd>
        <dt>Retries</dt>
        <dd>
          {maxRetries === 0 ? (
            'none'
          ) : (
            <>
              up to {maxRetries}
              <span class="muted">
                {' '}
                · backoff {seconds(retry?.backoffSeconds ?? 10)} ×{retry?.backoffFactor ?? 2}, at most {seconds(retry?.maxBackoffSeconds ?? Math.max(300, retry?.backoffSeconds ?? 10))}
              </span>
            </>
          )}
        </dd>
        <dt>Node selector</dt>
        <dd>
          <Tags values={spec.nodeSelector} />
        </dd>
        <dt>Labels</dt>
        <dd>
          <Tags values={metadata.labels} />
        </dd>
        {(spec.env ?? []).length > 0 && (
          <>
            <dt>Environment</dt>
            <dd>
              <Tags values={(spec.env ?? []).map((e) => e.name)} />
            </dd>
          </>
        )}
        {(spec.volumes ?? []).length > 0 && (
          <>
            <dt>Volumes</dt>
            <dd class="mono">
              {(spec.volumes ?? []).map((v) => (
                <div key={v.mountPath}>
                  {v.hostPath} → {v.mountPath}
                  {v.readOnly === true ? ' (ro)' : ''}
                </div>
              ))}
            </dd>
          </>
        )}
        <dt>Priority</dt>
        <dd>{spec.priority ?? 0}</dd>
        {spec.ttlSecondsAfterFinished !== undefined && (
          <>
            <dt>Deleted after</dt>
            <dd>{seconds(spec.ttlSecondsAfterFinished)} finished</dd>
          </>
        )}
      </dl>
    </div>
  );
}

/** status.recentAttempts, newest first; each row links to that attempt's logs. */
export function AttemptsTable({ job }: { job: Job }) {
  const namespace = job.metadata.namespace ?? 'default';
  const name = job.metadata.name;
  const latest = job.status?.attempts ?? 0;
  const attempts: JobAttempt[] = [...(job.status?.recentAttempts ?? [])].sort((a, b) => b.attempt - a.attempt);
  const logsHref = (n: number): string => href(['jobs', namespace, name], { tab: 'logs', attempt: n >= latest ? undefined : n });
  const seriesStart = job.status?.seriesStartAttempt ?? 0;
  const terminal = job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed';
  return (
    <div class="panel">
      <h3>
        Attempts <span class="muted count">{latest}</span>
        {(job.status?.retrySeries ?? 0) > 0 && <span class="muted count"> · retried from the dead-letter queue {job.status?.retrySeries}×; this series began after attempt {seriesStart}</span>}
      </h3>
      <div class="table-wrap">
        <table data-testid="attempts-table">
          <thead>
            <tr>
              <th class="num">#</th>
              <th>Node</th>
              <th>Started</th>
              <th>Ended</th>
              <th class="num">Duration</th>
              <th class="num">Exit code</th>
              <th>Reason</th>
              <th>Message</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {attempts.length === 0 ? (
              <tr>
                <td colSpan={9} class="empty">
                  No attempts yet
                </td>
              </tr>
            ) : (
              attempts.map((a) => (
                <tr key={a.attempt} data-testid="attempt-row" data-attempt={String(a.attempt)}>
                  <td class="num">
                    <a href={logsHref(a.attempt)}>{a.attempt}</a>
                  </td>
                  <td>{a.nodeName !== undefined ? <a href={href(['nodes', a.nodeName])}>{a.nodeName}</a> : <Dash />}</td>
                  <td title={formatTime(a.startTime)}>{a.startTime !== undefined ? formatTime(a.startTime) : <Dash />}</td>
                  <td>{a.endTime !== undefined ? formatTime(a.endTime) : a.startTime !== undefined && a.attempt === latest && !terminal ? <span class="live">running</span> : <Dash />}</td>
                  <td class="num">
                    <Elapsed start={a.startTime} end={a.endTime} />
                  </td>
                  <td class={`num mono${a.exitCode !== undefined && a.exitCode !== 0 ? ' bad' : ''}`}>{a.exitCode ?? <Dash />}</td>
                  <td>{a.reason ?? <Dash />}</td>
                  <td class="message">{a.message ?? ''}</td>
                  <td>
                    <a href={logsHref(a.attempt)}>logs</a>
                  </td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
      {latest > attempts.length && attempts.length > 0 && <p class="muted note">The last {attempts.length} of {latest} attempts are kept; earlier logs may still be read in the Logs tab.</p>}
    </div>
  );
}

/** The timing fields of the header: created, started, completed, duration. */
export function JobTimes({ job }: { job: Job }) {
  const status = job.status ?? {};
  return (
    <>
      <div class="item">
        <span class="label">Created</span>
        <span class="value">
          <Age time={job.metadata.creationTimestamp} />
        </span>
      </div>
      <div class="item">
        <span class="label">Started</span>
        <span class="value">{status.startTime !== undefined ? <Age time={status.startTime} /> : <Dash />}</span>
      </div>
      <div class="item">
        <span class="label">Completed</span>
        <span class="value">{status.completionTime !== undefined ? <Age time={status.completionTime} /> : <Dash />}</span>
      </div>
      <div class="item">
        <span class="label">Duration</span>
        <span class="value">
          <Elapsed start={status.startTime} end={status.completionTime} />
        </span>
      </div>
    </>
  );
}

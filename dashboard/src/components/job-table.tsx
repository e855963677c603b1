// The jobs table: paged, filtered and sorted by the server (/dashboard/v1/jobs), so it renders at
// most PAGE_SIZE rows however many jobs exist; live through the jobs watch from the page's version.
//
// Use: <JobTable query={route.query} onQueryChange={(q, replace) => navigate(['jobs'], q, replace)} />
// keeps filters/sort/page in the hash; without `query` the table keeps its own state, e.g.
// <JobTable fixed={{ node: name }} testid="node-jobs" />. `fixed` filters are applied, never shown.
//
// Live contract: the first answer's resourceVersion starts a watch narrowed like the filter
// (namespace → namespaced path; phase/node/driver → fieldSelector; label → labelSelector). A
// MODIFIED of a shown row patches it at once; ADDED/DELETED (or a row leaving the filter) re-read
// the current page, throttled; re-reads keep the old rows (no "Loading…") and the running watch.
// The watch restarts only when the narrowing changes or its version expired (410).
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Query, WatchEvent } from '../api.js';
import { formatAge, formatCount, formatDuration, formatTime } from '../format.js';
import { useApi, useLoad, useNow, useThrottled, useWatch } from '../hooks.js';
import { href } from '../router.js';
import type { DashboardJobPage, Job, JobPhase } from '../types.js';
import { CopyCode } from './copy-code.js';
import { PHASES, PhaseBadge } from './phase.js';
import { ErrorNote, Loading } from './load-state.js';

export const PAGE_SIZE = 50;
const REREAD_THROTTLE_MS = 500;
const SEARCH_DEBOUNCE_MS = 300;
const JOBS_PATH = '/apis/openscheduler.io/v1/jobs';

export type JobFilterName = 'namespace' | 'phase' | 'driver' | 'node' | 'label' | 'q';
export type JobFilters = Partial<Readonly<Record<JobFilterName, string>>>;
export type JobSort = '-creationTimestamp' | 'creationTimestamp' | 'name' | '-name';
export type JobColumn = 'name' | 'namespace' | 'phase' | 'driver' | 'node' | 'attempts' | 'reason' | 'message' | 'created' | 'duration' | 'completed' | 'retry';

const FILTER_NAMES: readonly JobFilterName[] = ['namespace', 'phase', 'driver', 'node', 'label', 'q'];
const SORTS: readonly JobSort[] = ['-creationTimestamp', 'creationTimestamp', 'name', '-name'];
const DEFAULT_SORT: JobSort = '-creationTimestamp';
export const DEFAULT_COLUMNS: readonly JobColumn[] = ['name', 'namespace', 'phase', 'driver', 'node', 'attempts', 'reason', 'created', 'duration'];

/** The table's state as the hash query holds it: filters, `sort` (default omitted), 1-based `page`. */
export interface JobTableState {
  readonly filters: JobFilters;
  readonly sort: JobSort;
  readonly page: number;
}

export interface JobTableInfo {
  /** The page shown (undefined until the first answer). */
  readonly page: DashboardJobPage | undefined;
  /** The watch is running: the rows follow the store. */
  readonly live: boolean;
}

export interface JobTableProps {
  /** Filters the page imposes (node detail: {node}; dead letters: {phase: 'Failed'}); not shown as inputs. */
  readonly fixed?: JobFilters;
  /** Filter inputs to show (default: every filter that is not fixed). */
  readonly filters?: readonly JobFilterName[];
  readonly columns?: readonly JobColumn[];
  /** The hash query holding the state; with it, changes go to onQueryChange (replace: typing). */
  readonly query?: URLSearchParams;
  readonly onQueryChange?: (query: Query, replace: boolean) => void;
  /** data-testid of the table (default 'jobs-table'). */
  readonly testid?: string;
  /** Rendered above the filters with the current answer (page headers show totals and the live marker). */
  readonly header?: (info: JobTableInfo) => ComponentChildren;
  /** What an empty table says when no filter is set (default "No jobs yet."). */
  readonly emptyText?: ComponentChildren;
}

/** Reads the table state from a hash query; unknown or malformed values fall back to the defaults. */
export function jobTableState(query: URLSearchParams): JobTableState {
  const filters: Partial<Record<JobFilterName, string>> = {};
  for (const name of FILTER_NAMES) {
    const value = query.get(name);
    if (value !== null && value !== '') filters[name] = value;
  }
  const sortText = query.get('sort');
  const sort = SORTS.find((s) => s === sortText) ?? DEFAULT_SORT;
  const pageText = query.get('page') ?? '';
  const page = /^\d{1,9}$/.test(pageText) ? Math.max(1, Number(pageText)) : 1;
  return { filters, sort, page };
}

/** The hash query of a state, keeping `base`'s other keys; defaults and fixed filters are left out. */
function stateQuery(state: JobTableState, fixed: JobFilters, base: URLSearchParams): Query {
  const query: Record<string, string | undefined> = Object.fromEntries(base.entries());
  for (const name of FILTER_NAMES) query[name] = fixed[name] !== undefined ? undefined : state.filters[name];
  query.sort = state.sort === DEFAULT_SORT ? undefined : state.sort;
  query.page = state.page > 1 ? String(state.page) : undefined;
  return query;
}

function effectiveFilters(state: JobTableState, fixed: JobFilters): JobFilters {
  const filters: Partial<Record<JobFilterName, string>> = { ...state.filters };
  for (const name of FILTER_NAMES) {
    const value = fixed[name];
    if (value !== undefined) filters[name] = value;
  }
  return filters;
}

/** Escapes a fieldSelector value (`\`, `,` and `=` are special). */
function fieldValue(value: string): string {
  return value.replace(/[\\,=]/g, (c) => `\\${c}`);
}

interface WatchTarget {
  readonly path: string;
  readonly query: Query;
}

/** The jobs watch narrowed like the filter (q cannot be narrowed server-side: checked on events). */
function watchTarget(filters: JobFilters): WatchTarget {
  const fields: string[] = [];
  if (filters.phase !== undefined) fields.push(`status.phase=${fieldValue(filters.phase)}`);
  if (filters.node !== undefined) fields.push(`status.nodeName=${fieldValue(filters.node)}`);
  if (filters.driver !== undefined) fields.push(`spec.driver=${fieldValue(filters.driver)}`);
  const path = filters.namespace === undefined ? JOBS_PATH : `/apis/openscheduler.io/v1/namespaces/${encodeURIComponent(filters.namespace)}/jobs`;
  return { path, query: { fieldSelector: fields.length > 0 ? fields.join(',') : undefined, labelSelector: filters.label } };
}

function phaseOf(job: Job): JobPhase {
  return job.status?.phase ?? 'Pending';
}

function jobKey(job: Job): string {
  return `${job.metadata.namespace ?? ''}/${job.metadata.name}`;
}

function nameMatches(job: Job, q: string | undefined): boolean {
  const needle = q?.trim().toLowerCase() ?? '';
  return needle === '' || job.metadata.name.toLowerCase().includes(needle);
}

/** The filter checks the client can make (labels are left to the server). */
function stillMatches(job: Job, filters: JobFilters): boolean {
  if (filters.namespace !== undefined && job.metadata.namespace !== filters.namespace) return false;
  if (filters.phase !== undefined && phaseOf(job) !== filters.phase) return false;
  if (filters.driver !== undefined && job.spec.driver !== filters.driver) return false;
  if (filters.node !== undefined && job.status?.nodeName !== filters.node) return false;
  return nameMatches(job, filters.q);
}

function revisionOf(job: Job): number {
  const version = Number(job.metadata.resourceVersion);
  return Number.isFinite(version) ? version : 0;
}

function lastPageOf(total: number): number {
  return Math.max(1, Math.ceil(total / PAGE_SIZE));
}

/** "1–50 of 10,000" (en dash); "0 of 0" when nothing matches. */
export function pageInfo(page: DashboardJobPage): string {
  if (page.items.length === 0) return `0 of ${formatCount(page.total)}`;
  return `${formatCount(page.offset + 1)}–${formatCount(page.offset + page.items.length)} of ${formatCount(page.total)}`;
}

interface LoadedPage {
  /** The request (filters, sort, offset) this answer is for. */
  readonly requestKey: string;
  /** The watch narrowing that matches this answer. */
  readonly watchKey: string;
  readonly target: WatchTarget;
  readonly page: DashboardJobPage;
}

interface WatchFrom {
  readonly watchKey: string;
  readonly target: WatchTarget;
  readonly resourceVersion: string;
}

export function JobTable(props: JobTableProps) {
  const api = useApi();
  const fixed = props.fixed ?? {};
  const [ownQuery, setOwnQuery] = useState(() => new URLSearchParams());
  const query = props.query ?? ownQuery;
  const state = jobTableState(query);
  const filters = effectiveFilters(state, fixed);

  /** Applies a change of the state; a filter change goes back to page 1. */
  const update = (change: { filters?: JobFilters; sort?: JobSort; page?: number }, replace: boolean): void => {
    const next: JobTableState = {
      filters: change.filters ?? state.filters,
      sort: change.sort ?? state.sort,
      page: change.page ?? (change.filters !== undefined ? 1 : state.page),
    };
    const nextQuery = stateQuery(next, fixed, query);
    if (props.query !== undefined && props.onQueryChange !== undefined) {
      props.onQueryChange(nextQuery, replace);
      return;
    }
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(nextQuery)) if (value !== undefined && value !== '') params.set(key, String(value));
    setOwnQuery(params);
  };
  const updateRef = useRef(update);
  updateRef.current = update;
  const setFilter = (name: JobFilterName, value: string, replace = false): void => {
    const trimmed = value.trim();
    updateRef.current({ filters: { ...state.filters, [name]: trimmed === '' ? undefined : trimmed } }, replace);
  };

  const request: Query = {
    namespace: filters.namespace,
    phase: filters.phase,
    driver: filters.driver,
    node: filters.node,
    labelSelector: filters.label,
    q: filters.q,
    sort: state.sort === DEFAULT_SORT ? undefined : state.sort,
    limit: PAGE_SIZE,
    offset: (state.page - 1) * PAGE_SIZE,
  };
  const requestKey = JSON.stringify(request);
  const target = watchTarget(filters);
  const watchKey = JSON.stringify(target);
  const loaded = useLoad<LoadedPage>(async (signal) => {
    const page = await api.get<DashboardJobPage>('/dashboard/v1/jobs', request, signal);
    return { requestKey, watchKey, target, page };
  }, requestKey);
  const data = loaded.data;
  const rereadSoon = useThrottled(loaded.reload, REREAD_THROTTLE_MS);

  // The watch starts from the first answer of a narrowing and keeps running across re-reads,
  // page and sort changes; a new narrowing (or an expired version) starts it again.
  const [watchFrom, setWatchFrom] = useState<WatchFrom | undefined>(undefined);
  useEffect(() => {
    if (data === undefined) return;
    setWatchFrom((current) => (current !== undefined && current.watchKey === data.watchKey ? current : { watchKey: data.watchKey, target: data.target, resourceVersion: data.page.resourceVersion }));
  }, [data]);

  // Rows patched by MODIFIED events since the page was read; the newer version of a row wins.
  const [patches, setPatches] = useState<ReadonlyMap<string, Job>>(() => new Map());
  useEffect(() => {
    if (data === undefined) return;
    setPatches((current) => {
      if (current.size === 0) return current;
      const fresh = new Map<string, Job>();
      for (const item of data.page.items) {
        const patch = current.get(jobKey(item));
        if (patch !== undefined && revisionOf(patch) > revisionOf(item)) fresh.set(jobKey(item), patch);
      }
      return fresh;
    });
  }, [data]);
  const rows = useMemo(
    () =>
      (data?.page.items ?? []).map((item) => {
        const patch = patches.get(jobKey(item));
        return patch !== undefined && revisionOf(patch) > revisionOf(item) ? patch : item;
      }),
    [data, patches],
  );
  const shown = new Set(rows.map(jobKey));

  const onEvent = (event: WatchEvent<Job>): void => {
    const job = event.object;
    if (event.type === 'MODIFIED') {
      // Sort keys (creation time, name) never change, so a row not shown cannot move onto this page.
      if (!shown.has(jobKey(job))) return;
      setPatches((current) => new Map(current).set(jobKey(job), job));
      if (!stillMatches(job, filters)) rereadSoon();
      return;
    }
    if (nameMatches(job, filters.q)) rereadSoon();
  };
  const onExpired = (): void => {
    setWatchFrom(undefined);
    loaded.reload();
  };
  useWatch<Job>(watchFrom?.target.path ?? JOBS_PATH, watchFrom?.target.query ?? {}, watchFrom?.resourceVersion, onEvent, onExpired);

  // A page past the end (jobs went away): go to the last page.
  useEffect(() => {
    if (data === undefined || data.requestKey !== requestKey) return;
    const { page } = data;
    if (page.items.length === 0 && page.total > 0 && page.offset > 0) updateRef.current({ page: lastPageOf(page.total) }, true);
  }, [data]);

  const now = useNow(1000);
  const columns = props.columns ?? DEFAULT_COLUMNS;
  const shownFilters = (props.filters ?? FILTER_NAMES).filter((name) => fixed[name] === undefined);
  const anyFilter = shownFilters.some((name) => state.filters[name] !== undefined);
  const clearFilters = (): void => updateRef.current({ filters: {} }, false);
  const stale = data !== undefined && data.requestKey !== requestKey;
  const page = data?.page;
  const lastPage = page === undefined ? 1 : lastPageOf(page.total);
  const goTo = (n: number): void => updateRef.current({ page: Math.min(Math.max(1, n), lastPage) }, false);
  const testid = props.testid ?? 'jobs-table';

  return (
    <div class="job-table">
      {props.header?.({ page, live: watchFrom !== undefined })}
      {shownFilters.length > 0 && (
        <JobFilterBar shown={shownFilters} state={state} facets={page?.facets} onFilter={setFilter} onClear={clearFilters} anyFilter={anyFilter} />
      )}
      {loaded.error !== undefined && (
        <ErrorNote error={loaded.error} />
      )}
      {data === undefined || (loaded.error !== undefined && stale) ? (
        loaded.error === undefined && (
          <Loading />
        )
      ) : (
        <>
          <div class={`table-wrap${stale ? ' stale' : ''}`} aria-busy={loaded.loading}>
            <table data-testid={testid}>
              <thead>
                <tr>
                  {columns.map((column) => (
                    <ColumnHeader key={column} column={column} sort={state.sort} onSort={(sort) => updateRef.current({ sort, page: 1 }, false)} />
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((job) => (
                  <JobRow key={jobKey(job)} job={job} columns={columns} now={now} />
                ))}
                {rows.length === 0 && (
                  <tr>
                    <td colSpan={columns.length} class="empty">
                      {anyFilter ? (
                        <>
                          <p>No jobs match these filters.</p>
                          <button type="button" class="secondary" onClick={clearFilters} data-testid="empty-clear-filters">
                            Clear filters
                          </button>
                        </>
                      ) : (
                        <p>{props.emptyText ?? 'No jobs yet.'}</p>
                      )}
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
          <nav class="pager" aria-label="Pages">
            <button type="button" class="secondary" disabled={state.page <= 1} onClick={() => goTo(1)} data-testid="page-first" aria-label="First page">
              «
            </button>
            <button type="button" class="secondary" disabled={state.page <= 1} onClick={() => goTo(state.page - 1)} data-testid="page-prev" aria-label="Previous page">
              ‹ Prev
            </button>
            <span class="info" data-testid="page-info" aria-live="polite">
              {page === undefined ? '' : pageInfo(page)}
            </span>
            <button type="button" class="secondary" disabled={state.page >= lastPage} onClick={() => goTo(state.page + 1)} data-testid="page-next" aria-label="Next page">
              Next ›
            </button>
            <button type="button" class="secondary" disabled={state.page >= lastPage} onClick={() => goTo(lastPage)} data-testid="page-last" aria-label="Last page">
              »
            </button>
          </nav>
        </>
      )}
    </div>
  );
}

interface FilterBarProps {
  readonly shown: readonly JobFilterName[];
  readonly state: JobTableState;
  readonly facets: DashboardJobPage['facets'] | undefined;
  readonly onFilter: (name: JobFilterName, value: string, replace?: boolean) => void;
  readonly onClear: () => void;
  readonly anyFilter: boolean;
}

function JobFilterBar({ shown, state, facets, onFilter, onClear, anyFilter }: FilterBarProps) {
  const has = (name: JobFilterName): boolean => shown.includes(name);
  const { filters } = state;
  return (
    <div class="filters" role="search">
      {has('q') && <SearchInput applied={filters.q ?? ''} onApply={(text) => onFilter('q', text, true)} />}
      {has('namespace') && (
        <FacetSelect label="Namespace" all="All namespaces" testid="filter-namespace" value={filters.namespace} options={(facets?.namespaces ?? []).filter((ns) => ns !== '')} onChange={(v) => onFilter('namespace', v)} />
      )}
      {has('phase') && <FacetSelect label="Phase" all="All phases" testid="filter-phase" value={filters.phase} options={PHASES} onChange={(v) => onFilter('phase', v)} />}
      {has('driver') && <FacetSelect label="Driver" all="All drivers" testid="filter-driver" value={filters.driver} options={facets?.drivers ?? []} onChange={(v) => onFilter('driver', v)} />}
      {has('node') && <FacetSelect label="Node" all="All nodes" testid="filter-node" value={filters.node} options={facets?.nodes ?? []} onChange={(v) => onFilter('node', v)} />}
      {has('label') && <LabelInput applied={filters.label ?? ''} onApply={(text) => onFilter('label', text, true)} />}
      <button type="button" class="secondary" onClick={onClear} disabled={!anyFilter} data-testid="filter-clear">
        Clear filters
      </button>
    </div>
  );
}

interface FacetSelectProps {
  readonly label: string;
  readonly all: string;
  readonly testid: string;
  readonly value: string | undefined;
  readonly options: readonly string[];
  readonly onChange: (value: string) => void;
}

/** A select of the values the server reported (plus the current one, should it be gone). */
function FacetSelect({ label, all, testid, value, options, onChange }: FacetSelectProps) {
  const values = value !== undefined && !options.includes(value) ? [...options, value] : options;
  return (
    <label>
      {label}
      <select value={value ?? ''} onChange={(e) => onChange(e.currentTarget.value)} data-testid={testid}>
        <option value="">{all}</option>
        {values.map((v) => (
          <option key={v} value={v}>
            {v}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The name search: applied as one types, debounced; follows outside changes (clear, back). */
function SearchInput({ applied, onApply }: { applied: string; onApply: (text: string) => void }) {
  const [text, setText] = useState(applied);
  const requested = useRef(applied);
  const onApplyRef = useRef(onApply);
  onApplyRef.current = onApply;
  useEffect(() => {
    if (applied === requested.current) return;
    requested.current = applied;
    setText(applied);
  }, [applied]);
  useEffect(() => {
    const wanted = text.trim();
    if (wanted === requested.current) return;
    const timer = setTimeout(() => {
      requested.current = wanted;
      onApplyRef.current(wanted);
    }, SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text]);
  return (
    <label class="grow">
      Name
      <input type="search" placeholder="Search by name…" value={text} onInput={(e) => setText(e.currentTarget.value)} data-testid="filter-search" aria-label="Search jobs by name" spellcheck={false} autocomplete="off" />
    </label>
  );
}

/** The label selector: applied on Enter or when the input loses focus. */
function LabelInput({ applied, onApply }: { applied: string; onApply: (text: string) => void }) {
  const [text, setText] = useState(applied);
  useEffect(() => setText(applied), [applied]);
  const apply = (): void => {
    if (text.trim() !== applied) onApply(text);
  };
  return (
    <label>
      Labels
      <input
        type="text"
        placeholder="app=web,tier!=db"
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') apply();
        }}
        onBlur={apply}
        data-testid="filter-label"
        aria-label="Label selector"
        title="A label selector, applied on Enter: key=value, key!=value, key in (a,b), key, !key"
        spellcheck={false}
        autocomplete="off"
      />
    </label>
  );
}

const COLUMN_TITLES: Readonly<Record<JobColumn, string>> = {
  name: 'Name',
  namespace: 'Namespace',
  phase: 'Phase',
  driver: 'Driver',
  node: 'Node',
  attempts: 'Attempts',
  reason: 'Reason',
  message: 'Message',
  created: 'Created',
  duration: 'Duration',
  completed: 'Completed',
  retry: 'Retry',
};

function ColumnHeader({ column, sort, onSort }: { column: JobColumn; sort: JobSort; onSort: (sort: JobSort) => void }) {
  const title = COLUMN_TITLES[column];
  if (column === 'created') {
    const byTime = sort === '-creationTimestamp' || sort === 'creationTimestamp';
    const newestFirst = sort !== 'creationTimestamp';
    return (
      <th aria-sort={byTime ? (newestFirst ? 'descending' : 'ascending') : 'none'}>
        <button type="button" class="sort" onClick={() => onSort(byTime && newestFirst ? 'creationTimestamp' : '-creationTimestamp')} data-testid="sort-created" title={byTime && newestFirst ? 'Newest first; click for oldest first' : 'Click for newest first'}>
          {title} {byTime ? (newestFirst ? '▼' : '▲') : ''}
        </button>
      </th>
    );
  }
  if (column === 'name') {
    const byName = sort === 'name' || sort === '-name';
    return (
      <th aria-sort={byName ? (sort === 'name' ? 'ascending' : 'descending') : 'none'}>
        <button type="button" class="sort" onClick={() => onSort(sort === 'name' ? '-name' : 'name')} data-testid="sort-name" title="Sort by name">
          {title} {byName ? (sort === 'name' ? '▲' : '▼') : ''}
        </button>
      </th>
    );
  }
  return <th class={column === 'attempts' ? 'num' : undefined}>{title}</th>;
}

function JobRow({ job, columns, now }: { job: Job; columns: readonly JobColumn[]; now: number }) {
  const phase = phaseOf(job);
  return (
    <tr data-testid="job-row" data-name={job.metadata.name} data-namespace={job.metadata.namespace ?? ''} data-phase={phase}>
      {columns.map((column) => (
        <JobCell key={column} job={job} column={column} now={now} />
      ))}
    </tr>
  );
}

function None() {
  return <span class="muted">—</span>;
}

function durationOf(job: Job, now: number): { text: string; title: string } | undefined {
  const start = Date.parse(job.status?.startTime ?? '');
  if (Number.isNaN(start)) return undefined;
  const completion = job.status?.completionTime;
  const end = completion === undefined ? NaN : Date.parse(completion);
  if (!Number.isNaN(end)) return { text: formatDuration(end - start), title: `Started ${formatTime(job.status?.startTime)}, completed ${formatTime(completion)}` };
  if (phaseOf(job) !== 'Running') return undefined;
  return { text: formatDuration(now - start), title: `Running since ${formatTime(job.status?.startTime)}` };
}

function JobCell({ job, column, now }: { job: Job; column: JobColumn; now: number }) {
  const { metadata, spec, status } = job;
  const namespace = metadata.namespace ?? '';
  switch (column) {
    case 'name':
      return (
        <td class="job-name">
          <a href={href(['jobs', namespace, metadata.name])}>{metadata.name}</a>
        </td>
      );
    case 'namespace':
      return <td>{namespace}</td>;
    case 'phase':
      return (
        <td>
          <PhaseBadge phase={phaseOf(job)} />
        </td>
      );
    case 'driver':
      return <td>{spec.driver}</td>;
    case 'node':
      return <td>{status?.nodeName !== undefined ? <a href={href(['nodes', status.nodeName])}>{status.nodeName}</a> : <None />}</td>;
    case 'attempts': {
      const maxRetries = spec.retryPolicy?.maxRetries;
      return (
        <td class="num" title={maxRetries === undefined ? undefined : `At most ${maxRetries + 1} attempts per retry series`}>
          {status?.attempts ?? 0}
        </td>
      );
    }
    case 'reason':
      return <td title={status?.message}>{status?.reason ?? <None />}</td>;
    case 'message':
      return (
        <td class="message" title={status?.message}>
          {status?.message ?? ''}
        </td>
      );
    case 'created':
      return (
        <td class="nowrap" title={formatTime(metadata.creationTimestamp)}>
          {formatAge(metadata.creationTimestamp, now)} ago
        </td>
      );
    case 'duration': {
      const duration = durationOf(job, now);
      return duration === undefined ? <td><None /></td> : <td class="nowrap" title={duration.title}>{duration.text}</td>;
    }
    case 'completed':
      return status?.completionTime === undefined ? (
        <td><None /></td>
      ) : (
        <td class="nowrap" title={formatTime(status.completionTime)}>
          {formatAge(status.completionTime, now)} ago
        </td>
      );
    case 'retry':
      return (
        <td class="nowrap">
          <CopyCode text={`osctl retry job/${metadata.name} -n ${namespace}`} />
        </td>
      );
  }
}

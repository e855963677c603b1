// The dependency graph of a job: its upstream closure through spec.dependsOn and its direct
// dependents, drawn as a layered DAG in SVG. Every box links to its job.
//
// Contract (browser tests rely on it): `<svg class="dag" data-testid="dep-graph">` holds one
// `<g data-job="NAME" class="phase-x">` per job drawn (phase-missing for a dependency that does
// not exist); the current job's class includes `current`. No graph (a "No dependencies" note)
// when the job has neither dependencies nor dependents.
import type { Api } from '../api.js';
import { useLoad } from '../hooks.js';
import { href } from '../router.js';
import type { Job, List } from '../types.js';
import { DEFAULT_DAG_METRICS, layoutDag, type DagEdge } from './dag-layout.js';
import { ErrorNote, Loading } from './load-state.js';

/** At most this many upstream jobs are read (the closure can be large; the graph stays readable). */
export const MAX_UPSTREAM_JOBS = 50;
/** At most this many direct dependents are drawn. */
export const MAX_DEPENDENTS = 100;

/** A job of the graph; `job` undefined: a dependency that does not exist (yet). */
interface GraphJob {
  readonly name: string;
  readonly job: Job | undefined;
}

interface Graph {
  readonly jobs: ReadonlyMap<string, GraphJob>;
  readonly upstreamTruncated: boolean;
  readonly dependentsTotal: number;
}

function jobsPath(namespace: string): string {
  return `/apis/openscheduler.io/v1/namespaces/${encodeURIComponent(namespace)}/jobs`;
}

/** Reads the upstream closure breadth-first (one request per job, a level at a time) and the dependents. */
async function readGraph(api: Api, current: Job, signal: AbortSignal): Promise<Graph> {
  const namespace = current.metadata.namespace ?? 'default';
  // Both reads run at once and are awaited together, so a failure of either is handled (never an unhandled rejection).
  const [upstream, dependents] = await Promise.all([
    readUpstream(api, current, signal),
    api.get<{ total: number; items: Job[] }>('/dashboard/v1/jobs', { namespace, dependsOn: current.metadata.name, limit: MAX_DEPENDENTS }, signal),
  ]);
  const { jobs } = upstream;
  for (const job of dependents.items) {
    if (!jobs.has(job.metadata.name)) jobs.set(job.metadata.name, { name: job.metadata.name, job });
  }
  return { jobs, upstreamTruncated: upstream.truncated, dependentsTotal: dependents.total };
}

/** The jobs `current` waits for, transitively (breadth first, at most MAX_UPSTREAM_JOBS). */
async function readUpstream(api: Api, current: Job, signal: AbortSignal): Promise<{ jobs: Map<string, GraphJob>; truncated: boolean }> {
  const namespace = current.metadata.namespace ?? 'default';
  const jobs = new Map<string, GraphJob>();
  let frontier = [...new Set(current.spec.dependsOn ?? [])].filter((n) => n !== current.metadata.name);
  let truncated = false;
  while (frontier.length > 0) {
    const budget = MAX_UPSTREAM_JOBS - jobs.size;
    if (frontier.length > budget) truncated = true;
    const level = frontier.slice(0, Math.max(0, budget));
    if (level.length === 0) break;
    for (const name of level) jobs.set(name, { name, job: undefined });
    const read = await Promise.all(
      // A list narrowed to the name: a missing job is an empty list, not a 404 (no console noise).
      level.map(async (name) => {
        const list = await api.get<List<Job>>(jobsPath(namespace), { fieldSelector: `metadata.name=${name}` }, signal);
        return list.items.find((j) => j.metadata.name === name);
      }),
    );
    const next = new Set<string>();
    read.forEach((job, i) => {
      const name = level[i];
      if (name === undefined) return;
      jobs.set(name, { name, job });
      for (const dep of job?.spec.dependsOn ?? []) {
        if (!jobs.has(dep) && dep !== current.metadata.name) next.add(dep);
      }
    });
    frontier = [...next];
  }
  return { jobs, truncated };
}

function phaseClass(graphJob: GraphJob): string {
  if (graphJob.job === undefined) return 'missing';
  return (graphJob.job.status?.phase ?? 'Pending').toLowerCase();
}

/** Shortens `text` to `max` characters with an ellipsis. */
function fit(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The graph section of the job detail page. Re-reads the graph when the current job's
 * dependencies, phase or attempts change (so upstream phases stay fresh enough); the current
 * job's own box always shows the live `job`.
 */
export function DependencyGraph({ api, job }: { api: Api; job: Job }) {
  const namespace = job.metadata.namespace ?? 'default';
  const name = job.metadata.name;
  const key = [namespace, name, (job.spec.dependsOn ?? []).join(','), job.status?.phase ?? '', job.status?.attempts ?? 0].join('|');
  const graph = useLoad((signal) => readGraph(api, job, signal), key);

  if (graph.data === undefined) {
    if (graph.error !== undefined) {
      return (
        <ErrorNote error={graph.error} />
      );
    }
    return (
      <Loading />
    );
  }
  const jobs = new Map(graph.data.jobs);
  jobs.set(name, { name, job });
  if (jobs.size === 1) return <p class="muted empty-note">No dependencies: this job neither waits for other jobs nor has jobs waiting for it.</p>;

  const edges: DagEdge[] = [];
  for (const item of jobs.values()) {
    for (const dep of item.job?.spec.dependsOn ?? []) edges.push({ from: dep, to: item.name });
  }
  const ids = [...jobs.keys()];
  const layout = layoutDag(ids, edges);
  const { boxWidth, boxHeight } = DEFAULT_DAG_METRICS;
  const maxChars = Math.floor((boxWidth - 20) / 7);
  return (
    <div class="dag-wrap">
      {graph.error !== undefined && (
        <ErrorNote error={graph.error} />
      )}
      <svg class="dag" data-testid="dep-graph" width={layout.width} height={layout.height} viewBox={`0 0 ${layout.width} ${layout.height}`} role="img" aria-label={`Dependency graph of ${name}`}>
        <defs>
          <marker id="dag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="arrow" />
          </marker>
        </defs>
        {layout.edges.map((edge) => (
          <path key={`${edge.from}->${edge.to}`} d={edge.path} class={`edge${edge.from === name || edge.to === name ? ' current' : ''}`} marker-end="url(#dag-arrow)" />
        ))}
        {layout.boxes.map((box) => {
          const item = jobs.get(box.id);
          if (item === undefined) return null;
          const phase = phaseClass(item);
          const current = box.id === name;
          const label = item.job === undefined ? 'missing' : (item.job.status?.phase ?? 'Pending');
          return (
            <a key={box.id} href={href(['jobs', namespace, box.id])}>
              <g data-job={box.id} class={`phase-${phase}${current ? ' current' : ''}`} transform={`translate(${box.x},${box.y})`}>
                <title>{`${box.id} — ${label}${current ? ' (this job)' : ''}`}</title>
                <rect class="box" width={boxWidth} height={boxHeight} rx={6} ry={6} />
                <text class="name" x={10} y={18}>
                  {fit(box.id, maxChars)}
                </text>
                <text class="phase" x={10} y={34}>
                  {current ? `${label} · this job` : label}
                </text>
              </g>
            </a>
          );
        })}
      </svg>
      {(graph.data.upstreamTruncated || graph.data.dependentsTotal > MAX_DEPENDENTS) && (
        <p class="muted">
          {graph.data.upstreamTruncated ? `Only the first ${MAX_UPSTREAM_JOBS} upstream jobs are drawn. ` : ''}
          {graph.data.dependentsTotal > MAX_DEPENDENTS ? `${MAX_DEPENDENTS} of ${graph.data.dependentsTotal} dependents are drawn.` : ''}
        </p>
      )}
    </div>
  );
}

// Dead letters: the jobs that failed for good (phase Failed), with the command that retries each.
// The dashboard only reads: retrying is `osctl retry`, which needs the operator or admin role.
import { JobTable, type JobColumn, type JobTableInfo } from '../components/job-table.js';
import { formatCount } from '../format.js';
import { navigate } from '../router.js';

const FIXED = { phase: 'Failed' } as const;
const COLUMNS: readonly JobColumn[] = ['name', 'namespace', 'node', 'attempts', 'reason', 'message', 'completed', 'retry'];

export function DeadLetterPage({ query }: { query: URLSearchParams }) {
  return (
    <section data-testid="dlq-page">
      <JobTable
        query={query}
        onQueryChange={(next, replace) => navigate(['dlq'], next, replace)}
        fixed={FIXED}
        columns={COLUMNS}
        testid="dlq-table"
        header={DeadLetterHeader}
        emptyText="The dead-letter queue is empty: no job has failed for good."
      />
    </section>
  );
}

function DeadLetterHeader({ page, live }: JobTableInfo) {
  return (
    <>
      <header class="page-header">
        <h2>Dead letters</h2>
        {page !== undefined && (
          <span class="muted">
            <span data-testid="dlq-count">{formatCount(page.total)}</span> {page.total === 1 ? 'job' : 'jobs'}
          </span>
        )}
        {live && <span class="live">live</span>}
      </header>
      <p class="explain">
        The dead-letter queue holds the jobs that failed for good: every attempt of their retry budget failed (<code>retryPolicy.maxRetries</code> ran out), or they failed for a
        reason retries do not cover, such as an exceeded deadline or a failed dependency. They keep their last reason and message here until they are retried or deleted.{' '}
        <code>osctl retry job/NAME -n NAMESPACE</code> puts a job back as Pending with a fresh retry budget (a new retry series); <code>osctl dlq list</code> shows this list in a
        terminal.
      </p>
    </>
  );
}

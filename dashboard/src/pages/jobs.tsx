// Jobs: every job, filtered, sorted and paged by the server; the state lives in the hash query
// (#/jobs?namespace=&phase=&driver=&node=&label=&q=&sort=&page=) so reload and back keep it.
import { JobTable, type JobTableInfo } from '../components/job-table.js';
import { formatCount } from '../format.js';
import { navigate } from '../router.js';

export function JobsPage({ query }: { query: URLSearchParams }) {
  return (
    <section data-testid="jobs-page">
      <JobTable query={query} onQueryChange={(next, replace) => navigate(['jobs'], next, replace)} header={JobsHeader} />
    </section>
  );
}

function JobsHeader({ page, live }: JobTableInfo) {
  return (
    <header class="page-header">
      <h2>Jobs</h2>
      {page !== undefined && (
        <span class="muted">
          <span data-testid="jobs-total">{formatCount(page.total)}</span> {page.total === 1 ? 'match' : 'matches'}
        </span>
      )}
      {live && <span class="live">live</span>}
    </header>
  );
}

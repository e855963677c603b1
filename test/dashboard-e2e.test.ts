// The web dashboard in a real browser (issue 6): headless Chromium (playwright-core) against the
// real `openscheduler dev` binary — one with its local agent, which runs the jobs with the process
// driver, and one without an agent holding 10,000 Pending jobs for paging. Checks the contract of
// the pages (their data-testid attributes): sign-in, live updates without reloads, logs
// following, dead letters, filters in the hash, paging, nodes. Every page visited is saved as a
// screenshot under test-artifacts/dashboard/ (git-ignored), 1400×900.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { collectPageProblems, launchBrowser, loginAs, screenshot, sessionOf, useSession, type LaunchedBrowser, type PageProblems } from './harness/browser.js';
import { api, createJob, inParallel, JOBS_API, osctl, processJob, waitFor, type Target } from './harness/e2e.js';
import { startServerProcess, type ServerProcess } from './harness/server.js';

/** Longest wait for something to show in a page (live updates arrive within a second or two). */
const UI_TIMEOUT_MS = 30_000;
const VIEWPORT = { width: 1400, height: 900 };
const BULK_JOBS = 10_000;
const VIEWER = { name: 'dash-viewer', password: 'viewer-password-123' };

/** What the tests read of a page's globals (the root tsconfig has no DOM types). */
interface PageGlobals {
  __dashboardMarker?: number;
  sessionStorage: { getItem(key: string): string | null };
  document: { querySelectorAll(selector: string): { length: number } };
  performance: { now(): number };
}

/** What the tests read of a row element. */
interface RowElement {
  getAttribute(name: string): string | null;
}

interface OpenedPage {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly problems: PageProblems;
  /** Full document loads of the page so far (a reload counts; hash navigation does not). */
  readonly loads: () => number;
}

/** A new browser context (own cache and sessionStorage) with one page that records its problems and loads. */
async function openPage(chrome: LaunchedBrowser): Promise<OpenedPage> {
  const context = await chrome.browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  const problems = collectPageProblems(page);
  let loads = 0;
  page.on('load', () => loads++);
  return { context, page, problems, loads: () => loads };
}

/** Runs `body` with a fresh page; on failure saves a screenshot `failed-NAME`; closes the context. */
async function withPage(chrome: LaunchedBrowser, name: string, body: (opened: OpenedPage) => Promise<void>): Promise<void> {
  const opened = await openPage(chrome);
  try {
    await body(opened);
  } catch (err) {
    await screenshot(opened.page, `failed-${name}`).catch(() => undefined);
    throw err;
  } finally {
    await opened.context.close();
  }
}

/** Marks the current document; assertSameDocument() then proves it was never reloaded. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    (globalThis as unknown as PageGlobals).__dashboardMarker = 1;
  });
}

async function assertSameDocument(page: Page, loads: number, opened: OpenedPage): Promise<void> {
  const marker = await page.evaluate(() => (globalThis as unknown as PageGlobals).__dashboardMarker);
  assert.equal(marker, 1, 'the page was reloaded (its marker is gone)');
  assert.equal(opened.loads(), loads, 'the page was loaded again');
}

/** Polls `read` until it equals `expected` (deep); fails with the last value seen. */
async function waitForValue<T>(what: string, read: () => Promise<T>, expected: T, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  let last: T | undefined;
  try {
    await waitFor(
      what,
      async () => {
        last = await read();
        return isDeepStrictEqual(last, expected) ? true : undefined;
      },
      timeoutMs,
      200,
    );
  } catch {
    assert.deepEqual(last, expected, `timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

/** The trimmed text of the first element with the test id. */
async function textOf(scope: Page | Locator, testId: string): Promise<string> {
  return (await scope.getByTestId(testId).first().innerText()).trim();
}

/** A formatted count ("10,000") as a number. */
function countOf(text: string): number {
  const value = Number(text.replace(/,/g, ''));
  assert.ok(Number.isInteger(value), `"${text}" is not a count`);
  return value;
}

/** "namespace/name" of every row (`job-row`) in the table with the test id, in page order (one snapshot). */
async function rowKeys(page: Page, tableTestId: string): Promise<string[]> {
  return page
    .getByTestId(tableTestId)
    .getByTestId('job-row')
    .evaluateAll((rows: readonly RowElement[]) => rows.map((row) => `${row.getAttribute('data-namespace')}/${row.getAttribute('data-name')}`));
}

interface JobPageAnswer {
  readonly total: number;
  readonly keys: string[];
}

/** The server's answer to the jobs query the dashboard makes (GET /dashboard/v1/jobs). */
async function dashboardJobs(target: Target, query: Record<string, string> = {}): Promise<JobPageAnswer> {
  const res = await api(target, 'GET', `/dashboard/v1/jobs?${new URLSearchParams(query).toString()}`);
  assert.equal(res.status, 200, res.text);
  const items = res.body.items as { metadata: { namespace: string; name: string } }[];
  return { total: res.body.total as number, keys: items.map((j) => `${j.metadata.namespace}/${j.metadata.name}`) };
}

/** Waits until the jobs table shows exactly the jobs (order and total) the server answers for `query`. */
async function expectJobsTable(page: Page, target: Target, query: Record<string, string>, what: string): Promise<JobPageAnswer> {
  let answer: JobPageAnswer | undefined;
  let shown: JobPageAnswer | undefined;
  try {
    return await waitFor(
      `the jobs table to show ${what}`,
      async () => {
        answer = await dashboardJobs(target, query);
        shown = { total: countOf(await textOf(page, 'jobs-total')), keys: await rowKeys(page, 'jobs-table') };
        return isDeepStrictEqual(shown, answer) ? answer : undefined;
      },
      UI_TIMEOUT_MS,
      200,
    );
  } catch (err) {
    assert.deepEqual(shown, answer, `the jobs table does not show ${what}: ${String(err)}`);
    throw err;
  }
}

async function jobPhase(target: Target, name: string, namespace = 'default'): Promise<string | undefined> {
  const res = await api(target, 'GET', `${JOBS_API}/namespaces/${namespace}/jobs/${name}`);
  return res.status === 200 ? (res.body.status?.phase as string | undefined) : undefined;
}

async function waitForJobPhase(target: Target, name: string, phase: string, namespace = 'default'): Promise<void> {
  await waitFor(`job ${namespace}/${name} to be ${phase}`, async () => ((await jobPhase(target, name, namespace)) === phase ? true : undefined), 60_000, 200);
}

async function mustCreate(target: Target, manifest: Record<string, unknown>): Promise<void> {
  const reply = await createJob(target, manifest);
  assert.equal(reply.status, 201, reply.text);
}

/** The query of the page's hash route (`#/jobs?x=y` → x=y). */
function hashQuery(page: Page): URLSearchParams {
  const hash = new URL(page.url()).hash;
  return new URLSearchParams(hash.includes('?') ? hash.slice(hash.indexOf('?') + 1) : '');
}

void describe('the web dashboard in a browser', () => {
  let server: ServerProcess; // with dev's local agent: jobs run
  let bulk: ServerProcess; // no agent: 10,000 jobs stay Pending
  let chrome: LaunchedBrowser;
  let work: string;
  let localNode: string;
  let bulkAdminPassword: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'os-dashboard-e2e-'));
    [server, bulk, chrome] = await Promise.all([startServerProcess({ localAgent: true }), startServerProcess(), launchBrowser()]);
    bulkAdminPassword = (await readFile(bulk.adminPasswordPath, 'utf8')).trim();
    const created = await osctl(['user', 'create', VIEWER.name, '--role', 'viewer', '--password-stdin'], { OSCTL_CONFIG: server.osctlConfigPath, HOME: work }, { stdin: `${VIEWER.password}\n` });
    assert.equal(created.code, 0, created.stderr);
    localNode = await waitFor('the local agent to register a Ready node', async () => {
      const res = await api(server, 'GET', `${JOBS_API}/nodes`);
      const ready = ((res.body?.items ?? []) as { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[]).find((n) =>
        (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return ready?.metadata.name;
    });
  });

  after(async () => {
    await chrome?.close();
    await Promise.all([server?.stop(), bulk?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  void it('signs in (viewer role), shows who is signed in, signs out; the data needs a token', async () => {
    for (const path of ['/dashboard/v1/summary', '/dashboard/v1/jobs', '/dashboard/v1/nodes']) {
      const res = await fetch(`${server.httpUrl}${path}`);
      assert.equal(res.status, 401, `${path} without a token`);
    }
    await withPage(chrome, 'login', async (opened) => {
      const { page, problems } = opened;
      const dataAnswers: string[] = [];
      page.on('response', (response) => {
        const path = new URL(response.url()).pathname;
        if (/^\/(dashboard|apis|api)\//.test(path) && path !== '/api/v1/auth/login' && response.ok()) dataAnswers.push(`${response.status()} ${path}`);
      });
      const index = await page.goto(`${server.httpUrl}/`);
      // the app runs under helmet's default CSP (a violation would show as a console error)
      assert.match((await index?.allHeaders())?.['content-security-policy'] ?? '', /script-src 'self'/);
      await page.getByTestId('login-form').waitFor();
      assert.equal(await page.getByTestId('whoami').count(), 0, 'no shell without a session');
      await screenshot(page, 'login');

      const refused = await fetch(`${server.httpUrl}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: VIEWER.name, password: 'not-the-password' }),
      });
      assert.equal(refused.status, 401);
      const serverMessage = ((await refused.json()) as { message: string }).message;
      await page.locator('#username').fill(VIEWER.name);
      await page.locator('#password').fill('not-the-password');
      await page.getByTestId('login-submit').click();
      await page.getByTestId('login-error').waitFor();
      assert.equal(await textOf(page, 'login-error'), serverMessage);
      await screenshot(page, 'login-error');
      assert.deepEqual(dataAnswers, [], 'no data was answered before signing in');

      await loginAs(page, server.httpUrl, VIEWER.name, VIEWER.password);
      const whoami = await textOf(page, 'whoami');
      assert.match(whoami, new RegExp(`\\b${VIEWER.name}\\b`));
      assert.match(whoami, /\bviewer\b/);
      await page.getByTestId('overview').waitFor();
      await page.getByTestId('phase-count-Pending').waitFor();
      await screenshot(page, 'overview');

      await page.getByTestId('logout').click();
      await page.getByTestId('login-form').waitFor();
      assert.equal(await page.getByTestId('whoami').count(), 0);
      const session = await page.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.getItem('openscheduler.session'));
      assert.equal(session, null, 'signing out forgets the session');
      // the refused login answers 401 (and Chromium logs it); nothing else may fail
      problems.assertNone([/\/api\/v1\/auth\/login/]);
    });
  });

  void it('shows a job go from Pending to Succeeded without a reload, with its dependency graph', async () => {
    await withPage(chrome, 'job-live', async (opened) => {
      const { page, problems } = opened;
      await loginAs(page, server.httpUrl, VIEWER.name, VIEWER.password);
      await mustCreate(server, processJob('dep-a', ['/bin/sh', '-c', 'sleep 4']));
      await mustCreate(server, processJob('dep-b', ['/bin/sh', '-c', 'echo b done'], { dependsOn: ['dep-a'] }));
      assert.equal(await jobPhase(server, 'dep-b'), 'Pending');

      await page.goto(`${server.httpUrl}/#/jobs/default/dep-b`);
      await page.getByTestId('job-detail').waitFor();
      await page.getByTestId('job-phase').filter({ hasText: 'Pending' }).waitFor();
      await markDocument(page);
      const loads = opened.loads();
      let navigations = 0;
      page.on('framenavigated', (frame) => {
        if (frame === page.mainFrame()) navigations++;
      });
      await screenshot(page, 'job-detail-pending');

      await page.getByTestId('job-phase').filter({ hasText: 'Succeeded' }).waitFor({ timeout: UI_TIMEOUT_MS });
      await assertSameDocument(page, loads, opened);
      assert.equal(navigations, 0, 'the page did not navigate while the job ran');
      assert.equal(await jobPhase(server, 'dep-b'), 'Succeeded');

      const graph = page.getByTestId('dep-graph');
      await graph.locator('g[data-job="dep-a"]').waitFor();
      await graph.locator('g[data-job="dep-b"]').waitFor();
      assert.match((await graph.locator('g[data-job="dep-b"]').getAttribute('class')) ?? '', /\bcurrent\b/);
      assert.doesNotMatch((await graph.locator('g[data-job="dep-a"]').getAttribute('class')) ?? '', /\bcurrent\b/);
      await waitForValue('dep-a drawn as succeeded', async () => /\bphase-succeeded\b/.test((await graph.locator('g[data-job="dep-a"]').getAttribute('class')) ?? ''), true);
      await screenshot(page, 'job-detail-overview');

      await page.getByTestId('tab-yaml').click();
      await page.getByTestId('job-yaml').filter({ hasText: 'name: dep-b' }).waitFor();
      assert.doesNotMatch(await textOf(page, 'job-yaml'), /managedFields/);
      await screenshot(page, 'job-detail-yaml');
      await page.getByTestId('tab-events').click();
      await page.getByTestId('events-table').getByTestId('event-row').first().waitFor();
      await screenshot(page, 'job-detail-events');
      problems.assertNone();
    });
  });

  void it('follows a running job’s logs', async () => {
    await withPage(chrome, 'logs', async (opened) => {
      const { page, problems } = opened;
      await loginAs(page, server.httpUrl, VIEWER.name, VIEWER.password);
      await mustCreate(server, processJob('log-lines', ['/bin/sh', '-c', 'for i in 1 2 3 4 5 6; do echo line-$i; sleep 1; done']));
      await page.goto(`${server.httpUrl}/#/jobs/default/log-lines?tab=logs`);
      await page.getByTestId('job-logs').waitFor();
      await markDocument(page);
      const loads = opened.loads();
      assert.equal(await page.getByTestId('logs-follow').isChecked(), true, 'logs are followed by default');

      await page.getByTestId('job-logs').filter({ hasText: 'line-1' }).waitFor();
      assert.equal(await jobPhase(server, 'log-lines'), 'Running', 'line-1 is shown while the job still runs');
      assert.doesNotMatch(await textOf(page, 'job-logs'), /line-6/);
      await screenshot(page, 'job-detail-logs-running');

      await page.getByTestId('job-logs').filter({ hasText: 'line-6' }).waitFor();
      const text = await textOf(page, 'job-logs');
      assert.match(text, /line-1\nline-2\nline-3\nline-4\nline-5\nline-6/);
      await assertSameDocument(page, loads, opened);
      await screenshot(page, 'job-detail-logs');
      problems.assertNone();
    });
  });

  void it('shows a dead letter as it happens, with the retry command', async () => {
    await withPage(chrome, 'dlq', async (opened) => {
      const { page, problems } = opened;
      await loginAs(page, server.httpUrl, VIEWER.name, VIEWER.password);
      await page.goto(`${server.httpUrl}/#/dlq`);
      await page.getByTestId('dlq-page').waitFor();
      await page.getByTestId('dlq-count').waitFor();
      await markDocument(page);
      const loads = opened.loads();

      await mustCreate(server, processJob('exit-three', ['/bin/sh', '-c', 'exit 3'], { retryPolicy: { maxRetries: 0 } }));
      const row = page.getByTestId('dlq-table').locator('[data-testid="job-row"][data-name="exit-three"]');
      await row.waitFor();
      assert.equal(await row.getAttribute('data-namespace'), 'default');
      assert.match(await row.locator('code').first().innerText(), /^osctl retry job\/exit-three -n default$/);
      assert.ok(countOf(await textOf(page, 'dlq-count')) >= 1);
      await assertSameDocument(page, loads, opened);
      await screenshot(page, 'dlq');

      await page.getByTestId('nav-overview').click();
      await page.getByTestId('overview').waitFor();
      await waitForValue('the overview to count the dead letter', async () => countOf(await textOf(page, 'dlq-count')) >= 1, true);
      await page.getByTestId('recent-failures').locator('[data-testid="job-row"][data-name="exit-three"]').waitFor();
      await screenshot(page, 'overview-with-failure');

      await page.goto(`${server.httpUrl}/#/jobs/default/exit-three`);
      await page.getByTestId('job-phase').filter({ hasText: 'Failed' }).waitFor();
      const attempt = page.getByTestId('attempts-table').getByTestId('attempt-row').first();
      await attempt.waitFor();
      const cells = (await attempt.locator('td').allInnerTexts()).map((t) => t.trim());
      assert.ok(cells.includes('3'), `an attempt cell shows exit code 3: ${JSON.stringify(cells)}`);
      await assertSameDocument(page, loads, opened);
      await screenshot(page, 'job-detail-failed');
      problems.assertNone();
    });
  });

  void it('filters jobs by phase, namespace, labels and name, keeping the filters in the hash', async () => {
    const planned = [
      { ns: 'filt-one', name: 'flt-a-ok', team: 'a', phase: 'Succeeded' },
      { ns: 'filt-one', name: 'flt-a-bad', team: 'a', phase: 'Failed' },
      { ns: 'filt-one', name: 'flt-b-wait', team: 'b', phase: 'Pending' },
      { ns: 'filt-two', name: 'flt-a-wait', team: 'a', phase: 'Pending' },
      { ns: 'filt-two', name: 'flt-b-ok', team: 'b', phase: 'Succeeded' },
      { ns: 'filt-two', name: 'flt-b-bad', team: 'b', phase: 'Failed' },
    ];
    // namespaces are plain strings here: no Namespace object has to exist first
    for (const job of planned) {
      const argv = job.phase === 'Failed' ? ['/bin/sh', '-c', 'exit 1'] : ['/bin/true'];
      const spec = job.phase === 'Pending' ? { nodeSelector: { 'dashboard-test': 'nowhere' } } : { retryPolicy: { maxRetries: 0 } };
      const manifest = processJob(job.name, argv, spec, job.ns);
      (manifest.metadata as Record<string, unknown>).labels = { team: job.team };
      await mustCreate(server, manifest);
    }
    for (const job of planned) await waitForJobPhase(server, job.name, job.phase, job.ns);

    await withPage(chrome, 'filters', async (opened) => {
      const { page, problems } = opened;
      await loginAs(page, server.httpUrl, VIEWER.name, VIEWER.password);
      await page.getByTestId('nav-jobs').click();
      await page.getByTestId('jobs-page').waitFor();
      await expectJobsTable(page, server, {}, 'every job');
      await screenshot(page, 'jobs');

      await page.getByTestId('filter-namespace').selectOption('filt-one');
      const one = await expectJobsTable(page, server, { namespace: 'filt-one' }, 'namespace filt-one');
      assert.deepEqual([...one.keys].sort(), ['filt-one/flt-a-bad', 'filt-one/flt-a-ok', 'filt-one/flt-b-wait']);

      await page.getByTestId('filter-phase').selectOption('Failed');
      const failed = await expectJobsTable(page, server, { namespace: 'filt-one', phase: 'Failed' }, 'failed jobs of filt-one');
      assert.deepEqual(failed.keys, ['filt-one/flt-a-bad']);
      for (const row of await page.getByTestId('jobs-table').getByTestId('job-row').all()) assert.equal(await row.getAttribute('data-phase'), 'Failed');

      await page.getByTestId('filter-clear').click();
      await expectJobsTable(page, server, {}, 'every job after clearing');

      await page.getByTestId('filter-label').fill('team=a');
      await page.getByTestId('filter-label').press('Enter');
      const teamA = await expectJobsTable(page, server, { labelSelector: 'team=a' }, 'team=a');
      assert.deepEqual([...teamA.keys].sort(), ['filt-one/flt-a-bad', 'filt-one/flt-a-ok', 'filt-two/flt-a-wait']);

      await page.getByTestId('filter-search').fill('WAIT');
      const waiting = await expectJobsTable(page, server, { labelSelector: 'team=a', q: 'WAIT' }, 'team=a named like "wait"');
      assert.deepEqual(waiting.keys, ['filt-two/flt-a-wait']);

      await page.getByTestId('filter-search').fill('');
      await page.getByTestId('filter-label').fill('team=b');
      await page.getByTestId('filter-label').press('Enter');
      await page.getByTestId('filter-namespace').selectOption('filt-two');
      const twoB = await expectJobsTable(page, server, { namespace: 'filt-two', labelSelector: 'team=b' }, 'team=b in filt-two');
      assert.deepEqual([...twoB.keys].sort(), ['filt-two/flt-b-bad', 'filt-two/flt-b-ok']);
      await screenshot(page, 'jobs-filtered');

      const query = hashQuery(page);
      assert.equal(query.get('namespace'), 'filt-two');
      assert.equal(query.get('label'), 'team=b');
      await page.reload();
      await page.getByTestId('jobs-page').waitFor();
      await expectJobsTable(page, server, { namespace: 'filt-two', labelSelector: 'team=b' }, 'the same filters after a reload');
      assert.equal(await page.getByTestId('filter-namespace').inputValue(), 'filt-two');
      assert.equal(await page.getByTestId('filter-label').inputValue(), 'team=b');

      await page.getByTestId('filter-clear').click();
      await expectJobsTable(page, server, {}, 'every job after clearing');
      const cleared = hashQuery(page);
      for (const key of ['namespace', 'phase', 'driver', 'node', 'label', 'q']) assert.equal(cleared.get(key) ?? '', '', `${key} cleared from the hash`);
      assert.equal(await page.getByTestId('filter-label').inputValue(), '');
      problems.assertNone();
    });
  });

  void it(`pages through ${BULK_JOBS.toLocaleString('en-US')} jobs`, async () => {
    const names = Array.from({ length: BULK_JOBS }, (_, i) => `bulk-${String(i).padStart(5, '0')}`);
    const started = performance.now();
    await inParallel(names, 16, async (name) => mustCreate(bulk, processJob(name, ['/bin/true'])));
    console.log(`dashboard: created ${BULK_JOBS.toLocaleString('en-US')} jobs through the API in ${Math.round(performance.now() - started)} ms (16 in flight)`);
    await waitFor('the dashboard read model to hold every job', async () => ((await dashboardJobs(bulk, { limit: '1' })).total === BULK_JOBS ? true : undefined), UI_TIMEOUT_MS, 200);

    let session = '';
    await withPage(chrome, 'bulk-login', async ({ page }) => {
      await loginAs(page, bulk.httpUrl, 'admin', bulkAdminPassword);
      session = await sessionOf(page);
    });

    await withPage(chrome, 'bulk', async (opened) => {
      const { page, problems } = opened;
      await useSession(page, session); // a fresh context (cold cache), already signed in
      const navigationStart = performance.now();
      await page.goto(`${bulk.httpUrl}/#/jobs`, { waitUntil: 'commit' });
      const inPage = await page.waitForFunction(
        () => {
          const g = globalThis as unknown as PageGlobals;
          return g.document.querySelectorAll('[data-testid="jobs-table"] [data-testid="job-row"]').length >= 50 ? g.performance.now() : false;
        },
        undefined,
        { polling: 'raf', timeout: UI_TIMEOUT_MS },
      );
      await page.getByTestId('jobs-table').getByTestId('job-row').nth(49).waitFor({ state: 'visible' });
      const elapsed = Math.round(performance.now() - navigationStart);
      const sinceNavigationStart = Math.round((await inPage.jsonValue()) as number);
      console.log(
        `dashboard: first page of jobs with 10,000 jobs in the store rendered in ${elapsed} ms ` +
          `(test clock, page.goto to the 50th row visible; the page's own clock: ${sinceNavigationStart} ms after navigation start; fresh context, cold cache)`,
      );
      await screenshot(page, 'jobs-10000');

      const firstPage = await rowKeys(page, 'jobs-table');
      assert.equal(firstPage.length, 50);
      assert.deepEqual(firstPage, (await dashboardJobs(bulk)).keys);
      await waitForValue('page-info of page 1', () => textOf(page, 'page-info'), '1–50 of 10,000');
      assert.equal(await textOf(page, 'jobs-total'), '10,000');
      assert.equal(await page.getByTestId('page-first').isDisabled(), true);
      assert.equal(await page.getByTestId('page-prev').isDisabled(), true);

      await page.getByTestId('page-next').click();
      await waitForValue('page-info of page 2', () => textOf(page, 'page-info'), '51–100 of 10,000');
      await waitForValue('rows of page 2', () => rowKeys(page, 'jobs-table'), (await dashboardJobs(bulk, { offset: '50' })).keys);
      const secondPage = await rowKeys(page, 'jobs-table');
      assert.equal(secondPage.filter((k) => firstPage.includes(k)).length, 0, 'page 2 shows other jobs than page 1');
      assert.equal(hashQuery(page).get('page'), '2');

      await page.getByTestId('page-last').click();
      await waitForValue('page-info of the last page', () => textOf(page, 'page-info'), '9,951–10,000 of 10,000');
      await waitForValue('rows of the last page', () => rowKeys(page, 'jobs-table'), (await dashboardJobs(bulk, { offset: '9950' })).keys);
      assert.equal(await page.getByTestId('page-next').isDisabled(), true);
      assert.equal(await page.getByTestId('page-last').isDisabled(), true);
      await screenshot(page, 'jobs-10000-last-page');

      await page.getByTestId('sort-created').click();
      await waitForValue('oldest first', () => rowKeys(page, 'jobs-table'), (await dashboardJobs(bulk, { sort: 'creationTimestamp' })).keys);
      await waitForValue('page-info after sorting', () => textOf(page, 'page-info'), '1–50 of 10,000');
      await page.getByTestId('sort-created').click();

      await page.getByTestId('filter-phase').selectOption('Pending');
      await waitForValue('every job Pending', () => textOf(page, 'page-info'), '1–50 of 10,000');
      await page.getByTestId('filter-phase').selectOption('Running');
      await waitForValue('no job Running', () => textOf(page, 'page-info'), '0 of 0');
      assert.equal(await page.getByTestId('jobs-table').getByTestId('job-row').count(), 0);
      await screenshot(page, 'jobs-10000-none-running');
      await page.getByTestId('filter-phase').selectOption('');

      await page.getByTestId('filter-search').fill('bulk-0999');
      const found = await dashboardJobs(bulk, { q: 'bulk-0999' });
      assert.equal(found.total, 10);
      await waitForValue('the name search', () => rowKeys(page, 'jobs-table'), found.keys);
      await waitForValue('page-info of the name search', () => textOf(page, 'page-info'), '1–10 of 10');

      await page.getByTestId('nav-overview').click();
      await page.getByTestId('overview').waitFor();
      await waitForValue('the Pending count', () => textOf(page, 'phase-count-Pending'), '10,000');
      assert.equal(await textOf(page, 'jobs-total'), '10,000');
      assert.equal(await textOf(page, 'phase-count-Succeeded'), '0');
      await screenshot(page, 'overview-10000');
      problems.assertNone();
    });
  });

  void it('lists the local node with its drivers and the jobs that ran there', async () => {
    await mustCreate(server, processJob('on-the-node', ['/bin/sh', '-c', 'echo hi']));
    await waitForJobPhase(server, 'on-the-node', 'Succeeded');
    await withPage(chrome, 'nodes', async (opened) => {
      const { page, problems } = opened;
      await loginAs(page, server.httpUrl, VIEWER.name, VIEWER.password);
      await page.getByTestId('nav-nodes').click();
      await page.getByTestId('nodes-page').waitFor();
      const row = page.getByTestId('nodes-table').locator(`[data-testid="node-row"][data-name="${localNode}"]`);
      await row.waitFor();
      assert.equal(await row.getAttribute('data-ready'), 'true');
      const tags = (await row.locator('.tag').allInnerTexts()).map((t) => t.trim());
      assert.ok(tags.includes('process'), `the process driver is among the tags: ${JSON.stringify(tags)}`);
      await screenshot(page, 'nodes');

      await row.getByRole('link', { name: localNode }).first().click();
      await page.getByTestId('node-detail').waitFor();
      assert.match(await textOf(page, 'node-ready'), /^(?!.*not).*ready/i);
      await page.getByTestId('node-jobs').locator('[data-testid="job-row"][data-name="on-the-node"]').waitFor();
      await screenshot(page, 'node-detail');
      problems.assertNone();
    });
  });
});

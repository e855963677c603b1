// Takes the README's dashboard screenshots from a real run: `openscheduler dev` with its local
// agent, the examples applied (a DAG, hello) plus a few jobs that fail, run long or wait, then
// headless Chromium signed in as the admin. Writes docs/images/dashboard-overview.png and
// docs/images/dashboard-job.png.
// Usage: node --import tsx hack/dashboard-screenshots.ts   (after `npm run build`)
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launchBrowser, loginAs } from '../test/harness/browser.js';
import { repoRoot } from '../test/harness/bin.js';
import { createJob, osctl, processJob, waitForPhase, type Target } from '../test/harness/e2e.js';
import { startServerProcess } from '../test/harness/server.js';

const OUT = join(repoRoot, 'docs', 'images');
const VIEWPORT = { width: 1400, height: 900 };

async function main(): Promise<void> {
  const server = await startServerProcess({ localAgent: true });
  const chrome = await launchBrowser().catch(async (err: unknown) => {
    await server.stop();
    throw err;
  });
  try {
    const target: Target = server;
    const env = { OSCTL_CONFIG: server.osctlConfigPath, HOME: server.home };
    for (const path of ['examples/hello.yaml', 'examples/dag/']) {
      const applied = await osctl(['apply', '-R', '-f', join(repoRoot, path)], env);
      if (applied.code !== 0) throw new Error(`osctl apply ${path}: ${applied.stderr}`);
    }
    const extra = [
      processJob('report-daily', ['/bin/sh', '-c', 'echo building report; sleep 2; echo done'], {}),
      processJob('backfill-2026-11', ['/bin/sh', '-c', 'echo backfilling; sleep 600'], {}),
      processJob('sync-inventory', ['/bin/sh', '-c', 'echo connecting to inventory; echo upstream refused >&2; exit 3'], { retryPolicy: { maxRetries: 0 } }),
      processJob('publish', ['/bin/echo', 'published'], { dependsOn: ['backfill-2026-11'] }),
    ];
    for (const manifest of extra) {
      const created = await createJob(target, manifest);
      if (created.status !== 201) throw new Error(`create: ${created.status} ${JSON.stringify(created.body)}`);
    }
    await waitForPhase(target, 'load', ['Succeeded']);
    await waitForPhase(target, 'sync-inventory', ['Failed']);
    await waitForPhase(target, 'report-daily', ['Succeeded']);
    await waitForPhase(target, 'backfill-2026-11', ['Running']);

    const password = (await readFile(server.adminPasswordPath, 'utf8')).trim();
    const context = await chrome.browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    await loginAs(page, server.httpUrl, 'admin', password);
    await page.getByTestId('phase-count-Succeeded').waitFor();
    await page.getByTestId('recent-failures').waitFor();
    await page.screenshot({ path: join(OUT, 'dashboard-overview.png') });
    await page.goto(`${server.httpUrl}/#/jobs/default/transform`);
    await page.locator('[data-testid="dep-graph"] g[data-job="load"]').waitFor();
    await page.getByTestId('attempts-table').waitFor();
    await page.screenshot({ path: join(OUT, 'dashboard-job.png'), fullPage: true });
    await context.close();
    console.log(`dashboard-screenshots: wrote ${join('docs', 'images')}/dashboard-overview.png and dashboard-job.png`);
  } finally {
    await chrome.close();
    await server.stop();
  }
}

await main();

// The browser tests' Chromium: Debian's /usr/bin/chromium (or $CHROMIUM_PATH) driven by
// playwright-core, headless, with the flags of DESIGN.md section 4. Also: signing in to the
// dashboard, screenshots under test-artifacts/dashboard/, and a record of what went wrong in a
// page (console errors — CSP violations included —, uncaught exceptions, failed requests).
import { randomUUID } from 'node:crypto';
import { access, constants, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot } from './bin.js';
import { processesWith } from './e2e.js';

export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Where screenshots go (git-ignored). */
export const SCREENSHOT_DIR = join(repoRoot, 'test-artifacts', 'dashboard');

/** The key under which the dashboard keeps its session in sessionStorage (dashboard/src/session.ts). */
export const SESSION_STORAGE_KEY = 'openscheduler.session';

/** The page globals the harness touches (the root tsconfig has no DOM types). */
interface PageStorage {
  readonly sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
}

export interface LaunchedBrowser {
  readonly browser: Browser;
  /** PID of the browser's main process (the leader of its own process group). */
  readonly pid: number | undefined;
  /** Closes the browser; if its process outlives that (or close hangs), kills its process group. Idempotent. */
  close(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Launches headless Chromium. Throws "install Debian's chromium" when the executable is missing.
 * The browser's command line carries a marker argument (Chromium ignores unknown switches) by
 * which its PID is found, so that close() can be sure the process ended.
 */
export async function launchBrowser(): Promise<LaunchedBrowser> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  try {
    await access(executablePath, constants.X_OK);
  } catch {
    throw new Error(`no Chromium at ${executablePath} (CHROMIUM_PATH): install Debian's chromium: apt-get install chromium`);
  }
  const marker = `--openscheduler-test-browser=${process.pid}-${randomUUID()}`;
  const browser = await chromium.launch({ executablePath, args: [...CHROMIUM_FLAGS, marker], timeout: 60_000 });
  // playwright spawns the browser as a process group leader (/usr/bin/chromium execs the binary)
  const [pid] = await processesWith(marker);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const gaveUp = new AbortController();
      await Promise.race([browser.close().catch(() => undefined), sleep(15_000, undefined, { signal: gaveUp.signal }).catch(() => undefined)]);
      gaveUp.abort(); // no timer left to keep the process alive
      if (pid === undefined) return;
      for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
      if (!alive(pid)) return;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        process.kill(pid, 'SIGKILL');
      }
    })();
    return closing;
  };
  return { browser, pid, close };
}

/** Saves a full-page PNG of `page` as test-artifacts/dashboard/NAME.png; answers its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Opens the dashboard at `baseUrl` and signs in with the login form; resolves once the shell shows `user`. */
export async function loginAs(page: Page, baseUrl: string, user: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.getByTestId('login-form').waitFor({ timeout: 30_000 });
  await page.locator('#username').fill(user);
  await page.locator('#password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('whoami').filter({ hasText: user }).waitFor({ timeout: 30_000 });
}

/** The session a signed-in page keeps (to open further pages of the same user without the form). */
export async function sessionOf(page: Page): Promise<string> {
  const session = await page.evaluate((key) => (globalThis as unknown as PageStorage).sessionStorage.getItem(key), SESSION_STORAGE_KEY);
  if (session === null) throw new Error('the page has no dashboard session');
  return session;
}

/** Makes `page` start every document with `session` in sessionStorage (as if signed in). */
export async function useSession(page: Page, session: string): Promise<void> {
  await page.addInitScript(([key, value]) => (globalThis as unknown as PageStorage).sessionStorage.setItem(key, value), [SESSION_STORAGE_KEY, session] as const);
}

export interface PageProblems {
  /** Everything that went wrong so far, one line each. */
  list(): readonly string[];
  /** Throws listing the problems not matched by any of `expected`. */
  assertNone(expected?: readonly RegExp[]): void;
}

/**
 * Records a page's console errors (CSP violations appear there), uncaught exceptions, requests
 * that failed at the network level and answers with HTTP status >= 400. Requests the app aborts
 * itself (a watch or log stream ended by navigation: net::ERR_ABORTED) do not count.
 */
export function collectPageProblems(page: Page): PageProblems {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location().url;
    problems.push(`console error: ${message.text()}${where ? ` (${where})` : ''}`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught exception: ${error.stack ?? error.message}`));
  page.on('requestfailed', (request) => {
    const reason = request.failure()?.errorText ?? 'failed';
    if (reason === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${request.method()} ${request.url()} (${reason})`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
  });
  return {
    list: () => [...problems],
    assertNone: (expected = []) => {
      const unexpected = problems.filter((p) => !expected.some((re) => re.test(p)));
      if (unexpected.length > 0) throw new Error(`the page had problems:\n${unexpected.join('\n')}`);
    },
  };
}

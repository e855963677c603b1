// The alerting rules in manifests/prometheus/ cannot drift: Prometheus' own promtool checks the
// rule file and runs its unit tests (openscheduler-alerts.test.yaml), and every metric family and
// label the expressions use is exposed by a real `openscheduler dev` and a real `openscheduler
// agent`, scraped over HTTP with their tokens. Skipped only when promtool is not installed
// (Debian's `prometheus` package; .ci/run installs it).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { startAgentProcess, type AgentProcess } from './harness/agent.js';
import { repoRoot } from './harness/bin.js';
import { api, JOBS_API, waitFor } from './harness/e2e.js';
import { parseExposition, scrape, type Exposition } from './harness/prometheus.js';
import { startServerProcess, type ServerProcess } from './harness/server.js';

const run = promisify(execFile);
const dir = join(repoRoot, 'manifests', 'prometheus');
const RULES = join(dir, 'openscheduler-alerts.yaml');
const UNIT_TESTS = join(dir, 'openscheduler-alerts.test.yaml');
/** Series the rules read that Open Scheduler does not expose (the blackbox exporter's probe of /readyz). */
const EXTERNAL_METRICS = new Set(['probe_success']);
const HISTOGRAM_SUFFIXES = ['_bucket', '_count', '_sum'];

interface Rule {
  readonly alert: string;
  readonly expr: string;
}

async function promtoolMissing(): Promise<string | false> {
  try {
    await run('promtool', ['--version']);
    return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'promtool is not installed (apt-get install prometheus; .ci/run does)';
    throw err;
  }
}

async function promtool(args: readonly string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: dir });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

async function readRules(): Promise<Rule[]> {
  const doc = parse(await readFile(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ alert: r.alert, expr: String(r.expr) })));
}

/** family -> label name -> values seen, from the sample lines (histograms: their _bucket/_count/_sum lines). */
function labelsByFamily(exposition: Exposition): Map<string, Map<string, Set<string>>> {
  const out = new Map<string, Map<string, Set<string>>>();
  for (const name of exposition.families.keys()) out.set(name, new Map());
  for (const line of exposition.text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+/.exec(line);
    if (!m) continue;
    let name = m[1]!;
    if (!out.has(name)) {
      const suffix = HISTOGRAM_SUFFIXES.find((s) => name.endsWith(s) && out.has(name.slice(0, -s.length)));
      if (suffix === undefined) continue;
      name = name.slice(0, -suffix.length);
    }
    const labels = out.get(name)!;
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      let values = labels.get(k!);
      if (values === undefined) labels.set(k!, (values = new Set()));
      values.add(v!);
    }
  }
  return out;
}

/** The family a series name in an expression belongs to: itself, or the histogram it is a series of. */
function familyOf(name: string, families: ReadonlyMap<string, unknown>): string | undefined {
  if (families.has(name)) return name;
  const suffix = HISTOGRAM_SUFFIXES.find((s) => name.endsWith(s) && families.has(name.slice(0, -s.length)));
  return suffix === undefined ? undefined : name.slice(0, -suffix.length);
}

/**
 * What an expression's metrics and labels lack in `exposed`: every problem as a sentence. Checks
 * each openscheduler_* name, each label of a selector's matchers (and the value of `=` matchers),
 * and each label of by/without/on/ignoring on at least one family the expression reads.
 */
function problems(rule: Rule, exposed: Map<string, Map<string, Set<string>>>): string[] {
  const found: string[] = [];
  const families = new Set<string>();
  for (const [, name] of rule.expr.matchAll(/\b(openscheduler_[a-z_]+)\b/g)) {
    const family = familyOf(name!, exposed);
    if (family === undefined) found.push(`${rule.alert}: ${name} is not exposed`);
    else families.add(family);
  }
  for (const [, name] of rule.expr.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{/g)) {
    if (!name!.startsWith('openscheduler_') && !EXTERNAL_METRICS.has(name!)) found.push(`${rule.alert}: selector of unknown metric ${name}`);
  }
  for (const [, name, body] of rule.expr.matchAll(/\b(openscheduler_[a-z_]+)\s*\{([^}]*)\}/g)) {
    const labels = exposed.get(familyOf(name!, exposed) ?? '');
    if (labels === undefined) continue;
    for (const [, label, op, value] of body!.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      const values = labels.get(label!);
      if (values === undefined) found.push(`${rule.alert}: ${name} has no label ${label} (has ${[...labels.keys()].join(', ') || 'none'})`);
      else if (op === '=' && !values.has(value!)) found.push(`${rule.alert}: ${name} has no ${label}="${value}" (has ${[...values].join(', ')})`);
    }
  }
  for (const [, list] of rule.expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
    for (const label of list!.split(',').map((l) => l.trim()).filter((l) => l !== '')) {
      if (![...families].some((f) => exposed.get(f)!.has(label))) found.push(`${rule.alert}: no family of the expression has label ${label}`);
    }
  }
  return found;
}

void describe('prometheus alerting rules', { timeout: 90_000 }, async () => {
  const missing = await promtoolMissing();

  void it('promtool check rules accepts the rule file', { skip: missing }, async () => {
    const { code, output } = await promtool(['check', 'rules', RULES]);
    assert.equal(code, 0, output);
    assert.match(output, /SUCCESS: \d+ rules found/);
  });

  void it('promtool test rules passes the unit tests; the healthy case lists every alert', { skip: missing }, async () => {
    const { code, output } = await promtool(['test', 'rules', UNIT_TESTS]);
    assert.equal(code, 0, output);
    assert.match(output, /SUCCESS/);
    const tests = (parse(await readFile(UNIT_TESTS, 'utf8')) as { tests: { name: string; alert_rule_test: { alertname: string }[] }[] }).tests;
    const healthy = tests.find((t) => t.name === 'healthy');
    assert.ok(healthy, 'a test named healthy');
    assert.deepEqual(new Set(healthy.alert_rule_test.map((t) => t.alertname)), new Set((await readRules()).map((r) => r.alert)));
  });

  void describe('every metric and label the rules use is exposed by a real server and agent', () => {
    let server: ServerProcess;
    let agent: AgentProcess | undefined;
    let work: string;
    const agentToken = 'prometheus-rules-agent-token-0123456789';

    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'os-prom-rules-'));
      await writeFile(join(work, 'metrics.token'), `${agentToken}\n`, { mode: 0o600 });
      server = await startServerProcess();
    });
    after(async () => {
      await agent?.stop();
      await server?.stop();
      await rm(work, { recursive: true, force: true });
    });

    void it('scrapes both and finds each family and matcher label', async () => {
      agent = await startAgentProcess({
        grpcAddress: server.grpcAddress,
        tokenFile: server.joinTokenPath,
        nodeName: `prom-rules-${process.pid}`,
        extraArgs: ['--drivers', 'process', '--metrics-token-file', join(work, 'metrics.token')],
      });
      const agentUrl = await waitFor('the agent metrics listener', async () => /metrics listening url=(http:\/\/127\.0\.0\.1:\d+)/.exec(agent!.output())?.[1], 30_000);
      // a request first, so the API counter has a labelled series
      assert.equal((await api(server, 'GET', `${JOBS_API}/namespaces/default/jobs`)).status, 200);
      // the node registered: its capacity series exist
      const serverExposition = await waitFor('the node in the server metrics', async () => {
        const { status, exposition } = await scrape(`${server.httpUrl}/metrics`, server.token);
        assert.equal(status, 200);
        return /^openscheduler_node_capacity\{/m.test(exposition.text) ? exposition : undefined;
      }, 30_000);
      const agentScrape = await scrape(`${agentUrl}/metrics`, agentToken);
      assert.equal(agentScrape.status, 200);

      const exposed = new Map([...labelsByFamily(serverExposition), ...labelsByFamily(parseExposition(agentScrape.exposition.text))]);
      const rules = await readRules();
      assert.ok(rules.length > 0);
      const found = rules.flatMap((rule) => problems(rule, exposed));
      assert.deepEqual(found, [], found.join('\n'));
      // the checker sees what it should: a known-bad expression is reported
      assert.deepEqual(problems({ alert: 'Bad', expr: 'sum by (node) (openscheduler_nodes{phase="x", ready="maybe"}) + openscheduler_nope_total' }, exposed), [
        'Bad: openscheduler_nope_total is not exposed',
        'Bad: openscheduler_nodes has no label phase (has ready)',
        'Bad: openscheduler_nodes has no ready="maybe" (has true, false)',
        'Bad: no family of the expression has label node',
      ]);
    });
  });
});

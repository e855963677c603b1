// End-to-end: `osctl dlq list` and `osctl retry` (real osctl binary) against a real
// `openscheduler dev` process without an agent (nothing runs jobs here), so a job is put in the
// dead-letter queue by writing its status through the /status subresource with the admin token.
// (test/run-jobs-e2e.test.ts covers jobs that really fail, dead-letter and are retried.)
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { osctl as runOsctlBinary, type CliRun } from '../test/harness/e2e.js';
import { type ServerProcess, startServerProcess } from '../test/harness/server.js';

const API = '/apis/openscheduler.io/v1';

const jobYaml = (name: string, namespace: string): string =>
  ['apiVersion: openscheduler.io/v1', 'kind: Job', 'metadata:', `  name: ${name}`, `  namespace: ${namespace}`, 'spec:', '  driver: process', '  command: ["/bin/false"]', ''].join(
    '\n',
  );

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

void describe('osctl dlq list and osctl retry, end to end', () => {
  let server: ServerProcess;
  let work: string;

  function osctl(args: readonly string[], stdin = ''): Promise<CliRun> {
    return runOsctlBinary(args, { OSCTL_CONFIG: server.osctlConfigPath, HOME: work }, { timeoutMs: 60_000, stdin });
  }

  async function api(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
    const res = await fetch(`${server.httpUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${server.token}`, ...(body !== undefined ? { 'Content-Type': contentType } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
  }

  async function fail(name: string, namespace: string, message: string): Promise<void> {
    const res = await api(
      'PATCH',
      `${API}/namespaces/${namespace}/jobs/${name}/status`,
      {
        status: {
          phase: 'Failed',
          reason: 'RetriesExhausted',
          message,
          attempts: 4,
          exitCode: 1,
          nodeName: 'node-1',
          completionTime: new Date(Date.now() - 120_000).toISOString().replace(/\.\d+Z$/, 'Z'),
        },
      },
      'application/merge-patch+json',
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'osctl-dlq-e2e-'));
    server = await startServerProcess();
    const applied = await osctl(['apply', '-f', '-'], [jobYaml('broken', 'default'), jobYaml('fine', 'default'), jobYaml('other', 'team-b')].join('---\n'));
    assert.equal(applied.code, 0, applied.stderr);
    await fail('broken', 'default', 'exit code 1\nafter 4 attempts');
    await fail('other', 'team-b', 'exit code 1 after 4 attempts');
  });

  after(async () => {
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  void it('dlq list shows the Failed jobs of a namespace, of all namespaces, and as names/JSON', async () => {
    const list = await osctl(['dlq', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const [header, ...rows] = lines(list.stdout);
    assert.match(header ?? '', /^NAME\s+REASON\s+ATTEMPTS\s+FAILED\s+MESSAGE$/);
    assert.equal(rows.length, 1, list.stdout);
    assert.match(rows[0] ?? '', /^broken\s+RetriesExhausted\s+4\s+2m(\d+s)?\s+exit code 1 after 4 attempts$/);

    const all = await osctl(['dlq', 'list', '-A', '-o', 'wide']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^NAMESPACE\s+NAME\s+REASON\s+ATTEMPTS\s+FAILED\s+EXIT CODE\s+NODE\s+RETRY SERIES\s+MESSAGE\n/);
    assert.match(all.stdout, /\ndefault\s+broken\s+RetriesExhausted\s+4\s+2m(\d+s)?\s+1\s+node-1\s+0\s+exit code 1/);
    assert.match(all.stdout, /\nteam-b\s+other\s+RetriesExhausted\s/);
    assert.doesNotMatch(all.stdout, /fine/);

    const names = await osctl(['dlq', 'list', '-n', 'team-b', '-o', 'name']);
    assert.equal(names.code, 0, names.stderr);
    assert.equal(names.stdout, 'job.openscheduler.io/other\n');

    const json = await osctl(['dlq', 'list', '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { kind: string; items: { metadata: { name: string } }[] };
    assert.equal(parsed.kind, 'List');
    assert.deepEqual(parsed.items.map((i) => i.metadata.name), ['broken']);

    const bad = await osctl(['dlq', 'list', '-o', 'xml']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--output: unsupported format "xml"/);
  });

  void it('retry takes a job out of the dead-letter queue; errors print the server message and exit 1', async () => {
    const dry = await osctl(['retry', 'job/broken', '--dry-run=server']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout, 'job.openscheduler.io/broken retried (server dry run)\n');
    assert.equal((await api('GET', `${API}/namespaces/default/jobs/broken`)).body.status.phase, 'Failed');

    const retried = await osctl(['retry', 'job/broken']);
    assert.equal(retried.code, 0, retried.stderr);
    assert.equal(retried.stdout, 'job.openscheduler.io/broken retried\n');
    const job = (await api('GET', `${API}/namespaces/default/jobs/broken`)).body;
    assert.equal(job.status.phase, 'Pending');
    // the scheduler runs too: with no node registered it may already have said Unschedulable
    assert.ok(['Retried', 'Unschedulable'].includes(job.status.reason), job.status.reason);
    if (job.status.reason === 'Retried') assert.match(job.status.message, /^retried by admin at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(job.status.attempts, 4, 'attempt numbers are never reused');
    assert.equal(job.status.seriesStartAttempt, 4);
    assert.equal(job.status.retrySeries, 1);

    const after = await osctl(['dlq', 'list']);
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout, '');
    assert.equal(after.stderr, 'No resources found in default namespace.\n');
    const stillThere = await osctl(['dlq', 'list', '-A', '-o', 'name']);
    assert.equal(stillThere.stdout, 'job.openscheduler.io/other\n');

    const again = await osctl(['retry', 'job/broken']);
    assert.equal(again.code, 1);
    assert.equal(again.stdout, '');
    assert.match(again.stderr, /^Error from server \(Conflict\): job broken is not in the dead-letter queue \(phase Pending\)\n$/);

    const absent = await osctl(['retry', 'job', 'nope']);
    assert.equal(absent.code, 1);
    assert.match(absent.stderr, /Error from server \(NotFound\): jobs.openscheduler.io "nope" not found/);

    const node = await osctl(['retry', 'node/n1']);
    assert.equal(node.code, 1);
    assert.match(node.stderr, /only jobs can be retried, not nodes/);

    const otherNs = await osctl(['retry', 'job/other', '-n', 'team-b']);
    assert.equal(otherNs.code, 0, otherNs.stderr);
    assert.equal(otherNs.stdout, 'job.openscheduler.io/other retried\n');
  });
});

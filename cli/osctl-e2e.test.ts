// End-to-end: the real osctl binary against a real `openscheduler dev` process (embedded store),
// configured through OSCTL_CONFIG as written by `dev`. No agents exist yet, so job status is
// written through the /status subresource with the admin token where a test needs a phase.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import type { ApiObject } from '../api/meta.js';
import { binArgs, repoRoot } from '../test/harness/bin.js';
import { childEnv, type ServerProcess, startServerProcess } from '../test/harness/server.js';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const API = '/apis/openscheduler.io/v1';

const jobYaml = (name: string, opts: { args?: string; labels?: Record<string, string>; namespace?: string } = {}): string =>
  [
    'apiVersion: openscheduler.io/v1',
    'kind: Job',
    'metadata:',
    `  name: ${name}`,
    ...(opts.namespace ? [`  namespace: ${opts.namespace}`] : []),
    ...(opts.labels ? ['  labels:', ...Object.entries(opts.labels).map(([k, v]) => `    ${k}: ${v}`)] : []),
    'spec:',
    '  driver: process',
    '  command: ["/bin/echo"]',
    `  args: ["${opts.args ?? 'hello'}"]`,
    '',
  ].join('\n');

/** The lines of a text, without the empty last one. */
const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

void describe('osctl end to end', () => {
  let server: ServerProcess;
  let work: string;
  let manifests: string;

  /** A running osctl process, for -w and wait. */
  function start(args: readonly string[], opts: { config?: string; stdin?: string } = {}) {
    const child = spawn(process.execPath, binArgs('osctl', args), {
      cwd: repoRoot,
      env: childEnv({ OSCTL_CONFIG: opts.config ?? server.osctlConfigPath, HOME: work }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.end(opts.stdin ?? '');
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const done = new Promise<Run>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => {
        clearTimeout(killer);
        resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout, stderr });
      });
    });
    return {
      pid: child.pid,
      done,
      output: () => stdout,
      signal: (s: NodeJS.Signals) => child.kill(s),
      /** Resolves once stdout matches, or rejects after timeoutMs. */
      async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
        const deadline = Date.now() + timeoutMs;
        while (!pattern.test(stdout)) {
          if (Date.now() > deadline) throw new Error(`osctl ${args.join(' ')}: no ${pattern} within ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
    };
  }

  const osctl = (args: readonly string[], opts: { config?: string; stdin?: string } = {}): Promise<Run> => start(args, opts).done;

  /** A request with the admin token, as a test's stand-in for agents and controllers. */
  async function api(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${server.httpUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${server.token}`, ...(body !== undefined ? { 'Content-Type': contentType } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
  }

  /** Writes a job's status through the /status subresource. */
  async function setStatus(name: string, status: Record<string, unknown>, namespace = 'default'): Promise<void> {
    const res = await api('PATCH', `${API}/namespaces/${namespace}/jobs/${name}/status`, { status }, 'application/merge-patch+json');
    assert.equal(res.status, 200, `status write for ${name}: ${JSON.stringify(res.body)}`);
  }

  async function getJob(name: string, namespace = 'default'): Promise<ApiObject> {
    const res = await api('GET', `${API}/namespaces/${namespace}/jobs/${name}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as ApiObject;
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'osctl-e2e-'));
    manifests = join(work, 'manifests');
    await mkdir(join(manifests, 'sub'), { recursive: true });
    await writeFile(join(manifests, 'a-jobs.yaml'), `---\n# empty\n---\n${jobYaml('hello')}---\n${jobYaml('report', { labels: { team: 'data' }, args: 'v1' })}---\n`);
    await writeFile(
      join(manifests, 'b-build.json'),
      JSON.stringify({ apiVersion: 'openscheduler.io/v1', kind: 'Job', metadata: { name: 'build' }, spec: { driver: 'process', command: ['/bin/true'] } }),
    );
    await writeFile(join(manifests, 'notes.txt'), 'not a manifest\n');
    await writeFile(join(manifests, 'sub', 'deep.yaml'), jobYaml('deep'));
    server = await startServerProcess();
  });

  after(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  void it('apply: a directory is created, re-applied unchanged, -R descends, a change is configured', async () => {
    const first = await osctl(['apply', '-f', manifests]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(lines(first.stdout), ['job.openscheduler.io/hello created', 'job.openscheduler.io/report created', 'job.openscheduler.io/build created']);

    const again = await osctl(['apply', '-f', manifests, '-R']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(lines(again.stdout), [
      'job.openscheduler.io/hello unchanged',
      'job.openscheduler.io/report unchanged',
      'job.openscheduler.io/build unchanged',
      'job.openscheduler.io/deep created',
    ]);

    const file = join(manifests, 'a-jobs.yaml');
    await writeFile(file, `${jobYaml('hello')}---\n${jobYaml('report', { labels: { team: 'data' }, args: 'v2' })}`);
    const changed = await osctl(['apply', '-f', file]);
    assert.equal(changed.code, 0, changed.stderr);
    assert.deepEqual(lines(changed.stdout), ['job.openscheduler.io/hello unchanged', 'job.openscheduler.io/report configured']);
    assert.deepEqual(((await getJob('report')).spec as { args: string[] }).args, ['v2']);
  });

  void it('apply --dry-run=server reports the outcome and changes nothing; stdin works', async () => {
    const before = await getJob('report');
    const file = join(manifests, 'a-jobs.yaml');
    await writeFile(file, `${jobYaml('hello')}---\n${jobYaml('report', { labels: { team: 'data' }, args: 'v3' })}`);
    const dry = await osctl(['apply', '-f', file, '--dry-run=server']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(lines(dry.stdout), ['job.openscheduler.io/hello unchanged (server dry run)', 'job.openscheduler.io/report configured (server dry run)']);
    const newDry = await osctl(['apply', '-f', '-', '--dry-run=server'], { stdin: jobYaml('never') });
    assert.deepEqual(lines(newDry.stdout), ['job.openscheduler.io/never created (server dry run)']);
    const after = await getJob('report');
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
    assert.deepEqual((after.spec as { args: string[] }).args, ['v2']);
    assert.equal((await api('GET', `${API}/namespaces/default/jobs/never`)).status, 404);

    const fromStdin = await osctl(['apply', '-f', '-'], { stdin: jobYaml('from-stdin') });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.deepEqual(lines(fromStdin.stdout), ['job.openscheduler.io/from-stdin created']);
    const other = await osctl(['apply', '-n', 'other', '-f', '-'], { stdin: jobYaml('elsewhere') });
    assert.equal(other.code, 0, other.stderr);
    assert.equal((await getJob('elsewhere', 'other')).metadata.namespace, 'other');
    const mismatch = await osctl(['apply', '-n', 'other', '-f', '-'], { stdin: jobYaml('x', { namespace: 'default' }) });
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /the namespace from the provided object "default" does not match the namespace "other"/);
  });

  void it('apply: invalid documents fail with their file, document and field path; the others are applied', async () => {
    const bad = join(work, 'bad.yaml');
    await writeFile(bad, `${jobYaml('bad-driver').replace('driver: process', 'driver: ssh')}---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\n${jobYaml('ok-after-bad')}`);
    const run = await osctl(['apply', '-f', bad]);
    assert.equal(run.code, 1);
    assert.deepEqual(lines(run.stdout), ['job.openscheduler.io/ok-after-bad created']);
    assert.match(run.stderr, new RegExp(`error: ${bad} \\(document 1, line 1\\): The Job "bad-driver" is invalid:\\n  \\* spec\\.driver: `));
    assert.match(run.stderr, new RegExp(`error: ${bad} \\(document 2, line 10\\): unknown kind "Pod" with apiVersion "v1"`));

    const broken = join(work, 'broken.yaml');
    await writeFile(broken, 'apiVersion: openscheduler.io/v1\nkind: Job\nmetadata:\n  name: [unclosed\n');
    const syntax = await osctl(['apply', '-f', broken]);
    assert.equal(syntax.code, 1);
    assert.match(syntax.stderr, new RegExp(`^error: ${broken}:\\d+:\\d+: YAML syntax error: `));
    const missing = await osctl(['apply', '-f', join(work, 'nope.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /the path ".*nope\.yaml" does not exist/);
    const noFlag = await osctl(['apply']);
    assert.equal(noFlag.code, 1);
    assert.match(noFlag.stderr, /required option '-f, --filename <path>' not specified/);
  });

  void it('get: table, wide, yaml, json, name, selectors, -A, by name, not found, empty', async () => {
    const [table, wide, yaml, json, name, labelled, byField, all, one, missing, empty] = await Promise.all([
      osctl(['get', 'jobs']),
      osctl(['get', 'osj', '-o', 'wide']),
      osctl(['get', 'jobs', '-o', 'yaml']),
      osctl(['get', 'job', '-o', 'json']),
      osctl(['get', 'jobs', '-o', 'name']),
      osctl(['get', 'jobs', '-l', 'team=data', '-o', 'name']),
      osctl(['get', 'jobs', '--field-selector', 'metadata.name=hello', '-o', 'name']),
      osctl(['get', 'jobs', '-A']),
      osctl(['get', 'job/hello', '-o', 'yaml']),
      osctl(['get', 'job', 'hello', 'nope']),
      osctl(['get', 'jobs', '-n', 'empty-ns']),
    ]);
    for (const run of [table, wide, yaml, json, name, labelled, byField, all, one, empty]) assert.equal(run.code, 0, run.stderr);
    const rows = lines(table.stdout);
    assert.match(rows[0] ?? '', /^NAME +PHASE +REASON +DRIVER +ATTEMPTS +AGE$/);
    const helloRow = rows.find((r) => r.startsWith('hello '));
    assert.match(helloRow ?? '', /^hello +Pending +\S+ +process +0 +\d+s$/);
    // Columns are aligned: every row has its PHASE where the header has it.
    const phaseAt = rows[0]?.indexOf('PHASE');
    for (const row of rows.slice(1)) assert.match(row.slice(phaseAt), /^(Pending|Scheduled|Running|Succeeded|Failed|<none>) /, row);
    assert.match(lines(wide.stdout)[0] ?? '', /^NAME +PHASE +REASON +DRIVER +ATTEMPTS +AGE +NODE +PRIORITY$/);

    const list = parse(yaml.stdout) as { apiVersion: string; kind: string; items: ApiObject[] };
    assert.equal(list.kind, 'List');
    assert.equal(list.apiVersion, 'v1');
    const names = list.items.map((i) => i.metadata.name).sort();
    assert.deepEqual(names, ['build', 'deep', 'from-stdin', 'hello', 'ok-after-bad', 'report']);
    assert.deepEqual((JSON.parse(json.stdout) as { items: ApiObject[] }).items.map((i) => i.metadata.name).sort(), names);
    assert.deepEqual(lines(name.stdout).sort(), names.map((n) => `job.openscheduler.io/${n}`));
    assert.deepEqual(lines(labelled.stdout), ['job.openscheduler.io/report']);
    assert.deepEqual(lines(byField.stdout), ['job.openscheduler.io/hello']);

    const allRows = lines(all.stdout);
    assert.match(allRows[0] ?? '', /^NAMESPACE +NAME +PHASE/);
    assert.ok(allRows.some((r) => /^other +elsewhere +/.test(r)), all.stdout);
    assert.ok(allRows.some((r) => /^default +hello +/.test(r)), all.stdout);

    const single = parse(one.stdout) as ApiObject;
    assert.equal(single.kind, 'Job');
    assert.equal(single.metadata.name, 'hello');

    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /^NAME +PHASE.*\nhello +Pending/);
    assert.match(missing.stderr, /Error from server \(NotFound\): .*"nope" not found/);
    assert.equal(empty.stdout, '');
    assert.equal(empty.stderr, 'No resources found in empty-ns namespace.\n');
    const nodes = await osctl(['get', 'nodes']);
    assert.equal(nodes.code, 0, nodes.stderr);
    const badType = await osctl(['get', 'pods']);
    assert.equal(badType.code, 1);
    assert.match(badType.stderr, /unknown resource type "pods"/);
  });

  void it('get pages through lists larger than one page (600 jobs, pages of 500)', async () => {
    const names = Array.from({ length: 600 }, (_, i) => `bulk-${String(i).padStart(4, '0')}`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < names.length) {
          const name = names[next++] ?? '';
          const res = await api('POST', `${API}/namespaces/bulk/jobs`, {
            apiVersion: 'openscheduler.io/v1',
            kind: 'Job',
            metadata: { name },
            spec: { driver: 'process', command: ['/bin/true'] },
          });
          assert.equal(res.status, 201, JSON.stringify(res.body));
        }
      }),
    );
    const [byName, table] = await Promise.all([osctl(['get', 'jobs', '-n', 'bulk', '-o', 'name']), osctl(['get', 'jobs', '-n', 'bulk'])]);
    assert.equal(byName.code, 0, byName.stderr);
    assert.deepEqual(lines(byName.stdout), names.map((n) => `job.openscheduler.io/${n}`));
    assert.equal(lines(table.stdout).length, 601);
    const small = await osctl(['get', 'jobs', '-n', 'bulk', '-o', 'json', '--chunk-size', '7']);
    assert.deepEqual(
      (JSON.parse(small.stdout) as { items: ApiObject[] }).items.map((i) => i.metadata.name),
      names,
    );
  });

  void it('describe shows metadata, spec, status and events', async () => {
    const run = await osctl(['describe', 'job', 'report']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Name: +report\nNamespace: +default\nLabels: +team=data\n/);
    assert.match(run.stdout, /\nSpec:\n {2}Driver: +process\n/);
    assert.match(run.stdout, /\n {2}Args:\n {4}v2\n/);
    assert.match(run.stdout, /\nStatus:\n {2}Phase: +Pending\n/);
    assert.match(run.stdout, /\nEvents:/);
    const missing = await osctl(['describe', 'job/nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NotFound/);
  });

  void it('diff: 1 with a unified diff when apply would change something, 0 when not, 2 on errors', async () => {
    const file = join(manifests, 'a-jobs.yaml'); // holds args v3 since the dry run; the server has v2
    const differs = await osctl(['diff', '-f', file]);
    assert.equal(differs.code, 1, differs.stderr);
    assert.match(differs.stdout, /^--- live\/openscheduler\.io\.v1\.Job\.default\.report\n\+\+\+ merged\/openscheduler\.io\.v1\.Job\.default\.report\n@@ /);
    assert.match(differs.stdout, /\n- +- v2\n\+ +- v3\n/);
    assert.doesNotMatch(differs.stdout, /resourceVersion|managedFields|creationTimestamp/);
    assert.equal((await osctl(['apply', '-f', file])).code, 0);
    const same = await osctl(['diff', '-f', file]);
    assert.equal(same.code, 0, same.stderr);
    assert.equal(same.stdout, '');
    const created = await osctl(['diff', '-f', '-'], { stdin: jobYaml('brand-new') });
    assert.equal(created.code, 1);
    assert.match(created.stdout, /\n\+ {2}name: brand-new\n/);
    const invalid = await osctl(['diff', '-f', '-'], { stdin: jobYaml('bad').replace('driver: process', 'driver: ssh') });
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /spec\.driver/);
  });

  void it('wait: exit 2 on timeout, 0 on Succeeded, 1 on Failed, and waits for a job to appear', async () => {
    const timedOut = await osctl(['wait', 'job/hello', '--timeout', '1s']);
    assert.equal(timedOut.code, 2);
    assert.equal(timedOut.stderr, 'error: timed out waiting for the condition on job.openscheduler.io/hello\n');

    const succeeded = start(['wait', 'job/report', '--timeout', '30s']);
    await new Promise((r) => setTimeout(r, 1000));
    await setStatus('report', { phase: 'Running', attempts: 1 });
    await setStatus('report', { phase: 'Succeeded', attempts: 1, exitCode: 0 });
    const ok = await succeeded.done;
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'job.openscheduler.io/report condition met\n');

    await setStatus('build', { phase: 'Failed', reason: 'RetriesExhausted', message: 'exit code 3', attempts: 4 });
    const failed = await osctl(['wait', 'job', 'build']);
    assert.equal(failed.code, 1);
    assert.equal(failed.stderr, 'error: job.openscheduler.io/build failed: RetriesExhausted: exit code 3\n');

    const later = start(['wait', 'job/later', '--timeout', '30s']);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await osctl(['apply', '-f', '-'], { stdin: jobYaml('later') })).code, 0);
    await setStatus('later', { phase: 'Succeeded', attempts: 1, exitCode: 0 });
    const appeared = await later.done;
    assert.equal(appeared.code, 0, appeared.stderr);

    const badTimeout = await osctl(['wait', 'job/hello', '--timeout', 'soon']);
    assert.equal(badTimeout.code, 1);
    assert.match(badTimeout.stderr, /invalid --timeout "soon"/);
  });

  void it('get -w prints the list, then later changes, until interrupted', async () => {
    const watch = start(['get', 'jobs', '-w']);
    await watch.waitFor(/^hello +Pending/m);
    const before = watch.output();
    await setStatus('hello', { phase: 'Running', attempts: 1, nodeName: 'node-1' });
    await watch.waitFor(/^hello +Running +\S+ +process +1 /m);
    assert.equal(watch.output().split('\n').filter((l) => l.startsWith('NAME')).length, 1, 'one header');
    assert.ok(watch.output().startsWith(before));
    watch.signal('SIGINT');
    const run = await watch.done;
    assert.equal(run.code, 0, run.stderr);

    const one = start(['get', 'job', 'deep', '-w', '-o', 'name']);
    await one.waitFor(/^job\.openscheduler\.io\/deep\n$/);
    await setStatus('deep', { phase: 'Scheduled', nodeName: 'node-1' });
    await one.waitFor(/^job\.openscheduler\.io\/deep\njob\.openscheduler\.io\/deep\n$/);
    one.signal('SIGTERM');
    assert.equal((await one.done).code, 0);
  });

  void it('delete by name, by file, NotFound and --ignore-not-found', async () => {
    const byName = await osctl(['delete', 'job', 'hello']);
    assert.equal(byName.code, 0, byName.stderr);
    assert.equal(byName.stdout, 'job.openscheduler.io "hello" deleted\n');
    const again = await osctl(['delete', 'job/hello']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^Error from server \(NotFound\): .*"hello" not found\n$/);
    const ignored = await osctl(['delete', 'job', 'hello', '--ignore-not-found']);
    assert.equal(ignored.code, 0, ignored.stderr);
    assert.equal(ignored.stdout, '');
    const byFile = await osctl(['delete', '-f', manifests, '-R', '--ignore-not-found']);
    assert.equal(byFile.code, 0, byFile.stderr);
    assert.deepEqual(lines(byFile.stdout), [
      'job.openscheduler.io "report" deleted',
      'job.openscheduler.io "build" deleted',
      'job.openscheduler.io "deep" deleted',
    ]);
    const left = await osctl(['get', 'jobs', '-o', 'name']);
    assert.deepEqual(lines(left.stdout).sort(), ['job.openscheduler.io/from-stdin', 'job.openscheduler.io/later', 'job.openscheduler.io/ok-after-bad']);
  });

  void it('login writes a 0600 config that works (http and https with a CA); a wrong password exits 1', async () => {
    const password = (await readFile(server.adminPasswordPath, 'utf8')).trim();
    const config = join(work, 'login', 'config.yaml');
    const wrong = await osctl(['login', '--server', server.httpUrl, '--username', 'admin', '--password-stdin'], { config, stdin: 'not-the-password\n' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /Unauthorized/);
    await assert.rejects(stat(config), /ENOENT/);

    const ok = await osctl(['login', '--server', server.httpUrl, '--username', 'admin', '--password-stdin'], { config, stdin: `${password}\n` });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await stat(config)).mode & 0o777, 0o600);
    const written = parse(await readFile(config, 'utf8')) as { server: string; token: string };
    assert.equal(written.server, server.httpUrl);
    assert.ok(written.token.length > 20);
    const get = await osctl(['get', 'jobs', '-o', 'name'], { config });
    assert.equal(get.code, 0, get.stderr);
    assert.ok(get.stdout.includes('job.openscheduler.io/later'));

    const tlsConfig = join(work, 'login-tls.yaml');
    const tls = await osctl(['login', '--server', server.httpsUrl, '--certificate-authority', server.caPath, '--password-stdin'], {
      config: tlsConfig,
      stdin: `${password}\n`,
    });
    assert.equal(tls.code, 0, tls.stderr);
    assert.match(await readFile(tlsConfig, 'utf8'), /certificateAuthorityData: .*BEGIN CERTIFICATE/s);
    const overTls = await osctl(['get', 'jobs', '-o', 'name'], { config: tlsConfig });
    assert.equal(overTls.code, 0, overTls.stderr);
    assert.ok(overTls.stdout.includes('job.openscheduler.io/later'));
    const untrusted = await osctl(['get', 'jobs', '--server', server.httpsUrl, '--token', server.token], { config: join(work, 'absent.yaml') });
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /certificate/);

    const noToken = await osctl(['get', 'jobs', '--server', server.httpUrl], { config: join(work, 'absent.yaml') });
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /You must be logged in to the server \(Unauthorized\)/);
  });
});

// Property test of `osctl sync DIR --watch --prune`: the real osctl binary watches a temporary
// directory while fast-check applies random sequences of create / modify (in place or by atomic
// rename) / rename / delete / partial write (invalid YAML, later fixed or not) to it, and edits
// Jobs by hand through the API (drift, undone by the periodic re-sync). After every
// step the server's Jobs of the sync must equal the directory's valid content (name, args and
// source file), where a file that is invalid now counts with its last good version, and an
// emptied directory prunes nothing. A Job created directly through the API is never touched.
// Runs: OSCTL_SYNC_PROPERTY_RUNS (default 10), at most 8 steps each.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Job } from '../api/v1/index.js';
import { binArgs, repoRoot } from '../test/harness/bin.js';
import { api, createJob, getJob, JOBS_API, waitFor } from '../test/harness/e2e.js';
import { childEnv, type ServerProcess, startServerProcess } from '../test/harness/server.js';

const RUNS = Number(process.env.OSCTL_SYNC_PROPERTY_RUNS ?? '10');
const FILES = ['a.yaml', 'b.yml', 'sub/c.yaml', 'd.json'];

type Step =
  | { readonly op: 'write'; readonly file: number; readonly jobs: number; readonly arg: number; readonly atomic: boolean }
  | { readonly op: 'rename'; readonly from: number; readonly to: number }
  | { readonly op: 'delete'; readonly file: number }
  | { readonly op: 'partial'; readonly file: number }
  | { readonly op: 'drift'; readonly pick: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('write' as const), file: fc.nat(FILES.length - 1), jobs: fc.integer({ min: 1, max: 2 }), arg: fc.nat(3), atomic: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rename' as const), from: fc.nat(FILES.length - 1), to: fc.nat(FILES.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), file: fc.nat(FILES.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('partial' as const), file: fc.nat(FILES.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drift' as const), pick: fc.nat(10) }) },
);

/** Job name → args and source, as the server should hold it. */
type State = Map<string, { args: string[]; source: string }>;

/** A file of the model: its text, and the jobs it declares when it is valid. */
interface ModelFile {
  text: string;
  jobs: Map<string, string[]> | undefined;
}

function jobManifest(name: string, args: string[]): Record<string, unknown> {
  return { apiVersion: 'openscheduler.io/v1', kind: 'Job', metadata: { name }, spec: { driver: 'process', command: ['/bin/echo'], args } };
}

function render(file: string, jobs: Map<string, string[]>): string {
  const manifests = [...jobs].map(([name, args]) => jobManifest(name, args));
  if (file.endsWith('.json')) return JSON.stringify(manifests.length === 1 ? manifests[0] : { apiVersion: 'v1', kind: 'List', items: manifests }, null, 2);
  return manifests.map((m) => JSON.stringify(m, null, 2)).join('\n---\n');
}

/** A stop-and-go sync process; stopped by PID. */
function startSync(
  server: ServerProcess,
  home: string,
  dir: string,
  name: string,
): { child: ChildProcess; output: () => string; passes: { started: number; ended: number }; stop: () => Promise<void> } {
  const args = ['sync', dir, '--watch', '--prune', '--name', name, '--max-prune-fraction', '1', '--interval', '1s', '--debounce', '100ms'];
  const child = spawn(process.execPath, binArgs('osctl', args), { cwd: repoRoot, env: childEnv({ OSCTL_CONFIG: server.osctlConfigPath, HOME: home }), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const passes = { started: 0, ended: 0 };
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output = (output + d).slice(-64 * 1024)));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    output = (output + d).slice(-64 * 1024);
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (/^sync pass \d+ started$/.test(line)) passes.started += 1;
      else if (/^sync pass \d+ (done|failed)/.test(line)) passes.ended += 1;
    }
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    child,
    output: () => output,
    passes,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

void describe('osctl sync --watch --prune (property)', () => {
  let server: ServerProcess;
  let work: string;
  let run = 0;

  async function serverState(syncName: string): Promise<State> {
    const res = await api(server, 'GET', `${JOBS_API}/namespaces/default/jobs?labelSelector=${encodeURIComponent(`openscheduler.io/sync=${syncName}`)}`);
    assert.equal(res.status, 200, res.text);
    const state: State = new Map();
    for (const job of res.body.items as Job[]) {
      state.set(job.metadata.name, { args: job.spec.args ?? [], source: job.metadata.annotations?.['openscheduler.io/sync-source'] ?? '' });
    }
    return state;
  }

  const show = (s: State): string => JSON.stringify([...s].sort(([a], [b]) => a.localeCompare(b)));

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'osctl-sync-prop-'));
    server = await startServerProcess();
    assert.equal((await createJob(server, jobManifest('unowned', ['mine']))).status, 201);
  });

  after(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  void it('watch: a half-written file keeps its last good version, which the re-sync restores after a hand edit', async () => {
    const dir = await mkdtemp(join(work, 'last-good-'));
    await writeFile(join(dir, 'a.yaml'), render('a.yaml', new Map([['lg-a', ['good']]])));
    const sync = startSync(server, work, dir, 'lastgood');
    try {
      const jobArgs = async (): Promise<string> => JSON.stringify((await getJob(server, 'lg-a'))?.spec.args);
      await waitFor('lg-a applied', async () => ((await jobArgs()) === '["good"]' ? true : undefined), 30_000, 50);
      await writeFile(join(dir, 'a.yaml'), 'apiVersion: openscheduler.io/v1\nkind: Job\nmetadata: {name: lg-a\n');
      await waitFor('the error with file and line', async () => (/a\.yaml:\d+:\d+: YAML syntax error/.test(sync.output()) ? true : undefined), 10_000, 50);
      const res = await api(server, 'PATCH', `${JOBS_API}/namespaces/default/jobs/lg-a`, { spec: { args: ['drifted'] } }, 'application/merge-patch+json');
      assert.equal(res.status, 200, res.text);
      await waitFor('the last good args back', async () => ((await jobArgs()) === '["good"]' ? true : undefined), 10_000, 50);
      await writeFile(join(dir, 'a.yaml'), render('a.yaml', new Map([['lg-a', ['fixed']]])));
      await waitFor('the fixed file applied', async () => ((await jobArgs()) === '["fixed"]' ? true : undefined), 10_000, 50);
    } finally {
      await sync.stop();
    }
  });

  void it('the server converges to the directory after every step; unowned objects are untouched', async () => {
    const unownedBefore = await getJob(server, 'unowned');
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 8 }), async (steps) => {
        run += 1;
        const syncName = `prop${run}`;
        const dir = await mkdtemp(join(work, 'dir-'));
        const model = new Map<string, ModelFile>();
        /** Last valid job set per file path, as the running sync remembers it. */
        const lastGood = new Map<string, Map<string, string[]>>();
        let expected: State = new Map();
        let counter = 0;
        const sync = startSync(server, work, dir, syncName);
        try {
          await waitFor('the first sync pass', async () => (sync.passes.ended >= 1 ? true : undefined), 30_000, 50);
          for (const step of steps) {
            const path = (i: number): string => FILES[i]!;
            if (step.op === 'write') {
              const file = path(step.file);
              const previous = model.get(file)?.jobs ?? lastGood.get(file);
              // Keep the file's job names when it has some (a modification), else new ones.
              const names = previous && previous.size > 0 ? [...previous.keys()].slice(0, step.jobs) : [];
              while (names.length < step.jobs) names.push(`r${run}-j${counter++}`);
              const jobs = new Map(names.map((n) => [n, [`v${step.arg}`, n]]));
              const text = render(file, jobs);
              await ensureDir(dir, file);
              if (step.atomic) {
                // As editors save: a temp file (not a manifest extension), renamed over the target.
                const temp = join(dir, `.${file.replace('/', '_')}.swp`);
                await writeFile(temp, text);
                await rename(temp, join(dir, file));
              } else {
                await writeFile(join(dir, file), text);
              }
              model.set(file, { text, jobs });
            } else if (step.op === 'rename') {
              const from = path(step.from);
              const to = path(step.to);
              const moving = model.get(from);
              if (!moving || from === to || from.endsWith('.json') !== to.endsWith('.json')) continue;
              await ensureDir(dir, to);
              await rename(join(dir, from), join(dir, to));
              model.delete(from);
              model.set(to, moving);
            } else if (step.op === 'delete') {
              const file = path(step.file);
              if (!model.has(file)) continue;
              await rm(join(dir, file));
              model.delete(file);
            } else if (step.op === 'drift') {
              // A hand edit through the API; the periodic re-sync puts the declared args back.
              // (Only while the directory declares something: an emptied one prunes and corrects nothing.)
              const names = [...expected.keys()];
              if (model.size === 0 || names.length === 0) continue;
              const name = names[step.pick % names.length]!;
              const res = await api(server, 'PATCH', `${JOBS_API}/namespaces/default/jobs/${name}`, { spec: { args: ['drifted'] } }, 'application/merge-patch+json');
              assert.equal(res.status, 200, res.text);
            } else {
              const file = path(step.file);
              const base = model.get(file)?.text ?? render(file, new Map([[`r${run}-j${counter++}`, ['x']]]));
              const text = `${base.slice(0, Math.max(1, Math.floor(base.length / 2)))}\n  "broken": [unclosed\n`;
              await ensureDir(dir, file);
              await writeFile(join(dir, file), text);
              model.set(file, { text, jobs: undefined });
            }
            // Recorded right after the change, well within the debounce: a later pass reads it.
            const startedBefore = sync.passes.started;
            // What the sync should make of the directory now.
            for (const [file, f] of model) if (f.jobs) lastGood.set(file, f.jobs);
            for (const file of [...lastGood.keys()]) if (!model.has(file)) lastGood.delete(file);
            const next: State = new Map();
            for (const file of model.keys()) {
              for (const [name, args] of lastGood.get(file) ?? []) next.set(name, { args, source: file });
            }
            // An emptied directory prunes nothing (no --force): the server keeps what it had.
            if (model.size > 0) expected = next;
            const want = show(expected);
            // A pass that started after the change has read the directory as it is now.
            await waitFor(`a sync pass after ${JSON.stringify(step)}`, async () => (sync.passes.started > startedBefore && sync.passes.ended >= startedBefore + 1 ? true : undefined), 20_000, 20);
            await waitFor(
              `the server to hold ${want} after ${JSON.stringify(step)}`,
              async () => ((await serverState(syncName).then(show)) === want ? true : undefined),
              20_000,
              50,
            ).catch(async (err: Error) => {
              throw new Error(`${err.message}\nserver: ${show(await serverState(syncName))}\nfiles: ${(await readdir(dir, { recursive: true })).join(', ')}\nsync output:\n${sync.output()}`);
            });
          }
          const unowned = await getJob(server, 'unowned');
          assert.equal(unowned?.metadata.resourceVersion, unownedBefore?.metadata.resourceVersion, 'the unowned job is untouched');
        } finally {
          await sync.stop();
        }
      }),
      { numRuns: RUNS },
    );
  });
});

async function ensureDir(dir: string, file: string): Promise<void> {
  await mkdir(join(dir, file, '..'), { recursive: true });
}

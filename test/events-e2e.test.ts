// End-to-end: events recorded through the store (the same etcd the real `openscheduler dev`
// process uses) are shown by the real kubectl (`kubectl describe`) and by the real osctl.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EventRecorder } from '../controllers/runtime/event-recorder.js';
import { EtcdStore } from '../store/etcd-store.js';
import { binArgs } from './harness/bin.js';
import { startEtcd, type EtcdProcess } from './harness/etcd.js';
import { startServerProcess, type ServerProcess } from './harness/server.js';

const execFileAsync = promisify(execFile);
const PREFIX = '/os-events-e2e';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileAsync(file, args, { env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

void describe('events shown by kubectl describe and osctl describe (e2e, etcd)', () => {
  let etcd: EtcdProcess;
  let server: ServerProcess;
  let store: EtcdStore;
  let work: string;
  let env: NodeJS.ProcessEnv;

  const kubectl = (args: string[]): Promise<Run> => run('kubectl', ['--kubeconfig', server.kubeconfigPath, ...args], env);
  const osctl = (args: string[]): Promise<Run> =>
    run(process.execPath, binArgs('osctl', args), { ...env, OSCTL_CONFIG: server.osctlConfigPath });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'os-events-e2e-'));
    env = { PATH: process.env.PATH, HOME: work };
    etcd = await startEtcd();
    server = await startServerProcess({ store: { etcdEndpoints: [etcd.endpoint], etcdPrefix: PREFIX } });
    store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: PREFIX, compactIntervalMs: 0 });
  });
  after(async () => {
    await store?.close();
    await server?.stop();
    await etcd?.stop();
    await rm(work, { recursive: true, force: true });
  });

  void it('a recorded job event appears in kubectl describe and osctl describe', async () => {
    const file = join(work, 'job.json');
    await writeFile(
      file,
      JSON.stringify({
        apiVersion: 'openscheduler.io/v1',
        kind: 'Job',
        metadata: { name: 'ev-e2e' },
        spec: { driver: 'process', command: ['/bin/true'] },
      }),
    );
    const applied = await kubectl(['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);

    const before = await osctl(['describe', 'job', 'ev-e2e']);
    assert.equal(before.code, 0, before.stderr);
    assert.doesNotMatch(before.stdout, /assigned to node-e2e/); // (the scheduler may have said FailedScheduling: no node runs here)

    const got = await kubectl(['get', 'jobs.openscheduler.io', 'ev-e2e', '-o', 'json']);
    assert.equal(got.code, 0, got.stderr);
    const job = JSON.parse(got.stdout) as { apiVersion: string; kind: string; metadata: { name: string; namespace: string; uid: string } };
    const recorder = new EventRecorder(store, { component: 'openscheduler' });
    recorder.record(job, 'Normal', 'Scheduled', 'assigned to node-e2e');
    recorder.record(job, 'Warning', 'BackoffWaiting', 'retrying in 10s');
    recorder.record(job, 'Warning', 'BackoffWaiting', 'retrying in 10s');
    await recorder.close();

    const described = await kubectl(['describe', 'jobs.openscheduler.io', 'ev-e2e']);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /Events:\s*\n\s+Type\s+Reason\s+Age\s+From\s+Message/);
    assert.match(described.stdout, /Normal\s+Scheduled\s+\S+\s+openscheduler\s+assigned to node-e2e/);
    assert.match(described.stdout, /Warning\s+BackoffWaiting\s+\S+ \(x2 over \S+\)\s+openscheduler\s+retrying in 10s/);

    const shown = await osctl(['describe', 'job', 'ev-e2e']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message/);
    assert.match(shown.stdout, /Normal\s+Scheduled\s+\S+\s+openscheduler\s+assigned to node-e2e/);
    assert.match(shown.stdout, /Warning\s+BackoffWaiting\s+\S+ \(x2\)\s+openscheduler\s+retrying in 10s/);
  });
});

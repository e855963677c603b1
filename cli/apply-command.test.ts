// applyObject's created / configured / unchanged verdict against a scripted server on loopback.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { ApiObject } from '../api/meta.js';
import { applyObject } from './apply-command.js';
import { ApiClient } from './client.js';
import type { ManifestTarget } from './manifest-target.js';
import { JOB } from './resources.js';

const PATH = '/apis/openscheduler.io/v1/namespaces/default/jobs/j';
let live: ApiObject | undefined;
let afterApply: ApiObject;
let server: http.Server;
let client: ApiClient;

before(async () => {
  server = http.createServer((req, res) => {
    const send = (code: number, body: unknown): void => {
      res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET') {
        if (live) send(200, live);
        else send(404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 404, reason: 'NotFound' });
      } else send(live ? 200 : 201, afterApply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new ApiClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});
after(async () => {
  client.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const job = (rv: string, args: string[], phase: string): ApiObject => ({
  apiVersion: 'openscheduler.io/v1',
  kind: 'Job',
  metadata: { name: 'j', namespace: 'default', resourceVersion: rv, generation: 1 },
  spec: { driver: 'process', command: ['/bin/echo'], args },
  status: { phase },
});

async function verdict(): Promise<string> {
  const target: ManifestTarget = { resource: JOB, name: 'j', namespace: 'default', path: PATH, object: job('', ['x'], ''), display: 'job.openscheduler.io/j' };
  const session = { client, namespace: 'default', explicitNamespace: false };
  return (await applyObject(session, target, { dryRun: false, fieldManager: 'osctl', force: false })).outcome;
}

void test('created when the object did not exist', async () => {
  live = undefined;
  afterApply = job('5', ['x'], 'Pending');
  assert.equal(await verdict(), 'created');
});

void test('unchanged when only the status and resourceVersion moved (a controller wrote in between)', async () => {
  live = job('5', ['x'], 'Pending');
  afterApply = job('6', ['x'], 'Scheduled');
  assert.equal(await verdict(), 'unchanged');
});

void test('configured when the spec changed', async () => {
  live = job('5', ['x'], 'Pending');
  afterApply = job('6', ['y'], 'Pending');
  assert.equal(await verdict(), 'configured');
});

// The real `openscheduler server` on a real etcd that requires TLS with client certificates
// (--client-cert-auth) and has its authentication enabled: the server is given
// `--etcd-endpoints https://...`, the CA, its client certificate and an etcd user whose password
// comes from OPENSCHEDULER_ETCD_PASSWORD; it becomes ready and serves the API from etcd. The etcd
// user is not the client certificate's CN (etcd would take the CN as the user when no token is
// sent), so only the password login can work. A wrong password or an unreadable file stops the
// server at start-up with one line naming the cause.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createJob, getJob, processJob, waitFor } from './harness/e2e.js';
import { enableEtcdAuth, startEtcd, type EtcdProcess } from './harness/etcd.js';
import { runOpenscheduler } from './harness/server.js';
import { startServerCluster, type ServerCluster } from './harness/servers.js';
import { makeTestCa } from './harness/test-ca.js';

const PREFIX = '/tls-e2e';
const USER = { name: 'scheduler', password: 'etcd-password-of-the-scheduler', prefix: PREFIX };

void describe('openscheduler server on etcd with TLS, client certificates and etcd auth', { timeout: 90_000 }, () => {
  let dir: string;
  let pki: (name: string) => string;
  let etcd: EtcdProcess;
  let cluster: ServerCluster | undefined;
  let tlsFlags: string[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-etcd-tls-'));
    pki = await makeTestCa(join(dir, 'pki'), { nodes: ['openscheduler'] });
    const client = { certFile: pki('client-openscheduler.crt'), keyFile: pki('client-openscheduler.key') };
    etcd = await startEtcd({ tls: { certFile: pki('server.crt'), keyFile: pki('server.key'), caFile: pki('ca.crt'), clientCertAuth: client } });
    const [ca, cert, key] = await Promise.all([readFile(pki('ca.crt')), readFile(client.certFile), readFile(client.keyFile)]);
    await enableEtcdAuth(etcd.endpoint, { rootPassword: 'root-password', users: [USER], tls: { ca, cert, key } });
    tlsFlags = ['--etcd-ca-file', pki('ca.crt'), '--etcd-cert-file', client.certFile, '--etcd-key-file', client.keyFile];
  });
  after(async () => {
    await cluster?.stop();
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  void it('starts with --etcd-endpoints https://..., the CA, a client certificate and OPENSCHEDULER_ETCD_PASSWORD; /readyz is 200; the API works', async () => {
    assert.match(etcd.endpoint, /^https:\/\//);
    cluster = await startServerCluster({
      count: 1,
      etcdEndpoints: [etcd.endpoint],
      etcdPrefix: PREFIX,
      extraArgs: [...tlsFlags, '--etcd-username', USER.name, '--bcrypt-cost', '10'],
      env: { OPENSCHEDULER_ETCD_PASSWORD: USER.password },
    });
    const server = cluster.servers[0]!;
    await waitFor('/readyz 200', async () => ((await fetch(`${server.httpUrl}/readyz`)).status === 200 ? true : undefined), 30_000);
    const target = cluster.target(0);
    const created = await createJob(target, processJob('over-tls', ['true']));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const job = await getJob(target, 'over-tls');
    assert.equal(job?.metadata.name, 'over-tls');
    const log = server.output();
    assert.match(log, /etcd client TLS/);
    assert.match(log, /etcd client authentication/);
    assert.doesNotMatch(log, new RegExp(USER.password), 'the password is never logged');
  });

  void it('exits at start-up with one line: a wrong password, an unreadable CA file', async () => {
    const base = ['server', '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--grpc-port', '0', '--etcd-endpoints', etcd.endpoint, '--etcd-prefix', PREFIX];
    const [wrongPassword, missingCa] = await Promise.all([
      runOpenscheduler([...base, '--data-dir', join(dir, 'wrong-password'), ...tlsFlags, '--etcd-username', USER.name], { env: { OPENSCHEDULER_ETCD_PASSWORD: 'not-the-password' } }),
      runOpenscheduler([...base, '--data-dir', join(dir, 'missing-ca'), ...tlsFlags.slice(2), '--etcd-ca-file', join(dir, 'nope.crt')]),
    ]);
    assert.equal(wrongPassword.code, 1, wrongPassword.stderr);
    assert.match(
      wrongPassword.stderr,
      /^openscheduler: error: cannot open the store \(etcd https:\/\/127\.0\.0\.1:\d+\): store open: etcd at https:\/\/127\.0\.0\.1:\d+ refused the credentials of user scheduler: .*authentication failed/m,
    );
    assert.doesNotMatch(wrongPassword.stderr, /not-the-password/);
    assert.equal(missingCa.code, 1, missingCa.stderr);
    assert.match(missingCa.stderr, new RegExp(`^openscheduler: error: etcd client: cannot read ${join(dir, 'nope.crt')} \\(--etcd-ca-file\\): .*ENOENT`, 'm'));
  });
});

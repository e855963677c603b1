// EtcdStore over TLS and with etcd's own authentication, against real etcd 3.4 processes (fails,
// never skips, without etcd): one serving https with --client-cert-auth, one plain with auth
// enabled and a 1 s token TTL (--auth-token-ttl), so that token expiry happens within the test.
// Failures to connect must come at once with a message naming the cause, not after the timeout:
// those tests give the store a 60 s timeout and the test far less.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { enableEtcdAuth, startEtcd, type EtcdProcess } from '../test/harness/etcd.js';
import { makeTestCa } from '../test/harness/test-ca.js';
import { EtcdStore, type EtcdStoreOptions } from './etcd-store.js';
import { StoreError, StoreUnavailableError, type Store, type WatchEvent } from './store.js';

/** Store timeout of the tests that expect open() to fail: far beyond the test's own timeout. */
const LONG_TIMEOUT_MS = 60_000;
const FAIL_FAST = { timeout: 15_000 };

let dir: string;
let pki: (name: string) => string;
let tlsEtcd: EtcdProcess;
let authEtcd: EtcdProcess;
const USER = { name: 'scheduler', password: 'correct horse battery staple', prefix: '/auth-test' };
const stores: Store[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'etcd-tls-'));
  pki = await makeTestCa(join(dir, 'pki'), { nodes: ['openscheduler'], wrongCa: true });
  [tlsEtcd, authEtcd] = await Promise.all([
    startEtcd({
      tls: {
        certFile: pki('server.crt'),
        keyFile: pki('server.key'),
        caFile: pki('ca.crt'),
        clientCertAuth: { certFile: pki('client-openscheduler.crt'), keyFile: pki('client-openscheduler.key') },
      },
    }),
    startEtcd({ extraArgs: ['--auth-token-ttl=1'] }),
  ]);
  await enableEtcdAuth(authEtcd.endpoint, { rootPassword: 'root-password', users: [USER] });
});
after(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all([tlsEtcd?.stop(), authEtcd?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

async function open(options: EtcdStoreOptions): Promise<EtcdStore> {
  const store = await EtcdStore.open({ compactIntervalMs: 0, watchRetryMinMs: 50, watchRetryMaxMs: 500, ...options });
  stores.push(store);
  return store;
}

/** The first batch of a watch (the test's timeout bounds the wait). */
async function firstBatch(store: Store, prefix: string, fromRevision?: number): Promise<WatchEvent[]> {
  const abort = new AbortController();
  try {
    for await (const batch of store.watch(prefix, { signal: abort.signal, ...(fromRevision !== undefined ? { fromRevision } : {}) })) return batch;
    throw new Error('the watch ended without events');
  } finally {
    abort.abort();
  }
}

function tlsOf(client: string, ca = 'ca.crt'): Promise<{ ca: Buffer; cert: Buffer; key: Buffer }> {
  return Promise.all([readFile(pki(ca)), readFile(pki(`${client}.crt`)), readFile(pki(`${client}.key`))]).then(([c, cert, key]) => ({ ca: c, cert, key }));
}

/** host:port of an http(s):// endpoint. */
function hostPort(endpoint: string): string {
  return new URL(endpoint).host;
}

void describe('EtcdStore over TLS with a client certificate (etcd --client-cert-auth)', { timeout: 30_000 }, () => {
  void it('reads, writes, watches and keeps leases alive; a bare host:port endpoint becomes https', async () => {
    const store = await open({ endpoints: [hostPort(tlsEtcd.endpoint)], prefix: '/tls', tls: await tlsOf('client-openscheduler') });
    const { revision } = await store.put('a', 'one');
    assert.equal((await store.get('a'))?.value, 'one');
    assert.deepEqual((await store.list('')).items.map((kv) => kv.key), ['a']);
    const watched = firstBatch(store, '', revision + 1);
    await store.put('b', 'two');
    assert.deepEqual((await watched).map((e) => [e.type, e.kv.key, e.kv.value]), [['put', 'b', 'two']]);
    const lease = await store.grantLease(10);
    await store.keepAlive(lease);
    await store.revokeLease(lease);
  });

  void it('without a client certificate, open() fails at once: etcd refused the client certificate', FAIL_FAST, async () => {
    const { ca } = await tlsOf('client-openscheduler');
    await assert.rejects(open({ endpoints: [tlsEtcd.endpoint], tls: { ca }, timeoutMs: LONG_TIMEOUT_MS }), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailableError, String(err));
      assert.match(err.message, /^store open: the TLS handshake with etcd at https:\/\/127\.0\.0\.1:\d+ failed \(etcd refused the client certificate: none was given, or it is not signed by etcd's --trusted-ca-file\): /);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  });

  void it('with a client certificate from another CA, open() fails at once the same way', FAIL_FAST, async () => {
    const { ca } = await tlsOf('client-openscheduler');
    const wrong = await tlsOf('wrong-client-openscheduler');
    await assert.rejects(open({ endpoints: [tlsEtcd.endpoint], tls: { ca, cert: wrong.cert, key: wrong.key }, timeoutMs: LONG_TIMEOUT_MS }), /etcd refused the client certificate/);
  });

  void it("with the wrong CA, open() fails at once: etcd's certificate is not signed by it", FAIL_FAST, async () => {
    const tls = { ...(await tlsOf('client-openscheduler')), ca: await readFile(pki('wrong-ca.crt')) };
    await assert.rejects(open({ endpoints: [tlsEtcd.endpoint], tls, timeoutMs: LONG_TIMEOUT_MS }), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailableError, String(err));
      assert.match(err.message, /TLS handshake with etcd at https:\/\/127\.0\.0\.1:\d+ failed \(etcd's serving certificate is not signed by the CA given\)/);
      return true;
    });
  });

  void it('refuses an http:// endpoint with TLS on, and a client certificate without its key', async () => {
    const tls = await tlsOf('client-openscheduler');
    await assert.rejects(open({ endpoints: [tlsEtcd.endpoint.replace('https:', 'http:')], tls }), /endpoint http:\/\/127\.0\.0\.1:\d+ is plain http, but TLS to etcd is on/);
    await assert.rejects(open({ endpoints: [tlsEtcd.endpoint], tls: { ca: tls.ca, cert: tls.cert } }), /tls\.cert and tls\.key must be given together/);
  });
});

void describe("EtcdStore with etcd's authentication (auth enable)", { timeout: 30_000 }, () => {
  const auth = { username: USER.name, password: USER.password };

  void it('works with a username and password, also after the token expired (calls, a new watch, compaction)', async () => {
    const store = await open({ endpoints: [authEtcd.endpoint], prefix: USER.prefix, auth });
    const { revision } = await store.put('job', 'v1');
    assert.equal((await store.get('job'))?.value, 'v1');
    // etcd forgets a token unused for --auth-token-ttl (1 s here). The watch is the first call
    // after that: etcd cancels it for the invalid token; the store must renew the token itself
    // (etcd3 does so for unary calls only), or the watch would retry the dead token forever.
    await sleep(2_500);
    assert.deepEqual((await firstBatch(store, '', revision)).map((e) => [e.type, e.kv.key, e.kv.value]), [['put', 'job', 'v1']]);
    await sleep(2_500);
    assert.equal((await store.get('job'))?.value, 'v1', 'a unary call after expiry');
    const lease = await store.grantLease(10);
    await store.keepAlive(lease);
    await store.put('leased', 'x', { lease });
    await store.compact((await store.put('job', 'v2')).revision);
    assert.ok((await store.compactedRevision()) > revision, 'a user with readwrite on its prefix may compact');
  });

  void it('a wrong password fails open() at once: etcd refused the credentials of the user', FAIL_FAST, async () => {
    await assert.rejects(open({ endpoints: [authEtcd.endpoint], prefix: USER.prefix, auth: { ...auth, password: 'wrong' }, timeoutMs: LONG_TIMEOUT_MS }), (err: unknown) => {
      assert.ok(err instanceof StoreError && !(err instanceof StoreUnavailableError), String(err));
      assert.match(err.message, /^store open: etcd at http:\/\/127\.0\.0\.1:\d+ refused the credentials of user scheduler: .*authentication failed, invalid user ID or password/);
      assert.doesNotMatch(err.message, /wrong/, 'the password is not in the message');
      return true;
    });
  });

  void it('no user, or a prefix the user may not touch, fails open() saying so', FAIL_FAST, async () => {
    await assert.rejects(open({ endpoints: [authEtcd.endpoint], prefix: USER.prefix, timeoutMs: LONG_TIMEOUT_MS }), /has authentication enabled, but no user was given/);
    await assert.rejects(
      open({ endpoints: [authEtcd.endpoint], prefix: '/elsewhere', auth, timeoutMs: LONG_TIMEOUT_MS }),
      /denied user scheduler access to the prefix \/elsewhere: grant its role readwrite on that prefix/,
    );
  });
});

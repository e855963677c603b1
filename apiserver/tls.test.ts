import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import winston from 'winston';
import { certificateNames, ensureTlsMaterial, servingNames, type TlsMaterial } from './tls.js';

const logger = winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });
const DAY = 24 * 60 * 60 * 1000;

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

function httpsGet(port: number, host: string, ca: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', servername: host === '127.0.0.1' ? undefined : host, port, path: '/', ca, headers: { host } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

void describe('TLS material', () => {
  let dataDir: string;
  let first: TlsMaterial;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'os-tls-'));
    first = await ensureTlsMaterial({ dataDir, logger, hostname: 'build-host', extraNames: ['api.example.test', '10.20.30.40'] });
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  void it('creates a CA and a serving certificate with private keys of mode 0600', async () => {
    assert.deepEqual(first.generated, { ca: true, serving: true });
    const tls = join(dataDir, 'tls');
    assert.equal(first.caPath, join(tls, 'ca.crt'));
    assert.equal(await mode(join(tls, 'ca.key')), 0o600);
    assert.equal(await mode(join(tls, 'server.key')), 0o600);
    assert.equal(await readFile(join(tls, 'server.crt'), 'utf8'), first.cert);
    assert.equal(await readFile(join(tls, 'ca.crt'), 'utf8'), first.caCert);
    const ca = new X509Certificate(first.caCert!);
    assert.equal(ca.ca, true);
    assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const caYears = (Date.parse(ca.validTo) - Date.now()) / (365 * DAY);
    assert.ok(caYears > 9.9 && caYears < 10.1, `CA valid ${caYears} years`);
    const cert = new X509Certificate(first.cert);
    assert.equal(cert.ca, false);
    assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'serving certificate signed by the CA');
    const days = (Date.parse(cert.validTo) - Date.now()) / DAY;
    assert.ok(days > 364 && days < 366, `serving certificate valid ${days} days`);
  });

  void it('puts localhost, loopback, the host name and configured names in the SANs', () => {
    const names = certificateNames(new X509Certificate(first.cert));
    for (const expected of servingNames('build-host', ['api.example.test', '10.20.30.40'])) {
      assert.ok(names.includes(expected), `missing ${expected} in ${names.join(', ')}`);
    }
    assert.ok(names.includes('0:0:0:0:0:0:0:1'), '::1');
    assert.ok(names.includes('build-host'));
    assert.ok(names.includes('api.example.test'));
    assert.ok(names.includes('10.20.30.40'));
  });

  void it('reuses the files on restart', async () => {
    const again = await ensureTlsMaterial({ dataDir, logger, hostname: 'build-host', extraNames: ['10.20.30.40'] });
    assert.deepEqual(again.generated, { ca: false, serving: false });
    assert.equal(again.cert, first.cert);
    assert.equal(again.key, first.key);
    assert.equal(again.caCert, first.caCert);
  });

  void it('reissues the serving certificate (keeping the CA) for a new name or near expiry', async () => {
    const named = await ensureTlsMaterial({ dataDir, logger, hostname: 'build-host', extraNames: ['other.example.test'] });
    assert.deepEqual(named.generated, { ca: false, serving: true });
    assert.equal(named.caCert, first.caCert);
    assert.ok(certificateNames(new X509Certificate(named.cert)).includes('other.example.test'));

    const later = Date.now() + 340 * DAY; // 25 days before the serving certificate expires
    const renewed = await ensureTlsMaterial({ dataDir, logger, hostname: 'build-host', extraNames: ['other.example.test'], now: () => later });
    assert.deepEqual(renewed.generated, { ca: false, serving: true });
    assert.ok(Date.parse(new X509Certificate(renewed.cert).validTo) > later + 360 * DAY);
  });

  void it('serves HTTPS that a client trusting the CA accepts, by IP and by name', async () => {
    const material = await ensureTlsMaterial({ dataDir, logger, hostname: 'build-host' });
    const server: Server = createServer({ cert: material.cert, key: material.key }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      assert.deepEqual(await httpsGet(port, '127.0.0.1', material.caCert), { status: 200, body: 'ok' });
      assert.deepEqual(await httpsGet(port, 'localhost', material.caCert), { status: 200, body: 'ok' });
      await assert.rejects(httpsGet(port, 'localhost', undefined), /self[- ]signed|unable to (get|verify)/i);
      await assert.rejects(httpsGet(port, 'elsewhere.example.test', material.caCert), /altnames|Hostname/i);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  void it('uses a configured certificate and key as they are, and rejects a mismatch', async () => {
    const other = await mkdtemp(join(tmpdir(), 'os-tls-user-'));
    try {
      const own = await ensureTlsMaterial({ dataDir: other, logger, hostname: 'h' });
      const certFile = join(other, 'my.crt');
      const keyFile = join(other, 'my.key');
      await writeFile(certFile, own.cert);
      await writeFile(keyFile, own.key);
      const used = await ensureTlsMaterial({ dataDir, logger, certFile, keyFile });
      assert.equal(used.cert, own.cert);
      assert.equal(used.caPath, undefined);
      assert.deepEqual(used.generated, { ca: false, serving: false });

      await writeFile(keyFile, first.key);
      await assert.rejects(ensureTlsMaterial({ dataDir, logger, certFile, keyFile }), /does not match/);
      await assert.rejects(ensureTlsMaterial({ dataDir, logger, certFile }), /must be given together/);
      await assert.rejects(
        ensureTlsMaterial({ dataDir, logger, certFile: join(other, 'missing.crt'), keyFile }),
        /--tls-cert-file .*missing\.crt: ENOENT/,
      );
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});

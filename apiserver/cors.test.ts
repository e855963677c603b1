// The CORS table of issue 5 against the real express app over HTTP: only the exact allowed
// origin is echoed (with credentials, never a wildcard); other origins, `null` and look-alikes
// get no CORS header and a failed preflight; every answer varies by Origin; bad settings are
// refused naming the entry and the rule.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JOBS, TestServer } from './api-test-harness.js';
import { checkAllowedOrigins, CORS_ALLOWED_METHODS } from './cors.js';

const ALLOWED = 'https://allowed.example';

void describe('CORS', () => {
  let server: TestServer;
  before(async () => {
    server = await TestServer.start({ allowedOrigins: [ALLOWED, 'http://127.0.0.1:5173'] });
  });
  after(async () => {
    await server.close();
  });

  const preflight = (origin: string) =>
    server.request('OPTIONS', JOBS, { token: null, headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });

  void it('echoes an allowed origin with credentials, never a wildcard; every answer varies by Origin', async () => {
    const res = await server.request('GET', JOBS, { headers: { origin: ALLOWED } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), ALLOWED);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.match(res.headers.get('vary') ?? '', /Origin/);
    const other = await server.request('GET', JOBS, { headers: { origin: 'http://127.0.0.1:5173' } });
    assert.equal(other.headers.get('access-control-allow-origin'), 'http://127.0.0.1:5173');
    const none = await server.request('GET', JOBS);
    assert.equal(none.headers.get('access-control-allow-origin'), null);
    assert.match(none.headers.get('vary') ?? '', /Origin/);
  });

  const refused = ['https://evil.example', 'null', 'https://allowed.example.evil', 'http://allowed.example', 'https://allowed.example:443x', 'https://ALLOWED.example.', 'https://sub.allowed.example'];
  for (const origin of refused) {
    void it(`gives ${origin} no CORS header and a failed preflight`, async () => {
      const res = await server.request('GET', JOBS, { headers: { origin } });
      assert.equal(res.status, 200, 'the request itself is answered; the browser withholds it');
      for (const name of ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods']) assert.equal(res.headers.get(name), null, name);
      const pre = await preflight(origin);
      assert.equal(pre.status, 403);
      assert.equal(pre.headers.get('access-control-allow-origin'), null);
      assert.equal(pre.headers.get('access-control-allow-methods'), null);
    });
  }

  void it('answers the preflight of an allowed origin before authentication', async () => {
    const pre = await preflight(ALLOWED);
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), ALLOWED);
    assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
    assert.deepEqual(pre.headers.get('access-control-allow-methods')?.split(', '), CORS_ALLOWED_METHODS);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    assert.match(pre.headers.get('vary') ?? '', /Origin/);
    // an OPTIONS that is no preflight is not answered by CORS (and needs authentication)
    const plain = await server.request('OPTIONS', JOBS, { token: null, headers: { origin: ALLOWED } });
    assert.equal(plain.status, 401);
  });

  void it('refuses bad settings naming the entry and the rule', () => {
    assert.deepEqual(checkAllowedOrigins([ALLOWED, 'http://localhost:8080']), [ALLOWED, 'http://localhost:8080']);
    const cases: Array<[string, RegExp]> = [
      ['*', /allowedOrigins\[0\]: "\*" is not allowed: list exact origins/],
      ['null', /"null" is the origin of sandboxed frames/],
      ['https://a.example/', /not a serialised origin.*"https:\/\/a\.example"/],
      ['https://a.example/path', /not a serialised origin/],
      ['HTTPS://A.example', /not a serialised origin/],
      ['ftp://a.example', /must use http or https/],
      ['a.example', /is not an origin/],
    ];
    for (const [origin, message] of cases) assert.throws(() => checkAllowedOrigins([origin]), message, origin);
  });
});

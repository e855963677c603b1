import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMutatingMethod, resolveRequestInfo, resourceWithSubresource, type RequestInfo } from './request-info.js';

const resource = (info: RequestInfo): Record<string, unknown> => {
  assert.equal(info.isResourceRequest, true, `expected a resource request: ${JSON.stringify(info)}`);
  const { isResourceRequest: _r, path: _p, apiVersion: _v, ...rest } = info as Extract<RequestInfo, { isResourceRequest: true }>;
  return rest;
};

void describe('resolveRequestInfo', () => {
  void it('describes resource paths of groups and the core group', () => {
    const table: [string, string, Record<string, unknown>, Record<string, unknown>][] = [
      ['GET', '/apis/openscheduler.io/v1/namespaces/default/jobs', {}, { verb: 'list', apiGroup: 'openscheduler.io', resource: 'jobs', subresource: '', namespace: 'default', name: '' }],
      ['GET', '/apis/openscheduler.io/v1/jobs', { watch: 'true' }, { verb: 'watch', apiGroup: 'openscheduler.io', resource: 'jobs', subresource: '', namespace: '', name: '' }],
      ['HEAD', '/apis/openscheduler.io/v1/namespaces/a/jobs/x', {}, { verb: 'get', apiGroup: 'openscheduler.io', resource: 'jobs', subresource: '', namespace: 'a', name: 'x' }],
      ['POST', '/apis/openscheduler.io/v1/namespaces/a/jobs', {}, { verb: 'create', apiGroup: 'openscheduler.io', resource: 'jobs', subresource: '', namespace: 'a', name: '' }],
      ['PUT', '/apis/openscheduler.io/v1/namespaces/a/jobs/x/status', {}, { verb: 'update', apiGroup: 'openscheduler.io', resource: 'jobs', subresource: 'status', namespace: 'a', name: 'x' }],
      ['PATCH', '/apis/openscheduler.io/v1/nodes/n1', {}, { verb: 'patch', apiGroup: 'openscheduler.io', resource: 'nodes', subresource: '', namespace: '', name: 'n1' }],
      ['DELETE', '/apis/openscheduler.io/v1/namespaces/a/jobs', {}, { verb: 'deletecollection', apiGroup: 'openscheduler.io', resource: 'jobs', subresource: '', namespace: 'a', name: '' }],
      ['DELETE', '/api/v1/nodetokens/abc', {}, { verb: 'delete', apiGroup: '', resource: 'nodetokens', subresource: '', namespace: '', name: 'abc' }],
      ['POST', '/apis/openscheduler.io/v1/namespaces/a/jobs/x/retry', {}, { verb: 'create', apiGroup: 'openscheduler.io', resource: 'jobs', subresource: 'retry', namespace: 'a', name: 'x' }],
      ['GET', '/api/v1/namespaces/a/events', { watch: '1' }, { verb: 'watch', apiGroup: '', resource: 'events', subresource: '', namespace: 'a', name: '' }],
      ['GET', '/api/v1/namespaces/a%2Db/events/e%201', {}, { verb: 'get', apiGroup: '', resource: 'events', subresource: '', namespace: 'a-b', name: 'e 1' }],
      ['GET', '/api/v1/namespaces', {}, { verb: 'list', apiGroup: '', resource: 'namespaces', subresource: '', namespace: '', name: '' }],
    ];
    for (const [method, path, query, want] of table) assert.deepEqual(resource(resolveRequestInfo(method, path, query)), want, `${method} ${path}`);
  });

  void it('keeps everything else a non-resource request with its path', () => {
    for (const [method, path, verb] of [
      ['GET', '/apis', 'get'],
      ['GET', '/apis/openscheduler.io/v1', 'get'],
      ['GET', '/api', 'get'],
      ['GET', '/api/v1', 'get'],
      ['POST', '/api/v1/auth/login', 'post'],
      ['GET', '/metrics', 'get'],
      ['HEAD', '/openapi/v2', 'get'],
      ['OPTIONS', '/apis/openscheduler.io/v1/jobs', 'options'],
      ['GET', '/apis/openscheduler.io/v1/namespaces/a/jobs/x/log/extra', 'get'],
      ['GET', '/apis/openscheduler.io/v1/namespaces/a/jobs/%E0%A4%A', 'get'],
      ['GET', '/apis/openscheduler.io/v1/namespaces/a/jobs/a%2Fb', 'get'],
      ['GET', `/apis/openscheduler.io/v1/namespaces/a/jobs/${'x'.repeat(254)}`, 'get'],
    ] as const) {
      const info = resolveRequestInfo(method, path);
      assert.deepEqual(info, { isResourceRequest: false, verb, path }, `${method} ${path}`);
    }
  });

  void it('names resource and subresource together, and knows the mutating methods', () => {
    const info = resolveRequestInfo('GET', '/apis/openscheduler.io/v1/namespaces/a/jobs/x/log');
    assert.ok(info.isResourceRequest);
    assert.equal(resourceWithSubresource(info), 'jobs/log');
    assert.deepEqual(['GET', 'HEAD', 'OPTIONS', 'POST', 'put', 'PATCH', 'DELETE'].map(isMutatingMethod), [false, false, false, true, true, true, true]);
  });
});

// Bounded metric labels of API requests, and the /readyz checks runner.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLongRunning, routeLabel, verbLabel } from './api-metrics.js';
import { ReadinessError, runReadinessChecks } from './readiness.js';
import { resolveRequestInfo } from './request-info.js';

const known = new Set(['jobs', 'nodes', 'events', 'nodetokens']);
const label = (method: string, path: string, query: Record<string, unknown> = {}): [string, string, boolean] => {
  const info = resolveRequestInfo(method, path, query);
  return [routeLabel(info, known), verbLabel(info), isLongRunning(info, query)];
};

void describe('API request labels', () => {
  void it('are templates: never a name, namespace or unknown path', () => {
    const cases: [string, string, Record<string, unknown>, [string, string, boolean]][] = [
      ['POST', '/apis/openscheduler.io/v1/namespaces/team-a/jobs', {}, ['jobs', 'create', false]],
      ['GET', '/apis/openscheduler.io/v1/namespaces/team-a/jobs/secret-name', {}, ['jobs', 'get', false]],
      ['GET', '/apis/openscheduler.io/v1/jobs', { watch: 'true' }, ['jobs', 'watch', true]],
      ['PUT', '/apis/openscheduler.io/v1/namespaces/a/jobs/x/status', {}, ['jobs/status', 'update', false]],
      ['GET', '/apis/openscheduler.io/v1/namespaces/a/jobs/x/log', { follow: 'true' }, ['jobs/log', 'get', true]],
      ['GET', '/apis/openscheduler.io/v1/namespaces/a/jobs/x/log', {}, ['jobs/log', 'get', false]],
      ['POST', '/apis/openscheduler.io/v1/namespaces/a/jobs/x/retry', {}, ['jobs/retry', 'create', false]],
      ['GET', '/apis/openscheduler.io/v1/namespaces/a/jobs/x/made-up', {}, ['other', 'get', false]],
      ['DELETE', '/apis/openscheduler.io/v1/nodes', {}, ['nodes', 'deletecollection', false]],
      ['GET', '/api/v1/namespaces/a/events', {}, ['events', 'list', false]],
      ['GET', '/apis/evil/v1/anything-at-all', {}, ['other', 'list', false]],
      ['GET', '/apis/openscheduler.io/v1', {}, ['/apis/{group}/{version}', 'get', false]],
      ['GET', '/apis/openscheduler.io', {}, ['/apis/{group}', 'get', false]],
      ['GET', '/metrics', {}, ['/metrics', 'get', false]],
      ['POST', '/api/v1/auth/login', {}, ['/api/v1/auth/login', 'post', false]],
      ['GET', '/some/random/path', {}, ['other', 'get', false]],
      ['GET', '/dashboard/v1/jobs', { q: 'secret' }, ['/dashboard/v1/jobs', 'get', false]],
      ['GET', '/dashboard/v1/nodes/worker-7', {}, ['/dashboard/v1/nodes/{name}', 'get', false]],
      ['GET', '/dashboard/v1/nodes/a/b', {}, ['other', 'get', false]],
      ['GET', '/', {}, ['/', 'get', false]],
      ['GET', '/assets/main-ABC123.js', {}, ['/assets/{file}', 'get', false]],
      ['PROPFIND', '/healthz', {}, ['/healthz', 'other', false]],
    ];
    for (const [method, path, query, want] of cases) assert.deepEqual(label(method, path, query), want, `${method} ${path}`);
  });
});

void describe('runReadinessChecks', () => {
  void it('runs every check, gives a check that hangs the deadline, and hides unexpected errors', async () => {
    const started = performance.now();
    const outcomes = await runReadinessChecks(
      [
        { name: 'fine', check: async () => undefined },
        { name: 'down', check: async () => Promise.reject(new ReadinessError('the thing is down')) },
        { name: 'hangs', check: () => new Promise<void>(() => undefined) },
        { name: 'leaky', check: async () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.7:2379')) },
      ],
      200,
    );
    const ms = performance.now() - started;
    assert.ok(ms >= 190 && ms < 1000, `${ms} ms`);
    assert.deepEqual(outcomes, [
      { name: 'fine' },
      { name: 'down', failure: 'the thing is down' },
      { name: 'hangs', failure: 'no answer within 200 ms' },
      { name: 'leaky', failure: 'check failed' },
    ]);
  });
});

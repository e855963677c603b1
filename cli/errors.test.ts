import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError, TransportError, statusFromResponse } from './client.js';
import { CliError, formatError } from './errors.js';

void test('a Status body is kept; other bodies become a Status from the HTTP code', () => {
  const body = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 404, reason: 'NotFound', message: 'jobs.openscheduler.io "x" not found' };
  assert.deepEqual(statusFromResponse(404, JSON.stringify(body)), body);
  assert.deepEqual(statusFromResponse(502, '<html>Bad gateway</html>'), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    code: 502,
    reason: 'Unknown',
    message: '<html>Bad gateway</html>',
  });
  assert.equal(statusFromResponse(503, '').message, 'the server responded with HTTP 503 Service Unavailable');
  assert.equal(statusFromResponse(409, '').reason, 'Conflict');
});

void test('errors print like kubectl: server reason and message, causes with field paths', () => {
  const notFound = new ApiError(statusFromResponse(404, JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: 'jobs.openscheduler.io "x" not found' })));
  assert.equal(formatError(notFound), 'Error from server (NotFound): jobs.openscheduler.io "x" not found');
  const invalid = new ApiError({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    code: 422,
    reason: 'Invalid',
    message: 'Job.openscheduler.io "bad" is invalid: ...',
    details: {
      kind: 'Job',
      name: 'bad',
      causes: [
        { reason: 'FieldValueNotSupported', field: 'spec.driver', message: 'Unsupported value: "ssh": supported values: "process", "podman", "incus"' },
        { reason: 'FieldValueRequired', field: 'spec.image', message: 'Required value' },
      ],
    },
  });
  assert.equal(
    formatError(invalid),
    'The Job "bad" is invalid:\n* spec.driver: Unsupported value: "ssh": supported values: "process", "podman", "incus"\n* spec.image: Required value',
  );
  const unauthorized = new ApiError(statusFromResponse(401, JSON.stringify({ kind: 'Status', code: 401, reason: 'Unauthorized', message: 'token expired' })));
  assert.match(formatError(unauthorized), /^error: You must be logged in to the server \(Unauthorized\): token expired\nhint: run "osctl login/);
  assert.equal(formatError(new TransportError('cannot reach the server at http://127.0.0.1:1: connect ECONNREFUSED')), 'error: cannot reach the server at http://127.0.0.1:1: connect ECONNREFUSED');
  assert.equal(formatError(new CliError('bad flag', 2)), 'error: bad flag');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  JOB,
  NODE,
  collectionPath,
  objectPath,
  parseResourceArgs,
  parseSingleObjectArgs,
  qualifiedName,
  resolveResource,
  resourceForKind,
} from './resources.js';

void test('resource names resolve like kubectl: singular, plural, short and qualified', () => {
  for (const name of ['job', 'jobs', 'osj', 'JOBS', 'jobs.openscheduler.io', 'job.openscheduler.io']) assert.equal(resolveResource(name), JOB, name);
  for (const name of ['node', 'nodes', 'osn', 'nodes.openscheduler.io']) assert.equal(resolveResource(name), NODE, name);
  assert.throws(() => resolveResource('pods'), /unknown resource type "pods": expected one of job\|jobs\|osj, node\|nodes\|osn/);
});

void test('resource arguments: TYPE NAME..., TYPE/NAME..., and their errors', () => {
  assert.deepEqual(parseResourceArgs(['jobs']), { resource: JOB, names: [] });
  assert.deepEqual(parseResourceArgs(['job', 'a', 'b']), { resource: JOB, names: ['a', 'b'] });
  assert.deepEqual(parseResourceArgs(['job/a', 'jobs/b']), { resource: JOB, names: ['a', 'b'] });
  assert.deepEqual(parseResourceArgs(['node/n1']), { resource: NODE, names: ['n1'] });
  assert.throws(() => parseResourceArgs([]), /a resource type is required/);
  assert.throws(() => parseResourceArgs(['job/a', 'node/b']), /all arguments must be of one resource type/);
  assert.throws(() => parseResourceArgs(['job/a', 'b']), /every argument must be TYPE\/NAME/);
  assert.throws(() => parseResourceArgs(['job/']), /every argument must be TYPE\/NAME/);
  assert.throws(() => parseResourceArgs(['jobs', 'job/a']), /no need to specify a resource type/);
  assert.deepEqual(parseSingleObjectArgs(['job/x']), { resource: JOB, name: 'x' });
  assert.deepEqual(parseSingleObjectArgs(['job', 'x']), { resource: JOB, name: 'x' });
  assert.throws(() => parseSingleObjectArgs(['job']), /exactly one object is required/);
});

void test('manifest kinds resolve only for openscheduler.io/v1', () => {
  assert.equal(resourceForKind('openscheduler.io/v1', 'Job'), JOB);
  assert.equal(resourceForKind('openscheduler.io/v1', 'Node'), NODE);
  assert.throws(() => resourceForKind('batch/v1', 'Job'), /unknown kind "Job" with apiVersion "batch\/v1": osctl handles openscheduler.io\/v1 Job, openscheduler.io\/v1 Node/);
  assert.throws(() => resourceForKind('openscheduler.io/v1', 'Pod'), /unknown kind "Pod"/);
});

void test('REST paths and display names', () => {
  assert.equal(collectionPath(JOB, 'team-a'), '/apis/openscheduler.io/v1/namespaces/team-a/jobs');
  assert.equal(collectionPath(JOB, undefined), '/apis/openscheduler.io/v1/jobs');
  assert.equal(collectionPath(NODE, 'ignored'), '/apis/openscheduler.io/v1/nodes');
  assert.equal(objectPath(JOB, 'default', 'a b'), '/apis/openscheduler.io/v1/namespaces/default/jobs/a%20b');
  assert.equal(objectPath(NODE, 'default', 'n1'), '/apis/openscheduler.io/v1/nodes/n1');
  assert.equal(qualifiedName(JOB, 'x'), 'job.openscheduler.io/x');
});

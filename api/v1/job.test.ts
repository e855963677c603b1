import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiObject, StatusCause } from '../meta.js';
import { jobKind, type Job } from './index.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test fixtures are mutated freely

function processJob(): Obj {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name: 'nightly-report', namespace: 'default', labels: { team: 'data' } },
    spec: { driver: 'process', command: ['/bin/sh', '-c'], args: ['echo hello'] },
  };
}

/** The DESIGN 2.2 example, with podman (image and volumes need a container driver). */
function fullJob(): Obj {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name: 'nightly-report', namespace: 'default', labels: { team: 'data' } },
    spec: {
      driver: 'podman',
      workloadType: 'container',
      image: 'localhost/busybox:test',
      command: ['/bin/sh', '-c'],
      args: ['echo hello'],
      env: [{ name: 'GREETING', value: 'hi' }],
      workingDir: '/srv/jobs',
      resources: { cpu: '500m', memory: '128Mi' },
      volumes: [{ hostPath: '/srv/data', mountPath: '/data', readOnly: true }],
      timeoutSeconds: 600,
      killTimeoutSeconds: 10,
      activeDeadlineSeconds: 3600,
      retryPolicy: { maxRetries: 3, backoffSeconds: 10, backoffFactor: 2, maxBackoffSeconds: 300 },
      dependsOn: ['build', 'test'],
      nodeSelector: { disk: 'ssd' },
      priority: 0,
      ttlSecondsAfterFinished: 86400,
    },
    status: {
      phase: 'Pending',
      reason: 'WaitingForDependencies',
      message: 'waiting for build',
      nodeName: 'node-1',
      attempts: 2,
      recentAttempts: [
        { attempt: 1, nodeName: 'node-1', startTime: '2024-01-01T00:00:00Z', endTime: '2024-01-01T00:01:00Z', exitCode: 1, reason: 'Error', message: 'exit 1' },
        { attempt: 2, nodeName: 'node-2', startTime: '2024-01-01T00:02:00.123Z' },
      ],
      startTime: '2024-01-01T00:00:00Z',
      completionTime: '2024-01-01T00:05:00+02:00',
      exitCode: 0,
      nextRetryAt: '2024-01-01T00:03:00Z',
      observedGeneration: 1,
      conditions: [{ type: 'Ready', status: 'False', reason: 'Waiting', message: 'm', lastTransitionTime: '2024-01-01T00:00:00Z' }],
    },
  };
}

function check(obj: Obj): StatusCause[] {
  jobKind.applyDefaults(obj as ApiObject);
  return jobKind.validate(obj);
}

const repeat = (s: string, n: number): string => s.repeat(n);
const manyEntries = (n: number, value = 'v'): Record<string, string> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value]));
const hex64 = 'a'.repeat(64);

interface Case {
  name: string;
  /** Starts from processJob() unless `base` says otherwise. */
  base?: () => Obj;
  mutate: (j: Obj) => void;
  field: string;
  reason: string;
  /** A substring of the cause message. */
  message: string;
}

const cases: Case[] = [
  // type meta
  { name: 'apiVersion other', mutate: (j) => (j.apiVersion = 'openscheduler.io/v2'), field: 'apiVersion', reason: 'FieldValueNotSupported', message: 'Unsupported value: "openscheduler.io/v2": supported values: "openscheduler.io/v1"' },
  { name: 'apiVersion missing', mutate: (j) => delete j.apiVersion, field: 'apiVersion', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'kind other', mutate: (j) => (j.kind = 'Pod'), field: 'kind', reason: 'FieldValueNotSupported', message: 'supported values: "Job"' },
  { name: 'unknown top-level field', mutate: (j) => (j.extra = 1), field: 'extra', reason: 'FieldValueNotSupported', message: 'Unsupported value: "extra": unknown field' },
  // metadata
  { name: 'metadata missing', mutate: (j) => delete j.metadata, field: 'metadata', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'name missing', mutate: (j) => delete j.metadata.name, field: 'metadata.name', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'name empty', mutate: (j) => (j.metadata.name = ''), field: 'metadata.name', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'name not a DNS label', mutate: (j) => (j.metadata.name = 'Foo_Bar'), field: 'metadata.name', reason: 'FieldValueInvalid', message: 'Invalid value: "Foo_Bar": must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ (a DNS-1123 label)' },
  { name: 'name ends with dash', mutate: (j) => (j.metadata.name = 'job-'), field: 'metadata.name', reason: 'FieldValueInvalid', message: 'a DNS-1123 label' },
  { name: 'name with dot', mutate: (j) => (j.metadata.name = 'a.b'), field: 'metadata.name', reason: 'FieldValueInvalid', message: 'a DNS-1123 label' },
  { name: 'name too long', mutate: (j) => (j.metadata.name = repeat('a', 64)), field: 'metadata.name', reason: 'FieldValueTooLong', message: 'Too long: may not be more than 63 characters' },
  { name: 'name not a string', mutate: (j) => (j.metadata.name = 5), field: 'metadata.name', reason: 'FieldValueInvalid', message: 'Invalid value: 5: must be of type string' },
  { name: 'namespace invalid', mutate: (j) => (j.metadata.namespace = 'Team_A'), field: 'metadata.namespace', reason: 'FieldValueInvalid', message: 'a DNS-1123 label' },
  { name: 'metadata unknown field', mutate: (j) => (j.metadata.foo = 'x'), field: 'metadata.foo', reason: 'FieldValueNotSupported', message: 'Unsupported value: "foo": unknown field' },
  { name: 'generateName invalid', mutate: (j) => (j.metadata.generateName = 'Job_'), field: 'metadata.generateName', reason: 'FieldValueInvalid', message: 'a DNS-1123 label prefix' },
  { name: 'creationTimestamp not RFC 3339', mutate: (j) => (j.metadata.creationTimestamp = 'yesterday'), field: 'metadata.creationTimestamp', reason: 'FieldValueInvalid', message: 'RFC 3339' },
  { name: 'generation negative', mutate: (j) => (j.metadata.generation = -1), field: 'metadata.generation', reason: 'FieldValueInvalid', message: 'must be greater than or equal to 0' },
  { name: 'finalizer not a qualified name', mutate: (j) => (j.metadata.finalizers = ['ok.io/f', 'bad key!']), field: 'metadata.finalizers[1]', reason: 'FieldValueInvalid', message: 'name part must consist of' },
  { name: 'ownerReference without uid', mutate: (j) => (j.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'X', name: 'x' }]), field: 'metadata.ownerReferences[0].uid', reason: 'FieldValueRequired', message: 'Required value' },
  { name: '101 labels', mutate: (j) => (j.metadata.labels = manyEntries(101)), field: 'metadata.labels', reason: 'FieldValueTooMany', message: 'Too many: 101: must have at most 100 labels' },
  { name: 'label key with space', mutate: (j) => (j.metadata.labels = { 'a b': 'x' }), field: 'metadata.labels', reason: 'FieldValueInvalid', message: 'Invalid value: "a b": name part must consist of' },
  { name: 'label key with bad prefix', mutate: (j) => (j.metadata.labels = { 'Example.com/x': 'x' }), field: 'metadata.labels', reason: 'FieldValueInvalid', message: 'prefix part must be a DNS-1123 subdomain' },
  { name: 'label key with two slashes', mutate: (j) => (j.metadata.labels = { 'a/b/c': 'x' }), field: 'metadata.labels', reason: 'FieldValueInvalid', message: 'a qualified name' },
  { name: 'label key name too long', mutate: (j) => (j.metadata.labels = { [repeat('a', 64)]: 'x' }), field: 'metadata.labels', reason: 'FieldValueInvalid', message: 'name part must be no more than 63 characters' },
  { name: 'label value too long', mutate: (j) => (j.metadata.labels = { team: repeat('a', 2049) }), field: 'metadata.labels', reason: 'FieldValueTooLong', message: 'Too long: value of "team" may not be more than 2048 characters' },
  { name: 'label value with space', mutate: (j) => (j.metadata.labels = { team: 'data team' }), field: 'metadata.labels', reason: 'FieldValueInvalid', message: 'Invalid value: "data team": value of "team": a valid label value' },
  { name: 'label value a number', mutate: (j) => (j.metadata.labels = { version: 1 }), field: 'metadata.labels', reason: 'FieldValueInvalid', message: 'Invalid value: 1: value of "version": must be of type string' },
  { name: '101 annotations', mutate: (j) => (j.metadata.annotations = manyEntries(101)), field: 'metadata.annotations', reason: 'FieldValueTooMany', message: 'must have at most 100 annotations' },
  { name: 'annotation key invalid', mutate: (j) => (j.metadata.annotations = { '-x': 'v' }), field: 'metadata.annotations', reason: 'FieldValueInvalid', message: 'Invalid value: "-x"' },
  { name: 'annotation value over 2048', mutate: (j) => (j.metadata.annotations = { note: repeat('a', 2049) }), field: 'metadata.annotations', reason: 'FieldValueTooLong', message: 'value of "note" may not be more than 2048 characters' },
  {
    name: 'annotations over 256 KiB in total',
    mutate: (j) => (j.metadata.annotations = { 'kubectl.kubernetes.io/a': repeat('a', 140 * 1024), 'kubectl.kubernetes.io/b': repeat('b', 140 * 1024) }),
    field: 'metadata.annotations',
    reason: 'FieldValueTooLong',
    message: 'may not be more than 262144 bytes',
  },
  // spec
  { name: 'spec missing', mutate: (j) => delete j.spec, field: 'spec', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'spec not an object', mutate: (j) => (j.spec = 'run'), field: 'spec', reason: 'FieldValueInvalid', message: 'must be of type object' },
  { name: 'spec unknown field', mutate: (j) => (j.spec.foo = 1), field: 'spec.foo', reason: 'FieldValueNotSupported', message: 'Unsupported value: "foo": unknown field' },
  { name: 'driver missing', mutate: (j) => delete j.spec.driver, field: 'spec.driver', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'driver unknown', mutate: (j) => (j.spec.driver = 'docker'), field: 'spec.driver', reason: 'FieldValueNotSupported', message: 'Unsupported value: "docker": supported values: "process", "podman", "incus"' },
  { name: 'workloadType unknown', mutate: (j) => (j.spec.workloadType = 'pod'), field: 'spec.workloadType', reason: 'FieldValueNotSupported', message: '"native", "container", "vm"' },
  { name: 'process with container', mutate: (j) => (j.spec.workloadType = 'container'), field: 'spec.workloadType', reason: 'FieldValueInvalid', message: 'must be "native" with driver "process"' },
  { name: 'podman with vm', base: fullJob, mutate: (j) => (j.spec.workloadType = 'vm'), field: 'spec.workloadType', reason: 'FieldValueInvalid', message: 'must be "container" with driver "podman"' },
  { name: 'incus with native', base: fullJob, mutate: (j) => Object.assign(j.spec, { driver: 'incus', image: 'busybox-test', workloadType: 'native' }), field: 'spec.workloadType', reason: 'FieldValueInvalid', message: 'must be "container" or "vm" with driver "incus"' },
  { name: 'image with process', mutate: (j) => (j.spec.image = 'localhost/busybox:test'), field: 'spec.image', reason: 'FieldValueForbidden', message: 'Forbidden: not allowed with driver "process"' },
  { name: 'podman without image', base: fullJob, mutate: (j) => delete j.spec.image, field: 'spec.image', reason: 'FieldValueRequired', message: 'driver "podman" needs an image' },
  { name: 'incus with empty image', base: fullJob, mutate: (j) => Object.assign(j.spec, { driver: 'incus', image: '' }), field: 'spec.image', reason: 'FieldValueRequired', message: 'driver "incus" needs an image' },
  { name: 'image with ;', base: fullJob, mutate: (j) => (j.spec.image = 'busybox;rm'), field: 'spec.image', reason: 'FieldValueInvalid', message: 'must not contain whitespace or shell metacharacters (found ";")' },
  { name: 'image with space', base: fullJob, mutate: (j) => (j.spec.image = 'busybox latest'), field: 'spec.image', reason: 'FieldValueInvalid', message: 'shell metacharacters (found " ")' },
  { name: 'image with $()', base: fullJob, mutate: (j) => (j.spec.image = 'a$(id)'), field: 'spec.image', reason: 'FieldValueInvalid', message: '(found "$")' },
  { name: 'image with backtick', base: fullJob, mutate: (j) => (j.spec.image = 'a`id`'), field: 'spec.image', reason: 'FieldValueInvalid', message: '(found "`")' },
  { name: 'image with newline', base: fullJob, mutate: (j) => (j.spec.image = 'a\nb'), field: 'spec.image', reason: 'FieldValueInvalid', message: '(found "\\n")' },
  { name: 'image with NUL', base: fullJob, mutate: (j) => (j.spec.image = 'a\u0000b'), field: 'spec.image', reason: 'FieldValueInvalid', message: 'NUL' },
  { name: 'image with |', base: fullJob, mutate: (j) => (j.spec.image = 'a|b'), field: 'spec.image', reason: 'FieldValueInvalid', message: '(found "|")' },
  { name: 'image with uppercase path', base: fullJob, mutate: (j) => (j.spec.image = 'Busybox'), field: 'spec.image', reason: 'FieldValueInvalid', message: 'must be an image reference' },
  { name: 'image with bad tag', base: fullJob, mutate: (j) => (j.spec.image = 'busybox:.bad'), field: 'spec.image', reason: 'FieldValueInvalid', message: 'tag ".bad"' },
  { name: 'image with bad digest', base: fullJob, mutate: (j) => (j.spec.image = 'busybox@sha256:xyz'), field: 'spec.image', reason: 'FieldValueInvalid', message: 'digest' },
  { name: 'image with bad port', base: fullJob, mutate: (j) => (j.spec.image = 'localhost:abc/x/y'), field: 'spec.image', reason: 'FieldValueInvalid', message: 'port' },
  { name: 'image too long', base: fullJob, mutate: (j) => (j.spec.image = repeat('a', 513)), field: 'spec.image', reason: 'FieldValueTooLong', message: 'may not be more than 512 characters' },
  { name: 'incus image grammar', base: fullJob, mutate: (j) => Object.assign(j.spec, { driver: 'incus', image: 'a:b:c:d' }), field: 'spec.image', reason: 'FieldValueInvalid', message: 'Incus image' },
  { name: 'process without command', mutate: (j) => delete j.spec.command, field: 'spec.command', reason: 'FieldValueRequired', message: 'driver "process" needs a command' },
  { name: 'process with empty command', mutate: (j) => (j.spec.command = []), field: 'spec.command', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'empty program', mutate: (j) => (j.spec.command = ['']), field: 'spec.command[0]', reason: 'FieldValueInvalid', message: 'must not be empty' },
  { name: 'command a string', mutate: (j) => (j.spec.command = '/bin/echo hi'), field: 'spec.command', reason: 'FieldValueInvalid', message: 'must be of type array' },
  { name: 'command item not a string', mutate: (j) => (j.spec.command = ['/bin/echo', 1]), field: 'spec.command[1]', reason: 'FieldValueInvalid', message: 'must be of type string' },
  { name: 'arg with NUL', mutate: (j) => (j.spec.args = ['ok', 'a\u0000b']), field: 'spec.args[1]', reason: 'FieldValueInvalid', message: 'must not contain NUL' },
  { name: 'arg over 64 KiB', mutate: (j) => (j.spec.args = [repeat('a', 65537)]), field: 'spec.args[0]', reason: 'FieldValueTooLong', message: '65536' },
  { name: 'env name invalid', mutate: (j) => (j.spec.env = [{ name: '1X', value: 'v' }]), field: 'spec.env[0].name', reason: 'FieldValueInvalid', message: 'must match ^[A-Za-z_][A-Za-z0-9_]*$ (an environment variable name)' },
  { name: 'env name missing', mutate: (j) => (j.spec.env = [{ value: 'v' }]), field: 'spec.env[0].name', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'env name duplicate', mutate: (j) => (j.spec.env = [{ name: 'A', value: '1' }, { name: 'B' }, { name: 'A', value: '2' }]), field: 'spec.env[2].name', reason: 'FieldValueDuplicate', message: 'Duplicate value: "A"' },
  { name: 'env value not a string', mutate: (j) => (j.spec.env = [{ name: 'A', value: 1 }]), field: 'spec.env[0].value', reason: 'FieldValueInvalid', message: 'must be of type string' },
  { name: 'env value with NUL', mutate: (j) => (j.spec.env = [{ name: 'A', value: 'x\u0000' }]), field: 'spec.env[0].value', reason: 'FieldValueInvalid', message: 'NUL' },
  { name: 'env unknown field', mutate: (j) => (j.spec.env = [{ name: 'A', valueFrom: {} }]), field: 'spec.env[0].valueFrom', reason: 'FieldValueNotSupported', message: 'unknown field' },
  { name: '1001 env vars', mutate: (j) => (j.spec.env = Array.from({ length: 1001 }, (_, i) => ({ name: `V${i}` }))), field: 'spec.env', reason: 'FieldValueTooMany', message: 'Too many: 1001: must have at most 1000 items' },
  { name: 'workingDir relative', mutate: (j) => (j.spec.workingDir = 'srv/jobs'), field: 'spec.workingDir', reason: 'FieldValueInvalid', message: 'must be an absolute path' },
  { name: 'workingDir with ..', mutate: (j) => (j.spec.workingDir = '/srv/../etc'), field: 'spec.workingDir', reason: 'FieldValueInvalid', message: "must not contain '..' segments" },
  { name: 'workingDir with NUL', mutate: (j) => (j.spec.workingDir = '/srv\u0000'), field: 'spec.workingDir', reason: 'FieldValueInvalid', message: 'NUL' },
  { name: 'cpu zero', mutate: (j) => (j.spec.resources = { cpu: '0' }), field: 'spec.resources.cpu', reason: 'FieldValueInvalid', message: 'Invalid value: "0": must be greater than 0' },
  { name: 'cpu negative', mutate: (j) => (j.spec.resources = { cpu: '-1' }), field: 'spec.resources.cpu', reason: 'FieldValueInvalid', message: 'must be greater than 0' },
  { name: 'cpu over 1024 cores', mutate: (j) => (j.spec.resources = { cpu: '1025' }), field: 'spec.resources.cpu', reason: 'FieldValueInvalid', message: 'must be at most 1024 cores' },
  { name: 'cpu huge integer', mutate: (j) => (j.spec.resources = { cpu: 1e12 }), field: 'spec.resources.cpu', reason: 'FieldValueInvalid', message: 'at most 1024 cores' },
  { name: 'cpu garbage', mutate: (j) => (j.spec.resources = { cpu: 'two' }), field: 'spec.resources.cpu', reason: 'FieldValueInvalid', message: 'Invalid value: "two": must be a quantity such as "500m"' },
  { name: 'cpu fractional number', mutate: (j) => (j.spec.resources = { cpu: 0.5 }), field: 'spec.resources.cpu', reason: 'FieldValueInvalid', message: 'must be an integer or a quantity string' },
  { name: 'cpu boolean', mutate: (j) => (j.spec.resources = { cpu: true }), field: 'spec.resources.cpu', reason: 'FieldValueInvalid', message: 'must be an integer or a quantity string' },
  { name: 'memory under 1Mi', mutate: (j) => (j.spec.resources = { memory: '512Ki' }), field: 'spec.resources.memory', reason: 'FieldValueInvalid', message: 'must be at least 1Mi' },
  { name: 'memory over 16Ti', mutate: (j) => (j.spec.resources = { memory: '17Ti' }), field: 'spec.resources.memory', reason: 'FieldValueInvalid', message: 'must be at most 16Ti' },
  { name: 'memory with bad suffix', mutate: (j) => (j.spec.resources = { memory: '1GB' }), field: 'spec.resources.memory', reason: 'FieldValueInvalid', message: 'must be a quantity' },
  { name: 'memory huge exponent', mutate: (j) => (j.spec.resources = { memory: '1e999999999' }), field: 'spec.resources.memory', reason: 'FieldValueInvalid', message: 'must be a quantity' },
  { name: 'resources unknown field', mutate: (j) => (j.spec.resources = { gpu: 1 }), field: 'spec.resources.gpu', reason: 'FieldValueNotSupported', message: 'unknown field' },
  { name: 'network with process', mutate: (j) => (j.spec.network = 'jobs'), field: 'spec.network', reason: 'FieldValueForbidden', message: 'not supported with driver "process"' },
  { name: 'network host', base: fullJob, mutate: (j) => (j.spec.network = 'host'), field: 'spec.network', reason: 'FieldValueInvalid', message: 'no host namespaces' },
  { name: 'network bad name', base: fullJob, mutate: (j) => (j.spec.network = 'container:abc'), field: 'spec.network', reason: 'FieldValueInvalid', message: 'must match ^[A-Za-z0-9]' },
  { name: 'incus without command', base: fullJob, mutate: (j) => ((j.spec.driver = 'incus'), (j.spec.image = 'busybox-test'), delete j.spec.command, delete j.spec.volumes), field: 'spec.command', reason: 'FieldValueRequired', message: 'driver "incus" needs a command' },
  { name: 'network with incus', base: fullJob, mutate: (j) => ((j.spec.driver = 'incus'), (j.spec.image = 'busybox-test'), (j.spec.network = 'jobs')), field: 'spec.network', reason: 'FieldValueForbidden', message: 'not supported with driver "incus"' },
  { name: 'volumes with process', mutate: (j) => (j.spec.volumes = [{ hostPath: '/a', mountPath: '/b' }]), field: 'spec.volumes', reason: 'FieldValueForbidden', message: 'not supported with driver "process"' },
  { name: 'hostPath relative', base: fullJob, mutate: (j) => (j.spec.volumes = [{ hostPath: 'data', mountPath: '/data' }]), field: 'spec.volumes[0].hostPath', reason: 'FieldValueInvalid', message: 'must be an absolute path' },
  { name: 'hostPath with ..', base: fullJob, mutate: (j) => (j.spec.volumes = [{ hostPath: '/srv/../etc', mountPath: '/data' }]), field: 'spec.volumes[0].hostPath', reason: 'FieldValueInvalid', message: "'..'" },
  { name: 'mountPath with ..', base: fullJob, mutate: (j) => (j.spec.volumes = [{ hostPath: '/srv', mountPath: '/data/..' }]), field: 'spec.volumes[0].mountPath', reason: 'FieldValueInvalid', message: "'..'" },
  { name: 'mountPath with NUL', base: fullJob, mutate: (j) => (j.spec.volumes = [{ hostPath: '/srv', mountPath: '/da\u0000ta' }]), field: 'spec.volumes[0].mountPath', reason: 'FieldValueInvalid', message: 'NUL' },
  { name: 'mountPath with :', base: fullJob, mutate: (j) => (j.spec.volumes = [{ hostPath: '/srv', mountPath: '/data:rw' }]), field: 'spec.volumes[0].mountPath', reason: 'FieldValueInvalid', message: "must not contain ':' or ','" },
  { name: 'mountPath root', base: fullJob, mutate: (j) => (j.spec.volumes = [{ hostPath: '/srv', mountPath: '/' }]), field: 'spec.volumes[0].mountPath', reason: 'FieldValueInvalid', message: 'root directory' },
  { name: 'mountPath missing', base: fullJob, mutate: (j) => (j.spec.volumes = [{ hostPath: '/srv' }]), field: 'spec.volumes[0].mountPath', reason: 'FieldValueRequired', message: 'Required value' },
  {
    name: 'mountPath duplicate',
    base: fullJob,
    mutate: (j) => (j.spec.volumes = [{ hostPath: '/a', mountPath: '/data' }, { hostPath: '/b', mountPath: '/data/' }]),
    field: 'spec.volumes[1].mountPath',
    reason: 'FieldValueDuplicate',
    message: 'Duplicate value: "/data/"',
  },
  { name: 'readOnly a string', base: fullJob, mutate: (j) => (j.spec.volumes = [{ hostPath: '/a', mountPath: '/b', readOnly: 'yes' }]), field: 'spec.volumes[0].readOnly', reason: 'FieldValueInvalid', message: 'must be of type boolean' },
  { name: '101 volumes', base: fullJob, mutate: (j) => (j.spec.volumes = Array.from({ length: 101 }, (_, i) => ({ hostPath: '/a', mountPath: `/m${i}` }))), field: 'spec.volumes', reason: 'FieldValueTooMany', message: 'at most 100 items' },
  { name: 'timeoutSeconds 0', mutate: (j) => (j.spec.timeoutSeconds = 0), field: 'spec.timeoutSeconds', reason: 'FieldValueInvalid', message: 'must be greater than or equal to 1' },
  { name: 'timeoutSeconds over 30 days', mutate: (j) => (j.spec.timeoutSeconds = 2592001), field: 'spec.timeoutSeconds', reason: 'FieldValueInvalid', message: 'must be less than or equal to 2592000' },
  { name: 'timeoutSeconds fractional', mutate: (j) => (j.spec.timeoutSeconds = 1.5), field: 'spec.timeoutSeconds', reason: 'FieldValueInvalid', message: 'must be of type integer' },
  { name: 'timeoutSeconds a string', mutate: (j) => (j.spec.timeoutSeconds = '60'), field: 'spec.timeoutSeconds', reason: 'FieldValueInvalid', message: 'Invalid value: "60": must be of type integer' },
  { name: 'killTimeoutSeconds negative', mutate: (j) => (j.spec.killTimeoutSeconds = -1), field: 'spec.killTimeoutSeconds', reason: 'FieldValueInvalid', message: 'greater than or equal to 0' },
  { name: 'killTimeoutSeconds over an hour', mutate: (j) => (j.spec.killTimeoutSeconds = 3601), field: 'spec.killTimeoutSeconds', reason: 'FieldValueInvalid', message: 'less than or equal to 3600' },
  { name: 'activeDeadlineSeconds 0', mutate: (j) => (j.spec.activeDeadlineSeconds = 0), field: 'spec.activeDeadlineSeconds', reason: 'FieldValueInvalid', message: 'greater than or equal to 1' },
  { name: 'ttlSecondsAfterFinished negative', mutate: (j) => (j.spec.ttlSecondsAfterFinished = -5), field: 'spec.ttlSecondsAfterFinished', reason: 'FieldValueInvalid', message: 'greater than or equal to 0' },
  { name: 'maxRetries over 100', mutate: (j) => (j.spec.retryPolicy = { maxRetries: 101 }), field: 'spec.retryPolicy.maxRetries', reason: 'FieldValueInvalid', message: 'less than or equal to 100' },
  { name: 'maxRetries negative', mutate: (j) => (j.spec.retryPolicy = { maxRetries: -1 }), field: 'spec.retryPolicy.maxRetries', reason: 'FieldValueInvalid', message: 'greater than or equal to 0' },
  { name: 'backoffSeconds negative', mutate: (j) => (j.spec.retryPolicy = { backoffSeconds: -1 }), field: 'spec.retryPolicy.backoffSeconds', reason: 'FieldValueInvalid', message: 'greater than or equal to 0' },
  { name: 'backoffFactor under 1', mutate: (j) => (j.spec.retryPolicy = { backoffFactor: 0.5 }), field: 'spec.retryPolicy.backoffFactor', reason: 'FieldValueInvalid', message: 'greater than or equal to 1' },
  { name: 'maxBackoffSeconds under backoffSeconds', mutate: (j) => (j.spec.retryPolicy = { backoffSeconds: 60, maxBackoffSeconds: 30 }), field: 'spec.retryPolicy.maxBackoffSeconds', reason: 'FieldValueInvalid', message: 'Invalid value: 30: must be greater than or equal to backoffSeconds (60)' },
  { name: 'retryPolicy unknown field', mutate: (j) => (j.spec.retryPolicy = { retries: 3 }), field: 'spec.retryPolicy.retries', reason: 'FieldValueNotSupported', message: 'unknown field' },
  { name: 'dependsOn invalid name', mutate: (j) => (j.spec.dependsOn = ['Build']), field: 'spec.dependsOn[0]', reason: 'FieldValueInvalid', message: 'a DNS-1123 label' },
  { name: 'dependsOn duplicate', mutate: (j) => (j.spec.dependsOn = ['build', 'test', 'build']), field: 'spec.dependsOn[2]', reason: 'FieldValueDuplicate', message: 'Duplicate value: "build"' },
  { name: 'dependsOn itself', mutate: (j) => (j.spec.dependsOn = ['build', 'nightly-report']), field: 'spec.dependsOn[1]', reason: 'FieldValueInvalid', message: 'a job cannot depend on itself' },
  { name: '101 dependencies', mutate: (j) => (j.spec.dependsOn = Array.from({ length: 101 }, (_, i) => `j${i}`)), field: 'spec.dependsOn', reason: 'FieldValueTooMany', message: 'at most 100 items' },
  { name: 'nodeSelector key invalid', mutate: (j) => (j.spec.nodeSelector = { 'disk type': 'ssd' }), field: 'spec.nodeSelector', reason: 'FieldValueInvalid', message: 'Invalid value: "disk type"' },
  { name: 'nodeSelector value invalid', mutate: (j) => (j.spec.nodeSelector = { disk: 'ssd!' }), field: 'spec.nodeSelector', reason: 'FieldValueInvalid', message: 'value of "disk": a valid label value' },
  { name: 'nodeSelector value not a string', mutate: (j) => (j.spec.nodeSelector = { gpu: true }), field: 'spec.nodeSelector', reason: 'FieldValueInvalid', message: 'value of "gpu": must be of type string' },
  { name: 'nodeSelector 101 entries', mutate: (j) => (j.spec.nodeSelector = manyEntries(101)), field: 'spec.nodeSelector', reason: 'FieldValueTooMany', message: 'at most 100 entries' },
  { name: 'priority too high', mutate: (j) => (j.spec.priority = 1000001), field: 'spec.priority', reason: 'FieldValueInvalid', message: 'less than or equal to 1000000' },
  { name: 'priority too low', mutate: (j) => (j.spec.priority = -1000001), field: 'spec.priority', reason: 'FieldValueInvalid', message: 'greater than or equal to -1000000' },
  { name: 'priority a string', mutate: (j) => (j.spec.priority = 'high'), field: 'spec.priority', reason: 'FieldValueInvalid', message: 'must be of type integer' },
  // status (also checked by validate when present)
  { name: 'status phase unknown', base: fullJob, mutate: (j) => (j.status.phase = 'Done'), field: 'status.phase', reason: 'FieldValueNotSupported', message: '"Pending", "Scheduled", "Running", "Succeeded", "Failed"' },
  { name: 'status unknown field', base: fullJob, mutate: (j) => (j.status.foo = 1), field: 'status.foo', reason: 'FieldValueNotSupported', message: 'unknown field' },
  { name: 'status attempts negative', base: fullJob, mutate: (j) => (j.status.attempts = -1), field: 'status.attempts', reason: 'FieldValueInvalid', message: 'greater than or equal to 0' },
  { name: 'status 11 recent attempts', base: fullJob, mutate: (j) => (j.status.recentAttempts = Array.from({ length: 11 }, (_, i) => ({ attempt: i + 1 }))), field: 'status.recentAttempts', reason: 'FieldValueTooMany', message: 'Too many: 11: must have at most 10 items' },
  { name: 'status attempt without number', base: fullJob, mutate: (j) => (j.status.recentAttempts = [{ nodeName: 'n' }]), field: 'status.recentAttempts[0].attempt', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'status attempt duplicate', base: fullJob, mutate: (j) => (j.status.recentAttempts = [{ attempt: 1 }, { attempt: 1 }]), field: 'status.recentAttempts[1].attempt', reason: 'FieldValueDuplicate', message: 'Duplicate value: 1' },
  { name: 'status startTime not a time', base: fullJob, mutate: (j) => (j.status.startTime = '2024-13-01'), field: 'status.startTime', reason: 'FieldValueInvalid', message: 'RFC 3339' },
  { name: 'status condition status invalid', base: fullJob, mutate: (j) => (j.status.conditions = [{ type: 'Ready', status: 'Maybe' }]), field: 'status.conditions[0].status', reason: 'FieldValueNotSupported', message: '"True", "False", "Unknown"' },
  { name: 'status condition without type', base: fullJob, mutate: (j) => (j.status.conditions = [{ status: 'True' }]), field: 'status.conditions[0].type', reason: 'FieldValueRequired', message: 'Required value' },
  { name: 'status nodeName invalid', base: fullJob, mutate: (j) => (j.status.nodeName = 'Node 1'), field: 'status.nodeName', reason: 'FieldValueInvalid', message: 'a DNS-1123 subdomain' },
];

void describe('Job validation', () => {
  void it('accepts the DESIGN 2.2 example (podman), the process example and all standard metadata', () => {
    assert.deepEqual(check(fullJob()), []);
    assert.deepEqual(check(processJob()), []);
    const j = processJob();
    Object.assign(j.metadata, {
      uid: '3a3e5c1e-0000-4000-8000-000000000000',
      resourceVersion: '101',
      generation: 3,
      creationTimestamp: null,
      generateName: 'nightly-',
      finalizers: ['openscheduler.io/cleanup'],
      ownerReferences: [{ apiVersion: 'openscheduler.io/v1', kind: 'Job', name: 'parent', uid: 'u1', controller: true, blockOwnerDeletion: false }],
      managedFields: [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'openscheduler.io/v1', time: '2024-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:driver': {} } } }],
      deletionTimestamp: '2024-01-01T00:00:00Z',
      deletionGracePeriodSeconds: 0,
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': `${JSON.stringify({ big: 'x'.repeat(100 * 1024) })}\n`,
        'example.com/note': 'a note with spaces and symbols: ;&|',
      },
      labels: { 'app.kubernetes.io/name': 'report', empty: '', 'v.1_x-y': 'A.b_c-1' },
    });
    assert.deepEqual(check(j), []);
  });

  void it('accepts every driver/workloadType combination that agrees', () => {
    const ok: Array<[string, string, string]> = [
      ['process', 'native', ''],
      ['podman', 'container', 'localhost/busybox:test'],
      ['incus', 'container', 'busybox-test'],
      ['incus', 'vm', 'images:debian/12'],
    ];
    for (const [driver, workloadType, image] of ok) {
      const j = processJob();
      Object.assign(j.spec, { driver, workloadType });
      if (image) j.spec.image = image;
      assert.deepEqual(check(j), [], `${driver}/${workloadType}`);
    }
  });

  void it('accepts well-formed image references', () => {
    const podman = [
      'busybox',
      'localhost/busybox:test',
      'docker.io/library/alpine:3.19',
      `quay.io/org/app@sha256:${hex64}`,
      `registry.example.com:5000/a/b-c/d__e.f:v1.2.3-rc.1@sha256:${hex64}`,
      '[::1]:5000/x:y',
    ];
    for (const image of podman) {
      const j = fullJob();
      j.spec.image = image;
      assert.deepEqual(check(j), [], image);
    }
    for (const image of ['busybox-test', 'local:busybox-test', 'images:debian/12/cloud', 'docker:alpine:3.20', 'a1b2c3d4']) {
      const j = fullJob();
      Object.assign(j.spec, { driver: 'incus', image });
      assert.deepEqual(check(j), [], image);
    }
  });

  for (const c of cases) {
    void it(`${c.field}: ${c.name}`, () => {
      const obj = (c.base ?? processJob)();
      c.mutate(obj);
      const causes = check(obj);
      assert.equal(causes.length, 1, `expected exactly one cause, got ${JSON.stringify(causes, null, 1)}`);
      const [cause] = causes as [StatusCause];
      assert.equal(cause.field, c.field);
      assert.equal(cause.reason, c.reason);
      assert.ok(cause.message.includes(c.message), `message ${JSON.stringify(cause.message)} should contain ${JSON.stringify(c.message)}`);
    });
  }

  void it('reports each bad field once, and several bad fields together', () => {
    const j = processJob();
    j.metadata.name = `${'A'.repeat(70)}_`; // too long and not a label: one cause
    j.spec.image = 'A B;C'; // forbidden with process: one cause
    j.spec.resources = { cpu: 'lots', memory: '1Ki' };
    j.spec.env = [{ name: '9', value: 'a\u0000' }];
    const causes = check(j);
    assert.deepEqual(
      causes.map((c) => c.field).sort(),
      ['metadata.name', 'spec.env[0].name', 'spec.env[0].value', 'spec.image', 'spec.resources.cpu', 'spec.resources.memory'],
    );
  });

  void it('answers a non-object with one cause and never throws on odd input', () => {
    for (const input of [null, undefined, 'job', 42, [], true]) {
      const causes = jobKind.validate(input);
      assert.equal(causes.length, 1);
      assert.match(causes[0]?.message ?? '', /must be a Job object/);
    }
    const odd: Obj = { apiVersion: 1, kind: [], metadata: 'x', spec: { driver: 'process', command: null, env: 'x', volumes: {}, resources: [], retryPolicy: 5, dependsOn: 'a', nodeSelector: [] } };
    const causes = check(odd);
    assert.ok(causes.length >= 8);
    for (const c of causes) assert.ok(c.field && c.message, JSON.stringify(c));
  });

  void it('caps the number of causes and stays fast on huge bad input', () => {
    const j = processJob();
    j.spec.env = Array.from({ length: 1000 }, () => ({ name: '-' }));
    j.spec.args = Array.from({ length: 300000 }, () => 'a'); // over maxItems: one cause, items not checked
    j.metadata.name = 'x'.repeat(1_000_000) + '!';
    j.metadata.labels = { ['a'.repeat(1_000_000)]: 'b'.repeat(1_000_000) };
    const start = performance.now();
    const causes = check(j);
    assert.ok(performance.now() - start < 2000, 'validation took too long');
    assert.equal(causes.length, 101);
    assert.ok(causes.some((c) => c.field === 'spec.args' && c.reason === 'FieldValueTooMany'));
    assert.match(causes[100]?.message ?? '', /only the first 100 are shown/);
  });

  void it('validateStatus checks a status object with fields under status.', () => {
    assert.deepEqual(jobKind.validateStatus(fullJob().status), []);
    assert.deepEqual(jobKind.validateStatus({}), []);
    const causes = jobKind.validateStatus({ phase: 'Running', attempts: 'two', extra: true });
    assert.deepEqual(
      causes.map((c) => [c.field, c.reason]),
      [
        ['status.extra', 'FieldValueNotSupported'],
        ['status.attempts', 'FieldValueInvalid'],
      ],
    );
    assert.equal(jobKind.validateStatus('Running')[0]?.field, 'status');
  });
});

void describe('Job defaults', () => {
  void it('fills schema defaults and derives workloadType from driver', () => {
    const j = processJob();
    jobKind.applyDefaults(j as ApiObject);
    const spec = (j as Job).spec;
    assert.equal(spec.workloadType, 'native');
    assert.equal(spec.killTimeoutSeconds, 10);
    assert.equal(spec.priority, 0);
    assert.deepEqual(spec.retryPolicy, { maxRetries: 0, backoffSeconds: 10, backoffFactor: 2, maxBackoffSeconds: 300 });
    assert.equal(spec.timeoutSeconds, undefined, 'no default timeout');
    assert.deepEqual(j.metadata, processJob().metadata, 'metadata untouched');
    assert.equal(j.status, undefined, 'status untouched');
  });

  void it('defaults workloadType per driver and keeps explicit values', () => {
    for (const [driver, expected] of [
      ['podman', 'container'],
      ['incus', 'container'],
    ]) {
      const j = fullJob();
      j.spec.driver = driver;
      delete j.spec.workloadType;
      jobKind.applyDefaults(j as ApiObject);
      assert.equal(j.spec.workloadType, expected);
    }
    const vm = fullJob();
    Object.assign(vm.spec, { driver: 'incus', workloadType: 'vm' });
    jobKind.applyDefaults(vm as ApiObject);
    assert.equal(vm.spec.workloadType, 'vm');
  });

  void it('fills nested defaults without overwriting user values', () => {
    const j = fullJob();
    j.spec.retryPolicy = { maxRetries: 5, backoffSeconds: 600 };
    j.spec.volumes = [{ hostPath: '/a', mountPath: '/b' }];
    j.spec.killTimeoutSeconds = 0;
    jobKind.applyDefaults(j as ApiObject);
    assert.deepEqual(j.spec.retryPolicy, { maxRetries: 5, backoffSeconds: 600, backoffFactor: 2, maxBackoffSeconds: 600 });
    assert.deepEqual(j.spec.volumes, [{ hostPath: '/a', mountPath: '/b', readOnly: false }]);
    assert.equal(j.spec.killTimeoutSeconds, 0);
    assert.deepEqual(check(j), []);
  });

  void it('is idempotent and leaves invalid specs to validation', () => {
    const j = processJob();
    jobKind.applyDefaults(j as ApiObject);
    const once = structuredClone(j);
    jobKind.applyDefaults(j as ApiObject);
    assert.deepEqual(j, once);
    const bad: Obj = { apiVersion: 'openscheduler.io/v1', kind: 'Job', metadata: { name: 'x' }, spec: 'nope' };
    jobKind.applyDefaults(bad as ApiObject);
    assert.equal(bad.spec, 'nope');
    const noDriver = processJob();
    noDriver.spec.driver = 'docker';
    jobKind.applyDefaults(noDriver as ApiObject);
    assert.equal(noDriver.spec.workloadType, undefined);
  });

  void it('starts new jobs Pending', () => {
    assert.deepEqual(jobKind.initialStatus?.(), { phase: 'Pending', attempts: 0 });
    assert.deepEqual(jobKind.validateStatus(jobKind.initialStatus?.()), []);
  });
});

void describe('Job field selectors and columns', () => {
  const placed = (): ApiObject => {
    const j = fullJob();
    j.status = { phase: 'Running', reason: 'Started', nodeName: 'node-1', attempts: 2 };
    j.spec.priority = 7;
    return j as ApiObject;
  };

  void it('answers every supported field selector', () => {
    const j = placed();
    const sel = jobKind.fieldSelectors;
    assert.deepEqual(
      Object.fromEntries(Object.entries(sel).map(([k, f]) => [k, f(j)])),
      {
        'metadata.name': 'nightly-report',
        'metadata.namespace': 'default',
        'status.phase': 'Running',
        'spec.driver': 'podman',
        'spec.nodeName': 'node-1',
        'status.nodeName': 'node-1',
        'status.reason': 'Started',
      },
    );
    const fresh = processJob() as ApiObject;
    assert.equal(sel['spec.nodeName']?.(fresh), undefined);
    assert.equal(sel['status.phase']?.(fresh), undefined);
  });

  void it('renders table cells', () => {
    const cells = Object.fromEntries(jobKind.columns.map((c) => [c.name, c.cell(placed())]));
    assert.deepEqual(cells, { Phase: 'Running', Reason: 'Started', Driver: 'podman', Attempts: 2, Node: 'node-1', Priority: 7, Image: 'localhost/busybox:test' });
    const fresh = Object.fromEntries(jobKind.columns.map((c) => [c.name, c.cell(processJob() as ApiObject)]));
    assert.deepEqual(fresh, { Phase: '', Reason: '', Driver: 'process', Attempts: 0, Node: '<none>', Priority: 0, Image: '/bin/sh -c' });
    assert.deepEqual(
      jobKind.columns.filter((c) => c.priority === 1).map((c) => c.name),
      ['Node', 'Priority', 'Image'],
    );
  });

  void it('describes the kind', () => {
    assert.equal(jobKind.kind, 'Job');
    assert.equal(jobKind.listKind, 'JobList');
    assert.equal(jobKind.plural, 'jobs');
    assert.equal(jobKind.singular, 'job');
    assert.deepEqual(jobKind.shortNames, ['osj']);
    assert.equal(jobKind.namespaced, true);
    assert.equal(jobKind.hasStatus, true);
    assert.equal(jobKind.group, 'openscheduler.io');
    assert.equal(jobKind.version, 'v1');
  });
});

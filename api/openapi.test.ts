import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../test/harness/bin.js';
import { definitionName, openApiV2Json, openApiV2Protobuf } from './openapi.js';
import { kinds } from './v1/index.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- walking a JSON document

// ---- a minimal protobuf wire-format reader, to check the encoding independently -------------

interface Field {
  no: number;
  wire: number;
  value: Buffer | number;
}

function readFields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = buf[pos++];
      if (b === undefined) throw new Error('truncated varint');
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const no = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) out.push({ no, wire, value: varint() });
    else if (wire === 1) {
      out.push({ no, wire, value: buf.readDoubleLE(pos) });
      pos += 8;
    } else if (wire === 2) {
      const len = varint();
      out.push({ no, wire, value: buf.subarray(pos, pos + len) });
      pos += len;
      if (pos > buf.length) throw new Error('truncated field');
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

const sub = (fields: Field[], no: number): Buffer[] => fields.filter((f) => f.no === no).map((f) => f.value as Buffer);
const text = (fields: Field[], no: number): string | undefined => sub(fields, no)[0]?.toString('utf8');

/** Decodes the parts of openapi.v2.Schema this document uses back into JSON. */
function decodeSchema(buf: Buffer): Json {
  const f = readFields(buf);
  const s: Json = {};
  const ref = text(f, 1);
  if (ref !== undefined) s.$ref = ref;
  for (const [no, key] of [
    [2, 'format'],
    [3, 'title'],
    [4, 'description'],
    [13, 'pattern'],
  ] as const) {
    const v = text(f, no);
    if (v !== undefined) s[key] = v;
  }
  const def = sub(f, 5)[0];
  if (def) s.default = parse(text(readFields(def), 2) ?? '');
  for (const [no, key] of [
    [7, 'maximum'],
    [9, 'minimum'],
    [11, 'maxLength'],
    [12, 'minLength'],
    [14, 'maxItems'],
    [15, 'minItems'],
    [17, 'maxProperties'],
  ] as const) {
    const v = f.find((x) => x.no === no)?.value;
    if (v !== undefined) s[key] = v;
  }
  const required = sub(f, 19).map((b) => b.toString('utf8'));
  if (required.length) s.required = required;
  const enums = sub(f, 20).map((b) => parse(text(readFields(b), 2) ?? '') as unknown);
  if (enums.length) s.enum = enums;
  const ap = sub(f, 21)[0];
  if (ap) {
    const apSchema = sub(readFields(ap), 1)[0];
    if (apSchema) s.additionalProperties = decodeSchema(apSchema);
  }
  const type = sub(f, 22)[0];
  if (type) s.type = text(readFields(type), 1);
  const items = sub(f, 23)[0];
  if (items) s.items = decodeSchema(sub(readFields(items), 1)[0] ?? Buffer.alloc(0));
  const props = sub(f, 25)[0];
  if (props) {
    s.properties = Object.fromEntries(
      sub(readFields(props), 1).map((named) => {
        const nf = readFields(named);
        return [text(nf, 1), decodeSchema(sub(nf, 2)[0] ?? Buffer.alloc(0))];
      }),
    );
  }
  for (const ext of sub(f, 31)) {
    const ef = readFields(ext);
    s[text(ef, 1) ?? ''] = parse(text(readFields(sub(ef, 2)[0] ?? Buffer.alloc(0)), 2) ?? '');
  }
  return s;
}

void describe('OpenAPI v2', () => {
  const doc = openApiV2Json(kinds);
  const defs = doc.definitions as Json;

  void it('names definitions as Kubernetes does and carries the group-version-kind', () => {
    assert.equal(definitionName('openscheduler.io', 'v1', 'Job'), 'io.openscheduler.v1.Job');
    assert.equal(doc.swagger, '2.0');
    assert.deepEqual(Object.keys(defs).sort(), [
      'io.openscheduler.v1.Job',
      'io.openscheduler.v1.JobList',
      'io.openscheduler.v1.Node',
      'io.openscheduler.v1.NodeList',
    ]);
    assert.deepEqual(defs['io.openscheduler.v1.Job']['x-kubernetes-group-version-kind'], [{ group: 'openscheduler.io', kind: 'Job', version: 'v1' }]);
    assert.deepEqual(defs['io.openscheduler.v1.NodeList']['x-kubernetes-group-version-kind'], [{ group: 'openscheduler.io', kind: 'NodeList', version: 'v1' }]);
    assert.equal(defs['io.openscheduler.v1.JobList'].properties.items.items.$ref, '#/definitions/io.openscheduler.v1.Job');
  });

  void it('keeps metadata a plain object and describes spec and status', () => {
    const job = defs['io.openscheduler.v1.Job'];
    assert.deepEqual(Object.keys(job.properties.metadata).sort(), ['description', 'type']);
    assert.equal(job.properties.metadata.type, 'object');
    assert.deepEqual(job.properties.spec.required, ['driver']);
    assert.deepEqual(job.properties.spec.properties.driver.enum, ['process', 'podman', 'incus']);
    assert.equal(job.properties.spec.properties.nodeSelector.additionalProperties.type, 'string');
    assert.equal(job.properties.status.properties.phase.type, 'string');
    // int-or-string as Kubernetes publishes it in v2
    assert.deepEqual(
      [job.properties.spec.properties.resources.properties.cpu.type, job.properties.spec.properties.resources.properties.cpu.format],
      ['string', 'int-or-string'],
    );
    assert.ok(!JSON.stringify(doc).includes('"nullable"'), 'no v3-only keywords');
    assert.ok(!JSON.stringify(doc).includes('anyOf'), 'no v3-only keywords');
  });

  void it('encodes the same document as a gnostic protobuf', () => {
    const pb = openApiV2Protobuf(kinds);
    const top = readFields(pb);
    assert.equal(text(top, 1), '2.0');
    const info = readFields(sub(top, 2)[0] ?? Buffer.alloc(0));
    assert.equal(text(info, 1), 'Open Scheduler');
    const decoded = Object.fromEntries(
      sub(readFields(sub(top, 9)[0] ?? Buffer.alloc(0)), 1).map((named) => {
        const nf = readFields(named);
        return [text(nf, 1), decodeSchema(sub(nf, 2)[0] ?? Buffer.alloc(0))];
      }),
    );
    assert.deepEqual(decoded, JSON.parse(JSON.stringify(defs)));
  });
});

// ---- kubectl against a stub server that serves the document and discovery -------------------

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

void describe('kubectl reads the protobuf document', { skip: kubectl ? false : 'kubectl is not on PATH' }, () => {
  let server: Server;
  let home: string;
  let url: string;

  before(async () => {
    const pb = openApiV2Protobuf(kinds);
    const resources = kinds.map((k) => ({
      name: k.plural,
      singularName: k.singular,
      namespaced: k.namespaced,
      kind: k.kind,
      shortNames: k.shortNames,
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    }));
    const gv = { groupVersion: 'openscheduler.io/v1', version: 'v1' };
    const bodies: Record<string, unknown> = {
      '/api': { kind: 'APIVersions', versions: [] },
      '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [{ name: 'openscheduler.io', versions: [gv], preferredVersion: gv }] },
      '/apis/openscheduler.io/v1': { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv.groupVersion, resources },
    };
    server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path === '/openapi/v2') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(pb);
      } else if (bodies[path]) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(bodies[path]));
      } else {
        const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404, message: 'not found' };
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify(status));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    home = await mkdtemp(join(tmpdir(), 'openapi-kubectl-'));
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(home, { recursive: true, force: true });
  });

  function run(args: string[]): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      execFile(
        'kubectl',
        [`--server=${url}`, '--kubeconfig=/dev/null', ...args],
        { env: { PATH: process.env.PATH, HOME: home }, timeout: 30_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
    });
  }

  void it('kubectl explain shows the spec fields with their descriptions', async () => {
    const r = await run(['explain', 'jobs.spec']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /KIND:\s+Job/);
    assert.match(r.out, /driver\s+<string> -required-/);
    assert.match(r.out, /dependsOn\s+<\[\]string>/);
    assert.match(r.out, /Names of Jobs in the same namespace/);
    const n = await run(['explain', 'nodes.status.capacity']);
    assert.equal(n.code, 0, n.out);
    assert.match(n.out, /memory\s+<string>/);
  });

  void it('kubectl client-side validation accepts valid manifests (any metadata, status) and rejects unknown fields', async () => {
    const good = join(home, 'good.yaml');
    await writeFile(
      good,
      [
        'apiVersion: openscheduler.io/v1',
        'kind: Job',
        'metadata: {name: good, generateName: good-, finalizers: [openscheduler.io/x], labels: {a: b}, annotations: {note: "text"}, ownerReferences: [{apiVersion: v1, kind: X, name: o, uid: u}]}',
        'spec: {driver: podman, image: localhost/busybox:test, resources: {cpu: 2, memory: 128Mi}, env: [{name: A, value: "1"}], nodeSelector: {disk: ssd}, retryPolicy: {backoffFactor: 1.5}}',
        'status: {phase: Pending, conditions: [{type: Ready, status: "True"}], recentAttempts: [{attempt: 1, exitCode: 0}]}',
      ].join('\n'),
    );
    const ok = await run(['create', '--dry-run=client', '--validate=true', '-o', 'name', '-f', good]);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /job\.openscheduler\.io\/good/);

    const examples = await run(['create', '--dry-run=client', '--validate=true', '-o', 'name', '-R', '-f', `${join(repoRoot, 'examples')}/`]);
    assert.equal(examples.code, 0, examples.out);
    assert.match(examples.out, /job\.openscheduler\.io\/transform/);

    const bad = join(home, 'bad.yaml');
    await writeFile(bad, 'apiVersion: openscheduler.io/v1\nkind: Job\nmetadata: {name: bad}\nspec: {driver: process, command: [/bin/true], foo: 1}\n');
    const rejected = await run(['create', '--dry-run=client', '--validate=true', '-o', 'name', '-f', bad]);
    assert.notEqual(rejected.code, 0);
    assert.match(rejected.out, /unknown field "foo" in io\.openscheduler\.v1\.Job\.spec/);
  });
});

// The OpenAPI v2 (Swagger 2.0) document of the API, derived from the kinds' schemas, as JSON
// and as the gnostic `openapi.v2.Document` protobuf that kubectl fetches from /openapi/v2
// (shared/KUBECTL.md 5.3). It is permissive where kubectl must accept any valid manifest:
// `metadata` is a plain `{type: object}` and int-or-string fields are strings (kubectl's
// client-side validation accepts any scalar for a string).
import { stringify } from 'yaml';
import type { ResourceKind } from './kind.js';
import type { JSONSchemaProps } from './schema.js';

type Json = Record<string, unknown>;

/** `openscheduler.io` + `v1` + `Job` -> `io.openscheduler.v1.Job` (as Kubernetes names CRD definitions). */
export function definitionName(group: string, version: string, kind: string): string {
  return [...group.split('.').reverse(), version, kind].join('.');
}

function toV2(s: JSONSchemaProps): Json {
  const out: Json = {};
  if (s.title !== undefined) out.title = s.title;
  if (s.description !== undefined) out.description = s.description;
  if (s['x-kubernetes-int-or-string']) {
    out.type = 'string';
    out.format = 'int-or-string';
  } else {
    if (s.type !== undefined) out.type = s.type;
    if (s.format !== undefined) out.format = s.format;
  }
  if (s.default !== undefined) out.default = s.default;
  if (s.enum !== undefined) out.enum = s.enum;
  for (const k of ['pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems', 'maxProperties'] as const) {
    if (s[k] !== undefined) out[k] = s[k];
  }
  if (s.required !== undefined) out.required = s.required;
  if (s.items !== undefined) out.items = toV2(s.items);
  if (s.properties !== undefined) {
    out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, toV2(v)]));
  }
  if (s.additionalProperties !== undefined) out.additionalProperties = toV2(s.additionalProperties);
  if (s['x-kubernetes-preserve-unknown-fields']) out['x-kubernetes-preserve-unknown-fields'] = true;
  return out;
}

function gvk(kind: ResourceKind, kindName: string): Json[] {
  return [{ group: kind.group, kind: kindName, version: kind.version }];
}

/** The Swagger 2.0 document: definitions `<group reversed>.<version>.<Kind>` and `...<Kind>List`. */
export function openApiV2Json(kinds: readonly ResourceKind[]): Json {
  const definitions: Json = {};
  for (const kind of kinds) {
    const name = definitionName(kind.group, kind.version, kind.kind);
    definitions[name] = { ...toV2(kind.schema as JSONSchemaProps), 'x-kubernetes-group-version-kind': gvk(kind, kind.kind) };
    definitions[definitionName(kind.group, kind.version, kind.listKind)] = {
      type: 'object',
      description: `A list of ${kind.kind} objects.`,
      required: ['items'],
      properties: {
        apiVersion: { type: 'string', description: `${kind.group}/${kind.version}` },
        kind: { type: 'string', description: kind.listKind },
        metadata: { type: 'object', description: 'Standard list metadata.' },
        items: { type: 'array', items: { $ref: `#/definitions/${name}` } },
      },
      'x-kubernetes-group-version-kind': gvk(kind, kind.listKind),
    };
  }
  return {
    swagger: '2.0',
    info: { title: 'Open Scheduler', version: 'v1' },
    paths: {},
    definitions,
  };
}

// ---- protobuf (gnostic openapi_v2), field numbers from google/gnostic openapiv2/OpenAPIv2.proto ----

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v > 127) {
    bytes.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

function lengthDelimited(field: number, payload: Buffer): Buffer {
  return Buffer.concat([varint(field * 8 + 2), varint(payload.length), payload]);
}

const str = (field: number, s: string): Buffer => lengthDelimited(field, Buffer.from(s, 'utf8'));
const msg = (field: number, parts: Buffer[]): Buffer => lengthDelimited(field, Buffer.concat(parts));
const uint = (field: number, n: number): Buffer => Buffer.concat([varint(field * 8), varint(n)]);
const bool = (field: number, b: boolean): Buffer => uint(field, b ? 1 : 0);
function double(field: number, n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(n);
  return Buffer.concat([varint(field * 8 + 1), b]);
}
/** openapi.v2.Any{yaml = 2}. */
const anyYaml = (field: number, value: unknown): Buffer => msg(field, [str(2, stringify(value))]);

/** openapi.v2.Schema. */
function schemaProto(s: Json): Buffer {
  const p: Buffer[] = [];
  if (typeof s.$ref === 'string') p.push(str(1, s.$ref));
  if (typeof s.format === 'string') p.push(str(2, s.format));
  if (typeof s.title === 'string') p.push(str(3, s.title));
  if (typeof s.description === 'string') p.push(str(4, s.description));
  if (s.default !== undefined) p.push(anyYaml(5, s.default));
  if (typeof s.maximum === 'number') p.push(double(7, s.maximum));
  if (typeof s.minimum === 'number') p.push(double(9, s.minimum));
  if (typeof s.maxLength === 'number') p.push(uint(11, s.maxLength));
  if (typeof s.minLength === 'number') p.push(uint(12, s.minLength));
  if (typeof s.pattern === 'string') p.push(str(13, s.pattern));
  if (typeof s.maxItems === 'number') p.push(uint(14, s.maxItems));
  if (typeof s.minItems === 'number') p.push(uint(15, s.minItems));
  if (typeof s.maxProperties === 'number') p.push(uint(17, s.maxProperties));
  if (Array.isArray(s.required)) for (const r of s.required) p.push(str(19, String(r)));
  if (Array.isArray(s.enum)) for (const e of s.enum) p.push(anyYaml(20, e));
  if (typeof s.additionalProperties === 'boolean') p.push(msg(21, [bool(2, s.additionalProperties)]));
  else if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    p.push(msg(21, [msg(1, [schemaProto(s.additionalProperties as Json)])]));
  }
  if (typeof s.type === 'string') p.push(msg(22, [str(1, s.type)]));
  if (s.items && typeof s.items === 'object') p.push(msg(23, [msg(1, [schemaProto(s.items as Json)])]));
  if (s.properties && typeof s.properties === 'object') {
    const named = Object.entries(s.properties as Record<string, Json>).map(([k, v]) => msg(1, [str(1, k), msg(2, [schemaProto(v)])]));
    p.push(msg(25, named));
  }
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-')) p.push(msg(31, [str(1, k), anyYaml(2, v)]));
  }
  return Buffer.concat(p);
}

/**
 * The same document as openApiV2Json, encoded as a gnostic openapi.v2.Document protobuf
 * (serve it with `Content-Type: application/octet-stream`; see shared/KUBECTL.md 0.2).
 */
export function openApiV2Protobuf(kinds: readonly ResourceKind[]): Buffer {
  const doc = openApiV2Json(kinds);
  const info = doc.info as Json;
  const definitions = Object.entries(doc.definitions as Record<string, Json>).map(([name, schema]) =>
    msg(1, [str(1, name), msg(2, [schemaProto(schema)])]),
  );
  return Buffer.concat([
    str(1, String(doc.swagger)),
    msg(2, [str(1, String(info.title)), str(2, String(info.version))]),
    msg(9, definitions),
  ]);
}

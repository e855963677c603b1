// Job manifests for the API fuzzer: schema-valid values from the OpenAPI document
// (fuzz-openapi.ts), made valid manifests by the rules the document cannot express (the ones
// api/v1/job.ts checks in code: driver/workloadType/image agreement, quantities, absolute
// paths, unique env names and mount paths, label keys, backoff order, dependency names), plus
// garbage bodies. Only those code-level rules are written by hand here; every other field,
// bound and pattern comes from the document.
import fc from 'fast-check';
import YAML from 'yaml';
import { DRIVER_WORKLOAD_TYPES } from '../../api/v1/job.js';
import { resolveRef, schemaAt, schemaValueArbitrary, type OpenApiDocument, type SchemaNode } from './fuzz-openapi.js';

type Json = Record<string, unknown>;

/** The Job and JobList definitions of the document, found by their group-version-kind. */
export interface JobModel {
  readonly doc: OpenApiDocument;
  readonly jobDefinition: string;
  readonly listDefinition: string;
  readonly job: SchemaNode;
  readonly spec: SchemaNode;
  readonly status: SchemaNode;
  readonly apiVersion: string;
  readonly kind: string;
}

export function jobModel(doc: OpenApiDocument, kind = 'Job'): JobModel {
  const byKind = (k: string): string => {
    const found = Object.entries(doc.definitions).find(([, d]) => {
      const gvk = d['x-kubernetes-group-version-kind'] as { kind: string }[] | undefined;
      return gvk?.some((g) => g.kind === k);
    });
    if (found === undefined) throw new Error(`the OpenAPI document has no definition of kind ${k}`);
    return found[0];
  };
  const jobDefinition = byKind(kind);
  const job = doc.definitions[jobDefinition]!;
  const gvk = (job['x-kubernetes-group-version-kind'] as { group: string; version: string; kind: string }[])[0]!;
  const properties = job.properties as Record<string, SchemaNode>;
  return {
    doc,
    jobDefinition,
    listDefinition: byKind(`${kind}List`),
    job,
    spec: resolveRef(doc, properties.spec!),
    status: resolveRef(doc, properties.status!),
    apiVersion: `${gvk.group}/${gvk.version}`,
    kind: gvk.kind,
  };
}

const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
const labelKey = fc.oneof(dnsLabel, fc.tuple(dnsLabel, dnsLabel).map(([p, n]) => `${p}.example/${n}`));
const labelValue = fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?$/));
const labelMap = fc.dictionary(labelKey, labelValue, { maxKeys: 3 });
const absolutePath = fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/), { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`);

/** The values the code-level rules need, generated next to the schema-derived spec. */
const rulePieces = fc.record({
  workloadPick: fc.nat(),
  imageTag: fc.stringMatching(/^[a-z0-9]{1,10}$/),
  cpu: fc.oneof(fc.integer({ min: 1, max: 1024 }), fc.integer({ min: 1, max: 1_024_000 }).map((m) => `${m}m`)),
  memory: fc.oneof(fc.integer({ min: 1, max: 4096 }).map((n) => `${n}Mi`), fc.integer({ min: 1, max: 16 }).map((n) => `${n}Gi`)),
  paths: fc.array(absolutePath, { minLength: 8, maxLength: 8 }),
  labels: labelMap,
  nodeSelector: labelMap,
});
type RulePieces = typeof rulePieces extends fc.Arbitrary<infer T> ? T : never;

const noNul = (s: unknown): unknown => (typeof s === 'string' ? s.replace(/\0/g, '') : s);

/** Makes a schema-valid spec satisfy the rules of api/v1/job.ts that the document does not state. */
function applyJobRules(input: Json, r: RulePieces, defaultBackoffSeconds: number): Json {
  const spec: Json = structuredClone(input);
  const driver = spec.driver as keyof typeof DRIVER_WORKLOAD_TYPES;
  const allowed = DRIVER_WORKLOAD_TYPES[driver];
  if (spec.workloadType !== undefined && !allowed.includes(spec.workloadType as string)) {
    spec.workloadType = allowed[r.workloadPick % allowed.length];
  }
  for (const key of ['command', 'args'] as const) {
    if (Array.isArray(spec[key])) spec[key] = (spec[key] as unknown[]).map(noNul);
  }
  const command = spec.command as string[] | undefined;
  if (driver !== 'podman' && (command === undefined || command.length === 0)) spec.command = ['/bin/true'];
  else if (command !== undefined && command[0] === '') command[0] = '/bin/true';
  if (driver === 'process') {
    delete spec.image;
    delete spec.volumes;
    delete spec.network;
  } else {
    spec.image = driver === 'podman' ? `localhost/fuzz-${r.imageTag}:test` : `fuzz-${r.imageTag}`;
    if (driver === 'incus') delete spec.network;
    else if (typeof spec.network === 'string') spec.network = `net-${spec.network}`.slice(0, 63).replace(/[-_.]+$/, '');
  }
  if (Array.isArray(spec.env)) {
    const seen = new Set<unknown>();
    spec.env = (spec.env as Json[])
      .filter((e) => !seen.has(e.name) && seen.add(e.name))
      .map((e) => (e.value === undefined ? e : { ...e, value: noNul(e.value) }));
  }
  if (spec.workingDir !== undefined) spec.workingDir = r.paths[0];
  if (spec.resources !== null && typeof spec.resources === 'object') {
    const resources = spec.resources as Json;
    if (resources.cpu !== undefined) resources.cpu = r.cpu;
    if (resources.memory !== undefined) resources.memory = r.memory;
  }
  if (Array.isArray(spec.volumes)) {
    spec.volumes = (spec.volumes as Json[]).map((v, i) => ({ ...v, hostPath: r.paths[1 + (i % 7)], mountPath: `/mnt/v${i}${r.paths[1 + (i % 7)]!}` }));
  }
  const retry = spec.retryPolicy as Json | undefined;
  if (retry !== undefined && typeof retry.maxBackoffSeconds === 'number') {
    const backoff = typeof retry.backoffSeconds === 'number' ? retry.backoffSeconds : defaultBackoffSeconds;
    retry.maxBackoffSeconds = Math.max(backoff, retry.maxBackoffSeconds);
  }
  if (Array.isArray(spec.dependsOn)) {
    // Names no fuzzed job ever has (they start with "fz-"), so no dependency cycle can form.
    spec.dependsOn = [...new Set((spec.dependsOn as string[]).map((d) => `dep-${d}`.slice(0, 63).replace(/-+$/, '')))];
  }
  if (spec.nodeSelector !== undefined) spec.nodeSelector = r.nodeSelector;
  return spec;
}

/** Valid Job manifests (named NAME_PLACEHOLDER: give each its name with `named`). */
export function validJobArbitrary(model: JobModel): fc.Arbitrary<Json> {
  const backoff = schemaAt(model.doc, model.spec, ['retryPolicy', 'backoffSeconds'])?.default;
  const defaultBackoffSeconds = typeof backoff === 'number' ? backoff : 0;
  return fc.tuple(schemaValueArbitrary(model.doc, model.spec), rulePieces).map(([spec, r]) => ({
    apiVersion: model.apiVersion,
    kind: model.kind,
    metadata: Object.keys(r.labels).length > 0 ? { name: NAME_PLACEHOLDER, labels: r.labels } : { name: NAME_PLACEHOLDER },
    spec: applyJobRules(spec as Json, r, defaultBackoffSeconds),
  }));
}

export const NAME_PLACEHOLDER = 'fz-unnamed';

/** A copy of `manifest` named `name`. */
export function named(manifest: Json, name: string): Json {
  const copy = structuredClone(manifest);
  copy.metadata = { ...(copy.metadata as Json), name };
  return copy;
}

/** A valid status (recent attempt numbers unique, as api/v1/job.ts requires). */
export function validStatusArbitrary(model: JobModel): fc.Arbitrary<Json> {
  return schemaValueArbitrary(model.doc, model.status).map((s) => {
    const status = structuredClone(s as Json);
    if (Array.isArray(status.recentAttempts)) {
      const seen = new Set<unknown>();
      status.recentAttempts = (status.recentAttempts as Json[]).filter((a) => !seen.has(a.attempt) && seen.add(a.attempt));
    }
    return status;
  });
}

// ---- garbage ---------------------------------------------------------------------------------

export interface RawBody {
  readonly raw: string | Buffer;
  readonly contentType: string;
  /** True when no server may accept it (bytes, alias bombs, unknown media types). */
  readonly mustFail: boolean;
  readonly label: string;
}

const JSON_LIKE = ['application/json', 'application/merge-patch+json', 'application/json-patch+json'];
const YAML_LIKE = ['application/yaml', 'application/apply-patch+yaml', 'text/yaml'];
const WRONG_TYPES = [
  'text/plain',
  'application/xml',
  'application/octet-stream',
  'multipart/form-data; boundary=fuzz',
  'application/json; charset=iso-8859-1',
  'application/vnd.kubernetes.protobuf',
  'application/strategic-merge-patch+json',
  'application/x-www-form-urlencoded',
];

/** A "billion laughs" document: `levels` of anchors, each aliasing the previous one `width` times. */
export function yamlAliasBomb(levels: number, width: number): string {
  const lines = ['a0: &a0 ["lol"]'];
  for (let i = 1; i <= levels; i++) {
    lines.push(`a${i}: &a${i} [${Array.from({ length: width }, () => `*a${i - 1}`).join(', ')}]`);
  }
  return lines.join('\n');
}

export function garbageBodyArbitrary(manifest: fc.Arbitrary<Json>): fc.Arbitrary<RawBody> {
  return fc.oneof(
    fc.tuple(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(...JSON_LIKE, ...YAML_LIKE)).map(([v, contentType]) => ({
      raw: JSON.stringify(v) ?? 'null',
      contentType,
      mustFail: false,
      label: 'random JSON',
    })),
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.constantFrom(...JSON_LIKE, ...YAML_LIKE)).map(([bytes, contentType]) => {
      const raw = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), Buffer.from(bytes)]);
      return { raw, contentType, mustFail: true, label: 'random bytes' };
    }),
    fc.tuple(fc.integer({ min: 4, max: 9 }), fc.integer({ min: 5, max: 10 }), fc.constantFrom(...YAML_LIKE)).map(([levels, width, contentType]) => ({
      raw: yamlAliasBomb(levels, width),
      contentType,
      mustFail: true,
      label: 'YAML alias bomb',
    })),
    fc.tuple(manifest, fc.constantFrom(...YAML_LIKE)).map(([m, contentType]) => ({
      // A manifest whose args alias its command (small aliases are legal YAML).
      raw: `${YAML.stringify(m)}\nextra: &cmd [a, b]\nmore: *cmd\n`,
      contentType,
      mustFail: false,
      label: 'YAML with aliases',
    })),
    fc.tuple(manifest, fc.constantFrom(...WRONG_TYPES)).map(([m, contentType]) => ({
      raw: JSON.stringify(m),
      contentType,
      mustFail: true,
      label: 'wrong content type',
    })),
  );
}

// Generates docs/api-reference.md from the OpenAPI v2 document (api/openapi.ts definitions plus the
// paths of api/openapi-paths.ts) and the error list API_ERRORS (apiserver/status.ts).
// Usage: node --import tsx hack/gen-api-docs.ts [--check]
//   --check: exit 1 when docs/api-reference.md differs from what the document gives.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { definitionName, openApiV2Json } from '../api/openapi.js';
import { STATUS_DEFINITION, withPaths } from '../api/openapi-paths.js';
import type { ResourceKind } from '../api/kind.js';
import { kinds as v1Kinds } from '../api/v1/index.js';
import { API_ERRORS } from '../apiserver/status.js';

type Json = Record<string, unknown>;

/** Where the reference lives, relative to the repository root. */
export const API_REFERENCE_PATH = join('docs', 'api-reference.md');

const HTTP_METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;
/** Nesting depth of the schema tables (spec.retryPolicy.maxRetries is 3, status.attempts[].exitCode 3). */
const MAX_SCHEMA_DEPTH = 5;

/** A markdown table cell: no pipes or newlines break the row. */
function cell(text: unknown): string {
  return String(text ?? '').replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

function code(text: string): string {
  return `\`${text}\``;
}

function typeOf(schema: Json): string {
  const ref = typeof schema.$ref === 'string' ? schema.$ref.split('/').pop() : undefined;
  if (ref !== undefined) return ref;
  if (schema.type === 'array' && typeof schema.items === 'object' && schema.items !== null) return `${typeOf(schema.items as Json)}[]`;
  if (schema.type === 'object' && typeof schema.additionalProperties === 'object' && schema.additionalProperties !== null) {
    return `map[string]${typeOf(schema.additionalProperties as Json)}`;
  }
  const type = typeof schema.type === 'string' ? schema.type : 'any';
  return typeof schema.format === 'string' ? `${type} (${schema.format})` : type;
}

/** The constraints of a schema node in words: enum, pattern, bounds, default. */
function constraints(schema: Json): string[] {
  const out: string[] = [];
  if (Array.isArray(schema.enum)) out.push(`one of ${schema.enum.map((e) => code(String(e))).join(', ')}`);
  if (typeof schema.pattern === 'string') out.push(`pattern ${code(schema.pattern)}`);
  for (const [key, word] of [
    ['minimum', 'min'],
    ['maximum', 'max'],
    ['minLength', 'min length'],
    ['maxLength', 'max length'],
    ['minItems', 'min items'],
    ['maxItems', 'max items'],
    ['maxProperties', 'max entries'],
  ] as const) {
    if (typeof schema[key] === 'number') out.push(`${word} ${String(schema[key])}`);
  }
  if (schema.default !== undefined) out.push(`default ${code(JSON.stringify(schema.default))}`);
  return out;
}

/** One row per field under `schema`, depth first, with paths like `spec.env[].name`. */
function fieldRows(schema: Json, path: string, depth: number, rows: string[]): void {
  if (depth >= MAX_SCHEMA_DEPTH) return;
  const requiredKeys = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
  for (const [key, child] of Object.entries((schema.properties ?? {}) as Record<string, Json>)) {
    const childPath = path === '' ? key : `${path}.${key}`;
    const notes = [typeof child.description === 'string' ? child.description : '', constraints(child).join('; ')].filter((s) => s !== '');
    rows.push(`| ${code(childPath)} | ${cell(typeOf(child))} | ${requiredKeys.has(key) ? 'yes' : ''} | ${cell(notes.join(' — '))} |`);
    fieldRows(child, childPath, depth + 1, rows);
    if (typeof child.items === 'object' && child.items !== null) fieldRows(child.items as Json, `${childPath}[]`, depth + 1, rows);
    if (typeof child.additionalProperties === 'object' && child.additionalProperties !== null) {
      fieldRows(child.additionalProperties as Json, `${childPath}.*`, depth + 1, rows);
    }
  }
}

function schemaTable(schema: Json): string {
  const rows: string[] = [];
  fieldRows(schema, '', 0, rows);
  return ['| field | type | required | description |', '|---|---|---|---|', ...rows].join('\n');
}

function parameterRows(parameters: Json[]): string {
  const rows = parameters.map((p) => {
    const type = p.in === 'body' ? typeOf((p.schema ?? {}) as Json) : String(p.type);
    return `| ${code(String(p.name))} | ${String(p.in)} | ${cell(type)} | ${p.required === true ? 'yes' : ''} | ${cell(p.description)} |`;
  });
  return ['| parameter | in | type | required | description |', '|---|---|---|---|---|', ...rows].join('\n');
}

function operationSection(method: string, path: string, op: Json): string {
  const lines = [`### ${method.toUpperCase()} ${code(path)}`, '', String(op.summary ?? ''), ''];
  const parameters = (op.parameters ?? []) as Json[];
  if (parameters.length > 0) lines.push(parameterRows(parameters), '');
  if (Array.isArray(op.consumes)) lines.push(`Request body types: ${op.consumes.map((c) => code(String(c))).join(', ')}.`, '');
  if (Array.isArray(op.produces)) lines.push(`Response type: ${op.produces.map((c) => code(String(c))).join(', ')}.`, '');
  if (Array.isArray(op.security) && op.security.length === 0) lines.push('No token needed.', '');
  const responses = Object.entries((op.responses ?? {}) as Record<string, Json>).map(([status, r]) => {
    const schema = r.schema as Json | undefined;
    if (status === 'default') return 'errors: a `Status`';
    return `${status}: ${String(r.description)}${schema !== undefined ? ` (${code(typeOf(schema))})` : ''}`;
  });
  lines.push(`Responses: ${responses.join('; ')}.`);
  return lines.join('\n');
}

/** The whole reference for `kinds`. */
export function renderApiReference(kinds: readonly ResourceKind[] = v1Kinds): string {
  const doc = withPaths(openApiV2Json(kinds), kinds);
  const paths = doc.paths as Record<string, Json>;
  const definitions = doc.definitions as Record<string, Json>;
  const out: string[] = [
    '<!-- Generated by hack/gen-api-docs.ts from the OpenAPI document (api/openapi.ts, api/openapi-paths.ts) and API_ERRORS (apiserver/status.ts). DO NOT EDIT: run `npm run codegen:api-docs`. -->',
    '',
    '# API reference',
    '',
    'The HTTP API of `openscheduler server` (and `dev`), Kubernetes-style: the same answers on the plain HTTP port (loopback) and the HTTPS port.',
    'Every request needs `Authorization: Bearer TOKEN` (from `POST /api/v1/auth/login`, `osctl user token NAME`, or the kubeconfig `dev` writes) except the health endpoints and login.',
    'What each role may do is the authorization table in the README ("Users and roles"). Every error is a `Status` object whose `code` is the HTTP status; see [Errors](#errors).',
    `The server serves this document's definitions at ${code('/openapi/v2')}.`,
    '',
    '## Contents',
    '',
    '- [Errors](#errors)',
    '- [Endpoints](#endpoints)',
    ...kinds.map((k) => `- [${k.kind}](#${k.kind.toLowerCase()})`),
    '- [Status](#status)',
    '',
    '## Errors',
    '',
    'Every error answer is a `Status` (`kind: Status`, `apiVersion: v1`, `status: Failure`) with `reason` and `code` as below. Validation errors (`Invalid`, and `BadRequest` for parameters and bodies) name the field in `details.causes[].field` or at the start of the message.',
    '',
    '| code | reason | when |',
    '|---|---|---|',
    ...API_ERRORS.map((e) => `| ${e.code} | ${code(e.reason)} | ${cell(e.cases.join('; '))} |`),
    '',
    'Not a `Status`: `/readyz` answers 503 with a text body (`readyz check failed`; `?verbose` lists the checks); a refused CORS preflight gets a text 403; the dashboard\'s `/` gets a text 404 when the dashboard was not built. Watch streams report a compacted revision as an `ERROR` event carrying a 410 `Expired` Status, then end.',
    '',
    '## Endpoints',
    '',
  ];
  for (const [path, item] of Object.entries(paths)) {
    for (const method of HTTP_METHODS) {
      const op = item[method] as Json | undefined;
      if (op !== undefined) out.push(operationSection(method, path, op), '');
    }
  }
  for (const kind of kinds) {
    const definition = definitions[definitionName(kind.group, kind.version, kind.kind)] as Json;
    out.push(
      `## ${kind.kind}`,
      '',
      `${code(`apiVersion: ${kind.group}/${kind.version}`)}, ${code(`kind: ${kind.kind}`)}, ${kind.namespaced ? 'namespaced' : 'cluster-scoped'}; plural ${code(kind.plural)}. ${cell(definition.description ?? '')}`,
      '',
      schemaTable(definition),
      '',
    );
  }
  out.push('## Status', '', schemaTable(definitions[STATUS_DEFINITION] as Json), '');
  return out.join('\n');
}

/** Writes (or with check, compares) docs/api-reference.md under `root`. Returns the exit code. */
export function runApiDocs(root: string, check: boolean): number {
  const path = join(root, API_REFERENCE_PATH);
  let current: string | undefined;
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    current = undefined;
  }
  const wanted = renderApiReference();
  if (wanted === current) {
    console.log(`${path}: up to date`);
    return 0;
  }
  if (check) {
    console.error(`${path}: out of date; run npm run codegen:api-docs`);
    return 1;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, wanted);
  console.log(`wrote ${path}`);
  return 0;
}

const here = dirname(fileURLToPath(import.meta.url));
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // From dist/hack/gen-api-docs.js the repository root is two levels up; from hack/gen-api-docs.ts one.
  const root = here.split('/').includes('dist') ? join(here, '..', '..') : join(here, '..');
  process.exitCode = runApiDocs(root, process.argv.includes('--check'));
}

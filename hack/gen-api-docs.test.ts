// docs/api-reference.md is generated from the OpenAPI document and API_ERRORS and must be up to
// date; API_ERRORS must list exactly the (code, reason) pairs the handlers answer with; and every
// documented operation must be routed by a real `openscheduler dev` process.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kinds } from '../api/v1/index.js';
import { openApiV2Json } from '../api/openapi.js';
import { openApiV2Paths, withPaths } from '../api/openapi-paths.js';
import { API_ERRORS } from '../apiserver/status.js';
import { repoRoot } from '../test/harness/bin.js';
import { quiet } from '../test/harness/logging.js';
import { startServerProcess, type ServerProcess } from '../test/harness/server.js';
import { API_REFERENCE_PATH, renderApiReference, runApiDocs } from './gen-api-docs.js';

/** What a route that does not exist answers (apiserver/status.ts routeNotFound). */
const ROUTE_NOT_FOUND = 'the server could not find the requested resource';

/** `code reason` pairs written by the handlers: apiError(...)/failureStatus(...)/status(...) calls and httpError's table. */
async function pairsInSource(): Promise<Map<string, string>> {
  const dir = join(repoRoot, 'apiserver');
  const found = new Map<string, string>();
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'api-test-harness.ts')) {
    const text = await readFile(join(dir, file), 'utf8');
    for (const pattern of [/\b(?:apiError|failureStatus|status)\(\s*(\d{3}),\s*'(\w+)'/g, /^\s+(\d{3}): '(\w+)',$/gm]) {
      for (const m of text.matchAll(pattern)) found.set(`${m[1]} ${m[2]}`, file);
    }
  }
  return found;
}

void describe('gen-api-docs', () => {
  const temps: string[] = [];
  after(async () => {
    for (const t of temps) await rm(t, { recursive: true, force: true });
  });

  void it('docs/api-reference.md is what the OpenAPI document gives (else: npm run codegen:api-docs)', async () => {
    const current = await readFile(join(repoRoot, API_REFERENCE_PATH), 'utf8');
    assert.equal(current, renderApiReference(), 'docs/api-reference.md is out of date: run npm run codegen:api-docs');
  });

  void it('API_ERRORS lists exactly the code/reason pairs the handlers answer with, and the reference shows each', async () => {
    const inSource = await pairsInSource();
    const listed = new Set(API_ERRORS.map((e) => `${e.code} ${e.reason}`));
    assert.equal(listed.size, API_ERRORS.length, 'one API_ERRORS entry per pair');
    for (const [pair, file] of inSource) assert.ok(listed.has(pair), `apiserver/${file} answers ${pair}, which API_ERRORS (apiserver/status.ts) does not list`);
    for (const pair of listed) assert.ok(inSource.has(pair), `API_ERRORS lists ${pair}, which no handler in apiserver/ answers`);
    const reference = renderApiReference();
    for (const e of API_ERRORS) assert.match(reference, new RegExp(`^\\| ${e.code} \\| \`${e.reason}\` \\| .+ \\|$`, 'm'));
  });

  void it('documents every route of the kinds, their parameters, and the Job and Node fields', () => {
    const reference = renderApiReference();
    const paths = openApiV2Paths(kinds);
    for (const path of Object.keys(paths)) assert.ok(reference.includes(`\`${path}\``), path);
    for (const needle of ['### PATCH `/apis/openscheduler.io/v1/namespaces/{namespace}/jobs/{name}`', '`application/apply-patch+yaml`', '| `fieldManager` | query |', '| `spec.retryPolicy.maxRetries` | integer |', '| `status.phase` | string |', '| `spec.unschedulable` | boolean |']) {
      assert.ok(reference.includes(needle), needle);
    }
    const doc = withPaths(openApiV2Json(kinds), kinds);
    assert.equal(doc.swagger, '2.0');
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>)) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(item)) {
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        assert.deepEqual(declared.sort(), [...inPath].sort(), `${method} ${path}: path parameters`);
      }
    }
  });

  void it('--check fails on a stale file and writes nothing; a run writes it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'api-docs-'));
    temps.push(root);
    await mkdir(join(root, 'docs'));
    const target = join(root, API_REFERENCE_PATH);
    await writeFile(target, 'stale\n');
    const check = quiet(() => runApiDocs(root, true));
    assert.equal(check.result, 1);
    assert.match(check.output, /out of date; run npm run codegen:api-docs/);
    assert.equal(await readFile(target, 'utf8'), 'stale\n');
    assert.equal(quiet(() => runApiDocs(root, false)).result, 0);
    assert.equal(await readFile(target, 'utf8'), renderApiReference());
    assert.equal(quiet(() => runApiDocs(root, true)).result, 0);
  });

  void describe('every documented operation is routed by a real server', () => {
    let server: ServerProcess;
    before(async () => {
      server = await startServerProcess();
    });
    after(async () => {
      await server?.stop();
    });

    void it('no documented path and method gets "no route" (404 with the route message) or 405', async () => {
      const values: Record<string, string> = { namespace: 'default', name: 'api-docs-route-check', group: 'openscheduler.io', version: 'v1', id: 'api-docs-route-check' };
      const checked: string[] = [];
      for (const [template, item] of Object.entries(openApiV2Paths(kinds))) {
        const path = template.replace(/\{(\w+)\}/g, (_m, key: string) => values[key] ?? key);
        for (const method of Object.keys(item)) {
          const verb = method.toUpperCase();
          const withBody = verb === 'POST' || verb === 'PUT' || verb === 'PATCH';
          const contentType = verb === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
          const response = await fetch(`${server.httpUrl}${path}`, {
            method: verb,
            headers: { authorization: `Bearer ${server.token}`, ...(withBody ? { 'content-type': contentType } : {}) },
            ...(withBody ? { body: '{}' } : {}),
            signal: AbortSignal.timeout(30_000),
          });
          const text = await response.text();
          const what = `${verb} ${path} -> ${response.status} ${text.slice(0, 200)}`;
          assert.notEqual(response.status, 405, what);
          assert.ok(!(response.status === 404 && text.includes(ROUTE_NOT_FOUND)), what);
          assert.ok(response.status < 500, what);
          checked.push(`${verb} ${template}`);
        }
      }
      assert.ok(checked.length >= 40, `checked ${checked.length} operations`);
    });
  });
});

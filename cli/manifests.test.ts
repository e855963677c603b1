import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { manifestFiles, parseJsonManifest, parseManifestText, parseYamlManifests, readManifests } from './manifests.js';

const job = (name: string): string => `apiVersion: openscheduler.io/v1\nkind: Job\nmetadata:\n  name: ${name}\nspec:\n  driver: process\n  command: [/bin/true]\n`;

void test('multi-document YAML: every document, empty ones skipped, each located by number and line', () => {
  const text = `---\n# a comment-only document\n---\n${job('a')}---\n---\n${job('b')}...\n`;
  const { documents, problems } = parseYamlManifests(text, 'jobs.yaml');
  assert.deepEqual(problems, []);
  assert.deepEqual(
    documents.map((d) => [d.object.metadata, d.where]),
    [
      [{ name: 'a' }, 'jobs.yaml (document 1, line 4)'],
      [{ name: 'b' }, 'jobs.yaml (document 2, line 13)'],
    ],
  );
  assert.deepEqual(documents[0]?.object.spec, { driver: 'process', command: ['/bin/true'] });
});

void test('YAML syntax errors name the file, line and column, and nothing of the file is used', () => {
  const text = `${job('a')}---\napiVersion: openscheduler.io/v1\nkind: Job\nmetadata:\n  name: b\n   bad: indent\n`;
  const { documents, problems } = parseYamlManifests(text, 'broken.yaml');
  assert.equal(documents.length, 0);
  assert.ok(problems.length >= 1);
  assert.match(problems[0]?.message ?? '', /^broken\.yaml:12:9: YAML syntax error: Nested mappings are not allowed/);
  const dup = parseYamlManifests('a: 1\na: 2\n', 'dup.yaml');
  assert.match(dup.problems[0]?.message ?? '', /^dup\.yaml:2:1: YAML syntax error: Map keys must be unique/);
});

void test('documents that are not mappings are reported; a kind: List is flattened', () => {
  const text = [
    '- a',
    '- b',
    '---',
    'hello',
    '---',
    'apiVersion: v1',
    'kind: List',
    'items:',
    '- apiVersion: openscheduler.io/v1',
    '  kind: Job',
    '  metadata: {name: x}',
    '- 3',
  ].join('\n');
  const { documents, problems } = parseYamlManifests(text, 'l.yaml');
  assert.deepEqual(problems.map((p) => p.message), [
    'l.yaml (document 1, line 1): expected a mapping with apiVersion, kind and metadata, got a sequence',
    'l.yaml (document 2, line 4): expected a mapping with apiVersion, kind and metadata, got a string',
    'l.yaml (document 3, line 6, item 2): expected a mapping, got a number',
  ]);
  assert.equal(documents.length, 1);
  assert.equal(documents[0]?.where, 'l.yaml (document 3, line 6, item 1)');
  assert.deepEqual(documents[0]?.object.metadata, { name: 'x' });
});

void test('a YAML alias bomb fails fast with a clear message', () => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 0; i < 8; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`);
  const started = Date.now();
  const { documents, problems } = parseYamlManifests(bomb.join('\n'), 'bomb.yaml');
  assert.equal(documents.length, 0);
  assert.match(problems[0]?.message ?? '', /^bomb\.yaml \(document 1, line 1\): .*alias/i);
  assert.ok(Date.now() - started < 1000);
});

void test('JSON manifests, and JSON syntax errors with line and column', () => {
  const ok = parseJsonManifest('{"apiVersion":"openscheduler.io/v1","kind":"Job","metadata":{"name":"j"}}', 'j.json');
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.documents[0]?.object.kind, 'Job');
  assert.equal(ok.documents[0]?.where, 'j.json (document 1, line 1)');
  const bad = parseManifestText('{\n  "kind": "Job",\n  "metadata": {,}\n}\n', 'bad.json');
  assert.equal(bad.documents.length, 0);
  assert.match(bad.problems[0]?.message ?? '', /^bad\.json:3:16: JSON syntax error: /);
  assert.deepEqual(parseJsonManifest('  \n', 'empty.json'), { documents: [], problems: [] });
});

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'osctl-manifests-'));
  await mkdir(join(dir, 'sub', 'deeper'), { recursive: true });
  await writeFile(join(dir, 'b.yaml'), job('b'));
  await writeFile(join(dir, 'a.yml'), job('a'));
  await writeFile(join(dir, 'c.json'), JSON.stringify({ apiVersion: 'openscheduler.io/v1', kind: 'Job', metadata: { name: 'c' } }));
  await writeFile(join(dir, 'README.md'), '# not a manifest\n');
  await writeFile(join(dir, 'sub', 'd.yaml'), job('d'));
  await writeFile(join(dir, 'sub', 'deeper', 'e.yaml'), job('e'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

void test('directories: manifest files in name order; subdirectories only with recursive', async () => {
  assert.deepEqual(await manifestFiles(dir, false), ['a.yml', 'b.yaml', 'c.json'].map((f) => join(dir, f)));
  assert.deepEqual(
    await manifestFiles(dir, true),
    ['a.yml', 'b.yaml', 'c.json', 'sub/d.yaml', 'sub/deeper/e.yaml'].map((f) => join(dir, f)),
  );
  assert.deepEqual(await manifestFiles(join(dir, 'README.md'), false), [join(dir, 'README.md')]);
  await assert.rejects(manifestFiles(join(dir, 'nope'), false), /the path ".*nope" does not exist/);
});

void test('readManifests: files, directories and stdin together; missing paths are problems', async () => {
  let stdinReads = 0;
  const { documents, problems } = await readManifests([dir, '-', join(dir, 'missing.yaml')], {
    recursive: true,
    readStdin: async () => {
      stdinReads += 1;
      return job('from-stdin');
    },
  });
  assert.equal(stdinReads, 1);
  assert.deepEqual(
    documents.map((d) => (d.object.metadata as { name: string }).name),
    ['a', 'b', 'c', 'd', 'e', 'from-stdin'],
  );
  assert.equal(documents[5]?.where, 'STDIN (document 1, line 1)');
  assert.deepEqual(problems.map((p) => p.message), [`the path "${join(dir, 'missing.yaml')}" does not exist`]);
});

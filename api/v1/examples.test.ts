// The manifests under examples/ are valid Jobs, and the DAG is admissible.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../test/harness/bin.js';
import type { ApiObject } from '../meta.js';
import { jobKind, type Job } from './index.js';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return yamlFiles(p);
      return /\.ya?ml$/.test(name) ? [p] : [];
    })
    .sort();
}

function load(file: string): Job[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    assert.deepEqual(doc.errors, [], `${file} parses`);
    return doc.toJS() as Job;
  });
}

const examplesDir = join(repoRoot, 'examples');

void describe('examples/', () => {
  const files = yamlFiles(examplesDir);

  void it('has an example per driver and a DAG', () => {
    const names = files.map((f) => relative(examplesDir, f));
    for (const expected of ['hello.yaml', 'podman-hello.yaml', 'incus-hello.yaml']) assert.ok(names.includes(expected), expected);
    assert.ok(names.filter((n) => n.startsWith('dag/')).length >= 3);
    const drivers = new Set(files.flatMap(load).map((j) => j.spec.driver));
    assert.deepEqual([...drivers].sort(), ['incus', 'podman', 'process']);
  });

  for (const file of files) {
    void it(`${relative(examplesDir, file)} validates`, () => {
      for (const job of load(file)) {
        jobKind.applyDefaults(job as ApiObject);
        assert.deepEqual(jobKind.validate(job), []);
      }
    });
  }

  void it('the hello examples use the images the test machines build', () => {
    const image = (f: string) => load(join(examplesDir, f))[0]?.spec.image;
    assert.equal(image('podman-hello.yaml'), 'localhost/busybox:test');
    assert.equal(image('incus-hello.yaml'), 'busybox-test');
    assert.deepEqual(load(join(examplesDir, 'hello.yaml'))[0]?.spec.command, ['/bin/echo', 'hello']);
  });

  void it('the DAG is complete, has a fan-in, and is admitted without cycles', async () => {
    const dag = yamlFiles(join(examplesDir, 'dag')).flatMap(load);
    const byName = new Map(dag.map((j) => [j.metadata.name, j]));
    for (const j of dag) for (const d of j.spec.dependsOn ?? []) assert.ok(byName.has(d), `${j.metadata.name} depends on ${d}, which is in the DAG`);
    assert.ok(dag.some((j) => (j.spec.dependsOn ?? []).length >= 2), 'a fan-in');
    const roots = dag.filter((j) => !j.spec.dependsOn?.length);
    assert.ok(roots.length >= 2);
    const lookup = (_ns: string | undefined, name: string) => Promise.resolve(byName.get(name) as ApiObject | undefined);
    for (const j of dag) assert.deepEqual(await jobKind.admit?.(j as ApiObject, lookup), []);
  });
});

// Regenerates the TypeScript of the agent protocol, api/proto/gen/**, from api/proto/**/*.proto
// with the local buf and ts-proto (options in api/proto/buf.gen.yaml).
// Usage: node --import tsx hack/gen-proto.ts [--check]
//   --check: lint and format-check the protos, generate into a temporary directory and exit 1
//            naming every generated file that is stale, missing or no longer generated.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const GEN_DIR = 'gen'; // the `out` of buf.gen.yaml, relative to api/proto

/** Runs root/node_modules/.bin/buf in root/api/proto; throws with buf's output when it fails. */
function buf(root: string, args: readonly string[]): void {
  const protoDir = join(root, 'api', 'proto');
  const binDir = join(root, 'node_modules', '.bin');
  const result = spawnSync(join(binDir, 'buf'), args, {
    cwd: protoDir,
    encoding: 'utf8',
    // buf.gen.yaml names the plugin `protoc-gen-ts_proto`; it is found on PATH.
    env: { ...process.env, PATH: `${binDir}${delimiter}${process.env['PATH'] ?? ''}` },
  });
  if (result.error) throw new Error(`cannot run buf ${args.join(' ')}`, { cause: result.error });
  if (result.status !== 0) {
    throw new Error(`buf ${args.join(' ')} failed (exit ${String(result.status)}):\n${result.stdout}${result.stderr}`);
  }
}

/** Paths of all files under dir, relative to dir, sorted; empty when dir does not exist. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  try {
    walk(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return out.sort();
}

/**
 * Lints and format-checks the protos under root/api/proto, generates into a temporary directory
 * and returns the generated files (relative to api/proto, with why) whose committed copy is stale.
 * Throws when buf fails (lint, format, generate), with buf's output.
 */
export function staleGeneratedFiles(root: string): string[] {
  const protoDir = join(root, 'api', 'proto');
  buf(root, ['lint']);
  buf(root, ['format', '--diff', '--exit-code']);
  const tmp = mkdtempSync(join(tmpdir(), 'gen-proto-'));
  try {
    buf(root, ['generate', '--output', tmp]);
    const fresh = join(tmp, GEN_DIR);
    const committed = join(protoDir, GEN_DIR);
    const names = new Set([...listFiles(fresh), ...listFiles(committed)]);
    const stale: string[] = [];
    for (const name of [...names].sort()) {
      const want = readOrUndefined(join(fresh, name));
      const have = readOrUndefined(join(committed, name));
      if (want === undefined) stale.push(`${join(GEN_DIR, name)} (no longer generated)`);
      else if (have === undefined) stale.push(`${join(GEN_DIR, name)} (missing)`);
      else if (want !== have) stale.push(join(GEN_DIR, name));
    }
    return stale;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Lints the protos and regenerates root/api/proto/gen; returns the files written, relative to api/proto. */
export function generate(root: string): string[] {
  buf(root, ['lint']);
  buf(root, ['generate']); // buf.gen.yaml has `clean: true`: files no longer generated are removed
  return listFiles(join(root, 'api', 'proto', GEN_DIR)).map((name) => join(GEN_DIR, name));
}

function main(root: string, argv: readonly string[]): number {
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    console.error(`gen-proto: unknown argument ${unknown.join(' ')}; usage: gen-proto.ts [--check]`);
    return 2;
  }
  if (argv.includes('--check')) {
    const stale = staleGeneratedFiles(root);
    if (stale.length > 0) {
      console.error(
        'gen-proto: generated code is stale; run `node --import tsx hack/gen-proto.ts`:\n' +
          stale.map((s) => `  api/proto/${s}`).join('\n'),
      );
      return 1;
    }
    console.log('gen-proto: api/proto/gen is up to date');
    return 0;
  }
  for (const path of generate(root)) console.log(`wrote api/proto/${path}`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // From dist/hack/gen-proto.js the repository root is two levels up; from hack/gen-proto.ts one.
  const here = dirname(fileURLToPath(import.meta.url));
  const root = here.split('/').includes('dist') ? join(here, '..', '..') : join(here, '..');
  try {
    process.exitCode = main(root, process.argv.slice(2));
  } catch (err) {
    console.error(`gen-proto: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}

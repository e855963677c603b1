#!/usr/bin/env node
// Builds the dashboard (dashboard/src, Preact + TypeScript) into dashboard/build: index.html plus
// content-hashed assets/ (served with immutable caching by the API server). No CDN at run time.
// Usage: node hack/build-dashboard.mjs [--watch] [--no-minify]
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const source = join(root, 'dashboard');
const out = join(source, 'build');
const watch = process.argv.includes('--watch');
const minify = !process.argv.includes('--no-minify');

/** Writes index.html naming the hashed entry files of this build. */
const writeIndex = {
  name: 'write-index',
  setup(build) {
    build.onEnd((result) => {
      if (result.errors.length > 0 || result.metafile === undefined) return;
      const pick = (ext) => {
        const found = Object.entries(result.metafile.outputs).find(([p, o]) => p.endsWith(ext) && o.entryPoint !== undefined)?.[0] ??
          Object.keys(result.metafile.outputs).find((p) => p.endsWith(ext) && !p.endsWith('.map') && ext === '.css');
        if (found === undefined) throw new Error(`build-dashboard: no ${ext} output`);
        return '/' + relative(out, join(root, found));
      };
      const html = readFileSync(join(source, 'index.html'), 'utf8').replace('%JS%', pick('.js')).replace('%CSS%', pick('.css'));
      mkdirSync(join(out, 'assets'), { recursive: true });
      copyFileSync(join(source, 'favicon.svg'), join(out, 'assets', 'favicon.svg'));
      writeFileSync(join(out, 'index.html'), html);
      console.log(`build-dashboard: ${relative(root, out)} written`);
    });
  },
};

rmSync(out, { recursive: true, force: true });
const options = {
  absWorkingDir: root,
  entryPoints: [join(source, 'src', 'main.tsx')],
  bundle: true,
  format: 'esm',
  splitting: true, // dynamic import() (the YAML view) becomes its own chunk
  chunkNames: 'assets/[name]-[hash]',
  target: ['chrome110', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify,
  sourcemap: 'linked',
  entryNames: 'assets/[name]-[hash]',
  assetNames: 'assets/[name]-[hash]',
  outdir: out,
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
  plugins: [writeIndex],
};
if (watch) {
  const context = await esbuild.context(options);
  await context.watch();
  console.log('build-dashboard: watching dashboard/src');
} else {
  await esbuild.build(options);
}

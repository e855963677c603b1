// How tests start the project's binaries: the compiled JS under dist when the tests run from dist
// (npm test), or the TypeScript sources through tsx when a test file is run directly with tsx.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const fromDist = here.split('/').includes('dist');
/** The repository root (the folder holding package.json). */
export const repoRoot = fromDist ? join(here, '..', '..', '..') : join(here, '..', '..');

/** argv (after the node executable) that runs `cmd/<name>` with the given arguments. */
export function binArgs(name: 'osctl' | 'openscheduler', args: readonly string[]): string[] {
  return fromDist
    ? ['--enable-source-maps', join(repoRoot, 'dist', 'cmd', `${name}.js`), ...args]
    : ['--import', 'tsx', join(repoRoot, 'cmd', `${name}.ts`), ...args];
}

// Tests get TLS certificates from hack/make-test-ca.sh (openssl): a CA, a serving certificate,
// client certificates per node and, on request, a client certificate from an unrelated CA.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './bin.js';

export const MAKE_TEST_CA = join(repoRoot, 'hack', 'make-test-ca.sh');

export interface TestCaOptions {
  /** Extra SANs of server.crt; every node gets client-NODE.crt/.key. */
  readonly serverNames?: readonly string[];
  readonly nodes?: readonly string[];
  /** Also wrong-ca.crt and wrong-client-<first node>.crt/.key. */
  readonly wrongCa?: boolean;
  /** Leave localhost and the loopback addresses out of server.crt. */
  readonly noLoopbackNames?: boolean;
}

/** Runs hack/make-test-ca.sh into `dir` (which must not hold its files yet); returns the file paths by name. */
export async function makeTestCa(dir: string, options: TestCaOptions = {}): Promise<(name: string) => string> {
  const args = [
    MAKE_TEST_CA,
    dir,
    ...(options.serverNames?.length ? ['--server-name', options.serverNames.join(',')] : []),
    ...(options.nodes?.length ? ['--node', options.nodes.join(',')] : []),
    ...(options.wrongCa === true ? ['--wrong-ca'] : []),
    ...(options.noLoopbackNames === true ? ['--no-loopback-names'] : []),
  ];
  await promisify(execFile)('bash', args);
  return (name) => join(dir, name);
}

/** The PEM certificate and key NAME.crt / NAME.key of a make-test-ca.sh output dir. */
export async function readPair(dir: string, name: string): Promise<{ readonly cert: Buffer; readonly key: Buffer }> {
  return { cert: await readFile(join(dir, `${name}.crt`)), key: await readFile(join(dir, `${name}.key`)) };
}

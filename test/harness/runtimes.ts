// What tests of the podman and incus drivers need from the machine: the project's
// containers.conf, the local test images and the incus socket. `requirePodman()` and
// `requireIncus()` throw — never skip — when a runtime or its image is missing, so that CI
// really runs those tests. `sudo bash hack/setup-runtimes.sh` provides all of it.
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { repoRoot } from './bin.js';

/** Built by hack/build-test-images.sh from busybox-static; PATH=/bin. */
export const PODMAN_TEST_IMAGE = 'localhost/busybox:test';
/** Incus image alias built by hack/build-test-images.sh (a system container, init = busybox). */
export const INCUS_TEST_IMAGE = 'busybox-test';

/** A Job manifest running `command` in the test image of `driver` (kill timeout 3 s); `spec` adds or overrides fields. */
export function containerJobManifest(name: string, driver: 'podman' | 'incus', command: readonly string[], spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'openscheduler.io/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default' },
    spec: { driver, image: driver === 'podman' ? PODMAN_TEST_IMAGE : INCUS_TEST_IMAGE, command: [...command], killTimeoutSeconds: 3, ...spec },
  };
}

const SETUP_HINT = 'run `sudo bash hack/setup-runtimes.sh`';
const CHECK_TIMEOUT_MS = 30_000;

/** Absolute path of the project's containers.conf; podman must run with CONTAINERS_CONF set to it. */
export function containersConf(): string {
  return join(repoRoot, 'config', 'podman', 'containers.conf');
}

/** The incus daemon's socket, resolved as the incus client does: $INCUS_SOCKET, else $INCUS_DIR/unix.socket, else /var/lib/incus/unix.socket. */
export function incusSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.INCUS_SOCKET) return env.INCUS_SOCKET;
  return join(env.INCUS_DIR || '/var/lib/incus', 'unix.socket');
}

/** Resolves when podman runs with the project's containers.conf (runtime runc) and has PODMAN_TEST_IMAGE. */
export async function requirePodman(): Promise<void> {
  const unusable = (why: string) => new Error(`podman is not usable here: ${why}; ${SETUP_HINT}`);
  const env = { ...process.env, CONTAINERS_CONF: containersConf() };
  const info = await run('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'], env);
  if (info.error) throw unusable(`\`podman info\` failed: ${info.error}`);
  if (info.stdout.trim() !== 'runc') throw unusable(`its OCI runtime is "${info.stdout.trim()}", not runc (CONTAINERS_CONF=${containersConf()})`);
  const image = await run('podman', ['image', 'exists', PODMAN_TEST_IMAGE], env);
  if (image.exitCode === 1) throw unusable(`the image ${PODMAN_TEST_IMAGE} does not exist`);
  if (image.error) throw unusable(`\`podman image exists\` failed: ${image.error}`);
}

/** Resolves when incusd answers on `incusSocketPath()`, has a storage pool and the INCUS_TEST_IMAGE alias. */
export async function requireIncus(socketPath: string = incusSocketPath()): Promise<void> {
  const unusable = (why: string) => new Error(`incus is not usable here: ${why}; ${SETUP_HINT}`);
  let pools: IncusResponse;
  try {
    pools = await incusGet(socketPath, '/1.0/storage-pools');
  } catch (err) {
    throw unusable(`no incus daemon answers on ${socketPath} (${(err as Error).message})`);
  }
  if (pools.status !== 200) throw unusable(`GET /1.0/storage-pools answered ${pools.status}: ${pools.error}`);
  if (!Array.isArray(pools.metadata) || pools.metadata.length === 0) throw unusable('incus has no storage pool');
  const alias = await incusGet(socketPath, `/1.0/images/aliases/${INCUS_TEST_IMAGE}`);
  if (alias.status === 404) throw unusable(`the image alias ${INCUS_TEST_IMAGE} does not exist`);
  if (alias.status !== 200) throw unusable(`GET /1.0/images/aliases/${INCUS_TEST_IMAGE} answered ${alias.status}: ${alias.error}`);
}

interface RunResult {
  stdout: string;
  /** Exit code; -1 when the program could not be run or was killed. */
  exitCode: number;
  /** Why it did not succeed (absent on exit code 0). */
  error?: string;
}

/** Runs `file` without a shell; never rejects. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: CHECK_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout, exitCode: 0 });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return resolve({ stdout, exitCode: -1, error: `\`${file}\` is not on PATH` });
      const exitCode = typeof code === 'number' ? code : -1;
      const detail = stderr.trim() || err.message;
      resolve({ stdout, exitCode, error: `exit ${exitCode}${err.killed ? ' (killed: timeout)' : ''}: ${detail}` });
    });
  });
}

interface IncusResponse {
  status: number;
  metadata: unknown;
  error: string;
}

/** GET `path` from the incus REST API on a unix socket; rejects only when the request itself fails. */
function incusGet(socketPath: string, path: string): Promise<IncusResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', host: 'incus', timeout: CHECK_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          const body = JSON.parse(text) as { metadata?: unknown; error?: string };
          resolve({ status: res.statusCode ?? 0, metadata: body.metadata, error: body.error ?? '' });
        } catch {
          resolve({ status: res.statusCode ?? 0, metadata: undefined, error: text.slice(0, 200) });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

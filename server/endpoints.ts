// <dataDir>/endpoints.json: written by the daemon once it serves (and, for `dev`, once its config
// files are written), removed when it stops. Scripts and the test harness wait for it.
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSecretFile } from '../apiserver/secret-file.js';

export const ENDPOINTS_FILE = 'endpoints.json';

export interface Endpoints {
  /** The daemon's process id (a stale file from a killed process names another pid). */
  readonly pid: number;
  readonly httpUrl: string;
  readonly httpsUrl: string;
  /** CA certificate that signed the HTTPS certificate (absent with a user-provided certificate). */
  readonly caPath?: string;
  readonly adminPasswordPath: string;
  /** host:port of the agent gRPC endpoint. */
  readonly grpcAddress?: string;
  /** Whether the agent endpoint uses TLS (trust caPath). */
  readonly grpcTls?: boolean;
  /** The join token file agents may register with (mode 0600). */
  readonly joinTokenPath?: string;
  /** Written by `dev` only. */
  readonly kubeconfigPath?: string;
  readonly osctlConfigPath?: string;
}

export function endpointsPath(dataDir: string): string {
  return join(dataDir, ENDPOINTS_FILE);
}

/** Writes the file atomically (mode 0644: it holds no secret). */
export async function writeEndpoints(dataDir: string, endpoints: Endpoints): Promise<void> {
  await writeSecretFile(endpointsPath(dataDir), JSON.stringify(endpoints, null, 2) + '\n', 0o644);
}

/** The endpoints file, or undefined when absent or not (yet) valid JSON. */
export async function readEndpoints(dataDir: string): Promise<Endpoints | undefined> {
  let text: string;
  try {
    text = await readFile(endpointsPath(dataDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const doc = JSON.parse(text) as Partial<Endpoints>;
    return typeof doc.pid === 'number' && typeof doc.httpUrl === 'string' ? (doc as Endpoints) : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the file if it belongs to process `pid`. */
export async function removeEndpoints(dataDir: string, pid: number): Promise<void> {
  const current = await readEndpoints(dataDir);
  if (current?.pid === pid) await unlink(endpointsPath(dataDir)).catch(() => undefined);
}

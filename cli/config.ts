// The osctl configuration file: where osctl finds its server and credentials.
// Path: $OSCTL_CONFIG, else ~/.config/openscheduler/config.yaml. Written with mode 0600.
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';

export interface OsctlConfig {
  /** Base URL of the API server, e.g. http://127.0.0.1:8080 or https://host:8443. */
  server: string;
  /** Bearer token (a JWT from login). */
  token?: string;
  /** PEM of the CA that signed the server's certificate (https only). */
  certificateAuthorityData?: string;
  /** Skip TLS verification (never the default). */
  insecureSkipTlsVerify?: boolean;
  /** Default namespace for namespaced commands. */
  namespace?: string;
}

/** The config path for an environment (pass process.env from the composition root). */
export function osctlConfigPath(env: Readonly<Record<string, string | undefined>>, homeDir: string): string {
  return env.OSCTL_CONFIG || join(homeDir, '.config', 'openscheduler', 'config.yaml');
}

/** Reads the config; undefined when the file does not exist. Throws with the path on malformed content. */
export async function readOsctlConfig(path: string): Promise<OsctlConfig | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const doc: unknown = parse(text, { maxAliasCount: 10 });
  if (typeof doc !== 'object' || doc === null || typeof (doc as OsctlConfig).server !== 'string') {
    throw new Error(`${path}: not an osctl config (need a string "server")`);
  }
  return doc as OsctlConfig;
}

/** Writes the config with mode 0600 (creating the directory with 0700). */
export async function writeOsctlConfig(path: string, config: OsctlConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, stringify(config), { mode: 0o600 });
  await chmod(path, 0o600);
}

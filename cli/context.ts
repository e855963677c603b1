// What every osctl command gets: its I/O, the interrupt signal, the clock, the global flags,
// and a session (an API client plus the namespace) built from the config file and flags.
import { readFile } from 'node:fs/promises';
import { ApiClient } from './client.js';
import { type OsctlConfig, readOsctlConfig } from './config.js';
import { CliError } from './errors.js';
import type { TextSink } from './printers.js';

/** The process around osctl, supplied by the composition root (cmd/osctl.ts) or by tests. */
export interface OsctlDeps {
  /** The config path from the environment ($OSCTL_CONFIG or the default); `--config` overrides it. */
  readonly configPath: string;
  readonly stdout: TextSink;
  /** stdout for raw bytes (`osctl logs`); without it, bytes are written to `stdout` as UTF-8 text. */
  readonly stdoutBytes?: { write(data: Uint8Array): void };
  readonly stderr: TextSink;
  readonly stdin: StdinAccess;
  /** Aborted on SIGINT/SIGTERM: long-running commands (get -w, wait) stop and return. */
  readonly signal: AbortSignal;
  /** Wall clock in ms since the epoch (for ages). */
  readonly now: () => number;
}

export interface StdinAccess {
  readonly isTTY: boolean;
  /** The whole of stdin (read once). */
  readAll(): Promise<string>;
  /** Prompts on the terminal and reads a line without echo. */
  readPassword(prompt: string): Promise<string>;
}

/** Flags every command accepts. */
export interface GlobalOptions {
  server?: string;
  token?: string;
  config?: string;
  namespace?: string;
  insecureSkipTlsVerify?: boolean;
  certificateAuthority?: string;
  requestTimeout?: string;
}

export interface Session {
  readonly client: ApiClient;
  /** The namespace for namespaced commands: -n, else the config's, else `default`. */
  readonly namespace: string;
  /** Whether -n was given (apply then refuses manifests of another namespace). */
  readonly explicitNamespace: boolean;
}

/** The config file path for these flags. */
export function configPathOf(deps: OsctlDeps, globals: GlobalOptions): string {
  return globals.config || deps.configPath;
}

/** Reads a PEM CA bundle named by a flag; throws naming the flag and the file. */
export async function readCaFile(path: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(`--certificate-authority: cannot read "${path}": ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new CliError(`--certificate-authority: "${path}" is not a PEM certificate (no BEGIN CERTIFICATE block)`);
  }
  return pem;
}

/**
 * Builds the session for a command. The config's token is used only for the config's own
 * server: with `--server` naming another server, only `--token` is sent.
 */
export async function openSession(
  deps: OsctlDeps,
  globals: GlobalOptions,
  timeoutMs: number | undefined,
): Promise<Session> {
  const path = configPathOf(deps, globals);
  let config: OsctlConfig | undefined;
  try {
    config = await readOsctlConfig(path);
  } catch (err) {
    throw new CliError(`cannot read the osctl config ${path}: ${(err as Error).message}`);
  }
  const server = globals.server || config?.server;
  if (!server) {
    throw new CliError(`no server configured: ${path} does not exist; run "osctl login --server URL", set $OSCTL_CONFIG, or pass --server`);
  }
  const sameServer = config !== undefined && sameOrigin(server, config.server);
  const token = globals.token || (sameServer ? config?.token : undefined);
  const ca = globals.certificateAuthority ? await readCaFile(globals.certificateAuthority) : config?.certificateAuthorityData;
  const insecure = globals.insecureSkipTlsVerify || (sameServer && config?.insecureSkipTlsVerify === true);
  let client: ApiClient;
  try {
    client = new ApiClient({ server, token, ca, insecureSkipTlsVerify: insecure, timeoutMs });
  } catch (err) {
    throw new CliError(`--server: ${(err as Error).message}`);
  }
  const namespace = globals.namespace || config?.namespace || 'default';
  return { client, namespace, explicitNamespace: Boolean(globals.namespace) };
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/** What the runner gives each command's action. */
export interface CommandEnv {
  readonly deps: OsctlDeps;
  /** The global flags of this invocation. */
  globals(): GlobalOptions;
  /** The session for this invocation (opened once, closed by the runner). */
  session(): Promise<Session>;
  /** Sets the process exit code (the highest code set wins; errors thrown exit 1). */
  setExitCode(code: number): void;
}

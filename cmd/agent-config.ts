// Settings of `openscheduler agent`: flags > environment > defaults, decided here (pure), so
// that the composition root only reads files and builds objects.
//
//   --server H:P[,H:P..]   OPENSCHEDULER_AGENT_SERVER     the control plane's agent endpoint(s) (required)
//   --token T              OPENSCHEDULER_AGENT_TOKEN      per-node token or the join token
//   --token-file F         OPENSCHEDULER_AGENT_TOKEN_FILE (not needed once <data-dir>/node-token exists)
//   --name N               OPENSCHEDULER_AGENT_NAME       default: the host name, as a DNS-1123 label
//   --labels k=v,..        OPENSCHEDULER_AGENT_LABELS
//   --data-dir DIR         OPENSCHEDULER_AGENT_DATA_DIR   default /var/lib/openscheduler-agent
//   --shutdown-mode M      OPENSCHEDULER_AGENT_SHUTDOWN_MODE  stop (default) | detach
//   --tls                  GRPC_TLS_ENABLED=true          TLS to the server (implied by --ca-file)
//   --ca-file F            GRPC_TLS_CA_FILE               CA to trust (the server's <data-dir>/tls/ca.crt)
//   --cert-file F          GRPC_TLS_CERT_FILE             client certificate (mTLS)
//   --key-file F           GRPC_TLS_KEY_FILE
//   --tls-server-name N    GRPC_TLS_SERVER_NAME           name to verify the server certificate against
//   --log-level L, --log-format json|text
//   --drivers LIST         OPENSCHEDULER_AGENT_DRIVERS    process,podman,incus (default: all; one whose runtime
//                                                         is missing fingerprints unhealthy and is not advertised)
//   --volume-roots DIRS    OPENSCHEDULER_AGENT_VOLUME_ROOTS  absolute host dirs jobs may mount from (default none)
//   --podman-path P        OPENSCHEDULER_AGENT_PODMAN_PATH   default: podman from PATH
//   --containers-conf F    CONTAINERS_CONF                default: <package>/config/podman/containers.conf
//   --podman-networks LIST OPENSCHEDULER_AGENT_PODMAN_NETWORKS named networks jobs may join (default none)
//   --incus-socket F       OPENSCHEDULER_AGENT_INCUS_SOCKET   default: the driver's own search
//   --incus-project NAME   OPENSCHEDULER_AGENT_INCUS_PROJECT  default: the driver's (Incus' default project)
//   --incus-storage-pool NAME  OPENSCHEDULER_AGENT_INCUS_STORAGE_POOL  default: the pool of the default profile's root disk
//   --orphan-sweep-interval DUR OPENSCHEDULER_AGENT_ORPHAN_SWEEP_INTERVAL  30s: tasks marked as ours that no
//                                                         attempt owns are removed within this period
// Plain (non-TLS) gRPC is allowed only to loopback servers: a token must not cross a network in clear.
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { isLoopback, LOG_LEVELS, type LogFormat, type LogLevel } from '../server/config.js';
import { parseDuration } from '../util/duration.js';

/** The task drivers an agent can run. */
export const AGENT_DRIVERS = ['process', 'podman', 'incus'] as const;
export type AgentDriverName = (typeof AGENT_DRIVERS)[number];

/** Which task drivers the agent runs and how they reach their runtimes. */
export interface AgentDriverSettings {
  /** In the order given; unique. */
  readonly drivers: readonly AgentDriverName[];
  /** Absolute, normalised host dirs that jobs' volumes must lie under (podman, incus). Empty: no volumes. */
  readonly volumeRoots: readonly string[];
  readonly podman: {
    readonly path?: string;
    readonly containersConf?: string;
    /** Named networks jobs may join. Empty: none (tasks get no network). */
    readonly networks: readonly string[];
  };
  readonly incus: { readonly socketPath?: string; readonly project?: string; readonly storagePool?: string };
  readonly orphanSweepIntervalMs: number;
}

/** The containers.conf the project ships, relative to the package root. */
export const SHIPPED_CONTAINERS_CONF = join('config', 'podman', 'containers.conf');
export const DEFAULT_ORPHAN_SWEEP_INTERVAL_MS = 30_000;
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const INCUS_PROJECT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export interface AgentConfig extends AgentDriverSettings {
  readonly servers: string[];
  readonly token?: string;
  readonly tokenFile?: string;
  readonly nodeName: string;
  readonly labels: Record<string, string>;
  readonly dataDir: string;
  readonly shutdownMode: 'stop' | 'detach';
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string; readonly serverName?: string };
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
}

export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
}

export const DEFAULT_AGENT_DATA_DIR = '/var/lib/openscheduler-agent';
const ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** The host name as a node name: lower case, invalid characters replaced, at most 63 chars. */
export function defaultNodeName(host = hostname()): string {
  const name = host
    .toLowerCase()
    .split('.')[0]!
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return name === '' ? 'node' : name;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',').filter((p) => p.trim() !== '')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new AgentConfigError(`labels: "${pair}" is not key=value`);
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (!LABEL_KEY.test(key)) throw new AgentConfigError(`labels: "${key}" is not a valid label key`);
    if (!LABEL_VALUE.test(value)) throw new AgentConfigError(`labels: value "${value}" of ${key} is not a valid label value`);
    labels[key] = value;
  }
  return labels;
}

/** Comma-separated values, trimmed, empties dropped. */
function list(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

type Picker = (flag: string, envName: string) => string | undefined;

function picker(flags: Readonly<Record<string, unknown>>, env: Readonly<Record<string, string | undefined>>): Picker {
  return (flag, envName) => {
    const value = flags[flag];
    if (typeof value === 'string' && value !== '') return value;
    const fromEnv = env[envName];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
}

function unique(values: readonly string[], flag: string): void {
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(v)) throw new AgentConfigError(`${flag}: "${v}" is given twice`);
    seen.add(v);
  }
}

/**
 * The driver settings of an agent (flags > environment > defaults); `dev`'s local agent uses
 * them with no flags. `packageRoot` (the dir holding the package.json) locates the shipped
 * containers.conf; without it and without CONTAINERS_CONF, podman's own search applies.
 */
export function resolveAgentDriverSettings(
  flags: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  packageRoot?: string,
): AgentDriverSettings {
  const pick = picker(flags, env);
  const driversText = pick('drivers', 'OPENSCHEDULER_AGENT_DRIVERS');
  const drivers = driversText === undefined ? [...AGENT_DRIVERS] : list(driversText);
  if (drivers.length === 0) throw new AgentConfigError(`drivers: must name at least one of ${AGENT_DRIVERS.join(', ')}`);
  for (const d of drivers) {
    if (!(AGENT_DRIVERS as readonly string[]).includes(d)) throw new AgentConfigError(`drivers: "${d}" is not a driver (one of ${AGENT_DRIVERS.join(', ')})`);
  }
  unique(drivers, 'drivers');

  const volumeRoots = list(pick('volumeRoots', 'OPENSCHEDULER_AGENT_VOLUME_ROOTS')).map((dir) => {
    if (!isAbsolute(dir)) throw new AgentConfigError(`volume-roots: "${dir}" must be an absolute path`);
    if (dir.includes('\0') || dir.includes(':') || dir.split('/').includes('..')) throw new AgentConfigError(`volume-roots: "${dir}" must not contain "..", ":" or NUL`);
    return resolve(dir); // normalised: no trailing "/", no "." or "//"
  });
  unique(volumeRoots, 'volume-roots');

  const podmanPathText = pick('podmanPath', 'OPENSCHEDULER_AGENT_PODMAN_PATH');
  // A bare name is looked up in PATH (as a shell would); anything with a "/" is a path.
  const podmanPath = podmanPathText === undefined || !podmanPathText.includes('/') ? podmanPathText : resolve(cwd, podmanPathText);
  const containersConfText = pick('containersConf', 'CONTAINERS_CONF');
  const containersConf =
    containersConfText !== undefined ? resolve(cwd, containersConfText) : packageRoot !== undefined ? join(packageRoot, SHIPPED_CONTAINERS_CONF) : undefined;
  const networks = list(pick('podmanNetworks', 'OPENSCHEDULER_AGENT_PODMAN_NETWORKS'));
  for (const n of networks) {
    if (!NETWORK_NAME.test(n)) throw new AgentConfigError(`podman-networks: "${n}" is not a network name (letters, digits, "_", ".", "-"; starting with a letter or digit)`);
  }
  unique(networks, 'podman-networks');

  const socketText = pick('incusSocket', 'OPENSCHEDULER_AGENT_INCUS_SOCKET');
  const project = pick('incusProject', 'OPENSCHEDULER_AGENT_INCUS_PROJECT');
  if (project !== undefined && !INCUS_PROJECT.test(project)) {
    throw new AgentConfigError(`incus-project: "${project}" is not a project name (letters, digits, "_", ".", "-"; at most 63 characters)`);
  }

  const storagePool = pick('incusStoragePool', 'OPENSCHEDULER_AGENT_INCUS_STORAGE_POOL');
  if (storagePool !== undefined && !INCUS_PROJECT.test(storagePool)) {
    throw new AgentConfigError(`incus-storage-pool: "${storagePool}" is not a pool name (letters, digits, "_", ".", "-"; at most 63 characters)`);
  }

  const sweepText = pick('orphanSweepInterval', 'OPENSCHEDULER_AGENT_ORPHAN_SWEEP_INTERVAL');
  let orphanSweepIntervalMs = DEFAULT_ORPHAN_SWEEP_INTERVAL_MS;
  if (sweepText !== undefined) {
    try {
      orphanSweepIntervalMs = parseDuration(sweepText, 'orphan-sweep-interval');
    } catch {
      throw new AgentConfigError(`orphan-sweep-interval: must be a duration such as 30s or 2m (got "${sweepText}")`);
    }
    if (orphanSweepIntervalMs < 1000) throw new AgentConfigError(`orphan-sweep-interval: must be at least 1s (got "${sweepText}")`);
  }

  return {
    drivers: drivers as AgentDriverName[],
    volumeRoots,
    podman: {
      ...(podmanPath !== undefined ? { path: podmanPath } : {}),
      ...(containersConf !== undefined ? { containersConf } : {}),
      networks,
    },
    incus: {
      ...(socketText !== undefined ? { socketPath: resolve(cwd, socketText) } : {}),
      ...(project !== undefined ? { project } : {}),
      ...(storagePool !== undefined ? { storagePool } : {}),
    },
    orphanSweepIntervalMs,
  };
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value);
}

/**
 * Resolves the agent's settings; throws AgentConfigError naming the flag and the rule.
 * `packageRoot`: see resolveAgentDriverSettings.
 */
export function resolveAgentConfig(
  flags: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  packageRoot?: string,
): AgentConfig {
  const pick = picker(flags, env);
  const serverText = pick('server', 'OPENSCHEDULER_AGENT_SERVER');
  if (serverText === undefined) throw new AgentConfigError('server: required (--server HOST:PORT of the control plane agent endpoint)');
  const servers = serverText.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const address of servers) {
    const match = ADDRESS.exec(address);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) throw new AgentConfigError(`server: "${address}" is not HOST:PORT`);
  }
  const nodeName = pick('name', 'OPENSCHEDULER_AGENT_NAME') ?? defaultNodeName();
  if (nodeName.length > 63 || !DNS1123_LABEL.test(nodeName)) {
    throw new AgentConfigError(`name: "${nodeName}" must be a DNS-1123 label (lower case letters, digits and '-', at most 63 characters)`);
  }
  const shutdownMode = pick('shutdownMode', 'OPENSCHEDULER_AGENT_SHUTDOWN_MODE') ?? 'stop';
  if (shutdownMode !== 'stop' && shutdownMode !== 'detach') throw new AgentConfigError(`shutdown-mode: must be stop or detach (got "${shutdownMode}")`);
  const logLevel = (pick('logLevel', 'OPENSCHEDULER_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new AgentConfigError(`log-level: must be one of ${LOG_LEVELS.join(', ')}`);
  const logFormat = (pick('logFormat', 'OPENSCHEDULER_LOG_FORMAT') ?? 'json') as LogFormat;
  if (logFormat !== 'json' && logFormat !== 'text') throw new AgentConfigError('log-format: must be json or text');

  const path = (value: string | undefined): string | undefined => (value === undefined ? undefined : resolve(cwd, value));
  const caFile = path(pick('caFile', 'GRPC_TLS_CA_FILE'));
  const certFile = path(pick('certFile', 'GRPC_TLS_CERT_FILE'));
  const keyFile = path(pick('keyFile', 'GRPC_TLS_KEY_FILE'));
  const serverName = pick('tlsServerName', 'GRPC_TLS_SERVER_NAME');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new AgentConfigError('cert-file and key-file must be given together');
  const tlsOn = flags.tls === true || isTrue(env.GRPC_TLS_ENABLED) || caFile !== undefined || certFile !== undefined;
  if (!tlsOn) {
    const remote = servers.find((s) => !isLoopback(s.slice(0, s.lastIndexOf(':'))));
    if (remote !== undefined) {
      throw new AgentConfigError(`server: ${remote} is not a loopback address; connect with TLS (--ca-file of the server's CA, or --tls to trust the system CAs)`);
    }
  }
  const token = pick('token', 'OPENSCHEDULER_AGENT_TOKEN');
  const tokenFile = path(pick('tokenFile', 'OPENSCHEDULER_AGENT_TOKEN_FILE'));
  if (token !== undefined && tokenFile !== undefined) throw new AgentConfigError('token and token-file exclude each other');
  const driverSettings = resolveAgentDriverSettings(flags, env, cwd, packageRoot);
  return {
    servers,
    ...(token !== undefined ? { token } : {}),
    ...(tokenFile !== undefined ? { tokenFile } : {}),
    nodeName,
    labels: parseLabels(pick('labels', 'OPENSCHEDULER_AGENT_LABELS') ?? ''),
    dataDir: resolve(cwd, pick('dataDir', 'OPENSCHEDULER_AGENT_DATA_DIR') ?? DEFAULT_AGENT_DATA_DIR),
    shutdownMode,
    ...(tlsOn
      ? {
          tls: {
            ...(caFile !== undefined ? { caFile } : {}),
            ...(certFile !== undefined ? { certFile } : {}),
            ...(keyFile !== undefined ? { keyFile } : {}),
            ...(serverName !== undefined ? { serverName } : {}),
          },
        }
      : {}),
    logLevel,
    logFormat,
    ...driverSettings,
  };
}

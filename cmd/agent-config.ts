// Settings of `openscheduler agent`: flags > environment > config file (--config FILE or
// OPENSCHEDULER_AGENT_CONFIG, YAML or JSON) > defaults, decided here (pure), so that the
// composition root only reads files and builds objects. Every setting (config key, flag,
// environment variable, default, meaning) is declared once in AGENT_SETTINGS; the README's
// "Configuration" section is generated from it (npm run codegen:config-docs).
// Plain (non-TLS) gRPC is allowed only to loopback servers: a token must not cross a network in clear.
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { isAbsolute, join, resolve } from 'node:path';
import { isLoopback, LOG_FORMAT_TYPE, LOG_LEVEL_TYPE, type LogFormat, type LogLevel } from '../server/config.js';
import {
  BOOLEAN,
  commandType,
  ConfigError,
  durationType,
  enumType,
  listType,
  mapType,
  pathType,
  SettingsTable,
  stringType,
  type EffectiveSettings,
  type SettingSpec,
} from '../util/settings.js';

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
/** A dead server or connection is noticed within keepalive time + timeout (15 s by default). */
export const DEFAULT_KEEPALIVE_TIME_MS = 10_000;
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 5_000;
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
  /** gRPC keepalive: a ping after this long without traffic; the connection is dead without an answer within keepaliveTimeoutMs. */
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly tls?: {
    readonly caFile?: string;
    readonly certFile?: string;
    readonly keyFile?: string;
    readonly serverName?: string;
    /** Do not verify the server's certificate chain or name (the caller warns loudly). */
    readonly insecureSkipVerify?: boolean;
  };
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** The metrics and health listener; absent: off (--metrics-address off). */
  readonly metrics?: AgentMetricsListener;
}

export interface AgentMetricsListener {
  /** An IP address (IPv6 without brackets) or localhost. */
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** File holding the bearer token /metrics requires; always set off loopback. */
  readonly tokenFile?: string;
}

export const DEFAULT_AGENT_METRICS_ADDRESS = '127.0.0.1:9464';
const METRICS_ADDRESS = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/;

export class AgentConfigError extends ConfigError {
  override readonly name: string = 'AgentConfigError';
}

export const DEFAULT_AGENT_DATA_DIR = '/var/lib/openscheduler-agent';
/** Names the agent's config file when --config is not given. */
export const ENV_AGENT_CONFIG = 'OPENSCHEDULER_AGENT_CONFIG';
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

function labelRule(key: string, value: string): string | undefined {
  if (!LABEL_KEY.test(key)) return `"${key}" is not a valid label key`;
  if (!LABEL_VALUE.test(value)) return `value "${value}" of ${key} is not a valid label value`;
  return undefined;
}

/** The settings a user can give, by config-file key; the optional ones have no default value. */
export interface AgentSettings {
  server?: string[];
  token?: string;
  tokenFile?: string;
  tls: boolean;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  tlsServerName?: string;
  tlsInsecureSkipVerify: boolean;
  /** Milliseconds. */
  keepaliveTime: number;
  /** Milliseconds. */
  keepaliveTimeout: number;
  name: string;
  labels: Record<string, string>;
  dataDir: string;
  shutdownMode: 'stop' | 'detach';
  /** Milliseconds. */
  orphanSweepInterval: number;
  metricsAddress: string;
  metricsTokenFile?: string;
  drivers: string[];
  volumeRoots: string[];
  podmanPath?: string;
  containersConf?: string;
  podmanNetworks: string[];
  incusSocket?: string;
  incusProject?: string;
  incusStoragePool?: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

/** What computed defaults depend on. */
interface AgentContext {
  /** The dir holding the package.json: locates the shipped containers.conf. */
  readonly packageRoot?: string;
}

const PATH = pathType();
const CONTROL_PLANE = 'Control plane:';
const NODE = 'Node:';
const METRICS = 'Metrics and health:';
const DRIVERS = 'Task drivers:';
const LOGGING = 'Logging:';

/**
 * Every setting of `openscheduler agent`: config-file key (camelCase), flag (--kebab-case),
 * environment variable, type, default and meaning (`group`: the --help heading of it and the
 * settings after it). The README's configuration section is generated from this table.
 */
export const AGENT_SETTINGS: readonly SettingSpec<AgentContext>[] = [
  { key: 'server', flag: 'server', env: 'OPENSCHEDULER_AGENT_SERVER', type: listType({ arg: 'HOST:PORT,...' }), group: CONTROL_PLANE, defaultText: 'required', description: 'agent endpoint(s) of the control plane' },
  { key: 'token', flag: 'token', env: 'OPENSCHEDULER_AGENT_TOKEN', type: stringType({ arg: 'TOKEN' }), secret: true, description: 'per-node token or the join token (excludes tokenFile)' },
  { key: 'tokenFile', flag: 'token-file', env: 'OPENSCHEDULER_AGENT_TOKEN_FILE', type: PATH, description: 'file holding the token; not needed once `<data-dir>/node-token` exists' },
  { key: 'tls', flag: 'tls', env: 'GRPC_TLS_ENABLED', type: BOOLEAN, computeDefault: (_c, s) => s.caFile !== undefined || s.certFile !== undefined || s.tlsInsecureSkipVerify === true, defaultText: 'on with caFile, certFile or tlsInsecureSkipVerify', description: 'TLS to the server (trusting the system CAs unless caFile)' },
  { key: 'caFile', flag: 'ca-file', env: 'GRPC_TLS_CA_FILE', type: PATH, description: "CA certificate to trust (the server's `<data-dir>/tls/ca.crt`)" },
  { key: 'certFile', flag: 'cert-file', env: 'GRPC_TLS_CERT_FILE', type: PATH, description: 'client certificate for mTLS; with keyFile' },
  { key: 'keyFile', flag: 'key-file', env: 'GRPC_TLS_KEY_FILE', type: PATH, description: 'private key of certFile' },
  { key: 'tlsServerName', flag: 'tls-server-name', env: 'GRPC_TLS_SERVER_NAME', type: stringType({ arg: 'NAME' }), description: 'name to verify the server certificate against' },
  { key: 'tlsInsecureSkipVerify', flag: 'tls-insecure-skip-verify', env: 'GRPC_TLS_INSECURE_SKIP_VERIFY', type: BOOLEAN, default: false, description: 'TLS without verifying the server: encrypted, not authenticated (warned at start; excludes caFile and tlsServerName)' },
  { key: 'keepaliveTime', flag: 'keepalive-time', env: 'OPENSCHEDULER_AGENT_KEEPALIVE_TIME', type: durationType('ms', 1000), default: DEFAULT_KEEPALIVE_TIME_MS, description: 'a keepalive ping goes to the server after this long without traffic' },
  { key: 'keepaliveTimeout', flag: 'keepalive-timeout', env: 'OPENSCHEDULER_AGENT_KEEPALIVE_TIMEOUT', type: durationType('ms', 1000), default: DEFAULT_KEEPALIVE_TIMEOUT_MS, description: 'a ping unanswered this long marks the connection dead: the agent reconnects, to the next server if several are given' },
  { key: 'name', flag: 'name', env: 'OPENSCHEDULER_AGENT_NAME', type: stringType({ arg: 'NODE' }), group: NODE, computeDefault: () => defaultNodeName(), defaultText: 'the host name, as a DNS-1123 label', description: 'node name' },
  { key: 'labels', flag: 'labels', env: 'OPENSCHEDULER_AGENT_LABELS', type: mapType(labelRule), default: {}, description: 'node labels (a map in the config file)' },
  { key: 'dataDir', flag: 'data-dir', env: 'OPENSCHEDULER_AGENT_DATA_DIR', type: pathType('DIR'), default: DEFAULT_AGENT_DATA_DIR, description: 'agent state; keep it across restarts' },
  { key: 'shutdownMode', flag: 'shutdown-mode', env: 'OPENSCHEDULER_AGENT_SHUTDOWN_MODE', type: enumType(['stop', 'detach']), default: 'stop', description: 'on SIGTERM: stop the tasks, or detach (leave them running for re-adoption)' },
  { key: 'orphanSweepInterval', flag: 'orphan-sweep-interval', env: 'OPENSCHEDULER_AGENT_ORPHAN_SWEEP_INTERVAL', type: durationType('ms', 1000), default: DEFAULT_ORPHAN_SWEEP_INTERVAL_MS, description: 'tasks marked as ours that no attempt owns are removed within this period' },
  { key: 'metricsAddress', flag: 'metrics-address', env: 'OPENSCHEDULER_AGENT_METRICS_ADDRESS', type: stringType({ arg: 'HOST:PORT' }), group: METRICS, default: DEFAULT_AGENT_METRICS_ADDRESS, description: '/metrics, /healthz, /readyz over HTTP; `off` disables the listener' },
  { key: 'metricsTokenFile', flag: 'metrics-token-file', env: 'OPENSCHEDULER_AGENT_METRICS_TOKEN_FILE', type: PATH, description: 'bearer token /metrics requires (health stays open); required off loopback' },
  { key: 'drivers', flag: 'drivers', env: 'OPENSCHEDULER_AGENT_DRIVERS', type: listType({ arg: 'LIST' }), group: DRIVERS, default: [...AGENT_DRIVERS], description: 'task drivers offered; one whose runtime is missing fingerprints unhealthy and is not advertised' },
  { key: 'volumeRoots', flag: 'volume-roots', env: 'OPENSCHEDULER_AGENT_VOLUME_ROOTS', type: listType({ arg: 'DIRS' }), default: [], description: 'absolute host dirs job volumes may come from (none: no volumes)' },
  { key: 'podmanPath', flag: 'podman-path', env: 'OPENSCHEDULER_AGENT_PODMAN_PATH', type: commandType(), defaultText: '`podman` from PATH', description: 'podman binary (a bare name is looked up in PATH)' },
  { key: 'containersConf', flag: 'containers-conf', env: 'CONTAINERS_CONF', type: PATH, computeDefault: ({ packageRoot }) => (packageRoot === undefined ? undefined : join(packageRoot, SHIPPED_CONTAINERS_CONF)), defaultText: "the package's `config/podman/containers.conf`", description: "podman's containers.conf" },
  { key: 'podmanNetworks', flag: 'podman-networks', env: 'OPENSCHEDULER_AGENT_PODMAN_NETWORKS', type: listType({ arg: 'LIST' }), default: [], description: 'podman networks jobs may join (none: tasks get no network)' },
  { key: 'incusSocket', flag: 'incus-socket', env: 'OPENSCHEDULER_AGENT_INCUS_SOCKET', type: PATH, defaultText: '`$INCUS_SOCKET`, else the usual places', description: 'Incus unix socket' },
  { key: 'incusProject', flag: 'incus-project', env: 'OPENSCHEDULER_AGENT_INCUS_PROJECT', type: stringType({ arg: 'NAME' }), defaultText: "Incus' `default`", description: 'Incus project of the instances' },
  { key: 'incusStoragePool', flag: 'incus-storage-pool', env: 'OPENSCHEDULER_AGENT_INCUS_STORAGE_POOL', type: stringType({ arg: 'NAME' }), defaultText: "the default profile's root disk pool", description: "Incus storage pool of the instances' root disks" },
  { key: 'logLevel', flag: 'log-level', env: 'OPENSCHEDULER_LOG_LEVEL', type: LOG_LEVEL_TYPE, group: LOGGING, default: 'info', description: 'least severe level logged' },
  { key: 'logFormat', flag: 'log-format', env: 'OPENSCHEDULER_LOG_FORMAT', type: LOG_FORMAT_TYPE, default: 'json', description: 'log format (logs go to stderr)' },
];

/** The settings table of `openscheduler agent`; messages name a setting by its flag name (e.g. `shutdown-mode`). */
export const AGENT_SETTINGS_TABLE = new SettingsTable<AgentSettings, AgentContext>(AGENT_SETTINGS, {
  naming: 'flag',
  error: (message) => new AgentConfigError(message),
});

/** Parses and validates an agent config file (YAML or JSON); unknown keys and bad values are errors naming the key. */
export function parseAgentConfigFile(text: string, path: string): Partial<AgentSettings> {
  return AGENT_SETTINGS_TABLE.parseFile(text, path);
}

function unique(values: readonly string[], label: string): void {
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(v)) throw new AgentConfigError(`${label}: "${v}" is given twice`);
    seen.add(v);
  }
}

/** The driver settings out of merged agent settings. */
function driverSettings(settings: EffectiveSettings<AgentSettings>): AgentDriverSettings {
  const s = settings.values;
  const label = settings.label;
  const drivers = s.drivers;
  if (drivers.length === 0) throw new AgentConfigError(`${label('drivers')}: must name at least one of ${AGENT_DRIVERS.join(', ')}`);
  for (const d of drivers) {
    if (!(AGENT_DRIVERS as readonly string[]).includes(d)) throw new AgentConfigError(`${label('drivers')}: "${d}" is not a driver (one of ${AGENT_DRIVERS.join(', ')})`);
  }
  unique(drivers, label('drivers'));

  const volumeRoots = s.volumeRoots.map((dir) => {
    if (!isAbsolute(dir)) throw new AgentConfigError(`${label('volumeRoots')}: "${dir}" must be an absolute path`);
    if (dir.includes('\0') || dir.includes(':') || dir.split('/').includes('..')) throw new AgentConfigError(`${label('volumeRoots')}: "${dir}" must not contain "..", ":" or NUL`);
    return resolve(dir); // normalised: no trailing "/", no "." or "//"
  });
  unique(volumeRoots, label('volumeRoots'));

  const networks = s.podmanNetworks;
  for (const n of networks) {
    if (!NETWORK_NAME.test(n)) throw new AgentConfigError(`${label('podmanNetworks')}: "${n}" is not a network name (letters, digits, "_", ".", "-"; starting with a letter or digit)`);
  }
  unique(networks, label('podmanNetworks'));

  const project = s.incusProject;
  if (project !== undefined && !INCUS_PROJECT.test(project)) {
    throw new AgentConfigError(`${label('incusProject')}: "${project}" is not a project name (letters, digits, "_", ".", "-"; at most 63 characters)`);
  }
  const storagePool = s.incusStoragePool;
  if (storagePool !== undefined && !INCUS_PROJECT.test(storagePool)) {
    throw new AgentConfigError(`${label('incusStoragePool')}: "${storagePool}" is not a pool name (letters, digits, "_", ".", "-"; at most 63 characters)`);
  }

  return {
    drivers: drivers as AgentDriverName[],
    volumeRoots,
    podman: {
      ...(s.podmanPath !== undefined ? { path: s.podmanPath } : {}),
      ...(s.containersConf !== undefined ? { containersConf: s.containersConf } : {}),
      networks,
    },
    incus: {
      ...(s.incusSocket !== undefined ? { socketPath: s.incusSocket } : {}),
      ...(project !== undefined ? { project } : {}),
      ...(storagePool !== undefined ? { storagePool } : {}),
    },
    orphanSweepIntervalMs: s.orphanSweepInterval,
  };
}

/** The metrics listener out of merged agent settings: metricsAddress ("off": none) and metricsTokenFile. */
function metricsListener(settings: EffectiveSettings<AgentSettings>): AgentMetricsListener | undefined {
  const { metricsAddress: text, metricsTokenFile: tokenFile } = settings.values;
  const label = settings.label;
  if (text === 'off') {
    if (tokenFile !== undefined) throw new AgentConfigError(`${label('metricsTokenFile')}: given while --metrics-address is off`);
    return undefined;
  }
  const match = METRICS_ADDRESS.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || host === undefined || (host !== 'localhost' && isIP(host) === 0) || (match[1] !== undefined && isIP(host) !== 6) || port > 65535) {
    throw new AgentConfigError(`${label('metricsAddress')}: must be IP:PORT, an IPv6 address in brackets (e.g. 127.0.0.1:9464, [::1]:9464, 0.0.0.0:9464), or off (got "${text}")`);
  }
  if (tokenFile === undefined && !isLoopback(host)) {
    throw new AgentConfigError(`${label('metricsAddress')}: ${text} is not a loopback address; give --metrics-token-file (a bearer token /metrics then requires)`);
  }
  return { host, port, ...(tokenFile !== undefined ? { tokenFile } : {}) };
}

export interface AgentResolveInput {
  readonly flags?: Partial<AgentSettings>;
  readonly env?: Partial<AgentSettings>;
  readonly file?: Partial<AgentSettings>;
  /** The config file `file` came from: relative paths in it resolve against its directory. */
  readonly configFile?: string;
  /** Relative paths from flags and environment resolve against this. */
  readonly cwd: string;
  /** The dir holding the package.json, for the shipped containers.conf; without it and CONTAINERS_CONF, podman's own search applies. */
  readonly packageRoot?: string;
}

export interface ResolvedAgentConfig {
  readonly agent: AgentConfig;
  /** The effective settings and where each came from (`openscheduler config print agent`). */
  readonly settings: EffectiveSettings<AgentSettings>;
}

/** Merges the sources (flags > environment > file > defaults) and checks the combination; throws AgentConfigError naming the setting and the rule. */
export function resolveAgent(input: AgentResolveInput): ResolvedAgentConfig {
  const settings = AGENT_SETTINGS_TABLE.merge({
    flags: input.flags,
    env: input.env,
    file: input.file,
    configFile: input.configFile,
    cwd: input.cwd,
    context: { packageRoot: input.packageRoot },
  });
  const s = settings.values;
  const label = settings.label;
  if (s.server === undefined) throw new AgentConfigError(`${label('server')}: required (--server HOST:PORT of the control plane agent endpoint)`);
  const servers = s.server;
  for (const address of servers) {
    const match = ADDRESS.exec(address);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) throw new AgentConfigError(`${label('server')}: "${address}" is not HOST:PORT`);
  }
  const nodeName = s.name;
  if (nodeName.length > 63 || !DNS1123_LABEL.test(nodeName)) {
    throw new AgentConfigError(`${label('name')}: "${nodeName}" must be a DNS-1123 label (lower case letters, digits and '-', at most 63 characters)`);
  }

  const { caFile, certFile, keyFile, tlsServerName: serverName } = s;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new AgentConfigError('cert-file and key-file must be given together');
  const insecureSkipVerify = s.tlsInsecureSkipVerify;
  if (insecureSkipVerify && (caFile !== undefined || serverName !== undefined)) {
    throw new AgentConfigError(
      `${label('tlsInsecureSkipVerify')}: excludes ${caFile !== undefined ? 'ca-file' : 'tls-server-name'}, which asks for the server to be verified; drop GRPC_TLS_INSECURE_SKIP_VERIFY/--tls-insecure-skip-verify`,
    );
  }
  // an explicit `tls: false` does not turn off what the certificate settings ask for
  const tlsOn = s.tls || caFile !== undefined || certFile !== undefined || insecureSkipVerify;
  if (!tlsOn) {
    const remote = servers.find((address) => !isLoopback(address.slice(0, address.lastIndexOf(':'))));
    if (remote !== undefined) {
      throw new AgentConfigError(`${label('server')}: ${remote} is not a loopback address; connect with TLS (--ca-file of the server's CA, or --tls to trust the system CAs)`);
    }
  }
  const { token, tokenFile } = s;
  if (token !== undefined && tokenFile !== undefined) throw new AgentConfigError('token and token-file exclude each other');
  const metrics = metricsListener(settings);
  const agent: AgentConfig = {
    servers,
    ...(token !== undefined ? { token } : {}),
    ...(tokenFile !== undefined ? { tokenFile } : {}),
    nodeName,
    labels: s.labels,
    dataDir: s.dataDir,
    shutdownMode: s.shutdownMode,
    keepaliveTimeMs: s.keepaliveTime,
    keepaliveTimeoutMs: s.keepaliveTimeout,
    ...(tlsOn
      ? {
          tls: {
            ...(caFile !== undefined ? { caFile } : {}),
            ...(certFile !== undefined ? { certFile } : {}),
            ...(keyFile !== undefined ? { keyFile } : {}),
            ...(serverName !== undefined ? { serverName } : {}),
            ...(insecureSkipVerify ? { insecureSkipVerify } : {}),
          },
        }
      : {}),
    logLevel: s.logLevel,
    logFormat: s.logFormat,
    ...(metrics !== undefined ? { metrics } : {}),
    ...driverSettings(settings),
  };
  return { agent, settings };
}

/** resolveAgent from commander's flags and the environment (no config file). */
export function resolveAgentConfig(
  flags: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  packageRoot?: string,
): AgentConfig {
  return resolveAgent({ flags: AGENT_SETTINGS_TABLE.fromFlags(flags), env: AGENT_SETTINGS_TABLE.fromEnv(env), cwd, packageRoot }).agent;
}

function mergeFlagsAndEnv(
  flags: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  packageRoot?: string,
): EffectiveSettings<AgentSettings> {
  return AGENT_SETTINGS_TABLE.merge({ flags: AGENT_SETTINGS_TABLE.fromFlags(flags), env: AGENT_SETTINGS_TABLE.fromEnv(env), cwd, context: { packageRoot } });
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
  return driverSettings(mergeFlagsAndEnv(flags, env, cwd, packageRoot));
}

/** --metrics-address (default DEFAULT_AGENT_METRICS_ADDRESS, "off": undefined) and --metrics-token-file. */
export function resolveAgentMetricsListener(
  flags: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): AgentMetricsListener | undefined {
  return metricsListener(mergeFlagsAndEnv(flags, env, cwd));
}

/** The effective agent configuration as `openscheduler config print agent` shows it (secrets masked). */
export function printAgentConfig(resolved: ResolvedAgentConfig, format: 'yaml' | 'json'): string {
  return AGENT_SETTINGS_TABLE.print(resolved.settings, format, { title: 'openscheduler agent: effective configuration (flags > environment > config file > defaults)' });
}

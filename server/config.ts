// The daemon's settings from flags, environment and config file, merged with the precedence
// flags > environment > config file > defaults, and compiled into fully defaulted ServerOptions.
// Pure: the composition root passes in the environment, the parsed flags and the file text.
// Every setting is one line of SETTINGS; parsing, validation, merging (relative paths from the file
// resolve against its directory), `config print` and the README's tables come from the shared
// machinery in util/settings.ts.
import { join, resolve } from 'node:path';
import { isIP } from 'node:net';
import {
  BOOLEAN,
  ConfigError,
  durationType,
  enumType,
  integerType,
  listType,
  pathType,
  PORT,
  SettingsTable,
  stringType,
  type EffectiveSettings,
  type SettingSpec,
  type SettingType,
} from '../util/settings.js';
import { checkAllowedOrigins } from '../apiserver/cors.js';
import { DEFAULT_TOKEN_TTL_SECONDS, JWT_SECRET_FILE, JWT_SECRET_KEY, MIN_JWT_SECRET_BYTES } from '../apiserver/auth.js';
import { AUDIT_DIR, AUDIT_FILE, DEFAULT_AUDIT_MAX_BYTES, DEFAULT_AUDIT_MAX_FILES } from '../apiserver/audit-log.js';
import { formatMemoryBytes, parseMemoryBytes } from '../api/quantity.js';
import type { StoreSpec } from '../store/index.js';
import { DEFAULT_STORE_HISTORY_MS, DEFAULT_STORE_TIMEOUT_MS } from '../store/store.js';
import { DEFAULT_EVENT_TTL_SECONDS } from '../controllers/runtime/event-recorder.js';
import { DEFAULT_LEADER_LEASE_TTL_SECONDS } from '../controllers/runtime/leader-election.js';

export type Mode = 'server' | 'dev';
export const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'json' | 'text';

export type { StoreSpec };

/** Everything startServer needs, every field decided. */
export interface ServerOptions {
  readonly mode: Mode;
  readonly dataDir: string;
  /** Plain HTTP port (0: any free port). */
  readonly httpPort: number;
  readonly httpsPort: number;
  /** Port of the agent gRPC endpoint (0: any free port). */
  readonly grpcPort: number;
  /** Address of the HTTPS and gRPC listeners. */
  readonly bindAddress: string;
  /** Address of the plain HTTP listener; loopback unless insecureHttp. */
  readonly httpBindAddress: string;
  readonly insecureHttp: boolean;
  readonly store: StoreSpec;
  /** TLS and authentication to etcd (store etcd only); the files are read at start-up. */
  readonly etcdClient?: EtcdClientConfig;
  readonly storeTimeoutMs: number;
  /** The store's history window: revisions this recent stay readable (watches resume from them). */
  readonly storeHistorySeconds: number;
  /** From JWT_SECRET; absent: <dataDir>/jwt-secret. */
  readonly jwtSecret?: string;
  readonly tokenTtlSeconds: number;
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  /** Extra names/IPs for the generated serving certificate. */
  readonly tlsSans: readonly string[];
  /** Whether the agent endpoint uses TLS; default: unless bindAddress is loopback. */
  readonly grpcTls: boolean;
  /** The agent endpoint's certificate and key (PEM); absent: the HTTPS serving certificate. Set only with grpcTls. */
  readonly grpcTlsCertFile?: string;
  readonly grpcTlsKeyFile?: string;
  /** CA of agents' client certificates: when set (only with grpcTls), mTLS is required. */
  readonly grpcClientCaFile?: string;
  /** From ALLOWED_ORIGINS; kept for the CORS work. */
  readonly allowedOrigins: readonly string[];
  /** bcrypt cost for user passwords (>= 10). */
  readonly bcryptCost: number;
  /** Lease TTL of a node: an agent that has not heartbeated for this long stops its tasks. */
  readonly nodeLeaseTtlSeconds: number;
  /** How long after its lease expired a node is declared lost and its jobs re-queued. */
  readonly nodeGracePeriodMs: number;
  /** Job logs older than this (since their last write) are deleted. */
  readonly logRetentionSeconds: number;
  /** Events are deleted this long after their last update (the event recorders' lease TTL). */
  readonly eventTtlSeconds: number;
  /** TTL of the controllers' leader lease on etcd: a dead leader is replaced within it. */
  readonly leaderLeaseTtlSeconds: number;
  /** The audit log (file, rotation size, rotated files kept); absent: auditing is off. */
  readonly auditLog?: { readonly path: string; readonly maxBytes: number; readonly maxFiles: number };
}

/** How the server connects to etcd securely, as configured (paths; the files are read at start-up). */
export interface EtcdClientConfig {
  /** Present: TLS to etcd (a CA, a client certificate or https:// endpoints); no caFile: the system's CAs. */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
  /** etcd's user/password auth: the password from OPENSCHEDULER_ETCD_PASSWORD or a file. */
  readonly auth?: { readonly username: string } & ({ readonly password: string } | { readonly passwordFile: string });
}

export interface ResolvedConfig {
  readonly server: ServerOptions;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** The config file that was read, if any. */
  readonly configFile?: string;
  /** The effective settings and where each came from (`openscheduler config print`). */
  readonly settings: EffectiveSettings<Settings>;
}

export { ConfigError };

/** The settings a user can give, by config-file key; the optional ones have no default value. */
export interface Settings {
  dataDir: string;
  httpPort: number;
  httpsPort: number;
  grpcPort: number;
  bindAddress: string;
  httpBindAddress: string;
  insecureHttp: boolean;
  store: string;
  etcdEndpoints: string[];
  etcdPrefix: string;
  etcdCaFile?: string;
  etcdCertFile?: string;
  etcdKeyFile?: string;
  etcdUsername?: string;
  etcdPasswordFile?: string;
  /** OPENSCHEDULER_ETCD_PASSWORD (environment only). */
  etcdPassword?: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  tlsSans: string[];
  grpcTlsEnabled?: boolean;
  grpcTlsCertFile?: string;
  grpcTlsKeyFile?: string;
  grpcClientCaFile?: string;
  tokenTtlSeconds: number;
  storeTimeoutMs: number;
  storeHistorySeconds: number;
  bcryptCost: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  allowedOrigins: string[];
  nodeLeaseTtlSeconds: number;
  nodeGracePeriodMs: number;
  logRetentionSeconds: number;
  eventTtlSeconds: number;
  leaderLeaseTtlSeconds: number;
  auditLogPath: string;
  auditLogMaxSize: number;
  auditLogMaxFiles: number;
  /** JWT_SECRET (environment only). */
  jwtSecret?: string;
}

/** What computed defaults depend on. */
interface ServerContext {
  readonly mode: Mode;
}

/** The shortest Event TTL: an Event must outlive the `describe` that follows a failure. */
export const MIN_EVENT_TTL_SECONDS = 60;
/** The leader renews every third of its lease TTL: below 2 s one slow store call costs the term. */
export const MIN_LEADER_LEASE_TTL_SECONDS = 2;
/** The shortest store history: a watch a few seconds behind (a slow client, a restart) must still resume. */
export const MIN_STORE_HISTORY_SECONDS = 10;

/** Default data directories: dev keeps its state next to the checkout; the server in /var/lib. */
export const DEFAULT_DATA_DIR: Readonly<Record<Mode, string>> = { dev: '.openscheduler', server: '/var/lib/openscheduler' };

export const LOG_LEVEL_TYPE = enumType(LOG_LEVELS);
export const LOG_FORMAT_TYPE = enumType(['json', 'text']);
const PATH = pathType();
/** `sqlite` (in the data dir), `sqlite:PATH` (a relative PATH resolves like any path) or `etcd`. */
const STORE_TYPE: SettingType = {
  ...stringType({ arg: 'sqlite[:PATH]|etcd' }),
  resolvePaths: (value, base) => {
    const text = value as string;
    return text.startsWith('sqlite:') && text !== 'sqlite:' ? `sqlite:${resolve(base, text.slice('sqlite:'.length))}` : text;
  },
};

/** The audit log file, or `off`. */
const AUDIT_LOG_PATH_TYPE: SettingType = { ...stringType({ arg: 'FILE|off' }), resolvePaths: (value, base) => (value === 'off' ? value : resolve(base, value as string)) };
/** A size in bytes: a number or a quantity such as 100Mi. */
const BYTE_SIZE_TYPE: SettingType = (() => {
  const parse = (value: string | number): number => {
    const bytes = parseMemoryBytes(value);
    if (bytes === undefined || bytes < 1 || !Number.isSafeInteger(bytes)) throw new Error('must be a size in bytes such as 104857600 or 100Mi');
    return bytes;
  };
  return { schema: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'integer', minimum: 1 }] }, fileRule: 'must be a size in bytes such as "100Mi" or 104857600', parseText: parse, fromFile: (v) => parse(v as string | number), format: (v) => formatMemoryBytes(v as number), arg: 'SIZE' };
})();

/**
 * Every setting of `openscheduler server|dev`: config-file key (camelCase), flag (--kebab-case),
 * environment variable, type, default and meaning. The README's configuration section is
 * generated from this table (hack/gen-config-docs.ts).
 */
export const SETTINGS: readonly SettingSpec<ServerContext>[] = [
  { key: 'dataDir', flag: 'data-dir', env: 'OPENSCHEDULER_DATA_DIR', type: pathType('DIR'), computeDefault: ({ mode }) => DEFAULT_DATA_DIR[mode], defaultText: 'dev `.openscheduler`, server `/var/lib/openscheduler`', description: 'state: SQLite store, TLS material, secrets, job logs' },
  { key: 'httpPort', flag: 'http-port', env: 'OPENSCHEDULER_HTTP_PORT', type: PORT, default: 8080, description: 'plain HTTP port of the API and dashboard (0: any free port)' },
  { key: 'httpsPort', flag: 'https-port', env: 'OPENSCHEDULER_HTTPS_PORT', type: PORT, default: 8443, description: 'HTTPS port of the same API' },
  { key: 'grpcPort', flag: 'grpc-port', env: 'OPENSCHEDULER_GRPC_PORT', type: PORT, default: 50051, description: 'port of the agent endpoint (gRPC)' },
  { key: 'bindAddress', flag: 'bind-address', env: 'OPENSCHEDULER_BIND_ADDRESS', type: stringType({ arg: 'IP' }), computeDefault: ({ mode }) => (mode === 'dev' ? '127.0.0.1' : '0.0.0.0'), defaultText: 'dev `127.0.0.1`, server `0.0.0.0`', description: 'address of the HTTPS and gRPC listeners' },
  { key: 'httpBindAddress', flag: 'http-bind-address', env: 'OPENSCHEDULER_HTTP_BIND_ADDRESS', type: stringType({ arg: 'IP' }), default: '127.0.0.1', description: 'address of the plain HTTP listener (loopback only, unless insecureHttp)' },
  { key: 'insecureHttp', flag: 'insecure-http', env: 'OPENSCHEDULER_INSECURE_HTTP', type: BOOLEAN, default: false, description: 'allow plain HTTP off loopback' },
  { key: 'store', flag: 'store', env: 'OPENSCHEDULER_STORE', type: STORE_TYPE, computeDefault: (_c, s) => ((s.etcdEndpoints as string[] | undefined)?.length ? 'etcd' : 'sqlite'), defaultText: '`sqlite` (`<data-dir>/state.db`); `etcd` when etcdEndpoints are given', description: '`sqlite` (in the data dir), `sqlite:PATH` or `etcd`' },
  { key: 'etcdEndpoints', flag: 'etcd-endpoints', env: 'OPENSCHEDULER_ETCD_ENDPOINTS', type: listType({ arg: 'H:P,...' }), default: [], description: 'etcd v3 endpoints, `host:port` or `https://host:port` (imply store etcd)' },
  { key: 'etcdPrefix', flag: 'etcd-prefix', env: 'OPENSCHEDULER_ETCD_PREFIX', type: stringType({ arg: 'P', allowEmpty: true }), default: '/openscheduler', description: 'key prefix of all state in etcd' },
  { key: 'etcdCaFile', flag: 'etcd-ca-file', env: 'OPENSCHEDULER_ETCD_CA_FILE', type: PATH, description: "TLS to etcd: CA (PEM) of etcd's serving certificate (TLS is also on with etcdCertFile or `https://` endpoints, then verified with the system's CAs)" },
  { key: 'etcdCertFile', flag: 'etcd-cert-file', env: 'OPENSCHEDULER_ETCD_CERT_FILE', type: PATH, description: "client certificate (PEM) for etcd's `--client-cert-auth`; with etcdKeyFile; turns on TLS to etcd" },
  { key: 'etcdKeyFile', flag: 'etcd-key-file', env: 'OPENSCHEDULER_ETCD_KEY_FILE', type: PATH, description: 'private key (PEM) of etcdCertFile' },
  { key: 'etcdUsername', flag: 'etcd-username', env: 'OPENSCHEDULER_ETCD_USERNAME', type: stringType({ arg: 'USER' }), description: "etcd user (etcd's `auth enable`); its password from etcdPasswordFile or OPENSCHEDULER_ETCD_PASSWORD" },
  { key: 'etcdPasswordFile', flag: 'etcd-password-file', env: 'OPENSCHEDULER_ETCD_PASSWORD_FILE', type: PATH, description: 'file holding the password of etcdUsername (read at start-up; a trailing newline is ignored)' },
  { key: 'etcdPassword', env: 'OPENSCHEDULER_ETCD_PASSWORD', type: stringType(), envOnly: true, secret: true, description: 'password of etcdUsername (never a flag or config key: passwords do not belong on command lines)' },
  { key: 'tlsCertFile', flag: 'tls-cert-file', env: 'OPENSCHEDULER_TLS_CERT_FILE', type: PATH, defaultText: 'own CA and certificate under `<data-dir>/tls`', description: 'serving certificate (PEM); with tlsPrivateKeyFile' },
  { key: 'tlsPrivateKeyFile', flag: 'tls-private-key-file', env: 'OPENSCHEDULER_TLS_PRIVATE_KEY_FILE', type: PATH, description: 'private key (PEM) of tlsCertFile' },
  { key: 'tlsSans', flag: 'tls-san', env: 'OPENSCHEDULER_TLS_SANS', type: listType({ arg: 'NAME,...' }), default: [], description: 'extra DNS names and IPs for the generated certificate' },
  { key: 'grpcTlsEnabled', flag: 'grpc-tls', env: 'GRPC_SERVER_TLS_ENABLED', type: BOOLEAN, defaultText: 'on unless bindAddress is loopback', description: 'TLS on the agent endpoint (may be forced on for loopback, never off elsewhere)' },
  { key: 'grpcTlsCertFile', flag: 'grpc-tls-cert-file', env: 'GRPC_SERVER_TLS_CERT_FILE', type: PATH, defaultText: 'the HTTPS serving certificate', description: 'certificate (PEM) of the agent endpoint; with grpcTlsKeyFile' },
  { key: 'grpcTlsKeyFile', flag: 'grpc-tls-key-file', env: 'GRPC_SERVER_TLS_KEY_FILE', type: PATH, description: 'private key (PEM) of grpcTlsCertFile' },
  { key: 'grpcClientCaFile', flag: 'grpc-client-ca-file', env: 'GRPC_SERVER_TLS_CA_FILE', type: PATH, description: 'mTLS: agents need a client certificate signed by this CA naming their node (CN or DNS SAN)' },
  { key: 'tokenTtlSeconds', flag: 'token-ttl', env: 'OPENSCHEDULER_TOKEN_TTL', type: durationType('s'), default: DEFAULT_TOKEN_TTL_SECONDS, description: 'lifetime of login tokens' },
  { key: 'storeTimeoutMs', flag: 'store-timeout', env: 'OPENSCHEDULER_STORE_TIMEOUT', type: durationType('ms'), default: DEFAULT_STORE_TIMEOUT_MS, description: 'timeout of every store call' },
  { key: 'storeHistorySeconds', flag: 'store-history', env: 'OPENSCHEDULER_STORE_HISTORY', type: durationType('s', MIN_STORE_HISTORY_SECONDS * 1000), default: DEFAULT_STORE_HISTORY_MS / 1000, description: 'revision history kept so that watches and paged lists can resume (older ones get 410 and relist; at least 10s): SQLite compacts to the revision of this long ago (keeping at least the newest 10,000) and its file shrinks accordingly; on etcd the server compacts every this long, to the revision of the previous time' },
  { key: 'bcryptCost', flag: 'bcrypt-cost', env: 'OPENSCHEDULER_BCRYPT_COST', type: integerType(10, 31), default: 12, description: 'bcrypt cost of user passwords (10 to 31)' },
  { key: 'logLevel', flag: 'log-level', env: 'OPENSCHEDULER_LOG_LEVEL', type: LOG_LEVEL_TYPE, default: 'info', description: 'least severe level logged' },
  { key: 'logFormat', flag: 'log-format', env: 'OPENSCHEDULER_LOG_FORMAT', type: LOG_FORMAT_TYPE, computeDefault: ({ mode }) => (mode === 'dev' ? 'text' : 'json'), defaultText: 'dev `text`, server `json`', description: 'log format (logs go to stderr)' },
  { key: 'allowedOrigins', flag: 'allowed-origins', env: 'ALLOWED_ORIGINS', type: listType({ arg: 'ORIGIN,...' }), default: [], description: 'exact origins (`https://host[:port]`) a browser may call the API from (CORS): answered with that origin and credentials, never `*`; `*`, `null` and paths are refused' },
  { key: 'nodeLeaseTtlSeconds', flag: 'node-lease-ttl', env: 'OPENSCHEDULER_NODE_LEASE_TTL', type: durationType('s'), default: 30, description: 'an agent that has not heartbeated for this long stops its tasks (it heartbeats every third of it)' },
  { key: 'nodeGracePeriodMs', flag: 'node-grace-period', env: 'OPENSCHEDULER_NODE_GRACE_PERIOD', type: durationType('ms'), default: 40_000, description: 'after a lease expired, how long until the node is lost and its jobs re-queued (`NodeLost`)' },
  { key: 'logRetentionSeconds', flag: 'log-retention', env: 'OPENSCHEDULER_LOG_RETENTION', type: durationType('s'), default: 7 * 24 * 3600, description: 'job logs (`<data-dir>/logs`, 10 MiB per attempt) are deleted this long after their last write' },
  { key: 'eventTtlSeconds', flag: 'event-ttl', env: 'OPENSCHEDULER_EVENT_TTL', type: durationType('s', MIN_EVENT_TTL_SECONDS * 1000), default: DEFAULT_EVENT_TTL_SECONDS, description: 'Events are deleted this long after their last update (as kube-apiserver `--event-ttl`; at least 1m)' },
  { key: 'leaderLeaseTtlSeconds', flag: 'leader-lease-ttl', env: 'OPENSCHEDULER_LEADER_LEASE_TTL', type: durationType('s', MIN_LEADER_LEASE_TTL_SECONDS * 1000), default: DEFAULT_LEADER_LEASE_TTL_SECONDS, description: 'on etcd: the controllers\' leader lease (renewed every third of it); when the leader dies another server takes over within it (at least 2s)' },
  { key: 'auditLogPath', flag: 'audit-log-path', env: 'OPENSCHEDULER_AUDIT_LOG_PATH', type: AUDIT_LOG_PATH_TYPE, computeDefault: (_c, s) => resolve(s.dataDir as string, AUDIT_DIR, AUDIT_FILE), defaultText: '`<data-dir>/audit/audit.log`', description: 'audit log file (one JSON line per mutating request, login and 401/403), or `off`' },
  { key: 'auditLogMaxSize', flag: 'audit-log-max-size', env: 'OPENSCHEDULER_AUDIT_LOG_MAX_SIZE', type: BYTE_SIZE_TYPE, default: DEFAULT_AUDIT_MAX_BYTES, description: 'the audit log is rotated before it would pass this size (bytes, or e.g. 100Mi)' },
  { key: 'auditLogMaxFiles', flag: 'audit-log-max-files', env: 'OPENSCHEDULER_AUDIT_LOG_MAX_FILES', type: integerType(1, 1000), default: DEFAULT_AUDIT_MAX_FILES, description: 'rotated audit log files kept (audit.log.1 ... .N); the oldest is deleted' },
  { key: 'jwtSecret', env: 'JWT_SECRET', type: stringType(), envOnly: true, secret: true, defaultText: 'generated once into `<data-dir>/jwt-secret` (0600), or shared through etcd', description: 'signs login tokens; at least 32 bytes (`openssl rand -base64 48`); the same on every server of one etcd' },
];

/** The settings table of `openscheduler server|dev` (parsing, merging, printing, docs). */
export const SERVER_SETTINGS = new SettingsTable<Settings, ServerContext>(SETTINGS);

/** Names of the environment variables read besides those in SETTINGS. */
export const ENV_JWT_SECRET = 'JWT_SECRET';
export const ENV_CONFIG = 'OPENSCHEDULER_CONFIG';

/** Parses and validates a config file (YAML or JSON); unknown keys and bad values are errors naming the key. */
export function parseConfigFile(text: string, path: string): Partial<Settings> {
  return SERVER_SETTINGS.parseFile(text, path);
}

/** Settings from the environment variables of SETTINGS (empty variables are ignored). */
export function settingsFromEnv(env: Readonly<Record<string, string | undefined>>): Partial<Settings> {
  return SERVER_SETTINGS.fromEnv(env);
}

/** Settings from parsed flags, keyed by the camelCase of the flag name as commander gives them. */
export function settingsFromFlags(flags: Readonly<Record<string, unknown>>): Partial<Settings> {
  return SERVER_SETTINGS.fromFlags(flags);
}

export function isLoopback(address: string): boolean {
  const a = address.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (a === 'localhost' || a === '::1') return true;
  if (isIP(a) === 4) return a.startsWith('127.');
  if (a.startsWith('::ffff:')) return isLoopback(a.slice('::ffff:'.length));
  return false;
}

function checkAddress(address: string, key: string): void {
  if (address !== 'localhost' && isIP(address) === 0) {
    throw new ConfigError(`${key}: must be an IP address (e.g. 127.0.0.1, 0.0.0.0, ::) (got "${address}")`);
  }
}

const ENDPOINT_PATTERN = /^(https?:\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

export interface ResolveInput {
  readonly mode: Mode;
  readonly flags?: Partial<Settings>;
  readonly env?: Partial<Settings>;
  readonly file?: Partial<Settings>;
  readonly configFile?: string;
  /** JWT_SECRET, if set. */
  readonly jwtSecret?: string;
  /** Relative paths (data dir, sqlite path, TLS files) from flags and environment are resolved against this; those from the file against its directory. */
  readonly cwd: string;
}

/**
 * Whether the agent endpoint uses TLS: default unless bound to loopback; it may be forced on for
 * loopback, never off for another address (tokens must not cross a network in clear). The
 * certificate files and the client CA (mTLS) need TLS; the certificate and key go together.
 */
function resolveGrpcTls(s: Partial<Settings>, bindAddress: string): boolean {
  const loopback = isLoopback(bindAddress);
  const on = s.grpcTlsEnabled ?? !loopback;
  if (!on && !loopback) {
    throw new ConfigError(`grpc-tls: plain gRPC is for loopback only, refusing it on ${bindAddress} (GRPC_SERVER_TLS_ENABLED=false); agents' tokens must not cross a network in clear`);
  }
  if ((s.grpcTlsCertFile === undefined) !== (s.grpcTlsKeyFile === undefined)) {
    throw new ConfigError('grpc-tls-cert-file and grpc-tls-key-file must be given together');
  }
  if (!on) {
    const why = s.grpcTlsEnabled === false ? 'TLS is turned off (grpc-tls: false)' : `it is bound to loopback (${bindAddress}), where TLS is off unless --grpc-tls is given`;
    if (s.grpcClientCaFile !== undefined) {
      throw new ConfigError(`grpc-client-ca-file: mTLS needs TLS on the agent endpoint, but ${why}; pass --grpc-tls (GRPC_SERVER_TLS_ENABLED=true)`);
    }
    if (s.grpcTlsCertFile !== undefined) {
      throw new ConfigError(`grpc-tls-cert-file: the agent endpoint does not use TLS: ${why}; pass --grpc-tls (GRPC_SERVER_TLS_ENABLED=true)`);
    }
  }
  return on;
}

const ETCD_CLIENT_KEYS = ['etcdCaFile', 'etcdCertFile', 'etcdKeyFile', 'etcdUsername', 'etcdPasswordFile', 'etcdPassword'] as const;

/**
 * TLS and auth to etcd: only with the etcd store. TLS is on with a CA, a client certificate or an
 * https:// endpoint, and then http:// endpoints are refused; the certificate and key go together;
 * a username needs exactly one password source, a password needs a username.
 */
function resolveEtcdClient(s: Settings, label: (key: keyof Settings & string) => string, etcd: boolean): EtcdClientConfig | undefined {
  const given = ETCD_CLIENT_KEYS.find((key) => s[key] !== undefined);
  if (!etcd) {
    if (given !== undefined) {
      throw new ConfigError(`${label(given)}: TLS and authentication to etcd need the etcd store (--etcd-endpoints host:port[,...]), but the store is ${s.store}`);
    }
    return undefined;
  }
  if ((s.etcdCertFile === undefined) !== (s.etcdKeyFile === undefined)) {
    throw new ConfigError(`${label(s.etcdCertFile !== undefined ? 'etcdCertFile' : 'etcdKeyFile')}: etcd-cert-file and etcd-key-file must be given together (the client certificate and its key)`);
  }
  const httpsEndpoint = s.etcdEndpoints.find((e) => /^https:\/\//i.test(e));
  const tlsOn = s.etcdCaFile !== undefined || s.etcdCertFile !== undefined || httpsEndpoint !== undefined;
  const plain = s.etcdEndpoints.find((e) => /^http:\/\//i.test(e));
  if (tlsOn && plain !== undefined) {
    const why = s.etcdCaFile !== undefined ? label('etcdCaFile') : s.etcdCertFile !== undefined ? label('etcdCertFile') : `the endpoint ${String(httpsEndpoint)}`;
    throw new ConfigError(`${label('etcdEndpoints')}: "${plain}" is plain HTTP, but TLS to etcd is on (${why}); write https://host:port or host:port`);
  }
  if (s.etcdPassword !== undefined && s.etcdPasswordFile !== undefined) {
    throw new ConfigError(`${label('etcdPasswordFile')} and ${label('etcdPassword')} exclude each other: give the etcd password one way`);
  }
  const password = s.etcdPassword !== undefined ? { password: s.etcdPassword } : s.etcdPasswordFile !== undefined ? { passwordFile: s.etcdPasswordFile } : undefined;
  if (s.etcdUsername !== undefined && password === undefined) {
    throw new ConfigError(`${label('etcdUsername')}: an etcd user needs its password: set OPENSCHEDULER_ETCD_PASSWORD or --etcd-password-file`);
  }
  if (s.etcdUsername === undefined && password !== undefined) {
    throw new ConfigError(`${label(s.etcdPassword !== undefined ? 'etcdPassword' : 'etcdPasswordFile')}: an etcd password needs --etcd-username`);
  }
  const tls = tlsOn
    ? { ...(s.etcdCaFile !== undefined ? { caFile: s.etcdCaFile } : {}), ...(s.etcdCertFile !== undefined ? { certFile: s.etcdCertFile, keyFile: s.etcdKeyFile } : {}) }
    : undefined;
  const auth = s.etcdUsername !== undefined && password !== undefined ? { username: s.etcdUsername, ...password } : undefined;
  if (tls === undefined && auth === undefined) return undefined;
  return { ...(tls !== undefined ? { tls } : {}), ...(auth !== undefined ? { auth } : {}) };
}

/** Merges the sources (flags > env > file > defaults) and checks the combination. Throws ConfigError. */
export function resolveConfig(input: ResolveInput): ResolvedConfig {
  const settings = SERVER_SETTINGS.merge({
    flags: input.flags,
    env: input.jwtSecret === undefined ? input.env : { ...input.env, jwtSecret: input.jwtSecret },
    file: input.file,
    configFile: input.configFile,
    cwd: input.cwd,
    context: { mode: input.mode },
  });
  const s = settings.values;
  const { dataDir, bindAddress, httpBindAddress, insecureHttp } = s;
  checkAddress(bindAddress, settings.label('bindAddress'));
  checkAddress(httpBindAddress, settings.label('httpBindAddress'));
  if (!insecureHttp && !isLoopback(httpBindAddress)) {
    throw new ConfigError(
      `${settings.label('httpBindAddress')}: plain HTTP is for loopback only, refusing ${httpBindAddress}; use HTTPS (--https-port) or pass --insecure-http`,
    );
  }

  let store: StoreSpec;
  const endpoints = s.etcdEndpoints;
  const storeText = s.store;
  if (storeText === 'etcd') {
    if (endpoints.length === 0) throw new ConfigError(`${settings.label('store')}: "etcd" needs --etcd-endpoints host:port[,...]`);
    for (const e of endpoints) {
      if (!ENDPOINT_PATTERN.test(e)) throw new ConfigError(`${settings.label('etcdEndpoints')}: "${e}" is not host:port`);
    }
    store = { type: 'etcd', endpoints, prefix: s.etcdPrefix };
  } else if (storeText === 'sqlite' || storeText.startsWith('sqlite:')) {
    if (endpoints.length > 0) throw new ConfigError(`${settings.label('store')}: --store sqlite and --etcd-endpoints exclude each other`);
    const path = storeText === 'sqlite' ? 'state.db' : storeText.slice('sqlite:'.length);
    if (path === '') throw new ConfigError(`${settings.label('store')}: "sqlite:" needs a path, e.g. sqlite:/var/lib/openscheduler/state.db`);
    // bare `sqlite` lives in the data dir; an explicit path was resolved with the other paths
    store = { type: 'sqlite', path: resolve(dataDir, path) };
  } else {
    throw new ConfigError(`${settings.label('store')}: must be sqlite, sqlite:PATH or etcd (got "${storeText}")`);
  }

  const jwtSecret = s.jwtSecret;
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret, 'utf8') < MIN_JWT_SECRET_BYTES) {
    throw new ConfigError(
      `${ENV_JWT_SECRET} must be at least ${MIN_JWT_SECRET_BYTES} bytes (got ${Buffer.byteLength(jwtSecret, 'utf8')}); generate one with: openssl rand -base64 48`,
    );
  }
  if ((s.tlsCertFile === undefined) !== (s.tlsPrivateKeyFile === undefined)) {
    throw new ConfigError('tls-cert-file and tls-private-key-file must be given together');
  }
  const grpcTls = resolveGrpcTls(s, bindAddress);
  const etcdClient = resolveEtcdClient(s, (key) => settings.label(key), store.type === 'etcd');
  let allowedOrigins: string[];
  try {
    allowedOrigins = checkAllowedOrigins(s.allowedOrigins);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const server: ServerOptions = {
    mode: input.mode,
    dataDir,
    httpPort: s.httpPort,
    httpsPort: s.httpsPort,
    grpcPort: s.grpcPort,
    bindAddress,
    httpBindAddress,
    insecureHttp,
    store,
    ...(etcdClient !== undefined ? { etcdClient } : {}),
    storeTimeoutMs: s.storeTimeoutMs,
    storeHistorySeconds: s.storeHistorySeconds,
    jwtSecret,
    tokenTtlSeconds: s.tokenTtlSeconds,
    tlsCertFile: s.tlsCertFile,
    tlsKeyFile: s.tlsPrivateKeyFile,
    tlsSans: s.tlsSans,
    grpcTls,
    ...(s.grpcTlsCertFile !== undefined ? { grpcTlsCertFile: s.grpcTlsCertFile } : {}),
    ...(s.grpcTlsKeyFile !== undefined ? { grpcTlsKeyFile: s.grpcTlsKeyFile } : {}),
    ...(s.grpcClientCaFile !== undefined ? { grpcClientCaFile: s.grpcClientCaFile } : {}),
    allowedOrigins,
    bcryptCost: s.bcryptCost,
    nodeLeaseTtlSeconds: s.nodeLeaseTtlSeconds,
    nodeGracePeriodMs: s.nodeGracePeriodMs,
    logRetentionSeconds: s.logRetentionSeconds,
    eventTtlSeconds: s.eventTtlSeconds,
    leaderLeaseTtlSeconds: s.leaderLeaseTtlSeconds,
    ...(s.auditLogPath === 'off' ? {} : { auditLog: { path: s.auditLogPath, maxBytes: s.auditLogMaxSize, maxFiles: s.auditLogMaxFiles } }),
  };
  return {
    server,
    logLevel: s.logLevel,
    logFormat: s.logFormat,
    configFile: input.configFile,
    settings,
  };
}

/**
 * The effective configuration as `openscheduler config print` shows it: every setting with its
 * value and source; secrets masked, and for JWT_SECRET how the secret is provided.
 */
export function printServerConfig(config: ResolvedConfig, format: 'yaml' | 'json'): string {
  const { server } = config;
  let jwtSecret: string;
  if (server.jwtSecret !== undefined) jwtSecret = 'set (from environment)';
  else if (server.store.type === 'etcd') jwtSecret = `generated once, shared through the store (${JWT_SECRET_KEY})`;
  else jwtSecret = `generated file ${join(server.dataDir, JWT_SECRET_FILE)}`;
  return SERVER_SETTINGS.print(config.settings, format, {
    title: `openscheduler ${server.mode}: effective configuration (flags > environment > config file > defaults)`,
    shown: { jwtSecret },
  });
}

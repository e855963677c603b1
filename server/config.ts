// The daemon's settings from flags, environment and config file, merged with the precedence
// flags > environment > config file > defaults, and compiled into fully defaulted ServerOptions.
// Pure: the composition root passes in the environment, the parsed flags and the file text.
import { resolve } from 'node:path';
import { isIP } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../util/duration.js';
import { checkAllowedOrigins } from '../apiserver/cors.js';
import { DEFAULT_TOKEN_TTL_SECONDS, MIN_JWT_SECRET_BYTES } from '../apiserver/auth.js';
import type { StoreSpec } from '../store/index.js';
import { DEFAULT_STORE_TIMEOUT_MS } from '../store/store.js';

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
  /** Address of the HTTPS and gRPC listeners. gRPC uses TLS (the serving certificate) unless this is loopback. */
  readonly bindAddress: string;
  /** Address of the plain HTTP listener; loopback unless insecureHttp. */
  readonly httpBindAddress: string;
  readonly insecureHttp: boolean;
  readonly store: StoreSpec;
  readonly storeTimeoutMs: number;
  /** From JWT_SECRET; absent: <dataDir>/jwt-secret. */
  readonly jwtSecret?: string;
  readonly tokenTtlSeconds: number;
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  /** Extra names/IPs for the generated serving certificate. */
  readonly tlsSans: readonly string[];
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
}

export interface ResolvedConfig {
  readonly server: ServerOptions;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** The config file that was read, if any. */
  readonly configFile?: string;
}

/** A setting with a bad value or an unknown key; the message names where it came from. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The settings a user can give, by config-file key. */
interface Settings {
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
  tlsCertFile: string;
  tlsPrivateKeyFile: string;
  tlsSans: string[];
  tokenTtlSeconds: number;
  storeTimeoutMs: number;
  bcryptCost: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  allowedOrigins: string[];
  nodeLeaseTtlSeconds: number;
  nodeGracePeriodMs: number;
  logRetentionSeconds: number;
}
type Key = keyof Settings;
type ValueKind = 'string' | 'port' | 'boolean' | 'list' | 'duration-s' | 'duration-ms' | 'cost' | 'level' | 'format';

interface SettingSpec {
  readonly key: Key;
  /** Long flag name without dashes. */
  readonly flag: string;
  readonly env: string;
  readonly kind: ValueKind;
  /** Whether the setting can be given in the config file (and the JSON schema for it). */
  readonly schema: Record<string, unknown>;
}

const PORT_SCHEMA = { type: 'integer', minimum: 0, maximum: 65535 };
const STRING_LIST_SCHEMA = { type: 'array', items: { type: 'string', minLength: 1 } };
const DURATION_SCHEMA = { anyOf: [{ type: 'string', minLength: 1 }, { type: 'number', exclusiveMinimum: 0 }] };

/** Every setting: flag (--kebab-case), environment variable and config-file key (camelCase). */
export const SETTINGS: readonly SettingSpec[] = [
  { key: 'dataDir', flag: 'data-dir', env: 'OPENSCHEDULER_DATA_DIR', kind: 'string', schema: { type: 'string', minLength: 1 } },
  { key: 'httpPort', flag: 'http-port', env: 'OPENSCHEDULER_HTTP_PORT', kind: 'port', schema: PORT_SCHEMA },
  { key: 'httpsPort', flag: 'https-port', env: 'OPENSCHEDULER_HTTPS_PORT', kind: 'port', schema: PORT_SCHEMA },
  { key: 'grpcPort', flag: 'grpc-port', env: 'OPENSCHEDULER_GRPC_PORT', kind: 'port', schema: PORT_SCHEMA },
  { key: 'bindAddress', flag: 'bind-address', env: 'OPENSCHEDULER_BIND_ADDRESS', kind: 'string', schema: { type: 'string', minLength: 1 } },
  { key: 'httpBindAddress', flag: 'http-bind-address', env: 'OPENSCHEDULER_HTTP_BIND_ADDRESS', kind: 'string', schema: { type: 'string', minLength: 1 } },
  { key: 'insecureHttp', flag: 'insecure-http', env: 'OPENSCHEDULER_INSECURE_HTTP', kind: 'boolean', schema: { type: 'boolean' } },
  { key: 'store', flag: 'store', env: 'OPENSCHEDULER_STORE', kind: 'string', schema: { type: 'string', minLength: 1 } },
  { key: 'etcdEndpoints', flag: 'etcd-endpoints', env: 'OPENSCHEDULER_ETCD_ENDPOINTS', kind: 'list', schema: STRING_LIST_SCHEMA },
  { key: 'etcdPrefix', flag: 'etcd-prefix', env: 'OPENSCHEDULER_ETCD_PREFIX', kind: 'string', schema: { type: 'string' } },
  { key: 'tlsCertFile', flag: 'tls-cert-file', env: 'OPENSCHEDULER_TLS_CERT_FILE', kind: 'string', schema: { type: 'string', minLength: 1 } },
  { key: 'tlsPrivateKeyFile', flag: 'tls-private-key-file', env: 'OPENSCHEDULER_TLS_PRIVATE_KEY_FILE', kind: 'string', schema: { type: 'string', minLength: 1 } },
  { key: 'tlsSans', flag: 'tls-san', env: 'OPENSCHEDULER_TLS_SANS', kind: 'list', schema: STRING_LIST_SCHEMA },
  { key: 'tokenTtlSeconds', flag: 'token-ttl', env: 'OPENSCHEDULER_TOKEN_TTL', kind: 'duration-s', schema: DURATION_SCHEMA },
  { key: 'storeTimeoutMs', flag: 'store-timeout', env: 'OPENSCHEDULER_STORE_TIMEOUT', kind: 'duration-ms', schema: DURATION_SCHEMA },
  { key: 'bcryptCost', flag: 'bcrypt-cost', env: 'OPENSCHEDULER_BCRYPT_COST', kind: 'cost', schema: { type: 'integer', minimum: 10, maximum: 31 } },
  { key: 'logLevel', flag: 'log-level', env: 'OPENSCHEDULER_LOG_LEVEL', kind: 'level', schema: { enum: [...LOG_LEVELS] } },
  { key: 'logFormat', flag: 'log-format', env: 'OPENSCHEDULER_LOG_FORMAT', kind: 'format', schema: { enum: ['json', 'text'] } },
  { key: 'allowedOrigins', flag: 'allowed-origins', env: 'ALLOWED_ORIGINS', kind: 'list', schema: STRING_LIST_SCHEMA },
  { key: 'nodeLeaseTtlSeconds', flag: 'node-lease-ttl', env: 'OPENSCHEDULER_NODE_LEASE_TTL', kind: 'duration-s', schema: DURATION_SCHEMA },
  { key: 'nodeGracePeriodMs', flag: 'node-grace-period', env: 'OPENSCHEDULER_NODE_GRACE_PERIOD', kind: 'duration-ms', schema: DURATION_SCHEMA },
  { key: 'logRetentionSeconds', flag: 'log-retention', env: 'OPENSCHEDULER_LOG_RETENTION', kind: 'duration-s', schema: DURATION_SCHEMA },
];

/** Names of the environment variables read besides the OPENSCHEDULER_* ones in SETTINGS. */
export const ENV_JWT_SECRET = 'JWT_SECRET';
export const ENV_CONFIG = 'OPENSCHEDULER_CONFIG';

const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(SETTINGS.map((s) => [s.key, s.schema])),
};

function parseText(spec: SettingSpec, text: string, where: string): unknown {
  const value = text.trim();
  const bad = (rule: string): never => {
    throw new ConfigError(`${where}: ${rule} (got "${text}")`);
  };
  switch (spec.kind) {
    case 'string':
      return text;
    case 'port': {
      if (!/^\d+$/.test(value) || Number(value) > 65535) bad('must be a port number from 0 to 65535');
      return Number(value);
    }
    case 'cost': {
      if (!/^\d+$/.test(value) || Number(value) < 10 || Number(value) > 31) bad('must be an integer from 10 to 31');
      return Number(value);
    }
    case 'boolean': {
      if (/^(1|true|yes|on)$/i.test(value)) return true;
      if (/^(0|false|no|off)$/i.test(value)) return false;
      return bad('must be true or false');
    }
    case 'list':
      return value
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v.length > 0);
    case 'duration-s':
    case 'duration-ms':
      return parseDurationValue(spec, value, where);
    case 'level':
      if (!(LOG_LEVELS as readonly string[]).includes(value)) bad(`must be one of ${LOG_LEVELS.join(', ')}`);
      return value;
    case 'format':
      if (value !== 'json' && value !== 'text') bad('must be json or text');
      return value;
  }
}

/** A duration (e.g. 30s, 24h; a bare number means seconds) in the unit of the setting. */
function parseDurationValue(spec: SettingSpec, value: string | number, where: string): number {
  let ms: number;
  try {
    ms = typeof value === 'number' ? value * 1000 : parseDuration(value, where);
  } catch {
    throw new ConfigError(`${where}: must be a duration such as 30s, 5m or 24h (got "${value}")`);
  }
  const out = spec.kind === 'duration-s' ? Math.floor(ms / 1000) : Math.round(ms);
  if (out <= 0) {
    throw new ConfigError(`${where}: must be at least 1${spec.kind === 'duration-s' ? 's' : 'ms'} (got "${value}")`);
  }
  return out;
}

function ajvMessage(e: ErrorObject): string {
  const key = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    return `unknown key "${key ? `${key}.` : ''}${extra}" (known keys: ${SETTINGS.map((s) => s.key).join(', ')})`;
  }
  if (e.keyword === 'enum') {
    return `${key}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  }
  if (e.keyword === 'anyOf') return `${key}: must be a duration such as "30s" or "24h", or a number of seconds`;
  return `${key || '(top level)'}: ${e.message ?? 'is invalid'}`;
}

/** Parses and validates a config file (YAML or JSON); unknown keys and bad types are errors naming the key. */
export function parseConfigFile(text: string, path: string): Partial<Settings> {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 10, uniqueKeys: true }) ?? {};
  } catch (err) {
    throw new ConfigError(`config file ${path}: not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const ajv = new Ajv({ allErrors: true, strict: true });
  const validate = ajv.compile(CONFIG_SCHEMA);
  if (!validate(doc)) {
    // anyOf reports each branch too; keep the summary line of each key only
    const errors = (validate.errors ?? []).filter((e) => !(e.schemaPath.includes('/anyOf/')));
    throw new ConfigError(`config file ${path}: ${errors.map(ajvMessage).join('; ')}`);
  }
  const out: Record<string, unknown> = { ...(doc as Record<string, unknown>) };
  for (const spec of SETTINGS) {
    const value = out[spec.key];
    if ((spec.kind === 'duration-s' || spec.kind === 'duration-ms') && value !== undefined) {
      out[spec.key] = parseDurationValue(spec, value as string | number, `config file ${path}: ${spec.key}`);
    }
  }
  return out as Partial<Settings>;
}

/** Settings from OPENSCHEDULER_* and ALLOWED_ORIGINS (empty variables are ignored). */
export function settingsFromEnv(env: Readonly<Record<string, string | undefined>>): Partial<Settings> {
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    const text = env[spec.env];
    if (text !== undefined && text !== '') out[spec.key] = parseText(spec, text, `environment ${spec.env}`);
  }
  return out as Partial<Settings>;
}

/** Settings from parsed flags, keyed by the camelCase of the flag name as commander gives them. */
export function settingsFromFlags(flags: Readonly<Record<string, unknown>>): Partial<Settings> {
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    const name = spec.flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
    const value = flags[name];
    if (value === undefined) continue;
    if (typeof value === 'boolean') out[spec.key] = value;
    else if (Array.isArray(value)) out[spec.key] = value.flatMap((v) => parseText(spec, String(v), `--${spec.flag}`) as string[]);
    else out[spec.key] = parseText(spec, String(value), `--${spec.flag}`);
  }
  return out as Partial<Settings>;
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
  /** Relative paths (data dir, sqlite path, TLS files) are resolved against this. */
  readonly cwd: string;
}

/** Default data directories: dev keeps its state next to the checkout; the server in /var/lib. */
export const DEFAULT_DATA_DIR: Readonly<Record<Mode, string>> = { dev: '.openscheduler', server: '/var/lib/openscheduler' };

/** Merges the sources (flags > env > file > defaults) and checks the combination. Throws ConfigError. */
export function resolveConfig(input: ResolveInput): ResolvedConfig {
  const s: Partial<Settings> = { ...input.file, ...input.env, ...input.flags };
  const dev = input.mode === 'dev';
  const dataDir = resolve(input.cwd, s.dataDir ?? DEFAULT_DATA_DIR[input.mode]);
  const bindAddress = s.bindAddress ?? (dev ? '127.0.0.1' : '0.0.0.0');
  const httpBindAddress = s.httpBindAddress ?? '127.0.0.1';
  checkAddress(bindAddress, 'bind-address');
  checkAddress(httpBindAddress, 'http-bind-address');
  const insecureHttp = s.insecureHttp ?? false;
  if (!insecureHttp && !isLoopback(httpBindAddress)) {
    throw new ConfigError(
      `http-bind-address: plain HTTP is for loopback only, refusing ${httpBindAddress}; use HTTPS (--https-port) or pass --insecure-http`,
    );
  }

  let store: StoreSpec;
  const endpoints = s.etcdEndpoints ?? [];
  const storeText = s.store ?? (endpoints.length > 0 ? 'etcd' : 'sqlite');
  if (storeText === 'etcd') {
    if (endpoints.length === 0) throw new ConfigError('store: "etcd" needs --etcd-endpoints host:port[,...]');
    for (const e of endpoints) {
      if (!ENDPOINT_PATTERN.test(e)) throw new ConfigError(`etcd-endpoints: "${e}" is not host:port`);
    }
    store = { type: 'etcd', endpoints, prefix: s.etcdPrefix };
  } else if (storeText === 'sqlite' || storeText.startsWith('sqlite:')) {
    if (endpoints.length > 0) throw new ConfigError('store: --store sqlite and --etcd-endpoints exclude each other');
    const path = storeText === 'sqlite' ? 'state.db' : storeText.slice('sqlite:'.length);
    if (path === '') throw new ConfigError('store: "sqlite:" needs a path, e.g. sqlite:/var/lib/openscheduler/state.db');
    // bare `sqlite` lives in the data dir; an explicit relative path is relative to the working directory
    store = { type: 'sqlite', path: storeText === 'sqlite' ? resolve(dataDir, path) : resolve(input.cwd, path) };
  } else {
    throw new ConfigError(`store: must be sqlite, sqlite:PATH or etcd (got "${storeText}")`);
  }

  if (input.jwtSecret !== undefined && Buffer.byteLength(input.jwtSecret, 'utf8') < MIN_JWT_SECRET_BYTES) {
    throw new ConfigError(
      `${ENV_JWT_SECRET} must be at least ${MIN_JWT_SECRET_BYTES} bytes (got ${Buffer.byteLength(input.jwtSecret, 'utf8')}); generate one with: openssl rand -base64 48`,
    );
  }
  if ((s.tlsCertFile === undefined) !== (s.tlsPrivateKeyFile === undefined)) {
    throw new ConfigError('tls-cert-file and tls-private-key-file must be given together');
  }
  let allowedOrigins: string[];
  try {
    allowedOrigins = checkAllowedOrigins(s.allowedOrigins ?? []);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const server: ServerOptions = {
    mode: input.mode,
    dataDir,
    httpPort: s.httpPort ?? 8080,
    httpsPort: s.httpsPort ?? 8443,
    grpcPort: s.grpcPort ?? 50051,
    bindAddress,
    httpBindAddress,
    insecureHttp,
    store,
    storeTimeoutMs: s.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS,
    jwtSecret: input.jwtSecret,
    tokenTtlSeconds: s.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS,
    tlsCertFile: s.tlsCertFile === undefined ? undefined : resolve(input.cwd, s.tlsCertFile),
    tlsKeyFile: s.tlsPrivateKeyFile === undefined ? undefined : resolve(input.cwd, s.tlsPrivateKeyFile),
    tlsSans: s.tlsSans ?? [],
    allowedOrigins,
    bcryptCost: s.bcryptCost ?? 12,
    nodeLeaseTtlSeconds: s.nodeLeaseTtlSeconds ?? 30,
    nodeGracePeriodMs: s.nodeGracePeriodMs ?? 40_000,
    logRetentionSeconds: s.logRetentionSeconds ?? 7 * 24 * 3600,
  };
  return {
    server,
    logLevel: s.logLevel ?? 'info',
    logFormat: s.logFormat ?? (dev ? 'text' : 'json'),
    configFile: input.configFile,
  };
}

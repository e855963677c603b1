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
// Plain (non-TLS) gRPC is allowed only to loopback servers: a token must not cross a network in clear.
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { isLoopback, LOG_LEVELS, type LogFormat, type LogLevel } from '../server/config.js';

export interface AgentConfig {
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

function isTrue(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value);
}

/** Resolves the agent's settings; throws AgentConfigError naming the flag and the rule. */
export function resolveAgentConfig(
  flags: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): AgentConfig {
  const pick = (flag: string, envName: string): string | undefined => {
    const value = flags[flag];
    if (typeof value === 'string' && value !== '') return value;
    const fromEnv = env[envName];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
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
  };
}

// `openscheduler`: the daemon binary's one composition root. Flags, environment and config file
// become ServerOptions here (the only place that reads process.env), then the server starts.
//
//   openscheduler server   API server, controllers (on the elected leader) and the agent gRPC endpoint
//   openscheduler dev      the same on loopback with dev defaults, plus a local agent (process,
//                          podman and incus drivers, those whose runtime is present; --no-local-agent
//                          to leave it out); writes osctl and kubectl configs
//   openscheduler agent    a node agent (settings: cmd/agent-config.ts)
//   openscheduler version
//
// Settings (flags > environment > config file > defaults); the config file (--config or
// OPENSCHEDULER_CONFIG, YAML or JSON) uses the camelCase key in brackets:
//   --data-dir DIR          OPENSCHEDULER_DATA_DIR        [dataDir]   dev: ./.openscheduler, server: /var/lib/openscheduler
//   --http-port N           OPENSCHEDULER_HTTP_PORT       [httpPort]  8080 (0: any free port)
//   --https-port N          OPENSCHEDULER_HTTPS_PORT      [httpsPort] 8443
//   --grpc-port N           OPENSCHEDULER_GRPC_PORT       [grpcPort]  50051 (agent endpoint; TLS unless bound to loopback)
//   --bind-address IP       OPENSCHEDULER_BIND_ADDRESS    [bindAddress] HTTPS: dev 127.0.0.1, server 0.0.0.0
//   --http-bind-address IP  OPENSCHEDULER_HTTP_BIND_ADDRESS [httpBindAddress] 127.0.0.1
//   --insecure-http         OPENSCHEDULER_INSECURE_HTTP   [insecureHttp] allow plain HTTP off loopback
//   --store sqlite[:PATH]|etcd  OPENSCHEDULER_STORE       [store]     sqlite:<data-dir>/state.db
//   --etcd-endpoints H:P,.. OPENSCHEDULER_ETCD_ENDPOINTS  [etcdEndpoints] (implies --store etcd)
//   --etcd-prefix P         OPENSCHEDULER_ETCD_PREFIX     [etcdPrefix]
//   --tls-cert-file F       OPENSCHEDULER_TLS_CERT_FILE   [tlsCertFile]  default: own CA under <data-dir>/tls
//   --tls-private-key-file F OPENSCHEDULER_TLS_PRIVATE_KEY_FILE [tlsPrivateKeyFile]
//   --tls-san NAME,..       OPENSCHEDULER_TLS_SANS        [tlsSans]   extra names for the generated certificate
//   --token-ttl DUR         OPENSCHEDULER_TOKEN_TTL       [tokenTtlSeconds] 24h
//   --store-timeout DUR     OPENSCHEDULER_STORE_TIMEOUT   [storeTimeoutMs] 5s
//   --bcrypt-cost N         OPENSCHEDULER_BCRYPT_COST     [bcryptCost] 12
//   --log-level L           OPENSCHEDULER_LOG_LEVEL       [logLevel]  info
//   --log-format json|text  OPENSCHEDULER_LOG_FORMAT      [logFormat] server: json, dev: text
//   --allowed-origins O,..  ALLOWED_ORIGINS               [allowedOrigins] (CORS: exact origins only)
//   --node-lease-ttl DUR    OPENSCHEDULER_NODE_LEASE_TTL  [nodeLeaseTtlSeconds] 30s
//   --node-grace-period DUR OPENSCHEDULER_NODE_GRACE_PERIOD [nodeGracePeriodMs] 40s (after the lease expired)
//   --log-retention DUR     OPENSCHEDULER_LOG_RETENTION   [logRetentionSeconds] 7d (job logs, by age)
//   JWT_SECRET (environment only; >= 32 bytes): default <data-dir>/jwt-secret, generated once.
import * as grpc from '@grpc/grpc-js';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import winston from 'winston';
import { createAgent, IncusDriver, PodmanDriver, ProcessDriver, type Agent, type TaskDriver } from '../agent/index.js';
import { osctlConfigPath, writeOsctlConfig } from '../cli/config.js';
import {
  AGENT_DRIVERS,
  AgentConfigError,
  DEFAULT_AGENT_DATA_DIR,
  defaultNodeName,
  resolveAgentConfig,
  resolveAgentDriverSettings,
  SHIPPED_CONTAINERS_CONF,
  type AgentConfig,
} from './agent-config.js';
import {
  ConfigError,
  ENV_CONFIG,
  ENV_JWT_SECRET,
  parseConfigFile,
  resolveConfig,
  SETTINGS,
  settingsFromEnv,
  settingsFromFlags,
  type LogFormat,
  type LogLevel,
  type Mode,
  type ResolvedConfig,
} from '../server/config.js';
import { removeEndpoints, writeEndpoints } from '../server/endpoints.js';
import { writeKubeconfig } from '../server/kubeconfig.js';
import { startServer, type RunningServer } from '../server/server.js';

/** Lifetime of the admin token that `dev` writes into the osctl config and kubeconfig. */
const DEV_TOKEN_TTL_SECONDS = 7 * 24 * 60 * 60;
/** After a graceful close, the process should exit by itself; if a handle leaks, exit anyway. */
const EXIT_WATCHDOG_MS = 10_000;

/** After a clean shutdown nothing should keep the loop alive; if something does, say so and exit anyway. */
function exitIfStillAlive(logger: winston.Logger): void {
  setTimeout(() => {
    logger.warn('handles still open after shutdown; exiting', { resources: process.getActiveResourcesInfo() });
    process.exit(process.exitCode ?? 0);
  }, EXIT_WATCHDOG_MS).unref();
}

function fail(message: string): never {
  process.stderr.write(`openscheduler: error: ${message}\n`);
  process.exit(1);
}

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.message;
}

/** The package's root dir (holding its package.json) and version, if found. */
async function findPackage(): Promise<{ root: string; version: string } | undefined> {
  // cmd/openscheduler.ts (tsx) or dist/cmd/openscheduler.js: the package.json is one or two levels up
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    dir = dirname(dir);
    try {
      const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'openscheduler' && pkg.version) return { root: dir, version: pkg.version };
    } catch {
      // keep looking upwards
    }
  }
  return undefined;
}

async function packageVersion(): Promise<string> {
  return (await findPackage())?.version ?? 'unknown';
}

function createLogger(level: LogLevel, format: LogFormat): winston.Logger {
  const { combine, timestamp, json, printf } = winston.format;
  const text = printf((info) => {
    const { level: lvl, message, timestamp: ts, ...meta } = info;
    const extras = Object.entries(meta)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    return `${String(ts)} ${lvl.toUpperCase().padEnd(5)} ${String(message)}${extras ? ' ' + extras : ''}`;
  });
  return winston.createLogger({
    level,
    format: format === 'json' ? combine(timestamp(), json()) : combine(timestamp({ format: 'HH:mm:ss' }), text),
    // logs go to stderr; stdout carries the dev banner only
    transports: [new winston.transports.Console({ stderrLevels: Object.keys(winston.config.npm.levels) })],
  });
}

function addServerOptions(cmd: Command): Command {
  cmd.option('--config <file>', `config file, YAML or JSON (env ${ENV_CONFIG})`);
  const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
  for (const spec of SETTINGS) {
    if (spec.kind === 'boolean') cmd.addOption(new Option(`--${spec.flag}`, `(env ${spec.env})`));
    else if (spec.kind === 'list') cmd.addOption(new Option(`--${spec.flag} <values>`, `comma-separated, repeatable (env ${spec.env})`).argParser(collect));
    else cmd.addOption(new Option(`--${spec.flag} <value>`, `(env ${spec.env})`));
  }
  return cmd;
}

async function loadConfig(mode: Mode, flags: Record<string, unknown>): Promise<ResolvedConfig> {
  const env = process.env;
  const configFile = (flags.config as string | undefined) ?? (env[ENV_CONFIG] || undefined);
  let file = {};
  if (configFile !== undefined) {
    let text: string;
    try {
      text = await readFile(configFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`config file ${configFile}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
    }
    file = parseConfigFile(text, configFile);
  }
  return resolveConfig({
    mode,
    flags: settingsFromFlags(flags),
    env: settingsFromEnv(env),
    file,
    configFile,
    jwtSecret: env[ENV_JWT_SECRET] || undefined,
    cwd: process.cwd(),
  });
}

/** Writes the osctl config and kubeconfig for the admin; returns their paths. */
async function writeDevConfigs(server: RunningServer, dataDir: string): Promise<{ osctlConfigPath: string; kubeconfigPath: string }> {
  const { token } = await server.mintToken('admin', DEV_TOKEN_TTL_SECONDS);
  const osctlPath = osctlConfigPath(process.env, homedir());
  await writeOsctlConfig(osctlPath, { server: server.httpUrl, token, namespace: 'default' });
  const kubeconfigPath = join(dataDir, 'kubeconfig.yaml');
  await writeKubeconfig(kubeconfigPath, { server: server.httpsUrl, caCert: server.caCert, token, username: 'admin', namespace: 'default' });
  return { osctlConfigPath: osctlPath, kubeconfigPath };
}

function banner(server: RunningServer, paths: { osctlConfigPath: string; kubeconfigPath: string }, localAgent: string | undefined): string {
  return [
    '',
    'Open Scheduler (dev) is running.',
    `  API:            ${server.httpUrl}   (HTTPS: ${server.httpsUrl})`,
    `  admin password: in ${server.adminPasswordPath}`,
    `  osctl config:   ${paths.osctlConfigPath}`,
    `  kubeconfig:     ${paths.kubeconfigPath}`,
    '  Try:            npx osctl get jobs',
    `                  kubectl --kubeconfig ${paths.kubeconfigPath} get jobs.openscheduler.io`,
    localAgent
      ? `  Local agent:    node ${localAgent} (process, podman and incus drivers; those whose runtime is missing are not offered)`
      : '  No local agent (--no-local-agent): jobs wait for an agent to join.',
    '  Stop with Ctrl-C.',
    '',
  ].join('\n');
}

async function run(mode: Mode, flags: Record<string, unknown>): Promise<void> {
  let config: ResolvedConfig;
  try {
    config = await loadConfig(mode, flags);
  } catch (err) {
    fail(messageOf(err));
  }
  const logger = createLogger(config.logLevel, config.logFormat);
  const options = config.server;
  if (config.configFile) logger.info('read config file', { path: config.configFile });

  let server: RunningServer | undefined;
  // The local agent of `dev` (started below).
  const localNodeName = defaultNodeName();
  const agentAbort = new AbortController();
  let agentRun: Promise<void> | undefined;

  let stopping = false;
  /** Writing the dev configs and the endpoints file; a shutdown waits for it so that it removes what it wrote. */
  let announced: Promise<void> = Promise.resolve();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`openscheduler: ${signal} again, exiting without a clean shutdown\n`);
      process.exit(1);
    }
    stopping = true;
    logger.info('received signal, shutting down', { signal });
    // a signal while the server starts: shutdown runs once startServer has returned
    if (server !== undefined) void shutdown(server);
  };
  const shutdown = async (server: RunningServer): Promise<void> => {
    try {
      agentAbort.abort(); // the local agent stops its tasks first, while the server still takes its reports
      await agentRun;
      await server.close();
      await announced;
      await removeEndpoints(options.dataDir, process.pid);
    } catch (err) {
      logger.error('shutdown failed', { error: messageOf(err) });
      process.exitCode = 1;
    }
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    logger.debug('after shutdown', { resources: process.getActiveResourcesInfo() });
    exitIfStillAlive(logger);
  };
  // installed before the server starts, so that a signal at any moment of start-up shuts down cleanly
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    server = await startServer(options, { logger });
  } catch (err) {
    fail(messageOf(err));
  }
  if (stopping) {
    await shutdown(server);
    return;
  }

  // dev: one local agent in this process, its state under the data dir, joined with the join token
  // (started after the signal handlers, so that a signal during start-up still shuts down cleanly).
  if (mode === 'dev' && flags.localAgent !== false && !stopping) {
    try {
      const agent = await buildAgent(
        {
          servers: [server.grpcAddress],
          tokenFile: server.joinTokenPath,
          nodeName: localNodeName,
          labels: {},
          dataDir: join(options.dataDir, 'agent'),
          shutdownMode: 'stop',
          ...(server.grpcTls ? { tls: { ...(server.caPath ? { caFile: server.caPath } : {}) } } : {}),
          logLevel: config.logLevel,
          logFormat: config.logFormat,
          ...resolveAgentDriverSettings({}, process.env, process.cwd(), (await findPackage())?.root),
        },
        logger.child({ component: 'agent' }),
      );
      // a signal during buildAgent already ran shutdown(): then the agent must not start
      if (!stopping) {
        agentRun = agent.run(agentAbort.signal).catch((err: unknown) => {
          logger.error('local agent failed', { error: messageOf(err) });
        });
      }
    } catch (err) {
      if (!stopping) {
        await server.close().catch(() => undefined);
        fail(`local agent: ${messageOf(err)}`);
      }
    }
  }

  const announce = async (): Promise<void> => {
    let devPaths: { osctlConfigPath: string; kubeconfigPath: string } | undefined;
    if (mode === 'dev') {
      devPaths = await writeDevConfigs(server, options.dataDir);
      process.stdout.write(banner(server, devPaths, agentRun === undefined ? undefined : localNodeName) + '\n');
    }
    await writeEndpoints(options.dataDir, {
      pid: process.pid,
      httpUrl: server.httpUrl,
      httpsUrl: server.httpsUrl,
      caPath: server.caPath,
      adminPasswordPath: server.adminPasswordPath,
      grpcAddress: server.grpcAddress,
      grpcTls: server.grpcTls,
      joinTokenPath: server.joinTokenPath,
      ...devPaths,
    });
  };
  announced = announce().catch(async (err: unknown) => {
    if (stopping) return; // a signal closed the server while it was starting up
    await server.close().catch(() => undefined);
    fail(messageOf(err));
  });
  await announced;
}

/**
 * The configured task drivers, each under its own dir of the agent's data dir, with a child
 * logger. A driver whose runtime is missing is built anyway: it fingerprints unhealthy.
 */
function buildDrivers(config: AgentConfig, logger: winston.Logger): TaskDriver[] {
  return config.drivers.map((name): TaskDriver => {
    const driverLogger = logger.child({ driver: name });
    switch (name) {
      case 'process':
        return new ProcessDriver({ stateDir: join(config.dataDir, 'process') });
      case 'podman':
        return new PodmanDriver({
          nodeName: config.nodeName,
          stateDir: join(config.dataDir, 'podman'),
          ...(config.podman.path !== undefined ? { podmanPath: config.podman.path } : {}),
          ...(config.podman.containersConf !== undefined ? { containersConf: config.podman.containersConf } : {}),
          allowedNetworks: [...config.podman.networks],
          volumeRoots: [...config.volumeRoots],
          logger: driverLogger,
        });
      case 'incus':
        return new IncusDriver({
          nodeName: config.nodeName,
          ...(config.incus.socketPath !== undefined ? { socketPath: config.incus.socketPath } : {}),
          ...(config.incus.project !== undefined ? { project: config.incus.project } : {}),
          ...(config.incus.storagePool !== undefined ? { storagePool: config.incus.storagePool } : {}),
          volumeRoots: [...config.volumeRoots],
          logger: driverLogger,
        });
    }
  });
}

/** Builds an agent with its drivers from resolved settings (reads the TLS files). */
async function buildAgent(config: AgentConfig, logger: winston.Logger): Promise<Agent> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  let credentials = grpc.credentials.createInsecure();
  if (config.tls !== undefined) {
    const read = async (path: string | undefined, what: string): Promise<Buffer | null> => {
      if (path === undefined) return null;
      try {
        return await readFile(path);
      } catch (err) {
        throw new AgentConfigError(`${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
      }
    };
    const [ca, cert, key] = await Promise.all([read(config.tls.caFile, 'ca-file'), read(config.tls.certFile, 'cert-file'), read(config.tls.keyFile, 'key-file')]);
    credentials = grpc.credentials.createSsl(ca, key, cert);
  }
  return createAgent({
    servers: config.servers,
    ...(config.token !== undefined ? { token: config.token } : {}),
    ...(config.tokenFile !== undefined ? { tokenFile: config.tokenFile } : {}),
    nodeName: config.nodeName,
    labels: config.labels,
    drivers: buildDrivers(config, logger),
    stateDir: join(config.dataDir, 'state'),
    credentials,
    ...(config.tls?.serverName !== undefined ? { tlsServerName: config.tls.serverName } : {}),
    shutdownMode: config.shutdownMode,
    orphanSweepIntervalMs: config.orphanSweepIntervalMs,
    logger,
    agentVersion: await packageVersion(),
  });
}

async function runAgent(flags: Record<string, unknown>): Promise<void> {
  let config: AgentConfig;
  try {
    config = resolveAgentConfig(flags, process.env, process.cwd(), (await findPackage())?.root);
  } catch (err) {
    fail(messageOf(err));
  }
  const logger = createLogger(config.logLevel, config.logFormat);
  let agent: Agent;
  try {
    agent = await buildAgent(config, logger);
  } catch (err) {
    fail(messageOf(err));
  }
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (abort.signal.aborted) {
      process.stderr.write(`openscheduler agent: ${signal} again, exiting without a clean shutdown\n`);
      process.exit(1);
    }
    logger.info('received signal, shutting down', { signal, mode: config.shutdownMode });
    abort.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  logger.info('agent starting', { node: config.nodeName, servers: config.servers, dataDir: config.dataDir, drivers: config.drivers });
  try {
    await agent.run(abort.signal);
  } catch (err) {
    logger.error('agent failed', { error: messageOf(err) });
    process.exitCode = 1;
  }
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  logger.info('agent stopped');
  exitIfStillAlive(logger);
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('openscheduler')
    .description('Open Scheduler daemons: a Kubernetes-style declarative batch job scheduler')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(`openscheduler: ${text}`) });
  addServerOptions(program.command('server').description('run the control plane (API server)')).action(
    async (flags: Record<string, unknown>) => run('server', flags),
  );
  addServerOptions(program.command('dev').description('run a local server on loopback with a local agent and write osctl/kubectl configs for the admin'))
    .option('--no-local-agent', 'do not run the local agent')
    .action(async (flags: Record<string, unknown>) => run('dev', flags));
  program
    .command('agent')
    .description('run a node agent: registers the node and runs the jobs the control plane assigns to it')
    .optionsGroup('Control plane:')
    .option('--server <host:port,...>', 'agent endpoint(s) of the control plane (env OPENSCHEDULER_AGENT_SERVER)')
    .option('--token <token>', 'per-node token or join token (env OPENSCHEDULER_AGENT_TOKEN)')
    .option('--token-file <file>', 'file holding the token (env OPENSCHEDULER_AGENT_TOKEN_FILE)')
    .option('--tls', 'use TLS to the server (env GRPC_TLS_ENABLED)')
    .option('--ca-file <file>', 'CA certificate to trust (env GRPC_TLS_CA_FILE)')
    .option('--cert-file <file>', 'client certificate for mTLS (env GRPC_TLS_CERT_FILE)')
    .option('--key-file <file>', 'client key for mTLS (env GRPC_TLS_KEY_FILE)')
    .option('--tls-server-name <name>', 'name to verify the server certificate against (env GRPC_TLS_SERVER_NAME)')
    .optionsGroup('Node:')
    .option('--name <node>', 'node name (default: the host name; env OPENSCHEDULER_AGENT_NAME)')
    .option('--labels <k=v,...>', 'node labels (env OPENSCHEDULER_AGENT_LABELS)')
    .option('--data-dir <dir>', `agent state (default ${DEFAULT_AGENT_DATA_DIR}; env OPENSCHEDULER_AGENT_DATA_DIR)`)
    .option('--shutdown-mode <mode>', 'on SIGTERM: stop tasks (stop, default) or leave them for re-adoption (detach)')
    .option('--orphan-sweep-interval <dur>', 'how soon tasks marked as ours that no attempt owns are removed (default 30s; env OPENSCHEDULER_AGENT_ORPHAN_SWEEP_INTERVAL)')
    .optionsGroup('Task drivers (env OPENSCHEDULER_AGENT_<FLAG>, e.g. OPENSCHEDULER_AGENT_DRIVERS):')
    .option('--drivers <list>', `of ${AGENT_DRIVERS.join(',')} (default all; one whose runtime is missing is not offered)`)
    .option('--volume-roots <dirs>', 'absolute host dirs job volumes may come from (default none: no volumes)')
    .option('--podman-path <path>', 'podman binary (default: podman from PATH)')
    .option('--containers-conf <file>', `for podman (default: env CONTAINERS_CONF, else the package's ${SHIPPED_CONTAINERS_CONF})`)
    .option('--podman-networks <list>', 'podman networks jobs may join (default none: no network)')
    .option('--incus-socket <path>', 'Incus unix socket (default: $INCUS_SOCKET, else the usual places)')
    .option('--incus-project <name>', 'Incus project of the instances (default: default)')
    .option('--incus-storage-pool <name>', "Incus storage pool of the instances' root disks (default: the default profile's)")
    .optionsGroup('Logging:')
    .option('--log-level <level>', 'error|warn|info|debug (env OPENSCHEDULER_LOG_LEVEL)')
    .option('--log-format <format>', 'json|text (env OPENSCHEDULER_LOG_FORMAT)')
    .action(async (flags: Record<string, unknown>) => runAgent(flags));
  program
    .command('version')
    .description('print the version')
    .action(async () => {
      process.stdout.write(`openscheduler ${await packageVersion()}\n`);
    });
  await program.parseAsync(argv);
}

main(process.argv).catch((err: unknown) => fail(messageOf(err)));

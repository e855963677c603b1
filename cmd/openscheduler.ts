// `openscheduler`: the daemon binary's one composition root. Flags, environment and config file
// become ServerOptions here (the only place that reads process.env), then the server starts.
//
//   openscheduler server   API server, controllers (on the elected leader) and the agent gRPC endpoint
//   openscheduler dev      the same on loopback with dev defaults, plus a local agent (process,
//                          podman and incus drivers, those whose runtime is present; --no-local-agent
//                          to leave it out); writes osctl and kubectl configs
//   openscheduler agent    a node agent (settings: cmd/agent-config.ts)
//   openscheduler config print [server|dev|agent] [-o yaml|json] [that command's flags]
//                          the effective configuration of that command, each value with its source
//   openscheduler version
//
// Settings: flags > environment > config file (--config FILE, else $OPENSCHEDULER_CONFIG or, for
// the agent, $OPENSCHEDULER_AGENT_CONFIG; YAML or JSON) > defaults. Each setting is declared once,
// in SETTINGS (server/config.ts) or AGENT_SETTINGS (cmd/agent-config.ts); the flags are made from
// those tables, and so is the README's "Configuration" section (npm run codegen:config-docs).
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
  AGENT_SETTINGS,
  AGENT_SETTINGS_TABLE,
  AgentConfigError,
  DEFAULT_KEEPALIVE_TIME_MS,
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  defaultNodeName,
  ENV_AGENT_CONFIG,
  parseAgentConfigFile,
  printAgentConfig,
  resolveAgent,
  resolveAgentDriverSettings,
  type AgentConfig,
  type ResolvedAgentConfig,
} from './agent-config.js';
import {
  ConfigError,
  ENV_CONFIG,
  parseConfigFile,
  printServerConfig,
  resolveConfig,
  SETTINGS,
  settingsFromEnv,
  settingsFromFlags,
  type LogFormat,
  type LogLevel,
  type Mode,
  type ResolvedConfig,
} from '../server/config.js';
import { defaultText, type SettingSpec } from '../util/settings.js';
import { removeEndpoints, writeEndpoints } from '../server/endpoints.js';
import { writeKubeconfig } from '../server/kubeconfig.js';
import { startServer, type RunningServer } from '../server/server.js';
import { AgentMetrics } from '../metrics/agent-metrics.js';
import { startMetricsHttpServer, type RunningMetricsHttpServer } from '../metrics/metrics-http-server.js';

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

/** Adds --config FILE and a flag for every setting that has one, under the settings' help headings. */
function addSettingOptions(cmd: Command, specs: readonly SettingSpec<never>[], configEnv: string): Command {
  cmd.option('--config <file>', `config file, YAML or JSON (env ${configEnv})`);
  const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
  for (const spec of specs) {
    if (spec.flag === undefined) continue;
    if (spec.group !== undefined) cmd.optionsGroup(spec.group);
    const fallback = defaultText(spec).replace(/`/g, '');
    const details = [fallback === 'required' || fallback === '' ? fallback : `default: ${fallback}`, spec.env !== undefined ? `env ${spec.env}` : ''].filter((d) => d !== '').join('; ');
    const option = new Option(`--${spec.flag}${spec.type.arg === undefined ? '' : ` <${spec.type.arg}>`}`, `${spec.description}${details !== '' ? ` (${details})` : ''}`);
    cmd.addOption(spec.type.repeatable ? option.argParser(collect) : option);
  }
  return cmd;
}

/** The config file named by --config, else by the environment variable `envName`; undefined when none is. */
async function readConfigFile(flags: Record<string, unknown>, envName: string): Promise<{ path: string; text: string } | undefined> {
  const path = (flags.config as string | undefined) ?? (process.env[envName] || undefined);
  if (path === undefined) return undefined;
  try {
    return { path, text: await readFile(path, 'utf8') };
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
  }
}

/** The server's configuration from flags, environment and config file: what `server`/`dev` run with and `config print` shows. */
async function loadConfig(mode: Mode, flags: Record<string, unknown>): Promise<ResolvedConfig> {
  const source = await readConfigFile(flags, ENV_CONFIG);
  return resolveConfig({
    mode,
    flags: settingsFromFlags(flags),
    env: settingsFromEnv(process.env), // JWT_SECRET included
    ...(source !== undefined ? { file: parseConfigFile(source.text, source.path), configFile: source.path } : {}),
    cwd: process.cwd(),
  });
}

/** The agent's configuration, likewise. */
async function loadAgentConfig(flags: Record<string, unknown>): Promise<ResolvedAgentConfig> {
  const source = await readConfigFile(flags, ENV_AGENT_CONFIG);
  return resolveAgent({
    flags: AGENT_SETTINGS_TABLE.fromFlags(flags),
    env: AGENT_SETTINGS_TABLE.fromEnv(process.env),
    ...(source !== undefined ? { file: parseAgentConfigFile(source.text, source.path), configFile: source.path } : {}),
    cwd: process.cwd(),
    packageRoot: (await findPackage())?.root,
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
    `  Dashboard:      ${server.httpUrl}/   (user admin; read-only accounts: npx osctl user create NAME --role viewer)`,
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
  if (mode === 'dev' && flags.localAgent !== false && (options.grpcClientCaFile !== undefined || options.grpcTlsCertFile !== undefined)) {
    // the local agent trusts the generated CA and has no client certificate
    fail(
      `${options.grpcClientCaFile !== undefined ? 'grpc-client-ca-file' : 'grpc-tls-cert-file'}: dev's local agent cannot connect to an agent endpoint with ` +
        'its own certificate or required client certificates; add --no-local-agent and run agents with their certificates',
    );
  }

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
          keepaliveTimeMs: DEFAULT_KEEPALIVE_TIME_MS,
          keepaliveTimeoutMs: DEFAULT_KEEPALIVE_TIMEOUT_MS,
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
    if (config.tls.insecureSkipVerify === true) {
      logger.warn(
        'INSECURE: the server certificate is not verified (--tls-insecure-skip-verify / GRPC_TLS_INSECURE_SKIP_VERIFY): the connection is encrypted but anyone on the path can pose as the control plane and take the node token; give the server CA with --ca-file instead',
      );
    }
    credentials = grpc.credentials.createSsl(ca, key, cert, config.tls.insecureSkipVerify === true ? { rejectUnauthorized: false } : {});
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
    keepaliveTimeMs: config.keepaliveTimeMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    orphanSweepIntervalMs: config.orphanSweepIntervalMs,
    logger,
    agentVersion: await packageVersion(),
  });
}

/** The agent's /metrics, /healthz and /readyz listener (--metrics-address), or undefined when off. */
async function startAgentMetrics(config: AgentConfig, agent: Agent, logger: winston.Logger): Promise<RunningMetricsHttpServer | undefined> {
  const listener = config.metrics;
  if (listener === undefined) return undefined;
  let token: string | undefined;
  if (listener.tokenFile !== undefined) {
    try {
      token = (await readFile(listener.tokenFile, 'utf8')).trim();
    } catch (err) {
      throw new AgentConfigError(`metrics-token-file: cannot read ${listener.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
    }
    if (token === '' || /\s/.test(token)) throw new AgentConfigError(`metrics-token-file: ${listener.tokenFile} must hold one token without whitespace`);
  }
  const address = `${listener.host.includes(':') ? `[${listener.host}]` : listener.host}:${listener.port}`;
  try {
    const server = await startMetricsHttpServer({
      host: listener.host,
      port: listener.port,
      metrics: new AgentMetrics(() => agent.status()),
      ready: () => agent.status().connected,
      ...(token !== undefined ? { token } : {}),
      logger,
    });
    logger.info('metrics listening', { url: server.url, authenticated: token !== undefined });
    return server;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AgentConfigError(`metrics-address: cannot listen on ${address}: ${code === 'EADDRINUSE' ? 'the address is already in use' : (code ?? messageOf(err))} (another port with --metrics-address, or off)`);
  }
}

async function runAgent(flags: Record<string, unknown>): Promise<void> {
  let resolved: ResolvedAgentConfig;
  try {
    resolved = await loadAgentConfig(flags);
  } catch (err) {
    fail(messageOf(err));
  }
  const config = resolved.agent;
  const logger = createLogger(config.logLevel, config.logFormat);
  if (resolved.settings.configFile !== undefined) logger.info('read config file', { path: resolved.settings.configFile });
  let agent: Agent;
  let metricsServer: RunningMetricsHttpServer | undefined;
  try {
    agent = await buildAgent(config, logger);
    metricsServer = await startAgentMetrics(config, agent, logger);
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
  await metricsServer?.close();
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  logger.info('agent stopped');
  exitIfStillAlive(logger);
}

/**
 * `openscheduler config print [server|dev|agent]`: the configuration that command would run with
 * (the same flags, environment and config file, merged and checked by the same code), each value
 * with its source; secrets masked. Exits 1 with the daemon's message when the configuration is bad.
 */
function addConfigCommand(program: Command): void {
  const print = program
    .command('config')
    .description('inspect the configuration')
    .command('print')
    .description('print the effective configuration of server (default), dev or agent, each value with its source; secrets masked');
  const subcommand = (name: 'server' | 'dev' | 'agent'): Command =>
    print
      .command(name, name === 'server' ? { isDefault: true } : {})
      .description(`the configuration \`openscheduler ${name}\` would run with (accepts its flags)`)
      .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'));
  const write = async (text: () => Promise<string>): Promise<void> => {
    try {
      process.stdout.write(await text());
    } catch (err) {
      fail(messageOf(err));
    }
  };
  for (const mode of ['server', 'dev'] as const) {
    const cmd = addSettingOptions(subcommand(mode), SETTINGS, ENV_CONFIG);
    if (mode === 'dev') cmd.option('--no-local-agent', 'as for `openscheduler dev` (not a setting)');
    cmd.action(async (flags: Record<string, unknown>) => write(async () => printServerConfig(await loadConfig(mode, flags), flags.output as 'yaml' | 'json')));
  }
  addSettingOptions(subcommand('agent'), AGENT_SETTINGS, ENV_AGENT_CONFIG).action(async (flags: Record<string, unknown>) =>
    write(async () => printAgentConfig(await loadAgentConfig(flags), flags.output as 'yaml' | 'json')),
  );
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('openscheduler')
    .description('Open Scheduler daemons: a Kubernetes-style declarative batch job scheduler')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(`openscheduler: ${text}`) });
  addSettingOptions(program.command('server').description('run the control plane (API server)'), SETTINGS, ENV_CONFIG).action(
    async (flags: Record<string, unknown>) => run('server', flags),
  );
  addSettingOptions(program.command('dev').description('run a local server on loopback with a local agent and write osctl/kubectl configs for the admin'), SETTINGS, ENV_CONFIG)
    .option('--no-local-agent', 'do not run the local agent')
    .action(async (flags: Record<string, unknown>) => run('dev', flags));
  addSettingOptions(
    program.command('agent').description('run a node agent: registers the node and runs the jobs the control plane assigns to it'),
    AGENT_SETTINGS,
    ENV_AGENT_CONFIG,
  ).action(async (flags: Record<string, unknown>) => runAgent(flags));
  addConfigCommand(program);
  program
    .command('version')
    .description('print the version')
    .action(async () => {
      process.stdout.write(`openscheduler ${await packageVersion()}\n`);
    });
  await program.parseAsync(argv);
}

main(process.argv).catch((err: unknown) => fail(messageOf(err)));

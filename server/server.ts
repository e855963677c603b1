// The server assembly: store, authentication, API server, HTTP and HTTPS listeners, started in
// order and stopped in reverse. The daemon's composition root (cmd/openscheduler.ts) and
// in-process tests call startServer.
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'winston';
import { kinds } from '../api/v1/index.js';
import { createApiServer } from '../apiserver/api-server.js';
import { setUpAuth, type IssuedToken } from '../apiserver/auth.js';
import { AuditLog } from '../apiserver/audit-log.js';
import { findPackageRoot } from '../apiserver/dashboard-static.js';
import { NodeTokenRegistry } from '../apiserver/node-tokens.js';
import { ensureTlsMaterial } from '../apiserver/tls.js';
import { FileLogStore } from '../logs/log-store.js';
import type { Store } from '../store/store.js';
import { openStore, type EtcdAuthOptions, type EtcdTlsOptions } from '../store/index.js';
import { MeteredStore } from '../store/metered-store.js';
import { ServerMetrics } from '../metrics/server-metrics.js';
import { isLoopback, type ServerOptions, type StoreSpec } from './config.js';
import { controlPlaneReadinessChecks, startControlPlane, type RunningControlPlane } from './control-plane.js';
import { loadJoinToken } from './join-token.js';

/** A startup failure with a one-line message fit for the operator (the cause is attached). */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

export interface RunningServer {
  /** http://HOST:PORT of the plain listener (a loopback address unless --insecure-http). */
  readonly httpUrl: string;
  /** https://HOST:PORT; a wildcard bind address is reported as loopback. */
  readonly httpsUrl: string;
  /** The CA certificate clients should trust (undefined with a user-provided certificate). */
  readonly caPath?: string;
  readonly caCert?: string;
  /** Where the generated admin password is (written by the server that created the admin). */
  readonly adminPasswordPath: string;
  /** host:port of the agent gRPC endpoint (a wildcard bind address reported as loopback). */
  readonly grpcAddress: string;
  /**
   * Whether the agent endpoint uses TLS: with --grpc-tls-cert-file, else the serving certificate
   * (trust `caPath`). With --grpc-client-ca-file it also requires agents' client certificates.
   */
  readonly grpcTls: boolean;
  /** The join token file (mode 0600): agents may register with it (see agent.proto). */
  readonly joinTokenPath: string;

  /** Mints a token for an existing user (default lifetime: the configured token TTL). */
  mintToken(username: string, ttlSeconds?: number): Promise<IssuedToken>;
  /** Stops accepting, ends watches and connections, closes the store. Idempotent. */
  close(): Promise<void>;
}

/** How long in-flight requests may finish after close() before their connections are cut. */
const SHUTDOWN_GRACE_MS = 2000;

/** The built dashboard of this package: `<package root>/dashboard/build` (from server/ under tsx or dist/server/). */
export async function defaultDashboardDir(): Promise<string | undefined> {
  const root = await findPackageRoot(dirname(fileURLToPath(import.meta.url)), 'openscheduler');
  return root === undefined ? undefined : join(root, 'dashboard', 'build');
}

function urlHost(address: string): string {
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '[::1]';
  return isIP(address) === 6 ? `[${address}]` : address;
}

function describeStore(spec: StoreSpec): string {
  return spec.type === 'sqlite' ? `sqlite ${spec.path}` : `etcd ${spec.endpoints.join(',')}`;
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}

function listen(server: HttpServer, port: number, host: string, flag: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      const why =
        err.code === 'EADDRINUSE'
          ? 'the address is already in use'
          : err.code === 'EACCES'
            ? 'permission denied (ports below 1024 need privileges)'
            : err.code === 'EADDRNOTAVAIL'
              ? 'the address is not available on this host'
              : errorText(err);
      reject(new StartupError(`cannot listen on ${urlHost(host)}:${port} (${flag}): ${why}`, { cause: err }));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host });
  });
}

function closeServer(server: HttpServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}

/**
 * The agent endpoint's credentials: plaintext (loopback only, see config.ts), TLS with
 * --grpc-tls-cert-file/--grpc-tls-key-file or else the HTTPS serving certificate, and with
 * --grpc-client-ca-file mTLS: the TLS handshake refuses a client without a certificate signed by
 * that CA. The files are read once here (rotating them needs a restart); an unreadable or
 * unusable file is a StartupError naming it.
 */
async function agentEndpointCredentials(options: ServerOptions, serving: { readonly cert: string; readonly key: string }, logger: Logger): Promise<grpc.ServerCredentials> {
  if (!options.grpcTls) return grpc.ServerCredentials.createInsecure();
  const read = async (path: string, flag: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new StartupError(`gRPC TLS: cannot read ${path} (${flag}): ${errorText(err)}`, { cause: err });
    }
  };
  const { grpcTlsCertFile: certFile, grpcTlsKeyFile: keyFile } = options;
  const ownPair = certFile !== undefined && keyFile !== undefined;
  const cert = ownPair ? await read(certFile, '--grpc-tls-cert-file') : Buffer.from(serving.cert);
  const key = ownPair ? await read(keyFile, '--grpc-tls-key-file') : Buffer.from(serving.key);
  const caFile = options.grpcClientCaFile;
  const ca = caFile === undefined ? null : await read(caFile, '--grpc-client-ca-file');
  if (ca !== null) {
    try {
      new X509Certificate(ca); // parsing is the check
    } catch (err) {
      throw new StartupError(`gRPC TLS: ${caFile} (--grpc-client-ca-file) is not a PEM certificate: ${errorText(err)}`, { cause: err });
    }
  }
  try {
    createSecureContext({ cert, key, ...(ca !== null ? { ca } : {}) });
  } catch (err) {
    const files = ownPair ? `${certFile} and ${keyFile} (--grpc-tls-cert-file, --grpc-tls-key-file)` : 'the HTTPS serving certificate and key';
    throw new StartupError(`gRPC TLS: ${files} are not a usable certificate and key: ${errorText(err)}`, { cause: err });
  }
  logger.info('agent endpoint TLS', {
    certificate: ownPair ? certFile : 'the HTTPS serving certificate',
    clientCertificates: caFile === undefined ? 'not requested' : `required, signed by ${caFile}`,
  });
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null);
}

/** The host of an etcd endpoint (`host:port` or `http(s)://host:port`). */
function endpointHost(endpoint: string): string {
  const hostPort = endpoint.replace(/^https?:\/\//i, '');
  return hostPort.slice(0, hostPort.lastIndexOf(':')).replace(/^\[|\]$/g, '');
}

/**
 * The store spec with etcd's TLS material and password read from the configured files (once:
 * rotating them needs a restart). An unreadable file, a CA that is not a certificate, or a
 * certificate and key that do not go together is a StartupError naming the setting and the path.
 */
async function withEtcdClientMaterial(options: ServerOptions, logger: Logger): Promise<StoreSpec> {
  const { store, etcdClient } = options;
  if (store.type !== 'etcd' || etcdClient === undefined) return store;
  const read = async (path: string, flag: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new StartupError(`etcd client: cannot read ${path} (${flag}): ${errorText(err)}`, { cause: err });
    }
  };
  let tls: EtcdTlsOptions | undefined;
  if (etcdClient.tls !== undefined) {
    const { caFile, certFile, keyFile } = etcdClient.tls;
    const ca = caFile === undefined ? undefined : await read(caFile, '--etcd-ca-file');
    const cert = certFile === undefined ? undefined : await read(certFile, '--etcd-cert-file');
    const key = keyFile === undefined ? undefined : await read(keyFile, '--etcd-key-file');
    if (ca !== undefined) {
      try {
        new X509Certificate(ca); // parsing is the check
      } catch (err) {
        throw new StartupError(`etcd client: ${String(caFile)} (--etcd-ca-file) is not a PEM certificate: ${errorText(err)}`, { cause: err });
      }
    }
    if (cert !== undefined && key !== undefined) {
      try {
        createSecureContext({ cert, key });
      } catch (err) {
        throw new StartupError(`etcd client: ${String(certFile)} and ${String(keyFile)} (--etcd-cert-file, --etcd-key-file) are not a usable certificate and key: ${errorText(err)}`, { cause: err });
      }
    }
    tls = { ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined && key !== undefined ? { cert, key } : {}) };
    logger.info('etcd client TLS', { ca: caFile ?? "the system's CAs", clientCertificate: certFile ?? 'none' });
  }
  let auth: EtcdAuthOptions | undefined;
  if (etcdClient.auth !== undefined) {
    const given = etcdClient.auth;
    let password: string;
    if ('password' in given) {
      password = given.password;
    } else {
      password = (await read(given.passwordFile, '--etcd-password-file')).toString('utf8').replace(/\r?\n$/, '');
      if (password === '') throw new StartupError(`etcd client: ${given.passwordFile} (--etcd-password-file) is empty`);
    }
    auth = { username: given.username, password };
    logger.info('etcd client authentication', { user: given.username, password: 'password' in given ? 'from OPENSCHEDULER_ETCD_PASSWORD' : given.passwordFile });
    if (tls === undefined && !store.endpoints.every((e) => isLoopback(endpointHost(e)))) {
      logger.warn('the etcd password crosses the network in clear: turn on TLS to etcd (--etcd-ca-file, https:// endpoints)', { endpoints: store.endpoints });
    }
  }
  return { ...store, ...(tls !== undefined ? { tls } : {}), ...(auth !== undefined ? { auth } : {}) };
}

/**
 * Starts the control plane's HTTP side. Throws StartupError (everything already opened is closed
 * again) when the data dir, TLS material, store, auth bootstrap or a listener fails.
 */
export async function startServer(
  options: ServerOptions,
  deps: {
    readonly logger: Logger;
    /** The built dashboard served at `/`. Default: defaultDashboardDir(). */
    readonly dashboardDir?: string;
  },
): Promise<RunningServer> {
  const { logger } = deps;
  const cleanups: (() => Promise<void>)[] = [];
  const undo = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => logger.warn('cleanup failed', { error: errorText(err) }));
  };
  try {
    try {
      await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new StartupError(`cannot create data dir ${options.dataDir}: ${errorText(err)} (choose another with --data-dir)`, { cause: err });
    }
    const dirMode = (await stat(options.dataDir)).mode & 0o777;
    if (dirMode & 0o077) {
      // the store file holds password hashes; the secret files are 0600 but the store may not be
      logger.warn('the data dir is accessible to other users; it should have mode 0700', {
        path: options.dataDir,
        mode: dirMode.toString(8),
      });
    }
    const tls = await ensureTlsMaterial({
      dataDir: options.dataDir,
      extraNames: options.tlsSans,
      certFile: options.tlsCertFile,
      keyFile: options.tlsKeyFile,
      logger,
    }).catch((err: unknown) => {
      throw new StartupError(`TLS: ${errorText(err)}`, { cause: err });
    });

    const metrics = new ServerMetrics(); // one registry per server: served at /metrics
    const storeSpec = await withEtcdClientMaterial(options, logger);
    let store: Store;
    try {
      store = new MeteredStore(await openStore({ ...storeSpec, timeoutMs: options.storeTimeoutMs, historyMs: options.storeHistorySeconds * 1000, logger }), metrics);
    } catch (err) {
      throw new StartupError(`cannot open the store (${describeStore(options.store)}): ${errorText(err)}`, { cause: err });
    }
    cleanups.push(() => store.close());

    const auth = await setUpAuth({
      store,
      dataDir: options.dataDir,
      logger,
      jwtSecret: options.jwtSecret,
      tokenTtlSeconds: options.tokenTtlSeconds,
      bcryptCost: options.bcryptCost,
      // servers sharing one etcd must sign and check tokens with the same key
      shareSecretThroughStore: options.store.type === 'etcd',
    }).catch((err: unknown) => {
      throw new StartupError(`authentication set-up failed: ${errorText(err)}`, { cause: err });
    });

    const nodeTokens = new NodeTokenRegistry(store);
    const logs = new FileLogStore({ dir: join(options.dataDir, 'logs'), retentionSeconds: options.logRetentionSeconds, logger });
    let startedControlPlane: RunningControlPlane | undefined = undefined; // for /readyz, set once started
    const auditOptions = options.auditLog;
    const audit =
      auditOptions === undefined
        ? undefined
        : await AuditLog.open({ ...auditOptions, logger }).catch((err: unknown) => {
            throw new StartupError(`cannot open the audit log ${auditOptions.path}: ${errorText(err)} (choose another with --audit-log-path, or off)`, { cause: err });
          });
    if (audit !== undefined) cleanups.push(() => audit.close()); // after the listeners (cleanups run in reverse)
    if (audit === undefined) logger.warn('the audit log is off (--audit-log-path off)');
    const dashboardDir = deps.dashboardDir ?? (await defaultDashboardDir());
    const dashboardBuilt = dashboardDir !== undefined && (await stat(join(dashboardDir, 'index.html')).then((s) => s.isFile(), () => false));
    if (!dashboardBuilt) logger.warn('the web dashboard is not built: run `npm run build`', { dir: dashboardDir });
    const api = createApiServer({
      store,
      kinds,
      auth: auth.authenticator,
      users: { users: auth.users, tokens: auth.authenticator },
      logger,
      nodeTokens,
      logs,
      allowedOrigins: options.allowedOrigins,
      audit,
      metrics,
      readinessChecks: controlPlaneReadinessChecks(() => startedControlPlane),
      dashboard: {
        dir: dashboardDir,
        caches: () => startedControlPlane?.dashboardCaches(), // 503 until the control plane runs
      },
    });
    cleanups.push(() => api.close());

    // servers sharing one etcd must accept the same join token: it is kept in the store
    const joinToken = await loadJoinToken({
      dataDir: options.dataDir,
      logger,
      store: options.store.type === 'etcd' ? store : undefined,
    }).catch((err: unknown) => {
      throw new StartupError(`join token: ${errorText(err)}`, { cause: err });
    });
    const grpcTls = options.grpcTls;
    const grpcCredentials = await agentEndpointCredentials(options, tls, logger);
    let controlPlane: RunningControlPlane;
    try {
      controlPlane = await startControlPlane({
        store,
        logger,
        nodeTokens,
        joinToken: joinToken.token,
        logs,
        grpc: {
          host: options.bindAddress,
          port: options.grpcPort,
          credentials: grpcCredentials,
        },
        leaderElection: options.store.type === 'etcd',
        metrics,
        nodeLeaseTtlSeconds: options.nodeLeaseTtlSeconds,
        nodeGracePeriodMs: options.nodeGracePeriodMs,
        eventTtlSeconds: options.eventTtlSeconds,
        leaderLeaseTtlSeconds: options.leaderLeaseTtlSeconds,
      });
    } catch (err) {
      throw new StartupError(`cannot start the controllers and the agent endpoint on ${urlHost(options.bindAddress)}:${options.grpcPort} (--grpc-port): ${errorText(err)}`, {
        cause: err,
      });
    }
    cleanups.push(() => controlPlane.close());
    startedControlPlane = controlPlane;
    const logRetention = new AbortController();
    const logRetentionDone = logs.run(logRetention.signal);
    cleanups.push(async () => {
      logRetention.abort();
      await logRetentionDone;
    });

    const httpServer = createHttpServer(api.app);
    const httpsServer = createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, api.app);
    const servers = [httpServer, httpsServer];
    cleanups.push(async () => {
      for (const s of servers) s.closeAllConnections();
      await Promise.all(servers.map(closeServer));
    });
    const httpPort = await listen(httpServer, options.httpPort, options.httpBindAddress, '--http-port');
    const httpsPort = await listen(httpsServer, options.httpsPort, options.bindAddress, '--https-port');
    const httpUrl = `http://${urlHost(options.httpBindAddress)}:${httpPort}`;
    const httpsUrl = `https://${urlHost(options.bindAddress)}:${httpsPort}`;
    logger.info('serving', { httpUrl, httpsUrl, store: describeStore(options.store) });

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= (async () => {
        logger.info('shutting down');
        const closed = Promise.all(servers.map(closeServer)); // stop accepting; resolves when connections end
        await api.close(); // ends watch streams
        await controlPlane.close(); // agents' streams, then every controller loop
        logRetention.abort();
        await logRetentionDone;
        for (const s of servers) s.closeIdleConnections();
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, SHUTDOWN_GRACE_MS);
        });
        await Promise.race([closed, grace]);
        clearTimeout(timer);
        for (const s of servers) s.closeAllConnections();
        await closed;
        await audit?.close(); // every answered request's record is already on disk; this flushes the rest
        await store.close();
        logger.info('stopped');
      })();
      return closing;
    };

    return {
      httpUrl,
      httpsUrl,
      caPath: tls.caPath,
      caCert: tls.caCert,
      adminPasswordPath: auth.adminPasswordPath,
      grpcAddress: `${urlHost(options.bindAddress)}:${controlPlane.grpcPort}`,
      grpcTls,
      joinTokenPath: joinToken.path,
      mintToken: (username, ttlSeconds) => auth.authenticator.mintToken(username, ttlSeconds),
      close,
    };
  } catch (err) {
    await undo();
    throw err instanceof StartupError ? err : new StartupError(errorText(err), { cause: err });
  }
}

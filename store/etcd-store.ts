// The Store on a real etcd v3 cluster, through the `etcd3` client's raw KV, Lease and Watch
// RPCs. User keys live under `${prefix}/`. Preconditions are etcd transactions comparing
// create_revision (ifAbsent, and the guard key's for a fenced write) or mod_revision (ifRevision); lists are range requests at one
// revision; watches resume after a broken stream (see etcd-watcher.ts); leases are etcd leases
// (LeaseId = the decimal etcd lease id).
//
// Every call has a deadline (gRPC deadline plus withDeadline). Reads are retried within it while
// etcd is unreachable; writes only when the request certainly was not sent, so that a write is
// never applied twice. The client's own retry and circuit-breaker policies are switched off for
// the same reason.
//
// Compaction: compact(R) compacts etcd and records R under the store's bookkeeping key (etcd has
// no call that tells the compaction revision). etcd compaction is cluster-wide: a compaction by
// another client (or another prefix) is still reported as CompactedError, with a compact revision
// that is only a lower bound. Automatic compaction, as kube-apiserver does:
// every `compactIntervalMs` (default 5 min; the server's storeHistorySeconds) compact to the
// revision seen at the previous tick, so at least one interval of history stays readable. Several servers sharing an etcd may all run
// it; compacting to an older revision than the last is a no-op.
//
// Security: `tls` (a CA, a client certificate for etcd's --client-cert-auth) makes every endpoint
// https; `auth` is etcd's own user/password auth: etcd3 fetches a token and, for unary calls, a
// new one when etcd says the token is invalid (simple tokens expire after --auth-token-ttl idle,
// 5 min by default, and die with an etcd restart). Streams are not covered by etcd3: a watch that
// etcd cancels for an invalid token, or a stream call failing so, renews the token through a unary
// call and retries. Credentials etcd refuses fail open() at once with a message saying so.
import { Etcd3, type ICompare, type IKeyValue, type IOptions, type IRequestOp, type IResponseHeader } from 'etcd3';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkTimeoutMs, withDeadline, type Deadline } from './deadline.js';
import {
  isEtcdAuthenticationFailed,
  isEtcdCompacted,
  isEtcdInvalidAuthToken,
  isEtcdNotSent,
  isEtcdPermissionDenied,
  isEtcdTlsFailure,
  isEtcdUnavailable,
  isEtcdUserEmpty,
  toStoreError,
} from './etcd-errors.js';
import { EtcdKeyspace } from './etcd-keyspace.js';
import { EtcdWatcher } from './etcd-watcher.js';
import {
  checkDeleteOptions,
  checkKey,
  checkLeaseId,
  checkListOptions,
  checkPrefix,
  checkPutOptions,
  checkRevision,
  checkTtl,
  checkValue,
  fencedMessage,
} from './store-args.js';
import { silentLogger, type StoreLogger } from './store-logger.js';
import {
  CompactedError,
  ConflictError,
  DEFAULT_STORE_HISTORY_MS,
  DEFAULT_STORE_TIMEOUT_MS,
  FencedError,
  LeaseNotFoundError,
  StoreClosedError,
  StoreError,
  StoreUnavailableError,
  type DeleteOptions,
  type DeleteResult,
  type KeyValue,
  type LeaseId,
  type ListOptions,
  type ListResult,
  type PutOptions,
  type PutResult,
  type Store,
  type WatchEvent,
  type WatchOptions,
} from './store.js';

/** TLS to etcd, PEM. Absent `ca`: the system's trusted roots verify etcd's certificate. */
export interface EtcdTlsOptions {
  /** CA certificate(s) that etcd's serving certificate must chain to. */
  readonly ca?: Buffer | string;
  /** Client certificate (chain) and its key, for etcd's --client-cert-auth; together or neither. */
  readonly cert?: Buffer | string;
  readonly key?: Buffer | string;
}

/** etcd's own authentication (`etcdctl auth enable`): a user and its password. */
export interface EtcdAuthOptions {
  readonly username: string;
  readonly password: string;
}

export interface EtcdStoreOptions {
  /**
   * etcd client URLs, e.g. ['http://127.0.0.1:2379']; a bare host:port is accepted too and gets
   * https:// when TLS is on (option tls, or any https:// endpoint), when http:// ones are refused.
   */
  readonly endpoints: readonly string[];
  readonly tls?: EtcdTlsOptions;
  readonly auth?: EtcdAuthOptions;
  /** Every key is stored under `${prefix}/`. Default '/openscheduler'. */
  readonly prefix?: string;
  /** Deadline of every call. Default DEFAULT_STORE_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** How often automatic compaction runs, hence the history kept (one to two intervals). Default 5 min; 0 turns it off. */
  readonly compactIntervalMs?: number;
  /** Bounds of the delay before re-establishing a broken watch stream. Default 100 ms .. 2 s. */
  readonly watchRetryMinMs?: number;
  readonly watchRetryMaxMs?: number;
  readonly logger?: StoreLogger;
}

interface CompiledOptions {
  /** With their scheme: all https:// or all http://. */
  readonly endpoints: readonly string[];
  readonly tls: EtcdTlsOptions | undefined;
  readonly auth: EtcdAuthOptions | undefined;
  readonly prefix: string;
  readonly timeoutMs: number;
  readonly compactIntervalMs: number;
  readonly watchRetryMinMs: number;
  readonly watchRetryMaxMs: number;
  readonly logger: StoreLogger;
}

function compileOptions(options: EtcdStoreOptions): CompiledOptions {
  const { endpoints } = options;
  if (!Array.isArray(endpoints) || endpoints.length === 0 || !endpoints.every((e) => typeof e === 'string' && e !== '')) {
    throw new RangeError('EtcdStore: option endpoints must be a non-empty list of URLs (http://host:port)');
  }
  const { tls, auth } = options;
  if (tls !== undefined && (tls.cert === undefined) !== (tls.key === undefined)) {
    throw new RangeError('EtcdStore: options tls.cert and tls.key must be given together');
  }
  if (auth !== undefined && !(typeof auth.username === 'string' && auth.username !== '' && typeof auth.password === 'string' && auth.password !== '')) {
    throw new RangeError('EtcdStore: option auth needs a non-empty username and password');
  }
  const integer = (name: string, value: number | undefined, fallback: number, min: number): number => {
    const v = value ?? fallback;
    if (!Number.isSafeInteger(v) || v < min) {
      throw new RangeError(`EtcdStore: option ${name} must be an integer >= ${min}, got ${String(v)}`);
    }
    return v;
  };
  const watchRetryMinMs = integer('watchRetryMinMs', options.watchRetryMinMs, 100, 1);
  return {
    endpoints: withScheme(endpoints, tls !== undefined),
    tls,
    auth,
    prefix: options.prefix ?? '/openscheduler',
    timeoutMs: checkTimeoutMs(options.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS),
    compactIntervalMs: integer('compactIntervalMs', options.compactIntervalMs, DEFAULT_STORE_HISTORY_MS, 0),
    watchRetryMinMs,
    watchRetryMaxMs: integer('watchRetryMaxMs', options.watchRetryMaxMs, 2_000, watchRetryMinMs),
    logger: options.logger ?? silentLogger,
  };
}

/** The endpoints with their scheme: https for all when TLS is on (an https:// one turns it on too). */
function withScheme(endpoints: readonly string[], tlsOption: boolean): string[] {
  const secure = tlsOption || endpoints.some((e) => /^https:\/\//i.test(e));
  return endpoints.map((endpoint) => {
    if (/^https?:\/\//i.test(endpoint)) {
      if (secure && /^http:\/\//i.test(endpoint)) {
        throw new RangeError(`EtcdStore: endpoint ${endpoint} is plain http, but TLS to etcd is on (option tls or an https:// endpoint); write https://host:port or host:port`);
      }
      return endpoint;
    }
    return `${secure ? 'https' : 'http'}://${endpoint}`;
  });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A gRPC error message on one line, without grpc-js's empty trailer. */
function tidy(message: string): string {
  return message.replace(/\s+/g, ' ').replace(/\s*Resolution note:\s*$/, '').trim();
}

/** What a failed TLS handshake most likely means, from the error OpenSSL or Node reported. */
function tlsHint(message: string): string {
  if (/alert (bad certificate|certificate required|unknown ca|certificate unknown)/i.test(message)) {
    return "etcd refused the client certificate: none was given, or it is not signed by etcd's --trusted-ca-file";
  }
  if (/Hostname\/IP does not match/i.test(message)) return "etcd's serving certificate does not name the endpoint's host";
  if (/unable to verify|self[- ]signed|unable to get (local )?issuer|signature failure/i.test(message)) {
    return "etcd's serving certificate is not signed by the CA given";
  }
  if (/wrong version number|packet length too long/i.test(message)) return 'etcd does not speak TLS on this port';
  return "check the CA against etcd's serving certificate and the client certificate against etcd's --trusted-ca-file";
}

/** Why open() failed, in words an operator can act on; the etcd error is the cause. */
function openError(options: CompiledOptions, err: unknown): StoreError {
  const where = `etcd at ${options.endpoints.join(',')}`;
  const cause = err instanceof StoreError && err.cause !== undefined ? err.cause : err;
  const detail = tidy(messageOf(cause));
  const username = options.auth?.username;
  const who = username !== undefined ? `user ${username}` : options.tls?.cert !== undefined ? "the user named by the client certificate's CN" : 'this client (no user given)';
  if (isEtcdAuthenticationFailed(cause)) {
    return new StoreError(`store open: ${where} refused the credentials of user ${String(username)}: ${detail}`, { cause: err });
  }
  if (isEtcdUserEmpty(cause)) {
    return new StoreError(`store open: ${where} has authentication enabled, but no user was given (a username and password, or a client certificate naming an etcd user): ${detail}`, { cause: err });
  }
  if (isEtcdPermissionDenied(cause)) {
    return new StoreError(`store open: ${where} denied ${who} access to the prefix ${options.prefix}: grant its role readwrite on that prefix: ${detail}`, { cause: err });
  }
  if (isEtcdTlsFailure(cause)) {
    return new StoreUnavailableError(`store open: the TLS handshake with ${where} failed (${tlsHint(detail)}): ${detail}`, { cause: err });
  }
  return new StoreUnavailableError(`store open: ${where} does not answer: ${tidy(messageOf(err))}`, { cause: err });
}

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/** A fault-handling policy that just runs the call: retries and timeouts are this store's job. */
const PASS_THROUGH = {
  execute: <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> =>
    Promise.resolve().then(() => fn({ signal: new AbortController().signal })),
} as unknown as Policy;

/** Pause between retries of a call while etcd is unreachable. */
const RETRY_DELAY_MS = 100;

function revisionOf(header: IResponseHeader): number {
  return Number(header.revision);
}

export class EtcdStore implements Store {
  private readonly options: CompiledOptions;
  private readonly client: Etcd3;
  private readonly keyspace: EtcdKeyspace;
  private readonly watchers = new Set<EtcdWatcher>();
  private readonly compactTimer: NodeJS.Timeout | undefined;
  /** The revision seen at the previous automatic-compaction tick. */
  private revisionAtLastTick: number | undefined;
  private closed = false;
  /** Set when a call ended with etcd unreachable; cleared by the next successful call. */
  private unreachable = false;

  /**
   * Creates the store and checks that etcd answers: StoreUnavailableError if it does not within
   * the timeout, or at once when the TLS handshake fails; StoreError when etcd refuses the
   * credentials or denies access to the prefix.
   */
  static async open(options: EtcdStoreOptions): Promise<EtcdStore> {
    const store = new EtcdStore(options);
    try {
      await store.currentRevision();
    } catch (err) {
      await store.close();
      throw openError(store.options, err);
    }
    return store;
  }

  /** Creates the store without contacting etcd (the first call connects). */
  constructor(options: EtcdStoreOptions) {
    const compiled = compileOptions(options);
    this.options = compiled;
    this.keyspace = new EtcdKeyspace(compiled.prefix);
    const { tls, auth } = compiled;
    const pem = (value: Buffer | string | undefined): Buffer | undefined => (value === undefined ? undefined : Buffer.from(value));
    this.client = new Etcd3({
      hosts: [...compiled.endpoints],
      // no CA: null makes grpc use the system's roots (etcd3's type wants a Buffer)
      ...(tls !== undefined ? { credentials: { rootCertificate: pem(tls.ca) ?? (null as unknown as Buffer), certChain: pem(tls.cert), privateKey: pem(tls.key) } } : {}),
      // the token request gets the call deadline too: without one, a hung etcd would hold every later call
      ...(auth !== undefined ? { auth: { username: auth.username, password: auth.password, callOptions: () => ({ deadline: Date.now() + compiled.timeoutMs }) } } : {}),
      faultHandling: { host: () => PASS_THROUGH, global: PASS_THROUGH },
      grpcOptions: {
        'grpc.max_receive_message_length': -1,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
      },
    });
    if (compiled.compactIntervalMs > 0) {
      this.compactTimer = setInterval(() => this.autoCompact(), compiled.compactIntervalMs).unref();
    }
  }

  async get(key: string): Promise<KeyValue | undefined> {
    checkKey('get', key);
    return this.read('get', async (deadline) => {
      const res = await this.client.kv.range({ key: this.keyspace.key(key) }, { deadline: deadline.at });
      const kv = res.kvs[0];
      return kv && this.keyspace.toKeyValue(kv);
    });
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    checkPrefix('list', prefix);
    checkListOptions(options);
    try {
      return await this.read('list', async (deadline) => {
        const res = await this.client.kv.range(
          { ...this.keyspace.range(prefix, options.after), limit: options.limit ?? 0, revision: options.revision ?? 0 },
          { deadline: deadline.at },
        );
        return {
          items: res.kvs.map((kv) => this.keyspace.toKeyValue(kv)),
          revision: options.revision ?? revisionOf(res.header),
          more: res.more,
        };
      });
    } catch (err) {
      if (options.revision !== undefined && err instanceof StoreError && isEtcdCompacted(err.cause)) {
        throw new CompactedError(options.revision, await this.compactRevisionAfter(options.revision));
      }
      throw err;
    }
  }

  async put(key: string, value: string, options: PutOptions = {}): Promise<PutResult> {
    checkKey('put', key);
    checkValue('put', value);
    checkPutOptions(options);
    const storedKey = this.keyspace.key(key);
    const compare = [
      ...this.guardCompare(options),
      ...(options.ifAbsent ? [{ key: storedKey, target: 'Create' as const, result: 'Equal' as const, create_revision: 0 }] : []),
      ...(options.ifRevision !== undefined
        ? [{ key: storedKey, target: 'Mod' as const, result: 'Equal' as const, mod_revision: options.ifRevision }]
        : []),
    ];
    const putOp: IRequestOp = {
      request_put: { key: storedKey, value: Buffer.from(value), ...(options.lease ? { lease: options.lease } : {}) },
    };
    return this.write('put', async (deadline) => {
      const res = await this.client.kv.txn(
        { compare, success: [putOp], failure: this.failureReads(storedKey, options) },
        { deadline: deadline.at },
      );
      if (!res.succeeded) {
        this.throwIfFenced(key, options, res.responses[1]?.response_range.kvs[0]);
        const current = res.responses[0]?.response_range.kvs[0];
        throw new ConflictError(key, this.conflictMessage(key, options, current));
      }
      return { revision: revisionOf(res.header) };
    });
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult | undefined> {
    checkKey('delete', key);
    checkDeleteOptions(options);
    const storedKey = this.keyspace.key(key);
    const compare = [
      ...this.guardCompare(options),
      ...(options.ifRevision === undefined
        ? []
        : [{ key: storedKey, target: 'Mod' as const, result: 'Equal' as const, mod_revision: options.ifRevision }]),
    ];
    return this.write('delete', async (deadline) => {
      const res = await this.client.kv.txn(
        {
          compare,
          success: [{ request_delete_range: { key: storedKey, prev_kv: true } }],
          failure: this.failureReads(storedKey, options),
        },
        { deadline: deadline.at },
      );
      if (!res.succeeded) {
        this.throwIfFenced(key, options, res.responses[1]?.response_range.kvs[0]);
        const current = res.responses[0]?.response_range.kvs[0];
        throw new ConflictError(key, this.conflictMessage(key, options, current));
      }
      const previous = res.responses[0]?.response_delete_range.prev_kvs[0];
      return previous && { revision: revisionOf(res.header), previous: this.keyspace.toKeyValue(previous) };
    });
  }

  /**
   * The gRPC stream opens at once (not at the first next()). Without fromRevision, events start
   * after the revision at which etcd established the watch; pass fromRevision to be exact.
   */
  watch(prefix: string, options: WatchOptions = {}): AsyncIterable<WatchEvent[]> {
    checkPrefix('watch', prefix);
    if (options.fromRevision !== undefined) checkRevision('watch', 'options.fromRevision', options.fromRevision);
    const watcher = new EtcdWatcher(
      {
        client: this.client,
        keyspace: this.keyspace,
        logger: this.options.logger,
        retryMinMs: this.options.watchRetryMinMs,
        retryMaxMs: this.options.watchRetryMaxMs,
        renewAuthToken: () => this.renewAuthToken(Date.now() + this.options.timeoutMs),
        onStopped: (w) => this.watchers.delete(w),
      },
      prefix,
      options.fromRevision,
      options.signal,
    );
    if (this.closed) {
      watcher.fail(new StoreClosedError('store watch: the store is closed'));
      return watcher;
    }
    this.watchers.add(watcher);
    watcher.start();
    return watcher;
  }

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    checkTtl(ttlSeconds);
    return this.write('grantLease', async (deadline) => {
      const res = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }, { deadline: deadline.at });
      if (res.error) throw new StoreError(`store grantLease: etcd: ${res.error}`);
      return res.ID;
    });
  }

  async keepAlive(lease: LeaseId): Promise<void> {
    checkLeaseId('keepAlive', lease);
    return this.read('keepAlive', async (deadline) => {
      const stream = await this.client.leaseClient.leaseKeepAlive({ deadline: deadline.at });
      try {
        const ttl = await new Promise<string>((resolve, reject) => {
          stream.on('data', (res) => resolve(res.TTL));
          stream.on('error', reject);
          stream.on('end', () => reject(new StoreUnavailableError('store keepAlive: the keep-alive stream ended')));
          deadline.signal.addEventListener('abort', () => reject(new StoreUnavailableError('store keepAlive: timed out')));
          stream.write({ ID: lease });
        });
        if (Number(ttl) <= 0) throw new LeaseNotFoundError(`lease ${lease} not found (expired or revoked)`);
      } finally {
        stream.end();
        stream.cancel();
      }
    });
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    checkLeaseId('revokeLease', lease);
    return this.write('revokeLease', async (deadline) => {
      try {
        await this.client.leaseClient.leaseRevoke({ ID: lease }, { deadline: deadline.at });
      } catch (err) {
        if (!(toStoreError(err, 'revokeLease', false) instanceof LeaseNotFoundError)) throw err;
      }
    });
  }

  currentRevision(): Promise<number> {
    return this.read('currentRevision', async (deadline) => {
      const res = await this.client.kv.range(
        { key: this.keyspace.compactRevisionKey, count_only: true },
        { deadline: deadline.at },
      );
      return revisionOf(res.header);
    });
  }

  async compact(revision: number): Promise<void> {
    checkRevision('compact', 'revision', revision);
    await this.write('compact', async (deadline) => {
      try {
        await this.client.kv.compact({ revision }, { deadline: deadline.at });
      } catch (err) {
        if (!isEtcdCompacted(err)) throw err; // already compacted at or after `revision`
      }
    });
    // Record the revision unless a newer one is recorded (several servers may compact).
    await this.write('compact', async (deadline) => {
      const key = this.keyspace.compactRevisionKey;
      for (let attempt = 0; attempt < 10; attempt++) {
        const current = (await this.client.kv.range({ key }, { deadline: deadline.at })).kvs[0];
        if (current && Number(current.value.toString()) >= revision) return;
        const res = await this.client.kv.txn(
          {
            compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: current?.mod_revision ?? 0 }],
            success: [{ request_put: { key, value: Buffer.from(String(revision)) } }],
          },
          { deadline: deadline.at },
        );
        if (res.succeeded) return;
      }
      throw new StoreError('store compact: could not record the compaction revision (too much contention)');
    });
  }

  compactedRevision(): Promise<number> {
    return this.read('compactedRevision', async (deadline) => {
      const res = await this.client.kv.range({ key: this.keyspace.compactRevisionKey }, { deadline: deadline.at });
      return Number(res.kvs[0]?.value.toString() ?? 0);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.compactTimer);
    for (const watcher of [...this.watchers]) watcher.fail(new StoreClosedError('store watch: the store was closed'));
    this.client.close();
  }

  // --- internals ---

  /** A call that may be repeated: retried within its deadline while etcd is unreachable. */
  private read<T>(operation: string, call: (deadline: Deadline) => Promise<T>): Promise<T> {
    return this.call(operation, call, isEtcdUnavailable);
  }

  /** A call that must not be applied twice: retried only when it certainly was not sent. */
  private write<T>(operation: string, call: (deadline: Deadline) => Promise<T>): Promise<T> {
    return this.call(operation, call, isEtcdNotSent);
  }

  private call<T>(
    operation: string,
    call: (deadline: Deadline) => Promise<T>,
    retryable: (err: unknown) => boolean,
  ): Promise<T> {
    return withDeadline(operation, this.options.timeoutMs, async (deadline) => {
      let renewedToken = false;
      for (;;) {
        if (this.closed) throw new StoreClosedError(`store ${operation}: the store is closed`);
        try {
          const result = await call(deadline);
          this.unreachable = false;
          return result;
        } catch (err) {
          if (this.options.auth !== undefined && !renewedToken && isEtcdInvalidAuthToken(err)) {
            // a stream call with an expired token (etcd rejected it, so a write is safe to repeat)
            renewedToken = true;
            await this.renewAuthToken(deadline.at);
            continue;
          }
          const mapped = toStoreError(err, operation, this.closed);
          const unavailable = mapped instanceof StoreUnavailableError;
          // Retrying rides out a blip; once etcd is known to be unreachable, callers get their
          // 503 at once instead of each waiting out the whole deadline.
          const retry =
            unavailable &&
            !this.unreachable &&
            retryable(err) &&
            !isEtcdTlsFailure(err) && // a certificate problem does not pass by itself
            !deadline.signal.aborted &&
            Date.now() + RETRY_DELAY_MS < deadline.at;
          if (!retry) {
            if (unavailable) this.unreachable = true;
            throw mapped;
          }
          await sleep(RETRY_DELAY_MS);
        }
      }
    }).catch((err: unknown) => {
      if (err instanceof StoreUnavailableError) this.unreachable = true;
      throw err;
    });
  }

  /**
   * Makes etcd3 fetch a new auth token: a unary call whose token etcd finds invalid makes etcd3
   * authenticate again and repeat it (etcd3 does so for unary calls only). Never rejects.
   */
  private async renewAuthToken(deadlineAt: number): Promise<void> {
    if (this.options.auth === undefined || this.closed) return;
    await this.client.kv.range({ key: this.keyspace.compactRevisionKey, count_only: true }, { deadline: deadlineAt }).then(
      () => undefined,
      () => undefined,
    );
  }

  /** The compare of a write's guard: the guard key's create_revision (0 when absent, which never equals a guard's). */
  private guardCompare(options: PutOptions | DeleteOptions): ICompare[] {
    const { guard } = options;
    if (guard === undefined) return [];
    return [{ key: this.keyspace.key(guard.key), target: 'Create', result: 'Equal', create_revision: guard.createRevision }];
  }

  /** What a failed write's txn reads to explain itself: the target key, then the guard key if any. */
  private failureReads(storedKey: Buffer, options: PutOptions | DeleteOptions): IRequestOp[] {
    return [
      { request_range: { key: storedKey } },
      ...(options.guard !== undefined ? [{ request_range: { key: this.keyspace.key(options.guard.key) } }] : []),
    ];
  }

  /** Throws FencedError when a failed write had a guard that did not hold (`held`: the guard key as read by the txn). */
  private throwIfFenced(key: string, options: PutOptions | DeleteOptions, held: IKeyValue | undefined): void {
    const { guard } = options;
    if (guard === undefined) return;
    const actual = held === undefined ? undefined : Number(held.create_revision);
    if (actual !== guard.createRevision) {
      throw new FencedError(key, guard.key, fencedMessage(key, guard.key, guard.createRevision, actual));
    }
  }

  private conflictMessage(key: string, options: PutOptions, current: IKeyValue | undefined): string {
    if (options.ifAbsent) return `key ${key} already exists`;
    return current
      ? `key ${key} is at revision ${current.mod_revision}, not ${String(options.ifRevision)}`
      : `key ${key} does not exist (expected revision ${String(options.ifRevision)})`;
  }

  /** The recorded compaction revision, or (when compacted by someone else) a bound above `requested`. */
  private async compactRevisionAfter(requested: number): Promise<number> {
    const recorded = await this.compactedRevision().catch(() => 0);
    return recorded > requested ? recorded : requested + 1;
  }

  private autoCompact(): void {
    const previous = this.revisionAtLastTick;
    this.currentRevision()
      .then(async (now) => {
        this.revisionAtLastTick = now;
        if (previous !== undefined && previous > 0) await this.compact(previous);
      })
      .catch((err: unknown) => {
        if (!this.closed) this.options.logger.warn('store: automatic etcd compaction failed', { error: String(err) });
      });
  }
}

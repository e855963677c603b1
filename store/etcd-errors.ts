// The one mapping of etcd client errors to the Store's error classes.
import { EtcdAuthenticationFailedError, EtcdInvalidAuthTokenError, EtcdLeaseInvalidError, EtcdPermissionDeniedError, isRecoverableError } from 'etcd3';
import { FutureRevisionError, LeaseNotFoundError, StoreClosedError, StoreError, StoreUnavailableError } from './store.js';

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** etcd rejected a read or compaction below its compaction revision. */
export function isEtcdCompacted(err: unknown): boolean {
  return messageOf(err).includes('required revision has been compacted');
}

/**
 * True when the request certainly never reached etcd (no connection could be made), so that
 * even a write may be retried without risk of applying it twice.
 */
export function isEtcdNotSent(err: unknown): boolean {
  return /No connection established|ECONNREFUSED|BrokenCircuit/i.test(messageOf(err));
}

/**
 * The TLS handshake with etcd failed: etcd's certificate does not verify against our CA (or names
 * another host), or etcd refused our client certificate (missing, or from another CA). Retrying
 * does not help; the configuration must change.
 */
export function isEtcdTlsFailure(err: unknown): boolean {
  return /SSL routines|alert (bad certificate|certificate required|unknown ca|handshake failure|certificate unknown)|unable to verify|self[- ]signed certificate|unable to get (local )?issuer|certificate (has expired|is not yet valid|signature failure)|Hostname\/IP does not match|ERR_TLS_|wrong version number/i.test(
    messageOf(err),
  );
}

/** etcd refused the username/password (etcd3 throws this while fetching the auth token). */
export function isEtcdAuthenticationFailed(err: unknown): boolean {
  return err instanceof EtcdAuthenticationFailedError || messageOf(err).includes('authentication failed, invalid user ID or password');
}

/** etcd has auth enabled and the call carried no user (no token, no client certificate naming one). */
export function isEtcdUserEmpty(err: unknown): boolean {
  return messageOf(err).includes('etcdserver: user name is empty');
}

/** The user may not do this (its roles lack the permission). */
export function isEtcdPermissionDenied(err: unknown): boolean {
  return err instanceof EtcdPermissionDeniedError || messageOf(err).includes('etcdserver: permission denied');
}

/**
 * The auth token expired (etcd's simple tokens: after --auth-token-ttl idle, 5 min by default) or
 * was lost (etcd restarted). etcd3 fetches a new one for unary calls by itself, not for streams.
 */
export function isEtcdInvalidAuthToken(err: unknown): boolean {
  return err instanceof EtcdInvalidAuthTokenError || messageOf(err).includes('etcdserver: invalid auth token');
}

/** True when etcd or the way to it is (perhaps briefly) unavailable: worth retrying a read. */
export function isEtcdUnavailable(err: unknown): boolean {
  if (err instanceof Error && isRecoverableError(err)) return true;
  return (
    isEtcdNotSent(err) ||
    /etcdserver: (request timed out|leader changed|no leader|too many requests|server stopped)|ClientClosedError|closed client/i.test(
      messageOf(err),
    )
  );
}

/**
 * Maps an error thrown by the etcd client during `operation`. Store errors and argument errors
 * pass through; `closed` turns everything else into StoreClosedError.
 */
export function toStoreError(err: unknown, operation: string, closed: boolean): unknown {
  if (err instanceof StoreError || err instanceof RangeError || err instanceof TypeError) return err;
  const message = `store ${operation}: ${messageOf(err)}`;
  if (closed) return new StoreClosedError(`store ${operation}: the store is closed`, { cause: err });
  if (err instanceof EtcdLeaseInvalidError || message.includes('requested lease not found')) {
    return new LeaseNotFoundError(message, { cause: err });
  }
  if (message.includes('required revision is a future revision')) {
    return new FutureRevisionError(`store ${operation}: the revision is newer than the current revision`, { cause: err });
  }
  if (isEtcdUnavailable(err)) return new StoreUnavailableError(message, { cause: err });
  return new StoreError(message, { cause: err });
}

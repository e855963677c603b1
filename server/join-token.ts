// The cluster join token (like k3s's), kept in `<data-dir>/join-token` (mode 0600). An agent
// given it may Register a node that has no per-node token yet and receives one
// (RegisterResponse.node_token); it can never act for a node that already has a token.
// Alone (SQLite) a server generates the file once. Servers sharing one store (etcd) share one
// token through the store key JOIN_TOKEN_KEY, and each keeps its file equal to it, so that an
// agent joins through any of them.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'winston';
import { createSecretFile, readSecretFile, writeSecretFile } from '../apiserver/secret-file.js';
import { ConflictError, type Store } from '../store/store.js';

export const JOIN_TOKEN_FILE = 'join-token';
export const JOIN_TOKEN_PREFIX = 'osj_';
/** Where servers sharing one store (etcd) keep the cluster's join token. */
export const JOIN_TOKEN_KEY = '/registry/secrets/join-token';
const MIN_JOIN_TOKEN_LENGTH = 32;

function generateJoinToken(): string {
  return `${JOIN_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** Whether `token` (already trimmed) is one token of at least MIN_JOIN_TOKEN_LENGTH characters. */
function isValidJoinToken(token: string): boolean {
  return token.length >= MIN_JOIN_TOKEN_LENGTH && !/\s/.test(token);
}

/** The token a join token file holds; throws naming the file when it is not one valid token. */
function tokenOfFile(path: string, data: string): string {
  const token = data.trim();
  if (!isValidJoinToken(token)) {
    throw new Error(`join token file ${path} must hold one token of at least ${MIN_JOIN_TOKEN_LENGTH} characters; delete it to generate a new one`);
  }
  return token;
}

/** Reads the data dir's join token, creating it first if absent. */
export async function ensureJoinToken(dataDir: string): Promise<{ token: string; path: string }> {
  const path = join(dataDir, JOIN_TOKEN_FILE);
  await createSecretFile(path, `${generateJoinToken()}\n`);
  const file = await readSecretFile(path);
  if (file === undefined) throw new Error(`join token file ${path} vanished while starting`);
  return { token: tokenOfFile(path, file.data), path };
}

/**
 * Resolves the join token: with `store` (several servers on one etcd), the token under
 * JOIN_TOKEN_KEY — created once (ifAbsent) by whichever server comes first, from its
 * `<dataDir>/join-token` when it has one, else generated — written to `<dataDir>/join-token`
 * (replacing a different token there, with a warning); without, ensureJoinToken. Store errors
 * are thrown naming the key. Never logs the token.
 */
export async function loadJoinToken(options: {
  readonly dataDir: string;
  readonly logger: Logger;
  /** Share the token through this store. */
  readonly store?: Store;
}): Promise<{ token: string; path: string }> {
  if (options.store === undefined) return ensureJoinToken(options.dataDir);
  const { store, logger } = options;
  const path = join(options.dataDir, JOIN_TOKEN_FILE);
  const file = await readSecretFile(path);
  const token = await sharedJoinToken(store, logger, () => (file === undefined ? undefined : tokenOfFile(path, file.data)));
  if (file === undefined) {
    await writeSecretFile(path, `${token}\n`);
  } else if (file.data.trim() !== token) {
    await writeSecretFile(path, `${token}\n`);
    logger.warn('replaced the join token file with the cluster join token from the store; the token it held no longer registers agents', {
      path,
      key: JOIN_TOKEN_KEY,
    });
  } else if (file.mode & 0o077) {
    logger.warn('join token file is readable by others; it should have mode 0600', { path, mode: file.mode.toString(8) });
  }
  return { token, path };
}

/**
 * The token under JOIN_TOKEN_KEY. When absent, stores `local()` (this server's own token, if
 * any) or a generated one with ifAbsent; a server losing that race reads the winner's.
 */
async function sharedJoinToken(store: Store, logger: Logger, local: () => string | undefined): Promise<string> {
  const read = async (): Promise<string | undefined> => {
    let value: string | undefined;
    try {
      value = (await store.get(JOIN_TOKEN_KEY))?.value;
    } catch (err) {
      throw new Error(`cannot read the join token from the store (${JOIN_TOKEN_KEY}): ${(err as Error).message}`, { cause: err });
    }
    if (value === undefined) return undefined;
    const token = value.trim();
    if (!isValidJoinToken(token)) {
      throw new Error(
        `the join token in the store (${JOIN_TOKEN_KEY}) must be one token of at least ${MIN_JOIN_TOKEN_LENGTH} characters; delete the key to generate a new one`,
      );
    }
    return token;
  };
  const existing = await read();
  if (existing !== undefined) {
    logger.info('join token loaded from the store', { key: JOIN_TOKEN_KEY });
    return existing;
  }
  const own = local();
  const candidate = own ?? generateJoinToken();
  try {
    await store.put(JOIN_TOKEN_KEY, candidate, { ifAbsent: true });
  } catch (err) {
    if (!(err instanceof ConflictError)) {
      throw new Error(`cannot store the join token under ${JOIN_TOKEN_KEY}: ${(err as Error).message}`, { cause: err });
    }
    const raced = await read(); // another server created it first
    if (raced === undefined) throw new Error(`the join token key ${JOIN_TOKEN_KEY} was created and deleted while starting`, { cause: err });
    logger.info('join token loaded from the store', { key: JOIN_TOKEN_KEY });
    return raced;
  }
  logger.info(
    own === undefined
      ? 'generated a join token and stored it for every server on this store'
      : "stored this server's join token for every server on this store",
    { key: JOIN_TOKEN_KEY },
  );
  return candidate;
}

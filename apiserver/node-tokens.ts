// Per-node agent tokens: issued by the server, bound to one node, listable and revocable.
// A token is `ost_<id>.<secret>`; the Store keeps only SHA-256 of the secret, under
// /registry/nodetokens/<id> as JSON {id, nodeName, secretHash, createdAt, expiresAt?, description?, createdBy}.
// The secret is 32 random bytes, so a fast hash is enough (no brute force of a password space).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DNS1123_SUBDOMAIN } from '../api/schema.js';
import { ConflictError, type Store } from '../store/store.js';
import { InvalidFieldError } from './users.js';

export const NODE_TOKENS_PREFIX = '/registry/nodetokens/';
export const NODE_TOKEN_PREFIX = 'ost_';
/** RFC 4648 base32 alphabet, lower case. */
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
export const NODE_TOKEN_ID_LENGTH = 12;
const SECRET_BYTES = 32;
/** base64url of 32 bytes, unpadded. */
const SECRET_LENGTH = 43;
const TOKEN_PATTERN = /^ost_([a-z2-7]{12})\.([A-Za-z0-9_-]{43})$/;
const ID_PATTERN = /^[a-z2-7]{12}$/;
const TOKEN_LENGTH = NODE_TOKEN_PREFIX.length + NODE_TOKEN_ID_LENGTH + 1 + SECRET_LENGTH;
const NODE_NAME_PATTERN = new RegExp(DNS1123_SUBDOMAIN);
export const NODE_NAME_MAX = 253;
/** Longest lifetime accepted: ten years. */
export const MAX_TTL_SECONDS = 10 * 365 * 24 * 60 * 60;
export const DESCRIPTION_MAX = 256;
const CREATE_ATTEMPTS = 5;

/** What the Store holds for one token. */
export interface NodeTokenRecord {
  readonly id: string;
  readonly nodeName: string;
  /** SHA-256 of the secret, hex. */
  readonly secretHash: string;
  /** RFC 3339, no fractional seconds. */
  readonly createdAt: string;
  readonly expiresAt?: string;
  readonly description?: string;
  readonly createdBy: string;
}

/** A token as listed: everything but the hash. */
export type NodeTokenInfo = Omit<NodeTokenRecord, 'secretHash'>;

/** The answer to create: the only time the token is seen. */
export interface IssuedNodeToken extends NodeTokenInfo {
  readonly token: string;
}

export interface CreateNodeTokenOptions {
  /** Lifetime in seconds (1..MAX_TTL_SECONDS); absent: no expiry. */
  readonly ttlSeconds?: number;
  readonly description?: string;
  /** Who asked for it (the user name), recorded for audit. Default `unknown`. */
  readonly createdBy?: string;
}

export interface NodeTokenRegistryOptions {
  /** Wall clock in ms since the epoch (tests move it). */
  readonly now?: () => number;
}

/** The id names no token. Maps to 404. */
export class NodeTokenNotFoundError extends Error {
  override readonly name = 'NodeTokenNotFoundError';
  constructor(readonly id: string) {
    super(`node token "${id}" not found`);
  }
}

/** Throws InvalidFieldError unless `name` is a DNS-1123 subdomain of at most 253 characters. */
export function validateNodeName(name: unknown, field = 'nodeName'): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidFieldError(field, `${field} is required (a string)`);
  if (name.length > NODE_NAME_MAX) throw new InvalidFieldError(field, `${field} must be at most ${NODE_NAME_MAX} characters`);
  if (!NODE_NAME_PATTERN.test(name)) {
    throw new InvalidFieldError(
      field,
      `${field} must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)`,
    );
  }
}

function validateOptions(options: CreateNodeTokenOptions): void {
  const { ttlSeconds, description } = options;
  if (ttlSeconds !== undefined) {
    if (typeof ttlSeconds !== 'number' || !Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) {
      throw new InvalidFieldError('ttlSeconds', `ttlSeconds must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`);
    }
  }
  if (description !== undefined) {
    if (typeof description !== 'string') throw new InvalidFieldError('description', 'description must be a string');
    if (description.length > DESCRIPTION_MAX) {
      throw new InvalidFieldError('description', `description must be at most ${DESCRIPTION_MAX} characters`);
    }
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    if (/[\u0000-\u001f\u007f]/.test(description)) {
      throw new InvalidFieldError('description', 'description must not contain control characters (newlines, tabs, ...)');
    }
  }
}

const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function randomId(): string {
  // 256 is a multiple of 32, so `byte & 31` is uniform.
  return Array.from(randomBytes(NODE_TOKEN_ID_LENGTH), (b) => ID_ALPHABET[b & 31]).join('');
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

function info(record: NodeTokenRecord): NodeTokenInfo {
  const { secretHash: _secretHash, ...rest } = record;
  return rest;
}

function parseRecord(value: string): NodeTokenRecord | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const v = parsed as Record<string, unknown>;
  const ok =
    typeof v.id === 'string' &&
    typeof v.nodeName === 'string' &&
    typeof v.secretHash === 'string' &&
    /^[0-9a-f]{64}$/.test(v.secretHash) &&
    typeof v.createdAt === 'string' &&
    typeof v.createdBy === 'string' &&
    (v.expiresAt === undefined || typeof v.expiresAt === 'string') &&
    (v.description === undefined || typeof v.description === 'string');
  return ok ? (parsed as NodeTokenRecord) : undefined;
}

/** Issues, checks, lists and revokes node tokens in the Store. Store errors propagate unchanged. */
export class NodeTokenRegistry {
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    options: NodeTokenRegistryOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Issues a token for `nodeName`. Throws InvalidFieldError naming the bad field. */
  async create(nodeName: string, options: CreateNodeTokenOptions = {}): Promise<IssuedNodeToken> {
    validateNodeName(nodeName);
    validateOptions(options);
    const createdBy = options.createdBy ?? 'unknown';
    const secret = randomBytes(SECRET_BYTES).toString('base64url');
    const now = this.now();
    for (let attempt = 1; ; attempt++) {
      const id = randomId();
      const record: NodeTokenRecord = {
        id,
        nodeName,
        secretHash: sha256(secret).toString('hex'),
        createdAt: rfc3339(now),
        ...(options.ttlSeconds !== undefined ? { expiresAt: rfc3339(now + options.ttlSeconds * 1000) } : {}),
        ...(options.description !== undefined && options.description !== '' ? { description: options.description } : {}),
        createdBy,
      };
      try {
        await this.store.put(NODE_TOKENS_PREFIX + id, JSON.stringify(record), { ifAbsent: true });
      } catch (err) {
        // 60 bits of id: a collision is all but impossible, but never overwrite another token.
        if (err instanceof ConflictError && attempt < CREATE_ATTEMPTS) continue;
        throw err;
      }
      return { ...info(record), token: `${NODE_TOKEN_PREFIX}${id}.${secret}` };
    }
  }

  /**
   * The token's id and node when it is well formed, known, unexpired and its secret matches;
   * undefined otherwise (never throws for bad input). Store errors propagate.
   */
  async verify(token: unknown): Promise<{ id: string; nodeName: string } | undefined> {
    if (typeof token !== 'string' || token.length !== TOKEN_LENGTH) return undefined;
    const match = TOKEN_PATTERN.exec(token);
    if (!match) return undefined;
    const [, id, secret] = match as unknown as [string, string, string];
    const kv = await this.store.get(NODE_TOKENS_PREFIX + id);
    if (!kv) return undefined;
    const record = parseRecord(kv.value);
    if (!record || record.id !== id) return undefined;
    const expected = Buffer.from(record.secretHash, 'hex');
    const actual = sha256(secret);
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
    if (record.expiresAt !== undefined) {
      const expires = Date.parse(record.expiresAt);
      if (Number.isNaN(expires) || expires <= this.now()) return undefined;
    }
    return { id: record.id, nodeName: record.nodeName };
  }

  /** Every token (expired ones too), oldest first; never a secret or its hash. */
  async list(): Promise<NodeTokenInfo[]> {
    const out: NodeTokenInfo[] = [];
    let after: string | undefined;
    let revision: number | undefined;
    for (;;) {
      const page = await this.store.list(NODE_TOKENS_PREFIX, { limit: 500, after, revision });
      for (const kv of page.items) {
        const record = parseRecord(kv.value);
        if (record) out.push(info(record));
      }
      if (!page.more || page.items.length === 0) break;
      after = page.items[page.items.length - 1]!.key;
      revision = page.revision;
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Deletes a token; it stops verifying at once. Throws NodeTokenNotFoundError for an unknown id. */
  async revoke(id: string): Promise<NodeTokenInfo> {
    if (typeof id !== 'string' || !ID_PATTERN.test(id)) throw new NodeTokenNotFoundError(String(id));
    const deleted = await this.store.delete(NODE_TOKENS_PREFIX + id);
    if (!deleted) throw new NodeTokenNotFoundError(id);
    const record = parseRecord(deleted.previous.value);
    return record ? info(record) : { id, nodeName: '', createdAt: '', createdBy: '' };
  }
}

// Users of the API, stored in the Store under /registry/users/<name> as JSON
// {name, role, passwordHash, createdAt}; passwords are kept only as bcrypt hashes.
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { ConflictError, type Store } from '../store/store.js';

export const USERS_PREFIX = '/registry/users/';
export const ROLES = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** bcrypt work factor for new hashes (about 250 ms per hash or check on a 2-core machine). */
export const DEFAULT_BCRYPT_COST = 12;
/** The lowest work factor accepted (tests may use it to run faster). */
export const MIN_BCRYPT_COST = 10;
/** bcrypt reads at most 72 bytes; longer passwords would be silently truncated, so they are refused. */
export const PASSWORD_MIN_BYTES = 8;
export const PASSWORD_MAX_BYTES = 72;
const USERNAME_PATTERN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const USERNAME_MAX = 63;

export interface UserRecord {
  readonly name: string;
  readonly role: Role;
  readonly passwordHash: string;
  /** RFC 3339, no fractional seconds. */
  readonly createdAt: string;
}

/** A bad input value; `field` names it and the message states the rule. Maps to 400. */
export class InvalidFieldError extends Error {
  override readonly name = 'InvalidFieldError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** A user with this name exists already (create with ifAbsent lost). */
export class UserExistsError extends Error {
  override readonly name = 'UserExistsError';
  constructor(readonly username: string) {
    super(`user "${username}" already exists`);
  }
}

/** Throws InvalidFieldError unless `name` is a valid user name. */
export function validateUsername(name: unknown, field = 'username'): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidFieldError(field, `${field} is required (a string)`);
  if (name.length > USERNAME_MAX) throw new InvalidFieldError(field, `${field} must be at most ${USERNAME_MAX} characters`);
  if (!USERNAME_PATTERN.test(name)) {
    throw new InvalidFieldError(field, `${field} must match ${USERNAME_PATTERN.source} (lower-case letters, digits, '-', '.')`);
  }
}

/** Throws InvalidFieldError unless `password` is a string of 8 to 72 bytes (UTF-8). */
export function validatePassword(password: unknown, field = 'password'): asserts password is string {
  if (typeof password !== 'string' || password.length === 0) {
    throw new InvalidFieldError(field, `${field} is required (a string)`);
  }
  const bytes = Buffer.byteLength(password, 'utf8');
  if (bytes < PASSWORD_MIN_BYTES || bytes > PASSWORD_MAX_BYTES) {
    throw new InvalidFieldError(field, `${field} must be ${PASSWORD_MIN_BYTES} to ${PASSWORD_MAX_BYTES} bytes long (UTF-8)`);
  }
}

export function validateRole(role: unknown, field = 'role'): asserts role is Role {
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
    throw new InvalidFieldError(field, `${field} must be one of ${ROLES.join(', ')}`);
  }
}

function isUserRecord(value: unknown): value is UserRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.name === 'string' &&
    typeof v.role === 'string' &&
    (ROLES as readonly string[]).includes(v.role) &&
    typeof v.passwordHash === 'string' &&
    typeof v.createdAt === 'string'
  );
}

export interface UserRegistryOptions {
  /** bcrypt cost for new hashes; default DEFAULT_BCRYPT_COST, at least MIN_BCRYPT_COST. */
  readonly bcryptCost?: number;
  /** Wall clock (ms since epoch) for createdAt. */
  readonly now?: () => number;
}

/** Reads and writes user records in the Store. Store errors propagate unchanged. */
export class UserRegistry {
  private readonly cost: number;
  private readonly now: () => number;
  /** Hash of a random password, checked for unknown users so that they take as long as known ones. */
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly store: Store,
    options: UserRegistryOptions = {},
  ) {
    this.cost = options.bcryptCost ?? DEFAULT_BCRYPT_COST;
    if (!Number.isInteger(this.cost) || this.cost < MIN_BCRYPT_COST || this.cost > 31) {
      throw new RangeError(`bcrypt cost must be an integer from ${MIN_BCRYPT_COST} to 31, got ${this.cost}`);
    }
    this.now = options.now ?? Date.now;
  }

  /** The user, or undefined when absent. Throws if the stored record is malformed. */
  async get(name: string): Promise<UserRecord | undefined> {
    if (!USERNAME_PATTERN.test(name) || name.length > USERNAME_MAX) return undefined;
    const kv = await this.store.get(USERS_PREFIX + name);
    if (!kv) return undefined;
    return parseRecord(kv.key, kv.value);
  }

  /** Every user, in name order. */
  async list(): Promise<UserRecord[]> {
    const out: UserRecord[] = [];
    let after: string | undefined;
    let revision: number | undefined;
    for (;;) {
      const page = await this.store.list(USERS_PREFIX, { limit: 500, after, revision });
      for (const kv of page.items) out.push(parseRecord(kv.key, kv.value));
      if (!page.more || page.items.length === 0) return out;
      after = page.items[page.items.length - 1]!.key;
      revision = page.revision;
    }
  }

  /**
   * Creates a user. Validates name, role and password (InvalidFieldError); throws
   * UserExistsError when the name is taken — the existing user is never overwritten.
   */
  async create(name: string, role: Role, password: string): Promise<UserRecord> {
    validateUsername(name);
    validateRole(role);
    validatePassword(password);
    const record: UserRecord = {
      name,
      role,
      passwordHash: await bcrypt.hash(password, this.cost),
      createdAt: new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    try {
      await this.store.put(USERS_PREFIX + name, JSON.stringify(record), { ifAbsent: true });
    } catch (err) {
      if (err instanceof ConflictError) throw new UserExistsError(name);
      throw err;
    }
    return record;
  }

  /**
   * The user when `password` is theirs, else undefined. Unknown users are checked against a
   * dummy hash of the same cost, so both failures take the same time.
   */
  async verify(name: string, password: string): Promise<UserRecord | undefined> {
    const user = await this.get(name);
    const hash = user?.passwordHash ?? (await this.dummy());
    const ok = await bcrypt.compare(password, hash);
    return ok && user ? user : undefined;
  }

  /** Computes the dummy hash now, so that the first failed login is not slower than the rest. */
  async prepare(): Promise<void> {
    await this.dummy();
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= bcrypt.hash(randomBytes(32).toString('base64url'), this.cost);
    return this.dummyHash;
  }
}

function parseRecord(key: string, value: string): UserRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new Error(`user record ${key} is not valid JSON`, { cause: err });
  }
  if (!isUserRecord(parsed)) throw new Error(`user record ${key} lacks name, role, passwordHash or createdAt`);
  return parsed;
}

// Users of the API, stored in the Store under /registry/users/<name> as JSON
// {name, role, passwordHash, createdAt[, passwordChangedAt, updatedAt]}; passwords are kept only
// as bcrypt hashes.
//
// Changes are compare-and-swap writes on the user's key (a concurrent change is re-read and
// retried, never lost). Changes that could remove the last admin (deleting or demoting an admin)
// also hold a store lock (a key under a lease) while they check that another admin remains, so
// that two servers cannot each remove "the other" admin at once.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { ConflictError, type KeyValue, type LeaseId, type Store } from '../store/store.js';

export const USERS_PREFIX = '/registry/users/';
/** Held (under a lease) by a change that removes an admin; outside USERS_PREFIX so lists skip it. */
export const ADMIN_LOCK_KEY = '/registry/locks/admin-users';
/** The lock's lease: a server that dies while holding it blocks admin removals for at most this long. */
const ADMIN_LOCK_TTL_SECONDS = 10;
/** How long a change waits for the admin lock before giving up (UserChangeBusyError). */
const ADMIN_LOCK_WAIT_MS = 5000;
/** Compare-and-swap attempts before a change gives up (UserChangeBusyError). */
const MAX_CAS_ATTEMPTS = 20;
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
  /** When the password was last changed; RFC 3339 with milliseconds. Absent: never changed. */
  readonly passwordChangedAt?: string;
  /**
   * When the record last changed after its creation (password or role); RFC 3339 with
   * milliseconds. Absent in records never changed (and in records of older versions).
   * Tokens issued before it are refused (auth.ts).
   */
  readonly updatedAt?: string;
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

/** No user of this name exists. */
export class UserNotFoundError extends Error {
  override readonly name = 'UserNotFoundError';
  constructor(readonly username: string) {
    super(`user "${username}" not found`);
  }
}

/** The change would leave no admin (deleting or demoting the last one). */
export class LastAdminError extends Error {
  override readonly name = 'LastAdminError';
  constructor(
    readonly username: string,
    action: 'delete' | 'demote',
  ) {
    super(
      `cannot ${action} user "${username}": it is the last admin; create or promote another admin first`,
    );
  }
}

/** Concurrent changes kept this one from completing in time; the caller may retry. */
export class UserChangeBusyError extends Error {
  override readonly name = 'UserChangeBusyError';
  constructor(readonly username: string) {
    super(`user "${username}" is being changed concurrently; try again`);
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
    typeof v.createdAt === 'string' &&
    (v.passwordChangedAt === undefined || typeof v.passwordChangedAt === 'string') &&
    (v.updatedAt === undefined || typeof v.updatedAt === 'string')
  );
}

/** The last change of a user's credentials or role in ms since the epoch (tokens issued before it are void). */
export function credentialsChangedAtMs(user: UserRecord): number | undefined {
  const times = [user.updatedAt, user.passwordChangedAt]
    .filter((t): t is string => t !== undefined)
    .map((t) => Date.parse(t))
    .filter((t) => Number.isFinite(t));
  return times.length === 0 ? undefined : Math.max(...times);
}

/** Called after a user was changed or deleted in this process (e.g. to drop cached copies). */
export type UserChangeListener = (username: string) => void;

export interface UserRegistryOptions {
  /** bcrypt cost for new hashes; default DEFAULT_BCRYPT_COST, at least MIN_BCRYPT_COST. */
  readonly bcryptCost?: number;
  /** Wall clock (ms since epoch) for createdAt, updatedAt and passwordChangedAt. */
  readonly now?: () => number;
}

/** Reads and writes user records in the Store. Store errors propagate unchanged. */
export class UserRegistry {
  private readonly cost: number;
  private readonly now: () => number;
  /** Hash of a random password, checked for unknown users so that they take as long as known ones. */
  private dummyHash: Promise<string> | undefined;
  private readonly listeners: UserChangeListener[] = [];

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

  /** Registers a listener called (synchronously) after every change or deletion made by this registry. */
  onChange(listener: UserChangeListener): void {
    this.listeners.push(listener);
  }

  /** The user, or undefined when absent. Throws if the stored record is malformed. */
  async get(name: string): Promise<UserRecord | undefined> {
    return (await this.read(name))?.record;
  }

  private async read(name: string): Promise<{ record: UserRecord; kv: KeyValue } | undefined> {
    if (!USERNAME_PATTERN.test(name) || name.length > USERNAME_MAX) return undefined;
    const kv = await this.store.get(USERS_PREFIX + name);
    if (!kv) return undefined;
    return { record: parseRecord(kv.key, kv.value), kv };
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
   * Sets a user's password (validated as in create) and stamps passwordChangedAt and updatedAt,
   * which voids the user's earlier tokens. Throws UserNotFoundError when absent.
   */
  async setPassword(name: string, password: string): Promise<UserRecord> {
    validatePassword(password);
    const passwordHash = await bcrypt.hash(password, this.cost);
    return this.change(name, (current) => {
      const at = this.timestamp();
      return { ...current, passwordHash, passwordChangedAt: at, updatedAt: at };
    });
  }

  /**
   * Sets a user's role and stamps updatedAt (voiding earlier tokens); an unchanged role writes
   * nothing. Throws UserNotFoundError when absent, LastAdminError when it would demote the last admin.
   */
  async setRole(name: string, role: Role): Promise<UserRecord> {
    validateRole(role);
    return this.change(name, (current) => (current.role === role ? undefined : { ...current, role, updatedAt: this.timestamp() }), 'demote');
  }

  /** Deletes a user. Throws UserNotFoundError when absent, LastAdminError when it is the last admin. */
  async delete(name: string): Promise<UserRecord> {
    return this.change(name, () => null, 'delete');
  }

  /**
   * Read-modify-write of one user with a revision precondition, retried from a fresh read on
   * conflict. `next` returns the new record, null to delete, or undefined for no change. A change
   * that takes the admin role away runs under the admin lock after checking another admin remains.
   */
  private async change(
    name: string,
    next: (current: UserRecord) => UserRecord | null | undefined,
    removal: 'delete' | 'demote' = 'demote',
  ): Promise<UserRecord> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const found = await this.read(name);
      if (!found) throw new UserNotFoundError(name);
      const { record, kv } = found;
      const updated = next(record);
      if (updated === undefined) return record;
      const removesAdmin = record.role === 'admin' && (updated === null || updated.role !== 'admin');
      const write = async (): Promise<void> => {
        if (updated === null) await this.store.delete(kv.key, { ifRevision: kv.modRevision });
        else await this.store.put(kv.key, JSON.stringify(updated), { ifRevision: kv.modRevision });
      };
      try {
        if (removesAdmin) {
          await this.withAdminLock(name, async () => {
            const admins = (await this.list()).filter((u) => u.role === 'admin' && u.name !== name);
            if (admins.length === 0) throw new LastAdminError(name, removal);
            await write();
          });
        } else {
          await write();
        }
      } catch (err) {
        if (err instanceof ConflictError) continue;
        throw err;
      }
      for (const listener of this.listeners) listener(name);
      return updated ?? record;
    }
    throw new UserChangeBusyError(name);
  }

  /** Runs `fn` while holding ADMIN_LOCK_KEY (a key on a short lease, released after). */
  private async withAdminLock(name: string, fn: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + ADMIN_LOCK_WAIT_MS;
    let lease: LeaseId | undefined;
    while (lease === undefined) {
      const candidate = await this.store.grantLease(ADMIN_LOCK_TTL_SECONDS);
      try {
        await this.store.put(ADMIN_LOCK_KEY, name, { ifAbsent: true, lease: candidate });
        lease = candidate;
      } catch (err) {
        // An unrevoked lease expires on its own: a failure to revoke it changes nothing.
        await this.store.revokeLease(candidate).catch(() => undefined);
        if (!(err instanceof ConflictError)) throw err;
        if (Date.now() >= deadline) throw new UserChangeBusyError(name);
        await sleep(20 + Math.floor(Math.random() * 30));
      }
    }
    try {
      await fn();
    } finally {
      // Revoking the lease deletes the lock key; if the store fails here the lease expires instead.
      await this.store.revokeLease(lease).catch(() => undefined);
    }
  }

  private timestamp(): string {
    return new Date(this.now()).toISOString();
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

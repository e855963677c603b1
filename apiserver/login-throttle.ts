// Repeated failed logins are slowed down per user name and per source address (issue 5): after
// `maxFailuresPerUser` failures for one name, or `maxFailuresPerAddress` from one address, within
// `windowMs`, further attempts are refused with 429 and Retry-After until the oldest counted
// failure leaves the window — before the password is even checked, so a locked name cannot be
// probed. Unknown names count like known ones (the answers must not tell them apart). A
// successful login clears its name's failures. Memory is bounded: at most `maxTracked` keys,
// the least recently failed dropped first.

export interface LoginThrottleOptions {
  maxFailuresPerUser?: number;
  maxFailuresPerAddress?: number;
  windowMs?: number;
  maxTracked?: number;
  now?: () => number;
}

export const DEFAULT_MAX_FAILURES_PER_USER = 5;
export const DEFAULT_MAX_FAILURES_PER_ADDRESS = 20;
export const DEFAULT_LOGIN_WINDOW_MS = 15 * 60_000;

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();
  private readonly perUser: number;
  private readonly perAddress: number;
  private readonly windowMs: number;
  private readonly maxTracked: number;
  private readonly now: () => number;

  constructor(options: LoginThrottleOptions = {}) {
    this.perUser = options.maxFailuresPerUser ?? DEFAULT_MAX_FAILURES_PER_USER;
    this.perAddress = options.maxFailuresPerAddress ?? DEFAULT_MAX_FAILURES_PER_ADDRESS;
    this.windowMs = options.windowMs ?? DEFAULT_LOGIN_WINDOW_MS;
    this.maxTracked = options.maxTracked ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /** Seconds to wait before `username` may try again from `address`; 0 when it may now. */
  retryAfterSeconds(username: string, address: string): number {
    const t = this.now();
    const wait = Math.max(this.waitMs(userKey(username), this.perUser, t), this.waitMs(addressKey(address), this.perAddress, t));
    return wait > 0 ? Math.ceil(wait / 1000) : 0;
  }

  recordFailure(username: string, address: string): void {
    const t = this.now();
    for (const key of [userKey(username), addressKey(address)]) {
      const list = this.recent(key, t);
      list.push(t);
      this.failures.delete(key); // re-inserted last: the Map's order is the eviction order
      this.failures.set(key, list);
    }
    while (this.failures.size > this.maxTracked) {
      const oldest = this.failures.keys().next().value;
      if (oldest === undefined) break;
      this.failures.delete(oldest);
    }
  }

  recordSuccess(username: string): void {
    this.failures.delete(userKey(username));
  }

  private recent(key: string, t: number): number[] {
    return (this.failures.get(key) ?? []).filter((at) => at > t - this.windowMs);
  }

  private waitMs(key: string, limit: number, t: number): number {
    const list = this.recent(key, t);
    if (list.length < limit) return 0;
    // allowed again when enough of the counted failures have left the window
    const releasing = list[list.length - limit] as number;
    return releasing + this.windowMs - t;
  }
}

function userKey(username: string): string {
  return `u:${username}`;
}

function addressKey(address: string): string {
  return `a:${address}`;
}

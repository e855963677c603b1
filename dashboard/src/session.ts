// The logged-in session, kept in sessionStorage (this tab only; gone when it closes).
export interface Session {
  readonly token: string;
  readonly username: string;
  readonly role: string;
  /** RFC 3339; the token is refused after it. */
  readonly expiresAt: string;
}

const KEY = 'openscheduler.session';

export function loadSession(now: number = Date.now()): Session | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (raw === null) return undefined;
    const session = JSON.parse(raw) as Session;
    if (typeof session.token !== 'string' || Date.parse(session.expiresAt) <= now) {
      sessionStorage.removeItem(KEY);
      return undefined;
    }
    return session;
  } catch {
    return undefined;
  }
}

export function saveSession(session: Session | undefined): void {
  if (session === undefined) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, JSON.stringify(session));
}

/**
 * Who is signed in. Kept in memory and in sessionStorage (this tab only, gone when it
 * closes), never in localStorage or a cookie: a token must not outlive the tab or leak to
 * other tabs.
 */
export type Session =
  | { kind: 'tenant'; tenant: string; email: string; token: string; expiresAt: number }
  | { kind: 'operator'; key: string };

const KEY = 'tenant-ledger-console/session';

export function loadSession(now = Date.now()): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (s.kind === 'tenant' && (typeof s.token !== 'string' || s.expiresAt <= now)) return null;
    if (s.kind === 'operator' && typeof s.key !== 'string') return null;
    return s;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  try {
    if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
    else sessionStorage.removeItem(KEY);
  } catch {
    // storage disabled: the session lives in memory only
  }
}

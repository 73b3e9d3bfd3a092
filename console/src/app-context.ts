import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Lang, Translate } from './i18n';
import type { Session } from './session';

export interface AppState {
  session: Session | null;
  lang: Lang;
  t: Translate;
  signIn(s: Session): void;
  signOut(): void;
  /** Shows a route (`#/audit`, `#/records/customer`, …). */
  go(route: string): void;
}

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const a = useContext(AppContext);
  if (!a) throw new Error('AppContext missing');
  return a;
}

/** The tenant session (views that only tenants reach). */
export function useTenant(): AppState & { session: Extract<Session, { kind: 'tenant' }> } {
  const a = useApp();
  if (a.session?.kind !== 'tenant') throw new Error('not signed in to a tenant');
  return a as AppState & { session: Extract<Session, { kind: 'tenant' }> };
}

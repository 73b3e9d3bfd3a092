import { render } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useState } from 'preact/hooks';
import { UNAUTHORIZED_EVENT } from './api';
import { AppContext, type AppState, useApp as useAppState } from './app-context';
import { initialLang, type Lang, LANGS, rememberLang, translator } from './i18n';
import { parseRoute, type Route } from './route';
import { loadSession, type Session, saveSession } from './session';
import { AuditView } from './views/Audit';
import { RecordView } from './views/Record';
import { RecordsView } from './views/Records';
import { SignIn } from './views/SignIn';
import { TenantsView, TenantView } from './views/Operator';
import { TypesView, TypeView } from './views/Types';
import { UsersView } from './views/Users';

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function App() {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [lang, setLang] = useState<Lang>(initialLang);
  const [expired, setExpired] = useState(false);
  const hash = useHash();
  const t = useMemo(() => translator(lang), [lang]);
  // Before the browser paints: the page's language changes with its text, never after it.
  useLayoutEffect(() => {
    document.documentElement.lang = lang;
    document.title = t('appTitle');
  }, [lang, t]);

  useEffect(() => {
    const on = () => {
      saveSession(null);
      setSession(null);
      setExpired(true);
    };
    addEventListener(UNAUTHORIZED_EVENT, on);
    return () => removeEventListener(UNAUTHORIZED_EVENT, on);
  }, []);

  const app: AppState = {
    session,
    lang,
    t,
    signIn(s) {
      setExpired(false);
      saveSession(s);
      setSession(s);
      location.hash = s.kind === 'operator' ? '#/tenants' : '#/audit';
    },
    signOut() {
      saveSession(null);
      setSession(null);
      location.hash = '';
    },
    go(route) {
      location.hash = route;
    },
  };

  const fallback: Route = session?.kind === 'operator' ? { view: 'tenants' } : { view: 'audit' };
  let route = parseRoute(hash) ?? fallback;
  // An operator sees only operator views, a tenant user only tenant views.
  const operatorView = route.view === 'tenants' || route.view === 'tenant';
  if (session && operatorView !== (session.kind === 'operator')) route = fallback;

  return (
    <AppContext.Provider value={app}>
      {/* A button, not a "#main" link: with hash routes a fragment link would be read as a route. */}
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        {t('skipToContent')}
      </button>
      <header class="top">
        <span class="brand">{t('appTitle')}</span>
        {session && <Nav route={route} />}
        <div class="top-right">
          <label class="lang">
            {t('language')}
            <select
              value={lang}
              onChange={(e) => {
                const l = e.currentTarget.value as Lang;
                rememberLang(l);
                setLang(l);
              }}
            >
              {LANGS.map((l) => (
                <option key={l.code} value={l.code}>
                  {l.label}
                </option>
              ))}
            </select>
          </label>
          {session && (
            <>
              <span class="who">
                {t('signedInAs', { who: session.kind === 'operator' ? t('asOperator') : `${session.email} @ ${session.tenant}` })}
              </span>
              <button type="button" class="link" onClick={() => app.signOut()}>
                {t('signOut')}
              </button>
            </>
          )}
        </div>
      </header>
      {session ? (
        <View route={route} />
      ) : (
        <>
          {expired && (
            <p role="alert" class="error notice">
              {t('sessionExpired')}
            </p>
          )}
          <SignIn />
        </>
      )}
    </AppContext.Provider>
  );
}

function Nav({ route }: { route: Route }) {
  const { t, session } = useAppState();
  const items =
    session?.kind === 'operator'
      ? [{ href: '#/tenants', label: t('navTenants'), on: route.view === 'tenants' || route.view === 'tenant' }]
      : [
          { href: '#/audit', label: t('navAudit'), on: route.view === 'audit' },
          { href: '#/types', label: t('navTypes'), on: ['types', 'type', 'records', 'record'].includes(route.view) },
          { href: '#/users', label: t('navUsers'), on: route.view === 'users' },
        ];
  return (
    <nav aria-label={t('nav')}>
      <ul>
        {items.map((i) => (
          <li key={i.href}>
            <a href={i.href} aria-current={i.on ? 'page' : undefined}>
              {i.label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function View({ route }: { route: Route }) {
  switch (route.view) {
    case 'audit':
      return <AuditView />;
    case 'types':
      return <TypesView />;
    case 'type':
      return <TypeView type={route.type} />;
    case 'records':
      return <RecordsView type={route.type} />;
    case 'record':
      return <RecordView type={route.type} id={route.id} />;
    case 'users':
      return <UsersView />;
    case 'tenants':
      return <TenantsView />;
    case 'tenant':
      return <TenantView tenant={route.tenant} />;
    default: {
      const never: never = route;
      return never;
    }
  }
}

const root = document.getElementById('app');
if (root) render(<App />, root);

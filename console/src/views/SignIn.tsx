import { useState } from 'preact/hooks';
import { call, path } from '../api';
import { useApp } from '../app-context';
import { ErrorBox, RadioGroup, TextField } from '../components';

/** Sign-in: a tenant user (tenant, email, password → bearer token) or an operator (operator key). */
export function SignIn() {
  const { t, signIn } = useApp();
  const [mode, setMode] = useState<'tenant' | 'operator'>('tenant');
  const [tenant, setTenant] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'tenant') {
        const r = await call<{ access_token: string; expires_in: number }>(null, 'POST', path`t/${tenant.trim()}/auth/token`, {
          body: { email: email.trim(), password },
        });
        signIn({
          kind: 'tenant',
          tenant: tenant.trim(),
          email: email.trim(),
          token: r.body.access_token,
          expiresAt: Date.now() + r.body.expires_in * 1000,
        });
      } else {
        // The key is checked by an operator read before it is kept.
        await call({ kind: 'operator', key: key.trim() }, 'GET', 'tenants');
        signIn({ kind: 'operator', key: key.trim() });
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
      setPassword('');
    }
  }

  return (
    <main id="main" tabIndex={-1} class="signin">
      <h1>{t('signInTitle')}</h1>
      <form onSubmit={submit} class="card form">
        <RadioGroup
          class="segmented"
          legend={t('signInAs')}
          name="mode"
          value={mode}
          options={[
            { value: 'tenant', label: t('asTenantUser') },
            { value: 'operator', label: t('asOperator') },
          ]}
          onValue={(m) => setMode(m === 'operator' ? 'operator' : 'tenant')}
        />
        {mode === 'tenant' ? (
          <>
            <TextField label={t('tenant')} name="tenant" required autoComplete="organization" value={tenant} onValue={setTenant} />
            <TextField label={t('email')} name="email" type="email" required autoComplete="username" value={email} onValue={setEmail} />
            <TextField
              label={t('password')}
              name="password"
              type="password"
              required
              autoComplete="current-password"
              value={password}
              onValue={setPassword}
            />
          </>
        ) : (
          <TextField label={t('operatorKey')} name="operatorKey" type="password" required autoComplete="off" value={key} onValue={setKey} />
        )}
        <button type="submit" disabled={busy}>
          {t('signIn')}
        </button>
        <ErrorBox error={error} />
      </form>
    </main>
  );
}

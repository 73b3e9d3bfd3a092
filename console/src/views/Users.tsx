import { useState } from 'preact/hooks';
import { call, path, query } from '../api';
import { useTenant } from '../app-context';
import {
  Author,
  ChangesTable,
  CheckboxGroup,
  ErrorBox,
  Instant,
  LoadMore,
  type Page,
  Section,
  TextField,
  useLoad,
  usePaged,
} from '../components';

const ROLES = ['viewer', 'editor', 'admin'] as const;

interface User {
  userId: string;
  email: string;
  displayName: string | null;
  roles: string[];
  disabled: boolean;
  version: number;
}
interface UserHistory {
  items: Array<{
    version: number;
    timestamp: string;
    author?: { kind: string; email?: string; userId?: string; id?: string };
    events: Array<{ type: string; changes?: Array<{ path: string; old?: unknown; new?: unknown }> }>;
  }>;
}

/**
 * Users and roles (administrators): the tenant's users from `GET …/users`, a page at a time
 * (shown by email), each opened by its email (`GET …/users?email=`, which also gives its ETag
 * for the change).
 */
export function UsersView() {
  const { t, session } = useTenant();
  const list = usePaged(
    async (continuation) =>
      (await call<Page<User>>(session, 'GET', `${path`t/${session.tenant}/users`}${query({ limit: '100', continuation })}`)).body,
    [session],
  );
  const [email, setEmail] = useState('');
  const [user, setUser] = useState<{ user: User; etag: string | null } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const users = [...list.items].sort((a, b) => a.email.localeCompare(b.email));

  async function find(e: string) {
    setError(null);
    setEmail(e);
    try {
      const r = await call<User>(session, 'GET', `${path`t/${session.tenant}/users`}${query({ email: e.trim() })}`);
      setUser({ user: r.body, etag: r.etag });
    } catch (err) {
      setUser(null);
      setError(err);
    }
  }

  /** After a change: the list again from its first page, and the user shown again. */
  function changed(e: string) {
    list.first.reload();
    void find(e);
  }

  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('usersTitle')}</h1>
      <ErrorBox error={list.first.error} />
      <Section title={t('knownUsers')} id="known-users">
        {!list.loaded && list.first.loading && <p aria-live="polite">{t('loading')}</p>}
        <table class="list users">
          <thead>
            <tr>
              <th scope="col">{t('email')}</th>
              <th scope="col">{t('displayName')}</th>
              <th scope="col">{t('roles')}</th>
              <th scope="col">{t('status')}</th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.userId} aria-current={user?.user.userId === u.userId ? 'true' : undefined}>
                <th scope="row">
                  <button type="button" class="link" onClick={() => void find(u.email)}>
                    {u.email}
                  </button>
                </th>
                <td>{u.displayName ?? '—'}</td>
                <td>{u.roles.join(', ')}</td>
                <td>{u.disabled ? <span class="badge bad">{t('disabled')}</span> : t('active')}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <LoadMore list={list} />
      </Section>
      <form
        class="card form inline"
        onSubmit={(e) => {
          e.preventDefault();
          void find(email);
        }}
      >
        <TextField label={t('findUser')} name="findEmail" type="email" required value={email} onValue={setEmail} />
        <button type="submit">{t('find')}</button>
      </form>
      <ErrorBox error={error} />
      {user && (
        <UserCard
          key={`${user.user.userId}/${user.user.version}`}
          user={user.user}
          etag={user.etag}
          onChanged={() => changed(user.user.email)}
        />
      )}
      <CreateUser onCreated={changed} />
    </main>
  );
}

function UserCard({ user, etag, onChanged }: { user: User; etag: string | null; onChanged(): void }) {
  const { t, session } = useTenant();
  const [roles, setRoles] = useState<string[]>(user.roles);
  const [disabled, setDisabled] = useState(user.disabled);
  const [error, setError] = useState<unknown>(null);
  const history = useLoad(
    () => call<UserHistory>(session, 'GET', path`t/${session.tenant}/users/${user.userId}/history`),
    [session, user.userId, user.version],
  );

  async function save(e: Event) {
    e.preventDefault();
    setError(null);
    try {
      await call(session, 'PATCH', path`t/${session.tenant}/users/${user.userId}`, {
        body: { roles, disabled },
        headers: etag ? { 'if-match': etag } : {},
      });
      onChanged();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <Section title={user.displayName ? `${user.displayName} <${user.email}>` : user.email} id="user">
      <p class="muted">
        {user.userId} · {t('version')} {user.version}
      </p>
      <form class="form" onSubmit={save}>
        <CheckboxGroup legend={t('roles')} name="role-" options={ROLES} checked={roles} onChecked={setRoles}>
          <label class="check">
            <input type="checkbox" name="disabled" checked={disabled} onChange={(e) => setDisabled(e.currentTarget.checked)} />
            {t('disabled')}
          </label>
        </CheckboxGroup>
        <button type="submit">{t('saveRoles')}</button>
        <ErrorBox error={error} />
      </form>
      <h3>{t('userHistory')}</h3>
      <ErrorBox error={history.error} />
      <ol class="timeline">
        {(history.data?.body.items ?? []).map((h) => (
          <li key={h.version} class="entry">
            <div class="entry-head">
              {t('version')} {h.version} · <Instant iso={h.timestamp} /> · <Author a={h.author} /> ·{' '}
              <strong class="event-type">{h.events.map((e) => e.type).join(', ')}</strong>
            </div>
            <ChangesTable changes={h.events.flatMap((e) => e.changes ?? [])} />
          </li>
        ))}
      </ol>
    </Section>
  );
}

function CreateUser({ onCreated }: { onCreated(email: string): void }) {
  const { t, session } = useTenant();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [roles, setRoles] = useState<string[]>(['viewer']);
  const [error, setError] = useState<unknown>(null);

  async function create(e: Event) {
    e.preventDefault();
    setError(null);
    try {
      await call(session, 'POST', path`t/${session.tenant}/users`, {
        body: { email: email.trim(), password, roles, ...(displayName.trim() ? { displayName: displayName.trim() } : {}) },
      });
      setPassword('');
      onCreated(email.trim());
    } catch (err) {
      setError(err);
    }
  }

  return (
    <form class="card form" onSubmit={create}>
      <h2>{t('createUser')}</h2>
      <TextField label={t('email')} name="newEmail" type="email" required value={email} onValue={setEmail} />
      <TextField label={t('displayName')} name="displayName" value={displayName} onValue={setDisplayName} />
      <TextField
        label={t('password')}
        name="newPassword"
        type="password"
        required
        autoComplete="new-password"
        value={password}
        onValue={setPassword}
      />
      <CheckboxGroup legend={t('roles')} name="new-role-" options={ROLES} checked={roles} onChecked={setRoles} />
      <button type="submit">{t('createUser')}</button>
      <ErrorBox error={error} />
    </form>
  );
}

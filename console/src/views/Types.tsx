import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, path } from '../api';
import { useTenant } from '../app-context';
import { Author, ErrorBox, Instant, useLoad } from '../components';
import { href } from '../route';

export interface TypeDefinition {
  type: string;
  schema: Record<string, unknown>;
  version: number;
  updatedAt: string;
  updatedBy?: { kind: string; email?: string; userId?: string };
}

/** Every type of the tenant, and a form for a new one. */
export function TypesView() {
  const { t, session, go } = useTenant();
  const types = useLoad(() => call<{ items: TypeDefinition[] }>(session, 'GET', path`t/${session.tenant}/types`), [session]);
  const [name, setName] = useState('');
  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('typesTitle')}</h1>
      <ErrorBox error={types.error} />
      {types.data && types.data.body.items.length === 0 && <p>{t('noTypes')}</p>}
      {types.data && types.data.body.items.length > 0 && (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">{t('typeName')}</th>
              <th scope="col">{t('version')}</th>
              <th scope="col">{t('updated')}</th>
              <th scope="col">{t('who')}</th>
            </tr>
          </thead>
          <tbody>
            {types.data.body.items.map((ty) => (
              <tr key={ty.type}>
                <td>
                  <a href={href('records', ty.type)}>{ty.type}</a> (<a href={href('types', ty.type)}>{t('editSchema')}</a>)
                </td>
                <td>{ty.version}</td>
                <td>
                  <Instant iso={ty.updatedAt} />
                </td>
                <td>
                  <Author a={ty.updatedBy} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="card form inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) go(href('types', name.trim()));
        }}
      >
        <label>
          {t('newType')}
          <input name="newType" required pattern="[a-z][a-z0-9_-]*" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <button type="submit">{t('editSchema')}</button>
      </form>
    </main>
  );
}

const STARTER = JSON.stringify({ type: 'object', required: ['name'], properties: { name: { type: 'string' } } }, null, 2);

/**
 * One type's JSON Schema, edited as text. The API validates it (Ajv, strict): a refused
 * schema comes back as 422 with each error at its JSON Pointer path, shown as a list.
 */
export function TypeView({ type }: { type: string }) {
  const { t, session } = useTenant();
  const current = useLoad(async () => {
    try {
      return (await call<TypeDefinition>(session, 'GET', path`t/${session.tenant}/types/${type}`)).body;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }, [session, type]);
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  // The loaded schema (or a starter for a new type) fills the editor; a reload after saving keeps what was typed.
  const [filledFor, setFilledFor] = useState<string | null>(null);
  useEffect(() => {
    if (current.data === undefined || filledFor === type) return;
    setText(current.data ? JSON.stringify(current.data.schema, null, 2) : STARTER);
    setFilledFor(type);
  }, [current.data, type, filledFor]);

  async function save(e: Event) {
    e.preventDefault();
    setError(null);
    setSaved(false);
    let schema: unknown;
    try {
      schema = JSON.parse(text);
    } catch (err) {
      setError(new Error(t('invalidJson', { message: (err as Error).message })));
      return;
    }
    try {
      await call(session, 'PUT', path`t/${session.tenant}/types/${type}`, { body: schema });
      setSaved(true);
      current.reload();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <main id="main" tabIndex={-1}>
      <h1>
        {t('typeName')}: {type}
      </h1>
      <p>
        <a href={href('records', type)}>{t('openRecords')}</a>
      </p>
      <ErrorBox error={current.error} />
      {current.data && (
        <p class="muted">
          {t('version')} {current.data.version} · <Instant iso={current.data.updatedAt} /> · <Author a={current.data.updatedBy} />
        </p>
      )}
      {current.loading && current.data === undefined && <p aria-live="polite">{t('loading')}</p>}
      {/* The editor appears once the schema is loaded, so nothing typed is replaced by the loaded text. */}
      {filledFor === type && (
        <form class="card form" onSubmit={save}>
          <label>
            {t('schema')}
            <textarea name="schema" rows={16} spellcheck={false} value={text} onInput={(e) => setText(e.currentTarget.value)} />
          </label>
          <button type="submit">{t('saveType')}</button>
          {saved && (
            <p role="status" class="ok">
              {t('saved')}
            </p>
          )}
          <ErrorBox error={error} />
        </form>
      )}
    </main>
  );
}

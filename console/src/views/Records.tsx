import { useState } from 'preact/hooks';
import { call, path, query } from '../api';
import { useTenant } from '../app-context';
import {
  Author,
  ErrorBox,
  FilterForm,
  Instant,
  LoadMore,
  type Page,
  SelectField,
  TextField,
  useLoad,
  usePaged,
  Value,
} from '../components';
import { href } from '../route';
import type { TypeDefinition } from './Types';

export interface RecordDoc {
  id: string;
  type: string;
  version: number;
  data: Record<string, unknown>;
  createdAt: string;
  createdBy?: { kind: string; email?: string; userId?: string };
  updatedAt: string;
  updatedBy?: { kind: string; email?: string; userId?: string };
  files?: FileRef[];
}
export interface FileRef {
  fileId: string;
  name: string;
  contentType: string;
  size: number;
  version: number;
  attachedAt: string;
}
type RecordPage = Page<RecordDoc>;

interface ListQuery {
  field: string;
  value: string;
  sort: string;
  dir: 'asc' | 'desc';
}
const EMPTY: ListQuery = { field: '', value: '', sort: '', dir: 'asc' };

/**
 * The records of one type, with the API's equality filter (`?field=value`, the value read as
 * JSON when it is JSON, else as a string) and sort (`sort=-field`), paged; and a new record.
 */
export function RecordsView({ type }: { type: string }) {
  const { t, session, go } = useTenant();
  const def = useLoad(() => call<TypeDefinition>(session, 'GET', path`t/${session.tenant}/types/${type}`), [session, type]);
  const properties = Object.keys((def.data?.body.schema.properties as Record<string, unknown> | undefined) ?? {});
  const [draft, setDraft] = useState<ListQuery>(EMPTY);
  const [q, setQ] = useState<ListQuery>(EMPTY);
  const [newData, setNewData] = useState('{\n  \n}');
  const [createError, setCreateError] = useState<unknown>(null);

  const qs = (continuation?: string) => {
    const params: Record<string, string | undefined> = {
      limit: '50',
      continuation,
      sort: q.sort ? (q.dir === 'desc' ? `-${q.sort}` : q.sort) : undefined,
    };
    if (q.field.trim() && !['limit', 'continuation', 'sort', 'asOf'].includes(q.field.trim()))
      params[q.field.trim()] = asFilterValue(q.value);
    return query(params);
  };
  const list = usePaged(
    async (continuation) =>
      (await call<RecordPage>(session, 'GET', `${path`t/${session.tenant}/records/${type}`}${qs(continuation)}`)).body,
    [session, type, q],
  );
  const { first, items } = list;
  const columns = properties.length > 0 ? properties.slice(0, 6) : [...new Set(items.flatMap((r) => Object.keys(r.data)))].slice(0, 6);

  async function create(e: Event) {
    e.preventDefault();
    setCreateError(null);
    let data: unknown;
    try {
      data = JSON.parse(newData);
    } catch (err) {
      setCreateError(new Error(t('invalidJson', { message: (err as Error).message })));
      return;
    }
    try {
      const r = await call<RecordDoc>(session, 'POST', path`t/${session.tenant}/records/${type}`, { body: data });
      go(href('records', type, r.body.id));
    } catch (err) {
      setCreateError(err);
    }
  }

  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('recordsTitle', { type })}</h1>
      <FilterForm
        onApply={() => setQ(draft)}
        onClear={() => {
          setDraft(EMPTY);
          setQ(EMPTY);
        }}
      >
        <TextField
          label={t('filterField')}
          name="field"
          list="record-fields"
          value={draft.field}
          onValue={(field) => setDraft({ ...draft, field })}
        />
        <datalist id="record-fields">
          {properties.map((p) => (
            <option key={p} value={p} />
          ))}
        </datalist>
        <TextField label={t('filterValue')} name="value" value={draft.value} onValue={(value) => setDraft({ ...draft, value })} />
        <SelectField
          label={t('sortBy')}
          name="sort"
          value={draft.sort}
          options={[{ value: '', label: t('noSort') }, ...properties.map((p) => ({ value: p, label: p }))]}
          onValue={(sort) => setDraft({ ...draft, sort })}
        />
        <SelectField
          label={t('sortDirection')}
          name="dir"
          value={draft.dir}
          options={[
            { value: 'asc', label: t('ascending') },
            { value: 'desc', label: t('descending') },
          ]}
          onValue={(dir) => setDraft({ ...draft, dir: dir === 'desc' ? 'desc' : 'asc' })}
        />
      </FilterForm>
      <ErrorBox error={first.error} />
      {first.loading && <p aria-live="polite">{t('loading')}</p>}
      {!first.loading && items.length === 0 && !first.error && <p>{t('noEntries')}</p>}
      {items.length > 0 && (
        <table class="list records">
          <thead>
            <tr>
              <th scope="col">id</th>
              {columns.map((c) => (
                <th scope="col" key={c}>
                  {c}
                </th>
              ))}
              <th scope="col">{t('version')}</th>
              <th scope="col">{t('updated')}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((r) => (
              <tr key={r.id}>
                <td>
                  <a href={href('records', type, r.id)}>{r.id}</a>
                </td>
                {columns.map((c) => (
                  <td key={c}>
                    <Value v={r.data[c]} />
                  </td>
                ))}
                <td>{r.version}</td>
                <td>
                  <Instant iso={r.updatedAt} /> · <Author a={r.updatedBy} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <LoadMore list={list} />
      <form class="card form" onSubmit={create}>
        <h2>{t('newRecord')}</h2>
        <label>
          {t('recordData')}
          <textarea name="data" rows={8} spellcheck={false} value={newData} onInput={(e) => setNewData(e.currentTarget.value)} />
        </label>
        <button type="submit">{t('createRecord')}</button>
        <ErrorBox error={createError} />
      </form>
    </main>
  );
}

/** A filter value as the API reads it (JSON): `true`, `3`, `"x"` stay; anything else is sent as a JSON string. */
function asFilterValue(v: string): string {
  const s = v.trim();
  try {
    JSON.parse(s);
    return s;
  } catch {
    return JSON.stringify(v);
  }
}

import { useState } from 'preact/hooks';
import { call, path, query } from '../api';
import { useTenant } from '../app-context';
import {
  Author,
  type Change,
  ChangesTable,
  ErrorBox,
  FilterForm,
  fromLocalInput,
  Instant,
  LoadMore,
  type Page,
  SelectField,
  TextField,
  useLoad,
  usePaged,
} from '../components';
import { href } from '../route';

interface AuditEntry {
  streamId: string;
  version: number;
  index: number;
  timestamp: string;
  eventType: string;
  author?: { kind: string; email?: string; userId?: string; id?: string };
  recordType?: string;
  recordId?: string;
  changes: Change[];
}
type AuditPage = Page<AuditEntry>;

interface Filter {
  author: string;
  type: string;
  from: string;
  to: string;
}
const EMPTY: Filter = { author: '', type: '', from: '', to: '' };

/**
 * The tenant's audit timeline, newest first, filtered by author, record type and time range
 * (all applied by the API), paged with the API's continuation: each page is 100 entries, so
 * a log of 100,000 events is read page by page as the user asks for more, never all at once.
 */
export function AuditView() {
  const { t, session } = useTenant();
  const [draft, setDraft] = useState<Filter>(EMPTY);
  const [filter, setFilter] = useState<Filter>(EMPTY);
  const types = useLoad(() => call<{ items: Array<{ type: string }> }>(session, 'GET', path`t/${session.tenant}/types`), [session]);

  const q = (continuation?: string) =>
    query({
      author: filter.author.trim() || undefined,
      type: filter.type || undefined,
      from: fromLocalInput(filter.from),
      to: fromLocalInput(filter.to),
      limit: '100',
      continuation,
    });
  const list = usePaged(
    async (continuation) => (await call<AuditPage>(session, 'GET', `${path`t/${session.tenant}/audit`}${q(continuation)}`)).body,
    [session, filter],
  );
  const { first, items: entries } = list;

  const set = (k: keyof Filter) => (value: string) => setDraft({ ...draft, [k]: value });

  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('auditTitle')}</h1>
      <FilterForm
        onApply={() => setFilter(draft)}
        onClear={() => {
          setDraft(EMPTY);
          setFilter(EMPTY);
        }}
      >
        <TextField label={t('filterAuthor')} name="author" value={draft.author} onValue={set('author')} />
        <SelectField
          label={t('filterType')}
          name="type"
          value={draft.type}
          options={[
            { value: '', label: t('anyType') },
            ...(types.data?.body.items ?? []).map((ty) => ({ value: ty.type, label: ty.type })),
          ]}
          onValue={set('type')}
        />
        <TextField label={t('filterFrom')} name="from" type="datetime-local" step="1" value={draft.from} onValue={set('from')} />
        <TextField label={t('filterTo')} name="to" type="datetime-local" step="1" value={draft.to} onValue={set('to')} />
      </FilterForm>
      <ErrorBox error={first.error} />
      {first.loading && <p aria-live="polite">{t('loading')}</p>}
      {!first.loading && !first.error && entries.length === 0 && <p>{t('noEntries')}</p>}
      <ol class="timeline" aria-label={t('auditTitle')}>
        {entries.map((e) => (
          <li key={`${e.streamId}/${e.version}/${e.index}`} class="entry">
            <div class="entry-head">
              <Instant iso={e.timestamp} /> · <Author a={e.author} /> · <strong class="event-type">{e.eventType}</strong>
              {e.recordType && e.recordId ? (
                <>
                  {' · '}
                  <a href={href('records', e.recordType, e.recordId)}>
                    {e.recordType} {e.recordId}
                  </a>
                </>
              ) : e.recordType ? (
                <>
                  {' · '}
                  <a href={href('types', e.recordType)}>{e.recordType}</a>
                </>
              ) : null}
            </div>
            <ChangesTable changes={e.changes} />
          </li>
        ))}
      </ol>
      <p class="muted" aria-live="polite">
        {t('shown', { count: entries.length })}
      </p>
      <LoadMore list={list} />
    </main>
  );
}

import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, download, path, query, upload } from '../api';
import { useTenant } from '../app-context';
import { formatInstant } from '../i18n';
import { Author, ChangesTable, ErrorBox, fromLocalInput, Instant, Section, SelectField, toLocalInput, useLoad, Value } from '../components';
import { type Difference, diff, mergePatch } from '../diff';
import { href } from '../route';
import type { RecordDoc } from './Records';

interface HistoryItem {
  version: number;
  timestamp: string;
  author?: { kind: string; email?: string; userId?: string };
  events: Array<{ type: string; changes: Array<{ path: string; old?: unknown; new?: unknown }> }>;
}
interface HistoryPage {
  items: HistoryItem[];
  continuation?: string;
}

/** One record: current state (and editing it), its files, its history, its state as of an instant, and a diff of two versions. */
export function RecordView({ type, id }: { type: string; id: string }) {
  const { t, session } = useTenant();
  const base = path`t/${session.tenant}/records/${type}/${id}`;
  const current = useLoad(async () => {
    try {
      return await call<RecordDoc>(session, 'GET', base);
    } catch (e) {
      if (e instanceof ApiError && e.status === 410) return null;
      throw e;
    }
  }, [session, base]);
  const history = useLoad(async () => {
    const items: HistoryItem[] = [];
    let continuation: string | undefined;
    do {
      const r = await call<HistoryPage>(session, 'GET', `${base}/history${query({ limit: '1000', continuation })}`);
      items.push(...r.body.items);
      continuation = r.body.continuation;
    } while (continuation && items.length < 10_000);
    return items;
  }, [session, base, current.data]);
  const reload = () => current.reload();

  return (
    <main id="main" tabIndex={-1}>
      <h1>
        <a href={href('records', type)}>{type}</a> / <span class="record-id">{id}</span>
      </h1>
      <ErrorBox error={current.error} />
      {current.data === null && <p class="warn">{t('deleted')}</p>}
      {current.data && <CurrentState rec={current.data.body} etag={current.data.etag} base={base} onChanged={reload} />}
      {current.data && <Files rec={current.data.body} base={base} onChanged={reload} />}
      <ErrorBox error={history.error} />
      {history.data && <AsOf base={base} versions={history.data} etag={current.data ? current.data.etag : null} onReverted={reload} />}
      {history.data && <Compare base={base} versions={history.data} />}
      {history.data && <History items={history.data} />}
    </main>
  );
}

function DataTable({ data }: { data: Record<string, unknown> }) {
  const { t } = useTenant();
  return (
    <table class="data">
      <thead>
        <tr>
          <th scope="col">{t('field')}</th>
          <th scope="col">{t('value')}</th>
        </tr>
      </thead>
      <tbody>
        {Object.entries(data).map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>
              <Value v={v} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function CurrentState({ rec, etag, base, onChanged }: { rec: RecordDoc; etag: string | null; base: string; onChanged(): void }) {
  const { t, session } = useTenant();
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);

  async function save(e: Event) {
    e.preventDefault();
    setError(null);
    let next: unknown;
    try {
      next = JSON.parse(text);
    } catch (err) {
      setError(new Error(t('invalidJson', { message: (err as Error).message })));
      return;
    }
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      setError(new Error(t('invalidJson', { message: 'not an object' })));
      return;
    }
    try {
      await call(session, 'PATCH', base, {
        body: mergePatch(rec.data, next as Record<string, unknown>),
        contentType: 'application/merge-patch+json',
        headers: { 'if-match': etag ?? `"${rec.version}"` },
      });
      setEditing(false);
      onChanged();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 412 ? new Error(t('conflict')) : err);
    }
  }

  return (
    <Section title={t('currentState')} id="current">
      <p class="muted">
        {t('version')} <span class="version">{rec.version}</span> · <Instant iso={rec.updatedAt} /> · <Author a={rec.updatedBy} />
      </p>
      {editing ? (
        <form class="form" onSubmit={save}>
          <label>
            {t('recordData')}
            <textarea name="data" rows={10} spellcheck={false} value={text} onInput={(e) => setText(e.currentTarget.value)} />
          </label>
          <div class="buttons">
            <button type="submit">{t('saveChanges')}</button>
            <button type="button" class="secondary" onClick={() => setEditing(false)}>
              {t('cancel')}
            </button>
          </div>
          <ErrorBox error={error} />
        </form>
      ) : (
        <>
          <DataTable data={rec.data} />
          <button
            type="button"
            onClick={() => {
              setText(JSON.stringify(rec.data, null, 2));
              setEditing(true);
            }}
          >
            {t('edit')}
          </button>
        </>
      )}
    </Section>
  );
}

function Files({ rec, base, onChanged }: { rec: RecordDoc; base: string; onChanged(): void }) {
  const { t, session } = useTenant();
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<{ name: string; loaded: number; total: number } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function send(e: Event) {
    e.preventDefault();
    if (!file) return;
    setError(null);
    setDone(null);
    setProgress({ name: file.name, loaded: 0, total: file.size });
    try {
      await upload(session, `${base}/files`, file, (loaded, total) => setProgress({ name: file.name, loaded, total }));
      setDone(file.name);
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setProgress(null);
    }
  }

  const files = rec.files ?? [];
  return (
    <Section title={t('files')} id="files">
      {files.length === 0 ? (
        <p>{t('noFiles')}</p>
      ) : (
        <table class="list files">
          <thead>
            <tr>
              <th scope="col">{t('name')}</th>
              <th scope="col">{t('size')}</th>
              <th scope="col">{t('updated')}</th>
              <th scope="col">
                <span class="sr-only">{t('download')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {files.map((f) => (
              <tr key={f.fileId}>
                <td>{f.name}</td>
                <td>{f.size} B</td>
                <td>
                  <Instant iso={f.attachedAt} />
                </td>
                <td>
                  <button
                    type="button"
                    class="secondary"
                    aria-label={`${t('download')} ${f.name}`}
                    onClick={() => download(session, `${base}/files/${encodeURIComponent(f.fileId)}`, f.name).catch(setError)}
                  >
                    {t('download')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="form inline" onSubmit={send}>
        <label>
          {t('chooseFile')}
          <input name="file" type="file" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
        </label>
        <button type="submit" disabled={!file || progress !== null}>
          {t('upload')}
        </button>
      </form>
      {progress && (
        <label class="progress">
          {t('uploading', { name: progress.name })}
          <progress max={progress.total || 1} value={progress.loaded} />
        </label>
      )}
      {done && (
        <p role="status" class="ok">
          {t('uploaded', { name: done })}
        </p>
      )}
      <ErrorBox error={error} />
    </Section>
  );
}

/** The record as of an instant: a date/time picker, or a slider over the instants of its versions. */
function AsOf({
  base,
  versions,
  etag,
  onReverted,
}: {
  base: string;
  versions: HistoryItem[];
  /** The current version's ETag (null when the record is deleted: no revert from here). */
  etag: string | null;
  onReverted(): void;
}) {
  const { t, session, lang } = useTenant();
  const [reason, setReason] = useState('');
  const [reverted, setReverted] = useState<string | null>(null);

  /** POST …/revert (editor, If-Match): one new version with the state at that instant; the mistake stays in the history. */
  async function revert(at: string) {
    if (!etag) return;
    setError(null);
    setReverted(null);
    try {
      const r = await call<{ outcome: string; version: number }>(session, 'POST', `${base}/revert`, {
        body: { asOf: at, ...(reason.trim() ? { reason: reason.trim() } : {}) },
        headers: { 'if-match': etag },
      });
      setReverted(t('reverted', { outcome: r.body.outcome, version: r.body.version }));
      onReverted();
    } catch (e) {
      setError(e instanceof ApiError && e.status === 412 ? new Error(t('conflict')) : e);
    }
  }
  const latest = versions[versions.length - 1];
  const [picked, setPicked] = useState(latest ? toLocalInput(latest.timestamp) : '');
  const [shown, setShown] = useState<{ at: string; rec: RecordDoc | null; gone: boolean } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [slider, setSlider] = useState(versions.length);

  async function show(at: string | undefined) {
    if (!at) return;
    setError(null);
    try {
      const r = await call<RecordDoc>(session, 'GET', `${base}${query({ asOf: at })}`);
      setShown({ at, rec: r.body, gone: false });
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 410)) setShown({ at, rec: null, gone: e.status === 410 });
      else setError(e);
    }
  }

  return (
    <Section title={t('asOfTitle')} id="asof">
      <form
        class="form inline"
        onSubmit={(e) => {
          e.preventDefault();
          void show(fromLocalInput(picked));
        }}
      >
        <label>
          {t('asOfPicker')}
          <input name="asOf" type="datetime-local" step="1" value={picked} onInput={(e) => setPicked(e.currentTarget.value)} />
        </label>
        <button type="submit">{t('showAsOf')}</button>
      </form>
      {versions.length > 1 && (
        <label class="slider">
          {t('asOfSlider')}
          <input
            name="versionSlider"
            type="range"
            min={1}
            max={versions.length}
            step={1}
            value={slider}
            aria-valuetext={`${t('version')} ${versions[slider - 1]?.version ?? ''}`}
            onInput={(e) => {
              const n = Number(e.currentTarget.value);
              setSlider(n);
              const v = versions[n - 1];
              if (v) {
                setPicked(toLocalInput(v.timestamp));
                void show(v.timestamp);
              }
            }}
          />
        </label>
      )}
      <ErrorBox error={error} />
      {shown && (
        <div class="asof-result" aria-live="polite">
          <h3>{t('stateAt', { when: formatInstant(lang, shown.at) })}</h3>
          {shown.rec ? (
            <>
              <p class="muted">
                {t('version')} <span class="version">{shown.rec.version}</span>
              </p>
              <DataTable data={shown.rec.data} />
            </>
          ) : (
            <p>{shown.gone ? t('deleted') : t('notYet')}</p>
          )}
          {etag && (
            <form
              class="form inline"
              onSubmit={(e) => {
                e.preventDefault();
                void revert(shown.at);
              }}
            >
              <label>
                {t('revertReason')}
                <input name="revertReason" maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
              </label>
              <button type="submit">{t('revert')}</button>
            </form>
          )}
        </div>
      )}
      {reverted && (
        <p role="status" class="ok">
          {reverted}
        </p>
      )}
    </Section>
  );
}

/** Differences between the record at two of its versions (each read from the API as of that version's instant). */
function Compare({ base, versions }: { base: string; versions: HistoryItem[] }) {
  const { t, session } = useTenant();
  const n = versions.length;
  const [from, setFrom] = useState(String(versions[Math.max(0, n - 2)]?.version ?? ''));
  const [to, setTo] = useState(String(versions[n - 1]?.version ?? ''));
  const [result, setResult] = useState<Difference[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => setResult(null), [from, to]);

  async function compare(e: Event) {
    e.preventDefault();
    setError(null);
    const at = (v: string) => versions.find((x) => String(x.version) === v)?.timestamp;
    const state = async (v: string) => {
      const ts = at(v);
      if (!ts) return {};
      try {
        return (await call<RecordDoc>(session, 'GET', `${base}${query({ asOf: ts })}`)).body.data;
      } catch (err) {
        if (err instanceof ApiError && (err.status === 404 || err.status === 410)) return {};
        throw err;
      }
    };
    try {
      const [a, b] = await Promise.all([state(from), state(to)]);
      setResult(diff(a, b));
    } catch (err) {
      setError(err);
    }
  }

  if (n < 1) return null;
  const choices = versions.map((v) => ({ value: String(v.version), label: String(v.version) }));
  return (
    <Section title={t('diffTitle')} id="diff">
      <form class="form inline" onSubmit={compare}>
        <SelectField label={t('diffFrom')} name="from" value={from} options={choices} onValue={setFrom} />
        <SelectField label={t('diffTo')} name="to" value={to} options={choices} onValue={setTo} />
        <button type="submit">{t('showDiff')}</button>
      </form>
      <ErrorBox error={error} />
      {result &&
        (result.length === 0 ? (
          <p>{t('noDifferences')}</p>
        ) : (
          <table class="changes diff">
            <thead>
              <tr>
                <th scope="col">{t('field')}</th>
                <th scope="col">{t('what')}</th>
                <th scope="col">{t('oldValue')}</th>
                <th scope="col">{t('newValue')}</th>
              </tr>
            </thead>
            <tbody>
              {result.map((d) => (
                <tr key={d.path} class={d.kind}>
                  <td>
                    <code>{d.path}</code>
                  </td>
                  <td>{t(d.kind)}</td>
                  <td class="old">
                    <Value v={d.old} />
                  </td>
                  <td class="new">
                    <Value v={d.new} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </Section>
  );
}

function History({ items }: { items: HistoryItem[] }) {
  const { t } = useTenant();
  return (
    <Section title={t('history')} id="history">
      <ol class="timeline history">
        {[...items].reverse().map((h) => (
          <li key={h.version} class="entry">
            <div class="entry-head">
              {t('version')} {h.version} · <Instant iso={h.timestamp} /> · <Author a={h.author} /> ·{' '}
              <strong class="event-type">{h.events.map((e) => e.type).join(', ')}</strong>
            </div>
            <ChangesTable changes={h.events.flatMap((e) => e.changes)} />
          </li>
        ))}
      </ol>
    </Section>
  );
}

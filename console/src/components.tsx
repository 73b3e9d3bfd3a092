/**
 * Small shared pieces. Record data is untrusted: it is only ever rendered as text nodes
 * (Preact escapes them); nothing here sets innerHTML, and URLs are never built from data.
 */
import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, type FieldError, type Progress } from './api';
import { useApp } from './app-context';
import { formatInstant, type Translate } from './i18n';

/** A JSON value as text: strings as they are, everything else as JSON. */
export function Value({ v }: { v: unknown }) {
  if (v === undefined) return <span class="muted">—</span>;
  if (typeof v === 'string') return <span class="value">{v}</span>;
  return <code class="value">{JSON.stringify(v)}</code>;
}

export interface Change {
  path: string;
  old?: unknown;
  new?: unknown;
}

/** Field-level changes: path, old → new. */
export function ChangesTable({ changes }: { changes: readonly Change[] }) {
  const { t } = useApp();
  if (changes.length === 0) return null;
  return (
    <table class="changes">
      <thead>
        <tr>
          <th scope="col">{t('field')}</th>
          <th scope="col">{t('oldValue')}</th>
          <td aria-hidden="true" />
          <th scope="col">{t('newValue')}</th>
        </tr>
      </thead>
      <tbody>
        {changes.map((c, i) => (
          <tr key={i}>
            <td>
              <code>{c.path}</code>
            </td>
            <td class="old">
              <Value v={c.old} />
            </td>
            <td aria-hidden="true">→</td>
            <td class="new">
              <Value v={c.new} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** An error: its message and, for validation problems, each error at its JSON Pointer path. */
export function ErrorBox({ error }: { error: unknown }) {
  const { t } = useApp();
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const errors: FieldError[] = error instanceof ApiError ? error.errors : [];
  return (
    <div class="error" role="alert">
      <p>{t('error', { message })}</p>
      {errors.length > 0 && (
        <ul class="field-errors" aria-label={t('errorsAtPath')}>
          {errors.map((e, i) => (
            <li key={i} data-path={e.path}>
              <code>{e.path || '/'}</code> {e.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Instant({ iso }: { iso: string | null | undefined }) {
  const { lang } = useApp();
  return iso ? <time dateTime={iso}>{formatInstant(lang, iso)}</time> : <span class="muted">—</span>;
}

/** "5 min ago" from an instant. */
export function ago(t: Translate, iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return t('ago', { n: s, unit: t('unitS') });
  if (s < 7200) return t('ago', { n: Math.round(s / 60), unit: t('unitMin') });
  if (s < 172800) return t('ago', { n: Math.round(s / 3600), unit: t('unitH') });
  return t('ago', { n: Math.round(s / 86400), unit: t('unitD') });
}

export function Author({ a }: { a: { kind: string; email?: string; userId?: string; id?: string } | undefined }) {
  if (!a) return <span class="muted">—</span>;
  return <span class="author">{a.email ?? a.userId ?? a.id ?? a.kind}</span>;
}

/** Loads something when its key changes; `reload()` loads it again. */
export function useLoad<T>(load: () => Promise<T>, key: readonly unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [n, setN] = useState(0);
  // Reloads when the caller's key (or the reload counter) changes, not on every new closure.
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error: unknown) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...key, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { ...state, reload };
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id: string }) {
  return (
    <section class="card" id={id} aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </section>
  );
}

/** A <input type="datetime-local"> value (local time, seconds) ↔ ISO instant. */
export function toLocalInput(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
export function fromLocalInput(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** A long operation's progress from the API's stream: its phase, done / total and a bar (indeterminate until known). */
export function ProgressBar({ progress, class: cls }: { progress: Progress; class?: string }) {
  const { t } = useApp();
  const known = progress.total !== undefined && progress.total > 0;
  return (
    <label class={`progress${cls ? ` ${cls}` : ''}`} aria-live="polite">
      {t('phase', { phase: progress.phase })}
      {known ? ` ${progress.done ?? 0} / ${progress.total}` : ''}
      <progress max={known ? progress.total : 1} value={known ? (progress.done ?? 0) : undefined} />
    </label>
  );
}

/** The input attributes the console's fields use. */
interface InputAttributes {
  name: string;
  type?: 'text' | 'email' | 'password' | 'datetime-local';
  required?: boolean;
  autoComplete?: string;
  step?: string;
  list?: string;
  pattern?: string;
}

/**
 * A text-like input inside its label (the label is its accessible name); `onValue` gets what
 * was typed. (Preact types each input type's attributes apart: the cast is for these few
 * attributes, valid for all four types.)
 */
export function TextField({
  label,
  value,
  onValue,
  ...input
}: { label: string; value: string; onValue(v: string): void } & InputAttributes) {
  return (
    <label>
      {label}
      <input {...(input as JSX.IntrinsicElements['input'])} value={value} onInput={(e) => onValue(e.currentTarget.value)} />
    </label>
  );
}

export interface Choice {
  value: string;
  label: string;
}

/** A select inside its label; options are value and label. */
export function SelectField({
  label,
  name,
  value,
  options,
  onValue,
}: {
  label: string;
  name: string;
  value: string;
  options: readonly Choice[];
  onValue(v: string): void;
}) {
  return (
    <label>
      {label}
      <select name={name} value={value} onChange={(e) => onValue(e.currentTarget.value)}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Checkboxes for a set of values (e.g. roles) in a fieldset with its legend. */
export function CheckboxGroup({
  legend,
  name,
  options,
  checked,
  onChecked,
  children,
}: {
  legend: string;
  /** Each box is named `${name}${value}`. */
  name: string;
  options: readonly string[];
  checked: readonly string[];
  onChecked(values: string[]): void;
  children?: ComponentChildren;
}) {
  return (
    <fieldset>
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={o} class="check">
          <input
            type="checkbox"
            name={`${name}${o}`}
            checked={checked.includes(o)}
            onChange={(e) => onChecked(e.currentTarget.checked ? [...checked, o] : checked.filter((x) => x !== o))}
          />
          {o}
        </label>
      ))}
      {children}
    </fieldset>
  );
}

/**
 * A filter form (audit timeline, records of a type): its fields, then "Apply filter" (submit)
 * and "Clear". The form is named by its submit action for assistive technology.
 */
export function FilterForm({ onApply, onClear, children }: { onApply(): void; onClear(): void; children: ComponentChildren }) {
  const { t } = useApp();
  return (
    <form
      class="card filters"
      aria-label={t('applyFilter')}
      onSubmit={(e) => {
        e.preventDefault();
        onApply();
      }}
    >
      {children}
      <div class="buttons">
        <button type="submit">{t('applyFilter')}</button>
        <button type="button" class="secondary" onClick={onClear}>
          {t('clearFilter')}
        </button>
      </div>
    </form>
  );
}

/** One of a few choices as radio buttons in a fieldset with its legend. */
export function RadioGroup({
  legend,
  name,
  value,
  options,
  onValue,
  class: cls,
}: {
  legend: string;
  name: string;
  value: string;
  options: readonly Choice[];
  onValue(v: string): void;
  class?: string;
}) {
  return (
    <fieldset class={cls}>
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={o.value}>
          <input type="radio" name={name} value={o.value} checked={value === o.value} onChange={() => onValue(o.value)} />
          {o.label}
        </label>
      ))}
    </fieldset>
  );
}

/** One page of a list the API pages with `continuation`. */
export interface Page<T> {
  items: T[];
  continuation?: string;
}

/**
 * A list read a page at a time: the first page whenever `key` changes, the next ones on
 * `more()` with the last page's continuation (absent when the list is complete).
 */
export function usePaged<T>(load: (continuation?: string) => Promise<Page<T>>, key: readonly unknown[]) {
  const [pages, setPages] = useState<Array<Page<T>>>([]);
  const [moreError, setMoreError] = useState<unknown>(null);
  const first = useLoad(async () => {
    const page = await load();
    setPages([page]);
    setMoreError(null);
    return page;
  }, key);
  const next = pages[pages.length - 1]?.continuation;
  async function more() {
    if (!next) return;
    setMoreError(null);
    try {
      const page = await load(next);
      setPages((ps) => [...ps, page]);
    } catch (e) {
      setMoreError(e);
    }
  }
  return { items: pages.flatMap((p) => p.items), loaded: pages.length > 0, first, hasMore: next !== undefined, more, moreError };
}

/** "Load more" while the list has more pages, and the error of the last attempt. */
export function LoadMore({ list }: { list: Pick<ReturnType<typeof usePaged>, 'hasMore' | 'more' | 'moreError'> }) {
  const { t } = useApp();
  return (
    <>
      {list.hasMore && (
        <button type="button" onClick={() => void list.more()}>
          {t('loadMore')}
        </button>
      )}
      <ErrorBox error={list.moreError} />
    </>
  );
}

import { useState } from 'preact/hooks';
import { call, callWithProgress, type Progress, path, query } from '../api';
import { useApp } from '../app-context';
import {
  ago,
  ErrorBox,
  fromLocalInput,
  Instant,
  LoadMore,
  type Page,
  ProgressBar,
  Section,
  SelectField,
  TextField,
  toLocalInput,
  useLoad,
  usePaged,
} from '../components';
import type { Session } from '../session';
import { href } from '../route';

interface TenantItem {
  id: string;
  status: string;
  createdAt: string;
}
interface Drill {
  at: string;
  tier: string;
  ok: boolean;
  outcome?: string;
  missingFiles?: number;
}
interface TierStatus {
  tier: string;
  ok: boolean;
  error?: string;
  lastBackup: { at: string; coveredUntil?: string; chain?: number } | null;
  missingFiles?: number;
  lastDrill: Drill | null;
  lagCommits: number | null;
  lagMinutes: number | null;
}
interface BackupStatus {
  tenant: string;
  tiers: TierStatus[];
}
interface BackupRun {
  tiers: Array<{ tier: string; ok: boolean; error?: string; commits?: number; coveredUntil?: string }>;
}
interface DrillRun {
  drills: Drill[];
}

function useOperator(): { session: Extract<Session, { kind: 'operator' }> } & ReturnType<typeof useApp> {
  const a = useApp();
  if (a.session?.kind !== 'operator') throw new Error('not signed in as operator');
  return a as ReturnType<typeof useApp> & { session: Extract<Session, { kind: 'operator' }> };
}

/** Tenants with their status, a page at a time, each with its tiers' backup state. */
export function TenantsView() {
  const { t, session } = useOperator();
  const list = usePaged(
    async (continuation) => (await call<Page<TenantItem>>(session, 'GET', `tenants${query({ limit: '50', continuation })}`)).body,
    [session],
  );
  const { first, items } = list;
  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('tenantsTitle')}</h1>
      <ErrorBox error={first.error} />
      {first.loading && <p aria-live="polite">{t('loading')}</p>}
      <table class="list tenants">
        <thead>
          <tr>
            <th scope="col">{t('tenant')}</th>
            <th scope="col">{t('status')}</th>
            <th scope="col">{t('created')}</th>
            <th scope="col">{t('lastBackup')}</th>
            <th scope="col">{t('lastDrill')}</th>
          </tr>
        </thead>
        <tbody>
          {items.map((ten) => (
            <TenantRow key={ten.id} tenant={ten} />
          ))}
        </tbody>
      </table>
      <LoadMore list={list} />
    </main>
  );
}

function TenantRow({ tenant }: { tenant: TenantItem }) {
  const { t, session } = useOperator();
  const ready = tenant.status === 'ready' || tenant.status === 'degraded';
  const backups = useLoad(
    async () => (ready ? (await call<BackupStatus>(session, 'GET', path`tenants/${tenant.id}/backups`)).body : null),
    [session, tenant.id],
  );
  const tiers = backups.data?.tiers ?? [];
  return (
    <tr>
      <td>
        <a href={href('tenants', tenant.id)}>{tenant.id}</a>
      </td>
      <td>
        <span class={`badge ${tenant.status}`}>{tenant.status}</span>
      </td>
      <td>
        <Instant iso={tenant.createdAt} />
      </td>
      <td>
        {tiers.map((x) => (
          <div key={x.tier} class={x.ok ? '' : 'bad'}>
            {x.tier}: {x.lastBackup ? ago(t, x.lastBackup.at) : t('never')}
          </div>
        ))}
      </td>
      <td>
        {tiers.map((x) => (
          <div key={x.tier} class={x.lastDrill && !x.lastDrill.ok ? 'bad' : ''}>
            {x.tier}: {x.lastDrill ? `${x.lastDrill.outcome ?? (x.lastDrill.ok ? 'ok' : 'failed')}, ${ago(t, x.lastDrill.at)}` : t('never')}
          </div>
        ))}
      </td>
    </tr>
  );
}

/** One tenant: per tier the last backup, lag and last drill; run a backup or drill; restore with live progress. */
export function TenantView({ tenant }: { tenant: string }) {
  const { t, session } = useOperator();
  const status = useLoad(() => call<BackupStatus>(session, 'GET', path`tenants/${tenant}/backups`), [session, tenant]);
  const [running, setRunning] = useState<'backup' | 'drill' | null>(null);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [lastRun, setLastRun] = useState<BackupRun['tiers'] | Drill[] | null>(null);

  /** A backup or drill through the API's progress stream (tiers done of all); 502 still carries each tier's result. */
  async function run(kind: 'backup' | 'drill') {
    setRunning(kind);
    setProgress({ phase: 'start' });
    setMessage(null);
    setError(null);
    setLastRun(null);
    try {
      if (kind === 'backup') {
        const r = await callWithProgress<BackupRun>(session, 'POST', path`tenants/${tenant}/backups`, undefined, setProgress, [502]);
        setLastRun(r.body.tiers);
        setMessage(t('backupDone', { ok: r.body.tiers.filter((x) => x.ok).length, all: r.body.tiers.length }));
      } else {
        const r = await callWithProgress<DrillRun>(session, 'POST', path`tenants/${tenant}/backups/drill`, undefined, setProgress, [502]);
        setLastRun(r.body.drills);
        setMessage(t('drillDone', { ok: r.body.drills.filter((x) => x.ok).length, all: r.body.drills.length }));
      }
      status.reload();
    } catch (e) {
      setError(e);
    } finally {
      setRunning(null);
    }
  }

  const tiers = status.data?.body.tiers ?? [];
  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('backupsOf', { tenant })}</h1>
      <p>
        <a href="#/tenants">{t('tenantsTitle')}</a>
      </p>
      <ErrorBox error={status.error} />
      <table class="list tiers">
        <thead>
          <tr>
            <th scope="col">{t('tier')}</th>
            <th scope="col">{t('status')}</th>
            <th scope="col">{t('lastBackup')}</th>
            <th scope="col">{t('coveredUntil')}</th>
            <th scope="col">{t('lag')}</th>
            <th scope="col">{t('lastDrill')}</th>
            <th scope="col">{t('drillAge')}</th>
          </tr>
        </thead>
        <tbody>
          {tiers.map((x) => (
            <tr key={x.tier} data-tier={x.tier}>
              <th scope="row">{x.tier}</th>
              <td>
                <span class={`badge ${x.ok ? 'ok' : 'bad'}`}>{x.ok ? t('ok') : t('failed')}</span>
                {x.error && <span class="bad"> {x.error}</span>}
              </td>
              <td class="last-backup">{x.lastBackup ? <Instant iso={x.lastBackup.at} /> : t('never')}</td>
              <td>{x.lastBackup?.coveredUntil ? <Instant iso={x.lastBackup.coveredUntil} /> : '—'}</td>
              <td class="lag">{x.lagCommits === null ? '—' : t('lagValue', { commits: x.lagCommits, minutes: x.lagMinutes ?? '—' })}</td>
              <td class="last-drill">
                {x.lastDrill ? (
                  <span class={`badge ${x.lastDrill.ok ? 'ok' : 'bad'}`}>{x.lastDrill.outcome ?? (x.lastDrill.ok ? 'ok' : 'failed')}</span>
                ) : (
                  t('never')
                )}
              </td>
              <td>{x.lastDrill ? ago(t, x.lastDrill.at) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="buttons">
        <button type="button" disabled={running !== null} onClick={() => void run('backup')}>
          {t('runBackup')}
        </button>
        <button type="button" disabled={running !== null} onClick={() => void run('drill')}>
          {t('runDrill')}
        </button>
        <button type="button" class="secondary" onClick={() => status.reload()}>
          {t('refresh')}
        </button>
      </div>
      <div class="run-status">
        {progress && <ProgressBar progress={progress} class="run-progress" />}
        {message && (
          <p role="status" class="ok">
            {message}
          </p>
        )}
      </div>
      {lastRun && (
        <ul class="run-result">
          {lastRun.map((x) => (
            <li key={x.tier} class={x.ok ? 'ok' : 'bad'}>
              {x.tier}: {x.ok ? t('ok') : t('failed')}
              {'error' in x && x.error ? ` (${x.error})` : ''}
            </li>
          ))}
        </ul>
      )}
      <ErrorBox error={error} />
      <Restore tenant={tenant} tiers={tiers.map((x) => x.tier)} />
    </main>
  );
}

/** A restore into a new tenant through the API's progress stream (application/x-ndjson): the phase and a progress bar as it goes. */
function Restore({ tenant, tiers }: { tenant: string; tiers: string[] }) {
  const { t, session } = useOperator();
  const [tier, setTier] = useState('');
  const [asOf, setAsOf] = useState(() => toLocalInput(new Date().toISOString()));
  const [into, setInto] = useState('');
  const [partial, setPartial] = useState(false);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function start(e: Event) {
    e.preventDefault();
    setBusy(true);
    setDone(null);
    setError(null);
    setProgress(null);
    try {
      const r = await callWithProgress<{ tenant?: string; restoredUntil?: string }>(
        session,
        'POST',
        path`tenants/${tenant}/restore`,
        { tier: tier || tiers[0], asOf: fromLocalInput(asOf), into: into.trim(), acceptPartial: partial },
        setProgress,
      );
      setDone(t('restoreDone', { tenant: r.body.tenant ?? into, until: r.body.restoredUntil ?? '' }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Section title={t('restoreTitle')} id="restore">
      <form class="form" onSubmit={start}>
        <SelectField
          label={t('restoreTier')}
          name="tier"
          value={tier || tiers[0] || ''}
          options={tiers.map((x) => ({ value: x, label: x }))}
          onValue={setTier}
        />
        <TextField label={t('restoreAsOf')} name="restoreAsOf" type="datetime-local" step="1" required value={asOf} onValue={setAsOf} />
        <TextField label={t('restoreInto')} name="into" required pattern="[a-z0-9][a-z0-9-]{1,38}[a-z0-9]" value={into} onValue={setInto} />
        <label class="check">
          <input type="checkbox" name="acceptPartial" checked={partial} onChange={(e) => setPartial(e.currentTarget.checked)} />
          {t('acceptPartial')}
        </label>
        <button type="submit" disabled={busy}>
          {t('startRestore')}
        </button>
      </form>
      {progress && <ProgressBar progress={progress} />}
      {done && (
        <p role="status" class="ok">
          {done}
        </p>
      )}
      <ErrorBox error={error} />
    </Section>
  );
}

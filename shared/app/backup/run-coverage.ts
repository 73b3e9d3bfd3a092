/**
 * Run coverage markers, the writing side (issue 11): an incremental run over the tenants
 * (the backupIncremental timer) ends with ONE immutable object per tier under `runs/covered/`
 * (coverage.ts). It replaces one coverage renewal put per idle tenant and tier: an idle
 * tenant's `coveredUntil` advances with every run, and an idle run writes nothing per tenant.
 *  - A run that looked at every tenant writes a full marker (`tenant-ledger-run-coverage/1`,
 *    `<at>_<random>.json`) listing every tenant it vouched for with its chain and manifest count.
 *  - A run that looked only at what the change journal listed (BackupService.incrementalRun)
 *    writes a delta on the marker the run before it wrote (`tenant-ledger-run-coverage/2`,
 *    `<at>_<random>.on.<full marker>.json`): its size follows what changed since the full
 *    marker, not the number of tenants.
 * The newest RUN_COVERAGE_KEEP per tier are kept, and the full markers they rest on; older ones
 * are deleted after each new one.
 *
 * A tenant is vouched for when its log had not moved, by a look after `at`, since its last
 * clean backup there (journal.ts, incremental.ts), or when the run backed it up cleanly (its log
 * read after `at`), and it is not known as anything but ready when the marker is written (a
 * tenant suspended, scheduled for deletion or being created then is left out; one destroyed
 * during the run is no longer known at all and stays listed, which is still true of it: its log
 * ended unchanged). One that failed is not listed.
 */
import { randomBytes } from 'node:crypto';
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import { TENANT_STATUSES, type TenantDirectory } from '../../ports/tenant-directory';
import { allTenantIds } from '../tenants/tenant-pages';
import { runCoverageKey, runCoverageParts } from './chain-format';
import {
  forgetRunMarker,
  type ParsedRunMarker,
  rememberRunMarker,
  RUN_COVERAGE_FORMAT,
  RUN_COVERAGE_KEEP,
  RUN_DELTA_FORMAT,
  type RunCoverageEntry,
  type RunCoverageMarker,
  type RunDeltaMarker,
  runMarkerKeys,
} from './coverage';
import { errorMessage } from '../../redact';
import { withDeadline } from './deadline';

/** What writing one tier's run coverage marker came to. */
export interface RunCoverageResult {
  tier: string;
  /** False when the marker could not be written: the listed tenants' coverage did not advance on this tier. */
  ok: boolean;
  /** The run's instant: the listed tenants' chains hold every commit stamped at or before it. */
  at: string;
  /** Tenants listed (0: nothing confirmed unchanged on this tier, no marker written). */
  tenants: number;
  key?: string;
  /** Older run markers deleted, and deletions the tier refused (write-once: they age out there later). */
  deleted?: number;
  refused?: number;
  error?: string;
}

/** A delta run's starting point on a tier: the marker the run before it wrote (its place's), which the new delta builds on. */
export interface DeltaBase {
  key: string;
  /** The marker parsed; only needed when it is itself a delta (a full one starts an empty delta). */
  marker?: ParsedRunMarker;
}

/** The tenants one run confirms, per tier, as its results come in. */
export class RunCoverage {
  /** tier → tenant → what it is vouched for on (an unchanged log's last clean backup, or this run's clean backup), for tenants whose job is still to report. */
  private readonly candidates = new Map<string, Map<string, RunCoverageEntry>>();
  /** tier → the tenants confirmed there (each once: one result per tenant and tier). */
  private readonly listed = new Map<string, Array<[string, RunCoverageEntry]>>();
  /** tier → every tenant the run looked at there, confirmed or not (a delta excepts the others). */
  private readonly looked = new Map<string, Set<string>>();

  /**
   * `at`: taken before the run's first look. `deltas`: per tier, the marker to build a delta
   * marker on (a tier without one gets a full marker).
   */
  constructor(
    readonly at: string,
    private readonly deltas?: ReadonlyMap<string, DeltaBase>,
  ) {}

  /**
   * `tenant` is vouched for on `tier` by `entry`: its log has not moved since its last clean
   * backup there (a look after `at`), or this run backed it up cleanly, reading its log after
   * `at`. Listed once its result is settled ok.
   */
  candidate(tier: string, tenant: string, entry: RunCoverageEntry): void {
    const m = this.candidates.get(tier) ?? new Map<string, RunCoverageEntry>();
    this.candidates.set(tier, m.set(tenant, entry));
  }

  /** `tenant`'s final result on `tier` is unchanged, known before any job (the run reports it as it is). */
  confirmed(tier: string, tenant: string, entry: RunCoverageEntry): void {
    const l = this.listed.get(tier) ?? [];
    this.listed.set(tier, l);
    l.push([tenant, entry]);
    this.sawOn(tier, tenant);
  }

  /** The run's final result for `tenant` on `tier` (a job's): listed only when it is ok and vouched for. */
  settle(tier: string, tenant: string, result: { ok: boolean }): void {
    this.sawOn(tier, tenant);
    const m = this.candidates.get(tier);
    const entry = m?.get(tenant);
    if (!entry) return;
    m!.delete(tenant);
    if (result.ok) this.confirmed(tier, tenant, entry);
  }

  /** `tenant` should have been looked at on `tier` and was not (no longer served): a delta excepts it. */
  passedOver(tier: string, tenant: string): void {
    this.sawOn(tier, tenant);
  }

  private sawOn(tier: string, tenant: string): void {
    const s = this.looked.get(tier) ?? new Set<string>();
    this.looked.set(tier, s.add(tenant));
  }

  /**
   * Writes `target`'s marker (within `deadlineMs`) once that tier's results are all settled,
   * whatever the other tiers are doing. A full marker lists the tenants settled unchanged there
   * that `statuses` still calls ready (read now, after the tier's work, and only when there is
   * someone to list); with nobody to list nothing is written. A delta marker (a tier with a
   * DeltaBase) is written every time, even with nothing new, since it is what moves every
   * idle tenant's coverage to `at`: it copies its base's lists, lists the tenants confirmed
   * here and excepts the others looked at and every tenant not ready now. A failed put is a
   * failed result with the error, never a partial marker (one object, written whole or not at all).
   */
  async writeTier(target: BackupTarget, statuses: () => Promise<TenantStatuses>, deadlineMs: number): Promise<RunCoverageResult> {
    const { at } = this;
    const tier = target.name;
    const settled = this.listed.get(tier) ?? [];
    const delta = this.deltas?.get(tier);
    if (!delta && settled.length === 0) return { tier, ok: true, at, tenants: 0 };
    let status: TenantStatuses;
    try {
      status = await statuses();
    } catch (e) {
      return { tier, ok: false, at, tenants: settled.length, error: `the tenant list could not be read (${errorText(e)})` };
    }
    let body: { tenants: number; write: (call: TargetCallOptions) => Promise<{ key: string; deleted: number; refused: number }> };
    if (delta) {
      if (!status.notReady) return { tier, ok: false, at, tenants: 0, error: 'the tenants not ready could not be listed' };
      const { tenants, except } = deltaLists(delta, this.looked.get(tier), settled, status.notReady);
      body = { tenants: tenants.size, write: (call) => writeRunDelta(target, at, delta, tenants, except, call) };
    } else {
      const listed = settled.filter(([id]) => status.ready(id));
      if (listed.length === 0) return { tier, ok: true, at, tenants: 0 };
      body = { tenants: listed.length, write: (call) => writeRunCoverage(target, at, listed, call) };
    }
    try {
      const written = await withDeadline(deadlineMs, `run coverage marker on ${tier}`, (abortSignal) => body.write({ abortSignal }));
      return { tier, ok: true, at, tenants: body.tenants, ...written };
    } catch (e) {
      return {
        tier,
        ok: false,
        at,
        tenants: body.tenants,
        error: `The run coverage marker could not be written (${errorText(e)}): the coverage of the ${body.tenants} unchanged tenant(s) did not advance on ${tier}.`,
      };
    }
  }
}

/** A delta's lists: its base's (when that is a delta too), then this run's looks (not confirmed: excepted; confirmed: listed), then every tenant not ready now excepted. */
function deltaLists(
  delta: DeltaBase,
  looked: ReadonlySet<string> | undefined,
  confirmed: ReadonlyArray<readonly [string, RunCoverageEntry]>,
  notReady: ReadonlySet<string>,
): { tenants: Map<string, RunCoverageEntry>; except: Set<string> } {
  const from = delta.marker?.base ? delta.marker : undefined;
  const tenants = new Map(from?.tenants ?? []);
  const except = new Set(from?.except ?? []);
  for (const id of looked ?? []) {
    tenants.delete(id);
    except.add(id);
  }
  for (const [id, e] of confirmed) {
    tenants.set(id, e);
    except.delete(id);
  }
  for (const id of notReady) {
    tenants.delete(id);
    except.add(id);
  }
  return { tenants, except };
}

/** The key of the full marker a new delta on `delta` rests on: its base's base, or its base itself. */
export const deltaBaseKey = (delta: DeltaBase): string => delta.marker?.base ?? delta.key;

/**
 * Writes one run coverage marker (one put of the whole object; `tenants` in id order in it),
 * then deletes the tier's run markers older than the newest RUN_COVERAGE_KEEP, except a full
 * marker a kept delta rests on. Throws when the put fails; a listing or a deletion that fails
 * after it only leaves older markers for the next run to delete.
 */
export async function writeRunCoverage(
  target: BackupTarget,
  at: string,
  tenants: ReadonlyArray<readonly [string, RunCoverageEntry]>,
  call: TargetCallOptions = {},
): Promise<{ key: string; deleted: number; refused: number }> {
  const key = runCoverageKey(at, randomBytes(4).toString('hex'));
  await target.put(key, Buffer.from(runCoverageJson(at, tenants)), call);
  return { key, ...(await dropOldRunMarkers(target, call)) };
}

/** Writes one delta run marker (RunDeltaMarker) on `delta`, then deletes old markers as writeRunCoverage does. */
async function writeRunDelta(
  target: BackupTarget,
  at: string,
  delta: DeltaBase,
  tenants: ReadonlyMap<string, RunCoverageEntry>,
  except: ReadonlySet<string>,
  call: TargetCallOptions,
): Promise<{ key: string; deleted: number; refused: number }> {
  const base = deltaBaseKey(delta);
  const key = runCoverageKey(at, randomBytes(4).toString('hex'), base);
  const head: Omit<RunDeltaMarker, 'tenants' | 'except'> = { format: RUN_DELTA_FORMAT, at, base };
  const body = `${JSON.stringify(head).slice(0, -1)},"tenants":${entriesJson([...tenants])},"except":${JSON.stringify([...except].sort())}}`;
  await target.put(key, Buffer.from(body), call);
  rememberRunMarker(target, key, { at, base, tenants: new Map(tenants), except: new Set(except) });
  return { key, ...(await dropOldRunMarkers(target, call)) };
}

/** Deletes the run markers older than the newest RUN_COVERAGE_KEEP, keeping every full marker a kept delta names as its base. */
async function dropOldRunMarkers(target: BackupTarget, call: TargetCallOptions): Promise<{ deleted: number; refused: number }> {
  let deleted = 0;
  let refused = 0;
  try {
    const keys = await runMarkerKeys(target, call);
    const cut = Math.max(0, keys.length - RUN_COVERAGE_KEEP);
    const bases = new Set(keys.slice(cut).map((k) => runCoverageParts(k)?.base));
    for (const old of keys.slice(0, cut)) {
      if (bases.has(old)) continue;
      try {
        await target.delete(old, call);
        forgetRunMarker(target, old);
        deleted++;
      } catch {
        refused++;
      }
    }
  } catch {
    // Not listed now: the next run deletes them.
  }
  return { deleted, refused };
}

/**
 * The marker's JSON (RunCoverageMarker: format, at, tenants in id order), written out directly:
 * the same text JSON.stringify gives, without building an object of 10,000 keys first (which
 * was most of an idle run's marker cost at 10,000 tenants).
 */
export function runCoverageJson(at: string, tenants: ReadonlyArray<readonly [string, RunCoverageEntry]>): string {
  const head: Omit<RunCoverageMarker, 'tenants'> = { format: RUN_COVERAGE_FORMAT, at };
  return `${JSON.stringify(head).slice(0, -1)},"tenants":${entriesJson(tenants)}}`;
}

/** `{"id":{"chain":…,"manifests":…},…}` in id order. */
function entriesJson(tenants: ReadonlyArray<readonly [string, RunCoverageEntry]>): string {
  const sorted = [...tenants].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${sorted.map(([id, e]) => `${JSON.stringify(id)}:{"chain":${e.chain},"manifests":${e.manifests}}`).join(',')}}`;
}

/** Which tenants are ready now (for the markers), and, when the directory keeps an index, the few that are not. */
export interface TenantStatuses {
  ready(id: string): boolean;
  notReady?: ReadonlySet<string>;
}

/**
 * Whether a tenant is still ready now, for the run markers: from the tenant index, the few
 * tenants in another status (one range read per other status, whatever the number of tenants);
 * without an index, every ready tenant.
 */
export async function readyTenants(directory: TenantDirectory): Promise<TenantStatuses> {
  const ids = new Set<string>();
  if (!directory.listTenantIdPage) {
    for await (const id of allTenantIds(directory, { status: 'ready' })) ids.add(id);
    return { ready: (id) => ids.has(id) };
  }
  for (const status of TENANT_STATUSES) if (status !== 'ready') for await (const id of allTenantIds(directory, { status })) ids.add(id);
  return { ready: (id) => !ids.has(id), notReady: ids };
}

/** `Name: message`, secrets masked (the project's errorMessage), at most 200 characters as before. */
const errorText = (e: unknown) => errorMessage(e).slice(0, 200);

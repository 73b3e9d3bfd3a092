/**
 * Run coverage markers, the writing side (issue 11): an incremental run over the tenants
 * (the backupIncremental timer) ends with ONE immutable object per tier,
 * `runs/covered/<at>_<random>.json` (`tenant-ledger-run-coverage/1`, coverage.ts), listing
 * every tenant that run confirmed unchanged on that tier with its chain and manifest count. It
 * replaces one coverage renewal put per idle tenant and tier: an idle tenant's `coveredUntil`
 * advances with every run, and an idle run writes nothing per tenant. The newest
 * RUN_COVERAGE_KEEP per tier are kept; older ones are deleted after each new one.
 *
 * A tenant is listed only when its result on the tier was `unchanged` (its log had not moved,
 * by a look after `at`, since its last clean backup there: journal.ts, incremental.ts) and it
 * is not known as anything but ready when the marker is written (a tenant suspended, scheduled
 * for deletion or being created then is left out; one destroyed during the run is no longer
 * known at all and stays listed, which is still true of it: its log ended unchanged). A
 * tenant backed up for real has its own, newer marker; one that failed is not listed.
 */
import { randomBytes } from 'node:crypto';
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import { TENANT_STATUSES, type TenantDirectory } from '../../ports/tenant-directory';
import { allTenantIds } from '../tenants/tenant-pages';
import { runCoverageKey } from './chain-format';
import {
  forgetRunMarker,
  RUN_COVERAGE_FORMAT,
  RUN_COVERAGE_KEEP,
  type RunCoverageEntry,
  type RunCoverageMarker,
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

/** The tenants one run confirms unchanged, per tier, as its results come in. */
export class RunCoverage {
  /** tier → tenant → what its skip rests on (the chain and manifests of its last clean backup), for tenants whose job is still to report. */
  private readonly candidates = new Map<string, Map<string, RunCoverageEntry>>();
  /** tier → the tenants confirmed unchanged there (each once: one result per tenant and tier). */
  private readonly listed = new Map<string, Array<[string, RunCoverageEntry]>>();

  /** `at`: taken before the run's first look. */
  constructor(readonly at: string) {}

  /** `tenant` looked unchanged on `tier` from its job, its last clean backup there being `entry`: listed once its result is settled ok. */
  candidate(tier: string, tenant: string, entry: RunCoverageEntry): void {
    const m = this.candidates.get(tier) ?? new Map<string, RunCoverageEntry>();
    this.candidates.set(tier, m.set(tenant, entry));
  }

  /** `tenant`'s final result on `tier` is unchanged, known before any job (the run reports it as it is). */
  confirmed(tier: string, tenant: string, entry: RunCoverageEntry): void {
    const l = this.listed.get(tier) ?? [];
    this.listed.set(tier, l);
    l.push([tenant, entry]);
  }

  /** The run's final result for `tenant` on `tier` (a job's): listed only when it is ok and unchanged. */
  settle(tier: string, tenant: string, result: { ok: boolean; unchanged?: true }): void {
    const m = this.candidates.get(tier);
    const entry = m?.get(tenant);
    if (!entry) return;
    m!.delete(tenant);
    if (result.ok && result.unchanged) this.confirmed(tier, tenant, entry);
  }

  /**
   * Writes `target`'s marker (within `deadlineMs`) once that tier's results are all settled,
   * whatever the other tiers are doing, listing the tenants settled unchanged there that
   * `stillReady` still accepts (read now, after the tier's work, and only when there is someone
   * to list). With nobody to list nothing is written. A failed put is a failed result with the
   * error, never a partial marker (one object, written whole or not at all).
   */
  async writeTier(
    target: BackupTarget,
    stillReady: () => Promise<(id: string) => boolean>,
    deadlineMs: number,
  ): Promise<RunCoverageResult> {
    const { at } = this;
    const tier = target.name;
    const settled = this.listed.get(tier);
    if (!settled || settled.length === 0) return { tier, ok: true, at, tenants: 0 };
    let ready: (id: string) => boolean;
    try {
      ready = await stillReady();
    } catch (e) {
      return { tier, ok: false, at, tenants: settled.length, error: `the tenant list could not be read (${errorText(e)})` };
    }
    const listed = settled.filter(([id]) => ready(id));
    if (listed.length === 0) return { tier, ok: true, at, tenants: 0 };
    try {
      const written = await withDeadline(deadlineMs, `run coverage marker on ${tier}`, (abortSignal) =>
        writeRunCoverage(target, at, listed, { abortSignal }),
      );
      return { tier, ok: true, at, tenants: listed.length, ...written };
    } catch (e) {
      return {
        tier,
        ok: false,
        at,
        tenants: listed.length,
        error: `The run coverage marker could not be written (${errorText(e)}): the coverage of the ${listed.length} unchanged tenant(s) did not advance on ${tier}.`,
      };
    }
  }
}

/**
 * Writes one run coverage marker (one put of the whole object; `tenants` in id order in it),
 * then deletes the tier's run markers older than the newest RUN_COVERAGE_KEEP. Throws when the
 * put fails; a listing or a deletion that fails after it only leaves older markers for the
 * next run to delete.
 */
export async function writeRunCoverage(
  target: BackupTarget,
  at: string,
  tenants: ReadonlyArray<readonly [string, RunCoverageEntry]>,
  call: TargetCallOptions = {},
): Promise<{ key: string; deleted: number; refused: number }> {
  const key = runCoverageKey(at, randomBytes(4).toString('hex'));
  await target.put(key, Buffer.from(runCoverageJson(at, tenants)), call);
  let deleted = 0;
  let refused = 0;
  try {
    const keys = await runMarkerKeys(target, call);
    for (const old of keys.slice(0, Math.max(0, keys.length - RUN_COVERAGE_KEEP))) {
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
  return { key, deleted, refused };
}

/**
 * The marker's JSON (RunCoverageMarker: format, at, tenants in id order), written out directly:
 * the same text JSON.stringify gives, without building an object of 10,000 keys first (which
 * was most of an idle run's marker cost at 10,000 tenants).
 */
export function runCoverageJson(at: string, tenants: ReadonlyArray<readonly [string, RunCoverageEntry]>): string {
  const sorted = [...tenants].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const entries = sorted.map(([id, e]) => `${JSON.stringify(id)}:{"chain":${e.chain},"manifests":${e.manifests}}`);
  const head: Omit<RunCoverageMarker, 'tenants'> = { format: RUN_COVERAGE_FORMAT, at };
  return `${JSON.stringify(head).slice(0, -1)},"tenants":{${entries.join(',')}}}`;
}

/**
 * Whether a tenant is still ready now, for the run markers: from the tenant index, the few
 * tenants in another status (one range read per other status, whatever the number of tenants);
 * without an index, every ready tenant.
 */
export async function readyTenants(directory: TenantDirectory): Promise<(id: string) => boolean> {
  const ids = new Set<string>();
  if (!directory.listTenantIdPage) {
    for await (const id of allTenantIds(directory, { status: 'ready' })) ids.add(id);
    return (id) => ids.has(id);
  }
  for (const status of TENANT_STATUSES) if (status !== 'ready') for await (const id of allTenantIds(directory, { status })) ids.add(id);
  return (id) => !ids.has(id);
}

/** `Name: message`, secrets masked (the project's errorMessage), at most 200 characters as before. */
const errorText = (e: unknown) => errorMessage(e).slice(0, 200);

/**
 * Run coverage markers, the writing side (issue 11): an incremental run over the tenants
 * (the backupIncremental timer) ends with ONE immutable object per tier,
 * `runs/covered/<at>_<random>.json` (`tenant-ledger-run-coverage/1`, coverage.ts), listing
 * every tenant that run confirmed unchanged on that tier with its chain and manifest count. It
 * replaces one coverage renewal put per idle tenant and tier: an idle tenant's `coveredUntil`
 * advances with every run, and an idle run writes nothing per tenant. The newest
 * RUN_COVERAGE_KEEP per tier are kept; older ones are deleted after each new one.
 *
 * A tenant is listed only when its result on the tier was `unchanged` (its log fingerprint,
 * taken after `at`, was the one recorded after its last clean backup there) and it is still a
 * ready tenant when the marker is written (a tenant scheduled for deletion or shredded during
 * the run is left out). A tenant backed up for real has its own, newer marker; one that failed
 * is not listed.
 */
import { randomBytes } from 'node:crypto';
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
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
  /** tier → tenant → what its skip rests on (the chain and manifests of its last clean backup). */
  private readonly candidates = new Map<string, Map<string, RunCoverageEntry>>();
  private readonly listed = new Map<string, Map<string, RunCoverageEntry>>();

  /** `at`: taken before the run's first fingerprint look. */
  constructor(readonly at: string) {}

  /** `tenant` looked unchanged on `tier`, its last clean backup there being `entry`. */
  candidate(tier: string, tenant: string, entry: RunCoverageEntry): void {
    const m = this.candidates.get(tier) ?? new Map<string, RunCoverageEntry>();
    this.candidates.set(tier, m.set(tenant, entry));
  }

  /** The run's final result for `tenant` on `tier`: listed only when it is ok and unchanged. */
  settle(tier: string, tenant: string, result: { ok: boolean; unchanged?: true }): void {
    const entry = this.candidates.get(tier)?.get(tenant);
    if (!entry || !result.ok || !result.unchanged) return;
    const m = this.listed.get(tier) ?? new Map<string, RunCoverageEntry>();
    this.listed.set(tier, m.set(tenant, entry));
  }

  /**
   * Writes `target`'s marker (within `deadlineMs`) once that tier's results are all settled,
   * whatever the other tiers are doing, listing the tenants settled unchanged there that
   * `stillTenants` still names (read now, after the tier's work, and only when there is someone
   * to list). With nobody to list nothing is written. A failed put is a failed result with the
   * error, never a partial marker (one object, written whole or not at all).
   */
  async writeTier(target: BackupTarget, stillTenants: () => Promise<ReadonlySet<string>>, deadlineMs: number): Promise<RunCoverageResult> {
    const { at } = this;
    const tier = target.name;
    const settled = this.listed.get(tier);
    if (!settled || settled.size === 0) return { tier, ok: true, at, tenants: 0 };
    let current: ReadonlySet<string>;
    try {
      current = await stillTenants();
    } catch (e) {
      return { tier, ok: false, at, tenants: settled.size, error: `the tenant list could not be read (${errorText(e)})` };
    }
    const listed = [...settled].filter(([id]) => current.has(id));
    if (listed.length === 0) return { tier, ok: true, at, tenants: 0 };
    try {
      const written = await withDeadline(deadlineMs, `run coverage marker on ${tier}`, (abortSignal) =>
        writeRunCoverage(target, at, new Map(listed), { abortSignal }),
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
 * Writes one run coverage marker (one put of the whole object), then deletes the tier's run
 * markers older than the newest RUN_COVERAGE_KEEP. Throws when the put fails; a listing or a
 * deletion that fails after it only leaves older markers for the next run to delete.
 */
export async function writeRunCoverage(
  target: BackupTarget,
  at: string,
  tenants: ReadonlyMap<string, RunCoverageEntry>,
  call: TargetCallOptions = {},
): Promise<{ key: string; deleted: number; refused: number }> {
  const key = runCoverageKey(at, randomBytes(4).toString('hex'));
  const marker: RunCoverageMarker = {
    format: RUN_COVERAGE_FORMAT,
    at,
    tenants: Object.fromEntries([...tenants].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  };
  await target.put(key, Buffer.from(JSON.stringify(marker)), call);
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

/** `Name: message`, secrets masked (the project's errorMessage), at most 200 characters as before. */
const errorText = (e: unknown) => errorMessage(e).slice(0, 200);

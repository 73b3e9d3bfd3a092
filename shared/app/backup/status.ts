/** What the backups of one tenant look like, per tier (GET …/backups). */
import type { BackupTarget } from '../../ports/backup-target';
import type { EventStore } from '../../ports/event-store';
import { drillsPrefix, parseStored } from './chain-format';
import { tenantCoverage } from './coverage';
import { withDeadline } from './deadline';
import type { BackupDeps } from './deps';
import type { DrillRecord } from './drill';
import { lastManifest } from './reader';
import { errorMessage } from '../../redact';

/** The status of one tier; `ok: false` (with `error`) when it did not answer in time. */
export interface TierStatus {
  tier: string;
  ok: boolean;
  lastBackup?: { at: string; chain: number; manifests: number; lastCommitTimestamp: string; coveredUntil: string } | null;
  missingFiles?: number;
  lastDrill?: DrillRecord | null;
  lagCommits?: number | null;
  lagMinutes?: number | null;
  error?: string;
}

/**
 * Per tier: the last confirmed backup, what it covers, the last drill, and how far the backup
 * lags the log. Tiers are asked in parallel and each gets `timeoutMs`: a tier that has not
 * answered by then is shown as failed (`ok: false` with the error), never waited for.
 */
export async function backupStatus(
  d: Pick<BackupDeps, 'stores'>,
  tenant: string,
  targets: readonly BackupTarget[],
  timeoutMs: number,
): Promise<TierStatus[]> {
  // The log (for the lag) is leased behind the ready-check while the tiers answer.
  const lease = await d.stores.acquire(tenant);
  try {
    return await perTier(lease.stores.events, tenant, targets, timeoutMs);
  } finally {
    lease.release();
  }
}

function perTier(events: EventStore, tenant: string, targets: readonly BackupTarget[], timeoutMs: number): Promise<TierStatus[]> {
  return Promise.all(
    targets.map(async (t): Promise<TierStatus> => {
      try {
        return await withDeadline(timeoutMs, `Status of ${t.name}`, async (abortSignal) => {
          const call = { abortSignal };
          const { chain, manifests, last: m } = await lastManifest(tenant, t, call);
          // The chain's own marker (files) and, for coveredUntil, a later run's marker that lists it.
          const covered = chain === undefined ? undefined : await tenantCoverage(t, tenant, chain, manifests, call);
          const lag = await events.feedLag(m?.checkpoint);
          const drills: string[] = [];
          for await (const o of t.list(drillsPrefix(tenant), call)) drills.push(o.key);
          const lastDrillKey = drills.sort().at(-1);
          const drill = lastDrillKey ? parseStored<DrillRecord>((await t.get(lastDrillKey, call))!) : null;
          const lagMs =
            m && lag.newestTimestamp
              ? Math.max(0, Date.parse(lag.newestTimestamp) - Date.parse(m.segment.lastTimestamp))
              : lag.newestTimestamp
                ? null
                : 0;
          return {
            tier: t.name,
            ok: true,
            lastBackup:
              m && chain !== undefined
                ? {
                    at: m.createdAt,
                    chain,
                    manifests,
                    lastCommitTimestamp: m.segment.lastTimestamp,
                    coveredUntil: covered?.coveredUntil ?? m.segment.lastTimestamp,
                  }
                : null,
            missingFiles: covered?.own?.missingFiles.length ?? 0,
            lastDrill: drill,
            lagCommits: lag.commits,
            lagMinutes: lagMs === null ? null : Math.round(lagMs / 6000) / 10,
          };
        });
      } catch (e) {
        return { tier: t.name, ok: false, error: errorMessage(e) };
      }
    }),
  );
}

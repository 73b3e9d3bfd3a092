import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';

export const COVERAGE_FORMAT = 'tenant-ledger-coverage/1';

/**
 * What one successful backup run proved, written at its end as an immutable object
 * `<chain>/covered/<at>.json` (ISO instants sort as text, so the newest is the last key):
 * every commit stamped at or before `at` is in the chain's manifests (the run read the log to
 * its end at `at`), and the files of the log it knows to be lost.
 */
export interface CoverageMarker {
  format: typeof COVERAGE_FORMAT;
  tenant: string;
  chain: number;
  /** The instant the run read the end of the log: the chain covers everything up to it. */
  at: string;
  manifests: number;
  /** Blob names referenced by FileAttached events that neither the file store nor the tier has. */
  missingFiles: string[];
}

export const coverageKey = (chainPrefix: string, at: string) => `${chainPrefix}covered/${at}.json`;

/** The newest coverage marker of a chain, if any run has written one. */
export async function newestCoverage(
  target: BackupTarget,
  chainPrefix: string,
  call: TargetCallOptions = {},
): Promise<CoverageMarker | undefined> {
  let last: string | undefined;
  for await (const o of target.list(`${chainPrefix}covered/`, call)) last = o.key;
  if (!last) return undefined;
  const bytes = await target.get(last, call);
  if (!bytes) return undefined;
  try {
    const m = JSON.parse(Buffer.from(bytes).toString('utf8')) as CoverageMarker;
    return m.format === COVERAGE_FORMAT && typeof m.at === 'string' && Array.isArray(m.missingFiles) ? m : undefined;
  } catch {
    return undefined;
  }
}

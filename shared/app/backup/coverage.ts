/**
 * How far a tenant's chain on a tier reaches (`coveredUntil`): the newer of its own coverage
 * marker, written by each run that backed it up, and the newest run coverage marker that lists
 * it, written once per tier by each incremental run over the tenants for the tenants it found
 * unchanged (issue 11: one put per tier and run instead of one per idle tenant). Both are
 * immutable objects whose keys start with their instant (ISO instants sort as text). A run
 * marker is a full one (every tenant it vouches for) or a delta from a full one (RunDeltaMarker:
 * what the runs since changed), so an idle run's marker does not grow with the tenants.
 */
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import { chainPrefix, RUN_COVERAGE_PREFIX, runCoverageAt, runCoverageParts } from './chain-format';

export const COVERAGE_FORMAT = 'tenant-ledger-coverage/1';
/** The format of run coverage markers (`runs/covered/<at>_<random>.json`, run-coverage.ts writes them). */
export const RUN_COVERAGE_FORMAT = 'tenant-ledger-run-coverage/1';
/** The format of delta run markers (RunDeltaMarker): what changed since a full one. */
export const RUN_DELTA_FORMAT = 'tenant-ledger-run-coverage/2';
/** Run coverage markers kept per tier (older ones are deleted after each new one), and the most a reader looks at. */
export const RUN_COVERAGE_KEEP = 4;

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

/** One tenant in a run coverage marker: its chain on the tier and how many manifests it had. */
export interface RunCoverageEntry {
  chain: number;
  manifests: number;
}

/**
 * What one incremental run over the tenants confirmed on one tier: for each tenant listed, the
 * chain `chain`, as far as its first `manifests` manifests, holds every commit stamped at or
 * before `at`. `at` was taken before the run's first log fingerprint, and a tenant is listed
 * only when its fingerprint after that was the one recorded after its last clean backup on the
 * tier (the log has not moved since). Files are not in it: a listed tenant's last backup was
 * clean (no missing file), and what a tenant's own marker says about files stays its word.
 */
export interface RunCoverageMarker {
  format: typeof RUN_COVERAGE_FORMAT;
  at: string;
  tenants: Record<string, RunCoverageEntry>;
}

/**
 * A delta run marker (issue 11: an idle run costs the same at 10 tenants as at 10,000): what
 * one run confirmed on one tier, written as the difference from the full marker `base`
 * (RunCoverageMarker, the key its own key names). For each tenant:
 *  - in `tenants`: as in a full marker, its chain `chain`, as far as its first `manifests`
 *    manifests, holds every commit stamped at or before `at`;
 *  - in `except`: this marker says nothing of it (not confirmed by the runs since the base);
 *  - in neither: what `base` says of it holds up to `at` (its log has not moved since).
 * A delta is cumulative since its base (a run copies its predecessor's lists and applies its
 * own looks), so a reader reads at most two objects. It is written only by a run that started
 * from the place in the change journal the run that wrote its predecessor reached (so a tenant
 * the journal does not list since is one whose log has not moved: shared/app/changes/journal-run.ts).
 */
export interface RunDeltaMarker {
  format: typeof RUN_DELTA_FORMAT;
  at: string;
  base: string;
  tenants: Record<string, RunCoverageEntry>;
  except: string[];
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

/**
 * How far `tenant`'s chain `chain` (now `manifests` manifests long) on `target` reaches:
 * `coveredUntil` is the newer of the chain's own newest marker (`own`, which also says which
 * files are lost) and the newest of the tier's last RUN_COVERAGE_KEEP run markers that lists the
 * tenant (a delta: itself, or through its base) with this chain and at most `manifests` manifests (a chain only grows, so its first
 * manifests are the ones the run saw). Run markers older than the own marker are not read. A run
 * marker that is missing, unreadable, corrupt or of another format is passed over: the answer
 * is then older, never wrong. Undefined `coveredUntil`: neither kind of marker (backups written
 * before markers existed).
 */
export async function tenantCoverage(
  target: BackupTarget,
  tenant: string,
  chain: number,
  manifests: number,
  call: TargetCallOptions = {},
): Promise<{ own: CoverageMarker | undefined; coveredUntil: string | undefined }> {
  const own = await newestCoverage(target, chainPrefix(tenant, chain), call);
  const coveredUntil = own?.at;
  const keys = await runMarkerKeys(target, call).catch(() => []);
  for (const key of keys.reverse().slice(0, RUN_COVERAGE_KEEP)) {
    if (coveredUntil !== undefined && runCoverageAt(key)! <= coveredUntil) break;
    const run = await runMarker(target, key, call);
    const listed = run ? await runEntry(target, run, tenant, call) : undefined;
    if (run && listed && listed.chain === chain && listed.manifests <= manifests) return { own, coveredUntil: run.at };
  }
  return { own, coveredUntil };
}

/**
 * What run marker `run` says of `tenant` (RunDeltaMarker: a delta answers from its base unless
 * it lists or excepts the tenant); undefined when it says nothing, or its base cannot be read.
 */
async function runEntry(
  target: BackupTarget,
  run: ParsedRunMarker,
  tenant: string,
  call: TargetCallOptions,
): Promise<RunCoverageEntry | undefined> {
  const own = run.tenants.get(tenant);
  if (own || !run.base || run.except.has(tenant)) return own;
  const base = await runMarker(target, run.base, call);
  return base && !base.base && base.at <= run.at ? base.tenants.get(tenant) : undefined;
}

/** A run marker of either kind, parsed: a full one has no `base` (and an empty `except`). */
export interface ParsedRunMarker {
  at: string;
  tenants: Map<string, RunCoverageEntry>;
  base?: string;
  except: Set<string>;
}

/** The run marker `key` on `target`, parsed (cached, shared with readers); undefined when it cannot be read now, null when it is not a valid run marker. */
export function readRunMarker(
  target: BackupTarget,
  key: string,
  call: TargetCallOptions = {},
): Promise<ParsedRunMarker | null | undefined> {
  return runMarker(target, key, call);
}

/** The keys of the tier's run coverage markers, oldest first (keys of another shape left out); throws when the tier cannot list. */
export async function runMarkerKeys(target: BackupTarget, call: TargetCallOptions = {}): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of target.list(RUN_COVERAGE_PREFIX, call)) if (runCoverageAt(o.key)) keys.push(o.key);
  return keys.sort();
}

// ------------------------------------------------------------------ parsed run markers, cached

/** A run marker as readers use it; null for one that is not a valid run marker (foreign, corrupt). */
type ParsedRun = ParsedRunMarker | null;

/**
 * Parsed run markers per tier (target object) by key, the RUN_COVERAGE_KEEP + 1 most recently used (the kept ones and a base):
 * run markers are immutable, and one lists every tenant of a run (~60 bytes each: 600 KB at
 * 10,000 tenants), so the status of many tenants reads and parses each once, not once per tenant.
 */
const parsedRuns = new WeakMap<BackupTarget, Map<string, Promise<ParsedRun | undefined>>>();

/** The run marker `key` on `target`, parsed (cached); undefined when it cannot be read now (not cached). */
function runMarker(target: BackupTarget, key: string, call: TargetCallOptions): Promise<ParsedRun | undefined> {
  const cache = parsedRuns.get(target) ?? new Map<string, Promise<ParsedRun | undefined>>();
  parsedRuns.set(target, cache);
  let p = cache.get(key);
  if (p) cache.delete(key);
  else
    p = target.get(key, call).then(
      (bytes) => (bytes ? parseRunMarker(bytes, key) : undefined),
      () => undefined,
    );
  cache.set(key, p);
  while (cache.size > RUN_COVERAGE_KEEP + 1) cache.delete(cache.keys().next().value!);
  const settled = p;
  void settled.then((v) => {
    if (v === undefined && cache.get(key) === settled) cache.delete(key);
  });
  return settled;
}

/** Caches a run marker this process just wrote (`key` on `target`), as a reader would parse it: the next delta run builds on it without reading it back. */
export function rememberRunMarker(target: BackupTarget, key: string, marker: ParsedRunMarker): void {
  const cache = parsedRuns.get(target) ?? new Map<string, Promise<ParsedRun | undefined>>();
  parsedRuns.set(target, cache);
  cache.delete(key);
  cache.set(key, Promise.resolve(marker));
  while (cache.size > RUN_COVERAGE_KEEP + 1) cache.delete(cache.keys().next().value!);
}

/** Drops a deleted run marker from the cache. */
export function forgetRunMarker(target: BackupTarget, key: string): void {
  parsedRuns.get(target)?.delete(key);
}

function parseRunMarker(bytes: Uint8Array, key: string): ParsedRun {
  const parts = runCoverageParts(key);
  try {
    const m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<RunDeltaMarker> | Partial<RunCoverageMarker>;
    const delta = m?.format === RUN_DELTA_FORMAT;
    if ((!delta && m?.format !== RUN_COVERAGE_FORMAT) || typeof m.at !== 'string' || !parts || m.at !== parts.at) return null;
    // A delta names its base in its key and its body alike; a full marker names none.
    const base = delta ? (m as Partial<RunDeltaMarker>).base : undefined;
    if (base !== parts.base) return null;
    const except = delta ? (m as Partial<RunDeltaMarker>).except : [];
    if (!Array.isArray(except) || !except.every((id) => typeof id === 'string')) return null;
    if (typeof m.tenants !== 'object' || m.tenants === null || Array.isArray(m.tenants)) return null;
    const tenants = new Map<string, RunCoverageEntry>();
    for (const [id, e] of Object.entries(m.tenants as Record<string, Partial<RunCoverageEntry> | null>)) {
      if (Number.isSafeInteger(e?.chain) && Number.isSafeInteger(e?.manifests))
        tenants.set(id, { chain: e!.chain!, manifests: e!.manifests! });
    }
    return { at: m.at, tenants, except: new Set(except), ...(base ? { base } : {}) };
  } catch {
    return null;
  }
}

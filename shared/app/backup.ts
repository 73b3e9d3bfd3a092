import type { ProgressSink } from './progress';
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { AppError, isAppError } from '../domain/errors';
import type { Commit } from '../domain/events';
import type { BackupTarget, TargetCallOptions } from '../ports/backup-target';
import type { KeyProvider, WrappedKey } from '../ports/key-provider';
import type { Clock } from '../ports/runtime';
import type { TenantDirectory } from '../ports/tenant-directory';
import {
  decryptStream,
  encryptionDataJson,
  encryptStream,
  findEncryptionData,
  parseEncryptionData,
  REGION_SIZE,
  withContentKey,
  withNewContentKey,
  wrapContentKey,
} from './file-crypto';
import { BACKUP_FORMAT_V1, BACKUP_FORMAT_V2, isKeyNameOfTenant, keyNameOfKeyId, manifestMac, manifestMacMatches } from './backup-binding';
import { contentKeyCheck } from './file-binding';
import type { BlobStoreFactory } from '../ports/blob-store';
import { runProjector } from './projector';
import { TimeSlice } from './yield';
import type { RecordService } from './records';
import { DRILL_PREFIX, type TenantService, type RequestInfo } from './service';
import type { OperatorPrincipal } from '../ports/operator-auth';
import { COVERAGE_FORMAT, coverageKey, newestCoverage, type CoverageMarker } from './backup/coverage';
import { withDeadline } from './backup/deadline';
import { DEFAULT_RUN_LIMITS, runPerTier, type RunLimits, type TierJobResult } from './backup/run';
import { LeftoverTenants } from './backup/leftovers';

/** The format new manifests are written in (see backup-binding.ts; /1 manifests are still read, as legacy unbound segments). */
export const BACKUP_FORMAT = BACKUP_FORMAT_V2;

/**
 * One link of a tenant's backup chain on one target. Manifests are immutable, numbered
 * objects; each names its segment with the segment's SHA-256 and the SHA-256 of the previous
 * manifest's bytes, so a missing, altered or reordered segment or manifest breaks the chain.
 */
export interface Manifest {
  format: typeof BACKUP_FORMAT_V1 | typeof BACKUP_FORMAT_V2;
  tenant: string;
  seq: number;
  /** SHA-256 (hex) of the previous manifest's exact bytes; null for the first. */
  previous: string | null;
  segment: { key: string; sha256: string; size: number; commits: number; firstTimestamp: string; lastTimestamp: string };
  /** Feed checkpoint after the segment's last commit: where the next run continues. */
  checkpoint: string;
  /** The segment's data key, wrapped by the tenant's key (never stored in plaintext). */
  wrappedKey: WrappedKey;
  encryption: { protocol: '2.0'; algorithm: 'AES_GCM_256'; regionSize: number; compression: 'gzip'; content: 'ndjson-commits' };
  createdAt: string;
  /** Format /2: binds this manifest (and its segment) to the tenant, chain and place (backup-binding.ts). */
  mac?: string;
}

export interface BackupRunResult {
  tier: string;
  ok: boolean;
  segments: number;
  commits: number;
  /** File blobs copied (as ciphertext) in this run. */
  files?: number;
  /** The chain this run extended or started. */
  chain?: number;
  lastTimestamp: string | null;
  /** The chain now covers every commit stamped at or before this instant (set when ok). */
  coveredUntil?: string;
  /**
   * Files the log references that could not be copied because the file store has lost them
   * (and the tier has no copy): the backup is incomplete, so `ok` is false.
   */
  missingFiles?: { count: number; names: string[] };
  error?: string;
}

/** A backup (or drill) result of one tenant on one tier, as the runs report it. */
export type TenantTierResult<R> = TierJobResult<R>;

export interface ChainInfo {
  chain: number;
  complete: boolean;
  completedAt?: string;
  manifests: number;
}

export interface DrillRecord {
  at: string;
  tier: string;
  tenant: string;
  /** True only for "ok". */
  ok: boolean;
  /** "degraded": the log restored and matched, but files the log references are missing. */
  outcome: 'ok' | 'degraded' | 'failed';
  /** Files the restored log references that the backup does not have. */
  missingFiles?: number;
  asOf?: string;
  commits?: number;
  sourceHash?: string;
  restoredHash?: string;
  error?: string;
}

export interface VerifyResult {
  tier: string;
  ok: boolean;
  /** The chain that was verified (the newest complete one). */
  chain?: number;
  manifests: number;
  commits: number;
  /** Commits stamped at or before `until`, when verify was given one. */
  commitsUntil?: number;
  lastTimestamp: string | null;
  problems: string[];
  /** E.g. legacy unbound segments (format /1, written before manifests were bound to their tenant). */
  warnings?: string[];
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const pad = (n: number) => String(n).padStart(12, '0');
const prefixOf = (tenant: string) => `tenants/${tenant}/`;
const chainPrefix = (tenant: string, chain: number) => `${prefixOf(tenant)}chains/${String(chain).padStart(6, '0')}/`;

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

/**
 * Backups of each tenant's event log to independent targets (tiers). A run ships the
 * commits after the last confirmed manifest as one or more segments (gzip NDJSON, encrypted
 * in the client-side-encryption v2 region layout with a fresh data key wrapped by the
 * tenant's key), then writes the manifest. A crash between the two leaves an unreferenced
 * segment and no gap: the next run starts again from the last manifest's checkpoint.
 */
export class BackupService {
  constructor(
    private readonly d: {
      tenants: TenantService;
      directory: TenantDirectory;
      keys: KeyProvider;
      clock: Clock;
      /** The configured tiers (may be empty); the methods below also take a target directly. */
      targets?: BackupTarget[];
      /** Needed for drills (state hashes are export hashes). */
      records?: RecordService;
      /** The tenants' file blobs: backed up as ciphertext next to the log when given. */
      blobs?: BlobStoreFactory;
      /** Escrows the tenant's key to a tier before its commits go there (recovery/key-escrow.ts). */
      escrow?: { escrowTenant(tenant: string, target: BackupTarget, options?: TargetCallOptions): Promise<number> };
      log?: (m: string) => void;
      /** Per-tier deadline and concurrency of runs; how long status waits for a tier. */
      limits?: Partial<RunLimits> & { statusTimeoutMs?: number };
      /**
       * True when this process is the only one using the tenant store (the embedded default):
       * a restore or drill tenant left "creating" and not running here was left by a crash.
       */
      exclusiveStore?: boolean;
    },
  ) {
    this.leftovers = new LeftoverTenants({
      directory: d.directory,
      exclusive: d.exclusiveStore ?? false,
      remove: (id) => this.removeTenant(id),
      now: () => d.clock.now().getTime(),
      ...(d.log ? { log: d.log } : {}),
    });
  }

  /** Tenant/tier pairs with a backup or drill in progress in this process. */
  readonly running = new Set<string>();
  /** Restore and drill tenants being built in this process; crash leftovers are removed. */
  readonly leftovers: LeftoverTenants;

  private get limits(): RunLimits & { statusTimeoutMs: number } {
    return { ...DEFAULT_RUN_LIMITS, statusTimeoutMs: 15_000, ...this.d.limits };
  }

  get targets(): BackupTarget[] {
    return this.d.targets ?? [];
  }

  target(tier: string): BackupTarget {
    const t = this.targets.find((x) => x.name === tier);
    if (!t)
      throw new AppError(
        'not_found',
        `No backup tier named "${tier}" is configured (tiers: ${this.targets.map((x) => x.name).join(', ') || 'none'}).`,
      );
    return t;
  }

  /**
   * Backs the tenant up to every tier. Tiers run independently, each with the tier deadline:
   * one tier failing or hanging never blocks the others, and the answer comes within the
   * deadline. `full` starts a new chain (a fresh base that rechecks every file the log references).
   */
  async backupAllTiers(tenant: string, options: { full?: boolean } = {}): Promise<BackupRunResult[]> {
    return (await this.backupTenants([tenant], options)).map((r) => r.result);
  }

  /**
   * Backs up every tenant to every tier (the timers): each tier works through the tenants on
   * its own, `concurrency` at a time, each tenant with the tier deadline; a tier that timed out
   * is skipped for the rest of the run. `after` runs inside the same deadline after a
   * successful backup (the daily run applies retention there).
   */
  async backupTenants<X extends object = object>(
    tenants: readonly string[],
    options: {
      full?: boolean;
      after?: (tenant: string, target: BackupTarget, call: TargetCallOptions) => Promise<X>;
      onResult?: (r: TenantTierResult<BackupRunResult & Partial<X>>) => void;
    } = {},
  ): Promise<Array<TenantTierResult<BackupRunResult & Partial<X>>>> {
    return runPerTier<BackupRunResult & Partial<X>>(
      tenants,
      this.targets,
      this.limits,
      this.running,
      'backup',
      async (tenant, target, abortSignal) => {
        const r = (await this.backupTenant(tenant, target, { ...(options.full ? { full: true } : {}), abortSignal })) as BackupRunResult &
          Partial<X>;
        if (r.ok && options.after) Object.assign(r, await options.after(tenant, target, { abortSignal }));
        return r;
      },
      (tenant, target, error) => {
        this.d.log?.(`backup of tenant ${tenant} to ${target.name} failed: ${error}`);
        return { tier: target.name, ok: false, segments: 0, commits: 0, lastTimestamp: null, error } as BackupRunResult & Partial<X>;
      },
      options.onResult,
    );
  }

  /**
   * Per tier: the last confirmed backup, what it covers, the last drill, and how far the backup
   * lags the log. Tiers are asked in parallel and each gets the status timeout: a tier that has
   * not answered by then is shown as failed (`ok: false` with the error), never waited for.
   */
  async status(tenant: string): Promise<Array<Record<string, unknown>>> {
    const events = await this.d.directory.openEventStore(tenant);
    const timeout = this.limits.statusTimeoutMs;
    return Promise.all(
      this.targets.map(async (t) => {
        try {
          return await withDeadline(timeout, `Status of ${t.name}`, async (abortSignal) => {
            const call = { abortSignal };
            const chain = await this.currentChain(tenant, t, call);
            const keys = await this.manifestKeys(tenant, t, chain, call);
            const lastKey = keys.at(-1);
            const m = lastKey ? (JSON.parse(Buffer.from((await t.get(lastKey, call))!).toString('utf8')) as Manifest) : undefined;
            const covered = chain === undefined ? undefined : await newestCoverage(t, chainPrefix(tenant, chain), call);
            const lag = await events.feedLag(m?.checkpoint);
            const drills: string[] = [];
            for await (const o of t.list(`${prefixOf(tenant)}drills/`, call)) drills.push(o.key);
            const lastDrillKey = drills.sort().at(-1);
            const drill = lastDrillKey
              ? (JSON.parse(Buffer.from((await t.get(lastDrillKey, call))!).toString('utf8')) as DrillRecord)
              : null;
            const lagMs =
              m && lag.newestTimestamp
                ? Math.max(0, Date.parse(lag.newestTimestamp) - Date.parse(m.segment.lastTimestamp))
                : lag.newestTimestamp
                  ? null
                  : 0;
            return {
              tier: t.name,
              ok: true,
              lastBackup: m
                ? {
                    at: m.createdAt,
                    chain,
                    manifests: keys.length,
                    lastCommitTimestamp: m.segment.lastTimestamp,
                    coveredUntil: covered?.at ?? m.segment.lastTimestamp,
                  }
                : null,
              missingFiles: covered?.missingFiles.length ?? 0,
              lastDrill: drill,
              lagCommits: lag.commits,
              lagMinutes: lagMs === null ? null : Math.round(lagMs / 6000) / 10,
            };
          });
        } catch (e) {
          return { tier: t.name, ok: false, error: `${(e as Error)?.name}: ${(e as Error)?.message}`.slice(0, 300) };
        }
      }),
    );
  }

  /**
   * A restore drill: restores the latest backup on `target` into a scratch tenant, compares
   * the state hash (SHA-256 of the export) with the source as of the same instant, records
   * the result on the target (immutable `drills/` object) and removes the scratch tenant.
   */
  async drill(
    tenant: string,
    target: BackupTarget,
    operator: OperatorPrincipal,
    req: RequestInfo,
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<DrillRecord> {
    const records = this.d.records;
    if (!records) throw new Error('BackupService needs the RecordService for drills.');
    const call = options.abortSignal ? { abortSignal: options.abortSignal } : {};
    // Scratch tenants of drills that a crash interrupted go first.
    await this.leftovers.sweep();
    const at = this.d.clock.now().toISOString();
    const scratch = `${DRILL_PREFIX}${randomBytes(6).toString('hex')}`;
    this.leftovers.begin(scratch);
    let record: DrillRecord;
    try {
      const keys = await this.manifestKeys(tenant, target, await this.currentChain(tenant, target, call), call);
      const lastKey = keys.at(-1);
      if (!lastKey) throw new AppError('not_found', `There is no backup of ${tenant} on ${target.name}.`);
      const m = JSON.parse(Buffer.from((await target.get(lastKey, call))!).toString('utf8')) as Manifest;
      const asOf = new Date(m.segment.lastTimestamp);
      const restored = await this.restoreMarked(tenant, target, asOf, scratch, operator, req, undefined, call);
      const sourceHash = await this.exportHash(records, tenant, asOf);
      const restoredHash = await this.exportHash(records, scratch, undefined);
      const missing = restored.missingFiles.length;
      const outcome = sourceHash !== restoredHash ? 'failed' : missing > 0 ? 'degraded' : 'ok';
      record = {
        at,
        tier: target.name,
        tenant,
        ok: outcome === 'ok',
        outcome,
        asOf: asOf.toISOString(),
        commits: restored.commits,
        missingFiles: missing,
        sourceHash,
        restoredHash,
        ...(outcome === 'degraded' ? { error: `${missing} file(s) the log references are missing from the backup` } : {}),
      };
    } catch (e) {
      record = {
        at,
        tier: target.name,
        tenant,
        ok: false,
        outcome: 'failed',
        error: `${(e as Error)?.name}: ${(e as Error)?.message}`.slice(0, 300),
      };
    } finally {
      await this.removeTenant(scratch);
      this.leftovers.end(scratch);
    }
    try {
      await target.put(
        `${prefixOf(tenant)}drills/${at.replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}.json`,
        Buffer.from(JSON.stringify(record, null, 1)),
        call,
      );
    } catch (e) {
      // A tier that cannot store the drill's record is reported like a failed drill (its
      // status would otherwise keep showing an older drill), and the other tiers still run.
      const outcome =
        record.outcome === 'ok'
          ? 'succeeded'
          : `${record.outcome === 'degraded' ? 'was degraded' : 'failed'} (${record.error ?? 'state hash differs from the source'})`;
      record = {
        ...record,
        ok: false,
        outcome: 'failed',
        error: `The drill ${outcome}, but its record could not be stored on ${target.name}: ${(e as Error)?.message}`.slice(0, 300),
      };
    }
    if (!record.ok)
      this.d.log?.(
        `RESTORE DRILL ${record.outcome.toUpperCase()} for tenant ${tenant} on ${target.name}: ${record.error ?? 'state hash differs from the source'}`,
      );
    return record;
  }

  /**
   * Drills of every tenant on every tier (the drill timer, and POST …/backups/drill for one
   * tenant): tiers independent, each drill with the tier deadline, like backups.
   */
  async drillTenants(
    tenants: readonly string[],
    operator: OperatorPrincipal,
    req: RequestInfo,
    onResult?: (r: TenantTierResult<DrillRecord>) => void,
  ): Promise<Array<TenantTierResult<DrillRecord>>> {
    return runPerTier<DrillRecord>(
      tenants,
      this.targets,
      this.limits,
      this.running,
      'restore drill',
      (tenant, target, abortSignal) => this.drill(tenant, target, operator, req, { abortSignal }),
      (tenant, target, error) => ({ at: this.d.clock.now().toISOString(), tier: target.name, tenant, ok: false, outcome: 'failed', error }),
      onResult,
    );
  }

  /** Removes a tenant made by a restore or a drill: store, key and files. */
  private async removeTenant(id: string): Promise<void> {
    this.d.tenants.forget(id);
    this.d.records?.forget(id);
    const meta = await this.d.directory.getMeta(id).catch(() => undefined);
    await this.d.blobs?.deleteTenant(id).catch(() => undefined);
    await this.d.directory.destroy(id).catch(() => undefined);
    if (meta) await this.d.keys.deleteKey(meta.keyName).catch(() => undefined);
  }

  private async exportHash(records: RecordService, tenant: string, asOf: Date | undefined): Promise<string> {
    const h = createHash('sha256');
    const reader = { tenantId: tenant, userId: 'system:drill', email: 'drill@system', roles: ['viewer' as const] };
    for await (const line of records.exportRecords(reader, asOf)) h.update(line);
    return h.digest('hex');
  }

  /**
   * The tenant's chains on a target. Every chain starts at the beginning of the log (a base)
   * and grows by increments; it is complete once its base reached the end of the log. The
   * daily full run starts a new chain; incremental runs extend the newest complete one.
   */
  async chains(tenant: string, target: BackupTarget, call: TargetCallOptions = {}): Promise<ChainInfo[]> {
    const found = new Map<number, ChainInfo>();
    for await (const o of target.list(`${prefixOf(tenant)}chains/`, call)) {
      const m = /chains\/(\d{6})\/(complete\.json|manifests\/)/.exec(o.key);
      if (!m) continue;
      const n = Number(m[1]);
      const c = found.get(n) ?? { chain: n, complete: false, manifests: 0 };
      if (m[2] === 'complete.json') {
        c.complete = true;
        const marker = await target.get(o.key, call);
        c.completedAt = marker ? (JSON.parse(Buffer.from(marker).toString('utf8')) as { at: string }).at : o.lastModified.toISOString();
      } else c.manifests++;
      found.set(n, c);
    }
    return [...found.values()].sort((a, b) => a.chain - b.chain);
  }

  /** The newest complete chain (what restores, verifies, drills and increments use). */
  private async currentChain(tenant: string, target: BackupTarget, call: TargetCallOptions = {}): Promise<number | undefined> {
    return (await this.chains(tenant, target, call)).filter((c) => c.complete).at(-1)?.chain;
  }

  /** Manifests of one chain, in order (not verified). */
  private async manifestKeys(
    tenant: string,
    target: BackupTarget,
    chain: number | undefined,
    call: TargetCallOptions = {},
  ): Promise<string[]> {
    if (chain === undefined) return [];
    const keys: string[] = [];
    for await (const o of target.list(`${chainPrefix(tenant, chain)}manifests/`, call)) keys.push(o.key);
    return keys.sort();
  }

  /**
   * Retention: keeps the newest complete chain, any newer chain still being built, and per
   * policy the newest complete chain of each of the last `daily` days, `weekly` ISO weeks and
   * `monthly` months (by completion date); deletes the rest. Every kept chain is a full history
   * up to its end, so dropping older chains never breaks a newer one. Targets under an
   * immutability policy refuse deletions until it expires; those are reported, not fatal.
   */
  async applyRetention(
    tenant: string,
    target: BackupTarget,
    policy: { daily: number; weekly: number; monthly: number } = { daily: 14, weekly: 8, monthly: 12 },
    call: TargetCallOptions = {},
  ): Promise<{ kept: number[]; deleted: number[]; refused: number }> {
    const all = await this.chains(tenant, target, call);
    const complete = all.filter((c) => c.complete);
    const newest = complete.at(-1);
    const keep = new Set<number>();
    if (newest) keep.add(newest.chain);
    for (const c of all) if (!c.complete && (!newest || c.chain > newest.chain)) keep.add(c.chain);
    const now = this.d.clock.now();
    const bucket = (c: ChainInfo, kind: 'day' | 'week' | 'month') => {
      const d = new Date(c.completedAt!);
      if (kind === 'day') return d.toISOString().slice(0, 10);
      if (kind === 'month') return d.toISOString().slice(0, 7);
      const monday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - ((d.getUTCDay() + 6) % 7)));
      return monday.toISOString().slice(0, 10);
    };
    const windows: Array<['day' | 'week' | 'month', number, number]> = [
      ['day', policy.daily, 86_400_000],
      ['week', policy.weekly, 7 * 86_400_000],
      ['month', policy.monthly, 31 * 86_400_000],
    ];
    for (const [kind, count, span] of windows) {
      const seen = new Set<string>();
      for (const c of [...complete].reverse()) {
        if (now.getTime() - Date.parse(c.completedAt!) > count * span) continue;
        const b = bucket(c, kind);
        if (seen.has(b)) continue;
        seen.add(b);
        keep.add(c.chain);
      }
    }
    const deleted: number[] = [];
    let refused = 0;
    for (const c of all) {
      if (keep.has(c.chain)) continue;
      for await (const o of target.list(chainPrefix(tenant, c.chain), call)) {
        try {
          await target.delete(o.key, call);
        } catch {
          refused++;
        }
      }
      deleted.push(c.chain);
    }
    return { kept: [...keep].sort((a, b) => a - b), deleted, refused };
  }

  async backupTenant(
    tenant: string,
    target: BackupTarget,
    options: { maxCommitsPerSegment?: number; full?: boolean; abortSignal?: AbortSignal } = {},
  ): Promise<BackupRunResult> {
    const max = options.maxCommitsPerSegment ?? 5000;
    const call: TargetCallOptions = options.abortSignal ? { abortSignal: options.abortSignal } : {};
    const result: BackupRunResult = { tier: target.name, ok: true, segments: 0, commits: 0, lastTimestamp: null };
    try {
      // The key first: no segment on a tier without the key that opens it escrowed there.
      await this.d.escrow?.escrowTenant(tenant, target, call);
      const all = await this.chains(tenant, target, call);
      const newestComplete = all.filter((c) => c.complete).at(-1);
      const newestAny = all.at(-1);
      // Increments extend the newest complete chain (or finish building the first one); a full
      // run starts a new chain, or resumes a newer chain whose base was interrupted.
      const chain = options.full
        ? newestAny && !newestAny.complete
          ? newestAny.chain
          : (newestAny?.chain ?? 0) + 1
        : (newestComplete?.chain ?? newestAny?.chain ?? 1);
      const isComplete = all.some((c) => c.chain === chain && c.complete);
      result.chain = chain;
      const keys = await this.manifestKeys(tenant, target, chain, call);
      let previous: string | null = null;
      let checkpoint: string | undefined;
      let seq = 1;
      const lastKey = keys.at(-1);
      if (lastKey) {
        const bytes = await target.get(lastKey, call);
        if (!bytes) throw new AppError('unavailable', `Manifest ${lastKey} vanished.`);
        const m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Manifest;
        previous = sha256(bytes);
        checkpoint = m.checkpoint;
        seq = m.seq + 1;
        result.lastTimestamp = m.segment.lastTimestamp;
      }
      const events = await this.d.directory.openEventStore(tenant);
      const keyName = await this.d.tenants.keyName(tenant);
      // Files this run's commits reference: each must reach the tier (or is reported lost).
      const referenced = new Set<string>();
      let readAt: Date;
      for (;;) {
        options.abortSignal?.throwIfAborted();
        readAt = this.d.clock.now();
        const page = await events.readFeed(checkpoint, { maxCount: max });
        if (page.commits.length === 0) break;
        for (const c of page.commits)
          for (const e of c.events) if (e.type === 'FileAttached') referenced.add((e.data as { blobName: string }).blobName);
        const ndjson = Buffer.from(`${page.commits.map((c) => JSON.stringify(c)).join('\n')}\n`);
        const stamps = page.commits.map((c) => c.timestamp).sort();
        // The data key lives only inside this scope (zeroed on every path); the manifest is
        // sealed with a MAC derived from it, binding it to this tenant, chain and place.
        const { cipher, manifest } = await withNewContentKey(async (cek) => {
          const wrapped = await wrapContentKey(this.d.keys, keyName, cek);
          const cipher = await collect(encryptStream(once(gzipSync(ndjson)), cek).regions);
          const segSha = sha256(cipher);
          const manifest: Manifest = {
            format: BACKUP_FORMAT,
            tenant,
            seq,
            previous,
            segment: {
              key: `${chainPrefix(tenant, chain)}segments/${pad(seq)}-${segSha.slice(0, 16)}.bin`,
              sha256: segSha,
              size: cipher.length,
              commits: page.commits.length,
              firstTimestamp: stamps[0]!,
              lastTimestamp: stamps.at(-1)!,
            },
            checkpoint: page.checkpoint,
            wrappedKey: wrapped,
            encryption: {
              protocol: '2.0',
              algorithm: 'AES_GCM_256',
              regionSize: REGION_SIZE,
              compression: 'gzip',
              content: 'ndjson-commits',
            },
            createdAt: this.d.clock.now().toISOString(),
          };
          manifest.mac = manifestMac(cek, manifest, chain);
          return { cipher, manifest };
        });
        await target.put(manifest.segment.key, cipher, call);
        const bytes = Buffer.from(JSON.stringify(manifest, null, 1));
        await target.put(`${chainPrefix(tenant, chain)}manifests/${pad(seq)}.json`, bytes, call);
        previous = sha256(bytes);
        checkpoint = page.checkpoint;
        seq++;
        result.segments++;
        result.commits += page.commits.length;
        result.lastTimestamp = manifest.segment.lastTimestamp;
      }
      // The log has been read to its end: this chain is a complete history (base reached).
      if (!isComplete)
        await target.put(
          `${chainPrefix(tenant, chain)}complete.json`,
          Buffer.from(JSON.stringify({ at: this.d.clock.now().toISOString(), manifests: seq - 1 })),
          call,
        );
      // Files lost earlier stay reported until they come back.
      const before = await newestCoverage(target, chainPrefix(tenant, chain), call);
      for (const name of before?.missingFiles ?? []) referenced.add(name);
      const files = await this.backupFiles(tenant, target, referenced, call);
      result.files = files.copied;
      // What this run proved: the chain holds every commit stamped up to `readAt`.
      const coveredUntil = readAt.toISOString();
      const marker: CoverageMarker = {
        format: COVERAGE_FORMAT,
        tenant,
        chain,
        at: coveredUntil,
        manifests: seq - 1,
        missingFiles: files.missing,
      };
      await target
        .put(coverageKey(chainPrefix(tenant, chain), coveredUntil), Buffer.from(JSON.stringify(marker)), call)
        .catch((e: unknown) => {
          // Two runs in the same millisecond: the other one wrote the same instant.
          if (!(isAppError(e) && e.code === 'conflict')) throw e;
        });
      result.coveredUntil = coveredUntil;
      if (files.missing.length) {
        result.ok = false;
        result.missingFiles = { count: files.missing.length, names: files.missing.slice(0, 20) };
        result.error = `${files.missing.length} file(s) the log references could not be copied: the file store no longer has them and neither has this tier (the log itself is backed up)`;
        this.d.log?.(`backup of tenant ${tenant} to ${target.name}: ${result.error}`);
      }
    } catch (e) {
      result.ok = false;
      result.error = `${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? String(e)}`.slice(0, 300);
      this.d.log?.(`backup of tenant ${tenant} to ${target.name} failed: ${result.error}`);
    }
    return result;
  }

  /**
   * Files: each blob of the tenant is copied as it is stored — ciphertext, with its
   * `encryptiondata` (the content key wrapped by the tenant's key) — to
   * `files/<blob name>` plus a `.meta.json` written after the data, which marks the copy
   * complete. Blobs never change after upload (rotation re-wraps only metadata, and the older
   * wrapping stays valid), so each is copied once. Integrity is checked where it is read:
   * GCM tags per region and the size recorded in the FileAttached event.
   */
  private async backupFiles(
    tenant: string,
    target: BackupTarget,
    referenced: ReadonlySet<string>,
    call: TargetCallOptions,
  ): Promise<{ copied: number; missing: string[] }> {
    if (!this.d.blobs) return { copied: 0, missing: [] };
    const store = await this.d.blobs.forTenant(tenant);
    const have = new Set<string>();
    for await (const o of target.list(`${prefixOf(tenant)}files/`, call)) have.add(o.key);
    const fileKey = (name: string) => `${prefixOf(tenant)}files/${encodeURIComponent(name)}`;
    const inStore = new Set<string>();
    let copied = 0;
    for await (const b of store.list()) {
      inStore.add(b.name);
      const key = fileKey(b.name);
      if (have.has(`${key}.meta.json`) && have.has(key)) continue;
      if (!have.has(key)) await target.putStream(key, await store.download(b.name), b.size, call);
      if (!have.has(`${key}.meta.json`))
        await target.put(`${key}.meta.json`, Buffer.from(JSON.stringify({ name: b.name, size: b.size, metadata: b.metadata })), call);
      copied++;
    }
    // A referenced file is lost when the store no longer has it and the tier has no full copy.
    const missing = [...referenced]
      .filter((name) => !inStore.has(name) && !(have.has(fileKey(name)) && have.has(`${fileKey(name)}.meta.json`)))
      .sort();
    return { copied, missing };
  }

  /**
   * Which key name a segment's or backed-up file's data key must be wrapped by: the source
   * tenant's own key (from its meta). When the source tenant's store is gone (a disaster
   * restore), the key id must name a key created for that tenant id (`tenant-<id>-<8 hex>`).
   * The key provider then refuses any key id that is not a version of that name.
   */
  private sourceKeyNames(tenant: string): (keyId: string) => Promise<string> {
    let own: Promise<string | undefined> | undefined;
    return async (keyId) => {
      // A tenant being restored under the source's own id (a disaster restore) is not the source.
      own ??= this.d.directory.getMeta(tenant).then((m) => (m && !(m.status === 'creating' && m.restoring) ? m.keyName : undefined));
      const name = await own;
      if (name !== undefined) return name;
      const named = keyNameOfKeyId(keyId);
      if (named !== undefined && isKeyNameOfTenant(named, tenant)) return named;
      throw chainBroken(`a data key of the backup of ${tenant} is not wrapped by a key of that tenant`);
    };
  }

  /**
   * Copies the file blobs the restored log references into the new tenant's container, with
   * each content key re-wrapped by the new tenant's key (the ciphertext is copied unchanged).
   */
  private async restoreFiles(
    source: string,
    into: string,
    keyName: string,
    target: BackupTarget,
    blobNames: Map<string, string | undefined>,
    onProgress: ProgressSink | undefined,
    call: TargetCallOptions,
  ): Promise<{ restored: number; missing: string[] }> {
    const missing: string[] = [];
    if (!this.d.blobs || blobNames.size === 0) return { restored: 0, missing };
    const store = await this.d.blobs.forTenant(into);
    const sourceKeys = this.sourceKeyNames(source);
    let n = 0;
    for (const [name, keyCheck] of blobNames) {
      const key = `${prefixOf(source)}files/${encodeURIComponent(name)}`;
      const metaBytes = await target.get(`${key}.meta.json`, call);
      // A file the backup does not have is listed in the answer; the log and every other file
      // still come back (its downloads answer that the stored file is missing).
      if (!metaBytes) {
        missing.push(name);
        continue;
      }
      let meta: { name: string; size: number; metadata: Record<string, string> };
      try {
        meta = JSON.parse(Buffer.from(metaBytes).toString('utf8')) as typeof meta;
      } catch {
        throw chainBroken(`file ${name} has a .meta.json that is not JSON`);
      }
      if (
        typeof meta !== 'object' ||
        meta === null ||
        typeof meta.metadata !== 'object' ||
        meta.metadata === null ||
        Object.values(meta.metadata).some((v) => typeof v !== 'string')
      ) {
        throw chainBroken(`file ${name} has a .meta.json without string metadata`);
      }
      let wrapped: WrappedKey;
      try {
        const json = findEncryptionData(meta.metadata);
        if (!json) throw chainBroken(`file ${name} has no encryption metadata`);
        const ed = parseEncryptionData(json);
        // Only the source tenant's own key, and only the content key the restored log recorded
        // for this blob (FileAttached.keyCheck, when the event has one).
        wrapped = await withContentKey(this.d.keys, await sourceKeys(ed.keyId), ed, async (cek) => {
          if (keyCheck !== undefined && contentKeyCheck(cek, name) !== keyCheck) {
            throw chainBroken(
              `file ${name} in the backup does not hold the content key its FileAttached event recorded (replaced or swapped)`,
            );
          }
          return wrapContentKey(this.d.keys, keyName, cek);
        });
      } catch (e) {
        if (isCryptoError(e)) {
          throw chainBroken(
            (e as { code?: string }).code === 'wrong-key'
              ? `file ${name} in the backup is not wrapped by a key of tenant ${source} (a foreign or corrupt file)`
              : `file ${name} has invalid encryption metadata`,
          );
        }
        throw e;
      }
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(meta.metadata)) if (k.toLowerCase() !== 'encryptiondata') metadata[k] = v;
      metadata.encryptiondata = encryptionDataJson(wrapped);
      const body = await target.getStream(key, call);
      if (!body) {
        missing.push(name);
        continue;
      }
      await store.upload(name, body, { metadata });
      n++;
      onProgress?.({ phase: 'files', done: n, total: blobNames.size });
    }
    return { restored: n, missing: missing.sort() };
  }

  /**
   * Walks the chain: every manifest in sequence, linked by hash to its predecessor, its
   * segment present with the recorded SHA-256, decryptable and parseable. Yields the
   * commits (optionally only those at or before `until`) — restore uses exactly this.
   */
  async *readChain(
    tenant: string,
    target: BackupTarget,
    options: { until?: Date; chain?: number | undefined; onLegacySegment?: (segmentKey: string) => void; call?: TargetCallOptions } = {},
  ): AsyncGenerator<Commit> {
    const call = options.call ?? {};
    const chain = 'chain' in options ? options.chain : await this.currentChain(tenant, target, call);
    const keys = await this.manifestKeys(tenant, target, chain, call);
    const sourceKeys = this.sourceKeyNames(tenant);
    let previous: string | null = null;
    let expectedSeq = 1;
    let bound = false;
    const slice = new TimeSlice();
    for (const key of keys) {
      const bytes = await target.get(key, call);
      if (!bytes) throw chainBroken(`manifest ${key} is missing`);
      let m: Manifest;
      try {
        m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Manifest;
      } catch {
        throw chainBroken(`manifest ${key} is not valid JSON`);
      }
      if ((m.format !== BACKUP_FORMAT_V2 && m.format !== BACKUP_FORMAT_V1) || m.tenant !== tenant)
        throw chainBroken(`manifest ${key} is not a ${BACKUP_FORMAT} manifest of this tenant`);
      // Once a chain has bound manifests, an unbound one after them is a downgrade, not history.
      if (m.format === BACKUP_FORMAT_V1 && bound)
        throw chainBroken(`manifest ${key} is a legacy unbound manifest after bound ones (a downgrade)`);
      const wk = m.wrappedKey as Partial<WrappedKey> | undefined;
      if (
        typeof wk !== 'object' ||
        wk === null ||
        typeof wk.keyId !== 'string' ||
        typeof wk.algorithm !== 'string' ||
        typeof wk.wrapped !== 'string'
      )
        throw chainBroken(`manifest ${key} has no valid wrapped key`);
      if (m.seq !== expectedSeq || key !== `${chainPrefix(tenant, chain!)}manifests/${pad(m.seq)}.json`)
        throw chainBroken(`manifest ${key} is out of sequence (expected ${expectedSeq})`);
      if (m.previous !== previous) throw chainBroken(`manifest ${key} does not link to the previous manifest`);
      const seg = await target.get(m.segment.key, call);
      if (!seg) throw chainBroken(`segment ${m.segment.key} is missing`);
      if (sha256(seg) !== m.segment.sha256 || seg.length !== m.segment.size) throw chainBroken(`segment ${m.segment.key} was altered`);
      let plain: Buffer;
      try {
        // The data key is unwrapped only with the source tenant's own key (a foreign segment
        // fails here), and the manifest's MAC is checked before anything is decrypted.
        plain = await withContentKey(
          this.d.keys,
          await sourceKeys(wk.keyId),
          { keyId: wk.keyId, algorithm: wk.algorithm, encryptedKey: wk.wrapped },
          async (cek) => {
            if (m.format === BACKUP_FORMAT_V2) {
              if (!manifestMacMatches(cek, m, chain!, m.mac))
                throw chainBroken(`manifest ${key} failed its MAC: it was altered, moved, or belongs to another tenant or place`);
            } else {
              options.onLegacySegment?.(m.segment.key);
            }
            try {
              const regions = Math.ceil(seg.length / (REGION_SIZE + 28));
              const plainSize = seg.length - regions * 28;
              return await collect(decryptStream(once(seg), cek, { firstRegion: 0, regionCount: regions, plainSize }));
            } catch (e) {
              throw chainBroken(`segment ${m.segment.key} failed to decrypt (${(e as { code?: string }).code ?? 'tampered'})`);
            }
          },
        );
      } catch (e) {
        if (isCryptoError(e)) {
          throw chainBroken(
            (e as { code?: string }).code === 'wrong-key'
              ? `segment ${m.segment.key} is not encrypted with a key of tenant ${tenant} (a foreign or corrupt segment)`
              : `segment ${m.segment.key} has an invalid data key (${(e as { code?: string }).code})`,
          );
        }
        throw e;
      }
      if (m.format === BACKUP_FORMAT_V2) bound = true;
      const lines = gunzipSync(plain).toString('utf8').split('\n').filter(Boolean);
      if (lines.length !== m.segment.commits)
        throw chainBroken(`segment ${m.segment.key} holds ${lines.length} commits, the manifest says ${m.segment.commits}`);
      for (const l of lines) {
        await slice.maybeYield();
        const c = JSON.parse(l) as Commit;
        if (!options.until || Date.parse(c.timestamp) <= options.until.getTime()) yield c;
      }
      previous = sha256(bytes);
      expectedSeq++;
    }
  }

  async verify(
    tenant: string,
    target: BackupTarget,
    options: { until?: Date; onProgress?: ProgressSink; call?: TargetCallOptions } = {},
  ): Promise<VerifyResult> {
    const call = options.call ?? {};
    const r: VerifyResult = { tier: target.name, ok: true, manifests: 0, commits: 0, lastTimestamp: null, problems: [] };
    const until = options.until?.toISOString();
    if (until) r.commitsUntil = 0;
    try {
      // Chains are listed once (it reads every chain's marker); the walk uses the same chain.
      const chain = await this.currentChain(tenant, target, call);
      if (chain !== undefined) r.chain = chain;
      const legacy: string[] = [];
      for await (const c of this.readChain(tenant, target, { chain, call, onLegacySegment: (k) => legacy.push(k) })) {
        r.commits++;
        if (until && c.timestamp <= until) r.commitsUntil!++;
        if (!r.lastTimestamp || c.timestamp > r.lastTimestamp) r.lastTimestamp = c.timestamp;
        options.onProgress?.({ phase: 'verify', done: r.commits });
      }
      r.manifests = (await this.manifestKeys(tenant, target, chain, call)).length;
      if (legacy.length > 0) {
        r.warnings = [
          `${legacy.length} legacy unbound segment(s) (format ${BACKUP_FORMAT_V1}, written before manifests were bound to their tenant by a MAC): their data keys are the tenant's own, but their manifests are not authenticated; the next full backup replaces this chain with a bound one (first: ${legacy[0]})`,
        ];
      }
    } catch (e) {
      r.ok = false;
      r.problems.push((e as Error).message);
    }
    return r;
  }

  /**
   * Restores `tenant` from `target` as of `asOf` (event precision: exactly the commits
   * stamped at or before it) into the new tenant `into`. The chain is verified first, so a
   * tampered backup is refused before anything is created.
   *
   * The answer says what was restored: `restoredUntil` is the instant the restored state is
   * that of. A tier covers the log only up to its last backup run (`coveredUntil`); an `asOf`
   * beyond that is refused (422) unless `acceptPartial` is set, and then `restoredUntil` is the
   * coverage, not `asOf`. Files the log references that the tier does not have are listed in
   * `missingFiles`; the log and every other file are restored.
   *
   * The new tenant stays "creating" (not served) until its files and projections are in place.
   * A crash before that leaves it "creating", marked as a restore target: it is removed at the
   * next start, or when a restore asks for its id again, so the id is never blocked.
   */
  async restore(
    tenant: string,
    target: BackupTarget,
    asOf: Date,
    into: string,
    operator: OperatorPrincipal,
    req: RequestInfo,
    onProgress?: ProgressSink,
    options: { acceptPartial?: boolean; abortSignal?: AbortSignal } = {},
  ): Promise<RestoreResult> {
    if (this.leftovers.isBuilding(into)) throw new AppError('conflict', `A restore into "${into}" is already running.`);
    this.leftovers.begin(into);
    try {
      return await this.restoreMarked(tenant, target, asOf, into, operator, req, onProgress, options);
    } finally {
      this.leftovers.end(into);
    }
  }

  /** restore(), for a target id already marked as being built here (restore, drill). */
  private async restoreMarked(
    tenant: string,
    target: BackupTarget,
    asOf: Date,
    into: string,
    operator: OperatorPrincipal,
    req: RequestInfo,
    onProgress: ProgressSink | undefined,
    options: { acceptPartial?: boolean; abortSignal?: AbortSignal },
  ): Promise<RestoreResult> {
    const call: TargetCallOptions = options.abortSignal ? { abortSignal: options.abortSignal } : {};
    // A taken id is refused before the backup is read (what a crashed restore left does not count).
    const existing = await this.d.directory.getMeta(into);
    if (existing && !this.leftovers.isLeftover(into, existing, true)) throw new AppError('conflict', `Tenant "${into}" already exists.`);
    const check = await this.verify(tenant, target, { until: asOf, call, ...(onProgress ? { onProgress } : {}) });
    if (!check.ok)
      throw new AppError('unprocessable', `The backup of ${tenant} on ${target.name} failed verification: ${check.problems.join('; ')}`);
    if (check.manifests === 0 || check.chain === undefined)
      throw new AppError('not_found', `There is no backup of ${tenant} on ${target.name}.`);
    const covered = await newestCoverage(target, chainPrefix(tenant, check.chain), call);
    // Backups written before coverage markers existed: the last backed-up commit.
    const coveredUntil = covered?.at ?? check.lastTimestamp ?? asOf.toISOString();
    const partial = asOf.getTime() > Date.parse(coveredUntil);
    if (partial && !options.acceptPartial) {
      throw new AppError(
        'unprocessable',
        `The backup of ${tenant} on ${target.name} covers the log only up to ${coveredUntil}, before the requested ${asOf.toISOString()}. Restore as of ${coveredUntil} or earlier, or send "acceptPartial": true to restore what the tier has (up to ${coveredUntil}).`,
      );
    }
    const restoredUntil = partial ? coveredUntil : asOf.toISOString();
    // The id may hold what a crashed restore left; that never blocks it.
    await this.leftovers.reclaimAbandoned(into);
    // Note the blobs the restored log references (with the content key check its event
    // recorded) while it streams by.
    const blobNames = new Map<string, string | undefined>();
    const chain = this.readChain(tenant, target, { until: asOf, chain: check.chain, call });
    async function* noting(): AsyncGenerator<Commit> {
      for await (const c of chain) {
        for (const e of c.events) {
          if (e.type === 'FileAttached') {
            const f = e.data as { blobName: string; keyCheck?: string };
            blobNames.set(f.blobName, f.keyCheck);
          }
        }
        yield c;
      }
    }
    let files: { restored: number; missing: string[] } = { restored: 0, missing: [] };
    const restored = await this.d.tenants.restoreTenant(
      into,
      `${tenant} as of ${restoredUntil}`,
      noting(),
      operator,
      { source: tenant, tier: target.name, asOf: asOf.toISOString(), restoredUntil },
      req,
      (n) => onProgress?.({ phase: 'import', done: n, ...(check.commitsUntil !== undefined ? { total: check.commitsUntil } : {}) }),
      // Before the tenant is served: its files, then its projections (usable means lists,
      // audit and export work too).
      async (keyName, imported) => {
        try {
          files = await this.restoreFiles(tenant, into, keyName, target, blobNames, onProgress, call);
          await this.projectRestored(into, imported, onProgress);
        } catch (e) {
          // restoreTenant removes the store and key; the copied files go too.
          await this.d.blobs?.deleteTenant(into).catch(() => undefined);
          throw e;
        }
      },
    );
    return { ...restored, files: files.restored, restoredUntil, coveredUntil, partial, missingFiles: files.missing };
  }

  private async projectRestored(into: string, commits: number, onProgress?: ProgressSink): Promise<void> {
    const events = await this.d.directory.openEventStore(into);
    const projections = await this.d.directory.openProjectionStore(into);
    const gen = await projections.activeGeneration();
    let projected = 0;
    for (;;) {
      const r = await runProjector(events, projections, gen, {
        clock: this.d.clock,
        maxPages: 1,
        ...(this.d.log ? { log: this.d.log } : {}),
      });
      if (r.failed)
        throw new AppError('unavailable', `The projections of the restored tenant ${into} failed; nothing was kept, try again.`);
      if (r.applied === 0) break;
      projected += r.applied;
      onProgress?.({ phase: 'project', done: projected, total: commits });
    }
  }
}

function isCryptoError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'FileCryptoError';
}

/** What a restore answers. */
export interface RestoreResult {
  id: string;
  commits: number;
  files: number;
  /** The restored state is the tenant's state as of this instant. */
  restoredUntil: string;
  /** How far the tier's backup reaches: every commit stamped up to this instant is in it. */
  coveredUntil: string;
  /** True when `asOf` was beyond `coveredUntil` and the caller accepted the partial restore. */
  partial: boolean;
  /** Files the restored log references that the backup does not have (not restored). */
  missingFiles: string[];
}

function chainBroken(message: string): AppError {
  return new AppError('unprocessable', `Backup chain broken: ${message}.`);
}

import type { ProgressSink } from './progress';
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { AppError } from '../domain/errors';
import type { Commit } from '../domain/events';
import type { BackupTarget } from '../ports/backup-target';
import type { KeyProvider, WrappedKey } from '../ports/key-provider';
import type { Clock } from '../ports/runtime';
import type { TenantDirectory } from '../ports/tenant-directory';
import { decryptStream, encryptionDataJson, encryptStream, findEncryptionData, parseEncryptionData, REGION_SIZE, withContentKey, withNewContentKey, wrapContentKey } from './file-crypto';
import { BACKUP_FORMAT_V1, BACKUP_FORMAT_V2, isKeyNameOfTenant, keyNameOfKeyId, manifestMac, manifestMacMatches } from './backup-binding';
import { contentKeyCheck } from './file-binding';
import type { BlobStoreFactory } from '../ports/blob-store';
import { runProjector } from './projector';
import type { RecordService } from './records';
import { DRILL_PREFIX, type TenantService, type RequestInfo } from './service';
import type { OperatorPrincipal } from '../ports/operator-auth';

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
  error?: string;
}

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
  ok: boolean;
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
      log?: (m: string) => void;
    },
  ) {}

  get targets(): BackupTarget[] {
    return this.d.targets ?? [];
  }

  target(tier: string): BackupTarget {
    const t = this.targets.find((x) => x.name === tier);
    if (!t) throw new AppError('not_found', `No backup tier named "${tier}" is configured (tiers: ${this.targets.map((x) => x.name).join(', ') || 'none'}).`);
    return t;
  }

  /** Backs the tenant up to every tier; one tier failing never blocks the others. */
  async backupAllTiers(tenant: string): Promise<BackupRunResult[]> {
    return Promise.all(this.targets.map((t) => this.backupTenant(tenant, t)));
  }

  /** Per tier: the last confirmed backup, the last drill, and how far the backup lags the log. */
  async status(tenant: string): Promise<Array<Record<string, unknown>>> {
    const events = await this.d.directory.openEventStore(tenant);
    const out: Array<Record<string, unknown>> = [];
    for (const t of this.targets) {
      try {
        const chain = await this.currentChain(tenant, t);
        const keys = await this.manifestKeys(tenant, t, chain);
        const lastKey = keys.at(-1);
        const m = lastKey ? (JSON.parse(Buffer.from((await t.get(lastKey))!).toString('utf8')) as Manifest) : undefined;
        const lag = await events.feedLag(m?.checkpoint);
        const drills: string[] = [];
        for await (const o of t.list(`${prefixOf(tenant)}drills/`)) drills.push(o.key);
        const lastDrillKey = drills.sort().at(-1);
        const drill = lastDrillKey ? (JSON.parse(Buffer.from((await t.get(lastDrillKey))!).toString('utf8')) as DrillRecord) : null;
        const lagMs = m && lag.newestTimestamp ? Math.max(0, Date.parse(lag.newestTimestamp) - Date.parse(m.segment.lastTimestamp)) : lag.newestTimestamp ? null : 0;
        out.push({
          tier: t.name,
          lastBackup: m ? { at: m.createdAt, chain, manifests: keys.length, lastCommitTimestamp: m.segment.lastTimestamp } : null,
          lastDrill: drill,
          lagCommits: lag.commits,
          lagMinutes: lagMs === null ? null : Math.round(lagMs / 6000) / 10,
        });
      } catch (e) {
        out.push({ tier: t.name, error: `${(e as Error)?.name}: ${(e as Error)?.message}`.slice(0, 300) });
      }
    }
    return out;
  }

  /**
   * A restore drill: restores the latest backup on `target` into a scratch tenant, compares
   * the state hash (SHA-256 of the export) with the source as of the same instant, records
   * the result on the target (immutable `drills/` object) and removes the scratch tenant.
   */
  async drill(tenant: string, target: BackupTarget, operator: OperatorPrincipal, req: RequestInfo): Promise<DrillRecord> {
    const records = this.d.records;
    if (!records) throw new Error('BackupService needs the RecordService for drills.');
    const at = this.d.clock.now().toISOString();
    const scratch = `${DRILL_PREFIX}${randomBytes(6).toString('hex')}`;
    let record: DrillRecord;
    try {
      const keys = await this.manifestKeys(tenant, target, await this.currentChain(tenant, target));
      const lastKey = keys.at(-1);
      if (!lastKey) throw new AppError('not_found', `There is no backup of ${tenant} on ${target.name}.`);
      const m = JSON.parse(Buffer.from((await target.get(lastKey))!).toString('utf8')) as Manifest;
      const asOf = new Date(m.segment.lastTimestamp);
      const restored = await this.restore(tenant, target, asOf, scratch, operator, req);
      const sourceHash = await this.exportHash(records, tenant, asOf);
      const restoredHash = await this.exportHash(records, scratch, undefined);
      record = { at, tier: target.name, tenant, ok: sourceHash === restoredHash, asOf: asOf.toISOString(), commits: restored.commits, sourceHash, restoredHash };
    } catch (e) {
      record = { at, tier: target.name, tenant, ok: false, error: `${(e as Error)?.name}: ${(e as Error)?.message}`.slice(0, 300) };
    } finally {
      await this.removeTenant(scratch);
    }
    try {
      await target.put(`${prefixOf(tenant)}drills/${at.replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}.json`, Buffer.from(JSON.stringify(record, null, 1)));
    } catch (e) {
      // A tier that cannot store the drill's record is reported like a failed drill (its
      // status would otherwise keep showing an older drill), and the other tiers still run.
      const outcome = record.ok ? 'succeeded' : `failed (${record.error ?? 'state hash differs from the source'})`;
      record = { ...record, ok: false, error: `The drill ${outcome}, but its record could not be stored on ${target.name}: ${(e as Error)?.message}`.slice(0, 300) };
    }
    if (!record.ok) this.d.log?.(`RESTORE DRILL FAILED for tenant ${tenant} on ${target.name}: ${record.error ?? 'state hash differs from the source'}`);
    return record;
  }

  /** Removes a tenant made by a restore or a drill: store, key and files. */
  private async removeTenant(id: string): Promise<void> {
    this.d.tenants.forget(id);
    this.d.records?.forget(id);
    const meta = await this.d.directory.getMeta(id).catch(() => undefined);
    await this.d.blobs?.deleteTenant(id).catch(() => undefined);
    if (meta) {
      await this.d.directory.destroy(id).catch(() => undefined);
      await this.d.keys.deleteKey(meta.keyName).catch(() => undefined);
    }
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
  async chains(tenant: string, target: BackupTarget): Promise<ChainInfo[]> {
    const found = new Map<number, ChainInfo>();
    for await (const o of target.list(`${prefixOf(tenant)}chains/`)) {
      const m = /chains\/(\d{6})\/(complete\.json|manifests\/)/.exec(o.key);
      if (!m) continue;
      const n = Number(m[1]);
      const c = found.get(n) ?? { chain: n, complete: false, manifests: 0 };
      if (m[2] === 'complete.json') {
        c.complete = true;
        const marker = await target.get(o.key);
        c.completedAt = marker ? (JSON.parse(Buffer.from(marker).toString('utf8')) as { at: string }).at : o.lastModified.toISOString();
      } else c.manifests++;
      found.set(n, c);
    }
    return [...found.values()].sort((a, b) => a.chain - b.chain);
  }

  /** The newest complete chain (what restores, verifies, drills and increments use). */
  private async currentChain(tenant: string, target: BackupTarget): Promise<number | undefined> {
    return (await this.chains(tenant, target)).filter((c) => c.complete).at(-1)?.chain;
  }

  /** Manifests of one chain, in order (not verified). */
  private async manifestKeys(tenant: string, target: BackupTarget, chain: number | undefined): Promise<string[]> {
    if (chain === undefined) return [];
    const keys: string[] = [];
    for await (const o of target.list(`${chainPrefix(tenant, chain)}manifests/`)) keys.push(o.key);
    return keys.sort();
  }

  /**
   * Retention: keeps the newest complete chain, any newer chain still being built, and per
   * policy the newest complete chain of each of the last `daily` days, `weekly` ISO weeks and
   * `monthly` months (by completion date); deletes the rest. Every kept chain is a full history
   * up to its end, so dropping older chains never breaks a newer one. Targets under an
   * immutability policy refuse deletions until it expires; those are reported, not fatal.
   */
  async applyRetention(tenant: string, target: BackupTarget, policy: { daily: number; weekly: number; monthly: number } = { daily: 14, weekly: 8, monthly: 12 }): Promise<{ kept: number[]; deleted: number[]; refused: number }> {
    const all = await this.chains(tenant, target);
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
      for await (const o of target.list(chainPrefix(tenant, c.chain))) {
        try {
          await target.delete(o.key);
        } catch {
          refused++;
        }
      }
      deleted.push(c.chain);
    }
    return { kept: [...keep].sort((a, b) => a - b), deleted, refused };
  }

  async backupTenant(tenant: string, target: BackupTarget, options: { maxCommitsPerSegment?: number; full?: boolean } = {}): Promise<BackupRunResult> {
    const max = options.maxCommitsPerSegment ?? 5000;
    const result: BackupRunResult = { tier: target.name, ok: true, segments: 0, commits: 0, lastTimestamp: null };
    try {
      const all = await this.chains(tenant, target);
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
      const keys = await this.manifestKeys(tenant, target, chain);
      let previous: string | null = null;
      let checkpoint: string | undefined;
      let seq = 1;
      const lastKey = keys.at(-1);
      if (lastKey) {
        const bytes = await target.get(lastKey);
        if (!bytes) throw new AppError('unavailable', `Manifest ${lastKey} vanished.`);
        const m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Manifest;
        previous = sha256(bytes);
        checkpoint = m.checkpoint;
        seq = m.seq + 1;
        result.lastTimestamp = m.segment.lastTimestamp;
      }
      const events = await this.d.directory.openEventStore(tenant);
      const keyName = await this.d.tenants.keyName(tenant);
      for (;;) {
        const page = await events.readFeed(checkpoint, { maxCount: max });
        if (page.commits.length === 0) break;
        const ndjson = Buffer.from(page.commits.map((c) => JSON.stringify(c)).join('\n') + '\n');
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
            segment: { key: `${chainPrefix(tenant, chain)}segments/${pad(seq)}-${segSha.slice(0, 16)}.bin`, sha256: segSha, size: cipher.length, commits: page.commits.length, firstTimestamp: stamps[0]!, lastTimestamp: stamps.at(-1)! },
            checkpoint: page.checkpoint,
            wrappedKey: wrapped,
            encryption: { protocol: '2.0', algorithm: 'AES_GCM_256', regionSize: REGION_SIZE, compression: 'gzip', content: 'ndjson-commits' },
            createdAt: this.d.clock.now().toISOString(),
          };
          manifest.mac = manifestMac(cek, manifest, chain);
          return { cipher, manifest };
        });
        await target.put(manifest.segment.key, cipher);
        const bytes = Buffer.from(JSON.stringify(manifest, null, 1));
        await target.put(`${chainPrefix(tenant, chain)}manifests/${pad(seq)}.json`, bytes);
        previous = sha256(bytes);
        checkpoint = page.checkpoint;
        seq++;
        result.segments++;
        result.commits += page.commits.length;
        result.lastTimestamp = manifest.segment.lastTimestamp;
      }
      // The log has been read to its end: this chain is a complete history (base reached).
      if (!isComplete) await target.put(`${chainPrefix(tenant, chain)}complete.json`, Buffer.from(JSON.stringify({ at: this.d.clock.now().toISOString(), manifests: seq - 1 })));
      result.files = await this.backupFiles(tenant, target);
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
  private async backupFiles(tenant: string, target: BackupTarget): Promise<number> {
    if (!this.d.blobs) return 0;
    const store = await this.d.blobs.forTenant(tenant);
    const have = new Set<string>();
    for await (const o of target.list(`${prefixOf(tenant)}files/`)) have.add(o.key);
    let copied = 0;
    for await (const b of store.list()) {
      const key = `${prefixOf(tenant)}files/${encodeURIComponent(b.name)}`;
      if (have.has(`${key}.meta.json`)) continue;
      if (!have.has(key)) await target.putStream(key, await store.download(b.name), b.size);
      await target.put(`${key}.meta.json`, Buffer.from(JSON.stringify({ name: b.name, size: b.size, metadata: b.metadata })));
      copied++;
    }
    return copied;
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
      own ??= this.d.directory.getMeta(tenant).then((m) => m?.keyName);
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
  private async restoreFiles(source: string, into: string, target: BackupTarget, blobNames: Map<string, string | undefined>, onProgress?: ProgressSink): Promise<number> {
    if (!this.d.blobs || blobNames.size === 0) return 0;
    const store = await this.d.blobs.forTenant(into);
    const keyName = await this.d.tenants.keyName(into);
    const sourceKeys = this.sourceKeyNames(source);
    let n = 0;
    for (const [name, keyCheck] of blobNames) {
      const key = `${prefixOf(source)}files/${encodeURIComponent(name)}`;
      const metaBytes = await target.get(`${key}.meta.json`);
      if (!metaBytes) throw chainBroken(`file ${name} referenced by the log is not in the backup`);
      let meta: { name: string; size: number; metadata: Record<string, string> };
      try {
        meta = JSON.parse(Buffer.from(metaBytes).toString('utf8')) as typeof meta;
      } catch {
        throw chainBroken(`file ${name} has a .meta.json that is not JSON`);
      }
      if (typeof meta !== 'object' || meta === null || typeof meta.metadata !== 'object' || meta.metadata === null || Object.values(meta.metadata).some((v) => typeof v !== 'string')) {
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
            throw chainBroken(`file ${name} in the backup does not hold the content key its FileAttached event recorded (replaced or swapped)`);
          }
          return wrapContentKey(this.d.keys, keyName, cek);
        });
      } catch (e) {
        if (isCryptoError(e)) {
          throw chainBroken(
            (e as { code?: string }).code === 'wrong-key' ? `file ${name} in the backup is not wrapped by a key of tenant ${source} (a foreign or corrupt file)` : `file ${name} has invalid encryption metadata`,
          );
        }
        throw e;
      }
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(meta.metadata)) if (k.toLowerCase() !== 'encryptiondata') metadata[k] = v;
      metadata.encryptiondata = encryptionDataJson(wrapped);
      const body = await target.getStream(key);
      if (!body) throw chainBroken(`file ${name} is missing its content`);
      await store.upload(name, body, { metadata });
      n++;
      onProgress?.({ phase: 'files', done: n, total: blobNames.size });
    }
    return n;
  }

  /**
   * Walks the chain: every manifest in sequence, linked by hash to its predecessor, its
   * segment present with the recorded SHA-256, decryptable and parseable. Yields the
   * commits (optionally only those at or before `until`) — restore uses exactly this.
   */
  async *readChain(tenant: string, target: BackupTarget, options: { until?: Date; chain?: number | undefined; onLegacySegment?: (segmentKey: string) => void } = {}): AsyncGenerator<Commit> {
    const chain = 'chain' in options ? options.chain : await this.currentChain(tenant, target);
    const keys = await this.manifestKeys(tenant, target, chain);
    const sourceKeys = this.sourceKeyNames(tenant);
    let previous: string | null = null;
    let expectedSeq = 1;
    let bound = false;
    for (const key of keys) {
      const bytes = await target.get(key);
      if (!bytes) throw chainBroken(`manifest ${key} is missing`);
      let m: Manifest;
      try {
        m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Manifest;
      } catch {
        throw chainBroken(`manifest ${key} is not valid JSON`);
      }
      if ((m.format !== BACKUP_FORMAT_V2 && m.format !== BACKUP_FORMAT_V1) || m.tenant !== tenant) throw chainBroken(`manifest ${key} is not a ${BACKUP_FORMAT} manifest of this tenant`);
      // Once a chain has bound manifests, an unbound one after them is a downgrade, not history.
      if (m.format === BACKUP_FORMAT_V1 && bound) throw chainBroken(`manifest ${key} is a legacy unbound manifest after bound ones (a downgrade)`);
      const wk = m.wrappedKey as Partial<WrappedKey> | undefined;
      if (typeof wk !== 'object' || wk === null || typeof wk.keyId !== 'string' || typeof wk.algorithm !== 'string' || typeof wk.wrapped !== 'string') throw chainBroken(`manifest ${key} has no valid wrapped key`);
      if (m.seq !== expectedSeq || key !== `${chainPrefix(tenant, chain!)}manifests/${pad(m.seq)}.json`) throw chainBroken(`manifest ${key} is out of sequence (expected ${expectedSeq})`);
      if (m.previous !== previous) throw chainBroken(`manifest ${key} does not link to the previous manifest`);
      const seg = await target.get(m.segment.key);
      if (!seg) throw chainBroken(`segment ${m.segment.key} is missing`);
      if (sha256(seg) !== m.segment.sha256 || seg.length !== m.segment.size) throw chainBroken(`segment ${m.segment.key} was altered`);
      let plain: Buffer;
      try {
        // The data key is unwrapped only with the source tenant's own key (a foreign segment
        // fails here), and the manifest's MAC is checked before anything is decrypted.
        plain = await withContentKey(this.d.keys, await sourceKeys(wk.keyId), { keyId: wk.keyId, algorithm: wk.algorithm, encryptedKey: wk.wrapped }, async (cek) => {
          if (m.format === BACKUP_FORMAT_V2) {
            if (!manifestMacMatches(cek, m, chain!, m.mac)) throw chainBroken(`manifest ${key} failed its MAC: it was altered, moved, or belongs to another tenant or place`);
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
        });
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
      if (lines.length !== m.segment.commits) throw chainBroken(`segment ${m.segment.key} holds ${lines.length} commits, the manifest says ${m.segment.commits}`);
      for (const l of lines) {
        const c = JSON.parse(l) as Commit;
        if (!options.until || Date.parse(c.timestamp) <= options.until.getTime()) yield c;
      }
      previous = sha256(bytes);
      expectedSeq++;
    }
  }

  async verify(tenant: string, target: BackupTarget, options: { until?: Date; onProgress?: ProgressSink } = {}): Promise<VerifyResult> {
    const r: VerifyResult = { tier: target.name, ok: true, manifests: 0, commits: 0, lastTimestamp: null, problems: [] };
    const until = options.until?.toISOString();
    if (until) r.commitsUntil = 0;
    try {
      // Chains are listed once (it reads every chain's marker); the walk uses the same chain.
      const chain = await this.currentChain(tenant, target);
      if (chain !== undefined) r.chain = chain;
      const legacy: string[] = [];
      for await (const c of this.readChain(tenant, target, { chain, onLegacySegment: (k) => legacy.push(k) })) {
        r.commits++;
        if (until && c.timestamp <= until) r.commitsUntil!++;
        if (!r.lastTimestamp || c.timestamp > r.lastTimestamp) r.lastTimestamp = c.timestamp;
        options.onProgress?.({ phase: 'verify', done: r.commits });
      }
      r.manifests = (await this.manifestKeys(tenant, target, chain)).length;
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
   */
  async restore(tenant: string, target: BackupTarget, asOf: Date, into: string, operator: OperatorPrincipal, req: RequestInfo, onProgress?: ProgressSink): Promise<{ id: string; commits: number; files?: number }> {
    const check = await this.verify(tenant, target, { until: asOf, ...(onProgress ? { onProgress } : {}) });
    if (!check.ok) throw new AppError('unprocessable', `The backup of ${tenant} on ${target.name} failed verification: ${check.problems.join('; ')}`);
    if (check.manifests === 0) throw new AppError('not_found', `There is no backup of ${tenant} on ${target.name}.`);
    // Note the blobs the restored log references while it streams by.
    const blobNames = new Map<string, string | undefined>();
    const chain = this.readChain(tenant, target, { until: asOf, chain: check.chain });
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
    const restored: { id: string; commits: number; files?: number } = await this.d.tenants.restoreTenant(
      into,
      `${tenant} as of ${asOf.toISOString()}`,
      noting(),
      operator,
      { source: tenant, tier: target.name, asOf: asOf.toISOString() },
      req,
      (n) => onProgress?.({ phase: 'import', done: n, ...(check.commitsUntil !== undefined ? { total: check.commitsUntil } : {}) }),
    );
    try {
      restored.files = await this.restoreFiles(tenant, into, target, blobNames, onProgress);
    } catch (e) {
      await this.removeTenant(into);
      throw e;
    }
    // Usable means lists, audit and export work too: project the restored log before answering.
    const events = await this.d.directory.openEventStore(into);
    const projections = await this.d.directory.openProjectionStore(into);
    const gen = await projections.activeGeneration();
    let projected = 0;
    for (;;) {
      const r = await runProjector(events, projections, gen, { clock: this.d.clock, maxPages: 1, ...(this.d.log ? { log: this.d.log } : {}) });
      if (r.failed) throw new AppError('unavailable', `The restored tenant ${into} was created but its projections failed; rebuild them.`);
      if (r.applied === 0) break;
      projected += r.applied;
      onProgress?.({ phase: 'project', done: projected, total: restored.commits });
    }
    return restored;
  }
}

function isCryptoError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'FileCryptoError';
}

function chainBroken(message: string): AppError {
  return new AppError('unprocessable', `Backup chain broken: ${message}.`);
}

import { randomBytes } from 'node:crypto';
import { type Dirent, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict } from '../../domain/errors';
import { assertTenantId } from '../../domain/tenant';
import type { EventStore } from '../../ports/event-store';
import type { KeyProvider, WrappedKey } from '../../ports/key-provider';
import type { Clock } from '../../ports/runtime';
import type {
  ChangesSinceOptions,
  CreateTenantStoreOptions,
  TenantDirectory,
  TenantChanges,
  TenantIdPageOptions,
  TenantMeta,
  TenantStatus,
} from '../../ports/tenant-directory';
import { mkdirDurably, renameDurably, syncDirectory, syncFolderContents, writeFileDeferred, writeFileDurably } from '../durable-files';
import { ClosedDatabaseRelease } from './libsql-release';
import { SqliteEventStore, type Durability } from './sqlite-event-store';
import { SqliteProjectionStore } from './sqlite-projection-store';
import { SqliteDeliveryPositions } from './sqlite-delivery-positions';
import { ChangeJournal } from './change-journal';
import { TenantIndex } from './tenant-index';
import { MarkStore } from './mark-store';
import type { DeliveryPositionStore } from '../../ports/delivery-positions';
import type { ProjectionStore } from '../../ports/projection-store';
import type { OperationOptions } from '../../ports/options';
import { throwIfAborted, untilAborted } from '../abort';
import { TENANT_ID_PATTERN } from '../../domain/tenant';

interface StoreFile {
  /** The database encryption key, wrapped by the tenant's KEK. */
  storeKey: WrappedKey;
}

/** Folders of tenants being built start with this (not a valid tenant id, so never listed). */
const BUILDING_PREFIX = '.creating-';

/** What `sweepLeftovers` removed: never anything a client was told exists. */
export interface SweepReport {
  /** Temporary folders of creations a crash interrupted. */
  unfinished: string[];
  /** Tenant folders without meta, or still "creating" (left by older versions after a crash). */
  abandoned: string[];
}

/**
 * Embedded default: each tenant is a folder `<dataDir>/tenants/<id>/` holding its own
 * encrypted libSQL database (`events.db`), its meta (`meta.json`) and its wrapped database
 * key (`store.json`). A tenant is built completely in a temporary folder
 * (`tenants/.creating-<id>-<random>/`) and renamed into place: the rename is the atomic claim
 * of the id, so a crash leaves either no tenant or a complete one, never a claimed id without
 * meta. Every file is written durably (fsync, rename, folder fsync).
 */
export class EmbeddedTenantDirectory implements TenantDirectory {
  private readonly root: string;
  private readonly marksDir: string;
  /** One lazy store object per tenant used so far; closed ones hold no file handle and no key. */
  private readonly stores = new Map<string, SqliteEventStore>();
  private readonly projections = new Map<string, SqliteProjectionStore>();
  private readonly deliveries = new Map<string, SqliteDeliveryPositions>();
  /** Stores whose database is open right now. */
  private readonly opened = new Set<SqliteEventStore>();
  private readonly durability: Durability;
  private readonly maxOpen: number;
  private readonly idleMs: number;
  private readonly idleTimer: ReturnType<typeof setInterval> | undefined;
  /**
   * Fingerprints that closing a database changed while its log stayed the same: closing
   * checkpoints the WAL into `events.db` (new mtime, no WAL), so the files look changed although
   * no commit was made. Per tenant, `from` (the files right after the close) stands for `to`
   * (the files right before it), so marks taken while the database was open still match after
   * an eviction or a restart (logFingerprint). Any later write changes the files away from
   * `from`. Kept in the mark store (purpose "fingerprint-aliases", `from>to` per tenant),
   * written at each close (not fsynced: it survives a killed process, not a power cut) and read
   * by point at each look. Held here only when that write failed (tried again at the next
   * close and at the directory's close). A lost alias only costs re-checks.
   */
  private aliases: Record<string, string> = {};
  /** Closed databases keep their files until their statements are collected (libsql-release.ts). */
  private readonly release = new ClosedDatabaseRelease();
  /** Ids and statuses in id order (DATA_DIR/tenant-index.db): pages without listing the folder (tenant-index.ts). */
  private readonly index: TenantIndex;
  /** Which tenants' databases any process opened since a reader's cursor (change-journal.ts). */
  private readonly journal: ChangeJournal;
  /** Per-tenant marks of background work and the fingerprint aliases (DATA_DIR/marks.db, mark-store.ts). */
  private readonly marks: MarkStore;
  /** Creations running in this process, per id (a failed one removes its index row only when it was the only one). */
  private readonly creating = new Map<string, number>();

  /**
   * `maxOpen`, `idleMs` (TENANT_CACHE_MAX, TENANT_CACHE_IDLE_SECONDS): at most that many tenant
   * databases are open at once (the least recently used is closed) and one unused for
   * `idleMs` is closed. Closing is safe under any holder of a store: stores are lazy and reopen
   * on their next call, and a store is only closed after the current turn of the event loop
   * when nothing used it meanwhile (a call's synchronous database work always finishes first).
   */
  constructor(
    dataDir: string,
    private readonly keys: KeyProvider,
    private readonly clock: Clock,
    options: { durability?: Durability; maxOpen?: number; idleMs?: number } = {},
  ) {
    this.root = join(dataDir, 'tenants');
    this.marksDir = join(dataDir, 'marks');
    this.index = new TenantIndex(join(dataDir, 'tenant-index.db'), {
      listFolders: () => this.listTenantIds(),
      readStatus: async (id) => (await this.getMeta(id))?.status,
    });
    this.journal = new ChangeJournal(join(dataDir, 'change-journal.db'));
    this.marks = new MarkStore(join(dataDir, 'marks.db'), this.marksDir);
    this.durability = options.durability ?? 'full';
    this.maxOpen = Math.max(1, options.maxOpen ?? 256);
    this.idleMs = options.idleMs ?? 300_000;
    if (options.idleMs !== undefined) {
      this.idleTimer = setInterval(() => this.closeIdle(), Math.max(1000, Math.min(this.idleMs / 2, 30_000)));
      this.idleTimer.unref?.();
    }
  }

  private dir(id: string): string {
    assertTenantId(id);
    return join(this.root, id);
  }

  async create(meta: TenantMeta, options: CreateTenantStoreOptions = {}): Promise<void> {
    const { abortSignal } = options;
    const dir = this.dir(meta.id);
    throwIfAborted(abortSignal);
    const taken = () => conflict(`Tenant "${meta.id}" already exists.`);
    await mkdirDurably(this.root);
    // Fast path, not the claim: a taken id fails here before any work.
    if (await exists(join(dir, 'meta.json'))) throw taken();
    const building = join(this.root, `${BUILDING_PREFIX}${meta.id}-${randomBytes(6).toString('hex')}`);
    const status: TenantStatus = options.populate ? 'ready' : meta.status;
    this.creating.set(meta.id, (this.creating.get(meta.id) ?? 0) + 1);
    let claimed = false;
    await mkdir(building, { mode: 0o700 });
    try {
      // meta.json first, durably: a sweep after a crash finds the key name to remove.
      await writeFileDurably(join(building, 'meta.json'), JSON.stringify(meta, null, 2), { abortSignal });
      // Everything else in the folder is written without fsyncs (nobody knows the folder yet)
      // and made durable at once by syncFolderContents, before the rename claims the id.
      const dbKey = randomBytes(32);
      let store: SqliteEventStore;
      try {
        const storeKey = await this.keys.wrapKey(meta.keyName, dbKey, { abortSignal });
        throwIfAborted(abortSignal);
        await writeFileDeferred(join(building, 'store.json'), JSON.stringify({ storeKey } satisfies StoreFile, null, 2));
        store = new SqliteEventStore(meta.id, join(building, 'events.db'), dbKey.toString('hex'), this.clock, { deferSync: true });
      } finally {
        dbKey.fill(0);
      }
      try {
        await options.populate?.(store);
        // The projection tables too, now: opening the tenant later then writes nothing, so its
        // log fingerprint stays the same until a commit (shared/app/changes/log-marks.ts).
        new SqliteProjectionStore(store.database);
      } finally {
        // Closing checkpoints the WAL into events.db and removes the WAL, so the folder can move.
        store.close();
        this.release.closed();
      }
      if (options.populate)
        await writeFileDeferred(join(building, 'meta.json'), JSON.stringify({ ...meta, status: 'ready' } satisfies TenantMeta, null, 2));
      // Every file of the tenant (meta, wrapped key, database) and the folder fsynced: the
      // rename below is the acknowledgement's only remaining step.
      await syncFolderContents(building);
      // The last moment an abort leaves nothing behind (the catch removes the temporary folder).
      throwIfAborted(abortSignal);
      // In the index before the claim (pending until settled): a crash after the rename leaves
      // a pending row that the next start checks against the folder (tenant-index.ts).
      await this.index.begin(meta.id, status);
      // Held in the change journal across the claim, numbered after it: readers list the new
      // tenant from the moment its folder can exist (a failed numbering leaves it held: listed).
      this.journal.writing(meta.id);
      try {
        // The claim: fails if a complete tenant already holds the id.
        await renameDurably(building, dir);
        claimed = true;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') throw taken();
        throw e;
      } finally {
        if (!this.stores.get(meta.id)?.isOpen) this.journalClosed(meta.id);
      }
      await this.index.settle(meta.id, status);
    } catch (e) {
      await rm(building, { recursive: true, force: true }).catch(() => undefined);
      // Our row only, never the row of a tenant that holds the id (or another creation of it here).
      if (!claimed && this.creating.get(meta.id) === 1 && !(await exists(join(dir, 'meta.json')).catch(() => true)))
        await this.index.remove(meta.id).catch(() => undefined);
      throw e;
    } finally {
      const left = (this.creating.get(meta.id) ?? 1) - 1;
      if (left > 0) this.creating.set(meta.id, left);
      else this.creating.delete(meta.id);
    }
  }

  /**
   * Removes what a crash can leave behind: temporary folders of unfinished creations, and
   * (from versions that claimed the folder first) tenant folders without meta or still
   * "creating" (not restore targets: LeftoverTenants removes those with their files), with
   * their keys. None of them was ever acknowledged to a client. Call once at
   * start, before the service serves requests; the data folder belongs to one process.
   */
  async sweepLeftovers(): Promise<SweepReport> {
    const report: SweepReport = { unfinished: [], abandoned: [] };
    let entries: Dirent[];
    try {
      entries = await readdir(this.root, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return report;
      throw e;
    }
    // Tenant folders are looked at only when the index does not vouch for them (no meta, or
    // "creating"): one folder listing and the index, not a meta read per tenant at every start.
    await this.index.open();
    const suspects = new Set([...this.index.withoutMeta, ...(await this.index.page({ status: 'creating' }))]);
    for (const d of entries) {
      if (!d.isDirectory()) continue;
      const path = join(this.root, d.name);
      const unfinished = d.name.startsWith(BUILDING_PREFIX);
      if (!unfinished && !(TENANT_ID_PATTERN.test(d.name) && suspects.has(d.name))) continue;
      const meta = await readJson<TenantMeta>(join(path, 'meta.json')).catch(() => 'unreadable' as const);
      // A meta that cannot be read is left alone (and reported by whoever reads it).
      if (meta === 'unreadable') continue;
      // Restore targets left "creating" are the backup service's to remove (with their files).
      if (!unfinished && meta && (meta.status !== 'creating' || meta.restoring)) continue;
      if (meta?.keyName) await this.keys.deleteKey(meta.keyName).catch(() => undefined);
      await rm(path, { recursive: true, force: true });
      if (!unfinished) {
        this.index.withoutMeta.delete(d.name);
        await this.index.remove(d.name);
      }
      (unfinished ? report.unfinished : report.abandoned).push(d.name);
    }
    if (report.unfinished.length || report.abandoned.length) await syncDirectory(this.root);
    return report;
  }

  async getMeta(id: string, options: OperationOptions = {}): Promise<TenantMeta | undefined> {
    throwIfAborted(options.abortSignal);
    return readJson<TenantMeta>(join(this.dir(id), 'meta.json'));
  }

  async setStatus(id: string, status: TenantStatus, options: OperationOptions = {}): Promise<void> {
    const meta = await this.getMeta(id, options);
    if (!meta) throw new Error(`Tenant ${id} has no meta`);
    // Index first (pending), then the meta, then settled: a crash between leaves a row the next start re-reads.
    await this.index.begin(id, status);
    await writeFileDurably(join(this.dir(id), 'meta.json'), JSON.stringify({ ...meta, status } satisfies TenantMeta, null, 2), {
      abortSignal: options.abortSignal,
    });
    await this.index.settle(id, status);
  }

  /** The first open per tenant is shared by concurrent callers: one caller's signal stops only its own wait. */
  async openEventStore(id: string, options: OperationOptions = {}): Promise<EventStore> {
    throwIfAborted(options.abortSignal);
    return untilAborted(this.openSqlite(id), options.abortSignal);
  }

  /** The embedded store with its key/value area (used by local projections); open when this resolves. */
  async openSqlite(id: string): Promise<SqliteEventStore> {
    let store = this.stores.get(id);
    if (!store) {
      const dir = this.dir(id);
      store = new SqliteEventStore(id, join(dir, 'events.db'), () => this.databaseKey(id, dir), this.clock, {
        durability: this.durability,
        onOpen: (s) => {
          this.opened.add(s);
          this.enforceLimit(s);
        },
        onClose: (s) => this.opened.delete(s),
      });
      this.stores.set(id, store);
    }
    try {
      // Opened here, so a key or file that cannot be used fails the open, not some later call.
      await store.open();
    } catch (e) {
      if (!store.isOpen) this.journalClosed(id);
      if (!store.isOpen && this.stores.get(id) === store) {
        this.stores.delete(id);
        this.projections.delete(id);
        this.deliveries.delete(id);
      }
      throw e;
    }
    return store;
  }

  /** The tenant's database key, unwrapped by its own key (only that key may open it). */
  private async databaseKey(id: string, dir: string): Promise<string> {
    // Before the database opens (it can be written once open): durable in the change journal.
    this.journal.writing(id);
    // Both files at once (a cold tenant's first request waits for its open).
    const [storeText, meta] = await Promise.all([readFile(join(dir, 'store.json'), 'utf8'), this.getMeta(id)]);
    const { storeKey } = JSON.parse(storeText) as StoreFile;
    if (!meta) throw new Error(`Tenant ${id} has no meta`);
    const dbKey = await this.keys.unwrapKey(meta.keyName, storeKey).then(zeroAfterCopy);
    try {
      return dbKey.toString('hex');
    } finally {
      dbKey.fill(0);
    }
  }

  async openProjectionStore(id: string, options: OperationOptions = {}): Promise<ProjectionStore> {
    throwIfAborted(options.abortSignal);
    const events = await untilAborted(this.openSqlite(id), options.abortSignal);
    let p = this.projections.get(id);
    if (!p) {
      p = new SqliteProjectionStore(events);
      this.projections.set(id, p);
    }
    return p;
  }

  async openDeliveryPositions(id: string, options: OperationOptions = {}): Promise<DeliveryPositionStore> {
    throwIfAborted(options.abortSignal);
    const events = await untilAborted(this.openSqlite(id), options.abortSignal);
    let p = this.deliveries.get(id);
    if (!p) {
      p = new SqliteDeliveryPositions(events);
      this.deliveries.set(id, p);
    }
    return p;
  }

  /** Over the limit: the least recently used open databases are closed (never `keep`). */
  private enforceLimit(keep: SqliteEventStore): void {
    if (this.opened.size <= this.maxOpen) return;
    const victims = [...this.opened]
      .filter((s) => s !== keep)
      .sort((a, b) => a.lastUsedMs - b.lastUsedMs)
      .slice(0, this.opened.size - this.maxOpen);
    for (const v of victims) this.closeLater(v);
  }

  /** Closes databases nobody used for `idleMs`. */
  closeIdle(): void {
    const before = this.clock.now().getTime() - this.idleMs;
    for (const s of this.opened) if (s.lastUsedMs < before) this.closeLater(s);
  }

  /**
   * Closes `store` after the current turn of the event loop, unless it was used meanwhile:
   * a caller that has just opened it finishes its synchronous work first.
   */
  private closeLater(store: SqliteEventStore): Promise<void> {
    const seen = store.lastUsedMs;
    return new Promise((resolve) =>
      setImmediate(() => {
        if (store.lastUsedMs === seen) this.closeStore(store);
        resolve();
      }),
    );
  }

  async listTenantIds(options: OperationOptions = {}): Promise<string[]> {
    throwIfAborted(options.abortSignal);
    try {
      return (await readdir(this.root, { withFileTypes: true }))
        .filter((d) => d.isDirectory() && TENANT_ID_PATTERN.test(d.name))
        .map((d) => d.name)
        .sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  /**
   * A page of tenant ids in id order from the index (tenant-index.ts): one indexed range read,
   * whatever the number of tenants; no folder listing, no meta read, no tenant database opened.
   * With `status`, the ids whose status the index holds (the meta stays the truth: callers
   * that act on a status read the meta of the ids they get).
   */
  async listTenantIdPage(options: TenantIdPageOptions): Promise<string[]> {
    throwIfAborted(options.abortSignal);
    return this.index.page(options);
  }

  /**
   * Sizes and modification times (ns resolution) of `events.db` and its WAL: two stats, no open.
   * Synchronous stats (a few µs each on the local data folder, like the libSQL calls themselves):
   * through the thread pool each cost ~5× the CPU (a promise, a request, an error object for the
   * WAL a closed tenant does not have), and an idle backup run takes one per tenant.
   */
  async logFingerprint(id: string, options: OperationOptions = {}): Promise<string | undefined> {
    throwIfAborted(options.abortSignal);
    const fp = fingerprintSync(join(this.dir(id), 'events.db'));
    if (fp === undefined) return undefined;
    // The files as a close left them stand for the files before it (see `aliases`).
    const alias = this.alias(id);
    return alias && alias.from === fp ? alias.to : fp;
  }

  private alias(id: string): { from: string; to: string } | undefined {
    let v: string | undefined;
    try {
      v = Object.hasOwn(this.aliases, id) ? this.aliases[id] : this.marks.get(ALIASES, id);
    } catch {
      // Unreadable now: no alias, which only costs a re-check (the files look changed).
    }
    const i = v?.indexOf('>') ?? -1;
    return v && i > 0 && i < v.length - 1 ? { from: v.slice(0, i), to: v.slice(i + 1) } : undefined;
  }

  async readMarks(purpose: string, ids?: readonly string[], options: OperationOptions = {}): Promise<Record<string, string>> {
    throwIfAborted(options.abortSignal);
    return ids ? this.marks.read(purpose, ids) : this.marks.readAll(purpose);
  }

  async writeMarks(purpose: string, changes: Record<string, string | null>, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    this.marks.write(purpose, changes);
  }

  async loadMarks(purpose: string, options: OperationOptions = {}): Promise<Record<string, string>> {
    throwIfAborted(options.abortSignal);
    const marks = await readJson<unknown>(this.marksFile(purpose)).catch(() => undefined);
    if (typeof marks !== 'object' || marks === null || Array.isArray(marks)) return {};
    // Checked in place, what does not belong dropped: copying into a new object cost ~20 ms per
    // 10,000 marks (most of a start's first projector pass at 10,000 tenants), the check ~3 ms.
    const out = marks as Record<string, unknown>;
    for (const k in out) if (!TENANT_ID_PATTERN.test(k) || typeof out[k] !== 'string') delete out[k];
    return out as Record<string, string>;
  }

  async saveMarks(purpose: string, marks: Record<string, string>, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    await mkdirDurably(this.marksDir);
    await writeFileDurably(this.marksFile(purpose), JSON.stringify(marks), { abortSignal: options.abortSignal });
  }

  private marksFile(purpose: string): string {
    if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(purpose)) throw new Error(`Invalid marks purpose: ${purpose}`);
    return join(this.marksDir, `${purpose}.json`);
  }

  async closeTenant(id: string, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    const store = this.stores.get(id);
    if (store?.isOpen) await this.closeLater(store);
  }

  /** Tenants whose database is open right now (for tests and the bench). */
  openTenantIds(): string[] {
    return [...this.opened].map((s) => s.tenantId).sort();
  }

  async destroy(id: string, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    const store = this.stores.get(id);
    this.stores.delete(id);
    this.projections.delete(id);
    this.deliveries.delete(id);
    delete this.aliases[id];
    store?.close();
    this.release.closed();
    await rm(this.dir(id), { recursive: true, force: true });
    await this.index.remove(id);
    try {
      this.journal.forget(id);
    } catch {
      // Left listed: a look at a tenant that is gone finds nothing to do.
    }
    try {
      this.marks.forgetTenant(id);
    } catch {
      // Left behind: marks of a tenant that is gone are never compared (readers drop them when they list the tenants).
    }
  }

  /** The change journal since `cursor` (change-journal.ts): tenants opened or created since, and those held open now. */
  async changesSince(cursor: string | undefined, options: ChangesSinceOptions = {}): Promise<TenantChanges> {
    throwIfAborted(options.abortSignal);
    return this.journal.since(cursor, options);
  }

  /** After a database closed (or failed to open): numbered in the journal; a journal that cannot be written leaves the tenant listed as open (looked at, never missed). */
  private journalClosed(id: string): void {
    try {
      this.journal.closed(id);
    } catch {
      // Listed as held until this process is gone and another start numbers it.
    }
  }

  async close(options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    if (this.idleTimer) clearInterval(this.idleTimer);
    for (const s of this.stores.values()) this.closeStore(s);
    this.stores.clear();
    this.projections.clear();
    this.release.stop();
    this.index.close();
    this.journal.dispose();
    this.saveAliases();
    this.marks.close();
  }

  /** Closes an open database, noting the fingerprint its checkpoint changed without a commit (`aliases`). */
  private closeStore(store: SqliteEventStore): void {
    if (!store.isOpen) {
      store.close();
      return;
    }
    const id = store.tenantId;
    const before = fingerprintSync(join(this.dir(id), 'events.db'));
    store.close();
    this.release.closed();
    this.journalClosed(id);
    const after = fingerprintSync(join(this.dir(id), 'events.db'));
    if (before === undefined || after === undefined || before === after) return;
    // A mark taken before the close is a mark of `before`; one that was itself an alias stays one.
    const earlier = this.alias(id);
    this.aliases[id] = `${after}>${earlier && earlier.from === before ? earlier.to : before}`;
    this.saveAliases();
  }

  /** Writes the aliases not written yet (one transaction, no fsync); kept for the next try when it fails. */
  private saveAliases(): void {
    if (Object.keys(this.aliases).length === 0) return;
    try {
      this.marks.write(ALIASES, this.aliases, { fsync: false });
      this.aliases = {};
    } catch {
      // Best effort: an alias not saved only costs a re-check after a restart.
    }
  }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Marks purpose of the fingerprint aliases (EmbeddedTenantDirectory.aliases). */
const ALIASES = 'fingerprint-aliases';

type FileStat = { size: bigint; mtimeNs: bigint };

/** Sizes and modification times (ns) of `events.db` and its WAL. An empty WAL holds nothing (every append first grows it), so its own time does not count. */
function fingerprintOf(main: FileStat, wal: FileStat | undefined): string {
  return `${main.size}:${main.mtimeNs}/${wal && wal.size > 0n ? `${wal.size}:${wal.mtimeNs}` : '-'}`;
}

function fingerprintSync(db: string): string | undefined {
  const main = statSyncOrUndefined(db);
  return main ? fingerprintOf(main, statSyncOrUndefined(`${db}-wal`)) : undefined;
}

function statSyncOrUndefined(file: string): FileStat | undefined {
  try {
    return statSync(file, { bigint: true, throwIfNoEntry: false });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** A copy of `bytes` (as a Buffer), with `bytes` zeroed. */
function zeroAfterCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.from(bytes);
  bytes.fill(0);
  return copy;
}

import type { Clock } from '../../ports/runtime';
import type { TenantDirectory } from '../../ports/tenant-directory';

/**
 * What one kind of background work (`purpose`: "projector", "backup-own-cloud", …) last saw of
 * each tenant's log: the fingerprint (TenantDirectory.logFingerprint) taken just before a run
 * that left the tenant done. While the fingerprint is the same, the log has not moved and the
 * work can be skipped — one `stat` pair per tenant instead of opening its store.
 *
 * Safe by construction: a mark is only ever compared for equality with a fresh fingerprint,
 * and fingerprints change with every append (also by other processes). A mark that is lost
 * (never saved, a crash) only costs a re-check. Adapters without fingerprints (Cosmos) never
 * skip. Marks are read by point as tenants are looked at (TenantDirectory.readMarks; a run over
 * every tenant reads them all at once), kept in memory, and the changed ones are saved at most
 * every `saveEveryMs` (and on `flush`).
 */
const DETAIL = '\u0000';

/** Where the work stands in the directory's change journal (changesSince), saved beside its marks. */
export interface JournalPlace {
  cursor: string | undefined;
  /** Tenants looked at and not done (a failed or unfinished run): looked at again whatever the journal says. */
  pending: string[];
  /** When the work last looked at every tenant (its safety sweep), for work that sweeps on a period. */
  sweptAt?: string | undefined;
  /** What the run that reached this place wrote for the next one to build on (the backups: its run coverage marker's key). */
  marker?: string | undefined;
}

/**
 * The marks read so far, held in the object the directory answered (copying 10,000 of them
 * into a Map cost ~10 ms per file at a start). Keys are tenant ids (the directory checks them).
 * `all`: every mark of the purpose is in it; otherwise only the tenants read by point, with
 * the ones known to have none in `absent`.
 */
class MarkTable {
  readonly absent = new Set<string>();
  constructor(
    private readonly o: Record<string, string>,
    readonly all: boolean,
  ) {}
  /** The mark, undefined when there is none, null when it is not read yet. */
  get(id: string): string | undefined | null {
    if (Object.hasOwn(this.o, id)) return this.o[id];
    return this.all || this.absent.has(id) ? undefined : null;
  }
  set(id: string, value: string): void {
    this.o[id] = value;
    this.absent.delete(id);
  }
  delete(id: string): void {
    delete this.o[id];
    this.absent.add(id);
  }
  keys(): string[] {
    return Object.keys(this.o);
  }
  /** The same marks, known to be all there are (a directory that keeps none: they live in memory only). */
  complete(): MarkTable {
    return new MarkTable(this.o, true);
  }
}

export class LogMarks {
  /** Marks read so far (by point, or all of them once a caller asked for `recorded`). */
  private table = new MarkTable({}, false);
  private loadingAll: Promise<MarkTable> | undefined;
  /** Marks changed here and not saved yet (null: removed), and those a flush is writing now. */
  private readonly dirty = new Map<string, string | null>();
  private saving: Map<string, string | null> | undefined;
  private savedAt = 0;
  private place: JournalPlace | undefined;
  private placeChanged = false;

  constructor(
    private readonly directory: TenantDirectory,
    readonly purpose: string,
    private readonly clock: Clock,
    private readonly saveEveryMs = 30_000,
  ) {}

  /** Whether this directory can fingerprint logs at all (otherwise nothing is ever skipped). */
  get supported(): boolean {
    return typeof this.directory.logFingerprint === 'function';
  }

  /** The tenant's fingerprint now; undefined when the adapter has none (= "changed"). */
  async fingerprint(tenantId: string, options: { abortSignal?: AbortSignal } = {}): Promise<string | undefined> {
    return this.directory.logFingerprint?.(tenantId, options);
  }

  /**
   * A look at one tenant: its fingerprint now, asked relative to its mark (commitsSince), and
   * whether that equals the mark. On Cosmos the run's own projection documents then do not
   * count as a change, only commits do (LogFingerprintOptions.commitsSince); elsewhere this is
   * `fingerprint` + `unchanged`.
   */
  async look(
    tenantId: string,
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<{ fingerprint: string | undefined; unchanged: boolean }> {
    const mark = (await this.mark(tenantId))?.split(DETAIL)[0];
    const fingerprint = await this.directory.logFingerprint?.(tenantId, mark === undefined ? options : { ...options, commitsSince: mark });
    return { fingerprint, unchanged: fingerprint !== undefined && fingerprint === mark };
  }

  /** True when `fingerprint` is the one recorded after the last completed run. */
  async unchanged(tenantId: string, fingerprint: string | undefined): Promise<boolean> {
    if (fingerprint === undefined) return false;
    const v = await this.mark(tenantId);
    return v !== undefined && v.split(DETAIL)[0] === fingerprint;
  }

  /** The detail recorded with the tenant's mark (e.g. counts of the run), if any. */
  async detail(tenantId: string): Promise<string | undefined> {
    const v = await this.mark(tenantId);
    return v === undefined ? undefined : LogMarks.detailOf(v);
  }

  /**
   * Every recorded mark, tenant id → an opaque value that changes whenever the mark or its
   * detail does (`LogMarks.detailOf` reads the detail): for callers that go over many tenants
   * at once and cache what they derive from a detail. Reads every mark of the purpose once
   * (later looks are then answered from memory). Live: later records show in it.
   */
  async recorded(): Promise<{ get(tenantId: string): string | undefined }> {
    const t = await this.loadAll();
    return { get: (id) => t.get(id) ?? undefined };
  }

  /** The detail in a value of `recorded()`, if any. */
  static detailOf(value: string): string | undefined {
    const i = value.indexOf(DETAIL);
    return i < 0 ? undefined : value.slice(i + 1);
  }

  /**
   * Records that the work is done for the log as it was at `fingerprint` (taken before the
   * run), with an optional `detail` (never tenant data: marks are not encrypted).
   */
  async record(tenantId: string, fingerprint: string | undefined, detail?: string): Promise<void> {
    if (fingerprint === undefined) return;
    const value = detail === undefined ? fingerprint : `${fingerprint}${DETAIL}${detail}`;
    if (this.table.get(tenantId) === value) return;
    this.table.set(tenantId, value);
    this.changed(tenantId, value);
  }

  async forget(tenantId: string): Promise<void> {
    if (this.table.get(tenantId) === undefined) return; // known to have none
    this.table.delete(tenantId);
    this.changed(tenantId, null);
  }

  /** Drops marks of tenants that no longer exist (reads every mark of the purpose). */
  async retain(tenantIds: Iterable<string>): Promise<void> {
    const keep = new Set(tenantIds);
    const t = await this.loadAll();
    for (const id of t.keys())
      if (!keep.has(id)) {
        t.delete(id);
        this.changed(id, null);
      }
  }

  /**
   * The work's place in the change journal, saved in its own small document (`<purpose>-journal`),
   * so a start reads it without the marks. Consistent with the marks on disk by construction: it
   * is saved only after them (flush), and a place older than the marks only costs looks.
   */
  async journalPlace(): Promise<JournalPlace> {
    if (!this.place) {
      const saved: Record<string, string> = await (this.directory.loadMarks?.(`${this.purpose}-journal`) ?? Promise.resolve({})).catch(
        () => ({}),
      );
      this.place ??= {
        cursor: saved.cursor,
        pending: saved.pending ? saved.pending.split(',').filter(Boolean) : [],
        ...(saved.swept ? { sweptAt: saved.swept } : {}),
        ...(saved.marker ? { marker: saved.marker } : {}),
      };
    }
    return this.place;
  }

  /** Sets the place reached (after every tenant the journal listed before it was looked at). */
  setJournalPlace(place: JournalPlace): void {
    const same =
      this.place !== undefined &&
      this.place.cursor === place.cursor &&
      this.place.sweptAt === place.sweptAt &&
      this.place.marker === place.marker &&
      this.place.pending.join(',') === place.pending.join(',');
    this.place = {
      cursor: place.cursor,
      pending: [...place.pending],
      ...(place.sweptAt ? { sweptAt: place.sweptAt } : {}),
      ...(place.marker ? { marker: place.marker } : {}),
    };
    if (!same) this.placeChanged = true;
  }

  /**
   * When work outside the runs that keep the journal place last changed what those runs build
   * on (the backups: a full backup started new chains), saved in its own small document
   * (`<purpose>-rebased`) that only that work writes; undefined: never, or it cannot be read.
   */
  async rebasedAt(): Promise<string | undefined> {
    const saved = await (this.directory.loadMarks?.(`${this.purpose}-rebased`) ?? Promise.resolve({} as Record<string, string>)).catch(
      () => ({}) as Record<string, string>,
    );
    return saved.rebased;
  }

  /** Notes `at` as rebasedAt (durable when this resolves; a failure is thrown to the caller). */
  async noteRebased(at: string): Promise<void> {
    await this.directory.saveMarks?.(`${this.purpose}-rebased`, { rebased: at });
  }

  /** The tenant's mark as `recorded()` gives it, read by point (no read of every mark). */
  current(tenantId: string): Promise<string | undefined> {
    return this.mark(tenantId);
  }

  /**
   * Saves the marks that changed (only those: writeMarks is by point) when the last save is
   * `saveEveryMs` old (or `force`), then the journal place: never ahead of the marks on disk (a
   * place is saved only once the marks recorded up to it are, and writeMarks is durable).
   */
  async flush(options: { force?: boolean } = {}): Promise<void> {
    if ((this.dirty.size === 0 && !this.placeChanged) || !this.directory.writeMarks) return;
    const now = this.clock.now().getTime();
    if (!options.force && now - this.savedAt < this.saveEveryMs) return;
    this.savedAt = now;
    const place = this.place;
    const placeChanged = this.placeChanged;
    this.placeChanged = false;
    if (this.dirty.size > 0) {
      const changes = new Map(this.dirty);
      this.dirty.clear();
      this.saving = changes;
      try {
        await this.directory.writeMarks(this.purpose, Object.fromEntries(changes));
      } catch {
        // Best effort: unsaved marks only cost re-checks after a restart; the place waits for them.
        for (const [id, v] of changes) if (!this.dirty.has(id)) this.dirty.set(id, v);
        this.placeChanged ||= placeChanged;
        return;
      } finally {
        this.saving = undefined;
      }
    }
    if (!placeChanged || !place || !this.directory.saveMarks) return;
    try {
      await this.directory.saveMarks(`${this.purpose}-journal`, {
        ...(place.cursor ? { cursor: place.cursor } : {}),
        pending: place.pending.join(','),
        // Keys as the directory keeps them (tenant-id shaped).
        ...(place.sweptAt ? { swept: place.sweptAt } : {}),
        ...(place.marker ? { marker: place.marker } : {}),
      });
    } catch {
      this.placeChanged = true;
    }
  }

  /** Notes a change to save (none when the directory keeps no marks: they live in memory only, e.g. on Cosmos). */
  private changed(tenantId: string, value: string | null): void {
    if (this.directory.writeMarks) this.dirty.set(tenantId, value);
  }

  /** The tenant's mark: from memory, or read by point (undefined: none, or it could not be read: a re-check). */
  private async mark(tenantId: string): Promise<string | undefined> {
    const known = this.table.get(tenantId);
    if (known !== null || !this.directory.readMarks) return known ?? undefined;
    const read = await this.directory.readMarks(this.purpose, [tenantId]).catch(() => undefined);
    // Recorded, forgotten or loaded meanwhile: what is in memory now is newer.
    const now = this.table.get(tenantId);
    if (now !== null || read === undefined) return now ?? undefined;
    if (Object.hasOwn(read, tenantId)) this.table.set(tenantId, read[tenantId]!);
    else this.table.absent.add(tenantId);
    return this.table.get(tenantId) ?? undefined;
  }

  /** Every mark of the purpose, read once; changes made here and not saved yet (or being saved) stay on top. */
  private loadAll(): Promise<MarkTable> {
    if (this.table.all) return Promise.resolve(this.table);
    if (!this.directory.readMarks) {
      this.table = this.table.complete();
      return Promise.resolve(this.table);
    }
    this.loadingAll ??= (async () => {
      const loaded = await this.directory.readMarks!(this.purpose).catch(() => undefined);
      if (loaded === undefined) {
        // Not readable now: every tenant without a mark in memory is re-checked; read again next time.
        this.loadingAll = undefined;
        return new MarkTable(this.overlay({}), true);
      }
      this.table = new MarkTable(this.overlay(loaded), true);
      return this.table;
    })();
    return this.loadingAll;
  }

  /** `o` with the changes not on disk yet applied (those being saved, then the newer ones). */
  private overlay(o: Record<string, string>): Record<string, string> {
    for (const changes of [this.saving, this.dirty])
      for (const [id, v] of changes ?? []) {
        if (v === null) delete o[id];
        else o[id] = v;
      }
    return o;
  }
}

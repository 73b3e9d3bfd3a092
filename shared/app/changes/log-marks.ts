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
 * skip. Marks are kept in memory and saved at most every `saveEveryMs` (and on `flush`).
 */
const DETAIL = '\u0000';

/** Where the work stands in the directory's change journal (changesSince), saved beside its marks. */
export interface JournalPlace {
  cursor: string | undefined;
  /** Tenants looked at and not done (a failed or unfinished run): looked at again whatever the journal says. */
  pending: string[];
  /** When the work last looked at every tenant (its safety sweep), for work that sweeps on a period. */
  sweptAt?: string | undefined;
}

/**
 * The marks as loaded, read and changed in place: the parsed object itself (copying 10,000 of
 * them into a Map cost ~10 ms per file at a start). Keys are tenant ids (loadMarks checks them).
 */
class MarkTable {
  constructor(private readonly o: Record<string, string>) {}
  get(id: string): string | undefined {
    return Object.hasOwn(this.o, id) ? this.o[id] : undefined;
  }
  set(id: string, value: string): void {
    this.o[id] = value;
  }
  delete(id: string): boolean {
    if (!Object.hasOwn(this.o, id)) return false;
    delete this.o[id];
    return true;
  }
  keys(): string[] {
    return Object.keys(this.o);
  }
  /** A copy to save (the save is asynchronous; the table goes on changing meanwhile). */
  snapshot(): Record<string, string> {
    return { ...this.o };
  }
}

export class LogMarks {
  private marks: MarkTable | undefined;
  private loading: Promise<MarkTable> | undefined;
  private changed = false;
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
    const mark = (await this.load()).get(tenantId)?.split(DETAIL)[0];
    const fingerprint = await this.directory.logFingerprint?.(tenantId, mark === undefined ? options : { ...options, commitsSince: mark });
    return { fingerprint, unchanged: fingerprint !== undefined && fingerprint === mark };
  }

  /** True when `fingerprint` is the one recorded after the last completed run. */
  async unchanged(tenantId: string, fingerprint: string | undefined): Promise<boolean> {
    if (fingerprint === undefined) return false;
    const v = (await this.load()).get(tenantId);
    return v !== undefined && v.split(DETAIL)[0] === fingerprint;
  }

  /** The detail recorded with the tenant's mark (e.g. counts of the run), if any. */
  async detail(tenantId: string): Promise<string | undefined> {
    const v = (await this.load()).get(tenantId);
    return v === undefined ? undefined : LogMarks.detailOf(v);
  }

  /**
   * Every recorded mark, tenant id → an opaque value that changes whenever the mark or its
   * detail does (`LogMarks.detailOf` reads the detail): for callers that go over many tenants
   * at once and cache what they derive from a detail. Live: later records show in it.
   */
  recorded(): Promise<{ get(tenantId: string): string | undefined }> {
    return this.load();
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
    const m = await this.load();
    const value = detail === undefined ? fingerprint : `${fingerprint}${DETAIL}${detail}`;
    if (m.get(tenantId) === value) return;
    m.set(tenantId, value);
    this.changed = true;
  }

  async forget(tenantId: string): Promise<void> {
    if ((await this.load()).delete(tenantId)) this.changed = true;
  }

  /** Drops marks of tenants that no longer exist. */
  async retain(tenantIds: Iterable<string>): Promise<void> {
    const keep = new Set(tenantIds);
    const m = await this.load();
    for (const id of m.keys())
      if (!keep.has(id)) {
        m.delete(id);
        this.changed = true;
      }
  }

  /**
   * The work's place in the change journal, saved in its own small file (`<purpose>-journal`), so
   * a start reads it without the marks. Consistent with the marks on disk by construction: it
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
      this.place.pending.join(',') === place.pending.join(',');
    this.place = { cursor: place.cursor, pending: [...place.pending], ...(place.sweptAt ? { sweptAt: place.sweptAt } : {}) };
    if (!same) this.placeChanged = true;
  }

  /**
   * Saves the marks when they changed and the last save is `saveEveryMs` old (or `force`), then
   * the journal place: never ahead of the marks on disk (a place is saved only once the marks
   * recorded up to it are).
   */
  async flush(options: { force?: boolean } = {}): Promise<void> {
    if ((!this.changed && !this.placeChanged) || !this.directory.saveMarks) return;
    const now = this.clock.now().getTime();
    if (!options.force && now - this.savedAt < this.saveEveryMs) return;
    this.savedAt = now;
    const place = this.place;
    const placeChanged = this.placeChanged;
    this.placeChanged = false;
    if (this.changed && this.marks) {
      this.changed = false;
      try {
        await this.directory.saveMarks(this.purpose, this.marks.snapshot());
      } catch {
        // Best effort: unsaved marks only cost re-checks after a restart; the place waits for them.
        this.changed = true;
        this.placeChanged ||= placeChanged;
        return;
      }
    }
    if (!placeChanged || !place) return;
    try {
      await this.directory.saveMarks(`${this.purpose}-journal`, {
        ...(place.cursor ? { cursor: place.cursor } : {}),
        pending: place.pending.join(','),
        // Keys as the directory keeps them (tenant-id shaped).
        ...(place.sweptAt ? { swept: place.sweptAt } : {}),
      });
    } catch {
      this.placeChanged = true;
    }
  }

  private load(): Promise<MarkTable> {
    if (this.marks) return Promise.resolve(this.marks);
    this.loading ??= (async () => {
      const loaded = await (this.directory.loadMarks?.(this.purpose) ?? Promise.resolve({})).catch(() => ({}));
      this.marks = new MarkTable(loaded);
      return this.marks;
    })();
    return this.loading;
  }
}

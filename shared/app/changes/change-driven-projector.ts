import type { Clock } from '../../ports/runtime';
import type { TenantDirectory } from '../../ports/tenant-directory';
import { runProjector, type ProjectionRunResult, type ProjectorOptions } from '../projector';
import type { ChangeSignal } from './change-signal';
import { LogMarks } from './log-marks';
import { spreadOffsetMs } from './spread';
import { errorMessage } from '../../redact';

/** Period of the projectFeeds timer (functions/projections.ts: every 2 s). */
export const PROJECTOR_TICK_MS = 2000;
/** The sweep's period where the directory keeps a change journal: a safety net, once a day. */
export const JOURNAL_SWEEP_MS = 24 * 3600_000;

export interface ChangeDrivenProjectorOptions {
  directory: TenantDirectory;
  signal: ChangeSignal;
  clock: Clock;
  /** Every tenant is looked at once per sweep period (catches writes made by other processes). */
  sweepPeriodMs: number;
  /** How often `pass()` is called (the projectFeeds timer): the sweep is split into period / tick slices. */
  tickMs: number;
  /** A signalled tenant is projected this long after its append (appends meanwhile share the run). 0: only on `pass()`. */
  delayMs?: number;
  /** Passed to runProjector (batch size, attempts, log). */
  projector?: Omit<ProjectorOptions, 'clock'>;
  /** Runs one tenant's projector; default: its stores from the directory. */
  project?: (tenantId: string) => Promise<ProjectionRunResult>;
  /**
   * Called after a run on the directory's stores (the default `project`): e.g. close the tenant
   * again unless requests use it, so a sweep that finds writes made elsewhere leaves no idle
   * tenant open.
   */
  afterRun?: (tenantId: string) => Promise<void> | void;
  log?: (message: string) => void;
  /**
   * The projections share the log's fingerprint (embedded: one database file): a caught-up run
   * records the fingerprint after its own writes when the log's end did not move meanwhile
   * (projectFromDirectory). Off where the fingerprint already tells commits from other writes
   * (Cosmos: LogFingerprintOptions.commitsSince), which would only pay two more feed reads.
   */
  markAfterOwnWrites?: boolean;
  /** Told of each tenant the sweep finds changed (a write of another instance, or any tenant after a start without marks): the webhook worker looks at it. */
  onChanged?: (tenantId: string) => void;
}

export interface ProjectorPass {
  /** Per tenant that was projected in this pass (signalled, retried, or found changed by the sweep). */
  results: Record<string, ProjectionRunResult>;
  /** Tenants the journal listed and the sweep looked at in this pass, and how many of them it skipped (log unchanged). */
  swept: number;
  unchanged: number;
}

/**
 * The projector, driven by change instead of by the tenant count:
 *  - the command path signals every append in this process (ChangeSignal); the tenant is
 *    projected `delayMs` later by a background run in this same process, whichever instance
 *    runs the timer (in Azure a timer runs on one instance only);
 *  - a slow sweep catches writes made elsewhere (another process on the same data folder,
 *    another instance in Azure, a run lost to a crash): every tenant is looked at once per
 *    `sweepPeriodMs`, at a place in the period fixed by a hash of its id (spread.ts), so the
 *    looks are spread evenly over the period. Looking at an unchanged tenant compares its log
 *    fingerprint with the mark of its last run: two `stat`s on the embedded store, one
 *    change-feed read from the last position (304 per range) on Cosmos; nothing is opened
 *    and no projection is run;
 *  - where the directory keeps a change journal (changesSince; embedded), each pass looks at
 *    the tenants it lists since the last pass instead (opened by another process, closed,
 *    created), the place is saved beside the marks, and the sweep is only a safety net, a round
 *    a day (JOURNAL_SWEEP_MS): an idle pass looks at nothing;
 *  - tenants whose run failed or stopped early are retried on the next pass (with a journal,
 *    also after a restart).
 * Passes never overlap: background runs and timer passes are queued one after the other.
 */
export class ChangeDrivenProjector {
  private readonly dirty = new Set<string>();
  private readonly retry = new Set<string>();
  readonly marks: LogMarks;
  /** The sweep's current round: when it started, and each tenant's place in the period. */
  private round: { startMs: number; due: Array<{ id: string; atMs: number }>; next: number } | undefined;
  /** With a change journal (changesSince): the cursor reached, and the one a catch-up round (after `all`) will save when done. */
  private journal: { cursor: string | undefined; catchingUpTo: string | undefined } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private scheduled: ReturnType<typeof setTimeout> | undefined;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(private readonly o: ChangeDrivenProjectorOptions) {
    this.marks = new LogMarks(o.directory, 'projector', o.clock);
    this.unsubscribe = o.signal.subscribe((id) => this.changed(id));
  }

  /** The command path appended to `tenantId` (called through the ChangeSignal). */
  changed(tenantId: string): void {
    this.dirty.add(tenantId);
    const delay = this.o.delayMs ?? 100;
    if (delay <= 0 || this.scheduled || this.closed) return;
    this.scheduled = setTimeout(() => {
      this.scheduled = undefined;
      void this.enqueue(() => this.drain()).catch((e: unknown) => this.o.log?.(`projector: ${errorMessage(e)}`));
    }, delay);
    this.scheduled.unref?.();
  }

  /** One timer pass: signalled and retried tenants, then what the journal lists, then the next slice of the sweep. */
  pass(): Promise<ProjectorPass> {
    return this.enqueue(async () => {
      await this.resumeJournal();
      const results = await this.drain(true);
      const listed = await this.journalLooks(results);
      const sweep = await this.sweepSlice(results);
      this.saveJournalPlace(sweep.roundDone);
      await this.marks.flush();
      return { results, swept: listed.swept + sweep.swept, unchanged: listed.unchanged + sweep.unchanged };
    });
  }

  /** The journal place saved by the last run (once per start): its pending tenants are retried. */
  private async resumeJournal(): Promise<void> {
    if (!this.o.directory.changesSince || this.journal) return;
    const place = await this.marks.journalPlace();
    for (const id of place.pending) this.retry.add(id);
    this.journal = { cursor: place.cursor, catchingUpTo: undefined };
  }

  /**
   * The tenants the directory's change journal lists since the last pass (changesSince): a
   * look at each. A journal that does not know the cursor (the first start, a lost place)
   * answers `all`: a sweep round over every tenant at the sweep's pace then covers what came
   * before, and the place is saved only once that round is done.
   */
  private async journalLooks(results: Record<string, ProjectionRunResult>): Promise<{ swept: number; unchanged: number }> {
    const out = { swept: 0, unchanged: 0 };
    if (!this.o.directory.changesSince || !this.journal) return out;
    // The tenants held open here are left out: their appends reach this projector as signals.
    const r = await this.o.directory.changesSince(this.journal.cursor, { exceptHeldHere: true });
    this.journal.cursor = r.cursor;
    if (r.all) {
      this.journal.catchingUpTo = r.cursor;
      this.round = undefined;
      return out;
    }
    for (const id of r.tenants) {
      if (results[id]) continue;
      out.swept++;
      if (await this.look(id, results)) out.unchanged++;
    }
    return out;
  }

  /** Where the journal stands, for the next start: with the tenants still to retry; not while a catch-up round runs. */
  private saveJournalPlace(roundDone: boolean): void {
    const j = this.journal;
    if (!j) return;
    if (j.catchingUpTo !== undefined) {
      if (!roundDone) return;
      j.catchingUpTo = undefined;
    }
    this.marks.setJournalPlace({ cursor: j.cursor, pending: [...this.retry].sort() });
  }

  /**
   * Looks at every tenant now, as one whole sweep round would (signalled and retried tenants
   * first): for an operator or a bench that wants everything projected at once. The timer's
   * spread-out sweep is not changed by it.
   */
  catchUp(): Promise<ProjectorPass> {
    return this.enqueue(async () => {
      await this.resumeJournal();
      // The journal's end before the listing: the look at every tenant covers what came before it.
      const end = this.journal && (await this.o.directory.changesSince?.(this.journal.cursor));
      const results = await this.drain(true);
      let unchanged = 0;
      const ids = await this.o.directory.listTenantIds();
      for (const id of ids) if (!results[id] && (await this.look(id, results))) unchanged++;
      if (this.journal && end) {
        this.journal.cursor = end.cursor;
        this.journal.catchingUpTo = undefined;
        this.saveJournalPlace(true);
      }
      await this.marks.flush();
      return { results, swept: ids.length, unchanged };
    });
  }

  /** Stops background runs, waits for the running one, saves the marks. */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    if (this.scheduled) clearTimeout(this.scheduled);
    await this.queue.catch(() => undefined);
    await this.marks.flush({ force: true });
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async drain(withRetries = false): Promise<Record<string, ProjectionRunResult>> {
    const results: Record<string, ProjectionRunResult> = {};
    const ids = new Set(this.dirty);
    this.dirty.clear();
    if (withRetries) {
      for (const id of this.retry) ids.add(id);
      this.retry.clear();
    }
    for (const id of ids) {
      const r = await this.projectIfReady(id);
      if (r) results[id] = r;
    }
    return results;
  }

  /**
   * The sweep's share of one pass. A round lists the catalog once and gives every tenant a fixed
   * place in the period (spreadOffsetMs: a hash of its id; the first round after a start: in
   * catalog order, as fast as the period allows); each pass looks at the tenants
   * whose place comes before the next pass. A new round starts only when the period is over,
   * so each tenant is looked at once per period however few tenants there are (it used to be
   * once per pass below period/tick tenants), and spread over it however many there are.
   */
  private async sweepSlice(
    results: Record<string, ProjectionRunResult>,
  ): Promise<{ swept: number; unchanged: number; roundDone: boolean }> {
    const now = this.o.clock.now().getTime();
    // With a journal that knows its place, the sweep is only a safety net: a round a day, the
    // first one a sweep period after the start (no listing of every tenant at a start).
    const safetyNet = this.journal !== undefined && this.journal.catchingUpTo === undefined;
    const period = Math.max(1, safetyNet ? Math.max(this.o.sweepPeriodMs, JOURNAL_SWEEP_MS) : this.o.sweepPeriodMs);
    if (!this.round && safetyNet) this.round = { startMs: now + this.o.sweepPeriodMs - period, due: [], next: 0 };
    if (!this.round || (this.round.next >= this.round.due.length && now - this.round.startMs >= period)) {
      const ids = await this.o.directory.listTenantIds();
      await this.marks.retain(ids);
      const tick = Math.max(1, this.o.tickMs);
      // The first round after a start (or a catch-up round for the journal) goes through the
      // catalog in order, as many tenants per pass as the period needs (a few tenants: all in
      // the first pass), so writes a crash left unprojected are found soon; later rounds place
      // each tenant by its hash.
      const perPass = Math.max(1, Math.ceil(ids.length / Math.max(1, Math.floor(period / tick))));
      const due = this.round
        ? ids.map((id) => ({ id, atMs: spreadOffsetMs(id, period) })).sort((a, b) => a.atMs - b.atMs)
        : ids.map((id, i) => ({ id, atMs: Math.floor(i / perPass) * tick }));
      this.round = { startMs: now, due, next: 0 };
    }
    const round = this.round;
    const upTo = now - round.startMs + Math.max(1, this.o.tickMs);
    let swept = 0;
    let unchanged = 0;
    while (round.next < round.due.length && round.due[round.next]!.atMs < upTo) {
      const id = round.due[round.next++]!.id;
      swept++;
      if (!results[id] && (await this.look(id, results))) unchanged++;
    }
    return { swept, unchanged, roundDone: round.next >= round.due.length };
  }

  /** The sweep's look at one tenant: projects it unless its log is unchanged (then true). */
  private async look(id: string, results: Record<string, ProjectionRunResult>): Promise<boolean> {
    try {
      // Relative to the mark: on Cosmos the run's own projection documents, which share the
      // container with the log, do not count as a change, only commits do; without that, every
      // changed tenant was run a second time for nothing (test/app/changes/cosmos-idle.test.ts).
      if ((await this.marks.look(id)).unchanged) return true;
      this.o.onChanged?.(id);
    } catch (e) {
      this.o.log?.(`projector sweep could not check tenant ${id}: ${errorMessage(e)}`);
      // Looked at again next pass (and after a restart: the journal's place has moved past it).
      this.retry.add(id);
      return false;
    }
    const r = await this.projectIfReady(id);
    if (r) results[id] = r;
    return false;
  }

  /** Projects one tenant when it is ready; records its mark when the run caught up. */
  private async projectIfReady(id: string): Promise<ProjectionRunResult | undefined> {
    // Taken after the stores are open (opening can write) and before the run reads the log: an
    // append during the run changes it, so the next sweep looks again. The default run may
    // replace it by the fingerprint after its own writes (projectFromDirectory).
    let fp: string | undefined;
    const fingerprint = async (after?: string) => {
      fp = after ?? (await this.marks.fingerprint(id));
    };
    try {
      const meta = await this.o.directory.getMeta(id);
      if (meta?.status !== 'ready') return undefined;
      const custom = this.o.project;
      if (custom) await fingerprint();
      const r = custom ? await custom(id) : await this.projectFromDirectory(id, fingerprint);
      if (r.failed || r.more) this.retry.add(id);
      else await this.marks.record(id, fp);
      return r;
    } catch (e) {
      this.o.log?.(`projector for tenant ${id} could not run: ${errorMessage(e)}`);
      this.retry.add(id);
      return { applied: 0, parked: 0, failed: true };
    }
  }

  /**
   * The run on the directory's stores. The projections live beside the log (embedded: the same
   * database file), so the run's own writes change the log's fingerprint although no commit was
   * made; a mark taken before the run then made the next sweep run the tenant again, and that
   * second run kicked the webhooks and opened the tenant once more (issue 11: after a start every
   * tenant projected since its last run looked changed). So when the run caught up and the log's
   * end is the same after the run as before it (no append in between, from any process), the
   * mark is the fingerprint after the run: an append after that fingerprint changes the files
   * again, and one before it moved the log's end, which keeps the mark taken before the run.
   */
  private async projectFromDirectory(id: string, mark: (after?: string) => Promise<void>): Promise<ProjectionRunResult> {
    try {
      const events = await this.o.directory.openEventStore(id);
      const store = await this.o.directory.openProjectionStore(id);
      await mark();
      const end = this.o.markAfterOwnWrites ? await events.endCheckpoint?.() : undefined;
      const r = await runProjector(events, store, await store.activeGeneration(), { ...this.o.projector, clock: this.o.clock });
      if (this.o.markAfterOwnWrites && end !== undefined && !r.failed && !r.more) {
        const after = await this.marks.fingerprint(id);
        if (after !== undefined && (await events.endCheckpoint?.()) === end) await mark(after);
      }
      return r;
    } finally {
      await this.o.afterRun?.(id);
    }
  }
}

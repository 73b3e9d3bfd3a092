import { createHash } from 'node:crypto';

/**
 * Spreading per-tenant background work over its period instead of doing every tenant at once:
 * each tenant gets a fixed place in the period from a hash of its id (the same on every
 * instance and across restarts, unrelated to creation order), so N tenants' work arrives
 * evenly over the period and a burst of new tenants does not become a burst of work.
 */

/** The tenant's place in a period, as a fraction in [0, 1) (from SHA-256 of the key). */
export function spreadFraction(key: string): number {
  const h = createHash('sha256').update(key).digest();
  // 48 bits: exact in a double, and plenty to spread any number of tenants.
  return h.readUIntBE(0, 6) / 2 ** 48;
}

/** The tenant's offset in a period of `periodMs`: a whole number in [0, periodMs). */
export function spreadOffsetMs(key: string, periodMs: number): number {
  return Math.floor(spreadFraction(key) * Math.max(1, periodMs));
}

/**
 * Whether `key`'s place in the period (spreadOffsetMs) falls in the window (fromMs, toMs] of
 * wall-clock time, in any period: the places are `k·period + offset` for every whole k.
 */
export function dueInWindow(key: string, periodMs: number, fromMs: number, toMs: number): boolean {
  const period = Math.max(1, periodMs);
  if (toMs - fromMs >= period) return true;
  const offset = spreadOffsetMs(key, period);
  // The last place at or before toMs.
  const last = Math.floor((toMs - offset) / period) * period + offset;
  return last > fromMs;
}

/** Where a spread schedule keeps how far it got (the tenant directory's marks, when it has them). */
export interface SpreadMarks {
  loadMarks?(purpose: string): Promise<Record<string, string>>;
  saveMarks?(purpose: string, marks: Record<string, string>): Promise<void>;
}

/** The marks key of a spread schedule's progress (a valid marks key; no tenant is looked up by it). */
const DONE_UNTIL = 'done-until';

/**
 * Per-tenant work of a timer spread over its period (the restore drills over a day, the orphan
 * sweep over an hour) instead of every tenant at once: the timer runs often (every few
 * minutes), and each run takes the tenants whose place in the period (a hash of the id,
 * spreadOffsetMs) came since the end of the last finished run, up to now. So each tenant is
 * worked on once per period, N tenants' work arrives evenly over it, a run cut off (crash,
 * overlap) is made up by the next one, and after a gap the next run takes what the gap missed
 * (all tenants at most once: a gap of a whole period or more, or a first run with no mark yet,
 * takes every tenant, as the old once-per-period run did). How far it got is kept in the
 * directory's marks (`purpose`), so a restart continues where the last run ended; without
 * marks (an adapter that keeps none) only in memory.
 */
export class SpreadSchedule {
  private doneUntilMs: number | undefined;
  private loaded: Promise<void> | undefined;

  constructor(
    private readonly o: {
      purpose: string;
      periodMs: number;
      clock: { now(): Date };
      marks: SpreadMarks;
    },
  ) {}

  get periodMs(): number {
    return this.o.periodMs;
  }

  private load(): Promise<void> {
    this.loaded ??= (async () => {
      const saved = await this.o.marks.loadMarks?.(this.o.purpose).catch(() => ({}) as Record<string, string>);
      const at = saved?.[DONE_UNTIL] ? Date.parse(saved[DONE_UNTIL]) : Number.NaN;
      // A mark from the future (a clock set back) is not trusted: the window starts a period ago.
      if (Number.isFinite(at) && at <= this.o.clock.now().getTime() && this.doneUntilMs === undefined) this.doneUntilMs = at;
    })();
    return this.loaded;
  }

  /**
   * The ids due now (in the order given) and the instant the window ends; pass it to `finished`
   * when the run has done them (failures of single tenants included: they come again next period).
   */
  async due(ids: readonly string[]): Promise<{ due: string[]; untilMs: number }> {
    await this.load();
    const now = this.o.clock.now().getTime();
    const from = this.doneUntilMs === undefined ? now - this.o.periodMs : Math.max(this.doneUntilMs, now - this.o.periodMs);
    return { due: ids.filter((id) => dueInWindow(id, this.o.periodMs, from, now)), untilMs: now };
  }

  /** The run that got `untilMs` from `due` finished: the next run starts its window there. */
  async finished(untilMs: number): Promise<void> {
    if (this.doneUntilMs !== undefined && untilMs <= this.doneUntilMs) return;
    this.doneUntilMs = untilMs;
    await this.o.marks.saveMarks?.(this.o.purpose, { [DONE_UNTIL]: new Date(untilMs).toISOString() }).catch(() => undefined);
  }
}

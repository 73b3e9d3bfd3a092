import type { Clock } from '../../ports/runtime';
import type { TenantDirectory } from '../../ports/tenant-directory';
import { runProjector, type ProjectionRunResult, type ProjectorOptions } from '../projector';
import type { ChangeSignal } from './change-signal';
import { LogMarks } from './log-marks';

/** Period of the projectFeeds timer (functions/projections.ts: every 2 s). */
export const PROJECTOR_TICK_MS = 2000;

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
  log?: (message: string) => void;
}

export interface ProjectorPass {
  /** Per tenant that was projected in this pass (signalled, retried, or found changed by the sweep). */
  results: Record<string, ProjectionRunResult>;
  /** Tenants the sweep looked at in this pass, and how many of them it skipped (log unchanged). */
  swept: number;
  unchanged: number;
}

/**
 * The projector, driven by change instead of by the tenant count:
 *  - the command path signals every append in this process (ChangeSignal); the tenant is
 *    projected `delayMs` later by a background run in this same process, whichever instance
 *    runs the timer (in Azure a timer runs on one instance only);
 *  - a slow sweep catches writes made elsewhere (another process on the same data folder,
 *    another instance in Azure, a run lost to a crash): each `pass()` (the timer) looks at the
 *    next slice of the tenants so that every tenant is looked at once per `sweepPeriodMs`.
 *    With fingerprints (embedded store), looking at an unchanged tenant is two `stat`s and
 *    nothing is opened; without them (Cosmos) it is one change-feed read per sweep period;
 *  - tenants whose run failed or stopped early are retried on the next pass.
 * Passes never overlap: background runs and timer passes are queued one after the other.
 */
export class ChangeDrivenProjector {
  private readonly dirty = new Set<string>();
  private readonly retry = new Set<string>();
  readonly marks: LogMarks;
  private sweepIds: string[] = [];
  private sweepNext = 0;
  private sliceSize = 1;
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
      void this.enqueue(() => this.drain()).catch((e: unknown) => this.o.log?.(`projector: ${errorText(e)}`));
    }, delay);
    this.scheduled.unref?.();
  }

  /** One timer pass: signalled and retried tenants, then the next slice of the sweep. */
  pass(): Promise<ProjectorPass> {
    return this.enqueue(async () => {
      const results = await this.drain(true);
      const sweep = await this.sweepSlice(results);
      await this.marks.flush();
      return { results, ...sweep };
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

  private async sweepSlice(results: Record<string, ProjectionRunResult>): Promise<{ swept: number; unchanged: number }> {
    if (this.sweepNext >= this.sweepIds.length) {
      // A new round: the catalog is listed once per sweep period, not on every pass.
      this.sweepIds = await this.o.directory.listTenantIds();
      this.sweepNext = 0;
      const passes = Math.max(1, Math.floor(this.o.sweepPeriodMs / Math.max(1, this.o.tickMs)));
      this.sliceSize = Math.max(1, Math.ceil(this.sweepIds.length / passes));
      await this.marks.retain(this.sweepIds);
    }
    const slice = this.sweepIds.slice(this.sweepNext, this.sweepNext + this.sliceSize);
    this.sweepNext += slice.length;
    let unchanged = 0;
    for (const id of slice) {
      if (results[id]) continue;
      try {
        const fp = await this.marks.fingerprint(id);
        if (await this.marks.unchanged(id, fp)) {
          unchanged++;
          continue;
        }
      } catch (e) {
        this.o.log?.(`projector sweep could not check tenant ${id}: ${errorText(e)}`);
        continue;
      }
      const r = await this.projectIfReady(id);
      if (r) results[id] = r;
    }
    return { swept: slice.length, unchanged };
  }

  /** Projects one tenant when it is ready; records its mark when the run caught up. */
  private async projectIfReady(id: string): Promise<ProjectionRunResult | undefined> {
    // Taken after the stores are open (opening can write) and before the run reads the log: an
    // append during the run changes it, so the next sweep looks again.
    let fp: string | undefined;
    const fingerprint = async () => {
      fp = await this.marks.fingerprint(id);
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
      this.o.log?.(`projector for tenant ${id} could not run: ${errorText(e)}`);
      this.retry.add(id);
      return { applied: 0, parked: 0, failed: true };
    }
  }

  private async projectFromDirectory(id: string, afterOpen: () => Promise<void>): Promise<ProjectionRunResult> {
    const events = await this.o.directory.openEventStore(id);
    const store = await this.o.directory.openProjectionStore(id);
    await afterOpen();
    return runProjector(events, store, await store.activeGeneration(), { ...this.o.projector, clock: this.o.clock });
  }
}

function errorText(e: unknown): string {
  return `${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? String(e)}`.slice(0, 500);
}

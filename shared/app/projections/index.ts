/**
 * Projections of a tenant (records and audit): their status (generation, lag, failures,
 * parked commits) and their rebuild from the log into a new generation.
 */
import { ERASURES_STREAM } from '../../domain/erasure';
import { AppError } from '../../domain/errors';
import type { ParkedCommit } from '../../ports/projection-store';
import type { Clock } from '../../ports/runtime';
import type { ProgressSink } from '../progress';
import { markErasuresApplied, runProjector, StateCarry } from '../projector';
import { BULK_BATCH } from '../projector-feed';
import { TenantService, type UserPrincipal } from '../service';
import { withStores } from '../tenants/with-stores';
import { yieldToEventLoop } from '../yield';

export interface ProjectionsDeps {
  tenants: Pick<TenantService, 'tenantStores'>;
  clock: Clock;
  log?: (message: string) => void;
}

/** A tenant's projections: position, lag, failures and parked commits (GET /t/{tenant}/status). */
export interface ProjectionStatusReport {
  tenant: string;
  projections: Array<{
    name: string;
    generation: number;
    appliedCommits: number;
    lastAppliedTimestamp: string | null;
    behindCommits: number | null;
    newestCommitTimestamp: string | null;
    lagMs: number;
    failures: number;
    lastError?: string;
    parked: ParkedCommit[];
  }>;
}

/**
 * Rebuilds under way in this process, per tenant. A rebuild waits for the one before it (an
 * erase request's and the finishErasures timer's, or an operator's): two at once would both
 * fold the whole log. Rebuilds in other processes or instances are kept apart by the store:
 * each fills a generation of its own (claimGeneration) and activation is forward only, so the
 * generation claimed last, built after every erasure the others were started for, is the one
 * that stays active, whichever finishes first.
 */
const rebuilding = new Map<string, Promise<unknown>>();

export class ProjectionService {
  constructor(private readonly d: ProjectionsDeps) {}

  /** The status of the caller's tenant's projections (administrators). */
  async status(p: UserPrincipal): Promise<ProjectionStatusReport> {
    TenantService.require(p, 'manage');
    return this.projectionStatus(p.tenantId);
  }

  async projectionStatus(tenantId: string): Promise<ProjectionStatusReport> {
    return withStores(this.d.tenants.tenantStores, tenantId, async ({ events, projections }) => {
      const gen = await projections.activeGeneration();
      const cp = await projections.getCheckpoint(gen);
      const lag = await events.feedLag(cp?.checkpoint);
      const parked = await projections.listParked(gen);
      const now = this.d.clock.now().getTime();
      return {
        tenant: tenantId,
        projections: [
          {
            name: 'records-and-audit',
            generation: gen,
            appliedCommits: cp?.applied ?? 0,
            lastAppliedTimestamp: cp?.lastTimestamp ?? null,
            behindCommits: lag.commits,
            newestCommitTimestamp: lag.newestTimestamp,
            lagMs:
              lag.newestTimestamp && cp?.lastTimestamp
                ? Math.max(0, Date.parse(lag.newestTimestamp) - Date.parse(cp.lastTimestamp))
                : lag.newestTimestamp
                  ? now - Date.parse(lag.newestTimestamp)
                  : 0,
            failures: cp?.failures ?? 0,
            ...(cp?.lastError ? { lastError: cp.lastError } : {}),
            parked,
          },
        ],
      };
    });
  }

  /**
   * Rebuilds the tenant's projections from the log into a new generation while the current
   * one keeps serving (commands never stop), then switches to it. A rebuild of the same tenant
   * already running in this process is waited for first (`rebuilding`).
   */
  rebuild(tenantId: string, onProgress?: ProgressSink): Promise<{ generation: number; applied: number }> {
    const before = rebuilding.get(tenantId) ?? Promise.resolve();
    const run = before.then(() => this.rebuildNow(tenantId, onProgress));
    const settled = run.catch(() => undefined);
    rebuilding.set(tenantId, settled);
    void settled.then(() => {
      if (rebuilding.get(tenantId) === settled) rebuilding.delete(tenantId);
    });
    return run;
  }

  private rebuildNow(tenantId: string, onProgress?: ProgressSink): Promise<{ generation: number; applied: number }> {
    return withStores(this.d.tenants.tenantStores, tenantId, async ({ events, projections }) => {
      // A number no other rebuild gets, in this process or another (claimGeneration); anything
      // left under it (an older version's crashed rebuild) is dropped first.
      const next = await projections.claimGeneration();
      await projections.dropGeneration(next);
      // The erasures in the log now: the new generation is built after them, so its rows hold
      // none of what they erased (recorded in its checkpoint below; issue 14).
      const erasures = await events.streamVersion(ERASURES_STREAM);
      // Commits in the log now: the rebuild applies these (and any that arrive meanwhile).
      const total = onProgress ? ((await events.feedLag(undefined)).commits ?? undefined) : undefined;
      let applied = 0;
      // One carry for the whole rebuild (each commit folded once); snapshots left where a record
      // has none near its head (a log imported or appended in bulk).
      const carry = new StateCarry();
      for (;;) {
        const r = await runProjector(events, projections, next, {
          clock: this.d.clock,
          maxPages: 1,
          batchSize: BULK_BATCH,
          carry,
          snapshots: true,
          ...(this.d.log ? { log: this.d.log } : {}),
        });
        if (r.failed)
          throw new AppError('unavailable', 'Rebuilding the projections failed; the current ones stay active. See the tenant status.');
        applied += r.applied;
        onProgress?.({ phase: 'project', done: applied, ...(total !== undefined ? { total: Math.max(total, applied) } : {}) });
        if (r.applied === 0) break;
        await yieldToEventLoop();
      }
      await markErasuresApplied(projections, next, erasures, this.d.clock);
      if (await projections.activateGeneration(next)) return { generation: next, applied };
      // A rebuild that claimed its generation after this one has switched already: it was
      // built after everything this one was started for (erasures included), so it stands.
      await projections.dropGeneration(next);
      return { generation: await projections.activeGeneration(), applied };
    });
  }
}

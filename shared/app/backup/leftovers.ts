import type { TenantDirectory, TenantMeta } from '../../ports/tenant-directory';
import { DRILL_PREFIX } from '../service';
import { allTenantIds, tenantIdPage } from '../tenants/tenant-pages';

/** On a shared store (Cosmos, several instances), a leftover must be at least this old. */
export const SHARED_STORE_LEFTOVER_AGE_MS = 6 * 60 * 60_000;

/**
 * Tenants that restores and drills build, and what a crash leaves of them.
 *
 * A restore builds its new tenant in status "creating" (marked `restoring` in its meta) and a
 * drill builds a scratch tenant `drill-…` that it removes at the end. A crash (kill -9, power
 * loss) in the middle leaves either behind: the restore's id would answer 409 for ever, the
 * scratch tenant would stay. This class tracks which of them are being built in this process;
 * any other one is a leftover when the store is this process's alone (the embedded default),
 * or on a shared store once it is older than SHARED_STORE_LEFTOVER_AGE_MS (another instance
 * may still be building it). Leftovers are removed at start, before each drill, and when a
 * restore asks for the id of one.
 */
export class LeftoverTenants {
  private readonly building = new Set<string>();

  constructor(
    private readonly d: {
      directory: TenantDirectory;
      exclusive: boolean;
      remove: (id: string) => Promise<void>;
      /** The service clock (ms). */
      now: () => number;
      log?: (m: string) => void;
    },
  ) {}

  /** Marks `id` as being built here until `end` (a sweep never touches it meanwhile). */
  begin(id: string): void {
    this.building.add(id);
  }

  end(id: string): void {
    this.building.delete(id);
  }

  isBuilding(id: string): boolean {
    return this.building.has(id);
  }

  /** Whether a tenant with this meta (undefined: a folder/container without meta) is a crash leftover. */
  isLeftover(id: string, meta: TenantMeta | undefined, ignoreBuilding = false): boolean {
    if (this.building.has(id) && !ignoreBuilding) return false;
    const scratch = id.startsWith(DRILL_PREFIX);
    // A scratch tenant is never meant to outlive its drill; a restore target only while "creating".
    if (!scratch && !(meta?.status === 'creating' && meta.restoring)) return false;
    if (this.d.exclusive) return true;
    const created = meta ? Date.parse(meta.createdAt) : NaN;
    return Number.isFinite(created) && this.d.now() - created >= SHARED_STORE_LEFTOVER_AGE_MS;
  }

  /**
   * For the restore that has just marked `id` as its own: removes what an earlier run that
   * did not finish left under that id (the mark is this caller's, not that run's).
   */
  async reclaimAbandoned(id: string): Promise<boolean> {
    return this.reclaim(id, true);
  }

  /** Removes `id` if it is a leftover; true when it was removed. */
  async reclaim(id: string, ignoreBuilding = false): Promise<boolean> {
    const meta = await this.d.directory.getMeta(id).catch(() => undefined);
    if (!this.isLeftover(id, meta, ignoreBuilding)) return false;
    await this.d.remove(id);
    this.d.log?.(
      `removed ${id.startsWith(DRILL_PREFIX) ? 'drill scratch tenant' : 'half-restored tenant'} ${id} left by an earlier run that did not finish`,
    );
    return true;
  }

  /**
   * The only tenants that can be leftovers: drill scratch tenants (ids from DRILL_PREFIX on, one
   * range of the directory's index) and tenants in status "creating" (the status index). Without
   * an index (Cosmos): the catalog. So a sweep (at start, and before every drill) reads the metas
   * of those few, not of every tenant.
   */
  private async candidates(): Promise<string[]> {
    const directory = this.d.directory;
    if (!directory.listTenantIdPage) return directory.listTenantIds();
    const out = new Set<string>();
    let after = DRILL_PREFIX;
    for (;;) {
      const ids = await tenantIdPage(directory, { after, limit: 200 });
      const scratch = ids.filter((id) => id.startsWith(DRILL_PREFIX));
      for (const id of scratch) out.add(id);
      if (ids.length < 200 || scratch.length < ids.length) break;
      after = ids.at(-1)!;
    }
    for await (const id of allTenantIds(directory, { status: 'creating' })) out.add(id);
    return [...out];
  }

  /** Removes every leftover; returns their ids. */
  async sweep(): Promise<string[]> {
    const removed: string[] = [];
    for (const id of await this.candidates()) {
      try {
        if (await this.reclaim(id)) removed.push(id);
      } catch (e) {
        this.d.log?.(`could not remove leftover tenant ${id}: ${(e as Error)?.message}`);
      }
    }
    return removed;
  }
}

/** What every record use case depends on, and the helpers they share. */
import type { Author, Commit } from '../../domain/events';
import type { RecordState } from '../../domain/records';
import type { EventStore } from '../../ports/event-store';
import type { ProjectionStore } from '../../ports/projection-store';
import type { Clock } from '../../ports/runtime';
import { projectCommits } from '../projector';
import { noteProjectedInline } from '../projector-inline-notes';
import type { TenantStores } from '../../ports/tenant-stores';
import type { UserPrincipal } from '../service';
import type { TypeSchemaSandbox } from '../type-schemas';
import type { PersonalDataVault } from '../erasure/vault';
import type { TypeCatalog } from './type-catalog';

export interface RecordsContext {
  /** The tenants' stores, leased for the length of each use case (tenants/with-stores.ts). */
  stores: TenantStores;
  clock: Clock;
  log: (message: string) => void;
  /** Compiles and runs tenant schemas off the event loop (see shared/app/type-schemas). */
  schemas: TypeSchemaSandbox;
  /** The tenants' entity types, cached per tenant. */
  types: TypeCatalog;
  /** Seals personal values of marked types (issue 14); without it, writes to such types are refused. */
  personal?: PersonalDataVault;
}

export function author(p: UserPrincipal): Author {
  return { kind: 'user', userId: p.userId, email: p.email };
}

/** Read-your-writes for lists: project the commit now; the feed projector retries if this fails. */
export async function projectInline(
  ctx: Pick<RecordsContext, 'log'>,
  events: EventStore,
  projections: ProjectionStore,
  commit: Commit,
  /** The record's state right after `commit`, when the caller has it in plain form (spares reading it back). */
  state?: RecordState,
): Promise<void> {
  try {
    const generation = await projections.activeGeneration();
    await projectCommits(events, projections, generation, [commit], {
      ...(state ? { states: new Map([[commit.streamId, state]]) } : {}),
    });
    // The change-driven projector's run after this append then skips this commit (projector-inline-notes.ts).
    noteProjectedInline(projections, generation, commit);
  } catch (e) {
    ctx.log(`inline projection of ${commit.streamId}@${commit.version} failed (the feed projector will retry): ${(e as Error)?.message}`);
  }
}

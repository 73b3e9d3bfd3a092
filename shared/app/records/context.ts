/** What every record use case depends on, and the helpers they share. */
import type { Author, Commit } from '../../domain/events';
import type { EventStore } from '../../ports/event-store';
import type { ProjectionStore } from '../../ports/projection-store';
import type { Clock } from '../../ports/runtime';
import { projectCommits } from '../projector';
import type { TenantService, UserPrincipal } from '../service';
import type { TypeSchemaSandbox } from '../type-schemas';
import type { TypeCatalog } from './type-catalog';

export interface RecordsContext {
  tenants: Pick<TenantService, 'stores'>;
  clock: Clock;
  log: (message: string) => void;
  /** Compiles and runs tenant schemas off the event loop (see shared/app/type-schemas). */
  schemas: TypeSchemaSandbox;
  /** The tenants' entity types, cached per tenant. */
  types: TypeCatalog;
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
): Promise<void> {
  try {
    await projectCommits(events, projections, await projections.activeGeneration(), [commit]);
  } catch (e) {
    ctx.log(`inline projection of ${commit.streamId}@${commit.version} failed (the feed projector will retry): ${(e as Error)?.message}`);
  }
}

/** The tenant's audit trail (paged) and the export of every record as of an instant. */
import { rolesAllow } from '../../domain/identity';
import { recordStreamId } from '../../domain/records';
import type { EventStore } from '../../ports/event-store';
import type { OperationOptions } from '../../ports/options';
import type { AuditEntry, Page, ProjectionStore } from '../../ports/projection-store';
import { loadRecord } from '../record-reader';
import { TenantService, type UserPrincipal } from '../service';
import { TimeSlice, yieldToEventLoop } from '../yield';
import type { RecordsContext } from './context';
import { toDto } from './dto';
import type { ExportInput } from './inputs';
import { withStores } from '../tenants/with-stores';

export interface AuditQuery {
  from?: Date;
  to?: Date;
  author?: string;
  type?: string;
  limit: number;
  continuation?: string;
}

export async function audit(
  ctx: RecordsContext,
  p: UserPrincipal,
  q: AuditQuery,
  options: OperationOptions = {},
): Promise<Page<AuditEntry>> {
  TenantService.require(p, 'read');
  return withStores(
    ctx.stores,
    p.tenantId,
    async ({ projections, continuations }) => {
      // Identity changes (users, roles, the tenant itself) are for administrators only: the
      // store filters them out before paging, so neither a page nor its token depends on them.
      const recordsOnly = !rolesAllow(p.roles, 'manage');
      const scope = {
        from: q.from?.toISOString() ?? null,
        to: q.to?.toISOString() ?? null,
        author: q.author ?? null,
        type: q.type ?? null,
        recordsOnly,
      };
      const position = q.continuation ? await continuations.open('audit', scope, q.continuation) : undefined;
      const stored = await projections.listAudit(await projections.activeGeneration(), { ...q, continuation: position, recordsOnly });
      return { ...stored, ...(stored.continuation ? { continuation: await continuations.seal('audit', scope, stored.continuation) } : {}) };
    },
    options,
  );
}

/** Every record of the tenant as of an instant (or now), one JSON object per line, constant memory. */
export async function* exportRecords(
  ctx: RecordsContext,
  p: UserPrincipal,
  input: ExportInput = {},
  options: OperationOptions = {},
): AsyncGenerator<string> {
  TenantService.require(p, 'read');
  // The lease is held until the last line is read (or the reader stops early: return() runs finally).
  const lease = await ctx.stores.acquire(p.tenantId, options.abortSignal ? { abortSignal: options.abortSignal } : {});
  try {
    yield* exportRecordLines({ events: lease.stores.events, projections: await lease.stores.projections() }, input.asOf);
  } finally {
    lease.release();
  }
}

/**
 * The export's lines (every record as of `asOf`, or now), from the tenant's stores: no
 * authorisation here. exportRecords checks the tenant user's role first; the backup drills
 * (operator and timer work) call it with stores leased from TenantStores.
 */
export async function* exportRecordLines(
  stores: { events: EventStore; projections: ProjectionStore },
  asOf?: Date,
): AsyncGenerator<string> {
  const { events, projections } = stores;
  const gen = await projections.activeGeneration();
  let after: { type: string; id: string } | undefined;
  const slice = new TimeSlice();
  for (;;) {
    const batch = await projections.scanRecords(gen, { ...(after ? { after } : {}), limit: 200 });
    for (const v of batch) {
      after = { type: v.type, id: v.id };
      const s = await loadRecord(events, recordStreamId(v.type, v.id), asOf, { slice });
      if (s && !s.deleted) yield `${JSON.stringify(toDto(s))}\n`;
      await slice.maybeYield();
    }
    if (batch.length < 200) return;
    await yieldToEventLoop();
  }
}

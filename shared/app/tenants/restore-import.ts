import type { Commit } from '../../domain/events';
import { assertTenantId, RESTORES_STREAM, type RestoreDetails, restoresDecider } from '../../domain/tenant';
import type { BatchAppend, BulkImport, EventStore } from '../../ports/event-store';
import type { KeyProvider } from '../../ports/key-provider';
import type { OperatorPrincipal } from '../../ports/operator-auth';
import type { Clock } from '../../ports/runtime';
import type { TenantDirectory, TenantMeta } from '../../ports/tenant-directory';
import type { TenantStores } from '../../ports/tenant-stores';
import { handleCommand } from '../command-handling/handle-command';
import type { RequestInfo } from '../request';
import { TimeSlice } from '../yield';
import { createTenantKey } from './tenant-key';

/** Commits per import transaction (about 10–25 ms of work on the embedded store here). */
export const IMPORT_BATCH = 250;

/**
 * Appends a batch: in one call where the store has appendMany, else commit by commit.
 * `syncLater`: see AppendManyOptions (the caller's own later append makes the batch durable).
 */
export async function appendAll(events: EventStore, batch: BatchAppend[], options: { syncLater?: boolean } = {}): Promise<void> {
  if (events.appendMany) {
    await events.appendMany(batch, options.syncLater ? { syncLater: true } : {});
    return;
  }
  for (const c of batch) await events.append(c.streamId, c.expectedVersion, c.events, c.meta);
}

export interface RestoreImportDeps {
  directory: TenantDirectory;
  keys: KeyProvider;
  clock: Clock;
  stores: TenantStores;
}

export interface RestoreImportInput {
  id: string;
  name: string;
  /** The log read out of a backup, in order. */
  commits: AsyncIterable<Commit>;
  operator: OperatorPrincipal;
  details: RestoreDetails;
  req: RequestInfo;
  onProgress?: (imported: number) => void;
  /** Runs after the import, before the tenant is served (a failure removes it, like any other). */
  beforeReady?: (keyName: string, imported: number) => Promise<void>;
}

/**
 * Creates tenant `id` from a log read out of a backup: its own new key and signing secret,
 * then every commit imported with its original stream, version, time, author and
 * correlation id (so the users and their passwords come back as they were: an import, not
 * new commands). The restore itself is a command of the restores log. All or nothing, like
 * createTenant: any failure removes the tenant and its key.
 */
export async function importRestoredTenant(d: RestoreImportDeps, input: RestoreImportInput): Promise<{ id: string; commits: number }> {
  const { id, details } = input;
  assertTenantId(id);
  const { directory, keys, clock } = d;
  const { keyName, signingKey } = await createTenantKey(keys, id);
  // `restoring` marks it as a restore target: left "creating" by a crash, it is removed, not kept.
  const meta: TenantMeta = {
    id,
    name: input.name,
    status: 'creating',
    createdAt: clock.now().toISOString(),
    keyName,
    signingKey,
    restoring: { source: details.source, tier: details.tier, asOf: details.asOf },
  };
  try {
    await directory.create(meta);
  } catch (e) {
    await keys.deleteKey(keyName).catch(() => undefined);
    throw e;
  }
  let n = 0;
  const slice = new TimeSlice();
  let bulk: BulkImport | undefined;
  try {
    const events = await directory.openEventStore(id);
    // Commits go in in batches, one transaction each where the store can (appendMany): the
    // import is all or nothing anyway (a failure removes the tenant, a crash leaves it
    // "creating", which is removed at the next start). Nothing is acknowledged before the
    // restore's own commit below, an ordinary append whose fsync makes every imported batch
    // durable with it, so the batches are not fsynced one by one (syncLater).
    // Where the store offers a bulk import (embedded: stream heads kept in memory instead of a
    // lookup per commit, a larger page cache, fewer WAL checkpoints), the batches go through it:
    // the restore is the new tenant's only writer until it is served. It ends after
    // beforeReady, so the restore's projection pass (same database) writes with its settings too.
    bulk = await events.beginImport?.();
    let batch: BatchAppend[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const before = n;
      if (bulk) await bulk.append(batch);
      else await appendAll(events, batch, { syncLater: true });
      n += batch.length;
      batch = [];
      if (Math.floor(n / 1000) > Math.floor(before / 1000)) input.onProgress?.(n);
      await slice.maybeYield();
    };
    for await (const c of input.commits) {
      batch.push({
        streamId: c.streamId,
        expectedVersion: c.version - 1,
        events: c.events,
        meta: {
          author: c.author,
          correlationId: c.correlationId,
          originalTimestamp: c.timestamp,
          ...(c.idempotency ? { idempotency: c.idempotency } : {}),
        },
      });
      if (batch.length >= IMPORT_BATCH) await flush();
    }
    await flush();
    // The restore itself is audited in the new tenant's log (its own stream).
    await handleCommand(
      events,
      RESTORES_STREAM,
      restoresDecider,
      { type: 'RecordRestore', details },
      {
        meta: { author: { kind: 'operator', id: input.operator.id }, correlationId: input.req.correlationId },
      },
    );
    await input.beforeReady?.(keyName, n);
    bulk?.end();
    await directory.setStatus(id, 'ready');
  } catch (e) {
    bulk?.end();
    d.stores.forget(id);
    await directory.destroy(id).catch(() => undefined);
    await keys.deleteKey(keyName).catch(() => undefined);
    throw e;
  }
  input.onProgress?.(n);
  return { id, commits: n };
}

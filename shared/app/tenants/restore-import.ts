import type { Commit } from '../../domain/events';
import { assertTenantId, RESTORES_STREAM, type RestoreDetails, restoresDecider } from '../../domain/tenant';
import type { KeyProvider } from '../../ports/key-provider';
import type { OperatorPrincipal } from '../../ports/operator-auth';
import type { Clock } from '../../ports/runtime';
import type { TenantDirectory, TenantMeta } from '../../ports/tenant-directory';
import type { TenantStores } from '../../ports/tenant-stores';
import { handleCommand } from '../command-handling/handle-command';
import type { RequestInfo } from '../request';
import { TimeSlice } from '../yield';
import { createTenantKey } from './tenant-key';

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
  try {
    const events = await directory.openEventStore(id);
    for await (const c of input.commits) {
      await events.append(c.streamId, c.version - 1, c.events, {
        author: c.author,
        correlationId: c.correlationId,
        originalTimestamp: c.timestamp,
        ...(c.idempotency ? { idempotency: c.idempotency } : {}),
      });
      if (++n % 1000 === 0) input.onProgress?.(n);
      await slice.maybeYield();
    }
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
    await directory.setStatus(id, 'ready');
  } catch (e) {
    d.stores.forget(id);
    await directory.destroy(id).catch(() => undefined);
    await keys.deleteKey(keyName).catch(() => undefined);
    throw e;
  }
  input.onProgress?.(n);
  return { id, commits: n };
}

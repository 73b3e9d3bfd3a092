import type { OneTenantStores } from '../../ports/tenant-stores';
import type { readOnce } from '../feed/change-feed';
import { sealPosition } from '../feed/position';

/** The JSON body of one delivery. */
export async function body(
  s: OneTenantStores,
  subscriptionId: string,
  it: Awaited<ReturnType<typeof readOnce>>['items'][number],
  events: Array<{ type: string; changes: unknown[] }>,
): Promise<string> {
  const { at, ...commit } = it;
  return JSON.stringify({
    delivery: `${it.streamId}@${it.version}`,
    subscriptionId,
    tenant: s.tenantId,
    commit: { ...commit, events, position: await sealPosition(s.continuations, at) },
  });
}

/**
 * What a restore does with the webhook subscriptions it brings back (the `webhooks` stream is
 * part of the log; delivery positions are not). A restored tenant — a copy under a new id, or
 * the same id after a disaster — must not push its whole history again to receivers that
 * already had it, nor start pushing on its own to endpoints that the original tenant (still
 * running, maybe) feeds under the same subscription ids. So every restored subscription:
 *
 *  - is paused, by one audited `WebhooksRestored` commit (author: the restore's caller) that
 *    says where it came from (`restored` in its status);
 *  - has its delivery position set to the restored log's end, so resuming it delivers what
 *    the restored tenant records from then on; anything older is a `replay` away;
 *  - keeps its secret, re-wrapped by the new tenant's key (the source's key unwraps it, as it
 *    unwraps the backup); if that fails the subscription is marked so, and resuming it is
 *    refused until it is registered anew.
 */
import { type WrappedSecret, WEBHOOKS_STREAM, webhooksDecider } from '../../domain/webhooks';
import type { Author } from '../../domain/events';
import type { EventStore } from '../../ports/event-store';
import type { KeyProvider } from '../../ports/key-provider';
import type { TenantDirectory } from '../../ports/tenant-directory';
import { foldStream, handleCommand } from '../command-handling/handle-command';
import { initialState } from './delivery-state';
import { endOfFeed } from './subscriptions';

export interface RestoredSubscriptionsInput {
  /** The tenant whose backup is restored, and the instant the restored state is of. */
  source: string;
  restoredUntil: string;
  /** The new tenant (still "creating"): its log and its key. */
  into: string;
  events: EventStore;
  keyName: string;
  /** The source key that unwraps a given key id (the one the restore reads the backup with). */
  sourceKeyName: (keyId: string) => Promise<string>;
  author: Author;
  correlationId?: string;
}

/** Pauses the restored tenant's subscriptions at its log's end (see above); returns how many there are. */
export async function pauseRestoredSubscriptions(
  d: { directory: TenantDirectory; keys: KeyProvider },
  input: RestoredSubscriptionsInput,
): Promise<number> {
  const { state } = await foldStream(input.events, WEBHOOKS_STREAM, webhooksDecider);
  const subs = Object.values(state.subscriptions);
  if (subs.length === 0) return 0;
  const secrets: Record<string, WrappedSecret> = {};
  for (const sub of subs) {
    let secret: Uint8Array | undefined;
    try {
      secret = await d.keys.unwrapKey(await input.sourceKeyName(sub.secret.keyId), sub.secret);
      secrets[sub.id] = await d.keys.wrapKey(input.keyName, secret);
    } catch {
      // Not carried over: the status says so and resuming is refused (register it again).
    } finally {
      secret?.fill(0);
    }
  }
  await handleCommand(
    input.events,
    WEBHOOKS_STREAM,
    webhooksDecider,
    { kind: 'restored', source: input.source, restoredUntil: input.restoredUntil, secrets },
    { meta: { author: input.author, correlationId: input.correlationId ?? 'restore' } },
  );
  // Delivery starts at the restored log's end (after the commit above); a replay asked for
  // before the backup was taken counts as done (its position is the source's).
  const end = await endOfFeed(input.events);
  const positions = await d.directory.openDeliveryPositions(input.into);
  for (const sub of subs) {
    const start = initialState(end);
    start.replayVersion = sub.replay?.version ?? 0;
    await positions.remove(sub.id).catch(() => undefined);
    await positions.create(sub.id, JSON.stringify(start));
  }
  return subs.length;
}

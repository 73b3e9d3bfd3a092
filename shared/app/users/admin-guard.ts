import { ADMINS_STREAM, decideAdmins, evolveAdmins, type AdminsEvent, type AdminsState } from '../../domain/admins';
import { conflict, isWrongExpectedVersion } from '../../domain/errors';
import type { AppendMeta } from '../../domain/events';
import { isEnabledAdmin, userStreamId, type UserState } from '../../domain/identity';
import type { EventStore } from '../../ports/event-store';
import { yieldToEventLoop } from '../yield';

export interface AdminGuardDeps {
  events: EventStore;
  loadUser(userId: string): Promise<UserState | undefined>;
}

/** How often a change re-reads and re-decides after losing a race on the admins stream. */
const MAX_ATTEMPTS = 5;

/**
 * Runs `change` (the append to the user's own stream) under the tenant-admins guard when
 * it changes whether `userId` is an enabled administrator; otherwise just runs it.
 *
 * Order: (1) read the admins list and its version, verify each member against their own
 * stream; (2) decide (shared/domain/admins.ts: never zero admins); (3) append to the
 * admins stream with the expected version — of two concurrent changes only one gets
 * through, the other re-reads and decides again; (4) append to the user's stream. If (4)
 * fails, the list is put back (best effort).
 *
 * Failure modes stay on the safe side: a crash between (3) and (4) leaves a list that
 * either names a user who is not an enabled admin (verification drops them) or misses one
 * who still is (the count is then too LOW, which can refuse a legitimate change but never
 * allows the last admin to go; touching that user puts them back).
 */
export async function withAdminGuard<T>(
  deps: AdminGuardDeps,
  userId: string,
  before: UserState | undefined,
  after: UserState | undefined,
  meta: AppendMeta,
  change: () => Promise<T>,
): Promise<T> {
  if (isEnabledAdmin(before) === isEnabledAdmin(after)) return change();
  for (let attempt = 1; ; attempt++) {
    const { version, verified } = await currentAdmins(deps, userId, before);
    const events = decideAdmins(verified, { type: 'ChangeAdmin', userId, enabledAdminAfter: isEnabledAdmin(after) });
    try {
      await deps.events.append(ADMINS_STREAM, version, events, meta);
    } catch (e) {
      if (!isWrongExpectedVersion(e)) throw e;
      if (attempt < MAX_ATTEMPTS) continue;
      throw conflict('The administrators of this tenant were changed concurrently; reload and retry.');
    }
    try {
      return await change();
    } catch (e) {
      const undo: AdminsEvent[] = [{ type: 'TenantAdminsChanged', data: { userId, admins: verified } }];
      await deps.events.append(ADMINS_STREAM, version + 1, undo, meta).catch(() => undefined);
      throw e;
    }
  }
}

/**
 * The admins stream's version and its list, each member checked against their own stream
 * (the target by its state as the caller read it). A tenant created before this stream
 * existed has none yet: its users are found by scanning the log once, and the first
 * change writes the list (at expected version 0, so two first changes still serialise).
 */
async function currentAdmins(
  deps: AdminGuardDeps,
  target: string,
  targetState: UserState | undefined,
): Promise<{ version: number; verified: string[] }> {
  const [last] = await deps.events.readStream(ADMINS_STREAM, { direction: 'backward', maxCount: 1 });
  let version = 0;
  let members: string[];
  if (last) {
    version = last.version;
    let state: AdminsState | undefined;
    for (const e of last.events) state = evolveAdmins(state, e as AdminsEvent);
    members = state?.admins ?? [];
  } else {
    members = await scanUserIds(deps.events);
  }
  const verified: string[] = [];
  for (const m of new Set([...members, target])) {
    const s = m === target ? targetState : await deps.loadUser(m);
    if (isEnabledAdmin(s)) verified.push(m);
  }
  return { version, verified: verified.sort() };
}

/** Every user id of the tenant, from its log (once per tenant that predates the admins stream). */
async function scanUserIds(events: EventStore): Promise<string[]> {
  const ids = new Set<string>();
  const prefix = userStreamId('');
  let checkpoint: string | undefined;
  for (;;) {
    const page = await events.readFeed(checkpoint, { maxCount: 500 });
    for (const c of page.commits) if (c.streamId.startsWith(prefix)) ids.add(c.streamId.slice(prefix.length));
    if (page.commits.length === 0) return [...ids];
    checkpoint = page.checkpoint;
    await yieldToEventLoop();
  }
}

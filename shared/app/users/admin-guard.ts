import { ADMINS_STREAM, type AdminsCommand, adminsDecider, evolveAdmins, type AdminsEvent, type AdminsState } from '../../domain/admins';
import { conflict } from '../../domain/errors';
import type { AppendMeta, Commit } from '../../domain/events';
import { isEnabledAdmin, userStreamId, type UserEvent, type UserState } from '../../domain/identity';
import type { AppendResult, EventStore } from '../../ports/event-store';
import { type Change, handleCommand, type Loaded } from '../command-handling/handle-command';
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
 * admins stream with the expected version — (1)–(3) are handleCommand's, so of two
 * concurrent changes only one gets through, the other re-reads and decides again (up to
 * MAX_ATTEMPTS); (4) append to the user's stream. If (4) fails, the list is put back (best
 * effort).
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
  // What the winning attempt decided against (for the undo below).
  let verified: string[] = [];
  const r = await handleCommand(
    deps.events,
    ADMINS_STREAM,
    adminsDecider,
    async (state, version): Promise<AdminsCommand> => {
      verified = await verifiedAdmins(deps, version === 0 ? await scanUserIds(deps.events) : (state?.admins ?? []), userId, before);
      return { type: 'ChangeAdmin', userId, enabledAdminAfter: isEnabledAdmin(after), verified };
    },
    {
      meta,
      load: lastAdminsList,
      retries: MAX_ATTEMPTS - 1,
      onConflict: () => conflict('The administrators of this tenant were changed concurrently; reload and retry.'),
    },
  );
  try {
    return await change();
  } catch (e) {
    const undo: AdminsEvent[] = [{ type: 'TenantAdminsChanged', data: { userId, admins: verified } }];
    await deps.events.append(ADMINS_STREAM, r.version, undo, meta).catch(() => undefined);
    throw e;
  }
}

/**
 * The same guard as handleCommand's `aroundAppend` for a user command: the change of
 * `userId` (before → after) goes through the tenant-admins stream first when it changes
 * whether they are an enabled administrator.
 */
export function adminGuardAround(deps: AdminGuardDeps, userId: string, meta: AppendMeta) {
  return (append: () => Promise<AppendResult>, change: Change<UserState | undefined, UserEvent>): Promise<AppendResult> =>
    withAdminGuard(deps, userId, change.before, change.after, meta, append);
}

/** The admins stream's last list and version (only its last commit is read: it holds the whole list). */
async function lastAdminsList(events: EventStore, streamId: string): Promise<Loaded<AdminsState | undefined>> {
  const [last] = await events.readStream(streamId, { direction: 'backward', maxCount: 1 });
  if (!last) return { state: undefined, version: 0 };
  return { state: evolveAdmins(undefined, last as Commit & { events: AdminsEvent[] }), version: last.version };
}

/**
 * The list's members, each checked against their own stream (the target by its state as the
 * caller read it). A tenant created before the admins stream existed has none yet: its users
 * are found by scanning the log once, and the first change writes the list (at expected
 * version 0, so two first changes still serialise).
 */
async function verifiedAdmins(
  deps: AdminGuardDeps,
  members: readonly string[],
  target: string,
  targetState: UserState | undefined,
): Promise<string[]> {
  const verified: string[] = [];
  for (const m of new Set([...members, target])) {
    const s = m === target ? targetState : await deps.loadUser(m);
    if (isEnabledAdmin(s)) verified.push(m);
  }
  return verified.sort();
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

/**
 * Users' current states, kept in memory between requests and checked against the log on every
 * use, so authenticating costs the same for a user with 10 versions as for one with 10,000.
 *
 * Every request still asks the log: the user stream's current version (one indexed lookup of
 * its last row, nothing decoded) when the state was cached from this very store object and the
 * stream has not moved since; otherwise the stream from the cached version on (one indexed query
 * that normally returns just the commit the state is at). Commits after it are folded in, so a
 * role change, a disabled user or a changed password (which ends older tokens) takes effect on
 * the very next request, here and in every other process (their appends move the version). When
 * the store object is another one (reopened, or a tenant removed and created again under the
 * same id, a test's fresh store), the commit the state was cached at must still be in the log as
 * it was (same version, time and correlation id); otherwise the state is folded from the start
 * again. Nothing here is stored: a new process starts empty.
 */
import type { Commit } from '../../domain/events';
import type { CommitOf } from '../../domain/decider';
import { type UserEvent, type UserState, userDecider, userStreamId } from '../../domain/identity';
import type { EventStore } from '../../ports/event-store';
import type { Loaded } from '../command-handling/handle-command';
import { readStreamPages } from '../record-reader';

/** Users kept (least recently used go first); about half a kilobyte each. */
export const USER_CACHE_ENTRIES = 10_000;

interface Entry {
  state: UserState | undefined;
  version: number;
  /** The store object the state was read from ({@link storeSerial}). */
  store: number;
  /** The commit at `version`, to recognise the same log. */
  timestamp: string;
  correlationId: string;
}

const cache = new Map<string, Entry>();

const keyOf = (tenantId: string, userId: string) => `${tenantId}\u0000${userId}`;

/** A number per store object seen (held weakly: a closed store is not kept alive by the cache). */
const serials = new WeakMap<EventStore, number>();
let lastSerial = 0;
function storeSerial(events: EventStore): number {
  let n = serials.get(events);
  if (n === undefined) {
    n = ++lastSerial;
    serials.set(events, n);
  }
  return n;
}

/** The user's state and stream version, folded from the cached state where it still applies. */
export async function loadUserCached(events: EventStore, userId: string): Promise<Loaded<UserState | undefined>> {
  const key = keyOf(events.tenantId, userId);
  const streamId = userStreamId(userId);
  const cached = cache.get(key);
  const store = storeSerial(events);
  if (cached && cached.store === store && (await events.streamVersion(streamId)) === cached.version) {
    // Same store, nothing appended to the user's stream since: the cached state is current.
    cache.delete(key);
    cache.set(key, cached);
    return { state: cached.state, version: cached.version };
  }
  if (cached) {
    // The commit the state is at, and whatever came after it.
    let state = cached.state;
    let version = cached.version;
    let last: Commit | undefined;
    let same = false;
    for await (const page of readStreamPages(events, streamId, { fromVersion: cached.version })) {
      if (!last) {
        const head = page[0];
        same = head?.version === cached.version && head.timestamp === cached.timestamp && head.correlationId === cached.correlationId;
        if (!same) break;
        last = head;
      }
      for (const c of page) {
        if (c.version <= version) continue;
        state = userDecider.evolve(state, c as CommitOf<UserEvent>);
        version = c.version;
        last = c;
      }
    }
    if (same) {
      remember(key, store, state, last);
      return { state, version };
    }
    cache.delete(key);
  }
  let state: UserState | undefined;
  let version = 0;
  let last: Commit | undefined;
  for await (const page of readStreamPages(events, streamId)) {
    for (const c of page) {
      state = userDecider.evolve(state, c as CommitOf<UserEvent>);
      version = c.version;
      last = c;
    }
  }
  remember(key, store, state, last);
  return { state, version };
}

function remember(key: string, store: number, state: UserState | undefined, at: Commit | undefined): void {
  if (!at) return;
  const earlier = cache.get(key);
  // A slower concurrent load must not put an older state back.
  if (earlier && earlier.version > at.version) return;
  cache.delete(key);
  cache.set(key, { state, version: at.version, store, timestamp: at.timestamp, correlationId: at.correlationId });
  if (cache.size > USER_CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
}

/** Forgets every cached user of a tenant (its store went away). */
export function forgetCachedUsers(tenantId: string): void {
  const prefix = `${tenantId}\u0000`;
  for (const k of cache.keys()) if (k.startsWith(prefix)) cache.delete(k);
}

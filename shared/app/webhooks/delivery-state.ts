import { type FeedPosition, START } from '../feed/position';

/** One subscription's delivery progress (kept in the tenant's DeliveryPositionStore; no tenant data, no secret). */
export interface DeliveryState {
  position: FeedPosition;
  /** Failed attempts of the commit named by `attemptsFor` (the one being retried). */
  attempts: number;
  /** The delivery id (`stream@version`) whose failed attempts `attempts` counts. */
  attemptsFor?: string;
  /**
   * Failed attempts of commits set aside because the feed handed out another commit before
   * them on a retry (on Cosmos a commit of another partition key range can come first); by
   * delivery id, at most {@link MAX_ASIDE}. Without it, that other commit's success would
   * reset the retried commit's count and it would be tried more than the attempt limit.
   */
  attemptsAside?: Record<string, number>;
  delivered: number;
  parked: number;
  /** The last parked commits (newest last, at most 20): stream, version and why. */
  parkedItems: Array<{ streamId: string; version: number; error: string; at: string }>;
  lastError?: string;
  lastAttemptAt?: string;
  lastDeliveredAt?: string;
  nextAttemptAt?: string;
  /** The stream version of the last replay applied. */
  replayVersion: number;
}

const MAX_ASIDE = 20;

/** Makes `s.attempts` count the failed attempts of delivery `id` (see `attemptsAside`). */
export function countAttemptsOf(s: DeliveryState, id: string): void {
  if (s.attemptsFor === id) return;
  // A state saved before `attemptsFor` existed: its attempts are the commit it retries.
  if (s.attemptsFor === undefined && s.attempts > 0 && !s.attemptsAside) {
    s.attemptsFor = id;
    return;
  }
  const aside = { ...(s.attemptsAside ?? {}) };
  if (s.attemptsFor !== undefined && s.attempts > 0) aside[s.attemptsFor] = s.attempts;
  s.attempts = aside[id] ?? 0;
  delete aside[id];
  const keys = Object.keys(aside);
  for (const k of keys.slice(0, Math.max(0, keys.length - MAX_ASIDE))) delete aside[k];
  if (Object.keys(aside).length > 0) s.attemptsAside = aside;
  else delete s.attemptsAside;
  s.attemptsFor = id;
}

/** Delivery `id` is done with (delivered or parked): no attempts are counted for it any more. */
export function attemptsDone(s: DeliveryState): void {
  s.attempts = 0;
  delete s.attemptsFor;
}

export function initialState(position: FeedPosition = START): DeliveryState {
  return { position, attempts: 0, delivered: 0, parked: 0, parkedItems: [], replayVersion: 0 };
}

/** A saved state, or undefined when it is not one (then delivery starts afresh, never silently skips). */
export function parseState(raw: string | undefined): DeliveryState | undefined {
  if (!raw) return undefined;
  try {
    const s = JSON.parse(raw) as DeliveryState;
    if (typeof s !== 'object' || s === null || typeof s.position !== 'object' || s.position === null) return undefined;
    return s;
  } catch {
    return undefined;
  }
}

/**
 * The directory marks of the webhook worker (best effort, kept where the store keeps marks:
 * a file on the embedded store, memory on Cosmos): which tenants have subscriptions, so a
 * start looks at them at once. Marks of older versions held every subscription's state here;
 * those states are read once as the starting point of a subscription whose store has none.
 */
export function parseHint(raw: string): Record<string, DeliveryState> {
  try {
    const all = JSON.parse(raw) as unknown;
    return typeof all === 'object' && all !== null && !Array.isArray(all) ? (all as Record<string, DeliveryState>) : {};
  } catch {
    return {};
  }
}

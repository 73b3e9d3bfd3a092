/**
 * The retention calendar, pure: which chains of a tenant on a tier to keep, given the chains
 * found there, the policy and the instant `now` (passed in; no clock read here).
 *
 * Keeps the newest complete chain, any newer chain still being built, and per policy the newest
 * complete chain of each of the last `daily` days, `weekly` ISO weeks and `monthly` months (by
 * completion date). Every kept chain is a full history up to its end, so dropping older chains
 * never breaks a newer one.
 */
import type { ChainInfo } from './chain-format';

export interface RetentionPolicy {
  daily: number;
  weekly: number;
  monthly: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { daily: 14, weekly: 8, monthly: 12 };

const DAY_MS = 86_400_000;

type Period = 'day' | 'week' | 'month';

/** The calendar bucket of an instant: its UTC day, the Monday of its ISO week, or its month. */
export function periodOf(at: Date, kind: Period): string {
  if (kind === 'day') return at.toISOString().slice(0, 10);
  if (kind === 'month') return at.toISOString().slice(0, 7);
  const monday = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() - ((at.getUTCDay() + 6) % 7)));
  return monday.toISOString().slice(0, 10);
}

/** The chains to keep (ascending) and the ones to delete (in the order found). */
export function retentionPlan(all: readonly ChainInfo[], policy: RetentionPolicy, now: Date): { keep: number[]; drop: number[] } {
  const complete = all.filter((c) => c.complete);
  const newest = complete.at(-1);
  const keep = new Set<number>();
  if (newest) keep.add(newest.chain);
  for (const c of all) if (!c.complete && (!newest || c.chain > newest.chain)) keep.add(c.chain);
  const windows: Array<[Period, number, number]> = [
    ['day', policy.daily, DAY_MS],
    ['week', policy.weekly, 7 * DAY_MS],
    ['month', policy.monthly, 31 * DAY_MS],
  ];
  for (const [kind, count, span] of windows) {
    const seen = new Set<string>();
    for (const c of [...complete].reverse()) {
      if (now.getTime() - Date.parse(c.completedAt!) > count * span) continue;
      const b = periodOf(new Date(c.completedAt!), kind);
      if (seen.has(b)) continue;
      seen.add(b);
      keep.add(c.chain);
    }
  }
  return { keep: [...keep].sort((a, b) => a - b), drop: all.filter((c) => !keep.has(c.chain)).map((c) => c.chain) };
}

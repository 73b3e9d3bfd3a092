/**
 * A tenant's webhook subscriptions: one stream (`webhooks`) in the tenant's log, so
 * registering, changing, pausing, resuming, replaying and removing a subscription are audited
 * events with author and time. Pure decider: ids, the wrapped secret and the replay position
 * come in the command.
 */
import type { CommitOf, Decider } from './decider';
import { conflict, notFound, validation } from './errors';
import { assertNever } from './events';
import type { Change } from './json';

export const WEBHOOKS_STREAM = 'webhooks';
export const SUBSCRIPTION_ID = /^wh_[A-Za-z0-9_-]{22}$/;
/** Most subscriptions a tenant may hold (each one is delivery work for every change). */
export const MAX_SUBSCRIPTIONS = 20;

/** The subscription's secret, wrapped by the tenant's key (never in clear in the log). */
export interface WrappedSecret {
  keyId: string;
  algorithm: string;
  wrapped: string;
}

export interface Subscription {
  id: string;
  url: string;
  /** Only commits of these record types (null: all). */
  types: string[] | null;
  /** Only these event types (null: all). */
  events: string[] | null;
  status: 'active' | 'paused';
  secret: WrappedSecret;
  createdAt: string;
  updatedAt: string;
  /** The last replay asked for: deliver again from `from` (an unsealed feed position), asked at stream version `version`. */
  replay?: { from: string; version: number };
  /**
   * Set when the subscription came back with a restore (WebhooksRestored): it was paused then,
   * and delivery was set to start at the restored log's end. `secretKept`: its secret was
   * re-wrapped by the new tenant's key (false: it could not be, and it must be registered anew).
   */
  restored?: RestoredFrom;
}

/** Where a restored subscription came from. */
export interface RestoredFrom {
  /** The tenant whose backup was restored. */
  source: string;
  /** The restored state is the source's as of this instant. */
  restoredUntil: string;
  /** When the restore was made. */
  at: string;
  secretKept: boolean;
}

export interface WebhooksState {
  version: number;
  subscriptions: Record<string, Subscription>;
}

type Filters = { types?: string[] | null; events?: string[] | null };

export type WebhookCommand =
  | ({ kind: 'register'; id: string; url: string; secret: WrappedSecret } & Filters)
  | ({ kind: 'change'; id: string; url?: string } & Filters)
  | { kind: 'pause'; id: string }
  | { kind: 'resume'; id: string }
  | { kind: 'replay'; id: string; from: string }
  | { kind: 'remove'; id: string }
  /**
   * A restore brought the subscriptions back (into a new tenant, or the same id after a
   * disaster): every one is paused and gets its secret re-wrapped by the new tenant's key
   * (`secrets`; an id missing there keeps an old wrapping that no longer opens).
   */
  | { kind: 'restored'; source: string; restoredUntil: string; secrets: Record<string, WrappedSecret> };

export type WebhookEvent =
  | {
      type: 'WebhookRegistered';
      data: { id: string; url: string; types: string[] | null; events: string[] | null; secret: WrappedSecret; changes: Change[] };
    }
  | { type: 'WebhookChanged'; data: { id: string; url?: string; types?: string[] | null; events?: string[] | null; changes: Change[] } }
  | { type: 'WebhookPaused'; data: { id: string; changes: Change[] } }
  | { type: 'WebhookResumed'; data: { id: string; changes: Change[] } }
  | { type: 'WebhookReplayRequested'; data: { id: string; from: string; changes: Change[] } }
  | { type: 'WebhookRemoved'; data: { id: string; changes: Change[] } }
  | {
      type: 'WebhooksRestored';
      data: {
        source: string;
        restoredUntil: string;
        subscriptions: Array<{ id: string; secret: WrappedSecret | null }>;
        changes: Change[];
      };
    };

const path = (id: string, field: string) => `/subscriptions/${id}/${field}`;

function existing(state: WebhooksState, id: string): Subscription {
  const s = state.subscriptions[id];
  if (!s) throw notFound('No such subscription.');
  return s;
}

function decide(c: WebhookCommand, state: WebhooksState): WebhookEvent[] {
  switch (c.kind) {
    case 'register': {
      if (!SUBSCRIPTION_ID.test(c.id)) throw validation('Invalid subscription id.');
      if (state.subscriptions[c.id]) throw conflict('A subscription with this id exists.');
      if (Object.keys(state.subscriptions).length >= MAX_SUBSCRIPTIONS)
        throw conflict(`A tenant holds at most ${MAX_SUBSCRIPTIONS} subscriptions; remove one first.`);
      const types = c.types ?? null;
      const events = c.events ?? null;
      return [
        {
          type: 'WebhookRegistered',
          data: {
            id: c.id,
            url: c.url,
            types,
            events,
            secret: c.secret,
            changes: [
              { path: path(c.id, 'url'), new: c.url },
              { path: path(c.id, 'types'), new: types },
              { path: path(c.id, 'events'), new: events },
            ],
          },
        },
      ];
    }
    case 'change': {
      const s = existing(state, c.id);
      const changes: Change[] = [];
      const data: Extract<WebhookEvent, { type: 'WebhookChanged' }>['data'] = { id: c.id, changes };
      if (c.url !== undefined && c.url !== s.url) {
        data.url = c.url;
        changes.push({ path: path(c.id, 'url'), old: s.url, new: c.url });
      }
      for (const f of ['types', 'events'] as const) {
        const v = c[f];
        if (v !== undefined && JSON.stringify(v) !== JSON.stringify(s[f])) {
          data[f] = v;
          changes.push({ path: path(c.id, f), old: s[f], new: v });
        }
      }
      return changes.length ? [{ type: 'WebhookChanged', data }] : [];
    }
    case 'pause':
      return existing(state, c.id).status === 'paused'
        ? []
        : [{ type: 'WebhookPaused', data: { id: c.id, changes: [{ path: path(c.id, 'status'), old: 'active', new: 'paused' }] } }];
    case 'resume': {
      const s = existing(state, c.id);
      if (s.status === 'paused' && s.restored && !s.restored.secretKept)
        throw conflict(
          `This subscription came back with a restore of ${s.restored.source}, but its secret could not be carried over; remove it and register it again (a new secret is shown then).`,
        );
      return s.status === 'active'
        ? []
        : [{ type: 'WebhookResumed', data: { id: c.id, changes: [{ path: path(c.id, 'status'), old: 'paused', new: 'active' }] } }];
    }
    case 'replay':
      existing(state, c.id);
      return [
        { type: 'WebhookReplayRequested', data: { id: c.id, from: c.from, changes: [{ path: path(c.id, 'replay'), new: 'requested' }] } },
      ];
    case 'remove':
      existing(state, c.id);
      return [{ type: 'WebhookRemoved', data: { id: c.id, changes: [{ path: path(c.id, 'url'), old: existing(state, c.id).url }] } }];
    case 'restored': {
      const subs = Object.values(state.subscriptions);
      if (subs.length === 0) return [];
      return [
        {
          type: 'WebhooksRestored',
          data: {
            source: c.source,
            restoredUntil: c.restoredUntil,
            subscriptions: subs.map((s) => ({ id: s.id, secret: c.secrets[s.id] ?? null })),
            changes: subs.filter((s) => s.status !== 'paused').map((s) => ({ path: path(s.id, 'status'), old: s.status, new: 'paused' })),
          },
        },
      ];
    }
    default:
      return assertNever(c, 'webhook command');
  }
}

function evolve(state: WebhooksState, commit: CommitOf<WebhookEvent>): WebhooksState {
  const subscriptions = { ...state.subscriptions };
  for (const e of commit.events) {
    const at = commit.timestamp;
    switch (e.type) {
      case 'WebhookRegistered': {
        const { id, url, types, events, secret } = e.data;
        subscriptions[id] = { id, url, types, events, secret, status: 'active', createdAt: at, updatedAt: at };
        break;
      }
      case 'WebhookChanged': {
        const s = subscriptions[e.data.id];
        if (!s) break;
        subscriptions[e.data.id] = {
          ...s,
          ...(e.data.url !== undefined ? { url: e.data.url } : {}),
          ...(e.data.types !== undefined ? { types: e.data.types } : {}),
          ...(e.data.events !== undefined ? { events: e.data.events } : {}),
          updatedAt: at,
        };
        break;
      }
      case 'WebhookPaused':
      case 'WebhookResumed': {
        const s = subscriptions[e.data.id];
        if (s) subscriptions[e.data.id] = { ...s, status: e.type === 'WebhookPaused' ? 'paused' : 'active', updatedAt: at };
        break;
      }
      case 'WebhookReplayRequested': {
        const s = subscriptions[e.data.id];
        if (s) subscriptions[e.data.id] = { ...s, replay: { from: e.data.from, version: commit.version }, updatedAt: at };
        break;
      }
      case 'WebhookRemoved':
        delete subscriptions[e.data.id];
        break;
      case 'WebhooksRestored':
        for (const r of e.data.subscriptions) {
          const s = subscriptions[r.id];
          if (!s) continue;
          const restored: RestoredFrom = { source: e.data.source, restoredUntil: e.data.restoredUntil, at, secretKept: r.secret !== null };
          subscriptions[r.id] = { ...s, status: 'paused', ...(r.secret ? { secret: r.secret } : {}), restored, updatedAt: at };
        }
        break;
      default:
        assertNever(e, 'webhook event');
    }
  }
  return { version: commit.version, subscriptions };
}

export const webhooksDecider: Decider<WebhookCommand, WebhookEvent, WebhooksState> = {
  decide,
  evolve,
  initialState: () => ({ version: 0, subscriptions: {} }),
};

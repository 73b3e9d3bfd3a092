/**
 * A tenant admin's webhook subscriptions: register (the secret is shown once), change,
 * pause, resume, replay from a position, remove — each a command on the `webhooks` stream
 * through handleCommand, so each is an audited event — and their delivery status.
 */
import { randomBytes } from 'node:crypto';
import { notFound, validation } from '../../domain/errors';
import {
  type RestoredFrom,
  type Subscription,
  SUBSCRIPTION_ID,
  type WebhookCommand,
  WEBHOOKS_STREAM,
  webhooksDecider,
} from '../../domain/webhooks';
import type { EventStore } from '../../ports/event-store';
import type { KeyProvider } from '../../ports/key-provider';
import type { OneTenantStores, TenantStores } from '../../ports/tenant-stores';
import { requirePermission, type UserPrincipal } from '../auth/principal';
import { foldStream, handleCommand } from '../command-handling/handle-command';
import { type FeedPosition, openPosition, sealPosition } from '../feed/position';
import { author } from '../records/context';
import type { CommandOptions } from '../request';
import { checkTargetUrl, type TargetPolicy } from './target';
import type { DeliveryState, WebhookWorker } from './worker';

export interface SubscriptionDeps {
  stores: TenantStores;
  keys: KeyProvider;
  worker: WebhookWorker;
  policy: TargetPolicy;
}

export interface SubscriptionInput {
  url?: string;
  types?: string[] | null;
  events?: string[] | null;
  status?: 'active' | 'paused';
}

export interface SubscriptionView {
  id: string;
  url: string;
  types: string[] | null;
  events: string[] | null;
  status: 'active' | 'paused';
  createdAt: string;
  updatedAt: string;
  /** Set when the subscription came back with a restore (paused then, delivery at the restored log's end). */
  restored: RestoredFrom | null;
  delivery: {
    /** Where delivery stands (a change-feed position; pass it to replay or to the pull feed). */
    position: string | null;
    /** Commits after the position (null where the store cannot count, e.g. Cosmos). */
    lag: number | null;
    delivered: number;
    attempts: number;
    parked: number;
    parkedItems: DeliveryState['parkedItems'];
    lastError: string | null;
    lastAttemptAt: string | null;
    lastDeliveredAt: string | null;
    nextAttemptAt: string | null;
  };
}

export class WebhookSubscriptions {
  constructor(private readonly d: SubscriptionDeps) {}

  async register(
    p: UserPrincipal,
    input: SubscriptionInput,
    o: CommandOptions,
  ): Promise<{ subscription: SubscriptionView; secret: string }> {
    requirePermission(p, 'manage');
    if (input.url === undefined) throw validation('url is required.', [{ path: '/url', message: 'is required' }]);
    const url = checkTargetUrl(input.url, this.d.policy);
    return this.d.stores.use(p.tenantId, async (s) => {
      const id = `wh_${randomBytes(16).toString('base64url')}`;
      const secret = randomBytes(32);
      try {
        const wrapped = await this.d.keys.wrapKey(s.keyName, secret, o.abortSignal ? { abortSignal: o.abortSignal } : {});
        // Delivery starts where the log ends now, and that start is saved before the
        // registration is appended: a commit another writer appends meanwhile is delivered (a
        // few commits from just before the registration at most, never a gap), and a crash
        // after the append finds the start saved instead of beginning at the log's start.
        await this.d.worker.begin(p.tenantId, id, await endOfFeed(s.events));
        let r: Awaited<ReturnType<typeof this.command>>;
        try {
          r = await this.command(
            p,
            s,
            { kind: 'register', id, url, secret: wrapped, types: input.types ?? null, events: input.events ?? null },
            o,
          );
        } catch (e) {
          await this.d.worker.abandon(p.tenantId, id);
          throw e;
        }
        this.d.worker.kick(p.tenantId);
        const sub = r.subscriptions[id]!;
        return { subscription: await this.view(s, sub), secret: secret.toString('base64url') };
      } finally {
        secret.fill(0);
      }
    });
  }

  async list(p: UserPrincipal): Promise<SubscriptionView[]> {
    requirePermission(p, 'manage');
    return this.d.stores.use(p.tenantId, async (s) => {
      const { state } = await foldStream(s.events, WEBHOOKS_STREAM, webhooksDecider);
      const out: SubscriptionView[] = [];
      for (const sub of Object.values(state.subscriptions)) out.push(await this.view(s, sub));
      return out;
    });
  }

  async get(p: UserPrincipal, id: string): Promise<SubscriptionView> {
    requirePermission(p, 'manage');
    return this.d.stores.use(p.tenantId, async (s) => this.view(s, await existing(s, id)));
  }

  /** Changes url/filters and pauses or resumes, as one or two audited events. */
  async update(p: UserPrincipal, id: string, input: SubscriptionInput, o: CommandOptions): Promise<SubscriptionView> {
    requirePermission(p, 'manage');
    const url = input.url !== undefined ? checkTargetUrl(input.url, this.d.policy) : undefined;
    return this.d.stores.use(p.tenantId, async (s) => {
      await existing(s, id);
      let state = await this.command(
        p,
        s,
        {
          kind: 'change',
          id,
          ...(url !== undefined ? { url } : {}),
          ...(input.types !== undefined ? { types: input.types } : {}),
          ...(input.events !== undefined ? { events: input.events } : {}),
        },
        o,
      );
      if (input.status === 'paused') state = await this.command(p, s, { kind: 'pause', id }, withoutKey(o));
      if (input.status === 'active') state = await this.command(p, s, { kind: 'resume', id }, withoutKey(o));
      this.d.worker.kick(p.tenantId);
      return this.view(s, state.subscriptions[id]!);
    });
  }

  /** Delivers again from `from` (a change-feed position of this tenant). */
  async replay(p: UserPrincipal, id: string, from: string, o: CommandOptions): Promise<SubscriptionView> {
    requirePermission(p, 'manage');
    return this.d.stores.use(p.tenantId, async (s) => {
      await existing(s, id);
      const position = await openPosition(s.continuations, from, 'from');
      const state = await this.command(p, s, { kind: 'replay', id, from: JSON.stringify(position) }, o);
      this.d.worker.kick(p.tenantId);
      return this.view(s, state.subscriptions[id]!);
    });
  }

  async remove(p: UserPrincipal, id: string, o: CommandOptions): Promise<void> {
    requirePermission(p, 'manage');
    await this.d.stores.use(p.tenantId, async (s) => {
      await existing(s, id);
      await this.command(p, s, { kind: 'remove', id }, o);
      this.d.worker.kick(p.tenantId);
    });
  }

  private async command(p: UserPrincipal, s: OneTenantStores, c: WebhookCommand, o: CommandOptions) {
    const r = await handleCommand(s.events, WEBHOOKS_STREAM, webhooksDecider, c, {
      meta: { author: author(p), correlationId: o.correlationId },
      ...(o.idempotency ? { idempotency: o.idempotency } : {}),
      retries: 3,
      ...(o.abortSignal ? { abortSignal: o.abortSignal } : {}),
    });
    return r.state;
  }

  private async view(s: OneTenantStores, sub: Subscription): Promise<SubscriptionView> {
    const d = await this.d.worker.state(s.tenantId, sub.id);
    let lag: number | null = null;
    if (d) {
      const l = await s.events.feedLag(d.position.c);
      lag = l.commits === null ? null : Math.max(0, l.commits - d.position.n);
    }
    return {
      id: sub.id,
      url: sub.url,
      types: sub.types,
      events: sub.events,
      status: sub.status,
      createdAt: sub.createdAt,
      updatedAt: sub.updatedAt,
      restored: sub.restored ?? null,
      delivery: {
        position: d ? await sealPosition(s.continuations, d.position) : null,
        lag,
        delivered: d?.delivered ?? 0,
        attempts: d?.attempts ?? 0,
        parked: d?.parked ?? 0,
        parkedItems: d?.parkedItems ?? [],
        lastError: d?.lastError ?? null,
        lastAttemptAt: d?.lastAttemptAt ?? null,
        lastDeliveredAt: d?.lastDeliveredAt ?? null,
        nextAttemptAt: d?.nextAttemptAt ?? null,
      },
    };
  }
}

const withoutKey = (o: CommandOptions): CommandOptions => ({
  correlationId: o.correlationId,
  ...(o.abortSignal ? { abortSignal: o.abortSignal } : {}),
});

async function existing(s: OneTenantStores, id: string): Promise<Subscription> {
  if (!SUBSCRIPTION_ID.test(id)) throw notFound('No such subscription.');
  const { state } = await foldStream(s.events, WEBHOOKS_STREAM, webhooksDecider);
  const sub = state.subscriptions[id];
  if (!sub) throw notFound('No such subscription.');
  return sub;
}

/**
 * Where the tenant's feed ends now (a new subscription starts there): from the store at once
 * where it can say (both stores can), else by reading the feed through.
 */
export async function endOfFeed(events: EventStore): Promise<FeedPosition> {
  if (events.endCheckpoint) return { c: await events.endCheckpoint(), n: 0, h: '', b: 0 };
  let c: string | undefined;
  for (;;) {
    const page = await events.readFeed(c, { maxCount: 1000 });
    c = page.checkpoint;
    if (page.commits.length < 1000) return { c, n: 0, h: '', b: 0 };
  }
}

/**
 * Webhook delivery follows the tenant's lifecycle (services in this process on the embedded
 * store and on the Cosmos adapter with the in-process change-feed stand-in, a local HTTP
 * receiver): a suspended tenant or one scheduled for deletion gets no delivery attempts
 * (counted at the receiver and in the worker's activity, not timed), and its pending commits
 * arrive in order once it is resumed or the deletion is cancelled (from the saved position);
 * after the tenant is shredded the worker holds nothing for it: no runner, no timer, no entry,
 * no file handle (embedded: read from /proc/self/fd), no place in its list of tenants.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { releaseClosedDatabasesNow } from '../../../shared/adapters/embedded/libsql-release';
import type { UserPrincipal } from '../../../shared/app/service';
import type { WebhookActivity } from '../../../shared/app/webhooks/worker';
import type { Services } from '../../../shared/config/services';
import { type Delivery, signIn, tenantWithItems, WEBHOOK_TEST_OPERATOR as op, webhookWorld } from '../../support/webhook-world';

const req = { correlationId: 'webhooks-lifecycle' };
/** The services and the receiver's URL of the store under test (each describe block sets them up in turn). */
let s: Services;
let url = '';
/** Per tenant: every request as `recordId@version`, and the ones answered 200. */
const hits = new Map<string, string[]>();
const delivered = new Map<string, string[]>();
/** Tenants whose receiver answers 503 for now. */
const down = new Set<string>();
const activity: WebhookActivity[] = [];

/** The receiver: counts every request, answers 503 for a tenant that is down, 200 otherwise. */
function onDelivery({ json, res }: Delivery): void {
  const key = `${json.commit.recordId}@${json.commit.version}`;
  const t = json.tenant as string;
  hits.set(t, [...(hits.get(t) ?? []), key]);
  if (down.has(t)) return void res.writeHead(503).end();
  delivered.set(t, [...(delivered.get(t) ?? []), key]);
  res.writeHead(200).end();
}

/** A tenant with a type and a subscription to the receiver. */
async function tenantWithHook(id: string): Promise<{ admin: UserPrincipal; subscriptionId: string }> {
  const admin = await tenantWithItems(s, id, req);
  const r = await s.webhooks.register(admin, { url }, req);
  return { admin, subscriptionId: r.subscription.id };
}

/** Three commits (a@1, b@1, a@2) while the receiver answers 503; returns them in log order once retries are going. */
async function pendingCommits(id: string, admin: UserPrincipal): Promise<string[]> {
  down.add(id);
  const a = (await s.records.createRecord(admin, { type: 'item', data: { n: 1 } }, req)).record.id;
  const b = (await s.records.createRecord(admin, { type: 'item', data: { n: 2 } }, req)).record.id;
  await s.records.patchRecord(admin, { type: 'item', id: a, patch: { n: 3 }, ifMatch: 1 }, req);
  // A commit has been refused at least twice (the first in feed order: a@1 on embedded; on
  // Cosmos whichever record's range comes first): the subscription is retrying.
  await vi.waitFor(
    () => {
      const got = hits.get(id) ?? [];
      expect(got.length - new Set(got).size).toBeGreaterThanOrEqual(1);
    },
    { timeout: 30_000 },
  );
  return [`${a}@1`, `${b}@1`, `${a}@2`];
}

const count = (id: string, kinds: WebhookActivity['kind'][]) => activity.filter((a) => a.tenantId === id && kinds.includes(a.kind)).length;

/**
 * The tenant is no longer served: wait until the worker stood it by and nothing of it is busy,
 * then let the worker look at it three more times (as the sweep and appends would) and wait
 * until the retry the subscription had saved is past due. Over all of it: no run, no attempt,
 * no request at the receiver.
 */
async function expectNoDeliveryWork(id: string, subscriptionId: string) {
  await vi.waitFor(
    () => {
      expect(count(id, ['standby'])).toBeGreaterThan(0);
      expect(s.webhookWorker.holding(id).busy).toBe(0);
    },
    { timeout: 30_000 },
  );
  const runs = count(id, ['run', 'attempt']);
  const requests = (hits.get(id) ?? []).length;
  for (let i = 0; i < 3; i++) {
    const looked = count(id, ['standby']);
    s.webhookWorker.kick(id);
    await vi.waitFor(() => expect(count(id, ['standby'])).toBeGreaterThan(looked), { timeout: 10_000 });
  }
  const saved = await s.webhookWorker.state(id, subscriptionId);
  expect(saved?.attempts).toBeGreaterThan(0);
  const due = Date.parse(saved?.nextAttemptAt ?? new Date().toISOString());
  await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now()) + 300));
  expect(count(id, ['run', 'attempt'])).toBe(runs);
  expect((hits.get(id) ?? []).length).toBe(requests);
  return saved!;
}

describe.each(['embedded', 'cosmos'] as const)('webhook deliveries follow the tenant lifecycle (%s store)', (store) => {
  /** Tenant ids of this block (the receiver's tallies are per tenant). */
  const P = store === 'embedded' ? '' : 'c-';
  const [ACME, GLOBEX, INITECH] = [`${P}acme`, `${P}globex`, `${P}initech`];

  const world = webhookWorld(store, {
    prefix: `webhooks-lifecycle-${store}`,
    onDelivery,
    env: {
      WEBHOOK_RETRY_BASE_MS: '50',
      WEBHOOK_MAX_ATTEMPTS: '50',
      // Shredded at the next run of the shredder (called by the test).
      TENANT_DELETION_GRACE_DAYS: '0',
    },
    observe: (a) => activity.push(a),
  });
  const { dir } = world;
  beforeAll(() => {
    s = world.s;
    url = world.url;
  });

  /**
   * Exactly the pending commits, once each. Embedded: in log order. Cosmos: its feed is ordered
   * per record (partition key), not across records, so each record's own commits in order.
   */
  const expectInOrder = (got: string[] | undefined, pending: string[]) => {
    if (store === 'embedded') return expect(got).toEqual(pending);
    expect([...(got ?? [])].sort()).toEqual([...pending].sort());
    const perRecord = (l: string[]) => l.filter((k) => k.startsWith(pending[0]!.split('@')[0]!));
    expect(perRecord(got ?? [])).toEqual(perRecord(pending));
  };

  it('a suspended tenant gets no delivery attempts; resumed, its pending commits arrive in order', { timeout: 120_000 }, async () => {
    const { admin, subscriptionId } = await tenantWithHook(ACME);
    const pending = await pendingCommits(ACME, admin);
    await s.tenants.setSuspended(ACME, true, op, req);
    const saved = await expectNoDeliveryWork(ACME, subscriptionId);
    down.delete(ACME);
    await s.tenants.setSuspended(ACME, false, op, req);
    await vi.waitFor(() => expectInOrder(delivered.get(ACME), pending), { timeout: 30_000 });
    // From the saved position: the attempts made before the suspension are still counted (saved
    // once the worker has the receiver's answer, which can come after the receiver counted it).
    const after = await vi.waitFor(
      async () => {
        const state = await s.webhookWorker.state(ACME, subscriptionId);
        expect(state).toMatchObject({ delivered: 3, attempts: 0, parked: 0 });
        return state;
      },
      { timeout: 30_000 },
    );
    expect(after?.lastError).toBe(saved.lastError);
  });

  it('scheduled for deletion: no attempts; the deletion cancelled: the pending commits arrive in order', { timeout: 120_000 }, async () => {
    const { admin, subscriptionId } = await tenantWithHook(GLOBEX);
    const pending = await pendingCommits(GLOBEX, admin);
    await s.offboarding.scheduleDeletion(GLOBEX, op, req);
    await expectNoDeliveryWork(GLOBEX, subscriptionId);
    down.delete(GLOBEX);
    await s.offboarding.cancelDeletion(GLOBEX, op, req);
    await vi.waitFor(() => expectInOrder(delivered.get(GLOBEX), pending), { timeout: 30_000 });
    await vi.waitFor(async () => expect(await s.webhookWorker.state(GLOBEX, subscriptionId)).toMatchObject({ delivered: 3, attempts: 0 }), {
      timeout: 30_000,
    });
  });

  it('shredded: the worker holds nothing for the tenant, and looking at it again does no work', { timeout: 120_000 }, async () => {
    const { admin, subscriptionId } = await tenantWithHook(INITECH);
    await pendingCommits(INITECH, admin);
    expect(s.webhookWorker.holding(INITECH)).toMatchObject({ entry: true, runners: 1, listed: true });
    await s.offboarding.scheduleDeletion(INITECH, op, req);
    await expectNoDeliveryWork(INITECH, subscriptionId);
    const results = await s.offboarding.shredDue(req);
    expect(results.find((r) => r.tenant === INITECH)?.status).toBe('complete');
    // The sweep (or a stray signal) looks at it once more: it is gone, so everything is let go.
    s.webhookWorker.kick(INITECH);
    await vi.waitFor(() => expect(count(INITECH, ['dropped'])).toBeGreaterThan(0), { timeout: 10_000 });
    await vi.waitFor(() =>
      expect(s.webhookWorker.holding(INITECH)).toEqual({ entry: false, looking: false, runners: 0, busy: 0, listed: false, slots: false }),
    );
    const requests = (hits.get(INITECH) ?? []).length;
    const runs = count(INITECH, ['run', 'attempt', 'standby']);
    for (let i = 0; i < 3; i++) {
      const dropped = count(INITECH, ['dropped']);
      s.webhookWorker.kick(INITECH);
      await vi.waitFor(() => expect(count(INITECH, ['dropped'])).toBeGreaterThan(dropped), { timeout: 10_000 });
    }
    expect(count(INITECH, ['run', 'attempt', 'standby'])).toBe(runs);
    expect((hits.get(INITECH) ?? []).length).toBe(requests);
    expect(s.webhookWorker.holding(INITECH)).toEqual({ entry: false, looking: false, runners: 0, busy: 0, listed: false, slots: false });
    // No file of the shredded tenant stays open in this process (a closed libSQL database lets
    // go of its files once its statements are collected: nothing may still reference them).
    const tenantDir = join(dir, 'tenants', INITECH);
    const openFiles = (): string[] =>
      store !== 'embedded'
        ? []
        : readdirSync('/proc/self/fd')
            .map((fd) => {
              try {
                return readlinkSync(join('/proc/self/fd', fd));
              } catch {
                return '';
              }
            })
            .filter((p) => p.startsWith(tenantDir));
    await vi.waitFor(
      () => {
        releaseClosedDatabasesNow();
        expect(openFiles()).toEqual([]);
      },
      { timeout: 15_000, interval: 500 },
    );
    // The other tenants still deliver.
    const acme = await signIn(s, ACME);
    const id = (await s.records.createRecord(acme, { type: 'item', data: { after: true } }, req)).record.id;
    await vi.waitFor(() => expect(delivered.get(ACME)).toContain(`${id}@1`), { timeout: 30_000 });
  });
});

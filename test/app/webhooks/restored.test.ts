/**
 * A restored tenant's webhook subscriptions (embedded services in this process, a local HTTP
 * receiver): the restore brings them back paused, at the restored log's end, saying so in their
 * status and in one audited WebhooksRestored commit; nothing is sent by the copy until an
 * admin resumes it, and then only what the copy records afterwards, signed with the same
 * secret (re-wrapped by the copy's key). A replay asked for in the source before the backup is
 * not applied again in the copy. The source tenant goes on delivering as before. Run on the
 * embedded store and on the Cosmos adapter (in-process change-feed stand-in), whose positions
 * are change-feed continuations.
 */
import { describe, expect, it, vi } from 'vitest';
import { verify } from '../../../shared/app/webhooks/signature';
import type { WebhookActivity } from '../../../shared/app/webhooks/worker';
import { signIn as signInAs, tenantWithItems, WEBHOOK_TEST_OPERATOR as op, webhookWorld } from '../../support/webhook-world';

const req = { correlationId: 'webhooks-restored' };
interface Hit {
  tenant: string;
  key: string;
  ok: boolean;
}
const hits: Hit[] = [];
const activity: WebhookActivity[] = [];

let secret = Buffer.alloc(0);
const of = (t: string) => hits.filter((h) => h.tenant === t);

describe.each(['embedded', 'cosmos'] as const)('on the %s store', (store) => {
  const world = webhookWorld(store, {
    prefix: `webhooks-restored-${store}`,
    // Checks each delivery's signature with the subscription's secret: 200 if it holds, 401 if not.
    onDelivery: ({ json, body, headers, res }) => {
      const ok = verify(
        secret,
        Number(headers['x-ledger-timestamp']),
        String(headers['x-ledger-subscription']),
        body,
        String(headers['x-ledger-signature']),
      );
      hits.push({ tenant: json.tenant, key: `${json.commit.recordId}@${json.commit.version}`, ok });
      res.writeHead(ok ? 200 : 401).end();
    },
    env: { WEBHOOK_RETRY_BASE_MS: '50' },
    observe: (a) => activity.push(a),
  });
  const T = store === 'embedded' ? 'acme' : 'cosmo';
  const COPY = `${T}-copy`;
  /** The source's admin, who is also the copy's (the restore brings the users along). */
  const signIn = (t: string) => signInAs(world.s, t, 'admin@acme.test');
  /** Keys in arrival order; on Cosmos sorted (its feed orders per record, not across records). */
  const keys = (t: string) => {
    const k = of(t).map((h) => h.key);
    return store === 'cosmos' ? k.sort() : k;
  };

  it('a restored subscription starts paused at the restored log’s end, says so, and delivers only later changes once resumed', {
    timeout: 180_000,
  }, async () => {
    const { s, url } = world;
    const admin = await tenantWithItems(s, T, req, 'admin@acme.test');
    const reg = await s.webhooks.register(admin, { url }, req);
    secret = Buffer.from(reg.secret, 'base64url');
    const id = reg.subscription.id;
    const p0 = (await s.webhooks.get(admin, id)).delivery.position!;
    const a = (await s.records.createRecord(admin, { type: 'item', data: { n: 1 } }, req)).record.id;
    const b = (await s.records.createRecord(admin, { type: 'item', data: { n: 2 } }, req)).record.id;
    await vi.waitFor(() => expect([...keys(T)].sort()).toEqual([`${a}@1`, `${b}@1`].sort()), { timeout: 30_000 });
    // The embedded log is one order: a's commit, then b's (ids are random, so not sorted ones).
    if (store === 'embedded') expect(keys(T)).toEqual([`${a}@1`, `${b}@1`]);
    // A replay in the source from before a and b (both delivered again): its position is the
    // source's, so the copy must not apply it when resumed.
    await s.webhooks.replay(admin, id, p0, req);
    await vi.waitFor(() => expect(keys(T).sort()).toEqual([`${a}@1`, `${a}@1`, `${b}@1`, `${b}@1`].sort()), { timeout: 30_000 });
    expect(of(T).every((h) => h.ok)).toBe(true);

    for (const r of await s.backups.backupAllTiers(T)) expect(r.ok, r.tier).toBe(true);
    const restored = await s.backups.restore(
      op,
      { tenant: T, target: s.backups.target('own-cloud'), asOf: new Date(), into: COPY },
      { ...req, acceptPartial: true },
    );
    expect(restored.id).toBe(COPY);

    // The worker looked at the copy (its status became ready) and ran the subscription: paused, nothing sent.
    await vi.waitFor(
      () => {
        expect(activity.some((x) => x.tenantId === COPY && x.kind === 'run')).toBe(true);
        expect(s.webhookWorker.holding(COPY).busy).toBe(0);
      },
      { timeout: 30_000 },
    );
    expect(activity.filter((x) => x.tenantId === COPY && x.kind === 'attempt')).toEqual([]);
    expect(of(COPY)).toEqual([]);

    const copyAdmin = await signIn(COPY);
    const view = await s.webhooks.get(copyAdmin, id);
    expect(view).toMatchObject({
      status: 'paused',
      url,
      restored: { source: T, restoredUntil: restored.restoredUntil, secretKept: true },
      delivery: { delivered: 0, attempts: 0, parked: 0, lag: store === 'cosmos' ? null : 0 },
    });
    expect(view.delivery.position).not.toBeNull();
    // Audited in the copy's log, by the operator who restored it.
    const audit = await s.records.audit(copyAdmin, { limit: 500 });
    const entry = audit.items.find((e) => e.eventType === 'WebhooksRestored');
    expect(entry).toMatchObject({ author: { kind: 'operator', id: op.id } });
    expect(JSON.stringify(audit)).not.toContain('"wrapped"');

    // Resumed: nothing old comes (the position is the restored log's end), then a new change does, signed with the same secret.
    await s.webhooks.update(copyAdmin, id, { status: 'active' }, req);
    const c = (await s.records.createRecord(copyAdmin, { type: 'item', data: { n: 3 } }, req)).record.id;
    await vi.waitFor(() => expect(keys(COPY)).toEqual([`${c}@1`]), { timeout: 30_000 });
    expect(of(COPY).every((h) => h.ok)).toBe(true);
    // Counted once the worker has saved the answer (after the receiver saw the request).
    await vi.waitFor(async () => expect((await s.webhooks.get(copyAdmin, id)).delivery).toMatchObject({ delivered: 1, attempts: 0 }), {
      timeout: 30_000,
    });

    // The source is untouched: still active, and it delivers its own new changes.
    const d = (await s.records.createRecord(admin, { type: 'item', data: { n: 4 } }, req)).record.id;
    await vi.waitFor(() => expect(of(T).map((h) => h.key)).toContain(`${d}@1`), { timeout: 30_000 });
    expect((await s.webhooks.get(admin, id)).restored).toBeNull();
    expect(of(COPY).map((h) => h.key)).toEqual([`${c}@1`]);
  });
});

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
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningCosmosStandin, startLocalCosmos } from '../../../host/cosmos-standin';
import type { UserPrincipal } from '../../../shared/app/service';
import { verify } from '../../../shared/app/webhooks/signature';
import type { WebhookActivity } from '../../../shared/app/webhooks/worker';
import { loadConfig } from '../../../shared/config';
import { createServices, type Services } from '../../../shared/config/services';
import { freePort } from '../../support/net';

const PW = 'a long enough password';
const req = { correlationId: 'webhooks-restored' };
const op = { id: 'operator-key:test' };
let receiver: Server;
let url = '';
interface Hit {
  tenant: string;
  key: string;
  ok: boolean;
}
const hits: Hit[] = [];
const activity: WebhookActivity[] = [];

beforeAll(async () => {
  receiver = createServer((rq, rs) => {
    const chunks: Buffer[] = [];
    rq.on('data', (c: Buffer) => chunks.push(c));
    rq.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const json = JSON.parse(body);
      const ok = verify(
        secret,
        Number(rq.headers['x-ledger-timestamp']),
        String(rq.headers['x-ledger-subscription']),
        body,
        String(rq.headers['x-ledger-signature']),
      );
      hits.push({ tenant: json.tenant, key: `${json.commit.recordId}@${json.commit.version}`, ok });
      rs.writeHead(ok ? 200 : 401).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
});

let secret = Buffer.alloc(0);
const of = (t: string) => hits.filter((h) => h.tenant === t);

describe.each(['embedded', 'cosmos'] as const)('on the %s store', (store) => {
  const dir = mkdtempSync(join(tmpdir(), `webhooks-restored-${store}-`));
  let s: Services;
  let cosmos: RunningCosmosStandin | undefined;
  const T = store === 'embedded' ? 'acme' : 'cosmo';
  const COPY = `${T}-copy`;
  const signIn = async (t: string): Promise<UserPrincipal> =>
    s.tenants.authenticate(t, `Bearer ${(await s.tenants.login({ tenantId: t, email: 'admin@acme.test', password: PW })).access_token}`);
  /** Keys in arrival order; on Cosmos sorted (its feed orders per record, not across records). */
  const keys = (t: string) => {
    const k = of(t).map((h) => h.key);
    return store === 'cosmos' ? k.sort() : k;
  };

  beforeAll(async () => {
    const env: Record<string, string> = {
      DATA_DIR: dir,
      LOCAL_BLOB: 'off',
      PASSWORD_SCRYPT_LOG_N: '14',
      WEBHOOK_ALLOW_HTTP: 'on',
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'on',
      WEBHOOK_RETRY_BASE_MS: '50',
    };
    if (store === 'cosmos') {
      const port = await freePort();
      cosmos = await startLocalCosmos(port, 'tenants');
      Object.assign(env, { STORE: 'cosmos-standin', COSMOS_STANDIN_PORT: String(port) });
    }
    s = await createServices(loadConfig(env));
    s.webhookWorker.observe((a) => activity.push(a));
  }, 120_000);

  afterAll(async () => {
    await s?.close();
    await cosmos?.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('a restored subscription starts paused at the restored log’s end, says so, and delivers only later changes once resumed', {
    timeout: 180_000,
  }, async () => {
    await s.tenants.createTenant(op, { id: T, name: T, admin: { email: 'admin@acme.test', password: PW } }, req);
    const admin = await signIn(T);
    await s.records.defineType(admin, { type: 'item', schema: { type: 'object' } }, req);
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

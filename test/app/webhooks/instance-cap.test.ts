/**
 * The instance-wide cap on webhook deliveries in flight, with the real worker (embedded
 * services in this process) and a receiver that holds every request until the test answers it:
 * with WEBHOOK_INSTANCE_CONCURRENCY=2, one tenant with four subscriptions and five tenants with
 * one each never have more than two requests open at once; the freed slots go to the tenants in
 * turn (the five small tenants are served before the big tenant's fourth delivery, which a
 * first-come order would have sent first); every delivery arrives. Counted, not timed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { UserPrincipal } from '../../../shared/app/service';
import { loadConfig } from '../../../shared/config';
import { createServices, type Services } from '../../../shared/config/services';

const PW = 'a long enough password';
const req = { correlationId: 'webhooks-instance-cap' };
const op = { id: 'operator-key:test' };
const dir = mkdtempSync(join(tmpdir(), 'webhooks-cap-'));
const CAP = 2;
let s: Services;
let receiver: Server;
let url = '';
/** Requests not answered yet (oldest first), and every request's tenant in arrival order. */
const open: Array<{ tenant: string; res: ServerResponse }> = [];
const arrived: string[] = [];
let maxOpen = 0;

beforeAll(async () => {
  receiver = createServer((rq, rs) => {
    const chunks: Buffer[] = [];
    rq.on('data', (c: Buffer) => chunks.push(c));
    rq.on('end', () => {
      const json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      open.push({ tenant: json.tenant, res: rs });
      arrived.push(json.tenant);
      maxOpen = Math.max(maxOpen, open.length);
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  s = await createServices(
    loadConfig({
      DATA_DIR: dir,
      LOCAL_BLOB: 'off',
      PASSWORD_SCRYPT_LOG_N: '14',
      WEBHOOK_ALLOW_HTTP: 'on',
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'on',
      WEBHOOK_INSTANCE_CONCURRENCY: String(CAP),
      // The test holds requests open as long as it likes: no attempt may time out meanwhile.
      WEBHOOK_TIMEOUT_SECONDS: '120',
    }),
  );
}, 120_000);

afterAll(async () => {
  await s?.close();
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

async function tenant(id: string, subscriptions: number): Promise<UserPrincipal> {
  await s.tenants.createTenant(op, { id, name: id, admin: { email: `admin@${id}.test`, password: PW } }, req);
  const admin = await s.tenants.authenticate(
    id,
    `Bearer ${(await s.tenants.login({ tenantId: id, email: `admin@${id}.test`, password: PW })).access_token}`,
  );
  await s.records.defineType(admin, { type: 'item', schema: { type: 'object' } }, req);
  for (let i = 0; i < subscriptions; i++) await s.webhooks.register(admin, { url: `${url}?sub=${i}` }, req);
  return admin;
}

it('the instance never has more deliveries in flight than its cap, and frees slots to the tenants in turn', {
  timeout: 180_000,
}, async () => {
  const big = await tenant('bigco', 4);
  const smalls = ['small-1', 'small-2', 'small-3', 'small-4', 'small-5'];
  const small: Record<string, UserPrincipal> = {};
  for (const t of smalls) small[t] = await tenant(t, 1);

  // big's one change is wanted by its four subscriptions: two go out, two wait for a slot.
  await s.records.createRecord(big, { type: 'item', data: { n: 1 } }, req);
  await vi.waitFor(
    () => {
      expect(open.length).toBe(CAP);
      expect(s.webhookWorker.slots.waiting()).toBe(2);
    },
    { timeout: 30_000 },
  );
  // Then each small tenant's change queues behind them.
  for (const t of smalls) await s.records.createRecord(small[t]!, { type: 'item', data: { n: 1 } }, req);
  await vi.waitFor(() => expect(s.webhookWorker.slots.waiting()).toBe(2 + smalls.length), { timeout: 30_000 });
  expect(open.length).toBe(CAP);

  // Answer the oldest open request, one at a time; the freed slot goes to the next tenant in turn.
  const total = 4 + smalls.length;
  let answered = 0;
  while (answered < total) {
    await vi.waitFor(() => expect(open.length).toBe(Math.min(CAP, total - answered)), { timeout: 30_000 });
    expect(s.webhookWorker.slots.active()).toBeLessThanOrEqual(CAP);
    open.shift()!.res.writeHead(200).end();
    answered++;
  }
  expect(maxOpen).toBe(CAP);
  expect(arrived).toHaveLength(total);
  // bigco ×2 at once, then in turn: bigco (it waited first), the five small ones, bigco — first come would send bigco ×2 first.
  // (The small tenants among themselves in the order their runs asked for a slot, which their
  // reads of the log can change.)
  expect(arrived.slice(0, 3)).toEqual(['bigco', 'bigco', 'bigco']);
  expect(arrived.slice(3, 3 + smalls.length).sort()).toEqual([...smalls].sort());
  expect(arrived.slice(3 + smalls.length)).toEqual(['bigco']);
  await vi.waitFor(() => expect(s.webhookWorker.slots.active()).toBe(0));
  expect(s.webhookWorker.slots.waiting()).toBe(0);
});

/**
 * The instance-wide cap on webhook deliveries in flight, with the real worker (embedded
 * services in this process) and a receiver that holds every request until the test answers it:
 * with WEBHOOK_INSTANCE_CONCURRENCY=2, one tenant with four subscriptions and five tenants with
 * one each never have more than two requests open at once; the freed slots go to the tenants in
 * turn (the five small tenants are served before the big tenant's fourth delivery, which a
 * first-come order would have sent first); every delivery arrives. Counted, not timed.
 */
import type { ServerResponse } from 'node:http';
import { expect, it, vi } from 'vitest';
import type { UserPrincipal } from '../../../shared/app/service';
import { tenantWithItems, webhookWorld } from '../../support/webhook-world';

const req = { correlationId: 'webhooks-instance-cap' };
const CAP = 2;
/** Requests not answered yet (oldest first), and every request's tenant in arrival order. */
const open: Array<{ tenant: string; res: ServerResponse }> = [];
const arrived: string[] = [];
let maxOpen = 0;

const world = webhookWorld('embedded', {
  prefix: 'webhooks-cap',
  // Holds every request open until the test answers it.
  onDelivery: ({ json, res }) => {
    open.push({ tenant: json.tenant, res });
    arrived.push(json.tenant);
    maxOpen = Math.max(maxOpen, open.length);
  },
  env: {
    WEBHOOK_INSTANCE_CONCURRENCY: String(CAP),
    // The test holds requests open as long as it likes: no attempt may time out meanwhile.
    WEBHOOK_TIMEOUT_SECONDS: '120',
  },
});

async function tenant(id: string, subscriptions: number): Promise<UserPrincipal> {
  const admin = await tenantWithItems(world.s, id, req);
  for (let i = 0; i < subscriptions; i++) await world.s.webhooks.register(admin, { url: `${world.url}?sub=${i}` }, req);
  return admin;
}

it('the instance never has more deliveries in flight than its cap, and frees slots to the tenants in turn', {
  timeout: 180_000,
}, async () => {
  const { s } = world;
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

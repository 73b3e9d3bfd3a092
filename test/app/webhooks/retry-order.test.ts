/**
 * The attempt limit counts each commit's own attempts, also when the feed hands out other
 * commits before a retried one. On Cosmos DB the change feed is ordered per partition key
 * range only, so a commit written after a failed attempt, in another range, can come before
 * the retried commit on the next read; its delivery used to reset the retried commit's count,
 * which was then tried more times than the limit (seen in the cosmos-e2e webhooks test: 5
 * attempts with a limit of 4). Here: one commit always refused, eight others written after its
 * first attempt (over the stand-in's 3 ranges some come first), each delivered once, the
 * refused one tried exactly the limit and parked once. Also on the embedded store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RunningCosmosStandin } from '../../../host/cosmos-standin';
import { attemptsDone, countAttemptsOf, initialState } from '../../../shared/app/webhooks/delivery-state';
import { loadConfig } from '../../../shared/config';
import { createServices, type Services } from '../../../shared/config/services';
import { startWebhookReceiver, tenantWithItems, type WebhookReceiver, webhookEnv } from '../../support/webhook-world';

const req = { correlationId: 'retry-order' };
const T = 'order';
const LIMIT = 4;

describe('countAttemptsOf', () => {
  it("keeps a retried commit's count aside while another commit is delivered, and gives it back", () => {
    const s = initialState();
    countAttemptsOf(s, 'p@1');
    s.attempts++;
    countAttemptsOf(s, 'n@1');
    expect(s.attempts).toBe(0);
    attemptsDone(s);
    countAttemptsOf(s, 'p@1');
    expect(s.attempts).toBe(1);
    expect(s.attemptsAside).toBeUndefined();
  });

  it('takes a saved state without attemptsFor as counting the commit it retries', () => {
    const s = { ...initialState(), attempts: 2 };
    countAttemptsOf(s, 'p@1');
    expect(s).toMatchObject({ attempts: 2, attemptsFor: 'p@1' });
  });

  it('sets aside at most 20 counts', () => {
    const s = initialState();
    for (let i = 0; i < 30; i++) {
      countAttemptsOf(s, `r${i}@1`);
      s.attempts++;
    }
    countAttemptsOf(s, 'x@1');
    expect(Object.keys(s.attemptsAside ?? {})).toHaveLength(20);
    expect(s.attemptsAside?.['r29@1']).toBe(1);
  });
});

let cosmos: RunningCosmosStandin | undefined;
let services: Services | undefined;
let receiver: WebhookReceiver | undefined;
const dirs: string[] = [];

afterEach(async () => {
  await services?.close().catch(() => undefined);
  services = undefined;
  await receiver?.close();
  receiver = undefined;
  await cosmos?.close();
  cosmos = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

for (const store of ['cosmos-standin', 'embedded'] as const) {
  it(`${store}: a refused commit is tried exactly the limit, whatever is delivered between its attempts`, {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'retry-order-'));
    dirs.push(dir);
    const made = await webhookEnv(store === 'embedded' ? 'embedded' : 'cosmos', dir, {
      // Long enough between attempts for the other commits to be written and read first.
      WEBHOOK_RETRY_BASE_MS: '400',
      WEBHOOK_MAX_ATTEMPTS: String(LIMIT),
    });
    cosmos = made.cosmos;
    let refused = '';
    const got: string[] = [];
    receiver = await startWebhookReceiver(({ json, res }) => {
      got.push(json.commit.recordId);
      res.writeHead(json.commit.recordId === refused ? 500 : 200).end();
    });
    services = await createServices(loadConfig(made.env));
    const s = services;
    const p = await tenantWithItems(s, T, req);
    const sub = await s.webhooks.register(p, { url: receiver.url, types: ['item'] }, req);
    refused = (await s.records.createRecord(p, { type: 'item', data: { refused: true } }, req)).record.id;
    await vi.waitFor(() => expect(got).toContain(refused), { timeout: 30_000, interval: 20 });
    const others: string[] = [];
    for (let i = 0; i < 8; i++) others.push((await s.records.createRecord(p, { type: 'item', data: { i } }, req)).record.id);
    await vi.waitFor(
      async () => {
        for (const id of others) expect(got).toContain(id);
        const status = await s.webhooks.get(p, sub.subscription.id);
        expect(status.delivery).toMatchObject({ parked: 1 });
      },
      { timeout: 60_000, interval: 100 },
    );
    // Time for an attempt too many to show up, then none may have.
    await new Promise((r) => setTimeout(r, 1500));
    expect(got.filter((id) => id === refused)).toHaveLength(LIMIT);
    for (const id of others)
      expect(
        got.filter((g) => g === id),
        id,
      ).toHaveLength(1);
  });
}

/**
 * Two service instances on one Cosmos database (the in-process change-feed stand-in), as two
 * Function App instances in Azure: both hear appends, both sweep, both try to deliver the same
 * subscription. The delivery lease in the tenant's container lets only one deliver at a time,
 * so every commit arrives once, in order per record; a restarted instance resumes from the
 * saved position instead of the log's beginning.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { RunningCosmosStandin } from '../../../host/cosmos-standin';
import { loadConfig } from '../../../shared/config';
import { createServices, type Services } from '../../../shared/config/services';
import { signIn, startWebhookReceiver, tenantWithItems, type WebhookReceiver, webhookEnv } from '../../support/webhook-world';

const req = { correlationId: 'two-instances' };
const T = 'twin';
const dir = mkdtempSync(join(tmpdir(), 'two-instances-'));
let cosmos: RunningCosmosStandin | undefined;
let env: Record<string, string>;
const instances: Services[] = [];
let receiver: WebhookReceiver | undefined;
let url = '';
/** `recordId@version` of every request, in arrival order. */
const got: string[] = [];
let inFlight = 0;
let maxInFlight = 0;

beforeAll(async () => {
  ({ env, cosmos } = await webhookEnv('cosmos', dir, { WEBHOOK_RETRY_BASE_MS: '50' }));
  receiver = await startWebhookReceiver(
    ({ json, res }) => {
      got.push(`${json.commit.recordId}@${json.commit.version}`);
      // While a delivery is in flight, both instances are told to look (as their sweeps would):
      // the one not holding the lease must wait, not deliver from the last saved position.
      for (const s of instances) s.webhookWorker.kick(T);
      setTimeout(() => {
        inFlight--;
        res.writeHead(200).end();
      }, 60);
    },
    // In flight from the moment a request arrives.
    () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
    },
  );
  url = receiver.url;
  // Same data folder: both instances use the same local keys, as instances share Key Vault.
  instances.push(await createServices(loadConfig(env)));
  instances.push(await createServices(loadConfig(env)));
}, 120_000);

afterAll(async () => {
  for (const s of instances) await s.close().catch(() => undefined);
  await receiver?.close();
  await cosmos?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

function expectOncePerCommitInOrder(received: string[], expected: string[]) {
  expect([...received].sort()).toEqual([...expected].sort());
  const last = new Map<string, number>();
  for (const k of received) {
    const [id, v] = [k.slice(0, k.lastIndexOf('@')), Number(k.slice(k.lastIndexOf('@') + 1))];
    expect(v, k).toBe((last.get(id) ?? 0) + 1);
    last.set(id, v);
  }
}

it('two instances deliver each commit once, in order per record; a restarted instance resumes from the saved position', {
  timeout: 180_000,
}, async () => {
  const [a, b] = instances as [Services, Services];
  const pa = await tenantWithItems(a, T, req);
  const pb = await signIn(b, T);
  await a.webhooks.register(pa, { url, types: ['item'] }, req);

  // Writes through both instances, each followed by kicks of both workers (as their sweeps would).
  const expected: string[] = [];
  const ids: string[] = [];
  const versions = new Map<string, number>();
  for (let i = 0; i < 24; i++) {
    const [s, p] = i % 2 === 0 ? [a, pa] : [b, pb];
    if (ids.length < 4) {
      const r = await s.records.createRecord(p, { type: 'item', data: { i } }, req);
      ids.push(r.record.id);
      versions.set(r.record.id, 1);
      expected.push(`${r.record.id}@1`);
    } else {
      const id = ids[i % 4]!;
      const r = await s.records.patchRecord(p, { type: 'item', id, patch: { i }, ifMatch: versions.get(id)! }, req);
      versions.set(id, r.record.version);
      expected.push(`${id}@${r.record.version}`);
    }
    a.webhookWorker.kick(T);
    b.webhookWorker.kick(T);
  }
  await vi.waitFor(() => expect(new Set(got).size).toBe(expected.length), { timeout: 60_000, interval: 100 });
  // Give a second delivery time to show up, then check there was none.
  await new Promise((r) => setTimeout(r, 1500));
  expectOncePerCommitInOrder(got, expected);
  expect(maxInFlight).toBe(1);

  // Instance b restarts (closed, a new one started): a's lease was released when it caught up,
  // and the new instance starts from the saved position, not from the log's beginning.
  await b.close();
  instances[1] = await createServices(loadConfig(env));
  const b2 = instances[1]!;
  const pb2 = await signIn(b2, T);
  const r = await b2.records.createRecord(pb2, { type: 'item', data: { last: true } }, req);
  expected.push(`${r.record.id}@1`);
  await vi.waitFor(() => expect(got).toContain(`${r.record.id}@1`), { timeout: 30_000 });
  await new Promise((r) => setTimeout(r, 1500));
  expectOncePerCommitInOrder(got, expected);
});

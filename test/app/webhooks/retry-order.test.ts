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
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type RunningCosmosStandin, startLocalCosmos } from '../../../host/cosmos-standin';
import { attemptsDone, countAttemptsOf, initialState } from '../../../shared/app/webhooks/delivery-state';
import { loadConfig } from '../../../shared/config';
import { createServices, type Services } from '../../../shared/config/services';
import { freePort } from '../../support/net';

const PW = 'a long enough password';
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
let receiver: Server | undefined;
const dirs: string[] = [];

afterEach(async () => {
  await services?.close().catch(() => undefined);
  services = undefined;
  receiver?.closeAllConnections();
  await new Promise((r) => (receiver ? receiver.close(r) : r(undefined)));
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
    const env: Record<string, string> = {
      STORE: store,
      DATA_DIR: dir,
      LOCAL_BLOB: 'off',
      PASSWORD_SCRYPT_LOG_N: '14',
      WEBHOOK_ALLOW_HTTP: 'on',
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'on',
      // Long enough between attempts for the other commits to be written and read first.
      WEBHOOK_RETRY_BASE_MS: '400',
      WEBHOOK_MAX_ATTEMPTS: String(LIMIT),
    };
    if (store === 'cosmos-standin') {
      const port = await freePort();
      cosmos = await startLocalCosmos(port, 'tenants');
      env.COSMOS_STANDIN_PORT = String(port);
    }
    let refused = '';
    const got: string[] = [];
    receiver = createServer((rq, rs) => {
      const chunks: Buffer[] = [];
      rq.on('data', (c: Buffer) => chunks.push(c));
      rq.on('end', () => {
        const json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        got.push(json.commit.recordId);
        rs.writeHead(json.commit.recordId === refused ? 500 : 200).end();
      });
    });
    await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    services = await createServices(loadConfig(env));
    const s = services;
    await s.tenants.createTenant({ id: 'op' }, { id: T, name: T, admin: { email: `admin@${T}.test`, password: PW } }, req);
    const p = await s.tenants.authenticate(
      T,
      `Bearer ${(await s.tenants.login({ tenantId: T, email: `admin@${T}.test`, password: PW })).access_token}`,
    );
    await s.records.defineType(p, { type: 'item', schema: { type: 'object' } }, req);
    const sub = await s.webhooks.register(p, { url, types: ['item'] }, req);
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

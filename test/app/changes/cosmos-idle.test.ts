/**
 * What idle tenants cost on Cosmos DB: the change-driven projector's sweep over the Cosmos
 * directory, against the change-feed stand-in (host/cosmos-standin.ts), counted by the
 * stand-in's own request counters. Counts, not timings: the clock is a fake one advanced by
 * the timer's 2 s per pass.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from '@azure/cosmos';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CosmosTenantDirectory } from '../../../shared/adapters/cosmos/cosmos-tenant-directory';
import { LocalKeyProvider } from '../../../shared/adapters/embedded/local-key-provider';
import { ChangeDrivenProjector } from '../../../shared/app/changes/change-driven-projector';
import { ChangeSignal, SignallingDirectory } from '../../../shared/app/changes/change-signal';
import { TenantService } from '../../../shared/app/service';
import type { StandinStats } from '../../../host/cosmos-standin';
import { FakeClock } from '../../projections/support';
import { startCosmosServer, uniqueId, type CosmosTestServer } from '../../support/cosmos-server';

const TENANTS = ['idle-a', 'idle-b', 'idle-c', 'idle-d'];
const PERIOD_MS = 60_000;
const TICK_MS = 2000;
const PASSES_PER_PERIOD = PERIOD_MS / TICK_MS;
const RANGES = 3;

let server: CosmosTestServer;
let database: Database;
let dir: string;
let inner: CosmosTenantDirectory;
let svc: TenantService;
const clock = new FakeClock();
const signal = new ChangeSignal();

beforeAll(async () => {
  server = await startCosmosServer({ ranges: RANGES });
  ({ database } = await server.client.databases.create({ id: uniqueId('idle') }));
  dir = mkdtempSync(join(tmpdir(), 'cosmos-idle-'));
  const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
  inner = new CosmosTenantDirectory(database, clock);
  svc = new TenantService({ directory: new SignallingDirectory(inner, signal), keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
  for (const id of TENANTS)
    await svc.createTenant(
      { id: 'operator-key:test' },
      { id, name: id, admin: { email: `admin@${id}.test`, password: 'a long enough password' } },
      { correlationId: `c-${id}` },
    );
}, 120_000);
afterAll(async () => {
  await svc?.close();
  await database?.delete().catch(() => undefined);
  await server?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

/**
 * A projector over the Cosmos tenants driven pass by pass: `tick` runs one pass (handing its
 * result to `seen`) and moves the clock one tick. No delay, so a signalled run happens at the
 * next pass (deterministic).
 */
function sweeping(seen: (r: Awaited<ReturnType<ChangeDrivenProjector['pass']>>) => void = () => {}) {
  const projector = new ChangeDrivenProjector({
    directory: new SignallingDirectory(inner, signal),
    signal,
    clock,
    sweepPeriodMs: PERIOD_MS,
    tickMs: TICK_MS,
    delayMs: 0,
  });
  const tick = async () => {
    const r = await projector.pass();
    seen(r);
    clock.advance(TICK_MS);
    return r;
  };
  return { projector, tick };
}

const delta = (a: StandinStats, b: StandinStats) =>
  Object.fromEntries(Object.keys(b).map((k) => [k, b[k as keyof StandinStats] - a[k as keyof StandinStats]])) as unknown as StandinStats;

it.skipIf(!!process.env.COSMOS_ENDPOINT)(
  'idle Cosmos tenants cost one 304 per partition key range per sweep period, and a write made elsewhere is still found',
  { timeout: 120_000 },
  async () => {
    const { projector, tick } = sweeping();
    try {
      // Settle: every tenant projected, and looked at again after its own projection writes.
      for (let i = 0; i < 3 * PASSES_PER_PERIOD; i++) await tick();

      // Three idle periods, counted by the stand-in.
      const before = server.stats!();
      let looked = 0;
      let unchanged = 0;
      for (let i = 0; i < 3 * PASSES_PER_PERIOD; i++) {
        const r = await tick();
        looked += r.swept;
        unchanged += r.unchanged;
        expect(r.results).toEqual({});
      }
      const idle = delta(before, server.stats!());
      console.log(`${TENANTS.length} idle tenants, 3 sweep periods (${3 * PASSES_PER_PERIOD} passes): ${JSON.stringify(idle)}`);
      expect(looked).toBe(3 * TENANTS.length);
      expect(unchanged).toBe(3 * TENANTS.length);
      // Per tenant and period: one change-feed read per range, all answered 304, and the SDK's
      // partition key range lookup for the read (metadata); besides, the catalog listing once
      // per period (metadata). No document, point read, query or write.
      expect(idle.feedRequests).toBe(3 * TENANTS.length * RANGES);
      expect(idle.feedPages).toBe(0);
      expect(idle.feedDocs).toBe(0);
      expect(idle.pointReads).toBe(0);
      expect(idle.queries).toBe(0);
      expect(idle.writes).toBe(0);
      expect(idle.metadata).toBeLessThanOrEqual(3 + 3 * TENANTS.length);

      // A commit appended elsewhere (the inner store: no signal in this process) is found by the
      // sweep within one period and projected.
      const events = await inner.openEventStore('idle-b');
      await events.append('rec:thing:x1', 0, [{ type: 'RecordCreated', data: { type: 'thing', id: 'x1', data: { n: 1 } } }], {
        author: { kind: 'operator', id: 'test' },
        correlationId: 'c-x1',
      });
      let applied = 0;
      for (let i = 0; i < PASSES_PER_PERIOD; i++) {
        const r = await tick();
        applied += r.results['idle-b']?.applied ?? 0;
      }
      expect(applied).toBe(1);
      const store = await inner.openProjectionStore('idle-b');
      const audit = await store.listAudit(await store.activeGeneration(), { limit: 100 });
      expect(audit.items.map((a) => a.correlationId)).toContain('c-x1');
    } finally {
      await projector.close();
    }
  },
);

it.skipIf(!!process.env.COSMOS_ENDPOINT)(
  'a real change on Cosmos is projected once: the writer projects it, and the sweep does not run the tenant again for its own projection writes',
  { timeout: 120_000 },
  async () => {
    const runs: Array<[string, number]> = [];
    const { projector, tick } = sweeping((r) => {
      for (const [id, result] of Object.entries(r.results)) runs.push([id, result.applied]);
    });
    try {
      for (let i = 0; i < 3 * PASSES_PER_PERIOD; i++) await tick();
      runs.length = 0;

      // A command's append in this process (it signals the projector), then three periods.
      const events = await new SignallingDirectory(inner, signal).openEventStore('idle-c');
      await events.append('rec:thing:c1', 0, [{ type: 'RecordCreated', data: { type: 'thing', id: 'c1', data: { n: 1 } } }], {
        author: { kind: 'operator', id: 'test' },
        correlationId: 'c-c1',
      });
      await tick(); // the writer's run
      expect(runs).toEqual([['idle-c', 1]]);
      const after = server.stats!();
      for (let i = 0; i < 3 * PASSES_PER_PERIOD; i++) await tick();
      const rest = delta(after, server.stats!());
      console.log(`after the writer's run, 3 sweep periods: ${JSON.stringify(rest)}`);
      // No second run of idle-c (nor of anyone): the sweep finds every log unchanged. Its first
      // look at idle-c reads the run's own projection documents (the feed moved past the mark),
      // finds no commit among them and leaves the tenant alone: no meta, checkpoint or query.
      expect(runs).toEqual([['idle-c', 1]]);
      expect(rest.pointReads).toBe(0);
      expect(rest.queries).toBe(0);
      expect(rest.writes).toBe(0);
      // One 304 per range and look, plus the reads that brought those documents (a page, and
      // the SDK's next request on that range).
      expect(rest.feedRequests).toBeGreaterThanOrEqual(3 * TENANTS.length * RANGES);
      expect(rest.feedRequests).toBeLessThanOrEqual(3 * TENANTS.length * RANGES + 2 * RANGES);
      expect(rest.feedPages).toBeLessThanOrEqual(RANGES);
    } finally {
      await projector.close();
    }
  },
);

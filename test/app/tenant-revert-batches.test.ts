/**
 * Tenant-wide revert appends a scan batch's reverts in one transaction where the store can
 * (embedded: appendMany, one fsync per batch). What that must not weaken, on the real store:
 * - a record changed by someone else between its plan and the batch's append fails the whole
 *   transaction (nothing of the batch written by it); the batch then goes record by record,
 *   that record is a conflict and left alone, every other one is reverted once;
 * - an append that fails midway (as a crash would) leaves whole batches only, progress has
 *   counted only batches that are in the log, and the retry under the same key reverts the
 *   rest, each record exactly once.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import type { Progress } from '../../shared/app/progress';
import { RecordService } from '../../shared/app/records';
import { RevertService } from '../../shared/app/revert';
import { TENANT_REVERT_BATCH } from '../../shared/app/revert/tenant-revert';
import { TenantService, type UserPrincipal } from '../../shared/app/service';
import { type RecordRevertedData, recordStreamId } from '../../shared/domain/records';
import type { BatchAppend, EventStore } from '../../shared/ports/event-store';
import type { OneTenantStores, TenantStores } from '../../shared/ports/tenant-stores';
import { TestClock } from '../support/store-backends';

const PW = 'a long enough password';
const req = { correlationId: 'c-batches' };
const RECORDS = 250; // three scan batches: 100, 100, 50

/** The tenant stores, with the log's appendMany going through `appendMany(real, batch)`. */
function withAppendMany(
  stores: TenantStores,
  appendMany: (real: NonNullable<EventStore['appendMany']>, batch: BatchAppend[]) => ReturnType<NonNullable<EventStore['appendMany']>>,
): TenantStores {
  const wrapEvents = (events: EventStore): EventStore =>
    new Proxy(events, {
      get(target, prop) {
        if (prop === 'appendMany') return (batch: BatchAppend[], o?: object) => appendMany((b) => target.appendMany!(b, o), batch);
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  const wrapStores = (s: OneTenantStores): OneTenantStores => {
    const events = wrapEvents(s.events);
    return new Proxy(s, {
      get(target, prop) {
        if (prop === 'events') return events;
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
  return new Proxy(stores, {
    get(target, prop) {
      if (prop === 'use')
        return <T>(tenantId: string, work: (s: OneTenantStores) => Promise<T> | T, o?: object) =>
          target.use(tenantId, (s) => work(wrapStores(s)), o);
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('tenant-wide revert in batches (embedded store)', () => {
  let dir: string;
  let clock: TestClock;
  let tenants: TenantService;
  let records: RecordService;
  let admin: UserPrincipal;
  let ids: string[];
  let asOf: Date;

  const revertWith = (stores: TenantStores) => new RevertService({ stores, records: records.context, clock });
  const run = (stores: TenantStores, key: string, onProgress?: (p: Progress) => void) =>
    revertWith(stores)
      .prepareTenantRevert(admin, { asOf, types: ['item'] }, { ...req, idempotency: { key, requestHash: 'h' } })
      .then((prepared) => prepared.run(onProgress));
  /** How many RecordReverted events of this operation each record has, by id. */
  const revertsPerRecord = async (operationId: string) => {
    const { events } = await tenants.stores('acme');
    const out = new Map<string, number>();
    for (const id of ids) {
      const commits = await events.readStream(recordStreamId('item', id));
      const n = commits
        .flatMap((c) => c.events)
        .filter((e) => e.type === 'RecordReverted' && (e.data as RecordRevertedData).operationId === operationId).length;
      out.set(id, n);
    }
    return out;
  };
  const operationIdOf = async (key: string) => (await import('../../shared/app/revert/tenant-revert')).revertOperationId('acme', key);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'revert-batches-'));
    clock = new TestClock();
    const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    tenants = new TenantService({
      directory: new EmbeddedTenantDirectory(dir, keys, clock),
      keys,
      clock,
      tokenTtlSeconds: 3600,
      passwordLogN: 14,
    });
    records = new RecordService(tenants, clock);
    await tenants.createTenant({ id: 'op' }, { id: 'acme', name: 'A', admin: { email: 'admin@a.test', password: PW } }, req);
    admin = await tenants.authenticate(
      'acme',
      `Bearer ${(await tenants.login({ tenantId: 'acme', email: 'admin@a.test', password: PW })).access_token}`,
    );
    await records.defineType(admin, { type: 'item', schema: { type: 'object', properties: { n: { type: 'integer' } } } }, req);
    ids = [];
    for (let i = 0; i < RECORDS; i++) ids.push((await records.createRecord(admin, { type: 'item', data: { n: i } }, req)).record.id);
    clock.tick();
    asOf = clock.now();
    clock.tick();
    for (const id of ids) await records.patchRecord(admin, { type: 'item', id, patch: { n: -1 }, ifMatch: 1 }, req);
    clock.tick();
  });
  afterEach(async () => {
    await tenants.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('a record changed by someone else between its plan and the batch append: the batch goes one by one, that record is a conflict', {
    timeout: 120_000,
  }, async () => {
    expect(TENANT_REVERT_BATCH).toBe(100);
    // Ordered by id like the walk: the 2nd record of the 2nd batch is changed just before that batch is appended.
    const victim = [...ids].sort()[TENANT_REVERT_BATCH + 1]!;
    const batches: Array<{ size: number; outcome: string }> = [];
    const stores = withAppendMany(tenants.tenantStores, async (real, batch) => {
      if (batches.length === 1) await records.patchRecord(admin, { type: 'item', id: victim, patch: { n: 1000 }, ifMatch: 2 }, req);
      try {
        const r = await real(batch);
        batches.push({ size: batch.length, outcome: 'appended' });
        return r;
      } catch (e) {
        batches.push({ size: batch.length, outcome: (e as Error).name });
        throw e;
      }
    });
    const done = await run(stores, 'k-conflict');
    expect(batches).toEqual([
      { size: 100, outcome: 'appended' },
      { size: 100, outcome: 'WrongExpectedVersionError' },
      { size: 50, outcome: 'appended' },
    ]);
    expect(done.counts).toEqual({
      examined: RECORDS,
      changed: RECORDS - 1,
      restored: 0,
      deleted: 0,
      unchanged: 0,
      conflicts: 1,
      invalid: 0,
    });
    expect(done.conflicts.map((c) => [c.id, c.version])).toEqual([[victim, 3]]);
    expect((await records.getRecord(admin, { type: 'item', id: victim })).data).toEqual({ n: 1000 });
    const per = await revertsPerRecord(done.operationId!);
    for (const id of ids) expect(per.get(id), id).toBe(id === victim ? 0 : 1);
    // Every other record is as it was at asOf, in the log and in the list view.
    const list = await records.list(admin, { type: 'item', filters: [], limit: 300 });
    expect(list.items.filter((r) => r.data.n === -1)).toEqual([]);
    expect(list.items.filter((r) => r.data.n === 1000).map((r) => r.id)).toEqual([victim]);
  });

  it('an append failing midway (as a crash would): whole batches only, progress counted only what is in the log; the retry reverts the rest once', {
    timeout: 120_000,
  }, async () => {
    let calls = 0;
    const failing = withAppendMany(tenants.tenantStores, async (real, batch) => {
      if (++calls === 2) throw new Error('simulated crash while appending a batch');
      return real(batch);
    });
    const progress: Progress[] = [];
    await expect(run(failing, 'k-crash', (p) => progress.push(p))).rejects.toThrow('simulated crash');
    const reported = progress.filter((p) => p.phase === 'revert').map((p) => p.done);
    expect(reported).toEqual([TENANT_REVERT_BATCH]);
    const operationId = await operationIdOf('k-crash');
    const before = await revertsPerRecord(operationId);
    const reverted = [...before.values()].filter((n) => n === 1).length;
    // The first batch is in the log, nothing of the second: what progress reported, no more, no less.
    expect(reverted).toBe(TENANT_REVERT_BATCH);
    expect([...before.values()].every((n) => n <= 1)).toBe(true);

    const done = await run(tenants.tenantStores, 'k-crash');
    expect(done.operationId).toBe(operationId);
    expect(done.counts).toEqual({ examined: RECORDS, changed: RECORDS, restored: 0, deleted: 0, unchanged: 0, conflicts: 0, invalid: 0 });
    const after = await revertsPerRecord(operationId);
    for (const id of ids) expect(after.get(id), id).toBe(1);
    for (const id of ids.slice(0, 5)) expect((await records.getRecord(admin, { type: 'item', id })).data).toEqual({ n: ids.indexOf(id) });
  });
});

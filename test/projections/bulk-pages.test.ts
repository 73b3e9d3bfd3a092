/**
 * A rebuild (and a restore's projection pass) projects the log in pages of BULK_BATCH commits,
 * read from the feed in slices of at most FEED_READ with yields between (issue 15): a record
 * changed many times has its view written once per page, and no feed read is longer than before.
 */
import { describe, expect, it, vi } from 'vitest';
import { ProjectionService } from '../../shared/app/projections';
import { BULK_BATCH, FEED_READ } from '../../shared/app/projector-feed';
import type { EventStore } from '../../shared/ports/event-store';
import type { ProjectionStore, RecordView } from '../../shared/ports/projection-store';
import type { TenantStores } from '../../shared/ports/tenant-stores';
import { allAudit, allViews, foldFromLog, HistoryWriter, recordStream, withTempStores } from './support';

/** Only what ProjectionService.rebuild uses of TenantStores: a lease on this one tenant's stores. */
function leaseOf(events: EventStore, projections: ProjectionStore): TenantStores {
  return {
    use: (_tenant: string, work: (s: unknown) => Promise<unknown>) => work({ events, projections: async () => projections }),
  } as unknown as TenantStores;
}

/** Generation `gen` holds the log's state of both records and `audit` audit rows. */
async function expectBuiltFromLog(events: EventStore, store: ProjectionStore, gen: number, audit: number): Promise<void> {
  const built = await allViews(store, gen);
  for (const rec of [0, 1]) {
    const s = recordStream(rec, 1);
    const state = await foldFromLog(events, s.streamId);
    expect(built.find((v) => v.id === s.id)).toMatchObject({ version: state!.version, data: state!.data });
  }
  expect(await allAudit(store, gen)).toHaveLength(audit);
}

describe('rebuild in bulk pages', () => {
  it('writes a record changed 1,200 times once, reads the feed in slices, and converges to the log', async () => {
    await withTempStores(async ({ events, store, clock }) => {
      expect(BULK_BATCH).toBeGreaterThan(1_200);
      const w = new HistoryWriter(events, clock, 1);
      for (let i = 0; i < 1_200; i++) {
        await w.apply({ rec: i % 50 === 0 ? 1 : 0, kind: 'write', data: { n: i }, patch: { n: i }, patch2: {}, author: 0, advance: 1 });
      }
      const reads: number[] = [];
      const counted = new Proxy(events, {
        get(target, prop, receiver) {
          if (prop === 'readFeed')
            return (cp: string | undefined, o?: { maxCount?: number }) => {
              reads.push(o?.maxCount ?? Number.POSITIVE_INFINITY);
              return target.readFeed(cp, o);
            };
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const written: RecordView[] = [];
      const views = new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'upsertRecords')
            return (g: number, vs: RecordView[]) => {
              written.push(...vs);
              return target.upsertRecords(g, vs);
            };
          if (prop === 'upsertRecord')
            return (g: number, v: RecordView) => {
              written.push(v);
              return target.upsertRecord(g, v);
            };
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const service = new ProjectionService({ tenants: { tenantStores: leaseOf(counted, views) }, clock });
      const r = await service.rebuild('t-proj');
      expect(r.applied).toBe(1_200);
      // The hot record (1,176 of the commits) once, the other one once: one page.
      const hot = recordStream(0, 1);
      expect(written.filter((v) => v.id === hot.id)).toHaveLength(1);
      expect(written).toHaveLength(2);
      // No read of more than FEED_READ commits (one synchronous call each), and more than one read.
      expect(Math.max(...reads)).toBeLessThanOrEqual(FEED_READ);
      expect(reads.length).toBeGreaterThan(2);
      // And what it built is the log's state.
      const gen = await store.activeGeneration();
      expect(gen).toBe(r.generation);
      await expectBuiltFromLog(events, store, gen, 1_200);
    });
  });

  it('two rebuilds of one tenant at once run one after the other, each into its own generation, and converge to the log', async () => {
    await withTempStores(async ({ events, store, clock }) => {
      const w = new HistoryWriter(events, clock, 1);
      for (let i = 0; i < 3_000; i++) {
        await w.apply({ rec: i % 7 === 0 ? 1 : 0, kind: 'write', data: { n: i }, patch: { n: i }, patch2: {}, author: 0, advance: 1 });
      }
      // Two services, as an erase request and the finishErasures timer each make their own.
      const tenants = { tenantStores: leaseOf(events, store) };
      const first = new ProjectionService({ tenants, clock });
      const second = new ProjectionService({ tenants, clock });
      const before = await store.activeGeneration();
      const phases: string[] = [];
      const [a, b] = await Promise.all([first.rebuild('t-proj', () => phases.push('a')), second.rebuild('t-proj', () => phases.push('b'))]);
      expect([a.generation, b.generation]).toEqual([before + 1, before + 2]);
      expect([a.applied, b.applied]).toEqual([3_000, 3_000]);
      // The second started only when the first had finished.
      expect(phases.join('')).toMatch(/^a+b+$/);
      const gen = await store.activeGeneration();
      expect(gen).toBe(before + 2);
      await expectBuiltFromLog(events, store, gen, 3_000);
    });
  });

  it('two rebuilds in two processes at once fill generations of their own; the one claimed later stays active, whichever finishes first', async () => {
    await withTempStores(async ({ events, store, clock }) => {
      const w = new HistoryWriter(events, clock, 1);
      const write = async (n: number) => {
        for (let i = 0; i < n; i++) {
          await w.apply({ rec: i % 5 === 0 ? 1 : 0, kind: 'write', data: { n: i }, patch: { n: i }, patch2: {}, author: 0, advance: 1 });
        }
      };
      await write(500);
      // Another process: a second copy of the module, whose own queue (`rebuilding`) knows nothing of this one's.
      vi.resetModules();
      const { ProjectionService: OtherProcessService } = await import('../../shared/app/projections');
      expect(OtherProcessService).not.toBe(ProjectionService);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let reached!: () => void;
      const paused = new Promise<void>((r) => (reached = r));
      // The first rebuild is held at its first write of views.
      const slow = new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'upsertRecords')
            return async (g: number, vs: RecordView[]) => {
              reached();
              await held;
              return target.upsertRecords(g, vs);
            };
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const first = new ProjectionService({ tenants: { tenantStores: leaseOf(events, slow) }, clock });
      const second = new OtherProcessService({ tenants: { tenantStores: leaseOf(events, store) }, clock });
      const before = await store.activeGeneration();
      const a = first.rebuild('t-proj');
      await paused;
      // Commits arrive meanwhile (an erasure would be one); the second rebuild starts after them and finishes first.
      await write(100);
      const b = await second.rebuild('t-proj');
      expect(b).toEqual({ generation: before + 2, applied: 600 });
      expect(await store.activeGeneration()).toBe(before + 2);
      release();
      // The first finishes later: its activation is refused and its generation dropped.
      const r = await a;
      expect(r.generation).toBe(before + 2);
      expect(await store.activeGeneration()).toBe(before + 2);
      expect(await allViews(store, before + 1)).toEqual([]);
      expect(await allAudit(store, before + 1)).toEqual([]);
      await expectBuiltFromLog(events, store, before + 2, 600);
    });
  });
});

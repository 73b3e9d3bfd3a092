/**
 * The change-driven projector (shared/app/changes/): appends made in this process are
 * projected without a sweep; writes made elsewhere are found by the sweep through the log
 * fingerprint; unchanged tenants are never opened; passes never overlap.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../../shared/adapters/embedded/local-key-provider';
import { ChangeDrivenProjector } from '../../../shared/app/changes/change-driven-projector';
import { ChangeSignal, SignallingDirectory } from '../../../shared/app/changes/change-signal';
import type { ProjectionRunResult } from '../../../shared/app/projector';
import { TenantService } from '../../../shared/app/service';
import { FakeClock } from '../../projections/support';

const operator = { id: 'operator-key:test' };

/** The directory as one without a change journal (Cosmos): the projector sweeps. */
function withoutJournal<T extends object>(d: T): T {
  return new Proxy(d, {
    get(target, prop, receiver) {
      if (prop === 'changesSince') return undefined;
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('ChangeDrivenProjector over the embedded directory', () => {
  let dir: string;
  let clock: FakeClock;
  let inner: EmbeddedTenantDirectory;
  let signal: ChangeSignal;
  let directory: SignallingDirectory;
  let svc: TenantService;
  let keys: LocalKeyProvider;
  const projectors: ChangeDrivenProjector[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'change-projector-'));
    clock = new FakeClock();
    keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    inner = new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock);
    signal = new ChangeSignal();
    directory = new SignallingDirectory(inner, signal);
    svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
  });
  afterEach(async () => {
    for (const p of projectors.splice(0)) await p.close();
    await svc.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  const projector = (
    o: {
      sweepPeriodMs?: number;
      delayMs?: number;
      project?: (id: string) => Promise<ProjectionRunResult>;
      markAfterOwnWrites?: boolean;
      directory?: SignallingDirectory;
      /** Use the embedded directory's change journal (default: without it, the sweep alone, as on Cosmos). */
      journal?: boolean;
    } = {},
  ) => {
    const d = o.directory ?? directory;
    const p = new ChangeDrivenProjector({
      directory: o.journal ? d : withoutJournal(d),
      ...(o.markAfterOwnWrites ? { markAfterOwnWrites: true } : {}),
      signal,
      clock,
      sweepPeriodMs: o.sweepPeriodMs ?? 2000,
      tickMs: 2000,
      delayMs: o.delayMs ?? 0,
      ...(o.project ? { project: o.project } : {}),
    });
    projectors.push(p);
    return p;
  };
  /** One timer pass, then the 2 s until the next one (the sweep follows the clock). */
  const tick = async (p: ChangeDrivenProjector) => {
    const r = await p.pass();
    clock.advance(2000);
    return r;
  };
  const create = (id: string) =>
    svc.createTenant(
      operator,
      { id, name: id, admin: { email: `admin@${id}.test`, password: 'a long enough password' } },
      {
        correlationId: `c-${id}`,
      },
    );
  const appendRecord = async (events: Awaited<ReturnType<typeof directory.openEventStore>>, id: string) =>
    events.append(`rec:thing:${id}`, 0, [{ type: 'RecordCreated', data: { type: 'thing', id, data: { n: 1 } } }], {
      author: { kind: 'operator', id: 'test' },
      correlationId: 'c',
    });
  const auditCount = async (id: string) => (await (await inner.openProjectionStore(id)).listAudit(1, { limit: 500 })).items.length;

  it('projects a signalled tenant in the pass after its append, and the sweep then skips every unchanged tenant without opening it', async () => {
    for (const id of ['acme', 'globex', 'initech']) await create(id);
    const p = projector({ sweepPeriodMs: 2000 }); // one pass sweeps everything
    const first = await tick(p);
    expect(Object.keys(first.results).sort()).toEqual(['acme', 'globex', 'initech']);
    expect(first.swept).toBe(3);

    // Everything projected: close every database, then a full sweep opens none of them.
    for (const id of ['acme', 'globex', 'initech']) await inner.closeTenant(id);
    // (Closing checkpoints the WAL, which changes the fingerprint once: one re-check each.)
    await tick(p);
    for (const id of ['acme', 'globex', 'initech']) await inner.closeTenant(id);
    const idle = await tick(p);
    expect(idle).toEqual({ results: {}, swept: 3, unchanged: 3 });
    expect(inner.openTenantIds()).toEqual([]);

    // An append through the service's stores signals; the next pass projects only that tenant.
    await appendRecord(await directory.openEventStore('globex'), 'g1');
    const after = await tick(p);
    expect(Object.keys(after.results)).toEqual(['globex']);
    expect(after.results.globex?.applied).toBe(1);
    expect(await auditCount('globex')).toBe(4);
  });

  it('projects a signalled tenant in the background within delayMs, without a timer pass', async () => {
    await create('acme');
    const p = projector({ delayMs: 5, sweepPeriodMs: 3_600_000 });
    await tick(p);
    await appendRecord(await directory.openEventStore('acme'), 'a1');
    for (let i = 0; i < 1000 && (await auditCount('acme')) < 4; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await auditCount('acme')).toBe(4);
  });

  it('finds writes made by another process (no signal) through the sweep, and remembers marks across restarts', async () => {
    await create('acme');
    await create('globex');
    const p = projector({ sweepPeriodMs: 2000 });
    await tick(p);
    await p.close();
    projectors.length = 0;
    for (const id of ['acme', 'globex']) await inner.closeTenant(id);

    // A restarted process: marks come back from disk; one round re-checks what the close changed.
    const p2 = projector({ sweepPeriodMs: 2000 });
    await tick(p2);
    for (const id of ['acme', 'globex']) await inner.closeTenant(id);
    expect((await tick(p2)).unchanged).toBe(2);

    // "Another process": the inner directory's store does not signal.
    await appendRecord(await inner.openEventStore('acme'), 'x1');
    const found = await tick(p2);
    expect(Object.keys(found.results)).toEqual(['acme']);
    expect(found.results.acme?.applied).toBe(1);
    expect(await auditCount('acme')).toBe(4);
  });

  it('looks at each tenant once per sweep period (after the first round, at a place fixed by its id), however few tenants there are', async () => {
    const ids = ['ten-1', 'ten-2', 'ten-3', 'ten-4', 'ten-5'];
    for (const id of ids) await create(id);
    const looks = new Map<string, number>();
    const fingerprint = inner.logFingerprint.bind(inner);
    inner.logFingerprint = (id, o) => {
      looks.set(id, (looks.get(id) ?? 0) + 1);
      return fingerprint(id, o);
    };
    const p = projector({ sweepPeriodMs: 60_000 }); // 30 passes per period
    const passes: number[] = [];
    for (let i = 0; i < 90; i++) passes.push((await tick(p)).swept); // 3 periods
    // Each tenant looked at by the sweep exactly once per period (the runs' own fingerprints aside).
    const swept = passes.reduce((a, b) => a + b, 0);
    expect(swept).toBe(3 * ids.length);
    // The first round after a start goes through the catalog in order, as fast as the period
    // allows (here one tenant per pass: writes a crash left unprojected are found soon); later
    // rounds are spread: each round's passes are the same (each tenant's place is fixed by its id).
    expect(passes.slice(0, 6)).toEqual([1, 1, 1, 1, 1, 0]);
    expect(Math.max(...passes.slice(30))).toBeLessThan(ids.length);
    expect(passes.slice(60, 90)).toEqual(passes.slice(30, 60));
    for (const id of ids) expect(looks.get(id), id).toBeGreaterThanOrEqual(3);
    // catchUp looks at every tenant at once (all unchanged by now).
    expect(await p.catchUp()).toEqual({ results: {}, swept: ids.length, unchanged: ids.length });
  });

  it("with markAfterOwnWrites (embedded), a run's own projection writes are no change: the next sweep skips the tenant", async () => {
    for (const id of ['acme', 'globex']) await create(id);
    const p = projector({ sweepPeriodMs: 2000, markAfterOwnWrites: true });
    expect(Object.keys((await tick(p)).results).sort()).toEqual(['acme', 'globex']);
    // No close, no re-check: the marks are the files as the runs left them.
    expect(await tick(p)).toEqual({ results: {}, swept: 2, unchanged: 2 });
    for (const id of ['acme', 'globex']) await inner.closeTenant(id);
    expect(await tick(p)).toEqual({ results: {}, swept: 2, unchanged: 2 });
    expect(inner.openTenantIds()).toEqual([]);
    // A write made elsewhere is still found, and after its run the tenant is quiet again.
    await appendRecord(await inner.openEventStore('acme'), 'x1');
    const found = await tick(p);
    expect(Object.keys(found.results)).toEqual(['acme']);
    expect(found.results.acme?.applied).toBe(1);
    expect(await tick(p)).toEqual({ results: {}, swept: 2, unchanged: 2 });
  });

  it('with markAfterOwnWrites, an append by another process that lands after a run read the log but before its mark is still projected', async () => {
    await create('acme');
    // A pass fingerprints the tenant three times: the sweep's look, before the run, after it.
    // "Another process" appends just before the third (the run has read the log by then).
    let racing = 0;
    const racer = new SignallingDirectory(
      new Proxy(inner, {
        get(target, prop, receiver) {
          if (prop === 'logFingerprint')
            return async (id: string, o?: object) => {
              if (racing > 0 && --racing === 0) {
                await appendRecord(await inner.openEventStore(id), 'race1');
              }
              return target.logFingerprint(id, o);
            };
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }),
      new ChangeSignal(),
    );
    const p = projector({ sweepPeriodMs: 2000, markAfterOwnWrites: true, directory: racer });
    await tick(p);
    expect(await tick(p)).toMatchObject({ results: {}, unchanged: 1 });
    await appendRecord(await inner.openEventStore('acme'), 'a1');
    // This pass projects a1; the fingerprint after its run already holds race1, which it never read.
    let calls = 0;
    racing = 3;
    const first = await tick(p);
    calls += first.results.acme?.applied ?? 0;
    expect(first.results.acme?.applied).toBe(1);
    // The log's end moved during the run, so the mark is the one from before it: the sweep runs it again.
    const second = await tick(p);
    calls += second.results.acme?.applied ?? 0;
    expect(second.results.acme?.applied).toBe(1);
    expect(calls).toBe(2);
    expect(await auditCount('acme')).toBe(5);
  });

  it('with the change journal, a pass looks only at what it lists: nothing while idle, a write by another process at once, and nothing at a restart', async () => {
    const ids = ['acme', 'globex', 'initech'];
    for (const id of ids) await create(id);
    const listings = { n: 0 };
    const list = inner.listTenantIds.bind(inner);
    inner.listTenantIds = (o) => {
      listings.n++;
      return list(o);
    };
    const p = projector({ journal: true, sweepPeriodMs: 60_000, markAfterOwnWrites: true });
    // The first start has no place in the journal: a catch-up round over every tenant in
    // catalog order, at the sweep's pace (here one a pass).
    const firsts = [await tick(p), await tick(p), await tick(p)];
    expect(firsts.map((r) => Object.keys(r.results))).toEqual([['acme'], ['globex'], ['initech']]);
    expect(listings.n).toBe(1);
    for (const id of ids) await inner.closeTenant(id);
    // The closes number them once: looked at, unchanged.
    expect(await tick(p)).toEqual({ results: {}, swept: 3, unchanged: 3 });
    // Idle: nothing listed, nothing looked at, however many tenants there are.
    for (let i = 0; i < 5; i++) expect(await tick(p)).toEqual({ results: {}, swept: 0, unchanged: 0 });

    // Another process on the data folder (its own directory object: its own journal rows) appends, no signal.
    const other = new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock);
    try {
      await appendRecord(await other.openEventStore('acme'), 'x1');
      const found = await tick(p);
      expect(Object.keys(found.results)).toEqual(['acme']);
      expect(found.results.acme?.applied).toBe(1);
      expect(await auditCount('acme')).toBe(4);
      // Held open by the other process: looked at every pass, no run while nothing moves.
      expect(await tick(p)).toMatchObject({ results: {}, swept: 1, unchanged: 1 });
      // A tenant the other process creates is listed at the next pass and projected.
      const otherSvc = new TenantService({ directory: other, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
      await otherSvc.createTenant(
        operator,
        { id: 'hooli', name: 'hooli', admin: { email: 'admin@hooli.test', password: 'a long enough password' } },
        { correlationId: 'c-hooli' },
      );
      expect(Object.keys((await tick(p)).results)).toEqual(['hooli']);
    } finally {
      await other.close();
    }
    await inner.closeTenant('acme');
    await inner.closeTenant('hooli');
    await tick(p);
    expect(await tick(p)).toEqual({ results: {}, swept: 0, unchanged: 0 });

    // A restart: the journal place comes back with the marks; the first pass lists nothing and
    // reads no catalog. The sweep is a safety net then: its first round one sweep period later.
    await p.close();
    projectors.length = 0;
    listings.n = 0;
    const p2 = projector({ journal: true, sweepPeriodMs: 60_000, markAfterOwnWrites: true });
    expect(await tick(p2)).toEqual({ results: {}, swept: 0, unchanged: 0 });
    expect(listings.n).toBe(0);
    for (let i = 0; i < 28; i++) await tick(p2);
    expect(listings.n).toBe(0);
    await tick(p2);
    await tick(p2);
    expect(listings.n).toBe(1);
  });

  it('with the change journal, a tenant whose run failed is retried after a restart (saved with the place)', async () => {
    await create('acme');
    let fail = true;
    const p = projector({
      journal: true,
      sweepPeriodMs: 2000,
      project: async () => (fail ? { applied: 0, parked: 0, failed: true } : { applied: 0, parked: 0, failed: false }),
    });
    await tick(p);
    await p.close();
    projectors.length = 0;
    await inner.closeTenant('acme');
    const ran: string[] = [];
    fail = false;
    const p2 = projector({
      journal: true,
      sweepPeriodMs: 2000,
      project: async (id) => {
        ran.push(id);
        return { applied: 0, parked: 0, failed: false };
      },
    });
    await tick(p2);
    expect(ran).toContain('acme');
  });

  it('never runs two passes at once, and retries a failed tenant on the next pass', async () => {
    await create('acme');
    let running = 0;
    let most = 0;
    let calls = 0;
    const p = projector({
      sweepPeriodMs: 2000,
      project: async () => {
        calls++;
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return calls === 1 ? { applied: 0, parked: 0, failed: true } : { applied: 0, parked: 0, failed: false };
      },
    });
    signal.notify('acme');
    await Promise.all([p.pass(), p.pass(), p.pass()]);
    expect(most).toBe(1);
    // First run failed: retried on the next pass even though the signal was consumed.
    expect(calls).toBeGreaterThanOrEqual(2);
  });

  it("passes a restore's bulk import (beginImport) through the signalling store; each imported batch signals", async () => {
    await create('acme');
    const events = await directory.openEventStore('acme');
    // Without it a restore through the configured (signalling) directory falls back to appendMany.
    expect(typeof events.beginImport).toBe('function');
    const heard: string[] = [];
    const off = signal.subscribe((t) => heard.push(t));
    const bulk = await events.beginImport!();
    try {
      await bulk.append([
        {
          streamId: 'rec:thing:r1',
          expectedVersion: 0,
          events: [{ type: 'RecordCreated', data: { type: 'thing', id: 'r1', data: { n: 1 } } }],
          meta: { author: { kind: 'operator', id: 'test' }, correlationId: 'c' },
        },
      ]);
      await expect(
        bulk.append([
          {
            streamId: 'rec:thing:r1',
            expectedVersion: 0,
            events: [{ type: 'RecordCreated', data: { type: 'thing', id: 'r1', data: { n: 1 } } }],
            meta: { author: { kind: 'operator', id: 'test' }, correlationId: 'c' },
          },
        ]),
      ).rejects.toThrow();
    } finally {
      bulk.end();
      off();
    }
    expect(heard).toEqual(['acme', 'acme']);
    expect(await events.streamVersion('rec:thing:r1')).toBe(1);
  });
});

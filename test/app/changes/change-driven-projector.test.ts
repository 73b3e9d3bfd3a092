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

describe('ChangeDrivenProjector over the embedded directory', () => {
  let dir: string;
  let clock: FakeClock;
  let inner: EmbeddedTenantDirectory;
  let signal: ChangeSignal;
  let directory: SignallingDirectory;
  let svc: TenantService;
  const projectors: ChangeDrivenProjector[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'change-projector-'));
    clock = new FakeClock();
    const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
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

  const projector = (o: { sweepPeriodMs?: number; delayMs?: number; project?: (id: string) => Promise<ProjectionRunResult> } = {}) => {
    const p = new ChangeDrivenProjector({
      directory,
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
  const create = (id: string) =>
    svc.createTenant({ id, name: id, admin: { email: `admin@${id}.test`, password: 'a long enough password' } }, operator, {
      correlationId: `c-${id}`,
    });
  const appendRecord = async (events: Awaited<ReturnType<typeof directory.openEventStore>>, id: string) =>
    events.append(`rec:thing:${id}`, 0, [{ type: 'RecordCreated', data: { type: 'thing', id, data: { n: 1 } } }], {
      author: { kind: 'operator', id: 'test' },
      correlationId: 'c',
    });
  const auditCount = async (id: string) => (await (await inner.openProjectionStore(id)).listAudit(1, { limit: 500 })).items.length;

  it('projects a signalled tenant in the pass after its append, and the sweep then skips every unchanged tenant without opening it', async () => {
    for (const id of ['acme', 'globex', 'initech']) await create(id);
    const p = projector({ sweepPeriodMs: 2000 }); // one pass sweeps everything
    const first = await p.pass();
    expect(Object.keys(first.results).sort()).toEqual(['acme', 'globex', 'initech']);
    expect(first.swept).toBe(3);

    // Everything projected: close every database, then a full sweep opens none of them.
    for (const id of ['acme', 'globex', 'initech']) await inner.closeTenant(id);
    // (Closing checkpoints the WAL, which changes the fingerprint once: one re-check each.)
    await p.pass();
    for (const id of ['acme', 'globex', 'initech']) await inner.closeTenant(id);
    const idle = await p.pass();
    expect(idle).toEqual({ results: {}, swept: 3, unchanged: 3 });
    expect(inner.openTenantIds()).toEqual([]);

    // An append through the service's stores signals; the next pass projects only that tenant.
    await appendRecord(await directory.openEventStore('globex'), 'g1');
    const after = await p.pass();
    expect(Object.keys(after.results)).toEqual(['globex']);
    expect(after.results.globex?.applied).toBe(1);
    expect(await auditCount('globex')).toBe(4);
  });

  it('projects a signalled tenant in the background within delayMs, without a timer pass', async () => {
    await create('acme');
    const p = projector({ delayMs: 5, sweepPeriodMs: 3_600_000 });
    await p.pass();
    await appendRecord(await directory.openEventStore('acme'), 'a1');
    for (let i = 0; i < 200 && (await auditCount('acme')) < 4; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await auditCount('acme')).toBe(4);
  });

  it('finds writes made by another process (no signal) through the sweep, and remembers marks across restarts', async () => {
    await create('acme');
    await create('globex');
    const p = projector({ sweepPeriodMs: 2000 });
    await p.pass();
    await p.close();
    projectors.length = 0;
    for (const id of ['acme', 'globex']) await inner.closeTenant(id);

    // A restarted process: marks come back from disk; one round re-checks what the close changed.
    const p2 = projector({ sweepPeriodMs: 2000 });
    await p2.pass();
    for (const id of ['acme', 'globex']) await inner.closeTenant(id);
    expect((await p2.pass()).unchanged).toBe(2);

    // "Another process": the inner directory's store does not signal.
    await appendRecord(await inner.openEventStore('acme'), 'x1');
    const found = await p2.pass();
    expect(Object.keys(found.results)).toEqual(['acme']);
    expect(found.results.acme?.applied).toBe(1);
    expect(await auditCount('acme')).toBe(4);
  });

  it('splits the sweep over its period: each pass looks at its share of the tenants', async () => {
    for (const id of ['ten-1', 'ten-2', 'ten-3', 'ten-4', 'ten-5']) await create(id);
    const p = projector({ sweepPeriodMs: 6000 }); // 3 passes per round
    const swept = [];
    for (let i = 0; i < 3; i++) swept.push((await p.pass()).swept);
    expect(swept).toEqual([2, 2, 1]);
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
});

/**
 * The incremental timer's run (BackupService.incrementalRun, issue 11): once a run over every
 * tenant has written its full run markers and named them in each tier's journal place, the
 * next runs are delta runs. A delta run looks only at what the change journal lists (and what
 * is pending), reports only those, and ends each tier with a delta marker on the marker before:
 * an idle tenant's coverage still moves to every run's instant, and an idle run's cost does
 * not follow the number of tenants. A failure, or a tenant held back by a recent fault, stays
 * pending and excepted until a run does it;
 * a tenant no longer ready is excepted; a full backup run, a missing base, or the daily sweep
 * make the next run one over every tenant again; retention keeps the full marker a kept delta
 * rests on; a reader resolves a delta through its base.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { FolderBackupTarget } from '../../../shared/adapters/backup/folder-backup-target';
import type { BackupService } from '../../../shared/app/backup';
import type { IncrementalRun } from '../../../shared/app/backup/incremental-run';
import { tenantCoverage } from '../../../shared/app/backup/coverage';
import type { RunCoverageResult } from '../../../shared/app/backup/run-coverage';
import { JOURNAL_SWEEP_MS } from '../../../shared/app/changes/journal-run';
import type { BackupTarget } from '../../../shared/ports/backup-target';
import { useBackupWorld } from '../../support/backup-world';
import { closeAllTenants, fingerprintLooks } from '../../support/fingerprint-looks';
import { tierObjects } from '../../support/folder-tier';
import { notingTier, tierWith } from '../../support/noting-tier';

const MIN = 60_000;
const w = useBackupWorld('bk-delta-run-');
const countLooks = fingerprintLooks(() => w.directory);
const { create, append } = w;
afterEach(() => {
  vi.restoreAllMocks();
});

const tierRoot = (name: string) => join(w.dir, 'tiers', name);
const folder = (name: string): BackupTarget => new FolderBackupTarget(name, tierRoot(name));

/** A run as the timer makes it, 15 minutes after the last (`atRun` then, just before it); per tier/tenant: "unchanged", the commits backed up, or "failed". */
async function timerRun(
  backups: BackupService,
  atRun?: () => void,
): Promise<{ run: IncrementalRun; got: Record<string, string | number>; coverage: RunCoverageResult[] }> {
  w.clock.advance(15 * MIN);
  atRun?.();
  const coverage: RunCoverageResult[] = [];
  const run = await backups.incrementalRun(w.tenants.served(), { onCoverage: (c) => coverage.push(c) });
  const got = Object.fromEntries(
    run.results.map((r) => [`${r.tier}/${r.tenant}`, !r.result.ok ? 'failed' : r.result.unchanged ? 'unchanged' : r.result.commits]),
  );
  return { run, got, coverage: coverage.sort((a, b) => a.tier.localeCompare(b.tier)) };
}

type Marker = {
  format: string;
  at: string;
  base?: string;
  tenants: Record<string, { chain: number; manifests: number }>;
  except?: string[];
};
/** The run markers on a folder tier, oldest first, parsed. */
function runMarkers(tier: string): Array<{ key: string; json: Marker }> {
  return tierObjects(tierRoot(tier), 'runs/covered/').map((o) => ({ key: o.key, json: JSON.parse(readFileSync(o.file, 'utf8')) }));
}

/** Per tier: the tenant's coveredUntil as GET …/backups reports it. */
async function coveredUntil(backups: BackupService, tenant: string): Promise<Record<string, string | undefined>> {
  return Object.fromEntries((await backups.status(tenant)).map((s) => [s.tier, s.lastBackup?.coveredUntil]));
}

/** A service whose first run looked at every tenant of `ids` (created now), and whose second looked at them once more after their close. */
async function settled(ids: string[], tiers: BackupTarget[]): Promise<BackupService> {
  await create(...ids);
  const backups = w.service(tiers);
  expect((await timerRun(backups)).run.kind).toBe('full');
  await closeAllTenants(w.directory);
  expect((await timerRun(backups)).run).toMatchObject({ kind: 'delta', looked: ids.length });
  return backups;
}

/** Closes what the test's reads opened (as a host's cache does), and one run looks at those once more: the next run starts quiet. */
async function quiet(backups: BackupService): Promise<void> {
  await closeAllTenants(w.directory);
  await timerRun(backups);
}

it('an idle delta run looks at nobody and puts one delta marker per tier; every tenant’s coverage moves to its instant; a restart keeps going', async () => {
  const ids = ['acme', 'globex', 'initech'];
  const calls: string[] = [];
  const [a, b] = [notingTier(folder('a'), calls, 'a '), notingTier(folder('b'), calls, 'b ')];
  const backups = await settled(ids, [a, b]);
  const full = runMarkers('a')[0]!;
  expect(full.json.format).toBe('tenant-ledger-run-coverage/1');
  expect(Object.keys(full.json.tenants)).toEqual(ids);

  // The same service, then a new one on new tier objects (as after a restart).
  for (const service of [backups, w.service([notingTier(folder('a'), calls, 'a '), notingTier(folder('b'), calls, 'b ')])]) {
    calls.length = 0;
    const looks = countLooks();
    const idle = await timerRun(service);
    expect(idle.run).toEqual({ kind: 'delta', looked: 0, results: [] });
    expect(Object.fromEntries(looks)).toEqual({});
    // Nothing under any tenant's prefix; one put per tier. The delta before is read back only
    // by a new service (this one keeps what it wrote).
    expect(calls.filter((c) => c.includes('tenants/'))).toEqual([]);
    expect(calls.filter((c) => / get runs\//.test(c)).length).toBe(service === backups ? 0 : 2);
    expect(calls.filter((c) => / (put|putStream) /.test(c)).map((c) => c.replace(/covered\/.*/, 'covered/…'))).toEqual([
      'a put runs/covered/…',
      'b put runs/covered/…',
    ]);
    const at = new Date(w.clock.now().getTime() - 1).toISOString();
    expect(idle.coverage.map((c) => [c.tier, c.ok, c.at])).toEqual([
      ['a', true, at],
      ['b', true, at],
    ]);
    const delta = runMarkers('a').at(-1)!;
    expect(delta.key).toBe(idle.coverage[0]!.key);
    expect(delta.key).toContain(`.on.${full.key.slice('runs/covered/'.length, -'.json'.length)}.json`);
    expect(delta.json).toMatchObject({ format: 'tenant-ledger-run-coverage/2', at, base: full.key, except: [] });
  }
  const at = runMarkers('a').at(-1)!.json.at;
  for (const id of ids) expect(await coveredUntil(backups, id), id).toEqual({ a: at, b: at });
});

it('a tenant written since is the only one looked at and backed up; the delta lists it with its longer chain and carries the others', async () => {
  const ids = ['acme', 'globex', 'initech'];
  const backups = await settled(ids, [folder('a')]);
  await append('globex', 'g1');
  await closeAllTenants(w.directory);
  const looks = countLooks();
  const moved = await timerRun(backups);
  expect(moved.run).toMatchObject({ kind: 'delta', looked: 1 });
  expect(moved.got).toEqual({ 'a/globex': 1 });
  expect([...looks.keys()]).toEqual(['globex']);
  const delta = runMarkers('a').at(-1)!.json;
  expect(delta.tenants).toMatchObject({ globex: { chain: 1, manifests: 2 } });
  expect(delta.except).toEqual([]);
  // globex's own marker (its backup read the log after the run's instant) is newer; the others follow the delta.
  expect(await coveredUntil(backups, 'globex')).toEqual({ a: w.clock.now().toISOString() });
  expect(await coveredUntil(backups, 'acme')).toEqual({ a: delta.at });

  // The next idle runs carry globex on from the delta before (a delta copies its predecessor's lists).
  await quiet(backups);
  const idle = await timerRun(backups);
  expect(idle.run.looked).toBe(0);
  const next = runMarkers('a').at(-1)!.json;
  expect(next.tenants).toEqual(delta.tenants);
  for (const id of ids) expect(await coveredUntil(backups, id), id).toEqual({ a: next.at });
});

it('a tenant whose backup fails on a tier is excepted there by the delta and backed up there by the next run, then listed', async () => {
  const ids = ['acme', 'globex'];
  let down = false;
  const b = folder('b');
  const flaky = tierWith(b, {
    put: (k, body, o) => (down && k.startsWith('tenants/') ? Promise.reject(new Error('b is down')) : b.put(k, body, o)),
    putStream: (k, c, n, o) => (down ? Promise.reject(new Error('b is down')) : b.putStream(k, c, n, o)),
  });
  const backups = await settled(ids, [folder('a'), flaky]);
  const before = await coveredUntil(backups, 'acme');
  await quiet(backups);
  await append('acme', 'a1');
  await closeAllTenants(w.directory);
  down = true;
  const failed = await timerRun(backups);
  expect(failed.got).toEqual({ 'a/acme': 1, 'b/acme': 'failed' });
  expect(runMarkers('b').at(-1)!.json.except).toEqual(['acme']);
  down = false;
  // Listed again (its failed backup opened it) and pending on b: backed up there.
  const retried = await timerRun(backups);
  expect(retried.run.looked).toBe(1);
  expect(retried.got).toEqual({ 'a/acme': 'unchanged', 'b/acme': 1 });
  const delta = runMarkers('b').at(-1)!.json;
  expect(delta.except).toEqual([]);
  expect(delta.tenants).toMatchObject({ acme: { chain: 1, manifests: 2 } });
  // While it was excepted, b's coverage of acme stayed where it was; globex's moved on.
  expect(await coveredUntil(backups, 'globex')).toMatchObject({ b: delta.at });
  expect((await coveredUntil(backups, 'acme')).b! > before.b!).toBe(true);
  await quiet(backups);
  expect((await timerRun(backups)).run.looked).toBe(0);
});

it('a tenant no longer ready is excepted and its coverage stops; back to ready through its log, it is looked at and listed again', async () => {
  const ids = ['acme', 'globex'];
  const backups = await settled(ids, [folder('a')]);
  const a = folder('a');
  // A suspended tenant has no status answer (not served): its coverage read from the tier as status reads it.
  const acme = async () => (await tenantCoverage(a, 'acme', 1, 1)).coveredUntil;
  const op = { id: 'operator-key:test' } as Parameters<typeof w.tenants.setSuspended>[2];
  await w.tenants.setSuspended('acme', true, op, { correlationId: 'c' });
  await closeAllTenants(w.directory);
  const suspended = await timerRun(backups);
  // Listed by the journal (its suspension was written to its log), not served: passed over.
  expect(suspended.run).toMatchObject({ kind: 'delta', looked: 0, results: [] });
  const marker = runMarkers('a').at(-1)!.json;
  expect(marker.except).toEqual(['acme']);
  const stopped = await acme();
  expect(stopped! < marker.at).toBe(true);
  expect((await timerRun(backups)).run.looked).toBe(0);
  expect(await acme()).toBe(stopped);

  await w.tenants.setSuspended('acme', false, op, { correlationId: 'c' });
  await closeAllTenants(w.directory);
  const resumed = await timerRun(backups);
  // Both its suspension and its resumption, backed up now.
  expect(resumed.got).toEqual({ 'a/acme': 2 });
  expect(runMarkers('a').at(-1)!.json.except).toEqual([]);
  const idle = await timerRun(backups);
  expect(await coveredUntil(backups, 'acme')).toEqual({ a: idle.coverage[0]!.at });
});

it('a full backup run, a base marker gone, or the daily sweep make the next run one over every tenant, ending with a full marker', async () => {
  const ids = ['acme', 'globex'];
  const backups = await settled(ids, [folder('a')]);
  // The daily full run starts new chains: the next incremental run looks at everyone and lists them on the new chains.
  w.clock.advance(MIN);
  await backups.backupTenants(ids, { full: true });
  const afterFull = await timerRun(backups);
  expect(afterFull.run).toMatchObject({ kind: 'full', looked: 2 });
  expect(runMarkers('a').at(-1)!.json).toMatchObject({
    format: 'tenant-ledger-run-coverage/1',
    tenants: { acme: { chain: 2, manifests: 1 }, globex: { chain: 2, manifests: 1 } },
  });
  expect(await coveredUntil(backups, 'globex')).toEqual({ a: afterFull.coverage[0]!.at });
  expect((await timerRun(backups)).run.kind).toBe('delta');

  // The full marker the deltas rest on is deleted behind the service's back: coverage falls back, the next run is a full one.
  const base = runMarkers('a').at(-1)!.json.base!;
  await folder('a').delete(base);
  expect((await timerRun(backups)).run.kind).toBe('full');
  expect((await timerRun(backups)).run.kind).toBe('delta');

  // A day on: the safety sweep looks at everyone.
  w.clock.advance(JOURNAL_SWEEP_MS);
  expect((await timerRun(backups)).run.kind).toBe('full');
  expect((await timerRun(backups)).run.kind).toBe('delta');
});

it('retention keeps the newest four markers and the full marker a kept delta rests on', async () => {
  const backups = await settled(['acme'], [folder('a')]);
  for (let i = 0; i < 6; i++) await timerRun(backups);
  const markers = runMarkers('a');
  expect(markers).toHaveLength(5);
  const [full, ...deltas] = markers;
  expect(full!.json.format).toBe('tenant-ledger-run-coverage/1');
  expect(deltas.every((d) => d.json.base === full!.key)).toBe(true);
  expect(await coveredUntil(backups, 'acme')).toEqual({ a: deltas.at(-1)!.json.at });
});

it('a delta marker that is corrupt or whose body names another base is passed over: the older coverage is reported', async () => {
  const a = folder('a');
  const backups = await settled(['acme'], [a]);
  const good = await timerRun(backups);
  const key = good.coverage[0]!.key!;
  const body = JSON.parse(Buffer.from((await a.get(key))!).toString('utf8')) as Marker;
  await a.delete(key);
  await a.put(key, Buffer.from(JSON.stringify({ ...body, base: 'runs/covered/2000-01-01T00:00:00.000Z_0.json' })));
  const previous = runMarkers('a').at(-2)!.json.at;
  // Read as another process would (this one keeps what it wrote, parsed: markers are immutable).
  expect(await coveredUntil(w.service([folder('a')]), 'acme')).toEqual({ a: previous });
});

it('a tenant held back by a recent fault is excepted and stays pending; once the fault is gone the next run backs it up', async () => {
  const backups = await settled(['acme', 'globex'], [folder('a')]);
  await append('acme', 'a1');
  await closeAllTenants(w.directory);
  // A fault is remembered for five minutes: noted just before each run.
  const fault = () => w.tenants.health.note('acme', 'store_unavailable', new Error('the disk went away'));
  const held = await timerRun(backups, fault);
  expect(held.run).toMatchObject({ kind: 'delta', looked: 0, results: [] });
  expect(runMarkers('a').at(-1)!.json.except).toEqual(['acme']);
  // Still held: asked about again as pending (the journal no longer lists it), not backed up.
  expect((await timerRun(backups, fault)).run.looked).toBe(0);
  const back = await timerRun(backups);
  expect(back.got).toEqual({ 'a/acme': 1 });
  expect(runMarkers('a').at(-1)!.json.except).toEqual([]);
});

/**
 * An incremental run over many tenants and tiers decides its idle tenants up front: one log
 * fingerprint per tenant whatever the number of tiers, every tenant still reported on every
 * tier, only the tenants with work going through the tiers. A log that moves right after its
 * look is covered by the run's coverage marker only up to an instant before the look, and is
 * backed up by the next run.
 */
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { FolderBackupTarget } from '../../../shared/adapters/backup/folder-backup-target';
import type { BackupTarget } from '../../../shared/ports/backup-target';
import { useBackupWorld } from '../../support/backup-world';
import { notingTier } from '../../support/noting-tier';

const w = useBackupWorld('bk-idle-run-');
const { create, append } = w;
afterEach(() => {
  vi.restoreAllMocks();
});

/** A folder tier that notes every call made on it (`<name> <method> <key>`). */
function tier(name: string, calls: string[]): BackupTarget {
  return notingTier(new FolderBackupTarget(name, join(w.dir, 'tiers', name)), calls, `${name} `);
}

/** Counts the log fingerprints taken, per tenant. */
function countLooks(): Map<string, number> {
  const looks = new Map<string, number>();
  const look = w.directory.logFingerprint.bind(w.directory);
  vi.spyOn(w.directory, 'logFingerprint').mockImplementation(async (id, o) => {
    looks.set(id, (looks.get(id) ?? 0) + 1);
    return look(id, o);
  });
  return looks;
}

it('takes one fingerprint per tenant for all tiers, reports every tenant on every tier, and sends only the tenants with work to a tier', async () => {
  await create('acme', 'globex', 'initech');
  const calls: string[] = [];
  const [a, b, c] = ['a', 'b', 'c'].map((n) => tier(n, calls)) as [BackupTarget, BackupTarget, BackupTarget];
  const ids = ['acme', 'globex', 'initech'];
  const first = await w.service([a, b, c]).backupTenants(ids);
  expect(first.every((r) => r.result.ok && r.result.commits === 3)).toBe(true);

  // Idle on every tier: one look per tenant, nothing on any tier, every pair reported once, in
  // the order of the tiers and then the tenants.
  const backups = w.service([a, b, c]);
  const looks = countLooks();
  calls.length = 0;
  w.clock.advance(15 * 60_000);
  const reported: string[] = [];
  const idle = await backups.backupTenants(ids, { onResult: (r) => reported.push(`${r.tier}/${r.tenant}`) });
  expect(Object.fromEntries(looks)).toEqual({ acme: 1, globex: 1, initech: 1 });
  expect(calls).toEqual([]);
  const pairs = ['a', 'b', 'c'].flatMap((t) => ids.map((id) => `${t}/${id}`));
  expect(idle.map((r) => `${r.tier}/${r.tenant}`)).toEqual(pairs);
  expect(reported.sort()).toEqual([...pairs].sort());
  for (const r of idle)
    expect(r.result).toEqual({
      tier: r.tier,
      ok: true,
      segments: 0,
      commits: 0,
      lastTimestamp: null,
      chain: first.find((f) => f.tier === r.tier && f.tenant === r.tenant)?.result.chain,
      unchanged: true,
    });

  // globex moves; a fourth tier has never seen anyone: only those pairs reach a tier.
  await append('globex', 'g1');
  const d = tier('d', calls);
  const withD = w.service([a, b, c, d]);
  calls.length = 0;
  w.clock.advance(15 * 60_000);
  const moved = await withD.backupTenants(ids);
  const summary = Object.fromEntries(moved.map((r) => [`${r.tier}/${r.tenant}`, r.result.unchanged ? 'unchanged' : r.result.commits]));
  expect(summary).toEqual({
    'a/acme': 'unchanged',
    'a/globex': 1,
    'a/initech': 'unchanged',
    'b/acme': 'unchanged',
    'b/globex': 1,
    'b/initech': 'unchanged',
    'c/acme': 'unchanged',
    'c/globex': 1,
    'c/initech': 'unchanged',
    'd/acme': 3,
    'd/globex': 4,
    'd/initech': 3,
  });
  expect(calls.filter((x) => !x.startsWith('d ')).every((x) => x.includes('globex'))).toBe(true);
});

it('a log that moves right after its look: the run marker claims only up to an instant before the look, and the next run backs it up on every tier', async () => {
  await create('acme');
  const calls: string[] = [];
  const [a, b] = [tier('a', calls), tier('b', calls)];
  const backups = w.service([a, b]);
  await backups.backupTenants(['acme']);

  // Hours later (long past the hour after which a per-tenant renewal used to be made), the log
  // moves just after the run's first look: decided unchanged on both tiers before the move.
  w.clock.advance(3 * 60 * 60_000);
  const look = w.directory.logFingerprint.bind(w.directory);
  vi.spyOn(w.directory, 'logFingerprint').mockImplementationOnce(async (id, o) => {
    const fp = await look(id, o);
    await append('acme', 'late');
    return fp;
  });
  calls.length = 0;
  const decided = await backups.backupTenants(['acme'], { runCoverage: {} });
  expect(decided.map((r) => [r.tier, r.result.ok, r.result.unchanged])).toEqual([
    ['a', true, true],
    ['b', true, true],
  ]);
  // One put per tier (the run marker), nothing for the tenant itself.
  expect(calls.filter((c) => / put /.test(c)).map((c) => c.replace(/covered\/.*/, 'covered/…'))).toEqual([
    'a put runs/covered/…',
    'b put runs/covered/…',
  ]);
  // The commit made after the look is stamped now; what the tiers claim ends a millisecond before.
  const late = w.clock.now().getTime();
  for (const s of await backups.status('acme')) expect(s.lastBackup?.coveredUntil, s.tier).toBe(new Date(late - 1).toISOString());

  const next = await backups.backupTenants(['acme'], { runCoverage: {} });
  for (const t of ['a', 'b'])
    expect(
      [...decided, ...next].filter((r) => r.tier === t).reduce((n, r) => n + r.result.commits, 0),
      `commits shipped to ${t}`,
    ).toBe(1);
  expect(next.every((r) => r.result.ok && !r.result.unchanged)).toBe(true);
  // Backed up for real: its own marker (the instant the run read the log) is its coverage now.
  for (const s of await backups.status('acme')) expect(s.lastBackup?.coveredUntil, s.tier).toBe(new Date(late).toISOString());
});

it('a look that does not answer holds the run up one tier deadline at most; the tenant is then looked at by its jobs', async () => {
  await create('acme', 'globex');
  const a = tier('a', []);
  await w.service([a]).backupTenants(['acme', 'globex']);
  const backups = w.service([a], { limits: { tierDeadlineMs: 300 } });
  const look = w.directory.logFingerprint.bind(w.directory);
  // acme's first look never answers (nor stops on the abort signal); later looks do.
  let hung = false;
  vi.spyOn(w.directory, 'logFingerprint').mockImplementation(async (id, o) => {
    if (id !== 'acme' || hung) return look(id, o);
    hung = true;
    return new Promise<never>(() => {});
  });
  w.clock.advance(60_000);
  const run = await backups.backupTenants(['acme', 'globex']);
  expect(run.map((r) => [r.tenant, r.result.ok, r.result.unchanged])).toEqual([
    ['acme', true, true],
    ['globex', true, true],
  ]);
});

/**
 * Run coverage markers (issue 11): an incremental run over the tenants ends with one immutable
 * object per tier listing the tenants it found unchanged there, instead of one coverage renewal
 * put per idle tenant. An idle tenant's coverage (status, restore) follows the newest run marker
 * that lists it with its chain; anything else in `runs/covered/` is passed over (older coverage,
 * never wrong); a tenant whose log moved is listed with the chain its backup reached; one that
 * failed, or that is no longer ready, is not listed;
 * a tier keeps the newest four; a marker that cannot be written fails that tier's run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { FolderBackupTarget } from '../../../shared/adapters/backup/folder-backup-target';
import type { BackupService } from '../../../shared/app/backup';
import { runCoverageKey } from '../../../shared/app/backup/chain-format';
import type { RunCoverageResult } from '../../../shared/app/backup/run-coverage';
import type { Commit } from '../../../shared/domain/events';
import type { BackupTarget } from '../../../shared/ports/backup-target';
import { useBackupWorld } from '../../support/backup-world';
import { tierObjects } from '../../support/folder-tier';
import { notingTier, tierWith } from '../../support/noting-tier';

const MIN = 60_000;
const op = { id: 'operator-key:test' };

const w = useBackupWorld('bk-run-coverage-');
const { create, append } = w;

const tierRoot = (name: string) => join(w.dir, 'tiers', name);
const folder = (name: string) => new FolderBackupTarget(name, tierRoot(name));

/** A folder tier that notes every call made on it (`<name> <method> <key>`). */
const noted = (name: string, calls: string[]): BackupTarget => notingTier(folder(name), calls, `${name} `);

const service = (targets: BackupTarget[]) => w.service(targets);

/** An incremental run over every tenant of `ids` (the timer's run when it looks at every tenant, with full run coverage markers); the tiers' outcomes. */
async function timerRun(backups: BackupService, ids: string[]) {
  const coverage: RunCoverageResult[] = [];
  const results = await backups.backupTenants(ids, { runCoverage: { onResult: (c) => coverage.push(c) } });
  return { results, coverage: coverage.sort((a, b) => a.tier.localeCompare(b.tier)) };
}

/** Per tier: the tenant's coveredUntil as GET …/backups reports it. */
async function coveredUntil(backups: BackupService, tenant: string): Promise<Record<string, string | undefined>> {
  return Object.fromEntries((await backups.status(tenant)).map((s) => [s.tier, s.lastBackup?.coveredUntil]));
}

/** The run markers on a folder tier, oldest first, parsed. */
function runMarkers(tier: string): Array<{ key: string; json: { format: string; at: string; tenants: Record<string, unknown> } }> {
  return tierObjects(tierRoot(tier), 'runs/covered/').map((o) => ({ key: o.key, json: JSON.parse(readFileSync(o.file, 'utf8')) }));
}

/** Every commit of a tenant's log, in feed order. */
async function log(id: string): Promise<Commit[]> {
  const events = await w.directory.openEventStore(id);
  const out: Commit[] = [];
  let checkpoint: string | undefined;
  for (;;) {
    const page = await events.readFeed(checkpoint, { maxCount: 500 });
    if (page.commits.length === 0) return out;
    out.push(...page.commits);
    checkpoint = page.checkpoint;
  }
}

it("an idle tenant's coverage advances with every run over the tenants: one put per tier and run, none per tenant", async () => {
  const ids = ['acme', 'globex', 'initech'];
  await create(...ids);
  const calls: string[] = [];
  const backups = service([noted('a', calls), noted('b', calls)]);
  const first = await timerRun(backups, ids);
  expect(first.results.every((r) => r.result.ok && r.result.commits === 3)).toBe(true);
  // Everybody was backed up for real, reading the logs after the run's instant: all listed.
  expect(first.coverage).toEqual([
    { tier: 'a', ok: true, at: expect.any(String), tenants: 3, key: expect.stringMatching(/^runs\/covered\//), deleted: 0, refused: 0 },
    { tier: 'b', ok: true, at: expect.any(String), tenants: 3, key: expect.stringMatching(/^runs\/covered\//), deleted: 0, refused: 0 },
  ]);
  const own = w.clock.now().toISOString();
  expect(await coveredUntil(backups, 'acme')).toEqual({ a: own, b: own });

  // Three idle runs, 40 minutes apart (past the hour after which each tenant's marker used to be renewed).
  for (let run = 0; run < 3; run++) {
    w.clock.advance(40 * MIN);
    calls.length = 0;
    const idle = await timerRun(backups, ids);
    expect(idle.results.every((r) => r.result.ok && r.result.unchanged)).toBe(true);
    expect(calls.filter((c) => c.includes('tenants/'))).toEqual([]);
    expect(calls.filter((c) => / (put|putStream) /.test(c)).map((c) => c.replace(/covered\/.*/, 'covered/…'))).toEqual([
      'a put runs/covered/…',
      'b put runs/covered/…',
    ]);
    const at = new Date(w.clock.now().getTime() - 1).toISOString();
    expect(idle.coverage).toEqual([
      { tier: 'a', ok: true, at, tenants: 3, key: expect.stringMatching(/^runs\/covered\//), deleted: 0, refused: 0 },
      { tier: 'b', ok: true, at, tenants: 3, key: expect.stringMatching(/^runs\/covered\//), deleted: 0, refused: 0 },
    ]);
    expect(runMarkers('a').at(-1)?.json).toEqual({
      format: 'tenant-ledger-run-coverage/1',
      at,
      tenants: { acme: { chain: 1, manifests: 1 }, globex: { chain: 1, manifests: 1 }, initech: { chain: 1, manifests: 1 } },
    });
    for (const id of ids) expect(await coveredUntil(backups, id), id).toEqual({ a: at, b: at });
  }
});

it('a restore as of an instant after the last real backup and before the newest run marker needs no acceptPartial and restores exactly the log', async () => {
  await create('acme');
  w.clock.advance(MIN);
  await append('acme', 'r1');
  w.clock.advance(MIN);
  await append('acme', 'r2');
  const target = folder('a');
  const backups = service([target]);
  await timerRun(backups, ['acme']);
  const backedUp = w.clock.now().getTime();
  w.clock.advance(30 * MIN);
  const idle = await timerRun(backups, ['acme']);
  expect(idle.coverage[0]).toMatchObject({ ok: true, tenants: 1 });
  const marker = idle.coverage[0]!.at;

  const asOf = new Date(backedUp + 10 * MIN);
  const restored = await backups.restore(op, { tenant: 'acme', target, asOf, into: 'acme-back' }, { correlationId: 'c' });
  expect(restored).toMatchObject({ partial: false, restoredUntil: asOf.toISOString(), coveredUntil: marker, missingFiles: [] });
  const source = await log('acme');
  expect(restored.commits).toBe(source.length);
  // The restored tenant's log holds the source's commits as they were (plus its own TenantRestored).
  const back = await log('acme-back');
  const same = (c: Commit) => JSON.stringify([c.streamId, c.version, c.timestamp, c.events, c.author, c.correlationId]);
  expect(back.filter((c) => !c.events.some((e) => e.type === 'TenantRestored')).map(same)).toEqual(source.map(same));

  // Beyond the run marker's instant the tier does not reach: refused as before.
  await expect(
    backups.restore(op, { tenant: 'acme', target, asOf: w.clock.now(), into: 'acme-later' }, { correlationId: 'c' }),
  ).rejects.toMatchObject({ code: 'unprocessable', message: expect.stringContaining(`covers the log only up to ${marker}`) });
});

it('a run marker that is corrupt, of another format, of another chain, missing or unreadable is passed over: the older coverage is reported', async () => {
  await create('acme');
  const runKey = (k: string) => k.startsWith('runs/');
  const a = folder('a');
  // b: the run markers it lists are gone when read; c: reading them fails.
  const b = tierWith(folder('b'), { get: (k, o) => (runKey(k) ? Promise.resolve(undefined) : folder('b').get(k, o)) });
  const c = tierWith(folder('c'), { get: (k, o) => (runKey(k) ? Promise.reject(new Error('tier down')) : folder('c').get(k, o)) });
  const backups = service([a, b, c]);
  await timerRun(backups, ['acme']);
  const own = w.clock.now().toISOString();
  w.clock.advance(20 * MIN);
  const idle = await timerRun(backups, ['acme']);
  expect(idle.coverage.map((x) => [x.tier, x.ok, x.tenants])).toEqual([
    ['a', true, 1],
    ['b', true, 1],
    ['c', true, 1],
  ]);
  const marker = idle.coverage[0]!.at;
  expect(await coveredUntil(backups, 'acme')).toEqual({ a: marker, b: own, c: own });

  // Newer objects on a that are no usable run marker for acme's chain 1 (three: the newest four are read).
  const later = (m: number) => new Date(w.clock.now().getTime() + m * MIN).toISOString();
  await a.put(runCoverageKey(later(1), 'corrupt'), Buffer.from('{"format":"tenant-ledger-run-cov'));
  await a.put(
    runCoverageKey(later(2), 'foreign'),
    Buffer.from(JSON.stringify({ format: 'someone-else/1', at: later(2), tenants: { acme: { chain: 1, manifests: 1 } } })),
  );
  await a.put(
    runCoverageKey(later(3), 'otherchain'),
    Buffer.from(JSON.stringify({ format: 'tenant-ledger-run-coverage/1', at: later(3), tenants: { acme: { chain: 2, manifests: 1 } } })),
  );
  expect(await coveredUntil(backups, 'acme')).toEqual({ a: marker, b: own, c: own });
  // A restore goes by the same reading: as of a minute after the marker is beyond the tier.
  await expect(
    backups.restore(op, { tenant: 'acme', target: a, asOf: new Date(later(0.5)), into: 'acme-x' }, { correlationId: 'c' }),
  ).rejects.toMatchObject({ code: 'unprocessable', message: expect.stringContaining(`covers the log only up to ${marker}`) });
});

it('a tenant whose log moved is listed with the chain its real backup reached (its own marker, newer, is its coverage); one no longer ready when the marker is written is not', async () => {
  await create('acme', 'globex', 'initech');
  const calls: string[] = [];
  const a = noted('a', calls);
  let deleting = false;
  const backups = service([
    tierWith(a, {
      // initech is scheduled for deletion while the run goes on: while acme's backup lists its chains.
      list: (p, o) => {
        if (deleting && p.startsWith('tenants/acme/chains/')) {
          deleting = false;
          return (async function* () {
            await w.directory.setStatus('initech', 'deleting');
            yield* a.list(p, o);
          })();
        }
        return a.list(p, o);
      },
    }),
  ]);
  await timerRun(backups, ['acme', 'globex', 'initech']);
  w.clock.advance(15 * MIN);
  await append('acme', 'moved');
  calls.length = 0;
  deleting = true;
  const run = await backups.backupTenants(['acme', 'globex', 'initech'], { runCoverage: {} });
  expect(deleting).toBe(false);
  expect(run.map((r) => [r.tenant, r.result.commits, r.result.unchanged])).toEqual([
    ['acme', 1, undefined],
    ['globex', 0, true],
    ['initech', 0, true],
  ]);
  const marker = runMarkers('a').at(-1);
  expect(marker!.json.tenants).toEqual({ acme: { chain: 1, manifests: 2 }, globex: { chain: 1, manifests: 1 } });
  // acme's own marker, from its real backup, is its coverage (the instant that run read its log).
  expect(calls.filter((c) => /put .*covered\//.test(c)).map((c) => c.replace(/covered\/.*/, 'covered/…'))).toEqual([
    'a put tenants/acme/chains/000001/covered/…',
    'a put runs/covered/…',
  ]);
  expect(await coveredUntil(backups, 'acme')).toEqual({ a: w.clock.now().toISOString() });
  expect(await coveredUntil(backups, 'globex')).toEqual({ a: marker!.json.at });
});

it('keeps the newest four run markers per tier; a tier that refuses deletions (write-once) keeps them and its run is still ok', async () => {
  await create('acme');
  const a = folder('a');
  const worm = tierWith(folder('w'), {
    delete: () =>
      Promise.reject(Object.assign(new Error('This operation is not permitted as the blob is immutable.'), { code: 'forbidden' })),
  });
  const backups = service([a, worm]);
  await timerRun(backups, ['acme']);
  const written: string[] = [];
  let last: RunCoverageResult[] = [];
  for (let run = 0; run < 6; run++) {
    w.clock.advance(15 * MIN);
    last = (await timerRun(backups, ['acme'])).coverage;
    written.push(last[0]!.key!);
  }
  expect(runMarkers('a').map((m) => m.key)).toEqual(written.slice(-4));
  expect(last.map((x) => [x.tier, x.ok, x.deleted, x.refused])).toEqual([
    ['a', true, 1, 0],
    ['w', true, 0, 3],
  ]);
  expect(runMarkers('w')).toHaveLength(7);
  const newest = last[0]!.at;
  expect(await coveredUntil(backups, 'acme')).toEqual({ a: newest, w: newest });
});

it("a run marker that cannot be written fails that tier's run with the error, and writes nothing there", async () => {
  await create('acme');
  const a = folder('a');
  const f = tierWith(folder('f'), {
    put: (k, body, o) => (k.startsWith('runs/') ? Promise.reject(new Error('quota exceeded')) : folder('f').put(k, body, o)),
  });
  const logged: string[] = [];
  const backups = w.service([a, f], { log: (m) => logged.push(m) });
  await timerRun(backups, ['acme']);
  const own = w.clock.now().toISOString();
  w.clock.advance(15 * MIN);
  const idle = await timerRun(backups, ['acme']);
  expect(idle.coverage).toEqual([
    expect.objectContaining({ tier: 'a', ok: true, tenants: 1 }),
    {
      tier: 'f',
      ok: false,
      at: idle.coverage[0]!.at,
      tenants: 1,
      error: expect.stringMatching(/run coverage marker could not be written \(Error: quota exceeded\).*did not advance on f/),
    },
  ]);
  expect(logged.some((l) => l.startsWith('run coverage marker on f failed'))).toBe(true);
  expect(runMarkers('f')).toEqual([]);
  expect(await coveredUntil(backups, 'acme')).toEqual({ a: idle.coverage[0]!.at, f: own });
});

it("a tier that hangs holds back only its own run marker: a healthy tier's is written while the hanging tier's job still runs", async () => {
  await create('acme', 'globex');
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let holding = false;
  let held = 0;
  const slow = folder('slow');
  /** Holds acme's writes on `slow` (while `holding`) until `release()`. */
  const hold = <T>(key: string, write: () => Promise<T>): Promise<T> => {
    if (!holding || !key.startsWith('tenants/acme/')) return write();
    held++;
    return released.then(write);
  };
  const backups = service([
    folder('a'),
    tierWith(slow, {
      put: (k, b, o) => hold(k, () => slow.put(k, b, o)),
      putStream: (k, c, n, o) => hold(k, () => slow.putStream(k, c, n, o)),
    }),
  ]);
  await timerRun(backups, ['acme', 'globex']);
  const before = { a: runMarkers('a').length, slow: runMarkers('slow').length };
  w.clock.advance(15 * MIN);
  await append('acme', 'moved');
  holding = true;
  const coverage: RunCoverageResult[] = [];
  let finished = false;
  const run = backups.backupTenants(['acme', 'globex'], { runCoverage: { onResult: (c) => coverage.push(c) } }).finally(() => {
    finished = true;
  });
  try {
    // Tier a is done (acme backed up, globex idle): its marker listing globex is written at once.
    await expect.poll(() => runMarkers('a').length, { timeout: 10_000 }).toBe(before.a + 1);
    await expect.poll(() => coverage.map((c) => c.tier), { timeout: 10_000 }).toEqual(['a']);
    expect(held).toBeGreaterThan(0);
    expect(finished).toBe(false);
    expect(runMarkers('slow')).toHaveLength(before.slow);
    expect(Object.keys(runMarkers('a').at(-1)!.json.tenants)).toEqual(['acme', 'globex']);
    expect(await coveredUntil(backups, 'globex')).toMatchObject({ a: coverage[0]!.at });
  } finally {
    // The slow tier finishes when its writes go through, with its own marker.
    release();
  }
  const results = await run;
  expect(results.every((r) => r.result.ok)).toBe(true);
  expect(coverage.map((c) => [c.tier, c.ok, c.tenants])).toEqual([
    ['a', true, 2],
    ['slow', true, 2],
  ]);
  expect(Object.keys(runMarkers('slow').at(-1)!.json.tenants)).toEqual(['acme', 'globex']);
});
